//! Deterministic fuzzing of parse + plan + link + apply + init lists.
//!
//! Inputs are mutations of synthetic ELF sets (built by `testelf`) and, when
//! installed, of Debian's `xenstore` objects: bit flips, byte overwrites,
//! truncation (every length of every synthetic seed, then random lengths),
//! header / program-header / dynamic-entry / relocation / symbol / version
//! field overwrites with extreme or near-valid values, segment moves that
//! overlap, and chunk splices.
//!
//! Properties checked on every input: no panic; `Ok` results satisfy the
//! documented invariants (span within the limit, segments, pages, RELRO and
//! relocation targets inside the span); after a successful `link`,
//! `copy_into` and `apply` succeed on spans of the advertised size; no single
//! allocation made while processing an input exceeds
//! `max(span limit, 8 × input bytes + 64 KiB)` (measured by a counting
//! global allocator in this test binary only); no input takes more than a
//! second.
//!
//! `ELF_FUZZ_STEPS` sets the number of random mutation steps (default
//! 100000; the every-length truncation pass comes on top), `ELF_FUZZ_SEED`
//! the seed. On the 2-core development machine the default run takes about
//! 20 s in a debug build (`cargo test -p elf-loader`) and about 5 s with
//! `--release`.

#[path = "../src/testelf.rs"]
mod testelf;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use elf_loader::{link, load_order, BuiltinSymbol, Builtins, Elf, Limits, ObjectFile, PAGE_SIZE};
use testelf::*;

/// Records the largest allocation request while `TRACK` is set.
struct Counting;

static TRACK: AtomicBool = AtomicBool::new(false);
static MAX_REQUEST: AtomicUsize = AtomicUsize::new(0);

fn note(size: usize) {
    if TRACK.load(Ordering::Relaxed) {
        MAX_REQUEST.fetch_max(size, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the bookkeeping touches
// only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (all
        // allocations go through this forwarding allocator).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A builtin libc that defines everything (permissive) or about half the
/// names, with data for COPY relocations.
struct AnyLibc {
    permissive: bool,
    data: [u8; 64],
}

fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

impl Builtins for AnyLibc {
    fn lookup(&self, name: &str, _version: Option<&str>) -> Option<BuiltinSymbol<'_>> {
        let h = name_hash(name);
        (self.permissive || h.is_multiple_of(2)).then(|| BuiltinSymbol {
            address: 0x7f00_0000_0000 + (h & 0xff_fff0),
            size: (h >> 8) % 72,
            data: (!h.is_multiple_of(5)).then_some(&self.data[..]),
        })
    }
    fn provides_library(&self, soname: &str) -> bool {
        soname == "libc.so.6"
    }
}

type Set = Vec<(String, Vec<u8>)>;

/// The synthetic seed sets.
fn synthetic_sets() -> Vec<Set> {
    let mut exe = Builder {
        needed: vec!["liba.so".into(), "libc.so.6".into()],
        interp: Some("/lib64/ld-linux-x86-64.so.2".into()),
        entry: TEXT + 0x20,
        init: Some(TEXT),
        fini: Some(TEXT + 8),
        symbols: vec![
            Sym::undef("puts").ver("GLIBC_2.2.5"),
            Sym::undef("a_func").ver("A_1"),
            Sym::object("a_var", DATA + 0x80, 8).ver("A_1"),
            Sym::object("optind", DATA + 0x88, 4).ver("GLIBC_2.2.5"),
            Sym::weak_undef("__gmon_start__"),
            Sym::func("main", TEXT + 0x40),
            Sym::undef("b_func"),
        ],
        verneeds: vec![
            ("liba.so".into(), vec!["A_1".into()]),
            ("libc.so.6".into(), vec!["GLIBC_2.2.5".into(), "GLIBC_2.34".into()]),
        ],
        rela: vec![
            rela(DATA, R_RELATIVE, 0, 0x10040),
            rela(DATA + 8, R_64, 2, 4),
            rela(DATA + 16, R_GLOB_DAT, 5, 0),
            rela(DATA + 0x80, R_COPY, 3, 0),
            rela(DATA + 0x88, R_COPY, 4, 0),
        ],
        jmprel: vec![rela(DATA + 24, R_JUMP_SLOT, 1, 0), rela(DATA + 32, R_JUMP_SLOT, 7, 0)],
        relro: Some((DATA, 0x40)),
        bss: 0x800,
        flags: Some(8),
        flags_1: Some(0x0800_0001),
        ..Builder::default()
    };
    exe.init_array = vec![0, u64::MAX];
    exe.fini_array = vec![0];
    let (ia, fa) = (exe.init_array_addr(), exe.fini_array_addr());
    exe.rela.push(rela(ia, R_RELATIVE, 0, (TEXT + 0x30) as i64));
    exe.rela.push(rela(fa, R_RELATIVE, 0, (TEXT + 0x38) as i64));

    let mut liba = Builder {
        needed: vec!["libb.so".into(), "libc.so.6".into()],
        gnu_hash: true,
        symbols: vec![
            Sym::func("a_func", TEXT + 0x10).ver("A_1"),
            Sym::object("a_var", DATA + 0x40, 8).ver("A_1"),
            Sym::undef("b_func"),
            Sym::undef("malloc").ver("GLIBC_2.2.5"),
            Sym::weak_undef("_ITM_registerTMCloneTable"),
        ],
        verdefs: vec!["A_1".into()],
        verneeds: vec![("libc.so.6".into(), vec!["GLIBC_2.2.5".into()])],
        rela: vec![rela(DATA + 0x40, R_RELATIVE, 0, 0x20000), rela(DATA + 8, R_GLOB_DAT, 5, 0)],
        jmprel: vec![rela(DATA + 16, R_JUMP_SLOT, 3, 0), rela(DATA + 24, R_JUMP_SLOT, 4, 0)],
        init: Some(TEXT),
        ..Builder::lib("liba.so")
    };
    liba.init_array = vec![0];
    let ia = liba.init_array_addr();
    liba.rela.push(rela(ia, R_RELATIVE, 0, (TEXT + 4) as i64));

    let libb = Builder {
        symbols: vec![Sym::func("b_func", TEXT + 0x20), Sym::undef("free")],
        jmprel: vec![rela(DATA, R_JUMP_SLOT, 2, 0)],
        fini: Some(TEXT),
        extra_dyn: vec![(16, 0)],
        ..Builder::lib("libb.so")
    };

    let small = |name: &str, needed: &[&str]| {
        Builder { needed: needed.iter().map(|s| s.to_string()).collect(), ..Builder::lib(name) }.build()
    };
    vec![
        vec![("exe".into(), exe.build()), ("liba.so".into(), liba.build()), ("libb.so".into(), libb.build())],
        vec![
            ("d".into(), small("d", &["x.so", "y.so"])),
            ("x.so".into(), small("x.so", &["z.so"])),
            ("y.so".into(), small("y.so", &["z.so", "libc.so.6"])),
            ("z.so".into(), small("z.so", &[])),
        ],
    ]
}

fn debian_set() -> Option<Set> {
    let files = [
        ("xenstore", "/usr/bin/xenstore"),
        ("libxenstore.so.4", "/usr/lib/x86_64-linux-gnu/libxenstore.so.4"),
        ("libxentoolcore.so.1", "/usr/lib/x86_64-linux-gnu/libxentoolcore.so.1"),
    ];
    files.iter().map(|(n, p)| std::fs::read(p).ok().map(|b| (n.to_string(), b))).collect()
}

/// Interesting field positions of a valid seed: (offset, width).
fn fields(b: &[u8]) -> Vec<(usize, usize)> {
    let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let mut out = vec![(16, 2), (18, 2), (20, 4), (24, 8), (32, 8), (52, 2), (54, 2), (56, 2), (58, 2), (60, 2)];
    let phoff = u64_at(32) as usize;
    let phnum = u16_at(56);
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let p = phoff + 56 * i;
        out.extend([(p, 4), (p + 4, 4), (p + 8, 8), (p + 16, 8), (p + 32, 8), (p + 40, 8), (p + 48, 8)]);
        let ptype = u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
        if ptype == 1 {
            loads.push((u64_at(p + 16), u64_at(p + 8), u64_at(p + 32)));
        }
        if ptype == 2 {
            dynamic = Some((u64_at(p + 8) as usize, u64_at(p + 32) as usize));
        }
    }
    let to_file =
        |va: u64| loads.iter().find(|&&(v, _, s)| va >= v && va < v + s).map(|&(v, o, _)| (va - v + o) as usize);
    let Some((dyn_off, dyn_size)) = dynamic else { return out };
    let mut tags = BTreeMap::new();
    for k in 0..dyn_size / 16 {
        let e = dyn_off + 16 * k;
        out.extend([(e, 8), (e + 8, 8)]);
        tags.entry(u64_at(e)).or_insert(u64_at(e + 8));
    }
    // Tables: (address tag, size tag or fixed size, entry size).
    let tables: [(u64, Option<u64>, usize, usize); 10] = [
        (7, Some(8), 0, 24),        // RELA
        (23, Some(2), 0, 24),       // JMPREL
        (6, None, 24 * 16, 24),     // SYMTAB (first 16 symbols)
        (0x6fff_fff0, None, 64, 2), // VERSYM
        (0x6fff_fffe, None, 96, 4), // VERNEED
        (0x6fff_fffc, None, 96, 4), // VERDEF
        (0x6fff_fef5, None, 48, 4), // GNU_HASH
        (4, None, 16, 4),           // HASH
        (25, Some(27), 0, 8),       // INIT_ARRAY
        (26, Some(28), 0, 8),       // FINI_ARRAY
    ];
    for (tag, size_tag, fixed, ent) in tables {
        let (Some(&addr), size) = (tags.get(&tag), size_tag.and_then(|t| tags.get(&t)).map(|&s| s as usize)) else {
            continue;
        };
        let size = size.unwrap_or(fixed).min(24 * 64);
        let Some(start) = to_file(addr) else { continue };
        let mut o = start;
        while o + ent <= (start + size).min(b.len()) {
            if ent == 24 {
                out.extend([(o, 8), (o + 8, 4), (o + 12, 4), (o + 16, 8)]);
            } else {
                out.push((o, ent));
            }
            o += ent;
        }
    }
    out
}

struct Seed {
    set: Set,
    fields: Vec<Vec<(usize, usize)>>,
}

fn extreme(rng: &mut Rng, old: u64, width: usize, file_len: usize) -> u64 {
    let max = if width == 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    let v = match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => max,
        3 => max - 1,
        4 => max / 2 + 1,
        5 => rng.next(),
        6 => old.wrapping_add(1 + rng.below(16) as u64),
        7 => old.wrapping_sub(1 + rng.below(16) as u64),
        8 => old.wrapping_mul(2),
        9 => file_len as u64,
        10 => file_len as u64 - 1,
        11 => rng.below(file_len) as u64,
        12 => 1 << rng.below(64),
        _ => old ^ (1 << rng.below(8 * width)),
    };
    v & max
}

fn put(b: &mut [u8], off: usize, width: usize, v: u64) {
    if off + width <= b.len() {
        b[off..off + width].copy_from_slice(&v.to_le_bytes()[..width]);
    }
}

fn get(b: &[u8], off: usize, width: usize) -> u64 {
    let mut x = [0u8; 8];
    if off + width <= b.len() {
        x[..width].copy_from_slice(&b[off..off + width]);
    }
    u64::from_le_bytes(x)
}

fn mutate(rng: &mut Rng, b: &mut Vec<u8>, fields: &[(usize, usize)]) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if b.is_empty() {
            return;
        }
        match rng.below(10) {
            0 => {
                let i = rng.below(b.len() * 8);
                b[i / 8] ^= 1 << (i % 8);
            }
            1 => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 => {
                let n = rng.below(b.len() + 1);
                b.truncate(n);
            }
            3..=6 => {
                if let Some(&(off, width)) = fields.get(rng.below(fields.len())) {
                    let old = get(b, off, width);
                    let v = extreme(rng, old, width, b.len().max(1));
                    put(b, off, width, v);
                }
            }
            7 => {
                // Copy one field's value into another field of the same width
                // (moves segments onto each other, points tables at tables).
                let (a, c) = (rng.below(fields.len()), rng.below(fields.len()));
                if let (Some(&(fa, wa)), Some(&(fc, wc))) = (fields.get(a), fields.get(c)) {
                    if wa == wc {
                        let v = get(b, fa, wa);
                        put(b, fc, wc, v);
                    }
                }
            }
            8 => {
                // Splice a chunk.
                let len = 1 + rng.below(64);
                let (from, to) = (rng.below(b.len()), rng.below(b.len()));
                if from + len <= b.len() && to + len <= b.len() {
                    let chunk = b[from..from + len].to_vec();
                    b[to..to + len].copy_from_slice(&chunk);
                }
            }
            _ => {
                // Grow with garbage.
                let n = rng.below(256);
                for _ in 0..n {
                    b.push(rng.next() as u8);
                }
            }
        }
    }
}

/// The variant name of an error, for the summary.
fn kind(e: &elf_loader::LoadError) -> String {
    let d = format!("{e:?}");
    d.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("").to_string()
}

/// Runs the whole pipeline on one set; panics if a property fails. Returns
/// `Ok` when everything linked, else the kind of the first error.
fn pipeline(set: &Set, libc: &AnyLibc, limits: &Limits) -> Result<(), String> {
    let mut elfs = Vec::new();
    for (name, bytes) in set {
        match Elf::parse(name, bytes, limits) {
            Ok(e) => elfs.push(e),
            Err(e) => {
                assert!(!e.to_string().is_empty());
                return Err(kind(&e));
            }
        }
    }
    for (e, (_, bytes)) in elfs.iter().zip(set) {
        check_invariants(e, bytes.len(), limits);
    }
    // Disjoint page-aligned bases (each span is at most max_span).
    let stride = (limits.max_span + PAGE_SIZE) & !(PAGE_SIZE - 1);
    let linked: Vec<(&Elf, u64)> = elfs.iter().enumerate().map(|(i, e)| (e, 0x1000_0000 + stride * i as u64)).collect();
    let plan = match link(&linked, libc) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return Err(kind(&e));
        }
    };
    let mut spans: Vec<Vec<u8>> = elfs.iter().map(|e| vec![0u8; e.span_size() as usize]).collect();
    for (e, s) in elfs.iter().zip(spans.iter_mut()) {
        e.copy_into(s).expect("copy_into after a successful parse");
    }
    plan.apply(&mut spans).expect("apply after a successful link");
    for w in &plan.writes {
        assert!(w.offset + 8 <= elfs[w.object].span_size());
    }
    let _ = plan.initializers(&spans).map(|l| l.len());
    let _ = plan.finalizers(&spans).map(|l| l.len());
    for name in ["main", "a_var", "optind", "xs_read", ""] {
        let _ = plan.lookup(name);
    }
    // The load-order helper over the same files.
    let fs: BTreeMap<String, &[u8]> =
        set.iter().map(|(n, b)| (format!("/lib/x86_64-linux-gnu/{n}"), b.as_slice())).collect();
    let exe = ObjectFile { name: set[0].0.clone(), path: "/exe".into(), bytes: set[0].1.as_slice() };
    let _ = load_order(exe, limits, libc, elf_loader::DEFAULT_SEARCH_PATH, |p| fs.get(p).copied());
    Ok(())
}

fn check_invariants(e: &Elf, file_len: usize, limits: &Limits) {
    let span = e.span_size();
    assert!(span <= limits.max_span && span.is_multiple_of(PAGE_SIZE) && span > 0);
    let mut prev_end = 0;
    for s in e.segments() {
        assert!(s.file_size <= s.mem_size);
        assert!(s.file_offset + s.file_size <= file_len as u64);
        assert!(s.offset >= prev_end && s.offset + s.mem_size <= span);
        let p = s.pages();
        assert!(p.start <= s.offset && p.end >= s.offset + s.mem_size && p.end <= span);
        prev_end = s.offset + s.mem_size;
    }
    if let Some(r) = e.relro() {
        assert!(
            r.start < r.end && r.end <= span && r.start.is_multiple_of(PAGE_SIZE) && r.end.is_multiple_of(PAGE_SIZE)
        );
    }
    if let Some(entry) = e.entry() {
        assert!(entry < span);
    }
    for r in e.relocations() {
        assert!(r.offset < span);
    }
    let _ = (e.imports(), e.needed().count(), e.interp(), e.soname());
}

#[test]
fn fuzz_parse_plan_link() {
    let steps: usize = std::env::var("ELF_FUZZ_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let seed: u64 = std::env::var("ELF_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_e1f0_1234_5678);
    let mut rng = Rng(seed | 1);
    let limits = Limits { max_span: 1 << 20, max_objects: 8 };

    let mut seeds: Vec<Seed> = synthetic_sets()
        .into_iter()
        .map(|set| Seed { fields: set.iter().map(|(_, b)| fields(b)).collect(), set })
        .collect();
    let synthetic = seeds.len();
    match debian_set() {
        Some(set) => seeds.push(Seed { fields: set.iter().map(|(_, b)| fields(b)).collect(), set }),
        None => println!("Debian xenstore objects not installed: fuzzing synthetic objects only"),
    }
    let libcs = [AnyLibc { permissive: true, data: [0x5a; 64] }, AnyLibc { permissive: false, data: [0xa5; 64] }];

    // Unmutated seeds link (under the permissive libc).
    for s in &seeds {
        assert_eq!(pipeline(&s.set, &libcs[0], &limits), Ok(()), "seed set {}", s.set[0].0);
    }

    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut largest = 0usize;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let (mut done, mut linked) = (0usize, 0usize);
    let mut run_one = |set: &Set, libc: &AnyLibc, done: &mut usize| {
        let input: usize = set.iter().map(|(_, b)| b.len()).sum();
        MAX_REQUEST.store(0, Ordering::Relaxed);
        let t = Instant::now();
        TRACK.store(true, Ordering::Relaxed);
        let ok = pipeline(set, libc, &limits);
        TRACK.store(false, Ordering::Relaxed);
        let dt = t.elapsed();
        let max_request = MAX_REQUEST.load(Ordering::Relaxed);
        let bound = (limits.max_span as usize).max(8 * input + (64 << 10));
        assert!(max_request <= bound, "allocation of {max_request} bytes for {input} input bytes");
        assert!(dt < Duration::from_secs(1), "one input took {dt:?}");
        slowest = slowest.max(dt);
        largest = largest.max(max_request);
        *done += 1;
        match ok {
            Ok(()) => 1,
            Err(k) => {
                *kinds.entry(k).or_default() += 1;
                0
            }
        }
    };

    // Truncation at every length of every synthetic object (on top of the
    // random steps).
    for s in seeds.iter().take(synthetic) {
        for k in 0..s.set.len() {
            for len in 0..s.set[k].1.len() {
                let mut set = s.set.clone();
                set[k].1.truncate(len);
                linked += run_one(&set, &libcs[0], &mut done);
            }
        }
    }
    let truncations = done;

    while done < truncations + steps {
        let s = &seeds[rng.below(seeds.len())];
        let mut set = s.set.clone();
        let k = rng.below(set.len());
        mutate(&mut rng, &mut set[k].1, &s.fields[k]);
        if rng.chance(10) {
            let j = rng.below(set.len());
            mutate(&mut rng, &mut set[j].1, &s.fields[j]);
        }
        let libc = &libcs[rng.below(2)];
        linked += run_one(&set, libc, &mut done);
    }
    println!(
        "elf fuzz: {} mutated inputs + {truncations} truncations, {linked} linked fully, seeds: {} synthetic + {} \
         Debian, {:.1?} total, slowest input {slowest:?}, largest allocation {largest} bytes",
        done - truncations,
        synthetic,
        seeds.len() - synthetic,
        start.elapsed()
    );
    println!("elf fuzz: first errors by kind: {kinds:?}");
}
