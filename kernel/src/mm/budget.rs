//! The kernel's memory budgets (see `kcore::budget` and docs/memory.md).
//!
//! [`GLOBAL`] bounds everything outside input can make the kernel allocate;
//! each class has its own cap under it. [`XS_KERNEL`] is separate: the
//! kernel's own xenstore requests (the shutdown protocol, for one) come out
//! of the reserve, so a program that fills the xenstore budget cannot keep
//! `xl shutdown` from working.
use core::sync::atomic::{AtomicU64, Ordering};

use kcore::budget::{Budget, Plan};

/// Everything below, together.
pub static GLOBAL: Budget = Budget::new("memory", None);
/// xenstore: requests queued or in flight for the xenbus node, their reply
/// reservations, replies and events not yet read.
pub static XS_NODE: Budget = Budget::new("xenstore", Some(&GLOBAL));
/// The kernel's own xenstore traffic (outside [`GLOBAL`], from the reserve).
pub static XS_KERNEL: Budget = Budget::new("xenstore-kernel", None);
/// Thread stacks.
pub static STACKS: Budget = Budget::new("stacks", Some(&GLOBAL));
/// Programs: their images and heaps.
pub static PROGRAMS: Budget = Budget::new("programs", Some(&GLOBAL));
/// The VFS's cap (`vfs::Limits::max_memory`); the VFS charges [`GLOBAL`]
/// for what it holds (see `fs`).
static VFS_CAP: AtomicU64 = AtomicU64::new(0);

/// The kernel's own xenstore budget: 64 requests' worth.
pub const XS_KERNEL_BYTES: usize = 64 * xs_client::charge_for(256);

/// Sets every limit from the heap the domain can have.
pub fn init(heap_bytes: usize) -> Plan {
    let plan = Plan::for_heap(heap_bytes);
    GLOBAL.set_limit(plan.global);
    XS_NODE.set_limit(plan.xenstore);
    XS_KERNEL.set_limit(XS_KERNEL_BYTES);
    STACKS.set_limit(plan.stacks);
    PROGRAMS.set_limit(plan.programs);
    VFS_CAP.store(plan.vfs as u64, Ordering::Relaxed);
    plan
}

/// The VFS's memory cap.
pub fn vfs_cap() -> u64 {
    VFS_CAP.load(Ordering::Relaxed)
}

/// Every budget, for the statistics file and the debug dump.
pub fn all() -> [&'static Budget; 5] {
    [&GLOBAL, &XS_NODE, &XS_KERNEL, &STACKS, &PROGRAMS]
}
