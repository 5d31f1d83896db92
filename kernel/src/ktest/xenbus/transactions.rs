//! Transactions, privileged and unknown types (probes G, h).
use super::*;

// ---------------------------------------------------------------------------
// g. Transactions

fn transaction_start_write_commit() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_rm("data/xb/tx")?;
    // G1
    let t = tx_start(&p, fd, 0x61000001)?;
    // G2: a write inside; the reply carries the tx_id.
    let r = rpc(&p, fd, &msg(XS_WRITE, 0x61000002, t, &pv("data/xb/tx/v", b"in-tx")))?;
    check_bytes!(r, ok(XS_WRITE, 0x61000002, t));
    // G3: visible inside only.
    let r = rpc(&p, fd, &msg(XS_READ, 0x61000003, t, &z("data/xb/tx/v")))?;
    check_bytes!(r, msg(XS_READ, 0x61000003, t, b"in-tx"));
    let r = rpc(&p, fd, &msg(XS_READ, 0x61000004, 0, &z("data/xb/tx/v")))?;
    check_bytes!(r, err(0x61000004, 0, "ENOENT"));
    // G4: commit.
    let r = rpc(&p, fd, &msg(XS_TX_END, 0x61000005, t, b"T\0"))?;
    check_bytes!(r, ok(XS_TX_END, 0x61000005, t));
    let r = rpc(&p, fd, &msg(XS_READ, 0x61000006, 0, &z("data/xb/tx/v")))?;
    check_bytes!(r, msg(XS_READ, 0x61000006, 0, b"in-tx"));
    // G4b: END again: the open forgot it.
    let r = rpc(&p, fd, &msg(XS_TX_END, 0x61000007, t, b"T\0"))?;
    check_bytes!(r, err(0x61000007, t, "ENOENT"));
    // A READ with it: ENOENT too.
    let r = rpc(&p, fd, &msg(XS_READ, 0x61000008, t, &z("data/xb/tx/v")))?;
    check_bytes!(r, err(0x61000008, t, "ENOENT"));
    Ok(())
}

fn transaction_abort_discards() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/txa", b"before")?;
    // G14: an empty START payload works too.
    let r = rpc(&p, fd, &msg(XS_TX_START, 0x61400001, 0, b""))?;
    let t = tx_id_of(&r, 0x61400001)?;
    let r = rpc(&p, fd, &msg(XS_WRITE, 0x61400002, t, &pv("data/xb/txa", b"inside")))?;
    check_bytes!(r, ok(XS_WRITE, 0x61400002, t));
    let r = rpc(&p, fd, &msg(XS_TX_END, 0x61400003, t, b"F\0"))?;
    check_bytes!(r, ok(XS_TX_END, 0x61400003, t));
    let r = rpc(&p, fd, &msg(XS_READ, 0x61400004, 0, &z("data/xb/txa")))?;
    check_bytes!(r, msg(XS_READ, 0x61400004, 0, b"before"));
    Ok(())
}

fn transaction_end_unknown_tx_enoent() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // G5: an XS_ERROR message, not an errno.
    let m = msg(XS_TX_END, 0x65000001, 0xdead, b"T\0");
    check_eq!(m.len(), 18);
    check_eq!(p.write(fd, &m), Ok(18));
    check_bytes!(recv(&p, fd)?, err(0x65000001, 0xdead, "ENOENT"));
    Ok(())
}

fn transaction_end_tx0_enoent() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // Deviation 9.3: Linux gives no reply at all; we answer ENOENT.
    let m = msg(XS_TX_END, 0x66000001, 0, b"T\0");
    check_eq!(p.write(fd, &m), Ok(18));
    check_bytes!(recv(&p, fd)?, err(0x66000001, 0, "ENOENT"));
    let m = msg(XS_TX_END, 0x66000002, 0, b"F\0");
    check_eq!(p.write(fd, &m), Ok(18));
    check_bytes!(recv(&p, fd)?, err(0x66000002, 0, "ENOENT"));
    // X5: it cannot steal a pending START's reply.
    send(&p, fd, &msg(XS_TX_START, 0x66000003, 0, b"\0"))?;
    send(&p, fd, &msg(XS_TX_END, 0x66000004, 0, b"T\0"))?;
    let a = recv(&p, fd)?;
    let b = recv(&p, fd)?;
    // The local answer may overtake the START reply (xenbus-abi.md 7).
    let (start, end) = if u32_at(&a, 0) == XS_TX_START { (a, b) } else { (b, a) };
    check_bytes!(end, err(0x66000004, 0, "ENOENT"));
    let t = tx_id_of(&start, 0x66000003)?;
    let r = rpc(&p, fd, &msg(XS_TX_END, 0x66000005, t, b"F\0"))?;
    check_bytes!(r, ok(XS_TX_END, 0x66000005, t));
    Ok(())
}

fn transaction_end_bad_payload_einval() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let t = tx_start(&p, fd, 0x67000001)?;
    // G7: each gives EINVAL with both ids echoed; the tx stays alive.
    for (i, payload) in [&b"X\0"[..], b"T", b"T\0\0", b"", b"t\0", b"F"].iter().enumerate() {
        let req = 0x67000010 + i as u32;
        let m = msg(XS_TX_END, req, t, payload);
        check_eq!(p.write(fd, &m), Ok(m.len()));
        check_bytes!(recv(&p, fd)?, err(req, t, "EINVAL"));
    }
    let r = rpc(&p, fd, &msg(XS_READ, 0x67000020, t, b"domid\0"))?;
    check_eq!(u32_at(&r, 0), XS_READ);
    check_eq!(u32_at(&r, 8), t);
    let r = rpc(&p, fd, &msg(XS_TX_END, 0x67000021, t, b"F\0"))?;
    check_bytes!(r, ok(XS_TX_END, 0x67000021, t));
    Ok(())
}

fn transaction_end_check_order() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // G8a: tx 0 with a bad payload: EINVAL (payload check before tx 0).
    check_bytes!(rpc(&p, fd, &msg(XS_TX_END, 0x68000001, 0, b"X\0"))?, err(0x68000001, 0, "EINVAL"));
    // G8b: unknown tx with a bad payload: ENOENT (ownership first).
    check_bytes!(rpc(&p, fd, &msg(XS_TX_END, 0x68000002, 0xbad, b"X\0"))?, err(0x68000002, 0xbad, "ENOENT"));
    Ok(())
}

fn foreign_tx_id_enoent() -> TestResult {
    let p = Program::new();
    let a = open_xb(&p)?;
    let b = open_xb(&p)?;
    // G9: a tx_id the open does not own: local ENOENT, tx_id echoed.
    for ty in [XS_READ, XS_WRITE, XS_DIRECTORY, XS_RM, XS_GET_PERMS, XS_RESET_WATCHES] {
        let r = rpc(&p, a, &msg(ty, 0x69000000 + ty, 0xbeef, b"data/xb/g9\0x"))?;
        check_bytes!(r, err(0x69000000 + ty, 0xbeef, "ENOENT"));
    }
    // G13: another open's transaction.
    let t = tx_start(&p, b, 0x69000100)?;
    check_bytes!(rpc(&p, a, &msg(XS_READ, 0x69000101, t, b"domid\0"))?, err(0x69000101, t, "ENOENT"));
    check_bytes!(rpc(&p, a, &msg(XS_TX_END, 0x69000102, t, b"T\0"))?, err(0x69000102, t, "ENOENT"));
    // B's transaction is unaffected.
    let r = rpc(&p, b, &msg(XS_TX_END, 0x69000103, t, b"F\0"))?;
    check_bytes!(r, ok(XS_TX_END, 0x69000103, t));
    Ok(())
}

fn start_with_tx_id_is_forwarded() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // G10: START with an unknown tx_id goes to xenstored: ENOENT.
    let r = rpc(&p, fd, &msg(XS_TX_START, 0x6a000001, 0x77, b"\0"))?;
    check_bytes!(r, err(0x6a000001, 0x77, "ENOENT"));
    // G11: START with a live tx_id: EBUSY.
    let t = tx_start(&p, fd, 0x6a000002)?;
    let r = rpc(&p, fd, &msg(XS_TX_START, 0x6a000003, t, b"\0"))?;
    check_bytes!(r, err(0x6a000003, t, "EBUSY"));
    check_bytes!(rpc(&p, fd, &msg(XS_TX_END, 0x6a000004, t, b"F\0"))?, ok(XS_TX_END, 0x6a000004, t));
    Ok(())
}

fn transaction_conflict_eagain() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/conflict", b"1")?;
    // G12: dom0 changes what the transaction read: EAGAIN at commit.
    let t = tx_start(&p, fd, 0x6c000001)?;
    check_bytes!(rpc(&p, fd, &msg(XS_READ, 0x6c000002, t, &z("data/xb/conflict")))?, msg(XS_READ, 0x6c000002, t, b"1"));
    check_ok!(dom0::write("data/xb/conflict", "5"));
    check_bytes!(
        rpc(&p, fd, &msg(XS_WRITE, 0x6c000003, t, &pv("data/xb/conflict", b"2")))?,
        ok(XS_WRITE, 0x6c000003, t)
    );
    check_bytes!(rpc(&p, fd, &msg(XS_TX_END, 0x6c000004, t, b"T\0"))?, err(0x6c000004, t, "EAGAIN"));
    // Any reply to END ends it.
    check_bytes!(rpc(&p, fd, &msg(XS_TX_END, 0x6c000005, t, b"F\0"))?, err(0x6c000005, t, "ENOENT"));
    let v = check_ok!(dom0::read("data/xb/conflict"));
    check_eq!(v.as_str(), "5");
    // The retry commits.
    let t = tx_start(&p, fd, 0x6c000006)?;
    check_bytes!(rpc(&p, fd, &msg(XS_READ, 0x6c000007, t, &z("data/xb/conflict")))?, msg(XS_READ, 0x6c000007, t, b"5"));
    check_bytes!(
        rpc(&p, fd, &msg(XS_WRITE, 0x6c000008, t, &pv("data/xb/conflict", b"6")))?,
        ok(XS_WRITE, 0x6c000008, t)
    );
    check_bytes!(rpc(&p, fd, &msg(XS_TX_END, 0x6c000009, t, b"T\0"))?, ok(XS_TX_END, 0x6c000009, t));
    let v = check_ok!(dom0::read("data/xb/conflict"));
    check_eq!(v.as_str(), "6");
    Ok(())
}
fn transaction_quota_is_xenstoreds() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // I1: xenstored's per-domain transaction quota shows through as ENOSPC.
    let ids = fill_tx_quota(&p, fd, 0x6d000000)?;
    metric("xenbus.xenstored_transaction_quota", ids.len() as u64, "transactions");
    // Still refused while all are open.
    let r = rpc(&p, fd, &msg(XS_TX_START, 0x6d000100, 0, b"\0"))?;
    check_bytes!(r, err(0x6d000100, 0, "ENOSPC"));
    for (i, t) in ids.iter().enumerate() {
        let req = 0x6d000200 + i as u32;
        check_bytes!(rpc(&p, fd, &msg(XS_TX_END, req, *t, b"F\0"))?, ok(XS_TX_END, req, *t));
    }
    let t = tx_start(&p, fd, 0x6d000300)?;
    check_bytes!(rpc(&p, fd, &msg(XS_TX_END, 0x6d000301, t, b"F\0"))?, ok(XS_TX_END, 0x6d000301, t));
    Ok(())
}

// ---------------------------------------------------------------------------
// h. Other message types

fn privileged_types_eacces() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    for ty in [XS_CONTROL, XS_INTRODUCE, XS_RELEASE, XS_IS_DOMAIN_INTRODUCED, XS_RESUME, XS_SET_TARGET] {
        let req = 0x80000000 + ty;
        let m = msg(ty, req, 0, b"1\0");
        check_eq!(p.write(fd, &m), Ok(m.len()));
        let r = recv(&p, fd)?;
        if r != err(req, 0, "EACCES") {
            return Err(fail(line!(), format!("type {}: {}", ty, crate::ktest::hexdump(&r))));
        }
    }
    Ok(())
}

fn unknown_types_enosys() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    for ty in [XS_WATCH_EVENT, XS_ERROR, 20, 23, 24, 30, 0xffff, 0x8000_0002] {
        let req = 0x90000000u32.wrapping_add(ty);
        let m = msg(ty, req, 0, b"data\0");
        check_eq!(p.write(fd, &m), Ok(m.len()));
        let r = recv(&p, fd)?;
        if r != err(req, 0, "ENOSYS") {
            return Err(fail(line!(), format!("type {:#x}: {}", ty, crate::ktest::hexdump(&r))));
        }
    }
    Ok(())
}

pub(super) static TESTS: &[Test] = &[
    t!(transaction_start_write_commit, T_XS),
    t!(transaction_abort_discards, T_XS),
    t!(transaction_end_unknown_tx_enoent, T_XS),
    t!(transaction_end_tx0_enoent, T_XS),
    t!(transaction_end_bad_payload_einval, T_XS),
    t!(transaction_end_check_order, T_XS),
    t!(foreign_tx_id_enoent, T_XS),
    t!(start_with_tx_id_is_forwarded, T_XS),
    t!(transaction_conflict_eagain, T_DOM0),
    t!(transaction_quota_is_xenstoreds, T_XS),
    t!(privileged_types_eacces, T_XS),
    t!(unknown_types_enosys, T_XS),
];
