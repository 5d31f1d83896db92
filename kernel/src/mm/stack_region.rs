//! The thread-stack region: 1 GiB of address space just below the kernel
//! image, cut into [`SLOT`]-sized slots. A stack of `n` pages occupies the
//! top `n` pages of a slot, each backed by a heap page mapped there; the page
//! below it stays unmapped as the guard (address space only, no memory), so
//! an overflow faults with a crash report instead of corrupting a neighbour.
//!
//! # Concurrency
//! `SLOTS` (a `ThreadLock`) protects the slot bitmap; page-table updates
//! for a slot are made by the thread that owns it.
use alloc::vec::Vec;
use core::alloc::Layout;

use super::{ensure_l1, new_table_page, va_to_mfn, PAGE, PAGE_SIZE};
use crate::sync::ThreadLock;
use crate::xen::mmu::{self, MmuUpdate, PROT_RW};

/// Start of the region (L3 slot 509 of the top L4 entry).
pub const BASE: u64 = 0xffff_ffff_4000_0000;
/// Size of the region.
pub const SIZE: u64 = 1 << 30;
/// Address space per stack: at most `SLOT / 4096 - 1` pages of stack.
pub const SLOT: u64 = 256 << 10;
/// Number of slots.
const SLOTS_N: usize = (SIZE / SLOT) as usize;

/// Largest stack a slot holds.
pub const MAX_STACK: usize = (SLOT - PAGE_SIZE) as usize;

static SLOTS: ThreadLock<[u64; SLOTS_N / 64]> = ThreadLock::new("mm.stack_slots", [0; SLOTS_N / 64]);

/// Whether `va` lies in the region.
pub fn contains(va: u64) -> bool {
    (BASE..BASE + SIZE).contains(&va)
}

fn take_slot() -> Option<usize> {
    let mut bits = SLOTS.lock();
    let (w, b) = bits.iter().enumerate().find_map(|(i, w)| (*w != u64::MAX).then(|| (i, w.trailing_ones())))?;
    if let Some(word) = bits.get_mut(w) {
        *word |= 1u64 << b;
    }
    Some(w * 64 + b as usize)
}

fn free_slot(slot: usize) {
    let mut bits = SLOTS.lock();
    if let Some(w) = bits.get_mut(slot / 64) {
        *w &= !(1u64 << (slot % 64));
    }
}

/// A mapped stack: its slot and the heap pages behind it.
pub struct MappedStack {
    slot: usize,
    pages: Vec<u64>,
}

fn page_layout() -> Layout {
    // 4096 is a power of two and a valid size: this cannot fail.
    Layout::from_size_align(PAGE, PAGE).unwrap_or(Layout::new::<u8>())
}

impl MappedStack {
    /// Maps a stack of `bytes` (rounded up to pages, at most [`MAX_STACK`]).
    /// `None` when no slot or no memory is left (nothing is kept then).
    pub fn new(bytes: usize) -> Option<MappedStack> {
        let npages = bytes.div_ceil(PAGE).max(1);
        if npages * PAGE > MAX_STACK {
            return None;
        }
        let slot = take_slot()?;
        let top = BASE + (slot as u64 + 1) * SLOT;
        let mut pages: Vec<u64> = Vec::new();
        let mut batch: Vec<MmuUpdate> = Vec::new();
        let ok = pages.try_reserve_exact(npages).is_ok()
            && batch.try_reserve_exact(npages).is_ok()
            && {
                let mut ok = true;
                for i in 0..npages {
                    // SAFETY: a non-zero-sized, page-aligned layout.
                    let p = unsafe { alloc::alloc::alloc(page_layout()) };
                    if p.is_null() {
                        ok = false;
                        break;
                    }
                    pages.push(p as u64);
                    let va = top - (i as u64 + 1) * PAGE_SIZE;
                    let mut make = || {
                        new_table_page(&mut || {
                            // SAFETY: as above.
                            let t = unsafe { alloc::alloc::alloc(page_layout()) };
                            (!t.is_null()).then_some(t as u64)
                        })
                    };
                    let Some(l1) = ensure_l1(va, &mut make) else {
                        ok = false;
                        break;
                    };
                    batch.push(MmuUpdate {
                        ptr: ((l1 << 12) + super::pt_index(va, 1) as u64 * 8) | xen_sys::MMU_NORMAL_PT_UPDATE as u64,
                        val: (va_to_mfn(p as u64) << 12) | PROT_RW | mmu::nx(),
                    });
                }
                ok
            }
            && mmu::mmu_update_flush(&mut batch).is_ok();
        if !ok {
            for p in pages {
                // SAFETY: allocated above with this layout; never mapped in
                // the slot (the batch was not applied).
                unsafe { alloc::alloc::dealloc(p as *mut u8, page_layout()) };
            }
            free_slot(slot);
            return None;
        }
        Some(MappedStack { slot, pages })
    }

    /// The initial stack pointer (16-byte aligned): the top of the slot.
    pub fn top(&self) -> u64 {
        BASE + (self.slot as u64 + 1) * SLOT
    }

    /// The lowest mapped address.
    pub fn bottom(&self) -> u64 {
        self.top() - self.pages.len() as u64 * PAGE_SIZE
    }

    /// The guard page's address (unmapped).
    pub fn guard(&self) -> u64 {
        self.bottom() - PAGE_SIZE
    }
}

impl Drop for MappedStack {
    fn drop(&mut self) {
        let top = self.top();
        let mut unmap: Vec<MmuUpdate> = Vec::new();
        if unmap.try_reserve_exact(self.pages.len()).is_ok() {
            for i in 0..self.pages.len() {
                let va = top - (i as u64 + 1) * PAGE_SIZE;
                if let Some(e) = super::l1_entry_maddr(va) {
                    unmap.push(MmuUpdate { ptr: e | xen_sys::MMU_NORMAL_PT_UPDATE as u64, val: 0 });
                }
            }
        }
        // Flushed: a stale translation would reach the freed frames.
        let unmapped = unmap.len() == self.pages.len() && mmu::mmu_update_flush(&mut unmap).is_ok();
        if unmapped {
            for p in self.pages.drain(..) {
                // SAFETY: allocated in `new` with this layout; its second
                // mapping (in the slot) was just removed.
                unsafe { alloc::alloc::dealloc(p as *mut u8, page_layout()) };
            }
        }
        // Pages still mapped in the slot are leaked with the slot, never
        // reused while another mapping could reach them.
        if unmapped {
            free_slot(self.slot);
        } else {
            crate::warn!("mm: could not unmap stack slot {}; its {} pages are kept", self.slot, self.pages.len());
        }
    }
}
