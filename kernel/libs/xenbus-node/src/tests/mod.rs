//! Host tests of the node against the simulated xenstored. Probe names (A2,
//! B3, ...) refer to docs/reference/xenbus-linux-observed.md; the hex
//! strings are the bytes the real Linux 6.1 device returned there.

mod bound;
mod close;
mod framing;
mod fuzz;
mod props;
mod read_poll;
mod scripted;
mod sim_checks;
mod transactions;
mod types;
mod watches;

use vfs::Errno;
use xs_wire::{build_message, MsgHeader, MsgType, HEADER_LEN};

use crate::sim::{SimConn, Xenstored};
use crate::XenbusFile;

/// One open of the node, wired to a simulated xenstored the way the kernel
/// wires it: each operation first drains the open's mailbox.
pub(crate) struct Open {
    pub xs: Xenstored,
    pub conn: SimConn,
    pub file: XenbusFile,
}

impl Open {
    pub fn new(xs: &Xenstored) -> Self {
        Self { xs: xs.clone(), conn: xs.connect(), file: XenbusFile::new() }
    }

    pub fn write(&mut self, b: &[u8]) -> Result<usize, Errno> {
        self.conn.drain_into(&mut self.file);
        self.file.write(&mut self.conn, b)
    }

    /// Writes one whole message and asserts write() returned its length.
    pub fn send(&mut self, m: &[u8]) {
        assert_eq!(self.write(m), Ok(m.len()), "write of {:02x?}", m);
    }

    pub fn read(&mut self, n: usize) -> Result<Vec<u8>, Errno> {
        self.conn.drain_into(&mut self.file);
        let mut buf = vec![0u8; n];
        let got = self.file.read(&mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }

    pub fn poll(&mut self) -> u32 {
        self.conn.drain_into(&mut self.file);
        self.file.poll()
    }

    /// Everything readable now (empty if nothing).
    pub fn read_all(&mut self) -> Vec<u8> {
        self.read(1 << 20).unwrap_or_default()
    }

    /// Everything readable now, as messages.
    pub fn msgs(&mut self) -> Vec<(MsgHeader, Vec<u8>)> {
        parse_stream(&self.read_all())
    }

    /// Exactly one message is readable; returns it.
    pub fn one(&mut self) -> (MsgHeader, Vec<u8>) {
        let mut m = self.msgs();
        assert_eq!(m.len(), 1, "expected one message, got {m:?}");
        m.remove(0)
    }

    pub fn close(self) {
        let Open { conn, file, .. } = self;
        let mut conn = conn;
        let mailbox = conn.mailbox();
        file.close(&mut conn, move |f| f.drain(&mut mailbox.borrow_mut()));
    }
}

/// A message as a program writes it.
pub(crate) fn msg(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    build_message(MsgType(ty), req_id, tx_id, payload)
}

/// A header alone, with any `len`.
pub(crate) fn header(ty: u32, req_id: u32, tx_id: u32, len: u32) -> Vec<u8> {
    MsgHeader { ty, req_id, tx_id, len }.to_bytes().to_vec()
}

/// Splits a read stream into messages; panics on a torn message.
pub(crate) fn parse_stream(mut b: &[u8]) -> Vec<(MsgHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let h = MsgHeader::from_bytes(b).expect("torn header in read stream");
        let end = HEADER_LEN + h.len as usize;
        assert!(b.len() >= end, "torn payload in read stream");
        out.push((h, b[HEADER_LEN..end].to_vec()));
        b = &b[end..];
    }
    out
}

/// Bytes from the hex notation of the observation notes ("0b000000 4f4b00").
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|c| c.is_ascii_hexdigit()).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

pub(crate) const READ: u32 = 2;
pub(crate) const WATCH: u32 = 4;
pub(crate) const UNWATCH: u32 = 5;
pub(crate) const START: u32 = 6;
pub(crate) const END: u32 = 7;
pub(crate) const WRITE: u32 = 11;
pub(crate) const RM: u32 = 13;
pub(crate) const EVENT: u32 = 15;
pub(crate) const ERROR: u32 = 16;
pub(crate) const RESET: u32 = 21;

/// `{ERROR, req, tx} "NAME\0"`
pub(crate) fn err_reply(req_id: u32, tx_id: u32, name: &str) -> Vec<u8> {
    let mut p = name.as_bytes().to_vec();
    p.push(0);
    msg(ERROR, req_id, tx_id, &p)
}

/// A watch event as the node queues it.
pub(crate) fn event(path: &[u8], token: &[u8]) -> Vec<u8> {
    let mut p = path.to_vec();
    p.push(0);
    p.extend_from_slice(token);
    p.push(0);
    msg(EVENT, 0, 0, &p)
}

/// `path\0token\0`
pub(crate) fn pt(path: &[u8], token: &[u8]) -> Vec<u8> {
    let mut p = path.to_vec();
    p.push(0);
    p.extend_from_slice(token);
    p.push(0);
    p
}

/// `path\0value`
pub(crate) fn pv(path: &str, value: &[u8]) -> Vec<u8> {
    let mut p = path.as_bytes().to_vec();
    p.push(0);
    p.extend_from_slice(value);
    p
}

/// `path\0`
pub(crate) fn p0(path: &str) -> Vec<u8> {
    pv(path, b"")
}
