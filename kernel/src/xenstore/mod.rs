//! The xenstore client: `xs_client::ClientCore` (request multiplexing by
//! req_id, the outstanding-request quota, watch routing) wired to the real
//! ring page and event channel.
//!
//! Data path (calls go down, data comes up):
//! ```text
//! request()/submit_*()  lock STATE, submit, pump_out, unlock, notify xenstored
//! store evtchn upcall   sets EVENT, wakes the reader thread. Nothing else.
//! reader thread         lock STATE, pump_out, pump_in; route what came in:
//!                         replies of request()   -> stay in the core, wake REPLIES
//!                         replies of a node open  -> pushed into that open's inbox, wake it
//!                         watch events           -> pushed into the watch's queue or inbox, wake it
//! ```
//! The reader thread is the only consumer of the response ring; writers
//! share the request ring through the core under STATE.
//!
//! # Concurrency
//! `PAGE` (an `IrqLock`) holds the mapped ring page; when both are held,
//! `STATE` is taken first (order: STATE, then PAGE; never the reverse). `EVENT` (atomic) records that
//! the event channel fired since the reader last looked.
//! `STATE` (an `IrqLock`) protects the core, the sink tables and the
//! connection state. It is held only while the ring is pumped or a table
//! changes, never across a wait; it is taken before any inbox lock (lock
//! order: STATE, then an open's inbox). Replies for an open that has gone
//! are dropped (its sink was abandoned).
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use xenbus_node::Inbox;
use xs_client::ops::{self, Request};
use xs_client::{ClientCore, ClientError, Config, Reply, RequestId, WatchEvent, WatchId};
use xs_ring::SharedPage;
use xs_wire::{MsgType, XsErrno};

use crate::arch::irq::IrqLock;
use crate::sched::{self, WaitQueue};
use crate::xen::evtchn;

mod page;
pub mod shutdown;

use page::XenstorePage;

/// Errors of the kernel's xenstore API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsError {
    /// xenstored answered `XS_ERROR` with this name.
    Xs(XsErrno),
    /// The ring was reset (reconnection) before the reply came; retry.
    Reconnected,
    /// No reply within the caller's timeout.
    Timeout,
    /// The connection is closed after a protocol error from the other side.
    Closed,
    /// A bad argument (NUL in a path, oversize payload) or a malformed reply.
    Invalid,
}

impl From<ClientError> for XsError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Xs(x) => XsError::Xs(x),
            ClientError::Reconnected => XsError::Reconnected,
            _ => XsError::Invalid,
        }
    }
}

impl core::fmt::Display for XsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            XsError::Xs(e) => f.write_str(e.name()),
            XsError::Reconnected => f.write_str("connection reset"),
            XsError::Timeout => f.write_str("timeout"),
            XsError::Closed => f.write_str("connection closed"),
            XsError::Invalid => f.write_str("invalid"),
        }
    }
}

/// Where the reply of a request goes.
enum ReplySink {
    /// A thread waits in `request()`: leave the reply in the core and wake
    /// that thread (only it: sixteen threads with a request each in flight
    /// must not all wake for every reply).
    Waiter(sched::ThreadId),
    /// An open of the xenbus node: push it into that open's inbox.
    Node { inbox: Arc<IrqLock<Inbox>>, wq: Arc<WaitQueue>, cookie: u64 },
    /// Nobody wants it (a fire-and-forget abort).
    Discard,
    /// The open that sent this TRANSACTION_START is gone: abort the
    /// transaction the reply names.
    AbortStart,
}

/// Where the events of a watch go.
enum WatchSink {
    Kernel(Arc<KernelWatch>),
    Node { inbox: Arc<IrqLock<Inbox>>, wq: Arc<WaitQueue>, node_watch_id: u64 },
}

/// Events of a kernel watch.
pub struct KernelWatch {
    events: IrqLock<VecDeque<WatchEvent>>,
    wq: WaitQueue,
}

struct State {
    core: ClientCore,
    sinks: BTreeMap<RequestId, ReplySink>,
    watch_sinks: BTreeMap<WatchId, WatchSink>,
    node_watches: BTreeMap<u64, WatchId>,
    closed: Option<String>,
}

static STATE: IrqLock<Option<State>> = IrqLock::new(None);
static PAGE: IrqLock<Option<XenstorePage>> = IrqLock::new(None);
static PORT: AtomicU32 = AtomicU32::new(0);
static EVENT: AtomicBool = AtomicBool::new(false);
static READER: WaitQueue = WaitQueue::new();
static REPLIES: WaitQueue = WaitQueue::new();
/// Woken after replies or events were pushed into any xenbus open's inbox
/// (the node layer's `poll()` over several descriptors waits here).
pub static NODE_ACTIVITY: WaitQueue = WaitQueue::new();
/// Requests completed since boot (for the operations-per-second figure).
pub static COMPLETED: AtomicU64 = AtomicU64::new(0);

fn with_page<R>(f: impl FnOnce(&XenstorePage) -> R) -> R {
    let g = PAGE.lock();
    f(g.as_ref().expect("xenstore page mapped"))
}

fn notify() {
    let _ = evtchn::send(PORT.load(Ordering::Relaxed));
}

fn on_event(_port: u32, _data: usize) {
    EVENT.store(true, Ordering::SeqCst);
    READER.wake_all();
}

/// Maps the ring, binds its event channel and starts the reader thread.
pub fn init(store_va: u64, port: u32) -> Result<(), XsError> {
    // SAFETY: `store_va` is the linear mapping of start_info's store_mfn.
    let page = unsafe { XenstorePage::new(store_va) };
    // xenstore-ring.txt: a connection may be mid-reset at boot; wait for it.
    let mut waited = 0;
    while page.connection() != xen_sys::XENSTORE_CONNECTED && waited < 500 {
        crate::time::sleep_ns(10_000_000);
        waited += 1;
    }
    // Discard anything a previous user of the page left in the response ring.
    if page.rsp_prod() != page.rsp_cons() {
        page.set_rsp_cons(page.rsp_prod());
    }
    crate::debug!("xenstore: features {:#x}, connection {}", page.server_features(), page.connection());
    *PAGE.lock() = Some(page);
    *STATE.lock() = Some(State {
        core: ClientCore::new(Config::default()),
        sinks: BTreeMap::new(),
        watch_sinks: BTreeMap::new(),
        node_watches: BTreeMap::new(),
        closed: None,
    });
    PORT.store(port, Ordering::Relaxed);
    evtchn::bind_handler(port, on_event, 0);
    sched::spawn("xenstore", reader_thread).map_err(|_| XsError::Invalid)?;
    Ok(())
}

/// Whether the xenstore connection is up (the xenbus node's open() needs it).
pub fn available() -> bool {
    STATE.lock().as_ref().map(|s| s.closed.is_none()).unwrap_or(false)
}

/// Whether xenstored offers ring reconnection.
pub fn supports_reconnection() -> bool {
    with_page(|p| xs_ring::features_reconnection(p))
}

fn reader_thread() {
    loop {
        READER.wait_until(|| EVENT.swap(false, Ordering::SeqCst));
        service();
    }
}

/// Pumps both rings and routes what arrived. Runs in the reader thread.
fn service() {
    let mut wake_replies = false;
    let mut wake_threads: Vec<sched::ThreadId> = Vec::new();
    let mut wakes: Vec<Arc<WaitQueue>> = Vec::new();
    let mut kwakes: Vec<Arc<KernelWatch>> = Vec::new();
    let mut aborts: Vec<u32> = Vec::new();
    let notify_needed = {
        let mut g = STATE.lock();
        let Some(s) = g.as_mut() else { return };
        if s.closed.is_some() {
            return;
        }
        let page = PAGE.lock();
        let page = page.as_ref().expect("page");
        let mut notify_needed = false;
        let r = s.core.pump_out(page).and_then(|n| {
            notify_needed |= n;
            s.core.pump_in(page)
        });
        match r {
            Ok(n) => notify_needed |= n,
            Err(e) => {
                let why = alloc::format!("{:?}", e);
                crate::error!("xenstore: protocol error from xenstored ({}); connection closed", why);
                s.closed = Some(why);
                wake_replies = true;
            }
        }
        // More output may fit now that xenstored consumed some.
        if let Ok(n) = s.core.pump_out(page) {
            notify_needed |= n;
        }
        for id in s.core.take_completed() {
            COMPLETED.fetch_add(1, Ordering::Relaxed);
            match s.sinks.remove(&id) {
                Some(ReplySink::Waiter(t)) => wake_threads.push(t),
                None => wake_replies = true,
                Some(ReplySink::Discard) => {
                    s.core.take_reply(id);
                }
                Some(ReplySink::AbortStart) => {
                    if let Some(Ok(reply)) = s.core.take_reply(id) {
                        if let Ok(tx) = ops::parse_transaction_start(&reply) {
                            aborts.push(tx);
                        }
                    }
                }
                Some(ReplySink::Node { inbox, wq, cookie }) => {
                    let bytes = match s.core.take_reply(id) {
                        Some(Ok(reply)) => Some(reply.to_bytes()),
                        // The ring was reset under the request: the open
                        // gets an error reply (EAGAIN, xenstored forgot it).
                        Some(Err(_)) => None,
                        None => None,
                    };
                    let msg = bytes
                        .unwrap_or_else(|| xs_wire::build_message(MsgType::ERROR, 0, 0, XsErrno::EAGAIN.payload()));
                    inbox.lock().push_reply(cookie, msg);
                    wakes.push(wq);
                }
            }
        }
        for wid in s.core.take_woken_watches() {
            while let Some(ev) = s.core.take_event(wid) {
                match s.watch_sinks.get(&wid) {
                    Some(WatchSink::Kernel(k)) => {
                        k.events.lock().push_back(ev);
                        kwakes.push(k.clone());
                    }
                    Some(WatchSink::Node { inbox, wq, node_watch_id }) => {
                        inbox.lock().push_event(*node_watch_id, ev.path);
                        wakes.push(wq.clone());
                    }
                    None => {}
                }
            }
        }
        notify_needed
    };
    if notify_needed {
        notify();
    }
    if wake_replies {
        REPLIES.wake_all();
    }
    for t in wake_threads {
        sched::wake(t);
    }
    let any = !wakes.is_empty();
    for w in wakes {
        w.wake_all();
    }
    if any {
        NODE_ACTIVITY.wake_all();
    }
    for k in kwakes {
        k.wq.wake_all();
    }
    for tx in aborts {
        let _ = submit_with_sink(&ops::transaction_end(tx, false), ReplySink::Discard);
    }
}

fn submit_with_sink(req: &Request, sink: ReplySink) -> Result<RequestId, XsError> {
    let notify_needed = {
        let mut g = STATE.lock();
        let s = g.as_mut().ok_or(XsError::Closed)?;
        if s.closed.is_some() {
            return Err(XsError::Closed);
        }
        let id = s.core.submit_request(req)?;
        s.sinks.insert(id, sink);
        let n = with_page(|p| s.core.pump_out(p)).unwrap_or(false);
        (id, n)
    };
    if notify_needed.1 {
        notify();
    }
    Ok(notify_needed.0)
}

fn wait_reply(id: RequestId, deadline: u64) -> Result<Reply, XsError> {
    let done = REPLIES.wait_until_deadline(
        || {
            let g = STATE.lock();
            match g.as_ref() {
                Some(s) => s.closed.is_some() || s.core.is_complete(id) || !s.core.is_pending(id),
                None => true,
            }
        },
        deadline,
    );
    let mut g = STATE.lock();
    let s = g.as_mut().ok_or(XsError::Closed)?;
    if !done {
        s.core.forget(id);
        s.sinks.insert(id, ReplySink::Discard);
        return Err(XsError::Timeout);
    }
    match s.core.take_reply(id) {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(e.into()),
        None => Err(XsError::Closed),
    }
}

/// Sends `req` and waits for the raw reply (an `XS_ERROR` reply is returned
/// as a reply, not as an error), at most until `deadline` (Xen system ns).
///
/// # Yields
pub fn request_raw(req: &Request, deadline: u64) -> Result<Reply, XsError> {
    let id = submit_with_sink(req, ReplySink::Waiter(sched::current()))?;
    wait_reply(id, deadline)
}

/// Sends `req`, waits for its reply and turns `XS_ERROR` into an error.
///
/// # Yields
pub fn request(req: &Request) -> Result<Reply, XsError> {
    let r = request_raw(req, u64::MAX)?;
    match r.result() {
        Ok(_) => Ok(r),
        Err(e) => Err(XsError::Xs(e)),
    }
}

/// Reads a value.
pub fn read(tx: u32, path: &str) -> Result<Vec<u8>, XsError> {
    let r = request(&ops::read(tx, path.as_bytes())?)?;
    Ok(ops::parse_read(&r)?.to_vec())
}

/// Reads a value as UTF-8 text.
pub fn read_string(tx: u32, path: &str) -> Result<String, XsError> {
    read(tx, path).and_then(|v| String::from_utf8(v).map_err(|_| XsError::Invalid))
}

/// Writes a value.
pub fn write(tx: u32, path: &str, value: &[u8]) -> Result<(), XsError> {
    request(&ops::write(tx, path.as_bytes(), value)?).map(|_| ())
}

/// Creates a directory node.
pub fn mkdir(tx: u32, path: &str) -> Result<(), XsError> {
    request(&ops::mkdir(tx, path.as_bytes())?).map(|_| ())
}

/// Removes a node and its children.
pub fn rm(tx: u32, path: &str) -> Result<(), XsError> {
    request(&ops::rm(tx, path.as_bytes())?).map(|_| ())
}

/// Lists the children of a node, paging with `XS_DIRECTORY_PART` when the
/// list does not fit one reply.
pub fn directory(tx: u32, path: &str) -> Result<Vec<String>, XsError> {
    let r = request_raw(&ops::directory(tx, path.as_bytes())?, u64::MAX)?;
    let names: Vec<Vec<u8>> = match ops::parse_directory(&r)? {
        ops::DirectoryReply::Names(n) => n.into_iter().map(|x| x.to_vec()).collect(),
        ops::DirectoryReply::NeedsPaging => {
            let mut pager = ops::DirectoryPager::new(tx, path.as_bytes());
            loop {
                let r = request_raw(&pager.next_request()?, u64::MAX)?;
                match pager.on_reply(&r)? {
                    ops::PagerStep::More => continue,
                    ops::PagerStep::Done(n) => break n,
                }
            }
        }
    };
    Ok(names.into_iter().map(|n| String::from_utf8_lossy(&n).into_owned()).collect())
}

/// Permissions of a node.
pub fn get_perms(tx: u32, path: &str) -> Result<Vec<ops::Perm>, XsError> {
    let r = request(&ops::get_perms(tx, path.as_bytes())?)?;
    Ok(ops::parse_perms(&r)?)
}

/// Sets the permissions of a node.
pub fn set_perms(tx: u32, path: &str, perms: &[ops::Perm]) -> Result<(), XsError> {
    request(&ops::set_perms(tx, path.as_bytes(), perms)?).map(|_| ())
}

/// The home path of domain `domid` (`/local/domain/<domid>`).
pub fn get_domain_path(domid: u16) -> Result<String, XsError> {
    let r = request(&ops::get_domain_path(domid)?)?;
    Ok(String::from_utf8_lossy(ops::parse_string(&r)?).into_owned())
}

/// Starts a transaction; returns its id.
pub fn transaction_start() -> Result<u32, XsError> {
    let r = request(&ops::transaction_start())?;
    Ok(ops::parse_transaction_start(&r)?)
}

/// Ends a transaction: commit (`true`) or abort.
pub fn transaction_end(tx: u32, commit: bool) -> Result<(), XsError> {
    request(&ops::transaction_end(tx, commit)).map(|_| ())
}

/// Runs `f` in a transaction and commits, starting over while the commit
/// fails with `EAGAIN` (another writer changed what `f` read), at most
/// `max_attempts` times. Returns `f`'s value and the number of attempts.
pub fn transaction<T>(max_attempts: u32, mut f: impl FnMut(u32) -> Result<T, XsError>) -> Result<(T, u32), XsError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tx = transaction_start()?;
        let v = match f(tx) {
            Ok(v) => v,
            Err(e) => {
                let _ = transaction_end(tx, false);
                return Err(e);
            }
        };
        match transaction_end(tx, true) {
            Ok(()) => return Ok((v, attempt)),
            Err(XsError::Xs(XsErrno::EAGAIN)) if attempt < max_attempts => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A watch registered by the kernel; unregistered when dropped.
pub struct Watch {
    id: WatchId,
    sink: Arc<KernelWatch>,
}

/// Registers a watch on `path` (relative paths are under the domain's home).
/// Waits for xenstored's answer; its initial event is queued like any other.
pub fn watch(path: &str, token: &str) -> Result<Watch, XsError> {
    let sink = Arc::new(KernelWatch { events: IrqLock::new(VecDeque::new()), wq: WaitQueue::new() });
    let (wid, rid) = {
        let mut g = STATE.lock();
        let s = g.as_mut().ok_or(XsError::Closed)?;
        let (wid, rid) = s.core.register_watch(path.as_bytes(), token.as_bytes())?;
        s.watch_sinks.insert(wid, WatchSink::Kernel(sink.clone()));
        s.sinks.insert(rid, ReplySink::Waiter(sched::current()));
        let _ = with_page(|p| s.core.pump_out(p));
        (wid, rid)
    };
    notify();
    let r = wait_reply(rid, u64::MAX).and_then(|r| r.result().map(|_| ()).map_err(XsError::Xs));
    if let Err(e) = r {
        if let Some(s) = STATE.lock().as_mut() {
            s.watch_sinks.remove(&wid);
            s.core.unregister_watch(wid);
        }
        return Err(e);
    }
    Ok(Watch { id: wid, sink })
}

impl Watch {
    /// The next event, waiting until `deadline` (Xen system ns) at most.
    ///
    /// # Yields
    pub fn next_event(&self, deadline: u64) -> Option<WatchEvent> {
        let mut out = None;
        self.sink.wq.wait_until_deadline(
            || {
                out = self.sink.events.lock().pop_front();
                out.is_some()
            },
            deadline,
        );
        out
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let rid = {
            let mut g = STATE.lock();
            let Some(s) = g.as_mut() else { return };
            s.watch_sinks.remove(&self.id);
            let rid = s.core.unregister_watch(self.id);
            if let Some(rid) = rid {
                s.sinks.insert(rid, ReplySink::Discard);
            }
            let _ = with_page(|p| s.core.pump_out(p));
            rid
        };
        if rid.is_some() {
            notify();
        }
    }
}

// ----- The xenbus node's backend (kernel/src/xenfs) -----

/// Forwards a user message for an open of the xenbus node; its reply is
/// pushed into `inbox` under `cookie`.
pub fn node_submit(msg: &[u8], inbox: &Arc<IrqLock<Inbox>>, wq: &Arc<WaitQueue>, cookie: u64) -> Result<(), XsError> {
    let n = {
        let mut g = STATE.lock();
        let s = g.as_mut().ok_or(XsError::Closed)?;
        if s.closed.is_some() {
            return Err(XsError::Closed);
        }
        let id = s.core.submit_raw(msg)?;
        s.sinks.insert(id, ReplySink::Node { inbox: inbox.clone(), wq: wq.clone(), cookie });
        with_page(|p| s.core.pump_out(p)).unwrap_or(false)
    };
    if n {
        notify();
    }
    Ok(())
}

/// The open that sent `cookie` is gone: drop its reply when it comes, and
/// if it was a TRANSACTION_START, abort the transaction it opens.
pub fn node_abandon(cookie: u64, was_transaction_start: bool) {
    let mut g = STATE.lock();
    let Some(s) = g.as_mut() else { return };
    let id = s.sinks.iter().find_map(|(id, sink)| match sink {
        ReplySink::Node { cookie: c, .. } if *c == cookie => Some(*id),
        _ => None,
    });
    if let Some(id) = id {
        s.sinks.insert(id, if was_transaction_start { ReplySink::AbortStart } else { ReplySink::Discard });
    }
}

/// Registers a watch for an open of the xenbus node (kernel-unique token);
/// its events are pushed into `inbox` under `node_watch_id`.
pub fn node_watch(
    node_watch_id: u64,
    path: &[u8],
    inbox: &Arc<IrqLock<Inbox>>,
    wq: &Arc<WaitQueue>,
) -> Result<(), XsErrno> {
    let token = alloc::format!("xb{}", node_watch_id);
    let (wid, rid) = {
        let mut g = STATE.lock();
        let s = g.as_mut().ok_or(XsErrno::EIO)?;
        let (wid, rid) = s.core.register_watch(path, token.as_bytes()).map_err(|e| match e {
            ClientError::Xs(x) => x,
            _ => XsErrno::EINVAL,
        })?;
        s.watch_sinks.insert(wid, WatchSink::Node { inbox: inbox.clone(), wq: wq.clone(), node_watch_id });
        s.node_watches.insert(node_watch_id, wid);
        s.sinks.insert(rid, ReplySink::Waiter(sched::current()));
        let _ = with_page(|p| s.core.pump_out(p));
        (wid, rid)
    };
    notify();
    let r = match wait_reply(rid, u64::MAX) {
        Ok(r) => r.result().map(|_| ()),
        Err(XsError::Xs(e)) => Err(e),
        Err(_) => Err(XsErrno::EIO),
    };
    if r.is_err() {
        if let Some(s) = STATE.lock().as_mut() {
            s.watch_sinks.remove(&wid);
            s.node_watches.remove(&node_watch_id);
            s.core.unregister_watch(wid);
        }
    }
    r
}

/// Removes a watch of the xenbus node. Once this returns no more events of
/// it are pushed.
pub fn node_unwatch(node_watch_id: u64) {
    let rid = {
        let mut g = STATE.lock();
        let Some(s) = g.as_mut() else { return };
        let Some(wid) = s.node_watches.remove(&node_watch_id) else { return };
        s.watch_sinks.remove(&wid);
        let rid = s.core.unregister_watch(wid);
        if let Some(rid) = rid {
            s.sinks.insert(rid, ReplySink::Waiter(sched::current()));
        }
        let _ = with_page(|p| s.core.pump_out(p));
        rid
    };
    if let Some(rid) = rid {
        notify();
        let _ = wait_reply(rid, crate::time::now_ns() + 5_000_000_000);
    }
}

/// Aborts a transaction of a closing open; the reply is discarded.
pub fn node_abort_transaction(tx: u32) {
    let _ = submit_with_sink(&ops::transaction_end(tx, false), ReplySink::Discard);
}

/// (in flight, queued) requests of the client, for diagnostics and tests.
pub fn load() -> (usize, usize) {
    STATE.lock().as_ref().map(|s| (s.core.in_flight(), s.core.queued())).unwrap_or((0, 0))
}

/// Resets the ring with xenstored (the reconnection protocol of
/// xenstore-ring.txt): in-flight requests fail with `Reconnected`, watches
/// are registered again. Only when xenstored offers the feature.
///
/// # Yields
pub fn reconnect() -> Result<(), XsError> {
    if !supports_reconnection() {
        return Err(XsError::Xs(XsErrno::ENOSYS));
    }
    {
        // Stop using the ring, then ask for the reset.
        let mut g = STATE.lock();
        let s = g.as_mut().ok_or(XsError::Closed)?;
        s.closed = Some(String::from("reconnecting"));
        with_page(|p| xs_ring::request_reconnect(p));
    }
    notify();
    let mut n = 0;
    while !with_page(|p| xs_ring::reconnect_done(p)) {
        crate::time::sleep_ns(1_000_000);
        n += 1;
        if n > 5000 {
            return Err(XsError::Timeout);
        }
    }
    {
        let mut g = STATE.lock();
        let s = g.as_mut().ok_or(XsError::Closed)?;
        s.core.reset();
        s.closed = None;
        let _ = with_page(|p| s.core.pump_out(p));
    }
    notify();
    REPLIES.wake_all();
    EVENT.store(true, Ordering::SeqCst);
    READER.wake_all();
    Ok(())
}
