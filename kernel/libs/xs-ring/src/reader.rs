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

use alloc::vec;
use alloc::vec::Vec;
use core::cmp::min;

use xs_wire::{MsgHeader, HEADER_LEN, PAYLOAD_MAX};

use crate::ring::{read_some, RingError};
use crate::SharedPage;

/// One complete message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The header as received; `header.len == payload.len()`.
    pub header: MsgHeader,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// Where the reader is inside the current message.
#[derive(Debug)]
enum State {
    /// Collecting header bytes; `fill` of them are in `hdr`.
    Header { hdr: [u8; HEADER_LEN], fill: usize },
    /// Header complete; `fill` payload bytes of `payload.len()` are in.
    Payload { header: MsgHeader, payload: Vec<u8>, fill: usize },
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
}

impl Default for MessageReader {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageReader {
    /// A reader positioned at a message boundary.
    pub const fn new() -> Self {
        Self { state: State::start() }
    }

    /// Discards any partial message and a failed state; the next byte is
    /// taken as the start of a header.
    pub fn reset(&mut self) {
        self.state = State::start();
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
            State::Payload { payload, fill, .. } => payload.get_mut(*fill..).unwrap_or_default(),
            State::Failed(_) => &mut [],
        }
    }

    /// Records that `n` bytes were placed in [`Self::wanted`]'s buffer and
    /// returns a message when one is complete.
    fn advance(&mut self, n: usize) -> Result<Option<Message>, RingError> {
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
                if header.len == 0 {
                    self.state = State::start();
                    return Ok(Some(Message { header, payload: Vec::new() }));
                }
                self.state = State::Payload { header, payload: vec![0; header.len as usize], fill: 0 };
                Ok(None)
            }
            State::Payload { payload, fill, .. } => {
                *fill = min(fill.saturating_add(n), payload.len());
                if *fill < payload.len() {
                    return Ok(None);
                }
                match core::mem::replace(&mut self.state, State::start()) {
                    State::Payload { header, payload, .. } => Ok(Some(Message { header, payload })),
                    // Unreachable: we matched Payload above.
                    other => {
                        self.state = other;
                        Ok(None)
                    }
                }
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
    /// Returns how many bytes of `data` were used and the message if one
    /// was completed; call again with the remaining bytes. Once an error has
    /// been returned, every later call returns it too, until [`Self::reset`].
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, Option<Message>), RingError> {
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
            if let Some(msg) = self.advance(n)? {
                return Ok((used, Some(msg)));
            }
            if n == 0 || used >= data.len() {
                return Ok((used, None));
            }
        }
    }

    /// Reads from the response queue of `page` until a message is complete
    /// or the queue is empty, never reading past the end of that message.
    ///
    /// Returns the message, if one was completed, and whether the server
    /// must be signalled (see [`read_some`]). Call again while it returns a
    /// message.
    pub fn read_from<P: SharedPage + ?Sized>(&mut self, page: &P) -> Result<(Option<Message>, bool), RingError> {
        let mut notify = false;
        loop {
            self.check_failed()?;
            let got = read_some(page, self.wanted())?;
            notify |= got.notify;
            if got.read == 0 {
                return Ok((None, notify));
            }
            if let Some(msg) = self.advance(got.read)? {
                return Ok((Some(msg), notify));
            }
        }
    }
}
