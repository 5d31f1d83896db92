//! The kernel heap: one `linked_list_allocator` heap over the linear map,
//! starting with the frames Xen mapped at boot and growing upwards a chunk
//! at a time when it runs low.
//!
//! Growth maps the next frames of the domain (in order, so the heap stays
//! contiguous) with batched `mmu_update`s; a missing L1 table is made from
//! a page-aligned block of the heap itself. It happens inside an
//! allocation, with the heap lock held: when an allocation fails, and
//! proactively when less than [`LOW_WATER`] bytes are left, so that the
//! page-table pages a growth needs can always be found.
//!
//! # Concurrency
//! The heap lock is a plain spin lock (it does not mask events): event
//! handlers never allocate or free. That is a rule, not a hope: with the
//! `lockdep` feature (or debug assertions) an allocation in an event
//! handler panics with a crash report.
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use linked_list_allocator::Heap;

use super::{ensure_l1, new_table_page, pfn_to_mfn, pfn_to_va, PAGE, PAGE_SIZE};
use crate::xen::mmu::{self, MmuUpdate, PROT_RW};

/// Grow when less than this is free after an allocation.
pub const LOW_WATER: usize = 256 << 10;
/// Map at least this much per growth.
pub const CHUNK: usize = 4 << 20;

struct KernelHeap(spin::Mutex<Heap>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(spin::Mutex::new(Heap::empty()));

/// First frame not yet mapped for the heap.
static MAPPED_END: AtomicU64 = AtomicU64::new(0);
/// The domain's last frame + 1.
static END: AtomicU64 = AtomicU64::new(0);
/// First frame of the heap.
static START: AtomicU64 = AtomicU64::new(0);
/// Growth steps taken (diagnostics).
pub static GROWTHS: AtomicU64 = AtomicU64::new(0);

fn check_context(what: &str) {
    if cfg!(any(feature = "lockdep", debug_assertions)) && crate::sync::in_upcall() {
        panic!("{} in an event handler", what);
    }
}

// SAFETY: delegates to linked_list_allocator's Heap behind a spin lock,
// which is a correct allocator; growing only adds memory after its top.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check_context("allocation");
        let mut h = self.0.lock();
        let p = match h.allocate_first_fit(layout) {
            Ok(p) => p.as_ptr(),
            Err(()) => {
                let want = layout.size().saturating_add(layout.align()).saturating_add(LOW_WATER);
                if !grow(&mut h, want) {
                    return core::ptr::null_mut();
                }
                match h.allocate_first_fit(layout) {
                    Ok(p) => p.as_ptr(),
                    Err(()) => return core::ptr::null_mut(),
                }
            }
        };
        if h.free() < LOW_WATER {
            grow(&mut h, LOW_WATER);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        check_context("free");
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: forwarded from the caller: `ptr` came from `alloc`
            // with this layout.
            unsafe { self.0.lock().deallocate(p, layout) };
        }
    }
}

/// Starts the heap on `[first_free, mapped)`; the domain has `end` frames.
/// Returns the heap's initial virtual range.
pub fn init(first_free: u64, mapped: u64, end: u64) -> (u64, u64) {
    let start = pfn_to_va(first_free);
    let top = pfn_to_va(mapped);
    START.store(first_free, Ordering::Relaxed);
    MAPPED_END.store(mapped, Ordering::Relaxed);
    END.store(end, Ordering::Relaxed);
    // SAFETY: [start, top) is mapped read-write, belongs to this domain and
    // is used by nothing else (it lies after every boot structure).
    unsafe { HEAP.0.lock().init(start as *mut u8, (top - start) as usize) };
    let mut h = HEAP.0.lock();
    if h.free() < LOW_WATER {
        grow(&mut h, LOW_WATER);
    }
    (start, top)
}

/// Bytes the heap can reach when every frame is mapped.
pub fn potential_bytes() -> usize {
    let frames = END.load(Ordering::Relaxed).saturating_sub(START.load(Ordering::Relaxed));
    // About one page in 512 becomes a page table.
    (frames - frames / 512) as usize * PAGE
}

/// (bytes mapped for the heap, bytes in use).
pub fn stats() -> (usize, usize) {
    let h = HEAP.0.lock();
    (h.size(), h.used())
}

/// Maps at least `want` more bytes (a whole [`CHUNK`] if the domain has
/// it) at the top of the heap and hands them to it. False when the domain
/// has no frames left or a page table could not be made.
fn grow(h: &mut Heap, want: usize) -> bool {
    let end = END.load(Ordering::Relaxed);
    let from = MAPPED_END.load(Ordering::Relaxed);
    if from >= end {
        return false;
    }
    let pages = (want.max(CHUNK) as u64).div_ceil(PAGE_SIZE).min(end - from);
    let to = from + pages;
    let mut batch = [MmuUpdate { ptr: 0, val: 0 }; 64];
    let mut n = 0;
    let mut pfn = from;
    let mut l1: Option<u64> = None;
    while pfn < to {
        let va = pfn_to_va(pfn);
        if l1.is_none() || super::pt_index(va, 1) == 0 {
            let mut new_table = || {
                let p = h.allocate_first_fit(Layout::from_size_align(PAGE, PAGE).ok()?).ok()?;
                Some(p.as_ptr() as u64)
            };
            // A table page is needed only where Xen's bootstrap tables end.
            let mut make = || new_table_page(&mut new_table);
            l1 = ensure_l1(va, &mut make);
            if l1.is_none() {
                break;
            }
        }
        let Some(table) = l1 else { break };
        if let Some(slot) = batch.get_mut(n) {
            *slot = MmuUpdate {
                ptr: ((table << 12) + super::pt_index(va, 1) as u64 * 8) | xen_sys::MMU_NORMAL_PT_UPDATE as u64,
                val: (pfn_to_mfn(pfn) << 12) | PROT_RW,
            };
            n += 1;
        }
        pfn += 1;
        let region_end = super::pt_index(pfn_to_va(pfn), 1) == 0;
        if n == batch.len() || pfn == to || region_end {
            if mmu::mmu_update(&mut batch[..n]).is_err() {
                // Nothing of this batch is known to be mapped.
                pfn -= n as u64;
                break;
            }
            n = 0;
        }
    }
    if pfn <= from {
        return false;
    }
    MAPPED_END.store(pfn, Ordering::Relaxed);
    GROWTHS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: [from, pfn) was just mapped read-write, directly after the
    // heap's top (the heap is contiguous in frame order), and is unused.
    unsafe { h.extend(((pfn - from) * PAGE_SIZE) as usize) };
    true
}
