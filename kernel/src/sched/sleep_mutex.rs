//! A mutex that puts waiters to sleep instead of spinning, for state that
//! is held across blocking calls (a xenbus open's state is held while a
//! WATCH waits for xenstored). Never taken from event handlers.
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use super::WaitQueue;

/// A sleeping mutex around `T`.
pub struct SleepMutex<T> {
    locked: AtomicBool,
    waiters: WaitQueue,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `locked` (one guard at a time).
unsafe impl<T: Send> Send for SleepMutex<T> {}
// SAFETY: as above; the guard gives &mut T to one holder only.
unsafe impl<T: Send> Sync for SleepMutex<T> {}

/// Holds the lock; releases it and wakes one waiter when dropped.
pub struct SleepGuard<'a, T> {
    m: &'a SleepMutex<T>,
}

impl<T> SleepMutex<T> {
    /// A new, unlocked mutex.
    pub const fn new(v: T) -> Self {
        Self { locked: AtomicBool::new(false), waiters: WaitQueue::new(), data: UnsafeCell::new(v) }
    }

    /// Takes the lock, sleeping while another thread holds it.
    ///
    /// # Yields
    pub fn lock(&self) -> SleepGuard<'_, T> {
        self.waiters
            .wait_until(|| self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok());
        SleepGuard { m: self }
    }
}

impl<T> core::ops::Deref for SleepGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only holder of the lock.
        unsafe { &*self.m.data.get() }
    }
}

impl<T> core::ops::DerefMut for SleepGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard is the only holder of the lock.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T> Drop for SleepGuard<'_, T> {
    fn drop(&mut self) {
        self.m.locked.store(false, Ordering::Release);
        self.m.waiters.wake_one();
    }
}
