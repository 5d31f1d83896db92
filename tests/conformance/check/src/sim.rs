//! The one adapter between the conformance runner and a simulated
//! xenstored: [`SimHost`] is a [`FileApi`] that runs our node's logic
//! (`xenbus_node::XenbusFile`) over `xenbus_node::sim::Xenstored`, emulates
//! the harness's dom0 helper, resolves device paths the way the real hosts
//! do, and records violations of the rules that keep a scenario safe on
//! real Linux. Nothing else in the conformance tools names the simulator,
//! so replacing it touches this file only.

use std::collections::{BTreeMap, BTreeSet};

use xenbus_conformance::{FileApi, O_NONBLOCK};
use xenbus_node::sim::{SimConn, Xenstored};
use xenbus_node::XenbusFile;

/// The device path the scenarios use by default.
pub const DEVICE: &str = "/dev/xen/xenbus";

/// Domain id of the simulated guest unless told otherwise.
pub const SIM_DOMID: u32 = 7;

struct SimFd {
    file: XenbusFile,
    conn: SimConn,
    flags: u32,
    /// Bytes written since the last message boundary (for the lint).
    acc: Vec<u8>,
    /// req_ids of forwarded requests whose reply was not read yet.
    outstanding: BTreeSet<u32>,
    /// Their payloads (Linux sends them from the write buffer later).
    outstanding_payloads: Vec<(u32, Vec<u8>)>,
    /// Bytes read that do not yet form a whole message.
    rstream: Vec<u8>,
}

/// Our node over the simulated xenstored, with a virtual clock.
pub struct SimHost {
    xs: Xenstored,
    fds: BTreeMap<i32, SimFd>,
    next_fd: i32,
    clock: u64,
    /// The dom0 helper's last request (it ignores a repeated one).
    last_req: Option<Vec<u8>>,
    /// Rule violations that would hang or deadlock real Linux.
    pub lint: Vec<String>,
    /// Writes that change the payload of a forwarded request whose reply
    /// was not read yet: Linux 6.1 may send the changed bytes (a race).
    pub races: Vec<String>,
    /// The scenario being run is skipped on Linux (relaxes the read(0) rule).
    pub skipped_on_linux: bool,
    /// Label for lint messages (the scenario name), set by the caller.
    pub label: String,
    /// A `dom0 save` was asked for (not simulated).
    pub saw_save: bool,
    /// The last thing the domain sent xenstored was an XS_WATCH.
    after_watch: bool,
    /// Requests without payload passed on to xenstored (any time).
    pub empty_requests: usize,
    /// Requests that C xenstored 4.17 handles through a missing path
    /// (DIRECTORY, READ, GET_PERMS, MKDIR, RM whose payload is not exactly
    /// one NUL-terminated string): one of them made it exit (observed).
    pub hazards: Vec<String>,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

/// What a path names in the simulated file system: directories `/`, `/dev`,
/// `/dev/xen`, and the device `/dev/xen/xenbus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Dir(u8),
    Device,
}

/// Resolves a path component by component as Linux's and our VFS do
/// (`.` stays, `..` goes up, empty components are skipped, a trailing `/`
/// needs a directory). Relative paths start at `/`. Errors are errno values.
fn resolve(path: &str) -> Result<Node, i32> {
    let p = path.split('\0').next().unwrap_or("");
    if p.is_empty() {
        return Err(2);
    }
    if p.len() >= 4096 {
        return Err(36);
    }
    // Directory ids: 0 = /, 1 = /dev, 2 = /dev/xen.
    let mut cur = Node::Dir(0);
    for c in p.split('/') {
        if c.len() > 255 {
            return Err(36);
        }
        let Node::Dir(d) = cur else {
            if c.is_empty() {
                // "xenbus/" : a trailing slash after the device.
                return Err(20);
            }
            return Err(20);
        };
        cur = match (d, c) {
            (_, "") | (_, ".") => Node::Dir(d),
            (0, "..") => Node::Dir(0),
            (1, "..") => Node::Dir(0),
            (2, "..") => Node::Dir(1),
            (0, "dev") => Node::Dir(1),
            (1, "xen") => Node::Dir(2),
            (2, "xenbus") => Node::Device,
            _ => return Err(2),
        };
    }
    Ok(cur)
}

impl Default for SimHost {
    fn default() -> Self {
        Self::new()
    }
}

impl SimHost {
    /// A host whose domain has id [`SIM_DOMID`].
    pub fn new() -> Self {
        Self::with_domid(SIM_DOMID, 1)
    }

    /// A host for domain `domid` whose transactions start at `first_tx`.
    pub fn with_domid(domid: u32, first_tx: u32) -> Self {
        let xs = Xenstored::new(domid);
        xs.set_next_transaction_id(first_tx);
        // The toolstack writes the domain id into the domain's home.
        xs.write(&format!("{}/domid", xs.home()), domid.to_string().as_bytes());
        Self {
            xs,
            fds: BTreeMap::new(),
            next_fd: 3,
            clock: 0,
            last_req: None,
            lint: Vec::new(),
            races: Vec::new(),
            skipped_on_linux: false,
            label: String::new(),
            saw_save: false,
            after_watch: false,
            empty_requests: 0,
            hazards: Vec::new(),
        }
    }

    /// Descriptors open now.
    pub fn open_count(&self) -> usize {
        self.fds.len()
    }

    /// Transactions open in the simulated xenstored.
    pub fn transactions(&self) -> usize {
        self.xs.transactions()
    }

    /// Watches registered in the simulated xenstored.
    pub fn watches(&self) -> usize {
        self.xs.watches()
    }

    /// The virtual clock (ms).
    pub fn clock_ms(&self) -> u64 {
        self.clock
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
        let (Some(seq), Some(op)) = (words.first(), words.get(1)) else { return };
        let path = words.get(2).copied().unwrap_or("");
        // value=${req#* * * }
        let value = text.splitn(4, ' ').nth(3).unwrap_or("").to_string();
        let abs = format!("{home}/{path}");
        let rsp = match *op {
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
                    format!("err xenstore-rm: could not remove path {path}")
                }
            }
            "read" => match self.xs.read(&abs) {
                Some(v) => format!("ok {}", String::from_utf8_lossy(&v)),
                None => format!("err xenstore-read: couldn't read path {path}"),
            },
            "saverestore" | "checkpoint" => {
                // The domain's save and restore (or checkpoint); the answer
                // goes into the home the domain has afterwards, as dom0's
                // helper does.
                self.saw_save = true;
                if *op == "saverestore" {
                    self.xs.restore();
                } else {
                    self.xs.checkpoint();
                }
                let home = self.xs.home();
                self.xs.write(&format!("{home}/data/harness/rsp"), format!("{seq} ok rc=0").as_bytes());
                return;
            }
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
                f.outstanding_payloads.retain(|(r, _)| *r != req);
            }
            f.rstream.drain(..n);
        }
    }
}

impl FileApi for SimHost {
    fn open(&mut self, path: &str, flags: u32) -> Result<i32, i32> {
        match resolve(path)? {
            Node::Dir(_) => return Err(if flags & 3 == 0 { 13 } else { 21 }),
            Node::Device => {}
        }
        let fd = self.next_fd;
        self.next_fd += 1;
        let sf = SimFd {
            file: XenbusFile::new(),
            conn: self.xs.connect(),
            flags,
            acc: Vec::new(),
            outstanding: BTreeSet::new(),
            outstanding_payloads: Vec::new(),
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
                let data = buf.get(..n).unwrap_or(&[]).to_vec();
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
        let watches_before = self.xs.watches();
        let after_watch = self.after_watch;
        let f = self.fds.get_mut(&fd).ok_or(9)?;
        if f.flags & 3 == 0 {
            return Err(9);
        }
        let outstanding_before = !f.outstanding.is_empty();
        // Where these bytes land in the node's buffer, against the payloads
        // still to be sent.
        let off = f.file.buffered_len();
        if buf.len() <= 4096usize.saturating_sub(off) {
            for (req, p) in &f.outstanding_payloads {
                let clash = buf.iter().enumerate().any(|(i, b)| {
                    let pos = off + i;
                    pos >= 16 && p.get(pos - 16).is_some_and(|x| x != b)
                });
                if clash {
                    self.races.push(format!(
                        "{label}: a write changes bytes of the payload of request {req:#x} before its reply is read \
(Linux 6.1 may send the changed payload)"
                    ));
                    break;
                }
            }
        }
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
        let mut after = after_watch;
        for m in subs.get(before..).unwrap_or(&[]) {
            f.outstanding.insert(u32_at(m, 4));
            f.outstanding_payloads.push((u32_at(m, 4), m.get(16..).unwrap_or(&[]).to_vec()));
            if m.len() == 16 {
                self.empty_requests += 1;
            }
            let ty = u32_at(m, 0);
            let p = m.get(16..).unwrap_or(&[]);
            let one_string = p.last() == Some(&0) && p.iter().filter(|&&b| b == 0).count() == 1;
            if matches!(ty, 1 | 2 | 3 | 12 | 13) && !one_string {
                self.hazards.push(format!(
                    "{label}: request {:#x} (type {ty}) whose payload is not exactly one string reaches xenstored \
(C xenstored 4.17 has exited on such a request: docs/conformance.md 1.4)",
                    u32_at(m, 4)
                ));
            }
            if after && m.len() == 16 {
                self.lint.push(format!(
                    "{label}: a request without payload right after an XS_WATCH (C xenstored 4.17 exits on it)"
                ));
            }
            after = false;
        }
        if self.xs.watches() > watches_before {
            after = true;
        }
        self.after_watch = after;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_resolve_like_the_real_hosts() {
        for p in
            ["/dev/xen/xenbus", "/dev/xen/./xenbus", "//dev//xen/xenbus", "/dev/../dev/xen/xenbus", "dev/xen/xenbus"]
        {
            assert_eq!(resolve(p), Ok(Node::Device), "{p}");
        }
        assert_eq!(resolve("/dev/xen/xenbus/"), Err(20));
        assert_eq!(resolve("/dev/xen/xenbus/."), Err(20));
        assert_eq!(resolve("/dev/xen/nope/../xenbus"), Err(2));
        assert_eq!(resolve("/dev/xen/no-such-device"), Err(2));
        assert_eq!(resolve(""), Err(2));
        assert_eq!(resolve("/dev/xen"), Ok(Node::Dir(2)));
        let mut h = SimHost::new();
        assert_eq!(h.open("/dev/xen", 2), Err(21));
        assert!(h.open("/dev/xen/./xenbus", 2).is_ok());
    }
}
