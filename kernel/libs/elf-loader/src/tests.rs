//! Unit tests on ELF files built in memory by `testelf`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::testelf::*;
use crate::*;

const B0: u64 = 0x1000_0000;
const B1: u64 = 0x2000_0000;
const B2: u64 = 0x3000_0000;
const B3: u64 = 0x4000_0000;
const BASES: [u64; 4] = [B0, B1, B2, B3];

fn parse(b: &[u8]) -> Result<Elf<'_>, LoadError> {
    Elf::parse("t", b, &Limits::default())
}

fn err(b: &[u8]) -> LoadError {
    parse(b).unwrap_err()
}

fn msg(b: &[u8]) -> String {
    err(b).to_string()
}

/// A fake builtin libc.
#[derive(Default)]
struct Libc {
    syms: BTreeMap<String, (u64, u64, Option<Vec<u8>>)>,
    libs: Vec<String>,
    seen: RefCell<Vec<(String, Option<String>)>>,
}

impl Libc {
    fn new() -> Libc {
        Libc { libs: vec!["libc.so.6".into()], ..Libc::default() }
    }
    fn func(mut self, name: &str, addr: u64) -> Libc {
        self.syms.insert(name.into(), (addr, 0, None));
        self
    }
    fn data(mut self, name: &str, addr: u64, bytes: &[u8]) -> Libc {
        self.syms.insert(name.into(), (addr, bytes.len() as u64, Some(bytes.to_vec())));
        self
    }
}

impl Builtins for Libc {
    fn lookup(&self, name: &str, version: Option<&str>) -> Option<BuiltinSymbol<'_>> {
        self.seen.borrow_mut().push((name.into(), version.map(String::from)));
        self.syms.get(name).map(|(address, size, data)| BuiltinSymbol {
            address: *address,
            size: *size,
            data: data.as_deref(),
        })
    }
    fn provides_library(&self, soname: &str) -> bool {
        self.libs.iter().any(|l| l == soname)
    }
}

fn parse_all<'a>(files: &'a [(&str, Vec<u8>)]) -> Vec<Elf<'a>> {
    files.iter().map(|(n, b)| Elf::parse(n, b, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))).collect()
}

fn link_set<'a>(elfs: &'a [Elf<'_>], libc: &Libc) -> Result<LinkPlan<'a>, LoadError> {
    let set: Vec<(&Elf, u64)> = elfs.iter().zip(BASES).collect();
    link(&set, libc)
}

/// Links at BASES, loads and relocates spans.
fn run<'a>(elfs: &'a [Elf<'_>], libc: &Libc) -> (LinkPlan<'a>, Vec<Vec<u8>>) {
    let plan = link_set(elfs, libc).unwrap_or_else(|e| panic!("{e}"));
    let mut spans: Vec<Vec<u8>> = elfs
        .iter()
        .map(|e| {
            let mut v = vec![0u8; e.span_size() as usize];
            e.copy_into(&mut v).unwrap();
            v
        })
        .collect();
    plan.apply(&mut spans).unwrap();
    (plan, spans)
}

fn span64(span: &[u8], vaddr: u64) -> u64 {
    get64(span, vaddr as usize)
}

mod header {
    use super::*;

    #[test]
    fn minimal_object_parses() {
        let b = Builder::default().build();
        let e = parse(&b).unwrap();
        assert_eq!(e.name(), "t");
        assert_eq!(e.vaddr_base(), 0);
        assert_eq!(e.span_size(), DATA + 0x1000);
        assert_eq!(e.entry(), None);
        assert_eq!(e.interp(), None);
        assert_eq!(e.relro(), None);
        assert_eq!(e.soname(), None);
        assert_eq!(e.needed().count(), 0);
        assert_eq!(e.max_align(), 0x1000);
        let segs = e.segments();
        assert_eq!(segs.len(), 3);
        assert_eq!(
            segs[0],
            Segment { index: 0, offset: 0, file_offset: 0, file_size: 392, mem_size: 392, perm: Perm::R }
        );
        assert_eq!(
            segs[1],
            Segment { index: 1, offset: TEXT, file_offset: 0x1000, file_size: 0x100, mem_size: 0x100, perm: Perm::RX }
        );
        assert_eq!(
            segs[2],
            Segment { index: 2, offset: DATA, file_offset: 0x2000, file_size: 0x160, mem_size: 0x160, perm: Perm::RW }
        );
        assert_eq!(segs[2].pages(), DATA..DATA + 0x1000);
        assert_eq!(b.len(), 0x2160);
    }

    #[test]
    fn too_small() {
        let b = Builder::default().build();
        assert_eq!(msg(&b[..63]), "t: the file is 63 bytes, smaller than the 64-byte ELF header");
        assert_eq!(msg(&[]), "t: the file is 0 bytes, smaller than the 64-byte ELF header");
    }

    #[test]
    fn ident_checks() {
        let good = Builder::default().build();
        let mut b = good.clone();
        b[0] = 0x7e;
        assert_eq!(msg(&b), "t: not an ELF file (bad magic number)");
        let mut b = good.clone();
        b[4] = 1;
        assert_eq!(msg(&b), "t: not a 64-bit ELF file (EI_CLASS 1)");
        let mut b = good.clone();
        b[5] = 2;
        assert_eq!(msg(&b), "t: not a little-endian ELF file (EI_DATA 2)");
        let mut b = good.clone();
        b[6] = 0;
        assert_eq!(msg(&b), "t: unknown ELF version 0");
        let mut b = good.clone();
        b[7] = 9;
        assert_eq!(msg(&b), "t: ELF OS ABI 9 is neither System V (0) nor GNU/Linux (3)");
        let mut b = good.clone();
        b[7] = 3;
        assert!(parse(&b).is_ok());
        let mut b = good.clone();
        set32(&mut b, 20, 2);
        assert_eq!(msg(&b), "t: unknown ELF version 2");
        let mut b = good;
        set16(&mut b, 18, 3);
        assert_eq!(msg(&b), "t: ELF machine 3 is not x86_64 (62)");
    }

    #[test]
    fn only_et_dyn() {
        let mut b = Builder::default().build();
        set16(&mut b, 16, 2);
        assert_eq!(err(&b), LoadError::BadType { object: "t".into(), e_type: 2 });
        assert_eq!(
            msg(&b),
            "t: ELF type 2 ET_EXEC (fixed-address executable) is not supported: only position-independent \
             objects (ET_DYN: PIE executables and shared libraries) can be loaded"
        );
        set16(&mut b, 16, 1);
        assert!(msg(&b).starts_with("t: ELF type 1 ET_REL (relocatable object, not linked) is not supported"));
        set16(&mut b, 16, 4);
        assert!(msg(&b).starts_with("t: ELF type 4 ET_CORE (core dump) is not supported"));
        set16(&mut b, 16, 0xfe00);
        assert!(msg(&b).starts_with("t: ELF type 65024 unknown is not supported"));
    }

    #[test]
    fn header_sizes_exact() {
        let good = Builder::default().build();
        let mut b = good.clone();
        set16(&mut b, 52, 52);
        assert_eq!(msg(&b), "t: e_ehsize is 52, expected 64");
        let mut b = good.clone();
        set16(&mut b, 54, 32);
        assert_eq!(msg(&b), "t: e_phentsize is 32, expected 56");
        // No sections: e_shentsize may be 0 or 64.
        let mut b = good.clone();
        set16(&mut b, 58, 0);
        assert!(parse(&b).is_ok());
        set16(&mut b, 60, 3);
        assert_eq!(msg(&b), "t: e_shentsize is 0, expected 64");
        let mut b = good;
        set16(&mut b, 58, 40);
        assert_eq!(msg(&b), "t: e_shentsize is 40, expected 64");
    }

    #[test]
    fn program_header_table_bounds() {
        let good = Builder::default().build();
        let mut b = good.clone();
        set16(&mut b, 56, 0xffff);
        assert_eq!(msg(&b), "t: extended program header numbering (e_phnum = PN_XNUM) is not supported");
        let mut b = good.clone();
        set64(&mut b, 32, 0x2150);
        assert_eq!(msg(&b), "t: program header table at 0x2150 (5 entries) is past the end of the 8544-byte file");
        let mut b = good.clone();
        set64(&mut b, 32, u64::MAX);
        assert!(matches!(err(&b), LoadError::ProgramHeaders { offset: u64::MAX, count: 5, .. }));
        let mut b = good.clone();
        set16(&mut b, 56, 200);
        assert_eq!(msg(&b), "t: program header table at 0x40 (200 entries) is past the end of the 8544-byte file");
        let mut b = good;
        set16(&mut b, 56, 0);
        assert_eq!(msg(&b), "t: no loadable (PT_LOAD) segment");
    }
}

mod segments {
    use super::*;

    fn good() -> Vec<u8> {
        Builder::default().build()
    }

    #[test]
    fn file_size_over_mem_size() {
        let mut b = good();
        set64(&mut b, phdr(2) + 32, 0x200);
        set64(&mut b, phdr(2) + 40, 0x100);
        assert_eq!(msg(&b), "t: segment 2 has more file bytes (0x200) than memory bytes (0x100)");
    }

    #[test]
    fn file_range_past_end() {
        let mut b = good();
        set64(&mut b, phdr(2) + 32, 0x1000);
        set64(&mut b, phdr(2) + 40, 0x1000);
        assert_eq!(msg(&b), "t: segment 2 file range 0x2000+0x1000 is past the end of the 8544-byte file");
        let mut b = good();
        set64(&mut b, phdr(1) + 8, u64::MAX - 0x10);
        set64(&mut b, phdr(1) + 48, 0);
        assert!(matches!(err(&b), LoadError::SegmentFileRange { index: 1, offset: 0xffff_ffff_ffff_ffef, .. }));
        // Exactly up to the end is fine.
        let mut b = good();
        set64(&mut b, phdr(2) + 32, 0x160);
        assert!(parse(&b).is_ok());
        set64(&mut b, phdr(2) + 32, 0x161);
        set64(&mut b, phdr(2) + 40, 0x161);
        assert!(matches!(err(&b), LoadError::SegmentFileRange { index: 2, size: 0x161, file_len: 0x2160, .. }));
    }

    #[test]
    fn alignment() {
        let mut b = good();
        set64(&mut b, phdr(1) + 48, 0x3000);
        assert_eq!(msg(&b), "t: segment 1 alignment 0x3000 is not a power of two");
        for align in [0u64, 1] {
            set64(&mut b, phdr(1) + 48, align);
            assert!(parse(&b).is_ok(), "align {align}");
        }
        // vaddr and offset must agree modulo the alignment.
        let mut b = good();
        set64(&mut b, phdr(1) + 8, 0x1008);
        set64(&mut b, phdr(1) + 48, 0x1000);
        assert_eq!(msg(&b), "t: segment 1 address 0x10000 and file offset 0x1008 differ modulo its alignment 0x1000");
        set64(&mut b, phdr(1) + 48, 8);
        assert!(parse(&b).is_ok());
        set64(&mut b, phdr(1) + 48, 16);
        assert!(matches!(err(&b), LoadError::SegmentMisaligned { index: 1, align: 16, .. }));
    }

    #[test]
    fn write_xor_execute() {
        let mut b = good();
        set32(&mut b, phdr(1) + 4, 7);
        assert_eq!(msg(&b), "t: segment 1 is both writable and executable, which this loader refuses (W^X)");
        set32(&mut b, phdr(1) + 4, 3); // W|X without R
        assert!(matches!(err(&b), LoadError::SegmentWriteExec { index: 1, .. }));
    }

    #[test]
    fn flags_to_permissions() {
        let mut b = good();
        set32(&mut b, phdr(1) + 4, 1); // X only
        set32(&mut b, phdr(2) + 4, 2); // W only
        set32(&mut b, phdr(0) + 4, 0); // nothing
        let e = parse(&b).unwrap();
        let perms: Vec<Perm> = e.segments().iter().map(|s| s.perm).collect();
        assert_eq!(perms, [Perm::R, Perm::RX, Perm::RW]);
    }

    #[test]
    fn wrapping_range() {
        let mut b = good();
        set64(&mut b, phdr(2) + 16, u64::MAX - 0x100);
        set64(&mut b, phdr(2) + 48, 0);
        assert_eq!(msg(&b), "t: segment 2 range 0xfffffffffffffeff+0x160 wraps around the address space");
        // A range ending in the last page cannot be page-rounded either.
        set64(&mut b, phdr(2) + 16, u64::MAX - 0x200);
        assert!(matches!(err(&b), LoadError::SegmentWraps { index: 2, .. }));
    }

    #[test]
    fn unsorted_or_overlapping() {
        // Text placed below the first segment's end.
        let mut b = good();
        set64(&mut b, phdr(1) + 16, 0x100);
        set64(&mut b, phdr(1) + 48, 0);
        assert_eq!(
            msg(&b),
            "t: segment 1 at 0x100 overlaps or precedes the previous segment, which ends at 0x188 (PT_LOAD \
             segments must be sorted and disjoint)"
        );
        // Data overlapping the text by one byte.
        let mut b = good();
        set64(&mut b, phdr(2) + 16, TEXT + 0xff);
        set64(&mut b, phdr(2) + 48, 1);
        assert!(matches!(err(&b), LoadError::SegmentOverlap { index: 2, vaddr: 0x100ff, previous_end: 0x10100, .. }));
        // Swapped order.
        let mut b = good();
        let (p1, p2) = (b[phdr(1)..phdr(2)].to_vec(), b[phdr(2)..phdr(3)].to_vec());
        b[phdr(1)..phdr(2)].copy_from_slice(&p2);
        b[phdr(2)..phdr(3)].copy_from_slice(&p1);
        assert!(matches!(err(&b), LoadError::SegmentOverlap { index: 2, vaddr: TEXT, .. }));
    }

    #[test]
    fn shared_pages_need_equal_permissions() {
        // Move the text segment right after the tables, into page 0.
        let mut b = good();
        set64(&mut b, phdr(1) + 16, 0x200);
        set64(&mut b, phdr(1) + 48, 1);
        assert_eq!(
            msg(&b),
            "t: segment 1 shares the page at 0x0 with the previous segment but has different permissions"
        );
        // Same permissions (make it read-only): accepted, and both segments
        // keep their own byte ranges.
        set32(&mut b, phdr(1) + 4, 4);
        let e = parse(&b).unwrap();
        assert_eq!(e.segments()[1].offset, 0x200);
        assert_eq!(e.segments()[1].pages(), 0..0x1000);
        // Adjacent but not sharing a page: any permissions. The text
        // segment moved to end exactly where the data segment begins.
        let mut b = good();
        set64(&mut b, phdr(1) + 16, DATA - 0x1000);
        set64(&mut b, phdr(1) + 32, 0x1000);
        set64(&mut b, phdr(1) + 40, 0x1000);
        let e = parse(&b).unwrap();
        assert_eq!(e.segments()[1].pages(), DATA - 0x1000..DATA);
        assert_eq!(e.segments()[2].pages(), DATA..DATA + 0x1000);
        // One byte more overlaps.
        set64(&mut b, phdr(1) + 40, 0x1001);
        assert!(matches!(err(&b), LoadError::SegmentOverlap { index: 2, previous_end: 0x20001, .. }));
    }

    #[test]
    fn span_limit() {
        // A huge p_memsz is refused before anything is allocated.
        let mut b = good();
        set64(&mut b, phdr(2) + 40, 1 << 60);
        assert_eq!(msg(&b), "t: the segments span 0x1000000000020000 bytes, more than the limit of 0x4000000 bytes");
        // The limit is configurable and inclusive.
        let b = good();
        let tight = Limits { max_span: DATA + 0x1000, ..Limits::default() };
        assert!(Elf::parse("t", &b, &tight).is_ok());
        let tighter = Limits { max_span: DATA + 0xfff, ..Limits::default() };
        assert_eq!(
            Elf::parse("t", &b, &tighter).unwrap_err(),
            LoadError::SpanTooLarge { object: "t".into(), size: 0x21000, limit: 0x20fff }
        );
        // A far-away segment counts from the first page.
        let mut b = good();
        set64(&mut b, phdr(2) + 16, 0x7000_0000);
        assert!(matches!(err(&b), LoadError::SpanTooLarge { size: 0x7000_1000, .. }));
    }

    #[test]
    fn empty_load_segments_are_skipped() {
        let mut b = good();
        set64(&mut b, phdr(1) + 32, 0);
        set64(&mut b, phdr(1) + 40, 0);
        set64(&mut b, phdr(1) + 16, 0); // would overlap if it counted
        let e = parse(&b).unwrap();
        assert_eq!(e.segments().iter().map(|s| s.index).collect::<Vec<_>>(), [0, 2]);
    }

    #[test]
    fn bss_and_span() {
        let e_b = Builder { bss: 0x3000, ..Builder::default() }.build();
        let e = parse(&e_b).unwrap();
        let d = &e.segments()[2];
        assert_eq!((d.file_size, d.mem_size), (0x160, 0x3160));
        assert_eq!(d.zero_range(), DATA + 0x160..DATA + 0x3160);
        assert_eq!(d.pages(), DATA..DATA + 0x4000);
        assert_eq!(e.span_size(), DATA + 0x4000);
    }

    #[test]
    fn copy_into_copies_and_zeroes() {
        let mut bld = Builder { bss: 0x20, ..Builder::default() };
        bld.data = (0..0x100u32).map(|x| x as u8).collect();
        let b = bld.build();
        let e = parse(&b).unwrap();
        let mut span = vec![0xaau8; e.span_size() as usize];
        e.copy_into(&mut span).unwrap();
        assert_eq!(&span[..392], &b[..392]);
        assert_eq!(&span[392..0x1000], vec![0xaa; 0x1000 - 392].as_slice(), "gap untouched");
        assert_eq!(&span[TEXT as usize..TEXT as usize + 0x100], &[0xc3; 0x100]);
        assert_eq!(&span[DATA as usize..DATA as usize + 0x160], &b[0x2000..0x2160]);
        assert_eq!(&span[DATA as usize + 0x160..DATA as usize + 0x180], &[0; 0x20], "bss zeroed");
        assert_eq!(span[DATA as usize + 0x180], 0xaa);
        // A longer span is fine; a shorter one is refused.
        let mut long = vec![0u8; e.span_size() as usize + 10];
        assert!(e.copy_into(&mut long).is_ok());
        let mut short = vec![0u8; e.span_size() as usize - 1];
        assert_eq!(
            e.copy_into(&mut short).unwrap_err().to_string(),
            "t: the span is 135167 bytes but the object needs 0x21000"
        );
    }

    #[test]
    fn entry_point() {
        let b = Builder { entry: TEXT + 4, ..Builder::default() }.build();
        assert_eq!(parse(&b).unwrap().entry(), Some(TEXT + 4));
        let b = Builder { entry: DATA, ..Builder::default() }.build();
        assert_eq!(msg(&b), "t: entry point 0x20000 is not inside an executable segment");
        let b = Builder { entry: TEXT + 0x100, ..Builder::default() }.build();
        assert!(matches!(err(&b), LoadError::BadEntry { entry: 0x10100, .. }));
    }

    #[test]
    fn nonzero_first_address() {
        let vb = 0x40_0000;
        let bld = Builder { vbase: vb, entry: vb + TEXT, ..Builder::default() };
        let b = bld.build();
        let e = parse(&b).unwrap();
        assert_eq!(e.vaddr_base(), vb);
        assert_eq!(e.span_size(), DATA + 0x1000);
        assert_eq!(e.entry(), Some(TEXT));
        assert_eq!(e.segments()[1].offset, TEXT);
    }

    #[test]
    fn tls_refused() {
        let b = Builder { extra_phdrs: vec![(PT_TLS, 4, 0x2000, DATA, 0x10, 0x10, 8)], ..Builder::default() }.build();
        assert_eq!(msg(&b), "t: thread-local storage not supported (PT_TLS segment)");
    }

    #[test]
    fn interp_reported_and_checked() {
        let b = Builder { interp: Some("/lib64/ld-linux-x86-64.so.2".into()), ..Builder::default() }.build();
        assert_eq!(parse(&b).unwrap().interp(), Some("/lib64/ld-linux-x86-64.so.2"));
        // Without its NUL.
        let mut c = b.clone();
        let len = get64(&c, phdr(5) + 32);
        set64(&mut c, phdr(5) + 32, len - 1);
        assert_eq!(msg(&c), "t: PT_INTERP is not a NUL-terminated UTF-8 string inside the file");
        // Past the end of the file.
        let mut c = b.clone();
        set64(&mut c, phdr(5) + 8, b.len() as u64);
        assert!(matches!(err(&c), LoadError::BadInterp { .. }));
        // Not UTF-8.
        let mut c = b.clone();
        let off = get64(&c, phdr(5) + 8) as usize;
        c[off] = 0xff;
        assert!(matches!(err(&c), LoadError::BadInterp { .. }));
        // Empty.
        let mut c = b;
        set64(&mut c, phdr(5) + 32, 0);
        assert!(matches!(err(&c), LoadError::BadInterp { .. }));
    }

    #[test]
    fn ignored_program_headers() {
        let b = Builder {
            extra_phdrs: vec![
                (6, 4, 64, 64, 56 * 8, 56 * 8, 8),                    // PT_PHDR
                (4, 4, 0x100, 0x100, 0x20, 0x20, 4),                  // PT_NOTE
                (0x6474_e550, 4, 0, 0, 0x10, 0x10, 4),                // PT_GNU_EH_FRAME
                (0x6474_e553, 4, 0, 0, 0x10, 0x10, 8),                // PT_GNU_PROPERTY
                (0x6fff_0000, 0, u64::MAX, u64::MAX, u64::MAX, 0, 3), // unknown
            ],
            ..Builder::default()
        }
        .build();
        assert_eq!(parse(&b).unwrap().segments().len(), 3);
    }

    #[test]
    fn duplicates_refused() {
        let b = Builder { extra_phdrs: vec![(PT_DYNAMIC, 6, 0x2100, DATA + 0x100, 16, 16, 8)], ..Builder::default() }
            .build();
        assert_eq!(msg(&b), "t: more than one PT_DYNAMIC");
        let b = Builder {
            relro: Some((DATA, 0x10)),
            extra_phdrs: vec![(PT_GNU_RELRO, 4, 0x2000, DATA, 0x10, 0x10, 1)],
            ..Builder::default()
        }
        .build();
        assert_eq!(msg(&b), "t: more than one PT_GNU_RELRO");
        let b = Builder {
            interp: Some("/x".into()),
            extra_phdrs: vec![(PT_INTERP, 4, 0, 0, 1, 1, 1)],
            ..Builder::default()
        }
        .build();
        assert_eq!(msg(&b), "t: more than one PT_INTERP");
    }

    #[test]
    fn relro_pages() {
        // RELRO covering the first 0x1008 bytes of a data segment with bss:
        // only the first page is entirely read-only.
        let b = Builder { relro: Some((DATA, 0x1008)), bss: 0x2000, ..Builder::default() }.build();
        assert_eq!(parse(&b).unwrap().relro(), Some(DATA..DATA + 0x1000));
        // Less than a page: nothing to protect.
        let b = Builder { relro: Some((DATA, 0x80)), ..Builder::default() }.build();
        assert_eq!(parse(&b).unwrap().relro(), None);
        // Ending exactly on a page boundary.
        let b = Builder { relro: Some((DATA + 0x10, 0x1ff0)), bss: 0x2000, ..Builder::default() }.build();
        assert_eq!(parse(&b).unwrap().relro(), Some(DATA..DATA + 0x2000));
        // Outside the writable segment.
        let b = Builder { relro: Some((DATA, 0x10)), ..Builder::default() }.build();
        let mut c = b.clone();
        let p = phdr(5);
        set64(&mut c, p + 16, TEXT);
        assert_eq!(msg(&c), "t: PT_GNU_RELRO range 0x10000+0x10 is not inside one writable PT_LOAD segment");
        let mut c = b;
        set64(&mut c, p + 40, 0x2000);
        assert!(matches!(err(&c), LoadError::BadRelro { size: 0x2000, .. }));
    }
}

mod dynamic {
    use super::*;

    #[test]
    fn needed_and_soname() {
        let b = Builder { needed: vec!["liba.so.1".into(), "libc.so.6".into()], ..Builder::lib("libme.so.2") }.build();
        let e = parse(&b).unwrap();
        assert_eq!(e.needed().collect::<Vec<_>>(), ["liba.so.1", "libc.so.6"]);
        assert_eq!(e.soname(), Some("libme.so.2"));
        assert!(e.answers_to("t") && e.answers_to("libme.so.2") && !e.answers_to("liba.so.1"));
    }

    #[test]
    fn strings_are_bounds_checked() {
        let b = Builder { needed: vec!["liba.so.1".into()], ..Builder::default() }.build();
        let strsz = get64(&b, dyn_value_offset(&b, 10).unwrap());
        let mut c = b.clone();
        set_dyn(&mut c, 1, strsz);
        assert_eq!(
            msg(&c),
            format!(
                "t: DT_NEEDED at string table offset {strsz:#x} is not a NUL-terminated UTF-8 string inside DT_STRTAB"
            )
        );
        // Cut the string table before the NUL of the last string.
        let mut c = b.clone();
        set_dyn(&mut c, 10, 1 + "liba.so.1".len() as u64);
        assert!(matches!(err(&c), LoadError::BadString { what: "DT_NEEDED", offset: 1, .. }));
        set_dyn(&mut c, 10, 2 + "liba.so.1".len() as u64);
        assert!(parse(&c).is_ok());
        // Not UTF-8.
        let mut c = b.clone();
        let strtab = get64(&c, dyn_value_offset(&c, 5).unwrap()) as usize;
        c[strtab + 1] = 0xc3;
        c[strtab + 2] = 0x28;
        assert!(matches!(err(&c), LoadError::BadString { what: "DT_NEEDED", offset: 1, .. }));
        // Symbol names too.
        let b = Builder { symbols: vec![Sym::func("f", TEXT)], ..Builder::default() }.build();
        let mut c = b.clone();
        let symtab = get64(&c, dyn_value_offset(&c, 6).unwrap()) as usize;
        set32(&mut c, symtab + 24, 0x7fff_ffff);
        assert!(matches!(err(&c), LoadError::BadString { what: "symbol name", offset: 0x7fff_ffff, .. }));
    }

    #[test]
    fn missing_tags() {
        let b = Builder { needed: vec!["liba.so.1".into()], ..Builder::default() }.build();
        let mut c = b.clone();
        retag(&mut c, 10, 21); // DT_STRSZ -> DT_DEBUG
        assert_eq!(msg(&c), "t: DT_STRTAB is present but DT_STRSZ is missing");
        let mut c = b.clone();
        retag(&mut c, 5, 21); // DT_STRTAB -> DT_DEBUG
        assert_eq!(msg(&c), "t: DT_NEEDED is present but DT_STRTAB is missing");
        let b = Builder { rela: vec![rela(DATA, R_RELATIVE, 0, 0)], ..Builder::default() }.build();
        let mut c = b.clone();
        retag(&mut c, 8, 21); // DT_RELASZ
        assert_eq!(msg(&c), "t: DT_RELA is present but DT_RELASZ is missing");
        let b = Builder { jmprel: vec![rela(DATA, R_JUMP_SLOT, 0, 0)], ..Builder::default() }.build();
        let mut c = b.clone();
        retag(&mut c, 20, 21); // DT_PLTREL
        assert_eq!(msg(&c), "t: DT_JMPREL is present but DT_PLTREL is missing");
        let mut c = b.clone();
        retag(&mut c, 2, 21); // DT_PLTRELSZ
        assert_eq!(msg(&c), "t: DT_JMPREL is present but DT_PLTRELSZ is missing");
        let mut c = b;
        retag(&mut c, 4, 21); // DT_HASH
        assert_eq!(msg(&c), "t: DT_SYMTAB is present but DT_HASH or DT_GNU_HASH is missing");
        let b = Builder { init_array: vec![0], ..Builder::default() }.build();
        let mut c = b;
        retag(&mut c, 27, 21);
        assert_eq!(msg(&c), "t: DT_INIT_ARRAY is present but DT_INIT_ARRAYSZ is missing");
    }

    #[test]
    fn refused_features() {
        let cases: [(u64, u64, &str); 9] = [
            (22, 0, "t: relocation of read-only segments (DT_TEXTREL) is not supported"),
            (30, 4, "t: relocation of read-only segments (DF_TEXTREL) is not supported"),
            (30, 0x10, "t: thread-local storage not supported (DF_STATIC_TLS)"),
            (17, 0, "t: the REL relocation format (DT_REL) is not supported"),
            (18, 0, "t: the REL relocation format (DT_REL) is not supported"),
            (36, 0, "t: packed relative relocations (DT_RELR) is not supported"),
            (0x7fff_ffff, 1, "t: a filter library (DT_AUXILIARY/DT_FILTER) is not supported"),
            (0x7fff_fffd, 1, "t: a filter library (DT_AUXILIARY/DT_FILTER) is not supported"),
            (11, 16, "t: DT_SYMENT has the unsupported value 0x10"),
        ];
        for (tag, val, text) in cases {
            let b = Builder { extra_dyn: vec![(tag, val)], ..Builder::default() }.build();
            // The builder already emits DT_SYMENT; replace instead of adding.
            let b = if tag == 11 {
                let mut c = Builder::default().build();
                set_dyn(&mut c, 11, val);
                c
            } else {
                b
            };
            assert_eq!(msg(&b), text, "tag {tag:#x}");
        }
        let b = Builder { jmprel: vec![rela(DATA, R_JUMP_SLOT, 0, 0)], ..Builder::default() }.build();
        let mut c = b.clone();
        set_dyn(&mut c, 20, 17);
        assert_eq!(msg(&c), "t: DT_PLTREL has the unsupported value 0x11");
        let b = Builder { rela: vec![rela(DATA, R_RELATIVE, 0, 0)], ..Builder::default() }.build();
        let mut c = b.clone();
        set_dyn(&mut c, 9, 16);
        assert_eq!(msg(&c), "t: DT_RELAENT has the unsupported value 0x10");
        let mut c = b;
        set_dyn(&mut c, 8, 25);
        assert_eq!(msg(&c), "t: DT_RELASZ has the unsupported value 0x19");
    }

    #[test]
    fn harmless_tags_ignored() {
        // DT_PLTGOT, DT_DEBUG, DT_BIND_NOW, DT_RUNPATH, DT_RELACOUNT, DT_FLAGS_1, DT_FLAGS (BIND_NOW).
        let b = Builder {
            extra_dyn: vec![(3, DATA), (21, 0), (24, 0), (29, 0), (0x6fff_fff9, 3)],
            flags: Some(8),
            flags_1: Some(0x0800_0001),
            ..Builder::default()
        }
        .build();
        let e = parse(&b).unwrap();
        assert_eq!((e.flags(), e.flags_1()), (8, 0x0800_0001));
    }

    #[test]
    fn unterminated_and_duplicate() {
        let mut b = Builder::default().build();
        retag(&mut b, 0, 21);
        assert_eq!(msg(&b), "t: the dynamic section has no DT_NULL terminator");
        let b = Builder { extra_dyn: vec![(5, 0)], ..Builder::default() }.build();
        assert_eq!(msg(&b), "t: the dynamic section has more than one DT_STRTAB");
        // Entries after DT_NULL are not read.
        let mut b = Builder { extra_dyn: vec![(21, 0)], ..Builder::default() }.build();
        let debug = dyn_value_offset(&b, 21).unwrap();
        set64(&mut b, debug - 8, 0);
        set64(&mut b, debug + 8, 22); // a DT_TEXTREL after the terminator
        assert!(parse(&b).is_ok());
    }

    #[test]
    fn tables_must_be_mapped() {
        let b = Builder { symbols: vec![Sym::func("f", TEXT)], bss: 0x1000, ..Builder::default() }.build();
        // Symbol table in the zero-filled part of the data segment.
        let mut c = b.clone();
        set_dyn(&mut c, 6, DATA + 0x800);
        assert_eq!(msg(&c), "t: DT_SYMTAB at 0x20800+0x30 is not inside the file-backed part of a PT_LOAD segment");
        // Beyond every segment; below the first one; wrapping.
        for addr in [0x9000_0000u64, u64::MAX - 4] {
            let mut c = b.clone();
            set_dyn(&mut c, 5, addr);
            assert!(matches!(err(&c), LoadError::Unmapped { what: "DT_STRTAB", .. }), "{addr:#x}");
        }
        // A table straddling two segments.
        let mut c = b.clone();
        set_dyn(&mut c, 6, 0x180);
        assert!(matches!(err(&c), LoadError::Unmapped { what: "DT_SYMTAB", vaddr: 0x180, .. }));
        // PT_DYNAMIC itself.
        let mut c = b.clone();
        set64(&mut c, phdr(3) + 16, DATA + 0x900);
        assert!(matches!(err(&c), LoadError::Unmapped { what: "PT_DYNAMIC", .. }));
        // Relocation tables.
        let b = Builder { rela: vec![rela(DATA, R_RELATIVE, 0, 0)], ..Builder::default() }.build();
        let mut c = b;
        set_dyn(&mut c, 8, 24 * 1_000_000);
        assert!(matches!(err(&c), LoadError::Unmapped { what: "DT_RELA", size: 24_000_000, .. }));
    }

    #[test]
    fn symbol_count_from_hash_tables() {
        let syms = vec![Sym::func("a", TEXT), Sym::func("b", TEXT + 1), Sym::func("c", TEXT + 2)];
        for gnu in [false, true] {
            let b = Builder { symbols: syms.clone(), gnu_hash: gnu, ..Builder::default() }.build();
            let e = parse(&b).unwrap();
            assert_eq!(e.symbols.len(), 4, "gnu {gnu}");
            assert_eq!(e.exported("c"), Some((TEXT + 2, 1)));
        }
        // Huge nchain: the table is refused before anything is sized by it.
        let b = Builder { symbols: syms.clone(), ..Builder::default() }.build();
        let mut c = b.clone();
        let hash = get64(&c, dyn_value_offset(&c, 4).unwrap()) as usize;
        set32(&mut c, hash + 4, u32::MAX);
        assert!(matches!(err(&c), LoadError::Unmapped { what: "DT_HASH", .. }));
        // nchain a bit too large for the symbol table.
        let mut c = b.clone();
        set32(&mut c, hash + 4, 5);
        assert!(matches!(
            err(&c),
            LoadError::Unmapped { what: "DT_HASH", .. } | LoadError::Unmapped { what: "DT_SYMTAB", .. }
        ));
        // GNU hash: chain without end marker runs off the table.
        let b = Builder { symbols: syms.clone(), gnu_hash: true, ..Builder::default() }.build();
        let gh = get64(&b, dyn_value_offset(&b, 0x6fff_fef5).unwrap()) as usize;
        let chain = gh + 16 + 8 + 4;
        let mut c = b.clone();
        set32(&mut c, chain + 8, 0); // last chain word loses its end bit
        assert_eq!(
            msg(&c),
            format!(
                "t: DT_GNU_HASH chain at {:#x}+0x4 is not inside the file-backed part of a PT_LOAD segment",
                chain + 12
            )
        );
        // Bucket below symoffset.
        let mut c = b.clone();
        set32(&mut c, gh + 4, 2);
        assert_eq!(msg(&c), "t: malformed DT_GNU_HASH (bucket below the symbol offset)");
        // Empty buckets: symoffset symbols.
        let mut c = b.clone();
        set32(&mut c, gh + 16 + 8, 0);
        assert_eq!(parse(&c).unwrap().symbols.len(), 1);
        // Huge bloom size.
        let mut c = b;
        set32(&mut c, gh + 8, u32::MAX);
        assert!(matches!(err(&c), LoadError::Unmapped { what: "DT_GNU_HASH", .. }));
    }

    #[test]
    fn init_fini_validation() {
        let b = Builder { init: Some(TEXT), fini: Some(TEXT + 8), ..Builder::default() }.build();
        let e = parse(&b).unwrap();
        assert_eq!((e.init, e.fini), (Some(TEXT), Some(TEXT + 8)));
        let b = Builder { init: Some(DATA), ..Builder::default() }.build();
        assert_eq!(msg(&b), "t: DT_INIT address 0x20000 is not inside an executable segment of a linked object");
        let b = Builder { fini: Some(0), ..Builder::default() }.build();
        assert!(matches!(err(&b), LoadError::BadInitAddress { what: "DT_FINI", address: 0, .. }));
        let b = Builder { init_array: vec![0, 0], ..Builder::default() }.build();
        let mut c = b.clone();
        set_dyn(&mut c, 27, 12);
        assert_eq!(msg(&c), "t: DT_INIT_ARRAYSZ has the unsupported value 0xc");
        let mut c = b.clone();
        set_dyn(&mut c, 25, TEXT);
        assert_eq!(msg(&c), "t: DT_INIT_ARRAY at 0x10000+0x10 is not inside the file-backed part of a PT_LOAD segment");
        let mut c = b;
        set_dyn(&mut c, 27, u64::MAX - 7);
        assert!(matches!(err(&c), LoadError::Unmapped { what: "DT_INIT_ARRAY", .. }));
    }

    #[test]
    fn versions_parsed() {
        let b = Builder {
            symbols: vec![Sym::undef("malloc").ver("GLIBC_2.2.5"), Sym::func("f", TEXT).ver("V1"), Sym::undef("g")],
            verdefs: vec!["V1".into()],
            verneeds: vec![("libc.so.6".into(), vec!["GLIBC_2.2.5".into(), "GLIBC_2.34".into()])],
            ..Builder::lib("libv.so")
        }
        .build();
        let e = parse(&b).unwrap();
        let v: Vec<(&str, Option<&str>)> = e.symbols.iter().map(|s| (s.name, s.version)).collect();
        assert_eq!(v, [("", None), ("malloc", Some("GLIBC_2.2.5")), ("f", Some("V1")), ("g", None)]);
        // An index nobody defines.
        let mut c = b.clone();
        let versym = get64(&c, dyn_value_offset(&c, 0x6fff_fff0).unwrap()) as usize;
        set16(&mut c, versym + 2, 9);
        assert_eq!(
            msg(&c),
            "t: malformed symbol versions: symbol `malloc` has version index 9, which no DT_VERDEF or DT_VERNEED \
             entry defines"
        );
        // Bad entry versions.
        let verneed = get64(&b, dyn_value_offset(&b, 0x6fff_fffe).unwrap()) as usize;
        let mut c = b.clone();
        set16(&mut c, verneed, 2);
        assert_eq!(msg(&c), "t: malformed symbol versions: DT_VERNEED entry with vn_version other than 1");
        let verdef = get64(&b, dyn_value_offset(&b, 0x6fff_fffc).unwrap()) as usize;
        let mut c = b.clone();
        set16(&mut c, verdef, 0);
        assert_eq!(msg(&c), "t: malformed symbol versions: DT_VERDEF entry with vd_version other than 1");
        // Huge counts with links running off the file end in an error, not a loop.
        let mut c = b.clone();
        set_dyn(&mut c, 0x6fff_ffff, u64::MAX);
        set32(&mut c, verneed + 12, 16); // vn_next: next entry is the aux entry itself
        assert_eq!(msg(&c), "t: malformed symbol versions: DT_VERNEED entry with vn_version other than 1");
        let mut c = b.clone();
        set16(&mut c, verneed + 2, u16::MAX); // vn_cnt
        set32(&mut c, verneed + 16 + 12, 16); // first aux links to the next...
        set32(&mut c, verneed + 32 + 12, 16); // ...and the next one onwards
        assert_eq!(
            msg(&c),
            "t: DT_VERNEED aux entry at 0x288+0x10 is not inside the file-backed part of a PT_LOAD segment"
        );
        // Missing counts.
        let mut c = b;
        retag(&mut c, 0x6fff_fffd, 21);
        assert_eq!(msg(&c), "t: DT_VERDEF is present but DT_VERDEFNUM is missing");
    }

    #[test]
    fn tls_and_ifunc_symbols_refused() {
        let tls = Sym { stype: STT_TLS, ..Sym::undef("errno") };
        let b = Builder { symbols: vec![tls], ..Builder::default() }.build();
        assert_eq!(msg(&b), "t: thread-local storage not supported (a thread-local symbol)");
        let ifunc = Sym { stype: STT_GNU_IFUNC, ..Sym::func("memcpy", TEXT) };
        let b = Builder { symbols: vec![ifunc], ..Builder::default() }.build();
        assert_eq!(msg(&b), "t: symbol `memcpy` is a GNU indirect function (STT_GNU_IFUNC), which is not supported");
    }
}

mod relocs {
    use super::*;

    #[test]
    fn unsupported_types_are_named() {
        let cases = [
            (2u32, "t: relocation 1 in DT_RELA has type R_X86_64_PC32 (2), which is not supported"),
            (18, "t: relocation 1 in DT_RELA has type R_X86_64_TPOFF64 (18), which is not supported (thread-local storage)"),
            (16, "t: relocation 1 in DT_RELA has type R_X86_64_DTPMOD64 (16), which is not supported (thread-local storage)"),
            (37, "t: relocation 1 in DT_RELA has type R_X86_64_IRELATIVE (37), which is not supported (GNU indirect functions)"),
            (99, "t: relocation 1 in DT_RELA has type unknown relocation (99), which is not supported"),
        ];
        for (rtype, text) in cases {
            let b = Builder { rela: vec![rela(DATA, R_RELATIVE, 0, 0), rela(DATA, rtype, 0, 0)], ..Builder::default() }
                .build();
            assert_eq!(msg(&b), text);
        }
        let b = Builder { jmprel: vec![rela(DATA, 10, 0, 0)], ..Builder::default() }.build();
        assert_eq!(msg(&b), "t: relocation 0 in DT_JMPREL has type R_X86_64_32 (10), which is not supported");
    }

    #[test]
    fn symbol_index_checked() {
        let b =
            Builder { symbols: vec![Sym::undef("f")], rela: vec![rela(DATA, R_GLOB_DAT, 2, 0)], ..Builder::default() }
                .build();
        assert_eq!(msg(&b), "t: relocation 0 in DT_RELA names symbol 2, but the symbol table has 2 entries");
        let b = Builder { symbols: vec![Sym::undef("f")], rela: vec![rela(DATA, R_COPY, 0, 0)], ..Builder::default() }
            .build();
        assert!(matches!(err(&b), LoadError::SymbolIndex { symbol: 0, .. }));
        // RELATIVE ignores the symbol field, NONE is skipped entirely.
        let b =
            Builder { rela: vec![rela(DATA, R_RELATIVE, 77, 0), rela(0, R_NONE, 99, 0)], ..Builder::default() }.build();
        assert_eq!(parse(&b).unwrap().relocations().count(), 1);
    }

    #[test]
    fn targets_must_be_writable() {
        let end = {
            let b = Builder { rela: vec![rela(DATA, R_RELATIVE, 0, 0)], ..Builder::default() }.build();
            let e = parse(&b).unwrap();
            DATA + e.segments()[2].mem_size
        };
        for (offset, ok) in [
            (DATA, true),
            (end - 8, true),
            (end - 7, false), // crosses the segment end
            (TEXT, false),
            (0x100, false),
            (u64::MAX - 3, false),
        ] {
            let b = Builder { rela: vec![rela(offset, R_RELATIVE, 0, 0)], ..Builder::default() }.build();
            match parse(&b) {
                Ok(_) => assert!(ok, "{offset:#x}"),
                Err(e) => {
                    assert!(!ok, "{offset:#x}");
                    assert_eq!(
                        e.to_string(),
                        format!(
                            "t: relocation 0 in DT_RELA writes {offset:#x}+0x8, which is not inside a writable segment"
                        )
                    );
                }
            }
        }
        // Into the bss is fine (the span has it).
        let b = Builder { bss: 0x100, rela: vec![rela(DATA + 0x200, R_RELATIVE, 0, 0)], ..Builder::default() }.build();
        assert!(parse(&b).is_ok());
        // COPY targets span the symbol's size.
        let b = Builder {
            symbols: vec![Sym::object("big", DATA + 0x100, 0x100)],
            rela: vec![rela(DATA + 0x100, R_COPY, 1, 0)],
            ..Builder::default()
        }
        .build();
        assert!(matches!(err(&b), LoadError::RelocationTarget { size: 0x100, .. }));
    }

    #[test]
    fn relative_64_globdat_jumpslot() {
        let lib = Builder {
            symbols: vec![Sym::func("f", TEXT + 0x10), Sym::object("v", DATA + 0x20, 8)],
            ..Builder::lib("liba.so")
        };
        let exe = Builder {
            needed: vec!["liba.so".into()],
            symbols: vec![Sym::undef("f"), Sym::undef("v"), Sym::undef("ext")],
            rela: vec![
                rela(DATA, R_RELATIVE, 0, 0x1234),
                rela(DATA + 8, R_64, 1, 5),
                rela(DATA + 16, R_64, 2, -8),
                rela(DATA + 24, R_GLOB_DAT, 2, 100),
                rela(DATA + 32, R_64, 0, 77),
                rela(DATA + 40, R_RELATIVE, 0, -0x10),
            ],
            jmprel: vec![rela(DATA + 48, R_JUMP_SLOT, 1, 100), rela(DATA + 56, R_JUMP_SLOT, 3, 0)],
            ..Builder::default()
        };
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        let libc = Libc::new().func("ext", 0xdead_0000);
        let (plan, spans) = run(&elfs, &libc);
        let s = &spans[0];
        assert_eq!(span64(s, DATA), B0 + 0x1234);
        assert_eq!(span64(s, DATA + 8), B1 + TEXT + 0x10 + 5);
        assert_eq!(span64(s, DATA + 16), B1 + DATA + 0x20 - 8);
        assert_eq!(span64(s, DATA + 24), B1 + DATA + 0x20, "GLOB_DAT ignores the addend");
        assert_eq!(span64(s, DATA + 32), 77, "no symbol: S = 0");
        assert_eq!(span64(s, DATA + 40), B0 - 0x10);
        assert_eq!(span64(s, DATA + 48), B1 + TEXT + 0x10, "JUMP_SLOT ignores the addend");
        assert_eq!(span64(s, DATA + 56), 0xdead_0000);
        assert_eq!(plan.writes.len(), 8);
        assert!(plan.copies.is_empty());
        // The plan is in the documented order: libraries first (none here),
        // then DT_RELA, then DT_JMPREL.
        assert_eq!(plan.writes[0], Write { object: 0, offset: DATA, value: B0 + 0x1234 });
        assert_eq!(plan.writes[7], Write { object: 0, offset: DATA + 56, value: 0xdead_0000 });
    }

    #[test]
    fn relative_with_nonzero_first_address() {
        let vb = 0x40_0000;
        let bld = Builder {
            vbase: vb,
            symbols: vec![Sym::func("f", vb + TEXT + 4), Sym::undef("f")],
            rela: vec![rela(vb + DATA, R_RELATIVE, 0, (vb + TEXT) as i64), rela(vb + DATA + 8, R_64, 2, 0)],
            ..Builder::default()
        };
        let files = [("exe", bld.build())];
        let elfs = parse_all(&files);
        let (plan, spans) = run(&elfs, &Libc::new());
        // Span offset 0 is vaddr 0x400000, so the bias is B0 - 0x400000.
        assert_eq!(span64(&spans[0], DATA), B0 + TEXT);
        assert_eq!(span64(&spans[0], DATA + 8), B0 + TEXT + 4);
        assert_eq!(plan.lookup("f"), Some(B0 + TEXT + 4));
    }

    #[test]
    fn absolute_symbols_are_not_relocated() {
        let lib = Builder {
            symbols: vec![
                Sym { shndx: 0xfff1, ..Sym::func("abs", 0x1234) },
                Sym { shndx: 0xfff1, ..Sym::func("zero", 0) },
            ],
            ..Builder::lib("liba.so")
        };
        let exe = Builder {
            needed: vec!["liba.so".into()],
            symbols: vec![Sym::undef("abs"), Sym::undef("zero")],
            rela: vec![rela(DATA, R_GLOB_DAT, 1, 0), rela(DATA + 8, R_64, 2, 3)],
            ..Builder::default()
        };
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        let (_, spans) = run(&elfs, &Libc::new());
        assert_eq!(span64(&spans[0], DATA), 0x1234);
        assert_eq!(span64(&spans[0], DATA + 8), 3);
    }
}

mod linking {
    use super::*;

    #[test]
    fn weak_undefined_resolves_to_zero_or_a_definition() {
        let lib = Builder { symbols: vec![Sym::func("late", TEXT + 8)], ..Builder::lib("liba.so") };
        let mut exe = Builder {
            needed: vec!["liba.so".into()],
            symbols: vec![Sym::weak_undef("__gmon_start__"), Sym::weak_undef("late"), Sym::weak_undef("builtin")],
            rela: vec![rela(DATA, R_GLOB_DAT, 1, 0), rela(DATA + 8, R_GLOB_DAT, 2, 0), rela(DATA + 16, R_64, 3, 0)],
            ..Builder::default()
        };
        exe.data[..8].copy_from_slice(&[0xff; 8]);
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        let libc = Libc::new().func("builtin", 0x7000);
        let (_, spans) = run(&elfs, &libc);
        assert_eq!(span64(&spans[0], DATA), 0, "weak undefined: 0 (overwriting the file's bytes)");
        assert_eq!(span64(&spans[0], DATA + 8), B1 + TEXT + 8);
        assert_eq!(span64(&spans[0], DATA + 16), 0x7000);
    }

    #[test]
    fn missing_symbols_listed_once_sorted() {
        let lib = Builder {
            needed: vec!["libc.so.6".into()],
            symbols: vec![Sym::undef("bar").ver("GLIBC_2.34"), Sym::undef("aaa")],
            verneeds: vec![("libc.so.6".into(), vec!["GLIBC_2.34".into()])],
            rela: vec![rela(DATA, R_GLOB_DAT, 1, 0), rela(DATA + 8, R_GLOB_DAT, 1, 0)],
            jmprel: vec![rela(DATA + 16, R_JUMP_SLOT, 2, 0)],
            ..Builder::lib("libxenstore.so.4")
        };
        let exe = Builder {
            needed: vec!["libxenstore.so.4".into()],
            symbols: vec![Sym::undef("foo"), Sym::undef("zed"), Sym::undef("bar"), Sym::undef("ok")],
            rela: vec![
                rela(DATA, R_GLOB_DAT, 2, 0),
                rela(DATA + 8, R_GLOB_DAT, 1, 0),
                rela(DATA + 16, R_JUMP_SLOT, 1, 0),
                rela(DATA + 24, R_JUMP_SLOT, 3, 0),
                rela(DATA + 32, R_JUMP_SLOT, 4, 0),
            ],
            ..Builder::default()
        };
        let files = [("xenstore", exe.build()), ("libxenstore.so.4", lib.build())];
        let elfs = parse_all(&files);
        let libc = Libc::new().func("ok", 1);
        let e = link_set(&elfs, &libc).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing symbols: bar (needed by xenstore), foo (needed by xenstore), zed (needed by xenstore), \
             aaa (needed by libxenstore.so.4), bar@GLIBC_2.34 (needed by libxenstore.so.4)"
        );
        let LoadError::MissingSymbols(list) = e else { panic!() };
        assert_eq!(
            list[4],
            MissingSymbol { object_index: 1, symbol: "bar@GLIBC_2.34".into(), needed_by: "libxenstore.so.4".into() }
        );
    }

    #[test]
    fn scope_order_and_interposition() {
        // The executable and both libraries define `dup`; the first in load
        // order wins, for references from every object, weak or not.
        let liba = Builder {
            needed: vec!["libb.so".into()],
            symbols: vec![Sym::func("dup", TEXT + 1), Sym::func("only_a", TEXT + 2), Sym::undef("only_b")],
            rela: vec![rela(DATA, R_GLOB_DAT, 1, 0), rela(DATA + 8, R_GLOB_DAT, 3, 0)],
            ..Builder::lib("liba.so")
        };
        let libb = Builder {
            symbols: vec![
                Sym::func("dup", TEXT + 3),
                Sym::func("only_b", TEXT + 4),
                Sym::func("only_a", TEXT + 5).bind(STB_WEAK),
                Sym::undef("only_a"),
            ],
            rela: vec![rela(DATA, R_GLOB_DAT, 1, 0), rela(DATA + 8, R_GLOB_DAT, 4, 0)],
            ..Builder::lib("libb.so")
        };
        let exe = Builder {
            needed: vec!["liba.so".into()],
            symbols: vec![Sym::func("dup", TEXT + 6).bind(STB_WEAK), Sym::undef("only_b")],
            rela: vec![rela(DATA, R_GLOB_DAT, 1, 0), rela(DATA + 8, R_GLOB_DAT, 2, 0)],
            ..Builder::default()
        };
        let files = [("exe", exe.build()), ("liba.so", liba.build()), ("libb.so", libb.build())];
        let elfs = parse_all(&files);
        let (plan, spans) = run(&elfs, &Libc::new());
        assert_eq!(span64(&spans[0], DATA), B0 + TEXT + 6, "exe's weak dup wins");
        assert_eq!(span64(&spans[1], DATA), B0 + TEXT + 6);
        assert_eq!(span64(&spans[2], DATA), B0 + TEXT + 6);
        assert_eq!(span64(&spans[0], DATA + 8), B2 + TEXT + 4);
        assert_eq!(span64(&spans[1], DATA + 8), B2 + TEXT + 4);
        assert_eq!(span64(&spans[2], DATA + 8), B1 + TEXT + 2, "liba's global only_a before libb's weak one");
        assert_eq!(plan.lookup("dup"), Some(B0 + TEXT + 6));
        assert_eq!(plan.lookup("only_b"), Some(B2 + TEXT + 4));
        assert_eq!(plan.lookup("nothing"), None);
        // Writes come libraries first, in reverse load order.
        let order: Vec<usize> = plan.writes.iter().map(|w| w.object).collect();
        assert_eq!(order, [2, 2, 1, 1, 0, 0]);
    }

    #[test]
    fn local_and_hidden_references_bind_locally() {
        let lib = Builder {
            symbols: vec![
                Sym { vis: STV_HIDDEN, ..Sym::func("hid", TEXT + 1) },
                Sym::func("loc", TEXT + 2).bind(STB_LOCAL),
                Sym::func("pub", TEXT + 3),
                Sym { vis: 3, ..Sym::func("prot", TEXT + 4) },
            ],
            rela: vec![rela(DATA, R_64, 1, 0), rela(DATA + 8, R_64, 2, 0), rela(DATA + 16, R_64, 4, 0)],
            ..Builder::lib("liba.so")
        };
        let exe = Builder {
            needed: vec!["liba.so".into()],
            symbols: vec![
                Sym::func("hid", TEXT + 10),
                Sym::func("loc", TEXT + 11),
                Sym::undef("hid"),
                Sym::func("prot", TEXT + 12),
                Sym::undef("prot"),
            ],
            rela: vec![rela(DATA, R_GLOB_DAT, 3, 0), rela(DATA + 8, R_GLOB_DAT, 5, 0)],
            ..Builder::default()
        };
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        let (plan, spans) = run(&elfs, &Libc::new());
        assert_eq!(span64(&spans[1], DATA), B1 + TEXT + 1, "hidden: own definition, not the exe's");
        assert_eq!(span64(&spans[1], DATA + 8), B1 + TEXT + 2, "local: own definition");
        assert_eq!(span64(&spans[1], DATA + 16), B1 + TEXT + 4, "protected: own definition");
        assert_eq!(span64(&spans[0], DATA), B0 + TEXT + 10);
        assert_eq!(span64(&spans[0], DATA + 8), B0 + TEXT + 12, "the exe's own, first in scope");
        // Hidden and local definitions are not exported.
        let only_lib = [("liba.so", lib.build())];
        let elfs = parse_all(&only_lib);
        let plan2 = link_set(&elfs, &Libc::new()).unwrap();
        assert_eq!(plan2.lookup("hid"), None);
        assert_eq!(plan2.lookup("loc"), None);
        assert_eq!(plan2.lookup("pub"), Some(B0 + TEXT + 3));
        assert_eq!(plan2.lookup("prot"), Some(B0 + TEXT + 4), "protected definitions are exported");
        assert_eq!(plan.lookup("hid"), Some(B0 + TEXT + 10));
    }

    #[test]
    fn undefined_local_reference_is_missing() {
        let exe = Builder {
            symbols: vec![Sym::undef("nowhere").bind(STB_LOCAL)],
            rela: vec![rela(DATA, R_64, 1, 0)],
            ..Builder::default()
        };
        let files = [("exe", exe.build())];
        let elfs = parse_all(&files);
        let libc = Libc::new().func("nowhere", 5);
        assert_eq!(link_set(&elfs, &libc).unwrap_err().to_string(), "missing symbols: nowhere (needed by exe)");
    }

    #[test]
    fn zero_valued_and_section_symbols_do_not_define() {
        let lib = Builder {
            symbols: vec![Sym::func("zero", 0), Sym { stype: 3, ..Sym::func("sect", TEXT) }],
            ..Builder::lib("liba.so")
        };
        let exe = Builder {
            needed: vec!["liba.so".into()],
            symbols: vec![Sym::undef("zero"), Sym::undef("sect")],
            rela: vec![rela(DATA, R_64, 1, 0), rela(DATA + 8, R_64, 2, 0)],
            ..Builder::default()
        };
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        let libc = Libc::new().func("zero", 0x100).func("sect", 0x200);
        let (_, spans) = run(&elfs, &libc);
        assert_eq!(span64(&spans[0], DATA), 0x100);
        assert_eq!(span64(&spans[0], DATA + 8), 0x200);
    }

    #[test]
    fn symbol_versions() {
        // liba defines foo@V1 (hidden, old) and foo@@V2 (default).
        let lib = Builder {
            symbols: vec![
                Sym { hidden: true, ..Sym::func("foo", TEXT + 1).ver("V1") },
                Sym::func("foo", TEXT + 2).ver("V2"),
                Sym::func("bar", TEXT + 3).ver("V1"),
            ],
            verdefs: vec!["V1".into(), "V2".into()],
            ..Builder::lib("liba.so")
        };
        let exe = Builder {
            needed: vec!["liba.so".into(), "libc.so.6".into()],
            symbols: vec![
                Sym::undef("foo").ver("V1"),
                Sym::undef("foo").ver("V2"),
                Sym::undef("foo"),
                Sym::undef("bar").ver("V9"),
                Sym::undef("malloc").ver("GLIBC_2.2.5"),
            ],
            verneeds: vec![
                ("liba.so".into(), vec!["V1".into(), "V2".into(), "V9".into()]),
                ("libc.so.6".into(), vec!["GLIBC_2.2.5".into()]),
            ],
            jmprel: (0..5).map(|k| rela(DATA + 8 * k, R_JUMP_SLOT, k as u32 + 1, 0)).collect(),
            ..Builder::default()
        };
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        let libc = Libc::new().func("malloc", 0x4444);
        let (plan, spans) = run(&elfs, &libc);
        let s = &spans[0];
        assert_eq!(span64(s, DATA), B1 + TEXT + 1, "foo@V1: the exact (hidden) version");
        assert_eq!(span64(s, DATA + 8), B1 + TEXT + 2, "foo@V2");
        assert_eq!(span64(s, DATA + 16), B1 + TEXT + 2, "unversioned: the default version");
        assert_eq!(span64(s, DATA + 24), B1 + TEXT + 3, "bar@V9: accepted by name");
        assert_eq!(span64(s, DATA + 32), 0x4444);
        assert_eq!(plan.lookup("foo"), Some(B1 + TEXT + 2));
        assert_eq!(*libc.seen.borrow(), [("malloc".to_string(), Some("GLIBC_2.2.5".to_string()))]);
        assert_eq!(elfs[0].exported("foo"), None);
        assert_eq!(elfs[1].exported("foo"), Some((TEXT + 2, 1)));
        assert_eq!(elfs[0].imports(), ["bar@V9", "foo", "foo@V1", "foo@V2", "malloc@GLIBC_2.2.5"]);
    }

    #[test]
    fn symbolic_objects_search_themselves_first() {
        for symbolic in [false, true] {
            let lib = Builder {
                symbols: vec![Sym::func("f", TEXT + 1), Sym::undef("g")],
                rela: vec![rela(DATA, R_GLOB_DAT, 1, 0)],
                extra_dyn: if symbolic { vec![(16, 0)] } else { vec![] },
                ..Builder::lib("liba.so")
            };
            let exe = Builder {
                needed: vec!["liba.so".into()],
                symbols: vec![Sym::func("f", TEXT + 9)],
                ..Builder::default()
            };
            let files = [("exe", exe.build()), ("liba.so", lib.build())];
            let elfs = parse_all(&files);
            let (_, spans) = run(&elfs, &Libc::new());
            let want = if symbolic { B1 + TEXT + 1 } else { B0 + TEXT + 9 };
            assert_eq!(span64(&spans[1], DATA), want, "symbolic {symbolic}");
        }
        // DF_SYMBOLIC in DT_FLAGS has the same effect.
        let lib = Builder { flags: Some(2), ..Builder::lib("liba.so") }.build();
        assert!(parse(&lib).unwrap().symbolic);
    }

    #[test]
    fn copy_relocations() {
        // liba's `table` holds a pointer to its own data (a RELATIVE
        // relocation): the executable's copy must see the relocated value.
        let lib = Builder {
            symbols: vec![Sym::object("table", DATA + 0x10, 16), Sym::object("optind", DATA + 0x40, 4)],
            rela: vec![rela(DATA + 0x10, R_RELATIVE, 0, 0x20_0040)],
            data: {
                let mut d = vec![0u8; 0x100];
                d[0x18..0x20].copy_from_slice(&[9, 8, 7, 6, 5, 4, 3, 2]);
                d[0x40..0x44].copy_from_slice(&[42, 0, 0, 0]);
                d
            },
            ..Builder::lib("liba.so")
        };
        let exe = Builder {
            needed: vec!["liba.so".into(), "libc.so.6".into()],
            symbols: vec![
                Sym::object("table", DATA + 0x80, 16),
                Sym::object("stdout", DATA + 0x90, 8),
                Sym::object("small", DATA + 0x98, 8),
            ],
            rela: vec![
                rela(DATA + 0x80, R_COPY, 1, 0),
                rela(DATA + 0x90, R_COPY, 2, 0),
                rela(DATA + 0x98, R_COPY, 3, 0),
            ],
            ..Builder::default()
        };
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        let libc = Libc::new().data("stdout", 0x5000, &[1, 2, 3, 4, 5, 6, 7, 8]).data("small", 0x6000, &[0xee, 0xdd]); // smaller than the exe's 8 bytes
        let (plan, spans) = run(&elfs, &libc);
        let s = &spans[0];
        assert_eq!(span64(s, DATA + 0x80), B1 + 0x20_0040);
        assert_eq!(span64(s, DATA + 0x88), 0x0203_0405_0607_0809);
        assert_eq!(&s[DATA as usize + 0x90..DATA as usize + 0x98], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&s[DATA as usize + 0x98..DATA as usize + 0xa0], [0xee, 0xdd, 0, 0, 0, 0, 0, 0]);
        assert_eq!(plan.copies.len(), 3);
        assert_eq!(
            plan.copies[0],
            CopyReloc {
                object: 0,
                offset: DATA + 0x80,
                len: 16,
                symbol: "table".into(),
                source: CopySource::Object { object: 1, offset: DATA + 0x10 }
            }
        );
        assert_eq!(plan.copies[2].source, CopySource::Bytes(vec![0xee, 0xdd]));
        // Lookups find the executable's copies.
        assert_eq!(plan.lookup("table"), Some(B0 + DATA + 0x80));
        assert_eq!(plan.lookup("stdout"), Some(B0 + DATA + 0x90));
        assert_eq!(plan.lookup("optind"), Some(B1 + DATA + 0x40));
    }

    #[test]
    fn copy_errors() {
        // Not in a library.
        let lib = Builder {
            symbols: vec![Sym::object("x", DATA + 0x10, 8)],
            rela: vec![rela(DATA + 0x10, R_COPY, 1, 0)],
            ..Builder::lib("liba.so")
        };
        let exe = Builder { needed: vec!["liba.so".into()], ..Builder::default() };
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        assert_eq!(
            link_set(&elfs, &Libc::new()).unwrap_err().to_string(),
            "liba.so: relocation 0 in DT_RELA is R_X86_64_COPY, which only the executable may use"
        );
        // Never from the executable itself: with no other definition it is missing.
        let exe = Builder {
            symbols: vec![Sym::object("optind", DATA + 0x10, 4)],
            rela: vec![rela(DATA + 0x10, R_COPY, 1, 0)],
            ..Builder::default()
        };
        let files = [("exe", exe.build())];
        let elfs = parse_all(&files);
        assert_eq!(link_set(&elfs, &Libc::new()).unwrap_err().to_string(), "missing symbols: optind (needed by exe)");
        // A builtin without bytes.
        let libc = Libc::new().func("optind", 0x9000);
        assert_eq!(
            link_set(&elfs, &libc).unwrap_err().to_string(),
            "exe: COPY relocation for `optind`: the builtin provides no initial bytes"
        );
        // A builtin whose bytes are shorter than its size.
        let mut libc = Libc::new().data("optind", 0x9000, &[1]);
        libc.syms.get_mut("optind").unwrap().1 = 4;
        assert_eq!(
            link_set(&elfs, &libc).unwrap_err().to_string(),
            "exe: COPY relocation for `optind`: the builtin provides fewer initial bytes than its size"
        );
        // A weak undefined source.
        let exe = Builder {
            symbols: vec![Sym { bind: STB_WEAK, ..Sym::object("w", DATA + 0x10, 4) }],
            rela: vec![rela(DATA + 0x10, R_COPY, 1, 0)],
            ..Builder::default()
        };
        let files = [("exe", exe.build())];
        let elfs = parse_all(&files);
        assert_eq!(
            link_set(&elfs, &Libc::new()).unwrap_err().to_string(),
            "exe: COPY relocation for `w`: the symbol is an undefined weak symbol"
        );
        // A library definition outside its data.
        let lib = Builder { symbols: vec![Sym::object("x", TEXT, 4)], ..Builder::lib("liba.so") };
        let exe = Builder {
            needed: vec!["liba.so".into()],
            symbols: vec![Sym::object("x", DATA + 0x10, 4)],
            rela: vec![rela(DATA + 0x10, R_COPY, 1, 0)],
            ..Builder::default()
        };
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        assert_eq!(
            link_set(&elfs, &Libc::new()).unwrap_err().to_string(),
            "exe: COPY relocation for `x`: the definition is not inside a data segment of the defining object"
        );
    }

    #[test]
    fn set_checks() {
        let files = [("exe", Builder { needed: vec!["liba.so".into()], ..Builder::default() }.build())];
        let elfs = parse_all(&files);
        assert_eq!(
            link_set(&elfs, &Libc::new()).unwrap_err().to_string(),
            "exe: needs liba.so, which is neither in the linked set nor provided by the builtins"
        );
        let mut libc = Libc::new();
        libc.libs.push("liba.so".into());
        assert!(link_set(&elfs, &libc).is_ok());

        let empty: [(&Elf, u64); 0] = [];
        assert_eq!(link(&empty, &libc).unwrap_err().to_string(), "nothing to link: no objects");
        let e = &elfs[0];
        assert_eq!(
            link(&[(e, 0x1001)], &libc).unwrap_err().to_string(),
            "exe: span address 0x1001 is not page-aligned or the span wraps around the address space"
        );
        assert!(matches!(link(&[(e, !0xfff)], &libc), Err(LoadError::BadSpanAddress { .. })));
        // The last possible position is fine.
        assert!(link(&[(e, 0u64.wrapping_sub(e.span_size()) - PAGE_SIZE)], &libc).is_ok());

        let files2 = [("exe", Builder::default().build()), ("lib", Builder::default().build())];
        let elfs2 = parse_all(&files2);
        let overlap = [(&elfs2[0], 0x10_0000), (&elfs2[1], 0x10_0000 + e.span_size() - 0x1000)];
        assert_eq!(link(&overlap, &libc).unwrap_err().to_string(), "the spans of exe and lib overlap");
        let adjacent = [(&elfs2[0], 0x10_0000), (&elfs2[1], 0x10_0000 + e.span_size())];
        let plan = link(&adjacent, &libc).unwrap();

        // apply() checks the spans it is given.
        let mut one = vec![vec![0u8; e.span_size() as usize]];
        assert_eq!(plan.apply(&mut one).unwrap_err().to_string(), "expected 2 spans (one per object), got 1");
        let mut short = vec![vec![0u8; e.span_size() as usize], vec![0u8; 100]];
        assert_eq!(
            plan.apply(&mut short).unwrap_err().to_string(),
            "lib: the span is 100 bytes but the object needs 0x21000"
        );
        assert!(plan.initializers(&short).is_err());
        assert!(plan.finalizers(&one).is_err());
        // Slices of mutable slices work too.
        let mut a = vec![0u8; e.span_size() as usize];
        let mut b = vec![0u8; e.span_size() as usize];
        let mut spans: Vec<&mut [u8]> = vec![&mut a, &mut b];
        assert!(plan.apply(&mut spans).is_ok());
        assert_eq!(plan.initializers(&spans).unwrap(), []);
    }
}

mod init {
    use super::*;

    /// An object with DT_INIT, a 4-entry init array (f1, 0, -1, f2) and a
    /// 2-entry fini array, all filled by RELATIVE relocations.
    fn with_init(b: Builder) -> Builder {
        let mut b = Builder { init: Some(TEXT), fini: Some(TEXT + 0x10), ..b };
        b.init_array = vec![0, 0, 0, 0];
        b.fini_array = vec![0, 0];
        let ia = b.init_array_addr();
        let fa = b.fini_array_addr();
        b.init_array[2] = u64::MAX;
        b.rela.extend([
            rela(ia, R_RELATIVE, 0, (TEXT + 1) as i64),
            rela(ia + 24, R_RELATIVE, 0, (TEXT + 2) as i64),
            rela(fa, R_RELATIVE, 0, (TEXT + 0x11) as i64),
            rela(fa + 8, R_RELATIVE, 0, (TEXT + 0x12) as i64),
        ]);
        b
    }

    fn calls(list: &[InitCall]) -> Vec<(usize, u64)> {
        list.iter().map(|c| (c.object, c.address - BASES[c.object])).collect()
    }

    #[test]
    fn order_and_contents() {
        let exe = with_init(Builder { needed: vec!["liba.so".into()], preinit_array: vec![0], ..Builder::default() });
        let pa = exe.preinit_array_addr();
        let mut exe = exe;
        exe.rela.push(rela(pa, R_RELATIVE, 0, (TEXT + 0x20) as i64));
        let liba = with_init(Builder { needed: vec!["libb.so".into()], ..Builder::lib("liba.so") });
        let libb = with_init(Builder::lib("libb.so"));
        let files = [("exe", exe.build()), ("liba.so", liba.build()), ("libb.so", libb.build())];
        let elfs = parse_all(&files);
        let (plan, spans) = run(&elfs, &Libc::new());
        assert_eq!(plan.init_order(), [2, 1, 0]);
        let init = plan.initializers(&spans).unwrap();
        let mut want = vec![(0, TEXT + 0x20)];
        for o in [2, 1, 0] {
            want.extend([(o, TEXT), (o, TEXT + 1), (o, TEXT + 2)]);
        }
        assert_eq!(calls(&init), want);
        let fini = plan.finalizers(&spans).unwrap();
        let mut want = vec![];
        for o in [0, 1, 2] {
            want.extend([(o, TEXT + 0x12), (o, TEXT + 0x11), (o, TEXT + 0x10)]);
        }
        assert_eq!(calls(&fini), want);
    }

    #[test]
    fn entries_must_be_code() {
        let mut exe = with_init(Builder::default());
        let ia = exe.init_array_addr();
        exe.rela.push(rela(ia + 8, R_RELATIVE, 0, DATA as i64));
        let files = [("exe", exe.build())];
        let elfs = parse_all(&files);
        let (plan, spans) = run(&elfs, &Libc::new());
        assert_eq!(
            plan.initializers(&spans).unwrap_err().to_string(),
            format!(
                "exe: DT_INIT_ARRAY entry address {:#x} is not inside an executable segment of a linked object",
                B0 + DATA
            )
        );
        // Unrelocated (file) values are not addresses of the loaded object.
        let exe = Builder { init_array: vec![TEXT], ..Builder::default() };
        let files = [("exe", exe.build())];
        let elfs = parse_all(&files);
        let (plan, spans) = run(&elfs, &Libc::new());
        assert!(matches!(plan.initializers(&spans), Err(LoadError::BadInitAddress { address: TEXT, .. })));
        // An entry pointing into another linked object's code is accepted.
        let lib = Builder { symbols: vec![Sym::func("ctor", TEXT + 5)], ..Builder::lib("liba.so") };
        let mut exe = Builder {
            needed: vec!["liba.so".into()],
            init_array: vec![0],
            symbols: vec![Sym::undef("ctor")],
            ..Builder::default()
        };
        let ia = exe.init_array_addr();
        exe.rela.push(rela(ia, R_64, 1, 0));
        let files = [("exe", exe.build()), ("liba.so", lib.build())];
        let elfs = parse_all(&files);
        let (plan, spans) = run(&elfs, &Libc::new());
        assert_eq!(plan.initializers(&spans).unwrap(), [InitCall { object: 0, address: B1 + TEXT + 5 }]);
    }

    /// Diamond: exe -> (a, b), a -> c, b -> c. Load order exe, a, b, c;
    /// initialization c, b, a, exe (ld.so's depth-first sort over reverse
    /// load order).
    fn diamond() -> BTreeMap<String, Vec<u8>> {
        let mut fs = BTreeMap::new();
        let lib = |name: &str, needed: &[&str]| {
            with_init(Builder { needed: needed.iter().map(|s| s.to_string()).collect(), ..Builder::lib(name) }).build()
        };
        fs.insert("/lib/x86_64-linux-gnu/liba.so".to_string(), lib("liba.so", &["libc.so.6", "libc_dep.so"]));
        fs.insert("/usr/lib/x86_64-linux-gnu/libb.so".to_string(), lib("libb.so", &["libc_dep.so", "libc.so.6"]));
        fs.insert("/usr/lib/x86_64-linux-gnu/libc_dep.so".to_string(), lib("libc_dep.so", &["libc.so.6"]));
        fs.insert("/bin/exe".to_string(), lib("exe", &["liba.so", "libb.so", "libc.so.6"]));
        fs
    }

    fn order(fs: &BTreeMap<String, Vec<u8>>, libc: &Libc) -> Result<Vec<ObjectFile<Vec<u8>>>, LoadError> {
        let exe = ObjectFile { name: "exe".into(), path: "/bin/exe".into(), bytes: fs["/bin/exe"].clone() };
        load_order(exe, &Limits::default(), libc, DEFAULT_SEARCH_PATH, |p| fs.get(p).cloned())
    }

    #[test]
    fn diamond_load_and_init_order() {
        let fs = diamond();
        let files = order(&fs, &Libc::new()).unwrap();
        let names: Vec<(&str, &str)> = files.iter().map(|f| (f.name.as_str(), f.path.as_str())).collect();
        assert_eq!(
            names,
            [
                ("exe", "/bin/exe"),
                ("liba.so", "/lib/x86_64-linux-gnu/liba.so"),
                ("libb.so", "/usr/lib/x86_64-linux-gnu/libb.so"),
                ("libc_dep.so", "/usr/lib/x86_64-linux-gnu/libc_dep.so"),
            ]
        );
        let parsed: Vec<(&str, Vec<u8>)> = files.iter().map(|f| (f.name.as_str(), f.bytes.clone())).collect();
        let elfs = parse_all(&parsed);
        let (plan, spans) = run(&elfs, &Libc::new());
        assert_eq!(plan.init_order(), [3, 2, 1, 0]);
        let objects: Vec<usize> = plan.initializers(&spans).unwrap().iter().map(|c| c.object).collect();
        assert_eq!(objects, [3, 3, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0]);
        let objects: Vec<usize> = plan.finalizers(&spans).unwrap().iter().map(|c| c.object).collect();
        assert_eq!(objects, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    }

    #[test]
    fn dependency_between_siblings() {
        // exe -> (a, b), b -> a: a must be initialized before b although it
        // was loaded first.
        let mut fs = BTreeMap::new();
        fs.insert("/lib/x86_64-linux-gnu/liba.so".to_string(), Builder::lib("liba.so").build());
        fs.insert(
            "/lib/x86_64-linux-gnu/libb.so".to_string(),
            Builder { needed: vec!["liba.so".into()], ..Builder::lib("libb.so") }.build(),
        );
        fs.insert(
            "/bin/exe".to_string(),
            Builder { needed: vec!["liba.so".into(), "libb.so".into()], ..Builder::default() }.build(),
        );
        let files = order(&fs, &Libc::new()).unwrap();
        assert_eq!(files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["exe", "liba.so", "libb.so"]);
        let parsed: Vec<(&str, Vec<u8>)> = files.iter().map(|f| (f.name.as_str(), f.bytes.clone())).collect();
        let elfs = parse_all(&parsed);
        let plan = link_set(&elfs, &Libc::new()).unwrap();
        assert_eq!(plan.init_order(), [1, 2, 0]);
        // A cycle (a <-> b) still terminates, executable last.
        let mut fs2 = fs.clone();
        fs2.insert(
            "/lib/x86_64-linux-gnu/liba.so".to_string(),
            Builder { needed: vec!["libb.so".into(), "exe".into()], ..Builder::lib("liba.so") }.build(),
        );
        let mut libc = Libc::new();
        libc.libs.push("exe".into());
        let files = order(&fs2, &libc).unwrap();
        let parsed: Vec<(&str, Vec<u8>)> = files.iter().map(|f| (f.name.as_str(), f.bytes.clone())).collect();
        let elfs = parse_all(&parsed);
        let plan = link_set(&elfs, &Libc::new()).unwrap();
        assert_eq!(plan.init_order(), [1, 2, 0]);
    }

    #[test]
    fn load_order_errors_and_dedup() {
        let mut fs = diamond();
        fs.remove("/usr/lib/x86_64-linux-gnu/libc_dep.so");
        assert_eq!(
            order(&fs, &Libc::new()).unwrap_err().to_string(),
            "libc_dep.so (needed by liba.so) not found; looked for /lib/x86_64-linux-gnu/libc_dep.so, \
             /usr/lib/x86_64-linux-gnu/libc_dep.so"
        );
        // libc.so.6 must be claimed by the builtins or found.
        let fs = diamond();
        let no_libc = Libc::default();
        assert!(matches!(order(&fs, &no_libc), Err(LoadError::LibraryNotFound { name, .. }) if name == "libc.so.6"));
        // Limit.
        let exe = ObjectFile { name: "exe".into(), path: "/bin/exe".into(), bytes: fs["/bin/exe"].clone() };
        let limits = Limits { max_objects: 3, ..Limits::default() };
        assert_eq!(
            load_order(exe, &limits, &Libc::new(), DEFAULT_SEARCH_PATH, |p| fs.get(p).cloned())
                .unwrap_err()
                .to_string(),
            "more than 3 objects to load"
        );
        // A path with a slash is opened as is, and a library already loaded
        // under its soname is not loaded again.
        let mut fs = BTreeMap::new();
        fs.insert("/opt/x/liba.so.1.2".to_string(), Builder::lib("liba.so.1").build());
        fs.insert("/lib/x86_64-linux-gnu/liba.so.1".to_string(), Builder::lib("liba.so.1").build());
        fs.insert(
            "/bin/exe".to_string(),
            Builder { needed: vec!["/opt/x/liba.so.1.2".into(), "liba.so.1".into()], ..Builder::default() }.build(),
        );
        let mut opened = Vec::new();
        let exe = ObjectFile { name: "exe".into(), path: "/bin/exe".into(), bytes: fs["/bin/exe"].clone() };
        let files = load_order(exe, &Limits::default(), &Libc::new(), &["/nowhere/", "/lib/x86_64-linux-gnu"], |p| {
            opened.push(p.to_string());
            fs.get(p).cloned()
        })
        .unwrap();
        assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["/bin/exe", "/opt/x/liba.so.1.2"]);
        assert_eq!(opened, ["/opt/x/liba.so.1.2"]);
        // A library found under another name but with a known soname is dropped.
        let mut fs2 = fs.clone();
        fs2.insert("/lib/x86_64-linux-gnu/alias.so".to_string(), Builder::lib("liba.so.1").build());
        fs2.insert(
            "/bin/exe".to_string(),
            Builder { needed: vec!["liba.so.1".into(), "alias.so".into()], ..Builder::default() }.build(),
        );
        let exe = ObjectFile { name: "exe".into(), path: "/bin/exe".into(), bytes: fs2["/bin/exe"].clone() };
        let files =
            load_order(exe, &Limits::default(), &Libc::new(), DEFAULT_SEARCH_PATH, |p| fs2.get(p).cloned()).unwrap();
        assert_eq!(files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["exe", "liba.so.1"]);
        // An invalid library is reported with its name.
        let mut fs3 = fs.clone();
        fs3.insert("/lib/x86_64-linux-gnu/liba.so.1".to_string(), vec![0; 10]);
        fs3.insert("/bin/exe".to_string(), Builder { needed: vec!["liba.so.1".into()], ..Builder::default() }.build());
        let exe = ObjectFile { name: "exe".into(), path: "/bin/exe".into(), bytes: fs3["/bin/exe"].clone() };
        assert_eq!(
            load_order(exe, &Limits::default(), &Libc::new(), DEFAULT_SEARCH_PATH, |p| fs3.get(p).cloned())
                .unwrap_err()
                .to_string(),
            "liba.so.1: the file is 10 bytes, smaller than the 64-byte ELF header"
        );
    }
}
