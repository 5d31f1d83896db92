//! Per-program libc state: [`Process`] and its C-visible data objects
//! ([`DataSymbol`]).
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::getopt::GetoptState;
use crate::stdio::{FileConfig, WriteFile};

use super::heap::ProcHeap;
use super::lock::Lock;
use super::signal::SigactionTable;

/// A data object the libc exports, one per process.
///
/// Several names can denote one object, as in glibc (`environ`,
/// `__environ` and `_environ`; `program_invocation_short_name` and
/// `__progname`; `program_invocation_name` and `__progname_full`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataSymbol {
    /// `FILE *stdin`.
    Stdin,
    /// `FILE *stdout`.
    Stdout,
    /// `FILE *stderr`.
    Stderr,
    /// `int optind` (initially 1).
    Optind,
    /// `char *optarg` (initially NULL).
    Optarg,
    /// `int opterr` (initially 1).
    Opterr,
    /// `int optopt` (initially `'?'`).
    Optopt,
    /// `char **environ` (`__environ`, `_environ`).
    Environ,
    /// `char *program_invocation_name` (`__progname_full`): `argv[0]`.
    ProgramInvocationName,
    /// `char *program_invocation_short_name` (`__progname`): `argv[0]`
    /// after its last `/`.
    ProgramInvocationShortName,
}

impl DataSymbol {
    /// Every data symbol.
    pub const ALL: [DataSymbol; 10] = [
        DataSymbol::Stdin,
        DataSymbol::Stdout,
        DataSymbol::Stderr,
        DataSymbol::Optind,
        DataSymbol::Optarg,
        DataSymbol::Opterr,
        DataSymbol::Optopt,
        DataSymbol::Environ,
        DataSymbol::ProgramInvocationName,
        DataSymbol::ProgramInvocationShortName,
    ];

    /// The names this object is exported under.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            DataSymbol::Stdin => &["stdin"],
            DataSymbol::Stdout => &["stdout"],
            DataSymbol::Stderr => &["stderr"],
            DataSymbol::Optind => &["optind"],
            DataSymbol::Optarg => &["optarg"],
            DataSymbol::Opterr => &["opterr"],
            DataSymbol::Optopt => &["optopt"],
            DataSymbol::Environ => &["environ", "__environ", "_environ"],
            DataSymbol::ProgramInvocationName => &["program_invocation_name", "__progname_full"],
            DataSymbol::ProgramInvocationShortName => &["program_invocation_short_name", "__progname"],
        }
    }

    /// `st_size` of the object (what a COPY relocation copies).
    pub fn size(self) -> usize {
        match self {
            DataSymbol::Optind | DataSymbol::Opterr | DataSymbol::Optopt => 4,
            _ => 8,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The `FILE` objects handed to C: opaque to programs, which only pass the
/// pointers back. `index` is 0 (stdin), 1 (stdout) or 2 (stderr).
#[repr(C)]
pub(crate) struct CFile {
    magic: u32,
    pub(crate) index: u32,
    reserved: [u64; 2],
}

const FILE_MAGIC: u32 = 0xfbad_2484;

/// The C-visible objects of a process (boxed: their addresses are stable).
#[repr(C)]
struct Globals {
    stdin: UnsafeCell<usize>,
    stdout: UnsafeCell<usize>,
    stderr: UnsafeCell<usize>,
    optind: UnsafeCell<i32>,
    opterr: UnsafeCell<i32>,
    optopt: UnsafeCell<i32>,
    _pad: i32,
    optarg: UnsafeCell<usize>,
    environ: UnsafeCell<usize>,
    progname_full: UnsafeCell<usize>,
    progname: UnsafeCell<usize>,
    files: [CFile; 3],
}

/// One `atexit`/`__cxa_atexit` registration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AtExit {
    pub(crate) func: usize,
    pub(crate) arg: usize,
    /// `__cxa_atexit`'s `dso_handle`; `atexit` registrations have 0.
    pub(crate) dso: usize,
    /// Called with `arg` (`__cxa_atexit`) or with nothing (`atexit`).
    pub(crate) with_arg: bool,
}

/// The libc state of one program (process).
///
/// The kernel creates it with [`Process::new`], keeps it in an `Arc` for as
/// long as any thread of the program runs and returns it from
/// [`Sys::process`](super::sys::Sys::process). See the [module
/// docs](super) for the whole contract.
pub struct Process {
    globals: Box<Globals>,
    /// Addresses of the executable's COPY of each data symbol (0: ours).
    bound: [AtomicUsize; 10],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    // Backing storage of the C strings and arrays the globals point into.
    _argv0: Box<[u8]>,
    _env_strings: Vec<Box<[u8]>>,
    _env_array: Box<[usize]>,
    pub(crate) streams: [Lock<WriteFile>; 2],
    pub(crate) heap: Lock<ProcHeap>,
    pub(crate) atexit: Lock<Vec<AtExit>>,
    pub(crate) finalizers: Lock<Vec<usize>>,
    pub(crate) getopt: Lock<GetoptState>,
    pub(crate) sigactions: Lock<SigactionTable>,
    /// Interned `strerror` texts (NUL-terminated, never freed).
    pub(crate) strerror_texts: Lock<BTreeMap<i32, Box<[u8]>>>,
    exit_status: AtomicI32,
}

// SAFETY: the mutable Rust state is behind `Lock`s or atomics. The
// `UnsafeCell`s of `Globals` are C objects (`optind`, `stdout`, ...) that
// C code reads and writes without synchronisation, exactly as it does with
// glibc's; the libc touches them only through raw pointers with the same
// rules. The boxed strings and arrays are never mutated by Rust.
unsafe impl Sync for Process {}
// SAFETY: as above; nothing in Process is tied to a thread.
unsafe impl Send for Process {}

const NO_STATUS: i32 = i32::MIN;

fn c_string(b: &[u8]) -> Box<[u8]> {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let mut v = Vec::with_capacity(n + 1);
    v.extend_from_slice(b.get(..n).unwrap_or_default());
    v.push(0);
    v.into_boxed_slice()
}

impl Process {
    /// The state of a new program with its argument and environment
    /// strings (each without a terminating NUL; an embedded NUL ends it as
    /// in C).
    pub fn new(argv: Vec<Vec<u8>>, envp: Vec<Vec<u8>>) -> Process {
        let argv0 = c_string(argv.first().map(|a| a.as_slice()).unwrap_or_default());
        let env_strings: Vec<Box<[u8]>> = envp.iter().map(|e| c_string(e)).collect();
        let mut env_array: Vec<usize> = env_strings.iter().map(|s| s.as_ptr() as usize).collect();
        env_array.push(0);
        let env_array = env_array.into_boxed_slice();
        let full = argv0.as_ptr() as usize;
        let short_off = if argv.is_empty() {
            0
        } else {
            argv0.iter().take(argv0.len() - 1).rposition(|&c| c == b'/').map_or(0, |i| i + 1)
        };
        let (full, short) = if argv.is_empty() {
            // argv[0] NULL: program_invocation_name is NULL-ish in glibc;
            // we point both at an empty string.
            (full, full)
        } else {
            (full, full + short_off)
        };
        let file = |index| CFile { magic: FILE_MAGIC, index, reserved: [0; 2] };
        let globals = Box::new(Globals {
            stdin: UnsafeCell::new(0),
            stdout: UnsafeCell::new(0),
            stderr: UnsafeCell::new(0),
            optind: UnsafeCell::new(1),
            opterr: UnsafeCell::new(1),
            optopt: UnsafeCell::new(i32::from(b'?')),
            _pad: 0,
            optarg: UnsafeCell::new(0),
            environ: UnsafeCell::new(env_array.as_ptr() as usize),
            progname_full: UnsafeCell::new(full),
            progname: UnsafeCell::new(short),
            files: [file(0), file(1), file(2)],
        });
        for (i, cell) in [&globals.stdin, &globals.stdout, &globals.stderr].into_iter().enumerate() {
            let addr = globals.files.as_ptr().wrapping_add(i) as usize;
            // SAFETY: the process is not shared yet; nothing else accesses
            // the cell.
            unsafe { *cell.get() = addr };
        }
        Process {
            globals,
            bound: Default::default(),
            argv,
            envp,
            _argv0: argv0,
            _env_strings: env_strings,
            _env_array: env_array,
            streams: [
                Lock::new(WriteFile::new(FileConfig::STDOUT_PIPE)),
                Lock::new(WriteFile::new(FileConfig::STDERR)),
            ],
            heap: Lock::new(ProcHeap::new()),
            atexit: Lock::new(Vec::new()),
            finalizers: Lock::new(Vec::new()),
            getopt: Lock::new(GetoptState::new()),
            sigactions: Lock::new(SigactionTable::new()),
            strerror_texts: Lock::new(BTreeMap::new()),
            exit_status: AtomicI32::new(NO_STATUS),
        }
    }

    /// The arguments given at creation.
    pub fn argv(&self) -> &[Vec<u8>] {
        &self.argv
    }

    /// The environment given at creation.
    pub fn envp(&self) -> &[Vec<u8>] {
        &self.envp
    }

    fn own_address(&self, sym: DataSymbol) -> usize {
        let g = &*self.globals;
        match sym {
            DataSymbol::Stdin => g.stdin.get() as usize,
            DataSymbol::Stdout => g.stdout.get() as usize,
            DataSymbol::Stderr => g.stderr.get() as usize,
            DataSymbol::Optind => g.optind.get() as usize,
            DataSymbol::Optarg => g.optarg.get() as usize,
            DataSymbol::Opterr => g.opterr.get() as usize,
            DataSymbol::Optopt => g.optopt.get() as usize,
            DataSymbol::Environ => g.environ.get() as usize,
            DataSymbol::ProgramInvocationName => g.progname_full.get() as usize,
            DataSymbol::ProgramInvocationShortName => g.progname.get() as usize,
        }
    }

    /// The address and size of this process's own object for `sym` (what
    /// the loader binds references to, and where a COPY relocation takes
    /// its initial bytes from: see [`Process::initial_bytes`]).
    pub fn data_symbol(&self, sym: DataSymbol) -> (usize, usize) {
        (self.own_address(sym), sym.size())
    }

    /// The current bytes of this process's own object for `sym` (the
    /// `data` a COPY relocation copies).
    pub fn initial_bytes(&self, sym: DataSymbol) -> Vec<u8> {
        let (addr, size) = self.data_symbol(sym);
        // SAFETY: addr is one of our boxed globals, `size` bytes long.
        unsafe { core::slice::from_raw_parts(addr as *const u8, size) }.to_vec()
    }

    /// Tells the libc that the executable has a COPY of `sym` at `address`
    /// (the executable's `R_X86_64_COPY` target, already filled): from now
    /// on the libc reads and writes that copy, as glibc's code does through
    /// its GOT. Called by the kernel after applying the relocations, before
    /// the program runs.
    pub fn bind_copy(&self, sym: DataSymbol, address: usize) {
        if let Some(b) = self.bound.get(sym.index()) {
            b.store(address, Ordering::SeqCst);
        }
    }

    /// The address the program uses for `sym` (its COPY or ours).
    pub(crate) fn sym_addr(&self, sym: DataSymbol) -> usize {
        match self.bound.get(sym.index()).map(|b| b.load(Ordering::SeqCst)) {
            Some(a) if a != 0 => a,
            _ => self.own_address(sym),
        }
    }

    /// Reads the `int` object `sym`.
    pub(crate) fn read_int(&self, sym: DataSymbol) -> i32 {
        // SAFETY: sym_addr is our object or the executable's copy of it,
        // both at least 4 bytes; C accesses them the same unsynchronised way.
        unsafe { (self.sym_addr(sym) as *const i32).read_volatile() }
    }

    /// Writes the `int` object `sym`.
    pub(crate) fn write_int(&self, sym: DataSymbol, v: i32) {
        // SAFETY: as in read_int.
        unsafe { (self.sym_addr(sym) as *mut i32).write_volatile(v) }
    }

    /// Reads the pointer object `sym`.
    pub(crate) fn read_ptr(&self, sym: DataSymbol) -> usize {
        // SAFETY: as in read_int (pointer objects are 8 bytes).
        unsafe { (self.sym_addr(sym) as *const usize).read_volatile() }
    }

    /// Writes the pointer object `sym`.
    pub(crate) fn write_ptr(&self, sym: DataSymbol, v: usize) {
        // SAFETY: as in read_ptr.
        unsafe { (self.sym_addr(sym) as *mut usize).write_volatile(v) }
    }

    /// The stream a `FILE *` denotes: 0, 1 or 2, or None for a pointer that
    /// is none of ours.
    pub(crate) fn stream_index(&self, fp: usize) -> Option<usize> {
        (0..3).find(|&i| self.globals.files.as_ptr().wrapping_add(i) as usize == fp)
    }

    /// The `FILE *` currently in the `stdout`/`stderr` variable.
    pub(crate) fn std_stream(&self, sym: DataSymbol) -> usize {
        self.read_ptr(sym)
    }

    /// The current `program_invocation_short_name` (`__progname`) bytes.
    pub(crate) fn progname(&self) -> Vec<u8> {
        let p = self.read_ptr(DataSymbol::ProgramInvocationShortName) as *const u8;
        // SAFETY: the variable holds a C string (ours, or one the program
        // stored there).
        let name = unsafe { super::cstr::opt_cstr(p) }.unwrap_or_default();
        // The program may have pointed the variable at megabytes of text:
        // the copy may fail (then no name), it must not panic.
        let mut v = Vec::new();
        if v.try_reserve_exact(name.len()).is_ok() {
            v.extend_from_slice(name);
        }
        v
    }

    /// Sets the functions `exit` runs after the `atexit` handlers, in this
    /// order: the objects' `DT_FINI_ARRAY` entries and `DT_FINI`, as the
    /// loader lists them (`void f(void)` addresses).
    pub fn set_finalizers(&self, finalizers: Vec<usize>) {
        *self.finalizers.lock() = finalizers;
    }

    /// The status the program exited with (`exit`, `_exit`, or 128 + the
    /// signal for `abort` and the fatal checks), once it has.
    pub fn exit_status(&self) -> Option<i32> {
        match self.exit_status.load(Ordering::SeqCst) {
            NO_STATUS => None,
            s => Some(s),
        }
    }

    pub(crate) fn set_exit_status(&self, status: i32) {
        self.exit_status.store(status, Ordering::SeqCst);
    }

    /// Heap bytes in use and mapped (for tests and diagnostics).
    pub fn heap_usage(&self) -> (usize, usize) {
        self.heap.lock().usage()
    }
}
