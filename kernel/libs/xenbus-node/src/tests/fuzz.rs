//! A seeded random walk over everything a program and xenstored can do to the
//! node: 120,000 operations over three opens sharing one daemon.
//!
//! Checked after every step: no panic; poll agrees with read; a read into a
//! non-empty buffer never returns 0; read sizes are exact; the partial buffer
//! stays under 4096; the read stream of each open parses into whole messages.
//! Checked at quiet points (everything released and read): every request the
//! program wrote whole, and that write() accepted, got exactly one reply.

use std::collections::{HashMap, HashSet};

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

const TRACKED: u32 = 0x7A00_0000;
const PATHS: [&str; 6] = ["data/a", "data/b", "data/a/x", "data", "data/b/y/z", "/tool/t"];

struct Slot {
    open: Open,
    /// Bytes read and not yet parsed into whole messages.
    stream: Vec<u8>,
    /// Tracked requests still owed a reply.
    owed: HashSet<u32>,
}

impl Slot {
    fn new(xs: &Xenstored) -> Self {
        Slot { open: Open::new(xs), stream: Vec::new(), owed: HashSet::new() }
    }

    /// Parses whole messages off the front of the stream; checks replies.
    fn absorb(&mut self, issued: &HashSet<u32>) {
        let mut off = 0;
        while let Some(h) = MsgHeader::from_bytes(&self.stream[off..]) {
            assert!(h.len as usize <= xs_wire::PAYLOAD_MAX, "oversized message {h:?}");
            let end = off + HEADER_LEN + h.len as usize;
            if self.stream.len() < end {
                break;
            }
            if h.ty == EVENT {
                assert_eq!((h.req_id, h.tx_id), (0, 0));
            } else if issued.contains(&h.req_id) {
                assert!(self.owed.remove(&h.req_id), "second reply for {:#x}", h.req_id);
            }
            off = end;
        }
        self.stream.drain(..off);
    }
}

fn random_request(rng: &mut Rng, tx_ids: &[u32], req: u32) -> Vec<u8> {
    let ty = match rng.below(20) {
        0 => rng.next() as u32,
        1 => rng.pick(&[0u32, 8, 9, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24]),
        _ => rng.pick(&[1u32, 2, 2, 3, 4, 4, 5, 6, 7, 10, 11, 11, 12, 13, 21]),
    };
    let tx = match rng.below(6) {
        0 if !tx_ids.is_empty() => rng.pick(tx_ids),
        1 => rng.next() as u32 & 0xF,
        _ => 0,
    };
    let path = rng.pick(&PATHS);
    let payload = match ty {
        4 | 5 => {
            let tok = rng.some_bytes(4);
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
            let v = rng.some_bytes(20);
            pv(path, &v)
        }
        _ if rng.below(15) == 0 => rng.some_bytes(30),
        _ => p0(path),
    };
    msg(ty, req, tx, &payload)
}

#[test]
fn random_walk_keeps_every_invariant() {
    for seed in [0x5EED_0001u64, 0xC0FF_EE00_1234] {
        walk(seed, 60_000);
    }
}

fn walk(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let xs = Xenstored::default();
    let mut slots: Vec<Slot> = (0..3).map(|_| Slot::new(&xs)).collect();
    let mut issued: HashSet<u32> = HashSet::new();
    let mut next_req = TRACKED;
    let mut stats: HashMap<&str, usize> = HashMap::new();

    for step in 0..steps {
        let s = rng.below(slots.len() as u64) as usize;
        let op = rng.below(100);
        let slot = &mut slots[s];
        match op {
            // A whole request, in one write or chunked at random points.
            0..=29 => {
                let req = next_req;
                next_req += 1;
                let txs: Vec<u32> = slot.open.file.transaction_ids().collect();
                let m = random_request(&mut rng, &txs, req);
                let clean = slot.open.file.buffered_len() == 0;
                let mut rest = &m[..];
                let mut ok = true;
                while rest.len() > 1 && rng.below(3) == 0 {
                    let c = 1 + rng.below(rest.len() as u64 - 1) as usize;
                    let r = slot.open.write(&rest[..c]);
                    if clean {
                        assert_eq!(r, Ok(c));
                    }
                    ok &= r.is_ok();
                    rest = &rest[c..];
                }
                let r = slot.open.write(rest);
                if let Err(e) = r {
                    assert!(
                        matches!(e, Errno::EINVAL | Errno::E2BIG | Errno::ENOBUFS | Errno::ENOSPC | Errno::EACCES),
                        "unexpected {e:?}"
                    );
                } else {
                    assert_eq!(r, Ok(rest.len()));
                }
                if clean && ok && r.is_ok() {
                    assert_eq!(slot.open.file.buffered_len(), 0, "a whole message is consumed");
                    issued.insert(req);
                    slot.owed.insert(req);
                    *stats.entry("tracked").or_default() += 1;
                }
            }
            // Random bytes, sometimes oversized.
            30..=39 => {
                let n = match rng.below(10) {
                    0 => 4000 + rng.below(200) as usize,
                    1 => 0,
                    _ => rng.below(40) as usize,
                };
                let b = rng.bytes(n);
                let before = slot.open.file.buffered_len();
                match slot.open.write(&b) {
                    Ok(k) => assert_eq!(k, n),
                    Err(Errno::EINVAL) if n > WRITE_BUF_SIZE - before => {
                        assert_eq!(slot.open.file.buffered_len(), 0)
                    }
                    Err(e) => assert!(
                        matches!(e, Errno::E2BIG | Errno::EINVAL | Errno::ENOBUFS | Errno::ENOSPC | Errno::EACCES),
                        "{e:?}"
                    ),
                }
            }
            // Reads of random sizes, including 0.
            40..=59 => {
                let n = match rng.below(10) {
                    0 => 0,
                    1 => 70_000,
                    _ => rng.below(64) as usize,
                };
                let queued_after_drain = {
                    let p = slot.open.poll();
                    let q = slot.open.file.queued_bytes();
                    assert_eq!(p != 0, q > 0, "poll agrees with the queue");
                    assert!(p == 0 || p == POLLIN | POLLRDNORM);
                    q
                };
                match slot.open.read(n) {
                    Ok(b) => {
                        assert!(queued_after_drain > 0);
                        assert_eq!(b.len(), n.min(queued_after_drain));
                        if n > 0 {
                            assert!(!b.is_empty(), "no empty read for a non-empty buffer");
                        }
                        slot.stream.extend(b);
                        slot.absorb(&issued);
                    }
                    Err(e) => {
                        assert_eq!(e, Errno::EAGAIN);
                        assert_eq!(queued_after_drain, 0);
                    }
                }
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
            75..=84 => {
                let path = format!("/local/domain/1/{}", rng.pick(&PATHS[..5]));
                if rng.below(4) == 0 {
                    xs.rm(&path);
                } else {
                    xs.write(&path, &rng.bytes(3));
                }
            }
            85..=87 => {
                // peek + partial consume, as a kernel with a faulting copy.
                slot.open.conn.drain_into(&mut slot.open.file);
                let mut buf = vec![0u8; rng.below(50) as usize];
                if let Ok(n) = slot.open.file.peek(&mut buf) {
                    let k = rng.below(n as u64 + 1) as usize;
                    assert_eq!(slot.open.file.consume(k), k);
                    slot.stream.extend_from_slice(&buf[..k]);
                    slot.absorb(&issued);
                }
            }
            88 => {
                // Resynchronise a desynchronised writer.
                let _ = slot.open.write(&vec![0u8; WRITE_BUF_SIZE + 1]);
                assert_eq!(slot.open.file.buffered_len(), 0);
            }
            89 if rng.below(10) == 0 => {
                let old = std::mem::replace(slot, Slot::new(&xs));
                old.open.close();
                *stats.entry("closes").or_default() += 1;
            }
            _ => {}
        }
        for sl in &slots {
            assert!(sl.open.file.buffered_len() < WRITE_BUF_SIZE);
            assert!(sl.open.file.in_flight() <= MAX_IN_FLIGHT);
        }
        if step % 2000 == 1999 {
            quiesce(&xs, &mut slots, &issued);
            *stats.entry("quiesce").or_default() += 1;
        }
    }
    quiesce(&xs, &mut slots, &issued);
    for sl in slots {
        sl.open.close();
    }
    assert!(stats["tracked"] > 10_000, "{stats:?}");
}

/// Delivers everything, reads everything, checks nothing is owed.
fn quiesce(xs: &Xenstored, slots: &mut [Slot], issued: &HashSet<u32>) {
    xs.hold(false);
    xs.release_all();
    for sl in slots.iter_mut() {
        loop {
            match sl.open.read(1 << 16) {
                Ok(b) => {
                    assert!(!b.is_empty());
                    sl.stream.extend(b);
                }
                Err(e) => {
                    assert_eq!(e, Errno::EAGAIN);
                    break;
                }
            }
        }
        sl.absorb(issued);
        assert!(sl.stream.is_empty(), "torn message at the end of the stream");
        assert_eq!(sl.open.file.in_flight(), 0);
        assert!(sl.owed.is_empty(), "unanswered requests: {:x?}", sl.owed);
        assert_eq!(sl.open.poll(), 0);
    }
}
