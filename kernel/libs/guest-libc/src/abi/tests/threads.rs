//! pthreads: create/join, mutexes, condition variables, and cancellation
//! of a thread blocked in `read()` with a cleanup handler registered the
//! way glibc's `pthread_cleanup_push` macro does (in assembly, since
//! `__sigsetjmp` returns twice).
use core::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::mock::{make_pipe, run, write_fd};
use crate::abi::thread::{self, PTHREAD_CANCELED};
use crate::abi::{cunistd, lookup, Symbol};

fn addr(name: &str) -> usize {
    match lookup(name) {
        Some(Symbol::Function(a)) => a,
        other => panic!("{name}: {other:?}"),
    }
}

/// The C sequence of a thread routine that pushes one cleanup buffer and
/// blocks in `read(fd, &byte, 1)`:
///
/// ```c
/// void *reader(struct ctx *c) {
///     __pthread_unwind_buf_t buf;
///     if (__sigsetjmp(buf.cancel_jmp_buf, 0)) {
///         c->handler_ran++;                 /* the cleanup routine */
///         __pthread_unwind_next(&buf);
///     }
///     __pthread_register_cancel(&buf);
///     c->reached = 1;
///     long r = read(c->fd, &byte, 1);
///     __pthread_unregister_cancel(&buf);
///     return (void *) r;
/// }
/// ```
#[repr(C)]
struct CancelCtx {
    fd: i32,
    _pad: i32,
    sigsetjmp: usize,
    register: usize,
    unregister: usize,
    unwind_next: usize,
    read: usize,
    handler_ran: AtomicU32,
    reached: AtomicU32,
}

core::arch::global_asm!(
    ".text",
    ".globl guest_libc_test_cancel_reader",
    ".hidden guest_libc_test_cancel_reader",
    "guest_libc_test_cancel_reader:",
    "push rbx",
    "push r12",
    "sub rsp, 136",
    "mov rbx, rdi",
    "mov rdi, rsp",
    "xor esi, esi",
    "call qword ptr [rbx + 8]",
    "test eax, eax",
    "jnz 2f",
    "mov rdi, rsp",
    "call qword ptr [rbx + 16]",
    "mov dword ptr [rbx + 52], 1",
    "mov edi, dword ptr [rbx]",
    "lea rsi, [rsp + 112]",
    "mov edx, 1",
    "call qword ptr [rbx + 40]",
    "mov r12, rax",
    "mov rdi, rsp",
    "call qword ptr [rbx + 24]",
    "mov rax, r12",
    "add rsp, 136",
    "pop r12",
    "pop rbx",
    "ret",
    "2:",
    "lock inc dword ptr [rbx + 48]",
    "mov rdi, rsp",
    "call qword ptr [rbx + 32]",
    "ud2",
);

extern "C" {
    fn guest_libc_test_cancel_reader(ctx: *mut c_void) -> *mut c_void;
}

fn cancel_ctx(fd: i32) -> Box<CancelCtx> {
    Box::new(CancelCtx {
        fd,
        _pad: 0,
        sigsetjmp: addr("__sigsetjmp"),
        register: addr("__pthread_register_cancel"),
        unregister: addr("__pthread_unregister_cancel"),
        unwind_next: addr("__pthread_unwind_next"),
        read: addr("read"),
        handler_ran: AtomicU32::new(0),
        reached: AtomicU32::new(0),
    })
}

fn spawn(start: unsafe extern "C" fn(*mut c_void) -> *mut c_void, arg: *mut c_void, attr: *const u8) -> usize {
    let mut t = 0usize;
    // SAFETY: a valid start routine and argument.
    let r = unsafe { thread::pthread_create(&mut t, attr, Some(start), arg) };
    assert_eq!(r, 0);
    t
}

fn join(t: usize) -> usize {
    let mut ret: *mut c_void = core::ptr::null_mut();
    // SAFETY: a joinable thread of ours.
    assert_eq!(unsafe { thread::pthread_join(t, &mut ret) }, 0);
    ret as usize
}

#[test]
fn cancel_a_thread_blocked_in_read_runs_its_cleanup_handler() {
    let out = run(&["t"], &[], |_| {
        let [r, _w] = make_pipe();
        let ctx = Box::into_raw(cancel_ctx(r));
        let t = spawn(guest_libc_test_cancel_reader, ctx as *mut c_void, core::ptr::null());
        // SAFETY: ctx lives until the end of the test.
        let c = unsafe { &*ctx };
        while c.reached.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: a live thread.
        assert_eq!(unsafe { thread::pthread_cancel(t) }, 0);
        let ret = join(t);
        (ret, c.handler_ran.load(Ordering::SeqCst))
    });
    assert_eq!(out.ret, Some((PTHREAD_CANCELED, 1)));
}

#[test]
fn a_cancel_pending_before_read_acts_at_its_entry() {
    let out = run(&["t"], &[], |_| {
        let [r, _w] = make_pipe();
        let ctx = Box::into_raw(cancel_ctx(r));
        let mut attr = [0u8; 56];
        // SAFETY: attr buffers of pthread_attr_t size.
        unsafe {
            assert_eq!(thread::pthread_attr_init(attr.as_mut_ptr()), 0);
            assert_eq!(thread::pthread_attr_setstacksize(attr.as_mut_ptr(), 16383), 22);
            assert_eq!(thread::pthread_attr_setstacksize(attr.as_mut_ptr(), 16384), 0);
        }
        // The new thread cannot have reached read() before the cancel on
        // the kernel's cooperative scheduler; on the host it may have: both
        // paths end the same way.
        let t = spawn(guest_libc_test_cancel_reader, ctx as *mut c_void, attr.as_ptr());
        // SAFETY: a live thread.
        assert_eq!(unsafe { thread::pthread_cancel(t) }, 0);
        let ret = join(t);
        // SAFETY: ctx lives until the end of the test.
        (ret, unsafe { &*ctx }.handler_ran.load(Ordering::SeqCst))
    });
    assert_eq!(out.ret, Some((PTHREAD_CANCELED, 1)));
}

#[test]
fn an_uncancelled_reader_returns_normally() {
    let out = run(&["t"], &[], |_| {
        let [r, w] = make_pipe();
        let ctx = Box::into_raw(cancel_ctx(r));
        let t = spawn(guest_libc_test_cancel_reader, ctx as *mut c_void, core::ptr::null());
        write_fd(w, b"x");
        let ret = join(t);
        // SAFETY: ctx lives until the end of the test.
        (ret, unsafe { &*ctx }.handler_ran.load(Ordering::SeqCst))
    });
    assert_eq!(out.ret, Some((1, 0)));
}

unsafe extern "C" fn add_many(arg: *mut c_void) -> *mut c_void {
    let shared = arg as *mut (u64, [u8; 40]);
    for _ in 0..2000 {
        // SAFETY: the mutex protects the counter.
        unsafe {
            thread::pthread_mutex_lock((*shared).1.as_mut_ptr());
            let v = core::ptr::read_volatile(&(*shared).0);
            std::thread::yield_now();
            core::ptr::write_volatile(&mut (*shared).0, v + 1);
            thread::pthread_mutex_unlock((*shared).1.as_mut_ptr());
        }
    }
    7 as *mut c_void
}

#[test]
fn mutex_serialises_four_threads() {
    let out = run(&["t"], &[], |_| {
        let shared = Box::into_raw(Box::new((0u64, [0xffu8; 40])));
        // SAFETY: a pthread_mutex_t buffer.
        unsafe { thread::pthread_mutex_init((*shared).1.as_mut_ptr(), core::ptr::null()) };
        let ts: Vec<usize> = (0..4).map(|_| spawn(add_many, shared as *mut c_void, core::ptr::null())).collect();
        let rets: Vec<usize> = ts.into_iter().map(join).collect();
        // SAFETY: all threads joined.
        (rets, unsafe { (*shared).0 })
    });
    assert_eq!(out.ret, Some((vec![7, 7, 7, 7], 8000)));
}

/// A queue of one slot guarded by a mutex and two condition variables.
#[repr(C)]
struct Slot {
    mutex: [u8; 40],
    not_empty: [u8; 48],
    not_full: [u8; 48],
    value: u64,
    full: bool,
    done: u64,
}

unsafe extern "C" fn consumer(arg: *mut c_void) -> *mut c_void {
    let s = arg as *mut Slot;
    let mut sum = 0u64;
    // SAFETY: the slot is shared under its mutex.
    unsafe {
        loop {
            thread::pthread_mutex_lock((*s).mutex.as_mut_ptr());
            while !core::ptr::read_volatile(&(*s).full) {
                thread::pthread_cond_wait((*s).not_empty.as_mut_ptr(), (*s).mutex.as_mut_ptr());
            }
            let v = (*s).value;
            core::ptr::write_volatile(&mut (*s).full, false);
            thread::pthread_cond_signal((*s).not_full.as_mut_ptr());
            thread::pthread_mutex_unlock((*s).mutex.as_mut_ptr());
            if v == 0 {
                break;
            }
            sum += v;
        }
    }
    sum as *mut c_void
}

#[test]
fn condition_variables_hand_values_over() {
    let out = run(&["t"], &[], |_| {
        let s = Box::into_raw(Box::new(Slot {
            mutex: [0; 40],
            not_empty: [0; 48],
            not_full: [0; 48],
            value: 0,
            full: false,
            done: 0,
        }));
        // SAFETY: the slot's pthread objects.
        unsafe {
            thread::pthread_cond_init((*s).not_empty.as_mut_ptr(), core::ptr::null());
            thread::pthread_cond_init((*s).not_full.as_mut_ptr(), core::ptr::null());
        }
        let t = spawn(consumer, s as *mut c_void, core::ptr::null());
        for v in (1..=300u64).chain([0]) {
            // SAFETY: as in consumer.
            unsafe {
                thread::pthread_mutex_lock((*s).mutex.as_mut_ptr());
                while core::ptr::read_volatile(&(*s).full) {
                    thread::pthread_cond_wait((*s).not_full.as_mut_ptr(), (*s).mutex.as_mut_ptr());
                }
                (*s).value = v;
                core::ptr::write_volatile(&mut (*s).full, true);
                thread::pthread_cond_broadcast((*s).not_empty.as_mut_ptr());
                thread::pthread_mutex_unlock((*s).mutex.as_mut_ptr());
            }
        }
        let sum = join(t);
        // SAFETY: joined.
        (sum, unsafe { (*s).done })
    });
    assert_eq!(out.ret, Some((300 * 301 / 2, 0)));
}

unsafe extern "C" fn wait_forever(arg: *mut c_void) -> *mut c_void {
    let s = arg as *mut Slot;
    // SAFETY: the slot's objects.
    unsafe {
        thread::pthread_mutex_lock((*s).mutex.as_mut_ptr());
        core::ptr::write_volatile(&mut (*s).done, 1);
        loop {
            thread::pthread_cond_wait((*s).not_empty.as_mut_ptr(), (*s).mutex.as_mut_ptr());
        }
    }
}

#[test]
fn cancel_in_cond_wait_reacquires_the_mutex() {
    let out = run(&["t"], &[], |_| {
        let s = Box::into_raw(Box::new(Slot {
            mutex: [0; 40],
            not_empty: [0; 48],
            not_full: [0; 48],
            value: 0,
            full: false,
            done: 0,
        }));
        let t = spawn(wait_forever, s as *mut c_void, core::ptr::null());
        // SAFETY: the slot's objects; `done` is written under the mutex.
        unsafe {
            loop {
                thread::pthread_mutex_lock((*s).mutex.as_mut_ptr());
                let d = core::ptr::read_volatile(&(*s).done);
                thread::pthread_mutex_unlock((*s).mutex.as_mut_ptr());
                if d == 1 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(30));
            assert_eq!(thread::pthread_cancel(t), 0);
        }
        let ret = join(t);
        // The cancelled waiter ended holding the mutex, as in glibc.
        // SAFETY: the slot's mutex.
        (ret, unsafe { thread::pthread_mutex_trylock((*s).mutex.as_mut_ptr()) })
    });
    assert_eq!(out.ret, Some((PTHREAD_CANCELED, 16)));
}

unsafe extern "C" fn poller(arg: *mut c_void) -> *mut c_void {
    let fd = arg as usize as c_int;
    let mut pfd = [0u8; 8];
    pfd[..4].copy_from_slice(&fd.to_le_bytes());
    pfd[4..6].copy_from_slice(&1u16.to_le_bytes());
    // SAFETY: one struct pollfd.
    let r = unsafe { cunistd::poll(pfd.as_mut_ptr() as *mut c_void, 1, -1) };
    r as usize as *mut c_void
}

#[test]
fn cancel_a_thread_blocked_in_poll_and_pthread_exit_value() {
    let out = run(&["t"], &[], |_| {
        let [r, _w] = make_pipe();
        let t = spawn(poller, r as usize as *mut c_void, core::ptr::null());
        std::thread::sleep(Duration::from_millis(30));
        // SAFETY: a live thread.
        unsafe { thread::pthread_cancel(t) };
        let a = join(t);
        let t2 = spawn(exiter, core::ptr::null_mut(), core::ptr::null());
        (a, join(t2))
    });
    assert_eq!(out.ret, Some((PTHREAD_CANCELED, 0x55)));
}

unsafe extern "C" fn exiter(_arg: *mut c_void) -> *mut c_void {
    // SAFETY: ends this thread.
    unsafe { thread::pthread_exit(0x55 as *mut c_void) }
}

#[test]
fn pthread_self_equal_detach_and_once() {
    static ONCE_RUNS: AtomicU32 = AtomicU32::new(0);
    unsafe extern "C" fn init() {
        ONCE_RUNS.fetch_add(1, Ordering::SeqCst);
    }
    let out = run(&["t"], &[], |_| {
        let me = thread::pthread_self();
        let mut once = 0u32;
        // SAFETY: a pthread_once_t.
        unsafe {
            thread::pthread_once(&mut once as *mut u32 as *mut u8, Some(init));
            thread::pthread_once(&mut once as *mut u32 as *mut u8, Some(init));
        }
        let t = spawn(exiter, core::ptr::null_mut(), core::ptr::null());
        // SAFETY: a live handle.
        let d = unsafe { thread::pthread_detach(t) };
        (me == thread::pthread_self(), thread::pthread_equal(me, me), d, ONCE_RUNS.load(Ordering::SeqCst))
    });
    assert_eq!(out.ret, Some((true, 1, 0, 1)));
}

#[test]
fn exit_ends_the_process_while_a_thread_is_blocked() {
    let out = run(&["t"], &[], |_| {
        let [r, _w] = make_pipe();
        let ctx = Box::into_raw(cancel_ctx(r));
        spawn(guest_libc_test_cancel_reader, ctx as *mut c_void, core::ptr::null());
        // SAFETY: a C string.
        unsafe { crate::abi::cstdio::puts(c"bye".as_ptr()) };
        crate::abi::start::exit(0)
    });
    assert_eq!((out.status, out.stdout.as_slice()), (Some(0), &b"bye\n"[..]));
}

unsafe extern "C" fn sleeper(_arg: *mut c_void) -> *mut c_void {
    crate::abi::ctime::sleep(100) as usize as *mut c_void
}

#[test]
fn clocks_sleeps_and_timed_waits() {
    use crate::abi::ctime::{clock_gettime, nanosleep, time};
    let out = run(&["t"], &[], |_| {
        let mut a = [0i64; 2];
        let mut b = [0i64; 2];
        // SAFETY: struct timespec buffers.
        unsafe {
            assert_eq!(clock_gettime(1, a.as_mut_ptr() as *mut c_void), 0);
            let req = [0i64, 30_000_000];
            assert_eq!(nanosleep(req.as_ptr() as *const c_void, core::ptr::null_mut()), 0);
            assert_eq!(clock_gettime(1, b.as_mut_ptr() as *mut c_void), 0);
            assert_eq!((clock_gettime(99, b.as_mut_ptr() as *mut c_void), super::errno()), (-1, 22));
            let bad = [0i64, 1_000_000_000];
            assert_eq!((nanosleep(bad.as_ptr() as *const c_void, core::ptr::null_mut()), super::errno()), (-1, 22));
        }
        let slept = (b[0] - a[0]) * 1_000_000_000 + (b[1] - a[1]);
        // SAFETY: a NULL time_t pointer is allowed.
        let now = unsafe { time(core::ptr::null_mut()) };
        // A timed wait nobody signals.
        let mut m = [0u64; 5];
        let mut c = [0u64; 6];
        let mut abs = [0i64; 2];
        // SAFETY: pthread objects and a timespec.
        let (r, waited) = unsafe {
            // Started before the deadline is computed: a preemption in
            // between (a loaded host) must not shorten the measured wait.
            let t0 = std::time::Instant::now();
            clock_gettime(0, abs.as_mut_ptr() as *mut c_void);
            abs[1] += 40_000_000;
            if abs[1] >= 1_000_000_000 {
                abs[0] += 1;
                abs[1] -= 1_000_000_000;
            }
            thread::pthread_mutex_lock(m.as_mut_ptr() as *mut u8);
            let r = thread::pthread_cond_timedwait(
                c.as_mut_ptr() as *mut u8,
                m.as_mut_ptr() as *mut u8,
                abs.as_ptr() as *const u8,
            );
            let held = thread::pthread_mutex_trylock(m.as_mut_ptr() as *mut u8);
            thread::pthread_mutex_unlock(m.as_mut_ptr() as *mut u8);
            ((r, held), t0.elapsed())
        };
        // A sleeping thread is cancelled at once.
        let t = spawn(sleeper, core::ptr::null_mut(), core::ptr::null());
        std::thread::sleep(Duration::from_millis(20));
        let t0 = std::time::Instant::now();
        // SAFETY: a live thread.
        unsafe { thread::pthread_cancel(t) };
        let ret = join(t);
        (slept, now, r, waited, ret, t0.elapsed())
    });
    let (slept, now, r, waited, ret, cancel_time) = out.ret.unwrap();
    assert!(slept >= 30_000_000, "slept {slept} ns");
    assert!(now > 1_700_000_000);
    assert_eq!(r, (110, 16));
    assert!(waited >= Duration::from_millis(39), "waited {waited:?}");
    assert_eq!(ret, PTHREAD_CANCELED);
    assert!(cancel_time < Duration::from_secs(5));
}
