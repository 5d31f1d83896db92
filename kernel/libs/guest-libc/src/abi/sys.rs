//! What the libc needs from the kernel: [`Sys`], implemented by the kernel
//! (and by a mock in host tests), registered once with [`set_sys`].
//!
//! Errors are Linux errno values as positive `i32`s. File descriptors are the
//! calling program's. Every call is made from a program thread (a thread
//! the kernel created for a program, with its thread control block set up);
//! calls that wait (read, poll, futex_wait, join) block the calling thread
//! only, and end with `EINTR` when the thread has been interrupted
//! ([`Sys::interrupt`], used for `pthread_cancel` and process exit).
use core::sync::atomic::AtomicU32;

/// `struct stat` as far as the libc needs it (the libc lays out the C
/// struct).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStat {
    /// `st_ino`.
    pub ino: u64,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// `st_nlink`.
    pub nlink: u64,
    /// `st_size`.
    pub size: i64,
    /// `st_rdev` (device number of a character device, else 0).
    pub rdev: u64,
}

/// One entry of a `poll` set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    /// The descriptor (negative: ignored).
    pub fd: i32,
    /// Requested events.
    pub events: u16,
    /// Returned events.
    pub revents: u16,
}

/// The first function of a new thread: called on the new thread with the
/// context word given to [`Sys::spawn`]. When it returns, the thread ends
/// (as [`Sys::exit_thread`]).
pub type ThreadStart = extern "C" fn(ctx: usize);

/// Kernel services for the libc.
pub trait Sys: Sync {
    /// `open(2)`.
    fn open(&self, path: &[u8], flags: i32, mode: u32) -> Result<i32, i32>;
    /// `close(2)`.
    fn close(&self, fd: i32) -> Result<(), i32>;
    /// `read(2)`; a blocking read ends with `EINTR` when the thread is
    /// interrupted.
    fn read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, i32>;
    /// `write(2)`.
    fn write(&self, fd: i32, buf: &[u8]) -> Result<usize, i32>;
    /// `fcntl(2)` for `F_GETFL`, `F_SETFL`, `F_GETFD`, `F_SETFD` (others:
    /// `EINVAL`).
    fn fcntl(&self, fd: i32, cmd: i32, arg: u64) -> Result<i32, i32>;
    /// `stat(2)`.
    fn stat(&self, path: &[u8]) -> Result<FileStat, i32>;
    /// `fstat(2)`.
    fn fstat(&self, fd: i32) -> Result<FileStat, i32>;
    /// Whether `fd` is a terminal (none is: the program's output is
    /// captured, as into a pipe).
    fn isatty(&self, fd: i32) -> Result<bool, i32>;
    /// `dup2(2)`.
    fn dup2(&self, old: i32, new: i32) -> Result<i32, i32>;
    /// `pipe2(2)`.
    fn pipe2(&self, flags: i32) -> Result<[i32; 2], i32>;
    /// `socket(2)`: an `AF_UNIX` stream socket that can connect nowhere.
    fn socket(&self, domain: i32, ty: i32, protocol: i32) -> Result<i32, i32>;
    /// `connect(2)` of a socket to the `sockaddr` bytes given.
    fn connect(&self, fd: i32, addr: &[u8]) -> Result<(), i32>;
    /// `poll(2)`; `timeout_ms` < 0 waits without end.
    fn poll(&self, fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, i32>;

    /// `n` zeroed, read-write, page-aligned pages for the process's heap,
    /// charged to the programs budget and freed when the process ends.
    /// `None` when the budget or memory is exhausted.
    fn map_pages(&self, n: usize) -> Option<*mut u8>;

    /// Starts a thread of the calling process running `start(ctx)` on a
    /// stack of at least `stack_size` bytes. Returns its id.
    fn spawn(&self, start: ThreadStart, ctx: usize, stack_size: usize) -> Result<u64, i32>;
    /// Waits until thread `tid` of the process has ended.
    fn join(&self, tid: u64) -> Result<(), i32>;
    /// Marks thread `tid` interrupted and wakes it from any wait: its
    /// blocking calls end with `EINTR` until [`Sys::clear_interrupt`].
    fn interrupt(&self, tid: u64);
    /// Whether the calling thread is interrupted.
    fn interrupted(&self) -> bool;
    /// Clears the calling thread's interrupt.
    fn clear_interrupt(&self);
    /// The calling thread's id.
    fn current_tid(&self) -> u64;
    /// Ends the calling thread.
    fn exit_thread(&self) -> !;
    /// Ends the process with `status` (`exit_group`): its other threads are
    /// interrupted and end when they next run; its descriptors are closed.
    fn exit_process(&self, status: i32) -> !;
    /// Blocks while `*word == expected`, until [`Sys::futex_wake`] on the
    /// same word, `deadline_ns` (Xen system time) or an interrupt
    /// (`EINTR`). Spurious returns are allowed.
    fn futex_wait(&self, word: &AtomicU32, expected: u32, deadline_ns: Option<u64>) -> Result<(), i32>;
    /// Wakes up to `n` waiters of `word`.
    fn futex_wake(&self, word: &AtomicU32, n: u32);
    /// Nanoseconds of monotonic time.
    fn now_ns(&self) -> u64;
    /// Wall-clock time: (seconds, nanoseconds) since the epoch.
    fn wallclock(&self) -> (u64, u32);

    /// The calling thread's libc data (errno, cancellation state, cleanup
    /// chain), which the kernel keeps in the thread's control block: a
    /// pointer to a `ThreadData` that stays valid while the thread lives.
    fn thread_data(&self) -> *mut super::ThreadData;
    /// The calling process's libc state (created by the kernel with
    /// `Process::new`, kept alive while any of its threads runs).
    fn process(&self) -> &super::Process;

    /// Writes a line to the kernel console (for `__stack_chk_fail`-style
    /// fatal messages that must be seen even if stderr is lost).
    fn console(&self, line: &[u8]);
}

static SYS: spin::Once<&'static dyn Sys> = spin::Once::new();

/// Registers the kernel's services (once, at boot).
pub fn set_sys(s: &'static dyn Sys) {
    SYS.call_once(|| s);
}

/// The registered services. Every libc entry point is called by a program,
/// which can only run after the kernel registered them.
pub(crate) fn sys() -> &'static dyn Sys {
    match SYS.get() {
        Some(s) => *s,
        None => unreachable_no_sys(),
    }
}

fn unreachable_no_sys() -> ! {
    // No kernel services: nothing sensible can happen. (A host test that
    // forgets set_sys ends here.)
    panic!("guest-libc: Sys not registered")
}
