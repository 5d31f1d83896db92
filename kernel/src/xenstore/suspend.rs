//! The xenstore connection across a suspend (`xl save`, `xl restore`,
//! `xl save -c`, migration): this layer's hooks in [`crate::xen::suspend`].
//!
//! - **prepare** (the suspending thread): the client is *held*: requests
//!   submitted from now on are queued locally, not written to the ring;
//!   what is already in flight gets its replies (the reader thread keeps
//!   running). It waits until nothing is in flight, at most
//!   [`QUIESCE_TIMEOUT_NS`], so that the ring is quiescent when the domain
//!   stops (Linux's `xs_suspend` waits the same way, without a limit).
//! - **thaw** (events masked), in a new domain: the ring is the same
//!   pseudo-physical page, served by a new connection on a new event
//!   channel (start_info has both). The page and port are switched, the
//!   handler bound, and the client resumed on the new ring
//!   (`xs_client::ClientCore::resume_on_new_ring`): requests still in
//!   flight (only after a quiesce timeout) complete with `Reconnected`, the
//!   old connection's leftovers in the response ring are discarded, every
//!   watch is queued for registration again, ahead of the held requests. A
//!   failed connection comes back to life. After a cancelled suspend the
//!   hold is simply released: the connection never changed.
//! - **resume** (the suspending thread, events on): the answers of failed
//!   requests are routed, the queue is pumped onto the ring, the reader is
//!   woken, and one log line says what happened.
//!
//! Either way the [`generation`] goes up, as Linux's
//! `xb_dev_generation_id` does in `xs_suspend_exit`: the xenbus node uses
//! it to answer the end of a transaction started before the suspend the way
//! Linux does (docs/xenbus-abi.md), and the kernel's own transaction helper
//! to start such a transaction over.
use alloc::string::String;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::conn::{notify, After, EVENT, PAGE, PORT, READER, REPLIES, STATE};
use super::page::XenstorePage;
use crate::xen::suspend::{self, Outcome};

/// How long the prepare hook waits for the requests in flight.
pub const QUIESCE_TIMEOUT_NS: u64 = 10_000_000_000;

static GENERATION: AtomicU64 = AtomicU64::new(0);
/// The generation the current connection began in (the last restore into
/// a new domain, or boot).
static CONNECTION_GENERATION: AtomicU64 = AtomicU64::new(0);
/// Requests in flight when the suspend began.
static IN_FLIGHT_AT_START: AtomicUsize = AtomicUsize::new(0);
/// Whether the last prepare ended quiescent (1) or timed out (0).
static QUIESCENT: AtomicUsize = AtomicUsize::new(1);
/// How long the last prepare waited (ns).
static WAITED_NS: AtomicU64 = AtomicU64::new(0);
/// What the last resume into a new domain did.
static LAST: crate::sync::IrqLock<Option<xs_client::Resumed>> = crate::sync::IrqLock::new("xenstore.resumed", None);

/// Suspends (resumed or cancelled) since boot: a transaction begun in an
/// earlier generation is over for this connection.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The generation the current xenstore connection began in: a transaction
/// started in this generation or later lives in the current connection
/// (only cancelled suspends came since).
pub fn connection_generation() -> u64 {
    CONNECTION_GENERATION.load(Ordering::Acquire)
}

/// What the last suspend did to the connection, for tests and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests on the ring when the suspend began (all answered before the
    /// domain stopped, unless `quiescent` is false).
    pub in_flight_at_start: usize,
    /// Whether every one of them was answered before the domain stopped.
    pub quiescent: bool,
    /// How long the prepare hook waited for them (ns).
    pub waited_ns: u64,
    /// After a restore: what resuming on the new ring did.
    pub resumed: Option<xs_client::Resumed>,
}

/// What the last suspend did.
pub fn last() -> Summary {
    Summary {
        in_flight_at_start: IN_FLIGHT_AT_START.load(Ordering::Relaxed),
        quiescent: QUIESCENT.load(Ordering::Relaxed) == 1,
        waited_ns: WAITED_NS.load(Ordering::Relaxed),
        resumed: *LAST.lock(),
    }
}

/// Registers the hooks (at xenstore's initialisation).
pub(super) fn init() {
    let _ = suspend::register(suspend::Hooks {
        name: "xenstore",
        prepare: Some(prepare),
        thaw: Some(thaw),
        resume: Some(resume),
        ..suspend::Hooks::EMPTY
    });
}

fn quiescent() -> bool {
    STATE.lock().as_ref().is_none_or(|c| c.core.is_quiescent() || c.failed.is_some())
}

fn prepare() {
    let start = crate::time::now_ns();
    {
        let mut g = STATE.lock();
        if let Some(c) = g.as_mut() {
            c.core.set_held(true);
            IN_FLIGHT_AT_START.store(c.core.in_flight(), Ordering::Relaxed);
        }
    }
    let deadline = start.saturating_add(QUIESCE_TIMEOUT_NS);
    let mut ok = quiescent();
    while !ok && crate::time::now_ns() < deadline {
        crate::sched::sleep_ns(1_000_000);
        ok = quiescent();
    }
    QUIESCENT.store(ok as usize, Ordering::Relaxed);
    WAITED_NS.store(crate::time::now_ns().saturating_sub(start), Ordering::Relaxed);
    *LAST.lock() = None;
}

fn thaw(o: Outcome) {
    let g = GENERATION.fetch_add(1, Ordering::AcqRel) + 1;
    if o == Outcome::NewDomain {
        CONNECTION_GENERATION.store(g, Ordering::Release);
    }
    let mut g = STATE.lock();
    let Some(c) = g.as_mut() else { return };
    if o == Outcome::Cancelled {
        c.core.set_held(false);
        return;
    }
    let Some(si) = crate::xen::start_info::get() else { return };
    let Some(pfn) = crate::xen::suspend::restored_store_pfn() else {
        // The toolstack named a frame that is not ours: do not map it. The
        // connection fails (every request answered, the reason logged) and
        // the guest runs on without xenstore.
        let mut after = After::default();
        c.fail_with(
            alloc::format!(
                "the restored start_info names xenstore frame {:#x}, which is not one of this domain's frames",
                si.store_mfn()
            ),
            &mut after,
        );
        // Nothing may reach the old domain's page through a stale mapping.
        *PAGE.lock() = None;
        drop(g);
        after.run();
        return;
    };
    // SAFETY: `pfn` is one of this domain's frames (checked against the P2M
    // by the suspend path), in the linear map; start_info names it as the
    // new domain's xenstore page.
    let page = unsafe { XenstorePage::new(crate::xen::p2m::pfn_to_va(pfn)) };
    let r = c.core.resume_on_new_ring(&page);
    c.failed = None;
    c.reconnecting = false;
    *PAGE.lock() = Some(page);
    let port = si.store_evtchn();
    PORT.store(port, Ordering::Relaxed);
    crate::xen::evtchn::bind_handler(port, super::reader::on_event, 0);
    *LAST.lock() = Some(r);
}

fn resume(o: Outcome) {
    let mut after = After::default();
    {
        let mut g = STATE.lock();
        if let Some(c) = g.as_mut() {
            c.route_completions(&mut after);
            if let Some(p) = PAGE.lock().as_ref() {
                after.notify |= c.core.pump_out(p).unwrap_or(false);
            }
        }
    }
    after.run();
    notify();
    REPLIES.wake_all();
    EVENT.store(true, Ordering::SeqCst);
    READER.wake_all();
    let s = last();
    let mut line = String::new();
    let _ = core::fmt::Write::write_fmt(
        &mut line,
        format_args!(
            "{} request(s) on the ring at the suspend, {} after {} ms",
            s.in_flight_at_start,
            if s.quiescent { "all answered" } else { "NOT all answered" },
            s.waited_ns / 1_000_000
        ),
    );
    match (o, s.resumed) {
        (Outcome::NewDomain, Some(r)) => crate::info!(
            "xenstore: on the new domain's ring: {}; {} held request(s) sent now, {} watch(es) registered again, {} \
             failed with Reconnected, {} byte(s) of the old connection's responses discarded",
            line,
            r.held,
            r.watches,
            r.failed,
            r.discarded_bytes
        ),
        _ => crate::info!("xenstore: same ring after the cancelled suspend: {}", line),
    }
}
