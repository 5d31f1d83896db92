//! A small simulated xenstored on the server side of an in-memory ring page.
//!
//! Enough of the protocol to exercise the client: READ, WRITE, MKDIR, RM,
//! DIRECTORY (E2BIG past the payload limit), DIRECTORY_PART, GET/SET_PERMS,
//! GET_DOMAIN_PATH, transactions (EAGAIN when anything committed since the
//! start), WATCH/UNWATCH with the initial firing. It can hold replies back and
//! release them in any order, and it records how many requests it has
//! received but not answered.

use std::collections::{BTreeMap, VecDeque};
use std::string::String;
use std::vec::Vec;

use xs_ring::sim::MemPage;
use xs_wire::{build_message, split_strings, MsgHeader, MsgType, XsErrno, HEADER_LEN, PAYLOAD_MAX};

type Store = BTreeMap<String, (Vec<u8>, Vec<String>)>;

struct Tx {
    store: Store,
    base_gen: u64,
    changed: Vec<String>,
}

pub struct Xenstored {
    pub page: MemPage,
    inbuf: Vec<u8>,
    outbuf: VecDeque<u8>,
    store: Store,
    gen: u64,
    txs: BTreeMap<u32, Tx>,
    next_tx: u32,
    pub watches: Vec<(String, String)>,
    /// When set, replies are kept in `held` instead of being sent.
    pub hold: bool,
    pub held: Vec<Vec<u8>>,
    /// Received but unanswered requests, now and at most.
    pub outstanding: usize,
    pub max_outstanding: usize,
    /// Every request header received.
    pub log: Vec<MsgHeader>,
    /// Bytes the server takes from the ring per step (to make it slow).
    pub read_chunk: usize,
    /// Server-side generation count of each node's children list.
    dir_gen: BTreeMap<String, u64>,
}

fn parent(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    if i == 0 {
        if path.len() > 1 {
            Some("/")
        } else {
            None
        }
    } else {
        Some(&path[..i])
    }
}

fn is_under(path: &str, watch: &str) -> bool {
    path == watch || watch == "/" || (path.starts_with(watch) && path.as_bytes().get(watch.len()) == Some(&b'/'))
}

impl Xenstored {
    pub fn new() -> Self {
        Self::with_page(MemPage::new())
    }

    pub fn with_page(page: MemPage) -> Self {
        let mut store = Store::new();
        store.insert("/".into(), (Vec::new(), vec!["n0".into()]));
        Self {
            page,
            inbuf: Vec::new(),
            outbuf: VecDeque::new(),
            store,
            gen: 0,
            txs: BTreeMap::new(),
            next_tx: 17,
            watches: Vec::new(),
            hold: false,
            held: Vec::new(),
            outstanding: 0,
            max_outstanding: 0,
            log: Vec::new(),
            read_chunk: usize::MAX,
            dir_gen: BTreeMap::new(),
        }
    }

    /// Reads what the guest wrote, handles complete requests, writes what fits.
    pub fn step(&mut self) {
        let got = self.page.server_read(self.read_chunk);
        self.inbuf.extend_from_slice(&got);
        while let Some(h) = MsgHeader::from_bytes(&self.inbuf) {
            let total = HEADER_LEN + h.len as usize;
            assert!(h.len as usize <= PAYLOAD_MAX, "client sent an oversized message");
            if self.inbuf.len() < total {
                break;
            }
            let payload: Vec<u8> = self.inbuf[HEADER_LEN..total].to_vec();
            self.inbuf.drain(..total);
            self.log.push(h);
            self.outstanding += 1;
            self.max_outstanding = self.max_outstanding.max(self.outstanding);
            self.handle(h, &payload);
        }
        self.flush();
    }

    pub fn flush(&mut self) {
        let (a, b) = self.outbuf.as_slices();
        let mut data = a.to_vec();
        data.extend_from_slice(b);
        let n = self.page.server_write(&data);
        self.outbuf.drain(..n);
    }

    /// Sends the held replies at the given indices, in that order; the
    /// others stay held.
    pub fn release(&mut self, order: impl IntoIterator<Item = usize>) {
        let held = std::mem::take(&mut self.held);
        let mut sent = vec![false; held.len()];
        for i in order {
            if !sent[i] {
                sent[i] = true;
                self.send_now(held[i].clone());
            }
        }
        self.held = held.into_iter().zip(sent).filter(|(_, s)| !s).map(|(m, _)| m).collect();
    }

    /// Snapshot of the four ring indices, to detect progress.
    pub fn indices(&self) -> [u32; 4] {
        use xs_ring::SharedPage;
        let p = &self.page;
        [p.req_cons(), p.req_prod(), p.rsp_cons(), p.rsp_prod()]
    }

    pub fn raw_send(&mut self, bytes: &[u8]) {
        self.outbuf.extend(bytes.iter().copied());
        self.flush();
    }

    fn send_now(&mut self, msg: Vec<u8>) {
        self.outstanding -= 1;
        self.outbuf.extend(msg);
    }

    fn reply(&mut self, h: MsgHeader, ty: MsgType, payload: &[u8]) {
        let msg = build_message(ty, h.req_id, h.tx_id, payload);
        if self.hold {
            self.held.push(msg);
        } else {
            self.send_now(msg);
        }
    }

    fn error(&mut self, h: MsgHeader, e: XsErrno) {
        self.reply(h, MsgType::ERROR, e.payload());
    }

    fn event(&mut self, path: &str, token: &str) {
        let mut p = Vec::new();
        p.extend_from_slice(path.as_bytes());
        p.push(0);
        p.extend_from_slice(token.as_bytes());
        p.push(0);
        self.outbuf.extend(build_message(MsgType::WATCH_EVENT, 0, 0, &p));
    }

    fn fire(&mut self, path: &str) {
        let hits: Vec<String> =
            self.watches.iter().filter(|(w, _)| is_under(path, w)).map(|(_, t)| t.clone()).collect();
        for t in hits {
            self.event(path, &t);
        }
    }

    /// Canonical absolute path, or None when invalid.
    fn canon(raw: &[u8]) -> Option<String> {
        let s = std::str::from_utf8(raw).ok()?;
        let s = if s.starts_with('/') { s.to_string() } else { format!("/local/domain/1/{s}") };
        if s.len() > 1 && (s.ends_with('/') || s.contains("//")) {
            return None;
        }
        Some(s)
    }

    fn children(store: &Store, path: &str) -> Vec<u8> {
        let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
        let mut out = Vec::new();
        for k in store.keys() {
            if let Some(rest) = k.strip_prefix(&prefix) {
                if !rest.is_empty() && !rest.contains('/') {
                    out.extend_from_slice(rest.as_bytes());
                    out.push(0);
                }
            }
        }
        out
    }

    fn create(store: &mut Store, path: &str, dir_gen: &mut BTreeMap<String, u64>) {
        if store.contains_key(path) {
            return;
        }
        if let Some(p) = parent(path) {
            Self::create(store, p, dir_gen);
            *dir_gen.entry(p.to_string()).or_default() += 1;
        }
        store.insert(path.to_string(), (Vec::new(), vec!["n0".into()]));
    }

    fn handle(&mut self, h: MsgHeader, payload: &[u8]) {
        let ty = MsgType(h.ty);
        let args: Vec<&[u8]> = split_strings(payload).collect();
        match ty {
            MsgType::WATCH | MsgType::UNWATCH => return self.handle_watch(h, payload),
            MsgType::TRANSACTION_START => {
                if h.tx_id != 0 {
                    return self.error(h, XsErrno::EBUSY);
                }
                let id = self.next_tx;
                self.next_tx += 1;
                self.txs.insert(id, Tx { store: self.store.clone(), base_gen: self.gen, changed: Vec::new() });
                let s = format!("{id}\0");
                return self.reply(h, ty, s.as_bytes());
            }
            MsgType::TRANSACTION_END => {
                let Some(tx) = self.txs.remove(&h.tx_id) else { return self.error(h, XsErrno::ENOENT) };
                return match payload {
                    b"F\0" => self.reply(h, ty, b"OK\0"),
                    b"T\0" if tx.base_gen != self.gen => self.error(h, XsErrno::EAGAIN),
                    b"T\0" => {
                        self.store = tx.store;
                        if !tx.changed.is_empty() {
                            self.gen += 1;
                        }
                        self.reply(h, ty, b"OK\0");
                        for p in tx.changed {
                            self.fire(&p);
                        }
                    }
                    _ => self.error(h, XsErrno::EINVAL),
                };
            }
            MsgType::GET_DOMAIN_PATH => {
                let id = args.first().and_then(|a| std::str::from_utf8(a).ok()).and_then(|a| a.parse::<u32>().ok());
                return match id {
                    Some(id) => self.reply(h, ty, format!("/local/domain/{id}\0").as_bytes()),
                    None => self.error(h, XsErrno::EINVAL),
                };
            }
            _ => {}
        }
        // Node operations: pick the store (transaction or not).
        let in_tx = h.tx_id != 0;
        if in_tx && !self.txs.contains_key(&h.tx_id) {
            return self.error(h, XsErrno::ENOENT);
        }
        let path_end = payload.iter().position(|&b| b == 0);
        let Some(path) = path_end.and_then(|e| Self::canon(&payload[..e])) else {
            return self.error(h, XsErrno::EINVAL);
        };
        let rest = &payload[path_end.unwrap_or(0) + 1..];
        let mut dir_gen = std::mem::take(&mut self.dir_gen);
        let store = if in_tx { &mut self.txs.get_mut(&h.tx_id).unwrap().store } else { &mut self.store };
        let mut changed = false;
        let result: Result<Vec<u8>, XsErrno> = match ty {
            MsgType::READ => store.get(&path).map(|n| n.0.clone()).ok_or(XsErrno::ENOENT),
            MsgType::WRITE => {
                Self::create(store, &path, &mut dir_gen);
                store.get_mut(&path).unwrap().0 = rest.to_vec();
                changed = true;
                Ok(b"OK\0".to_vec())
            }
            MsgType::MKDIR => {
                if !store.contains_key(&path) {
                    Self::create(store, &path, &mut dir_gen);
                    changed = true;
                }
                Ok(b"OK\0".to_vec())
            }
            MsgType::RM => {
                if store.remove(&path).is_none() {
                    Err(XsErrno::ENOENT)
                } else {
                    let prefix = format!("{path}/");
                    store.retain(|k, _| !k.starts_with(&prefix));
                    if let Some(p) = parent(&path) {
                        *dir_gen.entry(p.to_string()).or_default() += 1;
                    }
                    changed = true;
                    Ok(b"OK\0".to_vec())
                }
            }
            MsgType::DIRECTORY => {
                if !store.contains_key(&path) {
                    Err(XsErrno::ENOENT)
                } else {
                    let list = Self::children(store, &path);
                    if list.len() > PAYLOAD_MAX {
                        Err(XsErrno::E2BIG)
                    } else {
                        Ok(list)
                    }
                }
            }
            MsgType::DIRECTORY_PART => {
                let off = split_strings(rest).next().and_then(|s| std::str::from_utf8(s).ok()?.parse::<usize>().ok());
                match (store.contains_key(&path), off) {
                    (false, _) => Err(XsErrno::ENOENT),
                    (_, None) => Err(XsErrno::EINVAL),
                    (true, Some(off)) => {
                        let list = Self::children(store, &path);
                        let mut out = format!("{}\0", dir_gen.get(&path).copied().unwrap_or(0)).into_bytes();
                        let max = PAYLOAD_MAX - out.len() - 1;
                        // Whole names from `off` while they fit.
                        let mut end = off.min(list.len());
                        while end < list.len() {
                            let n = list[end..].iter().position(|&b| b == 0).unwrap() + 1;
                            if end + n - off > max {
                                break;
                            }
                            end += n;
                        }
                        out.extend_from_slice(&list[off.min(list.len())..end]);
                        if end == list.len() {
                            out.push(0);
                        }
                        Ok(out)
                    }
                }
            }
            MsgType::GET_PERMS => {
                store.get(&path).map(|n| n.1.iter().flat_map(|p| p.bytes().chain([0])).collect()).ok_or(XsErrno::ENOENT)
            }
            MsgType::SET_PERMS => {
                let perms: Vec<String> = split_strings(rest).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
                let valid = !perms.is_empty()
                    && perms.iter().all(|p| {
                        p.len() >= 2 && "nrwb".contains(&p[..1]) && p[1..].bytes().all(|c| c.is_ascii_digit())
                    });
                match store.get_mut(&path) {
                    None => Err(XsErrno::ENOENT),
                    Some(_) if !valid => Err(XsErrno::EINVAL),
                    Some(n) => {
                        n.1 = perms;
                        changed = true;
                        Ok(b"OK\0".to_vec())
                    }
                }
            }
            _ => Err(XsErrno::ENOSYS),
        };
        self.dir_gen = dir_gen;
        match result {
            Ok(p) => self.reply(h, ty, &p),
            Err(e) => self.error(h, e),
        }
        if changed {
            if in_tx {
                self.txs.get_mut(&h.tx_id).unwrap().changed.push(path);
            } else {
                self.gen += 1;
                self.fire(&path);
            }
        }
    }

    fn handle_watch(&mut self, h: MsgHeader, payload: &[u8]) {
        let Some((path, token)) = xs_wire::parse_path_token(payload) else {
            return self.error(h, XsErrno::EINVAL);
        };
        let path = String::from_utf8_lossy(path).into_owned();
        let token = String::from_utf8_lossy(token).into_owned();
        let pos = self.watches.iter().position(|(p, t)| *p == path && *t == token);
        if h.ty == MsgType::WATCH.0 {
            if path.is_empty() {
                return self.error(h, XsErrno::EINVAL);
            }
            if pos.is_some() {
                return self.error(h, XsErrno::EEXIST);
            }
            self.watches.push((path.clone(), token.clone()));
            self.reply(h, MsgType::WATCH, b"OK\0");
            // The initial firing, after the acknowledgement.
            self.event(&path, &token);
        } else {
            match pos {
                None => self.error(h, XsErrno::ENOENT),
                Some(i) => {
                    self.watches.remove(i);
                    self.reply(h, MsgType::UNWATCH, b"OK\0");
                }
            }
        }
    }

    /// The server half of a ring reconnection: forget the connection.
    pub fn reconnect(&mut self) {
        self.page.server_reconnect();
        self.inbuf.clear();
        self.outbuf.clear();
        self.held.clear();
        self.watches.clear();
        self.txs.clear();
        self.outstanding = 0;
    }
}
