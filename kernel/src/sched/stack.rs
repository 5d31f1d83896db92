//! Thread stacks: page-aligned heap blocks whose lowest page is unmapped as
//! a guard while the stack is in use.
use alloc::alloc::{alloc, dealloc, Layout};

use crate::mm::{pfn_to_mfn, va_to_pfn, PAGE_SIZE};
use crate::xen::mmu::{self, PROT_RW};

/// A stack with a guard page below it.
pub struct Stack {
    base: u64,
    layout: Layout,
}

// SAFETY: a Stack is plain memory owned by one thread record.
unsafe impl Send for Stack {}

impl Stack {
    /// Allocates `size` bytes (rounded up to pages) plus a guard page.
    pub fn new(size: usize) -> Option<Stack> {
        let pages = size.div_ceil(PAGE_SIZE as usize).max(1);
        let layout = Layout::from_size_align((pages + 1) * PAGE_SIZE as usize, PAGE_SIZE as usize).ok()?;
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            return None;
        }
        let base = p as u64;
        // Unmap the guard page; a failure only loses the guard.
        let _ = mmu::update_va_mapping(base, 0);
        Some(Stack { base, layout })
    }

    /// The initial stack pointer (16-byte aligned).
    pub fn top(&self) -> u64 {
        self.base + self.layout.size() as u64
    }

    /// The guard page's address.
    pub fn guard(&self) -> u64 {
        self.base
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Map the guard page back before the memory returns to the heap.
        let mfn = pfn_to_mfn(va_to_pfn(self.base));
        let _ = mmu::update_va_mapping(self.base, (mfn << 12) | PROT_RW);
        // SAFETY: allocated in `new` with this layout, and no thread runs on
        // it any more (reaped after its thread switched away for good).
        unsafe { dealloc(self.base as *mut u8, self.layout) };
    }
}
