//! The `start_info` page Xen hands to a PV guest in %rsi.
use xen_sys as x;

/// The magic prefix of a 64-bit PV start_info page.
const MAGIC_PREFIX: &[u8] = b"xen-3.0-x86_64";

/// A validated reference to the start_info page. The page stays mapped and
/// unchanged for the life of the guest (Xen rewrites it only on restore).
#[derive(Clone, Copy)]
pub struct StartInfo(&'static x::start_info);

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
        // SAFETY: Xen maps start_info in the bootstrap region for the life of
        // the guest; the caller guarantees this is Xen's pointer.
        let si: &'static x::start_info = unsafe { &*ptr };
        let magic: [u8; 32] = si.magic.map(|c| c as u8);
        if !magic.starts_with(MAGIC_PREFIX) {
            return Err(StartInfoError::BadMagic(magic));
        }
        Ok(Self(si))
    }

    /// The magic string, e.g. `xen-3.0-x86_64`.
    pub fn magic(&self) -> &'static str {
        cstr(&self.0.magic)
    }

    /// Pages of pseudo-physical memory given to the domain.
    pub fn nr_pages(&self) -> u64 {
        self.0.nr_pages
    }

    /// `SIF_*` flags.
    pub fn flags(&self) -> u32 {
        self.0.flags
    }

    /// Machine address of the shared_info page.
    pub fn shared_info_maddr(&self) -> u64 {
        self.0.shared_info
    }

    /// Machine frame of the xenstore ring page.
    pub fn store_mfn(&self) -> u64 {
        self.0.store_mfn
    }

    /// Event channel of the xenstore ring.
    pub fn store_evtchn(&self) -> u32 {
        self.0.store_evtchn
    }

    /// Machine frame of the PV console ring (domU only).
    pub fn console_mfn(&self) -> u64 {
        // SAFETY: a domU's start_info carries the domU variant of the union;
        // a dom0's would carry info_off/info_size, which we never boot as.
        unsafe { self.0.console.domU.mfn }
    }

    /// Event channel of the PV console (domU only).
    pub fn console_evtchn(&self) -> u32 {
        // SAFETY: as in console_mfn.
        unsafe { self.0.console.domU.evtchn }
    }

    /// Virtual address of the bootstrap L4 page table.
    pub fn pt_base(&self) -> u64 {
        self.0.pt_base
    }

    /// Number of bootstrap page-table frames.
    pub fn nr_pt_frames(&self) -> u64 {
        self.0.nr_pt_frames
    }

    /// Virtual address of the pseudo-physical to machine frame list.
    pub fn mfn_list(&self) -> u64 {
        self.0.mfn_list
    }

    /// Virtual address and length of the module (`ramdisk=`), if any.
    pub fn module(&self) -> Option<(u64, u64)> {
        if self.0.mod_start != 0 && self.0.mod_len != 0 {
            Some((self.0.mod_start, self.0.mod_len))
        } else {
            None
        }
    }

    /// The kernel command line (`extra=` in the xl config).
    pub fn cmdline(&self) -> &'static str {
        cstr(&self.0.cmd_line)
    }
}

/// The NUL-terminated prefix of a C char array, or "" if it is not UTF-8.
fn cstr(chars: &'static [core::ffi::c_char]) -> &'static str {
    // SAFETY: c_char and u8 have the same size and alignment.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(chars.as_ptr().cast::<u8>(), chars.len()) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("")
}
