//! A minimal xenstore client over xenstored's Unix socket (dom0 only):
//! READ, WRITE, DIRECTORY, WATCH, and waiting for watch events.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const READ: u32 = 2;
const WATCH: u32 = 4;
const WRITE: u32 = 11;
const DIRECTORY: u32 = 1;
const WATCH_EVENT: u32 = 15;
const ERROR: u32 = 16;

/// A connection to xenstored.
pub struct Xs {
    s: UnixStream,
    next_req: u32,
    rbuf: Vec<u8>,
    /// Watch events received while waiting for replies: (path, token).
    events: VecDeque<(String, String)>,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

impl Xs {
    /// Connects to `XENSTORED_PATH`, or the usual socket paths.
    pub fn connect() -> Result<Self, String> {
        let mut paths: Vec<String> = Vec::new();
        if let Ok(p) = std::env::var("XENSTORED_PATH") {
            paths.push(p);
        }
        paths.push(String::from("/var/run/xenstored/socket"));
        paths.push(String::from("/run/xenstored/socket"));
        let mut last = String::new();
        for p in &paths {
            match UnixStream::connect(p) {
                Ok(s) => return Ok(Self { s, next_req: 1, rbuf: Vec::new(), events: VecDeque::new() }),
                Err(e) => last = format!("{p}: {e}"),
            }
        }
        Err(format!("cannot connect to xenstored ({last})"))
    }

    /// Reads one whole message, waiting at most until `deadline` (`None`:
    /// no message in time).
    fn next_msg(&mut self, deadline: Instant) -> Result<Option<(u32, u32, Vec<u8>)>, String> {
        loop {
            if self.rbuf.len() >= 16 {
                let n = 16 + u32_at(&self.rbuf, 12) as usize;
                if self.rbuf.len() >= n {
                    let m: Vec<u8> = self.rbuf.drain(..n).collect();
                    return Ok(Some((u32_at(&m, 0), u32_at(&m, 4), m.get(16..).unwrap_or(&[]).to_vec())));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let left = (deadline - now).max(Duration::from_millis(1));
            self.s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
            let mut buf = [0u8; 8192];
            match self.s.read(&mut buf) {
                Ok(0) => return Err(String::from("xenstored closed the connection")),
                Ok(k) => self.rbuf.extend_from_slice(buf.get(..k).unwrap_or(&[])),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn note_event(&mut self, payload: &[u8]) {
        let mut it = payload.split(|&b| b == 0);
        let path = String::from_utf8_lossy(it.next().unwrap_or(&[])).into_owned();
        let token = String::from_utf8_lossy(it.next().unwrap_or(&[])).into_owned();
        self.events.push_back((path, token));
    }

    fn request(&mut self, ty: u32, payload: &[u8]) -> Result<Vec<u8>, String> {
        let req = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        let mut m = Vec::with_capacity(16 + payload.len());
        for v in [ty, req, 0, payload.len() as u32] {
            m.extend_from_slice(&v.to_le_bytes());
        }
        m.extend_from_slice(payload);
        self.s.write_all(&m).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.next_msg(deadline)? {
                None => return Err(String::from("xenstored did not answer within 30 s")),
                Some((WATCH_EVENT, _, p)) => self.note_event(&p),
                Some((t, r, p)) if r == req => {
                    if t == ERROR {
                        return Err(String::from_utf8_lossy(&p).trim_end_matches('\0').to_string());
                    }
                    return Ok(p);
                }
                Some(_) => {}
            }
        }
    }

    /// The value of a node.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        self.request(READ, &p)
    }

    /// Writes a node.
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(value);
        self.request(WRITE, &p).map(|_| ())
    }

    /// The children of a node.
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        let v = self.request(DIRECTORY, &p)?;
        Ok(v.split(|&b| b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect())
    }

    /// Registers a watch.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(token.as_bytes());
        p.push(0);
        self.request(WATCH, &p).map(|_| ())
    }

    /// The next watch event, waiting at most `timeout`.
    pub fn wait_event(&mut self, timeout: Duration) -> Result<Option<(String, String)>, String> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_msg(deadline)? {
                None => return Ok(None),
                Some((WATCH_EVENT, _, p)) => {
                    self.note_event(&p);
                    return Ok(self.events.pop_front());
                }
                Some(_) => {}
            }
        }
    }
}
