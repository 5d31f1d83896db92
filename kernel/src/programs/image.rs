//! A program's image: its executable and shared objects, read from the VFS,
//! placed in page-aligned spans of the kernel heap, linked against each
//! other and the built-in libc (`elf_loader`), and protected W^X through
//! Xen's MMU interface.
//!
//! Each span is one heap allocation of the object's page-rounded size,
//! charged to the programs budget. After relocation its pages get their
//! segments' permissions: text read+execute, read-only data read-only and
//! no-execute, data read+write and no-execute; the RELRO range then
//! becomes read-only. Pages between segments stay read+write, no-execute.
//! When the image is dropped every page is made an ordinary kernel data
//! page again (read+write, no-execute) before the span returns to the
//! heap.
use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::Layout;

use elf_loader::{Builtins, Elf, InitCall, Limits, LoadError, ObjectFile, Perm};
use kcore::budget::Charge;

use crate::mm::budget::PROGRAMS;
use crate::mm::{l1_entry_maddr, va_to_mfn, PAGE, PAGE_SIZE};
use crate::xen::mmu::{self, MmuUpdate, PROT_RO, PROT_RW};

/// One loaded object.
pub struct LoadedObject {
    /// Where it was read from.
    pub path: String,
    /// sha256 of the file.
    pub sha256: [u8; 32],
    /// File size in bytes.
    pub file_size: usize,
    /// Span address and length.
    pub base: u64,
    pub span_len: usize,
}

/// A span: page-aligned, zeroed memory for one object.
struct Span {
    ptr: *mut u8,
    layout: Layout,
    /// Whether its pages' protections were changed (and must be restored).
    protected: bool,
    _charge: Charge,
}

// SAFETY: a span is plain memory owned by one image; the image is shared
// by the threads of one program, which only execute and read it (and
// write its data pages as the program's code does).
unsafe impl Send for Span {}
// SAFETY: as above.
unsafe impl Sync for Span {}

impl Span {
    fn new(len: usize, align: usize) -> Result<Span, ImageError> {
        let charge = PROGRAMS.try_charge(len).map_err(|_| ImageError::NoMemory { bytes: len })?;
        let layout =
            Layout::from_size_align(len.max(PAGE), align.max(PAGE)).map_err(|_| ImageError::NoMemory { bytes: len })?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(ImageError::NoMemory { bytes: len });
        }
        Ok(Span { ptr, layout, protected: false, _charge: charge })
    }

    fn addr(&self) -> u64 {
        self.ptr as u64
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live allocation of `layout.size()` bytes owned
        // by this span.
        unsafe { core::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; called only before the pages are protected,
        // while nothing else refers to the span.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }

    /// Sets the protection of the pages `range` (span offsets, page-aligned).
    fn protect(&mut self, range: core::ops::Range<u64>, flags: u64) -> Result<(), ImageError> {
        let mut batch: Vec<MmuUpdate> = Vec::new();
        let pages = (range.end.saturating_sub(range.start) / PAGE_SIZE) as usize;
        batch.try_reserve_exact(pages).map_err(|_| ImageError::NoMemory { bytes: pages * 16 })?;
        let mut off = range.start;
        while off < range.end {
            let va = self.addr() + off;
            let entry = l1_entry_maddr(va).ok_or(ImageError::Protect { va })?;
            batch.push(MmuUpdate {
                ptr: entry | xen_sys::MMU_NORMAL_PT_UPDATE as u64,
                val: (va_to_mfn(va) << 12) | flags,
            });
            off += PAGE_SIZE;
        }
        self.protected = true;
        mmu::mmu_update_flush(&mut batch).map_err(|_| ImageError::Protect { va: self.addr() + range.start })
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.protected {
            let len = self.layout.size() as u64;
            if self.protect(0..len, PROT_RW | mmu::nx()).is_err() {
                // Pages that may still be read-only or executable never go
                // back to the heap.
                crate::warn!("programs: cannot restore a span's pages at {:#x}; {} bytes kept", self.addr(), len);
                return;
            }
        }
        // SAFETY: allocated in `new` with this layout; its pages are
        // ordinary read-write data pages again.
        unsafe { alloc::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Why an image could not be made.
#[derive(Debug)]
pub enum ImageError {
    /// The command names no file (searched: these paths).
    NotFound { name: String, searched: Vec<String> },
    /// A file could not be read.
    Read { path: String, errno: vfs::Errno },
    /// The loader refused the objects (malformed ELF, missing symbols, a
    /// missing library, ...).
    Load(LoadError),
    /// The programs budget or the heap had no room.
    NoMemory { bytes: usize },
    /// Xen refused a page-protection change.
    Protect { va: u64 },
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::NotFound { name, searched } => {
                write!(f, "{}: command not found (searched {})", name, searched.join(", "))
            }
            ImageError::Read { path, errno } => write!(f, "{}: cannot read: {}", path, errno.name()),
            ImageError::Load(e) => write!(f, "{}", e),
            ImageError::NoMemory { bytes } => write!(f, "out of program memory ({} bytes wanted)", bytes),
            ImageError::Protect { va } => write!(f, "Xen refused a page protection change at {:#x}", va),
        }
    }
}

/// A loaded, linked and protected program image.
pub struct Image {
    /// The objects' memory, freed (and made ordinary data pages again)
    /// with the image.
    _spans: Vec<Span>,
    /// The objects, executable first.
    pub objects: Vec<LoadedObject>,
    /// Absolute entry point of the executable.
    pub entry: u64,
    /// Initializers, in order (every object's, the executable's included).
    pub init: Vec<InitCall>,
    /// Finalizers, in order.
    pub fini: Vec<InitCall>,
    /// Time to read, link and protect the objects (not counting the
    /// sha256 of each file, computed afterwards for the report).
    pub load_ns: u64,
    /// Where the COPY-relocated data objects of the executable ended up
    /// (name, address), for the libc to use them as the real ones.
    pub copies: Vec<(String, u64)>,
}

impl Image {
    /// The object and offset `addr` falls in, for fault reports.
    pub fn locate(&self, addr: u64) -> Option<(&str, u64)> {
        self.objects
            .iter()
            .find(|o| (o.base..o.base + o.span_len as u64).contains(&addr))
            .map(|o| (o.path.as_str(), addr - o.base))
    }
}

/// A file's bytes, charged to the programs budget while the image is
/// being made.
struct FileBytes {
    bytes: Vec<u8>,
    _charge: Charge,
}

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

fn read_charged(path: &str) -> Result<FileBytes, vfs::Errno> {
    let size = crate::fs::stat(path)?.size;
    let charge = PROGRAMS.try_charge(usize::try_from(size).unwrap_or(usize::MAX)).map_err(|_| vfs::Errno::ENOMEM)?;
    Ok(FileBytes { bytes: crate::fs::read_file(path)?, _charge: charge })
}

/// The directories searched for a command without a `/`.
pub const PATH: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/// The path of command `name`: as is when it contains `/`, else the first
/// regular file `dir/name` of [`PATH`].
pub fn resolve(name: &str) -> Result<String, ImageError> {
    if name.contains('/') {
        return Ok(String::from(name));
    }
    let searched: Vec<String> = PATH.iter().map(|d| alloc::format!("{}/{}", d, name)).collect();
    for p in &searched {
        if crate::fs::stat(p).is_ok_and(|s| s.file_type == vfs::FileType::Regular && s.special.is_none()) {
            return Ok(p.clone());
        }
    }
    Err(ImageError::NotFound { name: String::from(name), searched })
}

/// Loads the executable at `path` (named `argv0`) and every library it
/// needs, links them against `builtins` and protects the pages. Nothing of
/// the program runs.
pub fn load(path: &str, builtins: &dyn Builtins) -> Result<Image, ImageError> {
    let t0 = crate::time::now_ns();
    let limits = Limits::default();
    let exe_bytes = read_charged(path).map_err(|errno| ImageError::Read { path: String::from(path), errno })?;
    let exe = ObjectFile { name: String::from(path), path: String::from(path), bytes: exe_bytes };
    let files =
        elf_loader::load_order(exe, &limits, builtins, elf_loader::DEFAULT_SEARCH_PATH, |p| read_charged(p).ok())
            .map_err(ImageError::Load)?;

    let mut elfs: Vec<Elf<'_>> = Vec::new();
    for f in &files {
        elfs.push(Elf::parse(&f.name, f.bytes.as_ref(), &limits).map_err(ImageError::Load)?);
    }
    let mut spans: Vec<Span> = Vec::new();
    for e in &elfs {
        let len = usize::try_from(e.span_size()).map_err(|_| ImageError::NoMemory { bytes: usize::MAX })?;
        // Page alignment is all that matters: the segments are copied, not
        // mapped from the file.
        let mut s = Span::new(len, PAGE)?;
        e.copy_into(s.bytes_mut()).map_err(ImageError::Load)?;
        spans.push(s);
    }
    let placed: Vec<(&Elf<'_>, u64)> = elfs.iter().zip(&spans).map(|(e, s)| (e, s.addr())).collect();
    let plan = elf_loader::link(&placed, builtins).map_err(ImageError::Load)?;
    {
        let mut views: Vec<&mut [u8]> = spans.iter_mut().map(|s| s.bytes_mut()).collect();
        plan.apply(&mut views).map_err(ImageError::Load)?;
    }
    let views: Vec<&[u8]> = spans.iter().map(|s| s.bytes()).collect();
    let init = plan.initializers(&views).map_err(ImageError::Load)?;
    let fini = plan.finalizers(&views).map_err(ImageError::Load)?;
    let copies = plan
        .copies
        .iter()
        .filter_map(|c| {
            let base = spans.first()?.addr();
            let name = c.symbol.split('@').next().unwrap_or("");
            Some((String::from(name), base + c.offset))
        })
        .collect();
    drop(views);

    // W^X: each segment's pages get its permissions, then RELRO goes
    // read-only.
    for (e, s) in elfs.iter().zip(spans.iter_mut()) {
        for seg in e.segments() {
            let flags = match seg.perm {
                Perm::RX => PROT_RO,
                Perm::R => PROT_RO | mmu::nx(),
                Perm::RW => PROT_RW | mmu::nx(),
            };
            s.protect(seg.pages(), flags)?;
        }
        if let Some(r) = e.relro() {
            s.protect(r, PROT_RO | mmu::nx())?;
        }
    }

    let entry = elfs.first().and_then(|e| e.entry()).zip(spans.first()).map(|(off, s)| s.addr() + off).unwrap_or(0);
    let load_ns = crate::time::now_ns().saturating_sub(t0);
    let objects = files
        .iter()
        .zip(&spans)
        .map(|(f, s)| LoadedObject {
            path: f.path.clone(),
            sha256: kcore::sha256::sha256(f.bytes.as_ref()),
            file_size: f.bytes.as_ref().len(),
            base: s.addr(),
            span_len: s.layout.size(),
        })
        .collect();
    drop(placed);
    drop(plan);
    drop(elfs);
    Ok(Image { _spans: spans, objects, entry, init, fini, load_ns, copies })
}
