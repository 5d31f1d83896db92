//! Signals: recorded, never delivered.
//!
//! No signal is ever delivered to a program (nothing sends one: there is no
//! `kill`, no terminal, and `SIGPIPE` does not exist for the kernel's
//! descriptors). `sigaction` keeps a per-process table and returns the
//! previous action as Linux does (after a set, `sa_flags` has glibc's
//! `SA_RESTORER` and `sa_restorer` a libc address); the signal mask is kept
//! per thread. The `sigset_t` helpers work on the first 64 bits, as glibc
//! 2.36's do (they touch only the first 8 of the 128 bytes; `sigfillset`
//! leaves out glibc's internal signals 32 and 33, `sigaddset`/`sigdelset`
//! refuse them).
use core::ffi::c_int;

use crate::errno::EINVAL;

use super::cstr::bytes_mut;
use super::set_errno;
use super::sys::sys;
use super::thread::td;

const NSIG: c_int = 65;
const SIGKILL: c_int = 9;
const SIGSTOP: c_int = 19;
const SA_RESTORER: u64 = 0x0400_0000;
const SIG_BLOCK: c_int = 0;
const SIG_UNBLOCK: c_int = 1;
const SIG_SETMASK: c_int = 2;
/// glibc's SIGCANCEL and SIGSETXID.
const INTERNAL: u64 = (1 << 31) | (1 << 32);
/// Signals the kernel never lets a thread block.
const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// `sizeof(struct sigaction)` on x86_64.
const SIGACTION_SIZE: usize = 152;

/// What Linux keeps for one signal.
#[derive(Clone, Copy, Debug, Default)]
struct Action {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

/// The `sigaction` table of a process.
pub(crate) struct SigactionTable {
    actions: [Action; 64],
}

impl SigactionTable {
    pub(crate) const fn new() -> Self {
        SigactionTable { actions: [Action { handler: 0, flags: 0, restorer: 0, mask: 0 }; 64] }
    }
}

fn is_internal(sig: c_int) -> bool {
    sig == 32 || sig == 33
}

fn bit(sig: c_int) -> u64 {
    1u64 << (sig - 1)
}

/// Reads the first 64 bits of a `sigset_t`.
///
/// # Safety
/// `set` points to a `sigset_t`.
unsafe fn read_set(set: *const u8) -> u64 {
    // SAFETY: a sigset_t is 128 bytes.
    unsafe { (set as *const u64).read_unaligned() }
}

/// Writes the first 64 bits of a `sigset_t`.
///
/// # Safety
/// `set` points to a writable `sigset_t`.
unsafe fn write_set(set: *mut u8, v: u64) {
    // SAFETY: a sigset_t is 128 bytes.
    unsafe { (set as *mut u64).write_unaligned(v) }
}

/// The address glibc would put in `sa_restorer`.
extern "C" fn restore_rt() {}

/// `sigaction(sig, act, oldact)`.
pub(crate) unsafe extern "C" fn sigaction(sig: c_int, act: *const u8, oldact: *mut u8) -> c_int {
    if sig <= 0 || sig >= NSIG || is_internal(sig) || (!act.is_null() && (sig == SIGKILL || sig == SIGSTOP)) {
        set_errno(EINVAL);
        return -1;
    }
    let new = if act.is_null() {
        None
    } else {
        // SAFETY: `act` points to a struct sigaction (152 bytes).
        unsafe {
            Some(Action {
                handler: (act as *const u64).read_unaligned(),
                mask: (act.add(8) as *const u64).read_unaligned(),
                flags: u64::from((act.add(136) as *const u32).read_unaligned()) | SA_RESTORER,
                restorer: restore_rt as *const () as usize as u64,
            })
        }
    };
    let old = {
        let mut table = sys().process().sigactions.lock();
        let Some(slot) = table.actions.get_mut((sig - 1) as usize) else {
            set_errno(EINVAL);
            return -1;
        };
        let old = *slot;
        if let Some(n) = new {
            *slot = n;
        }
        old
    };
    if !oldact.is_null() {
        // SAFETY: `oldact` points to a writable struct sigaction.
        let out = unsafe { bytes_mut(oldact, SIGACTION_SIZE) };
        out.fill(0);
        let mut put = |off: usize, b: &[u8]| {
            if let Some(d) = out.get_mut(off..off + b.len()) {
                d.copy_from_slice(b);
            }
        };
        put(0, &old.handler.to_le_bytes());
        put(8, &old.mask.to_le_bytes());
        put(136, &(old.flags as u32).to_le_bytes());
        put(144, &old.restorer.to_le_bytes());
    }
    0
}

/// `sigemptyset(set)`.
pub(crate) unsafe extern "C" fn sigemptyset(set: *mut u8) -> c_int {
    // SAFETY: `set` points to a sigset_t.
    unsafe { write_set(set, 0) };
    0
}

/// `sigfillset(set)`.
pub(crate) unsafe extern "C" fn sigfillset(set: *mut u8) -> c_int {
    // SAFETY: `set` points to a sigset_t.
    unsafe { write_set(set, !INTERNAL) };
    0
}

/// `sigaddset(set, sig)`.
pub(crate) unsafe extern "C" fn sigaddset(set: *mut u8, sig: c_int) -> c_int {
    if sig <= 0 || sig >= NSIG || is_internal(sig) {
        set_errno(EINVAL);
        return -1;
    }
    // SAFETY: `set` points to a sigset_t.
    unsafe { write_set(set, read_set(set) | bit(sig)) };
    0
}

/// `sigdelset(set, sig)`.
pub(crate) unsafe extern "C" fn sigdelset(set: *mut u8, sig: c_int) -> c_int {
    if sig <= 0 || sig >= NSIG || is_internal(sig) {
        set_errno(EINVAL);
        return -1;
    }
    // SAFETY: `set` points to a sigset_t.
    unsafe { write_set(set, read_set(set) & !bit(sig)) };
    0
}

/// `sigismember(set, sig)`.
pub(crate) unsafe extern "C" fn sigismember(set: *const u8, sig: c_int) -> c_int {
    if sig <= 0 || sig >= NSIG {
        set_errno(EINVAL);
        return -1;
    }
    // SAFETY: `set` points to a sigset_t.
    c_int::from(unsafe { read_set(set) } & bit(sig) != 0)
}

/// The body of `pthread_sigmask`: 0 or an errno.
///
/// # Safety
/// `set`/`oldset` are NULL or point to `sigset_t`s.
unsafe fn sigmask(how: c_int, set: *const u8, oldset: *mut u8) -> c_int {
    let td = td();
    let old = td.sigmask.get();
    if !set.is_null() {
        // SAFETY: guaranteed by the caller.
        let s = unsafe { read_set(set) } & !INTERNAL;
        let new = match how {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return EINVAL,
        };
        td.sigmask.set(new & !UNBLOCKABLE);
    }
    if !oldset.is_null() {
        // SAFETY: guaranteed by the caller.
        unsafe { write_set(oldset, old) };
    }
    0
}

/// `pthread_sigmask(how, set, oldset)`: 0 or an errno value.
pub(crate) unsafe extern "C" fn pthread_sigmask(how: c_int, set: *const u8, oldset: *mut u8) -> c_int {
    // SAFETY: the C caller passes NULL or sigset_t pointers.
    unsafe { sigmask(how, set, oldset) }
}

/// `sigprocmask(how, set, oldset)`: 0, or -1 with errno.
pub(crate) unsafe extern "C" fn sigprocmask(how: c_int, set: *const u8, oldset: *mut u8) -> c_int {
    // SAFETY: as in pthread_sigmask.
    match unsafe { sigmask(how, set, oldset) } {
        0 => 0,
        e => {
            set_errno(e);
            -1
        }
    }
}
