//! Command lists: what the unikernel's `programs=` shell and the Linux
//! tools runner (tests/tools) run, and the result records both print, so
//! the harness can compare them byte for byte.
//!
//! # Syntax
//!
//! ```text
//! list    := command { (';' | '&' | newline) command }
//! command := [NAME=value ...] word { word }     run a program
//!          | 'sleep' seconds                    wait (fractions allowed)
//!          | 'wait'                             wait for background commands
//! ```
//!
//! `${NAME}` in any word is replaced by the runner's variable `NAME`
//! ([`expand`]; both runners define `DOMID`, the domain's id).
//!
//! A command followed by `&` runs in the background; a list ends by
//! waiting for every background command. Words are separated by blanks;
//! `'...'` quotes literally, `"..."` quotes with `\"` and `\\` escapes,
//! and `\` outside quotes escapes the next character. `#` at the start of
//! a word begins a comment to the end of the line.
//!
//! # Records
//!
//! ```text
//! PROGRAM-RESULT <n> status=<s> load_us=<t> run_us=<t> out=<bytes> err=<bytes> dropped=<bytes>
//! PROGRAM-DATA <n> out|err <chunk>     (the bytes, escaped: see `escape`)
//! PROGRAM-END <n>
//! ```
//!
//! `n` counts the programs of the list from 1 (builtins are not counted);
//! `status` is the shell's `$?`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

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

pub fn is_assignment(w: &str) -> bool {
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
        escape_into(&mut s, b);
    }
    s
}

/// Appends the escape of one byte (see [`escape`]); returns its length.
fn escape_into(s: &mut String, b: u8) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'\\' => s.push_str("\\\\"),
        0x21..=0x7e => s.push(b as char),
        _ => {
            s.push_str("\\x");
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    escaped_len(b)
}

/// The length of one byte's escape.
fn escaped_len(b: u8) -> usize {
    match b {
        b'\\' => 2,
        0x21..=0x7e => 1,
        _ => 4,
    }
}

/// Replaces `${NAME}` in every word by the value of `NAME` in `vars`. An
/// unknown name or a `${` without `}` is an error.
pub fn expand(cmds: &mut [Command], vars: &[(&str, &str)]) -> Result<(), ParseError> {
    for c in cmds.iter_mut() {
        for w in c.env.iter_mut().chain(c.argv.iter_mut()) {
            let mut out = String::new();
            let mut rest = w.as_str();
            while let Some(i) = rest.find("${") {
                out.push_str(rest.get(..i).unwrap_or(""));
                let after = rest.get(i + 2..).unwrap_or("");
                let end = after.find('}').ok_or_else(|| ParseError(alloc::format!("unterminated ${{ in {}", w)))?;
                let name = after.get(..end).unwrap_or("");
                let v = vars
                    .iter()
                    .find(|(k, _)| *k == name)
                    .ok_or_else(|| ParseError(alloc::format!("unknown variable {}", name)))?;
                out.push_str(v.1);
                rest = after.get(end + 1..).unwrap_or("");
            }
            out.push_str(rest);
            *w = out;
        }
    }
    Ok(())
}

/// Longest escaped chunk per `PROGRAM-DATA` line.
pub const CHUNK: usize = 160;

/// The result of one program, as both sides report it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The program's number in its list.
    pub n: u32,
    /// The shell's `$?`.
    pub status: i32,
    pub load_us: u64,
    pub run_us: u64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output bytes the runner did not keep.
    pub dropped: u64,
}

/// The record lines of one result (without newlines).
pub fn records(r: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    each_record(&r.borrowed(), |line| out.push(String::from(line)));
    out
}

/// One result with its output borrowed: what [`each_record`] reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Record<'a> {
    pub n: u32,
    pub status: i32,
    pub load_us: u64,
    pub run_us: u64,
    pub stdout: &'a [u8],
    pub stderr: &'a [u8],
    pub dropped: u64,
}

impl Outcome {
    /// This result as a [`Record`].
    pub fn borrowed(&self) -> Record<'_> {
        Record {
            n: self.n,
            status: self.status,
            load_us: self.load_us,
            run_us: self.run_us,
            stdout: &self.stdout,
            stderr: &self.stderr,
            dropped: self.dropped,
        }
    }
}

/// Calls `emit` with each record line of one result, in order (the lines
/// [`records`] returns), one at a time: a runner prints a large output
/// without holding a copy of it (each line is at most [`CHUNK`] bytes of
/// escapes plus its prefix).
pub fn each_record(r: &Record<'_>, mut emit: impl FnMut(&str)) {
    emit(&alloc::format!(
        "PROGRAM-RESULT {} status={} load_us={} run_us={} out={} err={} dropped={}",
        r.n,
        r.status,
        r.load_us,
        r.run_us,
        r.stdout.len(),
        r.stderr.len(),
        r.dropped
    ));
    let mut line = String::new();
    for (tag, data) in [("out", r.stdout), ("err", r.stderr)] {
        // Whole escapes only: a chunk never ends inside one.
        let prefix = alloc::format!("PROGRAM-DATA {} {} ", r.n, tag);
        line.clear();
        line.push_str(&prefix);
        for &b in data.iter() {
            if line.len() - prefix.len() + escaped_len(b) > CHUNK {
                emit(&line);
                line.truncate(prefix.len());
            }
            escape_into(&mut line, b);
        }
        if line.len() > prefix.len() {
            emit(&line);
        }
    }
    emit(&alloc::format!("PROGRAM-END {}", r.n));
}

/// `1`, `0.5`, `2.25` seconds in nanoseconds.
pub fn parse_seconds(s: &str) -> Option<u64> {
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

#[cfg(test)]
mod tests;
