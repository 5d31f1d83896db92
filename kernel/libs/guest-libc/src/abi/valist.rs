//! Reading C variable arguments through the SysV x86_64 `va_list` layout.
//!
//! A `va_list` is an array of one `struct __va_list_tag { unsigned
//! gp_offset; unsigned fp_offset; void *overflow_arg_area; void
//! *reg_save_area; }`; a function taking a `va_list` receives a pointer to
//! it. The register save area holds the six integer argument registers
//! (offsets 0..48) and then the eight `xmm` registers (48..176, 16 bytes
//! each); arguments beyond the registers are in the overflow area, 8 bytes
//! each (16-byte aligned for `long double`).
//!
//! Two sources are read the same way:
//!
//! * a C `va_list` (`VaReader::from_c`, for `__vsnprintf_chk` and the
//!   other `v*` functions): built by the C caller's prologue, which saved the
//!   `xmm` registers when the caller of *that* function passed any, so
//!   floating-point arguments are read exactly;
//! * the `...` of our own variadic functions (`VaReader::from_rust`).
//!   Rust lays its `VaList` out as the same `__va_list_tag`. On the kernel
//!   target (`x86_64-unknown-none`, soft-float) the prologue saves only the
//!   integer registers, so a `double` passed in an `xmm` register cannot be
//!   read: it reads as 0.0 (the register slot is skipped, so the arguments
//!   after it stay in step, and doubles passed on the stack, the ninth and
//!   later, are read correctly). `long double` is always passed in memory
//!   and is read exactly. The Debian objects never pass floating-point
//!   arguments to the libc. On the host (tests) the `xmm` registers are
//!   saved and everything is read exactly.
//!
//! Reading more arguments than the caller passed returns whatever is in the
//! save area or on the stack, as in C (undefined behaviour there).
use core::ffi::VaList;

use crate::printf::{self, CountSize, LongDouble};

use super::cstr::{cstr_bytes, cstr_bytes_max};

/// `struct __va_list_tag`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VaListTag {
    gp_offset: u32,
    fp_offset: u32,
    overflow_arg_area: *mut u8,
    reg_save_area: *mut u8,
}

/// End of the integer part of the register save area.
const GP_END: u32 = 48;
/// End of the `xmm` part of the register save area.
const FP_END: u32 = 176;

/// A cursor over variable arguments (a private copy of the `va_list`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct VaReader {
    tag: VaListTag,
    /// The `xmm` registers are in the save area.
    fp_saved: bool,
}

impl VaReader {
    /// A cursor over the `...` of a Rust variadic function.
    ///
    /// # Safety
    /// `ap` must be the unread list of the current function.
    pub(crate) unsafe fn from_rust(ap: &mut VaList<'_>) -> VaReader {
        let p = ap as *mut VaList<'_> as *const VaListTag;
        // SAFETY: on x86_64 SysV `VaList` is `repr(transparent)` over a
        // `repr(C)` struct with exactly the fields of `__va_list_tag`.
        let mut tag = unsafe { *p };
        let fp_saved = cfg!(target_feature = "sse");
        if !fp_saved {
            // The soft-float prologue saved no xmm registers; the C caller
            // still passed the first eight doubles in them (our fixed
            // arguments never use xmm registers, so none is consumed).
            tag.fp_offset = GP_END;
        }
        VaReader { tag, fp_saved }
    }

    /// A cursor over a C `va_list` argument.
    ///
    /// # Safety
    /// `ap` must point to a valid, initialised `__va_list_tag`.
    pub(crate) unsafe fn from_c(ap: *const VaListTag) -> VaReader {
        // SAFETY: guaranteed by the caller.
        let tag = unsafe { *ap };
        VaReader { tag, fp_saved: true }
    }

    /// `va_arg(ap, long)` and every other INTEGER-class argument.
    pub(crate) fn gp(&mut self) -> u64 {
        if self.tag.gp_offset < GP_END {
            let off = self.tag.gp_offset as usize;
            self.tag.gp_offset += 8;
            // SAFETY: the save area holds the six integer registers; the
            // offset is below 48 and 8-aligned.
            unsafe { (self.tag.reg_save_area.add(off) as *const u64).read_unaligned() }
        } else {
            self.overflow_u64()
        }
    }

    fn overflow_u64(&mut self) -> u64 {
        let p = self.tag.overflow_arg_area;
        // SAFETY: the overflow area is the caller's stack argument area; an
        // argument the caller passed is there (reading one it did not pass
        // reads its stack, as C does).
        let v = unsafe { (p as *const u64).read_unaligned() };
        self.tag.overflow_arg_area = p.wrapping_add(8);
        v
    }

    /// `va_arg(ap, double)`, as raw bits.
    pub(crate) fn fp_bits(&mut self) -> u64 {
        if self.tag.fp_offset < FP_END {
            let off = self.tag.fp_offset as usize;
            self.tag.fp_offset += 16;
            if !self.fp_saved {
                return 0;
            }
            // SAFETY: the save area holds the xmm registers at 48..176.
            unsafe { (self.tag.reg_save_area.add(off) as *const u64).read_unaligned() }
        } else {
            self.overflow_u64()
        }
    }

    /// `va_arg(ap, long double)`: always in memory, 16-byte aligned.
    pub(crate) fn long_double(&mut self) -> LongDouble {
        let p = self.tag.overflow_arg_area as usize;
        let p = (p.wrapping_add(15) & !15) as *const u8;
        // SAFETY: an x87 long double occupies 16 bytes of the argument area.
        let (mantissa, sign_exp) =
            unsafe { ((p as *const u64).read_unaligned(), (p.add(8) as *const u16).read_unaligned()) };
        self.tag.overflow_arg_area = p.wrapping_add(16) as *mut u8;
        LongDouble { mantissa, sign_exp }
    }
}

/// The printf engine's argument source over a [`VaReader`].
pub(crate) struct CArgs {
    pub(crate) va: VaReader,
}

impl printf::Args for CArgs {
    fn int(&mut self) -> i32 {
        self.va.gp() as u32 as i32
    }
    fn long(&mut self) -> i64 {
        self.va.gp() as i64
    }
    fn ptr(&mut self) -> u64 {
        self.va.gp()
    }
    fn double(&mut self) -> f64 {
        f64::from_bits(self.va.fp_bits())
    }
    fn long_double(&mut self) -> LongDouble {
        self.va.long_double()
    }
    fn c_str(&self, addr: u64, max: Option<usize>) -> &[u8] {
        let p = addr as usize as *const u8;
        // SAFETY: printf's contract: a `%s` argument points to a string that
        // is NUL-terminated or at least `max` bytes long (never NULL here).
        unsafe {
            match max {
                Some(m) => cstr_bytes_max(p, m),
                None => cstr_bytes(p),
            }
        }
    }
    fn wide_char(&self, addr: u64, index: usize) -> i32 {
        let p = (addr as usize as *const i32).wrapping_add(index);
        // SAFETY: `%ls` points to a wchar_t array the engine reads up to its
        // terminator (or the precision).
        unsafe { p.read_unaligned() }
    }
    fn store_count(&mut self, addr: u64, size: CountSize, value: i64) {
        let p = addr as usize;
        // SAFETY: `%n`'s argument points to an object of the size its length
        // modifier names.
        unsafe {
            match size {
                CountSize::Char => (p as *mut i8).write_unaligned(value as i8),
                CountSize::Short => (p as *mut i16).write_unaligned(value as i16),
                CountSize::Int => (p as *mut i32).write_unaligned(value as i32),
                CountSize::Long => (p as *mut i64).write_unaligned(value),
            }
        }
    }
}
