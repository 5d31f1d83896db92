//! xenfs: the `xenbus` device node (`/proc/xen/xenbus`, `/dev/xen/xenbus`)
//! and `/proc/xen/capabilities` (empty in a domU, as on Linux).
//!
//! Each open gets a [`XenbusOpen`]: the `xenbus_node::XenbusFile` state
//! machine (framing, transactions, watches, read queue; its ABI is in
//! docs/xenbus-abi.md) plus the inbox the xenstore reader thread pushes
//! replies and watch events into. This module only adds waiting and the
//! backend that forwards to the kernel's xenstore client.
//!
//! # Concurrency
//! * `file` is a `SleepMutex`: held for one operation of the state machine,
//!   including a WATCH's wait for xenstored (the reply path never needs it:
//!   replies go to `inbox`, so a WATCH cannot deadlock the connection, unlike
//!   Linux's §6.6).
//! * `inbox` is an `IrqLock`, taken by the xenstore reader thread (with the
//!   client's STATE lock held: order STATE, then inbox) and, briefly, by the
//!   file's operations to take a batch. Never held across a backend call.
//! * `gen` counts changes of the read queue made by write() (synthetic
//!   replies), so that a blocked reader notices them.
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use vfs::Errno;
use xenbus_node::{Backend, Inbox, XenbusFile};
use xs_wire::XsErrno;

use crate::arch::irq::IrqLock;
use crate::sched::{SleepMutex, WaitQueue};
use crate::xenstore;

/// Woken whenever any xenbus open may have become readable; `poll()` over
/// several descriptors waits here (the xenstore reader wakes it too).
pub use crate::xenstore::NODE_ACTIVITY as ACTIVITY;

/// One open of the xenbus node.
pub struct XenbusOpen {
    file: SleepMutex<Option<XenbusFile>>,
    inbox: Arc<IrqLock<Inbox>>,
    wq: Arc<WaitQueue>,
    gen: AtomicU64,
}

struct KernelBackend<'a> {
    inbox: &'a Arc<IrqLock<Inbox>>,
    wq: &'a Arc<WaitQueue>,
}

impl Backend for KernelBackend<'_> {
    fn submit(&mut self, cookie: u64, msg: &[u8]) -> Result<(), Errno> {
        xenstore::node_submit(msg, self.inbox, self.wq, cookie).map_err(|e| match e {
            xenstore::XsError::Invalid => Errno::EINVAL,
            _ => Errno::EIO,
        })
    }

    fn watch(&mut self, watch_id: u64, path: &[u8]) -> Result<(), XsErrno> {
        xenstore::node_watch(watch_id, path, self.inbox, self.wq)
    }

    fn unwatch(&mut self, watch_id: u64, _path: &[u8]) {
        xenstore::node_unwatch(watch_id)
    }

    fn abort_transaction(&mut self, tx_id: u32) {
        xenstore::node_abort_transaction(tx_id)
    }

    fn abandon(&mut self, cookie: u64, was_transaction_start: bool) {
        xenstore::node_abandon(cookie, was_transaction_start)
    }
}

impl XenbusOpen {
    /// A new open; `ENOENT` when xenstore is not available (as Linux).
    pub fn open() -> Result<Arc<XenbusOpen>, Errno> {
        if !xenstore::available() {
            return Err(Errno::ENOENT);
        }
        Ok(Arc::new(XenbusOpen {
            file: SleepMutex::new(Some(XenbusFile::new())),
            inbox: Arc::new(IrqLock::new(Inbox::new())),
            wq: Arc::new(WaitQueue::new()),
            gen: AtomicU64::new(0),
        }))
    }

    fn notify(&self) {
        self.gen.fetch_add(1, Ordering::SeqCst);
        self.wq.wake_all();
        ACTIVITY.wake_all();
    }

    /// `write(2)`: one step of the framing state machine.
    ///
    /// # Yields
    pub fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        let r = {
            let mut g = self.file.lock();
            let f = g.as_mut().ok_or(Errno::EBADF)?;
            let mut batch = self.inbox.lock().take();
            let mut backend = KernelBackend { inbox: &self.inbox, wq: &self.wq };
            f.write(&mut batch, &mut backend, buf)
        };
        self.notify();
        r
    }

    /// `read(2)`: a byte stream of replies and events; blocks while empty
    /// unless `nonblocking`.
    ///
    /// # Yields
    pub fn read(&self, buf: &mut [u8], nonblocking: bool) -> Result<usize, Errno> {
        loop {
            let g0 = self.gen.load(Ordering::SeqCst);
            let r = {
                let mut g = self.file.lock();
                let f = g.as_mut().ok_or(Errno::EBADF)?;
                let mut batch = self.inbox.lock().take();
                f.read(&mut batch, buf)
            };
            match r {
                Err(Errno::EAGAIN) if !nonblocking => {
                    self.wq.wait_until(|| self.gen.load(Ordering::SeqCst) != g0 || !self.inbox.lock().is_empty());
                }
                r => return r,
            }
        }
    }

    /// The `poll(2)` mask: POLLIN|POLLRDNORM exactly when data is queued.
    ///
    /// # Yields
    pub fn poll(&self) -> u32 {
        let mut g = self.file.lock();
        let Some(f) = g.as_mut() else { return 0 };
        let mut batch = self.inbox.lock().take();
        f.poll(&mut batch)
    }

    /// Whether something may have changed since generation `g0` (for poll).
    pub fn changed_since(&self, g0: u64) -> bool {
        self.gen.load(Ordering::SeqCst) != g0 || !self.inbox.lock().is_empty()
    }

    /// The change counter.
    pub fn generation(&self) -> u64 {
        self.gen.load(Ordering::SeqCst)
    }

    /// `close(2)` of the last descriptor: aborts the open's transactions,
    /// removes its watches, drops queued data; replies still in flight are
    /// dropped when they arrive.
    ///
    /// # Yields
    pub fn close(&self) {
        let f = self.file.lock().take();
        if let Some(f) = f {
            let mut backend = KernelBackend { inbox: &self.inbox, wq: &self.wq };
            let inbox = self.inbox.clone();
            f.close(&mut backend, move || inbox.lock().take());
        }
        self.notify();
    }
}
