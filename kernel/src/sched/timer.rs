//! One-shot timers that wake threads, and sleeping.
//!
//! Xen's periodic tick is stopped at boot; the single-shot timer
//! (`VCPUOP_set_singleshot_timer`) is always programmed for the earliest
//! deadline in the queue, so an idle guest gets no timer events at all.
//! VIRQ_TIMER's handler pops every expired timer, wakes its thread and
//! re-programs the next deadline. Deadlines are absolute Xen system time in
//! nanoseconds; callers compute them with [`crate::time::deadline_after`],
//! which saturates, so a huge timeout is "never", not a wrapped past.
//!
//! Deadlines are in the kernel's monotonic clock, which a suspend does not
//! advance ([`crate::xen::time`]); Xen's timer takes its own system time,
//! so each deadline is converted when it is programmed. After a suspend the
//! timer is set up again ([`init`] registers the thaw hook): Xen's periodic
//! tick stopped, VIRQ_TIMER bound to a new port in a new domain, and the
//! earliest deadline programmed in the new host's time, so every pending
//! timer still fires.
//!
//! # Concurrency
//! `TIMERS` is an `IrqLock` (the VIRQ_TIMER handler runs in the upcall).
//! It is released before threads are woken (lock order: TIMERS, then the
//! scheduler, never nested).
use core::sync::atomic::{AtomicU64, Ordering};

use xen_sys as x;

use kcore::timer_queue::{TimerId, TimerQueue};

use crate::arch::hypercall::{check, hypercall3, XenError};
use crate::sched::{self, ThreadId};
use crate::sync::IrqLock;
use crate::time::now_ns;
use crate::xen::{evtchn, suspend};

static TIMERS: IrqLock<TimerQueue<ThreadId>> = IrqLock::new("sched.timers", TimerQueue::new());
/// The deadline Xen's single-shot timer is set to (`u64::MAX`: stopped).
/// A cancelled timer leaves it set; when it fires, [`on_timer`] sets the
/// next one. So [`add`] needs no hypercall when it is at or before the new
/// deadline (a thread waiting with a timeout, woken early, again and again,
/// costs one hypercall per firing instead of one per wait). Whoever makes
/// Xen forget the timer (a resume) must program the earliest deadline
/// again through `program`, which resets this.
static PROGRAMMED: AtomicU64 = AtomicU64::new(u64::MAX);

fn vcpu_op<T>(cmd: u32, arg: *mut T) -> Result<i64, XenError> {
    // SAFETY: VCPUOP_* for vCPU 0 with an argument of the type `cmd` expects
    // (or null where it takes none), live for the call.
    check(unsafe { hypercall3(x::__HYPERVISOR_vcpu_op, cmd as u64, 0, arg as u64) })
}

fn program(deadline: Option<u64>) {
    PROGRAMMED.store(deadline.unwrap_or(u64::MAX), Ordering::SeqCst);
    match deadline {
        Some(d) => {
            let mut t = x::vcpu_set_singleshot_timer { timeout_abs_ns: crate::xen::time::to_system(d), flags: 0 };
            let _ = vcpu_op(x::VCPUOP_set_singleshot_timer, &mut t);
        }
        None => {
            let _ = vcpu_op::<u8>(x::VCPUOP_stop_singleshot_timer, core::ptr::null_mut());
        }
    }
}

/// Stops Xen's periodic tick and binds VIRQ_TIMER; registers the thaw hook.
pub fn init() -> Result<u32, XenError> {
    let port = setup()?;
    let _ = suspend::register(suspend::Hooks { name: "timer", thaw: Some(thaw), ..suspend::Hooks::EMPTY });
    Ok(port)
}

fn setup() -> Result<u32, XenError> {
    vcpu_op::<u8>(x::VCPUOP_stop_periodic_timer, core::ptr::null_mut())?;
    let port = evtchn::bind_virq(x::VIRQ_TIMER)?;
    evtchn::bind_handler(port, on_timer, 0);
    Ok(port)
}

/// After a suspend (events masked): a new domain has the default periodic
/// tick and no VIRQ_TIMER binding; either way the earliest deadline is
/// programmed again in the (possibly new) host's system time.
fn thaw(o: suspend::Outcome) {
    if o == suspend::Outcome::NewDomain {
        // Nothing to report to here; a failure shows as timers that never
        // fire, which every sleeping test catches.
        let _ = setup();
    }
    let next = TIMERS.lock().next_deadline();
    program(next);
}

fn on_timer(_port: u32, _data: usize) {
    loop {
        let now = now_ns();
        let expired = TIMERS.lock().pop_expired(now);
        match expired {
            Some((_, tid)) => sched::wake(tid),
            None => break,
        }
    }
    let next = TIMERS.lock().next_deadline();
    program(next);
}

/// Arms a timer that wakes `tid` at `deadline_ns`.
pub fn add(deadline_ns: u64, tid: ThreadId) -> TimerId {
    let mut q = TIMERS.lock();
    let id = q.insert(deadline_ns, tid);
    if q.next_deadline() == Some(deadline_ns) && PROGRAMMED.load(Ordering::SeqCst) > deadline_ns {
        program(Some(deadline_ns));
    }
    id
}

/// Disarms a timer (no effect if it already fired).
pub fn cancel(id: TimerId) {
    TIMERS.lock().cancel(id);
}

/// Number of armed timers (diagnostics).
pub fn armed() -> usize {
    TIMERS.lock().len()
}

/// Blocks the calling thread for at least `ns` nanoseconds of Xen system time.
///
/// # Yields
pub fn sleep_ns(ns: u64) {
    let deadline = crate::time::deadline_after(ns);
    let q = sched::WaitQueue::new();
    while now_ns() < deadline {
        q.wait_until_deadline(|| false, deadline);
    }
}
