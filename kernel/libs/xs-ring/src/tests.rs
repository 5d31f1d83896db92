//! Host tests: the driver against the naive simulated server in [`crate::sim`].

use std::sync::Arc;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;
use xs_wire::{build_message, MsgHeader, MsgType, HEADER_LEN, PAYLOAD_MAX};

use crate::sim::MemPage;
use crate::*;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Writes all of `data` into the request queue, letting the server take
/// `server_chunk` bytes whenever the queue is full. Returns what the server got.
fn push_through(page: &MemPage, data: &[u8], server_chunk: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let w = write_some(page, &data[off..]).unwrap();
        assert_eq!(w.notify, w.written > 0);
        off += w.written;
        if w.written == 0 {
            got.extend(page.server_read(server_chunk));
        }
    }
    while page.server_pending() > 0 {
        got.extend(page.server_read(server_chunk));
    }
    got
}

/// Server sends all of `data`; the guest reads it in `guest_chunk` pieces.
fn pull_through(page: &MemPage, data: &[u8], guest_chunk: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut off = 0;
    let mut buf = vec![0u8; guest_chunk];
    loop {
        off += page.server_write(&data[off..]);
        let r = read_some(page, &mut buf).unwrap();
        got.extend_from_slice(&buf[..r.read]);
        if r.read == 0 && off == data.len() {
            return got;
        }
    }
}

#[test]
fn message_at_every_start_offset() {
    let payload = pattern(300, 7);
    let msg = build_message(MsgType::WRITE, 9, 0, &payload);
    for start in 0..RING_SIZE as u32 {
        // Vary the high bits too: only the low 10 bits select the slot.
        let base = start.wrapping_add(0x8765_4000);
        let page = MemPage::with_indices(base, base);
        let w = write_some(&page, &msg).unwrap();
        assert_eq!(w, WriteOutcome { written: msg.len(), notify: true });
        assert_eq!(page.req_prod(), base.wrapping_add(msg.len() as u32));
        assert_eq!(page.server_read(usize::MAX), msg, "request at offset {start}");

        assert_eq!(page.server_write(&msg), msg.len());
        let mut reader = MessageReader::new();
        let (m, notify) = reader.read_from(&page).unwrap();
        let m = m.and_then(Received::into_message).expect("a complete message");
        assert!(!notify);
        assert_eq!(m.header, MsgHeader { ty: MsgType::WRITE.0, req_id: 9, tx_id: 0, len: 300 });
        assert_eq!(m.payload(), payload, "response at offset {start}");
        assert!(reader.is_idle());
        assert_eq!(page.rsp_cons(), page.rsp_prod());
    }
}

#[test]
fn full_ring_at_every_start_offset() {
    let data = pattern(RING_SIZE, 1);
    for start in 0..RING_SIZE as u32 {
        let page = MemPage::with_indices(start, start.wrapping_sub(3));
        assert_eq!(write_some(&page, &data).unwrap().written, RING_SIZE);
        assert_eq!(write_some(&page, b"x").unwrap(), WriteOutcome::default());
        assert_eq!(page.server_read(usize::MAX), data);

        assert_eq!(page.server_write(&data), RING_SIZE);
        let mut out = vec![0u8; RING_SIZE + 10];
        let r = read_some(&page, &mut out).unwrap();
        // The server saw a full queue: it must be told about the space.
        assert_eq!(r, ReadOutcome { read: RING_SIZE, notify: true });
        assert_eq!(&out[..RING_SIZE], &data[..]);
    }
}

#[test]
fn indices_wrapping_past_u32_max() {
    for start in [u32::MAX - 5, u32::MAX - 1023, u32::MAX, u32::MAX - 100] {
        let page = MemPage::with_indices(start, start);
        let mut sent = Vec::new();
        let mut got_req = Vec::new();
        let mut got_rsp = Vec::new();
        // Several rounds, so the index itself wraps through zero.
        for round in 0..8u8 {
            let data = pattern(700 + round as usize * 13, round);
            got_req.extend(push_through(&page, &data, 100));
            got_rsp.extend(pull_through(&page, &data, 64));
            sent.extend(data);
        }
        assert_eq!(got_req, sent);
        assert_eq!(got_rsp, sent);
        assert!(page.req_prod() < start, "the index wrapped");
    }
}

#[test]
fn max_payload_through_slow_consumers() {
    let payload = pattern(PAYLOAD_MAX, 3);
    let msg = build_message(MsgType::READ, 0xdead_beef, 5, &payload);
    let page = MemPage::with_indices(u32::MAX - 2000, 1000);
    // Guest to server: the server takes 7 bytes at a time.
    assert_eq!(push_through(&page, &msg, 7), msg);

    // Server to guest: the guest reads 5 bytes at a time into the assembler.
    let mut reader = MessageReader::new();
    let mut off = 0;
    let mut buf = [0u8; 5];
    let mut done = None;
    let mut pieces = 0;
    while done.is_none() {
        off += page.server_write(&msg[off..]);
        let r = read_some(&page, &mut buf).unwrap();
        let mut fed = 0;
        while fed < r.read {
            let (used, m) = reader.feed(&buf[fed..r.read]).unwrap();
            fed += used;
            if let Some(m) = m {
                done = m.into_message();
            }
        }
        pieces += 1;
    }
    let m = done.unwrap();
    assert!(pieces > 800);
    assert_eq!(m.header.len as usize, PAYLOAD_MAX);
    assert_eq!(m.header.req_id, 0xdead_beef);
    assert_eq!(m.payload(), payload);
    assert_eq!(off, msg.len());
}

#[test]
fn max_payload_through_read_from() {
    let payload = pattern(PAYLOAD_MAX, 11);
    let msg = build_message(MsgType::DIRECTORY, 1, 0, &payload);
    let page = MemPage::with_indices(5, u32::MAX - 17);
    let mut reader = MessageReader::new();
    let mut off = 0;
    let mut notifies = 0;
    loop {
        off += page.server_write(&msg[off..]);
        let (m, notify) = reader.read_from(&page).unwrap();
        notifies += notify as usize;
        if let Some(m) = m.and_then(Received::into_message) {
            assert_eq!(m.payload(), payload);
            break;
        }
    }
    // Each time the server had filled the queue, the guest asked to notify.
    assert!(notifies >= 3);
}

#[test]
fn corrupt_indices_are_errors() {
    let bad: [(u32, u32); 5] = [(1025, 0), (0, 1), (u32::MAX, 0), (0x8000_0000, 0), (3, 0xffff_fc00)];
    for (prod, cons) in bad {
        let page = MemPage::new();
        page.set_indices(cons, prod, 0, 0);
        assert_eq!(write_some(&page, b"hello"), Err(RingError::Corrupt { ring: RingKind::Request, prod, cons }));
        assert_eq!(page.req_prod(), prod, "nothing published");

        let page = MemPage::new();
        page.set_indices(0, 0, cons, prod);
        let mut out = [0u8; 64];
        assert_eq!(read_some(&page, &mut out), Err(RingError::Corrupt { ring: RingKind::Response, prod, cons }));
        assert_eq!(page.rsp_cons(), cons, "nothing consumed");
        let mut reader = MessageReader::new();
        assert!(matches!(reader.read_from(&page), Err(RingError::Corrupt { .. })));
    }
    // Exactly full is fine, on both queues, including across the index wrap.
    let page = MemPage::new();
    page.set_indices(u32::MAX - 10, 1013, 7, 1031);
    assert_eq!(write_some(&page, b"x").unwrap().written, 0);
    let mut out = [0u8; 2000];
    assert_eq!(read_some(&page, &mut out).unwrap().read, 1024);
}

#[test]
fn empty_inputs_do_nothing() {
    let page = MemPage::with_indices(10, 20);
    assert_eq!(write_some(&page, &[]).unwrap(), WriteOutcome::default());
    page.server_write(b"abc");
    assert_eq!(read_some(&page, &mut []).unwrap(), ReadOutcome::default());
    let mut out = [0u8; 8];
    assert_eq!(read_some(&page, &mut out).unwrap().read, 3);
    assert_eq!(read_some(&page, &mut out).unwrap(), ReadOutcome::default());
    assert_eq!(page.req_prod(), 10);
}

#[test]
fn oversized_header_is_reported_at_once() {
    let hdr = MsgHeader { ty: MsgType::READ.0, req_id: 1, tx_id: 0, len: PAYLOAD_MAX as u32 + 1 }.to_bytes();
    let mut reader = MessageReader::new();
    // Fifteen bytes: not yet complete.
    assert_eq!(reader.feed(&hdr[..15]).unwrap(), (15, None));
    assert_eq!(reader.feed(&hdr[15..]), Err(RingError::Oversized { len: 4097 }));
    // Sticky until reset, whatever comes next.
    assert_eq!(reader.feed(&[0u8; 100]), Err(RingError::Oversized { len: 4097 }));
    reader.reset();
    let ok = build_message(MsgType::READ, 2, 0, b"v");
    assert_eq!(reader.feed(&ok).unwrap().1.and_then(Received::into_message).unwrap().payload(), b"v");

    // Through the ring: reported without waiting for any payload.
    for len in [4097u32, u32::MAX, 0x8000_0000] {
        let page = MemPage::with_indices(0, 1020);
        page.server_write(&MsgHeader { ty: 1, req_id: 0, tx_id: 0, len }.to_bytes());
        page.server_write(b"junk");
        let mut reader = MessageReader::new();
        assert_eq!(reader.read_from(&page), Err(RingError::Oversized { len }));
        assert_eq!(page.rsp_prod().wrapping_sub(page.rsp_cons()), 4, "stopped after the header");
        assert_eq!(reader.read_from(&page), Err(RingError::Oversized { len }));
    }
}

#[test]
fn zero_length_and_back_to_back_messages() {
    let mut stream = build_message(MsgType::WATCH_EVENT, 0, 0, b"");
    stream.extend(build_message(MsgType::ERROR, 4, 0, b"ENOENT\0"));
    stream.extend(build_message(MsgType::READ, 5, 0, b""));
    let page = MemPage::new();
    assert_eq!(page.server_write(&stream), stream.len());
    let mut reader = MessageReader::new();
    let mut got = Vec::new();
    while let (Some(m), _) = reader.read_from(&page).unwrap() {
        got.push(m.into_message().unwrap());
    }
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].payload(), b"");
    assert_eq!(got[1].header.req_id, 4);
    assert_eq!(got[1].payload(), b"ENOENT\0");
    assert_eq!(got[2].header.len, 0);
    assert_eq!(got[2].header.ty, MsgType::READ.0);

    // Fed as one slice: one message per call.
    let mut reader = MessageReader::new();
    let (used, m) = reader.feed(&stream).unwrap();
    assert_eq!(used, HEADER_LEN);
    assert_eq!(m.unwrap().header().ty, MsgType::WATCH_EVENT.0);
    let (used2, m) = reader.feed(&stream[used..]).unwrap();
    assert_eq!(used2, HEADER_LEN + 7);
    assert_eq!(m.and_then(Received::into_message).unwrap().payload(), b"ENOENT\0");
}

#[test]
fn payload_dropped_when_memory_fails_keeps_the_stream_in_sync() {
    let mut stream = build_message(MsgType::READ, 7, 3, &pattern(2000, 1));
    stream.extend(build_message(MsgType::ERROR, 8, 0, b""));
    stream.extend(build_message(MsgType::WRITE, 9, 0, b"OK\0"));
    let page = MemPage::new();
    let mut reader = MessageReader::new();
    reader.set_fail_allocations(true);
    let mut got = Vec::new();
    let mut off = 0;
    while got.len() < 2 {
        off += page.server_write(&stream[off..]);
        if let (Some(r), _) = reader.read_from(&page).unwrap() {
            got.push(r);
        }
    }
    assert_eq!(got[0], Received::Dropped(MsgHeader { ty: MsgType::READ.0, req_id: 7, tx_id: 3, len: 2000 }));
    assert_eq!(got[1], Received::Dropped(MsgHeader { ty: MsgType::ERROR.0, req_id: 8, tx_id: 0, len: 0 }));
    reader.set_fail_allocations(false);
    page.server_write(&stream[off..]);
    let (r, _) = reader.read_from(&page).unwrap();
    let m = r.and_then(Received::into_message).unwrap();
    assert_eq!(m.bytes(), &build_message(MsgType::WRITE, 9, 0, b"OK\0")[..]);
    assert!(reader.is_idle());
}

#[test]
fn partial_header_then_reset() {
    let mut reader = MessageReader::new();
    assert!(reader.is_idle());
    reader.feed(&[1, 2, 3]).unwrap();
    assert!(!reader.is_idle());
    reader.reset();
    assert!(reader.is_idle());
    let m = build_message(MsgType::RM, 3, 4, b"OK\0");
    let (_, got) = reader.feed(&m).unwrap();
    assert_eq!(got.unwrap().header(), MsgHeader { ty: MsgType::RM.0, req_id: 3, tx_id: 4, len: 3 });
}

#[test]
fn reconnection_helpers() {
    use xen_sys::*;
    let page = MemPage::new();
    // Without the feature, the connection field means nothing.
    assert!(!features_reconnection(&page));
    page.set_connection(XENSTORE_RECONNECT);
    assert!(reconnect_done(&page));
    page.set_connection(XENSTORE_CONNECTED);
    assert!(!request_reconnect(&page));
    assert_eq!(page.connection(), XENSTORE_CONNECTED);

    page.set_server_features(XENSTORE_SERVER_FEATURE_RECONNECTION | 0x8000);
    assert!(features_reconnection(&page));
    write_some(&page, b"partial message").unwrap();
    page.server_write(b"partial reply");
    assert!(request_reconnect(&page));
    assert_eq!(page.connection(), XENSTORE_RECONNECT);
    assert!(!reconnect_done(&page));
    page.server_reconnect();
    assert!(reconnect_done(&page));
    assert_eq!(page.req_prod(), page.req_cons());
    assert_eq!(page.rsp_prod(), page.rsp_cons());

    assert_eq!(server_error(&page), None);
    page.set_error(XENSTORE_ERROR_RINGIDX);
    assert_eq!(server_error(&page), None, "feature not advertised");
    page.set_server_features(XENSTORE_SERVER_FEATURE_ERROR);
    assert_eq!(server_error(&page), Some(XENSTORE_ERROR_RINGIDX));
}

#[test]
fn concurrent_server_thread() {
    let page = Arc::new(MemPage::with_indices(u32::MAX - 300, u32::MAX - 77));
    let data = pattern(256 * 1024, 5);
    let server = {
        let page = Arc::clone(&page);
        let len = data.len();
        std::thread::spawn(move || {
            // Echo: everything read from the request queue goes back.
            let mut got = Vec::new();
            let mut backlog: Vec<u8> = Vec::new();
            let mut echoed = 0;
            while echoed < len {
                let chunk = page.server_read(333);
                got.extend_from_slice(&chunk);
                backlog.extend_from_slice(&chunk);
                let n = page.server_write(&backlog);
                backlog.drain(..n);
                echoed += n;
                std::thread::yield_now();
            }
            got
        })
    };
    let mut reply = Vec::new();
    let mut off = 0;
    let mut buf = vec![0u8; 211];
    while reply.len() < data.len() {
        if off < data.len() {
            off += write_some(&*page, &data[off..]).unwrap().written;
        }
        let r = read_some(&*page, &mut buf).unwrap();
        reply.extend_from_slice(&buf[..r.read]);
        std::thread::yield_now();
    }
    assert_eq!(server.join().unwrap(), data);
    assert_eq!(reply, data);
}

proptest! {
    #[test]
    fn any_chunking_preserves_the_stream(
        data in proptest::collection::vec(any::<u8>(), 0..5000),
        start_req in any::<u32>(),
        start_rsp in any::<u32>(),
        writes in proptest::collection::vec(1usize..1500, 1..20),
        reads in proptest::collection::vec(1usize..1500, 1..20),
    ) {
        let page = MemPage::with_indices(start_req, start_rsp);
        // Request queue: guest writes chunks, server reads chunks.
        let mut got = Vec::new();
        let (mut off, mut i) = (0, 0);
        while off < data.len() || page.server_pending() > 0 {
            let w = writes[i % writes.len()];
            let end = (off + w).min(data.len());
            off += write_some(&page, &data[off..end]).unwrap().written;
            got.extend(page.server_read(reads[i % reads.len()]));
            i += 1;
        }
        prop_assert_eq!(&got, &data);

        // Response queue: server writes chunks, guest reads chunks.
        let mut got = Vec::new();
        let (mut off, mut i) = (0, 0);
        loop {
            let w = writes[i % writes.len()];
            let end = (off + w).min(data.len());
            off += page.server_write(&data[off..end]);
            let mut buf = vec![0u8; reads[i % reads.len()]];
            let r = read_some(&page, &mut buf).unwrap();
            got.extend_from_slice(&buf[..r.read]);
            if off == data.len() && r.read == 0 {
                break;
            }
            i += 1;
        }
        prop_assert_eq!(&got, &data);
    }

    #[test]
    fn any_chunking_assembles_the_same_messages(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1200), 1..6),
        cuts in proptest::collection::vec(1usize..700, 1..30),
    ) {
        let mut stream = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            stream.extend(build_message(MsgType::READ, i as u32, 0, p));
        }
        let mut reader = MessageReader::new();
        let mut got = Vec::new();
        let (mut off, mut i) = (0, 0);
        while off < stream.len() {
            let end = (off + cuts[i % cuts.len()]).min(stream.len());
            let mut piece = &stream[off..end];
            while !piece.is_empty() {
                let (used, m) = reader.feed(piece).unwrap();
                piece = &piece[used..];
                got.extend(m.and_then(Received::into_message));
            }
            off = end;
            i += 1;
        }
        prop_assert!(reader.is_idle());
        prop_assert_eq!(got.len(), payloads.len());
        for (i, (m, p)) in got.iter().zip(&payloads).enumerate() {
            prop_assert_eq!(m.header.req_id, i as u32);
            prop_assert_eq!(&m.payload(), p);
        }
    }

    #[test]
    fn arbitrary_indices_never_panic(
        req_cons in any::<u32>(), req_prod in any::<u32>(),
        rsp_cons in any::<u32>(), rsp_prod in any::<u32>(),
        len in 0usize..3000,
    ) {
        let page = MemPage::new();
        page.set_indices(req_cons, req_prod, rsp_cons, rsp_prod);
        let data = vec![0xaa; len];
        let mut out = vec![0u8; len];
        let w = write_some(&page, &data);
        let r = read_some(&page, &mut out);
        prop_assert_eq!(w.is_err(), req_prod.wrapping_sub(req_cons) > 1024);
        prop_assert_eq!(r.is_err(), rsp_prod.wrapping_sub(rsp_cons) > 1024);
        let mut reader = MessageReader::new();
        let _ = reader.read_from(&page);
    }
}
