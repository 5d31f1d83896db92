//! The machine context of a program thread beyond the integer registers:
//! its x87/SSE state and its %fs base (which points to its thread control
//! block, where glibc-compiled code finds the stack canary at %fs:0x28).
//!
//! Kernel code never touches x87/SSE state (the kernel target is
//! soft-float), so the state only changes hands between program threads:
//! it is saved when a program thread is switched out and restored when one
//! is switched in (FXSAVE/FXRSTOR). Event upcalls never switch threads, and
//! program threads run with events masked anyway.
// Used by the programs layer (feature `programs`).
#![cfg_attr(not(feature = "programs"), allow(dead_code))]
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::hypercall::hypercall2;

/// 512 bytes, 16-aligned: the FXSAVE area.
#[repr(C, align(16))]
pub struct FxArea(pub [u8; 512]);

impl FxArea {
    /// The state a program starts with: x87 control word 0x037f (all
    /// exceptions masked, double extended precision, round to nearest),
    /// MXCSR 0x1f80 (all SIMD exceptions masked, round to nearest), every
    /// register zero.
    pub fn initial() -> FxArea {
        let mut a = [0u8; 512];
        a[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        a[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        FxArea(a)
    }
}

/// A program thread's context.
pub struct ProgCtx {
    /// The %fs base to load while the thread runs.
    pub fs_base: u64,
    /// Saved x87/SSE state while the thread is switched out.
    pub fpu: FxArea,
    /// The program (and per-thread data) the thread belongs to, for the
    /// layer above (`kernel/src/programs`). The thread takes it out
    /// ([`super::take_prog_owner`]) before it exits, so that it is dropped
    /// in thread context, never by the scheduler's reaper.
    pub owner: Option<Arc<dyn Any + Send + Sync>>,
    /// The thread's own data for that layer (its control block's address).
    pub data: usize,
}

/// The %fs base loaded now (0 when none was ever set).
static LOADED_FS: AtomicU64 = AtomicU64::new(0);

fn set_fs_base(base: u64) {
    if LOADED_FS.load(Ordering::Relaxed) == base {
        return;
    }
    // SAFETY: set_segment_base(SEGBASE_FS, base) only changes the %fs base
    // of this vCPU; the kernel itself never uses %fs.
    unsafe { hypercall2(xen_sys::__HYPERVISOR_set_segment_base, xen_sys::SEGBASE_FS as u64, base) };
    LOADED_FS.store(base, Ordering::Relaxed);
}

/// Saves the outgoing program thread's FPU state and loads the incoming
/// one's, with its %fs base.
///
/// # Safety
/// Both pointers, when given, point to live contexts owned by the two
/// threads being switched; called with events masked.
pub(super) unsafe fn switch_contexts(out: Option<*mut ProgCtx>, inc: Option<*mut ProgCtx>) {
    if let Some(o) = out {
        // SAFETY: `o` is the outgoing thread's live context (caller); the
        // area is 512 bytes and 16-aligned as FXSAVE needs.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) (*o).fpu.0.as_mut_ptr(), options(nostack)) };
    }
    if let Some(i) = inc {
        // SAFETY: as above, for the incoming thread; the area holds a state
        // FXSAVE wrote, or `FxArea::initial`.
        unsafe {
            core::arch::asm!("fxrstor64 [{}]", in(reg) (*i).fpu.0.as_ptr(), options(nostack));
            set_fs_base((*i).fs_base);
        }
    }
}
