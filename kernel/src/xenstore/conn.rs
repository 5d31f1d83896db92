//! The connection: the client core, where each reply and event goes, and
//! what happens when the other side breaks the protocol.
//!
//! # Concurrency
//! `STATE` (a `ThreadLock`) protects the core, the sink tables and the
//! failure record; `PAGE` (a `ThreadLock`) the mapped ring page. Order:
//! `STATE`, then `PAGE`, then a subscriber's mailbox. Both are held only
//! while the ring is pumped or a table changes, never across a wait, and
//! never by event handlers (the upcall only sets [`EVENT`] and wakes the
//! reader), so pumping the ring runs with events enabled.
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kcore::budget::Budget;
use xs_client::{charge_for, ClientCore, ClientError, Completion, Outgoing, RequestId, WatchId};
use xs_ring::RingError;

use super::mailbox::MailboxHandle;
use super::page::XenstorePage;
use super::XsError;
use crate::sched::{self, WaitQueue};
use crate::sync::ThreadLock;
use crate::xen::evtchn;

/// Where the reply of a request goes.
pub(super) enum Sink {
    /// A thread waits in `request()`: the reply stays in the core and that
    /// thread (only it) is woken.
    Waiter(sched::ThreadId),
    /// A subscriber: the reply (or the error standing for it) is pushed
    /// into its mailbox under `cookie`.
    Mailbox { mb: Arc<MailboxHandle>, cookie: u64 },
    /// Nobody wants it (a fire-and-forget request).
    Discard,
    /// Call this with the completion (outside the locks, in the reader).
    Then(Box<dyn FnOnce(Completion) + Send>),
}

/// Where the events of a watch go: a subscriber and its id for the watch.
pub(super) struct WatchSink {
    pub mb: Arc<MailboxHandle>,
    pub id: u64,
}

/// What the other side did to end the connection.
#[derive(Clone, Debug)]
pub struct Failure {
    /// One line for the log.
    pub what: String,
    /// When it was detected (Xen system time).
    pub at_ns: u64,
    /// Requests answered with an error because of it.
    pub answered: usize,
}

pub(super) struct Conn {
    pub core: ClientCore,
    pub sinks: BTreeMap<RequestId, Sink>,
    pub watch_sinks: BTreeMap<WatchId, WatchSink>,
    pub failed: Option<Failure>,
    /// `core.stats().failed_requests` after the last failure was reported.
    pub failed_mark: u64,
    /// A reconnection handshake is under way: the ring is not to be used.
    pub reconnecting: bool,
}

impl Conn {
    /// Whether requests may go out now.
    pub fn usable(&self) -> bool {
        self.failed.is_none() && !self.reconnecting
    }
}

pub(super) static STATE: ThreadLock<Option<Conn>> = ThreadLock::new("xenstore.state", None);
pub(super) static PAGE: ThreadLock<Option<XenstorePage>> = ThreadLock::new("xenstore.page", None);
pub(super) static PORT: AtomicU32 = AtomicU32::new(0);
/// Set by the event channel handler; cleared by the reader.
pub(super) static EVENT: AtomicBool = AtomicBool::new(false);
/// The reader thread waits here.
pub(super) static READER: WaitQueue = WaitQueue::new();
/// Woken when the connection fails (waiters re-check their requests).
pub(super) static REPLIES: WaitQueue = WaitQueue::new();
/// Requests completed since boot (for the operations-per-second figure).
pub static COMPLETED: AtomicU64 = AtomicU64::new(0);
/// Watch events merged into an identical waiting one at a mailbox bound.
pub static MAILBOX_COALESCED: AtomicU64 = AtomicU64::new(0);
/// Watch events dropped at a mailbox bound.
pub static MAILBOX_DROPPED: AtomicU64 = AtomicU64::new(0);

pub(super) fn notify() {
    let _ = evtchn::send(PORT.load(Ordering::Relaxed));
}

/// Work the reader (or a submitter) does after releasing the locks.
#[derive(Default)]
pub(super) struct After {
    pub notify: bool,
    pub wake_threads: Vec<sched::ThreadId>,
    pub wake_mailboxes: Vec<Arc<MailboxHandle>>,
    pub then: Vec<(Box<dyn FnOnce(Completion) + Send>, Completion)>,
    pub failure: Option<Failure>,
    pub first_drops: Vec<u64>,
}

impl After {
    pub fn run(self) {
        if self.notify {
            notify();
        }
        for t in self.wake_threads {
            sched::wake(t);
        }
        for mb in &self.wake_mailboxes {
            mb.wake();
        }
        if let Some(f) = &self.failure {
            super::policy::on_failure(f);
            REPLIES.wake_all();
        }
        for id in self.first_drops {
            crate::warn!(
                "xenstore: watch events dropped for subscriber watch {} (its queue and the budget are full); \
                 counted in /proc/xen/xenbus-stats",
                id
            );
        }
        for (f, c) in self.then {
            f(c);
        }
    }
}

impl Conn {
    /// Routes every completion the core has: to the waiting thread, into a
    /// mailbox, away, or to a callback.
    pub fn route_completions(&mut self, after: &mut After) {
        for id in self.core.take_completed() {
            COMPLETED.fetch_add(1, Ordering::Relaxed);
            match self.sinks.remove(&id) {
                Some(Sink::Waiter(t)) => after.wake_threads.push(t),
                None => {}
                Some(Sink::Discard) => {
                    self.core.take_reply(id);
                }
                Some(Sink::Then(f)) => {
                    if let Some(c) = self.core.take_reply(id) {
                        after.then.push((f, c));
                    }
                }
                Some(Sink::Mailbox { mb, cookie }) => {
                    match self.core.take_reply(id) {
                        Some(Ok(reply)) => mb.lock().push_reply(cookie, reply),
                        Some(Err(e)) => mb.lock().push_failed(cookie, e.errno()),
                        None => mb.lock().push_failed(cookie, xs_wire::XsErrno::EIO),
                    }
                    after.wake_mailboxes.push(mb);
                }
            }
        }
    }

    /// Routes the events the core has collected into their mailboxes.
    pub fn route_events(&mut self, after: &mut After) {
        for wid in self.core.take_woken_watches() {
            while let Some(ev) = self.core.take_event(wid) {
                let Some(ws) = self.watch_sinks.get(&wid) else { continue };
                let size = ev.path.len().saturating_add(xs_client::EVENT_OVERHEAD);
                let charge = ws.mb.budget().try_charge(size);
                let mut mb = ws.mb.lock();
                match mb.push_event(ws.id, ev.path, charge) {
                    xs_client::EventPush::Queued => {}
                    xs_client::EventPush::Coalesced => {
                        MAILBOX_COALESCED.fetch_add(1, Ordering::Relaxed);
                    }
                    xs_client::EventPush::Dropped => {
                        MAILBOX_DROPPED.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if mb.take_first_drop() {
                    after.first_drops.push(ws.id);
                }
                drop(mb);
                if !after.wake_mailboxes.iter().any(|m| Arc::ptr_eq(m, &ws.mb)) {
                    after.wake_mailboxes.push(ws.mb.clone());
                }
            }
        }
    }

    /// The other side broke the ring: answer everything, record why.
    pub fn fail(&mut self, e: RingError, after: &mut After) {
        // The core may have failed itself already (it found the error).
        self.core.fail(ClientError::ConnectionLost);
        let total = self.core.stats().failed_requests;
        let answered = total.saturating_sub(self.failed_mark) as usize;
        self.failed_mark = total;
        self.route_completions(after);
        let what = match e {
            RingError::Corrupt { ring, prod, cons } => alloc::format!(
                "xenstored left the {} ring with impossible indices (prod {:#x}, cons {:#x}: {} bytes apart, the ring \
                 holds 1024)",
                if ring == xs_ring::RingKind::Request { "request" } else { "response" },
                prod,
                cons,
                prod.wrapping_sub(cons)
            ),
            RingError::Oversized { len } => {
                alloc::format!("xenstored sent a message header announcing {} payload bytes (at most 4096)", len)
            }
        };
        let f = Failure { what, at_ns: crate::time::now_ns(), answered };
        self.failed = Some(f.clone());
        after.failure = Some(f);
    }
}

/// Sends a request whose reply goes to `sink`, charged to `budget`. Goes
/// straight onto the ring when it can.
pub(super) fn submit(out: Outgoing<'_>, sink: Sink, budget: &'static Budget) -> Result<RequestId, XsError> {
    let len = match out {
        Outgoing::Request(r) => r.payload.len(),
        Outgoing::Raw(m) => m.len().saturating_sub(xs_wire::HEADER_LEN),
    };
    let charge = budget.try_charge(charge_for(len)).map_err(|_| XsError::NoMemory)?;
    let mut after = After::default();
    let r = {
        let mut g = STATE.lock();
        let c = g.as_mut().ok_or(XsError::Closed)?;
        if !c.usable() {
            return Err(XsError::Closed);
        }
        let page = PAGE.lock();
        let page = page.as_ref().ok_or(XsError::Closed)?;
        match c.core.submit_with(out, charge, Some(page)) {
            Ok(s) => {
                after.notify = s.notify;
                c.sinks.insert(s.id, sink);
                Ok(s.id)
            }
            Err(ClientError::Ring(e)) => {
                c.fail(e, &mut after);
                Err(XsError::Closed)
            }
            Err(e) => Err(e.into()),
        }
    };
    after.run();
    r
}

/// Registers a watch whose events go into `mb` under `id`; its
/// registration reply goes to `sink`.
pub(super) fn register_watch(
    path: &[u8],
    token: &[u8],
    mb: &Arc<MailboxHandle>,
    id: u64,
    sink: Sink,
    budget: &'static Budget,
) -> Result<(WatchId, RequestId), XsError> {
    let charge = budget.try_charge(charge_for(path.len() + 24)).map_err(|_| XsError::NoMemory)?;
    let mut after = After::default();
    let r = {
        let mut g = STATE.lock();
        let c = g.as_mut().ok_or(XsError::Closed)?;
        if !c.usable() {
            return Err(XsError::Closed);
        }
        let page = PAGE.lock();
        let page = page.as_ref().ok_or(XsError::Closed)?;
        match c.core.register_watch_with(path, token, charge, Some(page)) {
            Ok((wid, s)) => {
                after.notify = s.notify;
                c.watch_sinks.insert(wid, WatchSink { mb: mb.clone(), id });
                c.sinks.insert(s.id, sink);
                Ok((wid, s.id))
            }
            Err(ClientError::Ring(e)) => {
                c.fail(e, &mut after);
                Err(XsError::Closed)
            }
            Err(e) => Err(e.into()),
        }
    };
    after.run();
    r
}

/// Removes a watch; its UNWATCH reply goes to `sink`. `None` when it was
/// not registered (or the connection is down: it is gone either way).
pub(super) fn unregister_watch(wid: WatchId, sink: Sink) -> Option<RequestId> {
    let mut after = After::default();
    let r = {
        let mut g = STATE.lock();
        let c = g.as_mut()?;
        c.watch_sinks.remove(&wid);
        let charge = super::kernel_budget().try_charge(charge_for(64)).unwrap_or_default();
        let page = PAGE.lock();
        let page = if c.usable() { page.as_ref() } else { None };
        let s = c.core.unregister_watch_with(wid, charge, page)?;
        after.notify = s.notify;
        c.sinks.insert(s.id, sink);
        Some(s.id)
    };
    after.run();
    r
}

/// Waits for the reply of `id` (sent with [`Sink::Waiter`] for this
/// thread) until `deadline`.
///
/// # Yields
pub(super) fn wait_reply(id: RequestId, deadline: u64) -> Result<xs_client::Reply, XsError> {
    let done = REPLIES.wait_until_deadline(
        || {
            let g = STATE.lock();
            match g.as_ref() {
                Some(c) => c.core.is_complete(id) || !c.core.is_pending(id),
                None => true,
            }
        },
        deadline,
    );
    let mut g = STATE.lock();
    let c = g.as_mut().ok_or(XsError::Closed)?;
    if !done {
        c.core.forget(id);
        c.sinks.insert(id, Sink::Discard);
        return Err(XsError::Timeout);
    }
    match c.core.take_reply(id) {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(e.into()),
        None => Err(XsError::Closed),
    }
}

/// Points the reply of the subscriber request `cookie` elsewhere (its
/// subscriber is gone): to `then`, or away.
pub(super) fn redirect(cookie: u64, then: Option<Box<dyn FnOnce(Completion) + Send>>) {
    let mut g = STATE.lock();
    let Some(c) = g.as_mut() else { return };
    let id = c.sinks.iter().find_map(|(id, sink)| match sink {
        Sink::Mailbox { cookie: k, .. } if *k == cookie => Some(*id),
        _ => None,
    });
    if let Some(id) = id {
        c.sinks.insert(id, then.map(Sink::Then).unwrap_or(Sink::Discard));
    }
}
