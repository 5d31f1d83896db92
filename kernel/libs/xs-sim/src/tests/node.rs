//! The node front end, with a recording sink.

use std::cell::RefCell;
use std::rc::Rc;

use xs_wire::{build_message, MsgHeader, MsgType, XsErrno};

use crate::node::{token_of, Sink, Xenstored};

#[derive(Debug, PartialEq, Eq)]
enum Got {
    Reply(u64, Vec<u8>),
    Event(u64, Vec<u8>),
}

#[derive(Clone, Default)]
struct Rec(Rc<RefCell<Vec<Got>>>);

impl Sink for Rec {
    fn reply(&mut self, cookie: u64, msg: Vec<u8>) {
        self.0.borrow_mut().push(Got::Reply(cookie, msg));
    }
    fn event(&mut self, watch_id: u64, path: Vec<u8>) {
        self.0.borrow_mut().push(Got::Event(watch_id, path));
    }
}

impl Rec {
    fn take(&self) -> Vec<Got> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

fn wire(ty: MsgType, req: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    build_message(ty, req, tx, payload)
}

#[test]
fn replies_carry_the_connections_req_id_and_the_requests_tx_id() {
    let xs = Xenstored::new(3);
    let rec = Rec::default();
    let mut conn = xs.connect(Box::new(rec.clone()));
    conn.submit(11, &wire(MsgType::WRITE, 0xAAAA, 0, b"data/x\0v")).unwrap();
    conn.submit(12, &wire(MsgType::READ, 0xBBBB, 0x77, b"data/x\0")).unwrap();
    assert_eq!(
        rec.take(),
        [
            Got::Reply(11, wire(MsgType::WRITE, 0x5157_0000, 0, b"OK\0")),
            Got::Reply(12, wire(MsgType::ERROR, 0x5157_0001, 0x77, b"ENOENT\0")),
        ]
    );
    assert_eq!(xs.read("/local/domain/3/data/x"), Some(b"v".to_vec()));
    assert_eq!(xs.submitted().len(), 2);
    assert_eq!(conn.submit(13, b"short"), Err(XsErrno::EINVAL));
    assert_eq!(xs.submitted_count(), 2, "nothing sent");
}

#[test]
fn watch_events_go_to_their_open_with_the_watch_id() {
    let xs = Xenstored::default();
    let (ra, rb) = (Rec::default(), Rec::default());
    let mut a = xs.connect(Box::new(ra.clone()));
    let mut b = xs.connect(Box::new(rb.clone()));
    a.watch(100, b"data/w").unwrap();
    b.watch(200, b"/local/domain/1/data").unwrap();
    assert_eq!(ra.take(), [Got::Event(100, b"data/w".to_vec())]);
    assert_eq!(rb.take(), [Got::Event(200, b"/local/domain/1/data".to_vec())]);
    xs.with_model(|m, c| {
        let tokens: Vec<Vec<u8>> = m.watches(c).iter().map(|w| w.token.clone()).collect();
        assert_eq!(tokens, [token_of(100), token_of(200)]);
    });
    // A request's events come before its reply.
    a.submit(1, &wire(MsgType::WRITE, 1, 0, b"data/w/x\0")).unwrap();
    assert_eq!(
        ra.take(),
        [Got::Event(100, b"data/w/x".to_vec()), Got::Reply(1, wire(MsgType::WRITE, 0x5157_0000, 0, b"OK\0"))]
    );
    assert_eq!(rb.take(), [Got::Event(200, b"/local/domain/1/data/w/x".to_vec())]);
    a.unwatch(100, b"data/w");
    xs.write("/local/domain/1/data/w", b"1").unwrap();
    assert!(ra.take().is_empty());
    assert_eq!(rb.take().len(), 1);
    assert_eq!(xs.unwatched(), [100]);
    assert_eq!(a.watch(101, b"data/bad path"), Err(XsErrno::EINVAL));
    assert_eq!(xs.watches(), 1);
}

#[test]
fn held_replies_and_abandoned_starts() {
    let xs = Xenstored::default();
    let rec = Rec::default();
    let mut conn = xs.connect(Box::new(rec.clone()));
    xs.hold(true);
    conn.submit(1, &wire(MsgType::TRANSACTION_START, 1, 0, b"\0")).unwrap();
    conn.submit(2, &wire(MsgType::TRANSACTION_START, 2, 0, b"\0")).unwrap();
    conn.submit(3, &wire(MsgType::READ, 3, 0, b"data\0")).unwrap();
    assert_eq!(xs.held(), 3);
    assert_eq!(xs.transactions(), 2, "handled at once");
    conn.abandon(1, true);
    conn.abandon(3, false);
    xs.release_reversed();
    assert_eq!(rec.take(), [Got::Reply(2, wire(MsgType::TRANSACTION_START, 0x5157_0001, 0, b"2\0"))]);
    assert_eq!(xs.aborted(), [1], "the abandoned START's transaction");
    assert_eq!(xs.transactions(), 1);
    conn.abort_transaction(2);
    assert_eq!(xs.transactions(), 0);
    assert_eq!(xs.aborted(), [1, 2]);
    assert_eq!(xs.delivered(), 1);
}

#[test]
fn a_dropped_conn_gets_nothing() {
    let xs = Xenstored::default();
    let rec = Rec::default();
    let mut conn = xs.connect(Box::new(rec.clone()));
    conn.watch(5, b"data").unwrap();
    xs.hold(true);
    conn.submit(1, &wire(MsgType::READ, 1, 0, b"data\0")).unwrap();
    rec.take();
    drop(conn);
    xs.release_all();
    xs.write("/local/domain/1/data/x", b"").unwrap();
    assert!(rec.take().is_empty());
    assert_eq!(Rc::strong_count(&rec.0), 1, "the sink was dropped");
}

#[test]
fn shared_connection_quotas() {
    let xs = Xenstored::default();
    xs.set_next_transaction_id(3);
    let mut a = xs.connect(Box::new(Rec::default()));
    let rec = Rec::default();
    let mut b = xs.connect(Box::new(rec.clone()));
    for i in 0..11 {
        a.submit(i, &wire(MsgType::TRANSACTION_START, 0, 0, b"\0")).unwrap();
    }
    b.submit(99, &wire(MsgType::TRANSACTION_START, 7, 0, b"\0")).unwrap();
    let got = rec.take();
    let Got::Reply(99, m) = &got[0] else { panic!("{got:?}") };
    assert_eq!(MsgHeader::from_bytes(m).unwrap().ty, MsgType::ERROR.0);
    assert_eq!(&m[16..], b"ENOSPC\0");
    for w in 0..=128 {
        a.watch(w, b"data").unwrap();
    }
    assert_eq!(b.watch(1000, b"data"), Err(XsErrno::E2BIG));
}
