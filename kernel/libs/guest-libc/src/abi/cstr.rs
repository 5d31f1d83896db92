//! C strings and buffers as slices.
//!
//! Every function here trusts the C caller as C's own functions do: a
//! `char *` handed to the libc points to a NUL-terminated string, a
//! `(buf, len)` pair to `len` accessible bytes. The slices live as long as
//! the caller says (the C object outlives the libc call).

/// Linux's `MAX_RW_COUNT`: the most one `read`/`write` transfers.
pub(crate) const MAX_RW_COUNT: usize = 0x7fff_f000;

/// `strlen(p)`.
///
/// # Safety
/// `p` points to a NUL-terminated string.
pub(crate) unsafe fn strlen(p: *const u8) -> usize {
    let mut n = 0usize;
    // SAFETY: the bytes up to and including the NUL are readable.
    while unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    n
}

/// `strnlen(p, max)`.
///
/// # Safety
/// `p` points to a string NUL-terminated or at least `max` bytes long.
pub(crate) unsafe fn strnlen(p: *const u8, max: usize) -> usize {
    let mut n = 0usize;
    // SAFETY: bytes before the NUL or before `max` are readable.
    while n < max && unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    n
}

/// The bytes of the C string at `p`, without the NUL.
///
/// # Safety
/// As [`strlen`]; the string must stay unchanged while the slice is used.
pub(crate) unsafe fn cstr_bytes<'a>(p: *const u8) -> &'a [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(p, strlen(p)) }
}

/// The bytes of the C string at `p`, at most `max` of them.
///
/// # Safety
/// As [`strnlen`].
pub(crate) unsafe fn cstr_bytes_max<'a>(p: *const u8, max: usize) -> &'a [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(p, strnlen(p, max)) }
}

/// The C string at `p`, or None for NULL.
///
/// # Safety
/// `p` is NULL or as for [`cstr_bytes`].
pub(crate) unsafe fn opt_cstr<'a>(p: *const u8) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: guaranteed by the caller.
        Some(unsafe { cstr_bytes(p) })
    }
}

/// `len` bytes at `p` (an empty slice for a zero length, whatever `p`).
///
/// # Safety
/// When `len > 0`, `p` points to `len` readable bytes.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || p.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { core::slice::from_raw_parts(p, len) }
    }
}

/// `len` writable bytes at `p`.
///
/// # Safety
/// When `len > 0`, `p` points to `len` writable bytes not otherwise borrowed.
pub(crate) unsafe fn bytes_mut<'a>(p: *mut u8, len: usize) -> &'a mut [u8] {
    if len == 0 || p.is_null() {
        &mut []
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { core::slice::from_raw_parts_mut(p, len) }
    }
}
