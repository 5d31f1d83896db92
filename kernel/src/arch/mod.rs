//! x86_64 PV glue: the boot assembly, hypercalls and CPU exceptions.
pub mod boot;
pub mod hypercall;
pub mod irq;

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
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
