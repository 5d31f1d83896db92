//! The per-process `malloc` heap.
//!
//! Memory comes from [`Sys::map_pages`](super::sys::Sys::map_pages) in
//! regions (the first 64 KiB, each later one twice the previous, at most
//! 1 MiB, or larger when one request needs it); each region is managed by a
//! first-fit [`linked_list_allocator::Heap`]. Every block starts with a
//! 16-byte header (the requested size and a check word), so `free` needs no
//! size and every pointer returned is 16-byte aligned, as glibc's are.
//! Pages are never returned to the kernel before the process ends.
//!
//! `free` of a pointer that no region holds, or whose header is not intact
//! (a double free, a pointer into the middle of a block), is reported as
//! glibc's `free(): invalid pointer` and aborts (glibc's exact message for a
//! double free, `free(): double free detected in tcache 2`, depends on its
//! tcache state and is not reproduced).
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ptr::NonNull;

use linked_list_allocator::Heap;

use super::sys::sys;

/// Bytes before every user pointer.
pub(crate) const HEADER: usize = 16;
const ALIGN: usize = 16;
const PAGE: usize = 4096;
const LIVE: u64 = 0x6d61_6c6c_6f63_2e6c;
const FREED: u64 = 0x6672_6565_642e_2e2e;
const FIRST_REGION: usize = 64 * 1024;
const MAX_REGION: usize = 1024 * 1024;

struct Region {
    start: usize,
    end: usize,
    heap: Heap,
}

/// Why `free`/`realloc` refused a pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidPointer;

/// The heap of one process.
pub(crate) struct ProcHeap {
    regions: Vec<Region>,
    next_region: usize,
}

// SAFETY: the regions are memory of the process, reached only under the
// process's heap lock; `Heap` holds raw pointers into them.
unsafe impl Send for ProcHeap {}

impl ProcHeap {
    pub(crate) const fn new() -> Self {
        ProcHeap { regions: Vec::new(), next_region: FIRST_REGION }
    }

    fn layout(size: usize) -> Option<Layout> {
        let total = size.checked_add(HEADER)?;
        if total > isize::MAX as usize / 2 {
            return None;
        }
        Layout::from_size_align(total, ALIGN).ok()
    }

    /// `malloc(size)`: a 16-byte aligned block, or None (ENOMEM).
    pub(crate) fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let layout = Self::layout(size)?;
        let block = match self.regions.iter_mut().find_map(|r| r.heap.allocate_first_fit(layout).ok()) {
            Some(b) => b,
            None => {
                self.grow(layout.size())?;
                self.regions.last_mut()?.heap.allocate_first_fit(layout).ok()?
            }
        };
        let p = block.as_ptr();
        // SAFETY: the block has room for the header (layout includes it) and
        // is 16-byte aligned.
        unsafe {
            (p as *mut u64).write(size as u64);
            (p as *mut u64).add(1).write(LIVE ^ size as u64);
            NonNull::new(p.add(HEADER))
        }
    }

    /// Maps a new region big enough for a block of `need` bytes.
    fn grow(&mut self, need: usize) -> Option<()> {
        // Room for linked_list_allocator's own alignment of the first hole.
        let need = need.checked_add(2 * ALIGN)?;
        let exact = need.checked_add(PAGE - 1)? & !(PAGE - 1);
        let size = self.next_region.max(exact);
        // When the growing region size no longer fits the budget, a region
        // of just what this request needs may still.
        let (base, size) = match sys().map_pages(size / PAGE) {
            Some(b) => (b, size),
            None if exact < size => (sys().map_pages(exact / PAGE)?, exact),
            None => return None,
        };
        let mut heap = Heap::empty();
        // SAFETY: the kernel gave us `size` bytes of zeroed read-write memory
        // that nothing else uses.
        unsafe { heap.init(base, size) };
        let start = base as usize;
        self.regions.push(Region { start, end: start.saturating_add(size), heap });
        self.next_region = (self.next_region * 2).min(MAX_REGION);
        Some(())
    }

    fn region_of(&self, p: usize) -> Option<usize> {
        self.regions.iter().position(|r| p >= r.start + HEADER && p < r.end)
    }

    /// The requested size of the live block at `p`.
    pub(crate) fn size_of(&self, p: *mut u8) -> Result<usize, InvalidPointer> {
        let addr = p as usize;
        if !addr.is_multiple_of(ALIGN) || self.region_of(addr).is_none() {
            return Err(InvalidPointer);
        }
        // SAFETY: `p` is inside one of our regions, at least HEADER bytes
        // after its start, so the header words are readable memory of ours.
        let (size, check) = unsafe {
            let h = p.sub(HEADER) as *const u64;
            (h.read(), h.add(1).read())
        };
        if check != LIVE ^ size {
            return Err(InvalidPointer);
        }
        usize::try_from(size).map_err(|_| InvalidPointer)
    }

    /// `free(p)` of a non-NULL pointer.
    pub(crate) fn free(&mut self, p: *mut u8) -> Result<(), InvalidPointer> {
        let size = self.size_of(p)?;
        let idx = self.region_of(p as usize).ok_or(InvalidPointer)?;
        let layout = Self::layout(size).ok_or(InvalidPointer)?;
        // SAFETY: the header was checked: this is a live block of this
        // region, allocated with exactly this layout.
        unsafe {
            let block = p.sub(HEADER);
            (block as *mut u64).add(1).write(FREED);
            let region = self.regions.get_mut(idx).ok_or(InvalidPointer)?;
            region.heap.deallocate(NonNull::new_unchecked(block), layout);
        }
        Ok(())
    }

    /// Whether `addr` lies in the heap (for the `%n` writable-format check).
    pub(crate) fn contains(&self, addr: usize) -> bool {
        self.regions.iter().any(|r| addr >= r.start && addr < r.end)
    }

    /// Bytes in use (headers included) and bytes mapped, for tests.
    pub(crate) fn usage(&self) -> (usize, usize) {
        self.regions.iter().fold((0, 0), |(u, m), r| (u + r.heap.used(), m + r.heap.size()))
    }
}
