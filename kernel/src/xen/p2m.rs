//! The pseudo-physical to machine map (P2M) of a PV guest, and the copy of
//! its shape the toolstack needs to save the domain.
//!
//! Xen's domain builder gives the guest a flat P2M list (`start_info.mfn_list`,
//! one `u64` machine frame per pseudo-physical frame, in the linear map) and
//! a read-only machine-to-physical table (M2P) at `MACH2PHYS_VIRT_START`.
//!
//! libxc's save (`xg_sr_save_x86_pv.c`, `map_p2m_tree`) does not read the
//! guest's page tables to find that list: it reads two fields of
//! shared_info's arch area, which the guest must fill in:
//!
//! - `max_pfn`: the number of pseudo-physical frames (libxc uses
//!   `max_pfn - 1` as the highest one);
//! - `pfn_to_mfn_frame_list_list`: the machine frame of one page (the
//!   *frame list list*) holding the machine frames of the *frame list*
//!   pages, each of which holds the machine frames of up to 512 pages of the
//!   P2M list. One frame-list page covers 512 * 512 frames (1 GiB).
//!
//! With neither set, `xl save` fails with "Bad mfn 0 for p2m frame list
//! list". (Newer Linux publishes a virtually mapped list through
//! `p2m_cr3`/`p2m_vaddr` instead; this kernel leaves those at 0, which
//! selects the tree.)
//!
//! The frame-list pages are ordinary pages of the heap. Their contents are
//! machine frames, so after a restore into a new domain (new machine frames
//! for every page; libxc has rewritten the P2M list itself and zeroed the
//! published root) they are refilled and published again ([`republish`],
//! called by [`crate::xen::suspend`] right after it maps the new
//! shared_info).
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::sync::IrqLock;
use crate::xen::shared_info;

/// Virtual address of pseudo-physical frame 0 (XEN_ELFNOTE_VIRT_BASE; the
/// whole domain is mapped linearly from here; `mm::KERNEL_BASE`).
pub const VIRT_BASE: u64 = 0xffff_ffff_8000_0000;
/// Entries per page of the P2M list and of the frame lists.
pub const PER_PAGE: u64 = 512;

static LIST: AtomicU64 = AtomicU64::new(0);
static NR_PAGES: AtomicU64 = AtomicU64::new(0);

/// The pages of the published tree (virtual addresses in the linear map).
struct Tree {
    fll: u64,
    fl: Vec<u64>,
}

/// Empty until [`publish`]; an IrqLock because the thaw hook runs with
/// events masked.
static TREE: IrqLock<Option<Tree>> = IrqLock::new("p2m.tree", None);

/// Records the P2M list (`start_info.mfn_list`, a linear-map address) and
/// the domain's size. Called once, early (`mm::init`).
pub fn init(list_va: u64, nr_pages: u64) {
    LIST.store(list_va, Ordering::Relaxed);
    NR_PAGES.store(nr_pages, Ordering::Relaxed);
}

/// Pseudo-physical frames of the domain.
pub fn nr_pages() -> u64 {
    NR_PAGES.load(Ordering::Relaxed)
}

/// Virtual address of pseudo-physical frame `pfn` in the linear map.
pub fn pfn_to_va(pfn: u64) -> u64 {
    VIRT_BASE + pfn * 4096
}

/// Pseudo-physical frame of a linear-map address.
pub fn va_to_pfn(va: u64) -> u64 {
    (va - VIRT_BASE) / 4096
}

/// Machine frame of pseudo-physical frame `pfn` (< [`nr_pages`]), from the
/// P2M list.
pub fn pfn_to_mfn(pfn: u64) -> u64 {
    let p2m = LIST.load(Ordering::Relaxed) as *const u64;
    debug_assert!(pfn < nr_pages());
    // SAFETY: the P2M list has nr_pages entries and is mapped for the life of
    // the guest; callers pass pfn < nr_pages. Volatile: libxc rewrites it on
    // restore.
    unsafe { core::ptr::read_volatile(p2m.add(pfn as usize)) }
}

/// Pseudo-physical frame of machine frame `mfn`, from Xen's read-only M2P.
pub fn mfn_to_pfn(mfn: u64) -> u64 {
    let m2p = xen_sys::MACH2PHYS_VIRT_START as *const u64;
    // SAFETY: Xen maps the machine-to-physical table read-only at this
    // address in every 64-bit PV guest; `mfn` comes from Xen (start_info or
    // a page-table entry Xen validated), so it indexes inside the table.
    unsafe { core::ptr::read_volatile(m2p.add(mfn as usize)) }
}

/// The pseudo-physical frame that holds machine frame `mfn`, if `mfn` is
/// one of this domain's frames; pseudo-physical frame `hint` is tried first.
///
/// For frame numbers the toolstack writes (start_info's ring frames after
/// a restore): unlike [`mfn_to_pfn`] this reads only our own P2M list, so a
/// frame that is not ours, or not RAM at all, yields `None` instead of a
/// read through a hole of Xen's M2P table or a mapping of someone else's
/// page. The hint (where the frame was before the suspend, where libxc puts
/// it back) makes the usual case one lookup; otherwise the list is searched.
pub fn own_pfn(mfn: u64, hint: u64) -> Option<u64> {
    let n = nr_pages();
    if hint < n && pfn_to_mfn(hint) == mfn {
        return Some(hint);
    }
    (0..n).find(|&pfn| pfn_to_mfn(pfn) == mfn)
}

/// Why the tree could not be published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P2mError {
    /// `start_info.mfn_list` is not page-aligned (Xen always aligns it).
    Unaligned,
    /// More than 512 frame-list pages (a domain over 512 GiB).
    TooLarge,
    /// No memory for the frame-list pages.
    NoMemory,
    /// shared_info is not mapped.
    NoSharedInfo,
}

impl core::fmt::Display for P2mError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            P2mError::Unaligned => "the P2M list is not page-aligned",
            P2mError::TooLarge => "the domain is too large for a three-level P2M tree",
            P2mError::NoMemory => "no memory for the frame-list pages",
            P2mError::NoSharedInfo => "shared_info is not mapped",
        })
    }
}

/// What [`publish`] built, for the boot log.
#[derive(Clone, Copy, Debug)]
pub struct Published {
    /// Pages of the P2M list.
    pub list_pages: u64,
    /// Frame-list pages.
    pub fl_pages: u64,
    /// Machine frame of the frame list list.
    pub fll_mfn: u64,
}

fn zeroed_page() -> Option<u64> {
    let layout = core::alloc::Layout::from_size_align(4096, 4096).ok()?;
    // SAFETY: a non-zero-sized layout; the page is never freed (the tree
    // lives as long as the guest).
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        None
    } else {
        Some(p as u64)
    }
}

fn list_pages() -> u64 {
    nr_pages().div_ceil(PER_PAGE)
}

/// Builds the frame lists and publishes them with `max_pfn` in shared_info,
/// so the toolstack can save the domain. Called once, when the heap is up
/// (`mm::init`).
pub fn publish() -> Result<Published, P2mError> {
    let list = LIST.load(Ordering::Relaxed);
    if !list.is_multiple_of(4096) {
        return Err(P2mError::Unaligned);
    }
    let fl_pages = list_pages().div_ceil(PER_PAGE);
    if fl_pages > PER_PAGE {
        return Err(P2mError::TooLarge);
    }
    let fll = zeroed_page().ok_or(P2mError::NoMemory)?;
    let mut fl = Vec::new();
    fl.try_reserve_exact(fl_pages as usize).map_err(|_| P2mError::NoMemory)?;
    for _ in 0..fl_pages {
        fl.push(zeroed_page().ok_or(P2mError::NoMemory)?);
    }
    *TREE.lock() = Some(Tree { fll, fl });
    let fll_mfn = fill_and_publish()?;
    Ok(Published { list_pages: list_pages(), fl_pages, fll_mfn })
}

/// Refills the frame lists with the current machine frames and publishes
/// them again (after a restore into a new domain). Allocates nothing.
pub fn republish() -> Result<u64, P2mError> {
    fill_and_publish()
}

fn fill_and_publish() -> Result<u64, P2mError> {
    let list = LIST.load(Ordering::Relaxed);
    let n = list_pages();
    let g = TREE.lock();
    let tree = g.as_ref().ok_or(P2mError::NoMemory)?;
    for (j, &page) in tree.fl.iter().enumerate() {
        for k in 0..PER_PAGE {
            let i = j as u64 * PER_PAGE + k;
            let mfn = if i < n { pfn_to_mfn(va_to_pfn(list + i * 4096)) } else { 0 };
            // SAFETY: `page` is a 4 KiB heap page owned by the tree; k < 512.
            unsafe { core::ptr::write_volatile((page as *mut u64).add(k as usize), mfn) };
        }
        // SAFETY: `tree.fll` is a 4 KiB heap page owned by the tree; j < 512
        // (checked in publish).
        unsafe { core::ptr::write_volatile((tree.fll as *mut u64).add(j), pfn_to_mfn(va_to_pfn(page))) };
    }
    let fll_mfn = pfn_to_mfn(va_to_pfn(tree.fll));
    drop(g);
    if !shared_info::set_p2m_tree(nr_pages(), fll_mfn) {
        return Err(P2mError::NoSharedInfo);
    }
    Ok(fll_mfn)
}
