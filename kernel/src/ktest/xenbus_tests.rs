//! `xenbus`: the xenfs `xenbus` node (`/proc/xen/xenbus`, `/dev/xen/xenbus`)
//! driven through the file API only, as a Linux program would drive the
//! device, against the real xenstored. The probes reproduce
//! docs/xenbus-linux-observed.md (A2-A15, B1-B5, C1-C9, D1-D8, E1-E6,
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
use crate::sync::ThreadLock;
use crate::fs::{
    self, Errno, Fd, PollFd, Program, F_GETFL, F_SETFL, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, POLLIN, POLLNVAL,
    POLLOUT, POLLRDNORM,
};
use crate::sched::sleep_ns;
use crate::time::now_ns;
use crate::{check, check_bytes, check_eq, check_ok};

type R<T> = Result<T, Failure>;

const XB: &str = "/proc/xen/xenbus";
const XB_DEV: &str = "/dev/xen/xenbus";

const XS_CONTROL: u32 = 0;
const XS_DIRECTORY: u32 = 1;
const XS_READ: u32 = 2;
const XS_GET_PERMS: u32 = 3;
const XS_WATCH: u32 = 4;
const XS_UNWATCH: u32 = 5;
const XS_TX_START: u32 = 6;
const XS_TX_END: u32 = 7;
const XS_INTRODUCE: u32 = 8;
const XS_RELEASE: u32 = 9;
const XS_GET_DOMAIN_PATH: u32 = 10;
const XS_WRITE: u32 = 11;
const XS_MKDIR: u32 = 12;
const XS_RM: u32 = 13;
const XS_SET_PERMS: u32 = 14;
const XS_WATCH_EVENT: u32 = 15;
const XS_ERROR: u32 = 16;
const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
const XS_RESUME: u32 = 18;
const XS_SET_TARGET: u32 = 19;
const XS_RESET_WATCHES: u32 = 21;
const XS_DIRECTORY_PART: u32 = 22;

/// How long a reply may take (nested Xen under TCG is slow).
const REPLY_MS: u64 = 5_000;
/// How long "nothing arrives" is watched for when no barrier applies.
const QUIET_MS: i64 = 300;
/// Timeout of tests that only talk to xenstored.
const T_XS: u64 = 15_000;
/// Timeout of tests that also ask dom0.
const T_DOM0: u64 = 40_000;

// ---------------------------------------------------------------------------
// Building and checking messages

/// A wire message: little-endian header and payload.
fn msg(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    m.extend_from_slice(&ty.to_le_bytes());
    m.extend_from_slice(&req_id.to_le_bytes());
    m.extend_from_slice(&tx_id.to_le_bytes());
    m.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    m.extend_from_slice(payload);
    m
}

/// A header whose `len` field says `len`, whatever follows.
fn header(ty: u32, req_id: u32, tx_id: u32, len: u32) -> Vec<u8> {
    let mut m = msg(ty, req_id, tx_id, b"");
    m[12..16].copy_from_slice(&len.to_le_bytes());
    m
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// `path\0`.
fn z(s: &str) -> Vec<u8> {
    cat(&[s.as_bytes(), b"\0"])
}

/// `path\0value` (a WRITE payload).
fn pv(path: &str, value: &[u8]) -> Vec<u8> {
    cat(&[path.as_bytes(), b"\0", value])
}

/// `path\0token\0` (a WATCH/UNWATCH payload, and an event's).
fn pt(path: &str, token: &[u8]) -> Vec<u8> {
    cat(&[path.as_bytes(), b"\0", token, b"\0"])
}

/// `XS_ERROR "<name>\0"`.
fn err(req_id: u32, tx_id: u32, name: &str) -> Vec<u8> {
    msg(XS_ERROR, req_id, tx_id, &z(name))
}

/// `<ty> "OK\0"`.
fn ok(ty: u32, req_id: u32, tx_id: u32) -> Vec<u8> {
    msg(ty, req_id, tx_id, b"OK\0")
}

/// A watch event as the node queues it: req_id = tx_id = 0.
fn event(path: &str, token: &[u8]) -> Vec<u8> {
    msg(XS_WATCH_EVENT, 0, 0, &pt(path, token))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn fail(line: u32, msg: String) -> Failure {
    Failure { file: file!(), line, msg }
}

// ---------------------------------------------------------------------------
// Talking to the node

fn open_xb(p: &Program) -> R<Fd> {
    Ok(check_ok!(p.open(XB, O_RDWR)))
}

/// Writes a whole message in one write(), which must return its length.
fn send(p: &Program, fd: Fd, m: &[u8]) -> R<()> {
    let n = check_ok!(p.write(fd, m));
    check_eq!(n, m.len());
    Ok(())
}

/// Polls `fd` for input; fails unless it becomes readable within `ms`.
fn wait_readable(p: &Program, fd: Fd, ms: u64) -> R<()> {
    let mut set = [PollFd { fd, events: POLLIN, revents: 0 }];
    let n = check_ok!(p.poll(&mut set, ms as i64));
    if n != 1 {
        return Err(fail(line!(), format!("fd {}: nothing to read within {} ms", fd, ms)));
    }
    Ok(())
}

/// Reads exactly `n` bytes (waiting with poll, up to `ms` in all).
fn read_exact(p: &Program, fd: Fd, n: usize, ms: u64) -> R<Vec<u8>> {
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
                format!("fd {}: {} of {} bytes within {} ms: {}", fd, got, n, ms, super::hexdump(&out[..got])),
            ));
        }
        let k = check_ok!(p.read(fd, &mut out[got..]));
        check!(k > 0, "read returned 0 with data queued");
        got += k;
    }
    Ok(out)
}

/// Reads one message (header, then its payload).
fn recv(p: &Program, fd: Fd) -> R<Vec<u8>> {
    let mut m = read_exact(p, fd, 16, REPLY_MS)?;
    let len = u32_at(&m, 12) as usize;
    check!(len <= 8192, "absurd len {} in {}", len, super::hexdump(&m));
    let body = read_exact(p, fd, len, REPLY_MS)?;
    m.extend_from_slice(&body);
    Ok(m)
}

/// Writes a request and reads the next message.
fn rpc(p: &Program, fd: Fd, m: &[u8]) -> R<Vec<u8>> {
    send(p, fd, m)?;
    recv(p, fd)
}

/// Reads `want.len()` messages and checks they are `want` in any order.
fn recv_any_order(p: &Program, fd: Fd, want: &[Vec<u8>]) -> R<()> {
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
                let mut s = format!("unexpected message {}\n    still expected:", super::hexdump(&m));
                for w in &left {
                    s.push_str(&format!("\n      {}", super::hexdump(w)));
                }
                return Err(fail(line!(), s));
            }
        }
    }
    Ok(())
}

/// Nothing is readable on `fd` (poll with a timeout of `ms`).
fn quiet(p: &Program, fd: Fd, ms: i64) -> R<()> {
    let mut set = [PollFd { fd, events: POLLIN | POLLOUT | POLLRDNORM, revents: 0 }];
    let n = check_ok!(p.poll(&mut set, ms));
    if n != 0 {
        let mut buf = vec![0u8; 256];
        let k = p.read(fd, &mut buf).unwrap_or(0);
        return Err(fail(
            line!(),
            format!("fd {} unexpectedly readable (revents {:#x}): {}", fd, set[0].revents, super::hexdump(&buf[..k])),
        ));
    }
    check_eq!(set[0].revents, 0);
    Ok(())
}

/// Waits until xenstored has answered everything the kernel sent before:
/// one round trip on a fresh descriptor.
fn barrier() -> R<()> {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let r = rpc(&p, fd, &msg(XS_READ, 0xba77, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 0), XS_READ);
    Ok(())
}

/// Sets `path` to `value` through a descriptor of its own.
fn setup_write(path: &str, value: &[u8]) -> R<()> {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let r = rpc(&p, fd, &msg(XS_WRITE, 0x5e7, 0, &pv(path, value)))?;
    check_bytes!(r, ok(XS_WRITE, 0x5e7, 0));
    Ok(())
}

/// Removes `path` (whether or not it exists).
fn setup_rm(path: &str) -> R<()> {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let r = rpc(&p, fd, &msg(XS_RM, 0x5e8, 0, &z(path)))?;
    check!(r == ok(XS_RM, 0x5e8, 0) || r == err(0x5e8, 0, "ENOENT"), "rm {}: {}", path, super::hexdump(&r));
    Ok(())
}

/// Registers a watch and consumes its OK and its initial event (either order).
fn watch(p: &Program, fd: Fd, req: u32, path: &str, token: &[u8]) -> R<()> {
    send(p, fd, &msg(XS_WATCH, req, 0, &pt(path, token)))?;
    recv_any_order(p, fd, &[ok(XS_WATCH, req, 0), event(path, token)])
}

/// Starts a transaction; returns its id.
fn tx_start(p: &Program, fd: Fd, req: u32) -> R<u32> {
    let r = rpc(p, fd, &msg(XS_TX_START, req, 0, b"\0"))?;
    tx_id_of(&r, req)
}

/// The id in a START reply, checking the reply's shape.
fn tx_id_of(r: &[u8], req: u32) -> R<u32> {
    check!(u32_at(r, 0) == XS_TX_START, "START reply {}", super::hexdump(r));
    check_eq!(u32_at(r, 4), req);
    check_eq!(u32_at(r, 8), 0);
    let len = u32_at(r, 12) as usize;
    check_eq!(len, r.len() - 16);
    let body = &r[16..];
    check!(len >= 2 && body[len - 1] == 0, "START payload {}", super::hexdump(body));
    check!(body[..len - 1].iter().all(|b| b.is_ascii_digit()), "START payload {}", super::hexdump(body));
    let id: u32 = check_ok!(core::str::from_utf8(&body[..len - 1]).unwrap_or("x").parse::<u32>());
    check!(id != 0);
    Ok(id)
}

/// The guest's home, `/local/domain/<domid>`, read through the node.
fn home(p: &Program, fd: Fd) -> R<String> {
    let r = rpc(p, fd, &msg(XS_READ, 0x40e, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 0), XS_READ);
    let id = String::from_utf8_lossy(&r[16..]).into_owned();
    check!(id.parse::<u32>().is_ok(), "domid '{}'", id);
    Ok(format!("/local/domain/{}", id))
}

// ---------------------------------------------------------------------------
// a. Basic requests and the reply header

fn write_then_read_reply() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // A2
    let r = rpc(&p, fd, &msg(XS_WRITE, 0xa1000002, 0, &pv("data/xb/probe", b"hello")))?;
    check_bytes!(r, ok(XS_WRITE, 0xa1000002, 0));
    // A3: xenstored's payload only, no NUL.
    let r = rpc(&p, fd, &msg(XS_READ, 0xa1000003, 0, &z("data/xb/probe")))?;
    check_bytes!(r, msg(XS_READ, 0xa1000003, 0, b"hello"));
    quiet(&p, fd, 0)?;
    check_ok!(p.close(fd));
    Ok(())
}

fn read_missing_is_xs_error() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_rm("data/xb/missing")?;
    // A4: XS_ERROR is a message, never an errno.
    let r = rpc(&p, fd, &msg(XS_READ, 0xa1000004, 0, &z("data/xb/missing")))?;
    check_bytes!(r, err(0xa1000004, 0, "ENOENT"));
    Ok(())
}

fn read_empty_value_queues_header_alone() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/empty", b"")?;
    // A6 / E6: a reply with len 0 is the 16-byte header alone, and nothing
    // (no zero-length body) is queued after it.
    send(&p, fd, &msg(XS_READ, 0xa1000006, 0, &z("data/xb/empty")))?;
    wait_readable(&p, fd, REPLY_MS)?;
    let mut buf = vec![0u8; 4096];
    let n = check_ok!(p.read(fd, &mut buf));
    check_bytes!(buf[..n], msg(XS_READ, 0xa1000006, 0, b""));
    quiet(&p, fd, 0)?;
    barrier()?;
    quiet(&p, fd, 0)?;
    Ok(())
}

fn empty_reply_then_next_reply_in_one_stream() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/empty", b"")?;
    setup_write("data/xb/probe", b"hello")?;
    // A7: the 16-byte header of the empty reply is followed directly by the
    // next message; one read returns both (37 bytes).
    send(&p, fd, &msg(XS_READ, 0xa1000071, 0, &z("data/xb/empty")))?;
    send(&p, fd, &msg(XS_READ, 0xa1000072, 0, &z("data/xb/probe")))?;
    barrier()?;
    let mut buf = vec![0u8; 4096];
    let n = check_ok!(p.read(fd, &mut buf));
    let want = cat(&[&msg(XS_READ, 0xa1000071, 0, b""), &msg(XS_READ, 0xa1000072, 0, b"hello")]);
    check_eq!(n, 37);
    check_bytes!(buf[..n], want);
    quiet(&p, fd, 0)?;
    Ok(())
}

fn req_id_restored_in_replies() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // A8: any req_id comes back exactly, 0 and 0xffffffff included; the
    // kernel uses its own ids on the ring.
    for req in [0u32, 0xffff_ffff, 0x8000_0000, 1, 0xa1000008] {
        let r = rpc(&p, fd, &msg(XS_READ, req, 0, &z("data/xb/probe")))?;
        check_bytes!(r, msg(XS_READ, req, 0, b"hello"));
    }
    // The same req_id in flight twice: both replies carry it.
    send(&p, fd, &msg(XS_READ, 7, 0, &z("data/xb/probe")))?;
    send(&p, fd, &msg(XS_READ, 7, 0, &z("data/xb/missing-a8")))?;
    let a = recv(&p, fd)?;
    let b = recv(&p, fd)?;
    check_bytes!(a, msg(XS_READ, 7, 0, b"hello"));
    check_bytes!(b, err(7, 0, "ENOENT"));
    Ok(())
}

fn forwarded_payload_not_validated() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_rm("data/xb/a9")?;
    // A9: a READ whose path lacks its NUL is forwarded as it is.
    let r = rpc(&p, fd, &msg(XS_READ, 0xa1000009, 0, b"data/xb/a9"))?;
    check_bytes!(r, err(0xa1000009, 0, "ENOENT"));
    // B6: a READ with len 0 too.
    let r = rpc(&p, fd, &msg(XS_READ, 0xb1000006, 0, b""))?;
    check_bytes!(r, err(0xb1000006, 0, "ENOENT"));
    Ok(())
}

fn zero_length_write_returns_0() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // A11: count 0 returns 0 and queues nothing.
    check_eq!(p.write(fd, b""), Ok(0));
    quiet(&p, fd, 0)?;
    // ... and keeps a partial request: 8 bytes, 0, then the rest.
    setup_write("data/xb/probe", b"hello")?;
    let m = msg(XS_READ, 0xa1000011, 0, &z("data/xb/probe"));
    check_eq!(p.write(fd, &m[..8]), Ok(8));
    check_eq!(p.write(fd, b""), Ok(0));
    check_eq!(p.write(fd, &m[8..]), Ok(m.len() - 8));
    let r = recv(&p, fd)?;
    check_bytes!(r, msg(XS_READ, 0xa1000011, 0, b"hello"));
    Ok(())
}

fn lseek_is_espipe() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // A11: a stream.
    check_eq!(p.lseek(fd, 0, 0), Err(Errno::ESPIPE));
    check_eq!(p.lseek(fd, 0, 1), Err(Errno::ESPIPE));
    check_eq!(p.lseek(fd, 0, 2), Err(Errno::ESPIPE));
    check_eq!(p.lseek(fd, 16, 0), Err(Errno::ESPIPE));
    let fd2 = check_ok!(p.open(XB_DEV, O_RDWR));
    check_eq!(p.lseek(fd2, 0, 0), Err(Errno::ESPIPE));
    Ok(())
}

fn opens_are_independent() -> TestResult {
    let p = Program::new();
    let a = open_xb(&p)?;
    let b = open_xb(&p)?;
    check!(a != b);
    // A12: a reply on one open is invisible to the other.
    send(&p, a, &msg(XS_READ, 0xa1000012, 0, b"domid\0"))?;
    wait_readable(&p, a, REPLY_MS)?;
    quiet(&p, b, QUIET_MS)?;
    let r = recv(&p, a)?;
    check_eq!(u32_at(&r, 4), 0xa1000012);
    // Partial requests are per open too.
    let m = msg(XS_READ, 0xa1000013, 0, b"domid\0");
    check_eq!(p.write(a, &m[..10]), Ok(10));
    let r = rpc(&p, b, &msg(XS_READ, 0xa1000014, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 4), 0xa1000014);
    check_eq!(p.write(a, &m[10..]), Ok(m.len() - 10));
    let r = recv(&p, a)?;
    check_eq!(u32_at(&r, 4), 0xa1000013);
    Ok(())
}

fn access_mode_ebadf() -> TestResult {
    let p = Program::new();
    // A15: the VFS enforces the access mode.
    let ro = check_ok!(p.open(XB, O_RDONLY));
    let wo = check_ok!(p.open(XB, O_WRONLY));
    let m = msg(XS_READ, 0xa1000015, 0, b"domid\0");
    check_eq!(p.write(ro, &m), Err(Errno::EBADF));
    let mut buf = [0u8; 64];
    check_eq!(p.read(wo, &mut buf), Err(Errno::EBADF));
    // The write-only open still sends; its reply is not readable there.
    check_eq!(p.write(wo, &m), Ok(m.len()));
    barrier()?;
    check_eq!(p.read(wo, &mut buf), Err(Errno::EBADF));
    // The read-only open has nothing queued.
    check_ok!(p.fcntl(ro, F_SETFL, O_NONBLOCK));
    check_eq!(p.read(ro, &mut buf), Err(Errno::EAGAIN));
    check_ok!(p.close(ro));
    check_ok!(p.close(wo));
    Ok(())
}

fn dev_xen_xenbus_is_independent() -> TestResult {
    let p = Program::new();
    // A13: /dev/xen/xenbus behaves the same and is an open of its own.
    let d = check_ok!(p.open(XB_DEV, O_RDWR));
    let x = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    let r = rpc(&p, d, &msg(XS_READ, 0xa1000131, 0, &z("data/xb/probe")))?;
    check_bytes!(r, msg(XS_READ, 0xa1000131, 0, b"hello"));
    quiet(&p, x, 0)?;
    send(&p, x, &msg(XS_READ, 0xa1000132, 0, &z("data/xb/probe")))?;
    barrier()?;
    quiet(&p, d, 0)?;
    let r = recv(&p, x)?;
    check_bytes!(r, msg(XS_READ, 0xa1000132, 0, b"hello"));
    // A transaction of one is unknown to the other.
    let t = tx_start(&p, d, 0xa1000133)?;
    let r = rpc(&p, x, &msg(XS_READ, 0xa1000134, t, &z("data/xb/probe")))?;
    check_bytes!(r, err(0xa1000134, t, "ENOENT"));
    let r = rpc(&p, d, &msg(XS_TX_END, 0xa1000135, t, b"F\0"))?;
    check_bytes!(r, ok(XS_TX_END, 0xa1000135, t));
    Ok(())
}

fn stat_modes_and_capabilities() -> TestResult {
    // /proc/xen/xenbus: a regular file 0600 (xenfs); /dev/xen/xenbus: a
    // character device 0600.
    let s = check_ok!(fs::stat(XB));
    check_eq!(s.mode, 0o100600);
    check_eq!(s.size, 0);
    let s = check_ok!(fs::stat(XB_DEV));
    check_eq!(s.mode, 0o020600);
    let p = Program::new();
    let fd = open_xb(&p)?;
    check_eq!(check_ok!(p.fstat(fd)).mode, 0o100600);
    let fd2 = check_ok!(p.open(XB_DEV, O_RDWR));
    check_eq!(check_ok!(p.fstat(fd2)).mode, 0o020600);
    // /proc/xen/capabilities: empty in a domU.
    let s = check_ok!(fs::stat("/proc/xen/capabilities"));
    check_eq!(s.mode & 0o170000, 0o100000);
    check_eq!(s.size, 0);
    let c = check_ok!(p.open("/proc/xen/capabilities", O_RDONLY));
    let mut buf = [0u8; 64];
    check_eq!(p.read(c, &mut buf), Ok(0));
    check_eq!(p.read(c, &mut buf), Ok(0));
    // The xenfs directory lists both nodes.
    let names: Vec<Vec<u8>> = check_ok!(fs::readdir("/proc/xen")).into_iter().map(|e| e.name).collect();
    check!(names.iter().any(|n| n == b"xenbus"), "{:?}", names);
    check!(names.iter().any(|n| n == b"capabilities"), "{:?}", names);
    check_eq!(p.open("/proc/xen/privcmd", O_RDWR), Err(Errno::ENOENT));
    Ok(())
}

fn directory_and_get_perms_forwarded() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_rm("data/xb/dir")?;
    setup_write("data/xb/dir/a", b"1")?;
    setup_write("data/xb/dir/b", b"2")?;
    let r = rpc(&p, fd, &msg(XS_DIRECTORY, 0xd1, 0, &z("data/xb/dir")))?;
    check!(
        r == msg(XS_DIRECTORY, 0xd1, 0, b"a\0b\0") || r == msg(XS_DIRECTORY, 0xd1, 0, b"b\0a\0"),
        "{}",
        super::hexdump(&r)
    );
    // Type 22 DIRECTORY_PART: "<generation>\0a\0b\0\0".
    // Without its offset argument, xenstored rejects it.
    let r = rpc(&p, fd, &msg(XS_DIRECTORY_PART, 0xd2, 0, b"data/xb/dir\0"))?;
    check_eq!(u32_at(&r, 0), XS_ERROR);
    let r = rpc(&p, fd, &msg(XS_DIRECTORY_PART, 0xd3, 0, b"data/xb/dir\x000\0"))?;
    check_eq!(u32_at(&r, 0), XS_DIRECTORY_PART);
    check_eq!(u32_at(&r, 4), 0xd3);
    let body = &r[16..];
    let gen_end = check_ok!(body.iter().position(|&b| b == 0).ok_or("no generation"));
    check!(gen_end > 0 && body[..gen_end].iter().all(|b| b.is_ascii_digit()), "{}", super::hexdump(body));
    let rest = &body[gen_end + 1..];
    check!(rest == b"a\0b\0\0" || rest == b"b\0a\0\0", "{}", super::hexdump(body));
    let r = rpc(&p, fd, &msg(XS_GET_PERMS, 0xd4, 0, &z("data/xb/dir/a")))?;
    check_eq!(u32_at(&r, 0), XS_GET_PERMS);
    check!(r[16] == b'n' && *r.last().unwrap_or(&1) == 0, "{}", super::hexdump(&r));
    // MKDIR and GET_DOMAIN_PATH are forwarded too.
    let r = rpc(&p, fd, &msg(XS_MKDIR, 0xd5, 0, &z("data/xb/dir/c")))?;
    check_bytes!(r, ok(XS_MKDIR, 0xd5, 0));
    let h = home(&p, fd)?;
    let domid = h.trim_start_matches("/local/domain/");
    let r = rpc(&p, fd, &msg(XS_GET_DOMAIN_PATH, 0xd6, 0, &z(domid)))?;
    check_bytes!(r, msg(XS_GET_DOMAIN_PATH, 0xd6, 0, &z(&h)));
    setup_rm("data/xb/dir")?;
    Ok(())
}

fn set_perms_error_passed_through() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/sp", b"x")?;
    // Handing the node to dom0 (owner 0) is refused by xenstored; its error
    // string reaches the program untouched.
    let r = rpc(&p, fd, &msg(XS_SET_PERMS, 0xe1, 0, b"data/xb/sp\0n0\0"))?;
    check_eq!(u32_at(&r, 0), XS_ERROR);
    check_eq!(u32_at(&r, 4), 0xe1);
    check_bytes!(r, err(0xe1, 0, "EPERM"));
    Ok(())
}

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

// ---------------------------------------------------------------------------
// d. read()

fn read_one_byte_at_a_time() -> TestResult {
    let p = Program::new();
    let fd = check_ok!(p.open(XB, O_RDWR | O_NONBLOCK));
    setup_write("data/xb/probe", b"hello")?;
    // D1
    send(&p, fd, &msg(XS_READ, 0xd1000001, 0, &z("data/xb/probe")))?;
    wait_readable(&p, fd, REPLY_MS)?;
    let want = msg(XS_READ, 0xd1000001, 0, b"hello");
    let mut got = Vec::new();
    for _ in 0..want.len() {
        let mut b = [0u8; 1];
        check_eq!(p.read(fd, &mut b), Ok(1));
        got.push(b[0]);
    }
    check_bytes!(got, want);
    let mut b = [0u8; 1];
    check_eq!(p.read(fd, &mut b), Err(Errno::EAGAIN));
    Ok(())
}

fn read_spans_message_boundaries() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // D2: read(20) = header + "hell"; read(10) = "o" + 9 bytes of the next
    // message; read(4096) = the remaining 12 bytes.
    send(&p, fd, &msg(XS_READ, 1, 0, &z("data/xb/probe")))?;
    send(&p, fd, &msg(XS_READ, 0xd2, 0, &z("data/xb/probe")))?;
    barrier()?;
    let stream = cat(&[&msg(XS_READ, 1, 0, b"hello"), &msg(XS_READ, 0xd2, 0, b"hello")]);
    let mut buf = vec![0u8; 4096];
    check_eq!(p.read(fd, &mut buf[..20]), Ok(20));
    check_bytes!(buf[..20], stream[..20]);
    check_eq!(p.read(fd, &mut buf[..10]), Ok(10));
    check_bytes!(buf[..10], stream[20..30]);
    check_bytes!(buf[..10], b"o\x02\x00\x00\x00\xd2\x00\x00\x00\x00");
    check_eq!(p.read(fd, &mut buf), Ok(12));
    check_bytes!(buf[..12], stream[30..]);
    quiet(&p, fd, 0)?;
    Ok(())
}

fn read_three_replies_at_once() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    setup_write("data/xb/empty", b"")?;
    // D8: three replies, one read(4096) returns all of them.
    send(&p, fd, &msg(XS_READ, 0xd8000001, 0, &z("data/xb/probe")))?;
    send(&p, fd, &msg(XS_READ, 0xd8000002, 0, &z("data/xb/empty")))?;
    send(&p, fd, &msg(XS_READ, 0xd8000003, 0, &z("data/xb/missing-d8")))?;
    barrier()?;
    let want = cat(&[
        &msg(XS_READ, 0xd8000001, 0, b"hello"),
        &msg(XS_READ, 0xd8000002, 0, b""),
        &err(0xd8000003, 0, "ENOENT"),
    ]);
    check_eq!(want.len(), 21 + 16 + 23);
    let mut buf = vec![0u8; 4096];
    let n = check_ok!(p.read(fd, &mut buf));
    check_bytes!(buf[..n], want);
    Ok(())
}

fn nonblocking_empty_read_eagain() -> TestResult {
    let p = Program::new();
    // D3: O_NONBLOCK at open; read(4096) and read(0) both EAGAIN.
    let fd = check_ok!(p.open(XB, O_RDWR | O_NONBLOCK));
    let mut buf = vec![0u8; 4096];
    check_eq!(p.read(fd, &mut buf), Err(Errno::EAGAIN));
    check_eq!(p.read(fd, &mut buf[..0]), Err(Errno::EAGAIN));
    // After a reply has been drained, empty again.
    send(&p, fd, &msg(XS_READ, 0xd3000001, 0, b"domid\0"))?;
    let r = recv(&p, fd)?;
    check_eq!(u32_at(&r, 4), 0xd3000001);
    check_eq!(p.read(fd, &mut buf), Err(Errno::EAGAIN));
    Ok(())
}

fn fcntl_setfl_nonblock() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    let fl = check_ok!(p.fcntl(fd, F_GETFL, 0));
    check_eq!(fl & O_NONBLOCK, 0);
    check_eq!(fl & 3, O_RDWR);
    check_ok!(p.fcntl(fd, F_SETFL, fl | O_NONBLOCK));
    check_eq!(check_ok!(p.fcntl(fd, F_GETFL, 0)) & O_NONBLOCK, O_NONBLOCK);
    let mut buf = [0u8; 64];
    check_eq!(p.read(fd, &mut buf), Err(Errno::EAGAIN));
    check_eq!(p.read(fd, &mut buf[..0]), Err(Errno::EAGAIN));
    // O_NONBLOCK does not change write(): requests still go out.
    let r = rpc(&p, fd, &msg(XS_READ, 0xfc000001, 0, b"domid\0"))?;
    check_eq!(u32_at(&r, 4), 0xfc000001);
    // Back to blocking.
    check_ok!(p.fcntl(fd, F_SETFL, fl & !O_NONBLOCK));
    check_eq!(check_ok!(p.fcntl(fd, F_GETFL, 0)) & O_NONBLOCK, 0);
    send(&p, fd, &msg(XS_READ, 0xfc000002, 0, b"domid\0"))?;
    let mut hdr = [0u8; 16];
    check_eq!(p.read(fd, &mut hdr), Ok(16)); // blocks until the reply
    check_eq!(u32_at(&hdr, 4), 0xfc000002);
    Ok(())
}

fn read_zero_with_data_returns_0() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    // Deviation 9.1: Linux spins forever here; we return 0 and consume
    // nothing.
    send(&p, fd, &msg(XS_READ, 0xd0000001, 0, &z("data/xb/probe")))?;
    wait_readable(&p, fd, REPLY_MS)?;
    let mut buf = vec![0u8; 64];
    check_eq!(p.read(fd, &mut buf[..0]), Ok(0));
    check_eq!(p.read(fd, &mut buf[..0]), Ok(0));
    let r = recv(&p, fd)?;
    check_bytes!(r, msg(XS_READ, 0xd0000001, 0, b"hello"));
    // And with O_NONBLOCK too.
    check_ok!(p.fcntl(fd, F_SETFL, O_NONBLOCK));
    send(&p, fd, &msg(XS_READ, 0xd0000002, 0, &z("data/xb/probe")))?;
    wait_readable(&p, fd, REPLY_MS)?;
    check_eq!(p.read(fd, &mut buf[..0]), Ok(0));
    let r = recv(&p, fd)?;
    check_bytes!(r, msg(XS_READ, 0xd0000002, 0, b"hello"));
    check_eq!(p.read(fd, &mut buf[..0]), Err(Errno::EAGAIN));
    Ok(())
}

fn read_zero_blocks_on_empty_queue() -> TestResult {
    // D4: read(0) on an empty queue sleeps like any read, until data comes.
    let p = Arc::new(Program::new());
    let fd = open_xb(&p)?;
    let res = Arc::new(AtomicI64::new(i64::MIN));
    let (p2, r2) = (p.clone(), res.clone());
    let tid = check_ok!(crate::sched::spawn("xb-read0", move || {
        let mut b = [0u8; 1];
        let r = match p2.read(fd, &mut b[..0]) {
            Ok(n) => n as i64,
            Err(e) => -(e.code() as i64),
        };
        r2.store(r, Ordering::SeqCst);
    }));
    sleep_ns(300_000_000);
    check_eq!(res.load(Ordering::SeqCst), i64::MIN);
    send(&p, fd, &msg(XS_READ, 0xd4000001, 0, b"domid\0"))?;
    crate::sched::join(tid);
    check_eq!(res.load(Ordering::SeqCst), 0);
    // Nothing was consumed.
    let r = recv(&p, fd)?;
    check_eq!(u32_at(&r, 4), 0xd4000001);
    Ok(())
}

fn blocked_reader_woken_by_reply() -> TestResult {
    let p = Arc::new(Program::new());
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    let got: Arc<ThreadLock<Option<Result<Vec<u8>, Errno>>>> = Arc::new(ThreadLock::new("ktest.slot", None));
    let started = Arc::new(AtomicBool::new(false));
    let (p2, g2, s2) = (p.clone(), got.clone(), started.clone());
    let tid = check_ok!(crate::sched::spawn("xb-reader", move || {
        let mut buf = vec![0u8; 4096];
        s2.store(true, Ordering::SeqCst);
        let r = p2.read(fd, &mut buf).map(|n| buf[..n].to_vec());
        *g2.lock() = Some(r);
    }));
    sleep_ns(200_000_000);
    check!(started.load(Ordering::SeqCst));
    check!(got.lock().is_none(), "the reader returned with nothing queued");
    let t0 = now_ns();
    send(&p, fd, &msg(XS_READ, 0xd4000002, 0, &z("data/xb/probe")))?;
    crate::sched::join(tid);
    metric("xenbus.blocked_reader_wakeup_us", (now_ns() - t0) / 1000, "us");
    let r = got.lock().take();
    let r = check_ok!(check_ok!(r.ok_or("no result")));
    check_bytes!(r, msg(XS_READ, 0xd4000002, 0, b"hello"));
    Ok(())
}

fn blocked_reader_woken_by_local_reply() -> TestResult {
    // A reply the node makes itself (here UNWATCH's OK, written by another
    // thread of the program) wakes a reader blocked on the same descriptor.
    let p = Arc::new(Program::new());
    let fd = open_xb(&p)?;
    let got: Arc<ThreadLock<Option<Result<Vec<u8>, Errno>>>> = Arc::new(ThreadLock::new("ktest.slot", None));
    let (p2, g2) = (p.clone(), got.clone());
    let tid = check_ok!(crate::sched::spawn("xb-reader2", move || {
        let mut buf = vec![0u8; 4096];
        let r = p2.read(fd, &mut buf).map(|n| buf[..n].to_vec());
        *g2.lock() = Some(r);
    }));
    sleep_ns(200_000_000);
    check!(got.lock().is_none(), "the reader returned with nothing queued");
    send(&p, fd, &msg(XS_UNWATCH, 0xd4000003, 0, &pt("data/xb/none", b"t")))?;
    crate::sched::join(tid);
    let r = got.lock().take();
    let r = check_ok!(check_ok!(r.ok_or("no result")));
    check_bytes!(r, ok(XS_UNWATCH, 0xd4000003, 0));
    Ok(())
}

fn blocked_reader_and_poller_woken_by_event() -> TestResult {
    // A watch event (no request in flight) wakes a blocked read on one
    // descriptor and a poll over several on another.
    let p = Arc::new(Program::new());
    let r_fd = open_xb(&p)?;
    let p_fd = open_xb(&p)?;
    let other = open_xb(&p)?;
    watch(&p, r_fd, 0xd4000004, "data/xb/wake", b"r")?;
    watch(&p, p_fd, 0xd4000005, "data/xb/wake", b"p")?;
    let got: Arc<ThreadLock<Option<Result<Vec<u8>, Errno>>>> = Arc::new(ThreadLock::new("ktest.slot", None));
    let (p2, g2) = (p.clone(), got.clone());
    let reader = check_ok!(crate::sched::spawn("xb-reader3", move || {
        let mut buf = vec![0u8; 4096];
        let r = p2.read(r_fd, &mut buf).map(|n| buf[..n].to_vec());
        *g2.lock() = Some(r);
    }));
    let writer = check_ok!(crate::sched::spawn("xb-writer3", move || {
        sleep_ns(200_000_000);
        let _ = setup_write("data/xb/wake", b"now");
    }));
    let mut set = [PollFd { fd: other, events: POLLIN, revents: 0 }, PollFd { fd: p_fd, events: POLLIN, revents: 0 }];
    let n = check_ok!(p.poll(&mut set, 10_000));
    crate::sched::join(writer);
    crate::sched::join(reader);
    check_eq!(n, 1);
    check_eq!(set[0].revents, 0);
    check_eq!(set[1].revents, POLLIN);
    check_bytes!(recv(&p, p_fd)?, event("data/xb/wake", b"p"));
    let r = got.lock().take();
    let r = check_ok!(check_ok!(r.ok_or("no result")));
    check_bytes!(r, event("data/xb/wake", b"r"));
    Ok(())
}

fn round_trip_latency() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    let n = 100u64;
    let t0 = now_ns();
    for i in 0..n {
        let r = rpc(&p, fd, &msg(XS_READ, 0x1a700000 + i as u32, 0, &z("data/xb/probe")))?;
        check_eq!(r.len(), 21);
    }
    metric("xenbus.read_round_trip_us", (now_ns() - t0) / n / 1000, "us");
    Ok(())
}

// ---------------------------------------------------------------------------
// e. poll()

fn poll_empty_is_never_writable() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // E1
    let mut s = [PollFd { fd, events: POLLIN | POLLOUT, revents: 0 }];
    check_eq!(p.poll(&mut s, 0), Ok(0));
    check_eq!(s[0].revents, 0);
    let mut s = [PollFd { fd, events: 0xffff, revents: 0 }];
    check_eq!(p.poll(&mut s, 0), Ok(0));
    check_eq!(s[0].revents, 0);
    let t0 = now_ns();
    let mut s = [PollFd { fd, events: POLLOUT, revents: 0 }];
    check_eq!(p.poll(&mut s, 300), Ok(0));
    check_eq!(s[0].revents, 0);
    let dt = (now_ns() - t0) / 1_000_000;
    check!(dt >= 290, "poll returned after {} ms", dt);
    Ok(())
}

fn poll_wakes_on_reply() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    // E2: a blocking poll while a request is outstanding wakes with POLLIN
    // only, though POLLOUT was asked for too.
    send(&p, fd, &msg(XS_READ, 0xe2000001, 0, b"domid\0"))?;
    let mut s = [PollFd { fd, events: POLLIN | POLLOUT, revents: 0 }];
    check_eq!(p.poll(&mut s, 10_000), Ok(1));
    check_eq!(s[0].revents, POLLIN);
    // Asking for POLLRDNORM only gives POLLRDNORM.
    let mut s = [PollFd { fd, events: POLLRDNORM, revents: 0 }];
    check_eq!(p.poll(&mut s, 0), Ok(1));
    check_eq!(s[0].revents, POLLRDNORM);
    // A negative timeout waits forever (data is there: returns at once).
    let mut s = [PollFd { fd, events: POLLIN, revents: 0 }];
    check_eq!(p.poll(&mut s, -1), Ok(1));
    Ok(())
}

fn poll_reports_0x41_exactly_when_queued() -> TestResult {
    let p = Program::new();
    let fd = open_xb(&p)?;
    setup_write("data/xb/probe", b"hello")?;
    setup_write("data/xb/empty", b"")?;
    let all = 0xffffu16;
    // E3
    send(&p, fd, &msg(XS_READ, 0xe3000001, 0, &z("data/xb/probe")))?;
    wait_readable(&p, fd, REPLY_MS)?;
    let mut s = [PollFd { fd, events: all, revents: 0 }];
    check_eq!(p.poll(&mut s, 0), Ok(1));
    check_eq!(s[0].revents, 0x41);
    check_eq!(s[0].revents, POLLIN | POLLRDNORM);
    // E4: after a partial read.
    let mut buf = [0u8; 20];
    check_eq!(p.read(fd, &mut buf[..7]), Ok(7));
    check_eq!(p.poll(&mut s, 0), Ok(1));
    check_eq!(s[0].revents, 0x41);
    // E5: after a full drain.
    check_eq!(p.read(fd, &mut buf), Ok(14));
    check_eq!(p.poll(&mut s, 0), Ok(0));
    check_eq!(s[0].revents, 0);
    // E6: after reading the 16-byte header of an empty-value reply.
    send(&p, fd, &msg(XS_READ, 0xe6000001, 0, &z("data/xb/empty")))?;
    wait_readable(&p, fd, REPLY_MS)?;
    check_eq!(p.read(fd, &mut buf[..16]), Ok(16));
    check_bytes!(buf[..16], msg(XS_READ, 0xe6000001, 0, b""));
    check_eq!(p.poll(&mut s, 0), Ok(0));
    check_eq!(s[0].revents, 0);
    Ok(())
}

fn poll_many_fds_wakes_on_reply() -> TestResult {
    let p = Arc::new(Program::new());
    let fds = [open_xb(&p)?, open_xb(&p)?, check_ok!(p.open(XB_DEV, O_RDWR))];
    let target = fds[1];
    let p2 = p.clone();
    let wrote = Arc::new(AtomicI64::new(0));
    let w2 = wrote.clone();
    // A thread writes a request on the middle descriptor after 200 ms.
    let tid = check_ok!(crate::sched::spawn("xb-poller-writer", move || {
        sleep_ns(200_000_000);
        let m = msg(XS_READ, 0xe7000001, 0, b"domid\0");
        let r = p2.write(target, &m);
        w2.store(if r == Ok(m.len()) { 1 } else { -1 }, Ordering::SeqCst);
    }));
    let t0 = now_ns();
    let mut set: Vec<PollFd> = fds.iter().map(|&fd| PollFd { fd, events: POLLIN, revents: 0 }).collect();
    let n = check_ok!(p.poll(&mut set, 10_000));
    let dt = (now_ns() - t0) / 1_000_000;
    crate::sched::join(tid);
    check_eq!(wrote.load(Ordering::SeqCst), 1);
    check_eq!(n, 1);
    check_eq!(set[0].revents, 0);
    check_eq!(set[1].revents, POLLIN);
    check_eq!(set[2].revents, 0);
    check!(dt >= 150 && dt < 10_000, "woke after {} ms", dt);
    let r = recv(&p, target)?;
    check_eq!(u32_at(&r, 4), 0xe7000001);
    // Several ready at once.
    for (i, &fd) in fds.iter().enumerate() {
        send(&p, fd, &msg(XS_READ, 0xe7000010 + i as u32, 0, b"domid\0"))?;
    }
    barrier()?;
    let mut set: Vec<PollFd> =
        fds.iter().map(|&fd| PollFd { fd, events: POLLIN | POLLRDNORM | POLLOUT, revents: 0 }).collect();
    check_eq!(p.poll(&mut set, 0), Ok(3));
    for s in &set {
        check_eq!(s.revents, 0x41);
    }
    Ok(())
}

fn poll_many_fds_times_out() -> TestResult {
    let p = Program::new();
    let fds = [open_xb(&p)?, open_xb(&p)?, open_xb(&p)?];
    let mut set: Vec<PollFd> = fds.iter().map(|&fd| PollFd { fd, events: POLLIN | POLLOUT, revents: 0 }).collect();
    // A request answered on another program's descriptor does not wake them.
    let t0 = now_ns();
    let q = Program::new();
    let qfd = open_xb(&q)?;
    send(&q, qfd, &msg(XS_READ, 0xe8000001, 0, b"domid\0"))?;
    check_eq!(p.poll(&mut set, 400), Ok(0));
    let dt = (now_ns() - t0) / 1_000_000;
    check!(dt >= 390, "returned after {} ms", dt);
    for s in &set {
        check_eq!(s.revents, 0);
    }
    // A negative fd is ignored; a closed one is POLLNVAL.
    let closed = open_xb(&p)?;
    check_ok!(p.close(closed));
    let mut set = [PollFd { fd: -1, events: POLLIN, revents: 0 }, PollFd { fd: closed, events: POLLIN, revents: 0 }];
    check_eq!(p.poll(&mut set, 0), Ok(1));
    check_eq!(set[0].revents, 0);
    check_eq!(set[1].revents, POLLNVAL);
    Ok(())
}

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
    send(&p, fd, &msg(XS_WATCH, 0xf8000001, 0, b"data/xb/w8\0tok8\02\0"))?;
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

/// Starts transactions on `fd` until xenstored refuses one with ENOSPC
/// (its per-domain quota: 10 by default, observed as 10 under Linux where
/// the 11th START failed); returns the ids started.
/// Aborts the transactions `ids` of `fd`, expecting OK for each.
fn end_all(p: &Program, fd: Fd, ids: &[u32], req0: u32) -> R<()> {
    for (i, t) in ids.iter().enumerate() {
        let req = req0 + i as u32;
        check_bytes!(rpc(p, fd, &msg(XS_TX_END, req, *t, b"F\0"))?, ok(XS_TX_END, req, *t));
    }
    Ok(())
}

static TX_QUOTA: AtomicUsize = AtomicUsize::new(0);

fn fill_tx_quota(p: &Program, fd: Fd, req0: u32) -> R<Vec<u32>> {
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
            return Err(fail(line!(), format!("type {}: {}", ty, super::hexdump(&r))));
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
            return Err(fail(line!(), format!("type {:#x}: {}", ty, super::hexdump(&r))));
        }
    }
    Ok(())
}

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
    let want = (64 * 1024 + reply_len - 1) / reply_len;
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

macro_rules! t {
    ($name:ident, $ms:expr) => {
        Test { suite: "xenbus", name: stringify!($name), func: $name, timeout_ms: $ms, default: true }
    };
}

pub static TESTS: &[Test] = &[
    // a
    t!(write_then_read_reply, T_XS),
    t!(read_missing_is_xs_error, T_XS),
    t!(read_empty_value_queues_header_alone, T_XS),
    t!(empty_reply_then_next_reply_in_one_stream, T_XS),
    t!(req_id_restored_in_replies, T_XS),
    t!(forwarded_payload_not_validated, T_XS),
    t!(zero_length_write_returns_0, T_XS),
    t!(lseek_is_espipe, T_XS),
    t!(opens_are_independent, T_XS),
    t!(access_mode_ebadf, T_XS),
    t!(dev_xen_xenbus_is_independent, T_XS),
    t!(stat_modes_and_capabilities, T_XS),
    t!(directory_and_get_perms_forwarded, T_XS),
    t!(set_perms_error_passed_through, T_XS),
    // b
    t!(write_split_across_calls, T_XS),
    t!(write_one_byte_at_a_time, T_XS),
    t!(two_messages_in_one_write_answers_first, T_XS),
    t!(bytes_after_message_dropped_and_desync, T_XS),
    t!(exact_fill_after_partial_drops_rest, T_XS),
    // c
    t!(max_payload_4080_in_one_write, T_XS),
    t!(max_payload_4080_split, T_XS),
    t!(value_of_2000_bytes_round_trips, T_XS),
    t!(header_len_4081_e2big_discards_buffer, T_XS),
    t!(header_len_huge_e2big_no_wraparound, T_XS),
    t!(write_over_4096_einval, T_XS),
    t!(overflow_after_partial_einval_discards_buffer, T_XS),
    // d
    t!(read_one_byte_at_a_time, T_XS),
    t!(read_spans_message_boundaries, T_XS),
    t!(read_three_replies_at_once, T_XS),
    t!(nonblocking_empty_read_eagain, T_XS),
    t!(fcntl_setfl_nonblock, T_XS),
    t!(read_zero_with_data_returns_0, T_XS),
    t!(read_zero_blocks_on_empty_queue, T_XS),
    t!(blocked_reader_woken_by_reply, T_XS),
    t!(blocked_reader_woken_by_local_reply, T_XS),
    t!(blocked_reader_and_poller_woken_by_event, T_XS),
    t!(round_trip_latency, T_XS),
    // e
    t!(poll_empty_is_never_writable, T_XS),
    t!(poll_wakes_on_reply, T_XS),
    t!(poll_reports_0x41_exactly_when_queued, T_XS),
    t!(poll_many_fds_wakes_on_reply, T_XS),
    t!(poll_many_fds_times_out, T_XS),
    // f
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
    // g
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
    // h
    t!(privileged_types_eacces, T_XS),
    t!(unknown_types_enosys, T_XS),
    // bounded queue
    t!(queue_bound_enobufs, T_DOM0),
    t!(queue_bound_reading_reopens, T_XS),
    t!(in_flight_bound_enobufs, T_XS),
    // i
    t!(close_aborts_transactions_and_watches, T_DOM0),
    t!(close_with_requests_in_flight, T_XS),
    t!(close_with_end_in_flight, T_XS),
    t!(drop_program_closes_descriptors, T_XS),
    t!(many_opens, T_XS),
];
