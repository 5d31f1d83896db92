//! XS_WATCH / XS_UNWATCH: section 6 of the spec, probes F.

use super::*;

fn fresh() -> Open {
    Open::new(&Xenstored::default())
}

#[test]
fn f1_watch_ok_echoes_request_and_initial_event_follows() {
    let mut o = fresh();
    o.send(&msg(WATCH, 0xf100_0001, 0, &pt(b"data/w1", b"tok1")));
    let mut want = hex("04000000 010000f1 00000000 03000000 4f4b00");
    want.extend(hex("0f000000 00000000 00000000 0d000000"));
    want.extend(b"data/w1\0tok1\0");
    assert_eq!(o.read_all(), want);
    assert_eq!(o.file.watch_count(), 1);
    assert_eq!(o.xs.watches(), 1);
}

#[test]
fn f2_f5_watch_and_unwatch_echo_tx_id_and_skip_the_tx_check() {
    let mut o = fresh();
    o.send(&msg(WATCH, 2, 0x1234_5678, &pt(b"data/w2", b"t")));
    let m = o.msgs();
    assert_eq!(m[0].0, MsgHeader { ty: WATCH, req_id: 2, tx_id: 0x1234_5678, len: 3 });
    assert_eq!(m[0].1, b"OK\0");
    o.send(&msg(UNWATCH, 5, 0x55, &pt(b"data/w2", b"t")));
    assert_eq!(o.read_all(), hex("05000000 05000000 55000000 03000000 4f4b00"));
    assert_eq!(o.file.watch_count(), 0);
}

#[test]
fn f3_changes_fire_relative_events_and_interleave_with_replies() {
    let mut o = fresh();
    o.send(&msg(WATCH, 1, 0, &pt(b"data/w1", b"tok")));
    o.read_all();
    o.send(&msg(WRITE, 2, 0, &pv("data/w1", b"v")));
    let m = o.msgs();
    assert_eq!(m.len(), 2);
    // The simulated daemon pushes the event while processing, before the
    // reply: both orders are allowed (observed on Linux too).
    assert!(m.iter().any(|(h, p)| h.ty == EVENT && p == b"data/w1\0tok\0" && h.req_id == 0 && h.tx_id == 0));
    assert!(m.iter().any(|(h, p)| h.ty == WRITE && h.req_id == 2 && p == b"OK\0"));
}

#[test]
fn f4_f5_duplicates_fire_twice_and_unwatch_removes_one() {
    let mut o = fresh();
    o.send(&msg(WATCH, 1, 0, &pt(b"data/w1", b"tok1")));
    o.send(&msg(WATCH, 2, 0, &pt(b"data/w1", b"tok1")));
    o.read_all();
    o.xs.write("/local/domain/1/data/w1", b"x");
    assert_eq!(o.read_all(), [event(b"data/w1", b"tok1"), event(b"data/w1", b"tok1")].concat());
    o.send(&msg(UNWATCH, 3, 0, &pt(b"data/w1", b"tok1")));
    o.read_all();
    o.xs.write("/local/domain/1/data/w1", b"y");
    assert_eq!(o.read_all(), event(b"data/w1", b"tok1"));
}

#[test]
fn f6_unwatch_of_nothing_still_ok() {
    let mut o = fresh();
    o.send(&msg(UNWATCH, 0xf600_0001, 0, &pt(b"data/nope", b"tok")));
    assert_eq!(o.read_all(), hex("05000000 010000f6 00000000 03000000 4f4b00"));
    // F6b: right path, wrong token.
    o.send(&msg(WATCH, 1, 0, &pt(b"data/w", b"a")));
    o.read_all();
    o.send(&msg(UNWATCH, 2, 0, &pt(b"data/w", b"b")));
    assert_eq!(o.read_all(), msg(UNWATCH, 2, 0, b"OK\0"));
    assert_eq!(o.file.watch_count(), 1);
    assert!(o.xs.unwatched().is_empty());
}

#[test]
fn f7_malformed_watch_and_unwatch_queue_einval_messages() {
    let mut o = fresh();
    let cases: [(u32, &[u8]); 5] = [
        (WATCH, b"data/w1"),                        // no NUL: 23 bytes
        (WATCH, b"data/w1\0tok1\0"[..11].as_ref()), // no NUL after the token: 27
        (WATCH, b""),                               // len 0: 16
        (UNWATCH, b"data/w1\0tok"),                 // UNWATCH without the token NUL
        (UNWATCH, b"data/w1"),
    ];
    for (i, (ty, payload)) in cases.into_iter().enumerate() {
        let req = 0xf700_0000 + i as u32;
        let m = msg(ty, req, 0x77, payload);
        assert_eq!(o.write(&m), Ok(m.len()));
        assert_eq!(o.read_all(), err_reply(req, 0x77, "EINVAL"), "case {i}");
    }
    assert_eq!(o.file.watch_count(), 0);
    assert_eq!(o.xs.watches(), 0);
}

#[test]
fn f8_depth_argument_is_ignored() {
    let mut o = fresh();
    let mut p = pt(b"data/w8", b"tok");
    p.extend(b"2\0");
    o.send(&msg(WATCH, 8, 0, &p));
    assert_eq!(o.read_all(), [msg(WATCH, 8, 0, b"OK\0"), event(b"data/w8", b"tok")].concat());
    // UNWATCH with a depth matches the same watch.
    o.send(&msg(UNWATCH, 9, 0, &p));
    o.read_all();
    assert_eq!(o.file.watch_count(), 0);
}

#[test]
fn f9_rejected_watch_paths_fail_write_and_queue_nothing() {
    let mut o = fresh();
    for path in [&b""[..], b"data/bad path!", b"data//w1", b"data/trailing/"] {
        let m = msg(WATCH, 9, 0, &pt(path, b"tokE"));
        assert_eq!(o.write(&m), Err(Errno::EINVAL), "path {:?}", String::from_utf8_lossy(path));
        assert_eq!(o.poll(), 0);
        assert_eq!(o.file.buffered_len(), 0);
    }
    assert_eq!(o.file.watch_count(), 0);
    assert_eq!(o.xs.watches(), 0);
}

#[test]
fn watch_quota_error_is_the_errno() {
    // C xenstored 4.17 compares the count with `>` before adding: one watch
    // more than the quota goes through, the next is refused with E2BIG.
    let mut o = fresh();
    for i in 0..=crate::sim::WATCH_QUOTA {
        o.send(&msg(WATCH, i as u32, 0, &pt(b"data/q", format!("{i}").as_bytes())));
    }
    o.read_all();
    assert_eq!(o.xs.watches(), 129);
    assert_eq!(o.write(&msg(WATCH, 1, 0, &pt(b"data/q", b"x"))), Err(Errno::E2BIG));
    assert_eq!(o.poll(), 0);
    assert_eq!(o.file.watch_count(), 129);
}

#[test]
fn f10_absolute_subtree_and_removal_events() {
    let mut o = fresh();
    o.send(&msg(WATCH, 1, 0, &pt(b"/local/domain/1/data/w1", b"abs")));
    o.send(&msg(WATCH, 2, 0, &pt(b"data", b"sub")));
    o.send(&msg(WATCH, 3, 0, &pt(b"data/w1/deep", b"deep")));
    o.read_all();
    o.send(&msg(WRITE, 4, 0, &pv("data/w1", b"v")));
    let evs: Vec<Vec<u8>> = o.msgs().into_iter().filter(|m| m.0.ty == EVENT).map(|m| m.1).collect();
    assert_eq!(evs, vec![b"/local/domain/1/data/w1\0abs\0".to_vec(), b"data/w1\0sub\0".to_vec()]);
    o.send(&msg(WRITE, 5, 0, &pv("data/w1/deep", b"v")));
    o.read_all();
    o.send(&msg(RM, 6, 0, &p0("data/w1")));
    let mut evs: Vec<Vec<u8>> = o.msgs().into_iter().filter(|m| m.0.ty == EVENT).map(|m| m.1).collect();
    evs.sort();
    assert_eq!(
        evs,
        vec![b"/local/domain/1/data/w1\0abs\0".to_vec(), b"data/w1\0sub\0".to_vec(), b"data/w1/deep\0deep\0".to_vec(),]
    );
}

#[test]
fn f11_token_bytes_round_trip_and_special_paths() {
    let mut o = fresh();
    let tok = b"\xff\x01 x";
    o.send(&msg(WATCH, 1, 0, &pt(b"data/w11", tok)));
    assert_eq!(o.read_all(), [msg(WATCH, 1, 0, b"OK\0"), event(b"data/w11", tok)].concat());
    o.send(&msg(WATCH, 2, 0, &pt(b"@releaseDomain", b"rd")));
    assert_eq!(o.read_all(), [msg(WATCH, 2, 0, b"OK\0"), event(b"@releaseDomain", b"rd")].concat());
    // 4.17 takes any @ name (it checks only the length).
    o.send(&msg(WATCH, 4, 0, &pt(b"@bogus", b"b")));
    assert_eq!(o.read_all(), [msg(WATCH, 4, 0, b"OK\0"), event(b"@bogus", b"b")].concat());
    // Empty token is accepted too.
    o.send(&msg(WATCH, 3, 0, &pt(b"data/w11", b"")));
    assert_eq!(o.read_all(), [msg(WATCH, 3, 0, b"OK\0"), event(b"data/w11", b"")].concat());
}

#[test]
fn f12_same_watch_on_two_opens_each_get_events() {
    let xs = Xenstored::default();
    let mut a = Open::new(&xs);
    let mut b = Open::new(&xs);
    a.send(&msg(WATCH, 1, 0, &pt(b"data/w12", b"t")));
    b.send(&msg(WATCH, 1, 0, &pt(b"data/w12", b"t")));
    a.read_all();
    b.read_all();
    xs.write("/local/domain/1/data/w12", b"1");
    assert_eq!(a.read_all(), event(b"data/w12", b"t"));
    assert_eq!(b.read_all(), event(b"data/w12", b"t"));
}

#[test]
fn events_already_queued_stay_ahead_of_unwatch_ok_and_later_ones_are_dropped() {
    let mut o = fresh();
    o.send(&msg(WATCH, 1, 0, &pt(b"data/w", b"t")));
    o.read_all();
    // An event sits in the shared inbox; UNWATCH drains it first (queued
    // ahead of the OK, as Linux).
    o.xs.write("/local/domain/1/data/w", b"1");
    o.send(&msg(UNWATCH, 2, 0, &pt(b"data/w", b"t")));
    assert_eq!(o.read_all(), [event(b"data/w", b"t"), msg(UNWATCH, 2, 0, b"OK\0")].concat());
    // An event the reader thread pushed before unwatch() returned, but that
    // the file had not drained yet, is dropped.
    o.send(&msg(WATCH, 3, 0, &pt(b"data/v", b"t")));
    o.read_all();
    o.xs.write("/local/domain/1/data/v", b"1");
    let stale = o.conn.take_mailbox();
    assert_eq!(stale.len(), 1);
    o.send(&msg(UNWATCH, 4, 0, &pt(b"data/v", b"t")));
    let mut stale = stale;
    o.file.drain(&mut stale);
    assert_eq!(o.read_all(), msg(UNWATCH, 4, 0, b"OK\0"));
}

#[test]
fn watch_ids_are_unique_and_unwatch_names_the_right_one() {
    let mut o = fresh();
    o.send(&msg(WATCH, 1, 0, &pt(b"data/a", b"t")));
    o.send(&msg(WATCH, 2, 0, &pt(b"data/b", b"t")));
    o.read_all();
    o.send(&msg(UNWATCH, 3, 0, &pt(b"data/b", b"t")));
    o.read_all();
    assert_eq!(o.xs.unwatched().len(), 1);
    o.xs.write("/local/domain/1/data/a", b"1");
    o.xs.write("/local/domain/1/data/b", b"1");
    assert_eq!(o.read_all(), event(b"data/a", b"t"));
}
