//! The request/reply multiplexer.
//!
//! Protocol rules implemented here (xenstore.txt; xenbus-node-spec §1.1-1.5):
//!
//! - Every request carries a `req_id` that xenstored echoes in its reply.
//!   Replies may come in any order, so they are matched by `req_id` only; a
//!   wire `req_id` is therefore unique among the requests in flight. Replies
//!   that match nothing are dropped and counted.
//! - A failed request is answered with `XS_ERROR`, the errno name as payload.
//! - `XS_WATCH_EVENT` messages (`req_id` 0) are not replies: their payload is
//!   `path\0token\0` and they are routed by token.
//! - xenstored limits the requests a domain may have outstanding (20 by
//!   default); a client exceeding it gets errors. So at most
//!   [`Config::max_in_flight`] requests are written but unanswered at any
//!   time; further requests wait in a local FIFO.
//! - Messages are byte streams on a 1 KiB ring. A message larger than the
//!   free space is written in pieces by successive [`ClientCore::pump_out`]
//!   calls, and the next message starts only after the previous one is
//!   completely written: messages are never interleaved.
//! - After a ring reconnection xenstored has forgotten every request, watch
//!   and transaction of the connection ([`ClientCore::reset`]).
//! - Suspend (`xl save`, migration): the kernel *holds* the client
//!   ([`ClientCore::set_held`]): nothing new goes onto the ring, what is in
//!   flight is answered, so that the ring is quiescent when the domain
//!   stops ([`ClientCore::is_quiescent`]). A domain restored from the save
//!   talks to xenstored over the same page with a new connection
//!   ([`ClientCore::resume_on_new_ring`]): requests still unanswered
//!   complete with [`ClientError::Reconnected`], held ones are sent, and
//!   every watch is registered again. A cancelled suspend only releases the
//!   hold.
//!
//! - Every index the other side writes is validated on every access, on the
//!   submit path as on the reader's. A broken ring or an oversized header is
//!   fatal to the connection: the core *fails* ([`ClientCore::fail`]), so
//!   every request queued or in flight completes with
//!   [`ClientError::ConnectionLost`] (each gets exactly one answer) and new
//!   submissions fail at once, until a ring reconnection
//!   ([`ClientCore::reset`]).
//! - Memory: the local queue is bounded ([`Config::max_queued`]), and a
//!   request may carry a budget [`Charge`] sized by [`charge_for`]: the
//!   request's bytes until they are on the ring, then a reservation for the
//!   largest reply, which the reply takes over (shrunk to its size) and
//!   carries to whoever reads it. If the reply's buffer still cannot be
//!   allocated, its payload is skipped on the ring and the request completes
//!   with [`ClientError::NoMemory`].
//! - Copies: a request is written from the caller's buffer straight into the
//!   ring when nothing is queued ahead of it and the quota allows
//!   ([`ClientCore::submit_with`] given the page); only what does not fit is
//!   staged, once. A reply is read from the ring into its final buffer.
//!
//! Nothing here blocks or spawns: the kernel's reader calls
//! [`ClientCore::pump_in`] when the event channel fires, its writers call
//! [`ClientCore::submit_with`] (or `submit` then [`ClientCore::pump_out`]),
//! and each waits on its own queue until [`ClientCore::take_completed`] names
//! its [`RequestId`].

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::vec::Vec;

use kcore::budget::Charge;
use xs_ring::{request_space, write_some, MessageReader, Received, RingError, SharedPage};
use xs_wire::{parse_path_token, MsgHeader, MsgType, HEADER_LEN, PAYLOAD_MAX};

use crate::types::{push_string, ClientError, Completion, Reply, Request, RequestId, WatchEvent, WatchId};

/// Accounting size of a queued request beyond its message bytes.
pub const QUEUED_OVERHEAD: usize = 96;
/// Accounting size of a reply beyond its message bytes.
pub const REPLY_OVERHEAD: usize = 64;
/// What a request reserves for its reply until the reply arrives.
pub const REPLY_RESERVE: usize = HEADER_LEN + PAYLOAD_MAX + REPLY_OVERHEAD;

/// Bytes to charge for a request with a `payload_len`-byte payload: its
/// message while queued plus the reservation for its reply.
pub const fn charge_for(payload_len: usize) -> usize {
    HEADER_LEN + payload_len + QUEUED_OVERHEAD + REPLY_RESERVE
}

/// Tunables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most requests written to the ring and not yet answered (xenstored's
    /// default per-domain quota is 20). Values below 1 are taken as 1.
    pub max_in_flight: usize,
    /// Most undelivered events kept per watch between two drains by the
    /// kernel; beyond it the oldest is dropped and counted. Values below 1
    /// are taken as 1.
    pub max_queued_events: usize,
    /// Most requests waiting locally (quota or ring space); one more is
    /// refused with [`ClientError::Busy`]. Values below 1 are taken as 1.
    pub max_queued: usize,
    /// Most messages one [`ClientCore::pump_in`] call reads, so the events
    /// it collects stay bounded between drains. Values below 1 are taken
    /// as 1.
    pub max_batch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_in_flight: 20, max_queued_events: 1024, max_queued: 4096, max_batch: 16 }
    }
}

/// Counters of input that was dropped instead of delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Replies whose `req_id` matched no request in flight.
    pub unmatched_replies: u64,
    /// `XS_WATCH_EVENT`s without `path\0token\0`.
    pub malformed_events: u64,
    /// Well-formed events whose token belongs to no registered watch
    /// (including events of a watch being removed).
    pub unknown_watch_events: u64,
    /// Events dropped because a watch's queue was full.
    pub overflowed_events: u64,
    /// Messages whose payload was skipped for lack of memory.
    pub dropped_for_memory: u64,
    /// Requests refused because the local queue was full.
    pub refused_busy: u64,
    /// Requests answered with [`ClientError::ConnectionLost`] by [`ClientCore::fail`].
    pub failed_requests: u64,
}

/// Why a request was sent, which decides what happens to its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// An ordinary request; the reply goes to the caller.
    Plain,
    /// A caller-built message: the caller's `req_id` goes back in the reply.
    Raw { user_req_id: u32 },
    /// `XS_WATCH` for this watch: an error reply removes the watch.
    Watch(WatchId),
}

/// A request not yet written to the ring: its whole message, whose
/// `req_id` is filled in when it is started.
#[derive(Debug)]
struct Queued {
    id: RequestId,
    msg: Vec<u8>,
    purpose: Purpose,
    /// Nobody will take the reply: drop it on completion.
    discard: bool,
    charge: Charge,
}

/// A request written (or being written) to the ring, keyed by wire `req_id`.
#[derive(Debug)]
struct InFlight {
    id: RequestId,
    purpose: Purpose,
    discard: bool,
    /// The request's charge; shrunk to the reply reservation once written.
    charge: Charge,
}

/// A request to submit: built by [`crate::ops`], or a complete message
/// built by the caller (the xenbus node forwards programs' messages).
#[derive(Clone, Copy, Debug)]
pub enum Outgoing<'a> {
    /// A typed request.
    Request(&'a Request),
    /// A complete message (header and payload); its `req_id` is replaced on
    /// the wire and put back in the reply.
    Raw(&'a [u8]),
}

/// What [`ClientCore::submit_with`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The request's handle.
    pub id: RequestId,
    /// Bytes went onto the ring: signal the server.
    pub notify: bool,
}

/// What [`ClientCore::resume_on_new_ring`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Requests that were in flight and completed with
    /// [`ClientError::Reconnected`].
    pub failed: usize,
    /// Of those, the ones someone will take the answer of (not forgotten).
    pub reported: usize,
    /// Requests queued (held) during the suspend, to be sent now.
    pub held: usize,
    /// Watches queued for registration again.
    pub watches: usize,
    /// Bytes of the response ring that were discarded.
    pub discarded_bytes: u32,
}

/// A registered watch.
#[derive(Debug)]
struct Watch {
    path: Vec<u8>,
    user_token: Vec<u8>,
    wire_token: Vec<u8>,
    events: VecDeque<WatchEvent>,
}

/// The client state machine; see the module documentation.
#[derive(Debug)]
pub struct ClientCore {
    config: Config,
    next_request: u64,
    next_watch: u64,
    next_wire_id: u32,
    queue: VecDeque<Queued>,
    in_flight: BTreeMap<u32, InFlight>,
    /// The message being written to the ring, and how much of it is written.
    out: Vec<u8>,
    out_pos: usize,
    /// The in-flight entry (wire `req_id`) of the message in `out`.
    out_wire: Option<u32>,
    reader: MessageReader,
    completed: BTreeMap<RequestId, Completion>,
    /// Completed since the kernel last looked (kept allocated: a request
    /// that completes costs no allocation here).
    newly_completed: VecDeque<RequestId>,
    watches: BTreeMap<WatchId, Watch>,
    by_token: BTreeMap<Vec<u8>, WatchId>,
    woken_watches: BTreeSet<WatchId>,
    stats: Stats,
    /// Set by [`ClientCore::fail`]: every submission fails with it.
    dead: Option<ClientError>,
    /// [`ClientCore::set_held`]: nothing new is started on the ring.
    held: bool,
}

impl Default for ClientCore {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl ClientCore {
    /// An idle client.
    pub fn new(config: Config) -> Self {
        Self {
            config: Config {
                max_in_flight: config.max_in_flight.max(1),
                max_queued_events: config.max_queued_events.max(1),
                max_queued: config.max_queued.max(1),
                max_batch: config.max_batch.max(1),
            },
            next_request: 1,
            next_watch: 1,
            next_wire_id: 1,
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            out: Vec::new(),
            out_pos: 0,
            out_wire: None,
            reader: MessageReader::new(),
            completed: BTreeMap::new(),
            newly_completed: VecDeque::new(),
            watches: BTreeMap::new(),
            by_token: BTreeMap::new(),
            woken_watches: BTreeSet::new(),
            stats: Stats::default(),
            dead: None,
            held: false,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Drop counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Requests written (fully or partly) to the ring and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Requests waiting locally (quota or ring space).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// True when [`Self::pump_out`] has something to write once the ring has
    /// space and the quota allows.
    pub fn has_output(&self) -> bool {
        self.out_pos < self.out.len() || !self.queue.is_empty()
    }

    /// Holds the client (`on`) or releases it. While held, submissions are
    /// accepted but queued, and no queued request is started on the ring; a
    /// message already partly on the ring is still finished, and replies
    /// and events are still read. Releasing does not write anything: call
    /// [`Self::pump_out`].
    pub fn set_held(&mut self, on: bool) {
        self.held = on;
    }

    /// Whether the client is held ([`Self::set_held`]).
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// True when no request is in flight and no message is partly written:
    /// nothing on the ring is waiting for xenstored.
    pub fn is_quiescent(&self) -> bool {
        self.in_flight.is_empty() && self.out_pos >= self.out.len()
    }

    /// The domain was restored from a save: the same ring page now belongs
    /// to a new connection, which knows nothing of this one's requests,
    /// watches and transactions.
    ///
    /// - Every request in flight (the save came before its reply) completes
    ///   with [`ClientError::Reconnected`]; so does a message cut short on
    ///   the ring. (xenstored may still have executed it.)
    /// - Whatever is in the response ring is discarded, as Linux does: it
    ///   was written by the old connection (watch events, which the
    ///   re-registration fires again, or replies to requests answered just
    ///   now) and may have been copied half-written.
    /// - Every registered watch is registered again, ahead of the queued
    ///   requests (their replies are not reported; xenstored fires each
    ///   once more).
    /// - Queued requests (held during the suspend) stay queued, in order, to
    ///   be sent by the next [`Self::pump_out`]; a failed connection is
    ///   usable again; the hold is released.
    ///
    /// Wire `req_id`s keep counting up, so a late reply from before cannot
    /// match a new request. Returns what happened.
    pub fn resume_on_new_ring<P: SharedPage + ?Sized>(&mut self, page: &P) -> Resumed {
        let failed_before = self.newly_completed.len();
        self.dead = None;
        self.held = false;
        let in_flight = self.in_flight.len();
        // Fail only what is in flight: the queue survives.
        let queue = core::mem::take(&mut self.queue);
        self.fail_outstanding(ClientError::Reconnected);
        self.queue = queue;
        let (prod, cons) = (page.rsp_prod(), page.rsp_cons());
        let discarded = prod.wrapping_sub(cons);
        if discarded != 0 {
            page.set_rsp_cons(prod);
        }
        let watches = self.requeue_watches(true);
        Resumed {
            failed: in_flight,
            reported: self.newly_completed.len().saturating_sub(failed_before),
            held: self.queue.len().saturating_sub(watches),
            watches,
            discarded_bytes: discarded,
        }
    }

    /// Queues an `XS_WATCH` for every registered watch (at the front of the
    /// queue when `front`), its reply not reported. A watch that cannot be
    /// queued is dropped. Returns how many were queued.
    fn requeue_watches(&mut self, front: bool) -> usize {
        let again: Vec<(WatchId, Vec<u8>)> = self
            .watches
            .iter()
            .filter_map(|(wid, w)| Some((*wid, Self::watch_payload(&w.path, &w.wire_token).ok()?)))
            .collect();
        let mut queued = Vec::new();
        for (wid, payload) in again {
            let hdr = MsgHeader { ty: MsgType::WATCH.0, req_id: 0, tx_id: 0, len: 0 };
            let mut msg = Vec::new();
            if msg.try_reserve_exact(HEADER_LEN + payload.len()).is_err() || queued.try_reserve(1).is_err() {
                self.drop_watch(wid);
                continue;
            }
            let mut h = hdr;
            h.len = payload.len() as u32;
            msg.extend_from_slice(&h.to_bytes());
            msg.extend_from_slice(&payload);
            let id = self.alloc_request_id();
            queued.push(Queued { id, msg, purpose: Purpose::Watch(wid), discard: true, charge: Charge::none() });
        }
        let n = queued.len();
        if self.queue.try_reserve(n).is_err() {
            for q in queued {
                if let Purpose::Watch(wid) = q.purpose {
                    self.drop_watch(wid);
                }
            }
            return 0;
        }
        if front {
            for q in queued.into_iter().rev() {
                self.queue.push_front(q);
            }
        } else {
            self.queue.extend(queued);
        }
        n
    }

    /// The error every submission gets since [`Self::fail`], if any.
    pub fn failure(&self) -> Option<ClientError> {
        self.dead
    }

    /// Fault injection (tests, `make fuzz`): behave as if no reply buffer
    /// could be allocated (see [`MessageReader::set_fail_allocations`]).
    pub fn set_fail_allocations(&mut self, on: bool) {
        self.reader.set_fail_allocations(on);
    }

    fn alloc_request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1);
        id
    }

    /// Queues a request. Fails if the payload is longer than
    /// [`PAYLOAD_MAX`], the queue is full, or the connection has failed;
    /// the quota never makes it fail.
    pub fn submit(&mut self, ty: MsgType, tx_id: u32, payload: &[u8]) -> Result<RequestId, ClientError> {
        let hdr = MsgHeader { ty: ty.0, req_id: 0, tx_id, len: 0 };
        self.submit_inner::<dyn SharedPage>(hdr, payload, Purpose::Plain, false, Charge::none(), None).map(|s| s.id)
    }

    /// Queues a request built by [`crate::ops`].
    pub fn submit_request(&mut self, req: &Request) -> Result<RequestId, ClientError> {
        self.submit(req.ty, req.tx_id, &req.payload)
    }

    /// Queues a complete caller-built message (header and payload). The
    /// header's `req_id` is replaced by one of ours on the wire and put back
    /// in the reply; type and `tx_id` are sent as given.
    pub fn submit_raw(&mut self, msg: &[u8]) -> Result<RequestId, ClientError> {
        self.submit_with::<dyn SharedPage>(Outgoing::Raw(msg), Charge::none(), None).map(|s| s.id)
    }

    /// Submits a request carrying `charge` (see [`charge_for`]). With `page`,
    /// the request goes straight onto the ring when nothing is queued ahead
    /// of it and the quota allows, so its bytes are copied once; whatever
    /// does not fit is staged. Without `page` it is queued for
    /// [`Self::pump_out`]. A ring error found on the way fails the
    /// connection and is returned as [`ClientError::Ring`] (the request is
    /// not accepted).
    pub fn submit_with<P: SharedPage + ?Sized>(
        &mut self,
        out: Outgoing<'_>,
        charge: Charge,
        page: Option<&P>,
    ) -> Result<Submitted, ClientError> {
        match out {
            Outgoing::Request(req) => {
                let hdr = MsgHeader { ty: req.ty.0, req_id: 0, tx_id: req.tx_id, len: 0 };
                self.submit_inner(hdr, &req.payload, Purpose::Plain, false, charge, page)
            }
            Outgoing::Raw(msg) => {
                let header = MsgHeader::from_bytes(msg).ok_or(ClientError::BadMessage)?;
                let payload = msg.get(HEADER_LEN..).unwrap_or_default();
                if header.len as usize > PAYLOAD_MAX {
                    return Err(ClientError::PayloadTooLarge { len: header.len as usize });
                }
                if header.len as usize != payload.len() {
                    return Err(ClientError::BadMessage);
                }
                let purpose = Purpose::Raw { user_req_id: header.req_id };
                self.submit_inner(header, payload, purpose, false, charge, page)
            }
        }
    }

    fn submit_inner<P: SharedPage + ?Sized>(
        &mut self,
        mut header: MsgHeader,
        payload: &[u8],
        purpose: Purpose,
        discard: bool,
        mut charge: Charge,
        page: Option<&P>,
    ) -> Result<Submitted, ClientError> {
        if let Some(e) = self.dead {
            return Err(e);
        }
        if payload.len() > PAYLOAD_MAX {
            return Err(ClientError::PayloadTooLarge { len: payload.len() });
        }
        header.len = payload.len() as u32;
        let direct = page.is_some()
            && !self.held
            && self.queue.is_empty()
            && self.out_pos >= self.out.len()
            && self.in_flight.len() < self.config.max_in_flight;
        if let Some(page) = page {
            // Both rings' indices are checked on the submit path too.
            if let Err(e) = xs_ring::response_pending(page) {
                self.fail(ClientError::ConnectionLost);
                return Err(ClientError::Ring(e));
            }
        }
        if let (true, Some(page)) = (direct, page) {
            let total = HEADER_LEN + payload.len();
            let space = match request_space(page) {
                Ok(n) => n,
                Err(e) => {
                    self.fail(ClientError::ConnectionLost);
                    return Err(ClientError::Ring(e));
                }
            };
            // What will not fit is staged: reserve that before anything
            // goes onto the ring, so the message is never left half sent.
            let mut rest = Vec::new();
            if total > space && rest.try_reserve_exact(total - space).is_err() {
                return Err(ClientError::Busy);
            }
            let id = self.alloc_request_id();
            let wire = self.alloc_wire_id();
            header.req_id = wire;
            let hdr = header.to_bytes();
            let r = write_some(page, &hdr).and_then(|a| {
                let b = if a.written == hdr.len() { write_some(page, payload)? } else { Default::default() };
                Ok((a, b))
            });
            let (a, b) = match r {
                Ok(x) => x,
                Err(e) => {
                    self.fail(ClientError::ConnectionLost);
                    return Err(ClientError::Ring(e));
                }
            };
            let written = a.written + b.written;
            if written < total {
                if written < HEADER_LEN {
                    rest.extend_from_slice(hdr.get(written..).unwrap_or_default());
                    rest.extend_from_slice(payload);
                } else {
                    rest.extend_from_slice(payload.get(written - HEADER_LEN..).unwrap_or_default());
                }
                self.out = rest;
                self.out_pos = 0;
                self.out_wire = Some(wire);
            } else {
                charge.shrink_to(REPLY_RESERVE);
            }
            self.in_flight.insert(wire, InFlight { id, purpose, discard, charge });
            return Ok(Submitted { id, notify: a.notify || b.notify });
        }
        if self.queue.len() >= self.config.max_queued {
            self.stats.refused_busy = self.stats.refused_busy.wrapping_add(1);
            return Err(ClientError::Busy);
        }
        let mut msg = Vec::new();
        msg.try_reserve_exact(HEADER_LEN + payload.len()).map_err(|_| ClientError::Busy)?;
        self.queue.try_reserve(1).map_err(|_| ClientError::Busy)?;
        msg.extend_from_slice(&header.to_bytes());
        msg.extend_from_slice(payload);
        let id = self.alloc_request_id();
        self.queue.push_back(Queued { id, msg, purpose, discard, charge });
        Ok(Submitted { id, notify: false })
    }

    /// Says that nobody will take the reply of `id`: it is dropped now if it
    /// has arrived, or when it arrives. The request itself is still sent
    /// (xenstored may already have it).
    pub fn forget(&mut self, id: RequestId) {
        if self.completed.remove(&id).is_some() {
            return;
        }
        if let Some(q) = self.queue.iter_mut().find(|q| q.id == id) {
            q.discard = true;
        } else if let Some(f) = self.in_flight.values_mut().find(|f| f.id == id) {
            f.discard = true;
        }
    }

    /// A wire `req_id` not used by any request in flight.
    fn alloc_wire_id(&mut self) -> u32 {
        // At most in_flight.len() candidates are taken, so one of the first
        // in_flight.len() + 1 is free.
        let mut id = self.next_wire_id;
        for _ in 0..=self.in_flight.len() {
            if !self.in_flight.contains_key(&id) {
                break;
            }
            id = id.wrapping_add(1);
        }
        self.next_wire_id = id.wrapping_add(1);
        id
    }

    /// Starts writing the next queued request if the quota allows.
    fn start_next(&mut self) -> bool {
        if self.held || self.in_flight.len() >= self.config.max_in_flight {
            return false;
        }
        let Some(mut q) = self.queue.pop_front() else {
            return false;
        };
        let wire = self.alloc_wire_id();
        if let Some(h) = q.msg.get_mut(4..8) {
            h.copy_from_slice(&wire.to_le_bytes());
        }
        self.out = q.msg;
        self.out_pos = 0;
        self.out_wire = Some(wire);
        self.in_flight.insert(wire, InFlight { id: q.id, purpose: q.purpose, discard: q.discard, charge: q.charge });
        true
    }

    /// The message in `out` is completely on the ring: its queued bytes are
    /// no longer needed, only the reply reservation.
    fn out_done(&mut self) {
        if let Some(f) = self.out_wire.take().and_then(|w| self.in_flight.get_mut(&w)) {
            f.charge.shrink_to(REPLY_RESERVE);
        }
        self.out = Vec::new();
        self.out_pos = 0;
    }

    /// Writes pending requests into the request queue of `page` as far as
    /// ring space and the in-flight quota allow. Returns whether the server
    /// must be signalled. Call it after submitting, after [`Self::pump_in`]
    /// completed something (quota freed), and whenever the server signals
    /// (ring space freed). A ring error fails the connection.
    pub fn pump_out<P: SharedPage + ?Sized>(&mut self, page: &P) -> Result<bool, RingError> {
        if self.dead.is_some() {
            return Ok(false);
        }
        let mut notify = false;
        loop {
            if self.out_pos >= self.out.len() {
                if self.out_wire.is_some() {
                    self.out_done();
                }
                if !self.start_next() {
                    return Ok(notify);
                }
            }
            let rest = self.out.get(self.out_pos..).unwrap_or_default();
            let w = match write_some(page, rest) {
                Ok(w) => w,
                Err(e) => {
                    self.fail(ClientError::ConnectionLost);
                    return Err(e);
                }
            };
            notify |= w.notify;
            self.out_pos = self.out_pos.saturating_add(w.written);
            if w.written == 0 {
                return Ok(notify);
            }
        }
    }

    /// Reads complete messages from the response queue of `page` (at most
    /// [`Config::max_batch`]) and routes each ([`Self::handle`]). Returns
    /// whether the server must be signalled and whether more may be waiting
    /// (call again after taking what was routed). An error means the byte
    /// stream is broken: the connection has failed.
    pub fn pump_in<P: SharedPage + ?Sized>(&mut self, page: &P) -> Result<(bool, bool), RingError> {
        if self.dead.is_some() {
            return Ok((false, false));
        }
        let mut notify = false;
        for _ in 0..self.config.max_batch {
            let (msg, n) = match self.reader.read_from(page) {
                Ok(x) => x,
                Err(e) => {
                    self.fail(ClientError::ConnectionLost);
                    return Err(e);
                }
            };
            notify |= n;
            match msg {
                Some(m) => self.handle(m),
                None => return Ok((notify, false)),
            }
        }
        Ok((notify, true))
    }

    fn complete(&mut self, id: RequestId, discard: bool, result: Completion) {
        if discard {
            return;
        }
        self.completed.insert(id, result);
        self.newly_completed.push_back(id);
    }

    /// Fails the connection: every request queued or in flight completes
    /// with `err` (in submission order), partly written or read messages are
    /// discarded, and every later submission fails with `err` until
    /// [`Self::reset`]. Watches stay registered (a reconnection registers
    /// them again).
    pub fn fail(&mut self, err: ClientError) {
        self.dead = Some(err);
        self.fail_outstanding(err);
    }

    fn fail_outstanding(&mut self, err: ClientError) {
        self.reader.reset();
        self.out = Vec::new();
        self.out_pos = 0;
        self.out_wire = None;
        let in_flight = core::mem::take(&mut self.in_flight);
        let queue = core::mem::take(&mut self.queue);
        let mut failed: Vec<(RequestId, bool)> = in_flight.into_values().map(|f| (f.id, f.discard)).collect();
        failed.extend(queue.into_iter().map(|q| (q.id, q.discard)));
        failed.sort_unstable_by_key(|f| f.0);
        if err == ClientError::ConnectionLost {
            self.stats.failed_requests = self.stats.failed_requests.wrapping_add(failed.len() as u64);
        }
        for (id, discard) in failed {
            self.complete(id, discard, Err(err));
        }
    }

    /// Routes one complete incoming message: a watch event to its watch, a
    /// reply to its request. Anything else is dropped and counted.
    pub fn handle(&mut self, received: Received) {
        let msg = match received {
            Received::Message(m) => m,
            Received::Dropped(header) => {
                self.stats.dropped_for_memory = self.stats.dropped_for_memory.wrapping_add(1);
                if header.ty != MsgType::WATCH_EVENT.0 {
                    if let Some(f) = self.in_flight.remove(&header.req_id) {
                        if let Purpose::Watch(wid) = f.purpose {
                            // Whether xenstored took the watch is unknown; it
                            // is kept, and dropped at unregistration.
                            let _ = wid;
                        }
                        self.complete(f.id, f.discard, Err(ClientError::NoMemory));
                    } else {
                        self.stats.unmatched_replies = self.stats.unmatched_replies.wrapping_add(1);
                    }
                }
                return;
            }
        };
        if msg.header.ty == MsgType::WATCH_EVENT.0 {
            self.route_event(msg.payload());
            return;
        }
        let Some(mut f) = self.in_flight.remove(&msg.header.req_id) else {
            self.stats.unmatched_replies = self.stats.unmatched_replies.wrapping_add(1);
            return;
        };
        if self.out_wire == Some(msg.header.req_id) {
            // xenstored answered a request we had not finished writing: the
            // stream is out of step; finish writing it anyway (the bytes are
            // promised), but forget its entry.
            self.out_wire = None;
        }
        let is_error = msg.header.ty == MsgType::ERROR.0;
        f.charge.shrink_to(msg.bytes().len().saturating_add(REPLY_OVERHEAD));
        let mut reply = Reply::from_message(msg, f.charge);
        match f.purpose {
            Purpose::Plain => {}
            Purpose::Raw { user_req_id } => reply.set_req_id(user_req_id),
            Purpose::Watch(wid) => {
                if is_error {
                    // xenstored refused the watch: no events will come.
                    self.drop_watch(wid);
                }
            }
        }
        self.complete(f.id, f.discard, Ok(reply));
    }

    fn route_event(&mut self, payload: &[u8]) {
        let Some((path, token)) = parse_path_token(payload) else {
            self.stats.malformed_events = self.stats.malformed_events.wrapping_add(1);
            return;
        };
        let watch = self.by_token.get(token).copied().and_then(|wid| Some((wid, self.watches.get_mut(&wid)?)));
        let Some((wid, watch)) = watch else {
            self.stats.unknown_watch_events = self.stats.unknown_watch_events.wrapping_add(1);
            return;
        };
        if watch.events.len() >= self.config.max_queued_events {
            watch.events.pop_front();
            self.stats.overflowed_events = self.stats.overflowed_events.wrapping_add(1);
        }
        watch.events.push_back(WatchEvent { path: path.to_vec(), token: watch.user_token.clone() });
        self.woken_watches.insert(wid);
    }

    /// The result of request `id` once it has completed (each result is
    /// handed out once).
    pub fn take_reply(&mut self, id: RequestId) -> Option<Completion> {
        self.completed.remove(&id)
    }

    /// True while `id` has been submitted but its result not yet taken.
    pub fn is_pending(&self, id: RequestId) -> bool {
        self.completed.contains_key(&id)
            || self.queue.iter().any(|q| q.id == id)
            || self.in_flight.values().any(|f| f.id == id)
    }

    /// True once the result of `id` is there to take.
    pub fn is_complete(&self, id: RequestId) -> bool {
        self.completed.contains_key(&id)
    }

    /// Requests completed since the last call, in completion order: whom the
    /// kernel must wake.
    pub fn take_completed(&mut self) -> Vec<RequestId> {
        self.newly_completed.drain(..).collect()
    }

    /// The oldest request completed since it was last asked, one at a
    /// time ([`Self::take_completed`] without the allocation).
    pub fn pop_completed(&mut self) -> Option<RequestId> {
        self.newly_completed.pop_front()
    }

    /// Watches that received events since the last call.
    pub fn take_woken_watches(&mut self) -> Vec<WatchId> {
        if self.woken_watches.is_empty() {
            // The usual case, asked after every reply: no set to take apart.
            return Vec::new();
        }
        let set = core::mem::take(&mut self.woken_watches);
        set.into_iter().collect()
    }

    /// The oldest undelivered event of watch `wid`.
    pub fn take_event(&mut self, wid: WatchId) -> Option<WatchEvent> {
        self.watches.get_mut(&wid)?.events.pop_front()
    }

    /// Number of undelivered events of watch `wid`.
    pub fn pending_events(&self, wid: WatchId) -> usize {
        self.watches.get(&wid).map_or(0, |w| w.events.len())
    }

    /// True while `wid` is registered (not unregistered, not refused by
    /// xenstored).
    pub fn watch_is_registered(&self, wid: WatchId) -> bool {
        self.watches.contains_key(&wid)
    }

    /// The token used on the wire for `wid`: unique to this client and never
    /// reused, so watches registered for different owners cannot collide.
    pub fn wire_token(&self, wid: WatchId) -> Option<&[u8]> {
        self.watches.get(&wid).map(|w| w.wire_token.as_slice())
    }

    fn watch_payload(path: &[u8], token: &[u8]) -> Result<Vec<u8>, ClientError> {
        let mut p = Vec::with_capacity(path.len() + token.len() + 2);
        push_string(&mut p, path)?;
        push_string(&mut p, token)?;
        if p.len() > PAYLOAD_MAX {
            return Err(ClientError::PayloadTooLarge { len: p.len() });
        }
        Ok(p)
    }

    /// Registers a watch on `path` and queues the `XS_WATCH` request.
    ///
    /// `token` is the owner's own token: it is kept here and returned in
    /// every [`WatchEvent`], while the wire carries a token generated from
    /// the [`WatchId`]. The returned [`RequestId`] completes with xenstored's
    /// answer; if that is an error the watch is removed again. xenstored
    /// fires every new watch once right away, so expect an initial event.
    pub fn register_watch(&mut self, path: &[u8], token: &[u8]) -> Result<(WatchId, RequestId), ClientError> {
        self.register_watch_with::<dyn SharedPage>(path, token, Charge::none(), None).map(|(w, s)| (w, s.id))
    }

    /// [`Self::register_watch`] with a charge, sent directly when `page` is
    /// given (see [`Self::submit_with`]).
    pub fn register_watch_with<P: SharedPage + ?Sized>(
        &mut self,
        path: &[u8],
        token: &[u8],
        charge: Charge,
        page: Option<&P>,
    ) -> Result<(WatchId, Submitted), ClientError> {
        if let Some(e) = self.dead {
            return Err(e);
        }
        let wid = WatchId(self.next_watch);
        let wire_token = format!("xsc{}", wid.0).into_bytes();
        let payload = Self::watch_payload(path, &wire_token)?;
        self.next_watch = self.next_watch.wrapping_add(1);
        self.by_token.insert(wire_token.clone(), wid);
        self.watches.insert(
            wid,
            Watch { path: path.to_vec(), user_token: token.to_vec(), wire_token, events: VecDeque::new() },
        );
        let hdr = MsgHeader { ty: MsgType::WATCH.0, req_id: 0, tx_id: 0, len: 0 };
        match self.submit_inner::<P>(hdr, &payload, Purpose::Watch(wid), false, charge, page) {
            Ok(s) => Ok((wid, s)),
            Err(e) => {
                self.drop_watch(wid);
                Err(e)
            }
        }
    }

    fn drop_watch(&mut self, wid: WatchId) -> Option<Watch> {
        let w = self.watches.remove(&wid)?;
        self.by_token.remove(&w.wire_token);
        self.woken_watches.remove(&wid);
        Some(w)
    }

    /// Removes watch `wid`: its queued events are discarded, later events
    /// for it are dropped, and `XS_UNWATCH` is queued; its [`RequestId`] is
    /// returned (use [`Self::forget`] if the answer does not matter).
    /// Returns `None`, and does nothing, if `wid` is not registered (for
    /// instance when unregistering twice).
    pub fn unregister_watch(&mut self, wid: WatchId) -> Option<RequestId> {
        self.unregister_watch_with::<dyn SharedPage>(wid, Charge::none(), None).map(|s| s.id)
    }

    /// [`Self::unregister_watch`] with a charge, sent directly when `page`
    /// is given. `None` also when the connection has failed (the watch is
    /// gone locally either way).
    pub fn unregister_watch_with<P: SharedPage + ?Sized>(
        &mut self,
        wid: WatchId,
        charge: Charge,
        page: Option<&P>,
    ) -> Option<Submitted> {
        let w = self.drop_watch(wid)?;
        // Both strings were accepted when the watch was registered.
        let payload = Self::watch_payload(&w.path, &w.wire_token).ok()?;
        let hdr = MsgHeader { ty: MsgType::UNWATCH.0, req_id: 0, tx_id: 0, len: 0 };
        self.submit_inner(hdr, &payload, Purpose::Plain, false, charge, page).ok()
    }

    /// Forgets all connection state after the kernel has completed the ring
    /// reconnection handshake (xenstored has then dropped everything of this
    /// connection).
    ///
    /// Every request in flight or queued completes with
    /// [`ClientError::Reconnected`] (transactions must restart from
    /// `TRANSACTION_START`); partly read or written messages are discarded;
    /// every registered watch is queued for registration again (its reply is
    /// not reported; xenstored will fire it once more). A watch whose own
    /// registration request was cut short is re-registered too. Events
    /// already queued stay deliverable.
    pub fn reset(&mut self) {
        self.dead = None;
        self.fail_outstanding(ClientError::Reconnected);
        // The local queue was just emptied; a watch that could not be
        // queued is dropped.
        self.requeue_watches(false);
    }
}
