//! Hypercalls: a `call` into the hypercall page Xen filled in at build time
//! (32 bytes per hypercall). Arguments go in rdi, rsi, rdx, r10, r8; the
//! result comes back in rax. Xen may clobber rcx, r11 and every argument
//! register (debug builds of Xen deliberately do), so all are declared
//! clobbered. Only this module executes hypercalls; the typed wrappers in
//! `crate::xen` are what the rest of the kernel uses.
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

extern "C" {
    /// Filled with hypercall stubs by Xen (XEN_ELFNOTE_HYPERCALL_PAGE): one
    /// 4 KiB page (this layer sits below `mm`, so the size is spelled out).
    static hypercall_page: [u8; 4096];
}

/// A negative errno value returned by Xen (Xen uses Linux's numbers for the
/// common errors: EPERM 1, ENOENT 2, EINVAL 22, ENOSYS 38, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenError(pub i64);

impl XenError {
    /// The errno name for the values Xen commonly returns.
    pub fn name(self) -> &'static str {
        match -self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            16 => "EBUSY",
            17 => "EEXIST",
            22 => "EINVAL",
            28 => "ENOSPC",
            38 => "ENOSYS",
            _ => "E?",
        }
    }
}

impl core::fmt::Display for XenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Turns a raw hypercall return value into a result.
pub fn check(ret: i64) -> Result<i64, XenError> {
    if ret < 0 {
        Err(XenError(ret))
    } else {
        Ok(ret)
    }
}

/// Hypercalls issued since boot, by number (numbers below 64; the return
/// from an event upcall, `HYPERVISOR_iret` from the assembly, is not
/// counted here). Diagnostics: `make bench` prints them per request.
pub static COUNTS: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// Hypercalls issued since boot, all numbers together (the bench workload
/// reports it).
#[cfg(feature = "bench")]
pub fn total() -> u64 {
    COUNTS.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

fn entry(nr: u32) -> usize {
    let page = core::ptr::addr_of!(hypercall_page) as usize;
    page + 32 * nr as usize
}

/// Issues hypercall `nr` with up to five arguments.
///
/// # Safety
/// The arguments must be valid for hypercall `nr`: pointers must point to
/// memory of the size and type that hypercall expects, live for the call.
#[inline]
pub unsafe fn hypercall5(nr: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let ret: i64;
    let target = entry(nr);
    if let Some(c) = COUNTS.get(nr as usize) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: the caller guarantees the arguments; the hypercall page holds a
    // valid stub for every hypercall number (unknown ones return -ENOSYS).
    unsafe {
        asm!(
            "call {target}",
            target = in(reg) target,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            lateout("rax") ret,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// # Safety
/// As for [`hypercall5`].
#[inline]
pub unsafe fn hypercall3(nr: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe { hypercall5(nr, a1, a2, a3, 0, 0) }
}

/// # Safety
/// As for [`hypercall5`].
#[inline]
pub unsafe fn hypercall2(nr: u32, a1: u64, a2: u64) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe { hypercall5(nr, a1, a2, 0, 0, 0) }
}

/// # Safety
/// As for [`hypercall5`].
#[inline]
pub unsafe fn hypercall1(nr: u32, a1: u64) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe { hypercall5(nr, a1, 0, 0, 0, 0) }
}
