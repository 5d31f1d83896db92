//! The one error type of the crate.
//!
//! Every variant that concerns a single object carries that object's name (as
//! the caller named it, usually the `DT_NEEDED` string or the program name) so
//! the message stands on its own: `libxenstore.so.4: segment 2 file range
//! 0x6000+0xf00 is past the end of the 1234-byte file`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// One symbol that no object of the linked set and no builtin defines.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MissingSymbol {
    /// Position of the needing object in the load order (used for sorting).
    pub object_index: usize,
    /// The name, with `@VERSION` appended when the reference is versioned.
    pub symbol: String,
    /// The name of the object whose relocation needs the symbol.
    pub needed_by: String,
}

/// Everything that can go wrong while parsing, planning or linking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The file is shorter than the 64-byte ELF header.
    TooSmall { object: String, len: usize },
    /// The first four bytes are not `\x7fELF`.
    BadMagic { object: String },
    /// `EI_CLASS` is not `ELFCLASS64`.
    NotElf64 { object: String, class: u8 },
    /// `EI_DATA` is not `ELFDATA2LSB`.
    NotLittleEndian { object: String, data: u8 },
    /// `EI_VERSION` or `e_version` is not `EV_CURRENT`.
    BadVersion { object: String, version: u32 },
    /// `EI_OSABI` is neither System V (0) nor GNU/Linux (3).
    BadOsAbi { object: String, abi: u8 },
    /// `e_machine` is not `EM_X86_64`.
    BadMachine { object: String, machine: u16 },
    /// `e_type` is not `ET_DYN`.
    BadType { object: String, e_type: u16 },
    /// `e_ehsize`, `e_phentsize` or `e_shentsize` has the wrong value.
    HeaderSize { object: String, field: &'static str, value: u16, expected: u16 },
    /// `e_phnum` is `PN_XNUM` (extended numbering through section 0).
    ExtendedPhnum { object: String },
    /// The program header table is not inside the file.
    ProgramHeaders { object: String, offset: u64, count: u16, file_len: usize },
    /// There is no `PT_LOAD` segment with a non-zero size.
    NoLoadSegments { object: String },
    /// A segment's file range is not inside the file.
    SegmentFileRange { object: String, index: usize, offset: u64, size: u64, file_len: usize },
    /// A segment has `p_filesz > p_memsz`.
    SegmentFileSize { object: String, index: usize, file_size: u64, mem_size: u64 },
    /// `p_align` is not 0, 1 or a power of two.
    SegmentAlign { object: String, index: usize, align: u64 },
    /// `p_vaddr` and `p_offset` differ modulo `p_align`.
    SegmentMisaligned { object: String, index: usize, vaddr: u64, offset: u64, align: u64 },
    /// A segment is both writable and executable (W^X).
    SegmentWriteExec { object: String, index: usize },
    /// `p_vaddr + p_memsz` wraps around the address space.
    SegmentWraps { object: String, index: usize, vaddr: u64, mem_size: u64 },
    /// Segments are not sorted by address or overlap.
    SegmentOverlap { object: String, index: usize, vaddr: u64, previous_end: u64 },
    /// Two segments share a page but want different permissions.
    SegmentPageConflict { object: String, index: usize, page: u64 },
    /// The page-rounded span of all segments exceeds [`crate::Limits::max_span`].
    SpanTooLarge { object: String, size: u64, limit: u64 },
    /// Thread-local storage (`PT_TLS`, TLS symbols or relocations, `DF_STATIC_TLS`).
    Tls { object: String, what: &'static str },
    /// A program header type that must appear at most once appears twice.
    Duplicate { object: String, what: &'static str },
    /// The `PT_INTERP` string is not a NUL-terminated UTF-8 string inside the file.
    BadInterp { object: String },
    /// `PT_GNU_RELRO` is not inside one writable `PT_LOAD` segment.
    BadRelro { object: String, vaddr: u64, size: u64 },
    /// `e_entry` is non-zero but not inside an executable segment.
    BadEntry { object: String, entry: u64 },
    /// A table named by a dynamic tag (or `PT_DYNAMIC` itself) is not inside
    /// the file-backed part of one `PT_LOAD` segment.
    Unmapped { object: String, what: &'static str, vaddr: u64, size: u64 },
    /// A string-table offset does not name a NUL-terminated UTF-8 string.
    BadString { object: String, what: &'static str, offset: u64 },
    /// The dynamic section has no `DT_NULL` terminator.
    DynamicUnterminated { object: String },
    /// A dynamic tag that must appear at most once appears twice.
    DuplicateTag { object: String, tag: &'static str },
    /// A dynamic tag that another one requires is absent.
    MissingTag { object: String, tag: &'static str, required_by: &'static str },
    /// A dynamic tag has a value this loader cannot accept.
    BadTagValue { object: String, tag: &'static str, value: u64 },
    /// A feature the loader refuses (text relocations, REL format, filters, ...).
    Unsupported { object: String, what: &'static str },
    /// The `DT_HASH` or `DT_GNU_HASH` table is malformed.
    BadHashTable { object: String, what: &'static str },
    /// The symbol-versioning tables are malformed.
    BadSymbolVersions { object: String, detail: String },
    /// A symbol is of a kind the loader refuses (IFUNC).
    UnsupportedSymbol { object: String, symbol: String, what: &'static str },
    /// A relocation names a symbol index past the symbol table.
    SymbolIndex { object: String, table: &'static str, index: usize, symbol: u32, count: usize },
    /// A relocation type the loader does not implement.
    UnsupportedRelocation { object: String, table: &'static str, index: usize, rtype: u32 },
    /// A relocation writes outside the writable segments.
    RelocationTarget { object: String, table: &'static str, index: usize, offset: u64, size: u64 },
    /// `R_X86_64_COPY` outside the executable (the first object).
    CopyOutsideExecutable { object: String, table: &'static str, index: usize },
    /// The definition a COPY relocation reads from is unusable.
    CopySource { object: String, symbol: String, detail: String },
    /// Symbols nobody defines, sorted by needing object (load order) then name.
    MissingSymbols(Vec<MissingSymbol>),
    /// A `DT_NEEDED` library is neither in the linked set nor builtin.
    NeededNotLinked { object: String, needed: String },
    /// A `DT_NEEDED` library is not found in the search path.
    LibraryNotFound { name: String, needed_by: String, searched: Vec<String> },
    /// More objects than [`crate::Limits::max_objects`].
    TooManyObjects { limit: usize },
    /// `link` was given no objects.
    NoObjects,
    /// A span address is not page-aligned or the span wraps around.
    BadSpanAddress { object: String, address: u64 },
    /// Two objects' spans overlap in memory.
    SpanOverlap { first: String, second: String },
    /// `apply`/`initializers` got a different number of spans than objects.
    SpanCount { expected: usize, got: usize },
    /// A span passed in is shorter than [`crate::Elf::span_size`].
    SpanTooShort { object: String, len: usize, needed: u64 },
    /// An initializer or finalizer does not point into any executable segment.
    BadInitAddress { object: String, what: &'static str, address: u64 },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LoadError::*;
        match self {
            TooSmall { object, len } => {
                write!(f, "{object}: the file is {len} bytes, smaller than the 64-byte ELF header")
            }
            BadMagic { object } => write!(f, "{object}: not an ELF file (bad magic number)"),
            NotElf64 { object, class } => write!(f, "{object}: not a 64-bit ELF file (EI_CLASS {class})"),
            NotLittleEndian { object, data } => {
                write!(f, "{object}: not a little-endian ELF file (EI_DATA {data})")
            }
            BadVersion { object, version } => write!(f, "{object}: unknown ELF version {version}"),
            BadOsAbi { object, abi } => {
                write!(f, "{object}: ELF OS ABI {abi} is neither System V (0) nor GNU/Linux (3)")
            }
            BadMachine { object, machine } => {
                write!(f, "{object}: ELF machine {machine} is not x86_64 (62)")
            }
            BadType { object, e_type } => {
                let kind = match e_type {
                    0 => "ET_NONE (no file type)",
                    1 => "ET_REL (relocatable object, not linked)",
                    2 => "ET_EXEC (fixed-address executable)",
                    4 => "ET_CORE (core dump)",
                    _ => "unknown",
                };
                write!(
                    f,
                    "{object}: ELF type {e_type} {kind} is not supported: only position-independent objects \
                     (ET_DYN: PIE executables and shared libraries) can be loaded"
                )
            }
            HeaderSize { object, field, value, expected } => {
                write!(f, "{object}: {field} is {value}, expected {expected}")
            }
            ExtendedPhnum { object } => {
                write!(f, "{object}: extended program header numbering (e_phnum = PN_XNUM) is not supported")
            }
            ProgramHeaders { object, offset, count, file_len } => write!(
                f,
                "{object}: program header table at {offset:#x} ({count} entries) is past the end of the \
                 {file_len}-byte file"
            ),
            NoLoadSegments { object } => write!(f, "{object}: no loadable (PT_LOAD) segment"),
            SegmentFileRange { object, index, offset, size, file_len } => write!(
                f,
                "{object}: segment {index} file range {offset:#x}+{size:#x} is past the end of the \
                 {file_len}-byte file"
            ),
            SegmentFileSize { object, index, file_size, mem_size } => write!(
                f,
                "{object}: segment {index} has more file bytes ({file_size:#x}) than memory bytes ({mem_size:#x})"
            ),
            SegmentAlign { object, index, align } => {
                write!(f, "{object}: segment {index} alignment {align:#x} is not a power of two")
            }
            SegmentMisaligned { object, index, vaddr, offset, align } => write!(
                f,
                "{object}: segment {index} address {vaddr:#x} and file offset {offset:#x} differ modulo its \
                 alignment {align:#x}"
            ),
            SegmentWriteExec { object, index } => {
                write!(f, "{object}: segment {index} is both writable and executable, which this loader refuses (W^X)")
            }
            SegmentWraps { object, index, vaddr, mem_size } => {
                write!(f, "{object}: segment {index} range {vaddr:#x}+{mem_size:#x} wraps around the address space")
            }
            SegmentOverlap { object, index, vaddr, previous_end } => write!(
                f,
                "{object}: segment {index} at {vaddr:#x} overlaps or precedes the previous segment, which ends \
                 at {previous_end:#x} (PT_LOAD segments must be sorted and disjoint)"
            ),
            SegmentPageConflict { object, index, page } => write!(
                f,
                "{object}: segment {index} shares the page at {page:#x} with the previous segment but has \
                 different permissions"
            ),
            SpanTooLarge { object, size, limit } => {
                write!(f, "{object}: the segments span {size:#x} bytes, more than the limit of {limit:#x} bytes")
            }
            Tls { object, what } => write!(f, "{object}: thread-local storage not supported ({what})"),
            Duplicate { object, what } => write!(f, "{object}: more than one {what}"),
            BadInterp { object } => {
                write!(f, "{object}: PT_INTERP is not a NUL-terminated UTF-8 string inside the file")
            }
            BadRelro { object, vaddr, size } => write!(
                f,
                "{object}: PT_GNU_RELRO range {vaddr:#x}+{size:#x} is not inside one writable PT_LOAD segment"
            ),
            BadEntry { object, entry } => {
                write!(f, "{object}: entry point {entry:#x} is not inside an executable segment")
            }
            Unmapped { object, what, vaddr, size } => write!(
                f,
                "{object}: {what} at {vaddr:#x}+{size:#x} is not inside the file-backed part of a PT_LOAD segment"
            ),
            BadString { object, what, offset } => write!(
                f,
                "{object}: {what} at string table offset {offset:#x} is not a NUL-terminated UTF-8 string \
                 inside DT_STRTAB"
            ),
            DynamicUnterminated { object } => {
                write!(f, "{object}: the dynamic section has no DT_NULL terminator")
            }
            DuplicateTag { object, tag } => write!(f, "{object}: the dynamic section has more than one {tag}"),
            MissingTag { object, tag, required_by } => {
                write!(f, "{object}: {required_by} is present but {tag} is missing")
            }
            BadTagValue { object, tag, value } => write!(f, "{object}: {tag} has the unsupported value {value:#x}"),
            Unsupported { object, what } => write!(f, "{object}: {what} is not supported"),
            BadHashTable { object, what } => write!(f, "{object}: malformed {what}"),
            BadSymbolVersions { object, detail } => write!(f, "{object}: malformed symbol versions: {detail}"),
            UnsupportedSymbol { object, symbol, what } => {
                write!(f, "{object}: symbol `{symbol}` is {what}, which is not supported")
            }
            SymbolIndex { object, table, index, symbol, count } => write!(
                f,
                "{object}: relocation {index} in {table} names symbol {symbol}, but the symbol table has {count} \
                 entries"
            ),
            UnsupportedRelocation { object, table, index, rtype } => write!(
                f,
                "{object}: relocation {index} in {table} has type {} ({rtype}), which is not supported{}",
                reloc_name(*rtype),
                reloc_hint(*rtype)
            ),
            RelocationTarget { object, table, index, offset, size } => write!(
                f,
                "{object}: relocation {index} in {table} writes {offset:#x}+{size:#x}, which is not inside a \
                 writable segment"
            ),
            CopyOutsideExecutable { object, table, index } => {
                write!(f, "{object}: relocation {index} in {table} is R_X86_64_COPY, which only the executable may use")
            }
            CopySource { object, symbol, detail } => {
                write!(f, "{object}: COPY relocation for `{symbol}`: {detail}")
            }
            MissingSymbols(list) => {
                f.write_str("missing symbols: ")?;
                for (i, m) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} (needed by {})", m.symbol, m.needed_by)?;
                }
                Ok(())
            }
            NeededNotLinked { object, needed } => {
                write!(f, "{object}: needs {needed}, which is neither in the linked set nor provided by the builtins")
            }
            LibraryNotFound { name, needed_by, searched } => {
                write!(f, "{name} (needed by {needed_by}) not found; looked for ")?;
                for (i, p) in searched.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(p)?;
                }
                Ok(())
            }
            TooManyObjects { limit } => write!(f, "more than {limit} objects to load"),
            NoObjects => f.write_str("nothing to link: no objects"),
            BadSpanAddress { object, address } => write!(
                f,
                "{object}: span address {address:#x} is not page-aligned or the span wraps around the address space"
            ),
            SpanOverlap { first, second } => write!(f, "the spans of {first} and {second} overlap"),
            SpanCount { expected, got } => write!(f, "expected {expected} spans (one per object), got {got}"),
            SpanTooShort { object, len, needed } => {
                write!(f, "{object}: the span is {len} bytes but the object needs {needed:#x}")
            }
            BadInitAddress { object, what, address } => write!(
                f,
                "{object}: {what} address {address:#x} is not inside an executable segment of a linked object"
            ),
        }
    }
}

impl core::error::Error for LoadError {}

fn reloc_hint(rtype: u32) -> &'static str {
    match rtype {
        16..=23 | 34..=36 => " (thread-local storage)",
        37 => " (GNU indirect functions)",
        _ => "",
    }
}

/// The psABI name of an x86_64 relocation type, for messages.
pub fn reloc_name(rtype: u32) -> &'static str {
    match rtype {
        0 => "R_X86_64_NONE",
        1 => "R_X86_64_64",
        2 => "R_X86_64_PC32",
        3 => "R_X86_64_GOT32",
        4 => "R_X86_64_PLT32",
        5 => "R_X86_64_COPY",
        6 => "R_X86_64_GLOB_DAT",
        7 => "R_X86_64_JUMP_SLOT",
        8 => "R_X86_64_RELATIVE",
        9 => "R_X86_64_GOTPCREL",
        10 => "R_X86_64_32",
        11 => "R_X86_64_32S",
        12 => "R_X86_64_16",
        13 => "R_X86_64_PC16",
        14 => "R_X86_64_8",
        15 => "R_X86_64_PC8",
        16 => "R_X86_64_DTPMOD64",
        17 => "R_X86_64_DTPOFF64",
        18 => "R_X86_64_TPOFF64",
        19 => "R_X86_64_TLSGD",
        20 => "R_X86_64_TLSLD",
        21 => "R_X86_64_DTPOFF32",
        22 => "R_X86_64_GOTTPOFF",
        23 => "R_X86_64_TPOFF32",
        24 => "R_X86_64_PC64",
        25 => "R_X86_64_GOTOFF64",
        26 => "R_X86_64_GOTPC32",
        32 => "R_X86_64_SIZE32",
        33 => "R_X86_64_SIZE64",
        34 => "R_X86_64_GOTPC32_TLSDESC",
        35 => "R_X86_64_TLSDESC_CALL",
        36 => "R_X86_64_TLSDESC",
        37 => "R_X86_64_IRELATIVE",
        38 => "R_X86_64_RELATIVE64",
        _ => "unknown relocation",
    }
}
