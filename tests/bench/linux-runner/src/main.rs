//! `xsbench`: the `make bench` workload (the `xs-bench` crate, the same
//! code the unikernel runs for `bench=<spec>`) against Linux's real
//! `/dev/xen/xenbus`, in the Linux PV domU of `make bench`.
//!
//! ```text
//! xsbench [--device PATH] SPEC
//! ```
//! Prints the `BENCH ...` lines of docs/bench.md on stdout. Exit status 0
//! when the run printed no error line, 1 otherwise, 2 on a usage error or
//! when the device cannot be opened.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::raw::{c_int, c_short, c_ulong};
use std::time::{Duration, Instant};

use xs_bench::{Host, Spec};

/// `struct pollfd` (Linux x86_64).
#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

const POLLIN: c_short = 0x001;

extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(5)
}

struct LinuxHost {
    dev: File,
    start: Instant,
}

impl Host for LinuxHost {
    fn name(&self) -> &str {
        "linux"
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, i32> {
        self.dev.write(buf).map_err(|e| errno_of(&e))
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, i32> {
        self.dev.read(buf).map_err(|e| errno_of(&e))
    }

    fn poll_in(&mut self, timeout_ms: u32) -> Result<bool, i32> {
        let mut p = PollFd { fd: self.dev.as_raw_fd(), events: POLLIN, revents: 0 };
        let t = c_int::try_from(timeout_ms).unwrap_or(c_int::MAX);
        // SAFETY: `p` is one live, aligned pollfd that poll() may write to
        // for the duration of the call.
        let r = unsafe { poll(&mut p, 1, t) };
        if r < 0 {
            return Err(errno_of(&std::io::Error::last_os_error()));
        }
        Ok(r > 0 && p.revents & POLLIN != 0)
    }

    fn now_ns(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn sleep_ms(&mut self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn print(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn usage() -> ! {
    eprintln!("usage: xsbench [--device PATH] SPEC   (SPEC: all, ready, or items as in docs/bench.md)");
    std::process::exit(2);
}

fn main() {
    let mut device = String::from("/dev/xen/xenbus");
    let mut spec_text: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--device" => device = args.next().unwrap_or_else(|| usage()),
            "-h" | "--help" => usage(),
            _ if a.starts_with('-') => usage(),
            _ if spec_text.is_none() => spec_text = Some(a),
            _ => usage(),
        }
    }
    let spec = match Spec::parse(&spec_text.unwrap_or_else(|| usage())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xsbench: {e}");
            std::process::exit(2);
        }
    };
    let dev = match OpenOptions::new().read(true).write(true).open(&device) {
        Ok(f) => f,
        Err(e) => {
            println!("BENCH error phase=open round=0 errno {}", errno_of(&e));
            eprintln!("xsbench: cannot open {device}: {e}");
            std::process::exit(2);
        }
    };
    let mut host = LinuxHost { dev, start: Instant::now() };
    let outcome = xs_bench::run(&mut host, &spec);
    std::process::exit(i32::from(outcome.errors > 0));
}
