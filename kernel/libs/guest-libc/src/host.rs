//! Test-only access to the host's glibc (Debian 12, glibc 2.36), the
//! reference every engine is compared with. The only unsafe code of the crate.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_long, c_ulong, c_void, CStr, CString};
use std::sync::Mutex;

use crate::printf::{Args, CountSize, LongDouble};

/// Serialises tests that use glibc's global state (getopt, errno, stderr).
pub static GLIBC_LOCK: Mutex<()> = Mutex::new(());

extern "C" {
    fn snprintf(buf: *mut c_char, n: usize, fmt: *const c_char, ...) -> c_int;
    fn sscanf(s: *const c_char, fmt: *const c_char, ...) -> c_int;
    #[link_name = "strerror"]
    fn c_strerror(e: c_int) -> *const c_char;
    fn strerrorname_np(e: c_int) -> *const c_char;
    fn strtol(s: *const c_char, end: *mut *mut c_char, base: c_int) -> c_long;
    fn strtoul(s: *const c_char, end: *mut *mut c_char, base: c_int) -> c_ulong;
    fn __errno_location() -> *mut c_int;
}

fn cstr(b: &[u8]) -> CString {
    CString::new(b.to_vec()).expect("no NUL in test input")
}

/// The host's `strerror(e)`.
pub fn strerror(e: i32) -> Vec<u8> {
    let _g = GLIBC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: strerror returns a valid NUL-terminated string; we copy it out
    // under the lock (the buffer for unknown errors is thread-local anyway).
    unsafe { CStr::from_ptr(c_strerror(e)).to_bytes().to_vec() }
}

/// The host's `strerrorname_np(e)` (None for NULL).
pub fn strerrorname(e: i32) -> Option<Vec<u8>> {
    // SAFETY: returns NULL or a static NUL-terminated string.
    unsafe {
        let p = strerrorname_np(e);
        if p.is_null() {
            None
        } else {
            Some(CStr::from_ptr(p).to_bytes().to_vec())
        }
    }
}

pub fn set_errno(v: i32) {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *__errno_location() = v }
}

#[allow(dead_code)]
pub fn errno() -> i32 {
    // SAFETY: as above.
    unsafe { *__errno_location() }
}

static SENTINEL: u8 = 0;

/// The index of `end` in `c`, None when glibc left the sentinel.
fn end_index(c: &CString, end: *mut c_char) -> Option<usize> {
    if std::ptr::eq(end as *const u8, &SENTINEL) {
        None
    } else {
        Some(end as usize - c.as_ptr() as usize)
    }
}

/// `strtol` / `strtoul` on the host: (value, end index, errno).
pub fn host_strtol(s: &[u8], base: i32) -> (i64, Option<usize>, i32) {
    let c = cstr(s);
    let mut end: *mut c_char = &SENTINEL as *const u8 as *mut c_char;
    set_errno(0);
    // SAFETY: c is a valid C string, end a valid out-pointer.
    let v = unsafe { strtol(c.as_ptr(), &mut end, base) };
    let e = errno();
    (v, end_index(&c, end), e)
}

pub fn host_strtoul(s: &[u8], base: i32) -> (u64, Option<usize>, i32) {
    let c = cstr(s);
    let mut end: *mut c_char = &SENTINEL as *const u8 as *mut c_char;
    set_errno(0);
    // SAFETY: as above.
    let v = unsafe { strtoul(c.as_ptr(), &mut end, base) };
    let e = errno();
    (v, end_index(&c, end), e)
}

/// One argument of a printf test call.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i32),
    Long(i64),
    /// A C string (NUL appended); `%s`, `%p` see its address.
    Str(Vec<u8>),
    /// A wide string (a 0 appended).
    WStr(Vec<i32>),
    Null,
    Ptr(u64),
    Double(f64),
    /// A `%n` target.
    Count,
}

/// Arguments materialised for both glibc and the engine.
pub struct Material {
    pub gp: Vec<u64>,
    pub fp: Vec<f64>,
    strings: HashMap<u64, Vec<u8>>,
    wides: HashMap<u64, Vec<i32>>,
    _keep: Vec<CString>,
    _keep_w: Vec<Vec<i32>>,
    /// %n targets for glibc; boxed so their addresses stay put.
    #[allow(clippy::vec_box)]
    pub count_slots: Vec<Box<[i64; 1]>>,
}

impl Material {
    pub fn new(args: &[Arg]) -> Material {
        let mut m = Material {
            gp: Vec::new(),
            fp: Vec::new(),
            strings: HashMap::new(),
            wides: HashMap::new(),
            _keep: Vec::new(),
            _keep_w: Vec::new(),
            count_slots: Vec::new(),
        };
        for a in args {
            match a {
                Arg::Int(v) => m.gp.push(*v as i64 as u64),
                Arg::Long(v) => m.gp.push(*v as u64),
                Arg::Str(s) => {
                    let c = cstr(s);
                    let addr = c.as_ptr() as u64;
                    m.strings.insert(addr, s.clone());
                    m.gp.push(addr);
                    m._keep.push(c);
                }
                Arg::WStr(w) => {
                    let mut v = w.clone();
                    v.push(0);
                    let addr = v.as_ptr() as u64;
                    m.wides.insert(addr, v.clone());
                    m.gp.push(addr);
                    m._keep_w.push(v);
                }
                Arg::Null => m.gp.push(0),
                Arg::Ptr(p) => m.gp.push(*p),
                Arg::Double(d) => m.fp.push(*d),
                Arg::Count => {
                    let b = Box::new([i64::from_ne_bytes([0x5a; 8])]);
                    m.gp.push(b.as_ptr() as u64);
                    m.count_slots.push(b);
                }
            }
        }
        m
    }

    /// Calls the host's snprintf with a buffer of `size` bytes: (return, bytes
    /// in the buffer up to the NUL).
    pub fn host_snprintf(&mut self, fmt: &[u8], size: usize, errno_in: i32) -> (i32, Vec<u8>) {
        assert!(self.gp.len() <= 12 && self.fp.len() <= 8, "too many test arguments");
        let f = cstr(fmt);
        let mut buf = vec![0x77u8; size + 1];
        let g = |i: usize| self.gp.get(i).copied().unwrap_or(0);
        let d = |i: usize| self.fp.get(i).copied().unwrap_or(0.0);
        set_errno(errno_in);
        // SAFETY: every argument glibc reads is an integer, a double, a valid
        // NUL-terminated string, or a pointer to an i64 slot (%n); the buffer
        // has `size` bytes.
        let r = unsafe {
            snprintf(
                buf.as_mut_ptr() as *mut c_char,
                size,
                f.as_ptr(),
                g(0),
                g(1),
                g(2),
                g(3),
                g(4),
                g(5),
                g(6),
                g(7),
                g(8),
                g(9),
                g(10),
                g(11),
                d(0),
                d(1),
                d(2),
                d(3),
                d(4),
                d(5),
                d(6),
                d(7),
            )
        };
        let n = if size == 0 { 0 } else { buf.iter().position(|&b| b == 0).unwrap_or(size) };
        buf.truncate(n);
        (r, buf)
    }

    pub fn engine_args(&self) -> EngineArgs<'_> {
        EngineArgs { m: self, gi: 0, fi: 0, counts: Vec::new() }
    }
}

/// The engine's view of the same arguments, in SysV order.
pub struct EngineArgs<'a> {
    m: &'a Material,
    gi: usize,
    fi: usize,
    pub counts: Vec<(u64, CountSize, i64)>,
}

impl Args for EngineArgs<'_> {
    fn int(&mut self) -> i32 {
        let v = self.m.gp.get(self.gi).copied().unwrap_or(0);
        self.gi += 1;
        v as i32
    }
    fn long(&mut self) -> i64 {
        let v = self.m.gp.get(self.gi).copied().unwrap_or(0);
        self.gi += 1;
        v as i64
    }
    fn ptr(&mut self) -> u64 {
        let v = self.m.gp.get(self.gi).copied().unwrap_or(0);
        self.gi += 1;
        v
    }
    fn double(&mut self) -> f64 {
        let v = self.m.fp.get(self.fi).copied().unwrap_or(0.0);
        self.fi += 1;
        v
    }
    fn long_double(&mut self) -> LongDouble {
        panic!("long double not supported by the host harness")
    }
    fn c_str(&self, addr: u64, max: Option<usize>) -> &[u8] {
        let s = self.m.strings.get(&addr).expect("unknown string address");
        match max {
            Some(m) => &s[..m.min(s.len())],
            None => s,
        }
    }
    fn wide_char(&self, addr: u64, index: usize) -> i32 {
        self.m.wides.get(&addr).and_then(|w| w.get(index)).copied().expect("wide read past the end")
    }
    fn store_count(&mut self, addr: u64, size: CountSize, value: i64) {
        self.counts.push((addr, size, value));
    }
}

/// The bytes glibc stored into a %n slot, reduced to the size it wrote.
pub fn slot_value(slot: i64, size: CountSize) -> i64 {
    match size {
        CountSize::Char => i64::from(slot as u8 as i8),
        CountSize::Short => i64::from(slot as u16 as i16),
        CountSize::Int => i64::from(slot as u32 as i32),
        CountSize::Long => slot,
    }
}

#[allow(dead_code)]
pub fn host_sscanf_raw(input: &CStr, fmt: &CStr, ptrs: &[*mut c_void; 10]) -> i32 {
    // SAFETY: the caller passes pointers to objects large enough for the
    // conversions in `fmt`.
    unsafe {
        sscanf(
            input.as_ptr(),
            fmt.as_ptr(),
            ptrs[0],
            ptrs[1],
            ptrs[2],
            ptrs[3],
            ptrs[4],
            ptrs[5],
            ptrs[6],
            ptrs[7],
            ptrs[8],
            ptrs[9],
        )
    }
}

// ---------------------------------------------------------------------------
// getopt_long

#[repr(C)]
struct COption {
    name: *const c_char,
    has_arg: c_int,
    flag: *mut c_int,
    val: c_int,
}

#[repr(C)]
pub struct File {
    _private: [u8; 0],
}

extern "C" {
    fn getopt_long(
        argc: c_int,
        argv: *const *mut c_char,
        optstring: *const c_char,
        longopts: *const COption,
        longindex: *mut c_int,
    ) -> c_int;
    fn getopt_long_only(
        argc: c_int,
        argv: *const *mut c_char,
        optstring: *const c_char,
        longopts: *const COption,
        longindex: *mut c_int,
    ) -> c_int;
    fn getopt(argc: c_int, argv: *const *mut c_char, optstring: *const c_char) -> c_int;
    static mut optind: c_int;
    static mut opterr: c_int;
    static mut optopt: c_int;
    static mut optarg: *mut c_char;
    static mut stderr: *mut File;
    fn open_memstream(ptr: *mut *mut c_char, size: *mut usize) -> *mut File;
    fn fclose(f: *mut File) -> c_int;
    fn free(p: *mut c_void);
}

/// A long option for the host run: (name, has_arg, flag slot index, val).
pub type HostLongOpt = (Vec<u8>, i32, Option<usize>, i32);

/// One call's observable results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub ret: i32,
    pub optind: i32,
    pub optopt: i32,
    pub optarg: Option<(usize, usize)>,
    pub longindex: i32,
    /// (flag slot, value) stored by this call.
    pub flag_store: Option<(usize, i32)>,
}

/// The full run of glibc getopt on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub steps: Vec<Step>,
    pub final_argv: Vec<Vec<u8>>,
    pub stderr: Vec<u8>,
}

pub enum Entry {
    Getopt,
    Long,
    LongOnly,
}

/// Runs glibc's getopt until it returns -1 (at most `max` calls), starting
/// from `optind = 0`, with `opterr` as given and POSIXLY_CORRECT set or not.
/// Also returns the value of the global `optopt` before the run (glibc's
/// private copy survives re-initialisation).
pub fn host_optopt() -> i32 {
    // SAFETY: reads a glibc global; callers hold GLIBC_LOCK.
    unsafe { optopt }
}

pub fn host_getopt_run(
    args: &[Vec<u8>],
    optstring: &[u8],
    longopts: &[HostLongOpt],
    entry: Entry,
    opterr_v: i32,
    posixly: bool,
    max: usize,
) -> Run {
    let owned: Vec<CString> = args.iter().map(|a| cstr(a)).collect();
    let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    argv.push(std::ptr::null_mut());
    let names: Vec<CString> = longopts.iter().map(|o| cstr(&o.0)).collect();
    let mut flags = [0 as c_int; 8];
    let mut copts: Vec<COption> = longopts
        .iter()
        .zip(names.iter())
        .map(|(o, n)| COption {
            name: n.as_ptr(),
            has_arg: o.1,
            flag: match o.2 {
                Some(k) => &mut flags[k] as *mut c_int,
                None => std::ptr::null_mut(),
            },
            val: o.3,
        })
        .collect();
    copts.push(COption { name: std::ptr::null(), has_arg: 0, flag: std::ptr::null_mut(), val: 0 });
    let fmt = cstr(optstring);
    if posixly {
        std::env::set_var("POSIXLY_CORRECT", "1");
    } else {
        std::env::remove_var("POSIXLY_CORRECT");
    }
    let mut buf: *mut c_char = std::ptr::null_mut();
    let mut size: usize = 0;
    let mut steps = Vec::new();
    // SAFETY: argv, the option table and the flag slots outlive the calls;
    // glibc's globals are only touched under GLIBC_LOCK (held by the caller);
    // stderr is swapped for a memory stream and restored before returning.
    unsafe {
        let mem = open_memstream(&mut buf, &mut size);
        let saved = stderr;
        stderr = mem;
        optind = 0;
        opterr = opterr_v;
        for _ in 0..max {
            for f in flags.iter_mut() {
                *f = -12345;
            }
            let mut li: c_int = -1;
            let argc = args.len() as c_int;
            let r = match entry {
                Entry::Getopt => getopt(argc, argv.as_ptr(), fmt.as_ptr()),
                Entry::Long => getopt_long(argc, argv.as_ptr(), fmt.as_ptr(), copts.as_ptr(), &mut li),
                Entry::LongOnly => getopt_long_only(argc, argv.as_ptr(), fmt.as_ptr(), copts.as_ptr(), &mut li),
            };
            let oa = if optarg.is_null() {
                None
            } else {
                let p = optarg as usize;
                argv.iter().take(args.len()).enumerate().find_map(|(i, &a)| {
                    let start = a as usize;
                    let len = CStr::from_ptr(a).to_bytes().len();
                    (p >= start && p <= start + len).then(|| (i, p - start))
                })
            };
            let flag_store = flags.iter().position(|&f| f != -12345).map(|k| (k, flags[k]));
            steps.push(Step { ret: r, optind, optopt, optarg: oa, longindex: li, flag_store });
            if r == -1 {
                break;
            }
        }
        stderr = saved;
        fclose(mem);
        let err = if buf.is_null() { Vec::new() } else { std::slice::from_raw_parts(buf as *const u8, size).to_vec() };
        free(buf as *mut c_void);
        std::env::remove_var("POSIXLY_CORRECT");
        let final_argv = argv.iter().take(args.len()).map(|&a| CStr::from_ptr(a).to_bytes().to_vec()).collect();
        Run { steps, final_argv, stderr: err }
    }
}

// ---------------------------------------------------------------------------
// stdio through fopencookie

#[repr(C)]
struct CookieIo {
    read: *const c_void,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: *const c_void,
    close: *const c_void,
}

extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut File;
    fn setvbuf(f: *mut File, buf: *mut c_char, mode: c_int, size: usize) -> c_int;
    fn fputs(s: *const c_char, f: *mut File) -> c_int;
    fn putc(c: c_int, f: *mut File) -> c_int;
    fn fwrite(p: *const c_void, size: usize, n: usize, f: *mut File) -> usize;
    fn fflush(f: *mut File) -> c_int;
    fn fprintf(f: *mut File, fmt: *const c_char, ...) -> c_int;
}

unsafe extern "C" fn record_write(cookie: *mut c_void, buf: *const c_char, size: usize) -> isize {
    // SAFETY: the cookie is the Vec<Vec<u8>> of the running test; glibc
    // passes `size` readable bytes.
    unsafe {
        let calls = &mut *(cookie as *mut Vec<Vec<u8>>);
        calls.push(std::slice::from_raw_parts(buf as *const u8, size).to_vec());
    }
    size as isize
}

/// One operation on a stream.
#[derive(Debug, Clone)]
pub enum StdioOp {
    Fputs(Vec<u8>),
    Putc(u8),
    Fwrite(Vec<u8>, usize),
    Fflush,
    Printf(Vec<u8>),
}

/// Runs `ops` on a glibc FILE whose writes are recorded: mode 0 full,
/// 1 line, 2 unbuffered; `size` the buffer size. Returns each op's return
/// value and the write calls.
pub fn host_stdio_run(mode: i32, size: usize, ops: &[StdioOp]) -> (Vec<i64>, Vec<Vec<u8>>) {
    let mut calls: Box<Vec<Vec<u8>>> = Box::default();
    let mut rets = Vec::new();
    let mut userbuf = vec![0u8; size.max(1)];
    let wmode = cstr(b"w");
    // SAFETY: the cookie and the user buffer outlive the FILE, which is
    // flushed and closed before they are dropped; every string passed is
    // NUL-terminated.
    unsafe {
        let io = CookieIo {
            read: std::ptr::null(),
            write: Some(record_write),
            seek: std::ptr::null(),
            close: std::ptr::null(),
        };
        let f = fopencookie(&mut *calls as *mut Vec<Vec<u8>> as *mut c_void, wmode.as_ptr(), io);
        let r = match mode {
            0 => setvbuf(f, userbuf.as_mut_ptr() as *mut c_char, 0, size),
            1 => setvbuf(f, userbuf.as_mut_ptr() as *mut c_char, 1, size),
            _ => setvbuf(f, std::ptr::null_mut(), 2, 0),
        };
        assert_eq!(r, 0);
        let pct_s = cstr(b"%s");
        for op in ops {
            let ret = match op {
                StdioOp::Fputs(s) => {
                    let c = cstr(s);
                    i64::from(fputs(c.as_ptr(), f))
                }
                StdioOp::Putc(c) => i64::from(putc(i32::from(*c), f)),
                StdioOp::Fwrite(d, sz) => fwrite(d.as_ptr() as *const c_void, *sz, d.len() / sz, f) as i64,
                StdioOp::Fflush => i64::from(fflush(f)),
                StdioOp::Printf(s) => {
                    let c = cstr(s);
                    i64::from(fprintf(f, pct_s.as_ptr(), c.as_ptr()))
                }
            };
            rets.push(ret);
        }
        fflush(f);
        let _ = fclose(f);
    }
    (rets, *calls)
}

// ---------------------------------------------------------------------------
// err/warn/assert in a child process

/// A call made in a forked child with stderr on a pipe.
#[derive(Debug, Clone)]
pub enum ChildCall {
    /// warnx(fmt, arg) (fmt None: NULL).
    Warnx(Option<Vec<u8>>, Vec<u8>),
    /// errno = e; warn(fmt).
    Warn(Option<Vec<u8>>, i32),
    /// errx(status, fmt, program_invocation_short_name).
    Errx(i32, Vec<u8>),
    /// errno = e; err(status, fmt).
    Err(i32, Vec<u8>, i32),
    /// __assert_fail(assertion, file, line, function).
    Assert(Vec<u8>, Vec<u8>, u32, Option<Vec<u8>>),
    StackChk,
    ChkFail,
}

extern "C" {
    fn fork() -> c_int;
    fn pipe(fds: *mut c_int) -> c_int;
    fn dup2(a: c_int, b: c_int) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn _exit(code: c_int) -> !;
    fn warnx(fmt: *const c_char, ...);
    fn warn(fmt: *const c_char, ...);
    fn errx(status: c_int, fmt: *const c_char, ...) -> !;
    fn err(status: c_int, fmt: *const c_char, ...) -> !;
    fn __assert_fail(a: *const c_char, f: *const c_char, line: u32, func: *const c_char) -> !;
    fn __stack_chk_fail() -> !;
    fn __chk_fail() -> !;
    static program_invocation_short_name: *const c_char;
}

/// Runs `call` in a child; returns its stderr bytes and its exit status
/// (negative: killed by that signal).
pub fn in_child(call: &ChildCall) -> (Vec<u8>, i32) {
    let _g = GLIBC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let opt = |o: &Option<Vec<u8>>| o.as_ref().map(|v| cstr(v));
    // Everything the child needs is prepared before fork.
    let (c1, c2, c3) = match call {
        ChildCall::Warnx(f, a) => (opt(f), Some(cstr(a)), None),
        ChildCall::Warn(f, _) => (opt(f), None, None),
        ChildCall::Errx(_, f) => (Some(cstr(f)), None, None),
        ChildCall::Err(_, f, _) => (Some(cstr(f)), None, None),
        ChildCall::Assert(a, f, _, func) => (Some(cstr(a)), Some(cstr(f)), opt(func)),
        ChildCall::StackChk | ChildCall::ChkFail => (None, None, None),
    };
    let p = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    let mut fds = [0 as c_int; 2];
    // SAFETY: plain POSIX calls; the child only calls the function under
    // test (glibc's fork keeps malloc and stdio usable in the child) and
    // _exit.
    unsafe {
        assert_eq!(pipe(fds.as_mut_ptr()), 0);
        let pid = fork();
        if pid == 0 {
            dup2(fds[1], 2);
            close(fds[0]);
            match call {
                ChildCall::Warnx(_, _) => warnx(p(&c1), p(&c2)),
                ChildCall::Warn(_, e) => {
                    set_errno(*e);
                    warn(p(&c1));
                }
                ChildCall::Errx(st, _) => errx(*st, p(&c1), program_invocation_short_name),
                ChildCall::Err(st, _, e) => {
                    set_errno(*e);
                    err(*st, p(&c1));
                }
                ChildCall::Assert(_, _, line, _) => __assert_fail(p(&c1), p(&c2), *line, p(&c3)),
                ChildCall::StackChk => __stack_chk_fail(),
                ChildCall::ChkFail => __chk_fail(),
            }
            _exit(0);
        }
        close(fds[1]);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = read(fds[0], buf.as_mut_ptr() as *mut c_void, buf.len());
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        close(fds[0]);
        let mut status: c_int = 0;
        waitpid(pid, &mut status, 0);
        let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { -(status & 0x7f) };
        (out, code)
    }
}
