//! close(): spec section 9, probes I1-I6.

use super::*;

#[test]
fn i1_i6_close_aborts_transactions_and_removes_watches() {
    let xs = Xenstored::default();
    let mut o = Open::new(&xs);
    for i in 0..10 {
        o.send(&msg(START, i, 0, b"\0"));
    }
    o.send(&msg(WATCH, 20, 0, &pt(b"data/c", b"t")));
    o.send(&msg(READ, 21, 0, &p0("data")));
    o.msgs();
    o.send(&msg(READ, 22, 0, &p0("data"))); // left unread
    let mut ids: Vec<u32> = o.file.transaction_ids().collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(xs.transactions(), 10);
    o.close();
    let mut aborted = xs.aborted();
    aborted.sort();
    ids.sort();
    assert_eq!(aborted, ids);
    assert_eq!(xs.transactions(), 0);
    assert_eq!(xs.watches(), 0);
    // I4/I6: a new open does not know the old ids, and can start 10 again.
    let mut n = Open::new(&xs);
    n.send(&msg(END, 1, ids[0], b"F\0"));
    assert_eq!(n.read_all(), err_reply(1, ids[0], "ENOENT"));
    for i in 0..10 {
        n.send(&msg(START, i, 0, b"\0"));
        assert_eq!(n.one().0.ty, START);
    }
}

#[test]
fn close_with_start_in_flight_aborts_the_late_transaction() {
    let xs = Xenstored::default();
    let mut o = Open::new(&xs);
    xs.hold(true);
    o.send(&msg(START, 1, 0, b"\0"));
    o.send(&msg(READ, 2, 0, &p0("data")));
    assert_eq!(xs.transactions(), 1);
    o.close();
    xs.release_all();
    assert_eq!(xs.transactions(), 0);
    assert_eq!(xs.aborted().len(), 1);
}

#[test]
fn close_records_and_aborts_start_replies_not_yet_drained() {
    let xs = Xenstored::default();
    let mut o = Open::new(&xs);
    xs.hold(true);
    o.send(&msg(START, 1, 0, b"\0"));
    xs.release_all(); // the reply sits in the inbox, undrained
    assert_eq!(o.file.transaction_ids().count(), 0);
    o.close();
    assert_eq!(xs.transactions(), 0);
    assert_eq!(xs.aborted().len(), 1);
}

#[test]
fn close_does_not_abort_a_transaction_being_ended() {
    let xs = Xenstored::default();
    let mut o = Open::new(&xs);
    o.send(&msg(START, 1, 0, b"\0"));
    o.send(&msg(START, 2, 0, b"\0"));
    o.read_all();
    let ids: Vec<u32> = o.file.transaction_ids().collect();
    xs.hold(true);
    o.send(&msg(END, 3, ids[0], b"T\0"));
    o.close();
    assert_eq!(xs.aborted(), [ids[1]]);
    xs.release_all(); // END's reply for the closed open is dropped
    assert_eq!(xs.transactions(), 0);
}

#[test]
fn events_after_close_go_nowhere() {
    let xs = Xenstored::default();
    let mut o = Open::new(&xs);
    o.send(&msg(WATCH, 1, 0, &pt(b"data/z", b"t")));
    let inbox = o.conn.mailbox();
    o.close();
    assert_eq!(xs.unwatched().len(), 1);
    xs.write("/local/domain/1/data/z", b"1");
    assert!(inbox.borrow().is_empty());
}
