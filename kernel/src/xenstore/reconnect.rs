//! Ring reconnection (xenstore-ring.txt), when xenstored offers it: the
//! guest sets `connection` to RECONNECT and xenstored resets the ring and
//! forgets every request, watch and transaction of the connection. The
//! client then answers what was in flight with `Reconnected` and registers
//! its watches again. Used after a connection failure (policy `auto`) and
//! by the tests.
use core::sync::atomic::Ordering;

use super::conn::{notify, EVENT, PAGE, READER, REPLIES, STATE};
use super::XsError;
use xs_wire::XsErrno;

/// How long xenstored may take to complete the handshake.
pub const RECONNECT_TIMEOUT_NS: u64 = 5_000_000_000;
/// How often the handshake's completion is checked.
const POLL_NS: u64 = 1_000_000;

/// Whether xenstored offers ring reconnection.
pub fn supports_reconnection() -> bool {
    PAGE.lock().as_ref().is_some_and(xs_ring::features_reconnection)
}

/// Resets the ring with xenstored. Requests in flight fail with
/// `Reconnected`; watches are registered again.
///
/// # Yields
pub fn reconnect() -> Result<(), XsError> {
    if !supports_reconnection() {
        return Err(XsError::Xs(XsErrno::ENOSYS));
    }
    {
        // Stop using the ring, then ask for the reset.
        let mut g = STATE.lock();
        let c = g.as_mut().ok_or(XsError::Closed)?;
        c.reconnecting = true;
        if let Some(p) = PAGE.lock().as_ref() {
            xs_ring::request_reconnect(p);
        }
    }
    notify();
    let deadline = crate::time::deadline_after(RECONNECT_TIMEOUT_NS);
    while !PAGE.lock().as_ref().is_some_and(xs_ring::reconnect_done) {
        if crate::time::now_ns() >= deadline {
            if let Some(c) = STATE.lock().as_mut() {
                c.reconnecting = false;
            }
            return Err(XsError::Timeout);
        }
        crate::sched::sleep_ns(POLL_NS);
    }
    {
        let mut g = STATE.lock();
        let c = g.as_mut().ok_or(XsError::Closed)?;
        c.core.reset();
        c.failed = None;
        c.reconnecting = false;
        if let Some(p) = PAGE.lock().as_ref() {
            let _ = c.core.pump_out(p);
        }
    }
    notify();
    REPLIES.wake_all();
    EVENT.store(true, Ordering::SeqCst);
    READER.wake_all();
    Ok(())
}
