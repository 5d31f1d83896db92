//! Memory: pseudo-physical frames, the bootstrap mapping Xen built, the
//! mapping of the rest of the domain's memory, and the kernel heap.
//!
//! Layout (virtual = KERNEL_BASE + pfn * 4096 for every frame):
//! ```text
//! pfn 0 ..           the image (text, rodata, data, bss incl. boot stack)
//!   ..               Xen's bootstrap structures: p2m list, start_info,
//!                    xenstore and console rings, bootstrap page tables
//! first_free ..      free frames: page-table pages we add, then the heap
//! .. nr_pages        end of the domain's memory
//! ```
//! Xen maps only the image and the bootstrap structures (plus at least
//! 512 KiB, rounded up to 4 MiB). At boot [`init`] maps every remaining frame
//! with new L1 tables (allocated from the free frames, mapped read-only as
//! Xen requires), so the heap covers all of the domain's memory.
use core::sync::atomic::{AtomicU64, Ordering};
use linked_list_allocator::LockedHeap;

use crate::xen::mmu::{self, MmuUpdate, PROT_RO, PROT_RW, PROT_TABLE, PTE_ADDR_MASK, PTE_PRESENT};
use crate::xen::start_info::StartInfo;

/// Virtual address of pseudo-physical frame 0 (XEN_ELFNOTE_VIRT_BASE).
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// Page size.
pub const PAGE_SIZE: u64 = 4096;

/// The kernel heap.
///
/// # Concurrency
/// The allocator's spin lock is taken with events masked: event handlers
/// may allocate (waking a thread can grow the run queue), and an upcall
/// that arrived while a thread held the lock would otherwise spin forever
/// on one vCPU.
struct KernelHeap(LockedHeap);

// SAFETY: delegates to linked_list_allocator's LockedHeap, which is a
// correct GlobalAlloc; masking events around it changes no memory semantics.
unsafe impl core::alloc::GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        let was = crate::arch::irq::disable();
        // SAFETY: forwarded from the caller.
        let p = unsafe { self.0.alloc(layout) };
        crate::arch::irq::restore(was);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        let was = crate::arch::irq::disable();
        // SAFETY: forwarded from the caller.
        unsafe { self.0.dealloc(ptr, layout) };
        crate::arch::irq::restore(was);
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(LockedHeap::empty());

static P2M: AtomicU64 = AtomicU64::new(0);
static L4_MFN: AtomicU64 = AtomicU64::new(0);
static NR_PAGES: AtomicU64 = AtomicU64::new(0);
static HEAP_START: AtomicU64 = AtomicU64::new(0);
static HEAP_END: AtomicU64 = AtomicU64::new(0);

/// Virtual address of pseudo-physical frame `pfn`.
pub fn pfn_to_va(pfn: u64) -> u64 {
    KERNEL_BASE + pfn * PAGE_SIZE
}

/// Pseudo-physical frame of a kernel virtual address.
pub fn va_to_pfn(va: u64) -> u64 {
    (va - KERNEL_BASE) / PAGE_SIZE
}

/// Pseudo-physical frame of machine frame `mfn`, from Xen's read-only M2P table.
pub fn mfn_to_pfn(mfn: u64) -> u64 {
    let m2p = xen_sys::MACH2PHYS_VIRT_START as *const u64;
    // SAFETY: Xen maps the machine-to-physical table read-only at this
    // address in every 64-bit PV guest; `mfn` comes from Xen (start_info or
    // a page-table entry Xen validated), so it indexes inside the table.
    unsafe { core::ptr::read_volatile(m2p.add(mfn as usize)) }
}

/// Machine frame of pseudo-physical frame `pfn`, from the p2m list.
pub fn pfn_to_mfn(pfn: u64) -> u64 {
    let p2m = P2M.load(Ordering::Relaxed) as *const u64;
    // SAFETY: the p2m list (start_info.mfn_list) has nr_pages entries and is
    // mapped for the life of the guest; callers pass pfn < nr_pages.
    unsafe { core::ptr::read_volatile(p2m.add(pfn as usize)) }
}

/// Virtual address of machine frame `mfn` (which must belong to this domain).
pub fn mfn_to_va(mfn: u64) -> u64 {
    pfn_to_va(mfn_to_pfn(mfn))
}

/// What [`init`] found and did, for the boot report.
pub struct Layout {
    pub image: (u64, u64),
    pub text: (u64, u64),
    pub bss: (u64, u64),
    pub boot_stack: (u64, u64),
    pub pt_base: u64,
    pub nr_pt_frames: u64,
    pub first_free_pfn: u64,
    pub bootstrap_mapped_pfns: u64,
    pub nr_pages: u64,
    pub new_l1_tables: u64,
    pub heap: (u64, u64),
}

fn pt_index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 511) as usize
}

/// Reads entry `idx` of the page table whose machine frame is `mfn`.
fn read_pte(table_mfn: u64, idx: usize) -> u64 {
    let va = mfn_to_va(table_mfn) as *const u64;
    // SAFETY: page tables of the bootstrap region and the ones we add are
    // mapped (read-only) in the kernel's linear map; idx < 512.
    unsafe { core::ptr::read_volatile(va.add(idx)) }
}

/// Machine frame of the L2 table covering `va`, if there is one. (Crossing
/// a 1 GiB boundary would need a new L2; guests here are far smaller.)
fn l2_table_of(l4_mfn: u64, va: u64) -> Option<u64> {
    let l4e = read_pte(l4_mfn, pt_index(va, 4));
    if l4e & PTE_PRESENT == 0 {
        return None;
    }
    let l3e = read_pte((l4e & PTE_ADDR_MASK) >> 12, pt_index(va, 3));
    if l3e & PTE_PRESENT == 0 {
        return None;
    }
    Some((l3e & PTE_ADDR_MASK) >> 12)
}

/// Machine frame of the L1 table covering `va`, if there is one.
fn l1_table_of(l4_mfn: u64, va: u64) -> Option<u64> {
    let l2e = read_pte(l2_table_of(l4_mfn, va)?, pt_index(va, 2));
    if l2e & PTE_PRESENT == 0 {
        return None;
    }
    Some((l2e & PTE_ADDR_MASK) >> 12)
}

fn is_mapped(l4_mfn: u64, va: u64) -> bool {
    match l1_table_of(l4_mfn, va) {
        Some(l1) => read_pte(l1, pt_index(va, 1)) & PTE_PRESENT != 0,
        None => false,
    }
}

/// Maps all of the domain's memory and sets up the heap.
pub fn init(si: &StartInfo) -> Layout {
    P2M.store(si.mfn_list(), Ordering::Relaxed);
    let nr_pages = si.nr_pages();
    NR_PAGES.store(nr_pages, Ordering::Relaxed);

    let pt_base = si.pt_base();
    let first_free_pfn = va_to_pfn(pt_base) + si.nr_pt_frames();
    // The L4 table is the page at pt_base; find its machine frame via the p2m.
    let l4_mfn = pfn_to_mfn(va_to_pfn(pt_base));
    L4_MFN.store(l4_mfn, Ordering::Relaxed);

    // How far Xen's bootstrap mapping reaches.
    let mut mapped = first_free_pfn;
    while mapped < nr_pages && is_mapped(l4_mfn, pfn_to_va(mapped)) {
        mapped += 1;
    }
    let bootstrap_mapped_pfns = mapped;

    // Leave the page below the boot stack unmapped, so that an overflow of
    // the boot stack faults instead of corrupting the bss.
    let guard = crate::sym_addr!(boot_stack_guard);
    let _ = mmu::update_va_mapping(guard, 0);

    // Map the rest. Page-table pages come from the start of the free area.
    let mut next_free = first_free_pfn;
    let mut new_l1 = 0;
    let mut batch: [MmuUpdate; 64] = [MmuUpdate { ptr: 0, val: 0 }; 64];
    let mut n = 0;
    let mut pfn = mapped;
    while pfn < nr_pages {
        let va = pfn_to_va(pfn);
        let l1 = match l1_table_of(l4_mfn, va) {
            Some(l1) => l1,
            None => {
                if n > 0 {
                    let _ = mmu::mmu_update(&mut batch[..n]);
                    n = 0;
                }
                match new_l1_table(l4_mfn, va, next_free) {
                    Some(l1) => {
                        next_free += 1;
                        new_l1 += 1;
                        l1
                    }
                    None => break,
                }
            }
        };
        batch[n] = MmuUpdate {
            ptr: ((l1 << 12) + pt_index(va, 1) as u64 * 8) | xen_sys::MMU_NORMAL_PT_UPDATE as u64,
            val: (pfn_to_mfn(pfn) << 12) | PROT_RW,
        };
        n += 1;
        if n == batch.len() {
            let _ = mmu::mmu_update(&mut batch[..n]);
            n = 0;
        }
        pfn += 1;
    }
    if n > 0 {
        let _ = mmu::mmu_update(&mut batch[..n]);
    }
    let mapped_end = pfn;

    let heap_start = pfn_to_va(next_free);
    let heap_end = pfn_to_va(mapped_end);
    // SAFETY: [heap_start, heap_end) is mapped read-write, belongs to this
    // domain and is used by nothing else (it lies after every boot structure
    // and after the page-table pages allocated above).
    unsafe { HEAP.0.lock().init(heap_start as *mut u8, (heap_end - heap_start) as usize) };
    HEAP_START.store(heap_start, Ordering::Relaxed);
    HEAP_END.store(heap_end, Ordering::Relaxed);

    Layout {
        image: (crate::sym_addr!(__image_start), crate::sym_addr!(__image_end)),
        text: (crate::sym_addr!(__text_start), crate::sym_addr!(__text_end)),
        bss: (crate::sym_addr!(__bss_start), crate::sym_addr!(__bss_end)),
        boot_stack: (crate::sym_addr!(boot_stack_bottom), crate::sym_addr!(boot_stack_top)),
        pt_base,
        nr_pt_frames: si.nr_pt_frames(),
        first_free_pfn,
        bootstrap_mapped_pfns,
        nr_pages,
        new_l1_tables: new_l1,
        heap: (heap_start, heap_end),
    }
}

/// Turns free frame `pfn` into the L1 table for `va`: zero it, map it
/// read-only, hook it into the L2 table. Returns its machine frame.
fn new_l1_table(l4_mfn: u64, va: u64, pfn: u64) -> Option<u64> {
    let l2_mfn = l2_table_of(l4_mfn, va)?;
    let table_va = pfn_to_va(pfn);
    let mfn = pfn_to_mfn(pfn);
    // SAFETY: `pfn` is a free frame inside the bootstrap mapping (mapped
    // read-write), owned by nobody else.
    unsafe { core::ptr::write_bytes(table_va as *mut u8, 0, PAGE_SIZE as usize) };
    mmu::update_va_mapping(table_va, (mfn << 12) | PROT_RO).ok()?;
    let mut req = [MmuUpdate {
        ptr: ((l2_mfn << 12) + pt_index(va, 2) as u64 * 8) | xen_sys::MMU_NORMAL_PT_UPDATE as u64,
        val: (mfn << 12) | PROT_TABLE,
    }];
    mmu::mmu_update(&mut req).ok()?;
    Some(mfn)
}

/// Heap statistics: (size, used) in bytes.
pub fn heap_stats() -> (usize, usize) {
    let was = crate::arch::irq::disable();
    let r = {
        let h = HEAP.0.lock();
        (h.size(), h.used())
    };
    crate::arch::irq::restore(was);
    r
}

/// Total pages of the domain.
pub fn nr_pages() -> u64 {
    NR_PAGES.load(Ordering::Relaxed)
}

/// Whether `va` is mapped (walks the page tables; false before [`init`]).
/// Used by the crash path before it dereferences a frame pointer.
pub fn is_va_mapped(va: u64) -> bool {
    let l4 = L4_MFN.load(Ordering::Relaxed);
    l4 != 0 && va >= KERNEL_BASE && is_mapped(l4, va)
}
