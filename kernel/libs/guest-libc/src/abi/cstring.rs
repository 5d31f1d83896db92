//! The `<string.h>` functions (and `strerror`), over raw C memory.
//!
//! Comparisons are of `unsigned char`s, as in glibc; the case-insensitive
//! ones and `strcoll` follow the C locale (ASCII).
use core::ffi::{c_char, c_int, c_void};

use crate::errno::{EINVAL, ERANGE};
use crate::strerror::strerror as strerror_text;

use super::cstr::{strlen, strnlen};
use super::sys::sys;

/// `memcpy(dst, src, n)`.
pub(crate) unsafe extern "C" fn memcpy(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: C's contract: n bytes readable at src, writable at dst, no
    // overlap.
    unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, n) };
    dst
}

/// `mempcpy(dst, src, n)`.
pub(crate) unsafe extern "C" fn mempcpy(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: as in memcpy.
    unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, n) };
    (dst as *mut u8).wrapping_add(n) as *mut c_void
}

/// `memmove(dst, src, n)`.
pub(crate) unsafe extern "C" fn memmove(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: n bytes readable at src and writable at dst (may overlap).
    unsafe { core::ptr::copy(src as *const u8, dst as *mut u8, n) };
    dst
}

/// `memset(dst, c, n)`.
pub(crate) unsafe extern "C" fn memset(dst: *mut c_void, c: c_int, n: usize) -> *mut c_void {
    // SAFETY: n writable bytes at dst.
    unsafe { core::ptr::write_bytes(dst as *mut u8, c as u8, n) };
    dst
}

/// `bzero(dst, n)`.
pub(crate) unsafe extern "C" fn bzero(dst: *mut c_void, n: usize) {
    // SAFETY: n writable bytes at dst.
    unsafe { core::ptr::write_bytes(dst as *mut u8, 0, n) };
}

/// `memcmp(a, b, n)` (also `bcmp`).
pub(crate) unsafe extern "C" fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
    let (a, b) = (a as *const u8, b as *const u8);
    for i in 0..n {
        // SAFETY: n readable bytes at both.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return c_int::from(x) - c_int::from(y);
        }
    }
    0
}

/// `memchr(s, c, n)`.
pub(crate) unsafe extern "C" fn memchr(s: *const c_void, c: c_int, n: usize) -> *mut c_void {
    let s = s as *const u8;
    for i in 0..n {
        // SAFETY: n readable bytes at s (memchr stops at the first match).
        if unsafe { *s.add(i) } == c as u8 {
            return s.wrapping_add(i) as *mut c_void;
        }
    }
    core::ptr::null_mut()
}

/// `memrchr(s, c, n)`.
pub(crate) unsafe extern "C" fn memrchr(s: *const c_void, c: c_int, n: usize) -> *mut c_void {
    let s = s as *const u8;
    for i in (0..n).rev() {
        // SAFETY: n readable bytes at s.
        if unsafe { *s.add(i) } == c as u8 {
            return s.wrapping_add(i) as *mut c_void;
        }
    }
    core::ptr::null_mut()
}

/// `strlen(s)`.
pub(crate) unsafe extern "C" fn c_strlen(s: *const c_char) -> usize {
    // SAFETY: `s` is a C string.
    unsafe { strlen(s as *const u8) }
}

/// `strnlen(s, n)`.
pub(crate) unsafe extern "C" fn c_strnlen(s: *const c_char, n: usize) -> usize {
    // SAFETY: `s` is NUL-terminated or n bytes long.
    unsafe { strnlen(s as *const u8, n) }
}

/// Compares up to `n` bytes of two strings as `unsigned char`s, mapping
/// each through `map`.
///
/// # Safety
/// `a` and `b` are C strings (or at least `n` bytes).
unsafe fn compare(a: *const c_char, b: *const c_char, n: usize, map: fn(u8) -> u8) -> c_int {
    let (a, b) = (a as *const u8, b as *const u8);
    for i in 0..n {
        // SAFETY: the bytes up to the first NUL (or n) are readable.
        let (x, y) = unsafe { (map(*a.add(i)), map(*b.add(i))) };
        if x != y || x == 0 {
            return c_int::from(x) - c_int::from(y);
        }
    }
    0
}

fn same(c: u8) -> u8 {
    c
}

/// `strcmp(a, b)` (also `strcoll`).
pub(crate) unsafe extern "C" fn strcmp(a: *const c_char, b: *const c_char) -> c_int {
    // SAFETY: C strings.
    unsafe { compare(a, b, usize::MAX, same) }
}

/// `strncmp(a, b, n)`.
pub(crate) unsafe extern "C" fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    // SAFETY: C strings or n bytes.
    unsafe { compare(a, b, n, same) }
}

/// `strcasecmp(a, b)`.
pub(crate) unsafe extern "C" fn strcasecmp(a: *const c_char, b: *const c_char) -> c_int {
    // SAFETY: C strings.
    unsafe { compare(a, b, usize::MAX, |c| c.to_ascii_lowercase()) }
}

/// `strncasecmp(a, b, n)`.
pub(crate) unsafe extern "C" fn strncasecmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    // SAFETY: C strings or n bytes.
    unsafe { compare(a, b, n, |c| c.to_ascii_lowercase()) }
}

/// `strcpy(dst, src)`.
pub(crate) unsafe extern "C" fn strcpy(dst: *mut c_char, src: *const c_char) -> *mut c_char {
    // SAFETY: `src` is a C string; `dst` has room for it and its NUL.
    unsafe { core::ptr::copy(src, dst, strlen(src as *const u8) + 1) };
    dst
}

/// `stpcpy(dst, src)`: the address of the NUL written.
pub(crate) unsafe extern "C" fn stpcpy(dst: *mut c_char, src: *const c_char) -> *mut c_char {
    // SAFETY: as in strcpy.
    unsafe {
        let n = strlen(src as *const u8);
        core::ptr::copy(src, dst, n + 1);
        dst.add(n)
    }
}

/// `strncpy(dst, src, n)`: copies at most n bytes, pads with NULs to n.
pub(crate) unsafe extern "C" fn strncpy(dst: *mut c_char, src: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: `dst` has n bytes; `src` is a C string or n bytes.
    unsafe {
        let k = strnlen(src as *const u8, n);
        core::ptr::copy(src, dst, k);
        core::ptr::write_bytes(dst.add(k), 0, n - k);
    }
    dst
}

/// `strcat(dst, src)`.
pub(crate) unsafe extern "C" fn strcat(dst: *mut c_char, src: *const c_char) -> *mut c_char {
    // SAFETY: `dst` is a C string with room for `src` after it.
    unsafe { strcpy(dst.add(strlen(dst as *const u8)), src) };
    dst
}

/// `strncat(dst, src, n)`: appends at most n bytes and a NUL.
pub(crate) unsafe extern "C" fn strncat(dst: *mut c_char, src: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: as in strcat, with at most n bytes of src.
    unsafe {
        let d = dst.add(strlen(dst as *const u8));
        let k = strnlen(src as *const u8, n);
        core::ptr::copy(src, d, k);
        *d.add(k) = 0;
    }
    dst
}

/// `strchr(s, c)`: the terminating NUL matches `c == 0`.
pub(crate) unsafe extern "C" fn strchr(s: *const c_char, c: c_int) -> *mut c_char {
    // SAFETY: `s` is a C string.
    let p = unsafe { strchrnul(s, c) };
    // SAFETY: p points into the string.
    if unsafe { *p } as u8 == c as u8 {
        p
    } else {
        core::ptr::null_mut()
    }
}

/// `strchrnul(s, c)`.
pub(crate) unsafe extern "C" fn strchrnul(s: *const c_char, c: c_int) -> *mut c_char {
    let mut p = s as *const u8;
    loop {
        // SAFETY: `s` is a C string; we stop at its NUL.
        let b = unsafe { *p };
        if b == c as u8 || b == 0 {
            return p as *mut c_char;
        }
        p = p.wrapping_add(1);
    }
}

/// `strrchr(s, c)`.
pub(crate) unsafe extern "C" fn strrchr(s: *const c_char, c: c_int) -> *mut c_char {
    let s = s as *const u8;
    // SAFETY: `s` is a C string.
    let n = unsafe { strlen(s) };
    for i in (0..=n).rev() {
        // SAFETY: i <= n: inside the string or its NUL.
        if unsafe { *s.add(i) } == c as u8 {
            return s.wrapping_add(i) as *mut c_char;
        }
    }
    core::ptr::null_mut()
}

/// `strstr(hay, needle)`.
pub(crate) unsafe extern "C" fn strstr(hay: *const c_char, needle: *const c_char) -> *mut c_char {
    // SAFETY: C strings.
    let (h, n) = unsafe { (super::cstr::cstr_bytes(hay as *const u8), super::cstr::cstr_bytes(needle as *const u8)) };
    if n.is_empty() {
        return hay as *mut c_char;
    }
    match h.windows(n.len()).position(|w| w == n) {
        Some(i) => hay.wrapping_add(i) as *mut c_char,
        None => core::ptr::null_mut(),
    }
}

/// Length of the prefix of `s` whose bytes are (`accept`) or are not in
/// `set`.
///
/// # Safety
/// C strings.
unsafe fn span(s: *const c_char, set: *const c_char, accept: bool) -> usize {
    // SAFETY: C strings.
    let (s, set) = unsafe { (super::cstr::cstr_bytes(s as *const u8), super::cstr::cstr_bytes(set as *const u8)) };
    s.iter().position(|b| set.contains(b) != accept).unwrap_or(s.len())
}

/// `strspn(s, accept)`.
pub(crate) unsafe extern "C" fn strspn(s: *const c_char, accept: *const c_char) -> usize {
    // SAFETY: C strings.
    unsafe { span(s, accept, true) }
}

/// `strcspn(s, reject)`.
pub(crate) unsafe extern "C" fn strcspn(s: *const c_char, reject: *const c_char) -> usize {
    // SAFETY: C strings.
    unsafe { span(s, reject, false) }
}

/// `strpbrk(s, accept)`.
pub(crate) unsafe extern "C" fn strpbrk(s: *const c_char, accept: *const c_char) -> *mut c_char {
    // SAFETY: C strings.
    let n = unsafe { span(s, accept, false) };
    // SAFETY: n <= strlen(s).
    if unsafe { *s.add(n) } == 0 {
        core::ptr::null_mut()
    } else {
        s.wrapping_add(n) as *mut c_char
    }
}

/// `strtok_r(s, delim, save)`.
pub(crate) unsafe extern "C" fn strtok_r(s: *mut c_char, delim: *const c_char, save: *mut *mut c_char) -> *mut c_char {
    // SAFETY: `save` points to the caller's state; the strings are C
    // strings the caller lets us modify.
    unsafe {
        let mut s = if s.is_null() { *save } else { s };
        if s.is_null() {
            return core::ptr::null_mut();
        }
        s = s.add(span(s, delim, true));
        if *s == 0 {
            *save = s;
            return core::ptr::null_mut();
        }
        let end = s.add(span(s, delim, false));
        if *end == 0 {
            *save = end;
        } else {
            *end = 0;
            *save = end.add(1);
        }
        s
    }
}

/// The interned, NUL-terminated text of `strerror(e)`.
fn strerror_ptr(e: c_int) -> *mut c_char {
    let p = sys().process();
    let mut texts = p.strerror_texts.lock();
    let t = texts.entry(e).or_insert_with(|| {
        let mut v = strerror_text(e);
        v.push(0);
        v.into_boxed_slice()
    });
    t.as_ptr() as *mut c_char
}

/// `strerror(e)`: a pointer that stays valid (texts are kept per process).
pub(crate) extern "C" fn strerror(e: c_int) -> *mut c_char {
    strerror_ptr(e)
}

/// GNU `strerror_r(e, buf, n)`: the text (not necessarily in `buf`).
pub(crate) unsafe extern "C" fn strerror_r(e: c_int, _buf: *mut c_char, _n: usize) -> *mut c_char {
    strerror_ptr(e)
}

/// POSIX `strerror_r` (`__xpg_strerror_r`): copies into `buf`; `ERANGE`
/// when truncated, `EINVAL` for an unknown number.
pub(crate) unsafe extern "C" fn xpg_strerror_r(e: c_int, buf: *mut c_char, n: usize) -> c_int {
    let text = strerror_text(e);
    if n == 0 {
        return ERANGE;
    }
    let k = text.len().min(n - 1);
    // SAFETY: `buf` has n bytes.
    unsafe {
        core::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, k);
        *buf.add(k) = 0;
    }
    if crate::strerror::strerror_static(e).is_none() {
        EINVAL
    } else if k < text.len() {
        ERANGE
    } else {
        0
    }
}
