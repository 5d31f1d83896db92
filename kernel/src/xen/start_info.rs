//! The `start_info` page Xen hands to a PV guest in %rsi.
//!
//! The page is the guest's own memory, and it changes under the kernel in
//! two places only: [`crate::xen::suspend`] writes the store and console
//! frames as pseudo-physical frame numbers before it suspends (the
//! toolstack expects them canonical) and back after a cancelled suspend,
//! and the toolstack rewrites the frames, event channels, `nr_pages`,
//! `shared_info` and `flags` when it restores the domain. Every field that
//! can change is therefore read with a volatile access through a raw
//! pointer, never through a reference.
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicPtr, Ordering};
use xen_sys as x;

/// The magic prefix of a 64-bit PV start_info page.
const MAGIC_PREFIX: &[u8] = b"xen-3.0-x86_64";

/// A validated pointer to the start_info page. The page stays mapped at the
/// same address for the life of the guest (see the module docs for when
/// its contents change).
#[derive(Clone, Copy)]
pub struct StartInfo(*mut x::start_info);

// SAFETY: the page is mapped for the life of the guest; the fields that
// change are read volatile, and written only by the suspend path on the one
// vCPU with events masked.
unsafe impl Send for StartInfo {}
// SAFETY: as above.
unsafe impl Sync for StartInfo {}

/// The page validated at boot (null before).
static CURRENT: AtomicPtr<x::start_info> = AtomicPtr::new(core::ptr::null_mut());

/// The start_info page validated at boot, if [`StartInfo::from_ptr`] ran.
pub fn get() -> Option<StartInfo> {
    let p = CURRENT.load(Ordering::Acquire);
    if p.is_null() {
        None
    } else {
        Some(StartInfo(p))
    }
}

macro_rules! volatile_field {
    ($self:ident, $($field:tt)+) => {
        // SAFETY: `self.0` points to the mapped start_info page (checked in
        // from_ptr); the field is plain old data, read volatile because the
        // toolstack rewrites it on restore.
        unsafe { core::ptr::read_volatile(addr_of!((*$self.0).$($field)+)) }
    };
}

/// Why a start_info page was refused.
#[derive(Debug)]
pub enum StartInfoError {
    /// The pointer was null.
    Null,
    /// The magic string did not start with `xen-3.0-x86_64`.
    BadMagic([u8; 32]),
}

impl StartInfo {
    /// Validates the page at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be the value Xen passed in %rsi at entry (or null).
    pub unsafe fn from_ptr(ptr: *const x::start_info) -> Result<Self, StartInfoError> {
        if ptr.is_null() {
            return Err(StartInfoError::Null);
        }
        let ptr = ptr.cast_mut();
        // SAFETY: Xen maps start_info in the bootstrap region for the life of
        // the guest; the caller guarantees this is Xen's pointer. The magic
        // is never rewritten.
        let magic: [u8; 32] = unsafe { core::ptr::read_volatile(addr_of!((*ptr).magic)) }.map(|c| c as u8);
        if !magic.starts_with(MAGIC_PREFIX) {
            return Err(StartInfoError::BadMagic(magic));
        }
        CURRENT.store(ptr, Ordering::Release);
        Ok(Self(ptr))
    }

    /// Virtual address of the page.
    pub fn va(&self) -> u64 {
        self.0 as u64
    }

    /// The magic string, e.g. `xen-3.0-x86_64`.
    pub fn magic(&self) -> &'static str {
        // SAFETY: the magic lies in the page, which is mapped for the life of
        // the guest and whose magic nobody rewrites.
        cstr(unsafe { addr_of!((*self.0).magic) })
    }

    /// Pages of pseudo-physical memory given to the domain.
    pub fn nr_pages(&self) -> u64 {
        volatile_field!(self, nr_pages)
    }

    /// `SIF_*` flags (the toolstack clears them on restore).
    pub fn flags(&self) -> u32 {
        volatile_field!(self, flags)
    }

    /// Machine address of the shared_info page.
    pub fn shared_info_maddr(&self) -> u64 {
        volatile_field!(self, shared_info)
    }

    /// Machine frame of the xenstore ring page (a pseudo-physical frame
    /// while a suspend is under way).
    pub fn store_mfn(&self) -> u64 {
        volatile_field!(self, store_mfn)
    }

    /// Event channel of the xenstore ring.
    pub fn store_evtchn(&self) -> u32 {
        volatile_field!(self, store_evtchn)
    }

    /// Machine frame of the PV console ring (domU only; a pseudo-physical
    /// frame while a suspend is under way).
    pub fn console_mfn(&self) -> u64 {
        // A domU's start_info carries the domU variant of the union; a dom0's
        // would carry info_off/info_size, which we never boot as.
        volatile_field!(self, console.domU.mfn)
    }

    /// Event channel of the PV console (domU only).
    pub fn console_evtchn(&self) -> u32 {
        volatile_field!(self, console.domU.evtchn)
    }

    /// Virtual address of the bootstrap L4 page table.
    pub fn pt_base(&self) -> u64 {
        volatile_field!(self, pt_base)
    }

    /// Number of bootstrap page-table frames.
    pub fn nr_pt_frames(&self) -> u64 {
        volatile_field!(self, nr_pt_frames)
    }

    /// Virtual address of the pseudo-physical to machine frame list.
    pub fn mfn_list(&self) -> u64 {
        volatile_field!(self, mfn_list)
    }

    /// Virtual address and length of the module (`ramdisk=`), if any.
    pub fn module(&self) -> Option<(u64, u64)> {
        let (start, len) = (volatile_field!(self, mod_start), volatile_field!(self, mod_len));
        if start != 0 && len != 0 {
            Some((start, len))
        } else {
            None
        }
    }

    /// The kernel command line (`extra=` in the xl config; nobody rewrites it).
    pub fn cmdline(&self) -> &'static str {
        // SAFETY: as in magic().
        cstr(unsafe { addr_of!((*self.0).cmd_line) })
    }

    /// Writes the store and console frame numbers (the suspend path only:
    /// mfns to pfns before `SHUTDOWN_suspend`, back after a cancelled one).
    pub(in crate::xen) fn set_ring_frames(&self, store: u64, console: u64) {
        // SAFETY: `self.0` points to the mapped, writable start_info page;
        // only the suspend path writes, on the one vCPU, with events masked.
        unsafe {
            core::ptr::write_volatile(addr_of_mut!((*self.0).store_mfn), store);
            core::ptr::write_volatile(addr_of_mut!((*self.0).console.domU.mfn), console);
        }
    }
}

/// The NUL-terminated prefix of a C char array of the page, or "" if it is
/// not UTF-8.
fn cstr<const N: usize>(chars: *const [core::ffi::c_char; N]) -> &'static str {
    // SAFETY: the callers pass a field of the start_info page, mapped for the
    // life of the guest and never rewritten; c_char and u8 have the same size
    // and alignment.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(chars.cast::<u8>(), N) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(bytes.get(..end).unwrap_or_default()).unwrap_or("")
}
