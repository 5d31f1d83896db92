//! x86_64 PV glue: the boot assembly, hypercalls and CPU exceptions.
pub mod boot;
pub mod hypercall;
pub mod irq;

use core::sync::atomic::{AtomicU64, Ordering};

/// TSC reads since boot (`make bench` reports them per request).
pub static RDTSC_READS: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
///
/// Not cheap under Xen: with `tsc_mode="default"` Xen emulates RDTSC (it
/// traps) whenever it cannot promise the guest a stable TSC, as on a host
/// without an invariant TSC or under QEMU TCG, where a read costs about
/// 3 us. Hot paths avoid it (`time::coarse_now_ns`, deadlines that need
/// no clock read until they may have passed).
#[inline]
pub fn rdtsc() -> u64 {
    RDTSC_READS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: RDTSC has no memory effects; Xen allows it in PV guests
    // (CR4.TSD is clear for PV domains by default).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The frame pointer of the caller, for backtraces.
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: reads a register; no memory access. The kernel is built with
    // -C force-frame-pointers=yes so %rbp holds the frame chain.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags)) };
    rbp
}
