//! The ring front end, driven through a real client side of the page.

use xs_ring::sim::MemPage;
use xs_ring::{read_some, write_some, SharedPage};
use xs_wire::{build_message, MsgType};

use crate::ring::{RingXenstored, ERROR_PROTO};

fn send(xs: &RingXenstored, msg: &[u8]) {
    assert_eq!(write_some(xs.page(), msg).unwrap().written, msg.len());
}

fn recv(xs: &RingXenstored) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = read_some(xs.page(), &mut buf).unwrap().read;
    buf.truncate(n);
    buf
}

#[test]
fn requests_get_replies_and_events_in_xenstored_order() {
    let mut xs = RingXenstored::new();
    send(&xs, &build_message(MsgType::WATCH, 1, 0, b"data\0t\0"));
    xs.step();
    let want = [build_message(MsgType::WATCH, 1, 0, b"OK\0"), build_message(MsgType::WATCH_EVENT, 0, 0, b"data\0t\0")];
    assert_eq!(recv(&xs), want.concat());
    send(&xs, &build_message(MsgType::WRITE, 2, 0, b"data/x\0v"));
    xs.step();
    let want =
        [build_message(MsgType::WATCH_EVENT, 0, 0, b"data/x\0t\0"), build_message(MsgType::WRITE, 2, 0, b"OK\0")];
    assert_eq!(recv(&xs), want.concat());
    assert_eq!(xs.read("/local/domain/1/data/x"), Some(b"v".to_vec()));
    assert_eq!(xs.log().len(), 2);
    assert_eq!(xs.outstanding(), 0);
    assert_eq!(xs.max_outstanding(), 1);
    // The toolstack's changes fire too.
    xs.write("/local/domain/1/data/y", b"").unwrap();
    assert_eq!(recv(&xs), build_message(MsgType::WATCH_EVENT, 0, 0, b"data/y\0t\0"));
}

#[test]
fn held_replies_are_released_in_any_order_and_slow_reads_work() {
    let mut xs = RingXenstored::with_page(MemPage::with_indices(u32::MAX - 5, u32::MAX - 3));
    xs.set_hold(true);
    xs.set_read_chunk(5);
    for i in 0..3u32 {
        send(&xs, &build_message(MsgType::READ, i, 0, b"data\0"));
    }
    for _ in 0..20 {
        xs.step();
    }
    assert_eq!(xs.log().len(), 3);
    assert_eq!(xs.held(), 3);
    assert_eq!(xs.outstanding(), 3);
    assert!(recv(&xs).is_empty());
    xs.release([2, 0, 2, 99]);
    xs.flush();
    let want = [build_message(MsgType::READ, 2, 0, b""), build_message(MsgType::READ, 0, 0, b"")];
    assert_eq!(recv(&xs), want.concat());
    assert_eq!(xs.held(), 1);
    assert!(xs.within_request_quota());
}

#[test]
fn output_waits_for_room_on_the_ring() {
    let mut xs = RingXenstored::new();
    xs.write("/local/domain/1/data/big", &[7; 3000]).unwrap();
    send(&xs, &build_message(MsgType::READ, 9, 0, b"data/big\0"));
    xs.step();
    let mut got = recv(&xs);
    assert_eq!(got.len(), 1024, "the ring is full");
    while got.len() < 16 + 3000 {
        xs.flush();
        let more = recv(&xs);
        assert!(!more.is_empty());
        got.extend(more);
    }
    assert_eq!(got, build_message(MsgType::READ, 9, 0, &[7; 3000]));
}

#[test]
fn an_oversized_header_stops_the_server() {
    let mut xs = RingXenstored::new();
    let mut h = build_message(MsgType::READ, 1, 0, b"");
    h[12..16].copy_from_slice(&4097u32.to_le_bytes());
    send(&xs, &h);
    xs.step();
    assert!(xs.stopped());
    assert_eq!(xs.page().error(), ERROR_PROTO);
    send(&xs, &build_message(MsgType::READ, 2, 0, b"data\0"));
    xs.step();
    assert!(recv(&xs).is_empty(), "nothing is served any more");
}

#[test]
fn reconnection_drops_the_connections_state() {
    let mut xs = RingXenstored::new();
    send(&xs, &build_message(MsgType::WATCH, 1, 0, b"data\0t\0"));
    send(&xs, &build_message(MsgType::TRANSACTION_START, 2, 0, b"\0"));
    xs.step();
    assert_eq!(xs.watches().len(), 1);
    assert_eq!(xs.model().transactions(), 1);
    xs.set_hold(true);
    send(&xs, &build_message(MsgType::READ, 3, 0, b"data\0"));
    xs.step();
    xs.reconnect();
    assert_eq!(xs.held(), 0);
    assert_eq!(xs.outstanding(), 0);
    assert!(xs.watches().is_empty());
    assert_eq!(xs.model().transactions(), 0);
    let before = xs.indices();
    assert_eq!(before[0], before[1], "request ring emptied");
    assert_eq!(before[2], before[3], "response ring emptied");
}
