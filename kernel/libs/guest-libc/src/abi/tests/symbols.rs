//! The symbol table: every import of Debian's xenstore objects resolves,
//! and linking them with the elf-loader crate succeeds.
use std::collections::BTreeSet;

use elf_loader::{BuiltinSymbol, Builtins, Elf, Limits};

use super::mock::run;
use crate::abi::{lookup, provides_library, DataSymbol, Process, Symbol, FUNCTIONS};

pub(crate) const OBJECTS: [&str; 3] = [
    "/usr/bin/xenstore",
    "/usr/lib/x86_64-linux-gnu/libxenstore.so.4",
    "/usr/lib/x86_64-linux-gnu/libxentoolcore.so.1",
];

/// Our table as the loader's builtins, for one process.
pub(crate) struct Table<'p> {
    pub(crate) process: &'p Process,
    pub(crate) data: Vec<(DataSymbol, Vec<u8>)>,
}

impl<'p> Table<'p> {
    pub(crate) fn new(process: &'p Process) -> Self {
        let data = DataSymbol::ALL.iter().map(|&d| (d, process.initial_bytes(d))).collect();
        Table { process, data }
    }
}

impl Builtins for Table<'_> {
    fn lookup(&self, name: &str, _version: Option<&str>) -> Option<BuiltinSymbol<'_>> {
        match lookup(name)? {
            Symbol::Function(a) => Some(BuiltinSymbol { address: a as u64, size: 0, data: None }),
            Symbol::Data(d) => {
                let (address, size) = self.process.data_symbol(d);
                let bytes = self.data.iter().find(|(x, _)| *x == d).map(|(_, b)| b.as_slice());
                Some(BuiltinSymbol { address: address as u64, size: size as u64, data: bytes })
            }
        }
    }
    fn provides_library(&self, soname: &str) -> bool {
        provides_library(soname)
    }
}

#[test]
fn the_table_is_consistent() {
    let names: BTreeSet<&str> = FUNCTIONS.iter().copied().collect();
    assert_eq!(names.len(), FUNCTIONS.len(), "no name twice");
    for n in FUNCTIONS {
        assert!(matches!(lookup(n), Some(Symbol::Function(a)) if a != 0), "{n}");
    }
    for d in DataSymbol::ALL {
        for n in d.names() {
            assert_eq!(lookup(n), Some(Symbol::Data(d)));
            assert!(!names.contains(n));
        }
    }
    for weak in ["__gmon_start__", "_ITM_registerTMCloneTable", "_ITM_deregisterTMCloneTable", "nosuchfunction"] {
        assert_eq!(lookup(weak), None);
    }
    assert!(provides_library("libc.so.6") && !provides_library("libxenstore.so.4"));
}

#[test]
fn data_symbols_have_linux_sizes_and_initial_values() {
    let p = Process::new(vec![b"/usr/bin/xenstore-ls".to_vec()], vec![b"A=b".to_vec()]);
    assert_eq!(p.initial_bytes(DataSymbol::Optind), 1i32.to_le_bytes());
    assert_eq!(p.initial_bytes(DataSymbol::Opterr), 1i32.to_le_bytes());
    assert_eq!(p.initial_bytes(DataSymbol::Optopt), 63i32.to_le_bytes());
    assert_eq!(p.initial_bytes(DataSymbol::Optarg), [0; 8]);
    for d in [DataSymbol::Stdout, DataSymbol::Stderr, DataSymbol::Stdin] {
        assert_eq!(p.data_symbol(d).1, 8);
        assert_ne!(p.initial_bytes(d), [0; 8]);
    }
    let short = usize::from_le_bytes(p.initial_bytes(DataSymbol::ProgramInvocationShortName).try_into().unwrap());
    let full = usize::from_le_bytes(p.initial_bytes(DataSymbol::ProgramInvocationName).try_into().unwrap());
    assert_eq!(super::bytes_of(short as *const core::ffi::c_char), b"xenstore-ls");
    assert_eq!(super::bytes_of(full as *const core::ffi::c_char), b"/usr/bin/xenstore-ls");
    let env = usize::from_le_bytes(p.initial_bytes(DataSymbol::Environ).try_into().unwrap())
        as *const *const core::ffi::c_char;
    // SAFETY: environ is a NULL-terminated array of C strings.
    unsafe {
        assert_eq!(super::bytes_of(*env), b"A=b");
        assert!((*env.add(1)).is_null());
    }
}

fn read_objects() -> Option<Vec<(String, Vec<u8>)>> {
    let mut v = Vec::new();
    for path in OBJECTS {
        let real = std::fs::canonicalize(path).ok()?;
        let bytes = std::fs::read(real).ok()?;
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        v.push((name, bytes));
    }
    Some(v)
}

#[test]
fn every_import_of_the_debian_objects_resolves() {
    let Some(files) = read_objects() else {
        eprintln!("Debian's xenstore objects are not installed: skipped");
        return;
    };
    let files: &'static [(String, Vec<u8>)] = Box::leak(files.into_boxed_slice());
    let limits = Limits::default();
    let elfs: Vec<Elf<'static>> = files.iter().map(|(n, b)| Elf::parse(n, b, &limits).expect("parse")).collect();
    let defined = |name: &str| elfs.iter().any(|e| e.exported(name).is_some());
    let mut missing = Vec::new();
    let mut count = 0;
    for e in &elfs {
        for imp in e.imports() {
            let name = imp.split('@').next().unwrap_or(&imp);
            if defined(name) {
                continue;
            }
            count += 1;
            if lookup(name).is_none()
                && !["__gmon_start__", "_ITM_registerTMCloneTable", "_ITM_deregisterTMCloneTable"].contains(&name)
            {
                missing.push(format!("{imp} ({})", e.name()));
            }
        }
    }
    assert!(missing.is_empty(), "missing: {missing:?}");
    assert!(count > 80, "only {count} imports seen");
    // The loader agrees: linking the three objects with our table succeeds.
    let out = run(&["xenstore"], &[], move |proc| {
        let table = Table::new(&proc.process);
        let mut base = 0x10_0000_0000u64;
        let objects: Vec<(&Elf<'_>, u64)> = elfs
            .iter()
            .map(|e| {
                let b = base;
                base += (e.span_size() + 0xfff) & !0xfff;
                (e, b)
            })
            .collect();
        let plan = elf_loader::link(&objects, &table).map_err(|e| e.to_string());
        plan.map(|p| p.copies.iter().map(|c| c.symbol.clone()).collect::<Vec<_>>())
    });
    let copies = out.ret.unwrap().expect("link");
    assert_eq!(copies, vec!["stdout@GLIBC_2.2.5", "optind@GLIBC_2.2.5", "optarg@GLIBC_2.2.5"]);
}
