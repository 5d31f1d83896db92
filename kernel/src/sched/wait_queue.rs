//! Wait queues: block until a condition holds, with wake-one, wake-all and
//! an optional deadline.
//!
//! The condition is evaluated with events masked, after the waiter is
//! queued would be too late and before would race; so the order is: mask
//! events, test the condition, queue the thread, block (Xen unmasks and
//! sleeps atomically when nothing else runs). A waker that runs in between
//! (an event handler) finds the thread queued, or the thread finds the
//! condition true: no wake-up is lost.
//!
//! # Concurrency
//! The waiter list is an `IrqLock` (event handlers call `wake_*`). It is
//! released before the scheduler is entered or called. Waking never
//! allocates (handlers may not).
//!
//! `sleepers` counts the threads between their enqueue and their own
//! removal (it is raised before the enqueue and lowered after the removal,
//! so it is never 0 while the list holds a thread): a wake finding it 0
//! returns without taking the lock (the common case of a delivery nobody
//! waits for). On one vCPU with events masked around the waiter's
//! check-and-enqueue, no waker can run between a waiter's check and its
//! enqueue.
use core::sync::atomic::{AtomicUsize, Ordering};

use kcore::wait_list::WaitList;

use crate::arch::irq;
use crate::sched::{self, ThreadId};
use crate::sync::IrqLock;

/// A queue of threads waiting for something.
pub struct WaitQueue {
    list: IrqLock<WaitList<ThreadId>>,
    sleepers: AtomicUsize,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self { list: IrqLock::new("waitqueue", WaitList::new()), sleepers: AtomicUsize::new(0) }
    }

    /// Blocks until `cond()` is true.
    ///
    /// # Yields
    pub fn wait_until(&self, mut cond: impl FnMut() -> bool) {
        while !self.wait_until_deadline(&mut cond, u64::MAX) {}
    }

    /// Blocks until `cond()` is true (returns true) or Xen system time
    /// reaches `deadline_ns` (returns false), whichever comes first.
    ///
    /// # Yields
    ///
    /// The clock is read only when the deadline may have passed: never for
    /// `u64::MAX`, and before the first sleep only the coarse clock (no
    /// TSC read, which Xen may emulate at some microseconds a time): when
    /// it says "not yet" the timer is armed anyway, and it fires at once if
    /// the deadline had in fact passed.
    pub fn wait_until_deadline(&self, mut cond: impl FnMut() -> bool, deadline_ns: u64) -> bool {
        let me = sched::current();
        let mut slept = false;
        loop {
            let was = irq::disable();
            if cond() {
                irq::restore(was);
                return true;
            }
            let now = || if slept { crate::time::now_ns() } else { crate::time::coarse_now_ns() };
            if deadline_ns != u64::MAX && now() >= deadline_ns {
                irq::restore(was);
                return false;
            }
            slept = true;
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            self.list.lock().enqueue(me);
            let timer = (deadline_ns != u64::MAX).then(|| sched::timer::add(deadline_ns, me));
            sched::block_masked();
            if let Some(t) = timer {
                sched::timer::cancel(t);
            }
            self.list.lock().remove(me);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            irq::restore(was);
        }
    }

    /// Wakes the longest-waiting thread; returns whether there was one.
    pub fn wake_one(&self) -> bool {
        if self.sleepers.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let w = self.list.lock().wake_one();
        match w {
            Some(t) => {
                sched::wake(t);
                true
            }
            None => false,
        }
    }

    /// Wakes every waiting thread; returns how many. One at a time, so
    /// nothing is allocated (event handlers call this).
    pub fn wake_all(&self) -> usize {
        if self.sleepers.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        let mut n = 0;
        loop {
            let w = self.list.lock().wake_one();
            match w {
                Some(t) => {
                    sched::wake(t);
                    n += 1;
                }
                None => return n,
            }
        }
    }
}
