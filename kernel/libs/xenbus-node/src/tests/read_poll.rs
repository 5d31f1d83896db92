//! read() and poll(): sections 7 and 8, probes D and E.

use super::*;
use crate::{POLLIN, POLLRDNORM};

fn with_probe() -> Open {
    let mut o = Open::new(&Xenstored::default());
    o.send(&msg(WRITE, 0, 0, &pv("data/probe", b"hello")));
    o.read_all();
    o
}

#[test]
fn d1_byte_at_a_time_then_eagain() {
    let mut o = with_probe();
    o.send(&msg(READ, 1, 0, &p0("data/probe")));
    let mut got = Vec::new();
    for _ in 0..21 {
        let b = o.read(1).unwrap();
        assert_eq!(b.len(), 1);
        got.extend(b);
    }
    assert_eq!(got, hex("02000000 01000000 00000000 05000000 68656c6c6f"));
    assert_eq!(o.read(1), Err(Errno::EAGAIN));
}

#[test]
fn d2_reads_span_message_boundaries() {
    let mut o = with_probe();
    o.send(&msg(READ, 1, 0, &p0("data/probe")));
    o.send(&msg(READ, 2, 0, &p0("data/probe")));
    assert_eq!(o.read(20).unwrap(), hex("02000000 01000000 00000000 05000000 68656c6c"));
    assert_eq!(o.read(10).unwrap(), hex("6f 02000000 02000000 00"));
    assert_eq!(o.read(4096).unwrap().len(), 12);
}

#[test]
fn d3_empty_queue_is_eagain_for_any_size() {
    let mut o = with_probe();
    assert_eq!(o.read(4096), Err(Errno::EAGAIN));
    assert_eq!(o.read(0), Err(Errno::EAGAIN), "read(0) on empty blocks (EAGAIN) as on Linux");
}

#[test]
fn d8_one_read_takes_everything_queued() {
    let mut o = with_probe();
    for i in 0..3 {
        o.send(&msg(READ, i, 0, &p0("data/probe")));
    }
    assert_eq!(o.read(4096).unwrap().len(), 63);
    o.send(&msg(READ, 9, 0, &p0("data/probe")));
    o.send(&msg(READ, 9, 0, &p0("data/probe")));
    o.send(&msg(READ, 9, 0, &p0("data/none")));
    assert_eq!(o.read(4096).unwrap().len(), 21 + 21 + 23);
}

#[test]
fn r0_zero_length_read_with_data_returns_zero_at_once() {
    let mut o = with_probe();
    o.send(&msg(READ, 1, 0, &p0("data/probe")));
    assert_eq!(o.read(0), Ok(vec![]));
    assert_eq!(o.file.queued_bytes(), 21, "nothing consumed");
    assert_eq!(o.read(4096).unwrap().len(), 21);
}

#[test]
fn d5_d6_peek_and_consume_let_the_kernel_match_partial_faults() {
    let mut o = with_probe();
    o.send(&msg(READ, 1, 0, &p0("data/probe")));
    o.conn.drain_into(&mut o.file);
    let mut buf = [0u8; 21];
    // D5: fault with nothing copied: the kernel consumes nothing.
    assert_eq!(o.file.peek(&mut buf), Ok(21));
    assert_eq!(o.file.queued_bytes(), 21);
    // D6: only 10 bytes reached the program.
    assert_eq!(o.file.consume(10), 10);
    let full = hex("02000000 01000000 00000000 05000000 68656c6c6f");
    assert_eq!(o.read(4096).unwrap(), full[10..].to_vec());
    assert_eq!(o.file.consume(5), 0);
}

#[test]
fn e1_empty_is_never_readable_nor_writable() {
    let mut o = with_probe();
    assert_eq!(o.poll(), 0);
}

#[test]
fn e2_in_flight_request_then_reply_makes_readable() {
    let mut o = with_probe();
    o.xs.hold(true);
    o.send(&msg(READ, 1, 0, &p0("data/probe")));
    assert_eq!(o.poll(), 0);
    o.xs.release_all();
    assert_eq!(o.poll(), POLLIN | POLLRDNORM);
}

#[test]
fn e3_e4_e5_e6_poll_tracks_unread_bytes() {
    let mut o = with_probe();
    o.send(&msg(READ, 1, 0, &p0("data/probe")));
    assert_eq!(o.poll(), 0x41);
    o.read(3).unwrap();
    assert_eq!(o.poll(), 0x41);
    o.read(18).unwrap();
    assert_eq!(o.poll(), 0);
    o.send(&msg(WRITE, 2, 0, &pv("data/e", b"")));
    o.read_all();
    o.send(&msg(READ, 3, 0, &p0("data/e")));
    assert_eq!(o.read(16).unwrap().len(), 16);
    assert_eq!(o.poll(), 0, "the len-0 reply left nothing behind");
}

#[test]
fn read_never_returns_zero_for_a_non_empty_buffer() {
    let mut o = with_probe();
    o.send(&msg(READ, 1, 0, &p0("data/probe")));
    loop {
        match o.read(7) {
            Ok(b) => assert!(!b.is_empty()),
            Err(e) => {
                assert_eq!(e, Errno::EAGAIN);
                break;
            }
        }
    }
}
