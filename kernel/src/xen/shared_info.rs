//! The shared_info page: per-vCPU event state and time, the event-channel
//! pending and mask bitmaps, and the wall clock.
//!
//! # Concurrency
//! Xen writes this page at any time (from any physical CPU). Every field is
//! read and written through volatile accesses or atomics; the bitmaps are
//! only ever changed with atomic read-modify-write operations, as Xen does.
//! Only vCPU 0 exists in this kernel.
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use xen_sys as x;

use crate::xen::{mmu, p2m};

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// A page of the image whose mapping is replaced by the shared_info frame.
static mut SHARED_INFO_PAGE: Page = Page([0; 4096]);

/// Set once by [`map`]; null before.
static SHARED_INFO: AtomicPtr<x::shared_info> = AtomicPtr::new(core::ptr::null_mut());

/// Maps the shared_info frame (machine address `maddr`, from start_info) over
/// a page of the image. Called at boot, and by the suspend path after the
/// hypercall returns (the frame is a new one after a restore).
pub fn map(maddr: u64) -> Result<(), crate::arch::hypercall::XenError> {
    let va = addr_of!(SHARED_INFO_PAGE) as u64;
    mmu::update_va_mapping(va, (maddr & mmu::PTE_ADDR_MASK) | mmu::PROT_RW)?;
    SHARED_INFO.store(va as *mut x::shared_info, Ordering::Release);
    crate::arch::irq::set_vcpu_info(vcpu0());
    Ok(())
}

/// Puts the image's own frame back under the shared_info page (the suspend
/// path, events masked, right before `SHUTDOWN_suspend`): the shared_info
/// frame belongs to Xen, and libxc refuses to save page tables that map a
/// frame outside the domain ("Bad mfn for L1"). Until [`map`] runs again
/// there is no shared_info: time reads 0, the event mask is not touched
/// (Xen's copy keeps events masked, as the caller left them).
pub fn unmap_for_suspend() -> Result<(), crate::arch::hypercall::XenError> {
    let va = addr_of!(SHARED_INFO_PAGE) as u64;
    crate::arch::irq::set_vcpu_info(core::ptr::null_mut());
    SHARED_INFO.store(core::ptr::null_mut(), Ordering::Release);
    let own = p2m::pfn_to_mfn(p2m::va_to_pfn(va));
    mmu::update_va_mapping(va, (own << 12) | mmu::PROT_RW | mmu::nx())
}

/// Publishes the P2M tree for the toolstack (`arch.max_pfn`,
/// `arch.pfn_to_mfn_frame_list_list`; see [`p2m`]). False when shared_info
/// is not mapped.
pub fn set_p2m_tree(max_pfn: u64, fll_mfn: u64) -> bool {
    let s = si();
    if s.is_null() {
        return false;
    }
    // SAFETY: `s` is the mapped shared_info page; the arch fields are the
    // guest's to write (Xen only reads them, the toolstack reads them from
    // dom0); the frame list list is written last, after max_pfn.
    unsafe {
        core::ptr::write_volatile(addr_of_mut!((*s).arch.max_pfn), max_pfn);
        core::sync::atomic::fence(Ordering::SeqCst);
        core::ptr::write_volatile(addr_of_mut!((*s).arch.pfn_to_mfn_frame_list_list), fll_mfn);
    }
    true
}

/// The P2M tree as published: (`max_pfn`, frame list list), for tests.
pub fn p2m_tree() -> Option<(u64, u64)> {
    let s = si();
    if s.is_null() {
        return None;
    }
    // SAFETY: as in set_p2m_tree; volatile reads.
    unsafe {
        Some((
            core::ptr::read_volatile(addr_of!((*s).arch.max_pfn)),
            core::ptr::read_volatile(addr_of!((*s).arch.pfn_to_mfn_frame_list_list)),
        ))
    }
}

/// Whether [`map`] has run.
pub fn is_mapped() -> bool {
    !SHARED_INFO.load(Ordering::Acquire).is_null()
}

fn si() -> *mut x::shared_info {
    SHARED_INFO.load(Ordering::Acquire)
}

/// Pointer to vCPU 0's vcpu_info, or null before [`map`].
pub fn vcpu0() -> *mut x::vcpu_info {
    let s = si();
    if s.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `s` points to the mapped shared_info page; only the address of
    // the field is computed.
    unsafe { addr_of_mut!((*s).vcpu_info[0]) }
}

/// The faulting address of the last page fault (`arch.cr2`), which Xen
/// stores in vcpu_info for PV guests.
pub fn cr2() -> Option<u64> {
    let v = vcpu0();
    if v.is_null() {
        return None;
    }
    // SAFETY: `v` is in the mapped shared_info page; volatile because Xen writes it.
    Some(unsafe { core::ptr::read_volatile(addr_of!((*v).arch.cr2)) })
}

/// Reads vCPU 0's time info consistently (the version protocol: retry while
/// the version is odd or changed across the read).
pub fn time_snapshot() -> Option<kcore::time::TimeSnapshot> {
    let v = vcpu0();
    if v.is_null() {
        return None;
    }
    // SAFETY: `v` is in the mapped shared_info page; fields are read volatile.
    unsafe {
        let t = addr_of!((*v).time);
        loop {
            let ver = core::ptr::read_volatile(addr_of!((*t).version));
            // Version read before the fields.
            core::sync::atomic::fence(Ordering::Acquire);
            let snap = kcore::time::TimeSnapshot {
                tsc_timestamp: core::ptr::read_volatile(addr_of!((*t).tsc_timestamp)),
                system_time: core::ptr::read_volatile(addr_of!((*t).system_time)),
                tsc_to_system_mul: core::ptr::read_volatile(addr_of!((*t).tsc_to_system_mul)),
                tsc_shift: core::ptr::read_volatile(addr_of!((*t).tsc_shift)),
            };
            // Fields read before the version is checked again.
            core::sync::atomic::fence(Ordering::Acquire);
            let ver2 = core::ptr::read_volatile(addr_of!((*t).version));
            if ver & 1 == 0 && ver == ver2 {
                return Some(snap);
            }
        }
    }
}

/// Wall-clock time of system time 0: (seconds, nanoseconds), version protocol.
pub fn wallclock_base() -> Option<(u64, u32)> {
    let s = si();
    if s.is_null() {
        return None;
    }
    // SAFETY: `s` is the mapped shared_info page; fields are read volatile.
    unsafe {
        loop {
            let ver = core::ptr::read_volatile(addr_of!((*s).wc_version));
            core::sync::atomic::fence(Ordering::Acquire);
            let sec = core::ptr::read_volatile(addr_of!((*s).wc_sec)) as u64
                | (core::ptr::read_volatile(addr_of!((*s).wc_sec_hi)) as u64) << 32;
            let nsec = core::ptr::read_volatile(addr_of!((*s).wc_nsec));
            core::sync::atomic::fence(Ordering::Acquire);
            if ver & 1 == 0 && ver == core::ptr::read_volatile(addr_of!((*s).wc_version)) {
                return Some((sec, nsec));
            }
        }
    }
}

/// The word of the pending bitmap that holds `port`, as an atomic.
fn bitmap_word(mask: bool, port: u32) -> Option<&'static AtomicU64> {
    let s = si();
    let idx = (port / 64) as usize;
    if s.is_null() || idx >= 64 {
        return None;
    }
    // SAFETY: the bitmaps are arrays of 64 u64 in the mapped page, which
    // stays mapped forever; AtomicU64 has the layout of u64 and Xen updates
    // these words only with atomic operations.
    unsafe {
        let base = if mask { addr_of!((*s).evtchn_mask) } else { addr_of!((*s).evtchn_pending) };
        Some(&*(base.cast::<AtomicU64>().add(idx)))
    }
}

/// Clears `port`'s pending bit; returns whether it was set.
pub fn clear_pending(port: u32) -> bool {
    let bit = 1u64 << (port % 64);
    bitmap_word(false, port).map(|w| w.fetch_and(!bit, Ordering::AcqRel) & bit != 0).unwrap_or(false)
}

/// Whether `port` is pending.
pub fn is_pending(port: u32) -> bool {
    let bit = 1u64 << (port % 64);
    bitmap_word(false, port).map(|w| w.load(Ordering::Acquire) & bit != 0).unwrap_or(false)
}

/// Whether `port` is masked.
pub fn is_masked(port: u32) -> bool {
    let bit = 1u64 << (port % 64);
    bitmap_word(true, port).map(|w| w.load(Ordering::Acquire) & bit != 0).unwrap_or(true)
}

/// Sets or clears `port`'s mask bit.
pub fn set_masked(port: u32, masked: bool) {
    let bit = 1u64 << (port % 64);
    if let Some(w) = bitmap_word(true, port) {
        if masked {
            w.fetch_or(bit, Ordering::AcqRel);
        } else {
            w.fetch_and(!bit, Ordering::AcqRel);
        }
    }
}

/// `pending[word] & !mask[word]`, for the upcall's scan.
pub fn pending_unmasked_word(word: u32) -> u64 {
    match (bitmap_word(false, word * 64), bitmap_word(true, word * 64)) {
        (Some(p), Some(m)) => p.load(Ordering::Acquire) & !m.load(Ordering::Acquire),
        _ => 0,
    }
}
