//! Parsing and validating one ELF object, and its load plan.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use crate::error::LoadError;
use crate::read::{bytes_at, cstr_at, to_usize, u16_at, u32_at, u64_at, u8_at};

/// The page size the load plan rounds to (x86_64 small pages).
pub const PAGE_SIZE: u64 = 4096;

const PAGE_MASK: u64 = PAGE_SIZE - 1;

fn page_floor(x: u64) -> u64 {
    x & !PAGE_MASK
}

fn page_ceil(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_MASK)? & !PAGE_MASK)
}

// Program header types.
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_TLS: u32 = 7;
const PT_GNU_RELRO: u32 = 0x6474_e552;

// Segment flags.
const PF_X: u32 = 1;
const PF_W: u32 = 2;

// Dynamic tags.
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_PLTRELSZ: u64 = 2;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_STRSZ: u64 = 10;
const DT_SYMENT: u64 = 11;
const DT_INIT: u64 = 12;
const DT_FINI: u64 = 13;
const DT_SONAME: u64 = 14;
const DT_SYMBOLIC: u64 = 16;
const DT_REL: u64 = 17;
const DT_RELSZ: u64 = 18;
const DT_RELENT: u64 = 19;
const DT_PLTREL: u64 = 20;
const DT_TEXTREL: u64 = 22;
const DT_JMPREL: u64 = 23;
const DT_INIT_ARRAY: u64 = 25;
const DT_FINI_ARRAY: u64 = 26;
const DT_INIT_ARRAYSZ: u64 = 27;
const DT_FINI_ARRAYSZ: u64 = 28;
const DT_FLAGS: u64 = 30;
const DT_PREINIT_ARRAY: u64 = 32;
const DT_PREINIT_ARRAYSZ: u64 = 33;
const DT_RELRSZ: u64 = 35;
const DT_RELR: u64 = 36;
const DT_RELRENT: u64 = 37;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const DT_VERSYM: u64 = 0x6fff_fff0;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DT_VERDEF: u64 = 0x6fff_fffc;
const DT_VERDEFNUM: u64 = 0x6fff_fffd;
const DT_VERNEED: u64 = 0x6fff_fffe;
const DT_VERNEEDNUM: u64 = 0x6fff_ffff;
const DT_AUXILIARY: u64 = 0x7fff_fffd;
const DT_FILTER: u64 = 0x7fff_ffff;

// DT_FLAGS bits.
const DF_SYMBOLIC: u64 = 0x2;
const DF_TEXTREL: u64 = 0x4;
const DF_STATIC_TLS: u64 = 0x10;

// Symbol table.
const SYMENT: u64 = 24;
pub(crate) const SHN_UNDEF: u16 = 0;
pub(crate) const SHN_ABS: u16 = 0xfff1;
pub(crate) const STB_LOCAL: u8 = 0;
pub(crate) const STB_GLOBAL: u8 = 1;
pub(crate) const STB_WEAK: u8 = 2;
pub(crate) const STB_GNU_UNIQUE: u8 = 10;
const STT_SECTION: u8 = 3;
const STT_FILE: u8 = 4;
const STT_TLS: u8 = 6;
const STT_GNU_IFUNC: u8 = 10;
pub(crate) const STV_INTERNAL: u8 = 1;
pub(crate) const STV_HIDDEN: u8 = 2;
pub(crate) const STV_PROTECTED: u8 = 3;

// Relocations.
const RELAENT: u64 = 24;
pub(crate) const R_X86_64_NONE: u32 = 0;
pub(crate) const R_X86_64_64: u32 = 1;
pub(crate) const R_X86_64_COPY: u32 = 5;
pub(crate) const R_X86_64_GLOB_DAT: u32 = 6;
pub(crate) const R_X86_64_JUMP_SLOT: u32 = 7;
pub(crate) const R_X86_64_RELATIVE: u32 = 8;

/// Resource limits applied while parsing and loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest page-rounded span (all `PT_LOAD` segments of one object, from
    /// the first one's page to the last one's page end) that is accepted.
    /// Checked before anything is sized by the segments.
    pub max_span: u64,
    /// Largest number of objects [`crate::load_order`] loads (executable
    /// included).
    pub max_objects: usize,
}

impl Default for Limits {
    /// 64 MiB per object, 32 objects.
    fn default() -> Self {
        Limits { max_span: 64 << 20, max_objects: 32 }
    }
}

/// Page permissions of a segment. W^X holds: nothing is both writable and
/// executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Read-only (`PF_R`, or no flags at all).
    R,
    /// Read-write (`PF_W`, with or without `PF_R`).
    RW,
    /// Read-execute (`PF_X`, with or without `PF_R`).
    RX,
}

/// One `PT_LOAD` segment in span coordinates.
///
/// Loading it means: copy `file_size` bytes from `file_offset` in the file to
/// `offset` in the span, zero the next `mem_size - file_size` bytes, and give
/// the pages [`Segment::pages`] the permissions `perm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index of the program header (for messages).
    pub index: usize,
    /// Offset of the segment's first byte in the span (`p_vaddr - vaddr_base`).
    pub offset: u64,
    /// `p_offset`.
    pub file_offset: u64,
    /// `p_filesz`: bytes copied from the file.
    pub file_size: u64,
    /// `p_memsz`: bytes the segment occupies; the bytes past `file_size` are zero.
    pub mem_size: u64,
    /// Permissions after loading (and after relocation, except for RELRO).
    pub perm: Perm,
}

impl Segment {
    /// The page-rounded span offsets that get this segment's permissions.
    pub fn pages(&self) -> Range<u64> {
        // Cannot overflow: offset + mem_size <= span size, which is page-rounded.
        let end = self.offset.saturating_add(self.mem_size).saturating_add(PAGE_MASK) & !PAGE_MASK;
        page_floor(self.offset)..end
    }

    /// The span offsets of the zero-filled tail (`.bss`).
    pub fn zero_range(&self) -> Range<u64> {
        self.offset.saturating_add(self.file_size)..self.offset.saturating_add(self.mem_size)
    }

    fn contains(&self, off: u64, len: u64) -> bool {
        match off.checked_add(len) {
            Some(end) => off >= self.offset && end <= self.offset.saturating_add(self.mem_size),
            None => false,
        }
    }
}

/// A dynamic symbol, validated.
#[derive(Clone, Debug)]
pub(crate) struct Symbol<'a> {
    pub name: &'a str,
    pub value: u64,
    pub size: u64,
    pub info: u8,
    pub other: u8,
    pub shndx: u16,
    /// The version name from `DT_VERSYM` (index >= 2), if any.
    pub version: Option<&'a str>,
    /// The `VERSYM_HIDDEN` bit.
    pub hidden: bool,
}

impl Symbol<'_> {
    pub fn bind(&self) -> u8 {
        self.info >> 4
    }
    pub fn stype(&self) -> u8 {
        self.info & 0xf
    }
    pub fn visibility(&self) -> u8 {
        self.other & 3
    }
    pub fn is_defined(&self) -> bool {
        self.shndx != SHN_UNDEF
    }
    /// Whether other objects may bind to this definition (ld.so's rules:
    /// defined, global/weak/unique, default or protected visibility, a value
    /// or absolute, and an object-like type).
    pub fn is_exported(&self) -> bool {
        self.is_defined()
            && matches!(self.bind(), STB_GLOBAL | STB_WEAK | STB_GNU_UNIQUE)
            && !matches!(self.visibility(), STV_HIDDEN | STV_INTERNAL)
            && (self.value != 0 || self.shndx == SHN_ABS)
            && !matches!(self.stype(), STT_SECTION | STT_FILE)
    }
    /// `name` or `name@VERSION`.
    pub fn display(&self) -> String {
        let mut s = String::from(self.name);
        if let Some(v) = self.version {
            s.push('@');
            s.push_str(v);
        }
        s
    }
}

/// A relocation, validated: supported type, symbol index in range, target
/// inside a writable segment.
#[derive(Clone, Debug)]
pub(crate) struct Reloc {
    pub table: &'static str,
    pub index: usize,
    /// Target as a span offset.
    pub offset: u64,
    pub rtype: u32,
    pub sym: u32,
    pub addend: i64,
}

/// A relocation as [`Elf::relocations`] shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relocation<'e> {
    /// `"DT_RELA"` or `"DT_JMPREL"`.
    pub table: &'static str,
    /// Index in that table.
    pub index: usize,
    /// Target, as a span offset.
    pub offset: u64,
    /// The `R_X86_64_*` type (see [`crate::reloc_name`]).
    pub rtype: u32,
    /// The symbol's name, if the relocation names one.
    pub symbol: Option<&'e str>,
    /// The version the reference asks for.
    pub version: Option<&'e str>,
    /// `r_addend`.
    pub addend: i64,
}

/// An array of function pointers (`DT_INIT_ARRAY` and friends): span offset
/// and number of 8-byte entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FnArray {
    pub offset: u64,
    pub count: u64,
}

/// One parsed and validated ELF object. Borrows the file bytes.
#[derive(Clone, Debug)]
pub struct Elf<'a> {
    name: String,
    bytes: &'a [u8],
    vaddr_base: u64,
    span_size: u64,
    max_align: u64,
    entry: Option<u64>,
    segments: Vec<Segment>,
    relro: Option<Range<u64>>,
    interp: Option<&'a str>,
    needed: Vec<&'a str>,
    soname: Option<&'a str>,
    flags: u64,
    flags_1: u64,
    pub(crate) symbolic: bool,
    pub(crate) symbols: Vec<Symbol<'a>>,
    pub(crate) relocs: Vec<Reloc>,
    pub(crate) init: Option<u64>,
    pub(crate) fini: Option<u64>,
    pub(crate) init_array: Option<FnArray>,
    pub(crate) fini_array: Option<FnArray>,
    pub(crate) preinit_array: Option<FnArray>,
}

/// A raw program header.
struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    mem_size: u64,
    align: u64,
}

impl Phdr {
    fn read(e: &[u8]) -> Option<Phdr> {
        Some(Phdr {
            p_type: u32_at(e, 0)?,
            flags: u32_at(e, 4)?,
            offset: u64_at(e, 8)?,
            vaddr: u64_at(e, 16)?,
            file_size: u64_at(e, 32)?,
            mem_size: u64_at(e, 40)?,
            align: u64_at(e, 48)?,
        })
    }
}

/// The parts of the file needed to translate dynamic-section addresses.
struct Image<'a, 'b> {
    name: &'b str,
    bytes: &'a [u8],
    vaddr_base: u64,
    segments: &'b [Segment],
}

impl<'a> Image<'a, '_> {
    fn obj(&self) -> String {
        String::from(self.name)
    }

    /// The file bytes behind `size` bytes at virtual address `vaddr`, which
    /// must lie inside the file-backed part of one segment.
    fn file_slice(&self, what: &'static str, vaddr: u64, size: u64) -> Result<&'a [u8], LoadError> {
        let err = || LoadError::Unmapped { object: self.obj(), what, vaddr, size };
        let off = vaddr.checked_sub(self.vaddr_base).ok_or_else(err)?;
        let end = off.checked_add(size).ok_or_else(err)?;
        for s in self.segments {
            if off >= s.offset && end <= s.offset.saturating_add(s.file_size) {
                let start = s.file_offset.checked_add(off - s.offset).ok_or_else(err)?;
                let start = to_usize(start).ok_or_else(err)?;
                let len = to_usize(size).ok_or_else(err)?;
                return bytes_at(self.bytes, start, len).ok_or_else(err);
            }
        }
        Err(err())
    }

    /// Span offset of `size` bytes at `vaddr` if one segment with a permission
    /// accepted by `ok` holds them.
    fn mem_offset(&self, vaddr: u64, size: u64, ok: impl Fn(Perm) -> bool) -> Option<u64> {
        let off = vaddr.checked_sub(self.vaddr_base)?;
        self.segments.iter().any(|s| ok(s.perm) && s.contains(off, size)).then_some(off)
    }

    fn string(&self, strtab: &'a [u8], what: &'static str, offset: u64) -> Result<&'a str, LoadError> {
        let err = || LoadError::BadString { object: self.obj(), what, offset };
        let raw = cstr_at(strtab, to_usize(offset).ok_or_else(err)?).ok_or_else(err)?;
        core::str::from_utf8(raw).map_err(|_| err())
    }
}

/// Single-valued dynamic tags, collected before interpretation.
#[derive(Default)]
struct Tags {
    needed: Vec<u64>,
    pltrelsz: Option<u64>,
    hash: Option<u64>,
    strtab: Option<u64>,
    symtab: Option<u64>,
    rela: Option<u64>,
    relasz: Option<u64>,
    relaent: Option<u64>,
    strsz: Option<u64>,
    syment: Option<u64>,
    init: Option<u64>,
    fini: Option<u64>,
    soname: Option<u64>,
    pltrel: Option<u64>,
    jmprel: Option<u64>,
    init_array: Option<u64>,
    fini_array: Option<u64>,
    init_arraysz: Option<u64>,
    fini_arraysz: Option<u64>,
    preinit_array: Option<u64>,
    preinit_arraysz: Option<u64>,
    flags: Option<u64>,
    flags_1: Option<u64>,
    gnu_hash: Option<u64>,
    versym: Option<u64>,
    verdef: Option<u64>,
    verdefnum: Option<u64>,
    verneed: Option<u64>,
    verneednum: Option<u64>,
    symbolic: bool,
}

impl<'a> Elf<'a> {
    /// Parses and validates one object. `name` is used in messages and for
    /// matching `DT_NEEDED` entries (see [`crate::link`]); `bytes` is the whole
    /// file. Nothing is allocated in proportion to a size read from the file
    /// before that size has been checked against the file length or
    /// `limits.max_span`.
    pub fn parse(name: &str, bytes: &'a [u8], limits: &Limits) -> Result<Elf<'a>, LoadError> {
        let obj = || String::from(name);
        let (e_entry, table, phnum) = parse_header(name, bytes)?;

        let mut segments: Vec<Segment> = Vec::new();
        let mut vaddr_base = 0u64;
        let mut prev_end = 0u64;
        let mut max_align = 1u64;
        let mut dynamic: Option<(u64, u64)> = None;
        let mut relro: Option<(u64, u64)> = None;
        let mut interp: Option<&'a str> = None;

        for index in 0..usize::from(phnum) {
            let entry = index.checked_mul(56).and_then(|o| bytes_at(table, o, 56));
            let p = entry.and_then(Phdr::read).ok_or_else(|| LoadError::ProgramHeaders {
                object: obj(),
                offset: 0,
                count: phnum,
                file_len: bytes.len(),
            })?;
            match p.p_type {
                PT_LOAD => {
                    if p.mem_size == 0 {
                        continue; // ld.so skips empty segments too.
                    }
                    let seg = check_load(name, bytes, limits, index, &p, segments.last(), vaddr_base, prev_end)?;
                    if segments.is_empty() {
                        vaddr_base = page_floor(p.vaddr);
                    }
                    // check_load verified that this cannot wrap.
                    prev_end = p.vaddr.saturating_add(p.mem_size);
                    max_align = max_align.max(p.align);
                    // Sorted segments: vaddr >= vaddr_base (saturation never applies).
                    segments.push(Segment { offset: p.vaddr.saturating_sub(vaddr_base), ..seg });
                }
                PT_DYNAMIC => {
                    if dynamic.replace((p.vaddr, p.file_size)).is_some() {
                        return Err(LoadError::Duplicate { object: obj(), what: "PT_DYNAMIC" });
                    }
                }
                PT_INTERP => {
                    if interp.is_some() {
                        return Err(LoadError::Duplicate { object: obj(), what: "PT_INTERP" });
                    }
                    let err = || LoadError::BadInterp { object: obj() };
                    let start = to_usize(p.offset).ok_or_else(err)?;
                    let len = to_usize(p.file_size).ok_or_else(err)?;
                    let raw = bytes_at(bytes, start, len).ok_or_else(err)?;
                    // The NUL must be the last byte; the string is what precedes it.
                    let (last, body) = raw.split_last().ok_or_else(err)?;
                    if *last != 0 || body.contains(&0) {
                        return Err(err());
                    }
                    interp = Some(core::str::from_utf8(body).map_err(|_| err())?);
                }
                PT_GNU_RELRO => {
                    if relro.replace((p.vaddr, p.mem_size)).is_some() {
                        return Err(LoadError::Duplicate { object: obj(), what: "PT_GNU_RELRO" });
                    }
                }
                PT_TLS => return Err(LoadError::Tls { object: obj(), what: "PT_TLS segment" }),
                // PT_PHDR, PT_NOTE, PT_GNU_STACK, PT_GNU_EH_FRAME, PT_GNU_PROPERTY
                // and unknown types are ignored, as ld.so does.
                _ => {}
            }
        }

        let last = segments.last().ok_or_else(|| LoadError::NoLoadSegments { object: obj() })?;
        let span_size = page_ceil(last.offset.saturating_add(last.mem_size)).unwrap_or(u64::MAX);

        let img = Image { name, bytes, vaddr_base, segments: &segments };

        let entry = if e_entry == 0 {
            None
        } else {
            let off = img.mem_offset(e_entry, 1, |p| p == Perm::RX);
            Some(off.ok_or_else(|| LoadError::BadEntry { object: obj(), entry: e_entry })?)
        };

        let relro = match relro {
            None | Some((_, 0)) => None,
            Some((vaddr, size)) => {
                let off = img.mem_offset(vaddr, size, |p| p == Perm::RW);
                let off = off.ok_or_else(|| LoadError::BadRelro { object: obj(), vaddr, size })?;
                // Like ld.so: protect whole pages from the page holding the
                // start up to the page holding the end, exclusive, since that
                // last page also holds data that stays writable.
                let start = page_floor(off);
                let end = page_floor(off.saturating_add(size));
                (end > start).then_some(start..end)
            }
        };

        let mut elf = Elf {
            name: obj(),
            bytes,
            vaddr_base,
            span_size,
            max_align,
            entry,
            segments: Vec::new(),
            relro,
            interp,
            needed: Vec::new(),
            soname: None,
            flags: 0,
            flags_1: 0,
            symbolic: false,
            symbols: Vec::new(),
            relocs: Vec::new(),
            init: None,
            fini: None,
            init_array: None,
            fini_array: None,
            preinit_array: None,
        };
        if let Some((vaddr, size)) = dynamic {
            parse_dynamic(&img, vaddr, size, &mut elf)?;
        }
        elf.segments = segments;
        Ok(elf)
    }

    /// The name given to [`Elf::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `DT_NEEDED` entries, in order.
    pub fn needed(&self) -> impl Iterator<Item = &str> + '_ {
        self.needed.iter().copied()
    }

    /// `DT_SONAME`, if present.
    pub fn soname(&self) -> Option<&'a str> {
        self.soname
    }

    /// Whether `name` (a `DT_NEEDED` string) designates this object: its
    /// [`Elf::name`] or its `DT_SONAME`.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.soname == Some(name)
    }

    /// Size of the memory region (page-rounded) the object needs.
    pub fn span_size(&self) -> u64 {
        self.span_size
    }

    /// The virtual address that span offset 0 corresponds to (the first
    /// segment's address rounded down to a page; 0 for ordinary objects).
    /// A loaded object's *load bias* (ld.so's `l_addr`) is
    /// `span_address - vaddr_base`.
    pub fn vaddr_base(&self) -> u64 {
        self.vaddr_base
    }

    /// The largest `p_align` of the `PT_LOAD` segments. Informational: the
    /// loader only needs page alignment because it copies instead of mapping.
    pub fn max_align(&self) -> u64 {
        self.max_align
    }

    /// Span offset of the entry point (`e_entry`), if it is non-zero; it is
    /// always inside an executable segment.
    pub fn entry(&self) -> Option<u64> {
        self.entry
    }

    /// The non-empty `PT_LOAD` segments, sorted by address.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The page-rounded span offsets to make read-only once relocation is
    /// done (`PT_GNU_RELRO`), if that is at least one page.
    pub fn relro(&self) -> Option<Range<u64>> {
        self.relro.clone()
    }

    /// The `PT_INTERP` string (informational; it is not loaded).
    pub fn interp(&self) -> Option<&'a str> {
        self.interp
    }

    /// `DT_FLAGS` (0 if absent).
    pub fn flags(&self) -> u64 {
        self.flags
    }

    /// `DT_FLAGS_1` (0 if absent).
    pub fn flags_1(&self) -> u64 {
        self.flags_1
    }

    /// The relocations (`DT_RELA` then `DT_JMPREL`, without `R_X86_64_NONE`),
    /// validated. For inspection; [`crate::link`] does the work.
    pub fn relocations(&self) -> impl Iterator<Item = Relocation<'_>> + '_ {
        self.relocs.iter().map(|r| {
            let sym = self.symbols.get(r.sym as usize).filter(|_| r.sym != 0 && r.rtype != R_X86_64_RELATIVE);
            Relocation {
                table: r.table,
                index: r.index,
                offset: r.offset,
                rtype: r.rtype,
                symbol: sym.map(|s| s.name),
                version: sym.and_then(|s| s.version),
                addend: r.addend,
            }
        })
    }

    /// `(st_value, st_size)` of the definition of `name` that other objects
    /// would bind to, if this object exports one. `st_value` is a virtual
    /// address of the file (span offset + [`Elf::vaddr_base`]).
    pub fn exported(&self, name: &str) -> Option<(u64, u64)> {
        let mut best: Option<&Symbol<'a>> = None;
        for s in self.symbols.iter().filter(|s| s.name == name && s.is_exported()) {
            if best.is_none_or(|b| b.hidden && !s.hidden) {
                best = Some(s);
            }
        }
        best.map(|s| (s.value, s.size))
    }

    /// The undefined symbols the object's relocations refer to, as
    /// `name` or `name@VERSION`, sorted and deduplicated.
    pub fn imports(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .relocs
            .iter()
            .filter_map(|r| self.symbols.get(r.sym as usize).filter(|_| r.sym != 0))
            .filter(|s| !s.is_defined())
            .map(Symbol::display)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Copies the segments into `span`: for each segment, its file bytes and
    /// then zeros up to `mem_size`. Bytes between segments are not touched
    /// (pass a zeroed span). `span` must be at least [`Elf::span_size`] long.
    pub fn copy_into(&self, span: &mut [u8]) -> Result<(), LoadError> {
        let len = span.len();
        let too_short = || LoadError::SpanTooShort { object: self.name.clone(), len, needed: self.span_size };
        if (len as u64) < self.span_size {
            return Err(too_short());
        }
        for s in &self.segments {
            let src = to_usize(s.file_offset)
                .zip(to_usize(s.file_size))
                .and_then(|(o, l)| bytes_at(self.bytes, o, l))
                .ok_or_else(too_short)?;
            let dst_start = to_usize(s.offset).ok_or_else(too_short)?;
            let file_end = dst_start.checked_add(src.len()).ok_or_else(too_short)?;
            let mem_end = to_usize(s.mem_size).and_then(|m| dst_start.checked_add(m)).ok_or_else(too_short)?;
            span.get_mut(dst_start..file_end).ok_or_else(too_short)?.copy_from_slice(src);
            span.get_mut(file_end..mem_end).ok_or_else(too_short)?.fill(0);
        }
        Ok(())
    }
}

/// Checks the ELF header; returns `e_entry`, the program header table and its
/// entry count.
fn parse_header<'a>(name: &str, bytes: &'a [u8]) -> Result<(u64, &'a [u8], u16), LoadError> {
    let obj = || String::from(name);
    let hdr = bytes_at(bytes, 0, 64).ok_or_else(|| LoadError::TooSmall { object: obj(), len: bytes.len() })?;
    if hdr.get(0..4) != Some(b"\x7fELF".as_slice()) {
        return Err(LoadError::BadMagic { object: obj() });
    }
    // All reads below are inside the 64 checked bytes; the fallbacks are
    // values that fail the checks.
    let class = u8_at(hdr, 4).unwrap_or(0);
    if class != 2 {
        return Err(LoadError::NotElf64 { object: obj(), class });
    }
    let data = u8_at(hdr, 5).unwrap_or(0);
    if data != 1 {
        return Err(LoadError::NotLittleEndian { object: obj(), data });
    }
    let ident_version = u8_at(hdr, 6).unwrap_or(0);
    if ident_version != 1 {
        return Err(LoadError::BadVersion { object: obj(), version: u32::from(ident_version) });
    }
    let abi = u8_at(hdr, 7).unwrap_or(0xff);
    if abi != 0 && abi != 3 {
        return Err(LoadError::BadOsAbi { object: obj(), abi });
    }
    let e_type = u16_at(hdr, 16).unwrap_or(0);
    let e_machine = u16_at(hdr, 18).unwrap_or(0);
    let e_version = u32_at(hdr, 20).unwrap_or(0);
    let e_entry = u64_at(hdr, 24).unwrap_or(0);
    let e_phoff = u64_at(hdr, 32).unwrap_or(u64::MAX);
    let e_ehsize = u16_at(hdr, 52).unwrap_or(0);
    let e_phentsize = u16_at(hdr, 54).unwrap_or(0);
    let e_phnum = u16_at(hdr, 56).unwrap_or(0);
    let e_shentsize = u16_at(hdr, 58).unwrap_or(0);
    let e_shnum = u16_at(hdr, 60).unwrap_or(0);
    if e_type != 3 {
        return Err(LoadError::BadType { object: obj(), e_type });
    }
    if e_machine != 62 {
        return Err(LoadError::BadMachine { object: obj(), machine: e_machine });
    }
    if e_version != 1 {
        return Err(LoadError::BadVersion { object: obj(), version: e_version });
    }
    if e_ehsize != 64 {
        return Err(LoadError::HeaderSize { object: obj(), field: "e_ehsize", value: e_ehsize, expected: 64 });
    }
    if e_phentsize != 56 {
        return Err(LoadError::HeaderSize { object: obj(), field: "e_phentsize", value: e_phentsize, expected: 56 });
    }
    // Section headers are not used; their entry size is still checked when
    // there are any (stripped files may have none and a zero size).
    if e_shentsize != 64 && !(e_shnum == 0 && e_shentsize == 0) {
        return Err(LoadError::HeaderSize { object: obj(), field: "e_shentsize", value: e_shentsize, expected: 64 });
    }
    if e_phnum == 0xffff {
        return Err(LoadError::ExtendedPhnum { object: obj() });
    }
    let table = to_usize(e_phoff).and_then(|off| bytes_at(bytes, off, usize::from(e_phnum) * 56)).ok_or_else(|| {
        LoadError::ProgramHeaders { object: obj(), offset: e_phoff, count: e_phnum, file_len: bytes.len() }
    })?;
    Ok((e_entry, table, e_phnum))
}

/// Validates one non-empty `PT_LOAD` against the file, the limits and the
/// previous segment; returns it with `offset` still unset.
#[allow(clippy::too_many_arguments)]
fn check_load(
    name: &str,
    bytes: &[u8],
    limits: &Limits,
    index: usize,
    p: &Phdr,
    prev: Option<&Segment>,
    vaddr_base: u64,
    prev_end: u64,
) -> Result<Segment, LoadError> {
    let obj = || String::from(name);
    if p.file_size > p.mem_size {
        return Err(LoadError::SegmentFileSize { object: obj(), index, file_size: p.file_size, mem_size: p.mem_size });
    }
    let in_file = p.offset.checked_add(p.file_size).is_some_and(|end| end <= bytes.len() as u64);
    if !in_file {
        return Err(LoadError::SegmentFileRange {
            object: obj(),
            index,
            offset: p.offset,
            size: p.file_size,
            file_len: bytes.len(),
        });
    }
    if p.align > 1 {
        if !p.align.is_power_of_two() {
            return Err(LoadError::SegmentAlign { object: obj(), index, align: p.align });
        }
        if p.vaddr % p.align != p.offset % p.align {
            return Err(LoadError::SegmentMisaligned {
                object: obj(),
                index,
                vaddr: p.vaddr,
                offset: p.offset,
                align: p.align,
            });
        }
    }
    let perm = match (p.flags & PF_W != 0, p.flags & PF_X != 0) {
        (true, true) => return Err(LoadError::SegmentWriteExec { object: obj(), index }),
        (true, false) => Perm::RW,
        (false, true) => Perm::RX,
        (false, false) => Perm::R,
    };
    let wraps = || LoadError::SegmentWraps { object: obj(), index, vaddr: p.vaddr, mem_size: p.mem_size };
    let end = p.vaddr.checked_add(p.mem_size).ok_or_else(wraps)?;
    let end_page = page_ceil(end).ok_or_else(wraps)?;
    let base = match prev {
        None => page_floor(p.vaddr),
        Some(prev) => {
            if p.vaddr < prev_end {
                return Err(LoadError::SegmentOverlap { object: obj(), index, vaddr: p.vaddr, previous_end: prev_end });
            }
            // Sharing a page with the previous segment is fine only when both
            // want the same permissions (the page cannot have two).
            if page_floor(p.vaddr) < page_ceil(prev_end).unwrap_or(u64::MAX) && prev.perm != perm {
                return Err(LoadError::SegmentPageConflict { object: obj(), index, page: page_floor(p.vaddr) });
            }
            vaddr_base
        }
    };
    // base <= p.vaddr <= end_page (first segment: its own page; later ones:
    // sorted above the first), so this never saturates.
    let span = end_page.saturating_sub(base);
    if span > limits.max_span {
        return Err(LoadError::SpanTooLarge { object: obj(), size: span, limit: limits.max_span });
    }
    Ok(Segment { index, offset: 0, file_offset: p.offset, file_size: p.file_size, mem_size: p.mem_size, perm })
}

/// Stores `val` in `slot`, refusing a second occurrence of the tag.
fn set_once(obj: &str, slot: &mut Option<u64>, tag: &'static str, val: u64) -> Result<(), LoadError> {
    if slot.replace(val).is_some() {
        return Err(LoadError::DuplicateTag { object: String::from(obj), tag });
    }
    Ok(())
}

fn parse_dynamic<'a>(img: &Image<'a, '_>, vaddr: u64, size: u64, elf: &mut Elf<'a>) -> Result<(), LoadError> {
    let obj = || img.obj();
    let name = img.name;
    let table = img.file_slice("PT_DYNAMIC", vaddr, size - size % 16)?;
    let mut t = Tags::default();
    let mut terminated = false;
    for e in table.chunks_exact(16) {
        let tag = u64_at(e, 0).unwrap_or(DT_NULL);
        let val = u64_at(e, 8).unwrap_or(0);
        let unsupported = |what| Err(LoadError::Unsupported { object: obj(), what });
        match tag {
            DT_NULL => {
                terminated = true;
                break;
            }
            DT_NEEDED => t.needed.push(val),
            DT_PLTRELSZ => set_once(name, &mut t.pltrelsz, "DT_PLTRELSZ", val)?,
            DT_HASH => set_once(name, &mut t.hash, "DT_HASH", val)?,
            DT_STRTAB => set_once(name, &mut t.strtab, "DT_STRTAB", val)?,
            DT_SYMTAB => set_once(name, &mut t.symtab, "DT_SYMTAB", val)?,
            DT_RELA => set_once(name, &mut t.rela, "DT_RELA", val)?,
            DT_RELASZ => set_once(name, &mut t.relasz, "DT_RELASZ", val)?,
            DT_RELAENT => set_once(name, &mut t.relaent, "DT_RELAENT", val)?,
            DT_STRSZ => set_once(name, &mut t.strsz, "DT_STRSZ", val)?,
            DT_SYMENT => set_once(name, &mut t.syment, "DT_SYMENT", val)?,
            DT_INIT => set_once(name, &mut t.init, "DT_INIT", val)?,
            DT_FINI => set_once(name, &mut t.fini, "DT_FINI", val)?,
            DT_SONAME => set_once(name, &mut t.soname, "DT_SONAME", val)?,
            DT_SYMBOLIC => t.symbolic = true,
            DT_PLTREL => set_once(name, &mut t.pltrel, "DT_PLTREL", val)?,
            DT_JMPREL => set_once(name, &mut t.jmprel, "DT_JMPREL", val)?,
            DT_INIT_ARRAY => set_once(name, &mut t.init_array, "DT_INIT_ARRAY", val)?,
            DT_FINI_ARRAY => set_once(name, &mut t.fini_array, "DT_FINI_ARRAY", val)?,
            DT_INIT_ARRAYSZ => set_once(name, &mut t.init_arraysz, "DT_INIT_ARRAYSZ", val)?,
            DT_FINI_ARRAYSZ => set_once(name, &mut t.fini_arraysz, "DT_FINI_ARRAYSZ", val)?,
            DT_PREINIT_ARRAY => set_once(name, &mut t.preinit_array, "DT_PREINIT_ARRAY", val)?,
            DT_PREINIT_ARRAYSZ => set_once(name, &mut t.preinit_arraysz, "DT_PREINIT_ARRAYSZ", val)?,
            DT_FLAGS => set_once(name, &mut t.flags, "DT_FLAGS", val)?,
            DT_FLAGS_1 => set_once(name, &mut t.flags_1, "DT_FLAGS_1", val)?,
            DT_GNU_HASH => set_once(name, &mut t.gnu_hash, "DT_GNU_HASH", val)?,
            DT_VERSYM => set_once(name, &mut t.versym, "DT_VERSYM", val)?,
            DT_VERDEF => set_once(name, &mut t.verdef, "DT_VERDEF", val)?,
            DT_VERDEFNUM => set_once(name, &mut t.verdefnum, "DT_VERDEFNUM", val)?,
            DT_VERNEED => set_once(name, &mut t.verneed, "DT_VERNEED", val)?,
            DT_VERNEEDNUM => set_once(name, &mut t.verneednum, "DT_VERNEEDNUM", val)?,
            DT_TEXTREL => return unsupported("relocation of read-only segments (DT_TEXTREL)"),
            DT_REL | DT_RELSZ | DT_RELENT => return unsupported("the REL relocation format (DT_REL)"),
            DT_RELR | DT_RELRSZ | DT_RELRENT => return unsupported("packed relative relocations (DT_RELR)"),
            DT_AUXILIARY | DT_FILTER => return unsupported("a filter library (DT_AUXILIARY/DT_FILTER)"),
            // DT_PLTGOT, DT_DEBUG, DT_BIND_NOW, DT_RPATH, DT_RUNPATH,
            // DT_RELACOUNT, DT_CHECKSUM, ... carry nothing this loader needs.
            _ => {}
        }
    }
    if !terminated {
        return Err(LoadError::DynamicUnterminated { object: obj() });
    }

    let flags = t.flags.unwrap_or(0);
    if flags & DF_TEXTREL != 0 {
        return Err(LoadError::Unsupported { object: obj(), what: "relocation of read-only segments (DF_TEXTREL)" });
    }
    if flags & DF_STATIC_TLS != 0 {
        return Err(LoadError::Tls { object: obj(), what: "DF_STATIC_TLS" });
    }
    elf.flags = flags;
    elf.flags_1 = t.flags_1.unwrap_or(0);
    elf.symbolic = t.symbolic || flags & DF_SYMBOLIC != 0;

    // Strings.
    let strtab: &'a [u8] = match t.strtab {
        Some(addr) => {
            let size =
                t.strsz.ok_or(LoadError::MissingTag { object: obj(), tag: "DT_STRSZ", required_by: "DT_STRTAB" })?;
            img.file_slice("DT_STRTAB", addr, size)?
        }
        None => {
            let user = if !t.needed.is_empty() {
                Some("DT_NEEDED")
            } else if t.soname.is_some() {
                Some("DT_SONAME")
            } else if t.symtab.is_some() {
                Some("DT_SYMTAB")
            } else {
                None
            };
            if let Some(required_by) = user {
                return Err(LoadError::MissingTag { object: obj(), tag: "DT_STRTAB", required_by });
            }
            &[]
        }
    };
    for &off in &t.needed {
        elf.needed.push(img.string(strtab, "DT_NEEDED", off)?);
    }
    if let Some(off) = t.soname {
        elf.soname = Some(img.string(strtab, "DT_SONAME", off)?);
    }

    // Initializers and finalizers.
    let code = |tag: &'static str, addr: u64| {
        img.mem_offset(addr, 1, |p| p == Perm::RX).ok_or_else(|| LoadError::BadInitAddress {
            object: obj(),
            what: tag,
            address: addr,
        })
    };
    elf.init = t.init.map(|a| code("DT_INIT", a)).transpose()?;
    elf.fini = t.fini.map(|a| code("DT_FINI", a)).transpose()?;
    elf.init_array = fn_array(img, t.init_array, t.init_arraysz, "DT_INIT_ARRAY", "DT_INIT_ARRAYSZ")?;
    elf.fini_array = fn_array(img, t.fini_array, t.fini_arraysz, "DT_FINI_ARRAY", "DT_FINI_ARRAYSZ")?;
    elf.preinit_array = fn_array(img, t.preinit_array, t.preinit_arraysz, "DT_PREINIT_ARRAY", "DT_PREINIT_ARRAYSZ")?;

    // Symbols.
    if let Some(ent) = t.syment {
        if ent != SYMENT {
            return Err(LoadError::BadTagValue { object: obj(), tag: "DT_SYMENT", value: ent });
        }
    }
    if let Some(symtab) = t.symtab {
        let count = symbol_count(img, t.hash, t.gnu_hash)?;
        let size = count.checked_mul(SYMENT).ok_or(LoadError::Unmapped {
            object: obj(),
            what: "DT_SYMTAB",
            vaddr: symtab,
            size: u64::MAX,
        })?;
        let raw = img.file_slice("DT_SYMTAB", symtab, size)?;
        let versym = match t.versym {
            Some(addr) => Some(img.file_slice("DT_VERSYM", addr, count.saturating_mul(2))?),
            None => None,
        };
        let versions = parse_versions(img, strtab, &t)?;
        elf.symbols = parse_symbols(img, strtab, raw, versym, &versions)?;
    } else if t.hash.is_some() || t.gnu_hash.is_some() || t.versym.is_some() {
        return Err(LoadError::MissingTag {
            object: obj(),
            tag: "DT_SYMTAB",
            required_by: "a symbol hash or version table",
        });
    }

    // Relocations.
    if let Some(ent) = t.relaent {
        if ent != RELAENT {
            return Err(LoadError::BadTagValue { object: obj(), tag: "DT_RELAENT", value: ent });
        }
    }
    if let Some(rela) = t.rela {
        let size = t.relasz.ok_or(LoadError::MissingTag { object: obj(), tag: "DT_RELASZ", required_by: "DT_RELA" })?;
        parse_relocs(img, "DT_RELA", rela, size, "DT_RELASZ", elf)?;
    }
    if let Some(jmprel) = t.jmprel {
        match t.pltrel {
            Some(DT_RELA) => {}
            Some(other) => return Err(LoadError::BadTagValue { object: obj(), tag: "DT_PLTREL", value: other }),
            None => return Err(LoadError::MissingTag { object: obj(), tag: "DT_PLTREL", required_by: "DT_JMPREL" }),
        }
        let size =
            t.pltrelsz.ok_or(LoadError::MissingTag { object: obj(), tag: "DT_PLTRELSZ", required_by: "DT_JMPREL" })?;
        parse_relocs(img, "DT_JMPREL", jmprel, size, "DT_PLTRELSZ", elf)?;
    }
    Ok(())
}

fn fn_array(
    img: &Image<'_, '_>,
    addr: Option<u64>,
    size: Option<u64>,
    tag: &'static str,
    size_tag: &'static str,
) -> Result<Option<FnArray>, LoadError> {
    let obj = || img.obj();
    let (addr, size) = match (addr, size) {
        (None, None) => return Ok(None),
        (Some(a), Some(s)) => (a, s),
        (Some(_), None) => return Err(LoadError::MissingTag { object: obj(), tag: size_tag, required_by: tag }),
        (None, Some(_)) => return Err(LoadError::MissingTag { object: obj(), tag, required_by: size_tag }),
    };
    if !size.is_multiple_of(8) {
        return Err(LoadError::BadTagValue { object: obj(), tag: size_tag, value: size });
    }
    if size == 0 {
        return Ok(None);
    }
    // The entries are read from the relocated image, so the array must be in
    // memory that relocations can reach.
    let offset = img.mem_offset(addr, size, |p| p == Perm::RW).ok_or(LoadError::Unmapped {
        object: obj(),
        what: tag,
        vaddr: addr,
        size,
    })?;
    Ok(Some(FnArray { offset, count: size / 8 }))
}

/// The number of dynamic symbols, from `DT_HASH` (`nchain`) or else
/// `DT_GNU_HASH` (one past the last symbol of the longest-reaching chain).
fn symbol_count(img: &Image<'_, '_>, hash: Option<u64>, gnu_hash: Option<u64>) -> Result<u64, LoadError> {
    let obj = || img.obj();
    if let Some(addr) = hash {
        let head = img.file_slice("DT_HASH", addr, 8)?;
        let nbucket = u64::from(u32_at(head, 0).unwrap_or(0));
        let nchain = u64::from(u32_at(head, 4).unwrap_or(0));
        // The whole table must be there; both counts are < 2^32, so no overflow.
        img.file_slice("DT_HASH", addr, 8 + 4 * (nbucket + nchain))?;
        return Ok(nchain);
    }
    let Some(addr) = gnu_hash else {
        return Err(LoadError::MissingTag { object: obj(), tag: "DT_HASH or DT_GNU_HASH", required_by: "DT_SYMTAB" });
    };
    let bad = |what| LoadError::BadHashTable { object: obj(), what };
    let head = img.file_slice("DT_GNU_HASH", addr, 16)?;
    let nbuckets = u64::from(u32_at(head, 0).unwrap_or(0));
    let symoffset = u64::from(u32_at(head, 4).unwrap_or(0));
    let bloom_size = u64::from(u32_at(head, 8).unwrap_or(0));
    // All < 2^32 factors: no overflow in u64.
    let buckets_addr = addr.checked_add(16 + 8 * bloom_size).ok_or_else(|| bad("DT_GNU_HASH (bloom filter)"))?;
    let buckets = img.file_slice("DT_GNU_HASH", buckets_addr, 4 * nbuckets)?;
    let max = buckets.chunks_exact(4).filter_map(|b| u32_at(b, 0)).max().unwrap_or(0);
    if max == 0 {
        return Ok(symoffset);
    }
    let max = u64::from(max);
    if max < symoffset {
        return Err(bad("DT_GNU_HASH (bucket below the symbol offset)"));
    }
    let chain_addr = buckets_addr.checked_add(4 * nbuckets).ok_or_else(|| bad("DT_GNU_HASH (buckets)"))?;
    // Walk the last chain to its end marker (low bit set). Every step reads
    // one more word of the file, so the walk ends within the file length.
    let mut index = max;
    loop {
        let word_addr = (index - symoffset)
            .checked_mul(4)
            .and_then(|o| chain_addr.checked_add(o))
            .ok_or_else(|| bad("DT_GNU_HASH (chain)"))?;
        let word = img.file_slice("DT_GNU_HASH chain", word_addr, 4)?;
        if u32_at(word, 0).unwrap_or(1) & 1 == 1 {
            return Ok(index + 1);
        }
        index += 1;
    }
}

/// Version index -> name, from `DT_VERDEF` and `DT_VERNEED`, sorted by index.
fn parse_versions<'a>(img: &Image<'a, '_>, strtab: &'a [u8], t: &Tags) -> Result<Vec<(u16, &'a str)>, LoadError> {
    let bad = |detail: &str| LoadError::BadSymbolVersions { object: img.obj(), detail: String::from(detail) };
    let mut out: Vec<(u16, &'a str)> = Vec::new();
    // Every entry visited is at least 8 bytes of the file: a budget that
    // stops cycles through `vd_next`/`vn_next` links.
    let mut budget = img.bytes.len() / 8 + 1;
    let mut spend = || {
        budget = budget.checked_sub(1).ok_or_else(|| bad("more entries than the file can hold (a cycle?)"))?;
        Ok::<(), LoadError>(())
    };
    if let Some(mut addr) = t.verdef {
        let count = t.verdefnum.ok_or(LoadError::MissingTag {
            object: img.obj(),
            tag: "DT_VERDEFNUM",
            required_by: "DT_VERDEF",
        })?;
        for _ in 0..count {
            spend()?;
            let e = img.file_slice("DT_VERDEF entry", addr, 20)?;
            if u16_at(e, 0) != Some(1) {
                return Err(bad("DT_VERDEF entry with vd_version other than 1"));
            }
            let ndx = u16_at(e, 4).unwrap_or(0) & 0x7fff;
            let cnt = u16_at(e, 6).unwrap_or(0);
            let aux = u64::from(u32_at(e, 12).unwrap_or(0));
            let next = u64::from(u32_at(e, 16).unwrap_or(0));
            if cnt > 0 {
                let a = addr.checked_add(aux).ok_or_else(|| bad("DT_VERDEF aux link wraps"))?;
                let aux = img.file_slice("DT_VERDEF aux entry", a, 8)?;
                let name = img.string(strtab, "version definition", u64::from(u32_at(aux, 0).unwrap_or(0)))?;
                out.push((ndx, name));
            }
            if next == 0 {
                break;
            }
            addr = addr.checked_add(next).ok_or_else(|| bad("DT_VERDEF link wraps"))?;
        }
    }
    if let Some(mut addr) = t.verneed {
        let count = t.verneednum.ok_or(LoadError::MissingTag {
            object: img.obj(),
            tag: "DT_VERNEEDNUM",
            required_by: "DT_VERNEED",
        })?;
        for _ in 0..count {
            spend()?;
            let e = img.file_slice("DT_VERNEED entry", addr, 16)?;
            if u16_at(e, 0) != Some(1) {
                return Err(bad("DT_VERNEED entry with vn_version other than 1"));
            }
            let cnt = u16_at(e, 2).unwrap_or(0);
            let aux = u64::from(u32_at(e, 8).unwrap_or(0));
            let next = u64::from(u32_at(e, 12).unwrap_or(0));
            let mut a = addr.checked_add(aux).ok_or_else(|| bad("DT_VERNEED aux link wraps"))?;
            for _ in 0..cnt {
                spend()?;
                let x = img.file_slice("DT_VERNEED aux entry", a, 16)?;
                let other = u16_at(x, 6).unwrap_or(0) & 0x7fff;
                let name = img.string(strtab, "version requirement", u64::from(u32_at(x, 8).unwrap_or(0)))?;
                out.push((other, name));
                let anext = u64::from(u32_at(x, 12).unwrap_or(0));
                if anext == 0 {
                    break;
                }
                a = a.checked_add(anext).ok_or_else(|| bad("DT_VERNEED aux link wraps"))?;
            }
            if next == 0 {
                break;
            }
            addr = addr.checked_add(next).ok_or_else(|| bad("DT_VERNEED link wraps"))?;
        }
    }
    out.sort_by_key(|&(i, _)| i);
    Ok(out)
}

fn parse_symbols<'a>(
    img: &Image<'a, '_>,
    strtab: &'a [u8],
    raw: &'a [u8],
    versym: Option<&'a [u8]>,
    versions: &[(u16, &'a str)],
) -> Result<Vec<Symbol<'a>>, LoadError> {
    let mut out = Vec::with_capacity(raw.len() / 24);
    for (i, e) in raw.chunks_exact(24).enumerate() {
        let st_name = u32_at(e, 0).unwrap_or(0);
        let name = img.string(strtab, "symbol name", u64::from(st_name))?;
        let mut sym = Symbol {
            name,
            info: u8_at(e, 4).unwrap_or(0),
            other: u8_at(e, 5).unwrap_or(0),
            shndx: u16_at(e, 6).unwrap_or(0),
            value: u64_at(e, 8).unwrap_or(0),
            size: u64_at(e, 16).unwrap_or(0),
            version: None,
            hidden: false,
        };
        if let Some(vs) = versym {
            let v = i.checked_mul(2).and_then(|o| u16_at(vs, o)).unwrap_or(0);
            sym.hidden = v & 0x8000 != 0;
            let ndx = v & 0x7fff;
            if ndx >= 2 {
                let found = versions.binary_search_by_key(&ndx, |&(n, _)| n).ok().and_then(|k| versions.get(k));
                match found {
                    Some(&(_, vname)) => sym.version = Some(vname),
                    None => {
                        return Err(LoadError::BadSymbolVersions {
                            object: img.obj(),
                            detail: alloc::format!(
                            "symbol `{name}` has version index {ndx}, which no DT_VERDEF or DT_VERNEED entry defines"
                        ),
                        })
                    }
                }
            }
        }
        if sym.stype() == STT_TLS && i != 0 {
            return Err(LoadError::Tls { object: img.obj(), what: "a thread-local symbol" });
        }
        if sym.stype() == STT_GNU_IFUNC && sym.is_defined() {
            return Err(LoadError::UnsupportedSymbol {
                object: img.obj(),
                symbol: String::from(name),
                what: "a GNU indirect function (STT_GNU_IFUNC)",
            });
        }
        out.push(sym);
    }
    Ok(out)
}

fn parse_relocs(
    img: &Image<'_, '_>,
    table: &'static str,
    addr: u64,
    size: u64,
    size_tag: &'static str,
    elf: &mut Elf<'_>,
) -> Result<(), LoadError> {
    let obj = || img.obj();
    if !size.is_multiple_of(RELAENT) {
        return Err(LoadError::BadTagValue { object: obj(), tag: size_tag, value: size });
    }
    let raw = img.file_slice(table, addr, size)?;
    elf.relocs.reserve(raw.len() / 24);
    let nsyms = elf.symbols.len();
    for (index, e) in raw.chunks_exact(24).enumerate() {
        let r_offset = u64_at(e, 0).unwrap_or(0);
        let r_info = u64_at(e, 8).unwrap_or(0);
        let addend = u64_at(e, 16).unwrap_or(0) as i64;
        let rtype = r_info as u32;
        let sym = (r_info >> 32) as u32;
        let width = match rtype {
            R_X86_64_NONE => continue,
            R_X86_64_RELATIVE => 8,
            R_X86_64_64 | R_X86_64_GLOB_DAT | R_X86_64_JUMP_SLOT | R_X86_64_COPY => {
                if sym as usize >= nsyms && (sym != 0 || rtype == R_X86_64_COPY) {
                    return Err(LoadError::SymbolIndex { object: obj(), table, index, symbol: sym, count: nsyms });
                }
                if rtype == R_X86_64_COPY {
                    if sym == 0 {
                        return Err(LoadError::SymbolIndex { object: obj(), table, index, symbol: 0, count: nsyms });
                    }
                    elf.symbols.get(sym as usize).map_or(0, |s| s.size)
                } else {
                    8
                }
            }
            other => return Err(LoadError::UnsupportedRelocation { object: obj(), table, index, rtype: other }),
        };
        let offset = img.mem_offset(r_offset, width, |p| p == Perm::RW).ok_or(LoadError::RelocationTarget {
            object: obj(),
            table,
            index,
            offset: r_offset,
            size: width,
        })?;
        elf.relocs.push(Reloc { table, index, offset, rtype, sym, addend });
    }
    Ok(())
}
