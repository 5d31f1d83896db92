//! A running program (a process): its image, descriptors, libc state,
//! heap pages and threads, and how it ends.
//!
//! # Lifetime
//! A process is an `Arc<Proc>`. The runner holds one reference, and every
//! thread of the process holds one in its scheduler context
//! (`sched::ProgCtx::owner`, through [`ProgThread`]), released when the
//! scheduler reaps the thread. The image, heap pages and descriptors go
//! when the last reference does, so nothing a running thread can reach is
//! freed under it.
//!
//! # Ending
//! The process ends when its last thread has ended. `exit` (from any
//! thread) records the status, marks the process exiting and interrupts
//! every other thread; each of them ends the next time it enters the
//! kernel (a blocked one is woken with `EINTR` first). A fault in program
//! code (or in the libc on its behalf) records the signal and does the
//! same. A thread that never calls into the kernel again cannot be stopped
//! (threads are not preempted).
//!
//! # Concurrency
//! `state` (`ThreadLock`, class `programs.proc`) protects the thread list
//! and the exit status; `heap` (class `programs.heap`) the page blocks.
//! Neither is held across a wait, nor together.
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kcore::budget::Charge;

use super::image::Image;
use super::start::Tcb;
use crate::fs::devices::Output;
use crate::mm::budget::PROGRAMS;
use crate::mm::PAGE;
use crate::sched::{self, ProgCtx, ThreadId, WaitQueue};
use crate::sync::ThreadLock;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(status)` (the low 8 bits are what a shell shows).
    Exited(i32),
    /// Killed by a fault, as Linux would by this signal.
    Signaled(Signal),
}

impl ExitStatus {
    /// The shell's `$?`: the low 8 bits of the exit status, or 128 + the
    /// signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(s) => s & 0xff,
            ExitStatus::Signaled(sig) => 128 + sig as i32,
        }
    }
}

/// The signals a fault maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Signal {
    /// Illegal instruction (`#UD`).
    Sigill = 4,
    /// Breakpoint (`int3`).
    Sigtrap = 5,
    /// Bus error (alignment check).
    Sigbus = 7,
    /// Arithmetic error (`#DE`, x87/SIMD exceptions).
    Sigfpe = 8,
    /// Killed by whoever ran it (a timeout).
    Sigkill = 9,
    /// Segmentation fault (page fault, general protection).
    Sigsegv = 11,
}

impl Signal {
    /// The name Linux shells print.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Sigill => "Illegal instruction",
            Signal::Sigtrap => "Trace/breakpoint trap",
            Signal::Sigbus => "Bus error",
            Signal::Sigfpe => "Floating point exception",
            Signal::Sigkill => "Killed",
            Signal::Sigsegv => "Segmentation fault",
        }
    }
}

struct State {
    threads: Vec<ThreadId>,
    status: Option<ExitStatus>,
}

/// What the main thread's initial stack refers to.
pub struct StartBlock {
    /// 16 random bytes (`AT_RANDOM`).
    pub random: Box<[u8; 16]>,
    /// The initial stack's words (copied onto the stack at entry).
    pub words: Vec<u64>,
    /// The argument and environment strings.
    pub strings: Option<super::start::Strings>,
}

/// A block of heap pages given to the libc's allocator.
struct PageBlock {
    ptr: *mut u8,
    layout: Layout,
    _charge: Charge,
}

// SAFETY: plain memory owned by the process.
unsafe impl Send for PageBlock {}

impl Drop for PageBlock {
    fn drop(&mut self) {
        // SAFETY: allocated by `Proc::map_pages` with this layout.
        unsafe { alloc::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// A process.
pub struct Proc {
    /// Process number (1, 2, ... in start order).
    pub id: u32,
    /// `argv[0]` as given.
    pub name: String,
    /// The descriptor table.
    pub files: crate::fs::Program,
    /// The libc's process state.
    pub libc: guest_libc::abi::Process,
    /// The image (set once loaded).
    pub image: spin::Once<Image>,
    /// Stack-protector canary and pointer guard of every thread.
    pub canary: u64,
    pub pointer_guard: u64,
    /// Standard output and error.
    pub stdout: Arc<Output>,
    pub stderr: Arc<Output>,
    /// Stack size of new threads.
    pub stack_size: usize,
    /// What the initial stack points to, kept while the process lives.
    pub start_block: ThreadLock<StartBlock>,
    state: ThreadLock<State>,
    heap: ThreadLock<Vec<PageBlock>>,
    /// The process's own bookkeeping (this record, the libc state, the
    /// argument strings), charged to the programs budget.
    _charge: Charge,
    exiting: AtomicBool,
    /// Woken when a thread of the process ends.
    pub thread_ended: WaitQueue,
    next_thread: AtomicU32,
}

/// What a program thread's scheduler context owns: its process and its
/// control block.
pub struct ProgThread {
    pub proc: Arc<Proc>,
    /// The thread's control block (its %fs base points here).
    _tcb: Box<Tcb>,
    _charge: Charge,
}

// SAFETY: the control block (and the libc's per-thread data in it) is
// used only by the thread it belongs to — by its code through %fs and by
// the libc through `Sys::thread_data` on that thread. Other threads reach
// a ProgThread only to read `proc`, which is Sync.
unsafe impl Sync for ProgThread {}
// SAFETY: as above; the block moves between threads only when the thread
// has ended (the owner is taken out and dropped by the thread itself).
unsafe impl Send for ProgThread {}

impl Proc {
    /// A process with no image and no threads yet.
    pub fn new(
        id: u32,
        name: String,
        libc: guest_libc::abi::Process,
        stdout: Arc<Output>,
        stderr: Arc<Output>,
        stack_size: usize,
        charge: Charge,
    ) -> Proc {
        Proc {
            id,
            name,
            files: crate::fs::Program::new(),
            libc,
            image: spin::Once::new(),
            // The first byte zero, as glibc: a string overflow cannot
            // reproduce the canary.
            canary: super::start::random_u64() & !0xff,
            pointer_guard: super::start::random_u64(),
            stdout,
            stderr,
            stack_size,
            start_block: ThreadLock::new(
                "programs.start",
                StartBlock { random: Box::new([0; 16]), words: Vec::new(), strings: None },
            ),
            state: ThreadLock::new("programs.proc", State { threads: Vec::new(), status: None }),
            heap: ThreadLock::new("programs.heap", Vec::new()),
            _charge: charge,
            exiting: AtomicBool::new(false),
            thread_ended: WaitQueue::new(),
            next_thread: AtomicU32::new(0),
        }
    }

    /// Whether the process is ending (its threads end when they next enter
    /// the kernel).
    pub fn is_exiting(&self) -> bool {
        self.exiting.load(Ordering::SeqCst)
    }

    /// The exit status, once recorded.
    pub fn status(&self) -> Option<ExitStatus> {
        self.state.lock().status
    }

    /// Whether every thread has ended.
    pub fn finished(&self) -> bool {
        let s = self.state.lock();
        s.threads.is_empty() && s.status.is_some()
    }

    /// The threads still running.
    pub fn threads(&self) -> Vec<ThreadId> {
        self.state.lock().threads.clone()
    }

    /// Starts ending the process with `status` (the first status recorded
    /// wins) and interrupts every thread but the caller.
    pub fn begin_exit(&self, status: ExitStatus) {
        let others: Vec<ThreadId> = {
            let mut s = self.state.lock();
            if s.status.is_none() {
                s.status = Some(status);
            }
            let me = sched::current();
            s.threads.iter().copied().filter(|t| *t != me).collect()
        };
        self.exiting.store(true, Ordering::SeqCst);
        for t in others {
            sched::interrupt(t);
        }
    }

    /// `n` zeroed, page-aligned pages for the libc's allocator, charged to
    /// the programs budget.
    pub fn map_pages(&self, n: usize) -> Option<*mut u8> {
        let bytes = n.checked_mul(PAGE)?;
        let charge = PROGRAMS.try_charge(bytes).ok()?;
        let layout = Layout::from_size_align(bytes.max(PAGE), PAGE).ok()?;
        let mut heap = self.heap.lock();
        heap.try_reserve(1).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return None;
        }
        heap.push(PageBlock { ptr, layout, _charge: charge });
        Some(ptr)
    }
}

/// Bookkeeping charged per process beyond its argument strings (the
/// process record, the libc's state and stdio buffers).
pub const PROC_OVERHEAD: usize = 16 << 10;

/// Bookkeeping charged per program thread beyond its stack (the control
/// block).
const THREAD_CHARGE: usize = core::mem::size_of::<Tcb>();

/// Starts a thread of `proc` running `body` (kernel code that enters the
/// program and never returns). The thread runs with the process's control
/// block as its `%fs` base and fresh FPU state.
pub fn spawn_thread(proc: &Arc<Proc>, body: Box<dyn FnOnce() + Send>) -> Result<ThreadId, vfs::Errno> {
    let charge = PROGRAMS.try_charge(THREAD_CHARGE).map_err(|_| vfs::Errno::EAGAIN)?;
    let tcb = Tcb::new(proc.canary, proc.pointer_guard);
    let fs_base = tcb.thread_pointer();
    let data = &tcb.data as *const _ as usize;
    let owner: Arc<dyn core::any::Any + Send + Sync> =
        Arc::new(ProgThread { proc: proc.clone(), _tcb: tcb, _charge: charge });
    let ctx = Box::new(ProgCtx { fs_base, fpu: crate::sched::FxArea::initial(), owner: Some(owner), data });
    let n = proc.next_thread.fetch_add(1, Ordering::Relaxed);
    let name = if n == 0 { alloc::format!("prog{}", proc.id) } else { alloc::format!("prog{}.{}", proc.id, n) };
    // Registered before it can run (it runs only when this thread blocks).
    let tid = sched::spawn_program(&name, proc.stack_size, ctx, body).map_err(|_| vfs::Errno::EAGAIN)?;
    proc.state.lock().threads.push(tid);
    Ok(tid)
}

/// The calling program thread's context, if it is one.
pub fn current() -> Option<Arc<ProgThread>> {
    let owner = sched::with_prog(|c| c.owner.clone())??;
    owner.downcast::<ProgThread>().ok()
}

/// Ends the calling program thread: removes it from its process, wakes
/// whoever waits for it, and switches away for good. The caller owns
/// nothing that needs dropping (its frames are abandoned). The thread's
/// control block and its reference to the process are dropped here, in
/// thread context (the last reference may close descriptors, which can
/// wait), not by the scheduler.
pub fn end_current_thread() -> ! {
    let owner = sched::take_prog_owner();
    if let Some(pt) = owner.and_then(|o| o.downcast::<ProgThread>().ok()) {
        let me = sched::current();
        let proc = pt.proc.clone();
        drop(pt);
        {
            let mut s = proc.state.lock();
            s.threads.retain(|t| *t != me);
            if s.threads.is_empty() && s.status.is_none() {
                // The last thread returned without exit(): status 0.
                s.status = Some(ExitStatus::Exited(0));
            }
        }
        proc.thread_ended.wake_all();
        drop(proc);
    }
    sched::exit_current()
}
