//! The C ABI of the in-kernel libc: the `extern "C"` functions and data
//! objects that Debian's `/usr/bin/xenstore`, `libxenstore.so.4` and
//! `libxentoolcore.so.1` import from glibc 2.36, implemented over the
//! kernel's [`Sys`] and the glibc-exact engines of this crate.
//!
//! # How the kernel uses it
//!
//! * **Once, at boot**: [`set_sys`] with the kernel's [`Sys`].
//! * **Linking**: the loader resolves each import the objects do not define
//!   themselves with [`lookup`]. [`Symbol::Function`] is the address of an
//!   `extern "C"` function of this module (the symbols are *not*
//!   `#[no_mangle]`: their Rust names are mangled, so the kernel's own
//!   `memcpy` and friends never clash with them). [`Symbol::Data`] names a
//!   per-process object: [`Process::data_symbol`] gives its address and
//!   size in that process, [`Process::initial_bytes`] its bytes (the `data`
//!   of a COPY relocation). Libraries that the libc replaces are listed by
//!   [`provides_library`]. Undefined weak references (`__gmon_start__`,
//!   `_ITM_*`) are not provided and resolve to 0 in the loader.
//! * **Per process**: [`Process::new`] with `argv` and `envp` (the same the
//!   kernel puts on the initial stack); keep it in an `Arc` while any thread
//!   of the program runs, and return it from [`Sys::process`] on those
//!   threads. After applying the relocations, for every COPY relocation of
//!   the executable whose symbol is a [`DataSymbol`] (Debian's `xenstore`
//!   copies `stdout`, `optind` and `optarg`), call [`Process::bind_copy`]
//!   with the address of the copy: the libc then uses the executable's copy
//!   (getopt reads and writes its `optind`, printf reads its `stdout`), as
//!   glibc's code does through its GOT. Pass the finalizers the loader
//!   lists (the fini side, in its order) to [`Process::set_finalizers`];
//!   `exit` runs them after the `atexit` handlers and before flushing the
//!   streams. The initializers are run by the kernel before `_start`.
//! * **Per thread**: a [`ThreadData`] ([`ThreadData::new`]) that lives as
//!   long as the thread, returned by [`Sys::thread_data`] on it; a thread
//!   control block whose `%fs:0x28` holds the stack canary (glibc-compiled
//!   code reads it); a 16-byte aligned stack. Threads the libc starts with
//!   [`Sys::spawn`] need the same.
//! * **Entry**: jump to `_start` with the SysV initial stack and `%rdx` =
//!   0 (no `rtld_fini`; a non-zero value is registered with `atexit`, as
//!   glibc does). `__libc_start_main` calls `main(argc, argv, environ)` and
//!   then [`exit`](start) with its result.
//! * **End**: the process ends through [`Sys::exit_process`] with the
//!   status a Linux parent would see: `exit(s)`/`_exit(s)` give `s & 0xff`;
//!   `abort`, `__stack_chk_fail`, `__chk_fail`, `__assert_fail`, and the
//!   fatal malloc and printf checks give 134 (128 + SIGABRT, the shell's
//!   convention for a death by signal). [`Process::exit_status`] records it.
//!
//! # What is provided
//!
//! Every symbol of [`FUNCTIONS`] and [`DataSymbol`]: all that the three
//! Debian objects import, plus the usual companions (the `v` and non-`_chk`
//! forms of the printf family, the rest of `<string.h>`, `setjmp` and
//! friends, more of pthreads). Each module documents its part:
//! [`cstdio`] (streams, printf), [`cscanf`], [`cgetopt`], [`cerr`],
//! [`cstdlib`] (malloc, strtol, getenv), [`cstring`], [`cunistd`] (files,
//! sysconf, dlsym), [`ctime`] (clocks, sleeping), [`signal`], [`thread`] (pthreads, cancellation,
//! setjmp), [`start`] (start, exit, abort, fatal checks), [`heap`],
//! [`valist`] (reading C variable arguments).
//!
//! # Adding a symbol
//!
//! 1. Write the function in the module of its header, as a `pub(crate)
//!    unsafe extern "C" fn` (a plain `extern "C" fn` when it takes no
//!    pointers). A variadic function is `unsafe extern "C" fn f(a: T, mut
//!    args: ...)` and reads its arguments with
//!    `valist::VaReader::from_rust`; a `va_list`
//!    parameter is a `*mut VaListTag` read with
//!    `valist::VaReader::from_c`. Set `errno` with the
//!    thread's [`ThreadData`] and return what glibc returns; a call that can
//!    block is a cancellation point if glibc's is (see [`thread`]).
//! 2. Add `"name" => module::function,` to the table below (aliases get a
//!    line each), and a host test that calls it through the C ABI on the mock
//!    kernel (`abi/tests/`).
//! 3. A data object needs a [`DataSymbol`] variant, its storage in the
//!    process's globals and an entry in [`DataSymbol::names`].
//!
//! # Known differences from glibc
//!
//! * Floating-point variadic arguments passed in `xmm` registers cannot be
//!   read by our own variadic functions on the soft-float kernel target
//!   (they print as 0; see [`valist`]). Through a C `va_list`
//!   (`__vsnprintf_chk` and the other `v` functions) they are exact. The
//!   Debian objects pass none.
//! * The fortify check of `%n` knows only the heap as writable memory
//!   ([`cstdio`]).
//! * No signal is ever delivered ([`signal`]); asynchronous cancellation
//!   acts as deferred ([`thread`]); every mutex is a normal one.
//! * `free` of a bad pointer prints `free(): invalid pointer` for every kind
//!   of misuse ([`heap`]).
//! * `sscanf`'s floating conversions are not implemented ([`cscanf`]).
//! * Only `stdin`, `stdout` and `stderr` exist as `FILE`s (no `fopen`), and
//!   nothing reads `stdin`.
//! * printf to a buffered stream hands the whole output to the stream at
//!   once, where glibc 2.36 hands it over piece by piece: the bytes are the
//!   same, the sizes of the `write(2)` calls can differ when the buffer
//!   fills in the middle of a call.
//! * getopt diagnostics are one `write`; glibc's "ambiguous option" message
//!   is several (same bytes).
#![allow(unsafe_code)]

pub mod cerr;
pub mod cgetopt;
pub mod cscanf;
pub mod cstdio;
pub mod cstdlib;
pub(crate) mod cstr;
pub mod cstring;
pub mod ctime;
pub mod cunistd;
pub mod heap;
pub(crate) mod lock;
pub mod process;
pub mod signal;
pub mod start;
pub mod sys;
pub mod thread;
pub mod valist;

#[cfg(test)]
mod tests;

pub use process::{DataSymbol, Process};
pub use sys::{set_sys, FileStat, PollFd, Sys, ThreadStart};
pub use thread::ThreadData;

pub(crate) use cstdlib::malloc_bytes;

/// Sets the calling thread's `errno`.
pub(crate) fn set_errno(e: i32) {
    thread::td().set_errno(e)
}

/// What a libc name resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    /// The address of an `extern "C"` function.
    Function(usize),
    /// A per-process data object (see [`Process::data_symbol`]).
    Data(DataSymbol),
}

/// The shared objects the libc stands for: the loader must not load them
/// (a `DT_NEEDED` of one of these is satisfied by [`lookup`]).
pub const LIBRARIES: &[&str] = &["libc.so.6", "libpthread.so.0", "libdl.so.2", "ld-linux-x86-64.so.2"];

/// Whether `soname` is one of [`LIBRARIES`].
pub fn provides_library(soname: &str) -> bool {
    LIBRARIES.contains(&soname)
}

macro_rules! function_table {
    ($($name:literal => $f:expr,)*) => {
        /// Every function name [`lookup`] resolves.
        pub const FUNCTIONS: &[&str] = &[$($name),*];

        fn function(name: &str) -> Option<usize> {
            match name {
                $($name => Some($f as *const () as usize),)*
                _ => None,
            }
        }
    };
}

function_table! {
    // start.rs
    "__libc_start_main" => start::libc_start_main,
    "exit" => start::exit,
    "_exit" => start::underscore_exit,
    "_Exit" => start::underscore_exit,
    "abort" => start::abort,
    "atexit" => start::atexit,
    "__cxa_atexit" => start::cxa_atexit,
    "__cxa_finalize" => start::cxa_finalize,
    "__stack_chk_fail" => start::stack_chk_fail,
    "__chk_fail" => start::chk_fail,
    "__fortify_fail" => start::fortify_fail,
    "__assert_fail" => start::assert_fail,
    "__errno_location" => start::errno_location,
    // cstdlib.rs
    "malloc" => cstdlib::malloc,
    "free" => cstdlib::free,
    "calloc" => cstdlib::calloc,
    "realloc" => cstdlib::realloc,
    "reallocarray" => cstdlib::reallocarray,
    "malloc_usable_size" => cstdlib::malloc_usable_size,
    "strtol" => cstdlib::strtol,
    "strtoul" => cstdlib::strtoul,
    "strtoll" => cstdlib::strtoll,
    "strtoull" => cstdlib::strtoull,
    "strtoq" => cstdlib::strtoll,
    "strtouq" => cstdlib::strtoull,
    "strtoimax" => cstdlib::strtoll,
    "strtoumax" => cstdlib::strtoull,
    "atoi" => cstdlib::atoi,
    "atol" => cstdlib::atol,
    "atoll" => cstdlib::atol,
    "getenv" => cstdlib::getenv,
    "secure_getenv" => cstdlib::getenv,
    "strdup" => cstdlib::strdup,
    "__strdup" => cstdlib::strdup,
    "strndup" => cstdlib::strndup,
    // cstring.rs
    "memcpy" => cstring::memcpy,
    "mempcpy" => cstring::mempcpy,
    "__mempcpy" => cstring::mempcpy,
    "memmove" => cstring::memmove,
    "memset" => cstring::memset,
    "bzero" => cstring::bzero,
    "memcmp" => cstring::memcmp,
    "bcmp" => cstring::memcmp,
    "memchr" => cstring::memchr,
    "memrchr" => cstring::memrchr,
    "strlen" => cstring::c_strlen,
    "strnlen" => cstring::c_strnlen,
    "strcmp" => cstring::strcmp,
    "strcoll" => cstring::strcmp,
    "strncmp" => cstring::strncmp,
    "strcasecmp" => cstring::strcasecmp,
    "strncasecmp" => cstring::strncasecmp,
    "strcpy" => cstring::strcpy,
    "stpcpy" => cstring::stpcpy,
    "strncpy" => cstring::strncpy,
    "strcat" => cstring::strcat,
    "strncat" => cstring::strncat,
    "strchr" => cstring::strchr,
    "index" => cstring::strchr,
    "strchrnul" => cstring::strchrnul,
    "strrchr" => cstring::strrchr,
    "rindex" => cstring::strrchr,
    "strstr" => cstring::strstr,
    "strspn" => cstring::strspn,
    "strcspn" => cstring::strcspn,
    "strpbrk" => cstring::strpbrk,
    "strtok_r" => cstring::strtok_r,
    "__strtok_r" => cstring::strtok_r,
    "strerror" => cstring::strerror,
    "strerror_r" => cstring::strerror_r,
    "__xpg_strerror_r" => cstring::xpg_strerror_r,
    // cscanf.rs
    "__isoc99_sscanf" => cscanf::sscanf,
    "sscanf" => cscanf::sscanf,
    "__isoc99_vsscanf" => cscanf::vsscanf,
    "vsscanf" => cscanf::vsscanf,
    // cstdio.rs
    "fflush" => cstdio::fflush,
    "fflush_unlocked" => cstdio::fflush,
    "fputs" => cstdio::fputs,
    "fputs_unlocked" => cstdio::fputs,
    "puts" => cstdio::puts,
    "fputc" => cstdio::fputc,
    "fputc_unlocked" => cstdio::fputc,
    "putc" => cstdio::fputc,
    "putc_unlocked" => cstdio::fputc,
    "_IO_putc" => cstdio::fputc,
    "putchar" => cstdio::putchar,
    "putchar_unlocked" => cstdio::putchar,
    "fwrite" => cstdio::fwrite,
    "fwrite_unlocked" => cstdio::fwrite,
    "ferror" => cstdio::ferror,
    "ferror_unlocked" => cstdio::ferror,
    "clearerr" => cstdio::clearerr,
    "fileno" => cstdio::fileno,
    "printf" => cstdio::printf,
    "__printf_chk" => cstdio::printf_chk,
    "fprintf" => cstdio::fprintf,
    "__fprintf_chk" => cstdio::fprintf_chk,
    "vprintf" => cstdio::vprintf,
    "__vprintf_chk" => cstdio::vprintf_chk,
    "vfprintf" => cstdio::vfprintf,
    "__vfprintf_chk" => cstdio::vfprintf_chk,
    "sprintf" => cstdio::sprintf,
    "__sprintf_chk" => cstdio::sprintf_chk,
    "vsprintf" => cstdio::vsprintf,
    "__vsprintf_chk" => cstdio::vsprintf_chk,
    "snprintf" => cstdio::snprintf,
    "__snprintf_chk" => cstdio::snprintf_chk,
    "vsnprintf" => cstdio::vsnprintf,
    "__vsnprintf_chk" => cstdio::vsnprintf_chk,
    "asprintf" => cstdio::asprintf,
    "vasprintf" => cstdio::vasprintf,
    "dprintf" => cstdio::dprintf,
    "vdprintf" => cstdio::vdprintf,
    // cerr.rs
    "err" => cerr::err,
    "errx" => cerr::errx,
    "warn" => cerr::warn,
    "warnx" => cerr::warnx,
    "verr" => cerr::verr,
    "verrx" => cerr::verrx,
    "vwarn" => cerr::vwarn,
    "vwarnx" => cerr::vwarnx,
    // cgetopt.rs
    "getopt" => cgetopt::getopt,
    "getopt_long" => cgetopt::getopt_long,
    "getopt_long_only" => cgetopt::getopt_long_only,
    // cunistd.rs
    "open" => cunistd::open,
    "open64" => cunistd::open,
    "close" => cunistd::close,
    "read" => cunistd::read,
    "write" => cunistd::write,
    "fcntl" => cunistd::fcntl,
    "fcntl64" => cunistd::fcntl,
    "stat" => cunistd::stat,
    "stat64" => cunistd::stat,
    "lstat" => cunistd::stat,
    "lstat64" => cunistd::stat,
    "fstat" => cunistd::fstat,
    "fstat64" => cunistd::fstat,
    "access" => cunistd::access,
    "dup2" => cunistd::dup2,
    "pipe" => cunistd::pipe,
    "pipe2" => cunistd::pipe2,
    "socket" => cunistd::socket,
    "connect" => cunistd::connect,
    "ioctl" => cunistd::ioctl,
    "poll" => cunistd::poll,
    "isatty" => cunistd::isatty,
    "sysconf" => cunistd::sysconf,
    "__sysconf" => cunistd::sysconf,
    "getpagesize" => cunistd::getpagesize,
    "dlsym" => cunistd::dlsym,
    // ctime.rs
    "clock_gettime" => ctime::clock_gettime,
    "time" => ctime::time,
    "gettimeofday" => ctime::gettimeofday,
    "nanosleep" => ctime::nanosleep,
    "usleep" => ctime::usleep,
    "sleep" => ctime::sleep,
    // signal.rs
    "sigaction" => signal::sigaction,
    "sigemptyset" => signal::sigemptyset,
    "sigfillset" => signal::sigfillset,
    "sigaddset" => signal::sigaddset,
    "sigdelset" => signal::sigdelset,
    "sigismember" => signal::sigismember,
    "sigprocmask" => signal::sigprocmask,
    "pthread_sigmask" => signal::pthread_sigmask,
    // thread.rs
    "pthread_create" => thread::pthread_create,
    "pthread_join" => thread::pthread_join,
    "pthread_detach" => thread::pthread_detach,
    "pthread_cancel" => thread::pthread_cancel,
    "pthread_self" => thread::pthread_self,
    "pthread_equal" => thread::pthread_equal,
    "pthread_exit" => thread::pthread_exit,
    "pthread_testcancel" => thread::pthread_testcancel,
    "pthread_setcancelstate" => thread::pthread_setcancelstate,
    "pthread_setcanceltype" => thread::pthread_setcanceltype,
    "pthread_attr_init" => thread::pthread_attr_init,
    "pthread_attr_destroy" => thread::pthread_attr_destroy,
    "pthread_attr_setstacksize" => thread::pthread_attr_setstacksize,
    "pthread_attr_getstacksize" => thread::pthread_attr_getstacksize,
    "pthread_attr_setdetachstate" => thread::pthread_attr_setdetachstate,
    "pthread_attr_getdetachstate" => thread::pthread_attr_getdetachstate,
    "pthread_mutex_init" => thread::pthread_mutex_init,
    "pthread_mutex_destroy" => thread::pthread_mutex_destroy,
    "pthread_mutex_lock" => thread::pthread_mutex_lock,
    "pthread_mutex_trylock" => thread::pthread_mutex_trylock,
    "pthread_mutex_unlock" => thread::pthread_mutex_unlock,
    "pthread_cond_init" => thread::pthread_cond_init,
    "pthread_cond_destroy" => thread::pthread_cond_destroy,
    "pthread_cond_signal" => thread::pthread_cond_signal,
    "pthread_cond_broadcast" => thread::pthread_cond_broadcast,
    "pthread_cond_wait" => thread::pthread_cond_wait,
    "pthread_cond_timedwait" => thread::pthread_cond_timedwait,
    "pthread_once" => thread::pthread_once,
    "__pthread_register_cancel" => thread::pthread_register_cancel,
    "__pthread_unregister_cancel" => thread::pthread_unregister_cancel,
    "__pthread_unwind_next" => thread::pthread_unwind_next,
    "__sigsetjmp" => thread::guest_libc_abi_sigsetjmp,
    "setjmp" => thread::guest_libc_abi_setjmp,
    "_setjmp" => thread::guest_libc_abi_underscore_setjmp,
    "longjmp" => thread::guest_libc_abi_longjmp,
    "_longjmp" => thread::guest_libc_abi_longjmp,
    "siglongjmp" => thread::guest_libc_abi_longjmp,
}

/// Resolves a libc symbol name. A version (`malloc@GLIBC_2.2.5`) is ignored:
/// every version of a name resolves to the one implementation.
pub fn lookup(name: &str) -> Option<Symbol> {
    let name = name.split('@').next().unwrap_or(name);
    if let Some(a) = function(name) {
        return Some(Symbol::Function(a));
    }
    DataSymbol::ALL.iter().find(|d| d.names().contains(&name)).map(|&d| Symbol::Data(d))
}
