//! The printf family through the C ABI, compared with the host's glibc.
use core::ffi::{c_char, c_int, c_void, VaList};

use super::mock::run;
use super::{errno, p, set_errno};
use crate::abi::cstdio;
use crate::abi::valist::VaListTag;

extern "C" {
    #[link_name = "snprintf"]
    fn host_snprintf(buf: *mut c_char, n: usize, fmt: *const c_char, ...) -> c_int;
    #[link_name = "vsnprintf"]
    fn host_vsnprintf(buf: *mut c_char, n: usize, fmt: *const c_char, ap: VaList<'_>) -> c_int;
}

/// Our snprintf and the host's with the same arguments: same return value,
/// same 96 bytes of buffer (so nothing is written past the limit).
macro_rules! same {
    ($n:expr, $fmt:literal $(, $a:expr)*) => {{
        let mut ours = [0xaau8; 96];
        let mut host = [0xaau8; 96];
        // SAFETY: the buffers have 96 bytes >= $n; the arguments match.
        let r1 = unsafe { cstdio::snprintf(ours.as_mut_ptr() as *mut c_char, $n, p($fmt) $(, $a)*) };
        // SAFETY: as above.
        let r2 = unsafe { host_snprintf(host.as_mut_ptr() as *mut c_char, $n, p($fmt) $(, $a)*) };
        assert_eq!((r1, &ours[..]), (r2, &host[..]), "format {:?}", $fmt);
    }};
}

#[test]
fn snprintf_matches_host_glibc() {
    let out = run(&["t"], &[], |_| {
        same!(64, c"%s%s%s", p(c"a"), p(c"bc"), p(c""));
        same!(64, c"%.*s|", 3 as c_int, p(c"abcdef"));
        same!(64, c" = \"%.*s\\...\"", 2 as c_int, p(c"xyz"));
        same!(64, c"%i %03o x%02x %u %lu", -5 as c_int, 8 as c_int, 10 as c_int, 4000000000u32, u64::MAX);
        same!(64, c"/local/domain/%d/device/suspend/event-channel", 7 as c_int);
        same!(64, c"Unable to locate path separator '%c' in '%s'", b'/' as c_int, p(c"ab"));
        same!(
            64,
            c"%p %p %10.4s|%-6d|%+d|% d",
            0usize,
            0x1234usize,
            p(c"abcdefg"),
            42 as c_int,
            3 as c_int,
            4 as c_int
        );
        same!(64, c"%lld %hhd %hd %zu %td %jd", -1i64, 300 as c_int, 70000 as c_int, 12usize, -3isize, 9i64);
        same!(64, c"%#x %#o %#X %b %#b", 255 as c_int, 8 as c_int, 0xabc as c_int, 5 as c_int, 5 as c_int);
        same!(64, c"%s", core::ptr::null::<c_char>());
        same!(64, c"%.3s|%5s|%-5s|", core::ptr::null::<c_char>(), p(c"ab"), p(c"cd"));
        same!(64, c"%2$s %1$s %2$s", p(c"one"), p(c"two"));
        same!(64, c"%%%c%%", b'z' as c_int);
        // More integer arguments than registers: the overflow area.
        same!(
            64,
            c"%d %d %d %d %d %d %d %d %d",
            1 as c_int,
            2 as c_int,
            3 as c_int,
            4 as c_int,
            5 as c_int,
            6 as c_int,
            7 as c_int,
            8 as c_int,
            9 as c_int
        );
        // Doubles (readable on the host, where the xmm registers are saved),
        // mixed with integers, and more doubles than xmm registers.
        same!(64, c"%f %e %g %a %.0f", 1.5f64, -2.25e10f64, 0.0001f64, 1.0f64, 2.5f64);
        same!(
            96,
            c"%g %g %g %g %g %g %g %g %g %g %d",
            1.0f64,
            2.0f64,
            3.0f64,
            4.0f64,
            5.0f64,
            6.0f64,
            7.0f64,
            8.0f64,
            9.5f64,
            10.25f64,
            11 as c_int
        );
        // Truncation: the NUL at n - 1, the full length returned.
        same!(5, c"%s", p(c"abcdefgh"));
        same!(1, c"%d", 12345 as c_int);
        same!(0, c"%d", 12345 as c_int);
    });
    assert_eq!(out.status, None);
}

/// A C variadic function passing its `va_list` on, as xenstore's
/// `output()` does with `vsnprintf`.
unsafe extern "C" fn ours_v(buf: *mut c_char, n: usize, slen: usize, fmt: *const c_char, mut args: ...) -> c_int {
    let ap = &mut args as *mut VaList<'_> as *mut VaListTag;
    // SAFETY: a genuine va_list of this function.
    unsafe { cstdio::vsnprintf_chk(buf, n, 1, slen, fmt, ap) }
}

unsafe extern "C" fn host_v(buf: *mut c_char, n: usize, fmt: *const c_char, args: ...) -> c_int {
    // SAFETY: as above.
    unsafe { host_vsnprintf(buf, n, fmt, args) }
}

#[test]
fn vsnprintf_chk_reads_a_c_va_list() {
    let out = run(&["t"], &[], |_| {
        let mut a = [0xaau8; 64];
        let mut b = [0xaau8; 64];
        // SAFETY: 64-byte buffers; arguments match the format.
        let (r1, r2) = unsafe {
            (
                ours_v(
                    a.as_mut_ptr() as *mut c_char,
                    40,
                    64,
                    p(c"%s/%s %d %f %ld"),
                    p(c"dir"),
                    p(c"node"),
                    7 as c_int,
                    0.5f64,
                    -9i64,
                ),
                host_v(
                    b.as_mut_ptr() as *mut c_char,
                    40,
                    p(c"%s/%s %d %f %ld"),
                    p(c"dir"),
                    p(c"node"),
                    7 as c_int,
                    0.5f64,
                    -9i64,
                ),
            )
        };
        assert_eq!((r1, &a[..]), (r2, &b[..]));
        assert_eq!(&a[..r1 as usize], b"dir/node 7 0.500000 -9");
        // xenstore's output(): measure with a 1-byte buffer first.
        let mut one = [0xaau8; 2];
        // SAFETY: as above.
        let n = unsafe { ours_v(one.as_mut_ptr() as *mut c_char, 1, 1, p(c"%s\n"), p(c"value")) };
        assert_eq!((n, one), (6, [0, 0xaa]));
    });
    assert_eq!(out.status, None);
}

#[test]
fn vsnprintf_chk_with_slen_below_maxlen_aborts() {
    let out = run(&["prog"], &[], |_| {
        let mut a = [0u8; 8];
        // SAFETY: the call aborts before writing.
        unsafe { ours_v(a.as_mut_ptr() as *mut c_char, 8, 4, p(c"%d"), 1 as c_int) };
    });
    assert_eq!(out.status, Some(134));
    assert_eq!(out.stderr, b"*** buffer overflow detected ***: terminated\n");
    assert_eq!(out.stderr_writes.len(), 1);
}

#[test]
fn sprintf_chk_fits_exactly_or_aborts() {
    let out = run(&["t"], &[], |_| {
        let mut b = [0xaau8; 8];
        // SAFETY: slen 4 bytes of b.
        let r = unsafe { cstdio::sprintf_chk(b.as_mut_ptr() as *mut c_char, 1, 4, p(c"%s"), p(c"abc")) };
        assert_eq!((r, &b[..5]), (3, &b"abc\0\xaa"[..]));
        // SAFETY: as above; this one overflows and aborts.
        unsafe { cstdio::sprintf_chk(b.as_mut_ptr() as *mut c_char, 1, 4, p(c"%s"), p(c"abcd")) };
    });
    assert_eq!(out.status, Some(134));
    assert_eq!(out.stderr, b"*** buffer overflow detected ***: terminated\n");
    let out = run(&["t"], &[], |_| {
        let mut b = [0u8; 8];
        // SAFETY: slen 0 aborts at once.
        unsafe { cstdio::sprintf_chk(b.as_mut_ptr() as *mut c_char, 1, 0, p(c"")) };
    });
    assert_eq!(out.status, Some(134));
    let out = run(&["t"], &[], |_| {
        let mut b = [0u8; 8];
        // SAFETY: maxlen 8 > slen 4 aborts.
        unsafe { cstdio::snprintf_chk(b.as_mut_ptr() as *mut c_char, 8, 1, 4, p(c"x")) };
    });
    assert_eq!(out.status, Some(134));
    let out = run(&["t"], &[], |_| {
        let mut b = [0xaau8; 8];
        // SAFETY: maxlen 4 <= slen 4: truncates, as glibc does.
        let r = unsafe { cstdio::snprintf_chk(b.as_mut_ptr() as *mut c_char, 4, 1, 4, p(c"%s"), p(c"abcdef")) };
        (r, b)
    });
    assert_eq!(out.ret, Some((6, *b"abc\0\xaa\xaa\xaa\xaa")));
}

#[test]
fn printf_chk_goes_to_buffered_stdout() {
    let out = run(&["t"], &[], |_| {
        // SAFETY: format and arguments match.
        let r = unsafe { cstdio::printf_chk(1, p(c"%s=%d\n"), p(c"key"), 17 as c_int) };
        assert_eq!(r, 7);
        crate::abi::start::exit(0)
    });
    assert_eq!(out.status, Some(0));
    assert_eq!(out.stdout, b"key=17\n");
}

#[test]
fn percent_m_uses_errno_and_percent_n_stores() {
    let out = run(&["t"], &[], |_| {
        let mut b = [0u8; 64];
        let mut n: c_int = -1;
        set_errno(2);
        // SAFETY: format and arguments match; the format is not in the heap.
        let r = unsafe {
            cstdio::snprintf_chk(b.as_mut_ptr() as *mut c_char, 64, 1, 64, p(c"%m|%n%#m"), &mut n as *mut c_int)
        };
        (r, b, n, errno())
    });
    let (r, b, n, e) = out.ret.unwrap();
    assert_eq!(&b[..r as usize], b"No such file or directory|ENOENT");
    assert_eq!((n, e), (26, 2));
}

#[test]
fn percent_n_in_a_heap_format_is_fatal_under_fortify() {
    let out = run(&["t"], &[], |_| {
        let fmt = crate::abi::cstdlib::malloc_bytes(b"ab%n");
        let mut n: c_int = 0;
        let mut b = [0u8; 16];
        // SAFETY: a heap format with %n; the call aborts.
        unsafe {
            cstdio::snprintf_chk(b.as_mut_ptr() as *mut c_char, 16, 1, 16, fmt as *const c_char, &mut n as *mut c_int)
        };
    });
    assert_eq!(out.status, Some(134));
    assert_eq!(out.stderr, b"*** %n in writable segment detected ***\n");
}

#[test]
fn fprintf_to_unbuffered_stderr_is_one_write_per_call() {
    let out = run(&["t"], &[], |proc| {
        let err = proc.process.data_symbol(crate::abi::DataSymbol::Stderr).0;
        // SAFETY: our stderr variable holds the FILE *.
        let fp = unsafe { *(err as *const *mut c_void) };
        // SAFETY: format and arguments match.
        unsafe {
            cstdio::fprintf(fp, p(c"%s: "), p(c"a"));
            cstdio::fprintf_chk(fp, 1, p(c"%d\n"), 5 as c_int);
        }
    });
    assert_eq!(out.stderr_writes, vec![b"a: ".to_vec(), b"5\n".to_vec()]);
}

#[test]
fn asprintf_allocates_on_the_process_heap() {
    let out = run(&["t"], &[], |_| {
        let mut s: *mut c_char = core::ptr::null_mut();
        // SAFETY: format and arguments match.
        let r = unsafe { cstdio::asprintf(&mut s, p(c"%s-%04d"), p(c"x"), 42 as c_int) };
        let text = super::bytes_of(s);
        // SAFETY: a block of our heap.
        unsafe { crate::abi::cstdlib::free(s as *mut c_void) };
        (r, text)
    });
    assert_eq!(out.ret, Some((6, b"x-0042".to_vec())));
}
