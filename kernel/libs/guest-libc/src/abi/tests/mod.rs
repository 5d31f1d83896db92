//! Host tests of the C ABI: every test runs a "program" on the mock kernel
//! ([`mock`]) and calls the `extern "C"` functions through the C calling
//! convention (variadic ones included), then checks exact bytes, values,
//! errno and exit statuses.

mod files;
mod heap;
mod misc;
mod mock;
mod printf;
mod stdio;
mod symbols;
mod threads;
mod xenstore;

use core::ffi::{c_char, c_int};

/// The calling thread's errno (inside a program).
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *crate::abi::start::errno_location() }
}

/// Sets the calling thread's errno.
pub(crate) fn set_errno(e: c_int) {
    crate::abi::set_errno(e)
}

/// A C string pointer for a `c"..."` literal.
pub(crate) fn p(s: &core::ffi::CStr) -> *const c_char {
    s.as_ptr()
}

/// The bytes of a C string.
pub(crate) fn bytes_of(s: *const c_char) -> Vec<u8> {
    // SAFETY: tests pass valid C strings.
    unsafe { core::ffi::CStr::from_ptr(s) }.to_bytes().to_vec()
}
