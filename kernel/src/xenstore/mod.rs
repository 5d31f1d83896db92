//! The xenstore client: `xs_client::ClientCore` (request multiplexing by
//! req_id, the outstanding-request quota, watch routing) wired to the real
//! ring page and event channel.
//!
//! Data path (calls go down, data comes up):
//! ```text
//! api / subscribe   charge the budget; lock STATE+PAGE; submit (straight onto
//!                   the ring when it can); unlock; notify xenstored
//! evtchn upcall     sets EVENT, wakes the reader: the thread waiting in
//!                   `wait_serviced` (a reply's waiter, which then services
//!                   the ring itself), else the reader thread. Nothing else.
//! reader            lock STATE+PAGE; check both rings; pump; route:
//!                     replies of api calls     -> stay in the core, wake that thread
//!                     replies of subscribers   -> into the subscriber's mailbox, wake it
//!                     watch events             -> into the watch's mailbox, wake it
//! ```
//! The reader thread is the only consumer of the response ring. A fatal
//! ring or protocol error answers every request in flight and is handled
//! as `on_xenstore_failure=` says ([`policy`]).
//!
//! Modules, one job each: [`error`] (the error type), `conn` (state, sinks,
//! submission), `route` (completions, events and failures to where they
//! go), `reader` (the reader thread), [`api`] (typed
//! kernel API), [`watch`] (kernel watches), [`subscribe`] (requests and
//! watches delivered into mailboxes), [`mailbox`], [`policy`],
//! `reconnect`, `page` (the ring page), [`suspend`] (the connection
//! across `xl save`/`xl restore`), [`shutdown`] (the toolstack's shutdown
//! and suspend protocol, a user of the API).
//!
//! # Concurrency
//! Lock order: `xenstore.state` -> `xenstore.page` -> `xenstore.mailbox`.
//! All three are `ThreadLock`s (events stay enabled); see `conn`.
use alloc::collections::BTreeMap;
use core::sync::atomic::Ordering;

use kcore::budget::Budget;
use xs_client::{ClientCore, Config};

pub mod api;
mod conn;
mod error;
pub mod mailbox;
mod page;
pub mod policy;
mod reader;
mod reconnect;
mod route;
pub mod shutdown;
pub mod subscribe;
pub mod suspend;
pub mod watch;

pub use api::*;
pub use conn::{Failure, COMPLETED};
pub use error::XsError;
pub use mailbox::MailboxHandle;
pub use reader::wait_serviced;
pub use reconnect::{reconnect, supports_reconnection};
pub use suspend::generation;
pub use watch::watch;

use conn::{Conn, PAGE, PORT, STATE};
use page::XenstorePage;

/// How long init waits for a connection that is mid-reset at boot.
pub const CONNECT_TIMEOUT_NS: u64 = 5_000_000_000;

/// The budget of the kernel's own requests.
pub(crate) fn kernel_budget() -> &'static Budget {
    &crate::mm::budget::XS_KERNEL
}

/// Maps the ring, binds its event channel and starts the reader thread.
pub fn init(store_va: u64, port: u32) -> Result<(), XsError> {
    // SAFETY: `store_va` is the linear mapping of start_info's store_mfn.
    let page = unsafe { XenstorePage::new(store_va) };
    // xenstore-ring.txt: a connection may be mid-reset at boot; wait for it.
    let deadline = crate::time::deadline_after(CONNECT_TIMEOUT_NS);
    while xs_ring::SharedPage::connection(&page) != xen_sys::XENSTORE_CONNECTED && crate::time::now_ns() < deadline {
        crate::sched::sleep_ns(10_000_000);
    }
    // Discard anything a previous user of the page left in the response
    // ring (only if its indices are sane).
    {
        use xs_ring::SharedPage;
        let (prod, cons) = (page.rsp_prod(), page.rsp_cons());
        if prod != cons && prod.wrapping_sub(cons) <= xs_ring::RING_SIZE as u32 {
            page.set_rsp_cons(prod);
        }
    }
    *PAGE.lock() = Some(page);
    *STATE.lock() = Some(Conn {
        core: ClientCore::new(Config::default()),
        sinks: BTreeMap::new(),
        watch_sinks: BTreeMap::new(),
        failed: None,
        failed_mark: 0,
        reconnecting: false,
    });
    PORT.store(port, Ordering::Relaxed);
    crate::xen::evtchn::bind_handler(port, reader::on_event, 0);
    crate::sched::spawn("xenstore", reader::reader_thread).map_err(|_| XsError::NoMemory)?;
    suspend::init();
    Ok(())
}

/// Whether the connection is up (the xenbus node's open() needs it).
pub fn available() -> bool {
    STATE.lock().as_ref().is_some_and(|c| c.failed.is_none())
}

/// The failure that ended the connection, if it failed.
pub fn failure() -> Option<Failure> {
    STATE.lock().as_ref().and_then(|c| c.failed.clone())
}

/// (in flight, queued) requests of the client, for diagnostics and tests.
pub fn load() -> (usize, usize) {
    STATE.lock().as_ref().map(|c| (c.core.in_flight(), c.core.queued())).unwrap_or((0, 0))
}

/// Watch events (coalesced, dropped) at mailbox bounds since boot.
pub fn mailbox_drops() -> (u64, u64) {
    (conn::MAILBOX_COALESCED.load(Ordering::Relaxed), conn::MAILBOX_DROPPED.load(Ordering::Relaxed))
}

/// The client's drop counters.
pub fn stats() -> xs_client::Stats {
    STATE.lock().as_ref().map(|c| c.core.stats()).unwrap_or_default()
}

/// Fault injection for the adversary tests: while on, every reply is
/// treated as if no memory were left for it.
pub fn set_fail_allocations(on: bool) {
    if let Some(c) = STATE.lock().as_mut() {
        c.core.set_fail_allocations(on);
    }
}

pub use page::Field;

/// For the adversary tests: moves one of xenstored's ring indices by
/// `delta` (wrapping), as a misbehaving dom0 could, without notifying.
pub fn corrupt_for_tests(field: Field, delta: u32) {
    use xs_ring::SharedPage;
    if let Some(p) = PAGE.lock().as_ref() {
        let v = match field {
            Field::ReqCons => p.req_cons(),
            Field::RspProd => p.rsp_prod(),
        };
        p.poke(field, v.wrapping_add(delta));
    }
}

/// Wakes the reader as the event channel would (tests).
pub fn kick_reader() {
    conn::EVENT.store(true, Ordering::SeqCst);
    conn::READER.wake_all();
}
