//! Host tests: [`ClientCore`] against the simulated C xenstored 4.17 of the
//! `xs-sim` crate (its ring front end), serving domain 1: the client's own
//! nodes live under `data/` (`/local/domain/1/data`), the only place the
//! domain may write.

use std::vec::Vec;

use proptest::prelude::*;
use xs_ring::sim::MemPage;
use xs_ring::RingError;
use xs_wire::{build_message, MsgHeader, MsgType, XsErrno, PAYLOAD_MAX};

use crate::ops::{self, DirectoryReply, PagerStep, Perm, PermKind, TransactionRetry, TxDecision};
use crate::*;
use xs_sim::RingXenstored as Xenstored;

/// Runs client and server until nothing moves any more.
fn drive(core: &mut ClientCore, xs: &mut Xenstored) {
    for _ in 0..100_000 {
        let before = xs.indices();
        core.pump_out(xs.page()).unwrap();
        xs.step();
        core.pump_in(xs.page()).unwrap();
        assert!(core.in_flight() <= core.config().max_in_flight);
        if xs.indices() == before {
            return;
        }
    }
    panic!("no quiescence");
}

/// Submits one request, runs to completion, returns the result.
fn call(core: &mut ClientCore, xs: &mut Xenstored, req: Result<ops::Request, ClientError>) -> Completion {
    let id = core.submit_request(&req.unwrap()).unwrap();
    drive(core, xs);
    core.take_reply(id).expect("request completed")
}

fn setup() -> (ClientCore, Xenstored) {
    (ClientCore::default(), Xenstored::new())
}

#[test]
fn basic_operations() {
    let (mut c, mut xs) = setup();
    let r = call(&mut c, &mut xs, ops::write(0, b"data/a/b", b"hello")).unwrap();
    assert_eq!(ops::parse_ok(&r), Ok(()));
    let r = call(&mut c, &mut xs, ops::read(0, b"data/a/b")).unwrap();
    assert_eq!(ops::parse_read(&r), Ok(&b"hello"[..]));
    assert_eq!(r.msg_type(), MsgType::READ);
    let r = call(&mut c, &mut xs, ops::read(0, b"data/a/nope")).unwrap();
    assert_eq!(r.result(), Err(XsErrno::ENOENT));
    assert_eq!(ops::parse_read(&r), Err(ClientError::Xs(XsErrno::ENOENT)));
    // Relative paths are the server's business.
    call(&mut c, &mut xs, ops::write(0, b"data/x", b"")).unwrap();
    let r = call(&mut c, &mut xs, ops::read(0, b"/local/domain/1/data/x")).unwrap();
    assert_eq!(ops::parse_read(&r), Ok(&b""[..]));

    call(&mut c, &mut xs, ops::mkdir(0, b"data/a/c")).unwrap();
    call(&mut c, &mut xs, ops::mkdir(0, b"data/a/c")).unwrap();
    let r = call(&mut c, &mut xs, ops::directory(0, b"data/a")).unwrap();
    assert_eq!(ops::parse_directory(&r), Ok(DirectoryReply::Names(vec![&b"b"[..], &b"c"[..]])));
    let r = call(&mut c, &mut xs, ops::rm(0, b"data/a/b")).unwrap();
    ops::parse_ok(&r).unwrap();
    let r = call(&mut c, &mut xs, ops::directory(0, b"data/a")).unwrap();
    assert_eq!(ops::parse_directory(&r), Ok(DirectoryReply::Names(vec![&b"c"[..]])));
    // Removing a missing node is fine while its parent exists.
    let r = call(&mut c, &mut xs, ops::rm(0, b"data/a/b")).unwrap();
    assert_eq!(ops::parse_ok(&r), Ok(()));
    let r = call(&mut c, &mut xs, ops::rm(0, b"data/q/b")).unwrap();
    assert_eq!(ops::parse_ok(&r), Err(ClientError::Xs(XsErrno::ENOENT)));
    let r = call(&mut c, &mut xs, ops::directory(0, b"data/a/c")).unwrap();
    assert_eq!(ops::parse_directory(&r), Ok(DirectoryReply::Names(vec![])));

    let r = call(&mut c, &mut xs, ops::read(0, b"/bad//path")).unwrap();
    assert_eq!(r.result(), Err(XsErrno::EINVAL));

    // The domain owns what it created; it may change the list but not the owner.
    let perms = [Perm { kind: PermKind::None, domid: 1 }, Perm { kind: PermKind::Both, domid: 0 }];
    let r = call(&mut c, &mut xs, ops::set_perms(0, b"data/a/c", &perms)).unwrap();
    ops::parse_ok(&r).unwrap();
    assert_eq!(ops::set_perms(0, b"data/a/c", &perms).unwrap().payload, b"data/a/c\0n1\0b0\0");
    let r = call(&mut c, &mut xs, ops::get_perms(0, b"data/a/c")).unwrap();
    assert_eq!(r.payload(), b"n1\0b0\0");
    assert_eq!(ops::parse_perms(&r), Ok(perms.to_vec()));
    let give_away = [Perm { kind: PermKind::Read, domid: 0 }];
    let r = call(&mut c, &mut xs, ops::set_perms(0, b"data/a/c", &give_away)).unwrap();
    assert_eq!(ops::parse_ok(&r), Err(ClientError::Xs(XsErrno::EPERM)));
    let r = call(&mut c, &mut xs, ops::get_perms(0, b"data/zzz")).unwrap();
    assert_eq!(ops::parse_perms(&r), Err(ClientError::Xs(XsErrno::ENOENT)));

    let r = call(&mut c, &mut xs, ops::get_domain_path(7)).unwrap();
    assert_eq!(ops::parse_string(&r), Ok(&b"/local/domain/7"[..]));

    // An unknown type gets ENOSYS.
    let id = c.submit(MsgType(99), 0, b"x\0").unwrap();
    drive(&mut c, &mut xs);
    assert_eq!(c.take_reply(id).unwrap().unwrap().result(), Err(XsErrno::ENOSYS));
    assert_eq!(c.stats(), Stats::default());
}

#[test]
fn builders_reject_bad_arguments() {
    assert_eq!(ops::read(0, b"a\0b"), Err(ClientError::InvalidArgument));
    assert_eq!(ops::set_perms(0, b"/a", &[]), Err(ClientError::InvalidArgument));
    let long = vec![b'a'; PAYLOAD_MAX];
    assert_eq!(ops::read(0, &long), Err(ClientError::PayloadTooLarge { len: PAYLOAD_MAX + 1 }));
    assert_eq!(ops::write(0, b"/p", &long), Err(ClientError::PayloadTooLarge { len: PAYLOAD_MAX + 3 }));
    let mut c = ClientCore::default();
    assert_eq!(c.submit(MsgType::WRITE, 0, &[0; PAYLOAD_MAX + 1]), Err(ClientError::PayloadTooLarge { len: 4097 }));
    assert!(c.register_watch(b"a\0", b"t").is_err());
    assert_eq!(c.queued(), 0);
    assert_eq!(ops::transaction_start().payload, b"\0");
    assert_eq!(ops::transaction_end(5, true).payload, b"T\0");
    assert_eq!(ops::transaction_end(5, false).payload, b"F\0");
    assert_eq!(ops::transaction_end(5, false).tx_id, 5);
    assert_eq!(ops::directory_part(0, b"/d", 4093).unwrap().payload, b"/d\x004093\0");
    assert_eq!(Perm::parse(b"n65535"), Some(Perm { kind: PermKind::None, domid: 65535 }));
    assert_eq!(Perm::parse(b"w65536"), None);
    assert_eq!(Perm::parse(b"x1"), None);
    assert_eq!(Perm::parse(b"r"), None);
    assert_eq!(Perm::parse(b""), None);
}

#[test]
fn replies_out_of_order() {
    let (mut c, mut xs) = setup();
    for i in 0..10 {
        call(&mut c, &mut xs, ops::write(0, format!("data/k/{i}").as_bytes(), format!("v{i}").as_bytes())).unwrap();
    }
    c.take_completed();
    xs.set_hold(true);
    let ids: Vec<RequestId> =
        (0..10).map(|i| c.submit_request(&ops::read(0, format!("data/k/{i}").as_bytes()).unwrap()).unwrap()).collect();
    drive(&mut c, &mut xs);
    assert_eq!(xs.held(), 10);
    assert!(c.take_completed().is_empty());
    xs.release((0..10).rev());
    drive(&mut c, &mut xs);
    // One at a time, in completion order, then nothing.
    let done: Vec<RequestId> = core::iter::from_fn(|| c.pop_completed()).collect();
    let mut expect = ids.clone();
    expect.reverse();
    assert_eq!(done, expect);
    assert_eq!(c.pop_completed(), None);
    assert!(c.take_completed().is_empty());
    for (i, id) in ids.iter().enumerate() {
        let r = c.take_reply(*id).unwrap().unwrap();
        assert_eq!(r.payload(), format!("v{i}").as_bytes());
        assert!(c.take_reply(*id).is_none(), "handed out once");
    }
}

#[test]
fn quota_back_pressure() {
    let (mut c, mut xs) = setup();
    assert_eq!(c.config().max_in_flight, 20);
    xs.set_hold(true);
    let ids: Vec<RequestId> = (0..50)
        .map(|i| c.submit_request(&ops::write(0, format!("data/q/{i}").as_bytes(), b"x").unwrap()).unwrap())
        .collect();
    assert_eq!(c.queued(), 50);
    let mut done = Vec::new();
    let mut rounds = 0;
    while done.len() < 50 {
        drive(&mut c, &mut xs);
        assert!(xs.outstanding() <= 20);
        // Answer a few, oldest last, so quota frees up out of order.
        let n = xs.held().min(7);
        xs.release((0..n).rev());
        drive(&mut c, &mut xs);
        done.extend(c.take_completed());
        rounds += 1;
        assert!(rounds < 100);
    }
    assert_eq!(xs.max_outstanding(), 20, "quota was reached but never exceeded");
    assert_eq!(xs.log().len(), 50);
    done.sort();
    assert_eq!(done, ids);
    for id in ids {
        assert_eq!(ops::parse_ok(&c.take_reply(id).unwrap().unwrap()), Ok(()));
    }
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn max_in_flight_one_is_strictly_serial() {
    let mut c = ClientCore::new(Config { max_in_flight: 0, ..Config::default() });
    assert_eq!(c.config().max_in_flight, 1);
    let mut xs = Xenstored::new();
    xs.set_hold(true);
    for i in 0..5 {
        c.submit_request(&ops::write(0, format!("data/s/{i}").as_bytes(), b"").unwrap()).unwrap();
    }
    for _ in 0..5 {
        drive(&mut c, &mut xs);
        assert_eq!(xs.outstanding(), 1);
        xs.release([0]);
    }
    drive(&mut c, &mut xs);
    assert_eq!(c.take_completed().len(), 5);
}

#[test]
fn max_payload_round_trip_with_slow_server() {
    let (mut c, mut xs) = setup();
    xs.set_read_chunk(7);
    let path = b"data/big";
    let value: Vec<u8> = (0..PAYLOAD_MAX - path.len() - 1).map(|i| (i % 251) as u8).collect();
    let req = ops::write(0, path, &value).unwrap();
    assert_eq!(req.payload.len(), PAYLOAD_MAX);
    // xenstored takes the largest request whole, and refuses the value
    // (its entry quota is about 2 KiB).
    let r = call(&mut c, &mut xs, Ok(req)).unwrap();
    assert_eq!(r.result(), Err(XsErrno::ENOSPC));
    assert_eq!(xs.log().last().map(|h| h.len as usize), Some(PAYLOAD_MAX));
    // The largest reply: a value the toolstack wrote.
    let big: Vec<u8> = (0..PAYLOAD_MAX).map(|i| (i % 253) as u8).collect();
    xs.write("/local/domain/1/data/big", &big).unwrap();
    let r = call(&mut c, &mut xs, ops::read(0, path)).unwrap();
    assert_eq!(r.header().len as usize, PAYLOAD_MAX);
    assert_eq!(ops::parse_read(&r), Ok(&big[..]));
    // Two big requests in a row are not interleaved: the server parses both whole.
    let before = xs.log().len();
    let a = c.submit_request(&ops::write(0, b"data/b1", &value[5..]).unwrap()).unwrap();
    let b = c.submit_request(&ops::write(0, b"data/b2", &value[..4000]).unwrap()).unwrap();
    drive(&mut c, &mut xs);
    assert_eq!(c.take_reply(a).unwrap().unwrap().result(), Err(XsErrno::ENOSPC));
    assert_eq!(c.take_reply(b).unwrap().unwrap().result(), Err(XsErrno::ENOSPC));
    let lens: Vec<usize> = xs.log()[before..].iter().map(|h| h.len as usize).collect();
    assert_eq!(lens, [8 + value.len() - 5, 8 + 4000]);
}

#[test]
fn watch_events_go_to_the_right_watch() {
    let (mut c, mut xs) = setup();
    let (wa, ra) = c.register_watch(b"data/a", b"tok-a").unwrap();
    let (wb, rb) = c.register_watch(b"data/b", b"tok-b").unwrap();
    // Same user token and path for a second owner: no collision on the wire.
    let (wa2, _) = c.register_watch(b"data/a", b"tok-a").unwrap();
    assert_ne!(c.wire_token(wa), c.wire_token(wa2));
    drive(&mut c, &mut xs);
    assert!(ops::parse_ok(&c.take_reply(ra).unwrap().unwrap()).is_ok());
    assert!(ops::parse_ok(&c.take_reply(rb).unwrap().unwrap()).is_ok());
    assert_eq!(xs.watches().len(), 3);
    // The initial firing.
    assert_eq!(c.take_woken_watches(), vec![wa, wb, wa2]);
    assert_eq!(c.take_event(wa), Some(WatchEvent { path: b"data/a".to_vec(), token: b"tok-a".to_vec() }));
    assert_eq!(c.take_event(wb), Some(WatchEvent { path: b"data/b".to_vec(), token: b"tok-b".to_vec() }));
    assert!(c.take_event(wa2).is_some());
    assert_eq!(c.take_event(wa), None);

    call(&mut c, &mut xs, ops::write(0, b"data/a/x", b"1")).unwrap();
    assert_eq!(c.take_woken_watches(), vec![wa, wa2]);
    assert_eq!(c.take_event(wa).unwrap().path, b"data/a/x");
    assert_eq!(c.take_event(wa2).unwrap().path, b"data/a/x");
    assert_eq!(c.pending_events(wb), 0);
    call(&mut c, &mut xs, ops::write(0, b"data/b", b"1")).unwrap();
    call(&mut c, &mut xs, ops::write(0, b"data/bb", b"1")).unwrap();
    assert_eq!(c.take_woken_watches(), vec![wb]);
    assert_eq!(c.take_event(wb).unwrap().path, b"data/b");
    assert_eq!(c.take_event(wb), None);
    assert_eq!(c.stats(), Stats::default());
}

#[test]
fn events_of_a_removed_watch_are_dropped() {
    let (mut c, mut xs) = setup();
    let (w, _) = c.register_watch(b"data/w", b"t").unwrap();
    drive(&mut c, &mut xs);
    assert_eq!(c.pending_events(w), 1);
    // One event already queued here, one still in the ring.
    c.submit_request(&ops::write(0, b"data/w/1", b"").unwrap()).unwrap();
    c.pump_out(xs.page()).unwrap();
    xs.step();
    let un = c.unregister_watch(w).expect("was registered");
    assert_eq!(c.pending_events(w), 0);
    assert_eq!(c.take_event(w), None);
    drive(&mut c, &mut xs);
    assert_eq!(c.take_event(w), None);
    assert!(c.take_woken_watches().is_empty());
    assert_eq!(c.stats().unknown_watch_events, 1);
    assert!(ops::parse_ok(&c.take_reply(un).unwrap().unwrap()).is_ok());
    assert!(xs.watches().is_empty());
    assert!(!c.watch_is_registered(w));
    // Later changes: nothing.
    call(&mut c, &mut xs, ops::write(0, b"data/w/2", b"")).unwrap();
    assert_eq!(c.stats().unknown_watch_events, 1);
}

#[test]
fn unregister_twice_is_harmless() {
    let (mut c, mut xs) = setup();
    let (w, _) = c.register_watch(b"data/w", b"t").unwrap();
    drive(&mut c, &mut xs);
    let first = c.unregister_watch(w);
    assert!(first.is_some());
    assert_eq!(c.unregister_watch(w), None);
    drive(&mut c, &mut xs);
    assert_eq!(c.unregister_watch(w), None);
    let unwatches = xs.log().iter().filter(|h| h.ty == MsgType::UNWATCH.0).count();
    assert_eq!(unwatches, 1);
    assert!(c.take_reply(first.unwrap()).unwrap().is_ok());
    // Unregistering before the registration was even sent works too.
    let (w2, r2) = c.register_watch(b"data/v", b"t").unwrap();
    let u2 = c.unregister_watch(w2).unwrap();
    drive(&mut c, &mut xs);
    assert!(c.take_reply(r2).unwrap().is_ok());
    assert!(c.take_reply(u2).unwrap().is_ok());
    assert!(xs.watches().is_empty());
    // Events fired at registration were dropped.
    assert_eq!(c.take_event(w2), None);
}

#[test]
fn refused_watch_is_removed() {
    let (mut c, mut xs) = setup();
    let (w, r) = c.register_watch(b"", b"t").unwrap();
    drive(&mut c, &mut xs);
    assert_eq!(c.take_reply(r).unwrap().unwrap().result(), Err(XsErrno::EINVAL));
    assert!(!c.watch_is_registered(w));
    assert_eq!(c.unregister_watch(w), None);
}

#[test]
fn malformed_peer_input() {
    // Oversized header: reported once; the connection then fails: the
    // request in flight and one still queued are answered, new ones are
    // refused at once, and nothing touches the ring until reset.
    let (mut c, mut xs) = setup();
    let id = c.submit_request(&ops::read(0, b"data/x").unwrap()).unwrap();
    c.pump_out(xs.page()).unwrap();
    xs.raw_send(&MsgHeader { ty: MsgType::READ.0, req_id: 1, tx_id: 0, len: 5000 }.to_bytes());
    assert_eq!(c.pump_in(xs.page()), Err(RingError::Oversized { len: 5000 }));
    assert_eq!(c.take_completed(), vec![id]);
    assert_eq!(c.take_reply(id), Some(Err(ClientError::ConnectionLost)));
    assert_eq!(c.failure(), Some(ClientError::ConnectionLost));
    assert_eq!(c.pump_in(xs.page()), Ok((false, false)));
    assert_eq!(c.submit_request(&ops::read(0, b"data/y").unwrap()), Err(ClientError::ConnectionLost));
    let before = xs.indices();
    assert_eq!(c.pump_out(xs.page()), Ok(false));
    assert_eq!(xs.indices(), before);
    c.reset();
    assert_eq!(c.failure(), None);

    // Unmatched replies, malformed and unknown events: dropped and counted.
    let (mut c, mut xs) = setup();
    let mut junk = build_message(MsgType::READ, 0xabcd, 0, b"nobody asked");
    junk.extend(build_message(MsgType::ERROR, 77, 0, b"EWHAT\0"));
    junk.extend(build_message(MsgType::WATCH_EVENT, 0, 0, b"no-nul-at-all"));
    junk.extend(build_message(MsgType::WATCH_EVENT, 0, 0, b"data/path\0token-without-nul"));
    junk.extend(build_message(MsgType::WATCH_EVENT, 0, 0, b""));
    junk.extend(build_message(MsgType::WATCH_EVENT, 0, 0, b"data/p\0xsc999\0"));
    junk.extend(build_message(MsgType(0xffff_ffff), 3, 3, &[0xff; 100]));
    xs.raw_send(&junk);
    c.pump_in(xs.page()).unwrap();
    assert_eq!(
        c.stats(),
        Stats { unmatched_replies: 3, malformed_events: 3, unknown_watch_events: 1, ..Stats::default() }
    );
    // The client still works.
    let r = call(&mut c, &mut xs, ops::write(0, b"data/ok", b"1")).unwrap();
    assert!(ops::parse_ok(&r).is_ok());

    // Corrupt indices on either ring, found by the reader, by pump_out, or
    // on the direct submit path: each fails the connection and answers
    // what was accepted.
    let (mut c, xs) = setup();
    let q = c.submit_request(&ops::read(0, b"data/q").unwrap()).unwrap();
    xs.page().set_indices(0, 0, 5, 5 + 2000);
    assert!(matches!(c.pump_in(xs.page()), Err(RingError::Corrupt { .. })));
    assert_eq!(c.take_reply(q), Some(Err(ClientError::ConnectionLost)));
    let (mut c, xs) = setup();
    xs.page().set_indices(100, 99, 0, 0);
    let q = c.submit_request(&ops::read(0, b"data/x").unwrap()).unwrap();
    assert!(matches!(c.pump_out(xs.page()), Err(RingError::Corrupt { .. })));
    assert_eq!(c.take_reply(q), Some(Err(ClientError::ConnectionLost)));
    let (mut c, xs) = setup();
    xs.page().set_indices(5000, 0, 0, 0);
    let req = ops::read(0, b"data/x").unwrap();
    let r = c.submit_with(Outgoing::Request(&req), kcore::budget::Charge::none(), Some(xs.page()));
    assert!(matches!(r, Err(ClientError::Ring(RingError::Corrupt { ring: xs_ring::RingKind::Request, .. }))));
    assert_eq!(c.failure(), Some(ClientError::ConnectionLost));

    // Malformed replies to typed requests.
    let hdr = |ty: MsgType| MsgHeader { ty: ty.0, ..MsgHeader::default() };
    let bad = Reply::new(hdr(MsgType::TRANSACTION_START), b"x7\0".to_vec());
    assert_eq!(ops::parse_transaction_start(&bad), Err(ClientError::BadReply));
    let bad = Reply::new(hdr(MsgType::TRANSACTION_START), b"99999999999\0".to_vec());
    assert_eq!(ops::parse_transaction_start(&bad), Err(ClientError::BadReply));
    let bad = Reply::new(hdr(MsgType::TRANSACTION_START), b"0\0".to_vec());
    assert_eq!(ops::parse_transaction_start(&bad), Err(ClientError::BadReply));
    let bad = Reply::new(hdr(MsgType::GET_PERMS), b"b0\0q1\0".to_vec());
    assert_eq!(ops::parse_perms(&bad), Err(ClientError::BadReply));
    let bad = Reply::new(hdr(MsgType::GET_PERMS), Vec::new());
    assert_eq!(ops::parse_perms(&bad), Err(ClientError::BadReply));
    for p in [&b""[..], b"12", b"x\0a\0\0", b"1\0a\0\0b\0", b"1\0a", b"1\0"] {
        let bad = Reply::new(hdr(MsgType::DIRECTORY_PART), p.to_vec());
        assert_eq!(ops::parse_directory_part(&bad), Err(ClientError::BadReply), "{p:?}");
    }
}

#[test]
fn submit_raw_restores_the_callers_req_id() {
    let (mut c, mut xs) = setup();
    let msg = build_message(MsgType::WRITE, 0xfeed, 0, b"data/raw\0value");
    let id = c.submit_raw(&msg).unwrap();
    let msg2 = build_message(MsgType::READ, 0xfeed, 0, b"data/raw\0");
    let id2 = c.submit_raw(&msg2).unwrap();
    drive(&mut c, &mut xs);
    // The wire carried our own, distinct ids.
    assert_ne!(xs.log()[0].req_id, xs.log()[1].req_id);
    let r = c.take_reply(id).unwrap().unwrap();
    assert_eq!(r.header().req_id, 0xfeed);
    let r2 = c.take_reply(id2).unwrap().unwrap();
    assert_eq!(r2.header().req_id, 0xfeed);
    assert_eq!(r2.bytes(), build_message(MsgType::READ, 0xfeed, 0, b"value"));

    assert_eq!(c.submit_raw(&msg[..15]), Err(ClientError::BadMessage));
    assert_eq!(c.submit_raw(&msg[..msg.len() - 1]), Err(ClientError::BadMessage));
    let mut long = msg.clone();
    long.push(0);
    assert_eq!(c.submit_raw(&long), Err(ClientError::BadMessage));
    let huge = build_message(MsgType::WRITE, 1, 0, &[b'a'; PAYLOAD_MAX + 1]);
    assert_eq!(c.submit_raw(&huge), Err(ClientError::PayloadTooLarge { len: PAYLOAD_MAX + 1 }));
}

#[test]
fn forget_drops_the_reply() {
    let (mut c, mut xs) = setup();
    let a = c.submit_request(&ops::write(0, b"data/f", b"1").unwrap()).unwrap();
    let b = c.submit_request(&ops::read(0, b"data/f").unwrap()).unwrap();
    c.forget(a);
    assert!(c.is_pending(b));
    drive(&mut c, &mut xs);
    assert_eq!(c.take_completed(), vec![b]);
    assert!(c.take_reply(a).is_none());
    c.forget(b);
    assert!(c.take_reply(b).is_none());
    assert!(!c.is_pending(b));
    assert_eq!(c.stats(), Stats::default());
}

#[test]
fn reset_fails_requests_and_requeues_watches() {
    use xs_ring::{reconnect_done, request_reconnect};
    let page = MemPage::with_indices(u32::MAX - 40, 12345);
    page.set_server_features(xen_sys::XENSTORE_SERVER_FEATURE_RECONNECTION);
    let mut xs = Xenstored::with_page(page);
    let mut c = ClientCore::default();
    let (w1, _) = c.register_watch(b"data/one", b"t1").unwrap();
    let (w2, _) = c.register_watch(b"data/two", b"t2").unwrap();
    let (w3, _) = c.register_watch(b"data/three", b"t3").unwrap();
    drive(&mut c, &mut xs);
    c.take_completed();
    c.unregister_watch(w3).unwrap();
    let tx = ops::parse_transaction_start(&call(&mut c, &mut xs, Ok(ops::transaction_start())).unwrap()).unwrap();
    c.take_completed();
    // Requests in flight and queued.
    xs.set_hold(true);
    let mut ids: Vec<RequestId> =
        (0..25).map(|i| c.submit_request(&ops::read(tx, format!("data/r{i}").as_bytes()).unwrap()).unwrap()).collect();
    ids.push(c.submit_request(&ops::write(0, b"data/big", &[7; 3000]).unwrap()).unwrap());
    drive(&mut c, &mut xs);
    assert_eq!(c.in_flight(), 20);
    assert_eq!(c.queued(), 6);

    // The kernel's reconnection: request, server resets, then reset().
    assert!(request_reconnect(xs.page()));
    xs.reconnect();
    assert!(reconnect_done(xs.page()));
    c.reset();
    assert_eq!(c.in_flight(), 0);
    assert_eq!(c.take_completed(), ids, "every request failed, in submission order");
    for id in &ids {
        assert_eq!(c.take_reply(*id), Some(Err(ClientError::Reconnected)));
    }
    // The two remaining watches are registered again, with the same wire tokens.
    xs.set_hold(false);
    let before = xs.log().len();
    drive(&mut c, &mut xs);
    let rewatch: Vec<&MsgHeader> = xs.log()[before..].iter().filter(|h| h.ty == MsgType::WATCH.0).collect();
    assert_eq!(rewatch.len(), 2);
    assert_eq!(xs.watches().len(), 2);
    assert!(xs.watches().iter().any(|w| w.path() == "data/one" && w.token == c.wire_token(w1).unwrap()));
    assert!(c.take_completed().is_empty(), "re-registration replies are internal");
    // Events queued before the reset stay; the re-registration fires again.
    assert_eq!(c.pending_events(w1), 2);
    assert_eq!(c.pending_events(w2), 2);
    while c.take_event(w2).is_some() {}
    assert_eq!(c.take_event(w3), None);
    call(&mut c, &mut xs, ops::write(0, b"data/two/x", b"")).unwrap();
    assert_eq!(c.take_event(w2).unwrap().path, b"data/two/x");
    // The old transaction is gone.
    let r = call(&mut c, &mut xs, Ok(ops::transaction_end(tx, true))).unwrap();
    assert_eq!(r.result(), Err(XsErrno::ENOENT));
}

#[test]
fn reset_discards_partial_messages() {
    let (mut c, mut xs) = setup();
    xs.page().set_server_features(xen_sys::XENSTORE_SERVER_FEATURE_RECONNECTION);
    // The server stalls: a big request is only partly written.
    xs.set_read_chunk(0);
    let big = c.submit_request(&ops::write(0, b"data/big", &[1; 3000]).unwrap()).unwrap();
    assert!(c.pump_out(xs.page()).unwrap());
    assert!(c.has_output());
    // And half a reply header is in the response queue.
    xs.raw_send(&build_message(MsgType::READ, 1, 0, b"abc")[..9]);
    c.pump_in(xs.page()).unwrap();
    assert!(xs_ring::request_reconnect(xs.page()));
    xs.reconnect();
    c.reset();
    assert!(!c.has_output());
    assert_eq!(c.take_reply(big), Some(Err(ClientError::Reconnected)));
    // Both streams restart on a message boundary.
    xs.set_read_chunk(usize::MAX);
    let r = call(&mut c, &mut xs, ops::write(0, b"data/after", b"ok")).unwrap();
    assert!(ops::parse_ok(&r).is_ok());
    assert_eq!(call(&mut c, &mut xs, ops::read(0, b"data/after")).unwrap().payload(), b"ok");
    assert_eq!(c.stats(), Stats::default());
}

#[test]
fn transactions_retry_on_conflict() {
    let (mut c, mut xs) = setup();
    call(&mut c, &mut xs, ops::write(0, b"data/counter", b"0")).unwrap();
    let mut retry = TransactionRetry::new(5);
    let mut conflicts_left = 2;
    loop {
        let tx = ops::parse_transaction_start(&call(&mut c, &mut xs, Ok(ops::transaction_start())).unwrap()).unwrap();
        assert_ne!(tx, 0);
        let v = call(&mut c, &mut xs, ops::read(tx, b"data/counter")).unwrap();
        let n: u32 = std::str::from_utf8(ops::parse_read(&v).unwrap()).unwrap().parse().unwrap();
        call(&mut c, &mut xs, ops::write(tx, b"data/counter", format!("{}", n + 1).as_bytes())).unwrap();
        if conflicts_left > 0 {
            // Someone else writes the counter meanwhile (the same value: a
            // write is a change). A change elsewhere would not conflict.
            conflicts_left -= 1;
            call(&mut c, &mut xs, ops::write(0, b"data/other", b"x")).unwrap();
            call(&mut c, &mut xs, ops::write(0, b"data/counter", b"0")).unwrap();
        }
        let end = call(&mut c, &mut xs, Ok(ops::transaction_end(tx, true)));
        match retry.on_end(&end) {
            TxDecision::Committed => break,
            TxDecision::Retry => continue,
            TxDecision::Fail(e) => panic!("{e}"),
        }
    }
    assert_eq!(retry.attempts(), 3);
    let r = call(&mut c, &mut xs, ops::read(0, b"data/counter")).unwrap();
    assert_eq!(r.payload(), b"1");

    // Abort, bad id, nesting.
    let tx = ops::parse_transaction_start(&call(&mut c, &mut xs, Ok(ops::transaction_start())).unwrap()).unwrap();
    call(&mut c, &mut xs, ops::write(tx, b"data/counter", b"99")).unwrap();
    let end = call(&mut c, &mut xs, Ok(ops::transaction_end(tx, false))).unwrap();
    assert!(ops::parse_ok(&end).is_ok());
    assert_eq!(call(&mut c, &mut xs, ops::read(0, b"data/counter")).unwrap().payload(), b"1");
    let end = call(&mut c, &mut xs, Ok(ops::transaction_end(tx, true)));
    assert_eq!(TransactionRetry::new(3).on_end(&end), TxDecision::Fail(ClientError::Xs(XsErrno::ENOENT)));

    // The retry budget runs out; a reset counts as retryable.
    let mut r = TransactionRetry::new(2);
    let eagain =
        Ok(Reply::new(MsgHeader { ty: MsgType::ERROR.0, ..MsgHeader::default() }, XsErrno::EAGAIN.payload().to_vec()));
    assert_eq!(r.on_end(&Err(ClientError::Reconnected)), TxDecision::Retry);
    assert_eq!(r.on_end(&eagain), TxDecision::Fail(ClientError::Xs(XsErrno::EAGAIN)));
}

#[test]
fn long_directory_is_paged() {
    let (mut c, mut xs) = setup();
    let names: Vec<String> = (0..400).map(|i| format!("child-{i:05}")).collect();
    // The domain could not make it: the directory's record would pass the
    // entry quota. The toolstack can.
    for n in &names {
        xs.mkdir(&format!("/local/domain/1/data/big/{n}")).unwrap();
    }
    let r = call(&mut c, &mut xs, ops::mkdir(0, b"data/big/one-more")).unwrap();
    assert_eq!(r.result(), Err(XsErrno::ENOSPC));
    let r = call(&mut c, &mut xs, ops::directory(0, b"data/big")).unwrap();
    assert_eq!(ops::parse_directory(&r), Ok(DirectoryReply::NeedsPaging));

    let mut pager = ops::DirectoryPager::new(0, b"data/big");
    let mut parts = 0;
    let mut changed = false;
    let got = loop {
        let r = call(&mut c, &mut xs, pager.next_request()).unwrap();
        parts += 1;
        match pager.on_reply(&r).unwrap() {
            PagerStep::More => {}
            PagerStep::Done(v) => break v,
        }
        if !changed {
            // The directory changes between two parts: the pager restarts.
            changed = true;
            call(&mut c, &mut xs, ops::rm(0, b"data/big/child-00000")).unwrap();
        }
    };
    let expect: Vec<Vec<u8>> = names[1..].iter().map(|n| n.as_bytes().to_vec()).collect();
    assert_eq!(got, expect);
    assert!(parts >= 4, "restart plus at least two parts: {parts}");

    // A short list is a single part.
    let mut pager = ops::DirectoryPager::new(0, b"data/big/child-00001");
    let r = call(&mut c, &mut xs, pager.next_request()).unwrap();
    assert_eq!(pager.on_reply(&r), Ok(PagerStep::Done(vec![])));
    // Missing node.
    let mut pager = ops::DirectoryPager::new(0, b"data/nope");
    let r = call(&mut c, &mut xs, pager.next_request()).unwrap();
    assert_eq!(pager.on_reply(&r), Err(ClientError::Xs(XsErrno::ENOENT)));
}

#[test]
fn watch_event_queue_is_bounded() {
    let mut c = ClientCore::new(Config { max_queued_events: 3, ..Config::default() });
    let mut xs = Xenstored::new();
    let (w, _) = c.register_watch(b"data/e", b"t").unwrap();
    drive(&mut c, &mut xs);
    for i in 0..5 {
        call(&mut c, &mut xs, ops::write(0, format!("data/e/{i}").as_bytes(), b"")).unwrap();
    }
    assert_eq!(c.pending_events(w), 3);
    assert_eq!(c.stats().overflowed_events, 3);
    assert_eq!(c.take_event(w).unwrap().path, b"data/e/2");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any mix of sizes, quota and reply order: every request gets its own reply.
    #[test]
    fn every_request_gets_its_own_reply(
        sizes in proptest::collection::vec(0usize..3000, 1..40),
        max_in_flight in 1usize..25,
        seed in any::<u64>(),
        start in any::<u32>(),
    ) {
        let mut c = ClientCore::new(Config { max_in_flight, ..Config::default() });
        let mut xs = Xenstored::with_page(MemPage::with_indices(start, start.wrapping_mul(7)));
        xs.set_hold(true);
        let ids: Vec<(RequestId, usize)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let v = vec![(i % 256) as u8; n];
                (c.submit_request(&ops::write(0, format!("data/p/{i}").as_bytes(), &v).unwrap()).unwrap(), i)
            })
            .collect();
        let mut rng = seed;
        let mut done = 0;
        while done < ids.len() {
            drive(&mut c, &mut xs);
            prop_assert!(xs.outstanding() <= max_in_flight);
            // Release the held replies in a pseudo-random order.
            let mut order: Vec<usize> = (0..xs.held()).collect();
            for k in (1..order.len()).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(k, (rng >> 33) as usize % (k + 1));
            }
            let take = order.len().min(1 + (rng as usize % 5));
            xs.release(order[..take].iter().copied());
            drive(&mut c, &mut xs);
            done += c.take_completed().len();
        }
        xs.set_hold(false);
        for (id, i) in ids {
            // A leaf's record is 24 + 8 bytes plus the value; the entry
            // quota refuses records of 2048 bytes or more.
            let fits = 32 + sizes[i] < xs_sim::quota::ENTRY_SIZE;
            let r = call(&mut c, &mut xs, ops::read(0, format!("data/p/{i}").as_bytes())).unwrap();
            let written = ops::parse_ok(&c.take_reply(id).unwrap().unwrap());
            if fits {
                prop_assert_eq!(written, Ok(()));
                prop_assert_eq!(r.payload(), &vec![(i % 256) as u8; sizes[i]][..]);
            } else {
                prop_assert_eq!(written, Err(ClientError::Xs(XsErrno::ENOSPC)));
                prop_assert_eq!(r.result(), Err(XsErrno::ENOENT));
            }
        }
        prop_assert_eq!(c.stats(), Stats::default());
    }

    /// Arbitrary bytes from the peer never panic the client.
    #[test]
    fn garbage_from_the_peer_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 1..8),
        small_len in any::<bool>(),
    ) {
        let mut c = ClientCore::default();
        let mut xs = Xenstored::new();
        c.register_watch(b"data/w", b"t").unwrap();
        c.submit_request(&ops::read(0, b"data/x").unwrap()).unwrap();
        c.pump_out(xs.page()).unwrap();
        for mut chunk in chunks {
            if small_len && chunk.len() >= 16 {
                let len = (chunk[12] as u32) % 64;
                chunk[12..16].copy_from_slice(&len.to_le_bytes());
            }
            xs.raw_send(&chunk);
            if c.pump_in(xs.page()).is_err() {
                c.reset();
                xs.reconnect();
            }
        }
    }
}

mod budget_and_copies {
    use super::*;
    use kcore::budget::{Budget, Charge};

    fn budget(limit: usize) -> &'static Budget {
        let b: &'static Budget = Box::leak(Box::new(Budget::new("xs", None)));
        b.set_limit(limit);
        b
    }

    #[test]
    fn direct_submit_goes_onto_the_ring_and_the_reply_keeps_its_charge() {
        let (mut c, mut xs) = setup();
        let b = budget(1 << 20);
        let req = ops::write(0, b"data/d", b"direct").unwrap();
        let charge = b.try_charge(charge_for(req.payload.len())).unwrap();
        let s = c.submit_with(Outgoing::Request(&req), charge, Some(xs.page())).unwrap();
        assert!(s.notify, "bytes went onto the ring at once");
        assert_eq!(c.queued(), 0);
        assert_eq!(c.in_flight(), 1);
        assert_eq!(b.used(), REPLY_RESERVE, "the request's own bytes are released once on the ring");
        xs.step();
        c.pump_in(xs.page()).unwrap();
        let r = c.take_reply(s.id).unwrap().unwrap();
        assert_eq!(b.used(), r.bytes().len() + REPLY_OVERHEAD, "shrunk to the reply's size");
        let (bytes, charge) = r.into_parts();
        assert_eq!(bytes, build_message(MsgType::WRITE, 1, 0, b"OK\0"));
        drop(charge);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn direct_submit_stages_what_does_not_fit_and_never_interleaves() {
        let (mut c, mut xs) = setup();
        let big = vec![b'x'; 3000];
        // Too big for the domain's entry quota; the toolstack puts it there.
        xs.write("/local/domain/1/data/big", &big).unwrap();
        let r1 = ops::write(0, b"data/big", &big).unwrap();
        let s1 = c.submit_with(Outgoing::Request(&r1), Charge::none(), Some(xs.page())).unwrap();
        // The ring holds 1024 bytes: the rest is staged, and a second
        // request queues behind it rather than going onto the ring.
        let r2 = ops::read(0, b"data/big").unwrap();
        let s2 = c.submit_with(Outgoing::Request(&r2), Charge::none(), Some(xs.page())).unwrap();
        assert!(!s2.notify);
        assert_eq!(c.queued(), 1);
        drive(&mut c, &mut xs);
        assert_eq!(c.take_reply(s1.id).unwrap().unwrap().result(), Err(XsErrno::ENOSPC));
        let got = c.take_reply(s2.id).unwrap().unwrap();
        assert_eq!(got.payload(), &big[..]);
        assert_eq!(xs.log().iter().map(|h| h.len as usize).collect::<Vec<_>>(), [9 + 3000, 9]);
    }

    #[test]
    fn raw_direct_submit_restores_the_callers_req_id() {
        let (mut c, mut xs) = setup();
        let msg = build_message(MsgType::READ, 0xabcdef, 0, b"data/nope\0");
        let s = c.submit_with(Outgoing::Raw(&msg), Charge::none(), Some(xs.page())).unwrap();
        drive(&mut c, &mut xs);
        let r = c.take_reply(s.id).unwrap().unwrap();
        assert_eq!(r.bytes(), &build_message(MsgType::ERROR, 0xabcdef, 0, b"ENOENT\0")[..]);
    }

    #[test]
    fn full_local_queue_is_busy() {
        let mut c = ClientCore::new(Config { max_queued: 3, max_in_flight: 1, ..Config::default() });
        for _ in 0..3 {
            c.submit_request(&ops::read(0, b"data/a").unwrap()).unwrap();
        }
        assert_eq!(c.submit_request(&ops::read(0, b"data/a").unwrap()), Err(ClientError::Busy));
        assert_eq!(c.stats().refused_busy, 1);
    }

    #[test]
    fn reply_without_memory_still_answers_the_request() {
        let (mut c, mut xs) = setup();
        call(&mut c, &mut xs, ops::write(0, b"data/m", &[b'v'; 2000])).unwrap();
        let id = c.submit_request(&ops::read(0, b"data/m").unwrap()).unwrap();
        c.set_fail_allocations(true);
        drive(&mut c, &mut xs);
        assert_eq!(c.take_reply(id), Some(Err(ClientError::NoMemory)));
        assert_eq!(c.stats().dropped_for_memory, 1);
        c.set_fail_allocations(false);
        let r = call(&mut c, &mut xs, ops::read(0, b"data/m")).unwrap();
        assert_eq!(r.payload().len(), 2000, "the stream stayed in sync");
    }

    #[test]
    fn failing_answers_everything_exactly_once() {
        let (mut c, mut xs) = setup();
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(c.submit_request(&ops::read(0, format!("data/n{i}").as_bytes()).unwrap()).unwrap());
        }
        c.pump_out(xs.page()).unwrap();
        xs.step();
        c.fail(ClientError::ConnectionLost);
        let done = c.take_completed();
        assert_eq!(done, ids, "every request, in submission order");
        for id in ids {
            assert_eq!(c.take_reply(id), Some(Err(ClientError::ConnectionLost)));
        }
        // Replies that were already on the ring are not read any more.
        c.pump_in(xs.page()).unwrap();
        assert!(c.take_completed().is_empty());
    }

    #[test]
    fn errno_of_each_error() {
        assert_eq!(ClientError::ConnectionLost.errno(), XsErrno::EIO);
        assert_eq!(ClientError::NoMemory.errno(), XsErrno::ENOMEM);
        assert_eq!(ClientError::Busy.errno(), XsErrno::ENOMEM);
        assert_eq!(ClientError::Xs(XsErrno::EACCES).errno(), XsErrno::EACCES);
        assert_eq!(ClientError::Reconnected.errno(), XsErrno::EAGAIN);
    }
}

#[test]
fn submit_path_checks_the_response_ring_too() {
    let (mut c, xs) = setup();
    let q = c.submit_request(&ops::read(0, b"data/q").unwrap()).unwrap();
    xs.page().set_indices(0, 0, 7, 7 + 65536);
    let req = ops::read(0, b"data/x").unwrap();
    let r = c.submit_with(Outgoing::Request(&req), kcore::budget::Charge::none(), Some(xs.page()));
    assert!(matches!(r, Err(ClientError::Ring(RingError::Corrupt { ring: xs_ring::RingKind::Response, .. }))));
    assert_eq!(c.take_reply(q), Some(Err(ClientError::ConnectionLost)));
}
