//! Tree operations: resolution, mkdir/rmdir/unlink/create, readdir, stat.

use vfs::flags::{FileType, S_IFCHR, S_IFDIR, S_IFREG};
use vfs::{Errno, Limits, Path, SpecialId, Tree, ROOT_INO};

const XENBUS: SpecialId = SpecialId(7);
const CAPS: SpecialId = SpecialId(8);

fn std_tree() -> Tree {
    let mut t = Tree::new();
    t.add_standard_layout(XENBUS, Some(CAPS)).unwrap();
    t
}

fn names(t: &Tree, p: &str) -> Vec<String> {
    t.readdir(p).unwrap().into_iter().map(|e| String::from_utf8(e.name).unwrap()).collect()
}

#[test]
fn resolution_basics() {
    let mut t = Tree::new();
    let a = t.mkdir("/a", 0o755).unwrap();
    let b = t.mkdir("/a/b", 0o755).unwrap();
    t.create_file("/a/f", 0o644).unwrap();
    assert_eq!(t.lookup("/").unwrap(), ROOT_INO);
    assert_eq!(t.lookup("///").unwrap(), ROOT_INO);
    assert_eq!(t.lookup("/..").unwrap(), ROOT_INO);
    assert_eq!(t.lookup("/../..").unwrap(), ROOT_INO);
    assert_eq!(t.lookup("//a//b/").unwrap(), b);
    assert_eq!(t.lookup("/a/./b/..").unwrap(), a);
    assert_eq!(t.lookup("/a/b/../../a").unwrap(), a);
    assert_eq!(t.lookup("a/b").unwrap(), b, "relative to / by default");
    assert_eq!(t.lookup(Path::at(b"/a", b"b")).unwrap(), b);
    assert_eq!(t.lookup(Path::at(b"/a/b", b"..")).unwrap(), a);
    assert_eq!(t.lookup(Path::at(b"/a/b", b"../f")).unwrap(), t.lookup("/a/f").unwrap());
    assert_eq!(t.lookup(Path::at(b"a", b"b")), Err(Errno::EINVAL), "cwd must be absolute");
    assert_eq!(t.lookup(Path::at(b"/nope", b"b")), Err(Errno::ENOENT));
    assert_eq!(t.lookup(Path::at(b"/a/f", b"x")), Err(Errno::ENOTDIR));
    assert_eq!(t.lookup(Path::at(b"a", b"/a/b")).unwrap(), b, "absolute ignores cwd");
}

#[test]
fn resolution_errors() {
    let mut t = Tree::new();
    t.mkdir("/d", 0o755).unwrap();
    t.create_file("/d/f", 0o644).unwrap();
    assert_eq!(t.lookup(""), Err(Errno::ENOENT));
    assert_eq!(t.lookup("/missing"), Err(Errno::ENOENT));
    assert_eq!(t.lookup("/missing/x"), Err(Errno::ENOENT));
    assert_eq!(t.lookup("/missing/.."), Err(Errno::ENOENT));
    assert_eq!(t.lookup("/d/f/"), Err(Errno::ENOTDIR), "trailing slash on file");
    assert_eq!(t.lookup("/d/f/."), Err(Errno::ENOTDIR));
    assert_eq!(t.lookup("/d/f/.."), Err(Errno::ENOTDIR), "stricter than lexical");
    assert_eq!(t.lookup("/d/f/x"), Err(Errno::ENOTDIR));
    assert!(t.lookup("/d/f").is_ok());
    assert!(t.lookup("/d/").is_ok());
    let long = format!("/{}", "x".repeat(256));
    assert_eq!(t.lookup(long.as_str()), Err(Errno::ENAMETOOLONG));
    let very_long = "/".repeat(4096);
    assert_eq!(t.lookup(very_long.as_str()), Err(Errno::ENAMETOOLONG));
    assert_eq!(t.lookup("/".repeat(4095).as_str()).unwrap(), ROOT_INO);
}

#[test]
fn mkdir_errors() {
    let mut t = Tree::new();
    t.mkdir("/d", 0o755).unwrap();
    t.create_file("/f", 0o644).unwrap();
    assert_eq!(t.mkdir("/d", 0o755), Err(Errno::EEXIST));
    assert_eq!(t.mkdir("/d/", 0o755), Err(Errno::EEXIST));
    assert_eq!(t.mkdir("/f", 0o755), Err(Errno::EEXIST));
    assert_eq!(t.mkdir("/", 0o755), Err(Errno::EEXIST));
    assert_eq!(t.mkdir("/d/.", 0o755), Err(Errno::EEXIST));
    assert_eq!(t.mkdir("/d/..", 0o755), Err(Errno::EEXIST));
    assert_eq!(t.mkdir("/missing/x", 0o755), Err(Errno::ENOENT));
    assert_eq!(t.mkdir("/f/x", 0o755), Err(Errno::ENOTDIR));
    assert_eq!(t.mkdir("", 0o755), Err(Errno::ENOENT));
    assert!(t.mkdir("/d/new/", 0o700).is_ok(), "trailing slash allowed");
    assert_eq!(t.stat("/d/new").unwrap().mode, S_IFDIR | 0o700);
}

#[test]
fn rmdir_errors() {
    let mut t = std_tree();
    t.mkdir("/tmp/d", 0o755).unwrap();
    t.create_file("/tmp/d/f", 0o644).unwrap();
    assert_eq!(t.rmdir("/"), Err(Errno::EBUSY));
    assert_eq!(t.rmdir("///"), Err(Errno::EBUSY));
    assert_eq!(t.rmdir("/proc"), Err(Errno::EBUSY), "mount point");
    assert_eq!(t.rmdir("/dev"), Err(Errno::EBUSY), "mount point");
    assert_eq!(t.rmdir("/tmp/d"), Err(Errno::ENOTEMPTY));
    assert_eq!(t.rmdir("/tmp/d/f"), Err(Errno::ENOTDIR));
    assert_eq!(t.rmdir("/tmp/d/f/"), Err(Errno::ENOTDIR));
    assert_eq!(t.rmdir("/tmp/missing"), Err(Errno::ENOENT));
    assert_eq!(t.rmdir("/tmp/d/."), Err(Errno::EINVAL));
    assert_eq!(t.rmdir("/tmp/d/.."), Err(Errno::ENOTEMPTY));
    t.unlink("/tmp/d/f").unwrap();
    let tmp_nlink = t.stat("/tmp").unwrap().nlink;
    t.rmdir("/tmp/d/").unwrap();
    assert_eq!(t.stat("/tmp").unwrap().nlink, tmp_nlink - 1);
    assert_eq!(t.lookup("/tmp/d"), Err(Errno::ENOENT));
    assert_eq!(t.rmdir("/tmp/d"), Err(Errno::ENOENT));
}

#[test]
fn unlink_errors() {
    let mut t = std_tree();
    t.create_file("/tmp/f", 0o644).unwrap();
    assert_eq!(t.unlink("/tmp"), Err(Errno::EISDIR));
    assert_eq!(t.unlink("/tmp/"), Err(Errno::EISDIR));
    assert_eq!(t.unlink("/"), Err(Errno::EISDIR));
    assert_eq!(t.unlink("/tmp/."), Err(Errno::EISDIR));
    assert_eq!(t.unlink("/tmp/missing"), Err(Errno::ENOENT));
    assert_eq!(t.unlink("/tmp/f/"), Err(Errno::ENOTDIR));
    assert_eq!(t.unlink("/tmp/f/x"), Err(Errno::ENOTDIR));
    t.unlink("/tmp/f").unwrap();
    assert_eq!(t.unlink("/tmp/f"), Err(Errno::ENOENT));
    assert_eq!(t.lookup("/tmp/f"), Err(Errno::ENOENT));
}

#[test]
fn create_errors() {
    let mut t = Tree::new();
    t.mkdir("/d", 0o755).unwrap();
    let f = t.create_file("/d/f", 0o640).unwrap();
    assert_eq!(t.stat("/d/f").unwrap().mode, S_IFREG | 0o640);
    assert_eq!(t.lookup("/d/f").unwrap(), f);
    assert_eq!(t.create_file("/d/f", 0o644), Err(Errno::EEXIST));
    assert_eq!(t.create_file("/d", 0o644), Err(Errno::EEXIST));
    assert_eq!(t.create_file("/d/f/", 0o644), Err(Errno::EISDIR));
    assert_eq!(t.create_file("/", 0o644), Err(Errno::EEXIST));
    assert_eq!(t.create_file("/d/g/", 0o644), Err(Errno::EISDIR));
    assert_eq!(t.create_file("/x/g", 0o644), Err(Errno::ENOENT));
    assert_eq!(t.create_file("/d/f/g", 0o644), Err(Errno::ENOTDIR));
    assert_eq!(t.create_special("/d/s", 0o600, SpecialId(1)), Err(Errno::EINVAL));
    assert_eq!(t.create_special("/d/s", S_IFDIR | 0o600, SpecialId(1)), Err(Errno::EINVAL));
    assert!(t.create_special("/d/s", S_IFCHR | 0o600, SpecialId(1)).is_ok());
}

#[test]
fn standard_layout() {
    let t = std_tree();
    let p = t.stat("/proc/xen/xenbus").unwrap();
    let d = t.stat("/dev/xen/xenbus").unwrap();
    let c = t.stat("/proc/xen/capabilities").unwrap();
    assert_eq!(p.mode, S_IFREG | 0o600);
    assert_eq!(d.mode, S_IFCHR | 0o600);
    assert_eq!(c.mode, S_IFREG | 0o444);
    assert_eq!(p.special, Some(XENBUS));
    assert_eq!(d.special, Some(XENBUS));
    assert_eq!(c.special, Some(CAPS));
    assert_ne!(p.ino, d.ino);
    assert_eq!((p.size, p.nlink), (0, 1));
    assert_eq!(t.stat("/tmp").unwrap().mode, S_IFDIR | 0o1777);
    assert_eq!(t.stat("/etc").unwrap().mode, S_IFDIR | 0o755);
    assert_eq!(t.stat("/proc/xen").unwrap().file_type, FileType::Directory);
    assert_eq!(names(&t, "/proc/xen"), [".", "..", "xenbus", "capabilities"]);
    assert_eq!(names(&t, "/"), [".", "..", "proc", "dev", "tmp", "etc"]);

    // capabilities as an empty regular file.
    let mut t2 = Tree::new();
    t2.add_standard_layout(XENBUS, None).unwrap();
    let c = t2.stat("/proc/xen/capabilities").unwrap();
    assert_eq!((c.mode, c.size, c.special), (S_IFREG | 0o444, 0, None));
    // Idempotent for directories, EEXIST for leaves.
    assert_eq!(t2.add_standard_layout(XENBUS, None), Err(Errno::EEXIST));
}

#[test]
fn readdir_contents_and_order() {
    let mut t = Tree::new();
    let d = t.mkdir("/d", 0o755).unwrap();
    let z = t.create_file("/d/z", 0o644).unwrap();
    let a = t.mkdir("/d/a", 0o755).unwrap();
    t.create_special("/d/c", S_IFCHR | 0o600, SpecialId(3)).unwrap();
    let es = t.readdir("/d").unwrap();
    let got: Vec<_> = es.iter().map(|e| (e.name.clone(), e.file_type, e.next_offset)).collect();
    assert_eq!(
        got,
        [
            (b".".to_vec(), FileType::Directory, 1),
            (b"..".to_vec(), FileType::Directory, 2),
            (b"z".to_vec(), FileType::Regular, 3),
            (b"a".to_vec(), FileType::Directory, 4),
            (b"c".to_vec(), FileType::CharDevice, 5),
        ]
    );
    assert_eq!(es[0].ino, d);
    assert_eq!(es[1].ino, ROOT_INO);
    assert_eq!(es[2].ino, z);
    assert_eq!(es[3].ino, a);
    assert_eq!(es[4].file_type.d_type(), 2);
    // Removing and re-creating moves a name to the end.
    t.unlink("/d/z").unwrap();
    t.create_file("/d/z", 0o644).unwrap();
    assert_eq!(names(&t, "/d"), [".", "..", "a", "c", "z"]);
    // Root's `..` is root.
    let root = t.readdir("/").unwrap();
    assert_eq!(root[1].ino, ROOT_INO);
    assert_eq!(t.readdir("/d/c"), Err(Errno::ENOTDIR));
    assert_eq!(t.readdir("/nope"), Err(Errno::ENOENT));
}

#[test]
fn stat_modes_sizes_nlink() {
    let mut t = Tree::new();
    assert_eq!(t.stat("/").unwrap().nlink, 2);
    t.mkdir("/d", 0o755).unwrap();
    t.mkdir("/d/e", 0o755).unwrap();
    let f = t.create_file("/d/f", 0o600).unwrap();
    t.write_at(f, 0, b"hello").unwrap();
    let sd = t.stat("/d").unwrap();
    assert_eq!((sd.mode, sd.nlink, sd.size), (S_IFDIR | 0o755, 3, 20 * 4));
    assert_eq!(t.stat("/").unwrap().nlink, 3);
    let sf = t.stat("/d/f").unwrap();
    assert_eq!((sf.mode, sf.nlink, sf.size, sf.ino), (S_IFREG | 0o600, 1, 5, f));
    t.chmod("/d/f", 0o100444).unwrap();
    assert_eq!(t.stat("/d/f").unwrap().mode, S_IFREG | 0o444, "chmod keeps type");
    assert!(t.stat("/d/f").unwrap().ino > ROOT_INO);
}

#[test]
fn inode_numbers_not_reused() {
    let mut t = Tree::new();
    let a = t.create_file("/a", 0).unwrap();
    t.unlink("/a").unwrap();
    let b = t.create_file("/a", 0).unwrap();
    assert!(b > a);
}

#[test]
fn mkdir_all() {
    let mut t = Tree::new();
    let c = t.mkdir_all("/a//b/./c/", 0o700).unwrap();
    assert_eq!(t.lookup("/a/b/c").unwrap(), c);
    assert_eq!(t.mkdir_all("/a/b", 0o755).unwrap(), t.lookup("/a/b").unwrap());
    assert_eq!(t.mkdir_all("/", 0o755).unwrap(), ROOT_INO);
    t.create_file("/a/f", 0).unwrap();
    assert_eq!(t.mkdir_all("/a/f/g", 0o755), Err(Errno::ENOTDIR));
}

#[test]
fn limits_enospc() {
    let mut t = Tree::with_limits(Limits { max_inodes: 3, max_bytes: 10, max_memory: u64::MAX });
    let f = t.create_file("/f", 0).unwrap();
    t.mkdir("/d", 0).unwrap();
    assert_eq!(t.create_file("/g", 0), Err(Errno::ENOSPC));
    assert_eq!(t.mkdir("/e", 0), Err(Errno::ENOSPC));
    assert_eq!(t.write_at(f, 0, b"0123456789").unwrap(), 10);
    assert_eq!(t.write_at(f, 10, b"x"), Err(Errno::ENOSPC));
    assert_eq!(t.write_at(f, 3, b"abc").unwrap(), 3, "overwrite needs no space");
    assert_eq!(t.bytes_used(), 10);
    t.set_len(f, 2).unwrap();
    assert_eq!(t.bytes_used(), 2);
    t.unlink("/f").unwrap();
    assert_eq!(t.bytes_used(), 0);
    assert_eq!(t.inode_count(), 2);
    assert_eq!(t.write_at(t.lookup("/d").unwrap(), 0, b"x"), Err(Errno::EISDIR));
}

#[test]
fn file_data_helpers() {
    let mut t = Tree::new();
    let f = t.create_file("/f", 0).unwrap();
    assert_eq!(t.write_at(f, 4, b"ab").unwrap(), 2);
    assert_eq!(t.file_data(f).unwrap(), b"\0\0\0\0ab");
    let mut buf = [0u8; 4];
    assert_eq!(t.read_at(f, 3, &mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"\0ab");
    assert_eq!(t.read_at(f, 6, &mut buf).unwrap(), 0);
    assert_eq!(t.read_at(f, u64::MAX, &mut buf).unwrap(), 0);
    assert_eq!(t.write_at(f, u64::MAX, b"x"), Err(Errno::EFBIG));
    assert_eq!(t.write_at(f, i64::MAX as u64, b"x"), Err(Errno::EFBIG));
    assert_eq!(t.set_len(f, u64::MAX), Err(Errno::EFBIG));
    assert_eq!(t.write_at(f, 1 << 40, b"x"), Err(Errno::ENOSPC), "default 64 MiB budget");
    let s = t.create_special("/s", S_IFCHR, SpecialId(0)).unwrap();
    assert_eq!(t.read_at(s, 0, &mut buf), Err(Errno::EINVAL));
    assert_eq!(t.special_id(s), Some(SpecialId(0)));
    assert_eq!(t.special_id(f), None);
}

#[test]
fn memory_limit_counts_names_and_inodes_and_ends_in_enospc() {
    let mut t = Tree::with_limits(Limits { max_inodes: 1 << 20, max_bytes: 1 << 30, max_memory: 64 * 1024 });
    let base = t.memory_used();
    let long = "n".repeat(200);
    let mut made = 0;
    loop {
        match t.create_file(format!("/{long}{made}").as_str(), 0o644) {
            Ok(_) => made += 1,
            Err(e) => {
                assert_eq!(e, Errno::ENOSPC);
                break;
            }
        }
    }
    let per = vfs::INODE_OVERHEAD + vfs::ENTRY_OVERHEAD + 2 * 201;
    assert!(made > 0 && made as u64 <= (64 * 1024 - base) / per + 1, "made {made}");
    assert!(t.memory_used() <= 64 * 1024);
    // File data counts too (as allocated), and removing everything gives all
    // of it back.
    let f = t.lookup(format!("/{long}0").as_str()).unwrap();
    t.unlink(format!("/{long}1").as_str()).unwrap();
    assert!(t.write_at(f, 0, &[1u8; 100]).is_ok());
    assert_eq!(t.write_at(f, 0, &[1u8; 60_000]), Err(Errno::ENOSPC));
    for i in 0..made {
        let _ = t.unlink(format!("/{long}{i}").as_str());
    }
    assert_eq!(t.memory_used(), base);
}

#[test]
fn fixed_nodes_refuse_unlink_and_rename_with_eperm() {
    let mut t = Tree::new();
    t.add_standard_layout(SpecialId(1), None).unwrap();
    for p in ["/proc/xen/xenbus", "/dev/xen/xenbus", "/proc/xen/capabilities"] {
        assert_eq!(t.unlink(p), Err(Errno::EPERM), "{p}");
        assert_eq!(t.rename(p, "/tmp/x"), Err(Errno::EPERM), "{p}");
        assert!(t.lookup(p).is_ok());
    }
    t.create_file("/tmp/f", 0o644).unwrap();
    assert_eq!(t.rename("/tmp/f", "/dev/xen/xenbus"), Err(Errno::EPERM));
    assert_eq!(t.rmdir("/proc/xen"), Err(Errno::EBUSY));
    assert_eq!(t.rename("/proc/xen", "/tmp/y"), Err(Errno::EBUSY));
}

#[test]
fn names_with_nul_or_slash_are_einval() {
    let mut t = Tree::new();
    t.mkdir("/tmp", 0o777).unwrap();
    assert_eq!(t.mkdir("/tmp/a\0b", 0o755), Err(Errno::EINVAL));
    assert_eq!(t.create_file("/tmp/x\0", 0o644), Err(Errno::EINVAL));
    assert_eq!(t.lookup("/tmp\0"), Err(Errno::EINVAL));
    assert_eq!(t.readdir("/tmp").unwrap().len(), 2, "nothing was created");
}

#[test]
fn rename_semantics() {
    let mut t = Tree::new();
    t.mkdir("/a", 0o755).unwrap();
    t.mkdir("/a/sub", 0o755).unwrap();
    let f = t.create_file("/a/f", 0o644).unwrap();
    t.write_at(f, 0, b"data").unwrap();
    // File to a new name in another directory.
    t.mkdir("/b", 0o755).unwrap();
    t.rename("/a/f", "/b/g").unwrap();
    assert_eq!(t.lookup("/a/f"), Err(Errno::ENOENT));
    assert_eq!(t.lookup("/b/g"), Ok(f));
    // Over an existing file: replaced.
    let h = t.create_file("/b/h", 0o644).unwrap();
    t.rename("/b/g", "/b/h").unwrap();
    assert_eq!(t.lookup("/b/h"), Ok(f));
    assert_ne!(f, h);
    // Onto itself: nothing happens.
    t.rename("/b/h", "/b/h").unwrap();
    // Directories: into itself is EINVAL; over a non-empty directory
    // ENOTEMPTY; file over directory EISDIR; directory over file ENOTDIR.
    assert_eq!(t.rename("/a", "/a/sub/x"), Err(Errno::EINVAL));
    assert_eq!(t.rename("/b", "/a"), Err(Errno::ENOTEMPTY));
    assert_eq!(t.rename("/b/h", "/a"), Err(Errno::EISDIR));
    assert_eq!(t.rename("/a", "/b/h"), Err(Errno::ENOTDIR));
    assert_eq!(t.rename("/missing", "/x"), Err(Errno::ENOENT));
    assert_eq!(t.rename("/", "/x"), Err(Errno::EBUSY));
    // A directory moves with its contents; link counts follow.
    let before = t.stat("/b").unwrap().nlink;
    t.rename("/a/sub", "/b/sub2").unwrap();
    assert_eq!(t.stat("/b").unwrap().nlink, before + 1);
    assert_eq!(t.stat("/a").unwrap().nlink, 2);
    assert_eq!(t.readdir("/b/sub2/..").unwrap().len(), t.readdir("/b").unwrap().len());
    // Over an empty directory: replaced.
    t.mkdir("/c", 0o755).unwrap();
    t.rename("/b/sub2", "/c").unwrap();
    assert!(t.lookup("/b/sub2").is_err());
}

#[test]
fn hard_link_rules() {
    let mut t = Tree::new();
    t.add_standard_layout(SpecialId(1), None).unwrap();
    let f = t.create_file("/tmp/a", 0o644).unwrap();
    t.write_at(f, 0, b"data").unwrap();
    t.link("/tmp/a", "/etc/b").unwrap();
    let st = t.stat("/etc/b").unwrap();
    assert_eq!((st.ino, st.nlink, st.size), (f, 2, 4));
    assert_eq!(t.link("/tmp/a", "/etc/b"), Err(Errno::EEXIST));
    assert_eq!(t.link("/tmp/a", "/"), Err(Errno::EEXIST));
    assert_eq!(t.link("/tmp/a", "/tmp/."), Err(Errno::EEXIST));
    assert_eq!(t.link("/tmp", "/etc/d"), Err(Errno::EPERM));
    assert_eq!(t.link("/dev/xen/xenbus", "/etc/x"), Err(Errno::EPERM));
    assert_eq!(t.link("/tmp/missing", "/etc/c"), Err(Errno::ENOENT));
    assert_eq!(t.link("/tmp/a", "/nodir/c"), Err(Errno::ENOENT));
    assert_eq!(t.link("/tmp/a/", "/etc/c"), Err(Errno::ENOTDIR));
    assert_eq!(t.link("/tmp/a", "/etc/c/"), Err(Errno::ENOENT));
    t.audit().unwrap();
    t.unlink("/tmp/a").unwrap();
    assert_eq!(t.stat("/etc/b").unwrap().nlink, 1);
    t.audit().unwrap();
    t.unlink("/etc/b").unwrap();
    assert_eq!(t.stat_ino(f), Err(Errno::ENOENT));
    t.audit().unwrap();
}
