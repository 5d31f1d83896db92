//! Watches the kernel itself registers (`control/shutdown`, tests): their
//! events arrive in a mailbox of their own, charged to the kernel's budget.
use alloc::sync::Arc;
use alloc::vec::Vec;

use xs_client::{Delivery, WatchEvent, WatchId};

use super::conn::{self, Sink};
use super::mailbox::MailboxHandle;
use super::reader;
use super::XsError;

/// Most bytes of events a kernel watch keeps waiting.
pub const KERNEL_WATCH_EVENT_LIMIT: usize = 16 << 10;

/// A watch registered by the kernel; unregistered when dropped.
pub struct Watch {
    wid: WatchId,
    mb: Arc<MailboxHandle>,
    token: Vec<u8>,
}

/// Registers a watch on `path` (relative paths are under the domain's home).
/// Waits for xenstored's answer; its initial event is queued like any other.
///
/// # Yields
pub fn watch(path: &str, token: &str) -> Result<Watch, XsError> {
    let mb = MailboxHandle::new(KERNEL_WATCH_EVENT_LIMIT, super::kernel_budget(), None);
    let (wid, rid) = conn::register_watch(
        path.as_bytes(),
        b"",
        &mb,
        0,
        Sink::Waiter(crate::sched::current()),
        super::kernel_budget(),
    )?;
    let deadline = crate::time::deadline_after(super::api::DEFAULT_TIMEOUT_NS);
    let r = reader::wait_reply(rid, deadline).and_then(|r| r.result().map(|_| ()).map_err(XsError::Xs));
    if let Err(e) = r {
        conn::unregister_watch(wid, Sink::Discard);
        return Err(e);
    }
    Ok(Watch { wid, mb, token: token.as_bytes().to_vec() })
}

impl Watch {
    /// The next event, waiting until `deadline` (Xen system ns) at most.
    ///
    /// # Yields
    pub fn next_event(&self, deadline: u64) -> Option<WatchEvent> {
        let mut out = None;
        self.mb.wait_queue().wait_until_deadline(
            || {
                let mut mb = self.mb.lock();
                while let Some(d) = mb.pop() {
                    if let Delivery::Event { path, .. } = d {
                        out = Some(WatchEvent { path, token: self.token.clone() });
                        return true;
                    }
                }
                false
            },
            deadline,
        );
        out
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        conn::unregister_watch(self.wid, Sink::Discard);
    }
}
