//! Loads Debian's real `xenstore` with `libxenstore.so.4` and
//! `libxentoolcore.so.1`, against a fake builtin libc, when they are
//! installed (package `xenstore-utils`). Expected values come from the files'
//! section headers, read here independently of the crate.

use std::collections::BTreeMap;

use elf_loader::{
    link, load_order, BuiltinSymbol, Builtins, Elf, Limits, ObjectFile, Perm, DEFAULT_SEARCH_PATH, PAGE_SIZE,
};

const EXE: &str = "/usr/bin/xenstore";

/// Every libc symbol the three objects import with a strong reference
/// (`objdump -T`), plus the weak `__cxa_finalize`. The weak
/// `__gmon_start__`, `_ITM_registerTMCloneTable`,
/// `_ITM_deregisterTMCloneTable` and `__pthread_unwind_next` are left out on
/// purpose: they must resolve to 0.
const LIBC_FUNCTIONS: &[&str] = &[
    "__assert_fail",
    "__cxa_finalize",
    "__errno_location",
    "__isoc99_sscanf",
    "__libc_start_main",
    "__printf_chk",
    "__pthread_register_cancel",
    "__pthread_unregister_cancel",
    "__sigsetjmp",
    "__snprintf_chk",
    "__sprintf_chk",
    "__stack_chk_fail",
    "__sysconf",
    "__vsnprintf_chk",
    "access",
    "calloc",
    "close",
    "connect",
    "dlsym",
    "dup2",
    "err",
    "errx",
    "fflush",
    "fputs",
    "free",
    "fwrite",
    "getenv",
    "getopt_long",
    "ioctl",
    "malloc",
    "memcmp",
    "memcpy",
    "open",
    "pipe2",
    "pthread_attr_destroy",
    "pthread_attr_init",
    "pthread_attr_setstacksize",
    "pthread_cancel",
    "pthread_cond_broadcast",
    "pthread_cond_init",
    "pthread_cond_signal",
    "pthread_cond_wait",
    "pthread_create",
    "pthread_join",
    "pthread_mutex_init",
    "pthread_mutex_lock",
    "pthread_mutex_unlock",
    "pthread_sigmask",
    "putc",
    "puts",
    "read",
    "realloc",
    "sigaction",
    "sigemptyset",
    "sigfillset",
    "socket",
    "stat",
    "strcmp",
    "strdup",
    "strlen",
    "strncmp",
    "strncpy",
    "strrchr",
    "strtol",
    "strtoul",
    "warn",
    "warnx",
    "write",
];

const OPTIND_BYTES: [u8; 4] = [1, 0, 0, 0];
const STDOUT_BYTES: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
const OPTARG_BYTES: [u8; 8] = [0; 8];

struct FakeLibc {
    table: BTreeMap<&'static str, BuiltinSymbol<'static>>,
    versions_seen: std::cell::RefCell<BTreeMap<String, Option<String>>>,
}

const LIBC_BASE: u64 = 0x7f00_0000_0000;

impl FakeLibc {
    fn new() -> FakeLibc {
        let mut table = BTreeMap::new();
        for (i, name) in LIBC_FUNCTIONS.iter().enumerate() {
            table.insert(*name, BuiltinSymbol { address: LIBC_BASE + 0x10 * i as u64, size: 0, data: None });
        }
        table.insert("optind", BuiltinSymbol { address: LIBC_BASE + 0x10000, size: 4, data: Some(&OPTIND_BYTES) });
        table.insert("stdout", BuiltinSymbol { address: LIBC_BASE + 0x10008, size: 8, data: Some(&STDOUT_BYTES) });
        table.insert("optarg", BuiltinSymbol { address: LIBC_BASE + 0x10010, size: 8, data: Some(&OPTARG_BYTES) });
        FakeLibc { table, versions_seen: Default::default() }
    }
    fn addr(&self, name: &str) -> u64 {
        self.table[name].address
    }
}

impl Builtins for FakeLibc {
    fn lookup(&self, name: &str, version: Option<&str>) -> Option<BuiltinSymbol<'_>> {
        self.versions_seen.borrow_mut().insert(name.to_string(), version.map(String::from));
        self.table.get(name).copied()
    }
    fn provides_library(&self, soname: &str) -> bool {
        soname == "libc.so.6"
    }
}

/// Address and size of a section, from the section headers.
fn section(bytes: &[u8], want: &str) -> Option<(u64, u64)> {
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    let shoff = u64_at(40) as usize;
    let shnum = u16_at(60);
    let shstrndx = u16_at(62);
    let strtab_off = u64_at(shoff + 64 * shstrndx + 24) as usize;
    (0..shnum).find_map(|i| {
        let sh = shoff + 64 * i;
        let name_off = strtab_off + u32_at(sh);
        let end = name_off + bytes[name_off..].iter().position(|&c| c == 0).unwrap();
        (std::str::from_utf8(&bytes[name_off..end]).unwrap() == want).then(|| (u64_at(sh + 16), u64_at(sh + 32)))
    })
}

/// The relocation of type `rtype` against `name`.
fn slot<'e>(e: &'e Elf, name: &str, rtype: u32) -> elf_loader::Relocation<'e> {
    e.relocations().find(|r| r.symbol == Some(name) && r.rtype == rtype).unwrap_or_else(|| panic!("{name}"))
}

fn get64(span: &[u8], off: u64) -> u64 {
    u64::from_le_bytes(span[off as usize..off as usize + 8].try_into().unwrap())
}

#[test]
fn debian_xenstore_links() {
    let exe_bytes = match std::fs::read(EXE) {
        Ok(b) => b,
        Err(e) => {
            println!("SKIPPED: {EXE} is not readable ({e}); install xenstore-utils to run this test");
            return;
        }
    };
    let libc = FakeLibc::new();
    let limits = Limits::default();
    let mut opened = Vec::new();
    let files = load_order(
        ObjectFile { name: "xenstore".into(), path: EXE.into(), bytes: exe_bytes },
        &limits,
        &libc,
        DEFAULT_SEARCH_PATH,
        |path| {
            opened.push(path.to_string());
            std::fs::read(path).ok()
        },
    );
    let files = match files {
        Ok(f) => f,
        Err(e @ elf_loader::LoadError::LibraryNotFound { .. }) => {
            println!("SKIPPED: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["xenstore", "libxenstore.so.4", "libxentoolcore.so.1"]);
    // libc.so.6 is never opened; each library is found in the first directory.
    assert_eq!(opened, ["/lib/x86_64-linux-gnu/libxenstore.so.4", "/lib/x86_64-linux-gnu/libxentoolcore.so.1"]);

    let elfs: Vec<Elf> = files.iter().map(|f| Elf::parse(&f.name, &f.bytes, &limits).unwrap()).collect();
    let (exe, xs, tc) = (&elfs[0], &elfs[1], &elfs[2]);
    assert_eq!(exe.interp(), Some("/lib64/ld-linux-x86-64.so.2"));
    assert_eq!(xs.soname(), Some("libxenstore.so.4"));
    assert_eq!(exe.needed().collect::<Vec<_>>(), ["libxenstore.so.4", "libc.so.6"]);
    for e in &elfs {
        assert_eq!(e.vaddr_base(), 0);
        let perms: Vec<Perm> = e.segments().iter().map(|s| s.perm).collect();
        assert_eq!(perms, [Perm::R, Perm::RX, Perm::R, Perm::RW], "{}", e.name());
        assert_eq!(e.span_size() % PAGE_SIZE, 0);
        // RELRO covers exactly the pages from the RW segment's first page up
        // to the page holding its end.
        let rw = &e.segments()[3];
        let relro = e.relro().unwrap();
        assert_eq!(relro.start, rw.offset & !(PAGE_SIZE - 1));
        assert_eq!(relro.end, relro.start + PAGE_SIZE);
    }
    // Entry point: e_entry of the executable, none for the libraries.
    let e_entry = u64::from_le_bytes(files[0].bytes[24..32].try_into().unwrap());
    assert_eq!(exe.entry(), Some(e_entry));
    assert_eq!(xs.entry(), None);

    let bases = [0x5555_0000_0000u64, 0x7e00_0000_0000, 0x7e00_1000_0000];
    let set: Vec<(&Elf, u64)> = elfs.iter().zip(bases).collect();
    let plan = link(&set, &libc).unwrap_or_else(|e| panic!("{e}"));
    let mut spans: Vec<Vec<u8>> = elfs.iter().map(|e| vec![0; e.span_size() as usize]).collect();
    for (e, s) in elfs.iter().zip(spans.iter_mut()) {
        e.copy_into(s).unwrap();
    }
    plan.apply(&mut spans).unwrap();

    // Every relocation of .rela.dyn and .rela.plt was resolved.
    for (f, e) in files.iter().zip(&elfs) {
        let (_, dyn_size) = section(&f.bytes, ".rela.dyn").unwrap();
        let (_, plt_size) = section(&f.bytes, ".rela.plt").unwrap();
        assert_eq!(e.relocations().count() as u64, (dyn_size + plt_size) / 24, "{}", e.name());
    }
    let writes_per_object: Vec<usize> = (0..3).map(|i| plan.writes.iter().filter(|w| w.object == i).count()).collect();
    assert_eq!(plan.copies.len(), 3);
    assert_eq!(writes_per_object[0], elfs[0].relocations().count() - 3);
    assert_eq!(writes_per_object[1], elfs[1].relocations().count());
    assert_eq!(writes_per_object[2], elfs[2].relocations().count());

    // xenstore's JUMP_SLOT for xs_read now holds libxenstore's xs_read.
    let r = slot(exe, "xs_read", 7);
    assert_eq!(r.version, Some("VERS_4.0"));
    assert_eq!(get64(&spans[0], r.offset), bases[1] + xs.exported("xs_read").unwrap().0);
    // libxenstore's JUMP_SLOT for xs_write_all binds to the executable's own
    // (unversioned) copy of xs_write_all, which comes first in the scope.
    let r = slot(xs, "xs_write_all", 7);
    assert_eq!(get64(&spans[1], r.offset), bases[0] + exe.exported("xs_write_all").unwrap().0);
    assert_ne!(exe.exported("xs_write_all").unwrap().0, xs.exported("xs_write_all").unwrap().0);
    // libxenstore -> libxentoolcore.
    let r = slot(xs, "xentoolcore__register_active_handle", 7);
    assert_eq!(get64(&spans[1], r.offset), bases[2] + tc.exported("xentoolcore__register_active_handle").unwrap().0);
    // Builtins.
    let r = slot(exe, "__libc_start_main", 6);
    assert_eq!(get64(&spans[0], r.offset), libc.addr("__libc_start_main"));
    let r = slot(tc, "dup2", 7);
    assert_eq!(get64(&spans[2], r.offset), libc.addr("dup2"));
    let r = slot(xs, "__cxa_finalize", 6);
    assert_eq!(get64(&spans[1], r.offset), libc.addr("__cxa_finalize"));
    // Undefined weak symbols resolve to 0 (the span was filled from the
    // file; the GOT slots there are zero anyway, so check the plan too).
    for (i, e) in elfs.iter().enumerate() {
        for weak in ["__gmon_start__", "_ITM_registerTMCloneTable", "_ITM_deregisterTMCloneTable"] {
            let r = slot(e, weak, 6);
            assert!(plan.writes.iter().any(|w| w.object == i && w.offset == r.offset && w.value == 0));
        }
    }
    // The versions were passed to the builtins.
    let seen = libc.versions_seen.borrow();
    assert_eq!(seen["malloc"].as_deref(), Some("GLIBC_2.2.5"));
    assert_eq!(seen["__libc_start_main"].as_deref(), Some("GLIBC_2.34"));
    assert_eq!(seen["memcpy"].as_deref(), Some("GLIBC_2.14"));
    assert_eq!(seen["__gmon_start__"].as_deref(), None);

    // COPY relocations: the executable's optind/stdout/optarg got the
    // builtins' bytes, and lookup finds the executable's copies.
    for (name, bytes) in [("optind", &OPTIND_BYTES[..]), ("stdout", &STDOUT_BYTES[..]), ("optarg", &OPTARG_BYTES[..])] {
        let r = slot(exe, name, 5);
        assert_eq!(r.version, Some("GLIBC_2.2.5"));
        let off = r.offset as usize;
        assert_eq!(&spans[0][off..off + bytes.len()], bytes, "{name}");
        assert_eq!(plan.lookup(name), Some(bases[0] + exe.exported(name).unwrap().0));
        assert_eq!(exe.exported(name).unwrap().0, r.offset);
    }
    assert_eq!(plan.lookup("xs_read"), Some(bases[1] + xs.exported("xs_read").unwrap().0));
    assert_eq!(plan.lookup("no_such_symbol"), None);

    // RELATIVE: the init_array entry holds base + its addend.
    let (init_array, init_array_size) = section(&files[0].bytes, ".init_array").unwrap();
    assert_eq!(init_array_size, 8);
    let rel = exe.relocations().find(|r| r.offset == init_array).unwrap();
    assert_eq!(rel.rtype, 8);
    assert_eq!(get64(&spans[0], init_array), bases[0] + rel.addend as u64);

    // Initializers: libxentoolcore, libxenstore, xenstore; each DT_INIT
    // (the .init section) then its one init_array entry.
    let mut expected = Vec::new();
    for i in [2usize, 1, 0] {
        let (init, _) = section(&files[i].bytes, ".init").unwrap();
        let (array, _) = section(&files[i].bytes, ".init_array").unwrap();
        expected.push((i, bases[i] + init));
        expected.push((i, get64(&spans[i], array)));
    }
    let inits = plan.initializers(&spans).unwrap();
    let got: Vec<(usize, u64)> = inits.iter().map(|c| (c.object, c.address)).collect();
    assert_eq!(got, expected);
    assert_eq!(plan.init_order(), [2, 1, 0]);
    let mut expected_fini = Vec::new();
    for i in [0usize, 1, 2] {
        let (fini, _) = section(&files[i].bytes, ".fini").unwrap();
        let (array, _) = section(&files[i].bytes, ".fini_array").unwrap();
        expected_fini.push((i, get64(&spans[i], array)));
        expected_fini.push((i, bases[i] + fini));
    }
    let finis = plan.finalizers(&spans).unwrap();
    assert_eq!(finis.iter().map(|c| (c.object, c.address)).collect::<Vec<_>>(), expected_fini);

    // Without the builtins, the link names every import once per object.
    struct NoLibc;
    impl Builtins for NoLibc {
        fn lookup(&self, _: &str, _: Option<&str>) -> Option<BuiltinSymbol<'_>> {
            None
        }
        fn provides_library(&self, soname: &str) -> bool {
            soname == "libc.so.6"
        }
    }
    let err = link(&set, &NoLibc).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("missing symbols: __assert_fail@GLIBC_2.2.5 (needed by xenstore), "), "{text}");
    assert!(text.contains("pthread_create@GLIBC_2.34 (needed by libxenstore.so.4)"), "{text}");
    assert!(text.ends_with("pthread_mutex_unlock@GLIBC_2.2.5 (needed by libxentoolcore.so.1)"), "{text}");
    assert!(text.contains("optind@GLIBC_2.2.5 (needed by xenstore)"), "{text}");
    assert!(!text.contains("__gmon_start__") && !text.contains("xs_read"), "{text}");
    let expected_count: usize = elfs.iter().map(|e| e.imports().iter().filter(|s| s.contains("@GLIBC")).count()).sum();
    match err {
        elf_loader::LoadError::MissingSymbols(list) => {
            // Weak undefined __cxa_finalize / __pthread_unwind_next resolve to 0.
            let weak = ["__cxa_finalize@GLIBC_2.2.5", "__pthread_unwind_next@GLIBC_2.34"];
            let weak_count: usize =
                elfs.iter().map(|e| e.imports().iter().filter(|s| weak.contains(&s.as_str())).count()).sum();
            // The COPY'd data objects are defined in the executable (so not
            // imports) but their source is missing too.
            assert_eq!(list.len(), expected_count - weak_count + 3);
        }
        other => panic!("{other}"),
    }
}
