//! Cooperative threads on one vCPU: spawn, join, yield, sleep, block and
//! wake, wait queues, and the idle loop that blocks the vCPU in Xen.
//!
//! A thread runs until it yields, blocks or exits; event upcalls interrupt
//! it briefly but never switch threads (handlers only make threads
//! runnable). When nothing is runnable the scheduler sleeps the vCPU in
//! Xen (`evtchn::wait`: `SCHEDOP_poll` on the handled ports, events masked
//! from the check to the wake-up, handlers run inline), so no wake-up is
//! lost and the guest uses no CPU while it waits.
//!
//! Stacks are slots of the stack region with an unmapped guard page below
//! (see `mm::stack_region`): an overflow faults (crash report) instead of
//! corrupting the neighbour. They are charged to the stacks budget, so
//! spawning past it fails with [`SpawnError`] instead of exhausting memory.
//! An exited thread's stack is freed by the next thread that runs the
//! scheduler (a thread cannot free the stack it is running on).
//!
//! # Concurrency
//! `SCHED` is an `IrqLock`: wake() is called from event handlers, and it
//! never allocates there (the run queue's capacity is reserved at spawn for
//! every thread). It is never held across `switch_context` (raw pointers to
//! the two saved-rsp slots are taken under it; the threads are boxed, so
//! they do not move, and a thread is only freed after it has switched away
//! for good). Lock order: `WaitQueue` lists and `timer::TIMERS` are
//! released before `SCHED` is taken; nothing is taken while `SCHED` is
//! held. No spin lock may be held when a thread blocks or yields
//! (`sync::assert_may_block`).
mod prog;
mod sleep_mutex;
mod stack;
pub mod timer;
mod wait_queue;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::arch::irq;
use crate::sync::IrqLock;
#[cfg(feature = "programs")]
pub use prog::FxArea;
pub use prog::ProgCtx;
pub use sleep_mutex::SleepMutex;
pub use stack::{Stack, THREAD_OVERHEAD};
pub use timer::sleep_ns;
pub use wait_queue::WaitQueue;

/// Identifies a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub u32);

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Runnable,
    Blocked,
    Exited,
}

struct Thread {
    id: ThreadId,
    name: String,
    state: State,
    /// Saved stack pointer while not running.
    rsp: u64,
    /// Owned for the thread's lifetime; freed (guard page remapped) when the record is reaped.
    #[allow(dead_code)]
    stack: Option<Stack>,
    entry: Option<Box<dyn FnOnce() + Send>>,
    /// Woken by wake() while still running (before it blocked): do not block.
    wake_pending: bool,
    joiners: Vec<ThreadId>,
    switches: u64,
    /// A program thread's context (FPU state, %fs base, its program).
    prog: Option<Box<ProgCtx>>,
    /// Interrupted ([`interrupt`]): its interruptible waits end with EINTR.
    #[cfg_attr(not(feature = "programs"), allow(dead_code))]
    interrupted: bool,
}

struct Sched {
    threads: BTreeMap<ThreadId, Box<Thread>>,
    run_queue: VecDeque<ThreadId>,
    current: ThreadId,
    next_id: u32,
    /// Exited threads whose stacks can be freed once another thread runs.
    zombies: Vec<ThreadId>,
}

static SCHED: IrqLock<Option<Sched>> = IrqLock::new("sched", None);

/// The running thread's id, the same as `Sched::current`: written only by
/// `init` and `switch_to` (with `SCHED` held, events masked), read without
/// the lock by [`current`], which every blocking path asks several times
/// per request. One vCPU, so a relaxed load sees the last switch.
static CURRENT: AtomicU32 = AtomicU32::new(0);

/// Why a thread could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// The stacks budget, the stack region or memory is exhausted.
    NoMemory,
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("no memory for a thread stack")
    }
}
/// Thread switches since boot.
pub static SWITCHES: AtomicU64 = AtomicU64::new(0);
/// Times the idle loop blocked the vCPU in Xen.
pub static IDLE_BLOCKS: AtomicU64 = AtomicU64::new(0);

extern "C" {
    fn switch_context(save: *mut u64, next_rsp: u64);
    fn thread_trampoline();
}

/// Turns the boot context into thread 0 ("main").
pub fn init() {
    let main = Box::new(Thread {
        id: ThreadId(0),
        name: String::from("main"),
        state: State::Running,
        rsp: 0,
        stack: None,
        entry: None,
        wake_pending: false,
        joiners: Vec::new(),
        switches: 0,
        prog: None,
        interrupted: false,
    });
    let mut threads = BTreeMap::new();
    threads.insert(ThreadId(0), main);
    CURRENT.store(0, Ordering::Relaxed);
    *SCHED.lock() =
        Some(Sched { threads, run_queue: VecDeque::new(), current: ThreadId(0), next_id: 1, zombies: Vec::new() });
}

fn with<R>(f: impl FnOnce(&mut Sched) -> R) -> R {
    let mut g = SCHED.lock();
    f(g.as_mut().expect("scheduler initialised"))
}

/// The calling thread.
pub fn current() -> ThreadId {
    ThreadId(CURRENT.load(Ordering::Relaxed))
}

/// Default stack size of a spawned thread.
pub const DEFAULT_STACK: usize = 32 * 1024;

/// Starts a thread running `f` with a stack of `stack_size` bytes (rounded
/// up to pages; an unmapped guard page lies below it).
pub fn spawn_with_stack(
    name: &str,
    stack_size: usize,
    f: impl FnOnce() + Send + 'static,
) -> Result<ThreadId, SpawnError> {
    spawn_inner(name, stack_size, None, Box::new(f))
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Starts a program thread: like [`spawn_with_stack`], but it runs with
/// its own FPU/SSE state and %fs base (`ctx`), and starts with events
/// masked (program code may use the red zone, which an event frame would
/// overwrite: events are delivered when it calls into the kernel).
pub fn spawn_program(
    name: &str,
    stack_size: usize,
    ctx: Box<ProgCtx>,
    f: Box<dyn FnOnce() + Send>,
) -> Result<ThreadId, SpawnError> {
    spawn_inner(name, stack_size, Some(ctx), f)
}

fn spawn_inner(
    name: &str,
    stack_size: usize,
    prog: Option<Box<ProgCtx>>,
    entry: Box<dyn FnOnce() + Send>,
) -> Result<ThreadId, SpawnError> {
    let stack = Stack::new(stack_size).ok_or(SpawnError::NoMemory)?;
    let mut tname = String::new();
    tname.try_reserve_exact(name.len()).map_err(|_| SpawnError::NoMemory)?;
    tname.push_str(name);
    with(|s| {
        // Room in the run queue for every thread, so that wake() (called
        // from event handlers) never allocates.
        s.run_queue.try_reserve(s.threads.len() + 1).map_err(|_| SpawnError::NoMemory)?;
        let id = ThreadId(s.next_id);
        s.next_id += 1;
        // Initial frame popped by switch_context: r15, r14, r13, r12, rbx,
        // rbp, then the return address (thread_trampoline). r12 carries the
        // thread id to thread_start.
        let top = stack.top();
        let frame: [u64; 7] = [0, 0, 0, id.0 as u64, 0, 0, thread_trampoline as *const () as u64];
        let rsp = top - 8 * frame.len() as u64;
        // SAFETY: [rsp, top) lies in the new stack, which nothing else uses yet.
        unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), rsp as *mut u64, frame.len()) };
        s.threads.insert(
            id,
            Box::new(Thread {
                id,
                name: tname,
                state: State::Runnable,
                rsp,
                stack: Some(stack),
                entry: Some(entry),
                wake_pending: false,
                joiners: Vec::new(),
                switches: 0,
                prog,
                interrupted: false,
            }),
        );
        s.run_queue.push_back(id);
        Ok(id)
    })
}

/// Starts a thread with the default stack size.
pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<ThreadId, SpawnError> {
    spawn_with_stack(name, DEFAULT_STACK, f)
}

/// First Rust code of a new thread (called by `thread_trampoline`).
#[no_mangle]
extern "C" fn thread_start(id: u64) -> ! {
    let (entry, is_prog) = with(|s| match s.threads.get_mut(&ThreadId(id as u32)) {
        Some(t) => (t.entry.take(), t.prog.is_some()),
        None => (None, false),
    });
    // A kernel thread starts with events enabled (it was switched to from a
    // context that had them masked inside the scheduler); a program thread
    // keeps them masked (see `spawn_program`).
    if !is_prog {
        irq::enable();
    }
    if let Some(f) = entry {
        f();
    }
    exit_current()
}

/// Ends the calling thread.
pub fn exit_current() -> ! {
    let _ = irq::disable();
    let joiners = with(|s| {
        let cur = s.current;
        let t = s.threads.get_mut(&cur).expect("current thread exists");
        t.state = State::Exited;
        s.zombies.push(cur);
        core::mem::take(&mut t.joiners)
    });
    for j in joiners {
        wake(j);
    }
    schedule();
    unreachable!("an exited thread was scheduled again");
}

/// Makes `tid` runnable (from any context, including event handlers). A
/// wake for a thread that is still running is remembered, so its next
/// block returns at once.
pub fn wake(tid: ThreadId) {
    with(|s| {
        if let Some(t) = s.threads.get_mut(&tid) {
            match t.state {
                State::Blocked => {
                    t.state = State::Runnable;
                    s.run_queue.push_back(tid);
                }
                State::Running => t.wake_pending = true,
                State::Runnable | State::Exited => {}
            }
        }
    });
}

/// Blocks the calling thread until [`wake`]. Must be called with events
/// masked, right after the caller registered itself where a waker will
/// find it (wait queue, timer); returns with events still masked.
#[track_caller]
pub(crate) fn block_masked() {
    crate::sync::assert_may_block("blocking");
    let block = with(|s| {
        let cur = s.current;
        let t = s.threads.get_mut(&cur).expect("current thread exists");
        if t.wake_pending {
            t.wake_pending = false;
            false
        } else {
            t.state = State::Blocked;
            true
        }
    });
    if block {
        schedule();
    }
}

/// Gives the CPU to the next runnable thread, if any.
///
/// # Yields
#[track_caller]
pub fn yield_now() {
    crate::sync::assert_may_block("yielding");
    let was = irq::disable();
    with(|s| {
        let cur = s.current;
        if !s.run_queue.is_empty() {
            if let Some(t) = s.threads.get_mut(&cur) {
                t.state = State::Runnable;
            }
            s.run_queue.push_back(cur);
        }
    });
    schedule();
    irq::restore(was);
}

/// Switches to the next runnable thread; blocks the vCPU in Xen while there
/// is none. Called with events masked; returns (in the calling thread, once
/// it runs again) with events masked.
fn schedule() {
    loop {
        let next = with(|s| {
            let cur = s.current;
            let cur_state = s.threads.get(&cur).map(|t| t.state);
            if cur_state == Some(State::Running) {
                // Nobody to switch to, or the current thread stays runnable.
                return Some(None);
            }
            s.run_queue.pop_front().map(Some)
        });
        if next.is_some() {
            // Lazy event-channel signals go out before this or another
            // thread runs on; only a vCPU about to sleep batches them with
            // its sleep (`idle`).
            crate::xen::evtchn::flush_lazy();
        }
        match next {
            Some(None) => return,
            Some(Some(id)) => {
                if id == current() {
                    with(|s| {
                        if let Some(t) = s.threads.get_mut(&id) {
                            t.state = State::Running;
                        }
                    });
                    return;
                }
                switch_to(id);
                reap();
                return;
            }
            None => idle(),
        }
    }
}

/// Sleeps the vCPU until an event is pending and runs its handlers (which
/// may wake threads). Called with events masked, returns with them masked:
/// `evtchn::wait` polls the handled ports without unmasking, so an event
/// that arrived after the caller's check is seen, not lost.
fn idle() {
    IDLE_BLOCKS.fetch_add(1, Ordering::Relaxed);
    crate::xen::evtchn::wait();
}

fn switch_to(next: ThreadId) {
    let (save, rsp, out_ctx, in_ctx) = with(|s| {
        let cur = s.current;
        s.current = next;
        CURRENT.store(next.0, Ordering::Relaxed);
        let n = s.threads.get_mut(&next).expect("runnable thread exists");
        n.state = State::Running;
        n.switches += 1;
        let rsp = n.rsp;
        let in_ctx = n.prog.as_mut().map(|p| &mut **p as *mut ProgCtx);
        let c = s.threads.get_mut(&cur).expect("current thread exists");
        let out_ctx = c.prog.as_mut().map(|p| &mut **p as *mut ProgCtx);
        (&mut c.rsp as *mut u64, rsp, out_ctx, in_ctx)
    });
    SWITCHES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: both contexts are boxed in thread records that stay alive
    // across this switch (a thread is reaped only after it switched away
    // for good); events are masked and no lock is held.
    unsafe { prog::switch_contexts(out_ctx, in_ctx) };
    // SAFETY: `save` points into the boxed Thread of the current thread,
    // which is not freed while it is alive or until another thread reaped
    // it after this switch; `rsp` is the saved stack pointer of a thread
    // that is not running (its frame was built by spawn or by this very
    // function). Events are masked and no lock is held.
    unsafe { switch_context(save, rsp) };
}

/// Frees the stacks of exited threads (never the current one).
fn reap() {
    let dead: Vec<Box<Thread>> = with(|s| {
        let cur = s.current;
        let ids: Vec<ThreadId> = s.zombies.iter().copied().filter(|z| *z != cur).collect();
        s.zombies.retain(|z| *z == cur);
        ids.into_iter().filter_map(|id| s.threads.remove(&id)).collect()
    });
    drop(dead);
}

/// Waits until thread `tid` has exited.
///
/// # Yields
pub fn join(tid: ThreadId) {
    loop {
        let was = irq::disable();
        let done = with(|s| match s.threads.get_mut(&tid) {
            None => true,
            Some(t) if t.state == State::Exited => true,
            Some(t) => {
                let me = s.current;
                if !t.joiners.contains(&me) {
                    t.joiners.push(me);
                }
                false
            }
        });
        if done {
            irq::restore(was);
            return;
        }
        block_masked();
        irq::restore(was);
    }
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Marks thread `tid` interrupted and wakes it: its interruptible waits
/// (program system calls) end with EINTR until it clears the mark.
pub fn interrupt(tid: ThreadId) {
    with(|s| {
        if let Some(t) = s.threads.get_mut(&tid) {
            t.interrupted = true;
        }
    });
    wake(tid);
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Whether the calling thread is interrupted.
pub fn interrupted() -> bool {
    with(|s| s.threads.get(&s.current).is_some_and(|t| t.interrupted))
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Clears the calling thread's interrupt mark.
pub fn clear_interrupt() {
    with(|s| {
        let cur = s.current;
        if let Some(t) = s.threads.get_mut(&cur) {
            t.interrupted = false;
        }
    });
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Runs `f` on the calling thread's program context, if it is a program
/// thread.
pub fn with_prog<R>(f: impl FnOnce(&ProgCtx) -> R) -> Option<R> {
    let p = with(|s| s.threads.get(&s.current).and_then(|t| t.prog.as_ref().map(|p| &**p as *const ProgCtx)))?;
    // SAFETY: the context is boxed in the current thread's record, which
    // lives at least as long as the current thread runs; it is only
    // mutated by the scheduler at switch time (its FPU area), never while
    // this thread runs.
    Some(f(unsafe { &*p }))
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Takes the calling program thread's owner out of its context (see
/// [`ProgCtx::owner`]).
pub fn take_prog_owner() -> Option<alloc::sync::Arc<dyn core::any::Any + Send + Sync>> {
    let p = with(|s| s.threads.get_mut(&s.current).and_then(|t| t.prog.as_mut().map(|p| &mut **p as *mut ProgCtx)))?;
    // SAFETY: as in `with_prog`: the context belongs to the running thread
    // and the scheduler touches only its FPU area, at switch time.
    unsafe { (*p).owner.take() }
}

/// (id, name, state, switches) of every thread, for diagnostics.
pub fn threads() -> Vec<(ThreadId, String, State, u64)> {
    with(|s| s.threads.values().map(|t| (t.id, t.name.clone(), t.state, t.switches)).collect())
}
