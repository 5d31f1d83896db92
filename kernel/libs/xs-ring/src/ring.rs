//! Moving bytes through the two queues of the ring page.
//!
//! Protocol rules implemented here (xenstore-ring.txt; Linux `xb_write` /
//! `xb_read` for the barrier placement):
//!
//! - Indices are free-running `u32`s; all index arithmetic wraps. The amount
//!   of data in a queue is `prod.wrapping_sub(cons)`, which must be at most
//!   [`RING_SIZE`]; anything else means the page is corrupt
//!   and nothing is copied ([`RingError::Corrupt`]).
//! - A writer may only overwrite bytes the consumer has marked consumed. So
//!   the producer reads the consumer index, then a full fence, then writes the
//!   data, then a release fence, then publishes the new producer index.
//! - The consumer reads the producer index, then an acquire fence, then reads
//!   the data, then a full fence (the reads of the data must be complete
//!   before the server may reuse the space), then publishes the new consumer
//!   index.
//! - A copy that crosses the end of the 1 KiB buffer is done as two
//!   contiguous chunks.
//! - Whenever a side updates the ring it signals the event channel. The
//!   outcomes returned here say when the signal is needed; the caller sends it.

use core::cmp::min;
use core::fmt;
use core::sync::atomic::{fence, Ordering};

use crate::{ring_offset, SharedPage, RING_SIZE, RING_SIZE_U32};

/// Which of the two queues an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingKind {
    /// The guest-to-server `req` queue.
    Request,
    /// The server-to-guest `rsp` queue.
    Response,
}

/// Errors from the ring layer. None of them is recoverable without a ring
/// reconnection: the byte streams can no longer be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The indices of a queue say more than [`RING_SIZE`] bytes are in it.
    Corrupt {
        /// The queue with the bad indices.
        ring: RingKind,
        /// The producer index as read.
        prod: u32,
        /// The consumer index as read.
        cons: u32,
    },
    /// An incoming header announced a payload larger than
    /// [`xs_wire::PAYLOAD_MAX`].
    Oversized {
        /// The announced payload length.
        len: u32,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Corrupt { ring, prod, cons } => {
                write!(f, "xenstore {ring:?} ring corrupt: prod {prod:#x} cons {cons:#x}")
            }
            RingError::Oversized { len } => write!(f, "xenstore message payload too long: {len}"),
        }
    }
}

/// Result of [`write_some`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// Bytes copied into the request queue and published (possibly 0 when
    /// the queue is full).
    pub written: usize,
    /// The server must be signalled through the event channel.
    pub notify: bool,
}

/// Result of [`read_some`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReadOutcome {
    /// Bytes copied out of the response queue and marked consumed.
    pub read: usize,
    /// The server must be signalled through the event channel.
    pub notify: bool,
}

/// Amount of data in a queue, or `Corrupt` when the indices are impossible.
fn used(ring: RingKind, prod: u32, cons: u32) -> Result<u32, RingError> {
    let used = prod.wrapping_sub(cons);
    if used > RING_SIZE_U32 {
        return Err(RingError::Corrupt { ring, prod, cons });
    }
    Ok(used)
}

/// Free bytes in the request queue now (the server may free more at any
/// time, never less), or `Corrupt` when its indices are impossible.
pub fn request_space<P: SharedPage + ?Sized>(page: &P) -> Result<usize, RingError> {
    let used = used(RingKind::Request, page.req_prod(), page.req_cons())?;
    Ok(RING_SIZE_U32.wrapping_sub(used) as usize)
}

/// Bytes waiting in the response queue now, or `Corrupt` when its indices
/// are impossible. Lets a writer check both rings on its own path.
pub fn response_pending<P: SharedPage + ?Sized>(page: &P) -> Result<usize, RingError> {
    Ok(used(RingKind::Response, page.rsp_prod(), page.rsp_cons())? as usize)
}

/// Writes as much of `data` as currently fits into the request queue and
/// publishes it.
///
/// Returns how many bytes went in; the caller keeps the rest for later (the
/// server frees space as it consumes). `notify` is set whenever anything was
/// published: xenstore-ring.txt asks for a signal on every update.
pub fn write_some<P: SharedPage + ?Sized>(page: &P, data: &[u8]) -> Result<WriteOutcome, RingError> {
    let cons = page.req_cons();
    let prod = page.req_prod();
    let used = used(RingKind::Request, prod, cons)?;
    let free = RING_SIZE_U32.wrapping_sub(used) as usize;
    let n = min(free, data.len());
    if n == 0 {
        return Ok(WriteOutcome::default());
    }
    // Full fence: the read of req_cons above completes before we overwrite
    // the bytes it declared consumed.
    fence(Ordering::SeqCst);

    let start = ring_offset(prod);
    let first = min(n, RING_SIZE.saturating_sub(start));
    // n <= data.len() and first <= n, so neither split can fail.
    let (head, _) = data.split_at(n);
    let (a, b) = head.split_at(first);
    page.copy_to_req(start, a);
    if !b.is_empty() {
        page.copy_to_req(0, b);
    }

    // Release fence: the data written above is visible before the new
    // req_prod that announces it.
    fence(Ordering::Release);
    page.set_req_prod(prod.wrapping_add(n as u32));
    Ok(WriteOutcome { written: n, notify: true })
}

/// Reads up to `out.len()` bytes from the response queue into `out` and
/// marks them consumed.
///
/// `notify` is set when the queue was full before this read (re-checked
/// after publishing the new consumer index): a server with more to send is
/// then waiting for space and needs the signal. This is the condition Linux
/// and Mini-OS use.
pub fn read_some<P: SharedPage + ?Sized>(page: &P, out: &mut [u8]) -> Result<ReadOutcome, RingError> {
    let cons = page.rsp_cons();
    let prod = page.rsp_prod();
    let avail = used(RingKind::Response, prod, cons)? as usize;
    let n = min(avail, out.len());
    if n == 0 {
        return Ok(ReadOutcome::default());
    }
    // Acquire fence: the read of rsp_prod above happens before the reads of
    // the data it announces.
    fence(Ordering::Acquire);

    let start = ring_offset(cons);
    let first = min(n, RING_SIZE.saturating_sub(start));
    // n <= out.len() and first <= n, so neither split can fail.
    let (head, _) = out.split_at_mut(n);
    let (a, b) = head.split_at_mut(first);
    page.copy_from_rsp(start, a);
    if !b.is_empty() {
        page.copy_from_rsp(0, b);
    }

    // Full fence: our reads of the data complete before the new rsp_cons
    // lets the server overwrite it.
    fence(Ordering::SeqCst);
    page.set_rsp_cons(cons.wrapping_add(n as u32));
    // Full fence: the rsp_cons store above is ordered before the re-read of
    // rsp_prod below (store->load), so a ring filled meanwhile is noticed.
    fence(Ordering::SeqCst);
    let was_full = page.rsp_prod().wrapping_sub(cons) >= RING_SIZE_U32;
    Ok(ReadOutcome { read: n, notify: was_full })
}
