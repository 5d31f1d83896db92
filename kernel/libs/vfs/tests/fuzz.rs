//! A seeded random walk over the tree and a descriptor table, with a small
//! memory bound so that `ENOSPC` comes often.
//!
//! Checked exactly after every step: no panic; [`Tree::audit`] (the memory,
//! byte and inode accounting recomputed from the tree, the directory maps
//! and link counts); every regular file's contents equal a model that
//! follows each successful write and truncation; a read returns exactly the
//! model's bytes from the descriptor's offset; every entry the model knows
//! exists and nothing else does; the memory bound holds. At the end every
//! descriptor is closed and everything removed: the tree is back to its
//! first state, byte for byte in its accounting.
//!
//! `VFS_FUZZ_STEPS` sets the number of steps (default 20,000; `make fuzz`
//! runs 10^6), `VFS_FUZZ_SEED` the seed.
use std::collections::BTreeMap;

use vfs::flags::{O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
use vfs::{Errno, FdTable, Io, Limits, Tree};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const DIRS: [&str; 4] = ["/w", "/w/a", "/w/b", "/w/a/c"];
const NAMES: [&str; 5] =
    ["f", "g", "long-name-of-some-length-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "h", "a"];

#[derive(Clone, Debug, PartialEq)]
enum M {
    Dir,
    File(u64),
}

struct Model {
    /// Path -> what is there (files by model id).
    paths: BTreeMap<String, M>,
    /// File contents by model id (kept while open after unlink).
    files: BTreeMap<u64, Vec<u8>>,
    next: u64,
}

fn pick_path(rng: &mut Rng) -> String {
    let d = DIRS[rng.below(DIRS.len() as u64) as usize];
    format!("{}/{}", d, NAMES[rng.below(NAMES.len() as u64) as usize])
}

fn pick_any(rng: &mut Rng) -> String {
    if rng.below(4) == 0 {
        DIRS[rng.below(DIRS.len() as u64) as usize].to_string()
    } else {
        pick_path(rng)
    }
}

#[test]
fn random_walk_keeps_the_accounting_exact() {
    let steps: u64 = std::env::var("VFS_FUZZ_STEPS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let seed: u64 = std::env::var("VFS_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_0002);
    let mut rng = Rng(seed | 1);
    let limits = Limits { max_inodes: 64, max_bytes: 1 << 20, max_memory: 48 * 1024 };
    let mut t = Tree::with_limits(limits);
    let mut fds: FdTable<()> = FdTable::new();
    let base_mem = t.memory_used();
    let base_inodes = t.inode_count();
    t.mkdir("/w", 0o755).unwrap();
    let mut m = Model { paths: BTreeMap::new(), files: BTreeMap::new(), next: 1 };
    m.paths.insert("/w".into(), M::Dir);
    // Open descriptors: fd -> (model file id, offset, readable, writable, append).
    let mut open: BTreeMap<i32, (u64, u64, bool, bool, bool)> = BTreeMap::new();
    let (mut enospc, mut ok_ops) = (0u64, 0u64);
    for step in 0..steps {
        let op = rng.below(14);
        if std::env::var("VFS_FUZZ_TRACE").is_ok() {
            eprintln!("step {step} op {op} open={:?}", open);
        }
        match op {
            0 | 1 => {
                let p = pick_path(&mut rng);
                let acc = [O_RDONLY, O_WRONLY, O_RDWR][rng.below(3) as usize];
                let mut fl = acc | O_CREAT;
                if rng.below(4) == 0 {
                    fl |= O_EXCL;
                }
                if rng.below(4) == 0 {
                    fl |= O_TRUNC;
                }
                if rng.below(4) == 0 {
                    fl |= O_APPEND;
                }
                match t.open(&mut fds, p.as_str(), fl, 0o644, |_, _| Ok(())) {
                    Ok(fd) => {
                        let id = match m.paths.get(&p) {
                            Some(M::File(id)) => *id,
                            Some(M::Dir) => panic!("step {step}: opened directory {p} with O_CREAT"),
                            None => {
                                let id = m.next;
                                m.next += 1;
                                m.files.insert(id, Vec::new());
                                m.paths.insert(p.clone(), M::File(id));
                                id
                            }
                        };
                        if fl & O_TRUNC != 0 {
                            m.files.insert(id, Vec::new());
                        }
                        let r = acc == O_RDONLY || acc == O_RDWR;
                        let w = acc == O_WRONLY || acc == O_RDWR;
                        open.insert(fd, (id, 0, r, w, fl & O_APPEND != 0));
                        ok_ops += 1;
                    }
                    Err(Errno::ENOSPC) => enospc += 1,
                    Err(Errno::EEXIST) => assert!(m.paths.contains_key(&p), "step {step}: EEXIST for missing {p}"),
                    Err(Errno::ENOENT) => {
                        let parent = &p[..p.rfind('/').unwrap_or(0)];
                        assert!(!m.paths.contains_key(parent), "step {step}: ENOENT though {parent} exists");
                    }
                    Err(Errno::EISDIR | Errno::ENOTDIR | Errno::EMFILE) => {}
                    Err(e) => panic!("step {step}: open {p}: {e:?}"),
                }
            }
            2 | 3 => {
                let Some((&fd, &(id, off, _, w, app))) = open.iter().nth(rng.below(open.len() as u64) as usize) else {
                    continue;
                };
                let max = if rng.below(40) == 0 { 20_000 } else { 300 };
                let len = rng.below(max) as usize;
                let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let pos = if rng.below(3) == 0 { rng.below(600) } else { off };
                let _ = t.lseek(&mut fds, fd, pos as i64, 0);
                match t.write(&mut fds, fd, &data) {
                    Ok(Io::Done(n)) => {
                        assert!(w, "step {step}: write on a read-only descriptor");
                        let f = m.files.get_mut(&id).unwrap();
                        let at = if app { f.len() } else { pos as usize };
                        // A write of nothing does not extend the file.
                        if n > 0 && f.len() < at + n {
                            f.resize(at + n, 0);
                        }
                        if n > 0 {
                            f[at..at + n].copy_from_slice(&data[..n]);
                        }
                        assert_eq!(n, data.len());
                        open.get_mut(&fd).unwrap().1 = (at + n) as u64;
                        ok_ops += 1;
                    }
                    Ok(Io::Special { .. }) => panic!("special"),
                    Err(Errno::ENOSPC) => {
                        enospc += 1;
                        open.get_mut(&fd).unwrap().1 = pos;
                    }
                    Err(Errno::EBADF) => {
                        assert!(!w);
                        open.get_mut(&fd).unwrap().1 = pos;
                    }
                    Err(e) => panic!("step {step}: write: {e:?}"),
                }
            }
            4 | 5 => {
                let Some((&fd, &(id, _, r, _, _))) = open.iter().nth(rng.below(open.len() as u64) as usize) else {
                    continue;
                };
                let pos = rng.below(800);
                let _ = t.lseek(&mut fds, fd, pos as i64, 0);
                let mut buf = vec![0u8; rng.below(700) as usize];
                match t.read(&mut fds, fd, &mut buf) {
                    Ok(Io::Done(n)) => {
                        ok_ops += 1;
                        assert!(r, "step {step}: read on a write-only descriptor");
                        let f = &m.files[&id];
                        let want = f.get(pos as usize..).unwrap_or(&[]);
                        let want = &want[..want.len().min(buf.len())];
                        assert_eq!(&buf[..n], want, "step {step}: read differs from the model");
                        open.get_mut(&fd).unwrap().1 = pos + n as u64;
                    }
                    Ok(Io::Special { .. }) => panic!("special"),
                    Err(Errno::EBADF) => assert!(!r),
                    Err(e) => panic!("step {step}: read: {e:?}"),
                }
            }
            6 => {
                let Some((&fd, &(id, _, _, w, _))) = open.iter().nth(rng.below(open.len() as u64) as usize) else {
                    continue;
                };
                let len = rng.below(3000);
                match t.ftruncate(&fds, fd, len as i64) {
                    Ok(()) => {
                        ok_ops += 1;
                        assert!(w);
                        m.files.get_mut(&id).unwrap().resize(len as usize, 0);
                    }
                    Err(Errno::ENOSPC) => enospc += 1,
                    Err(Errno::EINVAL | Errno::EBADF) => assert!(!w),
                    Err(e) => panic!("step {step}: ftruncate: {e:?}"),
                }
            }
            7 => {
                let Some(&fd) = open.keys().nth(rng.below(open.len() as u64) as usize) else { continue };
                t.close(&mut fds, fd).unwrap();
                let (id, ..) = open.remove(&fd).unwrap();
                let linked = m.paths.values().any(|v| *v == M::File(id));
                let still_open = open.values().any(|o| o.0 == id);
                if !linked && !still_open {
                    m.files.remove(&id);
                }
            }
            8 => {
                let p = pick_path(&mut rng);
                let ur = t.unlink(p.as_str());
                if std::env::var("VFS_FUZZ_TRACE").is_ok() {
                    eprintln!("  unlink {p} -> {ur:?}");
                }
                match ur {
                    Ok(()) => {
                        let Some(M::File(id)) = m.paths.remove(&p) else { panic!("step {step}: unlinked {p}") };
                        if !open.values().any(|o| o.0 == id) {
                            m.files.remove(&id);
                        }
                    }
                    Err(Errno::ENOENT) => assert!(!m.paths.contains_key(&p)),
                    Err(Errno::EISDIR) => assert_eq!(m.paths.get(&p), Some(&M::Dir)),
                    Err(Errno::ENOTDIR) => {}
                    Err(e) => panic!("step {step}: unlink {p}: {e:?}"),
                }
            }
            9 => {
                let p = pick_any(&mut rng);
                match t.mkdir(p.as_str(), 0o755) {
                    Ok(_) => {
                        ok_ops += 1;
                        assert!(!m.paths.contains_key(&p));
                        m.paths.insert(p, M::Dir);
                    }
                    Err(Errno::ENOSPC) => enospc += 1,
                    Err(Errno::EEXIST) => assert!(m.paths.contains_key(&p)),
                    Err(Errno::ENOENT | Errno::ENOTDIR) => {}
                    Err(e) => panic!("step {step}: mkdir {p}: {e:?}"),
                }
            }
            10 => {
                let p = pick_any(&mut rng);
                match t.rmdir(p.as_str()) {
                    Ok(()) => {
                        assert_eq!(m.paths.remove(&p), Some(M::Dir));
                        let prefix = format!("{p}/");
                        assert!(
                            !m.paths.keys().any(|k| k.starts_with(&prefix)),
                            "step {step}: rmdir of a non-empty {p}"
                        );
                    }
                    Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ENOTEMPTY | Errno::EBUSY) => {}
                    Err(e) => panic!("step {step}: rmdir {p}: {e:?}"),
                }
            }
            11 => {
                let (a, b) = (pick_any(&mut rng), pick_any(&mut rng));
                let rr = t.rename(a.as_str(), b.as_str());
                if std::env::var("VFS_FUZZ_TRACE").is_ok() {
                    eprintln!("  rename {a} {b} -> {rr:?}; model {:?}", m.paths);
                }
                match rr {
                    Ok(()) => {
                        ok_ops += 1;
                        if a != b {
                            // Move a (and a subtree) to b; b's old entry is gone.
                            let moved: Vec<(String, M)> = m
                                .paths
                                .iter()
                                .filter(|(k, _)| **k == a || k.starts_with(&format!("{a}/")))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect();
                            if let Some(M::File(old)) = m.paths.remove(&b) {
                                if !open.values().any(|o| o.0 == old)
                                    && moved.first().map(|x| &x.1) != Some(&M::File(old))
                                {
                                    m.files.remove(&old);
                                }
                            }
                            for (k, _) in &moved {
                                m.paths.remove(k);
                            }
                            for (k, v) in moved {
                                m.paths.insert(format!("{b}{}", &k[a.len()..]), v);
                            }
                        }
                    }
                    Err(Errno::ENOSPC) => enospc += 1,
                    Err(
                        Errno::ENOENT
                        | Errno::EINVAL
                        | Errno::ENOTEMPTY
                        | Errno::EISDIR
                        | Errno::ENOTDIR
                        | Errno::EBUSY,
                    ) => {}
                    Err(e) => panic!("step {step}: rename {a} {b}: {e:?}"),
                }
            }
            _ => {
                // Existence agrees with the model, for a few paths.
                for _ in 0..3 {
                    let p = pick_any(&mut rng);
                    let there = t.stat(p.as_str()).is_ok();
                    assert_eq!(there, m.paths.contains_key(&p), "step {step}: {p}");
                }
            }
        }
        if std::env::var("VFS_FUZZ_TRACE").is_ok() {
            fn walk(t: &Tree, d: &str, out: &mut Vec<String>) {
                for e in t.readdir(d).unwrap().into_iter().skip(2) {
                    let p = format!("{d}/{}", String::from_utf8(e.name).unwrap());
                    out.push(p.clone());
                    if t.readdir(p.as_str()).is_ok() {
                        walk(t, &p, out);
                    }
                }
            }
            let mut got = vec!["/w".to_string()];
            walk(&t, "/w", &mut got);
            got.sort();
            let want: Vec<String> = m.paths.keys().cloned().collect();
            if got != want {
                panic!("step {step}: tree {:?}\nmodel {:?}", got, want);
            }
            let w = t.lookup("/w/f").ok().and_then(|i| t.file_data(i).ok().map(|d| d.len()));
            let mw = match m.paths.get("/w/f") {
                Some(M::File(id)) => Some(m.files[id].len()),
                _ => None,
            };
            if w != mw {
                panic!("step {step}: /w/f tree {:?} model {:?}", w, mw);
            }
        }
        if step % 3000 == 2999 {
            // Start over now and then, so the walk does not stay full.
            for fd in open.keys().copied().collect::<Vec<_>>() {
                t.close(&mut fds, fd).unwrap();
            }
            open.clear();
            let mut ps: Vec<String> = m.paths.keys().filter(|p| p.as_str() != "/w").cloned().collect();
            ps.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in ps {
                if t.unlink(p.as_str()).is_err() {
                    t.rmdir(p.as_str()).unwrap();
                }
                m.paths.remove(&p);
            }
            m.files.clear();
            assert_eq!(t.bytes_used(), 0, "step {step}: bytes left after removing everything");
        }
        if let Err(e) = t.audit() {
            panic!("step {step}: {e}");
        }
        assert!(t.memory_used() <= limits.max_memory, "step {step}: over the memory bound");
        if step % 101 == 0 {
            // Every file's contents, through the paths.
            for (p, v) in &m.paths {
                if let M::File(id) = v {
                    let ino = t.lookup(p.as_str()).unwrap();
                    assert_eq!(t.file_data(ino).unwrap(), &m.files[id][..], "step {step}: {p}");
                }
            }
        }
    }
    t.close_all(&mut fds);
    let mut ps: Vec<String> = m.paths.keys().cloned().collect();
    ps.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in ps {
        if t.unlink(p.as_str()).is_err() {
            t.rmdir(p.as_str()).unwrap();
        }
    }
    t.audit().unwrap();
    assert_eq!((t.memory_used(), t.inode_count(), t.bytes_used()), (base_mem, base_inodes, 0));
    println!("vfs fuzz: {steps} steps (seed {seed:#x}): {ok_ops} operations succeeded, {enospc} ENOSPC");
}
