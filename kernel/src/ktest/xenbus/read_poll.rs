//! read() and poll(): the byte stream, blocking and waking (probes D, E).
use super::*;

/// Where a helper thread leaves what its read returned.
type Slot = Arc<ThreadLock<Option<Result<Vec<u8>, Errno>>>>;

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
    let mut buf = [0u8; 64];
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
    let got: Slot = Arc::new(ThreadLock::new("ktest.slot", None));
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
    let got: Slot = Arc::new(ThreadLock::new("ktest.slot", None));
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
    let got: Slot = Arc::new(ThreadLock::new("ktest.slot", None));
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
    check!((150..10_000).contains(&dt), "woke after {} ms", dt);
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

pub(super) static TESTS: &[Test] = &[
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
    t!(poll_empty_is_never_writable, T_XS),
    t!(poll_wakes_on_reply, T_XS),
    t!(poll_reports_0x41_exactly_when_queued, T_XS),
    t!(poll_many_fds_wakes_on_reply, T_XS),
    t!(poll_many_fds_times_out, T_XS),
];
