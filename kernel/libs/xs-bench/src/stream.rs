//! Splitting the byte stream a xenbus device (or xenstored's socket) returns
//! into messages: a 16-byte header, then `len` payload bytes. A read may end
//! anywhere, inside a header too; whole messages are popped in order.
//!
//! One buffer is reused for the whole run (no allocation per message once
//! it has grown to the largest burst); a popped message's payload stays
//! readable until the next [`Stream::spare`].

use alloc::vec::Vec;
use core::ops::Range;

use xs_wire::{MsgHeader, HEADER_LEN, PAYLOAD_MAX};

/// How much [`Stream::spare`] offers to a read at least.
pub const READ_CHUNK: usize = 16 * 1024;

/// A header announcing more than [`PAYLOAD_MAX`] bytes: the stream cannot
/// be framed any further.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Oversized(pub u32);

/// A popped message: its header and where its payload is in the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The header as received.
    pub header: MsgHeader,
    payload: Range<usize>,
}

/// The framer.
#[derive(Debug, Default)]
pub struct Stream {
    buf: Vec<u8>,
    /// First unconsumed byte.
    start: usize,
    /// End of the received bytes.
    end: usize,
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Space to read into (at least [`READ_CHUNK`] bytes); call
    /// [`Stream::commit`] with what the read returned. Invalidates the
    /// payload of messages popped before.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = self.end.saturating_add(READ_CHUNK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Records that `n` bytes were read into [`Stream::spare`]'s slice.
    pub fn commit(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }

    /// Feeds bytes (for hosts and tests that have them in hand).
    pub fn push(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(rest.len());
            if let (Some(d), Some(s)) = (spare.get_mut(..n), rest.get(..n)) {
                d.copy_from_slice(s);
            }
            self.commit(n);
            rest = rest.get(n..).unwrap_or_default();
        }
    }

    /// Received bytes not yet popped.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// The next complete message, if one has arrived.
    pub fn pop(&mut self) -> Result<Option<Msg>, Oversized> {
        let Some(avail) = self.buf.get(self.start..self.end) else { return Ok(None) };
        let Some(header) = MsgHeader::from_bytes(avail) else { return Ok(None) };
        if header.len as usize > PAYLOAD_MAX {
            return Err(Oversized(header.len));
        }
        let total = HEADER_LEN + header.len as usize;
        if avail.len() < total {
            return Ok(None);
        }
        let payload = self.start + HEADER_LEN..self.start + total;
        self.start += total;
        Ok(Some(Msg { header, payload }))
    }

    /// The payload of `m`, popped since the last [`Stream::spare`].
    pub fn payload(&self, m: &Msg) -> &[u8] {
        self.buf.get(m.payload.clone()).unwrap_or_default()
    }
}
