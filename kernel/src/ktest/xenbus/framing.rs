//! Write framing: split writes, one message per write, size limits (probes C, D).
use super::*;

// ---------------------------------------------------------------------------
// b. Partial and multi-message writes

fn write_split_across_calls() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // B1: header 5+5+6, payload 4+10; nothing happens before the last byte.
    let m = msg(XS_READ, 0xb1000001, 0, &z("data/xb/probe"));
    check_eq!(m.len(), 30);
    let mut off = 0;
    for k in [5usize, 5, 6, 4] {
        check_eq!(p.write(fd, &m[off..off + k]), Ok(k));
        off += k;
        if off >= 16 {
            barrier()?;
        }
        quiet(&p, fd, if off == 16 { QUIET_MS } else { 0 })?;
    }
    check_eq!(p.write(fd, &m[off..]), Ok(m.len() - off));
    let r = recv(&p, fd)?;
    check_bytes!(r, msg(XS_READ, 0xb1000001, 0, b"hello"));
    Ok(())
}

fn write_one_byte_at_a_time() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // B5
    let m = msg(XS_READ, 0xb1000005, 0, &z("data/xb/probe"));
    for (i, b) in m.iter().enumerate() {
        check_eq!(p.write(fd, core::slice::from_ref(b)), Ok(1));
        if i + 1 < m.len() {
            quiet(&p, fd, 0)?;
        }
    }
    let r = recv(&p, fd)?;
    check_bytes!(r, msg(XS_READ, 0xb1000005, 0, b"hello"));
    Ok(())
}

fn two_messages_in_one_write_answers_first() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // B2: the whole count is returned; only the first message is answered,
    // the bytes after it are dropped (xenbus-abi.md 3).
    let both =
        cat(&[&msg(XS_READ, 0xb2000001, 0, &z("data/xb/probe")), &msg(XS_READ, 0xb2000002, 0, &z("data/xb/probe"))]);
    check_eq!(p.write(fd, &both), Ok(both.len()));
    let r = recv(&p, fd)?;
    check_bytes!(r, msg(XS_READ, 0xb2000001, 0, b"hello"));
    barrier()?;
    quiet(&p, fd, 0)?;
    // B2b: the next message works.
    let r = rpc(&p, fd, &msg(XS_READ, 0xb2000003, 0, &z("data/xb/probe")))?;
    check_bytes!(r, msg(XS_READ, 0xb2000003, 0, b"hello"));
    Ok(())
}

fn bytes_after_message_dropped_and_desync() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // B3: a message plus 8 bytes of the next; the 8 bytes are dropped.
    let first = msg(XS_READ, 0xb3000001, 0, &z("data/xb/probe"));
    let second = msg(XS_READ, 0xb3000002, 0, &z("data/xb/b3/x"));
    let w = cat(&[&first, &second[..8]]);
    check_eq!(p.write(fd, &w), Ok(w.len()));
    let r = recv(&p, fd)?;
    check_bytes!(r, msg(XS_READ, 0xb3000001, 0, b"hello"));
    // The rest of the second message is read as a new header: its len
    // field is payload bytes 4..8 ("/xb/") → E2BIG, nothing queued.
    check_eq!(u32::from_le_bytes(*b"/xb/") as usize > 4080, true);
    check_eq!(p.write(fd, &second[8..]), Err(Errno::E2BIG));
    barrier()?;
    quiet(&p, fd, 0)?;
    // The buffer was discarded: the next message is answered.
    let r = rpc(&p, fd, &msg(XS_READ, 0xb3000003, 0, &z("data/xb/probe")))?;
    check_bytes!(r, msg(XS_READ, 0xb3000003, 0, b"hello"));
    Ok(())
}

fn exact_fill_after_partial_drops_rest() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // C8: 10 bytes buffered, then a 4086-byte write (4096 in all). The
    // header formed has len 0: a READ with an empty payload is forwarded
    // (xenstored: ENOENT); the other 4080 bytes are dropped but counted.
    let h = msg(XS_READ, 0xc8000001, 0, b"");
    check_eq!(p.write(fd, &h[..10]), Ok(10));
    let mut big = vec![b'z'; 4086];
    big[..6].copy_from_slice(&h[10..16]);
    check_eq!(p.write(fd, &big), Ok(4086));
    let r = recv(&p, fd)?;
    check_bytes!(r, err(0xc8000001, 0, "ENOENT"));
    barrier()?;
    quiet(&p, fd, 0)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// c. Size limits

fn max_payload_4080_in_one_write() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // C1: 16 + 4080 = 4096 in one write is accepted and forwarded; the value
    // (4080 - 11 bytes) is over xenstored's per-node quota: ENOSPC.
    let m = msg(XS_WRITE, 0xc1000001, 0, &pv("data/xb/c1", &[b'v'; 4080 - 11]));
    check_eq!(m.len(), 4096);
    check_eq!(p.write(fd, &m), Ok(4096));
    let r = recv(&p, fd)?;
    check_bytes!(r, err(0xc1000001, 0, "ENOSPC"));
    Ok(())
}

fn max_payload_4080_split() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // C2: 16, then 4080.
    let m = msg(XS_WRITE, 0xc2000001, 0, &pv("data/xb/c2", &[b'v'; 4080 - 11]));
    check_eq!(p.write(fd, &m[..16]), Ok(16));
    check_eq!(p.write(fd, &m[16..]), Ok(4080));
    let r = recv(&p, fd)?;
    check_bytes!(r, err(0xc2000001, 0, "ENOSPC"));
    Ok(())
}

fn value_of_2000_bytes_round_trips() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // C2b: under the quota it works, and reads back byte-exact.
    let v: Vec<u8> = (0..2000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let r = rpc(&p, fd, &msg(XS_WRITE, 0xc2b00001, 0, &pv("data/xb/c2b", &v)))?;
    check_bytes!(r, ok(XS_WRITE, 0xc2b00001, 0));
    let r = rpc(&p, fd, &msg(XS_READ, 0xc2b00002, 0, &z("data/xb/c2b")))?;
    check_bytes!(r, msg(XS_READ, 0xc2b00002, 0, &v));
    Ok(())
}

fn header_len_4081_e2big_discards_buffer() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // C3: len 4081 fails as soon as the header is complete.
    check_eq!(p.write(fd, &header(XS_WRITE, 0xc3000001, 0, 4081)), Err(Errno::E2BIG));
    // ... also when the header arrives in pieces.
    let h = header(XS_WRITE, 0xc3000002, 0, 4081);
    check_eq!(p.write(fd, &h[..12]), Ok(12));
    check_eq!(p.write(fd, &h[12..]), Err(Errno::E2BIG));
    barrier()?;
    quiet(&p, fd, 0)?;
    // The buffer was discarded: a valid READ is answered normally.
    let r = rpc(&p, fd, &msg(XS_READ, 0xc3000003, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 0), XS_READ);
    check_eq!(u32_at(&r, 4), 0xc3000003);
    Ok(())
}

fn header_len_huge_e2big_no_wraparound() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // C4, C4b
    for (i, len) in [5000u32, 0xffff_fff0, 0xffff_ffff, 0x8000_0000].into_iter().enumerate() {
        check_eq!(p.write(fd, &header(XS_READ, 0xc4000000 + i as u32, 0, len)), Err(Errno::E2BIG));
    }
    let r = rpc(&p, fd, &msg(XS_READ, 0xc4000010, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 4), 0xc4000010);
    Ok(())
}

fn write_over_4096_einval() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // C5: a 4097-byte write (header len 4081 + payload).
    let m = msg(XS_WRITE, 0xc5000001, 0, &pv("data/xb/c5", &[b'v'; 4081 - 11]));
    check_eq!(m.len(), 4097);
    check_eq!(p.write(fd, &m), Err(Errno::EINVAL));
    // C6: a raw 5000-byte write.
    check_eq!(p.write(fd, &vec![0u8; 5000]), Err(Errno::EINVAL));
    barrier()?;
    quiet(&p, fd, 0)?;
    let r = rpc(&p, fd, &msg(XS_READ, 0xc5000002, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 4), 0xc5000002);
    Ok(())
}

fn overflow_after_partial_einval_discards_buffer() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // C7: 10 bytes buffered + 4087 → EINVAL, and the 10 bytes are gone.
    let stale = msg(XS_READ, 0xc7000001, 0, &z("data/xb/probe"));
    check_eq!(p.write(fd, &stale[..10]), Ok(10));
    check_eq!(p.write(fd, &vec![b'q'; 4087]), Err(Errno::EINVAL));
    let r = rpc(&p, fd, &msg(XS_READ, 0xc7000002, 0, &z("data/xb/probe")))?;
    check_bytes!(r, msg(XS_READ, 0xc7000002, 0, b"hello"));
    // C9: 1 byte buffered + 4096 → EINVAL, then fine again.
    check_eq!(p.write(fd, &stale[..1]), Ok(1));
    check_eq!(p.write(fd, &vec![b'q'; 4096]), Err(Errno::EINVAL));
    let r = rpc(&p, fd, &msg(XS_READ, 0xc9000001, 0, &z("data/xb/probe")))?;
    check_bytes!(r, msg(XS_READ, 0xc9000001, 0, b"hello"));
    barrier()?;
    quiet(&p, fd, 0)?;
    Ok(())
}

pub(super) static TESTS: &[Test] = &[
    t!(write_split_across_calls, T_XS),
    t!(write_one_byte_at_a_time, T_XS),
    t!(two_messages_in_one_write_answers_first, T_XS),
    t!(bytes_after_message_dropped_and_desync, T_XS),
    t!(exact_fill_after_partial_drops_rest, T_XS),
    t!(max_payload_4080_in_one_write, T_XS),
    t!(max_payload_4080_split, T_XS),
    t!(value_of_2000_bytes_round_trips, T_XS),
    t!(header_len_4081_e2big_discards_buffer, T_XS),
    t!(header_len_huge_e2big_no_wraparound, T_XS),
    t!(write_over_4096_einval, T_XS),
    t!(overflow_after_partial_einval_discards_buffer, T_XS),
];
