//! The daemon: the store, the connections with their watches and
//! transactions, and the handling of each request, as C xenstored 4.17
//! answers (`process_message` and the `do_*` handlers).

use xs_wire::{MsgType, XsErrno, PAYLOAD_MAX};

use crate::path::{atoi, canonicalize, home, is_child, is_valid_nodename, onearg, parent, strings, text};
use crate::perms::{self, perm_for, Perm, Who, NONE, OWNER, READ, WRITE};
use crate::quota;
use crate::store::{Node, Store};
use crate::tx::Tx;
use crate::view::{Fire, View};

/// A connection to the daemon (index into the daemon's table).
pub type ConnId = usize;

/// Number of message types of 4.17 (`XS_TYPE_COUNT`): from here on `ENOSYS`.
pub const TYPE_COUNT: u32 = 23;

/// Types reserved to privileged connections: `EACCES` for a domain.
const PRIVILEGED_TYPES: [u32; 6] = [0, 8, 9, 17, 18, 19];

/// A watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The watched node, absolute (or `@special`).
    pub node: String,
    /// The token, any bytes without NUL.
    pub token: Vec<u8>,
    /// For a relative watch, the implicit prefix its events are relative to.
    pub relative: Option<String>,
}

impl Watch {
    /// The event path for a change of `name` (`get_watch_path`): relative to
    /// the home for a relative watch.
    pub fn event_path(&self, name: &str) -> String {
        match &self.relative {
            Some(prefix) => {
                let rest = name.get(prefix.len()..).unwrap_or("");
                rest.strip_prefix('/').unwrap_or(rest).to_string()
            }
            None => name.to_string(),
        }
    }

    /// The path as registered (relative for a relative watch).
    pub fn path(&self) -> String {
        self.event_path(&self.node)
    }
}

/// A watch event for connection `conn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The connection whose watch fired.
    pub conn: ConnId,
    /// The event path.
    pub path: String,
    /// The watch's token.
    pub token: Vec<u8>,
}

impl Event {
    /// The `XS_WATCH_EVENT` payload: `path\0token\0`.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.path.len() + self.token.len() + 2);
        p.extend_from_slice(self.path.as_bytes());
        p.push(0);
        p.extend_from_slice(&self.token);
        p.push(0);
        p
    }
}

/// What a request produced: events queued before the reply (those the
/// request's own changes fired), the reply, and events queued after it
/// (the initial firing of a new watch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Events sent before the reply.
    pub before: Vec<Event>,
    /// The reply's type: the request's, or `XS_ERROR`.
    pub ty: u32,
    /// The reply's payload.
    pub payload: Vec<u8>,
    /// Events sent after the reply.
    pub after: Vec<Event>,
}

impl Outcome {
    fn error(e: XsErrno) -> Outcome {
        Outcome { before: Vec::new(), ty: MsgType::ERROR.0, payload: e.payload().to_vec(), after: Vec::new() }
    }

    /// The payload, or the error the reply carries.
    pub fn result(&self) -> Result<&[u8], XsErrno> {
        if self.ty == MsgType::ERROR.0 {
            Err(XsErrno::from_payload(&self.payload))
        } else {
            Ok(&self.payload)
        }
    }
}

/// A handler's success: the reply payload and the events around it.
struct Done {
    payload: Vec<u8>,
    fires: Vec<Fire>,
    after: Vec<Event>,
}

impl Done {
    fn ok() -> Done {
        Done::with(b"OK\0".to_vec())
    }
    fn with(payload: Vec<u8>) -> Done {
        Done { payload, fires: Vec::new(), after: Vec::new() }
    }
    fn fired(mut self, fires: Vec<Fire>) -> Done {
        self.fires = fires;
        self
    }
}

#[derive(Clone, Debug)]
struct Conn {
    who: Who,
    watches: Vec<Watch>,
    /// Open transactions, in start order.
    txs: Vec<Tx>,
    next_tx: u32,
}

/// The simulated daemon.
#[derive(Clone, Debug)]
pub struct Model {
    store: Store,
    conns: Vec<Option<Conn>>,
    /// Permissions of `@releaseDomain` and `@introduceDomain`.
    special: Vec<(String, Vec<Perm>)>,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

fn dom0_none() -> Vec<Perm> {
    vec![Perm { bits: NONE, id: 0 }]
}

impl Model {
    /// A daemon as it starts (`setup_structure`): `/`, `/tool` and
    /// `/tool/xenstored`, owned by dom0 with no access for domains; the two
    /// special watch names with the same permissions.
    pub fn new() -> Model {
        let mut m = Model {
            store: Store::new(),
            conns: Vec::new(),
            special: vec![("@releaseDomain".into(), dom0_none()), ("@introduceDomain".into(), dom0_none())],
        };
        for p in ["/tool", "/tool/xenstored"] {
            let _ = m.tool_mkdir(p);
        }
        m
    }

    /// Adds what the toolstack (libxl) creates for domain `domid`: its home
    /// `/local/domain/<domid>` (owner dom0, read for the domain: `n0 r<id>`)
    /// and `data` below it, owned by the domain (`n<id>`). Missing ancestors
    /// get dom0-only permissions.
    pub fn add_domain(&mut self, domid: u32) {
        let h = home(domid);
        let _ = self.tool_mkdir(&h);
        let _ = self.tool_set_perms(&h, &[Perm { bits: NONE, id: 0 }, Perm { bits: READ, id: domid }]);
        let data = format!("{h}/data");
        let _ = self.tool_mkdir(&data);
        let _ = self.tool_set_perms(&data, &[Perm { bits: NONE, id: domid }]);
    }

    /// Opens a connection for `who`.
    pub fn connect(&mut self, who: Who) -> ConnId {
        self.conns.push(Some(Conn { who, watches: Vec::new(), txs: Vec::new(), next_tx: 0 }));
        self.conns.len() - 1
    }

    /// Closes a connection: its watches and transactions go.
    pub fn disconnect(&mut self, c: ConnId) {
        if let Some(slot) = self.conns.get_mut(c) {
            *slot = None;
        }
    }

    /// The reconnection of a ring (or `XS_RESET_WATCHES`): the connection's
    /// watches and transactions go; the connection stays.
    pub fn reset_connection(&mut self, c: ConnId) {
        if let Some(conn) = self.conn_mut(c) {
            conn.watches.clear();
            conn.txs.clear();
        }
    }

    fn conn(&self, c: ConnId) -> Option<&Conn> {
        self.conns.get(c).and_then(Option::as_ref)
    }

    fn conn_mut(&mut self, c: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(c).and_then(Option::as_mut)
    }

    /// Who the connection is.
    pub fn who(&self, c: ConnId) -> Option<Who> {
        self.conn(c).map(|x| x.who)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The watches of a connection, in registration order.
    pub fn watches(&self, c: ConnId) -> &[Watch] {
        self.conn(c).map_or(&[], |x| &x.watches)
    }

    /// The ids of a connection's open transactions, in start order.
    pub fn transaction_ids(&self, c: ConnId) -> Vec<u32> {
        self.conn(c).map_or(Vec::new(), |x| x.txs.iter().map(|t| t.id).collect())
    }

    /// Open transactions of all connections.
    pub fn transactions(&self) -> usize {
        self.conns.iter().flatten().map(|c| c.txs.len()).sum()
    }

    /// Watches of all connections.
    pub fn watch_count(&self) -> usize {
        self.conns.iter().flatten().map(|c| c.watches.len()).sum()
    }

    /// Makes the connection's next transaction id `id` (or the next free one
    /// after it), to reproduce a recorded session.
    pub fn set_next_transaction_id(&mut self, c: ConnId, id: u32) {
        if let Some(conn) = self.conn_mut(c) {
            conn.next_tx = id;
        }
    }

    // ------------------------------------------------------------------
    // Requests

    /// Handles one request of connection `c` and returns what xenstored
    /// sends back. Checked first, in this order: type >= 23, or one with
    /// no handler (15, 16, 20): `ENOSYS`; a privileged type (0, 8, 9, 17,
    /// 18, 19) from a domain: `EACCES`; a `tx_id` the connection does not
    /// have (except for WATCH/UNWATCH, which ignore it): `ENOENT`. A reply
    /// payload over 4096 bytes becomes `E2BIG`.
    pub fn request(&mut self, c: ConnId, ty: u32, tx_id: u32, payload: &[u8]) -> Outcome {
        let Some(who) = self.who(c) else { return Outcome::error(XsErrno::EIO) };
        if ty >= TYPE_COUNT || matches!(ty, 15 | 16 | 20) {
            return Outcome::error(XsErrno::ENOSYS);
        }
        if PRIVILEGED_TYPES.contains(&ty) && !who.privileged {
            return Outcome::error(XsErrno::EACCES);
        }
        let watch_like = ty == MsgType::WATCH.0 || ty == MsgType::UNWATCH.0;
        let tx_id = if watch_like { 0 } else { tx_id };
        if tx_id != 0 && !self.conn(c).is_some_and(|x| x.txs.iter().any(|t| t.id == tx_id)) {
            return Outcome::error(XsErrno::ENOENT);
        }
        match self.handle(who, Some(c), ty, tx_id, payload) {
            Ok(done) if done.payload.len() > PAYLOAD_MAX => Outcome::error(XsErrno::E2BIG),
            Ok(done) => Outcome { before: self.events(&done.fires), ty, payload: done.payload, after: done.after },
            Err(e) => Outcome::error(e),
        }
    }

    fn handle(&mut self, who: Who, c: Option<ConnId>, ty: u32, tx_id: u32, payload: &[u8]) -> Result<Done, XsErrno> {
        match MsgType(ty) {
            MsgType::WATCH => self.do_watch(c, payload),
            MsgType::UNWATCH => self.do_unwatch(c, payload),
            MsgType::TRANSACTION_START => self.do_transaction_start(c, tx_id),
            MsgType::TRANSACTION_END => self.do_transaction_end(c, tx_id, payload),
            MsgType::RESET_WATCHES => {
                if let Some(c) = c {
                    self.reset_connection(c);
                }
                Ok(Done::ok())
            }
            MsgType::GET_DOMAIN_PATH => {
                let arg = onearg(payload).map_err(|_| XsErrno::EINVAL)?;
                Ok(Done::with(format!("{}\0", home(atoi(arg) as u32)).into_bytes()))
            }
            MsgType::SET_PERMS if payload.starts_with(b"@") => self.set_perms_special(who, payload),
            _ => self.node_op(who, c, ty, tx_id, payload),
        }
    }

    /// The requests on nodes, in the view of the connection (and its
    /// transaction `tx_id`, if not 0).
    fn node_op(&mut self, who: Who, c: Option<ConnId>, ty: u32, tx_id: u32, payload: &[u8]) -> Result<Done, XsErrno> {
        let Model { store, conns, .. } = self;
        let tx = match (c, tx_id) {
            (Some(c), t) if t != 0 => {
                conns.get_mut(c).and_then(Option::as_mut).and_then(|x| x.txs.iter_mut().find(|tx| tx.id == t))
            }
            _ => None,
        };
        let mut v = View::new(store, tx, who);
        let payload = match MsgType(ty) {
            MsgType::READ => v.get_node(&name_arg(who, payload)?, READ)?.value,
            MsgType::GET_PERMS => perms::format(&v.get_node(&name_arg(who, payload)?, READ)?.perms),
            MsgType::DIRECTORY => v.get_node(&name_arg(who, payload)?, READ)?.child_list(),
            MsgType::DIRECTORY_PART => directory_part(&mut v, who, payload)?,
            MsgType::WRITE => {
                let args = strings(payload);
                let first = args.first().ok_or(XsErrno::EINVAL)?;
                let name = canonicalize(who.domid, text(first)?);
                let value = payload.get(first.len() + 1..).unwrap_or(&[]).to_vec();
                match v.get_node(&name, WRITE) {
                    Ok(mut node) => {
                        node.value = value;
                        v.write_node(&name, node, true)?;
                    }
                    Err(XsErrno::ENOENT) => v.create(&name, value)?,
                    Err(e) => return Err(e),
                }
                v.fire(&name, false, None);
                b"OK\0".to_vec()
            }
            MsgType::MKDIR => {
                let name = name_arg(who, payload).map_err(stale_enoent_is_enomem)?;
                match v.get_node(&name, WRITE) {
                    Ok(_) => {}
                    Err(XsErrno::ENOENT) => {
                        v.create(&name, Vec::new())?;
                        v.fire(&name, false, None);
                    }
                    Err(e) => return Err(e),
                }
                b"OK\0".to_vec()
            }
            MsgType::RM => {
                let name = name_arg(who, payload).map_err(stale_enoent_is_enomem)?;
                match v.get_node(&name, WRITE) {
                    Ok(_) if name == "/" => return Err(XsErrno::EINVAL),
                    Ok(_) => v.rm(&name)?,
                    // Missing: fine if the parent exists.
                    Err(XsErrno::ENOENT) => {
                        if v.read(parent(&name))?.is_none() {
                            return Err(XsErrno::ENOENT);
                        }
                    }
                    Err(e) => return Err(e),
                }
                b"OK\0".to_vec()
            }
            MsgType::SET_PERMS => {
                let new = perms_arg(who, payload)?;
                let args = strings(payload);
                let name = canonicalize(who.domid, text(args.first().ok_or(XsErrno::EINVAL)?)?);
                let mut node = v.get_node(&name, WRITE | OWNER)?;
                if !who.privileged && new.first().map(|p| p.id) != Some(node.owner()) {
                    return Err(XsErrno::EPERM);
                }
                let old = std::mem::replace(&mut node.perms, new);
                v.write_node(&name, node, true)?;
                v.fire(&name, false, Some(old));
                b"OK\0".to_vec()
            }
            _ => return Err(XsErrno::EINVAL),
        };
        Ok(Done::with(payload).fired(v.fires))
    }

    fn set_perms_special(&mut self, who: Who, payload: &[u8]) -> Result<Done, XsErrno> {
        let new = perms_arg(who, payload)?;
        let name = strings(payload).first().map(|s| s.to_vec()).unwrap_or_default();
        let slot = self.special.iter_mut().find(|(n, _)| n.as_bytes() == name).ok_or(XsErrno::EINVAL)?;
        if perm_for(who, &slot.1) & (WRITE | OWNER) != WRITE | OWNER {
            return Err(XsErrno::EACCES);
        }
        slot.1 = new;
        Ok(Done::ok())
    }

    fn do_watch(&mut self, c: Option<ConnId>, payload: &[u8]) -> Result<Done, XsErrno> {
        let c = c.ok_or(XsErrno::EINVAL)?;
        let args = strings(payload);
        let [path, token] = args.as_slice() else { return Err(XsErrno::EINVAL) };
        let initial = self.add_watch(c, path, token)?;
        let mut done = Done::ok();
        done.after.push(initial);
        Ok(done)
    }

    /// Registers a watch (`do_watch` after the argument count check): the
    /// name must be valid once made absolute, or an `@` name of at most
    /// 2048 bytes (any: 4.17 does not check which); the same name and token
    /// again is `EEXIST`; past the quota `E2BIG` (see
    /// [`quota::WATCHES`]). Returns the initial event, which xenstored
    /// sends right after its OK.
    pub fn add_watch(&mut self, c: ConnId, path: &[u8], token: &[u8]) -> Result<Event, XsErrno> {
        let who = self.who(c).ok_or(XsErrno::EIO)?;
        let path = text(path)?;
        let (node, relative) = if path.starts_with('@') {
            if path.len() > xs_wire::REL_PATH_MAX {
                return Err(XsErrno::EINVAL);
            }
            (path.to_string(), None)
        } else {
            let node = canonicalize(who.domid, path);
            if !is_valid_nodename(&node) {
                return Err(XsErrno::EINVAL);
            }
            (node, (!path.starts_with('/')).then(|| home(who.domid)))
        };
        let conn = self.conn(c).ok_or(XsErrno::EIO)?;
        if conn.watches.iter().any(|w| w.node == node && w.token == token) {
            return Err(XsErrno::EEXIST);
        }
        if !who.privileged && self.domain_watches(who.domid) > quota::WATCHES {
            return Err(XsErrno::E2BIG);
        }
        let w = Watch { node, token: token.to_vec(), relative };
        let initial = Event { conn: c, path: w.path(), token: w.token.clone() };
        if let Some(conn) = self.conn_mut(c) {
            conn.watches.push(w);
        }
        Ok(initial)
    }

    fn domain_watches(&self, domid: u32) -> usize {
        self.conns.iter().flatten().filter(|c| c.who.domid == domid && !c.who.privileged).map(|c| c.watches.len()).sum()
    }

    fn do_unwatch(&mut self, c: Option<ConnId>, payload: &[u8]) -> Result<Done, XsErrno> {
        let c = c.ok_or(XsErrno::EINVAL)?;
        let args = strings(payload);
        let [path, token] = args.as_slice() else { return Err(XsErrno::EINVAL) };
        self.remove_watch(c, path, token)?;
        Ok(Done::ok())
    }

    /// Removes the watch with this name (made absolute) and token, or
    /// `ENOENT`.
    pub fn remove_watch(&mut self, c: ConnId, path: &[u8], token: &[u8]) -> Result<(), XsErrno> {
        let who = self.who(c).ok_or(XsErrno::EIO)?;
        let node = canonicalize(who.domid, &String::from_utf8_lossy(path));
        let conn = self.conn_mut(c).ok_or(XsErrno::EIO)?;
        let i = conn.watches.iter().position(|w| w.node == node && w.token == token).ok_or(XsErrno::ENOENT)?;
        conn.watches.remove(i);
        Ok(())
    }

    fn do_transaction_start(&mut self, c: Option<ConnId>, tx_id: u32) -> Result<Done, XsErrno> {
        let c = c.ok_or(XsErrno::EINVAL)?;
        if tx_id != 0 {
            return Err(XsErrno::EBUSY);
        }
        let generation = self.store.next_generation();
        let conn = self.conn_mut(c).ok_or(XsErrno::EIO)?;
        if !conn.who.privileged && conn.txs.len() > quota::TRANSACTIONS {
            return Err(XsErrno::ENOSPC);
        }
        let mut id = conn.next_tx;
        while id == 0 || conn.txs.iter().any(|t| t.id == id) {
            id = id.wrapping_add(1);
        }
        conn.next_tx = id.wrapping_add(1);
        conn.txs.push(Tx::new(id, generation));
        Ok(Done::with(format!("{id}\0").into_bytes()))
    }

    fn do_transaction_end(&mut self, c: Option<ConnId>, tx_id: u32, payload: &[u8]) -> Result<Done, XsErrno> {
        let commit = match onearg(payload) {
            Ok(b"T") => true,
            Ok(b"F") => false,
            _ => return Err(XsErrno::EINVAL),
        };
        if tx_id == 0 {
            return Err(XsErrno::ENOENT);
        }
        let fires = self.end_transaction(c.ok_or(XsErrno::EINVAL)?, tx_id, commit)?;
        Ok(Done::ok().fired(fires))
    }

    /// Ends transaction `tx_id` of connection `c` (it is gone whatever the
    /// answer). A commit fails with `ENOMEM` if the transaction failed,
    /// `ENOSPC` if the nodes it created would take the domain to the entry
    /// quota, `EAGAIN` on a conflict (see [`crate::tx`]); else it applies the
    /// changes and returns what fires.
    fn end_transaction(&mut self, c: ConnId, tx_id: u32, commit: bool) -> Result<Vec<Fire>, XsErrno> {
        let conn = self.conn_mut(c).ok_or(XsErrno::EIO)?;
        let who = conn.who;
        let i = conn.txs.iter().position(|t| t.id == tx_id).ok_or(XsErrno::ENOENT)?;
        let tx = conn.txs.remove(i);
        if !commit {
            return Ok(Vec::new());
        }
        if tx.fail {
            return Err(XsErrno::ENOMEM);
        }
        if tx.node_created && !who.privileged {
            let mut count = self.store.owned_by(who.domid) as i64;
            for a in tx.accessed().iter().filter(|a| a.modified) {
                let before = self.store.get(&a.name).is_some_and(|n| n.owner() == who.domid);
                let after = a.node.as_ref().is_some_and(|n| n.owner() == who.domid);
                count += i64::from(after) - i64::from(before);
            }
            if count >= quota::ENTRIES as i64 {
                return Err(XsErrno::ENOSPC);
            }
        }
        for a in tx.accessed() {
            if a.check && self.store.get(&a.name).map(|n| n.generation) != a.seen {
                return Err(XsErrno::EAGAIN);
            }
        }
        for a in tx.accessed().iter().filter(|a| a.modified) {
            match &a.node {
                Some(n) => {
                    let mut n = n.clone();
                    n.generation = self.store.next_generation();
                    self.store.put(a.name.clone(), n);
                }
                None => {
                    self.store.remove(&a.name);
                }
            }
        }
        let fires = tx
            .accessed()
            .iter()
            .filter_map(|a| a.fire.map(|exact| Fire::capture(&self.store, &a.name, exact, a.old_perms.clone())))
            .collect();
        Ok(fires)
    }

    /// Aborts transaction `tx_id` of connection `c` (`END "F\0"`), if open.
    pub fn abort_transaction(&mut self, c: ConnId, tx_id: u32) -> Result<(), XsErrno> {
        self.end_transaction(c, tx_id, false).map(|_| ())
    }

    // ------------------------------------------------------------------
    // Watch events

    /// The events a list of changes fires: for each change, each connection
    /// allowed to see it, each of its watches on the name (exact firing) or
    /// on the name or an ancestor (otherwise). A connection may see a node
    /// change if it could read the node before (permission changes), can
    /// read it now, or can read its parent; and an `@` name if it may read
    /// that special node.
    fn events(&self, fires: &[Fire]) -> Vec<Event> {
        let mut out = Vec::new();
        for f in fires {
            for (id, conn) in self.conns.iter().enumerate() {
                let Some(conn) = conn else { continue };
                if !self.may_see(conn.who, f) {
                    continue;
                }
                for w in &conn.watches {
                    let hit = if f.exact { f.name == w.node } else { is_child(&f.name, &w.node) };
                    if hit {
                        out.push(Event { conn: id, path: w.event_path(&f.name), token: w.token.clone() });
                    }
                }
            }
        }
        out
    }

    fn may_see(&self, who: Who, f: &Fire) -> bool {
        if f.name.starts_with('@') {
            return self.special.iter().any(|(n, p)| *n == f.name && perm_for(who, p) & READ != 0);
        }
        let readable = |p: &Option<Vec<Perm>>| p.as_ref().is_some_and(|p| perm_for(who, p) & READ != 0);
        if readable(&f.old_perms) {
            return true;
        }
        f.node_perms.is_some() && (readable(&f.node_perms) || readable(&f.parent_perms))
    }

    /// Fires the watches on a special name (`@releaseDomain`,
    /// `@introduceDomain`), as xenstored does when a domain goes or comes.
    pub fn fire_special(&mut self, name: &str) -> Vec<Event> {
        let f = Fire { name: name.to_string(), exact: false, old_perms: None, node_perms: None, parent_perms: None };
        self.events(&[f])
    }

    // ------------------------------------------------------------------
    // The toolstack (dom0, privileged: no permission or quota checks)

    fn tool(&mut self, ty: MsgType, payload: &[u8]) -> Result<Vec<Event>, XsErrno> {
        let done = self.handle(Who::TOOLSTACK, None, ty.0, 0, payload)?;
        Ok(self.events(&done.fires))
    }

    /// Writes `value` at absolute `name` as dom0 would; returns the events.
    pub fn tool_write(&mut self, name: &str, value: &[u8]) -> Result<Vec<Event>, XsErrno> {
        let mut p = name.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(value);
        self.tool(MsgType::WRITE, &p)
    }

    /// Creates `name` (if missing) as dom0 would.
    pub fn tool_mkdir(&mut self, name: &str) -> Result<Vec<Event>, XsErrno> {
        self.tool(MsgType::MKDIR, format!("{name}\0").as_bytes())
    }

    /// Removes `name` and its subtree as dom0 would.
    pub fn tool_rm(&mut self, name: &str) -> Result<Vec<Event>, XsErrno> {
        self.tool(MsgType::RM, format!("{name}\0").as_bytes())
    }

    /// Sets the permissions of `name` as dom0 would.
    pub fn tool_set_perms(&mut self, name: &str, perms: &[Perm]) -> Result<Vec<Event>, XsErrno> {
        let mut p = format!("{name}\0").into_bytes();
        p.extend_from_slice(&perms::format(perms));
        self.tool(MsgType::SET_PERMS, &p)
    }

    /// The node at absolute `name`, outside any transaction.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.store.get(name)
    }
}

/// The one name argument of a request, made absolute.
fn name_arg(who: Who, payload: &[u8]) -> Result<String, XsErrno> {
    Ok(canonicalize(who.domid, text(onearg(payload)?)?))
}

/// MKDIR and RM test `errno == ENOENT` after a failed lookup and then find
/// no name: `ENOMEM`. With an empty payload (whose left-over errno is
/// ENOENT, see [`onearg`]) that is what they answer.
fn stale_enoent_is_enomem(e: XsErrno) -> XsErrno {
    if e == XsErrno::ENOENT {
        XsErrno::ENOMEM
    } else {
        e
    }
}

/// The permission list of a SET_PERMS payload (`name\0perm\0perm\0...`):
/// `EINVAL` for fewer than one, `ENOSPC` past [`quota::PERMS`] for a
/// domain, `EINVAL` for a malformed entry.
fn perms_arg(who: Who, payload: &[u8]) -> Result<Vec<Perm>, XsErrno> {
    let args = strings(payload);
    if args.len() < 2 {
        return Err(XsErrno::EINVAL);
    }
    if !who.privileged && args.len() - 1 > quota::PERMS {
        return Err(XsErrno::ENOSPC);
    }
    perms::parse(args.get(1..).unwrap_or(&[]))
}

/// DIRECTORY_PART (`send_directory_part`): `name\0offset\0` (exactly two
/// NULs, else `EINVAL`); the reply is the directory's generation, then the
/// whole child names from byte `offset` of the child list that fit, and an
/// empty string after the last one; past the end just `"<gen>\0\0"`.
fn directory_part(v: &mut View<'_>, who: Who, payload: &[u8]) -> Result<Vec<u8>, XsErrno> {
    let args = strings(payload);
    let [name, off] = args.as_slice() else { return Err(XsErrno::EINVAL) };
    let node = v.get_node(&canonicalize(who.domid, text(name)?), READ)?;
    let off = atoi(off) as u32 as usize;
    let list = node.child_list();
    let mut out = format!("{}\0", node.generation).into_bytes();
    let Some(tail) = list.get(off..).filter(|t| !t.is_empty()) else {
        out.push(0);
        return Ok(out);
    };
    let maxlen = PAYLOAD_MAX - out.len() - 1;
    let mut len = 0;
    loop {
        let name_len = tail.get(len..).and_then(|t| t.iter().position(|&b| b == 0)).unwrap_or(0);
        if len + name_len >= maxlen {
            break;
        }
        len += name_len + 1;
        if len >= tail.len() {
            break;
        }
    }
    out.extend_from_slice(tail.get(..len).unwrap_or(tail));
    if len >= tail.len() {
        out.push(0);
    }
    Ok(out)
}
