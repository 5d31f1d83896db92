//! "Interrupts" of a PV guest: event delivery, switched off and on through
//! vCPU 0's `evtchn_upcall_mask` in shared_info.
//!
//! Enabling re-checks `evtchn_upcall_pending`: an event that arrived while
//! masked is delivered at once (any hypercall returns through Xen's event
//! check, so a cheap one forces the upcall), so no event is lost.
//!
//! [`IrqLock`] is the lock for data the event upcall touches: it masks
//! events while held, so the upcall can never find it taken by the code it
//! interrupted (one vCPU). Hold it briefly and never across a blocking call.
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{compiler_fence, Ordering};

use crate::arch::hypercall::hypercall2;
use crate::xen::shared_info;

/// Masks event delivery; returns whether it was enabled before.
#[inline]
pub fn disable() -> bool {
    let v = shared_info::vcpu0();
    if v.is_null() {
        return false;
    }
    // SAFETY: `v` is vCPU 0's vcpu_info in the mapped shared_info page; the
    // mask byte is written only by this vCPU (and by Xen on upcall entry).
    let prev = unsafe {
        let p = addr_of_mut!((*v).evtchn_upcall_mask);
        let prev = core::ptr::read_volatile(p);
        core::ptr::write_volatile(p, 1);
        prev
    };
    compiler_fence(Ordering::SeqCst);
    prev == 0
}

/// Unmasks event delivery and delivers anything that became pending meanwhile.
#[inline]
pub fn enable() {
    let v = shared_info::vcpu0();
    if v.is_null() {
        return;
    }
    compiler_fence(Ordering::SeqCst);
    // SAFETY: as in `disable`.
    let pending = unsafe {
        core::ptr::write_volatile(addr_of_mut!((*v).evtchn_upcall_mask), 0);
        // The unmask must be visible before we look for a pending event.
        core::sync::atomic::fence(Ordering::SeqCst);
        core::ptr::read_volatile(addr_of!((*v).evtchn_upcall_pending))
    };
    if pending != 0 {
        force_upcall();
    }
}

/// Restores the state returned by [`disable`].
#[inline]
pub fn restore(was_enabled: bool) {
    if was_enabled {
        enable();
    }
}

/// Whether event delivery is currently enabled.
pub fn enabled() -> bool {
    let v = shared_info::vcpu0();
    // SAFETY: as in `disable`.
    !v.is_null() && unsafe { core::ptr::read_volatile(addr_of!((*v).evtchn_upcall_mask)) } == 0
}

/// Makes Xen deliver pending events: every hypercall returns through Xen's
/// pending-event check; `xen_version(XENVER_version)` is the cheapest.
pub fn force_upcall() {
    // SAFETY: XENVER_version takes no argument buffer.
    unsafe { hypercall2(xen_sys::__HYPERVISOR_xen_version, xen_sys::XENVER_version as u64, 0) };
}

/// A spin lock that also masks event delivery while held.
///
/// # Concurrency
/// One vCPU: masking events is what makes it safe against the upcall; the
/// spin lock catches misuse (re-entry) instead of corrupting data.
pub struct IrqLock<T> {
    inner: spin::Mutex<T>,
}

/// Guard of an [`IrqLock`]; unlocks, then restores the event mask.
pub struct IrqGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    was_enabled: bool,
}

impl<T> IrqLock<T> {
    /// A new unlocked lock.
    pub const fn new(v: T) -> Self {
        Self { inner: spin::Mutex::new(v) }
    }

    /// Masks events and takes the lock.
    pub fn lock(&self) -> IrqGuard<'_, T> {
        let was_enabled = disable();
        IrqGuard { guard: Some(self.inner.lock()), was_enabled }
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

impl<T> core::ops::Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard present until drop")
    }
}

impl<T> core::ops::DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        restore(self.was_enabled);
    }
}
