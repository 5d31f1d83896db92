//! The futex lock used for `pthread_mutex_t` and for the libc's own state.
//!
//! The classic three-state futex mutex: the word is 0 (unlocked), 1 (locked)
//! or 2 (locked, maybe with waiters). Waiting goes through
//! [`Sys::futex_wait`](super::sys::Sys::futex_wait), so a waiter blocks its
//! thread instead of spinning: on the kernel's cooperative scheduler a
//! spinning thread would never let the owner run.
//!
//! Waits here are not cancellation points. When a wait ends with `EINTR`
//! (the thread was interrupted by `pthread_cancel` or by the process
//! exiting) the interrupt is cleared and the wait goes on: a pending
//! cancellation stays recorded in the thread's pthread record and is acted
//! upon at the next cancellation point, and a thread of an exiting process
//! is ended by the kernel.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

use super::sys::sys;

/// Takes the lock word `w` (see the module docs).
pub(crate) fn futex_lock(w: &AtomicU32) {
    if w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
        return;
    }
    futex_lock_contended(w);
}

/// Takes `w` and leaves it in the "maybe waiters" state 2 (used after a
/// condition wait, when other waiters may have been requeued behind us).
pub(crate) fn futex_lock_contended(w: &AtomicU32) {
    while w.swap(2, Ordering::Acquire) != 0 {
        if let Err(crate::errno::EINTR) = sys().futex_wait(w, 2, None) {
            sys().clear_interrupt();
        }
    }
}

/// Tries to take `w` without waiting.
pub(crate) fn futex_trylock(w: &AtomicU32) -> bool {
    w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok()
}

/// Releases `w`, waking one waiter if there may be one.
pub(crate) fn futex_unlock(w: &AtomicU32) {
    if w.swap(0, Ordering::Release) == 2 {
        sys().futex_wake(w, 1);
    }
}

/// A value behind a futex lock.
pub(crate) struct Lock<T> {
    word: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and a guard exists only
// while the lock word is held, so at most one thread accesses it at a time.
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: moving the lock moves the value; no thread can hold a guard then.
unsafe impl<T: Send> Send for Lock<T> {}

impl<T> Lock<T> {
    /// A new, unlocked lock.
    pub(crate) const fn new(value: T) -> Self {
        Lock { word: AtomicU32::new(0), value: UnsafeCell::new(value) }
    }

    /// Takes the lock (waiting on the futex).
    pub(crate) fn lock(&self) -> LockGuard<'_, T> {
        futex_lock(&self.word);
        LockGuard { lock: self }
    }
}

/// Access to a locked value; unlocks on drop.
pub(crate) struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held (see Sync).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; &mut self makes the access unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        futex_unlock(&self.lock.word);
    }
}
