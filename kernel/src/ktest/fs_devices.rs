//! `fsdev`: the small devices of the file API — pipes, `/dev/null`,
//! `AF_UNIX` sockets that connect nowhere — and `dup2`, with Linux's
//! errno values.
use alloc::vec;

use super::{Test, TestResult};
use crate::check_eq;
use crate::fs::{
    self, Errno, PollFd, Program, O_CLOEXEC, O_CREAT, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, POLLERR, POLLHUP, POLLIN,
    POLLOUT,
};

const T: u64 = 10_000;

macro_rules! ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => $crate::fail!("{} failed: {:?}", stringify!($e), e),
        }
    };
}

fn pipe_transfer_eof_epipe() -> TestResult {
    let p = Program::new();
    let [r, w] = ok!(p.pipe2(0));
    check_eq!(ok!(p.write(w, b"hello")), 5);
    let mut buf = [0u8; 16];
    check_eq!(ok!(p.read(r, &mut buf)), 5);
    check_eq!(&buf[..5], b"hello");
    // Empty with a writer: a non-blocking read is EAGAIN.
    check_eq!(p.fcntl(r, fs::F_SETFL, O_NONBLOCK), Ok(0));
    check_eq!(p.read(r, &mut buf), Err(Errno::EAGAIN));
    // The writer closes: end of file.
    ok!(p.close(w));
    check_eq!(p.read(r, &mut buf), Ok(0));
    // A pipe without readers: EPIPE.
    let [r2, w2] = ok!(p.pipe2(0));
    ok!(p.close(r2));
    check_eq!(p.write(w2, b"x"), Err(Errno::EPIPE));
    // Wrong ends: EBADF, as Linux.
    let [r3, w3] = ok!(p.pipe2(0));
    check_eq!(p.write(r3, b"x"), Err(Errno::EBADF));
    check_eq!(p.read(w3, &mut buf), Err(Errno::EBADF));
    check_eq!(p.lseek(r3, 0, 0), Err(Errno::ESPIPE));
    check_eq!(p.pipe2(0o1), Err(Errno::EINVAL));
    let st = ok!(p.fstat(r3));
    check_eq!(st.mode, 0o010600);
    Ok(())
}

fn pipe_capacity_and_atomic_writes() -> TestResult {
    let p = Program::new();
    let [r, w] = ok!(p.pipe2(O_NONBLOCK | O_CLOEXEC));
    check_eq!(p.fcntl(w, fs::F_GETFD, 0), Ok(fs::FD_CLOEXEC));
    let chunk = vec![7u8; 4096];
    let mut total = 0;
    loop {
        match p.write(w, &chunk) {
            Ok(n) => total += n,
            Err(Errno::EAGAIN) => break,
            Err(e) => crate::fail!("write: {:?}", e),
        }
    }
    check_eq!(total, fs::pipe::PIPE_CAPACITY);
    // Full: POLLIN on the read end, not POLLOUT on the write end.
    let mut set = [PollFd { fd: r, events: POLLIN, revents: 0 }, PollFd { fd: w, events: POLLOUT, revents: 0 }];
    check_eq!(ok!(p.poll(&mut set, 0)), 1);
    check_eq!(set[0].revents, POLLIN);
    check_eq!(set[1].revents, 0);
    // Room for 100 bytes: an atomic write of 200 does not go in at all; a
    // write over PIPE_BUF goes in partly.
    let mut buf = vec![0u8; 100];
    check_eq!(ok!(p.read(r, &mut buf)), 100);
    check_eq!(p.write(w, &[1u8; 200]), Err(Errno::EAGAIN));
    check_eq!(p.write(w, &vec![1u8; 5000]), Ok(100));
    // Close the read end: POLLERR on the write end.
    ok!(p.close(r));
    let mut set = [PollFd { fd: w, events: POLLOUT, revents: 0 }];
    check_eq!(ok!(p.poll(&mut set, 0)), 1);
    check_eq!(set[0].revents, POLLERR);
    Ok(())
}

fn pipe_between_threads() -> TestResult {
    let p = alloc::sync::Arc::new(Program::new());
    let [r, w] = ok!(p.pipe2(0));
    let writer = p.clone();
    let t = ok!(crate::sched::spawn("pipe-writer", move || {
        for i in 0..50u8 {
            let _ = writer.write(w, &vec![i; 3000]);
        }
        let _ = writer.close(w);
    }));
    // Blocking reads wake as the writer fills; the sum proves the order.
    let mut got = 0usize;
    let mut sum = 0u64;
    let mut buf = vec![0u8; 7000];
    loop {
        let n = ok!(p.read(r, &mut buf));
        if n == 0 {
            break;
        }
        got += n;
        sum += buf[..n].iter().map(|&b| u64::from(b)).sum::<u64>();
    }
    crate::sched::join(t);
    check_eq!(got, 150_000);
    check_eq!(sum, 3000 * (0..50u64).sum::<u64>());
    // Read end at end of file: POLLHUP.
    let mut set = [PollFd { fd: r, events: POLLIN, revents: 0 }];
    check_eq!(ok!(p.poll(&mut set, 0)), 1);
    check_eq!(set[0].revents, POLLHUP);
    Ok(())
}

fn dup2_shares_offset_and_replaces() -> TestResult {
    let p = Program::new();
    let f = ok!(p.open("/tmp/fsdev-dup", O_CREAT | O_RDWR));
    check_eq!(ok!(p.write(f, b"0123456789")), 10);
    check_eq!(ok!(p.lseek(f, 0, 0)), 0);
    check_eq!(p.dup2(f, 9), Ok(9));
    let mut b = [0u8; 4];
    check_eq!(ok!(p.read(f, &mut b)), 4);
    check_eq!(ok!(p.read(9, &mut b)), 4);
    check_eq!(&b, b"4567");
    // Replacing an open descriptor closes what it was.
    let n = ok!(p.open("/dev/null", O_WRONLY));
    check_eq!(p.dup2(f, n), Ok(n));
    check_eq!(ok!(p.read(n, &mut b)), 2);
    check_eq!(&b[..2], b"89");
    check_eq!(p.dup2(77, 3), Err(Errno::EBADF));
    check_eq!(p.dup2(f, 64), Err(Errno::EBADF));
    p.close_all();
    let _ = fs::unlink("/tmp/fsdev-dup");
    Ok(())
}

fn dev_null_and_sockets() -> TestResult {
    let p = Program::new();
    let n = ok!(p.open("/dev/null", O_RDWR));
    let mut b = [0u8; 8];
    check_eq!(p.read(n, &mut b), Ok(0));
    check_eq!(p.write(n, b"gone"), Ok(4));
    check_eq!(fs::unlink("/dev/null"), Err(Errno::EPERM));
    check_eq!(p.isatty(n), Ok(false));
    check_eq!(p.isatty(40), Err(Errno::EBADF));
    // AF_UNIX stream socket: connecting to a missing path is ENOENT (as a
    // Linux guest without xenstored's socket), to an existing non-socket
    // ECONNREFUSED; other families are not supported.
    let s = ok!(p.socket(1, 1, 0));
    let mut addr = vec![1u8, 0];
    addr.extend_from_slice(b"/run/xenstored/socket\0");
    check_eq!(p.connect(s, &addr), Err(Errno::ENOENT));
    let mut addr2 = vec![1u8, 0];
    addr2.extend_from_slice(b"/dev/null\0");
    check_eq!(p.connect(s, &addr2), Err(Errno::ECONNREFUSED));
    check_eq!(p.connect(s, &[2, 0, 0, 0]), Err(Errno::EINVAL));
    check_eq!(p.connect(s, &[1]), Err(Errno::EINVAL));
    check_eq!(p.connect(n, &addr), Err(Errno::ENOTSOCK));
    check_eq!(p.write(s, b"x"), Err(Errno::ENOTCONN));
    check_eq!(p.read(s, &mut b), Err(Errno::EINVAL));
    check_eq!(p.socket(2, 1, 0), Err(Errno::EAFNOSUPPORT));
    check_eq!(p.socket(1, 9, 0), Err(Errno::EINVAL));
    check_eq!(p.socket(1, 1, 6), Err(Errno::EPROTONOSUPPORT));
    let st = ok!(p.fstat(s));
    check_eq!(st.mode, 0o140600);
    let _ = O_RDONLY;
    Ok(())
}

pub static TESTS: &[Test] = &[
    Test {
        suite: "fsdev",
        name: "pipe_transfer_eof_epipe",
        func: pipe_transfer_eof_epipe,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "fsdev",
        name: "pipe_capacity_and_atomic_writes",
        func: pipe_capacity_and_atomic_writes,
        timeout_ms: T,
        default: true,
    },
    Test { suite: "fsdev", name: "pipe_between_threads", func: pipe_between_threads, timeout_ms: T, default: true },
    Test {
        suite: "fsdev",
        name: "dup2_shares_offset_and_replaces",
        func: dup2_shares_offset_and_replaces,
        timeout_ms: T,
        default: true,
    },
    Test { suite: "fsdev", name: "dev_null_and_sockets", func: dev_null_and_sockets, timeout_ms: T, default: true },
];
