//! Basic requests, reply headers, descriptors and modes (probes A, B).
use super::*;

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
        crate::ktest::hexdump(&r)
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
    check!(gen_end > 0 && body[..gen_end].iter().all(|b| b.is_ascii_digit()), "{}", crate::ktest::hexdump(body));
    let rest = &body[gen_end + 1..];
    check!(rest == b"a\0b\0\0" || rest == b"b\0a\0\0", "{}", crate::ktest::hexdump(body));
    let r = rpc(&p, fd, &msg(XS_GET_PERMS, 0xd4, 0, &z("data/xb/dir/a")))?;
    check_eq!(u32_at(&r, 0), XS_GET_PERMS);
    check!(r[16] == b'n' && *r.last().unwrap_or(&1) == 0, "{}", crate::ktest::hexdump(&r));
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

pub(super) static TESTS: &[Test] = &[
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
];
