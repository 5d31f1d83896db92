//! `FILE` streams and the printf family.
//!
//! The three streams are the process's `stdin`, `stdout` and `stderr`
//! objects; a `FILE *` that is none of them makes a function fail with
//! `EBADF` (glibc would crash). `stdout` is fully buffered with 4096 bytes
//! (nothing is a terminal, and a pipe's `st_blksize` is 4096), `stderr` is
//! unbuffered; the buffering logic is [`crate::stdio`]'s, the formatting
//! [`crate::printf`]'s. `stdin` exists for programs that test against it;
//! writing to it fails with `EBADF`, and nothing reads it. Stream writes go
//! straight to [`Sys::write`](super::sys::Sys::write) and are not
//! cancellation points.
//!
//! The printf functions format into memory first, then hand the whole
//! output to the stream (on `stderr`, in 8192-byte `write`s, as glibc's
//! helper buffer does). The `_chk` variants check as glibc 2.36 does:
//! `__snprintf_chk`/`__vsnprintf_chk` fail when `slen < maxlen`,
//! `__sprintf_chk`/`__vsprintf_chk` when `slen` is 0 or the output (with its
//! NUL) does not fit in `slen` bytes; a failure prints `*** buffer overflow
//! detected ***: terminated` and aborts. With `flag > 0` a `%n` in a format
//! that lies in the heap (the writable memory the libc knows) is fatal, as
//! glibc's fortify check (which looks at every writable mapping) is.
use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_void};

use crate::errno::EBADF;
use crate::printf::{self, PrintfError, PrintfOptions, Sink, WriteError};
use crate::stdio::{WriteFile, EOF};

use super::cstr::{bytes, cstr_bytes};
use super::process::DataSymbol;
use super::start::{chk_fail, libc_fatal};
use super::sys::sys;
use super::thread::td;
use super::valist::{CArgs, VaListTag, VaReader};
use super::{malloc_bytes, set_errno};

/// The `write(2)` of a stream, recording the errno of a failure.
struct Writer {
    fd: i32,
    errno: Option<i32>,
}

impl Writer {
    fn call(&mut self, d: &[u8]) -> Result<usize, i32> {
        let r = sys().write(self.fd, d);
        if let Err(e) = r {
            self.errno = Some(e);
        }
        r
    }
}

/// The `write(2)` callback handed to the stream engine.
type WriteFn<'a> = &'a mut dyn FnMut(&[u8]) -> Result<usize, i32>;

/// Runs `op` on the output stream `fp` under its lock; Err(()) (errno set
/// to EBADF) when `fp` is not a writable stream of the process.
fn stream_op<R>(fp: usize, op: impl FnOnce(&mut WriteFile, &mut WriteFn<'_>) -> R) -> Result<R, ()> {
    let p = sys().process();
    let Some(idx) = p.stream_index(fp).filter(|&i| i > 0) else {
        set_errno(EBADF);
        return Err(());
    };
    let Some(stream) = p.streams.get(idx - 1) else {
        set_errno(EBADF);
        return Err(());
    };
    let mut w = Writer { fd: idx as i32, errno: None };
    let r = {
        let mut wf = stream.lock();
        let mut f = |d: &[u8]| w.call(d);
        let mut fref: WriteFn<'_> = &mut f;
        op(&mut wf, &mut fref)
    };
    if let Some(e) = w.errno {
        set_errno(e);
    }
    Ok(r)
}

/// Flushes every output stream (`fflush(NULL)`, and `exit`).
pub(crate) fn flush_all() -> c_int {
    let p = sys().process();
    let mut ret = 0;
    for sym in [DataSymbol::Stdout, DataSymbol::Stderr] {
        let (addr, _) = p.data_symbol(sym);
        // SAFETY: our own stdout/stderr variable's initial value is the
        // address of our FILE object (read through our own copy, not the
        // program's, which it may have changed).
        let fp = unsafe { (addr as *const usize).read_volatile() };
        if let Ok(EOF) = stream_op(fp, |wf, w| wf.fflush(w)) {
            ret = EOF;
        }
    }
    ret
}

fn stdout_fp() -> usize {
    sys().process().std_stream(DataSymbol::Stdout)
}

/// `fflush(fp)`; NULL flushes every stream.
pub(crate) unsafe extern "C" fn fflush(fp: *mut c_void) -> c_int {
    if fp.is_null() {
        return flush_all();
    }
    if sys().process().stream_index(fp as usize) == Some(0) {
        return 0;
    }
    stream_op(fp as usize, |wf, w| wf.fflush(w)).unwrap_or(EOF)
}

/// `fputs(s, fp)`.
pub(crate) unsafe extern "C" fn fputs(s: *const c_char, fp: *mut c_void) -> c_int {
    // SAFETY: `s` is a C string.
    let s = unsafe { cstr_bytes(s as *const u8) };
    stream_op(fp as usize, |wf, w| wf.fputs(s, w)).unwrap_or(EOF)
}

/// `puts(s)`.
pub(crate) unsafe extern "C" fn puts(s: *const c_char) -> c_int {
    // SAFETY: `s` is a C string.
    let s = unsafe { cstr_bytes(s as *const u8) };
    stream_op(stdout_fp(), |wf, w| wf.puts(s, w)).unwrap_or(EOF)
}

/// `fputc(c, fp)`, `putc`, `_IO_putc`.
pub(crate) unsafe extern "C" fn fputc(c: c_int, fp: *mut c_void) -> c_int {
    stream_op(fp as usize, |wf, w| wf.putc(c as u8, w)).unwrap_or(EOF)
}

/// `putchar(c)`.
pub(crate) extern "C" fn putchar(c: c_int) -> c_int {
    stream_op(stdout_fp(), |wf, w| wf.putc(c as u8, w)).unwrap_or(EOF)
}

/// `fwrite(ptr, size, nmemb, fp)`.
pub(crate) unsafe extern "C" fn fwrite(ptr: *const c_void, size: usize, nmemb: usize, fp: *mut c_void) -> usize {
    let request = size.wrapping_mul(nmemb);
    if request == 0 {
        return 0;
    }
    if request > isize::MAX as usize {
        set_errno(crate::errno::EINVAL);
        return 0;
    }
    // SAFETY: `ptr` points to `size * nmemb` bytes.
    let data = unsafe { bytes(ptr as *const u8, request) };
    stream_op(fp as usize, |wf, w| wf.fwrite(data, size, nmemb, w)).unwrap_or(0)
}

/// `ferror(fp)`.
pub(crate) unsafe extern "C" fn ferror(fp: *mut c_void) -> c_int {
    stream_op(fp as usize, |wf, _| c_int::from(wf.error())).unwrap_or(0)
}

/// `clearerr(fp)`.
pub(crate) unsafe extern "C" fn clearerr(fp: *mut c_void) {
    let _ = stream_op(fp as usize, |wf, _| wf.clear_error());
}

/// `fileno(fp)`.
pub(crate) unsafe extern "C" fn fileno(fp: *mut c_void) -> c_int {
    match sys().process().stream_index(fp as usize) {
        Some(i) => i as c_int,
        None => {
            set_errno(EBADF);
            -1
        }
    }
}

// ---------------------------------------------------------------------------
// printf.

fn options(flag: c_int, fmt: *const c_char) -> PrintfOptions {
    PrintfOptions {
        errno: td().errno(),
        fortify: flag > 0,
        format_writable: flag > 0 && sys().process().heap.lock().contains(fmt as usize),
    }
}

/// Sets errno for a failed format and returns -1 (aborts on a fatal one).
fn failed(e: PrintfError) -> c_int {
    match e {
        PrintfError::Fatal(msg) => libc_fatal(msg.as_bytes()),
        e => {
            if let Some(errno) = e.errno() {
                set_errno(errno);
            }
            -1
        }
    }
}

/// `vfprintf` of an argument source.
///
/// # Safety
/// `fmt` is a C string; the arguments match it.
unsafe fn vfprintf_impl(fp: usize, fmt: *const c_char, va: VaReader, opts: PrintfOptions) -> c_int {
    // SAFETY: `fmt` is a C string.
    let f = unsafe { cstr_bytes(fmt as *const u8) };
    let mut args = CArgs { va };
    let mut out = Vec::new();
    let r = printf::format(f, &mut args, &mut out, &opts);
    if let Err(PrintfError::Fatal(msg)) = r {
        libc_fatal(msg.as_bytes());
    }
    let wrote = stream_op(fp, |wf, w| wf.vfprintf_out(&out, w));
    match (r, wrote) {
        (Ok(n), Ok(true)) => c_int::try_from(n).unwrap_or(-1),
        (Err(e), _) => failed(e),
        _ => -1,
    }
}

/// Output into caller memory, `cap` bytes at most; `chk` makes an overflow
/// fatal (`__chk_fail`).
struct RawSink {
    base: *mut u8,
    cap: usize,
    len: usize,
    chk: bool,
}

impl Sink for RawSink {
    fn write(&mut self, b: &[u8]) -> Result<(), WriteError> {
        let room = self.cap - self.len;
        if self.chk && b.len() > room {
            chk_fail();
        }
        let k = b.len().min(room);
        if k > 0 {
            // SAFETY: the caller of the sprintf function promised `cap`
            // writable bytes at `base` (`len + k <= cap`).
            unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), self.base.add(self.len), k) };
            self.len += k;
        }
        Ok(())
    }

    fn pad(&mut self, byte: u8, n: usize) -> Result<(), WriteError> {
        let room = self.cap - self.len;
        if self.chk && n > room {
            chk_fail();
        }
        let k = n.min(room);
        if k > 0 {
            // SAFETY: as in write.
            unsafe { core::ptr::write_bytes(self.base.add(self.len), byte, k) };
            self.len += k;
        }
        Ok(())
    }
}

/// `vsnprintf` into `s` with room for `maxlen` bytes (NUL included);
/// `chk`: `__vsprintf_chk` semantics (overflow is fatal).
///
/// # Safety
/// `s` has `maxlen` writable bytes (any number when `maxlen` is
/// `usize::MAX`); `fmt` is a C string; the arguments match it.
unsafe fn vsnprintf_impl(
    s: *mut c_char,
    maxlen: usize,
    chk: bool,
    fmt: *const c_char,
    va: VaReader,
    opts: PrintfOptions,
) -> c_int {
    // SAFETY: `fmt` is a C string.
    let f = unsafe { cstr_bytes(fmt as *const u8) };
    let mut args = CArgs { va };
    let mut sink = RawSink { base: s as *mut u8, cap: maxlen.saturating_sub(1), len: 0, chk };
    let r = printf::format(f, &mut args, &mut sink, &opts);
    if let Err(PrintfError::Fatal(msg)) = r {
        libc_fatal(msg.as_bytes());
    }
    if maxlen > 0 {
        // SAFETY: len <= maxlen - 1.
        unsafe { *sink.base.add(sink.len) = 0 };
    }
    match r {
        Ok(n) => c_int::try_from(n).unwrap_or(-1),
        Err(e) => failed(e),
    }
}

/// `printf(fmt, ...)`.
pub(crate) unsafe extern "C" fn printf(fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: our own variadic list, read once.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: the C caller's format and arguments.
    unsafe { vfprintf_impl(stdout_fp(), fmt, va, options(0, fmt)) }
}

/// `__printf_chk(flag, fmt, ...)`.
pub(crate) unsafe extern "C" fn printf_chk(flag: c_int, fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: as in printf.
    unsafe { vfprintf_impl(stdout_fp(), fmt, va, options(flag, fmt)) }
}

/// `fprintf(fp, fmt, ...)`.
pub(crate) unsafe extern "C" fn fprintf(fp: *mut c_void, fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: as in printf.
    unsafe { vfprintf_impl(fp as usize, fmt, va, options(0, fmt)) }
}

/// `__fprintf_chk(fp, flag, fmt, ...)`.
pub(crate) unsafe extern "C" fn fprintf_chk(fp: *mut c_void, flag: c_int, fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: as in printf.
    unsafe { vfprintf_impl(fp as usize, fmt, va, options(flag, fmt)) }
}

/// `vprintf(fmt, ap)`.
pub(crate) unsafe extern "C" fn vprintf(fmt: *const c_char, ap: *mut VaListTag) -> c_int {
    // SAFETY: `ap` is the caller's va_list.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: as in printf.
    unsafe { vfprintf_impl(stdout_fp(), fmt, va, options(0, fmt)) }
}

/// `__vprintf_chk(flag, fmt, ap)`.
pub(crate) unsafe extern "C" fn vprintf_chk(flag: c_int, fmt: *const c_char, ap: *mut VaListTag) -> c_int {
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: as in printf.
    unsafe { vfprintf_impl(stdout_fp(), fmt, va, options(flag, fmt)) }
}

/// `vfprintf(fp, fmt, ap)`.
pub(crate) unsafe extern "C" fn vfprintf(fp: *mut c_void, fmt: *const c_char, ap: *mut VaListTag) -> c_int {
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: as in printf.
    unsafe { vfprintf_impl(fp as usize, fmt, va, options(0, fmt)) }
}

/// `__vfprintf_chk(fp, flag, fmt, ap)`.
pub(crate) unsafe extern "C" fn vfprintf_chk(
    fp: *mut c_void,
    flag: c_int,
    fmt: *const c_char,
    ap: *mut VaListTag,
) -> c_int {
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: as in printf.
    unsafe { vfprintf_impl(fp as usize, fmt, va, options(flag, fmt)) }
}

/// `sprintf(s, fmt, ...)`.
pub(crate) unsafe extern "C" fn sprintf(s: *mut c_char, fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: the caller's buffer is big enough (C's contract).
    unsafe { vsnprintf_impl(s, usize::MAX, false, fmt, va, options(0, fmt)) }
}

/// `__sprintf_chk(s, flag, slen, fmt, ...)`.
pub(crate) unsafe extern "C" fn sprintf_chk(
    s: *mut c_char,
    flag: c_int,
    slen: usize,
    fmt: *const c_char,
    mut args: ...
) -> c_int {
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: `s` has `slen` bytes.
    unsafe { vsprintf_chk_impl(s, flag, slen, fmt, va) }
}

/// # Safety
/// `s` has `slen` writable bytes; the format and arguments match.
unsafe fn vsprintf_chk_impl(s: *mut c_char, flag: c_int, slen: usize, fmt: *const c_char, va: VaReader) -> c_int {
    if slen == 0 {
        chk_fail();
    }
    // SAFETY: slen > 0 bytes at s; glibc's chk mode clears the buffer first.
    unsafe { *s = 0 };
    // SAFETY: guaranteed by the caller.
    unsafe { vsnprintf_impl(s, slen, true, fmt, va, options(flag, fmt)) }
}

/// `vsprintf(s, fmt, ap)`.
pub(crate) unsafe extern "C" fn vsprintf(s: *mut c_char, fmt: *const c_char, ap: *mut VaListTag) -> c_int {
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: as in sprintf.
    unsafe { vsnprintf_impl(s, usize::MAX, false, fmt, va, options(0, fmt)) }
}

/// `__vsprintf_chk(s, flag, slen, fmt, ap)`.
pub(crate) unsafe extern "C" fn vsprintf_chk(
    s: *mut c_char,
    flag: c_int,
    slen: usize,
    fmt: *const c_char,
    ap: *mut VaListTag,
) -> c_int {
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: as in __sprintf_chk.
    unsafe { vsprintf_chk_impl(s, flag, slen, fmt, va) }
}

/// `snprintf(s, maxlen, fmt, ...)`.
pub(crate) unsafe extern "C" fn snprintf(s: *mut c_char, maxlen: usize, fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: `s` has `maxlen` bytes.
    unsafe { vsnprintf_impl(s, maxlen, false, fmt, va, options(0, fmt)) }
}

/// `__snprintf_chk(s, maxlen, flag, slen, fmt, ...)`.
pub(crate) unsafe extern "C" fn snprintf_chk(
    s: *mut c_char,
    maxlen: usize,
    flag: c_int,
    slen: usize,
    fmt: *const c_char,
    mut args: ...
) -> c_int {
    if slen < maxlen {
        chk_fail();
    }
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: `s` has `maxlen` bytes (checked against slen).
    unsafe { vsnprintf_impl(s, maxlen, false, fmt, va, options(flag, fmt)) }
}

/// `vsnprintf(s, maxlen, fmt, ap)`.
pub(crate) unsafe extern "C" fn vsnprintf(
    s: *mut c_char,
    maxlen: usize,
    fmt: *const c_char,
    ap: *mut VaListTag,
) -> c_int {
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: as in snprintf.
    unsafe { vsnprintf_impl(s, maxlen, false, fmt, va, options(0, fmt)) }
}

/// `__vsnprintf_chk(s, maxlen, flag, slen, fmt, ap)`.
pub(crate) unsafe extern "C" fn vsnprintf_chk(
    s: *mut c_char,
    maxlen: usize,
    flag: c_int,
    slen: usize,
    fmt: *const c_char,
    ap: *mut VaListTag,
) -> c_int {
    if slen < maxlen {
        chk_fail();
    }
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: as in snprintf.
    unsafe { vsnprintf_impl(s, maxlen, false, fmt, va, options(flag, fmt)) }
}

/// `vasprintf` of an argument source: a heap string in `*out`.
///
/// # Safety
/// `out` points to a `char *`; the format and arguments match.
unsafe fn vasprintf_impl(out: *mut *mut c_char, fmt: *const c_char, va: VaReader) -> c_int {
    // SAFETY: `fmt` is a C string.
    let f = unsafe { cstr_bytes(fmt as *const u8) };
    let mut args = CArgs { va };
    let mut text = Vec::new();
    match printf::format(f, &mut args, &mut text, &options(0, fmt)) {
        Ok(n) => {
            let p = malloc_bytes(&text);
            if p.is_null() {
                return -1;
            }
            // SAFETY: `out` points to a char *.
            unsafe { *out = p as *mut c_char };
            c_int::try_from(n).unwrap_or(-1)
        }
        Err(e) => failed(e),
    }
}

/// `asprintf(out, fmt, ...)`.
pub(crate) unsafe extern "C" fn asprintf(out: *mut *mut c_char, fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: the caller's pointers.
    unsafe { vasprintf_impl(out, fmt, va) }
}

/// `vasprintf(out, fmt, ap)`.
pub(crate) unsafe extern "C" fn vasprintf(out: *mut *mut c_char, fmt: *const c_char, ap: *mut VaListTag) -> c_int {
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: the caller's pointers.
    unsafe { vasprintf_impl(out, fmt, va) }
}

/// `vdprintf` of an argument source: formatted, then written to `fd`.
///
/// # Safety
/// The format and arguments match.
unsafe fn vdprintf_impl(fd: c_int, fmt: *const c_char, va: VaReader) -> c_int {
    // SAFETY: `fmt` is a C string.
    let f = unsafe { cstr_bytes(fmt as *const u8) };
    let mut args = CArgs { va };
    let mut text = Vec::new();
    let r = printf::format(f, &mut args, &mut text, &options(0, fmt));
    let mut done = 0usize;
    while done < text.len() {
        match sys().write(fd, text.get(done..).unwrap_or_default()) {
            Ok(n) if n > 0 => done += n,
            Ok(_) => return -1,
            Err(e) => {
                set_errno(e);
                return -1;
            }
        }
    }
    match r {
        Ok(n) => c_int::try_from(n).unwrap_or(-1),
        Err(e) => failed(e),
    }
}

/// `dprintf(fd, fmt, ...)`.
pub(crate) unsafe extern "C" fn dprintf(fd: c_int, fmt: *const c_char, mut args: ...) -> c_int {
    // SAFETY: as in printf.
    let va = unsafe { VaReader::from_rust(&mut args) };
    // SAFETY: the caller's format.
    unsafe { vdprintf_impl(fd, fmt, va) }
}

/// `vdprintf(fd, fmt, ap)`.
pub(crate) unsafe extern "C" fn vdprintf(fd: c_int, fmt: *const c_char, ap: *mut VaListTag) -> c_int {
    // SAFETY: as in vprintf.
    let va = unsafe { VaReader::from_c(ap) };
    // SAFETY: the caller's format.
    unsafe { vdprintf_impl(fd, fmt, va) }
}

/// Writes `pieces` to `stderr`, each as its own `fprintf` (one `write`
/// each on the unbuffered stream), as glibc's err/warn/getopt/assert do.
pub(crate) fn stderr_pieces<P: AsRef<[u8]>>(pieces: &[P]) {
    let fp = sys().process().std_stream(DataSymbol::Stderr);
    for piece in pieces.iter().map(AsRef::as_ref).filter(|p| !p.is_empty()) {
        let _ = stream_op(fp, |wf, w| wf.vfprintf_out(piece, w));
    }
}
