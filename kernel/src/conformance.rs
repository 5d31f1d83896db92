//! `conformance=<list>` on the command line: a comma-separated list of
//! directories and the word `serve`. For a directory (of the VFS, filled
//! from the boot module), every `*.scn` scenario in it runs against this
//! kernel's xenbus node through the file API; `serve` runs the scenarios
//! dom0 hands over through the store until it says `done`
//! (`Runner::serve`, docs/conformance.md). Each transcript is printed framed
//! for the harness (`CONFORMANCE BEGIN/END <name>`), and
//! `CONFORMANCE DONE <n>` at the end. The same runner, built for Linux, runs
//! the same scenarios against Linux's `/dev/xen/xenbus` (tests/conformance/).
use alloc::string::String;
use alloc::vec::Vec;

use xenbus_conformance::{frame, frame_done, FileApi, RunConfig, Runner};

use crate::fs::{PollFd, Program, F_GETFL, F_SETFL, O_NONBLOCK, O_RDONLY};

struct KernelFiles {
    p: Program,
}

impl FileApi for KernelFiles {
    fn open(&mut self, path: &str, flags: u32) -> Result<i32, i32> {
        self.p.open(path, flags).map_err(|e| e.code())
    }

    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
        self.p.read(fd, buf).map_err(|e| e.code())
    }

    fn write(&mut self, fd: i32, buf: &[u8]) -> Result<usize, i32> {
        self.p.write(fd, buf).map_err(|e| e.code())
    }

    fn poll(&mut self, fds: &mut [(i32, u16, u16)], timeout_ms: i32) -> Result<usize, i32> {
        let mut set: Vec<PollFd> = fds.iter().map(|&(fd, events, _)| PollFd { fd, events, revents: 0 }).collect();
        let n = self.p.poll(&mut set, timeout_ms as i64).map_err(|e| e.code())?;
        for (f, s) in fds.iter_mut().zip(set.iter()) {
            f.2 = s.revents;
        }
        Ok(n)
    }

    fn close(&mut self, fd: i32) -> Result<(), i32> {
        self.p.close(fd).map_err(|e| e.code())
    }

    fn set_nonblock(&mut self, fd: i32, on: bool) -> Result<(), i32> {
        let fl = self.p.fcntl(fd, F_GETFL, 0).map_err(|e| e.code())?;
        let fl = if on { fl | O_NONBLOCK } else { fl & !O_NONBLOCK };
        self.p.fcntl(fd, F_SETFL, fl).map(|_| ()).map_err(|e| e.code())
    }

    fn sleep_ms(&mut self, ms: u64) {
        crate::sched::sleep_ns(ms * 1_000_000);
    }

    fn now_ms(&mut self) -> u64 {
        crate::time::now_ns() / 1_000_000
    }
}

fn read_file(p: &Program, path: &str) -> Result<Vec<u8>, vfs::Errno> {
    let fd = p.open(path, O_RDONLY)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = p.read(fd, &mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let _ = p.close(fd);
    Ok(out)
}

/// Runs the scenarios of every directory of a comma-separated list (and
/// serves dom0's scenarios for the word `serve`); returns how many ran.
pub fn run_dir(list: &str) -> usize {
    let mut files = KernelFiles { p: Program::new() };
    let mut runner = Runner::new(RunConfig::new("ours", "/dev/xen/xenbus"));
    // Sequence numbers of our dom0 requests start above the test framework's.
    runner.set_seq(100_000);
    let mut n = 0;
    for item in list.split(',').filter(|s| !s.is_empty()) {
        if item == "serve" {
            let mut out = |framed: &str| crate::xen::console::write(framed.as_bytes());
            match runner.serve(&mut files, &mut out) {
                Ok(k) => n += k,
                Err(e) => crate::error!("conformance: serve mode stopped: {}", e),
            }
        } else {
            n += run_one_dir(&mut files, &mut runner, item);
        }
    }
    crate::xen::console::write(frame_done(n).as_bytes());
    n
}

/// Runs the scenarios of `dir`; returns how many ran.
fn run_one_dir(files: &mut KernelFiles, runner: &mut Runner, dir: &str) -> usize {
    let mut names: Vec<String> = match crate::fs::readdir(dir) {
        Ok(entries) => {
            entries.into_iter().filter_map(|e| String::from_utf8(e.name).ok()).filter(|n| n.ends_with(".scn")).collect()
        }
        Err(e) => {
            crate::error!("conformance: cannot list {}: {}", dir, e);
            Vec::new()
        }
    };
    names.sort();
    for name in &names {
        let path = alloc::format!("{}/{}", dir, name);
        let text = match read_file(&files.p, &path) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) => {
                crate::error!("conformance: cannot read {}: {}", path, e);
                continue;
            }
        };
        let stem = name.trim_end_matches(".scn");
        let out = runner.run_text(files, stem, &text);
        crate::xen::console::write(frame(stem, &out.transcript).as_bytes());
    }
    names.len()
}
