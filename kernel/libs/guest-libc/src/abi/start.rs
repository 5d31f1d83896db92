//! Program start and end: `__libc_start_main`, `exit` and its handlers,
//! `abort`, and glibc's fatal checks.
//!
//! Exit statuses are what a Linux parent would see: `exit(s)` and `_exit(s)`
//! end with `s & 0xff`; a death by signal is reported as `128 + signal`,
//! the shell's convention (`abort`, `__stack_chk_fail`, `__chk_fail`,
//! `__assert_fail` and glibc's other fatal errors: 134, SIGABRT).
use core::ffi::{c_char, c_int, c_uint, c_void};

use crate::err;

use super::cstdio::{flush_all, stderr_pieces};
use super::cstr::{cstr_bytes, opt_cstr};
use super::process::{AtExit, DataSymbol};
use super::sys::sys;
use super::thread::td;

/// SIGABRT.
const SIGABRT: i32 = 6;
/// The exit status of a process killed by `abort()`.
pub const ABORT_STATUS: i32 = 128 + SIGABRT;

type Main = unsafe extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) -> c_int;

/// Records the status and ends the process.
fn terminate(status: i32) -> ! {
    let p = sys().process();
    p.set_exit_status(status);
    sys().exit_process(status)
}

/// `__libc_start_main(main, argc, argv, init, fini, rtld_fini, stack_end)`.
///
/// The kernel has run every initializer before `_start`; `init` and `fini`
/// (NULL from glibc 2.34's `_start`) are ignored. A non-NULL `rtld_fini`
/// (`%rdx` at `_start`; the kernel passes 0) is registered with `atexit` as
/// glibc does. Calls `main(argc, argv, environ)`, then `exit` with its
/// result.
pub(crate) unsafe extern "C" fn libc_start_main(
    main: Option<Main>,
    argc: c_int,
    argv: *mut *mut c_char,
    _init: *const c_void,
    _fini: *const c_void,
    rtld_fini: Option<unsafe extern "C" fn()>,
    _stack_end: *mut c_void,
) -> c_int {
    if let Some(f) = rtld_fini {
        push_atexit(AtExit { func: f as usize, arg: 0, dso: 0, with_arg: false });
    }
    let Some(main) = main else { terminate(127) };
    let environ = sys().process().read_ptr(DataSymbol::Environ) as *mut *mut c_char;
    // SAFETY: the program's main with the arguments the kernel put on its
    // initial stack.
    let status = unsafe { main(argc, argv, environ) };
    exit(status)
}

fn push_atexit(h: AtExit) -> c_int {
    let p = sys().process();
    let mut l = p.atexit.lock();
    if l.try_reserve(1).is_err() {
        return -1;
    }
    l.push(h);
    0
}

/// `atexit(func)`.
pub(crate) extern "C" fn atexit(func: Option<unsafe extern "C" fn()>) -> c_int {
    match func {
        Some(f) => push_atexit(AtExit { func: f as usize, arg: 0, dso: 0, with_arg: false }),
        None => -1,
    }
}

/// `__cxa_atexit(func, arg, dso_handle)`.
pub(crate) unsafe extern "C" fn cxa_atexit(
    func: Option<unsafe extern "C" fn(*mut c_void)>,
    arg: *mut c_void,
    dso: *mut c_void,
) -> c_int {
    match func {
        Some(f) => push_atexit(AtExit { func: f as usize, arg: arg as usize, dso: dso as usize, with_arg: true }),
        None => -1,
    }
}

/// Calls one handler.
fn call_handler(h: AtExit) {
    // SAFETY: the function was registered with this signature.
    unsafe {
        if h.with_arg {
            let f = core::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void)>(h.func);
            f(h.arg as *mut c_void);
        } else {
            let f = core::mem::transmute::<usize, unsafe extern "C" fn()>(h.func);
            f();
        }
    }
}

/// Runs (and removes) the handlers registered for `dso` (all when None),
/// newest first; handlers registered meanwhile run too.
fn run_atexit(dso: Option<usize>) {
    loop {
        let next = {
            let p = sys().process();
            let mut l = p.atexit.lock();
            let idx = match dso {
                None => l.len().checked_sub(1),
                Some(d) => l.iter().rposition(|h| h.dso == d),
            };
            idx.map(|i| l.remove(i))
        };
        match next {
            Some(h) => call_handler(h),
            None => break,
        }
    }
}

/// `__cxa_finalize(dso)`: runs the `__cxa_atexit` handlers of one object
/// (every handler for NULL).
pub(crate) unsafe extern "C" fn cxa_finalize(dso: *mut c_void) {
    run_atexit(if dso.is_null() { None } else { Some(dso as usize) });
}

/// `exit(status)`: `atexit` handlers (newest first), then the kernel's
/// finalizers in their order, then every stream is flushed.
pub(crate) extern "C" fn exit(status: c_int) -> ! {
    run_atexit(None);
    loop {
        let next = {
            let p = sys().process();
            let mut l = p.finalizers.lock();
            if l.is_empty() {
                None
            } else {
                Some(l.remove(0))
            }
        };
        match next {
            // SAFETY: the loader's finalizer addresses: `void f(void)`.
            Some(f) => unsafe { core::mem::transmute::<usize, unsafe extern "C" fn()>(f)() },
            None => break,
        }
    }
    flush_all();
    terminate(status & 0xff)
}

/// `_exit(status)` / `_Exit`: no handlers, no flushing.
pub(crate) extern "C" fn underscore_exit(status: c_int) -> ! {
    terminate(status & 0xff)
}

/// `abort()`: ends the process as SIGABRT would (status 134), without
/// flushing streams (glibc 2.27+ does not).
pub(crate) extern "C" fn abort() -> ! {
    terminate(ABORT_STATUS)
}

/// `__libc_fatal`-style end: `msg` to file descriptor 2 (and the console),
/// then `abort`.
pub(crate) fn libc_fatal(msg: &[u8]) -> ! {
    let _ = sys().write(2, msg);
    sys().console(msg.strip_suffix(b"\n").unwrap_or(msg));
    abort()
}

/// `__chk_fail()`.
pub(crate) extern "C" fn chk_fail() -> ! {
    libc_fatal(err::BUFFER_OVERFLOW)
}

/// `__stack_chk_fail()`.
pub(crate) extern "C" fn stack_chk_fail() -> ! {
    libc_fatal(err::STACK_SMASHING)
}

/// `__fortify_fail(msg)`.
pub(crate) unsafe extern "C" fn fortify_fail(msg: *const c_char) -> ! {
    // SAFETY: `msg` is a C string.
    let m = err::fortify_fail(unsafe { cstr_bytes(msg as *const u8) });
    libc_fatal(&m)
}

/// `__assert_fail(assertion, file, line, function)`.
pub(crate) unsafe extern "C" fn assert_fail(
    assertion: *const c_char,
    file: *const c_char,
    line: c_uint,
    function: *const c_char,
) -> ! {
    let prog = sys().process().progname();
    // SAFETY: C strings (function may be NULL).
    let msg = unsafe {
        err::assert_fail(
            &prog,
            opt_cstr(assertion as *const u8).unwrap_or_default(),
            opt_cstr(file as *const u8).unwrap_or_default(),
            line,
            opt_cstr(function as *const u8),
        )
    };
    stderr_pieces(&[msg]);
    abort()
}

/// `__errno_location()`.
pub(crate) extern "C" fn errno_location() -> *mut c_int {
    td().errno_ptr()
}
