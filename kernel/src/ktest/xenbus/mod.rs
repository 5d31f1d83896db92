//! `xenbus`: the xenfs `xenbus` node (`/proc/xen/xenbus`, `/dev/xen/xenbus`)
//! driven through the file API only, as a Linux program would drive the
//! device, against the real xenstored. The probes reproduce
//! docs/reference/xenbus-linux-observed.md (A2-A15, B1-B5, C1-C9, D1-D8, E1-E6,
//! F1-F12, G1-G14, I1-I6) where our node behaves as Linux does, and the
//! documented deviations (docs/xenbus-abi.md section 9)
//! elsewhere.
//!
//! Ordering without sleeps: the kernel has one connection to xenstored, which
//! answers in request order, so once a request written later (on any
//! descriptor) has been answered, the replies and events xenstored sent
//! before it have reached their descriptors ([`barrier`]). Likewise
//! `dom0::write` returns after the dom0 helper's answer, which xenstored
//! fires after the events of dom0's write.
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use super::{dom0, metric, Failure, Test, TestResult};
use crate::fs::{
    self, Errno, Fd, PollFd, Program, F_GETFL, F_SETFL, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, POLLIN, POLLNVAL,
    POLLOUT, POLLRDNORM,
};
use crate::sched::sleep_ns;
use crate::sync::ThreadLock;
use crate::time::now_ns;
use crate::{check, check_bytes, check_eq, check_ok};

pub(super) type R<T> = Result<T, Failure>;

pub(super) const XB: &str = "/proc/xen/xenbus";
pub(super) const XB_DEV: &str = "/dev/xen/xenbus";

pub(super) const XS_CONTROL: u32 = 0;
pub(super) const XS_DIRECTORY: u32 = 1;
pub(super) const XS_READ: u32 = 2;
pub(super) const XS_GET_PERMS: u32 = 3;
pub(super) const XS_WATCH: u32 = 4;
pub(crate) const XS_UNWATCH: u32 = 5;
pub(super) const XS_TX_START: u32 = 6;
pub(super) const XS_TX_END: u32 = 7;
pub(super) const XS_INTRODUCE: u32 = 8;
pub(super) const XS_RELEASE: u32 = 9;
pub(super) const XS_GET_DOMAIN_PATH: u32 = 10;
pub(super) const XS_WRITE: u32 = 11;
pub(super) const XS_MKDIR: u32 = 12;
pub(super) const XS_RM: u32 = 13;
pub(super) const XS_SET_PERMS: u32 = 14;
pub(super) const XS_WATCH_EVENT: u32 = 15;
pub(super) const XS_ERROR: u32 = 16;
pub(super) const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
pub(super) const XS_RESUME: u32 = 18;
pub(super) const XS_SET_TARGET: u32 = 19;
pub(super) const XS_RESET_WATCHES: u32 = 21;
pub(super) const XS_DIRECTORY_PART: u32 = 22;

/// How long a reply may take (nested Xen under TCG is slow).
pub(super) const REPLY_MS: u64 = 5_000;
/// How long "nothing arrives" is watched for when no barrier applies.
pub(super) const QUIET_MS: i64 = 300;
/// Timeout of tests that only talk to xenstored.
pub(super) const T_XS: u64 = 15_000;
/// Timeout of tests that also ask dom0.
pub(super) const T_DOM0: u64 = 40_000;

// ---------------------------------------------------------------------------
// Building and checking messages

/// A wire message: little-endian header and payload.
pub(super) fn msg(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    m.extend_from_slice(&ty.to_le_bytes());
    m.extend_from_slice(&req_id.to_le_bytes());
    m.extend_from_slice(&tx_id.to_le_bytes());
    m.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    m.extend_from_slice(payload);
    m
}

/// A header whose `len` field says `len`, whatever follows.
pub(super) fn header(ty: u32, req_id: u32, tx_id: u32, len: u32) -> Vec<u8> {
    let mut m = msg(ty, req_id, tx_id, b"");
    m[12..16].copy_from_slice(&len.to_le_bytes());
    m
}

pub(super) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// `path\0`.
pub(super) fn z(s: &str) -> Vec<u8> {
    cat(&[s.as_bytes(), b"\0"])
}

/// `path\0value` (a WRITE payload).
pub(super) fn pv(path: &str, value: &[u8]) -> Vec<u8> {
    cat(&[path.as_bytes(), b"\0", value])
}

/// `path\0token\0` (a WATCH/UNWATCH payload, and an event's).
pub(super) fn pt(path: &str, token: &[u8]) -> Vec<u8> {
    cat(&[path.as_bytes(), b"\0", token, b"\0"])
}

/// `XS_ERROR "<name>\0"`.
pub(super) fn err(req_id: u32, tx_id: u32, name: &str) -> Vec<u8> {
    msg(XS_ERROR, req_id, tx_id, &z(name))
}

/// `<ty> "OK\0"`.
pub(super) fn ok(ty: u32, req_id: u32, tx_id: u32) -> Vec<u8> {
    msg(ty, req_id, tx_id, b"OK\0")
}

/// A watch event as the node queues it: req_id = tx_id = 0.
pub(super) fn event(path: &str, token: &[u8]) -> Vec<u8> {
    msg(XS_WATCH_EVENT, 0, 0, &pt(path, token))
}

pub(super) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub(super) fn fail(line: u32, msg: String) -> Failure {
    Failure { file: file!(), line, msg }
}

// ---------------------------------------------------------------------------
// Talking to the node

pub(super) fn open_xb(p: &Program) -> R<Fd> {
    Ok(check_ok!(p.open(XB, O_RDWR)))
}

/// Writes a whole message in one write(), which must return its length.
pub(super) fn send(p: &Program, fd: Fd, m: &[u8]) -> R<()> {
    let n = check_ok!(p.write(fd, m));
    check_eq!(n, m.len());
    Ok(())
}

/// Polls `fd` for input; fails unless it becomes readable within `ms`.
pub(super) fn wait_readable(p: &Program, fd: Fd, ms: u64) -> R<()> {
    let mut set = [PollFd { fd, events: POLLIN, revents: 0 }];
    let n = check_ok!(p.poll(&mut set, ms as i64));
    if n != 1 {
        return Err(fail(line!(), format!("fd {}: nothing to read within {} ms", fd, ms)));
    }
    Ok(())
}

/// Reads exactly `n` bytes (waiting with poll, up to `ms` in all).
pub(super) fn read_exact(p: &Program, fd: Fd, n: usize, ms: u64) -> R<Vec<u8>> {
    let deadline = now_ns() + ms * 1_000_000;
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let left = deadline.saturating_sub(now_ns()) / 1_000_000;
        let mut set = [PollFd { fd, events: POLLIN, revents: 0 }];
        let r = check_ok!(p.poll(&mut set, left as i64));
        if r == 0 {
            return Err(fail(
                line!(),
                format!("fd {}: {} of {} bytes within {} ms: {}", fd, got, n, ms, crate::ktest::hexdump(&out[..got])),
            ));
        }
        let k = check_ok!(p.read(fd, &mut out[got..]));
        check!(k > 0, "read returned 0 with data queued");
        got += k;
    }
    Ok(out)
}

/// Reads one message (header, then its payload).
pub(super) fn recv(p: &Program, fd: Fd) -> R<Vec<u8>> {
    let mut m = read_exact(p, fd, 16, REPLY_MS)?;
    let len = u32_at(&m, 12) as usize;
    check!(len <= 8192, "absurd len {} in {}", len, crate::ktest::hexdump(&m));
    let body = read_exact(p, fd, len, REPLY_MS)?;
    m.extend_from_slice(&body);
    Ok(m)
}

/// Writes a request and reads the next message.
pub(super) fn rpc(p: &Program, fd: Fd, m: &[u8]) -> R<Vec<u8>> {
    send(p, fd, m)?;
    recv(p, fd)
}

/// Reads `want.len()` messages and checks they are `want` in any order.
pub(super) fn recv_any_order(p: &Program, fd: Fd, want: &[Vec<u8>]) -> R<()> {
    let mut left: Vec<&Vec<u8>> = want.iter().collect();
    let mut seen = Vec::new();
    for _ in 0..want.len() {
        let m = recv(p, fd)?;
        match left.iter().position(|w| **w == m) {
            Some(i) => {
                left.remove(i);
                seen.push(m);
            }
            None => {
                let mut s = format!("unexpected message {}\n    still expected:", crate::ktest::hexdump(&m));
                for w in &left {
                    s.push_str(&format!("\n      {}", crate::ktest::hexdump(w)));
                }
                return Err(fail(line!(), s));
            }
        }
    }
    Ok(())
}

/// Nothing is readable on `fd` (poll with a timeout of `ms`).
pub(super) fn quiet(p: &Program, fd: Fd, ms: i64) -> R<()> {
    let mut set = [PollFd { fd, events: POLLIN | POLLOUT | POLLRDNORM, revents: 0 }];
    let n = check_ok!(p.poll(&mut set, ms));
    if n != 0 {
        let mut buf = vec![0u8; 256];
        let k = p.read(fd, &mut buf).unwrap_or(0);
        return Err(fail(
            line!(),
            format!(
                "fd {} unexpectedly readable (revents {:#x}): {}",
                fd,
                set[0].revents,
                crate::ktest::hexdump(&buf[..k])
            ),
        ));
    }
    check_eq!(set[0].revents, 0);
    Ok(())
}

/// Waits until xenstored has answered everything the kernel sent before:
/// one round trip on a fresh descriptor.
pub(super) fn barrier() -> R<()> {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let r = rpc(&p, fd, &msg(XS_READ, 0xba77, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 0), XS_READ);
    Ok(())
}

/// Sets `path` to `value` through a descriptor of its own.
pub(super) fn setup_write(path: &str, value: &[u8]) -> R<()> {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let r = rpc(&p, fd, &msg(XS_WRITE, 0x5e7, 0, &pv(path, value)))?;
    check_bytes!(r, ok(XS_WRITE, 0x5e7, 0));
    Ok(())
}

/// Removes `path` (whether or not it exists).
pub(super) fn setup_rm(path: &str) -> R<()> {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let r = rpc(&p, fd, &msg(XS_RM, 0x5e8, 0, &z(path)))?;
    check!(r == ok(XS_RM, 0x5e8, 0) || r == err(0x5e8, 0, "ENOENT"), "rm {}: {}", path, crate::ktest::hexdump(&r));
    Ok(())
}

/// Registers a watch and consumes its OK and its initial event (either order).
pub(super) fn watch(p: &Program, fd: Fd, req: u32, path: &str, token: &[u8]) -> R<()> {
    send(p, fd, &msg(XS_WATCH, req, 0, &pt(path, token)))?;
    recv_any_order(p, fd, &[ok(XS_WATCH, req, 0), event(path, token)])
}

/// Starts a transaction; returns its id.
pub(super) fn tx_start(p: &Program, fd: Fd, req: u32) -> R<u32> {
    let r = rpc(p, fd, &msg(XS_TX_START, req, 0, b"\0"))?;
    tx_id_of(&r, req)
}

/// The id in a START reply, checking the reply's shape.
pub(super) fn tx_id_of(r: &[u8], req: u32) -> R<u32> {
    check!(u32_at(r, 0) == XS_TX_START, "START reply {}", crate::ktest::hexdump(r));
    check_eq!(u32_at(r, 4), req);
    check_eq!(u32_at(r, 8), 0);
    let len = u32_at(r, 12) as usize;
    check_eq!(len, r.len() - 16);
    let body = &r[16..];
    check!(len >= 2 && body[len - 1] == 0, "START payload {}", crate::ktest::hexdump(body));
    check!(body[..len - 1].iter().all(|b| b.is_ascii_digit()), "START payload {}", crate::ktest::hexdump(body));
    let id: u32 = check_ok!(core::str::from_utf8(&body[..len - 1]).unwrap_or("x").parse::<u32>());
    check!(id != 0);
    Ok(id)
}

/// The guest's home, `/local/domain/<domid>`, read through the node.
pub(super) fn home(p: &Program, fd: Fd) -> R<String> {
    let r = rpc(p, fd, &msg(XS_READ, 0x40e, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 0), XS_READ);
    let id = String::from_utf8_lossy(&r[16..]).into_owned();
    check!(id.parse::<u32>().is_ok(), "domid '{}'", id);
    Ok(format!("/local/domain/{}", id))
}

/// Starts transactions on `fd` until xenstored refuses one with ENOSPC
/// (its per-domain quota: 10 by default, observed as 10 under Linux where
/// the 11th START failed); returns the ids started.
/// Aborts the transactions `ids` of `fd`, expecting OK for each.
pub(super) fn end_all(p: &Program, fd: Fd, ids: &[u32], req0: u32) -> R<()> {
    for (i, t) in ids.iter().enumerate() {
        let req = req0 + i as u32;
        check_bytes!(rpc(p, fd, &msg(XS_TX_END, req, *t, b"F\0"))?, ok(XS_TX_END, req, *t));
    }
    Ok(())
}

static TX_QUOTA: AtomicUsize = AtomicUsize::new(0);

pub(super) fn fill_tx_quota(p: &Program, fd: Fd, req0: u32) -> R<Vec<u32>> {
    let mut ids = Vec::new();
    for i in 0..64u32 {
        let req = req0 + i;
        let r = rpc(p, fd, &msg(XS_TX_START, req, 0, b"\0"))?;
        if u32_at(&r, 0) == XS_ERROR {
            check_bytes!(r, err(req, 0, "ENOSPC"));
            check!(ids.len() >= 10, "only {} transactions before ENOSPC", ids.len());
            // Every later fill (after closes and resets) must fit as many.
            let q = TX_QUOTA.load(Ordering::SeqCst);
            check!(q == 0 || q == ids.len(), "{} transactions fit now, {} before: some leaked", ids.len(), q);
            TX_QUOTA.store(ids.len(), Ordering::SeqCst);
            return Ok(ids);
        }
        ids.push(tx_id_of(&r, req)?);
    }
    Err(fail(line!(), format!("no ENOSPC after {} transactions", ids.len())))
}

macro_rules! t {
    ($name:ident, $ms:expr) => {
        crate::ktest::Test { suite: "xenbus", name: stringify!($name), func: $name, timeout_ms: $ms, default: true }
    };
}

mod basics;
mod bounds_close;
mod framing;
mod read_poll;
mod transactions;
mod watches;

/// Every xenbus test, by area.
pub fn suites() -> [&'static [Test]; 6] {
    [basics::TESTS, framing::TESTS, read_poll::TESTS, watches::TESTS, transactions::TESTS, bounds_close::TESTS]
}

/// Reads until `n` whole messages have arrived on `fd` (blocking reads,
/// each guarded by a poll of at most `ms`): (type, req_id, payload).
pub(super) fn read_n_messages(p: &Program, fd: Fd, n: usize, ms: u64) -> R<Vec<(u32, u32, Vec<u8>)>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let hdr = read_exact(p, fd, 16, ms)?;
        let len = u32_at(&hdr, 12) as usize;
        let body = if len > 0 { read_exact(p, fd, len, ms)? } else { Vec::new() };
        out.push((u32_at(&hdr, 0), u32_at(&hdr, 4), body));
    }
    Ok(out)
}
