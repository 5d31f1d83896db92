//! [`XenbusFile`]: the state of one open of the `xenbus` node.
//!
//! # How writes are framed (and why large writes are not chunked)
//!
//! A program writes xenstore messages: a 16-byte header (`type`, `req_id`,
//! `tx_id`, `len`, little-endian `u32`s) and `len` payload bytes. One message
//! may be split over any number of write() calls at any byte boundary; the
//! bytes are buffered in a [`WRITE_BUF_SIZE`] (4096-byte) buffer, header
//! included, until the message is complete, and then it is handled. The
//! kernel does not chunk a large write into several messages: a message can
//! never exceed 4096 bytes, so a write that would not fit into what is left
//! of the buffer cannot be the rest of a valid message; it fails with
//! `EINVAL` and discards the buffer. A write that completes a message and
//! carries more bytes has those extra bytes discarded (and counted in the
//! return value), exactly as Linux does: write one message per write(), or
//! split at message boundaries.
//!
//! # What happens to a complete message
//!
//! - `XS_WATCH` / `XS_UNWATCH`: handled here (no transaction check).
//! - `XS_RESET_WATCHES`: handled here, for this open only (Linux forwards it
//!   and so resets the kernel's own watches too).
//! - `XS_TRANSACTION_END` and any other type carrying a `tx_id` this open does
//!   not own: answered here with `XS_ERROR`.
//! - `XS_TRANSACTION_END` of a transaction started before the domain was
//!   suspended ([`Backend::generation`] moved since its START was written):
//!   answered here as Linux does, `XS_ERROR "EAGAIN"` for a commit,
//!   `"OK"` for an abort; the transaction is forgotten.
//! - Everything else, unknown and privileged types included: forwarded as is
//!   through [`Backend::submit`]; the reply comes back through the inbox.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use vfs::Errno;
use xs_wire::{MsgHeader, MsgType, XsErrno, HEADER_LEN, PAYLOAD_MAX};

use kcore::budget::Charge;
use xs_client::{Delivery, Mailbox};

use crate::backend::Backend;
use crate::queue::ReadQueue;
use crate::{MAX_IN_FLIGHT, POLLIN, POLLRDNORM, QUEUE_LIMIT, WRITE_BUF_SIZE};

/// Source of cookies and watch ids for every open of the kernel.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A new cookie or watch id: non-zero and unique among all ids this crate
/// hands out in one kernel instance (a 64-bit counter, which cannot wrap in
/// practice). Backends route replies and events by these ids, and may derive
/// xenstore watch tokens from them.
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// What a forwarded request was, for the bookkeeping done on its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `XS_TRANSACTION_START`: a non-error reply records a transaction.
    Start,
    /// `XS_TRANSACTION_END` on transaction `tx_id` (owned by this open): any
    /// reply forgets it.
    End,
    /// Anything else.
    Other,
}

/// A forwarded request whose reply has not been drained yet.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// The program's `req_id`, restored in the reply.
    req_id: u32,
    /// The request's `tx_id`.
    tx_id: u32,
    kind: Kind,
    /// The backend's generation when the request was written (a START's
    /// transaction belongs to it).
    generation: u64,
}

/// A transaction this open started.
#[derive(Clone, Copy, Debug)]
struct Transaction {
    id: u32,
    /// The backend's generation when its START was written.
    generation: u64,
    /// An END for it was forwarded and not answered yet: xenstored will end
    /// it, so close and RESET_WATCHES must not abort it again.
    end_in_flight: bool,
}

/// A watch this open registered.
#[derive(Clone, Debug)]
struct Watch {
    id: u64,
    path: Vec<u8>,
    token: Vec<u8>,
}

/// Counters of one open, for the kernel's statistics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Watch events queued for reading.
    pub events: u64,
    /// Watch events merged into an identical unread event at the queue bound.
    pub events_coalesced: u64,
    /// Watch events dropped at the queue bound (no identical unread event)
    /// or for lack of memory.
    pub events_dropped: u64,
    /// Replies dropped because their cookie was unknown or memory ran out.
    pub replies_dropped: u64,
}

/// The state of one open file description of the `xenbus` node.
///
/// Before each operation the kernel calls [`XenbusFile::drain`] with the
/// open's mailbox (under the mailbox's lock, which it releases before the
/// operation), so replies and events become readable in arrival order.
/// None of the operations blocks; `write` blocks only as long as the
/// backend's `watch`/`unwatch` do.
///
/// # Concurrency
///
/// Not shared: the kernel wraps it in the open's sleeping lock (see the crate
/// docs). All fields are protected by that lock.
#[derive(Debug, Default)]
pub struct XenbusFile {
    /// The partial request, header included, at most [`WRITE_BUF_SIZE`] bytes.
    partial: Vec<u8>,
    /// Unread replies and events.
    queue: ReadQueue,
    /// Forwarded requests by cookie.
    pending: BTreeMap<u64, Pending>,
    /// Transactions of this open, in start order.
    transactions: Vec<Transaction>,
    /// Watches of this open, in registration order.
    watches: Vec<Watch>,
    stats: FileStats,
    /// `stats` when the kernel last took the growth ([`XenbusFile::take_stats_delta`]).
    reported: FileStats,
    /// Set by the first dropped event, taken by the kernel for one log line.
    first_drop: bool,
}

impl XenbusFile {
    /// State of a new open: nothing buffered, queued, watched or in flight.
    pub fn new() -> Self {
        Self::default()
    }

    // ------------------------------------------------------------------
    // Incoming data

    /// Applies every item waiting in `mailbox`, in order, leaving it empty:
    ///
    /// - a reply whose cookie is in flight gets the program's `req_id` back
    ///   (in place) and is queued (`tx_id`, `type`, `len` and payload stay as
    ///   xenstored sent them). A non-`XS_ERROR` reply to a TRANSACTION_START
    ///   records the transaction whose id the payload carries in decimal; if
    ///   that payload is not a decimal `u32` (optionally NUL-terminated) the
    ///   reply is still queued but nothing is recorded (Linux drops such a
    ///   reply, which would leave the request unanswered). Any reply to a
    ///   TRANSACTION_END forgets the transaction. A reply for an unknown
    ///   cookie is dropped.
    /// - a failure (the request will get no reply from xenstored: the
    ///   connection failed, or no memory was left for the reply) becomes
    ///   `XS_ERROR` with the errno's name and the request's `req_id` and
    ///   `tx_id`, so the request is still answered exactly once.
    /// - an event for a watch of this open becomes `XS_WATCH_EVENT` with
    ///   payload `path\0token\0` and `req_id = tx_id = 0`; an event for a
    ///   watch that is gone is dropped; an event that would take the queue
    ///   over [`QUEUE_LIMIT`] is merged into an identical unread event if
    ///   there is one (same bytes: same path and token), else dropped; both
    ///   are counted.
    pub fn drain(&mut self, mailbox: &mut Mailbox) {
        while let Some(item) = mailbox.pop() {
            match item {
                Delivery::Reply { cookie, reply } => {
                    let (msg, charge) = reply.into_parts();
                    self.apply_reply(cookie, msg, charge);
                }
                Delivery::Failed { cookie, error } => self.apply_failure(cookie, error),
                Delivery::Event { watch, path, charge } => self.apply_event(watch, &path, charge),
            }
        }
    }

    fn take_pending(&mut self, cookie: u64) -> Option<Pending> {
        let p = self.pending.remove(&cookie);
        match p {
            Some(p) if p.kind == Kind::End => self.forget_transaction(p.tx_id),
            Some(_) => {}
            None => self.stats.replies_dropped = self.stats.replies_dropped.saturating_add(1),
        }
        p
    }

    fn apply_reply(&mut self, cookie: u64, mut msg: Vec<u8>, charge: Charge) {
        let Some(p) = self.take_pending(cookie) else { return };
        let payload_len = msg.len().saturating_sub(HEADER_LEN);
        let hdr = MsgHeader::from_bytes(&msg)
            .filter(|h| msg.len() >= HEADER_LEN && h.len as usize == payload_len && payload_len <= PAYLOAD_MAX);
        let Some(mut h) = hdr else {
            // Not one well-formed message (the client never hands out such
            // a reply; a defence, not a path): answer EIO instead.
            return self.answer_error(p, XsErrno::EIO);
        };
        if p.kind == Kind::Start && h.ty != MsgType::ERROR.0 {
            if let Some(id) = parse_tx_id(msg.get(HEADER_LEN..).unwrap_or(&[])) {
                self.record_transaction(id, p.generation);
            }
        }
        h.req_id = p.req_id;
        if let Some(head) = msg.get_mut(..HEADER_LEN) {
            head.copy_from_slice(&h.to_bytes());
        }
        if self.queue.push(msg, charge).is_err() {
            self.stats.replies_dropped = self.stats.replies_dropped.saturating_add(1);
        }
    }

    fn apply_failure(&mut self, cookie: u64, error: XsErrno) {
        if let Some(p) = self.take_pending(cookie) {
            self.answer_error(p, error);
        }
    }

    fn answer_error(&mut self, p: Pending, error: XsErrno) {
        let queued = message(MsgType::ERROR.0, p.req_id, p.tx_id, &[error.payload()])
            .and_then(|m| self.queue.push(m, Charge::none()));
        if queued.is_err() {
            self.stats.replies_dropped = self.stats.replies_dropped.saturating_add(1);
        }
    }

    fn apply_event(&mut self, watch_id: u64, path: &[u8], charge: Charge) {
        let Some(w) = self.watches.iter().find(|w| w.id == watch_id) else { return };
        let msg = match message(MsgType::WATCH_EVENT.0, 0, 0, &[path, b"\0", &w.token, b"\0"]) {
            Ok(m) => m,
            Err(_) => return self.event_dropped(),
        };
        if self.queue.bytes().saturating_add(msg.len()) > QUEUE_LIMIT {
            if self.queue.has_unread_copy(&msg) {
                self.stats.events_coalesced = self.stats.events_coalesced.saturating_add(1);
            } else {
                self.event_dropped();
            }
            return;
        }
        match self.queue.push(msg, charge) {
            Ok(()) => self.stats.events = self.stats.events.saturating_add(1),
            Err(_) => self.event_dropped(),
        }
    }

    fn event_dropped(&mut self) {
        if self.stats.events_dropped == 0 {
            self.first_drop = true;
        }
        self.stats.events_dropped = self.stats.events_dropped.saturating_add(1);
    }

    // ------------------------------------------------------------------
    // write

    /// Handles a write() of `buf` (already copied from the program; a fault
    /// while copying is the kernel's `EFAULT`, and must leave this state
    /// untouched, which keeps the partial request as Linux does).
    ///
    /// | condition | result | partial request | queued |
    /// |---|---|---|---|
    /// | `buf` empty | `Ok(0)` | kept | nothing |
    /// | `buf.len() > 4096 - buffered` | `Err(EINVAL)` | discarded | nothing |
    /// | header complete, `16 + len > 4096` (any `len`, no wrap) | `Err(E2BIG)` | discarded | nothing |
    /// | message incomplete | `Ok(buf.len())` | kept | nothing |
    /// | message complete, queue at [`QUEUE_LIMIT`] or [`MAX_IN_FLIGHT`] requests in flight | `Err(ENOBUFS)` | discarded | nothing, not sent |
    /// | WATCH/UNWATCH without path NUL and token NUL | `Ok` | reset | `XS_ERROR "EINVAL"` |
    /// | WATCH, empty path or rejected by xenstored | `Err(errno of xenstored's error)` | reset | nothing |
    /// | WATCH accepted | `Ok` | reset | `XS_WATCH "OK"`; the initial event follows via the inbox |
    /// | UNWATCH | `Ok` | reset | `XS_UNWATCH "OK"` (even if nothing matched) |
    /// | RESET_WATCHES (tx check passed) | `Ok` | reset | `XS_RESET_WATCHES "OK"` |
    /// | non-START, non-WATCH/UNWATCH, `tx_id != 0` not owned | `Ok` | reset | `XS_ERROR "ENOENT"` |
    /// | END payload not `"T\0"`/`"F\0"` | `Ok` | reset | `XS_ERROR "EINVAL"` |
    /// | END with `tx_id == 0` | `Ok` | reset | `XS_ERROR "ENOENT"` (Linux: no reply) |
    /// | anything else | `Ok` (or `Err` of [`Backend::submit`]) | reset | xenstored's reply, later |
    ///
    /// `Ok` is always the full `buf.len()`: bytes after the end of the first
    /// complete message are discarded but counted. Synthetic replies echo the
    /// request's `req_id` and `tx_id`. Allocation failure gives `ENOMEM` and
    /// discards the message.
    ///
    /// A message that arrives whole in one write (nothing buffered before)
    /// is handed to the backend straight from `buf`, without being copied
    /// into the partial-request buffer.
    pub fn write<B: Backend + ?Sized>(&mut self, backend: &mut B, buf: &[u8]) -> Result<usize, Errno> {
        let n = buf.len();
        if n == 0 {
            return Ok(0);
        }
        if n > WRITE_BUF_SIZE.saturating_sub(self.partial.len()) {
            self.partial.clear();
            return Err(Errno::EINVAL);
        }
        if self.partial.is_empty() {
            if let Some(hdr) = MsgHeader::from_bytes(buf) {
                // `len` is a u32 from the program: compare without adding to it.
                if hdr.len as usize > WRITE_BUF_SIZE - HEADER_LEN {
                    return Err(Errno::E2BIG);
                }
                let total = HEADER_LEN + hdr.len as usize;
                if let Some(msg) = buf.get(..total) {
                    // One message per write: whatever follows it is dropped.
                    return self.handle(backend, hdr, msg).map(|()| n);
                }
            }
        }
        if self.partial.capacity() < WRITE_BUF_SIZE {
            let more = WRITE_BUF_SIZE.saturating_sub(self.partial.len());
            self.partial.try_reserve_exact(more).map_err(|_| Errno::ENOMEM)?;
        }
        self.partial.extend_from_slice(buf);
        let Some(hdr) = MsgHeader::from_bytes(&self.partial) else {
            return Ok(n);
        };
        // `len` is a u32 from the program: compare without adding to it.
        if hdr.len as usize > WRITE_BUF_SIZE - HEADER_LEN {
            self.partial.clear();
            return Err(Errno::E2BIG);
        }
        let total = HEADER_LEN + hdr.len as usize;
        if self.partial.len() < total {
            return Ok(n);
        }
        // One message per write: whatever follows it in this write is dropped.
        let mut msg = core::mem::take(&mut self.partial);
        msg.truncate(total);
        let result = self.handle(backend, hdr, &msg);
        msg.clear();
        self.partial = msg;
        result.map(|()| n)
    }

    /// Handles one complete message.
    fn handle<B: Backend + ?Sized>(&mut self, backend: &mut B, hdr: MsgHeader, msg: &[u8]) -> Result<(), Errno> {
        if self.queue.bytes() >= QUEUE_LIMIT || self.pending.len() >= MAX_IN_FLIGHT {
            return Err(Errno::ENOBUFS);
        }
        let payload = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let ty = MsgType(hdr.ty);
        if ty == MsgType::WATCH {
            return self.handle_watch(backend, hdr, payload);
        }
        if ty == MsgType::UNWATCH {
            return self.handle_unwatch(backend, hdr, payload);
        }
        if ty != MsgType::TRANSACTION_START && hdr.tx_id != 0 && !self.owns(hdr.tx_id) {
            return self.reply_local(MsgType::ERROR, hdr, XsErrno::ENOENT.payload());
        }
        let kind = if ty == MsgType::TRANSACTION_START {
            Kind::Start
        } else if ty == MsgType::TRANSACTION_END {
            if payload != b"T\0" && payload != b"F\0" {
                return self.reply_local(MsgType::ERROR, hdr, XsErrno::EINVAL.payload());
            }
            if hdr.tx_id == 0 {
                return self.reply_local(MsgType::ERROR, hdr, XsErrno::ENOENT.payload());
            }
            let generation = backend.generation();
            if let Some(t) = self.transactions.iter().find(|t| t.id == hdr.tx_id && t.generation != generation) {
                // Started before a suspend: answered here (Linux:
                // F61:471-483); the backend ends it in xenstored if it is
                // still there.
                backend.end_stale_transaction(t.id, t.generation);
                self.forget_transaction(hdr.tx_id);
                return if payload == b"T\0" {
                    self.reply_local(MsgType::ERROR, hdr, XsErrno::EAGAIN.payload())
                } else {
                    self.reply_local(MsgType::TRANSACTION_END, hdr, b"OK\0")
                };
            }
            Kind::End
        } else if ty == MsgType::RESET_WATCHES {
            self.reset(backend);
            return self.reply_local(ty, hdr, b"OK\0");
        } else {
            Kind::Other
        };
        let cookie = next_id();
        backend.submit(cookie, msg)?;
        self.pending
            .insert(cookie, Pending { req_id: hdr.req_id, tx_id: hdr.tx_id, kind, generation: backend.generation() });
        if kind == Kind::End {
            if let Some(t) = self.transactions.iter_mut().find(|t| t.id == hdr.tx_id) {
                t.end_in_flight = true;
            }
        }
        Ok(())
    }

    fn handle_watch<B: Backend + ?Sized>(
        &mut self,
        backend: &mut B,
        hdr: MsgHeader,
        payload: &[u8],
    ) -> Result<(), Errno> {
        let Some((path, token)) = xs_wire::parse_path_token(payload) else {
            return self.reply_local(MsgType::ERROR, hdr, XsErrno::EINVAL.payload());
        };
        if path.is_empty() {
            return Err(Errno::EINVAL);
        }
        let mut w = Watch { id: next_id(), path: Vec::new(), token: Vec::new() };
        w.path.try_reserve_exact(path.len()).map_err(|_| Errno::ENOMEM)?;
        w.token.try_reserve_exact(token.len()).map_err(|_| Errno::ENOMEM)?;
        w.path.extend_from_slice(path);
        w.token.extend_from_slice(token);
        let ok = message(MsgType::WATCH.0, hdr.req_id, hdr.tx_id, &[b"OK\0"])?;
        self.watches.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        backend.watch(w.id, path).map_err(errno_of)?;
        self.watches.push(w);
        self.queue.push(ok, Charge::none())
    }

    fn handle_unwatch<B: Backend + ?Sized>(
        &mut self,
        backend: &mut B,
        hdr: MsgHeader,
        payload: &[u8],
    ) -> Result<(), Errno> {
        let Some((path, token)) = xs_wire::parse_path_token(payload) else {
            return self.reply_local(MsgType::ERROR, hdr, XsErrno::EINVAL.payload());
        };
        let ok = message(MsgType::UNWATCH.0, hdr.req_id, hdr.tx_id, &[b"OK\0"])?;
        if let Some(i) = self.watches.iter().position(|w| w.path == path && w.token == token) {
            let w = self.watches.remove(i);
            backend.unwatch(w.id, &w.path);
        }
        self.queue.push(ok, Charge::none())
    }

    /// `XS_RESET_WATCHES` for this open only: unwatch everything, abort every
    /// transaction whose END is not already on its way.
    fn reset<B: Backend + ?Sized>(&mut self, backend: &mut B) {
        for w in core::mem::take(&mut self.watches) {
            backend.unwatch(w.id, &w.path);
        }
        let generation = backend.generation();
        for t in core::mem::take(&mut self.transactions) {
            if t.generation != generation {
                backend.end_stale_transaction(t.id, t.generation);
            } else if !t.end_in_flight {
                backend.abort_transaction(t.id);
            }
        }
    }

    /// Queues a reply made here, echoing the request's `req_id` and `tx_id`.
    fn reply_local(&mut self, ty: MsgType, hdr: MsgHeader, payload: &[u8]) -> Result<(), Errno> {
        let m = message(ty.0, hdr.req_id, hdr.tx_id, &[payload])?;
        self.queue.push(m, Charge::none())
    }

    fn owns(&self, tx_id: u32) -> bool {
        self.transactions.iter().any(|t| t.id == tx_id)
    }

    fn record_transaction(&mut self, id: u32, generation: u64) {
        if id != 0 && !self.owns(id) && self.transactions.try_reserve(1).is_ok() {
            self.transactions.push(Transaction { id, generation, end_in_flight: false });
        }
    }

    fn forget_transaction(&mut self, id: u32) {
        self.transactions.retain(|t| t.id != id);
    }

    // ------------------------------------------------------------------
    // read and poll

    /// Handles a read() into `buf`: a byte stream across message boundaries.
    ///
    /// - data queued: `Ok(min(buf.len(), queued))`, those bytes consumed
    ///   (so `Ok(0)` only for an empty `buf`; Linux spins forever there);
    /// - nothing queued: `Err(EAGAIN)`, also for an empty `buf`; the kernel
    ///   returns it to `O_NONBLOCK` callers and otherwise waits on the open's
    ///   wait queue and retries (so `read(fd, buf, 0)` blocks as on Linux).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        let n = self.peek(buf)?;
        Ok(self.queue.consume(n))
    }

    /// Like [`XenbusFile::read`] but consumes nothing. For a kernel whose copy
    /// to the program may fault part way: peek into a bounce buffer, copy,
    /// then [`XenbusFile::consume`] what was copied (Linux consumes exactly
    /// the bytes that reached the program, and `EFAULT` with nothing copied
    /// leaves the queue intact).
    pub fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.queue.is_empty() {
            return Err(Errno::EAGAIN);
        }
        Ok(self.queue.peek(buf))
    }

    /// Drops `n` unread bytes (after [`XenbusFile::peek`]); returns how many
    /// were dropped (fewer if fewer were queued).
    pub fn consume(&mut self, n: usize) -> usize {
        self.queue.consume(n)
    }

    /// Handles poll(): [`POLLIN`]` | `[`POLLRDNORM`] exactly when a read
    /// would return data, else 0. Never writable, error or hang-up (Linux
    /// neither): programs just write.
    pub fn poll(&self) -> u32 {
        if self.queue.is_empty() {
            0
        } else {
            POLLIN | POLLRDNORM
        }
    }

    // ------------------------------------------------------------------
    // close

    /// Handles the last close of the open file description.
    ///
    /// In order: every request still in flight is [`Backend::abandon`]ed (so
    /// the backend stops delivering their replies and aborts a transaction a
    /// late START reply would create); then `drain_rest` is called, which
    /// must [`XenbusFile::drain`] everything delivered before that, so that
    /// START replies already delivered are recorded; then every transaction
    /// without an END in flight is aborted and every watch is removed;
    /// queued data is dropped. The kernel then drops the open's mailbox
    /// (events delivered before the unwatch calls returned may still be in
    /// it).
    pub fn close<B, F>(mut self, backend: &mut B, drain_rest: F)
    where
        B: Backend + ?Sized,
        F: FnOnce(&mut XenbusFile),
    {
        for (&cookie, p) in &self.pending {
            backend.abandon(cookie, p.kind == Kind::Start);
        }
        drain_rest(&mut self);
        self.pending.clear();
        self.reset(backend);
        self.queue.clear();
    }

    // ------------------------------------------------------------------
    // Diagnostics

    /// Number of forwarded requests whose reply has not been drained yet (a
    /// blocking read with nothing queued and nothing in flight and no watches
    /// can only be ended by a signal, as on Linux).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Unread bytes in the read queue.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// Bytes of an incomplete request buffered by earlier writes.
    pub fn buffered_len(&self) -> usize {
        self.partial.len()
    }

    /// Number of watches this open has registered.
    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// Ids of the transactions this open owns, in start order.
    pub fn transaction_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.transactions.iter().map(|t| t.id)
    }

    /// The open's counters.
    pub fn stats(&self) -> FileStats {
        self.stats
    }

    /// How much the counters grew since the last call (the kernel adds it
    /// to its totals).
    pub fn take_stats_delta(&mut self) -> FileStats {
        let now = self.stats;
        let was = core::mem::replace(&mut self.reported, now);
        FileStats {
            events: now.events - was.events,
            events_coalesced: now.events_coalesced - was.events_coalesced,
            events_dropped: now.events_dropped - was.events_dropped,
            replies_dropped: now.replies_dropped - was.replies_dropped,
        }
    }

    /// True once, after the first watch event was dropped (for one log line).
    pub fn take_first_drop(&mut self) -> bool {
        core::mem::take(&mut self.first_drop)
    }
}

/// Builds a message from a header and payload pieces; `ENOMEM` if the
/// allocation fails, `E2BIG` if the payload does not fit a `u32`.
fn message(ty: u32, req_id: u32, tx_id: u32, parts: &[&[u8]]) -> Result<Vec<u8>, Errno> {
    let len = parts.iter().fold(0usize, |a, p| a.saturating_add(p.len()));
    let len32 = u32::try_from(len).map_err(|_| Errno::E2BIG)?;
    let mut m = Vec::new();
    m.try_reserve_exact(HEADER_LEN.saturating_add(len)).map_err(|_| Errno::ENOMEM)?;
    m.extend_from_slice(&MsgHeader { ty, req_id, tx_id, len: len32 }.to_bytes());
    for p in parts {
        m.extend_from_slice(p);
    }
    Ok(m)
}

/// Parses a TRANSACTION_START reply payload: decimal digits, optionally
/// followed by one NUL, fitting a `u32`.
fn parse_tx_id(payload: &[u8]) -> Option<u32> {
    let digits = payload.strip_suffix(b"\0").unwrap_or(payload);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u32::from(d))
    })
}

/// The errno write() returns when xenstored refuses a watch.
fn errno_of(e: XsErrno) -> Errno {
    match e {
        XsErrno::EINVAL => Errno::EINVAL,
        XsErrno::EACCES => Errno::EACCES,
        XsErrno::EEXIST => Errno::EEXIST,
        XsErrno::EISDIR => Errno::EISDIR,
        XsErrno::ENOENT => Errno::ENOENT,
        XsErrno::ENOMEM => Errno::ENOMEM,
        XsErrno::ENOSPC => Errno::ENOSPC,
        XsErrno::EIO => Errno::EIO,
        XsErrno::ENOTEMPTY => Errno::ENOTEMPTY,
        XsErrno::ENOSYS => Errno::ENOSYS,
        XsErrno::EROFS => Errno::EROFS,
        XsErrno::EBUSY => Errno::EBUSY,
        XsErrno::EAGAIN => Errno::EAGAIN,
        XsErrno::EISCONN => Errno::EISCONN,
        XsErrno::E2BIG => Errno::E2BIG,
        XsErrno::EPERM => Errno::EPERM,
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn tx_id_parsing() {
        assert_eq!(parse_tx_id(b"17\0"), Some(17));
        assert_eq!(parse_tx_id(b"17"), Some(17));
        assert_eq!(parse_tx_id(b"4294967295\0"), Some(u32::MAX));
        assert_eq!(parse_tx_id(b"4294967296\0"), None);
        assert_eq!(parse_tx_id(b"\0"), None);
        assert_eq!(parse_tx_id(b""), None);
        assert_eq!(parse_tx_id(b"EAGAIN\0"), None);
        assert_eq!(parse_tx_id(b"1 \0"), None);
        assert_eq!(parse_tx_id(b"1\0\0"), None);
    }

    #[test]
    fn errno_mapping_matches_numbers() {
        for e in [
            XsErrno::EINVAL,
            XsErrno::EACCES,
            XsErrno::EEXIST,
            XsErrno::EISDIR,
            XsErrno::ENOENT,
            XsErrno::ENOMEM,
            XsErrno::ENOSPC,
            XsErrno::EIO,
            XsErrno::ENOTEMPTY,
            XsErrno::ENOSYS,
            XsErrno::EROFS,
            XsErrno::EBUSY,
            XsErrno::EAGAIN,
            XsErrno::EISCONN,
            XsErrno::E2BIG,
            XsErrno::EPERM,
        ] {
            assert_eq!(errno_of(e).code(), e.errno());
        }
    }
}
