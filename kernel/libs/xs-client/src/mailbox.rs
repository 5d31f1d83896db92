//! [`Mailbox`]: where the client delivers replies and watch events for one
//! subscriber (an open of the xenbus node, a kernel watch), in arrival
//! order, until the subscriber takes them.
//!
//! Rules:
//! - A reply (or the error that stands for it) is never refused: the
//!   subscriber announced it with [`Mailbox::expect_reply`] when it sent the
//!   request, which reserved the queue slot, and its bytes were charged to a
//!   budget then. So every accepted request gets exactly one answer.
//! - Watch events are bounded: below [`Mailbox::event_limit`] bytes every
//!   event is delivered. At the bound, or when the budget refuses the
//!   event's bytes, a new event identical to one still waiting here (same
//!   watch, same path) is merged into it (*coalesced*: a watch event means
//!   "look again", so one waiting copy says the same); anything else is
//!   dropped. Both are counted in [`MailboxStats`], and the first drop is
//!   flagged so the kernel can log it once.
//!
//! # Concurrency
//! Plain data; the kernel keeps each mailbox behind a lock shared by the
//! xenstore reader thread (push) and the subscriber (take).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kcore::budget::{Charge, OverBudget};
use xs_wire::XsErrno;

use crate::types::Reply;

/// Accounting size of one queued event beyond its path bytes.
pub const EVENT_OVERHEAD: usize = 64;

/// One delivered item.
#[derive(Debug)]
pub enum Delivery {
    /// xenstored's reply to the request sent with `cookie`.
    Reply {
        /// The subscriber's cookie for the request.
        cookie: u64,
        /// The reply, with its charge.
        reply: Reply,
    },
    /// The request sent with `cookie` will get no reply from xenstored (the
    /// connection failed, or there was no memory to keep the reply): answer
    /// it with this error instead.
    Failed {
        /// The subscriber's cookie for the request.
        cookie: u64,
        /// The error to answer with.
        error: XsErrno,
    },
    /// A watch fired.
    Event {
        /// The subscriber's id for the watch.
        watch: u64,
        /// xenstored's event path.
        path: Vec<u8>,
        /// What the event's bytes are charged to.
        charge: Charge,
    },
}

/// No memory for the slot of an announced reply: the request must not be
/// sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoSlot;

/// What happened to a pushed event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventPush {
    /// Queued.
    Queued,
    /// Merged into an identical event still waiting.
    Coalesced,
    /// Dropped (bound or budget reached and nothing to merge into).
    Dropped,
}

/// Counters of one mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxStats {
    /// Events queued.
    pub events: u64,
    /// Events merged into an identical waiting event.
    pub coalesced: u64,
    /// Events dropped.
    pub dropped: u64,
}

/// The queue of one subscriber.
#[derive(Debug)]
pub struct Mailbox {
    items: VecDeque<Delivery>,
    /// Replies announced and not yet pushed (their slots are reserved).
    expected: usize,
    /// Accounted bytes of the events in `items`.
    event_bytes: usize,
    event_limit: usize,
    stats: MailboxStats,
    /// Set by the first drop, cleared by [`Mailbox::take_first_drop`].
    first_drop: bool,
    drop_reported: bool,
}

impl Mailbox {
    /// An empty mailbox whose waiting events may take `event_limit` bytes.
    pub const fn new(event_limit: usize) -> Self {
        Mailbox {
            items: VecDeque::new(),
            expected: 0,
            event_bytes: 0,
            event_limit,
            stats: MailboxStats { events: 0, coalesced: 0, dropped: 0 },
            first_drop: false,
            drop_reported: false,
        }
    }

    /// The bound on waiting event bytes.
    pub fn event_limit(&self) -> usize {
        self.event_limit
    }

    /// Announces a reply to come: reserves its slot so that pushing it
    /// never allocates. `Err` when memory for the slot is not available
    /// (then the request must not be sent).
    pub fn expect_reply(&mut self) -> Result<(), NoSlot> {
        let want = self.expected.saturating_add(1);
        self.items.try_reserve(want).map_err(|_| NoSlot)?;
        self.expected = want;
        Ok(())
    }

    /// Withdraws an announcement (the request was not sent after all).
    pub fn unexpect_reply(&mut self) {
        self.expected = self.expected.saturating_sub(1);
    }

    fn push_answer(&mut self, d: Delivery) {
        self.expected = self.expected.saturating_sub(1);
        // The slot was reserved by `expect_reply`; pushing an answer nobody
        // announced can still allocate, which is the caller's bookkeeping
        // error, not a reason to lose the answer.
        self.items.push_back(d);
    }

    /// Delivers the reply to the request sent with `cookie`.
    pub fn push_reply(&mut self, cookie: u64, reply: Reply) {
        self.push_answer(Delivery::Reply { cookie, reply });
    }

    /// Delivers the error that answers the request sent with `cookie`.
    pub fn push_failed(&mut self, cookie: u64, error: XsErrno) {
        self.push_answer(Delivery::Failed { cookie, error });
    }

    /// Delivers an event of watch `watch`, whose bytes were charged (or
    /// refused) as `charge` says.
    pub fn push_event(&mut self, watch: u64, path: Vec<u8>, charge: Result<Charge, OverBudget>) -> EventPush {
        let size = path.len().saturating_add(EVENT_OVERHEAD);
        let over = self.event_bytes.saturating_add(size) > self.event_limit;
        let charge = match charge {
            Ok(c) if !over => Some(c),
            _ => None,
        };
        if let Some(charge) = charge {
            // Room for this event and every reply still expected.
            if self.items.try_reserve(self.expected.saturating_add(1)).is_ok() {
                self.event_bytes = self.event_bytes.saturating_add(size);
                self.stats.events = self.stats.events.saturating_add(1);
                self.items.push_back(Delivery::Event { watch, path, charge });
                return EventPush::Queued;
            }
        }
        if self.has_waiting_event(watch, &path) {
            self.stats.coalesced = self.stats.coalesced.saturating_add(1);
            return EventPush::Coalesced;
        }
        self.stats.dropped = self.stats.dropped.saturating_add(1);
        if !self.drop_reported {
            self.first_drop = true;
            self.drop_reported = true;
        }
        EventPush::Dropped
    }

    /// Whether an event of `watch` for `path` is waiting (newest first: in a
    /// storm the duplicate is usually near the back).
    pub fn has_waiting_event(&self, watch: u64, path: &[u8]) -> bool {
        self.items
            .iter()
            .rev()
            .any(|d| matches!(d, Delivery::Event { watch: w, path: p, .. } if *w == watch && p == path))
    }

    /// Removes and returns the oldest item.
    pub fn pop(&mut self) -> Option<Delivery> {
        let d = self.items.pop_front()?;
        if let Delivery::Event { path, .. } = &d {
            self.event_bytes = self.event_bytes.saturating_sub(path.len().saturating_add(EVENT_OVERHEAD));
        }
        Some(d)
    }

    /// Number of waiting items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Replies announced and not delivered yet.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// The counters.
    pub fn stats(&self) -> MailboxStats {
        self.stats
    }

    /// True once, after the first event was dropped (for a single log line).
    pub fn take_first_drop(&mut self) -> bool {
        core::mem::take(&mut self.first_drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use kcore::budget::Budget;
    use xs_wire::{MsgHeader, MsgType};

    fn budget(limit: usize) -> &'static Budget {
        let b: &'static Budget = Box::leak(Box::new(Budget::new("test", None)));
        b.set_limit(limit);
        b
    }

    fn ok_reply(req_id: u32) -> Reply {
        Reply::new(MsgHeader { ty: MsgType::READ.0, req_id, tx_id: 0, len: 0 }, b"v".to_vec())
    }

    #[test]
    fn arrival_order_kept() {
        let b = budget(1 << 20);
        let mut m = Mailbox::new(1 << 16);
        m.expect_reply().unwrap();
        m.expect_reply().unwrap();
        m.push_reply(1, ok_reply(1));
        assert_eq!(m.push_event(9, b"a".to_vec(), b.try_charge(65)), EventPush::Queued);
        m.push_failed(2, XsErrno::EIO);
        assert_eq!(m.expected(), 0);
        assert!(matches!(m.pop(), Some(Delivery::Reply { cookie: 1, .. })));
        assert!(matches!(m.pop(), Some(Delivery::Event { watch: 9, .. })));
        assert!(matches!(m.pop(), Some(Delivery::Failed { cookie: 2, error: XsErrno::EIO })));
        assert!(m.pop().is_none());
        assert_eq!(b.used(), 0, "charges went with the items");
    }

    #[test]
    fn at_the_bound_identical_events_coalesce_others_drop() {
        let b = budget(1 << 20);
        // Room for exactly two events with 10-byte paths.
        let mut m = Mailbox::new(2 * (10 + EVENT_OVERHEAD));
        let p = |s: &str| s.as_bytes().to_vec();
        assert_eq!(m.push_event(1, p("0123456789"), b.try_charge(74)), EventPush::Queued);
        assert_eq!(m.push_event(1, p("abcdefghij"), b.try_charge(74)), EventPush::Queued);
        assert_eq!(m.push_event(1, p("0123456789"), b.try_charge(74)), EventPush::Coalesced);
        assert_eq!(m.push_event(2, p("0123456789"), b.try_charge(74)), EventPush::Dropped, "another watch");
        assert_eq!(m.push_event(1, p("zzzzzzzzzz"), b.try_charge(74)), EventPush::Dropped);
        assert!(m.take_first_drop());
        assert!(!m.take_first_drop(), "reported once");
        assert_eq!(m.stats(), MailboxStats { events: 2, coalesced: 1, dropped: 2 });
        assert_eq!(b.used(), 148, "refused events give their charge back");
        m.pop();
        assert_eq!(m.push_event(1, p("zzzzzzzzzz"), b.try_charge(74)), EventPush::Queued, "room again");
    }

    #[test]
    fn budget_refusal_coalesces_too() {
        let b = budget(100);
        let mut m = Mailbox::new(1 << 16);
        assert_eq!(m.push_event(1, b"x".to_vec(), b.try_charge(65)), EventPush::Queued);
        assert_eq!(m.push_event(1, b"x".to_vec(), b.try_charge(65)), EventPush::Coalesced);
        assert_eq!(m.push_event(1, b"y".to_vec(), b.try_charge(65)), EventPush::Dropped);
    }
}
