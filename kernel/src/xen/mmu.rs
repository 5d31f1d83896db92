//! Page-table updates through Xen: a PV guest's page tables are read-only to
//! it, so every change is validated by the hypervisor
//! (`HYPERVISOR_update_va_mapping`, `HYPERVISOR_mmu_update`).
use crate::arch::hypercall::{check, hypercall3, hypercall5, XenError};
use xen_sys as x;

/// Present.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// User (a 64-bit PV kernel runs in ring 3).
pub const PTE_USER: u64 = 1 << 2;
/// Accessed.
pub const PTE_ACCESSED: u64 = 1 << 5;
/// Dirty.
pub const PTE_DIRTY: u64 = 1 << 6;
/// No-execute (needs EFER.NX, which Xen enables when the CPU has it).
pub const PTE_NX: u64 = 1 << 63;
/// Machine address bits of a PTE.
pub const PTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Flags of an ordinary kernel data mapping.
pub const PROT_RW: u64 = PTE_PRESENT | PTE_RW | PTE_USER | PTE_ACCESSED | PTE_DIRTY;
/// Flags of a read-only mapping (page-table pages must be mapped this way).
pub const PROT_RO: u64 = PTE_PRESENT | PTE_USER | PTE_ACCESSED;
/// Flags of an intermediate page-table entry.
pub const PROT_TABLE: u64 = PTE_PRESENT | PTE_RW | PTE_USER | PTE_ACCESSED | PTE_DIRTY;

/// [`PTE_NX`] if the CPU supports no-execute (CPUID 0x80000001 EDX bit 20),
/// else 0: a PTE with the bit set would be refused by Xen there.
pub fn nx() -> u64 {
    use core::sync::atomic::{AtomicU8, Ordering};
    static NX: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 no, 2 yes
    match NX.load(Ordering::Relaxed) {
        1 => 0,
        2 => PTE_NX,
        _ => {
            let r = core::arch::x86_64::__cpuid(0x8000_0001);
            let yes = r.edx & (1 << 20) != 0;
            NX.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            if yes {
                PTE_NX
            } else {
                0
            }
        }
    }
}

/// Replaces the L1 entry that maps `va` with `pte` and flushes that TLB entry.
pub fn update_va_mapping(va: u64, pte: u64) -> Result<(), XenError> {
    // SAFETY: plain values; Xen validates the new entry (frame ownership,
    // no writable mapping of page tables) and fails with an errno otherwise.
    check(unsafe { hypercall3(x::__HYPERVISOR_update_va_mapping, va, pte, x::UVMF_INVLPG) }).map(|_| ())
}

/// One page-table write: `ptr` is the machine address of the entry.
pub type MmuUpdate = x::mmu_update;

/// Flushes this vCPU's whole TLB (`MMUEXT_TLB_FLUSH_LOCAL`).
///
/// `mmu_update` changes page-table entries without flushing: a translation
/// the TLB still holds keeps working — through the old frame, or with the
/// old permissions — until it is flushed. So after unmapping or remapping
/// a virtual address, or lowering or raising its permissions, with
/// [`mmu_update`], call this before the address is used again or its old
/// frame is reused. ([`update_va_mapping`] flushes its own entry.)
pub fn flush_tlb_local() -> Result<(), XenError> {
    let mut op = x::mmuext_op {
        cmd: x::MMUEXT_TLB_FLUSH_LOCAL,
        arg1: x::mmuext_op__bindgen_ty_1 { mfn: 0 },
        arg2: x::mmuext_op__bindgen_ty_2 { nr_ents: 0 },
    };
    let mut done: u32 = 0;
    // SAFETY: one valid mmuext_op and a valid u32, live for the call.
    let r = unsafe {
        hypercall5(
            x::__HYPERVISOR_mmuext_op,
            &mut op as *mut _ as u64,
            1,
            &mut done as *mut u32 as u64,
            x::DOMID_SELF as u64,
            0,
        )
    };
    check(r).map(|_| ())
}

/// [`mmu_update`] then [`flush_tlb_local`]: for changes to entries that
/// may be cached (unmapping, remapping, permission changes).
pub fn mmu_update_flush(reqs: &mut [MmuUpdate]) -> Result<(), XenError> {
    mmu_update(reqs)?;
    flush_tlb_local()
}

/// Applies a batch of page-table writes (`MMU_NORMAL_PT_UPDATE`). Does
/// not flush the TLB: see [`flush_tlb_local`].
pub fn mmu_update(reqs: &mut [MmuUpdate]) -> Result<(), XenError> {
    let mut done: u32 = 0;
    // SAFETY: `reqs` is a valid array of `reqs.len()` mmu_update entries and
    // `done` a valid u32, both live for the call.
    let r = unsafe {
        hypercall5(
            x::__HYPERVISOR_mmu_update,
            reqs.as_mut_ptr() as u64,
            reqs.len() as u64,
            &mut done as *mut u32 as u64,
            x::DOMID_SELF as u64,
            0,
        )
    };
    check(r).map(|_| ())
}
