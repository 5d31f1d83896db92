//! Transactions per open: spec 5.7, probes G and I1.

use super::*;

fn fresh() -> Open {
    let xs = Xenstored::default();
    xs.set_next_transaction_id(3);
    Open::new(&xs)
}

fn start(o: &mut Open, req: u32) -> u32 {
    o.send(&msg(START, req, 0, b"\0"));
    let (h, p) = o.one();
    assert_eq!(h.ty, START, "START failed: {:?}", String::from_utf8_lossy(&p));
    std::str::from_utf8(&p[..p.len() - 1]).unwrap().parse().unwrap()
}

#[test]
fn g1_g14_start_exact_bytes_and_empty_payload() {
    let mut o = fresh();
    o.send(&msg(START, 0x6100_0001, 0, b"\0"));
    assert_eq!(o.read_all(), hex("06000000 01000061 00000000 02000000 3300"));
    assert_eq!(o.file.transaction_ids().collect::<Vec<_>>(), [3]);
    o.send(&msg(START, 0x6100_0002, 0, b""));
    assert_eq!(o.read_all(), msg(START, 0x6100_0002, 0, b"4\0"));
    assert_eq!(o.file.transaction_ids().collect::<Vec<_>>(), [3, 4]);
}

#[test]
fn g2_g3_g4_g4b_isolation_commit_and_forgetting() {
    let mut o = fresh();
    let t = start(&mut o, 1);
    o.send(&msg(WRITE, 2, t, &pv("data/tx", b"in")));
    assert_eq!(o.read_all(), msg(WRITE, 2, t, b"OK\0"));
    o.send(&msg(READ, 3, t, &p0("data/tx")));
    assert_eq!(o.read_all(), msg(READ, 3, t, b"in"));
    o.send(&msg(READ, 4, 0, &p0("data/tx")));
    assert_eq!(o.read_all(), err_reply(4, 0, "ENOENT"));
    o.send(&msg(END, 5, t, b"T\0"));
    assert_eq!(o.read_all(), hex("07000000 05000000 03000000 03000000 4f4b00"));
    assert_eq!(o.file.transaction_ids().count(), 0);
    o.send(&msg(READ, 6, 0, &p0("data/tx")));
    assert_eq!(o.read_all(), msg(READ, 6, 0, b"in"));
    // G4b: END again is answered here, not forwarded.
    let before = o.xs.submitted().len();
    o.send(&msg(END, 7, t, b"T\0"));
    assert_eq!(o.read_all(), err_reply(7, t, "ENOENT"));
    assert_eq!(o.xs.submitted().len(), before);
}

#[test]
fn g5_end_unknown_tx_is_an_enoent_message() {
    let mut o = fresh();
    let m = msg(END, 0x6500_0001, 0xDEAD, b"T\0");
    assert_eq!(o.write(&m), Ok(18));
    assert_eq!(o.read_all(), hex("10000000 01000065 adde0000 07000000 454e4f454e5400"));
    assert!(o.xs.submitted().is_empty());
}

#[test]
fn g6_end_with_tx_zero_is_answered_enoent_deviation() {
    let mut o = fresh();
    assert_eq!(o.write(&msg(END, 0x66, 0, b"T\0")), Ok(18));
    assert_eq!(o.read_all(), err_reply(0x66, 0, "ENOENT"));
    assert!(o.xs.submitted().is_empty(), "not forwarded");
    o.send(&msg(READ, 1, 0, &p0("data")));
    assert_eq!(o.one().0.req_id, 1);
}

#[test]
fn x5_end_zero_cannot_steal_a_pending_start() {
    let mut o = fresh();
    o.xs.hold(true);
    for i in 0..30 {
        o.send(&msg(READ, 0x5800_0000 + i, 0, &p0("data")));
    }
    o.send(&msg(END, 0x5800_0100, 0, b"T\0"));
    o.send(&msg(START, 0x5800_0101, 0, b"\0"));
    o.xs.release_all();
    let m = o.msgs();
    assert_eq!(m.len(), 32);
    assert_eq!(m[0], (MsgHeader { ty: ERROR, req_id: 0x5800_0100, tx_id: 0, len: 7 }, b"ENOENT\0".to_vec()));
    assert_eq!(m[31].0.req_id, 0x5800_0101);
    assert_eq!(m[31].1, b"3\0");
    assert_eq!(o.file.transaction_ids().collect::<Vec<_>>(), [3]);
    o.xs.hold(false);
    o.send(&msg(END, 9, 3, b"F\0"));
    assert_eq!(o.read_all(), msg(END, 9, 3, b"OK\0"));
}

#[test]
fn g7_bad_end_payloads_are_einval_and_keep_the_tx() {
    let mut o = fresh();
    let t = start(&mut o, 1);
    for (i, p) in [&b"X\0"[..], b"T", b"T\0\0", b"", b"t\0", b"F", b"TF"].into_iter().enumerate() {
        let req = 0x6700_0000 + i as u32;
        o.send(&msg(END, req, t, p));
        assert_eq!(o.read_all(), err_reply(req, t, "EINVAL"));
    }
    assert_eq!(o.xs.transactions(), 1);
    o.send(&msg(END, 2, t, b"F\0"));
    assert_eq!(o.read_all(), msg(END, 2, t, b"OK\0"));
    assert_eq!(o.xs.transactions(), 0);
}

#[test]
fn g8_check_order_tx_then_payload_then_zero() {
    let mut o = fresh();
    o.send(&msg(END, 1, 0, b"X\0"));
    assert_eq!(o.read_all(), err_reply(1, 0, "EINVAL"), "G8a");
    o.send(&msg(END, 2, 0xBAD, b"X\0"));
    assert_eq!(o.read_all(), err_reply(2, 0xBAD, "ENOENT"), "G8b");
}

#[test]
fn g9_g13_foreign_tx_ids_are_enoent_for_every_type() {
    let xs = Xenstored::default();
    let mut a = Open::new(&xs);
    let mut b = Open::new(&xs);
    let t = start(&mut a, 1);
    b.send(&msg(READ, 9, 0xBEEF, &p0("data")));
    assert_eq!(b.read_all(), err_reply(9, 0xBEEF, "ENOENT"));
    for ty in [READ, WRITE, END, RM, 1, 3, 10, 12, 14, 0, 8, 15, 16, 21, 22, 30, 0xFFFF] {
        let payload: &[u8] = if ty == END { b"F\0" } else { b"data\0" };
        b.send(&msg(ty, 13, t, payload));
        assert_eq!(b.read_all(), err_reply(13, t, "ENOENT"), "type {ty}");
    }
    assert_eq!(xs.submitted().len(), 1, "only a's START was forwarded");
    assert_eq!(xs.transactions(), 1);
}

#[test]
fn g10_g11_start_with_a_tx_id_is_forwarded() {
    let mut o = fresh();
    o.send(&msg(START, 1, 0x77, b"\0"));
    assert_eq!(o.read_all(), err_reply(1, 0x77, "ENOENT"));
    let t = start(&mut o, 2);
    o.send(&msg(START, 3, t, b"\0"));
    assert_eq!(o.read_all(), err_reply(3, t, "EBUSY"));
    assert_eq!(o.xs.submitted().len(), 3);
    assert_eq!(o.file.transaction_ids().collect::<Vec<_>>(), [t]);
}

#[test]
fn g12_conflict_is_eagain_and_forgets_the_tx() {
    let mut o = fresh();
    o.send(&msg(WRITE, 1, 0, &pv("data/c", b"0")));
    o.read_all();
    let t = start(&mut o, 2);
    o.send(&msg(READ, 3, t, &p0("data/c")));
    o.read_all();
    o.xs.write("/local/domain/1/data/c", b"other");
    o.send(&msg(WRITE, 4, t, &pv("data/c", b"mine")));
    o.read_all();
    o.send(&msg(END, 5, t, b"T\0"));
    assert_eq!(o.read_all(), err_reply(5, t, "EAGAIN"));
    o.send(&msg(END, 6, t, b"F\0"));
    assert_eq!(o.read_all(), err_reply(6, t, "ENOENT"));
    assert_eq!(o.xs.read("/local/domain/1/data/c").unwrap(), b"other");
}

#[test]
fn i1_start_over_the_quota_is_enospc_and_not_recorded() {
    // The harness's C xenstored 4.17 lets 11 through and refuses the 12th.
    let mut o = fresh();
    for i in 0..11 {
        start(&mut o, i);
    }
    o.send(&msg(START, 12, 0, b"\0"));
    assert_eq!(o.read_all(), err_reply(12, 0, "ENOSPC"));
    assert_eq!(o.file.transaction_ids().count(), 11);
}

#[test]
fn end_in_flight_then_more_requests_in_that_tx_are_forwarded() {
    let mut o = fresh();
    let t = start(&mut o, 1);
    o.xs.hold(true);
    o.send(&msg(END, 2, t, b"F\0"));
    o.send(&msg(READ, 3, t, &p0("data")));
    assert_eq!(o.xs.submitted().len(), 3);
    o.xs.release_all();
    assert_eq!(o.read_all(), [msg(END, 2, t, b"OK\0"), err_reply(3, t, "ENOENT")].concat());
    assert_eq!(o.file.transaction_ids().count(), 0);
}

#[test]
fn out_of_order_start_replies_record_the_right_ids() {
    let mut o = fresh();
    o.xs.hold(true);
    o.send(&msg(START, 1, 0, b"\0"));
    o.send(&msg(START, 2, 0, b"\0"));
    o.xs.release_reversed();
    let m = o.msgs();
    assert_eq!((m[0].0.req_id, m[0].1.clone()), (2, b"4\0".to_vec()));
    assert_eq!((m[1].0.req_id, m[1].1.clone()), (1, b"3\0".to_vec()));
    let mut ids: Vec<u32> = o.file.transaction_ids().collect();
    ids.sort();
    assert_eq!(ids, [3, 4]);
}

/// Spec 5.7 (F61:471-483): a transaction started before a suspend/resume is
/// ended by the node, not forwarded; commit gets EAGAIN, abort OK; the
/// holder is gone either way. One started after the suspend is forwarded.
#[test]
fn end_after_a_suspend_is_answered_locally() {
    let mut o = fresh();
    let t1 = start(&mut o, 1);
    let t2 = start(&mut o, 2);
    // A START written before the suspend whose reply comes after it.
    o.xs.hold(true);
    o.send(&msg(START, 3, 0, b"\0"));
    o.xs.bump_generation();
    o.xs.hold(false);
    o.xs.release_all();
    let (h, p) = o.one();
    assert_eq!(h.ty, START);
    let t3: u32 = std::str::from_utf8(&p[..p.len() - 1]).unwrap().parse().unwrap();
    let before = o.xs.submitted().len();
    o.send(&msg(END, 0x71, t1, b"T\0"));
    assert_eq!(o.read_all(), hex("10000000 71000000 03000000 07000000 45414741494e00"), "EAGAIN, tx_id echoed");
    o.send(&msg(END, 0x72, t2, b"F\0"));
    assert_eq!(o.read_all(), hex("07000000 72000000 04000000 03000000 4f4b00"));
    o.send(&msg(END, 0x73, t3, b"T\0"));
    assert_eq!(o.read_all(), err_reply(0x73, t3, "EAGAIN"));
    assert_eq!(o.xs.submitted().len(), before, "nothing forwarded");
    assert_eq!(o.file.transaction_ids().count(), 0);
    // The holders are gone: a second END is ENOENT, as for any unknown id.
    o.send(&msg(END, 0x74, t1, b"T\0"));
    assert_eq!(o.read_all(), err_reply(0x74, t1, "ENOENT"));
    // A bad payload is still EINVAL first (the generation check comes after).
    let t4 = start(&mut o, 5);
    o.xs.bump_generation();
    o.send(&msg(END, 0x75, t4, b"X\0"));
    assert_eq!(o.read_all(), err_reply(0x75, t4, "EINVAL"));
    assert_eq!(o.file.transaction_ids().collect::<Vec<_>>(), [t4]);
    // A transaction of the current generation is forwarded and commits.
    let t5 = start(&mut o, 6);
    o.send(&msg(WRITE, 7, t5, &pv("data/gen", b"v")));
    assert_eq!(o.read_all(), msg(WRITE, 7, t5, b"OK\0"));
    o.send(&msg(END, 8, t5, b"T\0"));
    assert_eq!(o.read_all(), msg(END, 8, t5, b"OK\0"));
    assert_eq!(o.xs.read("/local/domain/1/data/gen"), Some(b"v".to_vec()));
}

/// After a cancelled suspend (checkpoint) the node still answers the END of
/// an older transaction itself (as Linux does), but unlike Linux it also
/// aborts it in xenstored, where it would otherwise stay open; after a
/// restore it sends nothing (the transaction died with the old connection).
#[test]
fn stale_transactions_are_not_leaked() {
    let mut o = fresh();
    let t1 = start(&mut o, 1);
    let t2 = start(&mut o, 2);
    o.xs.checkpoint();
    assert_eq!(o.xs.transactions(), 2);
    o.send(&msg(END, 3, t1, b"T\0"));
    assert_eq!(o.read_all(), err_reply(3, t1, "EAGAIN"));
    assert_eq!(o.xs.aborted(), [t1]);
    assert_eq!(o.xs.transactions(), 1);
    // Closing aborts the other one the same way.
    let xs = o.xs.clone();
    let t3 = {
        let mut p = Open::new(&xs);
        let t3 = start(&mut p, 4);
        xs.restore();
        p.close();
        t3
    };
    assert_eq!(xs.aborted(), [t1], "nothing sent for {t3}: it died with the old connection");
    drop(o);
    let _ = t2;
}
