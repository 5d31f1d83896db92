//! Front end 2: the daemon behind the xenbus node's backend, as the kernel
//! gives it to each open of `/dev/xen/xenbus`.
//!
//! [`Xenstored`] is the daemon plus the domain's one connection to it (the
//! kernel multiplexes every open over one connection, so all opens share
//! its transaction id space, watch quota and transaction quota). Each open
//! gets a [`Conn`] from [`Xenstored::connect`], with the [`Sink`] its
//! replies and events are delivered to. [`Conn`]'s methods are those of
//! `xenbus_node::Backend` (which this crate cannot implement without
//! depending on the node; `xenbus_node::sim` does, over this):
//!
//! - [`Conn::submit`] sends a program's request under a wire `req_id` of the
//!   connection's own; the reply (`req_id` the wire one, `tx_id` the
//!   request's) is delivered to the sink with the cookie, at once or, while
//!   [`Xenstored::hold`] is on, when released. Events the request fires are
//!   delivered first.
//! - [`Conn::watch`] registers a watch under a token made from the watch id
//!   (the kernel's tokens are unique, so `EEXIST` cannot happen); its events,
//!   the initial one included, go to the sink with the watch id.
//! - [`Conn::unwatch`], [`Conn::abort_transaction`]: fire and forget.
//! - [`Conn::abandon`]: the reply is dropped on arrival; a non-error reply
//!   to a TRANSACTION_START aborts the transaction it created.
//!
//! Dropping a [`Conn`] drops its sink: nothing is delivered to it any more.
//!
//! The toolstack controls ([`Xenstored::write`], [`Xenstored::rm`], ...)
//! act as dom0 does (no permission or quota checks) and fire watches.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::rc::Rc;

use xs_wire::{MsgHeader, MsgType, XsErrno, HEADER_LEN};

use crate::model::{ConnId, Event, Model};
use crate::path::home;
use crate::perms::{Perm, Who};

/// Where one open's replies and events go. Implementations must not call
/// back into the [`Xenstored`].
pub trait Sink {
    /// The reply to the request submitted with `cookie`: one whole message,
    /// header and payload.
    fn reply(&mut self, cookie: u64, msg: Vec<u8>);
    /// An event of watch `watch_id`, with xenstored's event path.
    fn event(&mut self, watch_id: u64, path: Vec<u8>);
}

struct Held {
    route: usize,
    cookie: u64,
    msg: Vec<u8>,
}

struct State {
    model: Model,
    conn: ConnId,
    domid: u32,
    routes: Vec<Option<Box<dyn Sink>>>,
    /// Watch token → (route, watch id).
    tokens: HashMap<Vec<u8>, (usize, u64)>,
    next_wire_req: u32,
    hold: bool,
    held: VecDeque<Held>,
    /// Abandoned cookies: `true` if the request was a TRANSACTION_START.
    abandoned: HashMap<u64, bool>,
    submitted: Vec<Vec<u8>>,
    aborted: Vec<u32>,
    unwatched: Vec<u64>,
    delivered: u64,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("domid", &self.domid)
            .field("routes", &self.routes.len())
            .field("held", &self.held.len())
            .field("submitted", &self.submitted.len())
            .finish_non_exhaustive()
    }
}

/// The simulated daemon and the domain's connection. Cloning gives another
/// handle to the same daemon.
#[derive(Clone, Debug)]
pub struct Xenstored {
    st: Rc<RefCell<State>>,
}

/// One open's backend.
#[derive(Debug)]
pub struct Conn {
    st: Rc<RefCell<State>>,
    route: usize,
}

impl Default for Xenstored {
    fn default() -> Self {
        Self::new(1)
    }
}

/// The token of watch `watch_id` on the wire.
pub fn token_of(watch_id: u64) -> Vec<u8> {
    format!("{watch_id}").into_bytes()
}

impl Xenstored {
    /// A daemon serving unprivileged domain `domid`, with its home
    /// `/local/domain/<domid>` (readable) and `data` below it (owned by the
    /// domain); `/tool` exists and is dom0's.
    pub fn new(domid: u32) -> Self {
        let mut model = Model::new();
        model.add_domain(domid);
        let conn = model.connect(Who::domain(domid));
        let st = State {
            model,
            conn,
            domid,
            routes: Vec::new(),
            tokens: HashMap::new(),
            next_wire_req: 0x5157_0000,
            hold: false,
            held: VecDeque::new(),
            abandoned: HashMap::new(),
            submitted: Vec::new(),
            aborted: Vec::new(),
            unwatched: Vec::new(),
            delivered: 0,
        };
        Xenstored { st: Rc::new(RefCell::new(st)) }
    }

    /// The domain was saved and restored (`xl restore`): the kernel talks
    /// over a new connection and libxl wrote the domain's home afresh. Every
    /// transaction of the old connection is gone, `data` is empty again
    /// (what the domain wrote there is lost), and every watch is registered
    /// again on the new connection (the kernel's client does it, as Linux's
    /// `xs_resume` does), which fires each once. Watch ids and tokens are
    /// the kernel's, so they stay the same.
    pub fn restore(&self) {
        let mut st = self.st.borrow_mut();
        let c = st.conn;
        let watches: Vec<(String, Vec<u8>)> = st.model.watches(c).iter().map(|w| (w.path(), w.token.clone())).collect();
        st.model.reset_connection(c);
        let h = home(st.domid);
        let _ = st.model.tool_rm(&format!("{h}/data"));
        let domid = st.domid;
        st.model.add_domain(domid);
        for (path, token) in watches {
            if let Ok(ev) = st.model.add_watch(c, path.as_bytes(), &token) {
                st.route_events(&[ev]);
            }
        }
    }

    /// A backend for a new open, delivering into `sink`.
    pub fn connect(&self, sink: Box<dyn Sink>) -> Conn {
        let mut st = self.st.borrow_mut();
        st.routes.push(Some(sink));
        Conn { st: self.st.clone(), route: st.routes.len() - 1 }
    }

    /// While on, replies are kept back instead of delivered (the requests
    /// are still handled at once, so their events are delivered at once).
    pub fn hold(&self, on: bool) {
        self.st.borrow_mut().hold = on;
    }

    /// Number of replies kept back.
    pub fn held(&self) -> usize {
        self.st.borrow().held.len()
    }

    /// Delivers the kept-back replies in order.
    pub fn release_all(&self) {
        let mut st = self.st.borrow_mut();
        while let Some(h) = st.held.pop_front() {
            st.deliver(h);
        }
    }

    /// Delivers the kept-back replies newest first (out of order).
    pub fn release_reversed(&self) {
        let mut st = self.st.borrow_mut();
        while let Some(h) = st.held.pop_back() {
            st.deliver(h);
        }
    }

    /// Delivers the kept-back reply at `index` (if any).
    pub fn release_at(&self, index: usize) {
        let mut st = self.st.borrow_mut();
        if let Some(h) = st.held.remove(index) {
            st.deliver(h);
        }
    }

    /// Replies delivered to sinks so far (abandoned ones not counted).
    pub fn delivered(&self) -> u64 {
        self.st.borrow().delivered
    }

    fn tool(&self, f: impl FnOnce(&mut Model) -> Result<Vec<Event>, XsErrno>) -> Result<(), XsErrno> {
        let mut st = self.st.borrow_mut();
        let events = f(&mut st.model)?;
        st.route_events(&events);
        Ok(())
    }

    /// Writes `value` at absolute `name` as the toolstack (dom0) would,
    /// firing watches.
    pub fn write(&self, name: &str, value: &[u8]) -> Result<(), XsErrno> {
        self.tool(|m| m.tool_write(name, value))
    }

    /// Creates absolute `name` (if missing) as the toolstack would.
    pub fn mkdir(&self, name: &str) -> Result<(), XsErrno> {
        self.tool(|m| m.tool_mkdir(name))
    }

    /// Removes absolute `name` and its subtree as the toolstack would
    /// (`ENOENT` if neither it nor its parent exists).
    pub fn rm(&self, name: &str) -> Result<(), XsErrno> {
        self.tool(|m| m.tool_rm(name))
    }

    /// Sets the permissions of absolute `name` as the toolstack would.
    pub fn set_perms(&self, name: &str, perms: &[Perm]) -> Result<(), XsErrno> {
        self.tool(|m| m.tool_set_perms(name, perms))
    }

    /// Fires the watches on `@releaseDomain` or `@introduceDomain`.
    pub fn fire_special(&self, name: &str) {
        let _ = self.tool(|m| Ok(m.fire_special(name)));
    }

    /// The value at absolute `name`, outside any transaction.
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        self.st.borrow().model.node(name).map(|n| n.value.clone())
    }

    /// The permissions of absolute `name`.
    pub fn perms(&self, name: &str) -> Option<Vec<Perm>> {
        self.st.borrow().model.node(name).map(|n| n.perms.clone())
    }

    /// Runs `f` on the model (for checks).
    pub fn with_model<R>(&self, f: impl FnOnce(&Model, ConnId) -> R) -> R {
        let st = self.st.borrow();
        f(&st.model, st.conn)
    }

    /// Transactions open on the domain's connection.
    pub fn transactions(&self) -> usize {
        self.st.borrow().model.transactions()
    }

    /// Watches registered on the domain's connection.
    pub fn watches(&self) -> usize {
        self.st.borrow().model.watch_count()
    }

    /// Every message passed to [`Conn::submit`], in order.
    pub fn submitted(&self) -> Vec<Vec<u8>> {
        self.st.borrow().submitted.clone()
    }

    /// Number of messages passed to [`Conn::submit`].
    pub fn submitted_count(&self) -> usize {
        self.st.borrow().submitted.len()
    }

    /// Transaction ids passed to [`Conn::abort_transaction`] or aborted for
    /// an abandoned START, in order.
    pub fn aborted(&self) -> Vec<u32> {
        self.st.borrow().aborted.clone()
    }

    /// Watch ids passed to [`Conn::unwatch`], in order.
    pub fn unwatched(&self) -> Vec<u64> {
        self.st.borrow().unwatched.clone()
    }

    /// Makes the next TRANSACTION_START hand out `id` (or the next free id
    /// after it), to reproduce the ids of a recorded session.
    pub fn set_next_transaction_id(&self, id: u32) {
        let mut st = self.st.borrow_mut();
        let c = st.conn;
        st.model.set_next_transaction_id(c, id);
    }

    /// The domain's id.
    pub fn domid(&self) -> u32 {
        self.st.borrow().domid
    }

    /// Home path of the domain, `/local/domain/<domid>`.
    pub fn home(&self) -> String {
        home(self.domid())
    }

    /// Forgets the record of submitted messages, aborts and unwatches (a
    /// long run's bookkeeping).
    pub fn clear_records(&self) {
        let mut st = self.st.borrow_mut();
        st.submitted.clear();
        st.aborted.clear();
        st.unwatched.clear();
    }
}

impl State {
    fn deliver(&mut self, h: Held) {
        if let Some(was_start) = self.abandoned.remove(&h.cookie) {
            let is_error = MsgHeader::from_bytes(&h.msg).is_none_or(|hdr| hdr.ty == MsgType::ERROR.0);
            if was_start && !is_error {
                let body = h.msg.get(HEADER_LEN..).unwrap_or(&[]);
                let digits = body.strip_suffix(b"\0").unwrap_or(body);
                if let Some(id) = std::str::from_utf8(digits).ok().and_then(|s| s.parse::<u32>().ok()) {
                    let c = self.conn;
                    let _ = self.model.abort_transaction(c, id);
                    self.aborted.push(id);
                }
            }
            return;
        }
        if let Some(Some(sink)) = self.routes.get_mut(h.route) {
            self.delivered += 1;
            sink.reply(h.cookie, h.msg);
        }
    }

    fn route_events(&mut self, events: &[Event]) {
        for e in events.iter().filter(|e| e.conn == self.conn) {
            let Some(&(route, watch_id)) = self.tokens.get(&e.token) else { continue };
            if let Some(Some(sink)) = self.routes.get_mut(route) {
                sink.event(watch_id, e.path.clone().into_bytes());
            }
        }
    }
}

impl Conn {
    /// Sends one complete request (header and payload, the program's
    /// `req_id` inside). `EINVAL` if `msg` has no whole header (nothing is
    /// sent).
    pub fn submit(&mut self, cookie: u64, msg: &[u8]) -> Result<(), XsErrno> {
        let mut st = self.st.borrow_mut();
        let hdr = MsgHeader::from_bytes(msg).ok_or(XsErrno::EINVAL)?;
        st.submitted.push(msg.to_vec());
        let payload = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let wire_req = st.next_wire_req;
        st.next_wire_req = wire_req.wrapping_add(1);
        let c = st.conn;
        let out = st.model.request(c, hdr.ty, hdr.tx_id, payload);
        st.route_events(&out.before);
        let len = u32::try_from(out.payload.len()).unwrap_or(u32::MAX);
        let mut reply = MsgHeader { ty: out.ty, req_id: wire_req, tx_id: hdr.tx_id, len }.to_bytes().to_vec();
        reply.extend_from_slice(&out.payload);
        let h = Held { route: self.route, cookie, msg: reply };
        if st.hold {
            st.held.push_back(h);
        } else {
            st.deliver(h);
        }
        st.route_events(&out.after);
        Ok(())
    }

    /// Registers watch `watch_id` on `path` (as the program gave it) and
    /// delivers its initial event; xenstored's error otherwise.
    pub fn watch(&mut self, watch_id: u64, path: &[u8]) -> Result<(), XsErrno> {
        let mut st = self.st.borrow_mut();
        let token = token_of(watch_id);
        let c = st.conn;
        let initial = st.model.add_watch(c, path, &token)?;
        st.tokens.insert(token, (self.route, watch_id));
        st.route_events(&[initial]);
        Ok(())
    }

    /// Removes watch `watch_id` (registered on `path`).
    pub fn unwatch(&mut self, watch_id: u64, path: &[u8]) {
        let mut st = self.st.borrow_mut();
        let token = token_of(watch_id);
        let c = st.conn;
        let _ = st.model.remove_watch(c, path, &token);
        st.tokens.remove(&token);
        st.unwatched.push(watch_id);
    }

    /// Aborts transaction `tx_id` (`END "F\0"`, answer discarded).
    pub fn abort_transaction(&mut self, tx_id: u32) {
        let mut st = self.st.borrow_mut();
        let c = st.conn;
        let _ = st.model.abort_transaction(c, tx_id);
        st.aborted.push(tx_id);
    }

    /// The open is closing while request `cookie` is unanswered: its reply
    /// is dropped on arrival (and a transaction a START reply created is
    /// aborted).
    pub fn abandon(&mut self, cookie: u64, was_transaction_start: bool) {
        self.st.borrow_mut().abandoned.insert(cookie, was_transaction_start);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Ok(mut st) = self.st.try_borrow_mut() {
            if let Some(slot) = st.routes.get_mut(self.route) {
                *slot = None;
            }
        }
    }
}
