//! `xbtools <command-file>`: the Linux side of the tools suite. Runs each
//! command of the list (cmdlist syntax) as the unikernel's `programs=`
//! shell does — standard input `/dev/null`, standard output and error
//! captured, the environment `PATH` and `HOME` plus the command's own
//! assignments — and prints the same `PROGRAM-*` records, so the harness
//! compares the two byte for byte. `run_us` is from spawn to exit.
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const DEFAULT_ENV: &[(&str, &str)] = &[("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"), ("HOME", "/")];

struct Running {
    n: u32,
    child: Child,
    started: Instant,
    out: JoinHandle<Vec<u8>>,
    err: JoinHandle<Vec<u8>>,
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

fn finish(r: Running) -> cmdlist::Outcome {
    let Running { n, mut child, started, out, err } = r;
    let status = match child.wait() {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => 255,
    };
    let run_us = started.elapsed().as_micros() as u64;
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    cmdlist::Outcome { n, status, load_us: 0, run_us, stdout, stderr, dropped: 0 }
}

fn print(o: &cmdlist::Outcome) {
    for l in cmdlist::records(o) {
        println!("{l}");
    }
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: xbtools <command-file>");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("xbtools: {path}: {e}");
            std::process::exit(2);
        }
    };
    // The domain's id, for ${DOMID}, as the unikernel reads it.
    let domid = Command::new("xenstore-read")
        .arg("domid")
        .env_clear()
        .env("PATH", DEFAULT_ENV[0].1)
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cmds = match cmdlist::parse(&text).and_then(|mut c| cmdlist::expand(&mut c, &[("DOMID", &domid)]).map(|()| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xbtools: {path}: {}", e.0);
            std::process::exit(2);
        }
    };
    let mut n = 0u32;
    let mut failed = 0u32;
    let mut background: Vec<Running> = Vec::new();
    let mut done = |o: cmdlist::Outcome| {
        if o.status != 0 {
            failed += 1;
        }
        print(&o);
    };
    for c in &cmds {
        match c.argv.first().map(String::as_str) {
            Some("sleep") => {
                let ns = c.argv.get(1).and_then(|s| cmdlist::parse_seconds(s)).unwrap_or(0);
                std::thread::sleep(Duration::from_nanos(ns));
                continue;
            }
            Some("wait") => {
                for r in background.drain(..) {
                    done(finish(r));
                }
                continue;
            }
            _ => {}
        }
        n += 1;
        let mut cmd = Command::new(&c.argv[0]);
        cmd.args(&c.argv[1..]).env_clear().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in DEFAULT_ENV {
            cmd.env(k, v);
        }
        for e in &c.env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
        let started = Instant::now();
        match cmd.spawn() {
            Ok(mut child) => {
                let out = drain(child.stdout.take().expect("piped"));
                let err = drain(child.stderr.take().expect("piped"));
                let r = Running { n, child, started, out, err };
                if c.background {
                    background.push(r);
                } else {
                    done(finish(r));
                }
            }
            Err(e) => {
                let status = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
                let stderr = format!("{}: {}\n", c.argv[0], e).into_bytes();
                done(cmdlist::Outcome { n, status, stderr, ..Default::default() });
            }
        }
    }
    for r in background.drain(..) {
        done(finish(r));
    }
    println!("programs: done: {n} programs, {failed} failed");
}
