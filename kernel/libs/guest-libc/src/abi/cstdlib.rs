//! `malloc` and friends over the process heap ([`super::heap`]), the
//! `strtol` family over [`crate::strtol`], and the environment.
use core::ffi::{c_char, c_int, c_long, c_longlong, c_ulong, c_ulonglong, c_void};

use crate::errno::ENOMEM;
use crate::strtol::{self, Parsed};

use super::cstr::cstr_bytes;
use super::process::DataSymbol;
use super::set_errno;
use super::start::libc_fatal;
use super::sys::sys;

/// `malloc(size)` for the libc's own users: NULL (errno ENOMEM) on failure.
pub(crate) fn malloc_impl(size: usize) -> *mut u8 {
    let p = sys().process().heap.lock().alloc(size);
    match p {
        Some(p) => p.as_ptr(),
        None => {
            set_errno(ENOMEM);
            core::ptr::null_mut()
        }
    }
}

/// A heap copy of `b` with a NUL after it (NULL on failure).
pub(crate) fn malloc_bytes(b: &[u8]) -> *mut u8 {
    let p = malloc_impl(b.len().saturating_add(1));
    if !p.is_null() {
        // SAFETY: the block has b.len() + 1 bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
            *p.add(b.len()) = 0;
        }
    }
    p
}

/// `malloc(size)`.
pub(crate) extern "C" fn malloc(size: usize) -> *mut c_void {
    malloc_impl(size) as *mut c_void
}

/// `free(p)`.
pub(crate) unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let r = sys().process().heap.lock().free(p as *mut u8);
    if r.is_err() {
        libc_fatal(b"free(): invalid pointer\n");
    }
}

/// `calloc(n, size)`.
pub(crate) extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(ENOMEM);
        return core::ptr::null_mut();
    };
    let p = malloc_impl(total);
    if !p.is_null() {
        // SAFETY: the block has `total` bytes.
        unsafe { core::ptr::write_bytes(p, 0, total) };
    }
    p as *mut c_void
}

/// `realloc(p, size)`: glibc's rules (NULL is malloc, size 0 frees and
/// returns NULL; on failure the old block stays).
pub(crate) unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: the caller's block.
        unsafe { free(p) };
        return core::ptr::null_mut();
    }
    let old = match sys().process().heap.lock().size_of(p as *mut u8) {
        Ok(n) => n,
        Err(_) => libc_fatal(b"realloc(): invalid pointer\n"),
    };
    if size <= old && size >= old / 2 {
        return p;
    }
    let n = malloc_impl(size);
    if n.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: both blocks are live and hold at least min(old, size) bytes.
    unsafe {
        core::ptr::copy_nonoverlapping(p as *const u8, n, old.min(size));
        free(p);
    }
    n as *mut c_void
}

/// `reallocarray(p, n, size)`.
pub(crate) unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: the caller's block.
        Some(t) => unsafe { realloc(p, t) },
        None => {
            set_errno(ENOMEM);
            core::ptr::null_mut()
        }
    }
}

/// `malloc_usable_size(p)`.
pub(crate) unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    sys().process().heap.lock().size_of(p as *mut u8).unwrap_or(0)
}

/// Applies a `Parsed` result: `*endptr` and errno.
///
/// # Safety
/// `endptr` is NULL or points to a `char *`; `s` is the parsed string.
unsafe fn finish<T>(s: *const c_char, endptr: *mut *mut c_char, r: Parsed<T>) -> T {
    if let (Some(end), false) = (r.end, endptr.is_null()) {
        // SAFETY: guaranteed by the caller.
        unsafe { *endptr = s.wrapping_add(end) as *mut c_char };
    }
    if let Some(e) = r.errno {
        set_errno(e);
    }
    r.value
}

/// `strtol(s, endptr, base)`.
pub(crate) unsafe extern "C" fn strtol(s: *const c_char, endptr: *mut *mut c_char, base: c_int) -> c_long {
    // SAFETY: `s` is a C string; `endptr` the caller's.
    unsafe { finish(s, endptr, strtol::strtol(cstr_bytes(s as *const u8), base)) }
}

/// `strtoul(s, endptr, base)`.
pub(crate) unsafe extern "C" fn strtoul(s: *const c_char, endptr: *mut *mut c_char, base: c_int) -> c_ulong {
    // SAFETY: as in strtol.
    unsafe { finish(s, endptr, strtol::strtoul(cstr_bytes(s as *const u8), base)) }
}

/// `strtoll(s, endptr, base)`.
pub(crate) unsafe extern "C" fn strtoll(s: *const c_char, endptr: *mut *mut c_char, base: c_int) -> c_longlong {
    // SAFETY: as in strtol.
    unsafe { finish(s, endptr, strtol::strtoll(cstr_bytes(s as *const u8), base)) }
}

/// `strtoull(s, endptr, base)`.
pub(crate) unsafe extern "C" fn strtoull(s: *const c_char, endptr: *mut *mut c_char, base: c_int) -> c_ulonglong {
    // SAFETY: as in strtol.
    unsafe { finish(s, endptr, strtol::strtoull(cstr_bytes(s as *const u8), base)) }
}

/// `atoi(s)`.
pub(crate) unsafe extern "C" fn atoi(s: *const c_char) -> c_int {
    // SAFETY: `s` is a C string.
    unsafe { finish(s, core::ptr::null_mut(), strtol::atoi(cstr_bytes(s as *const u8))) }
}

/// `atol(s)` / `atoll(s)`.
pub(crate) unsafe extern "C" fn atol(s: *const c_char) -> c_long {
    // SAFETY: `s` is a C string.
    unsafe { finish(s, core::ptr::null_mut(), strtol::strtol(cstr_bytes(s as *const u8), 10)) }
}

/// The value of the environment variable `name` (the bytes after `name=`
/// of the first entry of `environ` that starts so), as a C pointer.
pub(crate) fn env_lookup(name: &[u8]) -> Option<*mut c_char> {
    if name.is_empty() {
        return None;
    }
    let mut ep = sys().process().read_ptr(DataSymbol::Environ) as *const *mut c_char;
    if ep.is_null() {
        return None;
    }
    loop {
        // SAFETY: environ is a NULL-terminated array of C strings.
        let e = unsafe { *ep };
        if e.is_null() {
            return None;
        }
        // SAFETY: `e` is a C string.
        let entry = unsafe { cstr_bytes(e as *const u8) };
        if entry.len() > name.len() && entry.starts_with(name) && entry.get(name.len()) == Some(&b'=') {
            return Some(e.wrapping_add(name.len() + 1));
        }
        ep = ep.wrapping_add(1);
    }
}

/// `getenv(name)` (also `secure_getenv`).
pub(crate) unsafe extern "C" fn getenv(name: *const c_char) -> *mut c_char {
    // SAFETY: `name` is a C string.
    let n = unsafe { cstr_bytes(name as *const u8) };
    env_lookup(n).unwrap_or_default()
}

/// `strdup(s)` (also `__strdup`).
pub(crate) unsafe extern "C" fn strdup(s: *const c_char) -> *mut c_char {
    // SAFETY: `s` is a C string.
    malloc_bytes(unsafe { cstr_bytes(s as *const u8) }) as *mut c_char
}

/// `strndup(s, n)`.
pub(crate) unsafe extern "C" fn strndup(s: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: `s` is a string of at least n bytes or NUL-terminated.
    let b = unsafe { super::cstr::cstr_bytes_max(s as *const u8, n) };
    malloc_bytes(b) as *mut c_char
}
