//! The reader thread: the only consumer of the response ring. Woken by the
//! event channel (the upcall only sets a flag and wakes it), it pumps both
//! rings and routes what arrived. While requests are in flight it also
//! looks at the ring every [`WATCHDOG_NS`] without an event, so a ring the
//! other side corrupted without signalling is found and every request in
//! flight is answered, instead of waiting forever.
//!
//! A thread that waits for xenstore input ([`wait_serviced`]: a read of
//! the xenbus node, a kernel request) takes the reader's role while it
//! waits: the event wakes it instead of the reader thread, and it pumps
//! and routes in its own context, so a reply costs one thread switch
//! fewer. The reader thread still serves every event when no such thread
//! waits, and keeps its watchdog.
use core::sync::atomic::{AtomicU32, Ordering};

use super::conn::{After, COMPLETED, EVENT, PAGE, READER, REPLIES, STATE};
use super::XsError;
use crate::sched::{self, WaitQueue};
use crate::time::now_ns;
use xs_client::RequestId;

/// How long the reader waits for an event while requests are in flight
/// before it checks the ring anyway.
pub const WATCHDOG_NS: u64 = 1_000_000_000;
/// How long requests may be in flight with no reply at all before the
/// connection counts as failed ("xenstored stopped answering": a crashed
/// daemon, or a response stream desynchronised by garbage whose framing
/// still looks valid).
pub const STALL_NS: u64 = 30_000_000_000;

/// The thread waiting in [`wait_serviced`] that the next event wakes
/// instead of the reader thread (its id + 1; 0: none). One at a time: the
/// latest to wait takes the role.
static VOLUNTEER: AtomicU32 = AtomicU32::new(0);

pub(super) fn on_event(_port: u32, _data: usize) {
    EVENT.store(true, Ordering::SeqCst);
    match VOLUNTEER.load(Ordering::SeqCst) {
        0 => {
            READER.wake_all();
        }
        v => sched::wake(sched::ThreadId(v - 1)),
    }
}

/// Waits on `wq` until `cond()` holds (true) or Xen system time reaches
/// `deadline` (false). Meanwhile this thread is the one the xenstore event
/// wakes: it then services the ring itself ([`service`]), which delivers
/// replies and events (its own among them) and wakes their waiters.
///
/// # Yields
pub fn wait_serviced(wq: &WaitQueue, mut cond: impl FnMut() -> bool, deadline: u64) -> bool {
    let me = sched::current().0.wrapping_add(1);
    loop {
        VOLUNTEER.store(me, Ordering::SeqCst);
        let woke = wq.wait_until_deadline(|| cond() || EVENT.load(Ordering::SeqCst), deadline);
        let _ = VOLUNTEER.compare_exchange(me, 0, Ordering::SeqCst, Ordering::SeqCst);
        if EVENT.swap(false, Ordering::SeqCst) {
            service();
        }
        if cond() {
            return true;
        }
        if !woke {
            return false;
        }
    }
}

pub(super) fn reader_thread() {
    let mut seen = COMPLETED.load(Ordering::Relaxed);
    let mut since = now_ns();
    loop {
        let busy = STATE.lock().as_ref().is_some_and(|c| c.usable() && c.core.in_flight() > 0);
        let deadline = if busy { now_ns().saturating_add(WATCHDOG_NS) } else { u64::MAX };
        READER.wait_until_deadline(|| EVENT.swap(false, Ordering::SeqCst), deadline);
        service();
        let done = COMPLETED.load(Ordering::Relaxed);
        if done != seen || !busy {
            seen = done;
            since = now_ns();
        } else if now_ns().saturating_sub(since) > STALL_NS {
            stalled();
            since = now_ns();
        }
    }
}

/// Requests have been in flight for [`STALL_NS`] with no reply: the
/// connection has failed; answer them.
fn stalled() {
    let mut after = After::default();
    {
        let mut g = STATE.lock();
        let Some(c) = g.as_mut() else { return };
        if !c.usable() || c.core.in_flight() == 0 {
            return;
        }
        let what = alloc::format!(
            "xenstored stopped answering: {} request(s) in flight and no reply for {} s",
            c.core.in_flight(),
            STALL_NS / 1_000_000_000
        );
        c.fail_with(what, &mut after);
    }
    after.run();
}

/// Pumps both rings and routes what arrived. Runs in the reader thread.
pub(super) fn service() {
    loop {
        let mut after = After::default();
        let more = {
            let mut g = STATE.lock();
            let Some(c) = g.as_mut() else { return };
            if !c.usable() {
                return;
            }
            let pg = PAGE.lock();
            let Some(page) = pg.as_ref() else { return };
            // Both rings' indices are checked on every pass, whether or not
            // there is something to write.
            let r = xs_ring::request_space(page)
                .and_then(|_| c.core.pump_out(page))
                .and_then(|n| c.core.pump_in(page).map(|(m, more)| (n || m, more)))
                // Replies freed quota: more output may go now.
                .and_then(|(n, more)| c.core.pump_out(page).map(|m| (n || m, more)));
            drop(pg);
            let more = match r {
                Ok((n, more)) => {
                    after.notify |= n;
                    more
                }
                Err(e) => {
                    c.fail(e, &mut after);
                    false
                }
            };
            c.route_completions(&mut after);
            c.route_events(&mut after);
            more
        };
        after.run();
        if !more {
            return;
        }
    }
}

/// Waits for the reply of `id` (sent with [`super::conn::Sink::Waiter`] for this
/// thread) until `deadline`.
///
/// # Yields
pub(super) fn wait_reply(id: RequestId, deadline: u64) -> Result<xs_client::Reply, XsError> {
    let done = wait_serviced(
        &REPLIES,
        || {
            let g = STATE.lock();
            match g.as_ref() {
                Some(c) => c.core.is_complete(id) || !c.core.is_pending(id),
                None => true,
            }
        },
        deadline,
    );
    let mut g = STATE.lock();
    let c = g.as_mut().ok_or(XsError::Closed)?;
    if !done {
        // The core drops the late reply without completing it, so nothing
        // would ever route (and remove) a sink left for it.
        c.core.forget(id);
        c.sinks.remove(&id);
        return Err(XsError::Timeout);
    }
    match c.core.take_reply(id) {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(e.into()),
        None => Err(XsError::Closed),
    }
}
