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
//!
//! Nothing here blocks or spawns: the kernel's reader calls
//! [`ClientCore::pump_in`] when the event channel fires, its writers call
//! [`ClientCore::submit`] then [`ClientCore::pump_out`], and each waits on its
//! own queue until [`ClientCore::take_completed`] names its [`RequestId`].

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::vec::Vec;
use core::fmt;

use xs_ring::{write_some, Message, MessageReader, RingError, SharedPage};
use xs_wire::{build_message, parse_path_token, MsgHeader, MsgType, XsErrno, HEADER_LEN, PAYLOAD_MAX};

use crate::ops::Request;

/// Opaque handle of one submitted request. Never reused by a [`ClientCore`];
/// it is not the wire `req_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(u64);

/// Handle of one registered watch. Never reused by a [`ClientCore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchId(u64);

impl WatchId {
    /// The number behind the handle (for logs and for the kernel's tables).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Errors of the client layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// A payload longer than [`PAYLOAD_MAX`] (xenstored would drop the
    /// connection).
    PayloadTooLarge {
        /// The offending length.
        len: usize,
    },
    /// An argument cannot be encoded: a NUL inside a path or token, or a
    /// number that does not parse.
    InvalidArgument,
    /// A caller-built message whose header does not describe it (too short,
    /// or `len` differs from the bytes that follow the header).
    BadMessage,
    /// The ring was reset before the reply came; xenstored forgot the
    /// request (and any transaction). Retry from the start.
    Reconnected,
    /// xenstored answered with `XS_ERROR`.
    Xs(XsErrno),
    /// A reply whose payload does not have the documented shape.
    BadReply,
}

impl From<XsErrno> for ClientError {
    fn from(e: XsErrno) -> Self {
        ClientError::Xs(e)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::PayloadTooLarge { len } => write!(f, "xenstore payload too large: {len}"),
            ClientError::InvalidArgument => f.write_str("invalid xenstore argument"),
            ClientError::BadMessage => f.write_str("malformed xenstore message"),
            ClientError::Reconnected => f.write_str("xenstore connection was reset"),
            ClientError::Xs(e) => f.write_str(e.name()),
            ClientError::BadReply => f.write_str("malformed xenstore reply"),
        }
    }
}

/// A reply from xenstored, with the header as received (except that the
/// `req_id` of a [`ClientCore::submit_raw`] request is the caller's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    header: MsgHeader,
    payload: Vec<u8>,
}

impl Reply {
    /// Builds a reply from its parts (`header.len` is set to the payload
    /// length).
    pub fn new(mut header: MsgHeader, payload: Vec<u8>) -> Self {
        header.len = payload.len() as u32;
        Self { header, payload }
    }

    /// The header.
    pub fn header(&self) -> &MsgHeader {
        &self.header
    }

    /// The message type (`XS_ERROR` for a failure).
    pub fn msg_type(&self) -> MsgType {
        MsgType(self.header.ty)
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload on success, or the error xenstored named in `XS_ERROR`.
    pub fn result(&self) -> Result<&[u8], XsErrno> {
        if self.msg_type() == MsgType::ERROR {
            Err(XsErrno::from_payload(&self.payload))
        } else {
            Ok(&self.payload)
        }
    }

    /// Header and payload as they would appear on the wire (what the xenbus
    /// device hands to a reader).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + self.payload.len());
        v.extend_from_slice(&self.header.to_bytes());
        v.extend_from_slice(&self.payload);
        v
    }

    /// The payload, consuming the reply.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

/// What [`ClientCore::take_reply`] hands back: the reply, or
/// [`ClientError::Reconnected`].
pub type Completion = Result<Reply, ClientError>;

/// One watch event, as delivered to the watch's owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The path that changed (relative if the watch path was relative).
    pub path: Vec<u8>,
    /// The token the owner gave to [`ClientCore::register_watch`] (not the
    /// token used on the wire).
    pub token: Vec<u8>,
}

/// Tunables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most requests written to the ring and not yet answered (xenstored's
    /// default per-domain quota is 20). Values below 1 are taken as 1.
    pub max_in_flight: usize,
    /// Most undelivered events kept per watch; beyond it the oldest is
    /// dropped and counted. Values below 1 are taken as 1.
    pub max_queued_events: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_in_flight: 20, max_queued_events: 1024 }
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

/// A request not yet written to the ring.
#[derive(Debug)]
struct Queued {
    id: RequestId,
    ty: u32,
    tx_id: u32,
    payload: Vec<u8>,
    purpose: Purpose,
    /// Nobody will take the reply: drop it on completion.
    discard: bool,
}

/// A request written (or being written) to the ring, keyed by wire `req_id`.
#[derive(Debug)]
struct InFlight {
    id: RequestId,
    purpose: Purpose,
    discard: bool,
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
    reader: MessageReader,
    completed: BTreeMap<RequestId, Completion>,
    newly_completed: Vec<RequestId>,
    watches: BTreeMap<WatchId, Watch>,
    by_token: BTreeMap<Vec<u8>, WatchId>,
    woken_watches: BTreeSet<WatchId>,
    stats: Stats,
}

impl Default for ClientCore {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

/// Appends `s` and a NUL, refusing strings that contain a NUL.
pub(crate) fn push_string(buf: &mut Vec<u8>, s: &[u8]) -> Result<(), ClientError> {
    if s.contains(&0) {
        return Err(ClientError::InvalidArgument);
    }
    buf.extend_from_slice(s);
    buf.push(0);
    Ok(())
}

impl ClientCore {
    /// An idle client.
    pub fn new(config: Config) -> Self {
        Self {
            config: Config {
                max_in_flight: config.max_in_flight.max(1),
                max_queued_events: config.max_queued_events.max(1),
            },
            next_request: 1,
            next_watch: 1,
            next_wire_id: 1,
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            out: Vec::new(),
            out_pos: 0,
            reader: MessageReader::new(),
            completed: BTreeMap::new(),
            newly_completed: Vec::new(),
            watches: BTreeMap::new(),
            by_token: BTreeMap::new(),
            woken_watches: BTreeSet::new(),
            stats: Stats::default(),
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

    fn alloc_request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1);
        id
    }

    fn enqueue(&mut self, ty: u32, tx_id: u32, payload: Vec<u8>, purpose: Purpose, discard: bool) -> RequestId {
        let id = self.alloc_request_id();
        self.queue.push_back(Queued { id, ty, tx_id, payload, purpose, discard });
        id
    }

    /// Queues a request. Fails only if the payload is longer than
    /// [`PAYLOAD_MAX`]; the quota never makes it fail.
    pub fn submit(&mut self, ty: MsgType, tx_id: u32, payload: &[u8]) -> Result<RequestId, ClientError> {
        if payload.len() > PAYLOAD_MAX {
            return Err(ClientError::PayloadTooLarge { len: payload.len() });
        }
        Ok(self.enqueue(ty.0, tx_id, payload.to_vec(), Purpose::Plain, false))
    }

    /// Queues a request built by [`crate::ops`].
    pub fn submit_request(&mut self, req: &Request) -> Result<RequestId, ClientError> {
        self.submit(req.ty, req.tx_id, &req.payload)
    }

    /// Queues a complete caller-built message (header and payload). The
    /// header's `req_id` is replaced by one of ours on the wire and put back
    /// in the reply; type and `tx_id` are sent as given.
    pub fn submit_raw(&mut self, msg: &[u8]) -> Result<RequestId, ClientError> {
        let header = MsgHeader::from_bytes(msg).ok_or(ClientError::BadMessage)?;
        let payload = msg.get(HEADER_LEN..).unwrap_or_default();
        if header.len as usize > PAYLOAD_MAX {
            return Err(ClientError::PayloadTooLarge { len: header.len as usize });
        }
        if header.len as usize != payload.len() {
            return Err(ClientError::BadMessage);
        }
        let purpose = Purpose::Raw { user_req_id: header.req_id };
        Ok(self.enqueue(header.ty, header.tx_id, payload.to_vec(), purpose, false))
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
        if self.in_flight.len() >= self.config.max_in_flight {
            return false;
        }
        let Some(q) = self.queue.pop_front() else {
            return false;
        };
        let wire = self.alloc_wire_id();
        self.out = build_message(MsgType(q.ty), wire, q.tx_id, &q.payload);
        self.out_pos = 0;
        self.in_flight.insert(wire, InFlight { id: q.id, purpose: q.purpose, discard: q.discard });
        true
    }

    /// Writes pending requests into the request queue of `page` as far as
    /// ring space and the in-flight quota allow. Returns whether the server
    /// must be signalled. Call it after submitting, after [`Self::pump_in`]
    /// completed something (quota freed), and whenever the server signals
    /// (ring space freed).
    pub fn pump_out<P: SharedPage + ?Sized>(&mut self, page: &P) -> Result<bool, RingError> {
        let mut notify = false;
        loop {
            if self.out_pos >= self.out.len() {
                self.out.clear();
                self.out_pos = 0;
                if !self.start_next() {
                    return Ok(notify);
                }
            }
            let rest = self.out.get(self.out_pos..).unwrap_or_default();
            let w = write_some(page, rest)?;
            notify |= w.notify;
            self.out_pos = self.out_pos.saturating_add(w.written);
            if w.written == 0 {
                return Ok(notify);
            }
        }
    }

    /// Reads every complete message from the response queue of `page` and
    /// routes it ([`Self::handle_message`]). Returns whether the server must
    /// be signalled. An error means the byte stream is broken: the caller
    /// should reconnect the ring and then call [`Self::reset`].
    pub fn pump_in<P: SharedPage + ?Sized>(&mut self, page: &P) -> Result<bool, RingError> {
        let mut notify = false;
        loop {
            let (msg, n) = self.reader.read_from(page)?;
            notify |= n;
            match msg {
                Some(m) => self.handle_message(m),
                None => return Ok(notify),
            }
        }
    }

    fn complete(&mut self, id: RequestId, discard: bool, result: Completion) {
        if discard {
            return;
        }
        self.completed.insert(id, result);
        self.newly_completed.push(id);
    }

    /// Routes one complete incoming message: a watch event to its watch, a
    /// reply to its request. Anything else is dropped and counted.
    pub fn handle_message(&mut self, msg: Message) {
        let Message { mut header, payload } = msg;
        if header.ty == MsgType::WATCH_EVENT.0 {
            self.route_event(&payload);
            return;
        }
        let Some(f) = self.in_flight.remove(&header.req_id) else {
            self.stats.unmatched_replies = self.stats.unmatched_replies.wrapping_add(1);
            return;
        };
        match f.purpose {
            Purpose::Plain => {}
            Purpose::Raw { user_req_id } => header.req_id = user_req_id,
            Purpose::Watch(wid) => {
                if header.ty == MsgType::ERROR.0 {
                    // xenstored refused the watch: no events will come.
                    self.drop_watch(wid);
                }
            }
        }
        self.complete(f.id, f.discard, Ok(Reply::new(header, payload)));
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
        core::mem::take(&mut self.newly_completed)
    }

    /// Watches that received events since the last call.
    pub fn take_woken_watches(&mut self) -> Vec<WatchId> {
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
        let wid = WatchId(self.next_watch);
        let wire_token = format!("xsc{}", wid.0).into_bytes();
        let payload = Self::watch_payload(path, &wire_token)?;
        self.next_watch = self.next_watch.wrapping_add(1);
        self.by_token.insert(wire_token.clone(), wid);
        self.watches.insert(
            wid,
            Watch { path: path.to_vec(), user_token: token.to_vec(), wire_token, events: VecDeque::new() },
        );
        let rid = self.enqueue(MsgType::WATCH.0, 0, payload, Purpose::Watch(wid), false);
        Ok((wid, rid))
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
        let w = self.drop_watch(wid)?;
        // Both strings were accepted when the watch was registered.
        let payload = Self::watch_payload(&w.path, &w.wire_token).ok()?;
        Some(self.enqueue(MsgType::UNWATCH.0, 0, payload, Purpose::Plain, false))
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
        self.reader.reset();
        self.out.clear();
        self.out_pos = 0;
        let in_flight = core::mem::take(&mut self.in_flight);
        let queue = core::mem::take(&mut self.queue);
        let mut failed: Vec<(RequestId, bool)> = in_flight.into_values().map(|f| (f.id, f.discard)).collect();
        failed.extend(queue.into_iter().map(|q| (q.id, q.discard)));
        // Report in submission order.
        failed.sort_unstable_by_key(|f| f.0);
        for (id, discard) in failed {
            self.complete(id, discard, Err(ClientError::Reconnected));
        }
        let again: Vec<(WatchId, Vec<u8>)> = self
            .watches
            .iter()
            .filter_map(|(wid, w)| Some((*wid, Self::watch_payload(&w.path, &w.wire_token).ok()?)))
            .collect();
        for (wid, payload) in again {
            self.enqueue(MsgType::WATCH.0, 0, payload, Purpose::Watch(wid), true);
        }
    }
}
