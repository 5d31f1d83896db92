//! The parsing and linking half of a dynamic ELF loader (an `ld.so` core) for
//! running unmodified Linux x86_64 programs — Debian's `xenstore` tools — in
//! the unikernel, the way OSv runs Linux programs.
//!
//! The crate never touches memory other than byte slices it is given: the
//! kernel allocates a page-aligned region (a *span*) per object, sets page
//! permissions and jumps to code; this crate computes everything else and is
//! tested on the host.
//!
//! # Use
//!
//! 1. [`load_order`]: starting from the executable's bytes, find every
//!    library it needs (breadth-first over `DT_NEEDED`, as ld.so), skipping
//!    libraries the kernel provides itself ([`Builtins::provides_library`],
//!    e.g. `libc.so.6`). The kernel supplies only file access.
//! 2. [`Elf::parse`] each file. Allocate a zeroed, page-aligned span of
//!    [`Elf::span_size`] bytes for each, and [`Elf::copy_into`] it.
//! 3. [`link`] the objects (executable first, then the load order) with the
//!    span addresses and the kernel's [`Builtins`] (its libc: name ->
//!    address, size, initial bytes). This resolves every relocation or fails
//!    with one error listing all missing symbols.
//! 4. [`LinkPlan::apply`] the writes and copies to the spans.
//! 5. Set page permissions from [`Elf::segments`] (`Segment::pages`,
//!    `Segment::perm`), then make [`Elf::relro`] read-only.
//! 6. Run [`LinkPlan::initializers`], jump to the executable's entry
//!    (span address + [`Elf::entry`]) with a Linux process stack, and at exit
//!    run [`LinkPlan::finalizers`].
//!
//! # Supported, and refused
//!
//! Accepted objects: ELF64, little-endian, x86_64, `EV_CURRENT`, OS ABI
//! System V or GNU, `ET_DYN` (PIE executables and shared libraries), with
//! exact header sizes (`e_ehsize` 64, `e_phentsize` 56, `e_shentsize` 64 or 0
//! with no sections). Refused, each with its own error:
//!
//! - `ET_EXEC` (fixed-address executables) and every other type: the loader
//!   places each object where the kernel has room, so objects must be
//!   position-independent.
//! - `PT_TLS`, thread-local symbols, TLS relocations and `DF_STATIC_TLS`:
//!   thread-local storage is not supported (the kernel sets up no TLS block
//!   or `%fs` thread pointer for loaded code).
//! - A segment both writable and executable (W^X), text relocations
//!   (`DT_TEXTREL`/`DF_TEXTREL`), and relocations whose target is not inside
//!   a writable segment: code pages are never written. RELRO data is in a
//!   writable segment and stays writable until the kernel protects
//!   [`Elf::relro`] after [`LinkPlan::apply`].
//! - REL-format relocations (`DT_REL`; x86_64 uses RELA), `DT_PLTREL` other
//!   than `DT_RELA`, packed relative relocations (`DT_RELR`), filter
//!   libraries (`DT_FILTER`/`DT_AUXILIARY`), GNU indirect functions
//!   (`STT_GNU_IFUNC`, `R_X86_64_IRELATIVE`): not used by the target programs.
//! - Relocation types other than `R_X86_64_NONE`, `R_X86_64_64` (S + A),
//!   `R_X86_64_GLOB_DAT` and `R_X86_64_JUMP_SLOT` (S; bound immediately,
//!   there is no lazy binding), `R_X86_64_RELATIVE` (B + A) and
//!   `R_X86_64_COPY` (executable only); the error names the type.
//! - Extended program-header numbering (`PN_XNUM`).
//!
//! Ignored: `PT_PHDR`, `PT_NOTE`, `PT_GNU_STACK`, `PT_GNU_EH_FRAME`,
//! `PT_GNU_PROPERTY` and unknown program header types; `PT_INTERP` (reported
//! by [`Elf::interp`], not loaded); `DT_RPATH`/`DT_RUNPATH` (the search path
//! is fixed); section headers.
//!
//! # Validation
//!
//! Nothing read from a file is trusted, and nothing is allocated in
//! proportion to a size from the file before that size is checked against
//! the file length or [`Limits::max_span`]; no input makes the crate panic.
//!
//! - Program headers must be inside the file. `PT_LOAD` segments with
//!   `p_memsz == 0` are skipped (as ld.so does). For the others:
//!   `p_filesz <= p_memsz`; the file range is inside the file; `p_align` is
//!   0, 1 or a power of two, and then `p_vaddr ≡ p_offset (mod p_align)` (the
//!   ELF rule); `p_vaddr + p_memsz` does not wrap.
//! - Segments must be sorted by address and their byte ranges disjoint. Two
//!   consecutive segments may share a page only when they have the same
//!   permissions, since a page has one protection. GNU ld and lld never
//!   put differently-protected segments in one page (they start each
//!   permission change on a new page), and the Debian objects satisfy this.
//! - The span — from the page holding the first segment to the end of the
//!   page holding the last byte of the last one — must not exceed
//!   [`Limits::max_span`] (64 MiB by default). It is checked segment by
//!   segment, before anything is sized by it.
//! - A non-zero `e_entry` must be inside an executable segment.
//!   `PT_GNU_RELRO` must be inside one writable segment; the pages it covers
//!   entirely are reported. At most one `PT_DYNAMIC`, `PT_INTERP` and
//!   `PT_GNU_RELRO`.
//! - Dynamic-section addresses are virtual addresses: every table (strings,
//!   symbols, hash, versions, relocations, the dynamic section itself) must
//!   lie inside the file-backed part of one `PT_LOAD` segment and is read
//!   from the file there. Every string must be NUL-terminated inside
//!   `DT_STRTAB` and valid UTF-8. The symbol count comes from `DT_HASH`
//!   (`nchain`) or `DT_GNU_HASH` (end of the longest chain). `DT_SYMENT` and
//!   `DT_RELAENT` must be 24; `DT_RELASZ`/`DT_PLTRELSZ` multiples of 24; the
//!   `*_ARRAYSZ` multiples of 8 and the arrays inside a writable segment (they
//!   are read after relocation). `DT_INIT`/`DT_FINI` must be inside an
//!   executable segment. Tags that may appear once must appear once; the
//!   dynamic section must end with `DT_NULL`. Version chains (`DT_VERDEF`,
//!   `DT_VERNEED`) are walked with a budget derived from the file length,
//!   so a cyclic chain ends in an error.
//!
//! # Linking rules
//!
//! They follow glibc's ld.so with immediate binding (`LD_BIND_NOW`):
//!
//! - Scope: the objects in load order, then the builtins. Objects with
//!   `DT_SYMBOLIC`/`DF_SYMBOLIC` search themselves first. A definition is a
//!   symbol that is defined, `STB_GLOBAL`/`STB_WEAK`/`STB_GNU_UNIQUE`, not
//!   `STV_HIDDEN`/`STV_INTERNAL`, not a section or file symbol, with a
//!   non-zero value (or `SHN_ABS`). The first definition wins, weak or not
//!   (this is how the executable's own exports interpose on libraries).
//! - References from local or hidden symbols, and from protected symbols the
//!   object defines, bind to their own object.
//! - Versions: a definition matches whenever the name matches. Within one
//!   object, a definition of exactly the requested version is preferred, then
//!   a non-hidden one. The version is passed to [`Builtins::lookup`] and
//!   shown in errors (`malloc@GLIBC_2.2.5`).
//! - An undefined weak reference that nothing defines resolves to 0
//!   (`__gmon_start__`, `_ITM_registerTMCloneTable`). Every other unresolved
//!   reference is collected; [`link`] then fails with one
//!   [`LoadError::MissingSymbols`] listing them, sorted by needing object (in
//!   load order) then name, each once: `missing symbols: foo (needed by
//!   xenstore), bar@GLIBC_2.34 (needed by libxenstore.so.4)`.
//! - `R_X86_64_COPY` (only in the executable) searches every object but the
//!   executable, then the builtins, and copies `min(definition size,
//!   executable's st_size)` bytes. Copies are applied after all writes, so
//!   they see the library's relocated data, as with ld.so, which relocates
//!   libraries before the executable. Afterwards [`LinkPlan::lookup`] finds
//!   the executable's copy first, as the libraries' own GOT entries do.
//! - Initialization order: ld.so's depth-first sort — every object after the
//!   libraries it needs, the executable last; for each object `DT_INIT`
//!   then the `DT_INIT_ARRAY` entries (0 and -1 skipped), preceded by the
//!   executable's `DT_PREINIT_ARRAY`. Finalizers run in the exact reverse.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod elf;
mod error;
mod link;
mod order;
mod read;

#[cfg(test)]
mod testelf;
#[cfg(test)]
mod tests;

pub use elf::{Elf, Limits, Perm, Relocation, Segment, PAGE_SIZE};
pub use error::{reloc_name, LoadError, MissingSymbol};
pub use link::{link, BuiltinSymbol, Builtins, CopyReloc, CopySource, InitCall, LinkPlan, Write};
pub use order::{load_order, ObjectFile, DEFAULT_SEARCH_PATH};
