//! The reader thread: the only consumer of the response ring. Woken by the
//! event channel (the upcall only sets a flag and wakes it), it pumps both
//! rings and routes what arrived. While requests are in flight it also
//! looks at the ring every [`WATCHDOG_NS`] without an event, so a ring the
//! other side corrupted without signalling is found and every request in
//! flight is answered, instead of waiting forever.
use core::sync::atomic::Ordering;

use super::conn::{After, COMPLETED, EVENT, PAGE, READER, STATE};
use crate::time::now_ns;

/// How long the reader waits for an event while requests are in flight
/// before it checks the ring anyway.
pub const WATCHDOG_NS: u64 = 1_000_000_000;
/// How long requests may be in flight with no reply at all before the
/// connection counts as failed ("xenstored stopped answering": a crashed
/// daemon, or a response stream desynchronised by garbage whose framing
/// still looks valid).
pub const STALL_NS: u64 = 30_000_000_000;

pub(super) fn on_event(_port: u32, _data: usize) {
    EVENT.store(true, Ordering::SeqCst);
    READER.wake_all();
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
