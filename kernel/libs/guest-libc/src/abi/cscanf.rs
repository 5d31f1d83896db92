//! `__isoc99_sscanf` (and `sscanf`, `vsscanf`) over [`crate::scanf`]: the
//! targets are the `va_list`'s pointers (argument N of `%N$` is found by
//! skipping N-1 pointers from the start). `%ms`-style allocations come from
//! the process heap (the program frees them). The floating conversions the
//! engine does not implement end the call, which returns the assignments
//! made so far.
use core::ffi::{c_char, c_int};

use crate::scanf::{self, IntSize, StoreError, Stores, Target, Text};

use super::cstdlib::malloc_impl;
use super::cstr::cstr_bytes;
use super::set_errno;
use super::valist::{VaListTag, VaReader};

struct CStores {
    va: VaReader,
    start: VaReader,
    /// The target of the string conversion begun last, and its `m` flag.
    pending: (usize, bool),
}

impl CStores {
    fn target(&mut self, t: Target) -> usize {
        match t {
            Target::Next => self.va.gp() as usize,
            Target::Pos(n) => {
                let mut r = self.start;
                for _ in 1..n {
                    r.gp();
                }
                r.gp() as usize
            }
        }
    }
}

impl Stores for CStores {
    fn store_int(&mut self, target: Target, size: IntSize, value: u64) {
        let p = self.target(target);
        if p == 0 {
            return;
        }
        // SAFETY: scanf's contract: the target points to an object of the
        // size the length modifier names.
        unsafe {
            match size {
                IntSize::Char => (p as *mut u8).write_unaligned(value as u8),
                IntSize::Short => (p as *mut u16).write_unaligned(value as u16),
                IntSize::Int => (p as *mut u32).write_unaligned(value as u32),
                IntSize::Long => (p as *mut u64).write_unaligned(value),
            }
        }
    }

    fn begin_string(&mut self, target: Target, _wide: bool, alloc: bool) -> Result<(), StoreError> {
        let p = self.target(target);
        if p == 0 {
            return Err(StoreError::NullTarget);
        }
        self.pending = (p, alloc);
        Ok(())
    }

    fn finish_string(&mut self, text: Text<'_>, terminate: bool) -> Result<(), StoreError> {
        let (target, alloc) = self.pending;
        let (unit, count) = match text {
            Text::Bytes(b) => (1usize, b.len()),
            Text::Wide(w) => (4usize, w.len()),
        };
        let total = count.saturating_add(usize::from(terminate)).saturating_mul(unit);
        let dst = if alloc {
            let m = malloc_impl(total.max(1));
            if m.is_null() {
                return Err(StoreError::NoMemory);
            }
            // SAFETY: with `m`, the target is a `char **`.
            unsafe { (target as *mut usize).write_unaligned(m as usize) };
            m
        } else {
            target as *mut u8
        };
        // SAFETY: the destination has room for the text (scanf's contract,
        // or the block just allocated).
        unsafe {
            match text {
                Text::Bytes(b) => {
                    core::ptr::copy_nonoverlapping(b.as_ptr(), dst, b.len());
                    if terminate {
                        *dst.add(b.len()) = 0;
                    }
                }
                Text::Wide(w) => {
                    let d = dst as *mut u32;
                    for (i, &c) in w.iter().enumerate() {
                        d.add(i).write_unaligned(c);
                    }
                    if terminate {
                        d.add(w.len()).write_unaligned(0);
                    }
                }
            }
        }
        Ok(())
    }
}

/// # Safety
/// C strings and a matching argument list.
unsafe fn vsscanf_impl(s: *const c_char, fmt: *const c_char, va: VaReader) -> c_int {
    // SAFETY: C strings.
    let (input, format) = unsafe { (cstr_bytes(s as *const u8), cstr_bytes(fmt as *const u8)) };
    let mut st = CStores { va, start: va, pending: (0, false) };
    match scanf::sscanf(input, format, &mut st) {
        Ok(r) => {
            if let Some(e) = r.errno {
                set_errno(e);
            }
            r.ret
        }
        Err(scanf::ScanError::Unsupported { done }) => done,
    }
}

/// `__isoc99_sscanf(s, fmt, ...)` (also `sscanf`).
pub(crate) unsafe extern "C" fn sscanf(s: *const c_char, fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: our own list; the caller's strings.
    unsafe { vsscanf_impl(s, fmt, VaReader::from_rust(&mut args)) }
}

/// `__isoc99_vsscanf(s, fmt, ap)` (also `vsscanf`).
pub(crate) unsafe extern "C" fn vsscanf(s: *const c_char, fmt: *const c_char, ap: *mut VaListTag) -> c_int {
    // SAFETY: the caller's va_list and strings.
    unsafe { vsscanf_impl(s, fmt, VaReader::from_c(ap)) }
}
