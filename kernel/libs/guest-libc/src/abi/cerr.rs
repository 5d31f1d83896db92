//! `err`, `errx`, `warn`, `warnx` and their `v` forms, over
//! [`crate::err`]: the pieces go to `stderr` one `write` each, prefixed
//! with `program_invocation_short_name`; `err`/`errx` then `exit`.
use core::ffi::{c_char, c_int};

use crate::err;

use super::cstdio::stderr_pieces;
use super::cstr::cstr_bytes;
use super::start::exit;
use super::sys::sys;
use super::thread::td;
use super::valist::{CArgs, VaListTag, VaReader};

/// The user's text, formatted with the errno of entry (None for NULL).
///
/// # Safety
/// `fmt` is NULL or a C string matching the arguments.
unsafe fn text(fmt: *const c_char, va: VaReader, errno: i32) -> Option<alloc::vec::Vec<u8>> {
    if fmt.is_null() {
        return None;
    }
    // SAFETY: `fmt` is a C string.
    let f = unsafe { cstr_bytes(fmt as *const u8) };
    Some(err::format_text(f, &mut CArgs { va }, errno))
}

/// `vwarn` / `vwarnx` (`with_errno` selects).
///
/// # Safety
/// As [`text`].
unsafe fn warn_impl(with_errno: bool, fmt: *const c_char, va: VaReader) {
    let errno = td().errno();
    // SAFETY: guaranteed by the caller.
    let t = unsafe { text(fmt, va, errno) };
    let prog = sys().process().progname();
    let pieces = if with_errno { err::warn(&prog, t.as_deref(), errno) } else { err::warnx(&prog, t.as_deref()) };
    stderr_pieces(&pieces);
}

/// `warn(fmt, ...)`.
pub(crate) unsafe extern "C" fn warn(fmt: *const c_char, mut args: ...) {
    // SAFETY: our own variadic list; the caller's format.
    unsafe { warn_impl(true, fmt, VaReader::from_rust(&mut args)) }
}

/// `warnx(fmt, ...)`.
pub(crate) unsafe extern "C" fn warnx(fmt: *const c_char, mut args: ...) {
    // SAFETY: as in warn.
    unsafe { warn_impl(false, fmt, VaReader::from_rust(&mut args)) }
}

/// `vwarn(fmt, ap)`.
pub(crate) unsafe extern "C" fn vwarn(fmt: *const c_char, ap: *mut VaListTag) {
    // SAFETY: the caller's va_list and format.
    unsafe { warn_impl(true, fmt, VaReader::from_c(ap)) }
}

/// `vwarnx(fmt, ap)`.
pub(crate) unsafe extern "C" fn vwarnx(fmt: *const c_char, ap: *mut VaListTag) {
    // SAFETY: as in vwarn.
    unsafe { warn_impl(false, fmt, VaReader::from_c(ap)) }
}

/// `err(status, fmt, ...)`.
pub(crate) unsafe extern "C" fn err(status: c_int, fmt: *const c_char, mut args: ...) -> ! {
    // SAFETY: as in warn.
    unsafe { warn_impl(true, fmt, VaReader::from_rust(&mut args)) };
    exit(status)
}

/// `errx(status, fmt, ...)`.
pub(crate) unsafe extern "C" fn errx(status: c_int, fmt: *const c_char, mut args: ...) -> ! {
    // SAFETY: as in warn.
    unsafe { warn_impl(false, fmt, VaReader::from_rust(&mut args)) };
    exit(status)
}

/// `verr(status, fmt, ap)`.
pub(crate) unsafe extern "C" fn verr(status: c_int, fmt: *const c_char, ap: *mut VaListTag) -> ! {
    // SAFETY: as in vwarn.
    unsafe { warn_impl(true, fmt, VaReader::from_c(ap)) };
    exit(status)
}

/// `verrx(status, fmt, ap)`.
pub(crate) unsafe extern "C" fn verrx(status: c_int, fmt: *const c_char, ap: *mut VaListTag) -> ! {
    // SAFETY: as in vwarn.
    unsafe { warn_impl(false, fmt, VaReader::from_c(ap)) };
    exit(status)
}
