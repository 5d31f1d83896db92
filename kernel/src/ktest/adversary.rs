//! `adversary`: what an unprivileged program or a misbehaving dom0 can do
//! to the kernel, each ending in the documented errno, reply or log line,
//! with the guest still serving afterwards (docs/memory.md,
//! docs/xenbus-abi.md §9.5 and §11).
//!
//! The default tests run in `tests=all`. The ones that break the xenstore
//! connection for good (a corrupted ring) are not default: each runs in a
//! guest of its own (harness checks `ring-*`), the `dom0_*` ones with the
//! ring corrupted by dom0's `ring-corruptor`, the `self_*` ones by the
//! guest writing xenstored's fields itself (which it can, the page is
//! shared), so the timing is exact.
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::xenbus::{msg, open_xb, pt, pv, recv, rpc, send, z, R, XS_READ, XS_UNWATCH, XS_WATCH, XS_WRITE};
use super::{dom0, metric, Test, TestResult};
use crate::fs::{self, Errno, Fd, PollFd, Program, O_CREAT, O_NONBLOCK, O_RDWR, O_WRONLY, POLLIN};
use crate::mm::budget::XS_NODE;
use crate::sched::sleep_ns;
use crate::time::now_ns;
use crate::xenstore::{self as xs, Field, XsError};
use crate::{check, check_eq, check_ok};

const T: u64 = 60_000;

/// Everything readable on `fd` now (nonblocking).
fn drain(p: &Program, fd: Fd) -> Vec<u8> {
    let fl = p.fcntl(fd, fs::F_GETFL, 0).unwrap_or(0);
    let _ = p.fcntl(fd, fs::F_SETFL, fl | O_NONBLOCK);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = p.read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let _ = p.fcntl(fd, fs::F_SETFL, fl);
    out
}

/// Reads `fd` until nothing new has arrived for `quiet_ms` (xenstored may
/// still be sending events after the replies of the requests that caused
/// them): every message that came.
fn drain_until_quiet(p: &Program, fd: Fd, quiet_ms: u64) -> Vec<(u32, u32, Vec<u8>)> {
    let mut all = Vec::new();
    let mut last = now_ns();
    loop {
        let m = messages(&drain(p, fd));
        if !m.is_empty() {
            all.extend(m);
            last = now_ns();
        } else if now_ns() - last > quiet_ms * 1_000_000 {
            return all;
        }
        sleep_ns(20_000_000);
    }
}

/// Splits a read stream into (type, req_id, payload) messages.
fn messages(mut b: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 16 {
        let w = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let len = w(12) as usize;
        if b.len() < 16 + len {
            break;
        }
        out.push((w(0), w(4), b[16..16 + len].to_vec()));
        b = &b[16 + len..];
    }
    out
}

/// Waits until `f()` holds, at most `ms`.
fn wait_for(ms: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = crate::time::deadline_after_ms(ms);
    loop {
        if f() {
            return true;
        }
        if now_ns() >= deadline {
            return false;
        }
        sleep_ns(5_000_000);
    }
}

/// The value of `name` in /proc/xen/xenbus-stats.
fn stat(name: &str) -> u64 {
    let p = Program::new();
    let Ok(fd) = p.open("/proc/xen/xenbus-stats", fs::O_RDONLY) else { return 0 };
    let text = drain(&p, fd);
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| {
            l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.split(' ').next()?.parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Item 1: the node's memory is bounded by the budget, not only per open.

fn flood(p: &Program, fds: &[Fd], m: &[u8], rounds: usize) -> R<(u64, u64, u64)> {
    let (mut ok, mut nobufs, mut nomem) = (0u64, 0u64, 0u64);
    for _ in 0..rounds {
        for &fd in fds {
            match p.write(fd, m) {
                Ok(_) => ok += 1,
                Err(Errno::ENOBUFS) => nobufs += 1,
                Err(Errno::ENOMEM) => nomem += 1,
                Err(e) => return Err(super::Failure { file: file!(), line: line!(), msg: format!("write: {:?}", e) }),
            }
        }
    }
    Ok((ok, nobufs, nomem))
}

/// 17 descriptors x 128 WRITEs of 4 KiB, never read: refused with ENOMEM
/// (the node budget) or ENOBUFS (the per-open bounds) before memory runs
/// out; the kernel's own xenstore traffic still works; once the flooders
/// are closed the budget comes back and a new descriptor works.
fn node_write_flood_is_refused() -> TestResult {
    let base = XS_NODE.used();
    let p = Program::new();
    let mut fds = Vec::new();
    for _ in 0..17 {
        match p.open("/proc/xen/xenbus", O_RDWR) {
            Ok(fd) => fds.push(fd),
            Err(Errno::ENOMEM) => break,
            Err(e) => check!(false, "open: {:?}", e),
        }
    }
    check!(fds.len() >= 2, "only {} opens", fds.len());
    let m = msg(XS_WRITE, 7, 0, &pv("data/adv/flood", &[b'v'; 4000]));
    check_eq!(m.len(), 16 + 15 + 4000);
    let (ok, nobufs, nomem) = flood(&p, &fds, &m, 128)?;
    check!(nobufs + nomem > 0, "nothing refused: {} accepted", ok);
    metric("adversary.write_flood_accepted", ok, "requests");
    metric("adversary.write_flood_refused_enomem", nomem, "requests");
    metric("adversary.write_flood_refused_enobufs", nobufs, "requests");
    check!(XS_NODE.used() <= XS_NODE.limit(), "budget overrun");
    // The kernel's own requests have their own budget.
    check_ok!(xs::read_string(0, "domid"));
    drop(p);
    check!(wait_for(30_000, || XS_NODE.used() <= base), "budget not returned: {} > {}", XS_NODE.used(), base);
    let p = Program::new();
    let fd = open_xb(&p)?;
    let r = rpc(&p, fd, &msg(XS_READ, 9, 0, &z("domid")))?;
    check_eq!(super::xenbus::u32_at(&r, 0), XS_READ);
    Ok(())
}

/// An open and each of its watches hold a share of the node budget while
/// they live (the number of watches is xenstored's to limit, dom0's to
/// raise), and give it back on unwatch and close.
fn opens_and_watches_are_charged() -> TestResult {
    let p = Program::new();
    let base = XS_NODE.used();
    let fd = open_xb(&p)?;
    let opened = XS_NODE.used();
    check!(opened >= base + 4096, "an open charged {} bytes", opened - base);
    // Replies and the watches' first events are left unread: the charges
    // are taken when the node registers a watch and dropped when it goes.
    for i in 0..8u32 {
        let path = format!("data/adv/charged{}", i);
        send(&p, fd, &msg(XS_WATCH, 20 + i, 0, &pt(&path, b"tok")))?;
    }
    // Let the replies and events arrive (they queue, charged, unread).
    sleep_ns(300_000_000);
    let watched = XS_NODE.used();
    check!(watched >= opened + 8 * 512, "8 watches charged {} bytes", watched - opened);
    send(&p, fd, &msg(XS_UNWATCH, 40, 0, &pt("data/adv/charged0", b"tok")))?;
    check!(wait_for(5_000, || XS_NODE.used() < watched), "the unwatch kept its charge");
    drop(p);
    check!(wait_for(30_000, || XS_NODE.used() <= base), "budget not returned: {} > {}", XS_NODE.used(), base);
    Ok(())
}

/// READs of a 2,000-byte value, never read: each accepted one reserved its
/// reply, so the replies all fit; the rest are refused.
fn node_read_flood_is_refused() -> TestResult {
    let p = Program::new();
    let fd0 = open_xb(&p)?;
    rpc(&p, fd0, &msg(XS_WRITE, 1, 0, &pv("data/adv/big", &[b'x'; 2000])))?;
    let mut fds = vec![fd0];
    for _ in 0..16 {
        match p.open("/proc/xen/xenbus", O_RDWR) {
            Ok(fd) => fds.push(fd),
            Err(Errno::ENOMEM) => break,
            Err(e) => check!(false, "open: {:?}", e),
        }
    }
    let (ok, nobufs, nomem) = flood(&p, &fds, &msg(XS_READ, 2, 0, &z("data/adv/big")), 200)?;
    check!(nobufs + nomem > 0, "nothing refused: {} accepted", ok);
    metric("adversary.read_flood_accepted", ok, "requests");
    // Every accepted request is answered: read them all back.
    check!(wait_for(30_000, || xs::load() == (0, 0)), "requests still in flight: {:?}", xs::load());
    let mut replies = 0u64;
    for &fd in &fds {
        replies += messages(&drain(&p, fd)).len() as u64;
    }
    check_eq!(replies, ok);
    Ok(())
}

// ---------------------------------------------------------------------------
// Item 2: the VFS ends in ENOSPC.

/// Files with 200-byte names in /tmp until ENOSPC; removing them gives the
/// memory back and /tmp works again.
fn tmp_fill_ends_in_enospc() -> TestResult {
    let base = fs::memory_used();
    check_ok!(fs::mkdir("/tmp/adv", 0o755));
    let long = "n".repeat(200);
    let p = Program::new();
    let mut made = 0u32;
    let mut end = None;
    while made < 500_000 {
        match p.open(&format!("/tmp/adv/{}{}", long, made), O_CREAT | O_WRONLY) {
            Ok(fd) => {
                check_ok!(p.close(fd));
                made += 1;
            }
            Err(e) => {
                end = Some(e);
                break;
            }
        }
    }
    check_eq!(end, Some(Errno::ENOSPC));
    metric("adversary.tmp_files_before_enospc", made as u64, "files");
    check_ok!(xs::read_string(0, "domid"));
    for i in 0..made {
        check_ok!(fs::unlink(&format!("/tmp/adv/{}{}", long, i)));
    }
    check_ok!(fs::rmdir("/tmp/adv"));
    check_eq!(fs::memory_used(), base);
    let fd = check_ok!(p.open("/tmp/adv-after", O_CREAT | O_WRONLY));
    check_ok!(p.close(fd));
    check_ok!(fs::unlink("/tmp/adv-after"));
    Ok(())
}

// ---------------------------------------------------------------------------
// Item 6: a huge poll timeout is "never", not a wrapped past.

fn poll_huge_timeout_still_waits() -> TestResult {
    let p = Arc::new(Program::new());
    let fd = open_xb(&p)?;
    for timeout in [i64::MAX, 1i64 << 62, 18_446_744_073_710i64] {
        let p2 = p.clone();
        let t = check_ok!(crate::sched::spawn("adv-poke", move || {
            sleep_ns(100_000_000);
            let _ = p2.write(fd, &msg(XS_READ, 3, 0, &z("domid")));
        }));
        let t0 = now_ns();
        let mut set = [PollFd { fd, events: POLLIN, revents: 0 }];
        let n = check_ok!(p.poll(&mut set, timeout));
        let waited = now_ns() - t0;
        crate::sched::join(t);
        check_eq!(n, 1);
        check!(waited >= 90_000_000, "poll({}) returned after {} ns, before the data came", timeout, waited);
        check!(!drain(&p, fd).is_empty());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Item 9: the fixed nodes and bad names.

fn xenfs_nodes_eperm_and_bad_names() -> TestResult {
    for path in ["/proc/xen/xenbus", "/dev/xen/xenbus", "/proc/xen/capabilities", "/proc/xen/xenbus-stats"] {
        check_eq!(fs::unlink(path), Err(Errno::EPERM));
        check_eq!(fs::rename(path, "/tmp/adv-x"), Err(Errno::EPERM));
        check!(fs::stat(path).is_ok(), "{} is gone", path);
    }
    check_eq!(fs::rmdir("/proc/xen"), Err(Errno::EBUSY));
    check_eq!(fs::mkdir("/tmp/a\0b", 0o755), Err(Errno::EINVAL));
    check_eq!(fs::stat("/tmp/a"), Err(Errno::ENOENT));
    let p = Program::new();
    check_eq!(p.open("/tmp/x\0y", O_CREAT | O_WRONLY), Err(Errno::EINVAL));
    // The node still works.
    let fd = open_xb(&p)?;
    rpc(&p, fd, &msg(XS_READ, 1, 0, &z("domid")))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Item 10: a storm of watch events is coalesced, or dropped and counted.

/// Writes `n` values, 32 in flight, through `fd` (reading its replies).
fn storm(p: &Program, fd: Fd, n: u32, path: impl Fn(u32) -> String) -> R<()> {
    let mut sent = 0u32;
    let mut answered = 0u32;
    while answered < n {
        while sent < n && sent - answered < 32 {
            send(p, fd, &msg(XS_WRITE, sent, 0, &pv(&path(sent), b"v")))?;
            sent += 1;
        }
        let r = recv(p, fd)?;
        answered += 1;
        let _ = r;
    }
    Ok(())
}

fn watch_storm_coalesces_and_is_counted() -> TestResult {
    let p = Program::new();
    let w = open_xb(&p)?;
    rpc(&p, w, &msg(XS_WATCH, 1, 0, &pt("data/adv/storm", b"tok")))?;
    check!(wait_for(5_000, || !messages(&drain(&p, w)).is_empty()), "no initial event");
    let writer = open_xb(&p)?;
    let c0 = stat("events_coalesced") + stat("mailbox_events_coalesced");
    let d0 = stat("events_dropped") + stat("mailbox_events_dropped");
    // Identical events: one path, 3,000 times, the watcher not reading.
    const N: u32 = 3_000;
    let t0 = now_ns();
    storm(&p, writer, N, |_| String::from("data/adv/storm/x"))?;
    let ms = (now_ns() - t0) / 1_000_000;
    rpc(&p, writer, &msg(XS_READ, 99, 0, &z("domid")))?;
    let evs = drain_until_quiet(&p, w, 500);
    let c1 = stat("events_coalesced") + stat("mailbox_events_coalesced");
    let d1 = stat("events_dropped") + stat("mailbox_events_dropped");
    check!(evs.iter().all(|(ty, _, pl)| *ty == 15 && pl == b"data/adv/storm/x\0tok\0"), "odd event");
    // Identical events are never dropped: past the bound they merge. (C
    // xenstored 4.17 also merges identical events pending in its own output
    // queue (XSA-326), so fewer than N may reach the guest.)
    check_eq!(d1 - d0, 0);
    // Coalescing starts at the bound; when xenstored merged enough of the
    // storm itself (it does under load), fewer events arrive than fit, and
    // nothing needs merging here.
    let queued_bytes = evs.len() * (16 + b"data/adv/storm/x\0tok\0".len());
    check!(
        c1 > c0 || queued_bytes < xenbus_node::QUEUE_LIMIT,
        "nothing coalesced, but {} events ({} bytes) queued",
        evs.len(),
        queued_bytes
    );
    check!(evs.len() as u64 + (c1 - c0) <= N as u64);
    metric("adversary.storm_identical_writes", N as u64, "writes");
    metric("adversary.storm_identical_arrived", evs.len() as u64 + (c1 - c0), "events");
    metric("adversary.storm_identical_queued", evs.len() as u64, "events");
    metric("adversary.storm_identical_coalesced", c1 - c0, "events");
    metric("adversary.storm_writes_per_second", N as u64 * 1000 / ms.max(1), "writes/s");
    // Distinct events: nothing to merge with, so the excess is dropped,
    // and counted (the log line is checked by the harness). 40 more watches
    // on the tree, so each write fires 41 distinct events (xenstored allows
    // a domain 1,000 nodes and 128 watches).
    for k in 0..40u32 {
        rpc(&p, w, &msg(XS_WATCH, 100 + k, 0, &pt("data/adv/storm", format!("t{}", k).as_bytes())))?;
    }
    drain_until_quiet(&p, w, 300);
    let c1 = stat("events_coalesced") + stat("mailbox_events_coalesced");
    let d1 = stat("events_dropped") + stat("mailbox_events_dropped");
    const M: u32 = 300 * 41;
    storm(&p, writer, 300, |i| format!("data/adv/storm/d{}", i))?;
    rpc(&p, writer, &msg(XS_READ, 99, 0, &z("domid")))?;
    let evs = drain_until_quiet(&p, w, 500);
    let c2 = stat("events_coalesced") + stat("mailbox_events_coalesced");
    let d2 = stat("events_dropped") + stat("mailbox_events_dropped");
    check!(evs.iter().all(|(ty, _, pl)| *ty == 15 && pl.starts_with(b"data/adv/storm/d")), "odd event");
    check!(d2 > d1, "nothing dropped: {} events", evs.len());
    check!(evs.len() as u64 + (c2 - c1) + (d2 - d1) <= M as u64);
    metric("adversary.storm_distinct_events", M as u64, "events (300 writes x 41 watches)");
    metric("adversary.storm_distinct_queued", evs.len() as u64, "events");
    metric("adversary.storm_distinct_dropped", d2 - d1, "events");
    let _ = xs::rm(0, "data/adv");
    Ok(())
}

// ---------------------------------------------------------------------------
// Item 3 in small: a reply that cannot be stored still answers its request.

fn reply_without_memory_is_answered() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    xs::set_fail_allocations(true);
    let r = rpc(&p, fd, &msg(XS_READ, 0x51, 0, &z("domid")));
    xs::set_fail_allocations(false);
    let r = r?;
    crate::check_bytes!(r, msg(16, 0x51, 0, b"ENOMEM\0"));
    rpc(&p, fd, &msg(XS_READ, 0x52, 0, &z("domid")))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Items 4, 5, 7, 8: a corrupted ring. Each test breaks the connection for
// the rest of the boot, so each runs in a guest of its own.

/// What one pump thread saw.
#[derive(Default, Clone, Copy, Debug)]
struct Pumped {
    sent: u32,
    answered: u32,
    eio: u32,
    refused: u32,
}

/// Keeps 20 READs in flight on `fd` until one is answered with EIO or a new
/// one is refused, then collects every outstanding answer.
fn pump(p: &Program, fd: Fd) -> Result<Pumped, String> {
    let mut st = Pumped::default();
    let mut stop = false;
    while !stop || st.answered < st.sent {
        while !stop && st.sent - st.answered < 20 {
            match p.write(fd, &msg(XS_READ, st.sent, 0, &z("domid"))) {
                Ok(_) => st.sent += 1,
                Err(Errno::EIO) => {
                    st.refused += 1;
                    stop = true;
                }
                Err(e) => return Err(format!("write: {:?}", e)),
            }
        }
        if st.answered == st.sent {
            continue;
        }
        let m = super::xenbus::read_n_messages(p, fd, 1, 15_000).map_err(|f| f.msg)?;
        let (ty, _, pl) = m.first().ok_or("no message")?;
        st.answered += 1;
        if *ty == 16 {
            if pl.as_slice() != b"EIO\0" {
                return Err(format!("error reply {:?}", pl));
            }
            st.eio += 1;
            stop = true;
        } else if *ty != XS_READ {
            return Err(format!("reply of type {}", ty));
        }
    }
    Ok(st)
}

/// Three threads keep requests in flight; then `corrupt`. Every request
/// gets exactly one answer (its reply, or `XS_ERROR "EIO"`), blocked reads
/// return, new requests fail at once, kernel callers get a typed error,
/// and the failure is logged (the harness checks the line).
fn corrupted_ring_answers_everything(corrupt: &dyn Fn() -> Result<(), String>) -> TestResult {
    let p = Arc::new(Program::new());
    let results: Arc<crate::sync::ThreadLock<Vec<Result<Pumped, String>>>> =
        Arc::new(crate::sync::ThreadLock::new("adv.results", Vec::new()));
    let mut threads = Vec::new();
    for _ in 0..3 {
        let fd = open_xb(&p)?;
        let (p2, r2) = (p.clone(), results.clone());
        threads.push(check_ok!(crate::sched::spawn("adv-pump", move || {
            let r = pump(&p2, fd);
            r2.lock().push(r);
        })));
    }
    // Let the pumps get going.
    sleep_ns(50_000_000);
    let t0 = now_ns();
    if let Err(e) = corrupt() {
        check!(false, "corrupting: {}", e);
    }
    check!(wait_for(20_000, || xs::failure().is_some()), "the corruption was not noticed");
    let f = check_ok!(xs::failure().ok_or("no failure"));
    metric("adversary.corruption_to_failure_us", f.at_ns.saturating_sub(t0) / 1000, "us");
    check!(wait_for(20_000, || results.lock().len() == 3), "a pump never got all its answers");
    metric("adversary.corruption_to_all_answered_us", (now_ns() - t0) / 1000, "us");
    for t in threads {
        crate::sched::join(t);
    }
    let mut eio = 0;
    for r in results.lock().iter() {
        let st = check_ok!(r.clone());
        check_eq!(st.answered, st.sent);
        eio += st.eio + st.refused;
    }
    check!(eio > 0, "nobody saw the connection fail");
    metric("adversary.requests_answered_eio", eio as u64, "requests");
    // New requests fail at once; kernel callers get a typed error.
    let fd = check_ok!(p.open("/tmp/adv-probe", O_CREAT | O_RDWR));
    check_ok!(p.close(fd));
    check_eq!(xs::read_string(0, "domid"), Err(XsError::Closed));
    check_eq!(p.open("/proc/xen/xenbus", O_RDWR), Err(Errno::ENOENT));
    Ok(())
}

fn self_rsp_prod_ahead() -> TestResult {
    corrupted_ring_answers_everything(&|| {
        xs::corrupt_for_tests(Field::RspProd, 65536);
        xs::kick_reader();
        Ok(())
    })
}

fn self_req_cons_ahead() -> TestResult {
    corrupted_ring_answers_everything(&|| {
        xs::corrupt_for_tests(Field::ReqCons, 5000);
        xs::kick_reader();
        Ok(())
    })
}

fn dom0_rsp_prod_ahead() -> TestResult {
    corrupted_ring_answers_everything(&|| dom0::request_no_wait("corrupt", "add rsp_prod 65536"))
}

fn dom0_req_cons_ahead() -> TestResult {
    corrupted_ring_answers_everything(&|| dom0::request_no_wait("corrupt", "add req_cons 5000"))
}

fn dom0_oversized_header() -> TestResult {
    // A reply header announcing 5,000 payload bytes.
    corrupted_ring_answers_everything(&|| {
        dom0::request_no_wait("corrupt", "inject-rsp 02000000 00000000 00000000 88130000")
    })
}

/// After a corruption, with xenstored offering reconnection (oxenstored):
/// the guest reconnects by itself and xenstore works again.
fn self_corruption_then_reconnect() -> TestResult {
    check!(xs::supports_reconnection(), "xenstored does not offer reconnection");
    self_rsp_prod_ahead()?;
    check!(wait_for(10_000, xs::available), "not reconnected");
    check_ok!(xs::read_string(0, "domid"));
    let p = Program::new();
    let fd = open_xb(&p)?;
    rpc(&p, fd, &msg(XS_READ, 5, 0, &z("domid")))?;
    Ok(())
}

macro_rules! t {
    ($name:ident, $default:expr) => {
        Test { suite: "adversary", name: stringify!($name), func: $name, timeout_ms: T, default: $default }
    };
}

pub static TESTS: &[Test] = &[
    t!(node_write_flood_is_refused, true),
    t!(node_read_flood_is_refused, true),
    t!(opens_and_watches_are_charged, true),
    t!(tmp_fill_ends_in_enospc, true),
    t!(poll_huge_timeout_still_waits, true),
    t!(xenfs_nodes_eperm_and_bad_names, true),
    t!(watch_storm_coalesces_and_is_counted, true),
    t!(reply_without_memory_is_answered, true),
    t!(self_rsp_prod_ahead, false),
    t!(self_req_cons_ahead, false),
    t!(dom0_rsp_prod_ahead, false),
    t!(dom0_req_cons_ahead, false),
    t!(dom0_oversized_header, false),
    t!(self_corruption_then_reconnect, false),
];
