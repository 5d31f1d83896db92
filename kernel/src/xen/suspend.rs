//! Suspend and resume (`xl save`, `xl restore`, `xl save -c`, migration):
//! the hook registry and the one sequence that takes the domain through
//! `SCHEDOP_shutdown(SHUTDOWN_suspend)`. docs/lifecycle.md describes the
//! whole lifecycle, layer by layer.
//!
//! # Layers and hooks
//! Each layer re-establishes its own state: at its own initialisation it
//! registers [`Hooks`] here, so registration order is boot order, which is
//! layer order (time and the console; memory; event channels, timers,
//! diagnostics, console input; xenstore; the shutdown protocol). This
//! module knows none of them: it imports only `arch` and its siblings in
//! `xen`, and every layer above calls down into it.
//!
//! | phase | context | order | what it is for |
//! |---|---|---|---|
//! | `prepare` | the suspending thread, events on, may block | reverse | stop new work, drain what is in flight (xenstore) |
//! | `freeze` | events masked, must not block | reverse | last state to record (the monotonic clock), flush (console) |
//! | (core) | events masked | | canonicalise start_info, unmap shared_info, hypercall, map shared_info, undo or accept start_info, republish the P2M |
//! | `thaw` | events masked, must not block | registration | re-attach to the new domain: clock, console ring, page tables, ports |
//! | `resume` | the suspending thread, events on, may block | registration | restart work (xenstore: watches, held requests) |
//!
//! Every hook learns the [`Outcome`]: [`Outcome::NewDomain`] when the
//! domain was restored (new machine frames, shared_info, event channels,
//! xenstore connection, possibly another host), [`Outcome::Cancelled`] when
//! the toolstack resumed this very domain (`xl save -c`, or a save that
//! failed): then every frame and port is as it was.
//!
//! # The core sequence (events masked throughout)
//! 1. start_info's `store_mfn` and `console.domU.mfn` become pseudo-physical
//!    frame numbers: libxc's restore reads them as such and writes the new
//!    machine frames back.
//! 2. shared_info is unmapped (the image's own frame goes back under its
//!    page): it is Xen's frame, and libxc refuses page tables that map a
//!    frame the domain does not own.
//! 3. `SCHEDOP_shutdown(SHUTDOWN_suspend)` with start_info's machine frame
//!    in %rdx. It returns 0 in a new domain, 1 when cancelled.
//! 4. shared_info is mapped again from start_info (a new frame after a
//!    restore, which libxc also put into start_info). Its event masks are
//!    all set and nothing is pending after a restore.
//! 5. Cancelled: the two frame numbers are turned back into machine
//!    frames. New domain: libxc already wrote the new ones, and the P2M
//!    frame lists are refilled and published again (libxc zeroes the
//!    published root).
//!
//! # Concurrency
//! One vCPU, cooperative threads: the suspending thread does not yield
//! between the first `freeze` and the last `thaw`, so no other thread runs
//! while the domain is half suspended; events are masked over that span, so
//! no handler runs either. `HOOKS` is an `IrqLock` (registration may come
//! from any thread); it is not held while hooks run (they are copied out).
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::hypercall::XenError;
use crate::arch::irq;
use crate::sync::IrqLock;
use crate::xen::{p2m, sched, shared_info, start_info, time};

/// How the domain came back from the suspend hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Restored into a new domain (new domid, frames, ports, xenstore
    /// connection; possibly another host).
    NewDomain,
    /// The suspend was cancelled: the same domain goes on where it was.
    Cancelled,
}

/// One layer's suspend hooks (see the module docs for when each runs).
#[derive(Clone, Copy, Debug)]
pub struct Hooks {
    /// For logs.
    pub name: &'static str,
    /// Thread context, events on, may block; reverse registration order.
    pub prepare: Option<fn()>,
    /// Events masked, must not block; reverse registration order.
    pub freeze: Option<fn()>,
    /// Events masked, must not block; registration order.
    pub thaw: Option<fn(Outcome)>,
    /// Thread context, events on, may block; registration order.
    pub resume: Option<fn(Outcome)>,
}

impl Hooks {
    /// No hooks (for `..Hooks::EMPTY`).
    pub const EMPTY: Hooks = Hooks { name: "", prepare: None, freeze: None, thaw: None, resume: None };
}

/// Most registrations at a time.
pub const SLOTS: usize = 24;

static HOOKS: IrqLock<[Option<Hooks>; SLOTS]> = IrqLock::new("suspend.hooks", [None; SLOTS]);
static IN_PROGRESS: AtomicBool = AtomicBool::new(false);
/// Suspends that came back in a new domain since boot.
pub static RESTORES: AtomicU64 = AtomicU64::new(0);

/// No valid frame (see [`restored_store_pfn`]).
const NO_FRAME: u64 = u64::MAX;
/// The pseudo-physical frames of the rings start_info named after the last
/// restore, checked to be this domain's (`p2m::own_pfn`); [`NO_FRAME`] if not.
static RESTORED_STORE_PFN: AtomicU64 = AtomicU64::new(NO_FRAME);
static RESTORED_CONSOLE_PFN: AtomicU64 = AtomicU64::new(NO_FRAME);

/// The xenstore ring's pseudo-physical frame after the last restore, for
/// the thaw hooks; `None` if the toolstack named a frame that is not ours
/// (the ring is then not mapped: xenstore fails with a logged reason).
pub fn restored_store_pfn() -> Option<u64> {
    Some(RESTORED_STORE_PFN.load(Ordering::Acquire)).filter(|&p| p != NO_FRAME)
}

/// The console ring's pseudo-physical frame after the last restore (see
/// [`restored_store_pfn`]).
pub fn restored_console_pfn() -> Option<u64> {
    Some(RESTORED_CONSOLE_PFN.load(Ordering::Acquire)).filter(|&p| p != NO_FRAME)
}

/// Suspends that were cancelled since boot.
pub static CANCELS: AtomicU64 = AtomicU64::new(0);

/// A registration, for [`unregister`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HookId(usize);

/// Every slot is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Adds `hooks` after every earlier registration.
pub fn register(hooks: Hooks) -> Result<HookId, Full> {
    let mut g = HOOKS.lock();
    // After the last used slot, so that order stays registration order
    // even when an earlier registration was removed.
    let last = g.iter().rposition(|h| h.is_some()).map_or(0, |i| i + 1);
    let slot = g.get_mut(last).ok_or(Full)?;
    *slot = Some(hooks);
    Ok(HookId(last))
}

/// Removes a registration.
pub fn unregister(id: HookId) {
    if let Some(slot) = HOOKS.lock().get_mut(id.0) {
        *slot = None;
    }
}

/// The names of the registered hook sets, in registration (layer) order
/// (diagnostics, tests).
pub fn registered() -> alloc::vec::Vec<&'static str> {
    HOOKS.lock().iter().flatten().map(|h| h.name).collect()
}

/// Why [`suspend`] did not suspend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuspendError {
    /// Another suspend is under way.
    Busy,
    /// No start_info (cannot happen after boot).
    NoStartInfo,
    /// Xen refused the hypercall (or unmapping shared_info): nothing was
    /// suspended; every hook ran again with [`Outcome::Cancelled`].
    Refused(XenError),
}

impl core::fmt::Display for SuspendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SuspendError::Busy => f.write_str("a suspend is already under way"),
            SuspendError::NoStartInfo => f.write_str("no start_info"),
            SuspendError::Refused(e) => write!(f, "Xen refused the suspend: {}", e),
        }
    }
}

/// What a suspend did and how long each part took.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// How the domain came back.
    pub outcome: Outcome,
    /// The prepare hooks (monotonic ns).
    pub prepare_ns: u64,
    /// Events masked, freeze to thaw, not counting the time the domain was
    /// not running (monotonic ns).
    pub frozen_ns: u64,
    /// Wall-clock time from just before the hypercall to just after it:
    /// the domain's downtime as the host's clock saw it (ns; 0 if the wall
    /// clock went backwards, as it may across hosts).
    pub wall_gap_ns: u64,
    /// The resume hooks (monotonic ns).
    pub resume_ns: u64,
    /// After a restore: the republished P2M root, or why it failed.
    pub p2m: Option<Result<u64, p2m::P2mError>>,
}

fn wall_ns() -> u128 {
    let (sec, nsec) = shared_info::wallclock_base().unwrap_or((0, 0));
    sec as u128 * 1_000_000_000 + nsec as u128 + time::system_ns() as u128
}

struct Busy;
impl Drop for Busy {
    fn drop(&mut self) {
        IN_PROGRESS.store(false, Ordering::Release);
    }
}

/// Suspends the domain for the toolstack (it asked on `control/shutdown`)
/// and returns when it runs again, in a new domain or the same one.
///
/// # Yields
/// The prepare and resume hooks may block.
pub fn suspend() -> Result<Report, SuspendError> {
    if IN_PROGRESS.swap(true, Ordering::AcqRel) {
        return Err(SuspendError::Busy);
    }
    let _busy = Busy;
    let si = start_info::get().ok_or(SuspendError::NoStartInfo)?;
    let hooks: [Option<Hooks>; SLOTS] = *HOOKS.lock();
    let each = || hooks.iter().flatten();

    let t0 = time::now_ns();
    for h in each().rev() {
        if let Some(f) = h.prepare {
            f();
        }
    }
    let t1 = time::now_ns();

    let was_enabled = irq::disable();
    for h in each().rev() {
        if let Some(f) = h.freeze {
            f();
        }
    }
    let (store_mfn, console_mfn) = (si.store_mfn(), si.console_mfn());
    let (store_pfn, console_pfn) = (p2m::mfn_to_pfn(store_mfn), p2m::mfn_to_pfn(console_mfn));
    si.set_ring_frames(store_pfn, console_pfn);
    let wall_before = wall_ns();
    let result = match shared_info::unmap_for_suspend() {
        Ok(()) => sched::suspend_hypercall(p2m::pfn_to_mfn(p2m::va_to_pfn(si.va()))),
        Err(e) => Err(e),
    };
    if let Err(e) = shared_info::map(si.shared_info_maddr()) {
        // No events, no time: nothing can go on. (The page is the one
        // start_info names; Xen refusing it is a hypervisor bug.)
        panic!("suspend: cannot map shared_info at {:#x} again: {}", si.shared_info_maddr(), e);
    }
    let wall_after = wall_ns();
    let outcome = match result {
        Ok(0) => Outcome::NewDomain,
        _ => Outcome::Cancelled,
    };
    let mut republished = None;
    match outcome {
        Outcome::Cancelled => {
            // The frames did not change: undo step 1.
            si.set_ring_frames(store_mfn, console_mfn);
            CANCELS.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::NewDomain => {
            republished = Some(p2m::republish());
            RESTORES.fetch_add(1, Ordering::Relaxed);
            // The toolstack wrote the new domain's ring frames into
            // start_info: the thaw hooks map only frames that are ours.
            let own = |mfn: u64, hint: u64| p2m::own_pfn(mfn, hint).unwrap_or(NO_FRAME);
            RESTORED_STORE_PFN.store(own(si.store_mfn(), store_pfn), Ordering::Release);
            RESTORED_CONSOLE_PFN.store(own(si.console_mfn(), console_pfn), Ordering::Release);
        }
    }
    for h in each() {
        if let Some(f) = h.thaw {
            f(outcome);
        }
    }
    let t2 = time::now_ns();
    irq::restore(was_enabled);
    for h in each() {
        if let Some(f) = h.resume {
            f(outcome);
        }
    }
    let t3 = time::now_ns();
    if let Err(e) = result {
        return Err(SuspendError::Refused(e));
    }
    Ok(Report {
        outcome,
        prepare_ns: t1.saturating_sub(t0),
        frozen_ns: t2.saturating_sub(t1),
        wall_gap_ns: wall_after.saturating_sub(wall_before) as u64,
        resume_ns: t3.saturating_sub(t2),
        p2m: republished,
    })
}
