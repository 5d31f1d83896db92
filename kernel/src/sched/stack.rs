//! Thread stacks: slots of the stack region (`mm::stack_region`) with an
//! unmapped guard page below, backed by heap pages and charged to the
//! stacks budget.
use kcore::budget::Charge;

use crate::mm::budget::STACKS;
use crate::mm::stack_region::MappedStack;

/// Bookkeeping charged per thread beyond its stack pages (the thread
/// record, its name, the page list).
pub const THREAD_OVERHEAD: usize = 512;

/// A stack with a guard page below it.
pub struct Stack {
    mapped: MappedStack,
    _charge: Charge,
}

impl Stack {
    /// Maps `size` bytes (rounded up to pages). `None` when the stacks
    /// budget, the region's slots or memory are exhausted.
    pub fn new(size: usize) -> Option<Stack> {
        let pages = size.div_ceil(crate::mm::PAGE).max(1);
        let charge = STACKS.try_charge(pages * crate::mm::PAGE + THREAD_OVERHEAD).ok()?;
        let mapped = MappedStack::new(size)?;
        Some(Stack { mapped, _charge: charge })
    }

    /// The initial stack pointer (16-byte aligned).
    pub fn top(&self) -> u64 {
        self.mapped.top()
    }

    /// The guard page's address (never mapped).
    pub fn guard(&self) -> u64 {
        self.mapped.guard()
    }
}
