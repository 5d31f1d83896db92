//! The bounded queue (deviation 9.5), close and many opens (probes I).
use super::*;

// ---------------------------------------------------------------------------
// Bounded queue (deviation 9.5)

fn queue_bound_enobufs() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let value = vec![b'v'; 2000];
    setup_write("data/xb/big", &value)?;
    watch(&p, fd, 0x95000001, "data/xb/qw", b"qw")?;
    let reply_len = 16 + value.len();
    // Queue replies without reading until a request fails.
    let mut accepted = 0u32;
    let mut refused = None;
    for i in 0..100u32 {
        let m = msg(XS_READ, 0x95000100 + i, 0, &z("data/xb/big"));
        match p.write(fd, &m) {
            Ok(n) => {
                check_eq!(n, m.len());
                accepted += 1;
                barrier()?;
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    check_eq!(refused, Some(Errno::ENOBUFS));
    // 64 KiB or more unread: the first request after 33 replies fails.
    let want = (64 * 1024usize).div_ceil(reply_len);
    check_eq!(accepted as usize, want);
    // Requests the node answers itself are refused too.
    check_eq!(p.write(fd, &msg(XS_UNWATCH, 0x95000201, 0, &pt("data/xb/none", b"x"))), Err(Errno::ENOBUFS));
    check_eq!(p.write(fd, &msg(XS_TX_END, 0x95000202, 0, b"T\0")), Err(Errno::ENOBUFS));
    // A watch event that would take the queue past the bound is dropped.
    check_ok!(dom0::write("data/xb/qw", "dropped"));
    barrier()?;
    // Every accepted request has its reply, in order, and nothing else.
    for i in 0..accepted {
        let r = recv(&p, fd)?;
        check_bytes!(r, msg(XS_READ, 0x95000100 + i, 0, &value));
    }
    quiet(&p, fd, 0)?;
    // Below the bound, requests work again, and events are queued again.
    let r = rpc(&p, fd, &msg(XS_READ, 0x95000300, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 4), 0x95000300);
    setup_write("data/xb/qw", b"kept")?;
    check_bytes!(recv(&p, fd)?, event("data/xb/qw", b"qw"));
    Ok(())
}

fn queue_bound_reading_reopens() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let value = vec![b'w'; 2000];
    setup_write("data/xb/big2", &value)?;
    let mut accepted = 0u32;
    loop {
        let m = msg(XS_READ, 0x96000000 + accepted, 0, &z("data/xb/big2"));
        match p.write(fd, &m) {
            Ok(_) => {
                accepted += 1;
                barrier()?;
            }
            Err(e) => {
                check_eq!(e, Errno::ENOBUFS);
                break;
            }
        }
        check!(accepted < 100, "no ENOBUFS after 100 requests");
    }
    // Reading one reply takes the queue below the bound.
    let r = recv(&p, fd)?;
    check_eq!(r.len(), 2016);
    let m = msg(XS_READ, 0x96000100, 0, b"domid\0");
    check_eq!(p.write(fd, &m), Ok(m.len()));
    // Closing with a full queue and a reply in flight is fine.
    check_ok!(p.close(fd));
    barrier()?;
    Ok(())
}

// ---------------------------------------------------------------------------
// i. close()

fn close_aborts_transactions_and_watches() -> TestResult {
    let p = Program::new();
    let a = open_xb(&p)?;
    // I1-I3: the transaction quota, a watch and an unread reply, then close.
    let ids = fill_tx_quota(&p, a, 0x1c000000)?;
    watch(&p, a, 0x1c000011, "data/xb/close", b"gone")?;
    send(&p, a, &msg(XS_READ, 0x1c000012, 0, b"domid\0"))?;
    check_eq!(p.close(a), Ok(()));
    // Operations on the closed descriptor: EBADF.
    check_eq!(p.write(a, b"x"), Err(Errno::EBADF));
    let mut buf = [0u8; 8];
    check_eq!(p.read(a, &mut buf), Err(Errno::EBADF));
    check_eq!(p.close(a), Err(Errno::EBADF));
    // I4: a new open does not know the old ids.
    let b = open_xb(&p)?;
    // The descriptor number is reused (lowest free), with fresh state.
    check_eq!(b, a);
    check_bytes!(rpc(&p, b, &msg(XS_TX_END, 0x1c000020, ids[0], b"F\0"))?, err(0x1c000020, ids[0], "ENOENT"));
    check_bytes!(rpc(&p, b, &msg(XS_READ, 0x1c000021, ids[1], b"domid\0"))?, err(0x1c000021, ids[1], "ENOENT"));
    // I6: xenstored really aborted them: as many new ones fit.
    let fresh = fill_tx_quota(&p, b, 0x1c000100)?;
    check_eq!(fresh.len(), ids.len());
    for (i, t) in fresh.iter().enumerate() {
        let req = 0x1c000200 + i as u32;
        check_bytes!(rpc(&p, b, &msg(XS_TX_END, req, *t, b"F\0"))?, ok(XS_TX_END, req, *t));
    }
    // The watch is gone: dom0 writes the path; only a watcher on another
    // descriptor hears it, and b (which never watched) gets nothing.
    let c = open_xb(&p)?;
    watch(&p, c, 0x1c000050, "data/xb/close", b"c")?;
    check_ok!(dom0::write("data/xb/close", "after-close"));
    check_bytes!(recv(&p, c)?, event("data/xb/close", b"c"));
    barrier()?;
    quiet(&p, b, 0)?;
    quiet(&p, c, 0)?;
    Ok(())
}

fn close_with_requests_in_flight() -> TestResult {
    // Close while replies are on their way: they are dropped, nothing leaks.
    for round in 0..5u32 {
        let p = Program::new();
        let fd = open_xb(&p)?;
        for i in 0..20u32 {
            send(&p, fd, &msg(XS_READ, 0x1d000000 + round * 100 + i, 0, b"domid\0"))?;
        }
        send(&p, fd, &msg(XS_TX_START, 0x1d000050 + round, 0, b"\0"))?;
        send(&p, fd, &msg(XS_WATCH, 0x1d000060 + round, 0, &pt("data/xb/inflight", b"t")))?;
        check_ok!(p.close(fd));
    }
    barrier()?;
    // The transactions started by STARTs whose replies came after close were
    // aborted: the whole quota fits.
    let p = Program::new();
    let fd = open_xb(&p)?;
    let ids = fill_tx_quota(&p, fd, 0x1d000100)?;
    for (i, t) in ids.iter().enumerate() {
        check_bytes!(
            rpc(&p, fd, &msg(XS_TX_END, 0x1d000200 + i as u32, *t, b"F\0"))?,
            ok(XS_TX_END, 0x1d000200 + i as u32, *t)
        );
    }
    Ok(())
}

fn close_with_end_in_flight() -> TestResult {
    // A transaction whose END is on its way at close is left to that END;
    // one without is aborted. Either way none leaks.
    setup_rm("data/xb/endfly")?;
    {
        let p = Program::new();
        let fd = open_xb(&p)?;
        let t1 = tx_start(&p, fd, 0x1f000001)?;
        let t2 = tx_start(&p, fd, 0x1f000002)?;
        check_bytes!(
            rpc(&p, fd, &msg(XS_WRITE, 0x1f000003, t1, &pv("data/xb/endfly", b"committed")))?,
            ok(XS_WRITE, 0x1f000003, t1)
        );
        check_bytes!(
            rpc(&p, fd, &msg(XS_WRITE, 0x1f000004, t2, &pv("data/xb/endfly2", b"aborted")))?,
            ok(XS_WRITE, 0x1f000004, t2)
        );
        send(&p, fd, &msg(XS_TX_END, 0x1f000005, t1, b"T\0"))?;
        check_ok!(p.close(fd));
    }
    barrier()?;
    let p = Program::new();
    let fd = open_xb(&p)?;
    check_bytes!(
        rpc(&p, fd, &msg(XS_READ, 0x1f000006, 0, &z("data/xb/endfly")))?,
        msg(XS_READ, 0x1f000006, 0, b"committed")
    );
    check_bytes!(rpc(&p, fd, &msg(XS_READ, 0x1f000007, 0, &z("data/xb/endfly2")))?, err(0x1f000007, 0, "ENOENT"));
    let ids = fill_tx_quota(&p, fd, 0x1f000100)?;
    end_all(&p, fd, &ids, 0x1f000200)?;
    Ok(())
}

fn drop_program_closes_descriptors() -> TestResult {
    {
        let p = Program::new();
        let fd = open_xb(&p)?;
        let _t = tx_start(&p, fd, 0x1e000001)?;
        watch(&p, fd, 0x1e000002, "data/xb/drop", b"d")?;
        // p dropped here: its descriptors are closed.
    }
    barrier()?;
    let p = Program::new();
    let fd = open_xb(&p)?;
    let ids = fill_tx_quota(&p, fd, 0x1e000100)?;
    for (i, t) in ids.iter().enumerate() {
        check_bytes!(
            rpc(&p, fd, &msg(XS_TX_END, 0x1e000020 + i as u32, *t, b"F\0"))?,
            ok(XS_TX_END, 0x1e000020 + i as u32, *t)
        );
    }
    Ok(())
}

fn many_opens() -> TestResult {
    let p = Program::new();
    let mut fds = Vec::new();
    for i in 0..32u32 {
        let fd = if i % 2 == 0 { open_xb(&p)? } else { check_ok!(p.open(XB_DEV, O_RDWR)) };
        send(&p, fd, &msg(XS_READ, 0x3a000000 + i, 0, b"domid\0"))?;
        fds.push(fd);
    }
    for (i, &fd) in fds.iter().enumerate() {
        let r = recv(&p, fd)?;
        check_eq!(u32_at(&r, 4), 0x3a000000 + i as u32);
        quiet(&p, fd, 0)?;
    }
    for fd in fds {
        check_ok!(p.close(fd));
    }
    Ok(())
}

pub(super) static TESTS: &[Test] = &[
    t!(queue_bound_enobufs, T_DOM0),
    t!(queue_bound_reading_reopens, T_XS),
    t!(close_aborts_transactions_and_watches, T_DOM0),
    t!(close_with_requests_in_flight, T_XS),
    t!(close_with_end_in_flight, T_XS),
    t!(drop_program_closes_descriptors, T_XS),
    t!(many_opens, T_XS),
];
