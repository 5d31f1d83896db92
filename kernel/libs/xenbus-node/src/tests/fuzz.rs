//! A seeded random walk over everything a program and xenstored can do to the
//! node: requests (whole or chunked), garbage, reads of any size, peeks,
//! polls, held and reordered replies, toolstack changes, closes; three opens
//! sharing one simulated C xenstored (xs-sim), with every watch event charged
//! to a budget.
//!
//! `XENBUS_FUZZ_STEPS` sets the number of steps (default 120,000, split over
//! two seeds); `make fuzz` runs 10^7 in release mode. The counts are printed
//! at the end (`-- --nocapture`).
//!
//! The driver's checks are exact, so that a failure is the node's:
//! - framing: the driver keeps its own copy of the partial-request buffer
//!   (the rules of `XenbusFile::write`), so it knows for every write whether
//!   it completes a message and what write() must return when it does not;
//!   after every write the node's buffered length equals the copy's;
//! - every message write() accepted is owed exactly one reply with its
//!   `req_id` and `tx_id` (a multiset: programs may reuse ids), of its type
//!   or `XS_ERROR`; a refused one none. Each reply read must be owed; at
//!   quiet points (every 2,000 steps: everything released and read) nothing
//!   is owed, nothing is in flight, no reply is announced in a mailbox;
//! - every event read carries `req_id = tx_id = 0` and the token of a watch
//!   this open registered; at quiet points the events read equal the
//!   events the open counted as queued;
//! - poll agrees with the queue; a read returns exactly `min(n, queued)`
//!   bytes, `EAGAIN` only with nothing queued; the stream of each open
//!   parses into whole messages, with no byte left over at quiet points;
//! - the event budget is back to zero at every quiet point and at the end,
//!   when every open is closed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use kcore::budget::Budget;

use super::*;
use crate::{MAX_IN_FLIGHT, POLLIN, POLLRDNORM, WRITE_BUF_SIZE};

/// xorshift64*: small, deterministic, good enough to drive a walk.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Up to `max - 1` random bytes.
    fn some_bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max) as usize;
        self.bytes(n)
    }
}

const PATHS: [&str; 7] = ["data/a", "data/b", "data/a/x", "data", "data/b/y/z", "/tool/t", "/local/domain/1/data/c"];
const HOME: &str = "/local/domain/1";
const QUIET_EVERY: usize = 2000;

/// Counts of one run, printed at the end.
#[derive(Default, Debug)]
struct Counts {
    steps: u64,
    writes: u64,
    messages_accepted: u64,
    messages_refused: BTreeMap<String, u64>,
    replies: u64,
    error_replies: u64,
    events: u64,
    bytes_read: u64,
    reads: u64,
    eagain: u64,
    toolstack: u64,
    closes: u64,
    /// Accepted requests still unanswered when their open was closed.
    owed_at_close: u64,
    storms: u64,
    quiet_points: u64,
    /// At the read queue's bound (per open).
    events_coalesced: u64,
    events_dropped: u64,
    /// At the mailbox's bound or the event budget.
    mailbox_coalesced: u64,
    mailbox_dropped: u64,
}

/// The requests with one (req_id, tx_id) still owed a reply. An error reply
/// may answer any of them, so it is not assigned until the others are: the
/// replies so far match the requests exactly when each typed reply has a
/// request of its type and there are as many requests left as error replies.
#[derive(Debug, Default)]
struct Owed {
    /// Requests by type.
    types: HashMap<u32, usize>,
    /// Error replies received for them.
    errors: usize,
}

impl Owed {
    fn unanswered(&self) -> usize {
        self.types.values().sum::<usize>() - self.errors
    }
}

struct Slot {
    open: Open,
    /// The driver's copy of the node's partial request.
    shadow: Vec<u8>,
    /// Bytes read and not yet parsed into whole messages.
    stream: Vec<u8>,
    /// Replies owed, by (req_id, tx_id).
    owed: HashMap<(u32, u32), Owed>,
    owed_count: usize,
    /// Tokens of every watch this open registered.
    tokens: HashSet<Vec<u8>>,
    events_read: u64,
}

impl Slot {
    fn new(xs: &Xenstored) -> Self {
        Slot {
            open: Open::new(xs),
            shadow: Vec::new(),
            stream: Vec::new(),
            owed: HashMap::new(),
            owed_count: 0,
            tokens: HashSet::new(),
            events_read: 0,
        }
    }

    /// Writes `buf` and checks the result against the framing rules; a
    /// message completed and accepted becomes owed a reply.
    fn write(&mut self, buf: &[u8], c: &mut Counts) -> Result<usize, Errno> {
        c.writes += 1;
        let n = buf.len();
        // What the framing says, before the message (if any) is handled.
        let mut completed: Option<Vec<u8>> = None;
        let mut expect: Option<Result<usize, Errno>> = None;
        if n == 0 {
            expect = Some(Ok(0));
        } else if n > WRITE_BUF_SIZE - self.shadow.len() {
            self.shadow.clear();
            expect = Some(Err(Errno::EINVAL));
        } else {
            let mut direct = false;
            if self.shadow.is_empty() {
                if let Some(h) = MsgHeader::from_bytes(buf) {
                    if h.len as usize > WRITE_BUF_SIZE - HEADER_LEN {
                        expect = Some(Err(Errno::E2BIG));
                        direct = true;
                    } else if buf.len() >= HEADER_LEN + h.len as usize {
                        completed = Some(buf[..HEADER_LEN + h.len as usize].to_vec());
                        direct = true;
                    }
                }
            }
            if !direct {
                self.shadow.extend_from_slice(buf);
                match MsgHeader::from_bytes(&self.shadow) {
                    None => expect = Some(Ok(n)),
                    Some(h) if h.len as usize > WRITE_BUF_SIZE - HEADER_LEN => {
                        self.shadow.clear();
                        expect = Some(Err(Errno::E2BIG));
                    }
                    Some(h) if self.shadow.len() < HEADER_LEN + h.len as usize => expect = Some(Ok(n)),
                    Some(h) => {
                        completed = Some(self.shadow[..HEADER_LEN + h.len as usize].to_vec());
                        self.shadow.clear();
                    }
                }
            }
        }
        let r = self.open.write(buf);
        assert_eq!(self.open.file.buffered_len(), self.shadow.len(), "partial buffer");
        match (expect, completed) {
            (Some(e), _) => assert_eq!(r, e, "framing of a {n}-byte write"),
            (None, Some(m)) => {
                let h = MsgHeader::from_bytes(&m).unwrap();
                match r {
                    Ok(k) => {
                        assert_eq!(k, n);
                        c.messages_accepted += 1;
                        *self.owed.entry((h.req_id, h.tx_id)).or_default().types.entry(h.ty).or_default() += 1;
                        self.owed_count += 1;
                        if h.ty == WATCH {
                            if let Some((path, token)) = xs_wire::parse_path_token(&m[HEADER_LEN..]) {
                                if !path.is_empty() {
                                    self.tokens.insert(token.to_vec());
                                }
                            }
                        }
                    }
                    Err(e) => {
                        assert!(
                            matches!(e, Errno::ENOBUFS | Errno::EINVAL | Errno::E2BIG),
                            "refused with {e:?}: {m:02x?}"
                        );
                        *c.messages_refused.entry(format!("{e:?}")).or_default() += 1;
                    }
                }
            }
            (None, None) => unreachable!(),
        }
        r
    }

    /// Reads `n` bytes and checks the size against the queue.
    fn read(&mut self, n: usize, c: &mut Counts) {
        let p = self.open.poll();
        let queued = self.open.file.queued_bytes();
        assert_eq!(p != 0, queued > 0, "poll agrees with the queue");
        assert!(p == 0 || p == POLLIN | POLLRDNORM);
        c.reads += 1;
        match self.open.read(n) {
            Ok(b) => {
                assert!(queued > 0);
                assert_eq!(b.len(), n.min(queued), "read size");
                c.bytes_read += b.len() as u64;
                self.stream.extend(b);
                self.absorb(c);
            }
            Err(e) => {
                assert_eq!(e, Errno::EAGAIN);
                assert_eq!(queued, 0);
                c.eagain += 1;
            }
        }
    }

    /// Parses whole messages off the front of the stream and checks each.
    fn absorb(&mut self, c: &mut Counts) {
        let mut off = 0;
        while let Some(h) = MsgHeader::from_bytes(&self.stream[off..]) {
            assert!(h.len as usize <= xs_wire::PAYLOAD_MAX, "oversized message {h:?}");
            let end = off + HEADER_LEN + h.len as usize;
            if self.stream.len() < end {
                break;
            }
            let payload = &self.stream[off + HEADER_LEN..end];
            if h.ty == EVENT {
                assert_eq!((h.req_id, h.tx_id), (0, 0));
                // path\0token\0 and nothing else.
                let (_, token) = xs_wire::parse_path_token(payload).expect("event payload");
                assert_eq!(payload.iter().filter(|&&b| b == 0).count(), 2, "{payload:02x?}");
                assert!(payload.ends_with(b"\0"));
                assert!(self.tokens.contains(token), "event for a token this open never registered");
                self.events_read += 1;
                c.events += 1;
            } else {
                let key = (h.req_id, h.tx_id);
                let Some(o) = self.owed.get_mut(&key).filter(|o| o.unanswered() > 0) else {
                    panic!("reply nobody is owed: {h:?} {payload:02x?}");
                };
                if h.ty == ERROR {
                    o.errors += 1;
                } else {
                    match o.types.get_mut(&h.ty) {
                        Some(n) if *n > 0 => *n -= 1,
                        _ => panic!("reply of type {} to requests {o:?}", h.ty),
                    }
                }
                if o.unanswered() == 0 {
                    self.owed.remove(&key);
                }
                self.owed_count -= 1;
                c.replies += 1;
                if h.ty == ERROR {
                    c.error_replies += 1;
                }
            }
            off = end;
        }
        self.stream.drain(..off);
    }
}

fn random_request(rng: &mut Rng, tx_ids: &[u32]) -> Vec<u8> {
    let ty = match rng.below(20) {
        0 => rng.next() as u32,
        1 => rng.pick(&[0u32, 8, 9, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24]),
        _ => rng.pick(&[1u32, 2, 2, 3, 4, 4, 5, 6, 7, 10, 11, 11, 12, 13, 14, 21, 22]),
    };
    let tx = match rng.below(6) {
        0 if !tx_ids.is_empty() => rng.pick(tx_ids),
        1 => rng.next() as u32 & 0xF,
        _ => 0,
    };
    let req = match rng.below(4) {
        0 => rng.below(4) as u32,
        _ => rng.next() as u32,
    };
    let path = rng.pick(&PATHS);
    let payload = match ty {
        4 | 5 => {
            let tok = rng.some_bytes(4).into_iter().map(|b| b.max(1)).collect::<Vec<u8>>();
            if rng.below(10) == 0 {
                rng.some_bytes(12)
            } else {
                pt(path.as_bytes(), &tok)
            }
        }
        6 => b"\0".to_vec(),
        7 => rng.pick(&[&b"T\0"[..], b"F\0", b"F\0", b"T"]).to_vec(),
        10 => b"1\0".to_vec(),
        11 => {
            let v = if rng.below(50) == 0 {
                let n = 2000 + rng.below(100) as usize;
                rng.bytes(n)
            } else {
                rng.some_bytes(20)
            };
            pv(path, &v)
        }
        14 => [p0(path), rng.pick(&[&b"n1\0"[..], b"n1\0r0\0", b"n0\0", b"b1\0r2\0", b"x\0"]).to_vec()].concat(),
        22 => [p0(path), rng.pick(&[&b"0\0"[..], b"2\0", b"99\0"]).to_vec()].concat(),
        _ if rng.below(15) == 0 => rng.some_bytes(30),
        _ => p0(path),
    };
    msg(ty, req, tx, &payload)
}

fn steps_from_env() -> usize {
    std::env::var("XENBUS_FUZZ_STEPS")
        .ok()
        .and_then(|s| s.replace('_', "").parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(120_000)
}

#[test]
fn random_walk_keeps_every_invariant() {
    let steps = steps_from_env();
    let t0 = Instant::now();
    let seeds = [0x5EED_0001u64, 0xC0FF_EE00_1234];
    let mut total = Counts::default();
    for (i, seed) in seeds.into_iter().enumerate() {
        let n = steps / seeds.len() + usize::from(i < steps % seeds.len());
        let c = walk(seed, n);
        println!("fuzz seed {seed:#x}: {c:?}");
        total.steps += c.steps;
        total.messages_accepted += c.messages_accepted;
        total.replies += c.replies;
        total.events += c.events;
        total.closes += c.closes;
        total.mailbox_coalesced += c.mailbox_coalesced;
        total.mailbox_dropped += c.mailbox_dropped;
        total.quiet_points += c.quiet_points;
    }
    println!(
        "fuzz: {} steps, {} requests accepted, {} replies, {} events ({} coalesced, {} dropped at the mailbox), \
         {} closes, {} quiet points, in {:.1?}",
        total.steps,
        total.messages_accepted,
        total.replies,
        total.events,
        total.mailbox_coalesced,
        total.mailbox_dropped,
        total.closes,
        total.quiet_points,
        t0.elapsed()
    );
    assert_eq!(total.steps as usize, steps);
}

fn walk(seed: u64, steps: usize) -> Counts {
    let budget: &'static Budget = Box::leak(Box::new(Budget::new("fuzz-events", None)));
    budget.set_limit(192 * 1024);
    let mut rng = Rng(seed);
    let xs = Xenstored::with_event_budget(1, budget);
    let mut slots: Vec<Slot> = (0..3).map(|_| Slot::new(&xs)).collect();
    let mut c = Counts::default();

    for step in 0..steps {
        c.steps += 1;
        let s = rng.below(slots.len() as u64) as usize;
        let op = rng.below(100);
        let slot = &mut slots[s];
        match op {
            // A whole request, in one write or chunked at random points.
            0..=29 => {
                let txs: Vec<u32> = slot.open.file.transaction_ids().collect();
                let m = random_request(&mut rng, &txs);
                let mut rest = &m[..];
                while rest.len() > 1 && rng.below(3) == 0 {
                    let k = 1 + rng.below(rest.len() as u64 - 1) as usize;
                    let _ = slot.write(&rest[..k], &mut c);
                    rest = &rest[k..];
                }
                let _ = slot.write(rest, &mut c);
            }
            // Random bytes, sometimes oversized.
            30..=39 => {
                let n = match rng.below(10) {
                    0 => 4000 + rng.below(200) as usize,
                    1 => 0,
                    _ => rng.below(40) as usize,
                };
                let b = rng.bytes(n);
                let _ = slot.write(&b, &mut c);
            }
            // Reads of random sizes, including 0.
            40..=59 => {
                let n = match rng.below(10) {
                    0 => 0,
                    1 => 70_000,
                    _ => rng.below(64) as usize,
                };
                slot.read(n, &mut c);
            }
            60..=64 => {
                let p = slot.open.poll();
                assert_eq!(p != 0, slot.open.file.queued_bytes() > 0);
            }
            65..=69 => xs.hold(rng.below(2) == 0),
            70..=74 => match rng.below(3) {
                0 => xs.release_all(),
                1 => xs.release_reversed(),
                _ => {
                    let n = xs.held();
                    if n > 0 {
                        xs.release_at(rng.below(n as u64) as usize);
                    }
                }
            },
            // The toolstack changes the domain's nodes.
            75..=84 => {
                c.toolstack += 1;
                let path = format!("{HOME}/{}", rng.pick(&PATHS[..5]));
                if rng.below(4) == 0 {
                    xs.rm(&path);
                } else {
                    xs.write(&path, &rng.bytes(3));
                }
                // Keep data the domain's own (the toolstack re-creates it with
                // the home's permissions after the domain removed it).
                let data = format!("{HOME}/data");
                let own = [crate::sim::Perm { bits: xs_sim::perms::NONE, id: 1 }];
                if xs.inner().perms(&data).is_some_and(|p| p != own) {
                    xs.set_perms(&data, "n1");
                }
            }
            85..=87 => {
                // peek + partial consume, as a kernel with a faulting copy.
                slot.open.conn.drain_into(&mut slot.open.file);
                let queued = slot.open.file.queued_bytes();
                let mut buf = vec![0u8; rng.below(50) as usize];
                match slot.open.file.peek(&mut buf) {
                    Ok(n) => {
                        assert_eq!(n, buf.len().min(queued));
                        let k = rng.below(n as u64 + 1) as usize;
                        assert_eq!(slot.open.file.consume(k), k);
                        assert_eq!(slot.open.file.queued_bytes(), queued - k);
                        slot.stream.extend_from_slice(&buf[..k]);
                        slot.absorb(&mut c);
                    }
                    Err(e) => {
                        assert_eq!((e, queued), (Errno::EAGAIN, 0));
                    }
                }
            }
            88 => {
                // Resynchronise a desynchronised writer.
                let r = slot.write(&vec![0u8; WRITE_BUF_SIZE + 1], &mut c);
                assert_eq!(r, Err(Errno::EINVAL));
                assert_eq!(slot.open.file.buffered_len(), 0);
            }
            89 if rng.below(10) == 0 => {
                let old = std::mem::replace(slot, Slot::new(&xs));
                count_stats(&old, &mut c);
                old.open.close();
                c.closes += 1;
            }
            // A storm of toolstack writes nobody reads meanwhile: the queue
            // and mailbox bounds and the event budget bite.
            90 if rng.below(20) == 0 => {
                c.storms += 1;
                for _ in 0..500 + rng.below(2500) {
                    let path = format!("{HOME}/{}", rng.pick(&PATHS[..5]));
                    xs.write(&path, b"s");
                }
            }
            // More requests than may be in flight.
            91 if rng.below(20) == 0 => {
                xs.hold(rng.below(4) != 0);
                for i in 0..MAX_IN_FLIGHT as u32 + 10 + rng.below(10) as u32 {
                    let _ = slot.write(&msg(READ, i, 0, &p0("data")), &mut c);
                }
            }
            // More watches than the quota, then gone again.
            92 if rng.below(20) == 0 => {
                let n = 140;
                for i in 0..n {
                    let _ = slot.write(&msg(WATCH, i, 0, &pt(b"data/flood", format!("f{i}").as_bytes())), &mut c);
                }
                for i in 0..n {
                    let _ = slot.write(&msg(UNWATCH, i, 0, &pt(b"data/flood", format!("f{i}").as_bytes())), &mut c);
                }
            }
            // Rejected watch paths.
            93 => {
                let path = rng.pick(&[&b""[..], b"data/bad path", b"data//x", b"data/x/"]);
                let clean = slot.shadow.is_empty();
                let r = slot.write(&msg(WATCH, 1, 0, &pt(path, b"t")), &mut c);
                if clean {
                    assert!(matches!(r, Err(Errno::EINVAL) | Err(Errno::ENOBUFS)), "{r:?}");
                }
            }
            _ => {}
        }
        for sl in &slots {
            assert!(sl.open.file.buffered_len() < WRITE_BUF_SIZE);
            assert!(sl.open.file.in_flight() <= MAX_IN_FLIGHT);
        }
        if step % QUIET_EVERY == QUIET_EVERY - 1 {
            quiesce(&xs, &mut slots, budget, &mut c);
        }
    }
    quiesce(&xs, &mut slots, budget, &mut c);
    for sl in slots {
        count_stats(&sl, &mut c);
        sl.open.close();
    }
    assert_eq!(xs.transactions(), 0, "every transaction aborted or ended");
    assert_eq!(xs.watches(), 0, "every watch removed");
    drop(xs);
    assert_eq!(budget.used(), 0, "every event charge returned");
    assert!(c.messages_accepted >= c.steps / 10, "{c:?}");
    assert_eq!(c.messages_accepted, c.replies + c.owed_at_close, "one reply per accepted request");
    c
}

fn count_stats(sl: &Slot, c: &mut Counts) {
    c.owed_at_close += sl.owed_count as u64;
    let st = sl.open.file.stats();
    c.events_coalesced += st.events_coalesced;
    c.events_dropped += st.events_dropped;
    let mb = sl.open.conn.mailbox().borrow().stats();
    c.mailbox_coalesced += mb.coalesced;
    c.mailbox_dropped += mb.dropped;
}

/// Delivers everything, reads everything, checks nothing is owed.
fn quiesce(xs: &Xenstored, slots: &mut [Slot], budget: &Budget, c: &mut Counts) {
    c.quiet_points += 1;
    xs.hold(false);
    xs.release_all();
    assert_eq!(xs.held(), 0);
    for sl in slots.iter_mut() {
        loop {
            sl.read(1 << 16, c);
            if sl.open.poll() == 0 {
                break;
            }
        }
        assert!(sl.stream.is_empty(), "torn message at the end of the stream");
        assert_eq!(sl.open.file.in_flight(), 0);
        assert_eq!(sl.owed_count, 0, "unanswered requests: {:x?}", sl.owed);
        assert_eq!(sl.open.poll(), 0);
        assert_eq!(sl.open.conn.mailbox().borrow().expected(), 0, "replies announced and not delivered");
        assert_eq!(sl.events_read, sl.open.file.stats().events, "events queued were all read");
    }
    assert_eq!(budget.used(), 0, "event charges at a quiet point");
    xs.inner().clear_records();
}
