//! Descriptor table and descriptor operations.

use vfs::flags::*;
use vfs::{Errno, FdTable, FileType, Io, SpecialId, Tree, FD_CLOEXEC, FD_LIMIT};

const XENBUS: SpecialId = SpecialId(1);

fn setup() -> (Tree, FdTable<u32>) {
    let mut t = Tree::new();
    t.add_standard_layout(XENBUS, None).unwrap();
    (t, FdTable::new())
}

fn no_special(_: SpecialId, _: OpenFlags) -> Result<u32, Errno> {
    panic!("not a special node")
}

fn open(t: &mut Tree, tb: &mut FdTable<u32>, p: &str, flags: u32) -> Result<i32, Errno> {
    t.open(tb, p, flags, 0o644, |id, _| Ok(id.0 + 100))
}

fn read(t: &Tree, tb: &mut FdTable<u32>, fd: i32, n: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; n];
    match t.read(tb, fd, &mut buf)? {
        Io::Done(k) => {
            buf.truncate(k);
            Ok(buf)
        }
        Io::Special { .. } => panic!("special"),
    }
}

fn write(t: &mut Tree, tb: &mut FdTable<u32>, fd: i32, d: &[u8]) -> Result<usize, Errno> {
    match t.write(tb, fd, d)? {
        Io::Done(k) => Ok(k),
        Io::Special { .. } => panic!("special"),
    }
}

#[test]
fn lowest_free_allocation_and_limit() {
    let (mut t, mut tb) = setup();
    let fds: Vec<i32> = (0..FD_LIMIT).map(|_| open(&mut t, &mut tb, "/etc", O_RDONLY).unwrap()).collect();
    assert_eq!(fds, (0..FD_LIMIT as i32).collect::<Vec<_>>());
    assert!(tb.is_full());
    assert_eq!(tb.len(), 64);
    assert_eq!(open(&mut t, &mut tb, "/etc", O_RDONLY), Err(Errno::EMFILE));
    // EMFILE comes before creating anything.
    assert_eq!(open(&mut t, &mut tb, "/tmp/new", O_CREAT | O_WRONLY), Err(Errno::EMFILE));
    assert_eq!(t.lookup("/tmp/new"), Err(Errno::ENOENT));
    t.close(&mut tb, 5).unwrap();
    t.close(&mut tb, 3).unwrap();
    t.close(&mut tb, 63).unwrap();
    assert_eq!(open(&mut t, &mut tb, "/etc", O_RDONLY).unwrap(), 3);
    assert_eq!(open(&mut t, &mut tb, "/etc", O_RDONLY).unwrap(), 5);
    assert_eq!(open(&mut t, &mut tb, "/etc", O_RDONLY).unwrap(), 63);
    assert_eq!(open(&mut t, &mut tb, "/etc", O_RDONLY), Err(Errno::EMFILE));
    assert!(t.close_all(&mut tb).is_empty());
    assert!(tb.is_empty());
    assert_eq!(open(&mut t, &mut tb, "/etc", O_RDONLY).unwrap(), 0);
}

#[test]
fn close_errors() {
    let (mut t, mut tb) = setup();
    assert_eq!(t.close(&mut tb, 0), Err(Errno::EBADF));
    assert_eq!(t.close(&mut tb, -1), Err(Errno::EBADF));
    assert_eq!(t.close(&mut tb, 64), Err(Errno::EBADF));
    assert_eq!(t.close(&mut tb, i32::MAX), Err(Errno::EBADF));
    assert_eq!(t.close(&mut tb, i32::MIN), Err(Errno::EBADF));
    let fd = open(&mut t, &mut tb, "/etc", O_RDONLY).unwrap();
    assert_eq!(t.close(&mut tb, fd), Ok(None));
    assert_eq!(t.close(&mut tb, fd), Err(Errno::EBADF));
    assert_eq!(t.fstat(&tb, fd), Err(Errno::EBADF));
    assert_eq!(tb.getfl(fd), Err(Errno::EBADF));
    assert_eq!(tb.setfl(fd, 0), Err(Errno::EBADF));
    assert_eq!(t.lseek(&mut tb, fd, 0, SEEK_SET), Err(Errno::EBADF));
    assert!(matches!(t.read(&mut tb, fd, &mut [0; 1]), Err(Errno::EBADF)));
    assert!(matches!(t.write(&mut tb, fd, b"x"), Err(Errno::EBADF)));
}

#[test]
fn open_errors() {
    let (mut t, mut tb) = setup();
    t.create_file("/tmp/f", 0o644).unwrap();
    assert_eq!(open(&mut t, &mut tb, "/tmp/f", O_CREAT | O_EXCL | O_WRONLY), Err(Errno::EEXIST));
    assert_eq!(open(&mut t, &mut tb, "/tmp", O_CREAT | O_EXCL), Err(Errno::EEXIST));
    assert_eq!(open(&mut t, &mut tb, "/proc/xen/xenbus", O_CREAT | O_EXCL | O_RDWR), Err(Errno::EEXIST));
    assert_eq!(open(&mut t, &mut tb, "/tmp/f", O_DIRECTORY), Err(Errno::ENOTDIR));
    assert_eq!(open(&mut t, &mut tb, "/dev/xen/xenbus", O_DIRECTORY), Err(Errno::ENOTDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp/f/", O_RDONLY), Err(Errno::ENOTDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp/f/x", O_RDONLY), Err(Errno::ENOTDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp/f/x", O_CREAT | O_WRONLY), Err(Errno::ENOTDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp/f/.", O_RDONLY), Err(Errno::ENOTDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp", O_WRONLY), Err(Errno::EISDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp", O_RDWR), Err(Errno::EISDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp", O_RDONLY | O_TRUNC), Err(Errno::EISDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp", O_RDONLY | O_CREAT), Err(Errno::EISDIR));
    assert_eq!(open(&mut t, &mut tb, "/", O_WRONLY), Err(Errno::EISDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp/new/", O_CREAT | O_WRONLY), Err(Errno::EISDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp/f/", O_CREAT | O_WRONLY), Err(Errno::EISDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp/", O_CREAT | O_EXCL), Err(Errno::EISDIR));
    assert_eq!(open(&mut t, &mut tb, "/tmp/.", O_CREAT | O_EXCL), Err(Errno::EEXIST));
    assert_eq!(open(&mut t, &mut tb, "/tmp/missing", O_RDONLY), Err(Errno::ENOENT));
    assert_eq!(open(&mut t, &mut tb, "/tmp/missing", O_RDWR | O_TRUNC), Err(Errno::ENOENT));
    assert_eq!(open(&mut t, &mut tb, "/nodir/x", O_CREAT | O_WRONLY), Err(Errno::ENOENT));
    assert_eq!(open(&mut t, &mut tb, "", O_RDONLY), Err(Errno::ENOENT));
    assert_eq!(open(&mut t, &mut tb, "/tmp/f", 3), Err(Errno::EINVAL));
    assert_eq!(open(&mut t, &mut tb, "/tmp/d", O_CREAT | O_DIRECTORY), Err(Errno::EINVAL));
    let long = format!("/tmp/{}", "n".repeat(256));
    assert_eq!(open(&mut t, &mut tb, &long, O_CREAT | O_WRONLY), Err(Errno::ENAMETOOLONG));
    assert!(tb.is_empty(), "no failed open left a descriptor");
    // Successes.
    let d = open(&mut t, &mut tb, "/tmp/", O_RDONLY | O_DIRECTORY).unwrap();
    let f = open(&mut t, &mut tb, "/tmp/f", O_RDWR | O_CREAT).unwrap();
    let g = open(&mut t, &mut tb, "/tmp/g", O_WRONLY | O_CREAT | O_EXCL).unwrap();
    assert_eq!((d, f, g), (0, 1, 2));
    assert_eq!(t.stat("/tmp/g").unwrap().mode, S_IFREG | 0o644);
    // Unknown flag bits (O_CLOEXEC) are ignored.
    assert!(open(&mut t, &mut tb, "/tmp/f", O_RDONLY | 0o2000000).is_ok());
}

#[test]
fn special_open_and_io() {
    let (mut t, mut tb) = setup();
    let mut seen = None;
    let fd = t
        .open(&mut tb, "/proc/xen/xenbus", O_RDWR | O_NONBLOCK, 0, |id, fl| {
            seen = Some((id, fl));
            Ok(42)
        })
        .unwrap();
    assert_eq!(seen, Some((XENBUS, OpenFlags::RDWR | OpenFlags::NONBLOCK)));
    let fd2 = t.open(&mut tb, "/dev/xen/xenbus", O_RDWR, 0, |id, _| Ok(id.0 * 10)).unwrap();
    assert_eq!(tb.get(fd).unwrap().special(), Some((XENBUS, &42)));
    assert_eq!(tb.get(fd2).unwrap().special(), Some((XENBUS, &10)));
    match t.read(&mut tb, fd, &mut [0; 4]).unwrap() {
        Io::Special { id, state, nonblocking } => {
            assert_eq!((id, *state, nonblocking), (XENBUS, 42, true));
            *state = 43;
        }
        Io::Done(_) => panic!(),
    }
    match t.write(&mut tb, fd2, b"x").unwrap() {
        Io::Special { state, nonblocking, .. } => assert_eq!((*state, nonblocking), (10, false)),
        Io::Done(_) => panic!(),
    }
    assert_eq!(t.lseek(&mut tb, fd, 0, SEEK_SET), Err(Errno::ESPIPE));
    assert_eq!(t.lseek(&mut tb, fd, 0, 99), Err(Errno::ESPIPE));
    let st = t.fstat(&tb, fd2).unwrap();
    assert_eq!((st.mode, st.special), (S_IFCHR | 0o600, Some(XENBUS)));
    assert_eq!(t.ftruncate(&tb, fd, 0), Err(Errno::EINVAL));
    // Callback failure fails the open and leaves nothing.
    assert_eq!(t.open(&mut tb, "/dev/xen/xenbus", O_RDWR, 0, |_, _| Err(Errno::EAGAIN)), Err(Errno::EAGAIN));
    assert_eq!(tb.len(), 2);
    // Access mode is checked before handing to the device.
    let ro = t.open(&mut tb, "/dev/xen/xenbus", O_RDONLY, 0, |_, _| Ok(0)).unwrap();
    assert!(matches!(t.write(&mut tb, ro, b"x"), Err(Errno::EBADF)));
    let wo = t.open(&mut tb, "/dev/xen/xenbus", O_WRONLY, 0, |_, _| Ok(0)).unwrap();
    assert!(matches!(t.read(&mut tb, wo, &mut [0; 1]), Err(Errno::EBADF)));
    assert_eq!(t.close(&mut tb, fd), Ok(Some(43)));
    let rest = t.close_all(&mut tb);
    assert_eq!(rest, [10, 0, 0]);
}

#[test]
fn regular_read_write_seek() {
    let (mut t, mut tb) = setup();
    let fd = t.open(&mut tb, "/tmp/f", O_RDWR | O_CREAT, 0o600, no_special).unwrap();
    assert_eq!(write(&mut t, &mut tb, fd, b"hello world").unwrap(), 11);
    assert_eq!(tb.get(fd).unwrap().offset(), 11);
    assert_eq!(read(&t, &mut tb, fd, 10).unwrap(), b"", "EOF gives 0");
    assert_eq!(t.lseek(&mut tb, fd, 0, SEEK_SET).unwrap(), 0);
    assert_eq!(read(&t, &mut tb, fd, 5).unwrap(), b"hello");
    assert_eq!(read(&t, &mut tb, fd, 100).unwrap(), b" world");
    assert_eq!(t.lseek(&mut tb, fd, -5, SEEK_END).unwrap(), 6);
    assert_eq!(write(&mut t, &mut tb, fd, b"WORLD!").unwrap(), 6);
    assert_eq!(t.file_data(t.lookup("/tmp/f").unwrap()).unwrap(), b"hello WORLD!");
    assert_eq!(t.lseek(&mut tb, fd, -2, SEEK_CUR).unwrap(), 10);
    assert_eq!(read(&t, &mut tb, fd, 100).unwrap(), b"D!");
    // Seeking past the end then writing leaves a hole of zeros.
    assert_eq!(t.lseek(&mut tb, fd, 4, SEEK_END).unwrap(), 16);
    assert_eq!(read(&t, &mut tb, fd, 1).unwrap(), b"");
    write(&mut t, &mut tb, fd, b"x").unwrap();
    assert_eq!(t.fstat(&tb, fd).unwrap().size, 17);
    assert_eq!(&t.file_data(t.lookup("/tmp/f").unwrap()).unwrap()[12..], b"\0\0\0\0x");
    // lseek errors.
    assert_eq!(t.lseek(&mut tb, fd, -1, SEEK_SET), Err(Errno::EINVAL));
    assert_eq!(t.lseek(&mut tb, fd, -100, SEEK_CUR), Err(Errno::EINVAL));
    assert_eq!(t.lseek(&mut tb, fd, -18, SEEK_END), Err(Errno::EINVAL));
    assert_eq!(t.lseek(&mut tb, fd, i64::MAX, SEEK_END), Err(Errno::EINVAL));
    assert_eq!(t.lseek(&mut tb, fd, 0, 3), Err(Errno::EINVAL));
    assert_eq!(t.lseek(&mut tb, fd, 0, u32::MAX), Err(Errno::EINVAL));
    assert_eq!(tb.get(fd).unwrap().offset(), 17, "failed lseek keeps offset");
    assert_eq!(t.lseek(&mut tb, fd, i64::MAX, SEEK_SET).unwrap(), i64::MAX as u64);
    assert!(matches!(t.write(&mut tb, fd, b"x"), Err(Errno::EFBIG)));
    assert_eq!(read(&t, &mut tb, fd, 4).unwrap(), b"");
}

#[test]
fn access_mode_checks() {
    let (mut t, mut tb) = setup();
    t.create_file("/tmp/f", 0o644).unwrap();
    let ro = open(&mut t, &mut tb, "/tmp/f", O_RDONLY).unwrap();
    let wo = open(&mut t, &mut tb, "/tmp/f", O_WRONLY).unwrap();
    let dir = open(&mut t, &mut tb, "/tmp", O_RDONLY).unwrap();
    assert!(matches!(t.write(&mut tb, ro, b"x"), Err(Errno::EBADF)));
    assert!(matches!(t.read(&mut tb, wo, &mut [0; 1]), Err(Errno::EBADF)));
    assert!(matches!(t.read(&mut tb, dir, &mut [0; 1]), Err(Errno::EISDIR)));
    assert!(matches!(t.write(&mut tb, dir, b"x"), Err(Errno::EBADF)));
    assert_eq!(write(&mut t, &mut tb, wo, b"abc").unwrap(), 3);
    assert_eq!(read(&t, &mut tb, ro, 10).unwrap(), b"abc");
    assert_eq!(t.ftruncate(&tb, ro, 0), Err(Errno::EINVAL));
    assert_eq!(t.ftruncate(&tb, dir, 0), Err(Errno::EINVAL));
    assert_eq!(t.ftruncate(&tb, wo, -1), Err(Errno::EINVAL));
    t.ftruncate(&tb, wo, 1).unwrap();
    assert_eq!(t.fstat(&tb, ro).unwrap().size, 1);
    assert_eq!(t.fstat(&tb, dir).unwrap().mode, S_IFDIR | 0o1777);
    assert_eq!(tb.get(ro).unwrap().access(), AccessMode::ReadOnly);
}

#[test]
fn append_and_truncate() {
    let (mut t, mut tb) = setup();
    let a = open(&mut t, &mut tb, "/tmp/log", O_WRONLY | O_CREAT | O_APPEND).unwrap();
    let b = open(&mut t, &mut tb, "/tmp/log", O_RDWR).unwrap();
    write(&mut t, &mut tb, a, b"one").unwrap();
    write(&mut t, &mut tb, b, b"XY").unwrap(); // at offset 0 of b
    t.lseek(&mut tb, a, 0, SEEK_SET).unwrap();
    write(&mut t, &mut tb, a, b"two").unwrap(); // O_APPEND ignores offset
    assert_eq!(tb.get(a).unwrap().offset(), 6);
    let ino = t.lookup("/tmp/log").unwrap();
    assert_eq!(t.file_data(ino).unwrap(), b"XYetwo");
    // O_TRUNC empties a file opened for writing.
    let c = open(&mut t, &mut tb, "/tmp/log", O_WRONLY | O_TRUNC).unwrap();
    assert_eq!(t.fstat(&tb, c).unwrap().size, 0);
    write(&mut t, &mut tb, c, b"new").unwrap();
    assert_eq!(t.file_data(ino).unwrap(), b"new");
    // O_TRUNC on a special node is ignored.
    assert!(t.open(&mut tb, "/dev/xen/xenbus", O_RDWR | O_TRUNC, 0, |_, _| Ok(0)).is_ok());
    // O_CREAT on an existing file neither truncates nor changes mode.
    let d = t.open(&mut tb, "/tmp/log", O_RDWR | O_CREAT, 0o777, no_special).unwrap();
    assert_eq!(t.fstat(&tb, d).unwrap().size, 3);
    assert_eq!(t.fstat(&tb, d).unwrap().mode, S_IFREG | 0o644);
}

#[test]
fn fcntl_flags() {
    let (mut t, mut tb) = setup();
    let fd = open(&mut t, &mut tb, "/tmp/f", O_RDWR | O_CREAT | O_EXCL | O_TRUNC).unwrap();
    assert_eq!(tb.getfl(fd).unwrap(), O_RDWR);
    tb.setfl(fd, O_NONBLOCK | O_WRONLY | O_CREAT | O_TRUNC).unwrap();
    assert_eq!(tb.getfl(fd).unwrap(), O_RDWR | O_NONBLOCK, "only O_NONBLOCK/O_APPEND change");
    assert!(tb.get(fd).unwrap().is_nonblocking());
    tb.setfl(fd, O_APPEND).unwrap();
    assert_eq!(tb.getfl(fd).unwrap(), O_RDWR | O_APPEND);
    assert!(tb.get(fd).unwrap().is_append() && !tb.get(fd).unwrap().is_nonblocking());
    tb.setfl(fd, u32::MAX).unwrap();
    assert_eq!(tb.getfl(fd).unwrap(), O_RDWR | O_APPEND | O_NONBLOCK);
    tb.setfl(fd, 0).unwrap();
    assert_eq!(tb.getfl(fd).unwrap(), O_RDWR);
    let ro = open(&mut t, &mut tb, "/etc", O_RDONLY | O_NONBLOCK).unwrap();
    assert_eq!(tb.getfl(ro).unwrap(), O_NONBLOCK);
    // setfl(O_APPEND) takes effect on writes.
    write(&mut t, &mut tb, fd, b"abc").unwrap();
    t.lseek(&mut tb, fd, 0, SEEK_SET).unwrap();
    tb.setfl(fd, O_APPEND).unwrap();
    write(&mut t, &mut tb, fd, b"d").unwrap();
    assert_eq!(t.file_data(t.lookup("/tmp/f").unwrap()).unwrap(), b"abcd");
}

#[test]
fn unlink_while_open() {
    let (mut t, mut tb) = setup();
    let fd = open(&mut t, &mut tb, "/tmp/f", O_RDWR | O_CREAT).unwrap();
    write(&mut t, &mut tb, fd, b"data").unwrap();
    let n = t.inode_count();
    t.unlink("/tmp/f").unwrap();
    assert_eq!(t.lookup("/tmp/f"), Err(Errno::ENOENT));
    assert_eq!(t.inode_count(), n, "kept while open");
    assert_eq!(t.fstat(&tb, fd).unwrap().nlink, 0);
    t.lseek(&mut tb, fd, 0, SEEK_SET).unwrap();
    assert_eq!(read(&t, &mut tb, fd, 10).unwrap(), b"data");
    write(&mut t, &mut tb, fd, b"more").unwrap();
    assert_eq!(t.bytes_used(), 8);
    t.close(&mut tb, fd).unwrap();
    assert_eq!(t.inode_count(), n - 1);
    assert_eq!(t.bytes_used(), 0);
    // A removed directory that is still open reads as empty.
    t.mkdir("/tmp/d", 0o755).unwrap();
    let d = open(&mut t, &mut tb, "/tmp/d", O_RDONLY).unwrap();
    t.rmdir("/tmp/d").unwrap();
    assert_eq!(t.getdents(&mut tb, d, |_| true).unwrap(), 0);
    assert_eq!(t.fstat(&tb, d).unwrap().nlink, 0);
    t.close(&mut tb, d).unwrap();
    assert_eq!(t.inode_count(), n - 1);
}

#[test]
fn getdents_positions() {
    let (mut t, mut tb) = setup();
    for n in ["a", "b", "c"] {
        t.create_file(format!("/tmp/{n}").as_str(), 0).unwrap();
    }
    let fd = open(&mut t, &mut tb, "/tmp", O_RDONLY | O_DIRECTORY).unwrap();
    let mut got = Vec::new();
    // A buffer that takes two entries per call.
    loop {
        let mut room = 2;
        let n = t
            .getdents(&mut tb, fd, |e| {
                if room == 0 {
                    return false;
                }
                room -= 1;
                got.push(String::from_utf8(e.name.clone()).unwrap());
                true
            })
            .unwrap();
        if n == 0 {
            break;
        }
        // Entries added or removed between calls do not disturb the others.
        if got.len() == 2 {
            t.unlink("/tmp/a").unwrap();
            t.create_file("/tmp/z", 0).unwrap();
        }
    }
    assert_eq!(got, [".", "..", "b", "c", "z"]);
    assert_eq!(t.lseek(&mut tb, fd, 0, SEEK_SET).unwrap(), 0);
    assert_eq!(t.getdents(&mut tb, fd, |_| true).unwrap(), 5);
    assert_eq!(t.lseek(&mut tb, fd, 0, SEEK_END), Err(Errno::EINVAL));
    assert_eq!(t.lseek(&mut tb, fd, 2, SEEK_SET).unwrap(), 2);
    let mut first = None;
    t.getdents(&mut tb, fd, |e| {
        first.get_or_insert(e.name.clone());
        false
    })
    .unwrap();
    assert_eq!(first.as_deref(), Some(&b"b"[..]));
    let f = open(&mut t, &mut tb, "/tmp/b", O_RDONLY).unwrap();
    assert_eq!(t.getdents(&mut tb, f, |_| true), Err(Errno::ENOTDIR));
    assert_eq!(t.getdents(&mut tb, 40, |_| true), Err(Errno::EBADF));
}

#[test]
fn relative_open_with_cwd() {
    let (mut t, mut tb) = setup();
    let fd = t.open(&mut tb, vfs::Path::at(b"/tmp", b"rel"), O_CREAT | O_WRONLY, 0o600, no_special).unwrap();
    assert_eq!(t.fstat(&tb, fd).unwrap().ino, t.lookup("/tmp/rel").unwrap());
    let fd2 = t.open(&mut tb, vfs::Path::at(b"/tmp", b"../etc"), O_RDONLY, 0, no_special).unwrap();
    assert_eq!(t.fstat(&tb, fd2).unwrap().ino, t.lookup("/etc").unwrap());
}

#[test]
fn dup_shares_the_description() {
    let (mut t, mut tb) = setup();
    let a = open(&mut t, &mut tb, "/tmp/f", O_RDWR | O_CREAT).unwrap();
    assert_eq!(write(&mut t, &mut tb, a, b"hello world").unwrap(), 11);
    t.lseek(&mut tb, a, 0, SEEK_SET).unwrap();
    let b = t.dup(&mut tb, a, 0, false).unwrap();
    assert_eq!(b, 1);
    assert!(tb.same_description(a, b));
    assert_eq!(tb.descriptions(), 1);
    // The offset is shared: a read through one moves the other.
    assert_eq!(read(&t, &mut tb, a, 5).unwrap(), b"hello");
    assert_eq!(read(&t, &mut tb, b, 6).unwrap(), b" world");
    // So are the status flags.
    tb.setfl(b, O_NONBLOCK).unwrap();
    assert_eq!(tb.getfl(a).unwrap(), O_RDWR | O_NONBLOCK);
    // Closing one keeps the description; the file stays open after unlink.
    t.unlink("/tmp/f").unwrap();
    assert_eq!(t.close(&mut tb, a).unwrap(), None);
    t.lseek(&mut tb, b, 0, SEEK_SET).unwrap();
    assert_eq!(read(&t, &mut tb, b, 20).unwrap(), b"hello world");
    assert_eq!(t.close(&mut tb, b).unwrap(), None);
    assert!(tb.is_empty());
    assert_eq!(tb.descriptions(), 0);
    t.audit().unwrap();
}

#[test]
fn dup_minimum_and_errors() {
    let (mut t, mut tb) = setup();
    let a = open(&mut t, &mut tb, "/etc", O_RDONLY).unwrap();
    assert_eq!(t.dup(&mut tb, a, 10, true).unwrap(), 10);
    assert_eq!(tb.getfd(10).unwrap(), FD_CLOEXEC);
    assert_eq!(tb.getfd(a).unwrap(), 0);
    assert_eq!(t.dup(&mut tb, a, 10, false).unwrap(), 11);
    assert_eq!(t.dup(&mut tb, 5, 0, false), Err(Errno::EBADF));
    assert_eq!(t.dup(&mut tb, -1, 0, false), Err(Errno::EBADF));
    assert_eq!(t.dup(&mut tb, a, -1, false), Err(Errno::EINVAL));
    assert_eq!(t.dup(&mut tb, a, FD_LIMIT as i32, false), Err(Errno::EINVAL));
    assert_eq!(t.dup(&mut tb, a, FD_LIMIT as i32 - 1, false).unwrap(), FD_LIMIT as i32 - 1);
    assert_eq!(t.dup(&mut tb, a, FD_LIMIT as i32 - 1, false), Err(Errno::EMFILE));
    // Filling the table: EMFILE, and nothing changes.
    while !tb.is_full() {
        t.dup(&mut tb, a, 0, false).unwrap();
    }
    assert_eq!(t.dup(&mut tb, a, 0, false), Err(Errno::EMFILE));
    assert_eq!(tb.len(), FD_LIMIT);
    assert_eq!(tb.descriptions(), 1);
    for fd in tb.fds().collect::<Vec<_>>() {
        t.close(&mut tb, fd).unwrap();
    }
    assert_eq!(tb.descriptions(), 0);
    t.audit().unwrap();
}

#[test]
fn dup2_replaces_and_returns_the_closed_state() {
    let (mut t, mut tb) = setup();
    let x = open(&mut t, &mut tb, "/dev/xen/xenbus", O_RDWR).unwrap();
    let f = open(&mut t, &mut tb, "/tmp/f", O_RDWR | O_CREAT).unwrap();
    // Replacing the only descriptor of the xenbus description hands its
    // state back for teardown.
    assert_eq!(t.dup2(&mut tb, f, x), Ok(Some(101)));
    assert!(tb.same_description(f, x));
    // dup2 onto itself: nothing happens, as long as it is open.
    assert_eq!(t.dup2(&mut tb, f, f), Ok(None));
    assert_eq!(t.dup2(&mut tb, 7, 7), Err(Errno::EBADF));
    assert_eq!(t.dup2(&mut tb, 9, f), Err(Errno::EBADF));
    assert_eq!(t.dup2(&mut tb, f, FD_LIMIT as i32), Err(Errno::EBADF));
    assert_eq!(t.dup2(&mut tb, f, -3), Err(Errno::EBADF));
    // To a free number above the others; the close-on-exec flag is clear.
    tb.setfd(f, FD_CLOEXEC).unwrap();
    assert_eq!(t.dup2(&mut tb, f, 40), Ok(None));
    assert_eq!(tb.getfd(40).unwrap(), 0);
    assert_eq!(tb.getfd(f).unwrap(), FD_CLOEXEC);
    assert_eq!(tb.fds().collect::<Vec<_>>(), vec![0, 1, 40]);
    // A special description shared by two descriptors ends with the last.
    let y = open(&mut t, &mut tb, "/proc/xen/xenbus", O_RDWR).unwrap();
    assert_eq!(t.dup2(&mut tb, y, 50), Ok(None));
    assert_eq!(t.close(&mut tb, y), Ok(None));
    assert_eq!(t.close(&mut tb, 50), Ok(Some(101)));
    for fd in tb.fds().collect::<Vec<_>>() {
        t.close(&mut tb, fd).unwrap();
    }
    t.audit().unwrap();
}

#[test]
fn anonymous_descriptions() {
    let (mut t, mut tb) = setup();
    let inodes = t.inode_count();
    let r = t.open_anonymous(&mut tb, SpecialId(7), FileType::Fifo, O_RDONLY, 1000).unwrap();
    let w = t.open_anonymous(&mut tb, SpecialId(7), FileType::Fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 1001).unwrap();
    assert_eq!(t.inode_count(), inodes);
    let sr = t.fstat(&tb, r).unwrap();
    let sw = t.fstat(&tb, w).unwrap();
    assert_eq!(sr.mode, S_IFIFO | 0o600);
    assert_eq!(sr.file_type, FileType::Fifo);
    assert_ne!(sr.ino, sw.ino);
    assert_eq!(tb.getfl(w).unwrap(), O_WRONLY | O_NONBLOCK);
    assert_eq!(tb.getfd(w).unwrap(), FD_CLOEXEC);
    // The access mode is checked; the state comes back for the transfer.
    let mut buf = [0u8; 4];
    assert_eq!(t.read(&mut tb, w, &mut buf).err(), Some(Errno::EBADF));
    assert!(matches!(t.read(&mut tb, r, &mut buf), Ok(Io::Special { state: &mut 1000, nonblocking: false, .. })));
    assert!(matches!(t.write(&mut tb, w, b"x"), Ok(Io::Special { state: &mut 1001, nonblocking: true, .. })));
    assert_eq!(t.lseek(&mut tb, r, 0, SEEK_CUR), Err(Errno::ESPIPE));
    assert_eq!(t.open_anonymous(&mut tb, SpecialId(8), FileType::Socket, O_ACCMODE, 0), Err(Errno::EINVAL));
    let s = t.open_anonymous(&mut tb, SpecialId(8), FileType::Socket, O_RDWR, 5).unwrap();
    assert_eq!(t.fstat(&tb, s).unwrap().mode, S_IFSOCK | 0o600);
    assert_eq!(t.close(&mut tb, r), Ok(Some(1000)));
    assert_eq!(t.close_all(&mut tb), vec![1001, 5]);
    assert_eq!(t.inode_count(), inodes);
    t.audit().unwrap();
}
