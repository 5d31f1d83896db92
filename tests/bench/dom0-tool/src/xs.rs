//! A small blocking xenstore client for dom0: xenstored's unix socket
//! (`$XENSTORED_PATH`, `/run/xenstored/socket`), or the xenbus device when
//! there is no socket. Messages are framed with `xs_bench::Stream`; watch
//! events that arrive while a reply is awaited are queued.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::raw::{c_int, c_short, c_ulong};
use std::os::unix::net::UnixStream;

use xs_bench::Stream;
use xs_wire::{MsgHeader, MsgType};

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
}

enum Conn {
    Socket(UnixStream),
    Device(File),
}

impl Conn {
    fn fd(&self) -> RawFd {
        match self {
            Conn::Socket(s) => s.as_raw_fd(),
            Conn::Device(f) => f.as_raw_fd(),
        }
    }
}

/// One watch event: (path, token).
pub type Event = (Vec<u8>, Vec<u8>);

/// The connection.
pub struct Xs {
    conn: Conn,
    stream: Stream,
    events: VecDeque<Event>,
    next_req: u32,
}

impl Xs {
    /// Connects to xenstored.
    pub fn connect() -> Result<Xs, String> {
        let mut tried = Vec::new();
        let mut sockets = vec!["/run/xenstored/socket".to_string(), "/var/run/xenstored/socket".to_string()];
        if let Ok(p) = std::env::var("XENSTORED_PATH") {
            sockets.insert(0, p);
        }
        let mut conn = None;
        for s in &sockets {
            match UnixStream::connect(s) {
                Ok(u) => {
                    conn = Some(Conn::Socket(u));
                    break;
                }
                Err(e) => tried.push(format!("{s}: {e}")),
            }
        }
        if conn.is_none() {
            for d in ["/dev/xen/xenbus", "/proc/xen/xenbus"] {
                match OpenOptions::new().read(true).write(true).open(d) {
                    Ok(f) => {
                        conn = Some(Conn::Device(f));
                        break;
                    }
                    Err(e) => tried.push(format!("{d}: {e}")),
                }
            }
        }
        let conn = conn.ok_or_else(|| format!("cannot reach xenstored ({})", tried.join("; ")))?;
        Ok(Xs { conn, stream: Stream::new(), events: VecDeque::new(), next_req: 1 })
    }

    fn fill(&mut self) -> Result<(), String> {
        let spare = self.stream.spare();
        let n = match &mut self.conn {
            Conn::Socket(s) => s.read(spare),
            Conn::Device(f) => f.read(spare),
        }
        .map_err(|e| format!("read from xenstored: {e}"))?;
        if n == 0 {
            return Err("xenstored closed the connection".into());
        }
        self.stream.commit(n);
        Ok(())
    }

    /// Sends a request and waits for its reply: `Ok(Ok(payload))`, or
    /// `Ok(Err(errno name))` for `XS_ERROR`.
    pub fn request(&mut self, ty: MsgType, parts: &[&[u8]]) -> Result<Result<Vec<u8>, String>, String> {
        let req_id = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        let payload: Vec<u8> = parts.concat();
        let msg = xs_wire::build_message(ty, req_id, 0, &payload);
        match &mut self.conn {
            Conn::Socket(s) => s.write_all(&msg),
            Conn::Device(f) => f.write_all(&msg),
        }
        .map_err(|e| format!("write to xenstored: {e}"))?;
        loop {
            while let Some(m) = self.stream.pop().map_err(|o| format!("xenstored sent a {}-byte payload", o.0))? {
                let p = self.stream.payload(&m).to_vec();
                if m.header.ty == MsgType::WATCH_EVENT.0 {
                    self.queue_event(&p);
                    continue;
                }
                if m.header.req_id != req_id {
                    continue;
                }
                return Ok(reply(m.header, p));
            }
            self.fill()?;
        }
    }

    fn queue_event(&mut self, payload: &[u8]) {
        if let Some((path, token)) = xs_wire::parse_path_token(payload) {
            self.events.push_back((path.to_vec(), token.to_vec()));
        }
    }

    /// Reads a node; `None` if it does not exist (or any other error).
    pub fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.request(MsgType::READ, &[path.as_bytes(), b"\0"])?.ok())
    }

    /// Writes a node.
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), String> {
        self.request(MsgType::WRITE, &[path.as_bytes(), b"\0", value])?
            .map(|_| ())
            .map_err(|e| format!("write {path}: {e}"))
    }

    /// Registers a watch.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), String> {
        self.request(MsgType::WATCH, &[path.as_bytes(), b"\0", token.as_bytes(), b"\0"])?
            .map(|_| ())
            .map_err(|e| format!("watch {path}: {e}"))
    }

    /// The next watch event, waiting at most `timeout_ms`.
    pub fn next_event(&mut self, timeout_ms: i32) -> Result<Option<Event>, String> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            while let Some(m) = self.stream.pop().map_err(|o| format!("xenstored sent a {}-byte payload", o.0))? {
                if m.header.ty == MsgType::WATCH_EVENT.0 {
                    let p = self.stream.payload(&m).to_vec();
                    self.queue_event(&p);
                }
            }
            if !self.events.is_empty() {
                continue;
            }
            let mut p = PollFd { fd: self.conn.fd(), events: 1, revents: 0 };
            // SAFETY: one live pollfd for the duration of the call.
            let r = unsafe { poll(&mut p, 1, timeout_ms) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll: {e}"));
            }
            if r == 0 {
                return Ok(None);
            }
            self.fill()?;
        }
    }
}

fn reply(h: MsgHeader, p: Vec<u8>) -> Result<Vec<u8>, String> {
    if h.ty == MsgType::ERROR.0 {
        Err(String::from_utf8_lossy(p.strip_suffix(b"\0").unwrap_or(&p)).into_owned())
    } else {
        Ok(p)
    }
}
