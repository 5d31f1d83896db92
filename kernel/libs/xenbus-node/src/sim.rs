//! The simulated C xenstored (4.17) of the `xs-sim` crate, as the node's
//! [`Backend`], for host tests of [`crate::XenbusFile`] (std only; built for
//! this crate's tests and by the `sim` feature).
//!
//! This module is a thin adapter: the daemon, its store, transactions,
//! quotas, permissions and watches are `xs_sim::node` (see that crate for
//! what it answers). Here, [`Xenstored::connect`] gives each open a
//! [`SimConn`] whose replies and events are pushed into the open's own
//! [`Mailbox`] (shared with the test through `Rc<RefCell<_>>`), the way the
//! kernel's reader thread pushes them: each reply is announced with
//! [`Mailbox::expect_reply`] when the request is submitted; each event is
//! charged `path + EVENT_OVERHEAD` bytes to the budget given to
//! [`Xenstored::with_event_budget`] (none by default).
//!
//! The domain (1 by default) may read and write under
//! `/local/domain/<domid>/data` (it owns it), read its home, and nothing
//! else; `/tool` is dom0's. Values are bounded by the entry quota (a leaf's
//! value at most [`VALUE_QUOTA`] bytes), transactions by
//! [`TRANSACTION_QUOTA`] (the 12th fails), watches by [`WATCH_QUOTA`] (the
//! 130th fails with `E2BIG`).
//!
//! Test controls: [`Xenstored::hold`] keeps replies back (requests are still
//! processed at once) until [`Xenstored::release_all`] or
//! [`Xenstored::release_reversed`] delivers them, in order or out of order;
//! [`Xenstored::fail_submit`] makes the next submits fail; [`Xenstored::write`]
//! and [`Xenstored::rm`] change the store as the toolstack would.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use kcore::budget::{Budget, Charge};
use vfs::Errno;
use xs_client::{Mailbox, Reply, EVENT_OVERHEAD};
use xs_wire::XsErrno;

use crate::backend::Backend;
use crate::MAILBOX_EVENT_LIMIT;

pub use xs_sim::perms::Perm;

/// The longest value an unprivileged domain can store in a leaf: its record
/// (24-byte header, one 8-byte permission, the value) must stay under C
/// xenstored's 2048-byte entry quota.
pub const VALUE_QUOTA: usize = xs_sim::quota::ENTRY_SIZE - xs_sim::store::RECORD_HEADER - xs_sim::store::PERM_SIZE - 1;
/// Transactions one domain may have open: 4.17 lets one more through and
/// refuses the 12th.
pub const TRANSACTION_QUOTA: usize = xs_sim::quota::TRANSACTIONS;
/// Watches one domain may have: 4.17 lets one more through and refuses the
/// 130th with `E2BIG`.
pub const WATCH_QUOTA: usize = xs_sim::quota::WATCHES;

type FailSubmit = Rc<Cell<Option<(Errno, usize)>>>;

/// The simulated daemon and the domain's connection. Cloning gives another
/// handle to the same daemon.
#[derive(Clone)]
pub struct Xenstored {
    inner: xs_sim::node::Xenstored,
    fail: FailSubmit,
    budget: Option<&'static Budget>,
    generation: Rc<Cell<u64>>,
    /// The generation the last [`Xenstored::restore`] began.
    restored_at: Rc<Cell<u64>>,
}

impl fmt::Debug for Xenstored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Xenstored").field("inner", &self.inner).finish_non_exhaustive()
    }
}

/// One open's backend: routes its replies and events into its mailbox.
pub struct SimConn {
    inner: xs_sim::node::Conn,
    inbox: Rc<RefCell<Mailbox>>,
    fail: FailSubmit,
    generation: Rc<Cell<u64>>,
    restored_at: Rc<Cell<u64>>,
}

impl fmt::Debug for SimConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConn").field("inner", &self.inner).finish_non_exhaustive()
    }
}

/// Pushes into one open's mailbox, as the kernel's reader thread does.
struct MailboxSink {
    inbox: Rc<RefCell<Mailbox>>,
    budget: Option<&'static Budget>,
}

impl xs_sim::node::Sink for MailboxSink {
    fn reply(&mut self, cookie: u64, msg: Vec<u8>) {
        let mut inbox = self.inbox.borrow_mut();
        match Reply::from_wire(msg) {
            Some(r) => inbox.push_reply(cookie, r),
            None => inbox.push_failed(cookie, XsErrno::EIO),
        }
    }

    fn event(&mut self, watch_id: u64, path: Vec<u8>) {
        let size = path.len().saturating_add(EVENT_OVERHEAD);
        let charge = match self.budget {
            Some(b) => b.try_charge(size),
            None => Ok(Charge::none()),
        };
        self.inbox.borrow_mut().push_event(watch_id, path, charge);
    }
}

impl Default for Xenstored {
    fn default() -> Self {
        Self::new(1)
    }
}

impl Xenstored {
    /// A daemon serving domain `domid`, with `/local/domain/<domid>/data`
    /// existing and writable, and `/tool` existing but not writable.
    pub fn new(domid: u32) -> Self {
        Xenstored {
            inner: xs_sim::node::Xenstored::new(domid),
            fail: Rc::new(Cell::new(None)),
            budget: None,
            generation: Rc::new(Cell::new(0)),
            restored_at: Rc::new(Cell::new(0)),
        }
    }

    /// The same, charging every event pushed into a mailbox to `budget`.
    pub fn with_event_budget(domid: u32, budget: &'static Budget) -> Self {
        Xenstored { budget: Some(budget), ..Self::new(domid) }
    }

    /// The `xs-sim` daemon behind this adapter.
    pub fn inner(&self) -> &xs_sim::node::Xenstored {
        &self.inner
    }

    /// A backend for a new open, with its own empty mailbox.
    pub fn connect(&self) -> SimConn {
        let inbox = Rc::new(RefCell::new(Mailbox::new(MAILBOX_EVENT_LIMIT)));
        let sink = MailboxSink { inbox: inbox.clone(), budget: self.budget };
        SimConn {
            inner: self.inner.connect(Box::new(sink)),
            inbox,
            fail: self.fail.clone(),
            generation: self.generation.clone(),
            restored_at: self.restored_at.clone(),
        }
    }

    /// The domain was suspended and resumed: every backend's
    /// [`Backend::generation`] moves on. (The simulated daemon keeps its
    /// transactions: this models the node's own bookkeeping only.)
    pub fn bump_generation(&self) {
        self.generation.set(self.generation.get() + 1);
    }

    /// `xl save` + `xl restore` of the domain, as the node sees it: a new
    /// connection (no transactions, every watch registered again and fired
    /// once, the home's `data` empty) and a new generation
    /// (`xs_sim::node::Xenstored::restore`).
    pub fn restore(&self) {
        self.inner.restore();
        self.bump_generation();
        self.restored_at.set(self.generation.get());
    }

    /// `xl save -c`: the suspend is cancelled, the connection stays; only
    /// the generation moves on (as Linux's does).
    pub fn checkpoint(&self) {
        self.bump_generation();
    }

    /// While on, replies are kept back instead of pushed (the requests are
    /// still processed, so their watch events fire at once).
    pub fn hold(&self, on: bool) {
        self.inner.hold(on);
    }

    /// Number of replies kept back.
    pub fn held(&self) -> usize {
        self.inner.held()
    }

    /// Delivers the kept-back replies in order.
    pub fn release_all(&self) {
        self.inner.release_all();
    }

    /// Delivers the kept-back replies newest first (out of order).
    pub fn release_reversed(&self) {
        self.inner.release_reversed();
    }

    /// Delivers the kept-back reply at `index` (if any).
    pub fn release_at(&self, index: usize) {
        self.inner.release_at(index);
    }

    /// Makes the next `count` submits fail with `e` (nothing processed).
    pub fn fail_submit(&self, e: Errno, count: usize) {
        self.fail.set(Some((e, count)));
    }

    /// Writes `value` at absolute `path` as the toolstack would (no quota, no
    /// permission check; new nodes inherit their parent's permissions),
    /// firing watches. Panics on an invalid path (a test's mistake).
    pub fn write(&self, path: &str, value: &[u8]) {
        if let Err(e) = self.inner.write(path, value) {
            panic!("simulated toolstack: write {path}: {e:?}");
        }
    }

    /// Creates absolute `path` (if missing) as the toolstack would.
    pub fn mkdir(&self, path: &str) {
        if let Err(e) = self.inner.mkdir(path) {
            panic!("simulated toolstack: mkdir {path}: {e:?}");
        }
    }

    /// Removes absolute `path` and its subtree as the toolstack would;
    /// nothing if it does not exist.
    pub fn rm(&self, path: &str) {
        let _ = self.inner.rm(path);
    }

    /// Sets the permissions of absolute `path` as the toolstack would, from a
    /// list such as `"n1 r0"`. Panics on a missing node or a bad list.
    pub fn set_perms(&self, path: &str, perms: &str) {
        let Some(list) = xs_sim::perms::parse_list(perms) else { panic!("bad permission list {perms:?}") };
        if let Err(e) = self.inner.set_perms(path, &list) {
            panic!("simulated toolstack: set_perms {path}: {e:?}");
        }
    }

    /// The value at absolute `path`, outside any transaction.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.inner.read(path)
    }

    /// Transactions open in the daemon.
    pub fn transactions(&self) -> usize {
        self.inner.transactions()
    }

    /// Watches registered in the daemon.
    pub fn watches(&self) -> usize {
        self.inner.watches()
    }

    /// Every message passed to [`Backend::submit`], in order.
    pub fn submitted(&self) -> Vec<Vec<u8>> {
        self.inner.submitted()
    }

    /// Transaction ids passed to [`Backend::abort_transaction`] or aborted
    /// for an abandoned START, in order.
    pub fn aborted(&self) -> Vec<u32> {
        self.inner.aborted()
    }

    /// Watch ids passed to [`Backend::unwatch`], in order.
    pub fn unwatched(&self) -> Vec<u64> {
        self.inner.unwatched()
    }

    /// Makes the next TRANSACTION_START hand out `id` (or the next free id
    /// after it), to reproduce the ids of a recorded session.
    pub fn set_next_transaction_id(&self, id: u32) {
        self.inner.set_next_transaction_id(id);
    }

    /// Home path of the domain, `/local/domain/<domid>`.
    pub fn home(&self) -> String {
        self.inner.home()
    }
}

impl SimConn {
    /// The open's mailbox, shared with the test (the kernel's locked one).
    pub fn mailbox(&self) -> Rc<RefCell<Mailbox>> {
        self.inbox.clone()
    }

    /// Applies everything waiting in the mailbox to `file` (what the kernel
    /// does under the mailbox's lock before each file operation).
    pub fn drain_into(&self, file: &mut crate::XenbusFile) {
        file.drain(&mut self.inbox.borrow_mut());
    }

    /// Takes everything waiting in the mailbox (what the kernel does under its
    /// spin lock before each file operation).
    pub fn take_mailbox(&self) -> Mailbox {
        core::mem::replace(&mut *self.inbox.borrow_mut(), Mailbox::new(MAILBOX_EVENT_LIMIT))
    }
}

impl Backend for SimConn {
    fn submit(&mut self, cookie: u64, msg: &[u8]) -> Result<(), Errno> {
        if let Some((e, n)) = self.fail.get() {
            self.fail.set(if n > 1 { Some((e, n - 1)) } else { None });
            return Err(e);
        }
        self.inbox.borrow_mut().expect_reply().map_err(|_| Errno::ENOMEM)?;
        self.inner.submit(cookie, msg).map_err(|_| {
            self.inbox.borrow_mut().unexpect_reply();
            Errno::EINVAL
        })
    }

    fn watch(&mut self, watch_id: u64, path: &[u8]) -> Result<(), XsErrno> {
        self.inner.watch(watch_id, path)
    }

    fn unwatch(&mut self, watch_id: u64, path: &[u8]) {
        self.inner.unwatch(watch_id, path);
    }

    fn abort_transaction(&mut self, tx_id: u32) {
        self.inner.abort_transaction(tx_id);
    }

    fn abandon(&mut self, cookie: u64, was_transaction_start: bool) {
        self.inner.abandon(cookie, was_transaction_start);
    }

    fn generation(&self) -> u64 {
        self.generation.get()
    }

    fn end_stale_transaction(&mut self, tx_id: u32, started_in: u64) {
        if started_in >= self.restored_at.get() {
            self.inner.abort_transaction(tx_id);
        }
    }
}
