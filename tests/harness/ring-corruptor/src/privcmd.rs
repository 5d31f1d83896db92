//! Mapping one frame of another domain through Linux's privcmd driver.
//!
//! The ABI, from Linux's `include/uapi/xen/privcmd.h`:
//! ```text
//! struct privcmd_mmapbatch_v2 {
//!     unsigned int num;             /* number of pages to populate */
//!     domid_t dom;                  /* target domain (u16) */
//!     __u64 addr;                   /* virtual address */
//!     const xen_pfn_t __user *arr;  /* array of frames (u64 on x86_64) */
//!     int __user *err;              /* array of error codes */
//! };
//! #define IOCTL_PRIVCMD_MMAPBATCH_V2 _IOC(_IOC_NONE, 'P', 4, sizeof(struct privcmd_mmapbatch_v2))
//! ```
//! The caller first `mmap`s a shared, writable region of the privcmd device
//! (nothing is mapped in it yet), then the ioctl fills it with the foreign
//! frames; `addr` must be the start of that region. The ioctl returns 0 and
//! the per-frame results in `err` (0 or a negative errno), or -1 with errno.
//! For a PV domain the frames are machine frame numbers, which is what
//! libxl writes to `/local/domain/<domid>/store/ring-ref`.
//!
//! No crate binds these calls; they are glibc's (`mmap`, `munmap`,
//! `ioctl`), declared here and linked through std.

use std::ffi::{c_int, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::sync::atomic::{fence, Ordering};

/// A page of the x86_64 guest and of dom0.
pub const PAGE_SIZE: usize = 4096;

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, offset: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
}

/// `struct privcmd_mmapbatch_v2`; `repr(C)` gives the header's padding
/// (2 bytes after `dom`, 4 more to align `addr`).
#[repr(C)]
struct MmapBatchV2 {
    num: u32,
    dom: u16,
    addr: u64,
    arr: *const u64,
    err: *mut c_int,
}

const _: () = assert!(core::mem::size_of::<MmapBatchV2>() == 32);

/// Linux's `_IOC(dir, type, nr, size)` on x86: nr in bits 0-7, type in 8-15,
/// size in 16-29, direction in 30-31.
const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> c_ulong {
    ((dir << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32) as c_ulong
}

/// `_IOC_NONE`.
const IOC_NONE: u32 = 0;

/// `IOCTL_PRIVCMD_MMAPBATCH_V2`.
pub const IOCTL_PRIVCMD_MMAPBATCH_V2: c_ulong = ioc(IOC_NONE, b'P', 4, core::mem::size_of::<MmapBatchV2>());

/// The privcmd device: /dev/xen/privcmd, or /proc/xen/privcmd where xenfs
/// is mounted and devtmpfs has no node.
const DEVICES: [&str; 2] = ["/dev/xen/privcmd", "/proc/xen/privcmd"];

/// One foreign page mapped read-write into this process; unmapped on drop.
pub struct ForeignPage {
    base: *mut u8,
    // The mapping belongs to this descriptor; it stays open while mapped.
    _device: File,
}

impl ForeignPage {
    /// Maps frame `frame` of domain `domid`.
    pub fn map(domid: u16, frame: u64) -> Result<ForeignPage, String> {
        let device = open_device()?;
        let fd = device.as_raw_fd();
        // SAFETY: a new shared mapping of one page of the privcmd device at
        // an address the kernel chooses; no existing memory is affected.
        let base = unsafe { mmap(core::ptr::null_mut(), PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) };
        if base as isize == -1 {
            return Err(format!("mmap of the privcmd device failed: {}", std::io::Error::last_os_error()));
        }
        let page = ForeignPage { base: base.cast(), _device: device };
        let frames = [frame];
        let mut errs: [c_int; 1] = [0];
        let mut batch =
            MmapBatchV2 { num: 1, dom: domid, addr: base as u64, arr: frames.as_ptr(), err: errs.as_mut_ptr() };
        // SAFETY: `batch` follows struct privcmd_mmapbatch_v2 and points at
        // one frame number and one error slot that outlive the call; `addr`
        // is the start of our one-page privcmd mapping, which the driver
        // fills with the foreign frame.
        let rc = unsafe { ioctl(fd, IOCTL_PRIVCMD_MMAPBATCH_V2, &mut batch as *mut MmapBatchV2) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!("IOCTL_PRIVCMD_MMAPBATCH_V2 of frame {frame:#x} of domain {domid} failed: {e}"));
        }
        if errs[0] != 0 {
            let e = std::io::Error::from_raw_os_error(errs[0].saturating_neg());
            return Err(format!("Xen refused to map frame {frame:#x} of domain {domid}: {e}"));
        }
        Ok(page)
    }

    /// The u32 at byte `offset` (4-byte aligned, inside the page).
    pub fn read_u32(&self, offset: usize) -> u32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= PAGE_SIZE, "offset {offset} outside the page");
        // SAFETY: the page is mapped for the life of `self`, the offset is
        // aligned and inside it (checked above); volatile, because the guest
        // and xenstored change it under us.
        unsafe { self.base.add(offset).cast::<u32>().read_volatile() }
    }

    /// Writes the u32 at byte `offset` (4-byte aligned, inside the page).
    pub fn write_u32(&self, offset: usize, value: u32) {
        assert!(offset.is_multiple_of(4) && offset + 4 <= PAGE_SIZE, "offset {offset} outside the page");
        // SAFETY: as in read_u32; the mapping is writable.
        unsafe { self.base.add(offset).cast::<u32>().write_volatile(value) }
    }

    /// Writes the byte at `offset` (inside the page).
    pub fn write_u8(&self, offset: usize, value: u8) {
        assert!(offset < PAGE_SIZE, "offset {offset} outside the page");
        // SAFETY: the page is mapped writable for the life of `self` and the
        // offset is inside it (checked above).
        unsafe { self.base.add(offset).write_volatile(value) }
    }

    /// A full barrier: the ring protocol's `mb()` between data and index
    /// updates (on x86 an `mfence`, and a compiler barrier).
    pub fn barrier(&self) {
        fence(Ordering::SeqCst);
    }
}

impl Drop for ForeignPage {
    fn drop(&mut self) {
        // SAFETY: `base` is the one-page mapping made in `map`, not used
        // after this.
        unsafe {
            munmap(self.base.cast(), PAGE_SIZE);
        }
    }
}

fn open_device() -> Result<File, String> {
    let mut errors = Vec::new();
    for path in DEVICES {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => return Ok(f),
            Err(e) => errors.push(format!("{path}: {e}")),
        }
    }
    Err(format!("cannot open the privcmd device ({}); is this dom0 with xen-privcmd loaded?", errors.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_number_is_the_headers() {
        // _IOC(_IOC_NONE, 'P', 4, 32): size 32 << 16, 'P' = 0x50 << 8, nr 4.
        assert_eq!(IOCTL_PRIVCMD_MMAPBATCH_V2, 0x0020_5004);
    }

    #[test]
    fn batch_layout_is_the_headers() {
        assert_eq!(core::mem::offset_of!(MmapBatchV2, num), 0);
        assert_eq!(core::mem::offset_of!(MmapBatchV2, dom), 4);
        assert_eq!(core::mem::offset_of!(MmapBatchV2, addr), 8);
        assert_eq!(core::mem::offset_of!(MmapBatchV2, arr), 16);
        assert_eq!(core::mem::offset_of!(MmapBatchV2, err), 24);
    }
}
