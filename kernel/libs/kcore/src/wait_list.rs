//! The bookkeeping of a wait queue: which waiters are queued, in order.
//!
//! A waiter is queued at most once. `wake_one` takes the oldest waiter,
//! `wake_all` takes all of them, `remove` takes a given one out (a waiter
//! that woke by timeout, say). The kernel's `WaitQueue` pairs this with the
//! scheduler; the state machine itself is tested here.
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Waiters in FIFO order.
#[derive(Debug, Default)]
pub struct WaitList<T: PartialEq + Copy> {
    q: VecDeque<T>,
}

impl<T: PartialEq + Copy> WaitList<T> {
    /// An empty list.
    pub const fn new() -> Self {
        Self { q: VecDeque::new() }
    }

    /// Queues `w` unless it is already queued; returns whether it was added.
    pub fn enqueue(&mut self, w: T) -> bool {
        if self.q.contains(&w) {
            return false;
        }
        self.q.push_back(w);
        true
    }

    /// Removes `w`; returns whether it was queued.
    pub fn remove(&mut self, w: T) -> bool {
        match self.q.iter().position(|x| *x == w) {
            Some(i) => {
                self.q.remove(i);
                true
            }
            None => false,
        }
    }

    /// Takes the oldest waiter.
    pub fn wake_one(&mut self) -> Option<T> {
        self.q.pop_front()
    }

    /// Takes every waiter, oldest first.
    pub fn wake_all(&mut self) -> Vec<T> {
        self.q.drain(..).collect()
    }

    /// Whether `w` is queued.
    pub fn contains(&self, w: T) -> bool {
        self.q.contains(&w)
    }

    /// Number of waiters.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_dedupe_remove() {
        let mut w = WaitList::new();
        assert!(w.enqueue(1));
        assert!(w.enqueue(2));
        assert!(!w.enqueue(1));
        assert!(w.enqueue(3));
        assert_eq!(w.wake_one(), Some(1));
        assert!(w.remove(3));
        assert!(!w.remove(3));
        assert_eq!(w.wake_all(), [2]);
        assert!(w.is_empty());
        assert_eq!(w.wake_one(), None);
    }
}
