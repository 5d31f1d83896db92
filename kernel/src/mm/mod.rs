//! Memory: pseudo-physical frames, the linear map of the domain's memory,
//! the kernel heap, the thread-stack region and the memory budgets.
//!
//! Layout (virtual = [`KERNEL_BASE`] + pfn * 4096 for every frame):
//! ```text
//! pfn 0 ..           the image (text, rodata, data, bss incl. boot stack)
//!   ..               Xen's bootstrap structures: p2m list, start_info,
//!                    xenstore and console rings, bootstrap page tables
//! first_free ..      the heap: starts with what Xen mapped, grows upwards
//! .. nr_pages        end of the domain's memory
//! ```
//! Xen maps only the image and its bootstrap structures (plus at least
//! 512 KiB, rounded up to 4 MiB). The rest is mapped *lazily*, a chunk at a
//! time, when the heap runs low ([`heap`]): boot costs the same at 10 MiB as
//! at 1 GiB. Page-table pages come from the heap itself (page-aligned blocks
//! made read-only, as Xen requires).
//!
//! Thread stacks live in their own 1 GiB region below the kernel image
//! ([`stack_region`]): each slot's lowest page is left unmapped as a guard,
//! so a guard costs address space, not memory.
//!
//! Every frame the kernel maps is one of the domain's own (from the p2m
//! list); page tables are changed only through Xen (`mmu_update`,
//! `update_va_mapping`), which validates each entry.
use core::sync::atomic::{AtomicU64, Ordering};

use crate::xen::mmu::{self, MmuUpdate, PROT_RO, PROT_TABLE, PTE_ADDR_MASK, PTE_PRESENT};
use crate::xen::start_info::StartInfo;

pub mod budget;
pub mod heap;
pub mod stack_region;

/// Virtual address of pseudo-physical frame 0 (XEN_ELFNOTE_VIRT_BASE).
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// Page size.
pub const PAGE_SIZE: u64 = 4096;
/// Page size as a `usize`.
pub const PAGE: usize = 4096;

static L4_MFN: AtomicU64 = AtomicU64::new(0);
/// The L4 table's pseudo-physical frame (its machine frame changes when the
/// domain is restored).
static L4_PFN: AtomicU64 = AtomicU64::new(0);
static NR_PAGES: AtomicU64 = AtomicU64::new(0);

// The linear map is Xen's (xen::p2m works with the same base).
const _: () = assert!(KERNEL_BASE == crate::xen::p2m::VIRT_BASE);

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
    crate::xen::p2m::mfn_to_pfn(mfn)
}

/// Machine frame of pseudo-physical frame `pfn` (< the domain's pages),
/// from the p2m list.
pub fn pfn_to_mfn(pfn: u64) -> u64 {
    crate::xen::p2m::pfn_to_mfn(pfn)
}

/// Machine frame of a kernel virtual address in the linear map.
pub fn va_to_mfn(va: u64) -> u64 {
    pfn_to_mfn(va_to_pfn(va))
}

/// Virtual address of machine frame `mfn` (which must belong to this domain).
pub fn mfn_to_va(mfn: u64) -> u64 {
    pfn_to_va(mfn_to_pfn(mfn))
}

/// Index of `va` in its page table at `level` (1 = L1 ... 4 = L4).
pub fn pt_index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 511) as usize
}

/// Reads entry `idx` of the page table whose machine frame is `mfn`.
fn read_pte(table_mfn: u64, idx: usize) -> u64 {
    let va = mfn_to_va(table_mfn) as *const u64;
    // SAFETY: every page table of this guest (Xen's bootstrap ones and the
    // ones the heap provides) lies in the linear map, mapped read-only;
    // idx < 512.
    unsafe { core::ptr::read_volatile(va.add(idx & 511)) }
}

/// The L4 table's machine frame.
fn l4_mfn() -> u64 {
    L4_MFN.load(Ordering::Relaxed)
}

/// Machine frame of the table at `level` (1..=3) covering `va`, if mapped.
fn table_of(va: u64, level: u32) -> Option<u64> {
    let mut mfn = l4_mfn();
    for l in (level + 1..=4).rev() {
        let e = read_pte(mfn, pt_index(va, l));
        if e & PTE_PRESENT == 0 {
            return None;
        }
        mfn = (e & PTE_ADDR_MASK) >> 12;
    }
    Some(mfn)
}

/// Machine address of the L1 entry that maps `va`, if its L1 table exists.
pub fn l1_entry_maddr(va: u64) -> Option<u64> {
    Some((table_of(va, 1)? << 12) + pt_index(va, 1) as u64 * 8)
}

/// Makes sure the tables down to L1 exist for `va`, creating missing ones
/// from `new_table` (which returns a zeroed, read-only, page-aligned frame's
/// machine frame number). Returns the L1 table's machine frame.
pub fn ensure_l1(va: u64, new_table: &mut dyn FnMut() -> Option<u64>) -> Option<u64> {
    let mut mfn = l4_mfn();
    for l in (2..=4).rev() {
        let idx = pt_index(va, l);
        let e = read_pte(mfn, idx);
        mfn = if e & PTE_PRESENT != 0 {
            (e & PTE_ADDR_MASK) >> 12
        } else {
            let t = new_table()?;
            let mut req = [MmuUpdate {
                ptr: ((mfn << 12) + idx as u64 * 8) | xen_sys::MMU_NORMAL_PT_UPDATE as u64,
                val: (t << 12) | PROT_TABLE,
            }];
            mmu::mmu_update(&mut req).ok()?;
            t
        };
    }
    Some(mfn)
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
    pub heap: (u64, u64),
    pub plan: kcore::budget::Plan,
    /// The P2M tree published for the toolstack (`xl save`), or why not.
    pub p2m: Result<crate::xen::p2m::Published, crate::xen::p2m::P2mError>,
}

/// Takes over the bootstrap mapping, starts the heap on what Xen mapped and
/// sets the budgets from the domain's memory.
pub fn init(si: &StartInfo) -> Layout {
    let nr_pages = si.nr_pages();
    crate::xen::p2m::init(si.mfn_list(), nr_pages);
    NR_PAGES.store(nr_pages, Ordering::Relaxed);

    let pt_base = si.pt_base();
    let first_free_pfn = va_to_pfn(pt_base) + si.nr_pt_frames();
    // The L4 table is the page at pt_base; find its machine frame via the p2m.
    L4_PFN.store(va_to_pfn(pt_base), Ordering::Relaxed);
    L4_MFN.store(pfn_to_mfn(va_to_pfn(pt_base)), Ordering::Relaxed);
    // A restore gives every page a new machine frame (libxc rewrites the
    // page tables and the p2m list): look the L4's up again.
    let _ = crate::xen::suspend::register(crate::xen::suspend::Hooks {
        name: "mm",
        thaw: Some(|o| {
            if o == crate::xen::suspend::Outcome::NewDomain {
                L4_MFN.store(pfn_to_mfn(L4_PFN.load(Ordering::Relaxed)), Ordering::Relaxed);
            }
        }),
        ..crate::xen::suspend::Hooks::EMPTY
    });

    // How far Xen's bootstrap mapping reaches: it maps whole L1 tables from
    // the start, so look for the first absent entry.
    let mut mapped = first_free_pfn;
    while mapped < nr_pages && is_mapped_by_tables(pfn_to_va(mapped)) {
        mapped += 1;
    }

    // Leave the page below the boot stack unmapped, so that an overflow of
    // the boot stack faults instead of corrupting the bss.
    let guard = crate::sym_addr!(boot_stack_guard);
    let _ = mmu::update_va_mapping(guard, 0);

    let heap = heap::init(first_free_pfn, mapped, nr_pages);
    let plan = budget::init(heap::potential_bytes());
    // What `xl save` reads first (needs the heap for the frame lists).
    let p2m = crate::xen::p2m::publish();

    Layout {
        image: (crate::sym_addr!(__image_start), crate::sym_addr!(__image_end)),
        text: (crate::sym_addr!(__text_start), crate::sym_addr!(__text_end)),
        bss: (crate::sym_addr!(__bss_start), crate::sym_addr!(__bss_end)),
        boot_stack: (crate::sym_addr!(boot_stack_bottom), crate::sym_addr!(boot_stack_top)),
        pt_base,
        nr_pt_frames: si.nr_pt_frames(),
        first_free_pfn,
        bootstrap_mapped_pfns: mapped,
        nr_pages,
        heap,
        plan,
        p2m,
    }
}

fn is_mapped_by_tables(va: u64) -> bool {
    match table_of(va, 1) {
        Some(l1) => read_pte(l1, pt_index(va, 1)) & PTE_PRESENT != 0,
        None => false,
    }
}

/// A page-aligned heap page turned into a page-table page: zeroed, mapped
/// read-only in the linear map. Returns its machine frame. Page tables are
/// never freed.
pub fn new_table_page(alloc: &mut dyn FnMut() -> Option<u64>) -> Option<u64> {
    let va = alloc()?;
    // SAFETY: `va` is a page-aligned 4 KiB block the caller just took from
    // the heap, mapped read-write and used by nothing else.
    unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE) };
    let mfn = va_to_mfn(va);
    mmu::update_va_mapping(va, (mfn << 12) | PROT_RO).ok()?;
    Some(mfn)
}

/// Total pages of the domain.
pub fn nr_pages() -> u64 {
    NR_PAGES.load(Ordering::Relaxed)
}

/// Heap statistics: (bytes mapped for the heap, bytes in use).
pub fn heap_stats() -> (usize, usize) {
    heap::stats()
}

/// Whether `va` is mapped (walks the page tables; false before [`init`]).
/// Used by the crash path before it dereferences a frame pointer.
pub fn is_va_mapped(va: u64) -> bool {
    l4_mfn() != 0 && (va >= KERNEL_BASE || stack_region::contains(va)) && is_mapped_by_tables(va)
}
