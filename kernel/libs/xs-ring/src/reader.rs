//! Reassembling xenstore messages from the response byte stream.
//!
//! Protocol rules implemented here (xenstore.txt, `xs_wire.h`): the stream is
//! a sequence of messages, each a 16-byte header (`type`, `req_id`, `tx_id`,
//! `len`) followed by exactly `len` payload bytes, and `len` is at most
//! [`PAYLOAD_MAX`] (4096). The ring is only 1 KiB, so one message usually
//! arrives in several pieces, and a piece may end anywhere, even inside the
//! header. A header announcing a longer payload is a protocol error, reported
//! as soon as the header is complete: after it the framing of the stream is
//! lost, so the reader stays failed until [`MessageReader::reset`] (which the
//! caller does after a ring reconnection).
//!
//! Each message is read straight from the ring into one buffer holding its
//! header and payload ([`Message::into_bytes`]), which the client hands on
//! without copying again. If that buffer cannot be allocated, the payload is
//! skipped in the ring and the header alone is reported
//! ([`Received::Dropped`]), so the request it answers can still be answered
//! (with an error) and the stream stays in sync.

use alloc::vec::Vec;
use core::cmp::min;

use xs_wire::{MsgHeader, HEADER_LEN, PAYLOAD_MAX};

use crate::ring::{read_some, RingError};
use crate::SharedPage;

/// One complete message, as it was on the wire: the 16-byte header followed
/// by exactly `header.len` payload bytes, in one buffer (so that it can be
/// handed on without another copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The header as received; `header.len == payload().len()`.
    pub header: MsgHeader,
    bytes: Vec<u8>,
}

impl Message {
    /// Builds a message from a header and payload (tests and simulated peers).
    pub fn new(mut header: MsgHeader, payload: &[u8]) -> Self {
        header.len = payload.len() as u32;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(&header.to_bytes());
        bytes.extend_from_slice(payload);
        Message { header, bytes }
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }

    /// Header and payload, as on the wire.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The wire bytes, consuming the message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// What [`MessageReader::read_from`] and [`MessageReader::feed`] complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A whole message.
    Message(Message),
    /// A message whose payload could not be stored (the allocation for it
    /// failed); its bytes were consumed from the ring and dropped. The header
    /// says whom it was for, so the caller can still answer that request.
    Dropped(MsgHeader),
}

impl Received {
    /// The header of what was received.
    pub fn header(&self) -> MsgHeader {
        match self {
            Received::Message(m) => m.header,
            Received::Dropped(h) => *h,
        }
    }

    /// The message, unless its payload was dropped.
    pub fn into_message(self) -> Option<Message> {
        match self {
            Received::Message(m) => Some(m),
            Received::Dropped(_) => None,
        }
    }
}

/// Where the reader is inside the current message.
#[derive(Debug)]
enum State {
    /// Collecting header bytes; `fill` of them are in `hdr`.
    Header { hdr: [u8; HEADER_LEN], fill: usize },
    /// Header complete; `bytes` holds header and `fill` payload bytes of the
    /// `bytes.len() - HEADER_LEN` expected.
    Payload { header: MsgHeader, bytes: Vec<u8>, fill: usize },
    /// Header complete, no memory for the payload: `left` bytes to skip.
    Discard { header: MsgHeader, left: usize },
    /// A fatal framing error was seen; repeated until `reset`.
    Failed(RingError),
}

impl State {
    const fn start() -> Self {
        State::Header { hdr: [0; HEADER_LEN], fill: 0 }
    }
}

/// Incremental message assembler fed with bytes from the response queue.
#[derive(Debug)]
pub struct MessageReader {
    state: State,
    /// Where skipped payload bytes go.
    scratch: [u8; 64],
    /// Fault injection: behave as if every payload allocation failed.
    fail_allocations: bool,
}

impl Default for MessageReader {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageReader {
    /// A reader positioned at a message boundary.
    pub const fn new() -> Self {
        Self { state: State::start(), scratch: [0; 64], fail_allocations: false }
    }

    /// Discards any partial message and a failed state; the next byte is
    /// taken as the start of a header.
    pub fn reset(&mut self) {
        self.state = State::start();
    }

    /// Fault injection (tests, `make fuzz`): while on, every message is
    /// treated as if the allocation for it failed, so it is reported as
    /// [`Received::Dropped`].
    pub fn set_fail_allocations(&mut self, on: bool) {
        self.fail_allocations = on;
    }

    /// True when no partial message is held (the reader is at a message
    /// boundary and not failed).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header { fill: 0, .. })
    }

    /// The buffer the next incoming bytes belong in (empty when failed).
    fn wanted(&mut self) -> &mut [u8] {
        match &mut self.state {
            State::Header { hdr, fill } => hdr.get_mut(*fill..).unwrap_or_default(),
            State::Payload { bytes, fill, .. } => bytes.get_mut(HEADER_LEN.saturating_add(*fill)..).unwrap_or_default(),
            State::Discard { left, .. } => {
                let n = (*left).min(self.scratch.len());
                self.scratch.get_mut(..n).unwrap_or_default()
            }
            State::Failed(_) => &mut [],
        }
    }

    /// Records that `n` bytes were placed in [`Self::wanted`]'s buffer and
    /// returns what is complete.
    fn advance(&mut self, n: usize) -> Result<Option<Received>, RingError> {
        match &mut self.state {
            State::Failed(e) => Err(*e),
            State::Header { hdr, fill } => {
                *fill = min(fill.saturating_add(n), HEADER_LEN);
                if *fill < HEADER_LEN {
                    return Ok(None);
                }
                let Some(header) = MsgHeader::from_bytes(hdr) else {
                    return Ok(None);
                };
                if header.len as usize > PAYLOAD_MAX {
                    let e = RingError::Oversized { len: header.len };
                    self.state = State::Failed(e);
                    return Err(e);
                }
                let total = HEADER_LEN + header.len as usize;
                let mut bytes = Vec::new();
                if self.fail_allocations || bytes.try_reserve_exact(total).is_err() {
                    if header.len == 0 {
                        self.state = State::start();
                        return Ok(Some(Received::Dropped(header)));
                    }
                    self.state = State::Discard { header, left: header.len as usize };
                    return Ok(None);
                }
                bytes.extend_from_slice(hdr);
                if header.len == 0 {
                    self.state = State::start();
                    return Ok(Some(Received::Message(Message { header, bytes })));
                }
                bytes.resize(total, 0);
                self.state = State::Payload { header, bytes, fill: 0 };
                Ok(None)
            }
            State::Payload { bytes, fill, .. } => {
                let want = bytes.len().saturating_sub(HEADER_LEN);
                *fill = min(fill.saturating_add(n), want);
                if *fill < want {
                    return Ok(None);
                }
                match core::mem::replace(&mut self.state, State::start()) {
                    State::Payload { header, bytes, .. } => Ok(Some(Received::Message(Message { header, bytes }))),
                    // Unreachable: we matched Payload above.
                    other => {
                        self.state = other;
                        Ok(None)
                    }
                }
            }
            State::Discard { header, left } => {
                *left = left.saturating_sub(n);
                if *left > 0 {
                    return Ok(None);
                }
                let h = *header;
                self.state = State::start();
                Ok(Some(Received::Dropped(h)))
            }
        }
    }

    fn check_failed(&self) -> Result<(), RingError> {
        match self.state {
            State::Failed(e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Consumes bytes from `data` up to the end of the current message.
    ///
    /// Returns how many bytes of `data` were used and what was completed;
    /// call again with the remaining bytes. Once an error has been returned,
    /// every later call returns it too, until [`Self::reset`].
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, Option<Received>), RingError> {
        let mut used = 0;
        loop {
            self.check_failed()?;
            let rest = data.get(used..).unwrap_or_default();
            let dst = self.wanted();
            let n = min(dst.len(), rest.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..n), rest.get(..n)) {
                d.copy_from_slice(s);
            }
            used += n;
            // A zero-length step still lets a complete header with len 0
            // finish; it can only happen once per call, when `rest` is empty.
            if let Some(done) = self.advance(n)? {
                return Ok((used, Some(done)));
            }
            if n == 0 || used >= data.len() {
                return Ok((used, None));
            }
        }
    }

    /// Reads from the response queue of `page` until a message is complete
    /// or the queue is empty, never reading past the end of that message.
    ///
    /// Returns what was completed, if anything, and whether the server must
    /// be signalled (see [`read_some`]). Call again while it returns
    /// something.
    pub fn read_from<P: SharedPage + ?Sized>(&mut self, page: &P) -> Result<(Option<Received>, bool), RingError> {
        let mut notify = false;
        loop {
            self.check_failed()?;
            let got = read_some(page, self.wanted())?;
            notify |= got.notify;
            if got.read == 0 {
                return Ok((None, notify));
            }
            if let Some(done) = self.advance(got.read)? {
                return Ok((Some(done), notify));
            }
        }
    }
}
