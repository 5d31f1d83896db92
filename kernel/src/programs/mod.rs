//! Real programs: unmodified dynamically linked Linux x86_64 executables
//! (Debian's xenstore tools) loaded from the VFS, linked against the
//! kernel's built-in libc (`guest-libc`) and run on threads of their own.
//! See docs/programs.md.
//!
//! * `image`: reading the objects, linking (`elf_loader`), W^X.
//! * `process`: a process's state, threads and end.
//! * `start`: the thread control block and the initial process stack.
//! * `sys`: the kernel services the libc calls.
//! * `shell`: command lists (`programs=` on the command line).
//!
//! The API for the kernel and its tests is [`start`], [`wait`] and
//! [`run`]: a command (argv, environment) in, an [`Outcome`] (exit status,
//! standard output and error, timings) out.
pub mod image;
pub mod process;
pub mod shell;
mod start;
mod sys;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use elf_loader::{BuiltinSymbol, Builtins};
use guest_libc::abi::DataSymbol;

use crate::crash::TrapFrame;
use crate::fs::devices::Output;
use image::ImageError;
pub use process::{ExitStatus, Proc, Signal};

/// Registers the kernel's services with the libc and the fault hook with
/// the crash handler.
pub fn init() {
    guest_libc::abi::set_sys(&sys::KERNEL_SYS);
    crate::crash::set_fault_hook(on_fault);
}

/// How to run a program.
#[derive(Clone, Debug)]
pub struct Options {
    /// Show its output on the console, each line prefixed with this.
    pub echo: Option<String>,
    /// Bytes of standard output (and, separately, of error) kept.
    pub capture_limit: usize,
    /// Stack size of each of its threads.
    pub stack_size: usize,
    /// Kill it (`SIGKILL`'s status, 137) when it runs longer than this.
    /// A killed thread ends when it next calls into the libc (a blocked
    /// one is woken for it); one that never does cannot be stopped.
    pub timeout_ns: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options { echo: None, capture_limit: 1 << 20, stack_size: 128 << 10, timeout_ns: None }
    }
}

/// The environment a program gets unless told otherwise.
pub const DEFAULT_ENV: &[&str] = &["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/"];

/// A started program.
pub struct Running {
    pub proc: Arc<Proc>,
    /// The objects loaded: (path, sha256, file size).
    pub objects: Vec<(String, [u8; 32], usize)>,
    /// Time to load, link and protect the image.
    pub load_ns: u64,
    started_ns: u64,
    timeout_ns: Option<u64>,
}

/// What a program did.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output bytes not kept (past the capture limit or the budget).
    pub dropped: u64,
    /// Time to load, link and protect the image.
    pub load_ns: u64,
    /// From the first instruction of the program to the end of its last
    /// thread.
    pub run_ns: u64,
    /// The programs-budget charges of `stdout` and `stderr`, released when
    /// the outcome is dropped (held, never read).
    #[allow(dead_code)]
    pub charges: (kcore::budget::Charge, kcore::budget::Charge),
}

/// Why a program could not start.
#[derive(Debug)]
pub enum StartError {
    /// No argv\[0\].
    Empty,
    /// The image could not be made (not found, refused by the loader, no
    /// memory): nothing of the program ran.
    Image(ImageError),
    /// The libc or the kernel had no room for the process or its thread.
    NoMemory,
}

impl StartError {
    /// The shell's status for it: 127 for a command not found, 126 for one
    /// that cannot be run.
    pub fn status(&self) -> i32 {
        match self {
            StartError::Image(ImageError::NotFound { .. }) | StartError::Empty => 127,
            _ => 126,
        }
    }
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Empty => write!(f, "empty command"),
            StartError::Image(e) => write!(f, "{}", e),
            StartError::NoMemory => write!(f, "out of memory starting the program"),
        }
    }
}

/// The built-in libc as the linker sees it, for one process (its data
/// objects, such as `stdout` and `optind`, are the process's own).
struct LibcSymbols {
    /// Each data object's address and initial bytes.
    data: Vec<(DataSymbol, usize, Vec<u8>)>,
}

impl LibcSymbols {
    fn new(p: &guest_libc::abi::Process) -> LibcSymbols {
        let data = DataSymbol::ALL.iter().map(|&d| (d, p.data_symbol(d).0, p.initial_bytes(d))).collect();
        LibcSymbols { data }
    }
}

/// The data symbol a name (any of its aliases) denotes.
fn data_symbol_named(name: &str) -> Option<DataSymbol> {
    DataSymbol::ALL.iter().copied().find(|d| d.names().contains(&name))
}

impl Builtins for LibcSymbols {
    fn lookup(&self, name: &str, _version: Option<&str>) -> Option<BuiltinSymbol<'_>> {
        match guest_libc::abi::lookup(name)? {
            guest_libc::abi::Symbol::Function(address) => {
                Some(BuiltinSymbol { address: address as u64, size: 0, data: None })
            }
            guest_libc::abi::Symbol::Data(d) => {
                let (_, address, bytes) = self.data.iter().find(|(s, _, _)| *s == d)?;
                Some(BuiltinSymbol { address: *address as u64, size: bytes.len() as u64, data: Some(bytes) })
            }
        }
    }

    fn provides_library(&self, soname: &str) -> bool {
        guest_libc::abi::provides_library(soname)
    }
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Loads `argv[0]` (searched in [`image::PATH`] when it has no `/`) and
/// starts it with `argv` and `env`. Its standard input is `/dev/null`, its
/// output and error are captured (see [`Options`]).
pub fn start(argv: &[&str], env: &[&str], opts: &Options) -> Result<Running, StartError> {
    let name = *argv.first().ok_or(StartError::Empty)?;
    let path = image::resolve(name).map_err(StartError::Image)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    // Strings and pointer arrays of the initial stack (the libc keeps its
    // own copies for environ and program_invocation_name), charged with
    // the process's control block below.
    let text: usize = argv.iter().chain(env).map(|s| s.len() + 1 + 16).sum();
    let charge = crate::mm::budget::PROGRAMS
        .try_charge(process::PROC_OVERHEAD.saturating_add(text.saturating_mul(3)))
        .map_err(|_| StartError::NoMemory)?;
    let strings = start::Strings::new(argv, env);
    let libc = guest_libc::abi::Process::new(
        argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        env.iter().map(|a| a.as_bytes().to_vec()).collect(),
    );
    let stdout = Arc::new(Output::new(opts.capture_limit, opts.echo.clone()));
    let stderr = Arc::new(Output::new(opts.capture_limit, opts.echo.as_ref().map(|p| alloc::format!("{}!", p))));
    let proc =
        Arc::new(Proc::new(id, String::from(name), libc, stdout.clone(), stderr.clone(), opts.stack_size, charge));
    let files_ok = proc.files.open("/dev/null", crate::fs::O_RDONLY).is_ok()
        && proc.files.install_output(1, stdout).is_ok()
        && proc.files.install_output(2, stderr).is_ok();
    if !files_ok {
        return Err(StartError::NoMemory);
    }

    let img = image::load(&path, &LibcSymbols::new(&proc.libc)).map_err(StartError::Image)?;
    let load_ns = img.load_ns;
    for (sym, addr) in &img.copies {
        if let Some(d) = data_symbol_named(sym) {
            proc.libc.bind_copy(d, *addr as usize);
        }
    }
    proc.libc.set_finalizers(img.fini.iter().map(|f| f.address as usize).collect());
    let objects = img.objects.iter().map(|o| (o.path.clone(), o.sha256, o.file_size)).collect();
    let entry = img.entry;
    let inits: Vec<u64> = img.init.iter().map(|i| i.address).collect();
    proc.image.call_once(|| img);

    // The initial stack: argv and envp point into `strings`, which the
    // process keeps.
    let (words_ptr, count, argc, argv_addr, env_addr) = {
        let mut sw = proc.start_block.lock();
        let argv_ptrs = strings.argv_ptrs();
        let env_ptrs = strings.env_ptrs();
        for chunk in sw.random.chunks_mut(8) {
            let r = start::random_u64().to_le_bytes();
            let n = chunk.len();
            chunk.copy_from_slice(r.get(..n).unwrap_or_default());
        }
        let random = sw.random.as_ptr() as u64;
        sw.words = start::initial_stack(&argv_ptrs, &env_ptrs, entry, random);
        sw.strings = Some(strings);
        let argv_addr = sw.words.as_ptr() as u64 + 8;
        let env_addr = argv_addr + (argv_ptrs.len() as u64 + 1) * 8;
        (sw.words.as_ptr() as usize, sw.words.len(), argv_ptrs.len() as i32, argv_addr, env_addr)
    };

    let body_proc = proc.clone();
    let body: alloc::boxed::Box<dyn FnOnce() + Send> = alloc::boxed::Box::new(move || {
        // Nothing owned may stay in this frame past `enter`.
        drop(body_proc);
        for f in inits {
            // SAFETY: an initializer of the loaded image (checked by the
            // loader to lie in an executable segment), called with the
            // arguments ld.so passes; this is the program's main thread
            // with its control block and FPU state, events masked.
            let init: extern "C" fn(i32, u64, u64) = unsafe { core::mem::transmute(f as usize) };
            init(argc, argv_addr, env_addr);
        }
        // SAFETY: the image's entry point; the words live in the process,
        // which outlives this thread.
        unsafe { start::enter(words_ptr as *const u64, count, entry) }
    });
    let started_ns = crate::time::now_ns();
    process::spawn_thread(&proc, body).map_err(|_| StartError::NoMemory)?;
    Ok(Running { proc, objects, load_ns, started_ns, timeout_ns: opts.timeout_ns })
}

/// Waits until every thread of the program has ended.
///
/// # Yields
pub fn wait(r: Running) -> Outcome {
    if let Some(t) = r.timeout_ns {
        let deadline = r.started_ns.saturating_add(t);
        if !r.proc.thread_ended.wait_until_deadline(|| r.proc.finished(), deadline) {
            crate::kprintln!("programs: [{}] {}: timed out after {} ms, killed", r.proc.id, r.proc.name, t / 1_000_000);
            kill(&r);
        }
    }
    r.proc.thread_ended.wait_until(|| r.proc.finished());
    let run_ns = crate::time::now_ns().saturating_sub(r.started_ns);
    r.proc.stdout.flush_echo();
    r.proc.stderr.flush_echo();
    let (stdout, d1, c1) = r.proc.stdout.take();
    let (stderr, d2, c2) = r.proc.stderr.take();
    Outcome {
        status: r.proc.status().unwrap_or(ExitStatus::Exited(0)),
        stdout,
        stderr,
        dropped: d1 + d2,
        load_ns: r.load_ns,
        run_ns,
        charges: (c1, c2),
    }
}

/// Ends the program as `SIGKILL` would: its threads end when they next
/// enter the kernel (blocked ones are woken with `EINTR` first).
pub fn kill(r: &Running) {
    r.proc.begin_exit(ExitStatus::Signaled(Signal::Sigkill));
}

/// [`start`] then [`wait`].
///
/// # Yields
pub fn run(argv: &[&str], env: &[&str], opts: &Options) -> Result<Outcome, StartError> {
    start(argv, env, opts).map(wait)
}

/// The crash handler's hook: a fault on a program thread outside the
/// kernel's own critical sections (no spin lock held, not in an event
/// handler) kills the program, as Linux would with a signal, and the
/// kernel keeps running. Returns when the fault is not the program's.
fn on_fault(frame: &TrapFrame, what: &str, addr: Option<u64>) {
    if crate::sync::in_upcall() || crate::sync::locks_held() != 0 {
        return;
    }
    let Some(pt) = process::current() else { return };
    let sig = match frame.vector {
        0 | 16 | 19 => Signal::Sigfpe,
        3 | 4 => Signal::Sigtrap,
        6 => Signal::Sigill,
        17 => Signal::Sigbus,
        5 | 11 | 12 | 13 | 14 => Signal::Sigsegv,
        _ => return,
    };
    let place = pt
        .proc
        .image
        .get()
        .and_then(|i| i.locate(frame.rip))
        .map(|(o, off)| alloc::format!("{}+{:#x}", o, off))
        .unwrap_or_else(|| alloc::format!("{:#x} (kernel libc)", frame.rip));
    crate::kprintln!(
        "programs: [{}] {}: {} ({} at {}{})",
        pt.proc.id,
        pt.proc.name,
        sig.name(),
        what,
        place,
        addr.map(|a| alloc::format!(", address {:#x}", a)).unwrap_or_default()
    );
    pt.proc.begin_exit(ExitStatus::Signaled(sig));
    drop(pt);
    process::end_current_thread()
}
