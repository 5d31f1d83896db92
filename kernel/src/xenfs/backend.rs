//! The xenbus node's backend: `xenbus_node::Backend` over the xenstore
//! client's subscriber API, for one open. Also the node's close policy: a
//! TRANSACTION_START whose open is gone gets its transaction aborted when
//! the reply comes, so a program that closes (or exits) between START and
//! its reply does not leak one of xenstored's 10 transactions per domain.
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use vfs::Errno;
use xenbus_node::Backend;
use xs_client::{ops, Completion};
use xs_wire::XsErrno;

use crate::xenstore::subscribe::{self, WatchHandle};
use kcore::budget::Charge;

/// Bytes charged per watch besides twice its path (the node's and the
/// client's copies): the token, the two table entries, the handle.
const WATCH_CHARGE: usize = 512;
use crate::xenstore::{self, MailboxHandle, XsError};

/// The backend of one open: its mailbox and the watches it registered
/// (node watch id -> client watch).
pub struct KernelBackend<'a> {
    pub mailbox: &'a Arc<MailboxHandle>,
    pub watches: &'a mut BTreeMap<u64, (WatchHandle, Charge)>,
}

/// The errno write() returns when a request cannot be sent.
pub fn submit_errno(e: XsError) -> Errno {
    match e {
        XsError::Invalid => Errno::EINVAL,
        XsError::NoMemory => Errno::ENOMEM,
        XsError::Busy => Errno::ENOBUFS,
        _ => Errno::EIO,
    }
}

/// Aborts the transaction a late START reply created.
fn abort_late_start(c: Completion) {
    if let Ok(reply) = c {
        if let Ok(tx) = ops::parse_transaction_start(&reply) {
            let _ = xenstore::send_and_forget(&ops::transaction_end(tx, false));
        }
    }
}

impl Backend for KernelBackend<'_> {
    fn submit(&mut self, cookie: u64, msg: &[u8]) -> Result<(), Errno> {
        subscribe::submit_to(self.mailbox, cookie, msg).map_err(submit_errno)
    }

    fn watch(&mut self, watch_id: u64, path: &[u8]) -> Result<(), XsErrno> {
        // What a watch holds while it lives (the node's entry with its path
        // and token, the client's entry with its path, the table nodes) is
        // charged to the node budget until the unwatch or the close: the
        // number of watches is xenstored's to limit, and dom0 may raise it.
        let charge =
            crate::mm::budget::XS_NODE.try_charge(WATCH_CHARGE + 2 * path.len()).map_err(|_| XsErrno::ENOMEM)?;
        match subscribe::watch_into(self.mailbox, watch_id, path) {
            Ok(h) => {
                self.watches.insert(watch_id, (h, charge));
                Ok(())
            }
            Err(XsError::Xs(e)) => Err(e),
            Err(XsError::NoMemory | XsError::Busy) => Err(XsErrno::ENOMEM),
            Err(XsError::Invalid) => Err(XsErrno::EINVAL),
            Err(_) => Err(XsErrno::EIO),
        }
    }

    fn unwatch(&mut self, watch_id: u64, _path: &[u8]) {
        if let Some((h, _charge)) = self.watches.remove(&watch_id) {
            subscribe::unwatch(h);
        }
    }

    fn abort_transaction(&mut self, tx_id: u32) {
        let _ = xenstore::send_and_forget(&ops::transaction_end(tx_id, false));
    }

    fn abandon(&mut self, cookie: u64, was_transaction_start: bool) {
        let then: Option<Box<dyn FnOnce(Completion) + Send>> =
            if was_transaction_start { Some(Box::new(abort_late_start)) } else { None };
        subscribe::abandon(cookie, then);
    }

    fn generation(&self) -> u64 {
        xenstore::generation()
    }

    fn end_stale_transaction(&mut self, tx_id: u32, started_in: u64) {
        if started_in >= xenstore::suspend::connection_generation() {
            let _ = xenstore::send_and_forget(&ops::transaction_end(tx_id, false));
        }
    }
}
