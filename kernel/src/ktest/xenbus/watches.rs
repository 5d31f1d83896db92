//! Watches and their events (probes F).
use super::*;

// ---------------------------------------------------------------------------
// f. Watches

fn watch_ok_and_initial_event() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_rm("data/xb/w1")?;
    // F1: OK echoing the header, and the initial firing (either order),
    // even though the node does not exist.
    send(&p, fd, &msg(XS_WATCH, 0xf1000001, 0, &pt("data/xb/w1", b"tok1")))?;
    recv_any_order(&p, fd, &[ok(XS_WATCH, 0xf1000001, 0), event("data/xb/w1", b"tok1")])?;
    barrier()?;
    quiet(&p, fd, 0)?;
    Ok(())
}

fn watch_unwatch_ok_echo_tx_id() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // F2: a WATCH with a tx_id this open does not own is not checked; the OK
    // carries the tx_id.
    send(&p, fd, &msg(XS_WATCH, 0xf2000001, 0x12345678, &pt("data/xb/w2", b"tok2")))?;
    recv_any_order(&p, fd, &[ok(XS_WATCH, 0xf2000001, 0x12345678), event("data/xb/w2", b"tok2")])?;
    // F5: same for UNWATCH.
    let r = rpc(&p, fd, &msg(XS_UNWATCH, 0xf5000001, 0x55, &pt("data/xb/w2", b"tok2")))?;
    check_bytes!(r, ok(XS_UNWATCH, 0xf5000001, 0x55));
    Ok(())
}

fn watch_event_after_dom0_write() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    watch(&p, fd, 0xf3000001, "data/xb/w3", b"tok3")?;
    check_ok!(dom0::write("data/xb/w3", "from-dom0"));
    // The event: user token, req_id = tx_id = 0.
    let r = recv(&p, fd)?;
    check_bytes!(r, event("data/xb/w3", b"tok3"));
    check_bytes!(r[4..12], [0u8; 8]);
    // And the value is there.
    let r = rpc(&p, fd, &msg(XS_READ, 0xf3000002, 0, &z("data/xb/w3")))?;
    check_bytes!(r, msg(XS_READ, 0xf3000002, 0, b"from-dom0"));
    // A write through another descriptor fires it too.
    setup_write("data/xb/w3", b"again")?;
    let r = recv(&p, fd)?;
    check_bytes!(r, event("data/xb/w3", b"tok3"));
    Ok(())
}

fn watch_token_bytes_preserved() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // F11: any bytes in the token come back exactly; the token never
    // reaches xenstored.
    let tok: &[u8] = b"\xff\x01 x";
    watch(&p, fd, 0xf1100001, "data/xb/w11", tok)?;
    setup_write("data/xb/w11", b"v")?;
    let r = recv(&p, fd)?;
    check_bytes!(r, event("data/xb/w11", tok));
    // A long token.
    let long = vec![b'T'; 1000];
    watch(&p, fd, 0xf1100002, "data/xb/w11", &long)?;
    setup_write("data/xb/w11", b"w")?;
    recv_any_order(&p, fd, &[event("data/xb/w11", tok), event("data/xb/w11", &long)])?;
    Ok(())
}

fn watch_special_path_release_domain() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // F11: @releaseDomain is accepted and fires once at registration.
    watch(&p, fd, 0xf1100003, "@releaseDomain", b"rd")?;
    barrier()?;
    quiet(&p, fd, 0)?;
    let r = rpc(&p, fd, &msg(XS_UNWATCH, 0xf1100004, 0, &pt("@releaseDomain", b"rd")))?;
    check_bytes!(r, ok(XS_UNWATCH, 0xf1100004, 0));
    Ok(())
}

fn duplicate_watches_fire_twice() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // F4: the same path and token twice: two watches.
    watch(&p, fd, 0xf4000001, "data/xb/w4", b"tok1")?;
    watch(&p, fd, 0xf4000002, "data/xb/w4", b"tok1")?;
    setup_write("data/xb/w4", b"1")?;
    let e = event("data/xb/w4", b"tok1");
    recv_any_order(&p, fd, &[e.clone(), e.clone()])?;
    barrier()?;
    quiet(&p, fd, 0)?;
    // F5: UNWATCH removes one of them.
    let r = rpc(&p, fd, &msg(XS_UNWATCH, 0xf5000002, 0, &pt("data/xb/w4", b"tok1")))?;
    check_bytes!(r, ok(XS_UNWATCH, 0xf5000002, 0));
    setup_write("data/xb/w4", b"2")?;
    let r = recv(&p, fd)?;
    check_bytes!(r, e);
    barrier()?;
    quiet(&p, fd, 0)?;
    Ok(())
}

fn same_watch_on_two_descriptors() -> TestResult {
    let p = Program::new();
    let a = open_xb(&p)?;
    let b = open_xb(&p)?;
    // F12: each descriptor gets its own event.
    watch(&p, a, 0xf1200001, "data/xb/w12", b"tok")?;
    watch(&p, b, 0xf1200002, "data/xb/w12", b"tok")?;
    setup_write("data/xb/w12", b"x")?;
    check_bytes!(recv(&p, a)?, event("data/xb/w12", b"tok"));
    check_bytes!(recv(&p, b)?, event("data/xb/w12", b"tok"));
    // Removing it from one leaves the other.
    let r = rpc(&p, a, &msg(XS_UNWATCH, 0xf1200003, 0, &pt("data/xb/w12", b"tok")))?;
    check_bytes!(r, ok(XS_UNWATCH, 0xf1200003, 0));
    setup_write("data/xb/w12", b"y")?;
    check_bytes!(recv(&p, b)?, event("data/xb/w12", b"tok"));
    barrier()?;
    quiet(&p, a, 0)?;
    Ok(())
}

fn unwatch_unknown_is_ok() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // F6: nothing registered.
    let r = rpc(&p, fd, &msg(XS_UNWATCH, 0xf6000001, 0, &pt("data/xb/none", b"tok")))?;
    check_bytes!(r, ok(XS_UNWATCH, 0xf6000001, 0));
    // F6b: the right path with the wrong token removes nothing.
    watch(&p, fd, 0xf6000002, "data/xb/w6", b"tok")?;
    let r = rpc(&p, fd, &msg(XS_UNWATCH, 0xf6000003, 0, &pt("data/xb/w6", b"other")))?;
    check_bytes!(r, ok(XS_UNWATCH, 0xf6000003, 0));
    setup_write("data/xb/w6", b"still")?;
    check_bytes!(recv(&p, fd)?, event("data/xb/w6", b"tok"));
    Ok(())
}

fn watch_malformed_gives_einval_message() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // F7: the write succeeds; an XS_ERROR "EINVAL" is queued with the ids.
    let cases: [(u32, &[u8]); 3] = [(XS_WATCH, b"data/xb/w7"), (XS_WATCH, b"data/xb/w7\0tok"), (XS_WATCH, b"")];
    for (i, (ty, payload)) in cases.iter().enumerate() {
        let req = 0xf7000001 + i as u32;
        let m = msg(*ty, req, 0, payload);
        check_eq!(p.write(fd, &m), Ok(m.len()));
        check_bytes!(recv(&p, fd)?, err(req, 0, "EINVAL"));
    }
    let m = msg(XS_UNWATCH, 0xf7000010, 0, b"data/xb/w7 no nul at all");
    check_eq!(p.write(fd, &m), Ok(m.len()));
    check_bytes!(recv(&p, fd)?, err(0xf7000010, 0, "EINVAL"));
    // The tx_id is echoed too.
    let m = msg(XS_WATCH, 0xf7000011, 0x99, b"x");
    check_eq!(p.write(fd, &m), Ok(m.len()));
    check_bytes!(recv(&p, fd)?, err(0xf7000011, 0x99, "EINVAL"));
    barrier()?;
    quiet(&p, fd, 0)?;
    Ok(())
}

fn watch_depth_argument_ignored() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // F8: bytes after the token's NUL are ignored.
    send(&p, fd, &msg(XS_WATCH, 0xf8000001, 0, b"data/xb/w8\0tok8\x002\0"))?;
    recv_any_order(&p, fd, &[ok(XS_WATCH, 0xf8000001, 0), event("data/xb/w8", b"tok8")])?;
    setup_write("data/xb/w8", b"v")?;
    check_bytes!(recv(&p, fd)?, event("data/xb/w8", b"tok8"));
    Ok(())
}

fn watch_empty_or_invalid_path_write_einval() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // F9: write() fails with EINVAL and nothing is queued.
    for (i, payload) in [&b"\0tokE\0"[..], b"data/bad path!\0tok\0", b"data//w1\0tok\0"].iter().enumerate() {
        let m = msg(XS_WATCH, 0xf9000001 + i as u32, 0, payload);
        check_eq!(p.write(fd, &m), Err(Errno::EINVAL));
    }
    barrier()?;
    quiet(&p, fd, 0)?;
    // The descriptor still works.
    watch(&p, fd, 0xf9000010, "data/xb/w9", b"ok")?;
    Ok(())
}

fn watch_absolute_path_and_subtree() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let h = home(&p, fd)?;
    setup_rm("data/xb/f10")?;
    setup_write("data/xb/f10", b"")?;
    // F10: an absolute watch path gives absolute event paths.
    let abs = format!("{}/data/xb/f10", h);
    watch(&p, fd, 0xf1000001, &abs, b"abs")?;
    // A relative subtree watch reports the changed child, relative.
    watch(&p, fd, 0xf1000002, "data/xb/f10", b"rel")?;
    watch(&p, fd, 0xf1000003, "data/xb/f10/sub", b"sub")?;
    setup_write("data/xb/f10/sub/leaf", b"x")?;
    recv_any_order(
        &p,
        fd,
        &[
            event(&format!("{}/sub/leaf", abs), b"abs"),
            event("data/xb/f10/sub/leaf", b"rel"),
            event("data/xb/f10/sub/leaf", b"sub"),
        ],
    )?;
    barrier()?;
    quiet(&p, fd, 0)?;
    // Removing an ancestor fires every watcher below it with its own path.
    setup_rm("data/xb/f10")?;
    recv_any_order(&p, fd, &[event(&abs, b"abs"), event("data/xb/f10", b"rel"), event("data/xb/f10/sub", b"sub")])?;
    Ok(())
}

fn no_event_after_unwatch_reply() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    watch(&p, fd, 0xfa000001, "data/xb/w10", b"tok")?;
    let r = rpc(&p, fd, &msg(XS_UNWATCH, 0xfa000002, 0, &pt("data/xb/w10", b"tok")))?;
    check_bytes!(r, ok(XS_UNWATCH, 0xfa000002, 0));
    check_ok!(dom0::write("data/xb/w10", "after-unwatch"));
    setup_write("data/xb/w10", b"again")?;
    // The next message is the reply to this READ, not an event.
    let r = rpc(&p, fd, &msg(XS_READ, 0xfa000003, 0, &z("data/xb/w10")))?;
    check_bytes!(r, msg(XS_READ, 0xfa000003, 0, b"again"));
    quiet(&p, fd, QUIET_MS)?;
    Ok(())
}

fn unwatch_keeps_events_already_queued() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    watch(&p, fd, 0xfb000001, "data/xb/wq", b"q")?;
    setup_write("data/xb/wq", b"1")?;
    barrier()?;
    // The event is queued (unread) when UNWATCH is written: it stays, and
    // the OK follows it.
    send(&p, fd, &msg(XS_UNWATCH, 0xfb000002, 0, &pt("data/xb/wq", b"q")))?;
    check_bytes!(recv(&p, fd)?, event("data/xb/wq", b"q"));
    check_bytes!(recv(&p, fd)?, ok(XS_UNWATCH, 0xfb000002, 0));
    setup_write("data/xb/wq", b"2")?;
    barrier()?;
    quiet(&p, fd, 0)?;
    Ok(())
}

fn long_event_over_4096_delivered() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // A long watch path and a long token: the event for a child has a len
    // over 4096; it is delivered whole (xenbus-abi.md 6), as Linux does.
    let base = format!("data/xb/lp/{}", "p".repeat(1900 - 11));
    check_eq!(base.len(), 1900);
    let token = vec![b'k'; 2100];
    let child = format!("{}/{}", base, "c".repeat(2040 - 1901));
    check_eq!(child.len(), 2040);
    setup_rm("data/xb/lp")?;
    watch(&p, fd, 0xfc000001, &base, &token)?;
    setup_write(&child, b"x")?;
    let e = recv(&p, fd)?;
    check!(u32_at(&e, 12) > 4096, "len {}", u32_at(&e, 12));
    check_bytes!(e, event(&child, &token));
    setup_rm("data/xb/lp")?;
    check_bytes!(recv(&p, fd)?, event(&base, &token));
    Ok(())
}

fn in_flight_bound_enobufs() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // Deviation 9.5: at most 128 requests of one descriptor in flight.
    // Written back to back without yielding, the replies cannot be taken
    // in between, so the 129th is refused.
    let mut accepted = 0u32;
    let mut refused = None;
    for i in 0..200u32 {
        let m = msg(XS_READ, 0x97000000 + i, 0, b"domid\0");
        match p.write(fd, &m) {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    check_eq!(refused, Some(Errno::ENOBUFS));
    check_eq!(accepted, 128);
    // Every accepted request is answered exactly once, in order.
    for i in 0..accepted {
        let r = recv(&p, fd)?;
        check_eq!(u32_at(&r, 0), XS_READ);
        check_eq!(u32_at(&r, 4), 0x97000000 + i);
    }
    barrier()?;
    quiet(&p, fd, 0)?;
    let r = rpc(&p, fd, &msg(XS_READ, 0x97001000, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 4), 0x97001000);
    Ok(())
}

fn watch_while_reply_unread_no_deadlock() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // Deviation 9.2: in Linux a WATCH written while an earlier reply on the
    // same descriptor is unread can deadlock the whole connection.
    for i in 0..8u32 {
        send(&p, fd, &msg(XS_READ, 0xdd000000 + i, 0, &z("data/xb/probe")))?;
    }
    send(&p, fd, &msg(XS_WATCH, 0xdd000100, 0, &pt("data/xb/dl", b"dl")))?;
    // Another descriptor still gets answers.
    barrier()?;
    let mut want: Vec<Vec<u8>> = (0..8u32).map(|i| msg(XS_READ, 0xdd000000 + i, 0, b"hello")).collect();
    want.push(ok(XS_WATCH, 0xdd000100, 0));
    want.push(event("data/xb/dl", b"dl"));
    recv_any_order(&p, fd, &want)?;
    Ok(())
}

fn reset_watches_only_this_descriptor() -> TestResult {
    let p = Program::new();
    let a = open_xb(&p)?;
    let b = open_xb(&p)?;
    // How many transactions xenstored allows this domain.
    let c = open_xb(&p)?;
    let ids = fill_tx_quota(&p, c, 0x21000100)?;
    end_all(&p, c, &ids, 0x21000200)?;
    watch(&p, a, 0x21000001, "data/xb/rw", b"a")?;
    watch(&p, b, 0x21000002, "data/xb/rw", b"b")?;
    let t = tx_start(&p, a, 0x21000003)?;
    // Deviation 9.4: handled locally, for this open only.
    let r = rpc(&p, a, &msg(XS_RESET_WATCHES, 0x21000004, 0, b""))?;
    check_bytes!(r, ok(XS_RESET_WATCHES, 0x21000004, 0));
    check_eq!(u32_at(&r, 0), 21);
    setup_write("data/xb/rw", b"1")?;
    // B's watch still fires; A's is gone.
    check_bytes!(recv(&p, b)?, event("data/xb/rw", b"b"));
    barrier()?;
    quiet(&p, a, 0)?;
    // A's transaction was aborted: the open no longer knows it.
    let r = rpc(&p, a, &msg(XS_TX_END, 0x21000005, t, b"F\0"))?;
    check_bytes!(r, err(0x21000005, t, "ENOENT"));
    // ... and xenstored aborted it: the whole quota fits again.
    let again = fill_tx_quota(&p, c, 0x21000300)?;
    check_eq!(again.len(), ids.len());
    end_all(&p, c, &again, 0x21000400)?;
    // The kernel's own watches still work (the dom0 helper protocol waits on
    // one), and B sees dom0's write.
    check_ok!(dom0::write("data/xb/rw", "2"));
    check_bytes!(recv(&p, b)?, event("data/xb/rw", b"b"));
    barrier()?;
    quiet(&p, a, 0)?;
    // A can watch again.
    watch(&p, a, 0x21000006, "data/xb/rw", b"a2")?;
    Ok(())
}

pub(super) static TESTS: &[Test] = &[
    t!(watch_ok_and_initial_event, T_XS),
    t!(watch_unwatch_ok_echo_tx_id, T_XS),
    t!(watch_event_after_dom0_write, T_DOM0),
    t!(watch_token_bytes_preserved, T_XS),
    t!(watch_special_path_release_domain, T_XS),
    t!(duplicate_watches_fire_twice, T_XS),
    t!(same_watch_on_two_descriptors, T_XS),
    t!(unwatch_unknown_is_ok, T_XS),
    t!(watch_malformed_gives_einval_message, T_XS),
    t!(watch_depth_argument_ignored, T_XS),
    t!(watch_empty_or_invalid_path_write_einval, T_XS),
    t!(watch_absolute_path_and_subtree, T_XS),
    t!(no_event_after_unwatch_reply, T_DOM0),
    t!(unwatch_keeps_events_already_queued, T_XS),
    t!(long_event_over_4096_delivered, T_XS),
    t!(watch_while_reply_unread_no_deadlock, T_XS),
    t!(reset_watches_only_this_descriptor, T_DOM0),
    t!(in_flight_bound_enobufs, T_XS),
];
