//! `xbconform`: runs the conformance scenarios against Linux's real
//! `/dev/xen/xenbus` and prints the framed transcripts.
//!
//! ```text
//! xbconform [DIR...] [--device PATH] [--only NAME] [--suffix S] [--serve]
//! ```
//! Reads every `*.scn` file of each `DIR` (default `/scenarios`) in name
//! order, runs each with host name `linux`, and prints
//! `CONFORMANCE BEGIN <name>`, the transcript, `CONFORMANCE END <name>` per
//! scenario, then `CONFORMANCE DONE <n>`. `--suffix S` appends S to the
//! frame names (`@2` marks a second run, see `judge_outputs`). `--serve`
//! then runs the scenarios dom0 hands over through the store until it says
//! `done` (`Runner::serve`; no DIR needed). Exit status 0 once everything
//! ran (the comparison decides about conformance), 2 on a usage or I/O
//! error.

mod sys;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use xenbus_conformance::{frame, frame_done, FileApi, RunConfig, Runner, HOST_LINUX, LINUX_DEVICE, O_NONBLOCK};

/// [`FileApi`] over real Linux system calls.
struct LinuxFiles {
    files: HashMap<i32, File>,
    start: Instant,
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(5)
}

impl FileApi for LinuxFiles {
    fn open(&mut self, path: &str, flags: u32) -> Result<i32, i32> {
        let mut o = OpenOptions::new();
        match flags & 3 {
            0 => o.read(true),
            1 => o.write(true),
            _ => o.read(true).write(true),
        };
        o.custom_flags((flags & O_NONBLOCK) as i32);
        let f = o.open(path).map_err(|e| errno_of(&e))?;
        let fd = f.as_raw_fd();
        self.files.insert(fd, f);
        Ok(fd)
    }

    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
        let f = self.files.get_mut(&fd).ok_or(9)?;
        f.read(buf).map_err(|e| errno_of(&e))
    }

    fn write(&mut self, fd: i32, buf: &[u8]) -> Result<usize, i32> {
        let f = self.files.get_mut(&fd).ok_or(9)?;
        f.write(buf).map_err(|e| errno_of(&e))
    }

    fn poll(&mut self, fds: &mut [(i32, u16, u16)], timeout_ms: i32) -> Result<usize, i32> {
        sys::poll_fds(fds, timeout_ms)
    }

    fn close(&mut self, fd: i32) -> Result<(), i32> {
        // Dropping the File closes it (close errors are not reported by std;
        // the xenbus device's release never fails).
        self.files.remove(&fd).map(drop).ok_or(9)
    }

    fn set_nonblock(&mut self, fd: i32, on: bool) -> Result<(), i32> {
        if !self.files.contains_key(&fd) {
            return Err(9);
        }
        sys::set_nonblock(fd, on)
    }

    fn sleep_ms(&mut self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn now_ms(&mut self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

fn main() {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut device = String::from(LINUX_DEVICE);
    let mut only: Option<String> = None;
    let mut suffix = String::new();
    let mut serve = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--device" => match args.next() {
                Some(d) => device = d,
                None => usage(),
            },
            "--only" => match args.next() {
                Some(n) => only = Some(n),
                None => usage(),
            },
            "--suffix" => match args.next() {
                Some(n) => suffix = n,
                None => usage(),
            },
            "--serve" => serve = true,
            "-h" | "--help" => usage(),
            _ if a.starts_with('-') => usage(),
            _ => dirs.push(PathBuf::from(a)),
        }
    }
    if dirs.is_empty() && !serve {
        dirs.push(PathBuf::from("/scenarios"));
    }
    let mut runner = Runner::new(RunConfig::new(HOST_LINUX, &device));
    let mut api = LinuxFiles { files: HashMap::new(), start: Instant::now() };
    let mut n = 0;
    let stdout = std::io::stdout();
    for dir in &dirs {
        let mut names: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "scn"))
                .collect(),
            Err(e) => {
                eprintln!("xbconform: cannot read {}: {e}", dir.display());
                std::process::exit(2);
            }
        };
        names.sort();
        for path in names {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if only.as_ref().is_some_and(|o| *o != name) {
                continue;
            }
            let text = match std::fs::read(&path) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => format!("# unreadable: {e}\nunreadable"),
            };
            let outcome = runner.run_text(&mut api, &name, &text);
            let mut out = stdout.lock();
            let _ = out.write_all(frame(&format!("{name}{suffix}"), &outcome.transcript).as_bytes());
            let _ = out.flush();
            n += 1;
        }
    }
    if serve {
        let mut print = |framed: &str| {
            let mut out = stdout.lock();
            let _ = out.write_all(framed.as_bytes());
            let _ = out.flush();
        };
        match runner.serve(&mut api, &mut print) {
            Ok(k) => n += k,
            Err(e) => eprintln!("xbconform: serve mode stopped: {e}"),
        }
    }
    let mut out = stdout.lock();
    let _ = out.write_all(frame_done(n).as_bytes());
    let _ = out.flush();
}

fn usage() -> ! {
    eprintln!("usage: xbconform [DIR...] [--device PATH] [--only NAME] [--suffix S] [--serve]");
    std::process::exit(2);
}
