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
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kcore::budget::Budget;
use xs_client::{charge_for, ClientCore, ClientError, Completion, Outgoing, RequestId, WatchId};

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

pub(super) use super::route::After;

pub(super) fn notify() {
    let _ = evtchn::send(PORT.load(Ordering::Relaxed));
}

/// Signals xenstored before this thread next sleeps or yields
/// (`evtchn::send_lazy`): in the same hypercall as the sleep when it waits
/// for the reply.
pub(super) fn notify_lazy() {
    evtchn::send_lazy(PORT.load(Ordering::Relaxed));
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
