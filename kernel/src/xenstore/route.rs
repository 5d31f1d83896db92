//! Routing what the reader (or a submitter that found the ring broken)
//! collected: completions to their sinks, events to their mailboxes, and a
//! connection failure to the policy. Collected under the connection's locks
//! into an [`After`], acted on once they are released.
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use xs_client::{ClientError, Completion};
use xs_ring::RingError;

use super::conn::{Conn, Failure, Sink, COMPLETED, MAILBOX_COALESCED, MAILBOX_DROPPED, REPLIES};
use super::mailbox::MailboxHandle;
use crate::sched;

/// A callback a completion is handed to.
pub(super) type Then = Box<dyn FnOnce(Completion) + Send>;

/// A list that holds its first item inline: the common case (one reply
/// routed to one waiter) allocates nothing.
pub(super) struct Few<T> {
    one: Option<T>,
    more: Vec<T>,
}

impl<T> Default for Few<T> {
    fn default() -> Self {
        Few { one: None, more: Vec::new() }
    }
}

impl<T> Few<T> {
    pub fn push(&mut self, v: T) {
        match self.one {
            None => self.one = Some(v),
            Some(_) => self.more.push(v),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.one.iter().chain(self.more.iter())
    }
}

/// Work the reader (or a submitter) does after releasing the locks.
#[derive(Default)]
pub(super) struct After {
    pub notify: bool,
    pub wake_threads: Few<sched::ThreadId>,
    pub wake_mailboxes: Few<Arc<MailboxHandle>>,
    pub then: Vec<(Then, Completion)>,
    pub failure: Option<Failure>,
    pub first_drops: Vec<u64>,
}

impl After {
    pub fn run(self) {
        if self.notify {
            // Lazily: the thread that queued a request usually waits for
            // its reply next, and the signal then rides on that sleep's
            // hypercall (`evtchn::send_lazy`).
            super::conn::notify_lazy();
        }
        // A thread that routed its own reply (serviced wait) is running:
        // waking it would only make its next wait return at once.
        let me = sched::current();
        for t in self.wake_threads.iter().filter(|t| **t != me) {
            sched::wake(*t);
        }
        for mb in self.wake_mailboxes.iter() {
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
        while let Some(id) = self.core.pop_completed() {
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
        let what = match e {
            RingError::Corrupt { ring, prod, cons } => alloc::format!(
                "xenstored left the {} ring with impossible indices (prod {:#x}, cons {:#x}: {} bytes apart, the ring \
                 holds {})",
                if ring == xs_ring::RingKind::Request { "request" } else { "response" },
                prod,
                cons,
                prod.wrapping_sub(cons),
                xs_ring::RING_SIZE
            ),
            RingError::Oversized { len } => {
                alloc::format!(
                    "xenstored sent a message header announcing {} payload bytes (at most {})",
                    len,
                    xs_wire::PAYLOAD_MAX
                )
            }
        };
        self.fail_with(what, after);
    }

    /// The connection failed for the reason `what`: answer everything,
    /// record why.
    pub fn fail_with(&mut self, what: alloc::string::String, after: &mut After) {
        // The core may have failed itself already (it found the error).
        self.core.fail(ClientError::ConnectionLost);
        let total = self.core.stats().failed_requests;
        let answered = total.saturating_sub(self.failed_mark) as usize;
        self.failed_mark = total;
        self.route_completions(after);
        let f = Failure { what, at_ns: crate::time::now_ns(), answered };
        self.failed = Some(f.clone());
        after.failure = Some(f);
    }
}
