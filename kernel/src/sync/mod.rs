//! The kernel's spin locks, by the context they may be used in.
//!
//! - [`IrqLock`]: for data the event upcall touches (the scheduler, timers,
//!   the handler table, wait-queue lists, the console). It masks event
//!   delivery while held, so the upcall can never find it taken by the code
//!   it interrupted (one vCPU).
//! - [`ThreadLock`]: for data only threads touch (the VFS tree, descriptor
//!   tables, the xenstore client state and ring page, mailboxes). It does
//!   not mask events. Taking it from an event handler, or blocking while
//!   holding it, is a bug, caught by [`assert_may_block`] (which the
//!   scheduler calls before every block) in builds with the `lockdep`
//!   feature (the in-guest test image) or debug assertions.
//! - `sched::SleepMutex` is the lock that may be held across a block.
//!
//! Both spin locks carry a class name; with the `lockdep` feature every
//! acquisition is checked against the lock-order graph ([`lockdep`]) and the
//! first inversion is reported with both acquisition sites.
//!
//! Events are masked while the upcall runs, so nothing here nests inside
//! itself unexpectedly: an upcall's acquisitions sit on top of the
//! interrupted thread's held locks and are popped before it returns.
use core::ops::{Deref, DerefMut};
use core::panic::Location;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use crate::arch::irq;

pub mod lockdep;

/// Spin locks (of either kind) held by the running thread, outside upcalls.
static THREAD_HELD: AtomicU32 = AtomicU32::new(0);
/// Set while the event upcall runs.
static IN_UPCALL: AtomicBool = AtomicBool::new(false);

/// Marks the start of the event upcall (called by the dispatcher).
pub fn enter_upcall() {
    IN_UPCALL.store(true, Ordering::SeqCst);
    lockdep::enter_context();
}

/// Marks the end of the event upcall.
pub fn leave_upcall() {
    lockdep::leave_context();
    IN_UPCALL.store(false, Ordering::SeqCst);
}

/// Whether the event upcall is running (the caller is an event handler).
pub fn in_upcall() -> bool {
    IN_UPCALL.load(Ordering::SeqCst)
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Spin locks the running thread holds (outside the upcall): 0 when it is
/// in no kernel critical section.
pub fn locks_held() -> u32 {
    THREAD_HELD.load(Ordering::SeqCst)
}

const CHECKED: bool = cfg!(any(feature = "lockdep", debug_assertions));

/// Called before a thread blocks or yields: no spin lock may be held, and
/// event handlers may not block at all. A violation is a kernel bug: it
/// panics (crash report) in checked builds.
#[track_caller]
pub fn assert_may_block(what: &str) {
    if !CHECKED {
        return;
    }
    if in_upcall() {
        panic!("{} from an event handler", what);
    }
    let held = THREAD_HELD.load(Ordering::SeqCst);
    if held != 0 {
        panic!("{} with {} spin lock(s) held: {}", what, held, lockdep::held_names());
    }
}

fn note_acquire(class: &'static str, cache: &AtomicU8, addr: usize, site: &'static Location<'static>) {
    if !in_upcall() {
        THREAD_HELD.fetch_add(1, Ordering::SeqCst);
    }
    lockdep::acquire(class, cache, addr, site);
}

fn note_release(addr: usize) {
    if !in_upcall() {
        THREAD_HELD.fetch_sub(1, Ordering::SeqCst);
    }
    lockdep::release(addr);
}

/// A spin lock that also masks event delivery while held.
pub struct IrqLock<T> {
    class: &'static str,
    /// The lock-order checker's index of `class` + 1 (0: not looked up).
    class_idx: AtomicU8,
    inner: spin::Mutex<T>,
}

/// Guard of an [`IrqLock`]; unlocks, then restores the event mask.
pub struct IrqGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    addr: usize,
    was_enabled: bool,
}

impl<T> IrqLock<T> {
    /// A new unlocked lock of lock class `class`.
    pub const fn new(class: &'static str, v: T) -> Self {
        Self { class, class_idx: AtomicU8::new(0), inner: spin::Mutex::new(v) }
    }

    /// Masks events and takes the lock.
    #[track_caller]
    pub fn lock(&self) -> IrqGuard<'_, T> {
        let site = Location::caller();
        let was_enabled = irq::disable();
        let addr = self as *const Self as usize;
        note_acquire(self.class, &self.class_idx, addr, site);
        IrqGuard { guard: Some(self.inner.lock()), addr, was_enabled }
    }

    /// Whether the lock is held (diagnostics and the crash path).
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Breaks the lock.
    ///
    /// # Safety
    /// Only for the crash path: the holder must never run again.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock() }
    }
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard present until drop")
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        note_release(self.addr);
        irq::restore(self.was_enabled);
    }
}

/// A spin lock for data only threads touch; events stay enabled.
pub struct ThreadLock<T> {
    class: &'static str,
    /// The lock-order checker's index of `class` + 1 (0: not looked up).
    class_idx: AtomicU8,
    inner: spin::Mutex<T>,
}

/// Guard of a [`ThreadLock`].
pub struct ThreadGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    addr: usize,
}

impl<T> ThreadLock<T> {
    /// A new unlocked lock of lock class `class`.
    pub const fn new(class: &'static str, v: T) -> Self {
        Self { class, class_idx: AtomicU8::new(0), inner: spin::Mutex::new(v) }
    }

    /// Takes the lock. Never from an event handler.
    #[track_caller]
    pub fn lock(&self) -> ThreadGuard<'_, T> {
        let site = Location::caller();
        if CHECKED && in_upcall() {
            panic!("thread lock '{}' taken in an event handler at {}", self.class, site);
        }
        let addr = self as *const Self as usize;
        note_acquire(self.class, &self.class_idx, addr, site);
        ThreadGuard { guard: Some(self.inner.lock()), addr }
    }
}

impl<T> Deref for ThreadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard present until drop")
    }
}

impl<T> DerefMut for ThreadGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T> Drop for ThreadGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        note_release(self.addr);
    }
}
