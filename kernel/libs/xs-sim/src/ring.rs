//! Front end 1: the daemon on the server side of a ring page
//! ([`xs_ring::sim::MemPage`]), serving one unprivileged domain, as the
//! kernel's xenstore client sees it.
//!
//! [`RingXenstored::step`] reads what the client wrote (at most
//! [`RingXenstored::set_read_chunk`] bytes per step, to be slow), handles
//! every complete request and writes replies and events back as far as the
//! ring has room; the rest waits for the next step. Events a request fires
//! are sent before its reply, a new watch's initial event after its OK (as
//! C xenstored queues them).
//!
//! Controls: [`RingXenstored::set_hold`] keeps replies back (events still go
//! out) until [`RingXenstored::release`] sends them in any order;
//! [`RingXenstored::raw_send`] puts any bytes on the response ring;
//! [`RingXenstored::reconnect`] is the server half of a ring reconnection;
//! [`RingXenstored::restore`] the server half of a restore from a save.
//! A request header with `len` over 4096 makes the server stop serving the
//! ring and set the page's `error` to `XENSTORE_ERROR_PROTO`, as 4.17 does.

use std::collections::VecDeque;

use xs_ring::sim::MemPage;
use xs_wire::{build_message, MsgHeader, MsgType, XsErrno, HEADER_LEN, PAYLOAD_MAX};

use crate::model::{ConnId, Event, Model, Watch};
use crate::perms::{Perm, Who};
use crate::quota;

/// `XENSTORE_ERROR_PROTO`: the client sent an impossible message.
pub const ERROR_PROTO: u32 = 3;

/// The daemon behind one ring page.
#[derive(Debug)]
pub struct RingXenstored {
    page: MemPage,
    model: Model,
    conn: ConnId,
    inbuf: Vec<u8>,
    outbuf: VecDeque<u8>,
    hold: bool,
    held: Vec<Vec<u8>>,
    outstanding: usize,
    max_outstanding: usize,
    log: Vec<MsgHeader>,
    read_chunk: usize,
    stopped: bool,
}

impl Default for RingXenstored {
    fn default() -> Self {
        Self::new()
    }
}

impl RingXenstored {
    /// Domain 1's daemon on a fresh page.
    pub fn new() -> Self {
        Self::with_page(MemPage::new())
    }

    /// Domain 1's daemon on `page`.
    pub fn with_page(page: MemPage) -> Self {
        Self::for_domain(page, 1)
    }

    /// Domain `domid`'s daemon on `page`: the store has the domain's home
    /// and `data` (see [`Model::add_domain`]).
    pub fn for_domain(page: MemPage, domid: u32) -> Self {
        let mut model = Model::new();
        model.add_domain(domid);
        let conn = model.connect(Who::domain(domid));
        RingXenstored {
            page,
            model,
            conn,
            inbuf: Vec::new(),
            outbuf: VecDeque::new(),
            hold: false,
            held: Vec::new(),
            outstanding: 0,
            max_outstanding: 0,
            log: Vec::new(),
            read_chunk: usize::MAX,
            stopped: false,
        }
    }

    /// The ring page.
    pub fn page(&self) -> &MemPage {
        &self.page
    }

    /// The daemon's model (store, watches, transactions).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The domain's connection in the model.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Reads what the client wrote, handles complete requests, writes what
    /// fits.
    pub fn step(&mut self) {
        if !self.stopped {
            let got = self.page.server_read(self.read_chunk);
            self.inbuf.extend_from_slice(&got);
        }
        while let Some(h) = MsgHeader::from_bytes(&self.inbuf) {
            if self.stopped {
                break;
            }
            if h.len as usize > PAYLOAD_MAX {
                self.stopped = true;
                self.page.set_error(ERROR_PROTO);
                break;
            }
            let total = HEADER_LEN + h.len as usize;
            let Some(payload) = self.inbuf.get(HEADER_LEN..total).map(<[u8]>::to_vec) else { break };
            self.inbuf.drain(..total);
            self.log.push(h);
            self.outstanding += 1;
            self.max_outstanding = self.max_outstanding.max(self.outstanding);
            let out = self.model.request(self.conn, h.ty, h.tx_id, &payload);
            self.send_events(&out.before);
            let reply = build_message(MsgType(out.ty), h.req_id, h.tx_id, &out.payload);
            if self.hold {
                self.held.push(reply);
            } else {
                self.send_reply(reply);
            }
            self.send_events(&out.after);
        }
        self.flush();
    }

    /// Writes as much of the pending output as the ring takes.
    pub fn flush(&mut self) {
        let data: Vec<u8> = self.outbuf.iter().copied().collect();
        let n = self.page.server_write(&data);
        self.outbuf.drain(..n.min(self.outbuf.len()));
    }

    /// While on, replies are kept back (requests are still handled at once,
    /// and their events still sent).
    pub fn set_hold(&mut self, on: bool) {
        self.hold = on;
    }

    /// Number of replies kept back.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Sends the held replies at the given indices, in that order; the
    /// others stay held. Indices out of range or repeated are ignored.
    pub fn release(&mut self, order: impl IntoIterator<Item = usize>) {
        let held = std::mem::take(&mut self.held);
        let mut sent = vec![false; held.len()];
        for i in order {
            if let (Some(s), Some(m)) = (sent.get_mut(i), held.get(i)) {
                if !*s {
                    *s = true;
                    self.send_reply(m.clone());
                }
            }
        }
        self.held = held.into_iter().zip(sent).filter(|(_, s)| !s).map(|(m, _)| m).collect();
    }

    /// Bytes taken from the ring per step (`usize::MAX`: all there are).
    pub fn set_read_chunk(&mut self, n: usize) {
        self.read_chunk = n;
    }

    /// Requests received and not answered yet.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// The most requests ever outstanding at once (C xenstored works on at
    /// most [`quota::OUTSTANDING`]).
    pub fn max_outstanding(&self) -> usize {
        self.max_outstanding
    }

    /// True when the client never had more requests outstanding than C
    /// xenstored's quota allows.
    pub fn within_request_quota(&self) -> bool {
        self.max_outstanding <= quota::OUTSTANDING
    }

    /// Every request header received, in order.
    pub fn log(&self) -> &[MsgHeader] {
        &self.log
    }

    /// The domain's watches.
    pub fn watches(&self) -> &[Watch] {
        self.model.watches(self.conn)
    }

    /// Whether the server stopped serving the ring (a malformed header).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Snapshot of the four ring indices, to detect progress.
    pub fn indices(&self) -> [u32; 4] {
        use xs_ring::SharedPage;
        let p = &self.page;
        [p.req_cons(), p.req_prod(), p.rsp_cons(), p.rsp_prod()]
    }

    /// Puts `bytes` on the response ring (after anything pending).
    pub fn raw_send(&mut self, bytes: &[u8]) {
        self.outbuf.extend(bytes.iter().copied());
        self.flush();
    }

    fn send_reply(&mut self, msg: Vec<u8>) {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.outbuf.extend(msg);
    }

    fn send_events(&mut self, events: &[Event]) {
        for e in events.iter().filter(|e| e.conn == self.conn) {
            self.outbuf.extend(build_message(MsgType::WATCH_EVENT, 0, 0, &e.payload()));
        }
    }

    /// The server half of a ring reconnection: partial input and pending
    /// output dropped, held replies and outstanding requests forgotten, the
    /// connection's watches and transactions dropped.
    pub fn reconnect(&mut self) {
        self.page.server_reconnect();
        self.restore();
    }

    /// The server half of a restore from a save (`xl restore`): the domain
    /// comes back on the same page, its indices as they were saved, with a
    /// new connection. The daemon forgets the old connection's watches,
    /// transactions, replies it held back, output it had not written and a
    /// request it had read only in part (its bytes were consumed from the
    /// ring), and serves the page from where the indices are. The store
    /// itself is kept (the same daemon goes on).
    pub fn restore(&mut self) {
        self.inbuf.clear();
        self.outbuf.clear();
        self.held.clear();
        self.model.reset_connection(self.conn);
        self.outstanding = 0;
        self.stopped = false;
    }

    // ------------------------------------------------------------------
    // The toolstack

    fn tool_events(&mut self, r: Result<Vec<Event>, XsErrno>) -> Result<(), XsErrno> {
        let events = r?;
        self.send_events(&events);
        self.flush();
        Ok(())
    }

    /// Writes `value` at absolute `name` as dom0 would (no quota, no
    /// permission check; new nodes inherit their parent's permissions),
    /// sending the events it fires.
    pub fn write(&mut self, name: &str, value: &[u8]) -> Result<(), XsErrno> {
        let r = self.model.tool_write(name, value);
        self.tool_events(r)
    }

    /// Creates absolute `name` as dom0 would.
    pub fn mkdir(&mut self, name: &str) -> Result<(), XsErrno> {
        let r = self.model.tool_mkdir(name);
        self.tool_events(r)
    }

    /// Removes absolute `name` and its subtree as dom0 would.
    pub fn rm(&mut self, name: &str) -> Result<(), XsErrno> {
        let r = self.model.tool_rm(name);
        self.tool_events(r)
    }

    /// Sets the permissions of absolute `name` as dom0 would.
    pub fn set_perms(&mut self, name: &str, perms: &[Perm]) -> Result<(), XsErrno> {
        let r = self.model.tool_set_perms(name, perms);
        self.tool_events(r)
    }

    /// The value at absolute `name`.
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        self.model.node(name).map(|n| n.value.clone())
    }
}
