//! Threads: [`ThreadData`], pthreads over [`Sys`](super::sys::Sys), deferred
//! cancellation with glibc's cleanup buffers, and `setjmp`/`longjmp`.
//!
//! # Threads
//!
//! `pthread_t` is the address of a reference-counted record (start routine,
//! argument, result, cancel request, kernel thread id). `pthread_create`
//! starts the thread with [`Sys::spawn`](super::sys::Sys::spawn) on a stack
//! of the attribute's size, at least [`MIN_STACK`] (default
//! [`DEFAULT_STACK`]); the new thread records itself in its [`ThreadData`]
//! and calls the start routine. `pthread_join` waits with
//! [`Sys::join`](super::sys::Sys::join) and returns the result.
//!
//! # Cancellation
//!
//! Deferred only (an asynchronous cancel type is accepted and behaves as
//! deferred). `pthread_cancel` records the request in the record and calls
//! [`Sys::interrupt`](super::sys::Sys::interrupt), which makes a blocking
//! call of the target end with `EINTR`. Cancellation points (`read`,
//! `write`, `open`, `close`, `connect`, `poll`, `pthread_join`,
//! `pthread_cond_wait`, `pthread_testcancel`) check the request when they
//! start and when their blocking call ends with `EINTR`; other waits (mutex
//! locks) clear the interrupt and go on waiting.
//!
//! Acting on a cancellation (or `pthread_exit`) disables further
//! cancellation, clears the interrupt and unwinds through the cleanup
//! buffers the way glibc 2.34+ does for C code: `pthread_cleanup_push` calls
//! `__sigsetjmp(buf, 0)` and `__pthread_register_cancel(buf)` (which pushes
//! `buf` on the thread's chain, the link kept in the buffer's private area
//! at offset 72, as glibc does); unwinding `longjmp`s to the newest buffer,
//! whose code runs the handler and calls `__pthread_unwind_next(buf)`,
//! which continues with the previous buffer; after the oldest one the
//! thread ends with `PTHREAD_CANCELED` (or the `pthread_exit` value). In
//! `pthread_cond_wait` the mutex is re-acquired before the handlers run.
//!
//! The `longjmp` leaves Rust frames of the libc (the cancellation point's
//! own function) without running destructors: every cancellation point
//! drops everything it owns (locks, vectors) before it acts on a
//! cancellation, so the frames skipped hold only plain values.
//!
//! # `setjmp`/`longjmp`
//!
//! In assembly (they return twice). The jump buffer holds `rbx`, `rbp`,
//! `r12`-`r15`, the stack pointer after the return and the return address
//! (64 bytes, inside glibc's `__jmp_buf`); the signal mask is not saved
//! (no signal is ever delivered). Pointers are not mangled.
use alloc::sync::Arc;
use core::cell::{Cell, UnsafeCell};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::errno::{EAGAIN, EINTR, EINVAL};

use super::lock::{futex_lock, futex_lock_contended, futex_trylock, futex_unlock};
use super::sys::sys;

/// Stack size of a thread whose attribute names none.
pub const DEFAULT_STACK: usize = 256 * 1024;
/// The smallest stack a thread gets, whatever its attribute says.
pub const MIN_STACK: usize = 64 * 1024;
/// glibc's `PTHREAD_STACK_MIN` on x86_64 (`sysconf(_SC_THREAD_STACK_MIN)`).
pub const PTHREAD_STACK_MIN: usize = 16384;
/// `PTHREAD_CANCELED`.
pub const PTHREAD_CANCELED: usize = usize::MAX;

const ESRCH: c_int = 3;
const EBUSY: c_int = 16;
const EDEADLK: c_int = 35;
const ETIMEDOUT: c_int = 110;

/// The libc's per-thread data. The kernel creates one per program thread
/// ([`ThreadData::new`]), keeps it alive as long as the thread and returns
/// it from [`Sys::thread_data`](super::sys::Sys::thread_data).
pub struct ThreadData {
    errno: UnsafeCell<c_int>,
    /// `PTHREAD_CANCEL_DISABLE` is in effect (also set while unwinding).
    pub(crate) cancel_disabled: Cell<bool>,
    /// `PTHREAD_CANCEL_ASYNCHRONOUS` was asked for (acts as deferred).
    pub(crate) cancel_async: Cell<bool>,
    /// The newest registered cleanup buffer (`__pthread_unwind_buf_t *`).
    pub(crate) cleanup: Cell<usize>,
    /// This thread's pthread record (`Arc::into_raw`), 0 if none yet.
    pub(crate) pthread: Cell<usize>,
    /// The signal mask (first 64 bits).
    pub(crate) sigmask: Cell<u64>,
    /// The value the thread ends with once the unwinding is over.
    pub(crate) exit_value: Cell<usize>,
}

impl Default for ThreadData {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ThreadData {
    /// Releases the thread's reference to its pthread record if the thread
    /// did not end through the libc (killed by `exit` in another thread).
    fn drop(&mut self) {
        let p = self.pthread.replace(0);
        if p != 0 {
            // SAFETY: `pthread` held one strong reference (from into_raw).
            drop(unsafe { Arc::from_raw(p as *const PThread) });
        }
    }
}

impl ThreadData {
    /// The data of a new thread: errno 0, cancellation enabled and
    /// deferred, no cleanup buffers, empty signal mask.
    pub const fn new() -> Self {
        ThreadData {
            errno: UnsafeCell::new(0),
            cancel_disabled: Cell::new(false),
            cancel_async: Cell::new(false),
            cleanup: Cell::new(0),
            pthread: Cell::new(0),
            sigmask: Cell::new(0),
            exit_value: Cell::new(0),
        }
    }

    /// The thread's `errno`.
    pub fn errno(&self) -> i32 {
        // SAFETY: errno is only accessed by its own thread.
        unsafe { *self.errno.get() }
    }

    /// `__errno_location()`.
    pub(crate) fn errno_ptr(&self) -> *mut c_int {
        self.errno.get()
    }

    pub(crate) fn set_errno(&self, e: c_int) {
        // SAFETY: errno is only accessed by its own thread.
        unsafe { *self.errno.get() = e }
    }
}

/// The calling thread's data.
pub(crate) fn td() -> &'static ThreadData {
    // SAFETY: Sys::thread_data's contract: valid while the calling thread
    // lives; the reference is only used by this thread during a libc call.
    unsafe { &*sys().thread_data() }
}

/// A thread's record; `pthread_t` is its address.
pub(crate) struct PThread {
    tid: AtomicU64,
    cancel_requested: AtomicBool,
    detached: AtomicBool,
    result: AtomicUsize,
    start: usize,
    arg: usize,
}

fn record(td: &ThreadData) -> Option<&PThread> {
    let p = td.pthread.get();
    if p == 0 {
        None
    } else {
        // SAFETY: td.pthread holds a strong reference to the record.
        Some(unsafe { &*(p as *const PThread) })
    }
}

/// A cancellation request is pending and cancellation is enabled.
fn cancel_pending(td: &ThreadData) -> bool {
    !td.cancel_disabled.get() && record(td).is_some_and(|r| r.cancel_requested.load(Ordering::SeqCst))
}

/// What a cancellation point does after its blocking call ended with EINTR.
pub(crate) enum Intr {
    /// Act on the cancellation (after dropping everything owned).
    Cancel,
    /// The interrupt was for a cancellation that is disabled: call again.
    Retry,
    /// Not ours: return `EINTR` to the caller.
    Surface,
}

/// Classifies an `EINTR` of a blocking call (see [`Intr`]).
pub(crate) fn on_eintr() -> Intr {
    let td = td();
    let requested = record(td).is_some_and(|r| r.cancel_requested.load(Ordering::SeqCst));
    if requested && !td.cancel_disabled.get() {
        Intr::Cancel
    } else {
        sys().clear_interrupt();
        if requested {
            Intr::Retry
        } else {
            Intr::Surface
        }
    }
}

/// The check at the start of a cancellation point. The caller must own
/// nothing with a destructor when calling it.
pub(crate) fn testcancel() {
    if cancel_pending(td()) {
        act_on_cancel();
    }
}

/// Acts on a pending cancellation: unwinds with `PTHREAD_CANCELED`.
pub(crate) fn act_on_cancel() -> ! {
    unwind(PTHREAD_CANCELED)
}

/// Runs the cleanup buffers from the newest, then ends the thread with
/// `value`.
fn unwind(value: usize) -> ! {
    let td = td();
    td.exit_value.set(value);
    td.cancel_disabled.set(true);
    sys().clear_interrupt();
    let head = td.cleanup.get();
    if head != 0 {
        // SAFETY: head is a registered cleanup buffer of a C frame that is
        // still live (it is popped when the frame leaves the push/pop
        // block); it holds the context `__sigsetjmp` saved. Our own frames
        // between here and there own nothing with a destructor.
        unsafe { guest_libc_abi_longjmp(head as *const u8, 1) }
    }
    end_thread(value)
}

/// Stores the result, drops the thread's reference and ends the thread.
fn end_thread(value: usize) -> ! {
    release_record(value);
    sys().exit_thread()
}

fn release_record(value: usize) {
    let td = td();
    let p = td.pthread.replace(0);
    if p != 0 {
        // SAFETY: td.pthread held one strong reference (from into_raw).
        let rec = unsafe { Arc::from_raw(p as *const PThread) };
        rec.result.store(value, Ordering::SeqCst);
        drop(rec);
    }
}

/// Offset of glibc's `priv.data.prev` in `__pthread_unwind_buf_t`.
const UNWIND_PREV: usize = 72;

/// `__pthread_register_cancel(buf)`.
pub(crate) unsafe extern "C" fn pthread_register_cancel(buf: *mut u8) {
    let td = td();
    // SAFETY: `buf` is a `__pthread_unwind_buf_t` (104 bytes) of the caller.
    unsafe { (buf.add(UNWIND_PREV) as *mut usize).write_unaligned(td.cleanup.get()) };
    td.cleanup.set(buf as usize);
}

/// `__pthread_unregister_cancel(buf)`.
pub(crate) unsafe extern "C" fn pthread_unregister_cancel(buf: *mut u8) {
    // SAFETY: `buf` was registered by __pthread_register_cancel.
    let prev = unsafe { (buf.add(UNWIND_PREV) as *const usize).read_unaligned() };
    td().cleanup.set(prev);
}

/// `__pthread_unwind_next(buf)`: continue unwinding after `buf`'s handler.
pub(crate) unsafe extern "C" fn pthread_unwind_next(buf: *mut u8) -> ! {
    let td = td();
    // SAFETY: `buf` is the buffer whose handler just ran.
    let prev = unsafe { (buf.add(UNWIND_PREV) as *const usize).read_unaligned() };
    td.cleanup.set(prev);
    if prev != 0 {
        // SAFETY: as in unwind: an older registered buffer of a live frame.
        unsafe { guest_libc_abi_longjmp(prev as *const u8, 1) }
    }
    end_thread(td.exit_value.get())
}

/// `pthread_exit(value)`.
pub(crate) unsafe extern "C" fn pthread_exit(value: *mut c_void) -> ! {
    unwind(value as usize)
}

/// `pthread_testcancel()`.
pub(crate) extern "C" fn pthread_testcancel() {
    testcancel();
}

/// `pthread_setcancelstate(state, oldstate)`.
pub(crate) unsafe extern "C" fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int {
    if state != 0 && state != 1 {
        return EINVAL;
    }
    let td = td();
    if !old.is_null() {
        // SAFETY: `old` points to an int.
        unsafe { *old = c_int::from(td.cancel_disabled.get()) };
    }
    td.cancel_disabled.set(state == 1);
    0
}

/// `pthread_setcanceltype(type, oldtype)`.
pub(crate) unsafe extern "C" fn pthread_setcanceltype(ty: c_int, old: *mut c_int) -> c_int {
    if ty != 0 && ty != 1 {
        return EINVAL;
    }
    let td = td();
    if !old.is_null() {
        // SAFETY: `old` points to an int.
        unsafe { *old = c_int::from(td.cancel_async.get()) };
    }
    td.cancel_async.set(ty == 1);
    0
}

// ---------------------------------------------------------------------------
// Creation, joining, cancelling.

type StartRoutine = unsafe extern "C" fn(*mut c_void) -> *mut c_void;

/// Offsets in `pthread_attr_t` (56 bytes), where glibc keeps the same fields.
const ATTR_FLAGS: usize = 8;
const ATTR_STACKSIZE: usize = 32;
const ATTR_SIZE: usize = 56;
const ATTR_DETACHED: u32 = 1;

/// The function the kernel runs on a new thread.
extern "C" fn thread_entry(ctx: usize) {
    let rec = ctx as *const PThread;
    // SAFETY: ctx is the thread's own strong reference to its record.
    let (start, arg) = unsafe {
        (*rec).tid.store(sys().current_tid(), Ordering::SeqCst);
        ((*rec).start, (*rec).arg)
    };
    td().pthread.set(ctx);
    // SAFETY: `start` is the start routine pthread_create was given.
    let ret = unsafe {
        let f: StartRoutine = core::mem::transmute::<usize, StartRoutine>(start);
        f(arg as *mut c_void)
    };
    release_record(ret as usize);
}

/// `pthread_create(thread, attr, start, arg)`.
pub(crate) unsafe extern "C" fn pthread_create(
    thread: *mut usize,
    attr: *const u8,
    start: Option<StartRoutine>,
    arg: *mut c_void,
) -> c_int {
    let Some(start) = start else { return EINVAL };
    let (stack, detached) = if attr.is_null() {
        (DEFAULT_STACK, false)
    } else {
        // SAFETY: `attr` points to an initialised pthread_attr_t.
        unsafe {
            let size = (attr.add(ATTR_STACKSIZE) as *const usize).read_unaligned();
            let flags = (attr.add(ATTR_FLAGS) as *const u32).read_unaligned();
            (if size == 0 { DEFAULT_STACK } else { size }, flags & ATTR_DETACHED != 0)
        }
    };
    let rec = Arc::new(PThread {
        tid: AtomicU64::new(0),
        cancel_requested: AtomicBool::new(false),
        detached: AtomicBool::new(detached),
        result: AtomicUsize::new(0),
        start: start as usize,
        arg: arg as usize,
    });
    let handle = Arc::into_raw(rec.clone());
    let ctx = Arc::into_raw(rec) as usize;
    match sys().spawn(thread_entry, ctx, stack.max(MIN_STACK)) {
        Ok(tid) => {
            // SAFETY: `handle` is a strong reference we own.
            unsafe { (*handle).tid.store(tid, Ordering::SeqCst) };
            if detached {
                // SAFETY: the handle's reference is not given out.
                drop(unsafe { Arc::from_raw(handle) });
            }
            // SAFETY: `thread` points to a pthread_t.
            unsafe { *thread = handle as usize };
            0
        }
        Err(_) => {
            // SAFETY: both references were made above and never given out.
            unsafe {
                drop(Arc::from_raw(handle));
                drop(Arc::from_raw(ctx as *const PThread));
            }
            EAGAIN
        }
    }
}

/// `pthread_join(thread, retval)`: a cancellation point.
pub(crate) unsafe extern "C" fn pthread_join(thread: usize, retval: *mut *mut c_void) -> c_int {
    if thread == 0 {
        return ESRCH;
    }
    // SAFETY: a pthread_t is the address of a live record (its handle
    // reference is released only here or by pthread_detach).
    let rec = unsafe { &*(thread as *const PThread) };
    let tid = rec.tid.load(Ordering::SeqCst);
    if tid == sys().current_tid() {
        return EDEADLK;
    }
    testcancel();
    loop {
        match sys().join(tid) {
            Ok(()) => break,
            Err(EINTR) => match on_eintr() {
                Intr::Cancel => act_on_cancel(),
                Intr::Retry | Intr::Surface => continue,
            },
            Err(_) => return ESRCH,
        }
    }
    if !retval.is_null() {
        // SAFETY: `retval` points to a void *.
        unsafe { *retval = rec.result.load(Ordering::SeqCst) as *mut c_void };
    }
    // SAFETY: the handle's strong reference, released once.
    drop(unsafe { Arc::from_raw(thread as *const PThread) });
    0
}

/// `pthread_detach(thread)`.
pub(crate) unsafe extern "C" fn pthread_detach(thread: usize) -> c_int {
    if thread == 0 {
        return ESRCH;
    }
    // SAFETY: as in pthread_join.
    let rec = unsafe { &*(thread as *const PThread) };
    if rec.detached.swap(true, Ordering::SeqCst) {
        return EINVAL;
    }
    // SAFETY: the handle's strong reference, released once.
    drop(unsafe { Arc::from_raw(thread as *const PThread) });
    0
}

/// `pthread_cancel(thread)`.
pub(crate) unsafe extern "C" fn pthread_cancel(thread: usize) -> c_int {
    if thread == 0 {
        return ESRCH;
    }
    // SAFETY: as in pthread_join.
    let rec = unsafe { &*(thread as *const PThread) };
    rec.cancel_requested.store(true, Ordering::SeqCst);
    let tid = rec.tid.load(Ordering::SeqCst);
    if tid != sys().current_tid() {
        sys().interrupt(tid);
    }
    0
}

/// `pthread_self()`: the record of the calling thread (made on first use
/// for the main thread).
pub(crate) extern "C" fn pthread_self() -> usize {
    let td = td();
    let p = td.pthread.get();
    if p != 0 {
        return p;
    }
    let rec = Arc::new(PThread {
        tid: AtomicU64::new(sys().current_tid()),
        cancel_requested: AtomicBool::new(false),
        detached: AtomicBool::new(true),
        result: AtomicUsize::new(0),
        start: 0,
        arg: 0,
    });
    let p = Arc::into_raw(rec) as usize;
    td.pthread.set(p);
    p
}

/// `pthread_equal(a, b)`.
pub(crate) extern "C" fn pthread_equal(a: usize, b: usize) -> c_int {
    c_int::from(a == b)
}

// ---------------------------------------------------------------------------
// Attributes.

/// `pthread_attr_init(attr)`.
pub(crate) unsafe extern "C" fn pthread_attr_init(attr: *mut u8) -> c_int {
    // SAFETY: `attr` points to a pthread_attr_t.
    unsafe { core::ptr::write_bytes(attr, 0, ATTR_SIZE) };
    0
}

/// `pthread_attr_destroy(attr)`.
pub(crate) unsafe extern "C" fn pthread_attr_destroy(_attr: *mut u8) -> c_int {
    0
}

/// `pthread_attr_setstacksize(attr, size)`: `EINVAL` below
/// `PTHREAD_STACK_MIN`.
pub(crate) unsafe extern "C" fn pthread_attr_setstacksize(attr: *mut u8, size: usize) -> c_int {
    if size < PTHREAD_STACK_MIN {
        return EINVAL;
    }
    // SAFETY: `attr` points to a pthread_attr_t.
    unsafe { (attr.add(ATTR_STACKSIZE) as *mut usize).write_unaligned(size) };
    0
}

/// `pthread_attr_getstacksize(attr, size)`.
pub(crate) unsafe extern "C" fn pthread_attr_getstacksize(attr: *const u8, size: *mut usize) -> c_int {
    // SAFETY: `attr` points to a pthread_attr_t, `size` to a size_t.
    unsafe {
        let s = (attr.add(ATTR_STACKSIZE) as *const usize).read_unaligned();
        *size = if s == 0 { DEFAULT_STACK } else { s };
    }
    0
}

/// `pthread_attr_setdetachstate(attr, state)`.
pub(crate) unsafe extern "C" fn pthread_attr_setdetachstate(attr: *mut u8, state: c_int) -> c_int {
    if state != 0 && state != 1 {
        return EINVAL;
    }
    // SAFETY: `attr` points to a pthread_attr_t.
    unsafe {
        let p = attr.add(ATTR_FLAGS) as *mut u32;
        let f = p.read_unaligned();
        p.write_unaligned(if state == 1 { f | ATTR_DETACHED } else { f & !ATTR_DETACHED });
    }
    0
}

/// `pthread_attr_getdetachstate(attr, state)`.
pub(crate) unsafe extern "C" fn pthread_attr_getdetachstate(attr: *const u8, state: *mut c_int) -> c_int {
    // SAFETY: `attr` points to a pthread_attr_t, `state` to an int.
    unsafe { *state = c_int::from((attr.add(ATTR_FLAGS) as *const u32).read_unaligned() & ATTR_DETACHED != 0) };
    0
}

// ---------------------------------------------------------------------------
// Mutexes and condition variables.

/// The lock word of a `pthread_mutex_t` (its first 4 bytes, `__lock`).
///
/// # Safety
/// `m` points to a `pthread_mutex_t` (40 bytes, 8-aligned) that outlives
/// the use.
unsafe fn word<'a>(m: *mut u8) -> &'a AtomicU32 {
    // SAFETY: guaranteed by the caller; AtomicU32 has the layout of u32.
    unsafe { &*(m as *const AtomicU32) }
}

/// `pthread_mutex_init(mutex, attr)`: every mutex is a normal
/// (non-recursive) one.
pub(crate) unsafe extern "C" fn pthread_mutex_init(m: *mut u8, _attr: *const u8) -> c_int {
    // SAFETY: `m` points to a pthread_mutex_t (40 bytes).
    unsafe { core::ptr::write_bytes(m, 0, 40) };
    0
}

/// `pthread_mutex_destroy(mutex)`.
pub(crate) unsafe extern "C" fn pthread_mutex_destroy(_m: *mut u8) -> c_int {
    0
}

/// `pthread_mutex_lock(mutex)`.
pub(crate) unsafe extern "C" fn pthread_mutex_lock(m: *mut u8) -> c_int {
    // SAFETY: `m` points to a pthread_mutex_t.
    futex_lock(unsafe { word(m) });
    0
}

/// `pthread_mutex_trylock(mutex)`.
pub(crate) unsafe extern "C" fn pthread_mutex_trylock(m: *mut u8) -> c_int {
    // SAFETY: `m` points to a pthread_mutex_t.
    if futex_trylock(unsafe { word(m) }) {
        0
    } else {
        EBUSY
    }
}

/// `pthread_mutex_unlock(mutex)`.
pub(crate) unsafe extern "C" fn pthread_mutex_unlock(m: *mut u8) -> c_int {
    // SAFETY: `m` points to a pthread_mutex_t.
    futex_unlock(unsafe { word(m) });
    0
}

/// `pthread_cond_init(cond, attr)`: the first word of the 48-byte
/// `pthread_cond_t` is a sequence number bumped by every signal.
pub(crate) unsafe extern "C" fn pthread_cond_init(c: *mut u8, _attr: *const u8) -> c_int {
    // SAFETY: `c` points to a pthread_cond_t (48 bytes).
    unsafe { core::ptr::write_bytes(c, 0, 48) };
    0
}

/// `pthread_cond_destroy(cond)`.
pub(crate) unsafe extern "C" fn pthread_cond_destroy(_c: *mut u8) -> c_int {
    0
}

/// `pthread_cond_signal(cond)`.
pub(crate) unsafe extern "C" fn pthread_cond_signal(c: *mut u8) -> c_int {
    // SAFETY: `c` points to a pthread_cond_t (its first word is ours).
    let seq = unsafe { word(c) };
    seq.fetch_add(1, Ordering::SeqCst);
    sys().futex_wake(seq, 1);
    0
}

/// `pthread_cond_broadcast(cond)`.
pub(crate) unsafe extern "C" fn pthread_cond_broadcast(c: *mut u8) -> c_int {
    // SAFETY: as in pthread_cond_signal.
    let seq = unsafe { word(c) };
    seq.fetch_add(1, Ordering::SeqCst);
    sys().futex_wake(seq, u32::MAX);
    0
}

/// `pthread_cond_wait(cond, mutex)`: a cancellation point; may return
/// spuriously (as POSIX allows).
pub(crate) unsafe extern "C" fn pthread_cond_wait(c: *mut u8, m: *mut u8) -> c_int {
    // The mutex is held here: a cancellation at entry runs the handlers
    // with it held, as POSIX requires.
    testcancel();
    // SAFETY: `c` and `m` point to a pthread_cond_t and pthread_mutex_t.
    let (seq, lock) = unsafe { (word(c), word(m)) };
    let snapshot = seq.load(Ordering::SeqCst);
    futex_unlock(lock);
    let cancel = match sys().futex_wait(seq, snapshot, None) {
        Err(EINTR) => matches!(on_eintr(), Intr::Cancel),
        _ => false,
    };
    futex_lock_contended(lock);
    if cancel {
        act_on_cancel();
    }
    0
}

/// `pthread_cond_timedwait(cond, mutex, abstime)`: `abstime` is on
/// `CLOCK_REALTIME` (the only clock of a condition variable here); it is
/// turned into a deadline on the monotonic clock when the call starts.
/// `ETIMEDOUT` once it has passed; a cancellation point.
pub(crate) unsafe extern "C" fn pthread_cond_timedwait(c: *mut u8, m: *mut u8, abstime: *const u8) -> c_int {
    use super::ctime::{Timespec, NS_PER_SEC};
    testcancel();
    // SAFETY: `abstime` points to a struct timespec.
    let ts = unsafe { (abstime as *const Timespec).read_unaligned() };
    if ts.sec < 0 || ts.nsec < 0 || ts.nsec as u64 >= NS_PER_SEC {
        return EINVAL;
    }
    let abs = (ts.sec as u64).saturating_mul(NS_PER_SEC).saturating_add(ts.nsec as u64);
    let (ws, wn) = sys().wallclock();
    let wall = ws.saturating_mul(NS_PER_SEC).saturating_add(u64::from(wn));
    if abs <= wall {
        return ETIMEDOUT;
    }
    let deadline = sys().now_ns().saturating_add(abs - wall);
    // SAFETY: `c` and `m` point to a pthread_cond_t and pthread_mutex_t.
    let (seq, lock) = unsafe { (word(c), word(m)) };
    let snapshot = seq.load(Ordering::SeqCst);
    futex_unlock(lock);
    let cancel = match sys().futex_wait(seq, snapshot, Some(deadline)) {
        Err(EINTR) => matches!(on_eintr(), Intr::Cancel),
        _ => false,
    };
    futex_lock_contended(lock);
    if cancel {
        act_on_cancel();
    }
    if seq.load(Ordering::SeqCst) == snapshot && sys().now_ns() >= deadline {
        ETIMEDOUT
    } else {
        0
    }
}

/// `pthread_once(once, init)`: 0 not run, 1 running, 2 done.
pub(crate) unsafe extern "C" fn pthread_once(once: *mut u8, init: Option<unsafe extern "C" fn()>) -> c_int {
    // SAFETY: `once` points to a pthread_once_t (an int).
    let w = unsafe { word(once) };
    loop {
        match w.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                if let Some(f) = init {
                    // SAFETY: the caller's init routine.
                    unsafe { f() };
                }
                w.store(2, Ordering::Release);
                sys().futex_wake(w, u32::MAX);
                return 0;
            }
            Err(2) => return 0,
            Err(_) => {
                if let Err(EINTR) = sys().futex_wait(w, 1, None) {
                    sys().clear_interrupt();
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// setjmp / longjmp.

core::arch::global_asm!(
    ".text",
    ".globl guest_libc_abi_sigsetjmp",
    ".hidden guest_libc_abi_sigsetjmp",
    ".type guest_libc_abi_sigsetjmp,@function",
    "guest_libc_abi_sigsetjmp:",
    "mov [rdi], rbx",
    "mov [rdi + 8], rbp",
    "mov [rdi + 16], r12",
    "mov [rdi + 24], r13",
    "mov [rdi + 32], r14",
    "mov [rdi + 40], r15",
    "lea rdx, [rsp + 8]",
    "mov [rdi + 48], rdx",
    "mov rdx, [rsp]",
    "mov [rdi + 56], rdx",
    "xor eax, eax",
    "ret",
    ".size guest_libc_abi_sigsetjmp, . - guest_libc_abi_sigsetjmp",
    "",
    ".globl guest_libc_abi_setjmp",
    ".hidden guest_libc_abi_setjmp",
    ".type guest_libc_abi_setjmp,@function",
    "guest_libc_abi_setjmp:",
    "mov esi, 1",
    "jmp guest_libc_abi_sigsetjmp",
    ".size guest_libc_abi_setjmp, . - guest_libc_abi_setjmp",
    "",
    ".globl guest_libc_abi_underscore_setjmp",
    ".hidden guest_libc_abi_underscore_setjmp",
    ".type guest_libc_abi_underscore_setjmp,@function",
    "guest_libc_abi_underscore_setjmp:",
    "xor esi, esi",
    "jmp guest_libc_abi_sigsetjmp",
    ".size guest_libc_abi_underscore_setjmp, . - guest_libc_abi_underscore_setjmp",
    "",
    ".globl guest_libc_abi_longjmp",
    ".hidden guest_libc_abi_longjmp",
    ".type guest_libc_abi_longjmp,@function",
    "guest_libc_abi_longjmp:",
    "mov eax, esi",
    "test eax, eax",
    "jnz 2f",
    "inc eax",
    "2:",
    "mov rbx, [rdi]",
    "mov rbp, [rdi + 8]",
    "mov r12, [rdi + 16]",
    "mov r13, [rdi + 24]",
    "mov r14, [rdi + 32]",
    "mov r15, [rdi + 40]",
    "mov rsp, [rdi + 48]",
    "jmp qword ptr [rdi + 56]",
    ".size guest_libc_abi_longjmp, . - guest_libc_abi_longjmp",
);

extern "C" {
    /// `__sigsetjmp(env, savemask)`.
    pub(crate) fn guest_libc_abi_sigsetjmp(env: *mut u8, savemask: c_int) -> c_int;
    /// `setjmp(env)`.
    pub(crate) fn guest_libc_abi_setjmp(env: *mut u8) -> c_int;
    /// `_setjmp(env)`.
    pub(crate) fn guest_libc_abi_underscore_setjmp(env: *mut u8) -> c_int;
    /// `longjmp(env, val)` (also `siglongjmp`, `_longjmp`): `val` 0 becomes 1.
    pub(crate) fn guest_libc_abi_longjmp(env: *const u8, val: c_int) -> !;
}
