//! "Interrupts" of a PV guest: event delivery, switched off and on through
//! vCPU 0's `evtchn_upcall_mask` in shared_info.
//!
//! Enabling re-checks `evtchn_upcall_pending`: an event that arrived while
//! masked is delivered at once (any hypercall returns through Xen's event
//! check, so a cheap one forces the upcall), so no event is lost.
//!
//! `sync::IrqLock` builds on this: the lock for data the event upcall
//! touches masks events while held.
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{compiler_fence, Ordering};

use core::sync::atomic::AtomicPtr;

use crate::arch::hypercall::hypercall2;

/// vCPU 0's vcpu_info in the shared_info page, once `xen::shared_info`
/// has mapped it (null before: then there is nothing to mask).
static VCPU0: AtomicPtr<xen_sys::vcpu_info> = AtomicPtr::new(core::ptr::null_mut());

/// Tells this module where vCPU 0's vcpu_info is (called once, by
/// `xen::shared_info::map`).
pub fn set_vcpu_info(v: *mut xen_sys::vcpu_info) {
    VCPU0.store(v, Ordering::Release);
}

fn vcpu0() -> *mut xen_sys::vcpu_info {
    VCPU0.load(Ordering::Acquire)
}

/// Masks event delivery; returns whether it was enabled before.
#[inline]
pub fn disable() -> bool {
    let v = vcpu0();
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
    let v = vcpu0();
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
    let v = vcpu0();
    // SAFETY: as in `disable`.
    !v.is_null() && unsafe { core::ptr::read_volatile(addr_of!((*v).evtchn_upcall_mask)) } == 0
}

/// Makes Xen deliver pending events: every hypercall returns through Xen's
/// pending-event check; `xen_version(XENVER_version)` is the cheapest.
pub fn force_upcall() {
    // SAFETY: XENVER_version takes no argument buffer.
    unsafe { hypercall2(xen_sys::__HYPERVISOR_xen_version, xen_sys::XENVER_version as u64, 0) };
}
