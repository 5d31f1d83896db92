//! newc cpio unpacking.

use vfs::cpio::{self, CpioError, CpioReason, Unpacked};
use vfs::flags::{S_IFDIR, S_IFREG};
use vfs::{Errno, SpecialId, Tree};

/// A tiny newc archive builder.
struct Builder {
    out: Vec<u8>,
    magic: &'static str,
}

impl Builder {
    fn new() -> Self {
        Builder { out: Vec::new(), magic: "070701" }
    }

    fn raw(&mut self, name: &[u8], mode: u32, nlink: u32, data: &[u8], check: u32) -> &mut Self {
        self.raw_ino(1, name, mode, nlink, data, check)
    }

    /// A hard-linked regular file's entry: inode `ino`, `nlink` names.
    fn linked(&mut self, ino: u32, name: &str, nlink: u32, data: &[u8]) -> &mut Self {
        self.raw_ino(ino, name.as_bytes(), S_IFREG | 0o755, nlink, data, 0)
    }

    fn raw_ino(&mut self, ino: u32, name: &[u8], mode: u32, nlink: u32, data: &[u8], check: u32) -> &mut Self {
        let namesize = name.len() + 1;
        let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, 0, 0, namesize as u32, check];
        self.out.extend_from_slice(self.magic.as_bytes());
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name);
        self.out.push(0);
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
        self.out.extend_from_slice(data);
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
        self
    }

    fn dir(&mut self, name: &str, perm: u32) -> &mut Self {
        self.raw(name.as_bytes(), S_IFDIR | perm, 2, b"", 0)
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> &mut Self {
        let sum = data.iter().fold(0u32, |s, &b| s.wrapping_add(b as u32));
        self.raw(name.as_bytes(), S_IFREG | perm, 1, data, sum)
    }

    fn finish(&mut self) -> Vec<u8> {
        self.raw(b"TRAILER!!!", 0, 1, b"", 0);
        std::mem::take(&mut self.out)
    }
}

fn sample() -> Vec<u8> {
    Builder::new()
        .dir(".", 0o755)
        .dir("etc", 0o755)
        .file("etc/hostname", 0o644, b"guest\n")
        .file("./bin/deep/tool", 0o755, b"\x7fELF....")
        .raw(b"etc/link", 0o120777, 1, b"hostname", 0)
        .file("empty", 0o600, b"")
        .dir("var/log", 0o700)
        .file("abc", 0o644, b"abc")
        .finish()
}

#[test]
fn valid_archive() {
    let mut t = Tree::new();
    t.add_standard_layout(SpecialId(0), None).unwrap();
    let got = cpio::unpack(&mut t, &sample()).unwrap();
    assert_eq!(got, Unpacked { dirs: 3, files: 4, skipped: 1 });
    let h = t.lookup("/etc/hostname").unwrap();
    assert_eq!(t.file_data(h).unwrap(), b"guest\n");
    assert_eq!(t.stat("/etc/hostname").unwrap().mode, S_IFREG | 0o644);
    assert_eq!(t.stat("/bin/deep/tool").unwrap().mode, S_IFREG | 0o755);
    assert_eq!(t.stat("/bin/deep").unwrap().mode, S_IFDIR | 0o755, "parents created");
    assert_eq!(t.stat("/var/log").unwrap().mode, S_IFDIR | 0o700);
    assert_eq!(t.stat("/empty").unwrap().size, 0);
    assert_eq!(t.file_data(t.lookup("/abc").unwrap()).unwrap(), b"abc");
    assert_eq!(t.lookup("/etc/link"), Err(Errno::ENOENT), "symlinks skipped");
    // Standard layout intact.
    assert!(t.stat("/proc/xen/xenbus").unwrap().special.is_some());
    // Unpacking again replaces file contents.
    let again = Builder::new().file("etc/hostname", 0o600, b"x").finish();
    cpio::unpack(&mut t, &again).unwrap();
    assert_eq!(t.file_data(h).unwrap(), b"x");
    assert_eq!(t.stat("/etc/hostname").unwrap().mode, S_IFREG | 0o600);
}

#[test]
fn crc_format() {
    let mut b = Builder::new();
    b.magic = "070702";
    let good = b.file("f", 0o644, b"hello").finish();
    let mut t = Tree::new();
    cpio::unpack(&mut t, &good).unwrap();
    let bad = b.raw(b"f", S_IFREG | 0o644, 1, b"hello", 1).finish();
    assert_eq!(cpio::parse(&bad), Err(CpioError { offset: 0, reason: CpioReason::BadChecksum }));
}

#[test]
fn empty_archive_is_just_a_trailer() {
    let a = Builder::new().finish();
    assert_eq!(a.len(), 124);
    assert_eq!(cpio::parse(&a).unwrap(), []);
    // Trailing garbage after the trailer is ignored.
    let mut b = a.clone();
    b.extend_from_slice(b"garbage");
    assert_eq!(cpio::parse(&b).unwrap(), []);
}

#[test]
fn truncated_at_every_offset() {
    let a = sample();
    assert!(cpio::parse(&a).is_ok());
    for len in 0..a.len() {
        let mut t = Tree::new();
        let before = t.inode_count();
        let e = cpio::unpack(&mut t, &a[..len]).expect_err(&format!("prefix {len} accepted"));
        assert_eq!(e.reason, CpioReason::Truncated, "prefix {len}");
        assert!(e.offset <= len);
        assert_eq!(t.inode_count(), before, "nothing applied on parse error");
    }
}

#[test]
fn bad_magic_and_fields() {
    let a = sample();
    let mut bad = a.clone();
    bad[0] = b'1';
    assert_eq!(cpio::parse(&bad), Err(CpioError { offset: 0, reason: CpioReason::BadMagic }));
    assert_eq!(cpio::parse(b"070707"), Err(CpioError { offset: 0, reason: CpioReason::Truncated }));
    let mut old = a.clone();
    old[..6].copy_from_slice(b"070707");
    assert_eq!(cpio::parse(&old).unwrap_err().reason, CpioReason::BadMagic);
    // A bad magic in the second entry names its offset.
    let first_len = 110 + 4 - 2; // "." + NUL = 2 bytes, header+name padded to 112
    let mut second = a.clone();
    second[first_len] = b'X';
    assert_eq!(cpio::parse(&second), Err(CpioError { offset: first_len, reason: CpioReason::BadMagic }));
    // Non-hex in the mode field.
    let mut hex = a.clone();
    hex[6 + 8 + 3] = b'G';
    assert_eq!(cpio::parse(&hex).unwrap_err().reason, CpioReason::BadHex("mode"));
    let mut hex = a.clone();
    hex[6 + 8 * 11] = b' ';
    assert_eq!(cpio::parse(&hex).unwrap_err().reason, CpioReason::BadHex("namesize"));
    let e = cpio::parse(&hex).unwrap_err();
    assert_eq!(e.to_string(), "cpio: offset 0: header field namesize is not 8 hex digits");
}

#[test]
fn bad_names() {
    let mut b = Builder::new();
    b.raw(b"x", S_IFREG, 1, b"", 0);
    let mut a = b.finish();
    // namesize 0
    a[6 + 8 * 11..6 + 8 * 12].copy_from_slice(b"00000000");
    assert_eq!(cpio::parse(&a).unwrap_err().reason, CpioReason::EmptyName);
    // name not NUL-terminated: namesize 1 covers just "x".
    a[6 + 8 * 11..6 + 8 * 12].copy_from_slice(b"00000001");
    assert_eq!(cpio::parse(&a).unwrap_err().reason, CpioReason::NameNotTerminated);
    // Name that is only a NUL → cannot be applied.
    let a = Builder::new().raw(b"", S_IFREG, 1, b"", 0).finish();
    assert_eq!(cpio::unpack(&mut Tree::new(), &a).unwrap_err().reason, CpioReason::Fs(Errno::ENOENT));
    // Over-long component.
    let long = "n".repeat(300);
    let a = Builder::new().file(&long, 0o644, b"").finish();
    assert_eq!(cpio::unpack(&mut Tree::new(), &a).unwrap_err().reason, CpioReason::Fs(Errno::ENAMETOOLONG));
    // `..` cannot escape the root.
    let a = Builder::new().file("../../etc/x", 0o644, b"y").finish();
    let mut t = Tree::new();
    cpio::unpack(&mut t, &a).unwrap();
    assert!(t.lookup("/etc/x").is_ok());
    // A file named like the root is rejected.
    let a = Builder::new().file(".", 0o644, b"y").finish();
    assert_eq!(cpio::unpack(&mut Tree::new(), &a).unwrap_err().reason, CpioReason::Fs(Errno::EISDIR));
}

#[test]
fn huge_sizes() {
    for (field, value) in [(6usize, "FFFFFFFF"), (11, "FFFFFFFF"), (6, "7FFFFFFF"), (11, "00100000")] {
        let mut a = sample();
        // Patch the second entry ("etc" dir).
        let base = 112 + 6 + 8 * field;
        a[base..base + 8].copy_from_slice(value.as_bytes());
        let e = cpio::parse(&a).unwrap_err();
        assert!(matches!(e.reason, CpioReason::Truncated | CpioReason::NameNotTerminated), "{field} {value}: {e}");
        assert_eq!(e.offset, 112);
    }
}

#[test]
fn conflicts_are_reported() {
    let mut t = Tree::new();
    t.add_standard_layout(SpecialId(0), None).unwrap();
    let a = Builder::new().file("proc/xen/xenbus", 0o644, b"x").finish();
    assert_eq!(cpio::unpack(&mut t, &a).unwrap_err().reason, CpioReason::Fs(Errno::EEXIST));
    let a = Builder::new().file("tmp", 0o644, b"x").finish();
    assert_eq!(cpio::unpack(&mut t, &a).unwrap_err().reason, CpioReason::Fs(Errno::EISDIR));
    let a = Builder::new().file("x", 0o644, b"").dir("x/y", 0o755).finish();
    let e = cpio::unpack(&mut t, &a).unwrap_err();
    assert_eq!(e, CpioError { offset: 112, reason: CpioReason::Fs(Errno::ENOTDIR) });
    assert!(t.lookup("/x").is_ok(), "entries before the failure remain");
    let a = Builder::new().file("x/f", 0o644, b"").finish();
    assert_eq!(cpio::unpack(&mut t, &a).unwrap_err().reason, CpioReason::Fs(Errno::ENOTDIR));
}

#[test]
fn data_limit() {
    let mut t = Tree::with_limits(vfs::Limits { max_inodes: 100, max_bytes: 4, max_memory: u64::MAX });
    let a = Builder::new().file("big", 0o644, b"12345").finish();
    assert_eq!(cpio::unpack(&mut t, &a).unwrap_err().reason, CpioReason::Fs(Errno::ENOSPC));
}

#[test]
fn hard_links_become_one_file() {
    // GNU cpio's way: the data comes with the last name.
    let a = Builder::new()
        .dir("usr", 0o755)
        .linked(7, "usr/bin/xenstore", 3, b"")
        .linked(7, "usr/bin/xenstore-read", 3, b"")
        .linked(7, "usr/bin/xenstore-write", 3, b"ELF...")
        .linked(8, "usr/bin/other", 2, b"first")
        .linked(8, "usr/bin/other2", 2, b"")
        .finish();
    let mut t = Tree::new();
    let u = cpio::unpack(&mut t, &a).unwrap();
    assert_eq!(u.files, 5);
    let x = t.stat("/usr/bin/xenstore").unwrap();
    assert_eq!(x.nlink, 3);
    assert_eq!(x.size, 6);
    assert_eq!(t.stat("/usr/bin/xenstore-read").unwrap().ino, x.ino);
    assert_eq!(t.stat("/usr/bin/xenstore-write").unwrap().ino, x.ino);
    let o = t.stat("/usr/bin/other2").unwrap();
    assert_eq!((o.nlink, o.size), (2, 5));
    assert_eq!(t.stat("/usr/bin/other").unwrap().ino, o.ino);
    t.audit().unwrap();
    // Unlinking one name keeps the others.
    t.unlink("/usr/bin/xenstore").unwrap();
    assert_eq!(t.stat("/usr/bin/xenstore-read").unwrap().nlink, 2);
    t.audit().unwrap();
}
