//! Two domctls through Linux's privcmd driver: `getdomaininfo` (a domain's
//! CPU time in ns and its state) and `unpausedomain`.
//!
//! ABI (Xen's `public/domctl.h`, `__XEN_TOOLS__`; Linux's
//! `include/uapi/xen/privcmd.h`):
//! ```text
//! struct privcmd_hypercall { __u64 op; __u64 arg[5]; };
//! #define IOCTL_PRIVCMD_HYPERCALL _IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))
//! struct xen_domctl {                    (144 bytes)
//!     uint32_t cmd;                      offset 0
//!     uint32_t interface_version;        offset 4 (XEN_DOMCTL_INTERFACE_VERSION, build.rs)
//!     domid_t  domain; uint16_t _pad[3]; offset 8
//!     union { ...; uint8_t pad[128]; } u; offset 16
//! };
//! getdomaininfo (cmd 5): u.domain (u16) at 16, u.flags (u32) at 20,
//!     u.cpu_time (u64, ns of all vCPUs running, the current slice
//!     included) at 72. It answers for the first domain whose id is at
//!     least the one asked for: the caller checks u.domain.
//! unpausedomain (cmd 4): no argument beyond the domain.
//! ```
//! The hypercall reads and writes the buffer through this process's
//! address space, so it must be present: it is locked with mlock(2).

use std::ffi::{c_int, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn mlock(addr: *const c_void, len: usize) -> c_int;
}

#[repr(C)]
struct PrivcmdHypercall {
    op: u64,
    arg: [u64; 5],
}

const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> c_ulong {
    ((dir << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32) as c_ulong
}

/// `IOCTL_PRIVCMD_HYPERCALL`.
const IOCTL_PRIVCMD_HYPERCALL: c_ulong = ioc(0, b'P', 0, core::mem::size_of::<PrivcmdHypercall>());
/// `__HYPERVISOR_domctl`.
const HYPERVISOR_DOMCTL: u64 = 36;
const DOMCTL_UNPAUSEDOMAIN: u32 = 4;
const DOMCTL_GETDOMAININFO: u32 = 5;
const INTERFACE_VERSION: u32 = parse_version(env!("XEN_DOMCTL_INTERFACE_VERSION"));
const DOMCTL_SIZE: usize = 144;

/// `XEN_DOMINF_dying`.
pub const DOMINF_DYING: u32 = 1 << 0;
/// `XEN_DOMINF_shutdown`.
pub const DOMINF_SHUTDOWN: u32 = 1 << 2;

const fn parse_version(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut v = 0u32;
    let mut i = 0;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

/// What getdomaininfo says about a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomInfo {
    /// `XEN_DOMINF_*`.
    pub flags: u32,
    /// CPU time of all its vCPUs, ns.
    pub cpu_ns: u64,
}

/// The privcmd device and a locked domctl buffer.
pub struct Domctl {
    dev: File,
    /// Page-aligned, locked; the domctl is its first 144 bytes.
    buf: Box<Page>,
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);

impl Domctl {
    /// Opens /dev/xen/privcmd (or /proc/xen/privcmd).
    pub fn open() -> Result<Domctl, String> {
        let mut errors = Vec::new();
        for path in ["/dev/xen/privcmd", "/proc/xen/privcmd"] {
            match OpenOptions::new().read(true).write(true).open(path) {
                Ok(dev) => {
                    let buf = Box::new(Page([0; 4096]));
                    // SAFETY: locks the pages of a live allocation of this size.
                    if unsafe { mlock(buf.0.as_ptr().cast(), buf.0.len()) } != 0 {
                        return Err(format!("mlock: {}", std::io::Error::last_os_error()));
                    }
                    return Ok(Domctl { dev, buf });
                }
                Err(e) => errors.push(format!("{path}: {e}")),
            }
        }
        Err(format!("cannot open the privcmd device ({})", errors.join("; ")))
    }

    fn call(&mut self, cmd: u32, domid: u16) -> Result<(), std::io::Error> {
        let b = &mut self.buf.0;
        b[..DOMCTL_SIZE].fill(0);
        b[0..4].copy_from_slice(&cmd.to_le_bytes());
        b[4..8].copy_from_slice(&INTERFACE_VERSION.to_le_bytes());
        b[8..10].copy_from_slice(&domid.to_le_bytes());
        let mut h = PrivcmdHypercall { op: HYPERVISOR_DOMCTL, arg: [b.as_mut_ptr() as u64, 0, 0, 0, 0] };
        // SAFETY: the argument is a privcmd_hypercall naming a 144-byte
        // xen_domctl in a locked page this object owns for the call.
        let r = unsafe { ioctl(self.dev.as_raw_fd(), IOCTL_PRIVCMD_HYPERCALL, &mut h as *mut PrivcmdHypercall) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The domain's state and CPU time; `None` when it no longer exists.
    pub fn info(&mut self, domid: u16) -> Result<Option<DomInfo>, String> {
        match self.call(DOMCTL_GETDOMAININFO, domid) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(3) => return Ok(None), // ESRCH
            Err(e) => return Err(format!("getdomaininfo({domid}): {e}")),
        }
        let b = &self.buf.0;
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| (u64::from(u32_at(o + 4)) << 32) | u64::from(u32_at(o));
        if u16_at(16) != domid {
            return Ok(None);
        }
        Ok(Some(DomInfo { flags: u32_at(20), cpu_ns: u64_at(72) }))
    }

    /// Unpauses the domain.
    pub fn unpause(&mut self, domid: u16) -> Result<(), String> {
        self.call(DOMCTL_UNPAUSEDOMAIN, domid).map_err(|e| format!("unpausedomain({domid}): {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_number_is_the_headers() {
        // _IOC(_IOC_NONE, 'P', 0, 48).
        assert_eq!(IOCTL_PRIVCMD_HYPERCALL, 0x0030_5000);
    }

    #[test]
    fn version_comes_from_the_header() {
        assert_eq!(parse_version("21"), 0x15);
        let header = std::fs::read_to_string("/usr/include/xen/domctl.h").unwrap_or_default();
        let want = header
            .lines()
            .find_map(|l| l.trim().strip_prefix("#define XEN_DOMCTL_INTERFACE_VERSION"))
            .and_then(|v| u32::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
            .unwrap_or(0x15);
        assert_eq!(INTERFACE_VERSION, want);
    }

    #[test]
    fn privcmd_hypercall_layout_is_the_headers() {
        // struct privcmd_hypercall { __u64 op; __u64 arg[5]; }
        assert_eq!(core::mem::size_of::<PrivcmdHypercall>(), 48);
        assert_eq!(core::mem::offset_of!(PrivcmdHypercall, arg), 8);
    }
}
