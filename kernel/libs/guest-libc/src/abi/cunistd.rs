//! Descriptors and files over [`Sys`](super::sys::Sys): `open`, `close`,
//! `read`, `write`, `fcntl`, `stat`, `access`, `dup2`, `pipe2`, `socket`,
//! `connect`, `ioctl`, `poll`, `isatty`; and `sysconf`, `dlsym`.
//!
//! Every function sets `errno` and returns -1 on failure, as glibc's system
//! call wrappers do. `read`, `write`, `open`, `close`, `connect` and `poll`
//! are cancellation points (see [`super::thread`]). A transfer is capped at
//! Linux's `MAX_RW_COUNT` (0x7ffff000 bytes).
//!
//! `struct stat` is the x86_64 layout (144 bytes): `st_dev` 0, `st_ino` 8,
//! `st_nlink` 16, `st_mode` 24, `st_uid` 28, `st_gid` 32, `st_rdev` 40,
//! `st_size` 48, `st_blksize` 56, `st_blocks` 64, then the three
//! timespecs; the kernel supplies inode, mode, link count, size and device
//! number, the rest is 0 except `st_blksize` (4096) and `st_blocks`
//! (512-byte units of the size).
//!
//! `ioctl`: nothing is a terminal, so `TCGETS`, `TIOCGWINSZ` and every other
//! request fail with `ENOTTY` (or `EBADF` for a descriptor that is not
//! open). `access` checks existence with `stat` (every program runs as root:
//! `R_OK`/`W_OK` always pass, `X_OK` needs an execute bit or a directory).
use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

use crate::errno::{EINTR, EINVAL};

use super::cstr::{bytes, bytes_mut, cstr_bytes, MAX_RW_COUNT};
use super::set_errno;
use super::sys::{sys, FileStat, PollFd};
use super::thread::{act_on_cancel, on_eintr, testcancel, Intr};
use super::valist::VaReader;

const ENOTTY: c_int = 25;
const EACCES: c_int = 13;
const O_CREAT: c_int = 0o100;
const O_TMPFILE: c_int = 0o20_200_000;
const X_OK: c_int = 1;
const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;

/// Maps a Sys result to the C convention.
fn ret<T>(r: Result<T, i32>, ok: impl FnOnce(T) -> c_long) -> c_long {
    match r {
        Ok(v) => ok(v),
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// What a blocking call returned, after the EINTR rules of cancellation
/// points (acting on a cancellation here, where nothing is owned).
enum Done<T> {
    Ok(T),
    Err(i32),
    /// An enabled cancellation is pending: the caller acts on it once it
    /// owns nothing with a destructor.
    Cancel,
}

/// Calls `f` until it ends other than by an EINTR meant for a disabled
/// cancellation. Acts on an enabled cancellation.
fn blocking<T>(mut f: impl FnMut() -> Result<T, i32>) -> Done<T> {
    loop {
        match f() {
            Ok(v) => return Done::Ok(v),
            Err(EINTR) => match on_eintr() {
                Intr::Cancel => return Done::Cancel,
                Intr::Retry => continue,
                Intr::Surface => return Done::Err(EINTR),
            },
            Err(e) => return Done::Err(e),
        }
    }
}

/// `open(path, flags, ...)` (also `open64`): the mode argument is read only
/// with `O_CREAT` or `O_TMPFILE`.
pub(crate) unsafe extern "C" fn open(path: *const c_char, flags: c_int, mut args: ...) -> c_int {
    testcancel();
    let mode = if flags & O_CREAT != 0 || flags & O_TMPFILE == O_TMPFILE {
        // SAFETY: our own variadic list; the caller passed a mode.
        unsafe { VaReader::from_rust(&mut args) }.gp() as u32
    } else {
        0
    };
    // SAFETY: `path` is a C string.
    let p = unsafe { cstr_bytes(path as *const u8) };
    match blocking(|| sys().open(p, flags, mode)) {
        Done::Ok(fd) => fd,
        Done::Cancel => act_on_cancel(),
        Done::Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `close(fd)`.
pub(crate) extern "C" fn close(fd: c_int) -> c_int {
    testcancel();
    ret(sys().close(fd), |_| 0) as c_int
}

/// `read(fd, buf, n)`: a cancellation point.
pub(crate) unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize {
    testcancel();
    // SAFETY: `buf` has n writable bytes (capped to MAX_RW_COUNT).
    let b = unsafe { bytes_mut(buf as *mut u8, n.min(MAX_RW_COUNT)) };
    match blocking(|| sys().read(fd, b)) {
        Done::Ok(k) => k as isize,
        Done::Cancel => act_on_cancel(),
        Done::Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `write(fd, buf, n)`: a cancellation point.
pub(crate) unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: usize) -> isize {
    testcancel();
    // SAFETY: `buf` has n readable bytes (capped to MAX_RW_COUNT).
    let b = unsafe { bytes(buf as *const u8, n.min(MAX_RW_COUNT)) };
    match blocking(|| sys().write(fd, b)) {
        Done::Ok(k) => k as isize,
        Done::Cancel => act_on_cancel(),
        Done::Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `fcntl(fd, cmd, ...)`: the argument is read as a `long` for every
/// command (a command without one ignores it).
pub(crate) unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, mut args: ...) -> c_int {
    // SAFETY: our own variadic list (a missing argument reads a saved
    // register, harmlessly).
    let arg = unsafe { VaReader::from_rust(&mut args) }.gp();
    ret(sys().fcntl(fd, cmd, arg), c_long::from) as c_int
}

/// Fills a C `struct stat`.
///
/// # Safety
/// `buf` points to a `struct stat` (144 bytes).
unsafe fn fill_stat(buf: *mut u8, st: &FileStat) {
    // SAFETY: guaranteed by the caller.
    let out = unsafe { bytes_mut(buf, 144) };
    out.fill(0);
    let mut put = |off: usize, b: &[u8]| {
        if let Some(d) = out.get_mut(off..off + b.len()) {
            d.copy_from_slice(b);
        }
    };
    put(8, &st.ino.to_le_bytes());
    put(16, &st.nlink.to_le_bytes());
    put(24, &st.mode.to_le_bytes());
    put(40, &st.rdev.to_le_bytes());
    put(48, &st.size.to_le_bytes());
    put(56, &4096i64.to_le_bytes());
    put(64, &((st.size.max(0) as u64).div_ceil(512)).to_le_bytes());
}

/// `stat(path, buf)` (also `stat64`, `lstat`, `lstat64`).
pub(crate) unsafe extern "C" fn stat(path: *const c_char, buf: *mut c_void) -> c_int {
    // SAFETY: `path` is a C string.
    let p = unsafe { cstr_bytes(path as *const u8) };
    match sys().stat(p) {
        Ok(st) => {
            // SAFETY: `buf` points to a struct stat.
            unsafe { fill_stat(buf as *mut u8, &st) };
            0
        }
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `fstat(fd, buf)` (also `fstat64`).
pub(crate) unsafe extern "C" fn fstat(fd: c_int, buf: *mut c_void) -> c_int {
    match sys().fstat(fd) {
        Ok(st) => {
            // SAFETY: `buf` points to a struct stat.
            unsafe { fill_stat(buf as *mut u8, &st) };
            0
        }
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `access(path, mode)`.
pub(crate) unsafe extern "C" fn access(path: *const c_char, mode: c_int) -> c_int {
    if mode & !7 != 0 {
        set_errno(EINVAL);
        return -1;
    }
    // SAFETY: `path` is a C string.
    let p = unsafe { cstr_bytes(path as *const u8) };
    match sys().stat(p) {
        Ok(st) => {
            if mode & X_OK != 0 && st.mode & 0o111 == 0 && st.mode & S_IFMT != S_IFDIR {
                set_errno(EACCES);
                return -1;
            }
            0
        }
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `dup2(old, new)`.
pub(crate) extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    ret(sys().dup2(old, new), c_long::from) as c_int
}

/// `pipe2(fds, flags)`.
pub(crate) unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    match sys().pipe2(flags) {
        Ok([r, w]) => {
            // SAFETY: `fds` points to two ints.
            unsafe {
                *fds = r;
                *fds.add(1) = w;
            }
            0
        }
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `pipe(fds)`.
pub(crate) unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    // SAFETY: as in pipe2.
    unsafe { pipe2(fds, 0) }
}

/// `socket(domain, type, protocol)`.
pub(crate) extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    ret(sys().socket(domain, ty, protocol), c_long::from) as c_int
}

/// `connect(fd, addr, len)`: a cancellation point.
pub(crate) unsafe extern "C" fn connect(fd: c_int, addr: *const c_void, len: c_uint) -> c_int {
    testcancel();
    // SAFETY: `addr` points to `len` bytes of sockaddr.
    let a = unsafe { bytes(addr as *const u8, len as usize) };
    match blocking(|| sys().connect(fd, a)) {
        Done::Ok(()) => 0,
        Done::Cancel => act_on_cancel(),
        Done::Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `ioctl(fd, request, ...)`: `ENOTTY` for every request on an open
/// descriptor (nothing is a terminal), `EBADF` otherwise.
pub(crate) unsafe extern "C" fn ioctl(fd: c_int, _request: c_ulong, _args: ...) -> c_int {
    match sys().fstat(fd) {
        Ok(_) => set_errno(ENOTTY),
        Err(e) => set_errno(e),
    }
    -1
}

/// `isatty(fd)`: 0 with `ENOTTY` (or the descriptor's error).
pub(crate) extern "C" fn isatty(fd: c_int) -> c_int {
    match sys().isatty(fd) {
        Ok(true) => 1,
        Ok(false) => {
            set_errno(ENOTTY);
            0
        }
        Err(e) => {
            set_errno(e);
            0
        }
    }
}

/// `poll(fds, nfds, timeout)`: a cancellation point.
pub(crate) unsafe extern "C" fn poll(fds: *mut c_void, nfds: c_ulong, timeout: c_int) -> c_int {
    testcancel();
    let n = nfds as usize;
    // More than RLIMIT_NOFILE (sysconf's _SC_OPEN_MAX) is EINVAL, as on
    // Linux; the kernel refuses it too.
    if n > 1024 {
        set_errno(EINVAL);
        return -1;
    }
    let raw = fds as *mut u8;
    let mut set: Vec<PollFd> = Vec::new();
    if set.try_reserve(n).is_err() {
        set_errno(crate::errno::ENOMEM);
        return -1;
    }
    for i in 0..n {
        // SAFETY: `fds` is an array of nfds `struct pollfd` (8 bytes each:
        // int fd, short events, short revents).
        let (fd, events) = unsafe {
            let e = raw.add(i * 8);
            ((e as *const i32).read_unaligned(), (e.add(4) as *const u16).read_unaligned())
        };
        set.push(PollFd { fd, events, revents: 0 });
    }
    let r = blocking(|| sys().poll(&mut set, timeout));
    for (i, p) in set.iter().enumerate() {
        // SAFETY: as above.
        unsafe { (raw.add(i * 8 + 6) as *mut u16).write_unaligned(p.revents) };
    }
    drop(set);
    match r {
        Done::Ok(k) => k as c_int,
        Done::Cancel => act_on_cancel(),
        Done::Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `sysconf(name)` (also `__sysconf`): the values glibc reports on an
/// x86_64 domU with one vCPU.
pub(crate) extern "C" fn sysconf(name: c_int) -> c_long {
    match name {
        0 => 2_097_152, // _SC_ARG_MAX
        2 => 100,       // _SC_CLK_TCK
        4 => 1024,      // _SC_OPEN_MAX
        30 => 4096,     // _SC_PAGESIZE
        75 => 16384,    // _SC_THREAD_STACK_MIN
        83 | 84 => 1,   // _SC_NPROCESSORS_CONF / _ONLN
        _ => {
            set_errno(EINVAL);
            -1
        }
    }
}

/// `getpagesize()`.
pub(crate) extern "C" fn getpagesize() -> c_int {
    4096
}

/// `dlsym(handle, name)`: no symbol is found dynamically (NULL).
pub(crate) unsafe extern "C" fn dlsym(_handle: *mut c_void, _name: *const c_char) -> *mut c_void {
    core::ptr::null_mut()
}
