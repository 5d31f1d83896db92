//! The timer queue: deadlines in Xen system time (ns) with an opaque
//! payload (the kernel stores the thread to wake). Ordered by deadline, ties
//! by insertion order; cancellable by id.
use alloc::collections::BTreeMap;

/// Identifies a queued timer, for cancellation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(u64);

/// A queue of deadlines.
#[derive(Debug)]
pub struct TimerQueue<T> {
    next_id: u64,
    by_deadline: BTreeMap<(u64, u64), T>,
    deadline_of: BTreeMap<u64, u64>,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    pub const fn new() -> Self {
        Self { next_id: 0, by_deadline: BTreeMap::new(), deadline_of: BTreeMap::new() }
    }

    /// Queues `payload` to expire at `deadline`.
    pub fn insert(&mut self, deadline: u64, payload: T) -> TimerId {
        let id = self.next_id;
        self.next_id += 1;
        self.by_deadline.insert((deadline, id), payload);
        self.deadline_of.insert(id, deadline);
        TimerId(id)
    }

    /// Removes a timer; returns its payload if it was still queued.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let d = self.deadline_of.remove(&id.0)?;
        self.by_deadline.remove(&(d, id.0))
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_deadline.keys().next().map(|k| k.0)
    }

    /// Removes and returns one timer whose deadline is `<= now`.
    pub fn pop_expired(&mut self, now: u64) -> Option<(TimerId, T)> {
        let key = *self.by_deadline.keys().next()?;
        if key.0 > now {
            return None;
        }
        self.deadline_of.remove(&key.1);
        self.by_deadline.remove(&key).map(|p| (TimerId(key.1), p))
    }

    /// Number of queued timers.
    pub fn len(&self) -> usize {
        self.by_deadline.len()
    }

    /// Whether no timer is queued.
    pub fn is_empty(&self) -> bool {
        self.by_deadline.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn expires_in_deadline_order_ties_fifo() {
        let mut q = TimerQueue::new();
        q.insert(30, "c");
        q.insert(10, "a");
        q.insert(10, "a2");
        q.insert(20, "b");
        assert_eq!(q.next_deadline(), Some(10));
        assert!(q.pop_expired(9).is_none());
        assert_eq!(q.pop_expired(25).map(|x| x.1), Some("a"));
        assert_eq!(q.pop_expired(25).map(|x| x.1), Some("a2"));
        assert_eq!(q.pop_expired(25).map(|x| x.1), Some("b"));
        assert!(q.pop_expired(25).is_none());
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn cancel() {
        let mut q = TimerQueue::new();
        let a = q.insert(5, 1);
        let b = q.insert(6, 2);
        assert_eq!(q.cancel(a), Some(1));
        assert_eq!(q.cancel(a), None);
        assert_eq!(q.next_deadline(), Some(6));
        assert_eq!(q.pop_expired(100), Some((b, 2)));
        assert!(q.is_empty());
    }

    proptest! {
        #[test]
        fn pops_sorted(ds in proptest::collection::vec(0u64..1000, 0..100), now in 0u64..1200) {
            let mut q = TimerQueue::new();
            for (i, d) in ds.iter().enumerate() { q.insert(*d, i); }
            let mut last = 0;
            let mut n = 0;
            while let Some((_, i)) = q.pop_expired(now) {
                prop_assert!(ds[i] >= last && ds[i] <= now);
                last = ds[i];
                n += 1;
            }
            prop_assert_eq!(n, ds.iter().filter(|d| **d <= now).count());
        }
    }
}
