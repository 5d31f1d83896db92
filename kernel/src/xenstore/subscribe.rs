//! The API for subscribers above the client (the xenbus node in
//! `kernel/src/xenfs`): requests and watches whose replies and events are
//! delivered into the subscriber's [`MailboxHandle`], charged to its
//! budget. Nothing here knows what the subscriber is.
use alloc::boxed::Box;
use alloc::sync::Arc;

use xs_client::{Completion, Outgoing, WatchId};

use super::conn::{self, Sink};
use super::mailbox::MailboxHandle;
use super::reader;
use super::XsError;

/// How long an unwatch waits for xenstored's answer.
pub const UNWATCH_TIMEOUT_NS: u64 = 5_000_000_000;

/// Sends a complete message (header and payload, the subscriber's `req_id`
/// inside); exactly one answer for it is delivered into `mb` under
/// `cookie`: xenstored's reply, or the error that stands for it.
pub fn submit_to(mb: &Arc<MailboxHandle>, cookie: u64, msg: &[u8]) -> Result<(), XsError> {
    mb.lock().expect_reply().map_err(|_| XsError::NoMemory)?;
    match conn::submit(Outgoing::Raw(msg), Sink::Mailbox { mb: mb.clone(), cookie }, mb.budget()) {
        Ok(_) => Ok(()),
        Err(e) => {
            mb.lock().unexpect_reply();
            Err(e)
        }
    }
}

/// A watch registered for a subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchHandle(WatchId);

/// Registers a watch on `path`; its events are delivered into `mb` under
/// `id`. Waits for xenstored's answer (its error, if any, is returned).
///
/// # Yields
pub fn watch_into(mb: &Arc<MailboxHandle>, id: u64, path: &[u8]) -> Result<WatchHandle, XsError> {
    let (wid, rid) = conn::register_watch(path, b"", mb, id, Sink::Waiter(crate::sched::current()), mb.budget())?;
    let deadline = crate::time::deadline_after(super::api::DEFAULT_TIMEOUT_NS);
    match reader::wait_reply(rid, deadline).and_then(|r| r.result().map(|_| ()).map_err(XsError::Xs)) {
        Ok(()) => Ok(WatchHandle(wid)),
        Err(e) => {
            conn::unregister_watch(wid, Sink::Discard);
            Err(e)
        }
    }
}

/// Removes a watch. Once this returns no more of its events are delivered;
/// it waits (at most [`UNWATCH_TIMEOUT_NS`]) for xenstored's answer.
///
/// # Yields
pub fn unwatch(h: WatchHandle) {
    if let Some(rid) = conn::unregister_watch(h.0, Sink::Waiter(crate::sched::current())) {
        let _ = reader::wait_reply(rid, crate::time::deadline_after(UNWATCH_TIMEOUT_NS));
    }
}

/// The subscriber of request `cookie` is gone: its answer is handed to
/// `then` (outside the client's locks) or dropped.
pub fn abandon(cookie: u64, then: Option<Box<dyn FnOnce(Completion) + Send>>) {
    conn::redirect(cookie, then)
}
