//! Property tests: normalisation idempotence, random operation sequences and
//! random archives never panicking.

use proptest::prelude::*;
use vfs::flags::{OpenFlags, S_IFCHR};
use vfs::path::normalize;
use vfs::{cpio, Errno, FdTable, Io, Path, SpecialId, Tree};

fn component() -> impl Strategy<Value = String> {
    prop_oneof![Just(".".to_string()), Just("..".to_string()), Just("".to_string()), "[ab]{1,2}", Just("x".repeat(256)),]
}

fn path_str() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(component(), 0..8), any::<bool>()).prop_map(|(abs, cs, trail)| {
        let mut s = if abs { "/".to_string() } else { String::new() };
        s.push_str(&cs.join("/"));
        if trail {
            s.push('/');
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn normalize_idempotent(p in path_str(), cwd in path_str()) {
        let cwd = format!("/{cwd}");
        if let Ok(n) = normalize(cwd.as_bytes(), p.as_bytes()) {
            prop_assert_eq!(n.first(), Some(&b'/'));
            prop_assert!(n == b"/" || n.last() != Some(&b'/'));
            prop_assert!(!n.windows(2).any(|w| w == b"//"));
            let again = normalize(b"/elsewhere", &n).unwrap();
            prop_assert_eq!(&again, &n);
            let segs: Vec<&[u8]> = n.split(|&b| b == b'/').collect();
            prop_assert!(!segs.iter().any(|s| *s == b"." || *s == b".."));
        }
    }

    #[test]
    fn normalize_arbitrary_bytes(p in prop::collection::vec(any::<u8>(), 0..300), cwd in prop::collection::vec(any::<u8>(), 0..50)) {
        let _ = normalize(&cwd, &p);
        let t = Tree::new();
        let _ = t.lookup(Path::at(&cwd, &p));
    }

    #[test]
    fn resolution_agrees_with_normalize_when_it_succeeds(p in path_str()) {
        let mut t = Tree::new();
        t.mkdir_all("/a/b/ab", 0o755).unwrap();
        t.mkdir_all("/b/a", 0o755).unwrap();
        t.mkdir_all("/a/a", 0o755).unwrap();
        if let Ok(ino) = t.lookup(Path::at(b"/a", p.as_bytes())) {
            let n = normalize(b"/a", p.as_bytes()).unwrap();
            prop_assert_eq!(t.lookup(&n).unwrap(), ino);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Mkdir(String, u32),
    Rmdir(String),
    Unlink(String),
    Create(String),
    Open(String, u32),
    Close(i32),
    Read(i32, usize),
    Write(i32, Vec<u8>),
    Seek(i32, i64, u32),
    Trunc(i32, i64),
    SetFl(i32, u32),
    Getdents(i32, usize),
    Stat(String),
    Readdir(String),
    Special(String),
}

fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop_oneof![Just("d"), Just("e"), Just("f"), Just(".."), Just("."), Just("")], 0..4)
            .prop_map(|v| format!("/tmp/{}", v.join("/"))),
        1 => path_str(),
    ]
}

fn any_fd() -> impl Strategy<Value = i32> {
    prop_oneof![8 => 0..6i32, 1 => any::<i32>()]
}

fn flags() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => prop::sample::subsequence(vec![0o1u32, 0o2, 0o100, 0o200, 0o1000, 0o2000, 0o4000, 0o200000], 0..4)
            .prop_map(|v| v.into_iter().fold(0, |a, b| a | b)),
        1 => any::<u32>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any_path().prop_flat_map(|p| any::<u32>().prop_map(move |m| Op::Mkdir(p.clone(), m))),
        any_path().prop_map(Op::Rmdir),
        any_path().prop_map(Op::Unlink),
        any_path().prop_map(Op::Create),
        (any_path(), flags()).prop_map(|(p, f)| Op::Open(p, f)),
        any_fd().prop_map(Op::Close),
        (any_fd(), 0..64usize).prop_map(|(f, n)| Op::Read(f, n)),
        (any_fd(), prop::collection::vec(any::<u8>(), 0..32)).prop_map(|(f, d)| Op::Write(f, d)),
        (any_fd(), prop_oneof![-40i64..40, any::<i64>()], 0..4u32).prop_map(|(f, o, w)| Op::Seek(f, o, w)),
        (any_fd(), prop_oneof![-2i64..100, any::<i64>()]).prop_map(|(f, l)| Op::Trunc(f, l)),
        (any_fd(), flags()).prop_map(|(f, fl)| Op::SetFl(f, fl)),
        (any_fd(), 0..4usize).prop_map(|(f, n)| Op::Getdents(f, n)),
        any_path().prop_map(Op::Stat),
        any_path().prop_map(Op::Readdir),
        any_path().prop_map(Op::Special),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_never_panic(ops in prop::collection::vec(op(), 0..60)) {
        let mut t = Tree::with_limits(vfs::Limits { max_inodes: 40, max_bytes: 4096, max_memory: u64::MAX });
        t.add_standard_layout(SpecialId(1), Some(SpecialId(2))).unwrap();
        let mut tb: FdTable<u32> = FdTable::new();
        let base_inodes = t.inode_count();
        for op in ops {
            match op {
                Op::Mkdir(p, m) => { let _ = t.mkdir(p.as_str(), m); }
                Op::Rmdir(p) => { let _ = t.rmdir(p.as_str()); }
                Op::Unlink(p) => { let _ = t.unlink(p.as_str()); }
                Op::Create(p) => { let _ = t.create_file(p.as_str(), 0o644); }
                Op::Open(p, f) => {
                    let r = t.open(&mut tb, p.as_str(), f, 0o644, |id, _: OpenFlags| {
                        if id.0 == 2 { Err(Errno::EACCES) } else { Ok(id.0) }
                    });
                    if let Ok(fd) = r {
                        prop_assert!((0..64).contains(&fd));
                    }
                }
                Op::Close(fd) => { let _ = t.close(&mut tb, fd); }
                Op::Read(fd, n) => {
                    let mut buf = vec![0; n];
                    if let Ok(Io::Done(k)) = t.read(&mut tb, fd, &mut buf) { prop_assert!(k <= n); }
                }
                Op::Write(fd, d) => {
                    if let Ok(Io::Done(k)) = t.write(&mut tb, fd, &d) { prop_assert_eq!(k, d.len()); }
                }
                Op::Seek(fd, o, w) => {
                    if let Ok(off) = t.lseek(&mut tb, fd, o, w) { prop_assert!(off <= i64::MAX as u64); }
                }
                Op::Trunc(fd, l) => { let _ = t.ftruncate(&tb, fd, l); }
                Op::SetFl(fd, f) => { let _ = tb.setfl(fd, f); }
                Op::Getdents(fd, n) => {
                    let mut k = 0;
                    let _ = t.getdents(&mut tb, fd, |_| { k += 1; k <= n });
                }
                Op::Stat(p) => { let _ = t.stat(p.as_str()); }
                Op::Readdir(p) => {
                    if let Ok(es) = t.readdir(p.as_str()) {
                        prop_assert!(es.len() >= 2);
                        prop_assert_eq!(&es[0].name, b".");
                        prop_assert_eq!(&es[1].name, b"..");
                    }
                }
                Op::Special(p) => { let _ = t.create_special(p.as_str(), S_IFCHR | 0o600, SpecialId(3)); }
            }
            prop_assert!(t.bytes_used() <= 4096);
            prop_assert!(t.inode_count() <= 40);
        }
        // Closing everything and removing /tmp's contents returns to the base.
        t.close_all(&mut tb);
        prop_assert!(tb.is_empty());
        fn clear(t: &mut Tree, dir: &str) {
            let Ok(entries) = t.readdir(dir) else { return };
            for e in entries.into_iter().skip(2) {
                let p = format!("{dir}/{}", String::from_utf8(e.name).unwrap());
                if t.unlink(p.as_str()) == Err(Errno::EISDIR) {
                    clear(t, &p);
                    t.rmdir(p.as_str()).unwrap();
                }
            }
        }
        clear(&mut t, "/tmp");
        let untouched_root = t.readdir("/").unwrap().len() == 2 + 4 && t.lookup("/tmp").is_ok();
        if untouched_root {
            prop_assert_eq!(t.inode_count(), base_inodes);
            prop_assert_eq!(t.bytes_used(), 0);
        }
    }

    #[test]
    fn random_archives_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut t = Tree::new();
        let _ = cpio::unpack(&mut t, &data);
    }

    #[test]
    fn mutated_archives_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![
            any::<u8>(), Just(b'0'), Just(b'F'), Just(b'f'), Just(0u8)
        ]), 1..6)
    ) {
        let mut a = Vec::new();
        for (name, mode, data) in [
            ("d", 0o040755u32, &b""[..]),
            ("d/f", 0o100644, b"hello"),
            ("g", 0o100600, b"xy"),
            ("TRAILER!!!", 0, b""),
        ] {
            a.extend_from_slice(b"070701");
            for f in [1, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0] {
                a.extend_from_slice(format!("{f:08x}").as_bytes());
            }
            a.extend_from_slice(name.as_bytes());
            a.push(0);
            while a.len() % 4 != 0 { a.push(0); }
            a.extend_from_slice(data);
            while a.len() % 4 != 0 { a.push(0); }
        }
        prop_assert!(cpio::parse(&a).is_ok());
        for (i, b) in edits {
            let idx = i.index(a.len());
            a[idx] = b;
        }
        let mut t = Tree::new();
        t.add_standard_layout(SpecialId(0), None).unwrap();
        let _ = cpio::unpack(&mut t, &a);
    }
}
