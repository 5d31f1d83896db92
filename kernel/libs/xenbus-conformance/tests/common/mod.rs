//! Test hosts for the runner: [`SimHost`] runs scenarios on our node's logic
//! (`XenbusFile`) over the simulated xenstored, emulating the dom0 helper
//! of the test harness and checking the rules that keep a scenario safe on
//! real Linux.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use xenbus_conformance::{FileApi, O_NONBLOCK};
use xenbus_node::sim::{SimConn, Xenstored};
use xenbus_node::XenbusFile;

pub const DEVICE: &str = "/dev/xen/xenbus";

struct SimFd {
    file: XenbusFile,
    conn: SimConn,
    flags: u32,
    /// Bytes written since the last message boundary (for the lint).
    acc: Vec<u8>,
    /// req_ids of forwarded requests whose reply was not read yet.
    outstanding: BTreeSet<u32>,
    /// Bytes read that do not yet form a whole message.
    rstream: Vec<u8>,
}

/// Our node over the simulated xenstored, with a virtual clock.
pub struct SimHost {
    pub xs: Xenstored,
    fds: BTreeMap<i32, SimFd>,
    next_fd: i32,
    clock: u64,
    /// The dom0 helper's last request (it ignores a repeated one).
    last_req: Option<Vec<u8>>,
    /// Rule violations that would hang or deadlock real Linux.
    pub lint: Vec<String>,
    /// The scenario being run is skipped on Linux (relaxes the read(0) rule).
    pub skipped_on_linux: bool,
    /// Last step line seen (for lint messages), set by the test.
    pub label: String,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

impl SimHost {
    pub fn new() -> Self {
        Self::with_xs(Xenstored::new(7))
    }

    pub fn with_xs(xs: Xenstored) -> Self {
        Self {
            xs,
            fds: BTreeMap::new(),
            next_fd: 3,
            clock: 0,
            last_req: None,
            lint: Vec::new(),
            skipped_on_linux: false,
            label: String::new(),
        }
    }

    pub fn open_count(&self) -> usize {
        self.fds.len()
    }

    /// The harness's dom0 helper: serves data/harness/req.
    fn helper(&mut self) {
        let home = self.xs.home();
        let Some(req) = self.xs.read(&format!("{home}/data/harness/req")) else { return };
        if self.last_req.as_ref() == Some(&req) {
            return;
        }
        self.last_req = Some(req.clone());
        let text = String::from_utf8_lossy(&req).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.len() == 2 && matches!(words[1], "saverestore" | "checkpoint") {
            // The domain's save and restore (or checkpoint); the answer goes
            // into the home the domain has afterwards, as dom0's helper does.
            if words[1] == "saverestore" {
                self.xs.restore();
            } else {
                self.xs.checkpoint();
            }
            let home = self.xs.home();
            self.xs.write(&format!("{home}/data/harness/rsp"), format!("{} ok rc=0", words[0]).as_bytes());
            return;
        }
        if words.len() < 3 {
            return;
        }
        let (seq, op, path) = (words[0], words[1], words[2]);
        // value=${req#* * * }
        let value = text.splitn(4, ' ').nth(3).unwrap_or("").to_string();
        let abs = format!("{home}/{path}");
        let rsp = match op {
            "write" => {
                self.xs.write(&abs, value.as_bytes());
                "ok".to_string()
            }
            "mkdir" => {
                self.xs.write(&abs, b"");
                "ok".to_string()
            }
            "rm" => {
                if self.xs.read(&abs).is_some() {
                    self.xs.rm(&abs);
                    "ok".to_string()
                } else {
                    "err could not remove".to_string()
                }
            }
            "read" => match self.xs.read(&abs) {
                Some(v) => format!("ok {}", String::from_utf8_lossy(&v)),
                None => "err could not read".to_string(),
            },
            _ => format!("err unknown request {op}"),
        };
        self.xs.write(&format!("{home}/data/harness/rsp"), format!("{seq} {rsp}").as_bytes());
    }

    fn note_read(&mut self, fd: i32, data: &[u8]) {
        let Some(f) = self.fds.get_mut(&fd) else { return };
        f.rstream.extend_from_slice(data);
        loop {
            if f.rstream.len() < 16 {
                break;
            }
            let n = 16 + u32_at(&f.rstream, 12) as usize;
            if f.rstream.len() < n {
                break;
            }
            if u32_at(&f.rstream, 0) != 15 {
                let req = u32_at(&f.rstream, 4);
                f.outstanding.remove(&req);
            }
            f.rstream.drain(..n);
        }
    }
}

impl FileApi for SimHost {
    fn open(&mut self, path: &str, flags: u32) -> Result<i32, i32> {
        if path != DEVICE {
            return Err(2);
        }
        let fd = self.next_fd;
        self.next_fd += 1;
        let sf = SimFd {
            file: XenbusFile::new(),
            conn: self.xs.connect(),
            flags,
            acc: Vec::new(),
            outstanding: BTreeSet::new(),
            rstream: Vec::new(),
        };
        self.fds.insert(fd, sf);
        Ok(fd)
    }

    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
        let skipped = self.skipped_on_linux;
        let label = self.label.clone();
        let f = self.fds.get_mut(&fd).ok_or(9)?;
        if f.flags & 3 == 1 {
            return Err(9);
        }
        let queued_before = {
            f.conn.drain_into(&mut f.file);
            f.file.queued_bytes()
        };
        if buf.is_empty() && queued_before > 0 && !skipped {
            self.lint.push(format!("{label}: read(fd, buf, 0) with data queued spins forever on Linux"));
        }
        let r = f.file.read(buf);
        match r {
            Ok(n) => {
                let data = buf[..n].to_vec();
                self.note_read(fd, &data);
                Ok(n)
            }
            Err(e) => {
                if f.flags & O_NONBLOCK == 0 {
                    self.lint.push(format!("{label}: a blocking read with nothing queued would hang"));
                }
                Err(e.code())
            }
        }
    }

    fn write(&mut self, fd: i32, buf: &[u8]) -> Result<usize, i32> {
        let label = self.label.clone();
        let before = self.xs.submitted().len();
        let f = self.fds.get_mut(&fd).ok_or(9)?;
        if f.flags & 3 == 0 {
            return Err(9);
        }
        let outstanding_before = !f.outstanding.is_empty();
        f.conn.drain_into(&mut f.file);
        let r = f.file.write(&mut f.conn, buf);
        f.acc.extend_from_slice(buf);
        if f.file.buffered_len() == 0 {
            let ty = if f.acc.len() >= 16 { Some(u32_at(&f.acc, 0)) } else { None };
            if r.is_ok() && matches!(ty, Some(4) | Some(5)) && outstanding_before {
                self.lint.push(format!(
                    "{label}: WATCH/UNWATCH written while a reply on the same descriptor is unread (can deadlock Linux)"
                ));
            }
            f.acc.clear();
        }
        let subs = self.xs.submitted();
        for m in &subs[before..] {
            f.outstanding.insert(u32_at(m, 4));
        }
        self.helper();
        r.map_err(|e| e.code())
    }

    fn poll(&mut self, fds: &mut [(i32, u16, u16)], timeout_ms: i32) -> Result<usize, i32> {
        let mut n = 0;
        for (fd, events, rev) in fds.iter_mut() {
            *rev = match self.fds.get_mut(fd) {
                Some(f) => {
                    f.conn.drain_into(&mut f.file);
                    (f.file.poll() as u16) & (*events | 0x8 | 0x10)
                }
                None => 0x20,
            };
            if *rev != 0 {
                n += 1;
            }
        }
        if n == 0 {
            if timeout_ms < 0 {
                self.lint.push(format!("{}: poll without timeout and nothing to come would hang", self.label));
                self.clock += 1000;
            } else {
                self.clock += timeout_ms as u64;
            }
        }
        Ok(n)
    }

    fn close(&mut self, fd: i32) -> Result<(), i32> {
        let f = self.fds.remove(&fd).ok_or(9)?;
        let SimFd { file, mut conn, .. } = f;
        let mailbox = conn.mailbox();
        file.close(&mut conn, move |f| f.drain(&mut mailbox.borrow_mut()));
        Ok(())
    }

    fn set_nonblock(&mut self, fd: i32, on: bool) -> Result<(), i32> {
        let f = self.fds.get_mut(&fd).ok_or(9)?;
        if on {
            f.flags |= O_NONBLOCK;
        } else {
            f.flags &= !O_NONBLOCK;
        }
        Ok(())
    }

    fn sleep_ms(&mut self, ms: u64) {
        self.clock += ms;
    }

    fn now_ms(&mut self) -> u64 {
        self.clock
    }
}

/// The repository's tests/conformance directory.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/conformance")
}

/// Every `*.scn` file of a directory, sorted: (name, text).
pub fn scenarios_in(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}
