//! `getopt`, `getopt_long`, `getopt_long_only` over [`crate::getopt`],
//! with the process's `optind`/`opterr`/`optopt`/`optarg` objects (the
//! executable's COPY of them once bound): they are read before and written
//! after every call, as glibc's wrappers do. Diagnostics go to `stderr`.
use alloc::vec::Vec;
use core::ffi::{c_char, c_int};

use crate::getopt::{Argv, LongOption};

use super::cstdio::stderr_pieces;
use super::cstr::cstr_bytes;
use super::process::DataSymbol;
use super::sys::sys;

/// `struct option` (also used by the tests that call getopt_long).
#[repr(C)]
pub(crate) struct COption {
    pub(crate) name: *const c_char,
    pub(crate) has_arg: c_int,
    pub(crate) flag: *mut c_int,
    pub(crate) val: c_int,
}

/// At most this many `struct option` entries are read (the array must end
/// with a NULL name long before).
const MAX_LONG_OPTIONS: usize = 4096;

/// The caller's `argv` array.
struct CArgv {
    argv: *mut *mut c_char,
    argc: usize,
}

impl Argv for CArgv {
    fn len(&self) -> usize {
        self.argc
    }
    fn arg(&self, i: usize) -> &[u8] {
        if i >= self.argc {
            return &[];
        }
        // SAFETY: argv has argc elements, each NULL or a C string.
        unsafe {
            let p = *self.argv.add(i);
            if p.is_null() {
                &[]
            } else {
                cstr_bytes(p as *const u8)
            }
        }
    }
    fn swap(&mut self, i: usize, j: usize) {
        if i < self.argc && j < self.argc {
            // SAFETY: both indexes are inside argv (getopt permutes the
            // caller's array, as glibc does).
            unsafe { core::ptr::swap(self.argv.add(i), self.argv.add(j)) };
        }
    }
}

/// # Safety
/// The arguments are those of a C `getopt_long` call.
unsafe fn getopt_impl(
    argc: c_int,
    argv: *mut *mut c_char,
    optstring: *const c_char,
    longopts: *const COption,
    longindex: *mut c_int,
    long_only: bool,
) -> c_int {
    let p = sys().process();
    let mut cargv = CArgv { argv, argc: usize::try_from(argc).unwrap_or(0) };
    // SAFETY: `optstring` is a C string.
    let optstring = unsafe { cstr_bytes(optstring as *const u8) };
    let mut longs: Vec<LongOption<'_>> = Vec::new();
    if !longopts.is_null() {
        for i in 0..MAX_LONG_OPTIONS {
            // SAFETY: the array ends with an entry whose name is NULL.
            let o = unsafe { &*longopts.add(i) };
            if o.name.is_null() {
                break;
            }
            longs.push(LongOption {
                // SAFETY: a long option's name is a C string.
                name: unsafe { cstr_bytes(o.name as *const u8) },
                has_arg: o.has_arg,
                flag: if o.flag.is_null() { None } else { Some(o.flag as usize) },
                val: o.val,
            });
        }
    }
    let posixly_correct = super::cstdlib::env_lookup(b"POSIXLY_CORRECT").is_some();
    let mut diag = Vec::new();
    let (res, optind, optopt, optarg) = {
        let mut st = p.getopt.lock();
        st.optind = p.read_int(DataSymbol::Optind);
        st.opterr = p.read_int(DataSymbol::Opterr);
        let longs_opt = if longopts.is_null() { None } else { Some(longs.as_slice()) };
        let res = st.getopt(&mut cargv, optstring, longs_opt, long_only, posixly_correct, &mut diag);
        (res, st.optind, st.optopt, st.optarg)
    };
    if argc >= 1 {
        p.write_int(DataSymbol::Optind, optind);
        p.write_int(DataSymbol::Optopt, optopt);
        let arg = match optarg {
            // SAFETY: the index is inside argv and the offset inside that
            // string (the engine computed them from it).
            Some((i, off)) if i < cargv.argc => unsafe { (*argv.add(i) as usize).wrapping_add(off) },
            _ => 0,
        };
        p.write_ptr(DataSymbol::Optarg, arg);
    }
    if let Some((flag, val)) = res.store_flag {
        // SAFETY: the `int *flag` of the matched option.
        unsafe { *(flag as *mut c_int) = val };
    }
    if let (Some(i), false) = (res.longindex, longindex.is_null()) {
        // SAFETY: `longindex` points to an int.
        unsafe { *longindex = i as c_int };
    }
    if !diag.is_empty() {
        stderr_pieces(&[diag]);
    }
    res.ret
}

/// `getopt(argc, argv, optstring)`.
pub(crate) unsafe extern "C" fn getopt(argc: c_int, argv: *mut *mut c_char, optstring: *const c_char) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { getopt_impl(argc, argv, optstring, core::ptr::null(), core::ptr::null_mut(), false) }
}

/// `getopt_long(argc, argv, optstring, longopts, longindex)`.
pub(crate) unsafe extern "C" fn getopt_long(
    argc: c_int,
    argv: *mut *mut c_char,
    optstring: *const c_char,
    longopts: *const u8,
    longindex: *mut c_int,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { getopt_impl(argc, argv, optstring, longopts as *const COption, longindex, false) }
}

/// `getopt_long_only(argc, argv, optstring, longopts, longindex)`.
pub(crate) unsafe extern "C" fn getopt_long_only(
    argc: c_int,
    argv: *mut *mut c_char,
    optstring: *const c_char,
    longopts: *const u8,
    longindex: *mut c_int,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { getopt_impl(argc, argv, optstring, longopts as *const COption, longindex, true) }
}
