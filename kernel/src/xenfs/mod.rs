//! xenfs: the `xenbus` device node (`/proc/xen/xenbus`, `/dev/xen/xenbus`),
//! `/proc/xen/capabilities` (empty in a domU, as on Linux) and
//! `/proc/xen/xenbus-stats` (our counters; not on Linux).
//!
//! Each open gets a [`XenbusOpen`]: the `xenbus_node::XenbusFile` state
//! machine (framing, transactions, watches, read queue; its ABI is in
//! docs/xenbus-abi.md) plus the mailbox the xenstore reader thread delivers
//! replies and watch events into. This module only adds waiting and the
//! backend ([`backend`]) that forwards to the kernel's xenstore client.
//!
//! # Concurrency
//! * `state` is a `SleepMutex`: held for one operation of the state machine,
//!   including a WATCH's wait for xenstored (the reply path never needs it:
//!   replies go to the mailbox, so a WATCH cannot deadlock the connection,
//!   unlike Linux's §6.6).
//! * the mailbox is a `ThreadLock` inside the client's `MailboxHandle`,
//!   taken by the xenstore reader thread to deliver and, briefly, by the
//!   open's operations to drain it into the state machine (order:
//!   `xenbus.open` -> `xenstore.mailbox`). Never held across a backend
//!   call.
//! * `gen` counts changes of the read queue made by write() (synthetic
//!   replies), so that a blocked reader notices them.
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use vfs::Errno;
use xenbus_node::{XenbusFile, MAILBOX_EVENT_LIMIT};

use crate::mm::budget::XS_NODE;
use crate::sched::{SleepMutex, WaitQueue};
use crate::xenstore::subscribe::WatchHandle;
use kcore::budget::Charge;

/// Bytes charged per open: its write buffer (one whole message, header and
/// the largest payload) and its state.
const OPEN_CHARGE: usize = xs_wire::HEADER_LEN + xs_wire::PAYLOAD_MAX + 512;
use crate::xenstore::{self, MailboxHandle};

pub mod backend;
pub mod stats;

use backend::KernelBackend;

/// Woken whenever any xenbus open may have become readable; `poll()` over
/// several descriptors waits here (the xenstore reader wakes it with each
/// open's own queue).
pub static ACTIVITY: WaitQueue = WaitQueue::new();

struct OpenState {
    file: XenbusFile,
    watches: BTreeMap<u64, (WatchHandle, Charge)>,
    /// The open's own memory (its state and its write buffer, up to one
    /// whole message), charged to the node budget until the close.
    _charge: Charge,
}

/// One open of the xenbus node.
pub struct XenbusOpen {
    state: SleepMutex<Option<OpenState>>,
    mailbox: Arc<MailboxHandle>,
    gen: AtomicU64,
}

impl XenbusOpen {
    /// A new open; `ENOENT` when xenstore is not available (as Linux).
    pub fn open() -> Result<Arc<XenbusOpen>, Errno> {
        if !xenstore::available() {
            return Err(Errno::ENOENT);
        }
        let charge = XS_NODE.try_charge(OPEN_CHARGE).map_err(|_| Errno::ENOMEM)?;
        stats::opened();
        Ok(Arc::new(XenbusOpen {
            state: SleepMutex::new(Some(OpenState {
                file: XenbusFile::new(),
                watches: BTreeMap::new(),
                _charge: charge,
            })),
            mailbox: MailboxHandle::new(MAILBOX_EVENT_LIMIT, &XS_NODE, Some(&ACTIVITY)),
            gen: AtomicU64::new(0),
        }))
    }

    fn notify(&self) {
        self.gen.fetch_add(1, Ordering::SeqCst);
        self.mailbox.wake();
    }

    /// Applies what the reader delivered to the state machine.
    fn drain(&self, st: &mut OpenState) {
        st.file.drain(&mut self.mailbox.lock());
        stats::note_file(&mut st.file);
    }

    /// `write(2)`: one step of the framing state machine.
    ///
    /// # Yields
    pub fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        let r = {
            let mut g = self.state.lock();
            let st = g.as_mut().ok_or(Errno::EBADF)?;
            self.drain(st);
            let OpenState { file, watches, .. } = st;
            let mut backend = KernelBackend { mailbox: &self.mailbox, watches };
            file.write(&mut backend, buf)
        };
        self.notify();
        r
    }

    /// `read(2)`: a byte stream of replies and events; blocks while empty
    /// unless `nonblocking`. `interrupted` is checked while blocked (a
    /// program's thread being cancelled): it ends the wait with `EINTR`.
    ///
    /// # Yields
    pub fn read(&self, buf: &mut [u8], nonblocking: bool, interrupted: &dyn Fn() -> bool) -> Result<usize, Errno> {
        loop {
            let g0 = self.gen.load(Ordering::SeqCst);
            let r = {
                let mut g = self.state.lock();
                let st = g.as_mut().ok_or(Errno::EBADF)?;
                self.drain(st);
                st.file.read(buf)
            };
            match r {
                Err(Errno::EAGAIN) if !nonblocking => {
                    if interrupted() {
                        return Err(Errno::EINTR);
                    }
                    // Serviced: this thread pumps the ring itself when the
                    // reply's event comes (no hop through the reader thread).
                    xenstore::wait_serviced(
                        self.mailbox.wait_queue(),
                        || self.gen.load(Ordering::SeqCst) != g0 || !self.mailbox.lock().is_empty() || interrupted(),
                        u64::MAX,
                    );
                }
                r => return r,
            }
        }
    }

    /// The `poll(2)` mask: POLLIN|POLLRDNORM exactly when data is queued.
    ///
    /// # Yields
    pub fn poll(&self) -> u32 {
        let mut g = self.state.lock();
        let Some(st) = g.as_mut() else { return 0 };
        self.drain(st);
        st.file.poll()
    }

    /// Whether something may have changed since generation `g0` (for poll).
    pub fn changed_since(&self, g0: u64) -> bool {
        self.gen.load(Ordering::SeqCst) != g0 || !self.mailbox.lock().is_empty()
    }

    /// The change counter.
    pub fn generation(&self) -> u64 {
        self.gen.load(Ordering::SeqCst)
    }

    /// `close(2)` of the last descriptor: aborts the open's transactions,
    /// removes its watches, drops queued data; replies still in flight are
    /// dropped when they arrive (a late TRANSACTION_START's transaction is
    /// aborted then).
    ///
    /// # Yields
    pub fn close(&self) {
        let st = self.state.lock().take();
        if let Some(OpenState { file, mut watches, .. }) = st {
            let mut backend = KernelBackend { mailbox: &self.mailbox, watches: &mut watches };
            let mb = self.mailbox.clone();
            file.close(&mut backend, move |f| {
                f.drain(&mut mb.lock());
                stats::note_file(f);
            });
        }
        self.notify();
    }
}
