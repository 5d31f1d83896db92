//! write() framing: section 5 of the spec, the write() error table (5.3) and
//! probes A, B, C.

use super::*;
use crate::{POLLIN, POLLRDNORM};

fn fresh() -> Open {
    Open::new(&Xenstored::default())
}

#[test]
fn a2_a3_a4_write_read_and_missing_exact_bytes() {
    let mut o = fresh();
    o.send(&msg(WRITE, 0xa100_0002, 0, &pv("data/probe", b"hello")));
    assert_eq!(o.read_all(), hex("0b000000 020000a1 00000000 03000000 4f4b00"));
    o.send(&msg(READ, 0xa100_0003, 0, &p0("data/probe")));
    assert_eq!(o.read_all(), hex("02000000 030000a1 00000000 05000000 68656c6c 6f"));
    o.send(&msg(READ, 0xa100_0004, 0, &p0("data/missing")));
    assert_eq!(o.read_all(), hex("10000000 040000a1 00000000 07000000 454e4f45 4e5400"));
}

#[test]
fn a6_a7_empty_value_queues_header_alone() {
    let mut o = fresh();
    o.send(&msg(WRITE, 1, 0, &pv("data/empty", b"")));
    o.read_all();
    o.send(&msg(READ, 0xa100_0006, 0, &p0("data/empty")));
    assert_eq!(o.read(4096).unwrap(), hex("02000000 060000a1 00000000 00000000"));
    assert_eq!(o.poll(), 0, "no phantom zero-length buffer");
    assert_eq!(o.read(4096), Err(Errno::EAGAIN));
    // A7: empty reply directly followed by the next message in one read.
    o.send(&msg(READ, 7, 0, &p0("data/empty")));
    o.send(&msg(WRITE, 8, 0, &pv("data/x", b"y")));
    let all = o.read(4096).unwrap();
    assert_eq!(all.len(), 16 + 16 + 3);
    assert_eq!(&all[..16], &header(READ, 7, 0, 0)[..]);
}

#[test]
fn a8_req_id_restored_and_g2_tx_id_kept() {
    let mut o = fresh();
    for req in [0u32, 0xFFFF_FFFF, 0x1234_5678] {
        o.send(&msg(READ, req, 0, &p0("data")));
        let (h, _) = o.one();
        assert_eq!(h.req_id, req);
    }
    // The simulated xenstored answers under its own wire req_id (0x5157....),
    // so the program's id really was restored.
    let wire = o.xs.submitted();
    assert!(wire.iter().all(|m| MsgHeader::from_bytes(m).unwrap().req_id != 0x5157_0000));
}

#[test]
fn a9_b6_payload_of_forwarded_requests_not_validated() {
    // Forwarded as they are; xenstored answers (the harness's C xenstored
    // 4.17: EINVAL for a path without a NUL, ENOENT for no payload).
    let mut o = fresh();
    o.send(&msg(READ, 9, 0, b"data/probe"));
    assert_eq!(o.one().1, b"EINVAL\0");
    o.send(&msg(READ, 6, 0, b""));
    assert_eq!(o.read_all(), err_reply(6, 0, "ENOENT"));
    assert_eq!(o.xs.submitted().len(), 2, "both forwarded");
}

#[test]
fn a11_zero_length_write_changes_nothing() {
    let mut o = fresh();
    assert_eq!(o.write(b""), Ok(0));
    let m = msg(READ, 1, 0, &p0("data"));
    o.send(&m[..5]);
    assert_eq!(o.write(b""), Ok(0));
    assert_eq!(o.file.buffered_len(), 5);
    o.send(&m[5..]);
    assert_eq!(o.one().0.req_id, 1);
}

#[test]
fn a12_opens_are_independent() {
    let xs = Xenstored::default();
    let mut a = Open::new(&xs);
    let mut b = Open::new(&xs);
    a.send(&msg(READ, 1, 0, &p0("data")));
    assert_eq!(b.poll(), 0);
    assert_eq!(b.read(10), Err(Errno::EAGAIN));
    assert_eq!(a.poll(), POLLIN | POLLRDNORM);
    // A partial request of one open does not affect the other.
    a.send(&msg(READ, 2, 0, &p0("data"))[..7]);
    b.send(&msg(READ, 3, 0, &p0("data")));
    assert_eq!(b.one().0.req_id, 3);
}

#[test]
fn b1_header_and_payload_split() {
    let mut o = fresh();
    let m = msg(READ, 0xb1, 0, &p0("data/probe"));
    assert_eq!(m.len(), 27);
    for (i, part) in [&m[0..5], &m[5..10], &m[10..16], &m[16..20]].into_iter().enumerate() {
        assert_eq!(o.write(part), Ok(part.len()), "part {i}");
        assert_eq!(o.poll(), 0);
        assert!(o.xs.submitted().is_empty());
    }
    assert_eq!(o.write(&m[20..]), Ok(7));
    assert_eq!(o.one().0.req_id, 0xb1);
}

#[test]
fn b5_one_byte_writes() {
    let mut o = fresh();
    let m = msg(READ, 0xb5, 0, &p0("data/probe"));
    for b in &m {
        assert_eq!(o.write(std::slice::from_ref(b)), Ok(1));
    }
    assert_eq!(o.one().0.req_id, 0xb5);
}

#[test]
fn b2_two_messages_in_one_write_answer_only_the_first() {
    let mut o = fresh();
    let mut two = msg(READ, 0xb200_0001, 0, &p0("data/probe"));
    two.extend(msg(READ, 0xb200_0002, 0, &p0("data/probe")));
    assert_eq!(o.write(&two), Ok(54));
    assert_eq!(o.one().0.req_id, 0xb200_0001);
    assert_eq!(o.xs.submitted().len(), 1);
    // B2b: the next message works.
    o.send(&msg(READ, 0xb200_0003, 0, &p0("data/probe")));
    assert_eq!(o.one().0.req_id, 0xb200_0003);
}

#[test]
fn b3_extra_bytes_dropped_then_desynchronised() {
    let mut o = fresh();
    let m1 = msg(READ, 0xb3, 0, &p0("data/probe"));
    let m2 = msg(READ, 0xb4, 0, &p0("data/probe"));
    let mut first = m1.clone();
    first.extend_from_slice(&m2[..8]);
    assert_eq!(o.write(&first), Ok(35));
    // The remaining 19 bytes are a new header whose len is "/pro".
    assert_eq!(u32::from_le_bytes(m2[12 + 8..16 + 8].try_into().unwrap()), 0x6f72_702f);
    assert_eq!(o.write(&m2[8..]), Err(Errno::E2BIG));
    assert_eq!(o.one().0.req_id, 0xb3);
    assert_eq!(o.file.buffered_len(), 0);
}

#[test]
fn b4_a_failed_copy_keeps_the_partial_request() {
    // EFAULT is the kernel's: it copies the program's bytes before calling
    // write(), and a fault means write() is not called at all. The partial
    // request therefore survives, as on Linux.
    let mut o = fresh();
    let m = msg(READ, 0xb4, 0, &p0("data/probe"));
    o.send(&m[..8]);
    o.send(&m[8..]);
    assert_eq!(o.one().0.req_id, 0xb4);
}

#[test]
fn c1_c2_largest_message_is_forwarded() {
    let mut o = fresh();
    let mut payload = p0("data/big");
    payload.resize(4080, b'x');
    let m = msg(WRITE, 0xc1, 0, &payload);
    assert_eq!(m.len(), 4096);
    assert_eq!(o.write(&m), Ok(4096));
    // xenstored's value quota shows through.
    assert_eq!(o.read_all(), err_reply(0xc1, 0, "ENOSPC"));
    let m = msg(WRITE, 0xc2, 0, &payload);
    assert_eq!(o.write(&m[..16]), Ok(16));
    assert_eq!(o.write(&m[16..]), Ok(4080));
    assert_eq!(o.read_all(), err_reply(0xc2, 0, "ENOSPC"));
    // C2b: 2000 bytes fit.
    let mut small = p0("data/big");
    small.resize(9 + 2000, b'y');
    o.send(&msg(WRITE, 0xc3, 0, &small));
    assert_eq!(o.one().1, b"OK\0");
}

#[test]
fn c3_c4_oversized_header_is_e2big_and_discarded() {
    let mut o = fresh();
    for len in [4081u32, 4096, 5000, 0xFFFF_FFF0, 0xFFFF_FFFF] {
        assert_eq!(o.write(&header(READ, 1, 0, len)), Err(Errno::E2BIG), "len {len:#x}");
        assert_eq!(o.file.buffered_len(), 0);
        o.send(&msg(READ, 2, 0, &p0("data")));
        assert_eq!(o.one().0.req_id, 2);
    }
    // The header completing across writes triggers it too.
    let h = header(READ, 1, 0, 4081);
    o.send(&h[..15]);
    assert_eq!(o.write(&h[15..]), Err(Errno::E2BIG));
    assert_eq!(o.poll(), 0);
}

#[test]
fn c5_c6_c7_c9_overflowing_writes_are_einval_and_discard() {
    let mut o = fresh();
    // C5: a len-4081 message written whole is 4097 bytes.
    let mut big = header(READ, 1, 0, 4081);
    big.resize(4097, b'a');
    assert_eq!(o.write(&big), Err(Errno::EINVAL));
    // C6
    assert_eq!(o.write(&[0u8; 5000]), Err(Errno::EINVAL));
    // C7: 10 bytes buffered + 4087 > 4096: the 10 bytes are discarded.
    let m = msg(READ, 7, 0, &p0("data"));
    o.send(&m[..10]);
    assert_eq!(o.write(&[0u8; 4087]), Err(Errno::EINVAL));
    assert_eq!(o.file.buffered_len(), 0);
    o.send(&msg(READ, 8, 0, &p0("data")));
    assert_eq!(o.one().0.req_id, 8);
    // C9
    o.send(&[2u8]);
    assert_eq!(o.write(&[0u8; 4096]), Err(Errno::EINVAL));
    assert_eq!(o.file.buffered_len(), 0);
    assert_eq!(o.poll(), 0);
    assert_eq!(o.xs.submitted().len(), 1);
}

#[test]
fn c8_exactly_full_buffer_forwards_first_message_and_counts_the_rest() {
    let mut o = fresh();
    let h = header(READ, 0xc8, 0, 0);
    o.send(&h[..10]);
    let mut rest = h[10..].to_vec();
    rest.resize(4086, b'z');
    assert_eq!(o.write(&rest), Ok(4086));
    // A READ with an empty payload was forwarded; the other 4070 bytes dropped.
    assert_eq!(o.read_all(), err_reply(0xc8, 0, "ENOENT"));
    assert_eq!(o.xs.submitted(), vec![h]);
    assert_eq!(o.file.buffered_len(), 0);
}

#[test]
fn submit_failure_is_returned_and_nothing_is_queued() {
    let mut o = fresh();
    o.xs.fail_submit(Errno::EIO, 1);
    assert_eq!(o.write(&msg(READ, 1, 0, &p0("data"))), Err(Errno::EIO));
    assert_eq!(o.file.in_flight(), 0);
    assert_eq!(o.file.buffered_len(), 0);
    assert_eq!(o.poll(), 0);
    o.send(&msg(READ, 2, 0, &p0("data")));
    assert_eq!(o.one().0.req_id, 2);
}

#[test]
fn requests_are_async_and_in_flight_is_reported() {
    let mut o = fresh();
    o.xs.hold(true);
    o.send(&msg(READ, 1, 0, &p0("data")));
    o.send(&msg(READ, 2, 0, &p0("data")));
    assert_eq!(o.file.in_flight(), 2);
    assert_eq!(o.read(100), Err(Errno::EAGAIN));
    o.xs.release_all();
    assert_eq!(o.file.in_flight(), 2, "not drained yet");
    let ids: Vec<u32> = o.msgs().iter().map(|m| m.0.req_id).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(o.file.in_flight(), 0);
}

#[test]
fn out_of_order_replies_keep_their_own_req_ids() {
    let mut o = fresh();
    o.send(&msg(WRITE, 1, 0, &pv("data/a", b"A")));
    o.send(&msg(WRITE, 2, 0, &pv("data/b", b"BB")));
    o.read_all();
    o.xs.hold(true);
    o.send(&msg(READ, 10, 0, &p0("data/a")));
    o.send(&msg(READ, 11, 0, &p0("data/b")));
    o.send(&msg(READ, 12, 0, &p0("data/c")));
    o.xs.release_reversed();
    let got: Vec<(u32, Vec<u8>)> = o.msgs().into_iter().map(|(h, p)| (h.req_id, p)).collect();
    assert_eq!(got, vec![(12, b"ENOENT\0".to_vec()), (11, b"BB".to_vec()), (10, b"A".to_vec())]);
}
