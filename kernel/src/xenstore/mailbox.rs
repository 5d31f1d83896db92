//! [`MailboxHandle`]: a subscriber of the xenstore client (an open of the
//! xenbus node, a kernel watch). The reader thread delivers replies and
//! events into its `xs_client::Mailbox` and wakes its queue; the subscriber
//! takes them at its own pace.
//!
//! # Concurrency
//! `mailbox` is a `ThreadLock`, taken by the reader thread to push one item
//! (with the connection state locked: order `xenstore.state` ->
//! `xenstore.mailbox`) and by the subscriber to take items. Never held
//! across a wait.
use alloc::sync::Arc;

use kcore::budget::Budget;
use xs_client::Mailbox;

use crate::sched::WaitQueue;
use crate::sync::{ThreadGuard, ThreadLock};

/// One subscriber's mailbox, its wait queue and the budget its events are
/// charged to.
pub struct MailboxHandle {
    mailbox: ThreadLock<Mailbox>,
    wq: WaitQueue,
    /// Also woken on every delivery (poll() over several subscribers).
    also: Option<&'static WaitQueue>,
    budget: &'static Budget,
}

impl MailboxHandle {
    /// A new subscriber whose waiting events may take `event_limit` bytes,
    /// charged to `budget`; `also` is woken with it on every delivery.
    pub fn new(event_limit: usize, budget: &'static Budget, also: Option<&'static WaitQueue>) -> Arc<Self> {
        Arc::new(MailboxHandle {
            mailbox: ThreadLock::new("xenstore.mailbox", Mailbox::new(event_limit)),
            wq: WaitQueue::new(),
            also,
            budget,
        })
    }

    /// Locks the mailbox.
    #[track_caller]
    pub fn lock(&self) -> ThreadGuard<'_, Mailbox> {
        self.mailbox.lock()
    }

    /// The subscriber's wait queue (woken on every delivery).
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    /// The budget events are charged to.
    pub fn budget(&self) -> &'static Budget {
        self.budget
    }

    /// Wakes the subscriber (after a delivery).
    pub fn wake(&self) {
        self.wq.wake_all();
        if let Some(q) = self.also {
            q.wake_all();
        }
    }
}
