//! A seeded random walk over the client and a ring whose other side
//! misbehaves: requests of every kind (typed and raw, queued and sent
//! straight onto the ring, with budget charges), a server that answers in
//! random pieces and order, watch events, and now and then a corrupted
//! index, an oversized header or garbage. After a failure the walk
//! reconnects (fresh ring, `reset`) and goes on.
//!
//! Checked exactly, at every step: no panic; at most `max_in_flight` in
//! flight; every request completes at most once. When the walk is quiet
//! (server drained, nothing pending): every submitted request completed
//! exactly once, with the server's reply when the connection held, with
//! `ConnectionLost`/`Reconnected` when it did not; the budget is back to
//! what the kept replies hold, and to zero once they are dropped.
//!
//! `XS_RING_FUZZ_STEPS` sets the number of steps (default 20,000; `make
//! fuzz` runs 10^6), `XS_RING_FUZZ_SEED` the seed.
use std::collections::{BTreeMap, HashMap};

use kcore::budget::Budget;
use xs_client::{charge_for, ClientCore, ClientError, Config, Outgoing, RequestId};
use xs_ring::sim::MemPage;
use xs_ring::SharedPage;
use xs_wire::{build_message, MsgHeader, MsgType, HEADER_LEN, PAYLOAD_MAX};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The other side: reads requests, answers each once (in random order,
/// written in random pieces), fires events for registered watch tokens.
struct Server {
    page: MemPage,
    inbuf: Vec<u8>,
    pending: Vec<Vec<u8>>,
    out: Vec<u8>,
    tokens: Vec<Vec<u8>>,
}

impl Server {
    fn new(rng: &mut Rng) -> Self {
        let base = rng.next() as u32;
        Server {
            page: MemPage::with_indices(base, base.wrapping_add(rng.below(4) as u32 * 7)),
            inbuf: Vec::new(),
            pending: Vec::new(),
            out: Vec::new(),
            tokens: Vec::new(),
        }
    }

    fn fresh_page(&mut self, rng: &mut Rng) {
        let a = rng.next() as u32;
        let b = rng.next() as u32;
        self.page.set_indices(a, a, b, b);
        self.inbuf.clear();
        self.pending.clear();
        self.out.clear();
        self.tokens.clear();
    }

    /// Takes what the client wrote; false if the request stream is broken
    /// (then the server would drop the connection: it stops answering).
    fn read(&mut self, rng: &mut Rng) -> bool {
        let got = self.page.server_read(1 + rng.below(1500) as usize);
        self.inbuf.extend_from_slice(&got);
        while let Some(h) = MsgHeader::from_bytes(&self.inbuf) {
            if h.len as usize > PAYLOAD_MAX {
                return false;
            }
            let total = HEADER_LEN + h.len as usize;
            if self.inbuf.len() < total {
                break;
            }
            let payload = self.inbuf[HEADER_LEN..total].to_vec();
            self.inbuf.drain(..total);
            if h.ty == MsgType::WATCH.0 {
                if let Some(tok) = xs_wire::parse_path_token(&payload).map(|(_, t)| t.to_vec()) {
                    self.tokens.push(tok);
                }
            }
            let body = if rng.below(5) == 0 {
                b"ENOENT\0".to_vec()
            } else {
                payload.iter().rev().copied().take(rng.below(64) as usize).collect()
            };
            let ty = if body == b"ENOENT\0" { MsgType::ERROR } else { MsgType(h.ty) };
            self.pending.push(build_message(ty, h.req_id, h.tx_id, &body));
        }
        true
    }

    /// Moves some pending answers (and maybe events) to the output, then
    /// writes what fits.
    fn write(&mut self, rng: &mut Rng) {
        while !self.pending.is_empty() && rng.below(3) != 0 {
            let i = rng.below(self.pending.len() as u64) as usize;
            let m = self.pending.swap_remove(i);
            self.out.extend_from_slice(&m);
        }
        if !self.tokens.is_empty() && rng.below(4) == 0 {
            let t = self.tokens[rng.below(self.tokens.len() as u64) as usize].clone();
            let mut p = b"/some/path\0".to_vec();
            p.extend_from_slice(&t);
            p.push(0);
            self.out.extend_from_slice(&build_message(MsgType::WATCH_EVENT, 0, 0, &p));
        }
        let n = 1 + rng.below(1100) as usize;
        let take = n.min(self.out.len());
        let w = self.page.server_write(&self.out[..take]);
        self.out.drain(..w);
    }

    fn quiet(&self) -> bool {
        self.pending.is_empty() && self.out.is_empty()
    }
}

#[derive(Default)]
struct Counts {
    submitted: u64,
    completed: u64,
    replies: u64,
    lost: u64,
    failures: u64,
    refused: u64,
    stalls: u64,
}

#[test]
fn random_walk_against_a_misbehaving_ring() {
    let steps: u64 = std::env::var("XS_RING_FUZZ_STEPS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let seed: u64 = std::env::var("XS_RING_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_0001);
    let budget: &'static Budget = Box::leak(Box::new(Budget::new("fuzz", None)));
    budget.set_limit(64 * charge_for(PAYLOAD_MAX));
    let mut rng = Rng(seed | 1);
    let mut server = Server::new(&mut rng);
    let mut core =
        ClientCore::new(Config { max_in_flight: 1 + rng.below(20) as usize, max_queued: 64, ..Config::default() });
    // Requests not completed yet, and those that did with how.
    let mut open: HashMap<RequestId, bool> = HashMap::new();
    let mut done: BTreeMap<RequestId, bool> = BTreeMap::new();
    let mut kept = Vec::new();
    let mut broken = false;
    let mut c = Counts::default();
    let mut watches = Vec::new();
    for step in 0..steps {
        match rng.below(100) {
            0..=29 => {
                let max = if rng.below(10) == 0 { PAYLOAD_MAX as u64 + 2 } else { 200 };
                let len = rng.below(max) as usize;
                let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let charge = budget.try_charge(charge_for(len));
                let Ok(charge) = charge else {
                    c.refused += 1;
                    continue;
                };
                let page = if rng.below(2) == 0 { Some(&server.page) } else { None };
                let r = if rng.below(2) == 0 {
                    let msg = build_message(MsgType(1 + rng.below(22) as u32), rng.next() as u32, 0, &payload);
                    core.submit_with(Outgoing::Raw(&msg), charge, page)
                } else {
                    let req = xs_client::Request { ty: MsgType::READ, tx_id: 0, payload };
                    core.submit_with(Outgoing::Request(&req), charge, page)
                };
                match r {
                    Ok(s) => {
                        c.submitted += 1;
                        assert!(open.insert(s.id, true).is_none(), "request id reused");
                    }
                    Err(ClientError::Ring(_)) => broken = true,
                    Err(ClientError::PayloadTooLarge { .. } | ClientError::Busy | ClientError::ConnectionLost) => {}
                    Err(e) => panic!("step {step}: submit: {e:?}"),
                }
            }
            30..=34 => {
                let tok = format!("t{step}");
                if let Ok((w, s)) = core.register_watch_with::<MemPage>(b"/w", tok.as_bytes(), Default::default(), None)
                {
                    watches.push(w);
                    c.submitted += 1;
                    open.insert(s.id, true);
                }
            }
            35..=37 => {
                if let Some(w) = watches.pop() {
                    if let Some(id) = core.unregister_watch(w) {
                        c.submitted += 1;
                        open.insert(id, true);
                    }
                }
            }
            38..=59 => {
                if !broken && !server.read(&mut rng) {
                    broken = true;
                }
                if !broken {
                    server.write(&mut rng);
                }
            }
            60..=84 => {
                if core.pump_out(&server.page).is_err() {
                    broken = true;
                }
                if core.pump_in(&server.page).is_err() {
                    broken = true;
                }
            }
            85 if rng.below(20) == 0 => {
                // The other side corrupts something.
                match rng.below(4) {
                    0 => server.page.set_indices(
                        server.page.req_cons().wrapping_add(5000),
                        server.page.req_prod(),
                        server.page.rsp_cons(),
                        server.page.rsp_prod(),
                    ),
                    1 => server.page.set_indices(
                        server.page.req_cons(),
                        server.page.req_prod(),
                        server.page.rsp_cons(),
                        server.page.rsp_prod().wrapping_add(65536),
                    ),
                    2 => {
                        server.page.server_write(&MsgHeader { ty: 2, req_id: 1, tx_id: 0, len: 5000 }.to_bytes());
                    }
                    _ => {
                        let g: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
                        server.page.server_write(&g);
                    }
                }
            }
            86..=89 => {
                // The kernel reads some replies, drops others.
                for id in core.take_completed() {
                    let r = core.take_reply(id).expect("a completion to take");
                    assert!(open.remove(&id).is_some(), "step {step}: completion of an unknown or finished request");
                    assert!(done.insert(id, r.is_ok()).is_none());
                    c.completed += 1;
                    match r {
                        Ok(reply) => {
                            c.replies += 1;
                            if rng.below(4) == 0 {
                                kept.push(reply);
                            }
                        }
                        Err(ClientError::ConnectionLost | ClientError::Reconnected | ClientError::NoMemory) => {
                            c.lost += 1
                        }
                        Err(e) => panic!("step {step}: completion error {e:?}"),
                    }
                }
                if kept.len() > 16 {
                    kept.clear();
                }
            }
            _ => {}
        }
        assert!(core.in_flight() <= core.config().max_in_flight);
        if broken || core.failure().is_some() {
            // Whatever broke it, the core has answered everything.
            c.failures += 1;
            assert!(core.in_flight() == 0 && core.queued() == 0, "step {step}: requests left after a failure");
            for id in core.take_completed() {
                let r = core.take_reply(id).expect("a completion");
                assert!(open.remove(&id).is_some());
                done.insert(id, r.is_ok());
                c.completed += 1;
                if r.is_err() {
                    c.lost += 1;
                } else {
                    c.replies += 1;
                }
            }
            assert!(open.is_empty(), "step {step}: {} requests never answered", open.len());
            server.fresh_page(&mut rng);
            core.reset();
            // Re-registered watches are requests too (discarded replies).
            broken = false;
        }
        // A quiet point: everything answered.
        if step % 997 == 0 && server.quiet() && core.in_flight() == 0 && core.queued() == 0 {
            core.pump_in(&server.page).ok();
            for id in core.take_completed() {
                let r = core.take_reply(id).expect("a completion");
                open.remove(&id);
                done.insert(id, r.is_ok());
                c.completed += 1;
            }
        }
    }
    drop(kept);
    // Drain: let the server answer everything, then drop every reply. A
    // stream desynchronised by injected garbage can leave requests that
    // will never be answered: when the server is quiet and nothing moves,
    // the kernel's stall watchdog fails the connection; do the same.
    let mut still = 0;
    for _ in 0..100_000 {
        if server.read(&mut rng) {
            server.write(&mut rng);
        }
        let _ = core.pump_out(&server.page);
        let _ = core.pump_in(&server.page);
        for id in core.take_completed() {
            let _ = core.take_reply(id);
            open.remove(&id);
            c.completed += 1;
        }
        if core.in_flight() == 0 && core.queued() == 0 && server.quiet() {
            break;
        }
        if server.quiet() && server.page.rsp_prod() == server.page.rsp_cons() {
            still += 1;
            if still > 50 {
                c.stalls += 1;
                core.fail(ClientError::ConnectionLost);
                still = 0;
            }
        } else {
            still = 0;
        }
        if core.failure().is_some() {
            for id in core.take_completed() {
                let _ = core.take_reply(id);
                open.remove(&id);
            }
            server.fresh_page(&mut rng);
            core.reset();
        }
    }
    for id in core.take_completed() {
        let _ = core.take_reply(id);
        open.remove(&id);
    }
    assert!(open.is_empty(), "{} requests never answered", open.len());
    assert_eq!(budget.used(), 0, "budget not returned");
    println!(
        "xs-ring fuzz: {steps} steps (seed {seed:#x}): {} submitted, {} completed ({} replies, {} lost), {} failures, {} stalls, {} refused by the budget",
        c.submitted, c.completed, c.replies, c.lost, c.failures, c.stalls, c.refused
    );
}
