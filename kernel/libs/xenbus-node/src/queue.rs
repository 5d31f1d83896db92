//! The read queue of one open: whole messages in arrival order, read as one
//! byte stream.
//!
//! Invariants (the ones Morton's 2008 review asked about):
//! - no stored message is empty (every message has at least its 16-byte
//!   header; [`ReadQueue::push`] ignores empty buffers anyway), so "queue not
//!   empty" always means "a read can return at least one byte";
//! - `head < front.len()` whenever there is a front message: a fully consumed
//!   message is removed at once, never left behind as a zero-byte entry;
//! - `bytes` is the exact number of unread bytes.
//!
//! Each message keeps the budget charge that paid for it until it has been
//! read completely (or the open is closed).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kcore::budget::Charge;
use vfs::Errno;

/// Unread messages of one open.
#[derive(Debug, Default)]
pub(crate) struct ReadQueue {
    msgs: VecDeque<(Vec<u8>, Charge)>,
    /// Bytes of the front message already read.
    head: usize,
    /// Unread bytes in total.
    bytes: usize,
}

impl ReadQueue {
    /// Appends a whole message. An empty buffer is ignored.
    pub(crate) fn push(&mut self, msg: Vec<u8>, charge: Charge) -> Result<(), Errno> {
        if msg.is_empty() {
            return Ok(());
        }
        self.msgs.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.bytes = self.bytes.saturating_add(msg.len());
        self.msgs.push_back((msg, charge));
        Ok(())
    }

    /// Whether a message with exactly these bytes is queued and not yet
    /// begun by a read (a partly read front message does not count).
    pub(crate) fn has_unread_copy(&self, msg: &[u8]) -> bool {
        let skip = usize::from(self.head > 0);
        self.msgs.iter().skip(skip).rev().any(|(m, _)| m.as_slice() == msg)
    }

    /// Unread bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// True when a read would find nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Copies up to `buf.len()` unread bytes into `buf` without consuming
    /// them; returns how many.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> usize {
        let mut copied = 0;
        let mut skip = self.head;
        for (msg, _) in &self.msgs {
            let src = msg.get(skip..).unwrap_or(&[]);
            skip = 0;
            let Some(dst) = buf.get_mut(copied..) else { break };
            if dst.is_empty() {
                break;
            }
            let n = src.len().min(dst.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
                d.copy_from_slice(s);
                copied += n;
            }
        }
        copied
    }

    /// Drops up to `n` unread bytes from the front; returns how many.
    pub(crate) fn consume(&mut self, mut n: usize) -> usize {
        let mut done = 0;
        while n > 0 {
            let Some((front, _)) = self.msgs.front() else { break };
            let avail = front.len().saturating_sub(self.head);
            let take = avail.min(n);
            self.head += take;
            n -= take;
            done += take;
            if self.head >= front.len() {
                self.msgs.pop_front();
                self.head = 0;
            }
        }
        self.bytes = self.bytes.saturating_sub(done);
        done
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.msgs.clear();
        self.head = 0;
        self.bytes = 0;
    }
}
