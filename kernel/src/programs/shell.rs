//! Command lists, as `programs=` on the command line and `programs-file=`
//! give them: a tiny shell.
//!
//! ```text
//! list    := command { (';' | '&' | newline) command }
//! command := [NAME=value ...] word { word }     run a program
//!          | 'sleep' seconds                    wait (fractions allowed)
//!          | 'wait'                             wait for background commands
//! ```
//!
//! A command followed by `&` runs in the background; the list ends by
//! waiting for every background command. Words are separated by blanks;
//! `'...'` quotes literally, `"..."` quotes with `\"` and `\\` escapes,
//! and `\` outside quotes escapes the next character. `#` at the start of
//! a word begins a comment to the end of the line.
//!
//! Each program's output is shown on the console (`[n] line` for standard
//! output, `[n!] line` for standard error), then its exit status. With
//! `report`, each program's result is also printed as machine-readable
//! records for the test harness (then output is not echoed):
//!
//! ```text
//! PROGRAM-RESULT <n> status=<s> load_us=<t> run_us=<t> out=<bytes> err=<bytes> dropped=<bytes>
//! PROGRAM-DATA <n> out|err <chunk>     (the bytes, escaped: see `escape`)
//! PROGRAM-END <n>
//! ```
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Options, Outcome, Running};

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// `NAME=value` words before the program name.
    pub env: Vec<String>,
    /// The program and its arguments (never empty).
    pub argv: Vec<String>,
    /// Followed by `&`.
    pub background: bool,
}

/// Why a list does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

/// Splits a list into commands.
pub fn parse(text: &str) -> Result<Vec<Command>, ParseError> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let end_command = |words: &mut Vec<String>, out: &mut Vec<Command>, bg: bool| -> Result<(), ParseError> {
        if words.is_empty() {
            if bg {
                return Err(ParseError(String::from("'&' without a command")));
            }
            return Ok(());
        }
        let split = words.iter().position(|w| !is_assignment(w)).unwrap_or(words.len());
        let argv = words.split_off(split);
        let env = core::mem::take(words);
        if argv.is_empty() {
            return Err(ParseError(alloc::format!("assignment without a command: {}", env.join(" "))));
        }
        out.push(Command { env, argv, background: bg });
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(ParseError(String::from("unterminated '"))),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err(ParseError(String::from("unterminated \""))),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(ParseError(String::from("unterminated \""))),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err(ParseError(String::from("\\ at the end"))),
                }
            }
            '#' if !in_word => {
                for ch in chars.by_ref() {
                    if ch == '\n' {
                        break;
                    }
                }
                end_command(&mut words, &mut out, false)?;
            }
            ';' | '&' | '\n' => {
                if in_word {
                    words.push(core::mem::take(&mut cur));
                    in_word = false;
                }
                end_command(&mut words, &mut out, c == '&')?;
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    end_command(&mut words, &mut out, false)?;
    Ok(out)
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Escapes bytes for a console record: printable ASCII but `\` as is,
/// `\\` for a backslash, `\xNN` for every other byte.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            0x21..=0x7e => s.push(b as char),
            _ => s.push_str(&alloc::format!("\\x{:02x}", b)),
        }
    }
    s
}

/// Longest escaped chunk per `PROGRAM-DATA` line.
const CHUNK: usize = 160;

fn report(n: u32, o: &Outcome) {
    crate::kprintln!(
        "PROGRAM-RESULT {} status={} load_us={} run_us={} out={} err={} dropped={}",
        n,
        o.status.code(),
        o.load_ns / 1000,
        o.run_ns / 1000,
        o.stdout.len(),
        o.stderr.len(),
        o.dropped
    );
    for (tag, data) in [("out", &o.stdout), ("err", &o.stderr)] {
        // Whole escapes only: a chunk never ends inside one.
        let mut line = String::new();
        for b in data.iter() {
            let e = escape(core::slice::from_ref(b));
            if line.len() + e.len() > CHUNK {
                crate::kprintln!("PROGRAM-DATA {} {} {}", n, tag, line);
                line.clear();
            }
            line.push_str(&e);
        }
        if !line.is_empty() {
            crate::kprintln!("PROGRAM-DATA {} {} {}", n, tag, line);
        }
    }
    crate::kprintln!("PROGRAM-END {}", n);
}

fn ms(ns: u64) -> String {
    alloc::format!("{}.{:02} ms", ns / 1_000_000, (ns / 10_000) % 100)
}

/// Runs a parsed list. Returns (programs run, programs that failed: a
/// non-zero status or not started).
///
/// # Yields
pub fn run_list(cmds: &[Command], report_mode: bool) -> (u32, u32) {
    let mut n = 0u32;
    let mut failed = 0u32;
    let mut shown: BTreeSet<String> = BTreeSet::new();
    let mut background: Vec<(u32, Running)> = Vec::new();
    let finish = |n: u32, name: &str, o: Outcome, failed: &mut u32| {
        let status = match o.status {
            super::ExitStatus::Exited(s) => alloc::format!("exit status {}", s & 0xff),
            super::ExitStatus::Signaled(sig) => alloc::format!("killed by signal {} ({})", sig as i32, sig.name()),
        };
        crate::kprintln!("programs: [{}] {}: {} (load {}, run {})", n, name, status, ms(o.load_ns), ms(o.run_ns));
        if o.status.code() != 0 {
            *failed += 1;
        }
        if report_mode {
            report(n, &o);
        }
    };
    for c in cmds {
        match c.argv.first().map(String::as_str) {
            Some("sleep") => {
                let secs = c.argv.get(1).map(String::as_str).unwrap_or("0");
                match parse_seconds(secs) {
                    Some(ns) => crate::sched::sleep_ns(ns),
                    None => crate::kprintln!("programs: sleep: invalid time '{}'", secs),
                }
                continue;
            }
            Some("wait") => {
                for (id, r) in background.drain(..) {
                    let name = r.proc.name.clone();
                    finish(id, &name, super::wait(r), &mut failed);
                }
                continue;
            }
            _ => {}
        }
        n += 1;
        let line = c.env.iter().chain(&c.argv).cloned().collect::<Vec<_>>().join(" ");
        crate::kprintln!("programs: [{}] $ {}{}", n, line, if c.background { " &" } else { "" });
        let mut env: Vec<String> = super::DEFAULT_ENV
            .iter()
            .filter(|d| !c.env.iter().any(|e| e.split('=').next() == d.split('=').next()))
            .map(|d| String::from(*d))
            .collect();
        env.extend(c.env.iter().cloned());
        let argv: Vec<&str> = c.argv.iter().map(String::as_str).collect();
        let envs: Vec<&str> = env.iter().map(String::as_str).collect();
        let opts = Options { echo: (!report_mode).then(|| alloc::format!("[{}]", n)), ..Options::default() };
        match super::start(&argv, &envs, &opts) {
            Ok(r) => {
                for (path, sha, size) in &r.objects {
                    if shown.insert(path.clone()) {
                        crate::kprintln!("programs: {} sha256 {} ({} bytes)", path, kcore::sha256::hex(sha), size);
                    }
                }
                crate::kprintln!("programs: [{}] loaded {} objects in {}", n, r.objects.len(), ms(r.load_ns));
                if c.background {
                    background.push((n, r));
                } else {
                    let name = r.proc.name.clone();
                    finish(n, &name, super::wait(r), &mut failed);
                }
            }
            Err(e) => {
                crate::kprintln!("programs: [{}] {}: {}", n, argv.first().copied().unwrap_or(""), e);
                failed += 1;
                if report_mode {
                    let msg = alloc::format!("{}: {}\n", argv.first().copied().unwrap_or(""), e);
                    let o = Outcome {
                        status: super::ExitStatus::Exited(e.status()),
                        stdout: Vec::new(),
                        stderr: msg.into_bytes(),
                        dropped: 0,
                        load_ns: 0,
                        run_ns: 0,
                    };
                    report(n, &o);
                }
            }
        }
    }
    for (id, r) in background.drain(..) {
        let name = r.proc.name.clone();
        finish(id, &name, super::wait(r), &mut failed);
    }
    (n, failed)
}

/// `1`, `0.5`, `2.25` seconds in nanoseconds.
fn parse_seconds(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let i: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut ns = i.checked_mul(1_000_000_000)?;
    let mut scale = 100_000_000u64;
    for c in frac.chars().take(9) {
        ns = ns.checked_add(u64::from(c.to_digit(10)?) * scale)?;
        scale /= 10;
    }
    Some(ns)
}
