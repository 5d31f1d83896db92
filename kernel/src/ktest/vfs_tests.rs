//! `vfs`: the in-memory file system through the kernel's file API
//! (`crate::fs`): regular files in /tmp, directories, path resolution and
//! the Linux errno values of each failure.
use alloc::vec;
use alloc::vec::Vec;

use super::{Test, TestResult};
use crate::fs::{
    self, Errno, PollFd, Program, F_GETFL, F_SETFL, O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_NONBLOCK, O_RDONLY,
    O_RDWR, O_TRUNC, O_WRONLY, POLLIN, POLLOUT,
};
use crate::{check, check_bytes, check_eq, check_ok};

const SEEK_SET: u32 = 0;
const SEEK_CUR: u32 = 1;
const SEEK_END: u32 = 2;
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// Removes what a previous (failed) run may have left.
fn clean(paths: &[&str]) {
    for p in paths {
        let _ = fs::unlink(p);
        let _ = fs::rmdir(p);
    }
}

fn names(path: &str) -> Result<Vec<Vec<u8>>, Errno> {
    Ok(fs::readdir(path)?.into_iter().map(|e| e.name).collect())
}

fn create_write_read_back() -> TestResult {
    clean(&["/tmp/v1"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v1", O_CREAT | O_RDWR));
    check_eq!(p.write(fd, b"hello, "), Ok(7));
    check_eq!(p.write(fd, b"world"), Ok(5));
    check_eq!(check_ok!(p.fstat(fd)).size, 12);
    check_eq!(p.lseek(fd, 0, SEEK_SET), Ok(0));
    let mut buf = [0u8; 64];
    check_eq!(p.read(fd, &mut buf), Ok(12));
    check_bytes!(buf[..12], b"hello, world");
    // At the end: 0 (end of file).
    check_eq!(p.read(fd, &mut buf), Ok(0));
    check_ok!(p.close(fd));
    // Another open reads it from the start.
    let fd = check_ok!(p.open("/tmp/v1", O_RDONLY));
    let mut small = [0u8; 5];
    check_eq!(p.read(fd, &mut small), Ok(5));
    check_bytes!(small, b"hello");
    check_eq!(p.read(fd, &mut small), Ok(5));
    check_bytes!(small, b", wor");
    check_eq!(p.read(fd, &mut small), Ok(2));
    check_bytes!(small[..2], b"ld");
    check_ok!(p.close(fd));
    let s = check_ok!(fs::stat("/tmp/v1"));
    check_eq!(s.size, 12);
    check_eq!(s.mode & S_IFMT, S_IFREG);
    check_eq!(s.nlink, 1);
    check_ok!(fs::unlink("/tmp/v1"));
    check_eq!(fs::stat("/tmp/v1").map(|_| ()), Err(Errno::ENOENT));
    Ok(())
}

fn create_mode_recorded() -> TestResult {
    clean(&["/tmp/v-mode"]);
    let p = Program::new();
    let fd = check_ok!(p.open_mode("/tmp/v-mode", O_CREAT | O_WRONLY, 0o640));
    check_eq!(check_ok!(p.fstat(fd)).mode, S_IFREG | 0o640);
    check_ok!(p.close(fd));
    check_eq!(check_ok!(fs::stat("/tmp/v-mode")).mode, S_IFREG | 0o640);
    check_ok!(fs::unlink("/tmp/v-mode"));
    Ok(())
}

fn large_file_round_trip() -> TestResult {
    clean(&["/tmp/v-large"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v-large", O_CREAT | O_RDWR | O_TRUNC));
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for chunk in data.chunks(4000) {
        check_eq!(p.write(fd, chunk), Ok(chunk.len()));
    }
    check_eq!(check_ok!(p.fstat(fd)).size, data.len() as u64);
    check_eq!(p.lseek(fd, 0, SEEK_SET), Ok(0));
    let mut back = vec![0u8; data.len() + 10];
    let mut got = 0;
    loop {
        let n = check_ok!(p.read(fd, &mut back[got..]));
        if n == 0 {
            break;
        }
        got += n;
    }
    check_eq!(got, data.len());
    check!(back[..got] == data[..], "data differs");
    check_ok!(p.close(fd));
    check_ok!(fs::unlink("/tmp/v-large"));
    Ok(())
}

fn append_mode() -> TestResult {
    clean(&["/tmp/v-app"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v-app", O_CREAT | O_WRONLY));
    check_eq!(p.write(fd, b"abc"), Ok(3));
    check_ok!(p.close(fd));
    let fd = check_ok!(p.open("/tmp/v-app", O_WRONLY | O_APPEND));
    // Every write goes to the end, whatever the offset.
    check_eq!(p.lseek(fd, 0, SEEK_SET), Ok(0));
    check_eq!(p.write(fd, b"def"), Ok(3));
    check_eq!(p.lseek(fd, 1, SEEK_SET), Ok(1));
    check_eq!(p.write(fd, b"gh"), Ok(2));
    check_ok!(p.close(fd));
    // Via fcntl too.
    let fd = check_ok!(p.open("/tmp/v-app", O_RDWR));
    check_ok!(p.fcntl(fd, F_SETFL, O_APPEND));
    check_eq!(check_ok!(p.fcntl(fd, F_GETFL, 0)) & O_APPEND, O_APPEND);
    check_eq!(p.write(fd, b"!"), Ok(1));
    check_eq!(p.lseek(fd, 0, SEEK_SET), Ok(0));
    let mut buf = [0u8; 32];
    check_eq!(p.read(fd, &mut buf), Ok(9));
    check_bytes!(buf[..9], b"abcdefgh!");
    check_ok!(p.close(fd));
    check_ok!(fs::unlink("/tmp/v-app"));
    Ok(())
}

fn truncate_on_open() -> TestResult {
    clean(&["/tmp/v-trunc"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v-trunc", O_CREAT | O_WRONLY));
    check_eq!(p.write(fd, b"0123456789"), Ok(10));
    check_ok!(p.close(fd));
    // Without O_TRUNC, an overwrite keeps the tail.
    let fd = check_ok!(p.open("/tmp/v-trunc", O_WRONLY));
    check_eq!(p.write(fd, b"ab"), Ok(2));
    check_ok!(p.close(fd));
    check_eq!(check_ok!(fs::stat("/tmp/v-trunc")).size, 10);
    // With it, the file is emptied.
    let fd = check_ok!(p.open("/tmp/v-trunc", O_WRONLY | O_TRUNC));
    check_eq!(check_ok!(p.fstat(fd)).size, 0);
    check_eq!(p.write(fd, b"xy"), Ok(2));
    check_ok!(p.close(fd));
    let fd = check_ok!(p.open("/tmp/v-trunc", O_RDONLY));
    let mut buf = [0u8; 16];
    check_eq!(p.read(fd, &mut buf), Ok(2));
    check_bytes!(buf[..2], b"xy");
    check_ok!(p.close(fd));
    check_ok!(fs::unlink("/tmp/v-trunc"));
    Ok(())
}

fn exclusive_create() -> TestResult {
    clean(&["/tmp/v-excl"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v-excl", O_CREAT | O_EXCL | O_WRONLY));
    check_ok!(p.close(fd));
    check_eq!(p.open("/tmp/v-excl", O_CREAT | O_EXCL | O_WRONLY), Err(Errno::EEXIST));
    // O_CREAT alone opens the existing file.
    let fd = check_ok!(p.open("/tmp/v-excl", O_CREAT | O_WRONLY));
    check_ok!(p.close(fd));
    // On a directory too.
    check_eq!(p.open("/tmp", O_CREAT | O_EXCL | O_WRONLY), Err(Errno::EEXIST));
    check_ok!(fs::unlink("/tmp/v-excl"));
    Ok(())
}

fn lseek_whence_and_holes() -> TestResult {
    clean(&["/tmp/v-seek"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v-seek", O_CREAT | O_RDWR));
    check_eq!(p.write(fd, b"0123456789"), Ok(10));
    check_eq!(p.lseek(fd, -3, SEEK_END), Ok(7));
    let mut b = [0u8; 3];
    check_eq!(p.read(fd, &mut b), Ok(3));
    check_bytes!(b, b"789");
    check_eq!(p.lseek(fd, -5, SEEK_CUR), Ok(5));
    check_eq!(p.read(fd, &mut b[..1]), Ok(1));
    check_bytes!(b[..1], b"5");
    check_eq!(p.lseek(fd, 0, SEEK_CUR), Ok(6));
    // Errors.
    check_eq!(p.lseek(fd, -1, SEEK_SET), Err(Errno::EINVAL));
    check_eq!(p.lseek(fd, -11, SEEK_END), Err(Errno::EINVAL));
    check_eq!(p.lseek(fd, 0, 7), Err(Errno::EINVAL));
    // Past the end, then a write leaves a hole of zeros.
    check_eq!(p.lseek(fd, 15, SEEK_SET), Ok(15));
    check_eq!(p.read(fd, &mut b), Ok(0));
    check_eq!(p.write(fd, b"Z"), Ok(1));
    check_eq!(check_ok!(p.fstat(fd)).size, 16);
    check_eq!(p.lseek(fd, 10, SEEK_SET), Ok(10));
    let mut rest = [0xffu8; 8];
    check_eq!(p.read(fd, &mut rest), Ok(6));
    check_bytes!(rest[..6], b"\0\0\0\0\0Z");
    check_ok!(p.close(fd));
    check_ok!(fs::unlink("/tmp/v-seek"));
    Ok(())
}

fn access_modes_ebadf() -> TestResult {
    clean(&["/tmp/v-acc"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v-acc", O_CREAT | O_WRONLY));
    let mut b = [0u8; 4];
    check_eq!(p.read(fd, &mut b), Err(Errno::EBADF));
    check_eq!(p.write(fd, b"data"), Ok(4));
    check_ok!(p.close(fd));
    let fd = check_ok!(p.open("/tmp/v-acc", O_RDONLY));
    check_eq!(p.write(fd, b"x"), Err(Errno::EBADF));
    check_eq!(p.read(fd, &mut b), Ok(4));
    check_ok!(p.close(fd));
    // O_ACCMODE (both bits) is invalid.
    check_eq!(p.open("/tmp/v-acc", 3), Err(Errno::EINVAL));
    check_ok!(fs::unlink("/tmp/v-acc"));
    Ok(())
}

fn bad_descriptors_ebadf() -> TestResult {
    let p = Program::new();
    let mut b = [0u8; 4];
    for fd in [-1, 0, 5, 63, 64, 1000] {
        check_eq!(p.read(fd, &mut b), Err(Errno::EBADF));
        check_eq!(p.write(fd, b"x"), Err(Errno::EBADF));
        check_eq!(p.close(fd), Err(Errno::EBADF));
        check_eq!(p.lseek(fd, 0, SEEK_SET), Err(Errno::EBADF));
        check_eq!(p.fstat(fd).map(|_| ()), Err(Errno::EBADF));
        check_eq!(p.fcntl(fd, F_GETFL, 0), Err(Errno::EBADF));
    }
    // Closed descriptors too.
    let fd = check_ok!(p.open("/tmp", O_RDONLY | O_DIRECTORY));
    check_ok!(p.close(fd));
    check_eq!(p.close(fd), Err(Errno::EBADF));
    check_eq!(p.readdir(fd).map(|_| ()), Err(Errno::EBADF));
    Ok(())
}

fn descriptor_limit_emfile() -> TestResult {
    let p = Program::new();
    let mut fds = Vec::new();
    for i in 0..64 {
        let fd = check_ok!(p.open("/tmp", O_RDONLY | O_DIRECTORY));
        // Lowest free first.
        check_eq!(fd, i);
        fds.push(fd);
    }
    check_eq!(p.open("/tmp", O_RDONLY), Err(Errno::EMFILE));
    check_eq!(p.open("/proc/xen/xenbus", O_RDWR), Err(Errno::EMFILE));
    // EMFILE comes before the path check.
    check_eq!(p.open("/does/not/exist", O_RDONLY), Err(Errno::EMFILE));
    check_ok!(p.close(17));
    check_eq!(p.open("/tmp", O_RDONLY), Ok(17));
    // Another program has a table of its own.
    let q = Program::new();
    let fd = check_ok!(q.open("/tmp", O_RDONLY));
    check_eq!(fd, 0);
    check_ok!(q.close(fd));
    drop(p);
    Ok(())
}

fn directories_mkdir_readdir_rmdir() -> TestResult {
    clean(&["/tmp/vd/a", "/tmp/vd/sub", "/tmp/vd"]);
    check_ok!(fs::mkdir("/tmp/vd", 0o755));
    check_eq!(fs::mkdir("/tmp/vd", 0o755), Err(Errno::EEXIST));
    let s = check_ok!(fs::stat("/tmp/vd"));
    check_eq!(s.mode, S_IFDIR | 0o755);
    check_eq!(s.nlink, 2);
    check_eq!(check_ok!(names("/tmp/vd")), vec![b".".to_vec(), b"..".to_vec()]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/vd/a", O_CREAT | O_WRONLY));
    check_ok!(p.close(fd));
    check_ok!(fs::mkdir("/tmp/vd/sub", 0o700));
    check_eq!(check_ok!(fs::stat("/tmp/vd")).nlink, 3);
    // `.`, `..`, then creation order.
    check_eq!(check_ok!(names("/tmp/vd")), vec![b".".to_vec(), b"..".to_vec(), b"a".to_vec(), b"sub".to_vec()]);
    // Through a descriptor.
    let d = check_ok!(p.open("/tmp/vd", O_RDONLY | O_DIRECTORY));
    let ents = check_ok!(p.readdir(d));
    check_eq!(ents.len(), 4);
    check_eq!(ents[2].name, b"a".to_vec());
    check_eq!(ents[2].file_type.d_type(), 8);
    check_eq!(ents[3].file_type.d_type(), 4);
    // The position advanced: nothing more.
    check_eq!(check_ok!(p.readdir(d)).len(), 0);
    check_ok!(p.close(d));
    // Not empty.
    check_eq!(fs::rmdir("/tmp/vd"), Err(Errno::ENOTEMPTY));
    check_eq!(fs::rmdir("/tmp/vd/a"), Err(Errno::ENOTDIR));
    check_eq!(fs::unlink("/tmp/vd/sub"), Err(Errno::EISDIR));
    check_ok!(fs::unlink("/tmp/vd/a"));
    check_eq!(fs::unlink("/tmp/vd/a"), Err(Errno::ENOENT));
    check_ok!(fs::rmdir("/tmp/vd/sub"));
    check_ok!(fs::rmdir("/tmp/vd"));
    check_eq!(fs::rmdir("/tmp/vd"), Err(Errno::ENOENT));
    check_eq!(fs::readdir("/tmp/vd").map(|_| ()), Err(Errno::ENOENT));
    Ok(())
}

fn directory_errors() -> TestResult {
    clean(&["/tmp/vde/f", "/tmp/vde"]);
    check_ok!(fs::mkdir("/tmp/vde", 0o755));
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/vde/f", O_CREAT | O_WRONLY));
    check_ok!(p.close(fd));
    // A directory cannot be opened for writing, read or truncated.
    check_eq!(p.open("/tmp/vde", O_WRONLY), Err(Errno::EISDIR));
    check_eq!(p.open("/tmp/vde", O_RDWR), Err(Errno::EISDIR));
    check_eq!(p.open("/tmp/vde", O_RDONLY | O_TRUNC), Err(Errno::EISDIR));
    let d = check_ok!(p.open("/tmp/vde", O_RDONLY));
    let mut b = [0u8; 8];
    check_eq!(p.read(d, &mut b), Err(Errno::EISDIR));
    check_eq!(p.write(d, b"x"), Err(Errno::EBADF));
    check_ok!(p.close(d));
    // A file is not a directory.
    check_eq!(p.open("/tmp/vde/f", O_RDONLY | O_DIRECTORY), Err(Errno::ENOTDIR));
    check_eq!(p.open("/tmp/vde/f/", O_RDONLY), Err(Errno::ENOTDIR));
    check_eq!(p.open("/tmp/vde/f/x", O_RDONLY), Err(Errno::ENOTDIR));
    check_eq!(p.open("/tmp/vde/f/x", O_CREAT | O_WRONLY), Err(Errno::ENOTDIR));
    check_eq!(fs::mkdir("/tmp/vde/f/x", 0o755), Err(Errno::ENOTDIR));
    check_eq!(fs::stat("/tmp/vde/f/").map(|_| ()), Err(Errno::ENOTDIR));
    check_eq!(fs::readdir("/tmp/vde/f").map(|_| ()), Err(Errno::ENOTDIR));
    let f = check_ok!(p.open("/tmp/vde/f", O_RDONLY));
    check_eq!(p.readdir(f).map(|_| ()), Err(Errno::ENOTDIR));
    check_ok!(p.close(f));
    // Missing things.
    check_eq!(p.open("/tmp/vde/missing", O_RDONLY), Err(Errno::ENOENT));
    check_eq!(p.open("/tmp/vde/missing/x", O_CREAT | O_WRONLY), Err(Errno::ENOENT));
    check_eq!(fs::mkdir("/tmp/vde/missing/x", 0o755), Err(Errno::ENOENT));
    check_eq!(p.open("", O_RDONLY), Err(Errno::ENOENT));
    check_eq!(p.open("/tmp/vde/", O_CREAT | O_WRONLY), Err(Errno::EISDIR));
    // The standard mounts cannot be removed.
    check_eq!(fs::rmdir("/proc/xen"), Err(Errno::EBUSY));
    check_eq!(fs::rmdir("/"), Err(Errno::EBUSY));
    check_eq!(fs::mkdir("/", 0o755), Err(Errno::EEXIST));
    check_ok!(fs::unlink("/tmp/vde/f"));
    check_ok!(fs::rmdir("/tmp/vde"));
    Ok(())
}

fn paths_dot_dotdot_slashes() -> TestResult {
    clean(&["/tmp/vp/f", "/tmp/vp"]);
    check_ok!(fs::mkdir("/tmp/vp", 0o755));
    let p = Program::new();
    let fd = check_ok!(p.open("//tmp///vp//./f", O_CREAT | O_WRONLY));
    check_eq!(p.write(fd, b"dots"), Ok(4));
    check_ok!(p.close(fd));
    let ino = check_ok!(fs::stat("/tmp/vp/f")).ino;
    for path in [
        "/tmp/vp/f",
        "//tmp//vp//f",
        "/tmp/./vp/./f",
        "/tmp/vp/../vp/f",
        "/../../tmp/vp/f",
        "/tmp/../tmp/vp/../vp/./f",
        "tmp/vp/f",
    ] {
        let s = check_ok!(fs::stat(path));
        check!(s.ino == ino, "{} resolves to another inode", path);
    }
    check_eq!(check_ok!(fs::stat("/tmp/vp/.")).ino, check_ok!(fs::stat("/tmp/vp")).ino);
    check_eq!(check_ok!(fs::stat("/tmp/vp/..")).ino, check_ok!(fs::stat("/tmp")).ino);
    check_eq!(check_ok!(fs::stat("/..")).ino, check_ok!(fs::stat("/")).ino);
    check_eq!(check_ok!(fs::stat("/tmp/vp/")).ino, check_ok!(fs::stat("/tmp/vp")).ino);
    // `..` after a file: ENOTDIR.
    check_eq!(fs::stat("/tmp/vp/f/..").map(|_| ()), Err(Errno::ENOTDIR));
    // A missing component before `..`: ENOENT.
    check_eq!(fs::stat("/tmp/nope/../vp").map(|_| ()), Err(Errno::ENOENT));
    // Names that are too long.
    let long = alloc::format!("/tmp/{}", "n".repeat(256));
    check_eq!(p.open(&long, O_CREAT | O_WRONLY), Err(Errno::ENAMETOOLONG));
    let ok255 = alloc::format!("/tmp/vp/{}", "n".repeat(255));
    let fd = check_ok!(p.open(&ok255, O_CREAT | O_WRONLY));
    check_ok!(p.close(fd));
    check_ok!(fs::unlink(&ok255));
    // The dot entries cannot be removed.
    check_eq!(fs::rmdir("/tmp/vp/."), Err(Errno::EINVAL));
    check_eq!(fs::rmdir("/tmp/vp/.."), Err(Errno::ENOTEMPTY));
    check_ok!(fs::unlink("/tmp/vp/./f"));
    check_ok!(fs::rmdir("//tmp/vp/"));
    Ok(())
}

fn unlink_while_open() -> TestResult {
    clean(&["/tmp/v-unl"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v-unl", O_CREAT | O_RDWR));
    check_eq!(p.write(fd, b"still here"), Ok(10));
    check_ok!(fs::unlink("/tmp/v-unl"));
    check_eq!(fs::stat("/tmp/v-unl").map(|_| ()), Err(Errno::ENOENT));
    // The open file lives on, with no links.
    let s = check_ok!(p.fstat(fd));
    check_eq!(s.nlink, 0);
    check_eq!(s.size, 10);
    check_eq!(p.lseek(fd, 0, SEEK_SET), Ok(0));
    let mut b = [0u8; 16];
    check_eq!(p.read(fd, &mut b), Ok(10));
    check_bytes!(b[..10], b"still here");
    // A new file of the same name is a different one.
    let fd2 = check_ok!(p.open("/tmp/v-unl", O_CREAT | O_EXCL | O_RDWR));
    check!(check_ok!(p.fstat(fd2)).ino != s.ino);
    check_eq!(check_ok!(p.fstat(fd2)).size, 0);
    check_ok!(p.close(fd));
    check_ok!(p.close(fd2));
    check_ok!(fs::unlink("/tmp/v-unl"));
    Ok(())
}

fn two_descriptors_own_offsets() -> TestResult {
    clean(&["/tmp/v-two"]);
    let p = Program::new();
    let w = check_ok!(p.open("/tmp/v-two", O_CREAT | O_WRONLY));
    let r = check_ok!(p.open("/tmp/v-two", O_RDONLY));
    check_eq!(p.write(w, b"abc"), Ok(3));
    let mut b = [0u8; 8];
    check_eq!(p.read(r, &mut b[..2]), Ok(2));
    check_bytes!(b[..2], b"ab");
    check_eq!(p.write(w, b"def"), Ok(3));
    check_eq!(p.read(r, &mut b), Ok(4));
    check_bytes!(b[..4], b"cdef");
    check_eq!(p.lseek(w, 0, SEEK_CUR), Ok(6));
    check_ok!(p.close(w));
    check_ok!(p.close(r));
    check_ok!(fs::unlink("/tmp/v-two"));
    Ok(())
}

fn regular_files_poll_ready() -> TestResult {
    clean(&["/tmp/v-poll"]);
    let p = Program::new();
    let fd = check_ok!(p.open("/tmp/v-poll", O_CREAT | O_RDWR | O_NONBLOCK));
    // Always ready, masked by what was asked.
    let mut s = [PollFd { fd, events: POLLIN | POLLOUT, revents: 0 }];
    check_eq!(p.poll(&mut s, 1000), Ok(1));
    check_eq!(s[0].revents, POLLIN | POLLOUT);
    let mut s = [PollFd { fd, events: POLLOUT, revents: 0 }];
    check_eq!(p.poll(&mut s, 0), Ok(1));
    check_eq!(s[0].revents, POLLOUT);
    // O_NONBLOCK does not matter on a regular file: read at the end is 0.
    let mut b = [0u8; 4];
    check_eq!(p.read(fd, &mut b), Ok(0));
    check_eq!(p.write(fd, b""), Ok(0));
    // More entries than RLIMIT_NOFILE: EINVAL, as on Linux (and nothing
    // held); exactly that many is fine, -1 entries are skipped.
    let mut big = vec![PollFd { fd: -1, events: POLLIN, revents: 0 }; crate::fs::POLL_MAX_ENTRIES + 1];
    check_eq!(p.poll(&mut big, 0), Err(Errno::EINVAL));
    big.pop();
    big[7] = PollFd { fd, events: POLLIN, revents: 0 };
    check_eq!(p.poll(&mut big, 0), Ok(1));
    check_eq!(big[7].revents, POLLIN);
    check_ok!(p.close(fd));
    check_ok!(fs::unlink("/tmp/v-poll"));
    Ok(())
}

fn standard_layout() -> TestResult {
    let root = check_ok!(names("/"));
    for n in [&b"proc"[..], b"dev", b"tmp", b"etc"] {
        check!(root.iter().any(|x| x == n), "/ lacks {:?}", core::str::from_utf8(n));
    }
    check_eq!(check_ok!(fs::stat("/tmp")).mode, S_IFDIR | 0o1777);
    check_eq!(check_ok!(fs::stat("/etc")).mode & S_IFMT, S_IFDIR);
    check_eq!(check_ok!(fs::stat("/")).ino, 1);
    let dev = check_ok!(names("/dev/xen"));
    check!(dev.iter().any(|x| x == b"xenbus"));
    // Two entries for one device: distinct inodes.
    check!(check_ok!(fs::stat("/dev/xen/xenbus")).ino != check_ok!(fs::stat("/proc/xen/xenbus")).ino);
    Ok(())
}

fn etc_files_readable() -> TestResult {
    // Whatever the boot module put in /etc (maybe nothing) is readable and
    // its size matches its content.
    let p = Program::new();
    for e in check_ok!(fs::readdir("/etc")) {
        if e.name == b"." || e.name == b".." {
            continue;
        }
        let path = alloc::format!("/etc/{}", core::str::from_utf8(&e.name).unwrap_or("?"));
        let s = check_ok!(fs::stat(&path));
        if s.mode & S_IFMT != S_IFREG {
            continue;
        }
        let fd = check_ok!(p.open(&path, O_RDONLY));
        let mut buf = vec![0u8; s.size as usize + 1];
        let mut got = 0;
        loop {
            let n = check_ok!(p.read(fd, &mut buf[got..]));
            if n == 0 {
                break;
            }
            got += n;
        }
        check_eq!(got as u64, s.size);
        check_ok!(p.close(fd));
    }
    Ok(())
}

fn program_drop_closes() -> TestResult {
    clean(&["/tmp/v-drop"]);
    {
        let p = Program::new();
        for _ in 0..64 {
            check_ok!(p.open("/tmp/v-drop", O_CREAT | O_WRONLY));
        }
        check_ok!(fs::unlink("/tmp/v-drop"));
    }
    // A fresh program again has all 64.
    let p = Program::new();
    for i in 0..64 {
        check_eq!(p.open("/tmp", O_RDONLY), Ok(i));
    }
    p.close_all();
    check_eq!(p.open("/tmp", O_RDONLY), Ok(0));
    Ok(())
}

macro_rules! t {
    ($name:ident) => {
        Test { suite: "vfs", name: stringify!($name), func: $name, timeout_ms: 5_000, default: true }
    };
}

pub static TESTS: &[Test] = &[
    t!(create_write_read_back),
    t!(create_mode_recorded),
    t!(large_file_round_trip),
    t!(append_mode),
    t!(truncate_on_open),
    t!(exclusive_create),
    t!(lseek_whence_and_holes),
    t!(access_modes_ebadf),
    t!(bad_descriptors_ebadf),
    t!(descriptor_limit_emfile),
    t!(directories_mkdir_readdir_rmdir),
    t!(directory_errors),
    t!(paths_dot_dotdot_slashes),
    t!(unlink_while_open),
    t!(two_descriptors_own_offsets),
    t!(regular_files_poll_ready),
    t!(standard_layout),
    t!(etc_files_readable),
    t!(program_drop_closes),
];
