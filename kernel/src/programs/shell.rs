//! Command lists, as `programs=` on the command line and `programs-file=`
//! give them: a tiny shell over the `cmdlist` crate (the syntax is
//! documented there).
//!
//! Each program's output is shown on the console (`[n] line` for standard
//! output, `[n!] line` for standard error), then its exit status. With
//! `report`, each program's result is also printed as the records of
//! `cmdlist::records` for the test harness (then output is not echoed).
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Options, Outcome, Running};

pub use cmdlist::{parse, Command};

/// Prints `o`'s records line by line: the output is escaped from the
/// outcome's own buffers, never copied whole.
fn report(n: u32, o: &Outcome) {
    let r = cmdlist::Record {
        n,
        status: o.status.code(),
        load_us: o.load_ns / 1000,
        run_us: o.run_ns / 1000,
        stdout: &o.stdout,
        stderr: &o.stderr,
        dropped: o.dropped,
    };
    cmdlist::each_record(&r, |line| crate::kprintln!("{}", line));
}

fn ms(ns: u64) -> String {
    alloc::format!("{}.{:02} ms", ns / 1_000_000, (ns / 10_000) % 100)
}

/// Runs a parsed list. Returns (programs run, programs that failed: a
/// non-zero status or not started).
///
/// # Yields
pub fn run_list(cmds: &[Command], report_mode: bool, timeout_ns: Option<u64>) -> (u32, u32) {
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
                match cmdlist::parse_seconds(secs) {
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
        let opts =
            Options { echo: (!report_mode).then(|| alloc::format!("[{}]", n)), timeout_ns, ..Options::default() };
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
                        charges: Default::default(),
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
