//! Debian's unmodified `/usr/bin/xenstore` (with `libxenstore.so.4` and
//! `libxentoolcore.so.1`) running on the host against this libc: the objects
//! are loaded and linked with the elf-loader crate into host memory, the
//! initializers run, and `_start` is entered on a SysV initial stack, on a
//! mock program thread. `/dev/xen/xenbus` is a tiny fake xenstored (the
//! wire protocol over an in-memory tree). The whole chain runs as it will
//! in the guest: getopt on the executable's COPY of `optind`, the printf
//! family, `__vsnprintf_chk` with a C `va_list`, buffered `stdout` flushed
//! at exit, err/warnx, and for `xenstore-watch` a reader thread that
//! `xs_close` cancels while it is blocked in `read()` (through the cleanup
//! buffers gcc compiled into libxenstore).
//!
//! Skipped when the Debian objects are not installed.
use core::ffi::{c_char, c_int, c_void};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use elf_loader::{Elf, Limits, Perm};

use super::mock::{add_node, run, Device, Node, Outcome};
use super::symbols::Table;
use crate::abi::{lookup, Symbol};

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64) -> *mut c_void;
    fn mprotect(addr: *mut c_void, len: usize, prot: c_int) -> c_int;
}

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const PROT_EXEC: c_int = 4;
const MAP_PRIVATE: c_int = 2;
const MAP_ANONYMOUS: c_int = 0x20;

// ---------------------------------------------------------------------------
// The fake xenstored.

const XS_DIRECTORY: u32 = 1;
const XS_READ: u32 = 2;
const XS_GET_PERMS: u32 = 3;
const XS_WATCH: u32 = 4;
const XS_UNWATCH: u32 = 5;
const XS_TRANSACTION_START: u32 = 6;
const XS_TRANSACTION_END: u32 = 7;
const XS_WRITE: u32 = 11;
const XS_MKDIR: u32 = 12;
const XS_RM: u32 = 13;
const XS_SET_PERMS: u32 = 14;
const XS_WATCH_EVENT: u32 = 15;
const XS_ERROR: u32 = 16;

struct XsNode {
    value: Vec<u8>,
    perms: Vec<Vec<u8>>,
}

type Queue = Arc<Mutex<VecDeque<u8>>>;

/// A registered watch: the connection's queue, the path, the token.
type Watch = (Weak<Mutex<VecDeque<u8>>>, Vec<u8>, Vec<u8>);

#[derive(Default)]
struct Store {
    nodes: BTreeMap<Vec<u8>, XsNode>,
    watches: Vec<Watch>,
}

fn frame(q: &mut VecDeque<u8>, ty: u32, req: u32, tx: u32, body: &[u8]) {
    for v in [ty, req, tx, body.len() as u32] {
        q.extend(v.to_le_bytes());
    }
    q.extend(body);
}

fn parent(path: &[u8]) -> Option<&[u8]> {
    let i = path.iter().rposition(|&c| c == b'/')?;
    Some(if i == 0 { b"/" } else { &path[..i] })
}

impl Store {
    fn new() -> Self {
        let mut s = Store::default();
        s.nodes.insert(b"/".to_vec(), XsNode { value: Vec::new(), perms: vec![b"n0".to_vec()] });
        s
    }

    fn ensure(&mut self, path: &[u8]) {
        if let Some(p) = parent(path) {
            if !self.nodes.contains_key(p) {
                let p = p.to_vec();
                self.ensure(&p);
            }
        }
        self.nodes.entry(path.to_vec()).or_insert_with(|| XsNode { value: Vec::new(), perms: vec![b"n0".to_vec()] });
    }

    fn children(&self, path: &[u8]) -> Vec<Vec<u8>> {
        let prefix: Vec<u8> = if path == b"/" { b"/".to_vec() } else { [path, b"/"].concat() };
        self.nodes
            .keys()
            .filter(|k| k.len() > prefix.len() && k.starts_with(&prefix) && !k[prefix.len()..].contains(&b'/'))
            .map(|k| k[prefix.len()..].to_vec())
            .collect()
    }

    fn fire(&mut self, path: &[u8]) {
        self.watches.retain(|(q, _, _)| q.strong_count() > 0);
        for (q, wpath, token) in &self.watches {
            let hit = path == wpath.as_slice()
                || (path.starts_with(wpath) && (wpath == b"/" || path.get(wpath.len()) == Some(&b'/')));
            if let (true, Some(q)) = (hit, q.upgrade()) {
                let body = [path, b"\0", token, b"\0"].concat();
                frame(&mut q.lock().unwrap(), XS_WATCH_EVENT, 0, 0, &body);
            }
        }
    }

    /// Handles one request; returns (reply type, body).
    fn request(&mut self, q: &Queue, ty: u32, body: &[u8]) -> (u32, Vec<u8>) {
        let mut parts = body.split(|&c| c == 0);
        let path = parts.next().unwrap_or_default().to_vec();
        let enoent = (XS_ERROR, b"ENOENT\0".to_vec());
        let ok = (ty, b"OK\0".to_vec());
        match ty {
            XS_READ => match self.nodes.get(&path) {
                Some(n) => (ty, n.value.clone()),
                None => enoent,
            },
            XS_DIRECTORY => {
                if !self.nodes.contains_key(&path) {
                    return enoent;
                }
                let mut out = Vec::new();
                for c in self.children(&path) {
                    out.extend_from_slice(&c);
                    out.push(0);
                }
                (ty, out)
            }
            XS_GET_PERMS => match self.nodes.get(&path) {
                Some(n) => (ty, n.perms.iter().flat_map(|p| p.iter().copied().chain([0])).collect()),
                None => enoent,
            },
            XS_WRITE => {
                let value = body.get(path.len() + 1..).unwrap_or_default().to_vec();
                self.ensure(&path);
                if let Some(n) = self.nodes.get_mut(&path) {
                    n.value = value;
                }
                self.fire(&path);
                ok
            }
            XS_MKDIR => {
                self.ensure(&path);
                self.fire(&path);
                ok
            }
            XS_RM => {
                if !self.nodes.contains_key(&path) {
                    return if parent(&path).is_some_and(|p| self.nodes.contains_key(p)) { ok } else { enoent };
                }
                let sub: Vec<u8> = [path.as_slice(), b"/"].concat();
                self.nodes.retain(|k, _| *k != path && !k.starts_with(&sub));
                self.fire(&path);
                ok
            }
            XS_SET_PERMS => {
                let perms: Vec<Vec<u8>> = parts.filter(|p| !p.is_empty()).map(|p| p.to_vec()).collect();
                match self.nodes.get_mut(&path) {
                    Some(n) => {
                        n.perms = perms;
                        self.fire(&path);
                        ok
                    }
                    None => enoent,
                }
            }
            XS_WATCH => {
                let token = parts.next().unwrap_or_default().to_vec();
                self.watches.push((Arc::downgrade(q), path, token));
                ok
            }
            XS_UNWATCH => ok,
            XS_TRANSACTION_START => (ty, b"1\0".to_vec()),
            XS_TRANSACTION_END => ok,
            _ => (XS_ERROR, b"EINVAL\0".to_vec()),
        }
    }
}

/// The store behind the mock's `/dev/xen/xenbus`.
fn store() -> &'static Mutex<Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    STORE.get_or_init(|| Mutex::new(Store::new()))
}

/// One connection to a fake xenstored: requests in, replies and watch
/// events out.
struct Conn {
    inbuf: Vec<u8>,
    out: Queue,
    store: &'static Mutex<Store>,
}

impl Conn {
    fn new(store: &'static Mutex<Store>) -> Self {
        Conn { inbuf: Vec::new(), out: Arc::new(Mutex::new(VecDeque::new())), store }
    }

    /// Takes request bytes; handles every complete request.
    fn feed(&mut self, data: &[u8]) {
        self.inbuf.extend_from_slice(data);
        while self.inbuf.len() >= 16 {
            let word = |i: usize| u32::from_le_bytes(self.inbuf[i..i + 4].try_into().unwrap());
            let (ty, req, tx, len) = (word(0), word(4), word(8), word(12) as usize);
            if self.inbuf.len() < 16 + len {
                break;
            }
            let body: Vec<u8> = self.inbuf.drain(..16 + len).skip(16).collect();
            let mut st = self.store.lock().unwrap();
            let (rty, rbody) = st.request(&self.out, ty, &body);
            frame(&mut self.out.lock().unwrap(), rty, req, tx, &rbody);
            if ty == XS_WATCH {
                let token = body.split(|&c| c == 0).nth(1).unwrap_or_default();
                let path = body.split(|&c| c == 0).next().unwrap_or_default();
                let ev = [path, b"\0", token, b"\0"].concat();
                frame(&mut self.out.lock().unwrap(), XS_WATCH_EVENT, 0, 0, &ev);
            }
        }
    }
}

/// `/dev/xen/xenbus` of the mock: a connection to the mock's store.
struct Xenbus(Conn);

impl Device for Xenbus {
    fn write(&mut self, data: &[u8]) -> Result<usize, i32> {
        self.0.feed(data);
        Ok(data.len())
    }

    fn read(&mut self, buf: &mut [u8]) -> Option<Result<usize, i32>> {
        let mut q = self.0.out.lock().unwrap();
        if q.is_empty() {
            return None;
        }
        let n = buf.len().min(q.len());
        for (i, b) in q.drain(..n).enumerate() {
            buf[i] = b;
        }
        Some(Ok(n))
    }

    fn readable(&self) -> bool {
        !self.0.out.lock().unwrap().is_empty()
    }
}

/// Serves the fake xenstored on a unix socket (for the host's glibc run of
/// the same binary): one thread per connection.
fn serve_socket(path: &std::path::Path, store: &'static Mutex<Store>) {
    use std::io::{ErrorKind, Read, Write};
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path).expect("bind");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut conn = Conn::new(store);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(2)));
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => conn.feed(&buf[..n]),
                        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => return,
                    }
                    let pending: Vec<u8> = conn.out.lock().unwrap().drain(..).collect();
                    if !pending.is_empty() && stream.write_all(&pending).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------
// Loading and running.

struct Loaded {
    files: Vec<(String, Vec<u8>)>,
}

fn objects() -> Option<&'static Loaded> {
    static FILES: OnceLock<Option<Loaded>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let mut files = Vec::new();
            for path in super::symbols::OBJECTS {
                let bytes = std::fs::read(std::fs::canonicalize(path).ok()?).ok()?;
                files.push((path.rsplit('/').next().unwrap_or(path).to_string(), bytes));
            }
            Some(Loaded { files })
        })
        .as_ref()
}

/// Anonymous host memory, page-aligned.
fn host_map(len: usize) -> &'static mut [u8] {
    // SAFETY: a fresh private anonymous mapping, never unmapped (it lives as
    // long as the test binary).
    unsafe {
        let p = mmap(core::ptr::null_mut(), len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_ne!(p as isize, -1, "mmap");
        core::slice::from_raw_parts_mut(p as *mut u8, len)
    }
}

/// The SysV initial stack: argc, argv, NULL, envp, NULL, auxv (AT_PAGESZ,
/// AT_NULL), strings above. Returns (stack pointer, argv, envp).
fn initial_stack(argv: &[&str], envp: &[&str]) -> (usize, *mut *mut c_char, *mut *mut c_char) {
    let mem = host_map(256 * 1024);
    let top = mem.as_ptr() as usize + mem.len();
    let mut strings = top - 16 * 1024;
    let base = strings;
    let mut put = |s: &str| {
        let p = strings;
        let off = p - mem.as_ptr() as usize;
        mem[off..off + s.len()].copy_from_slice(s.as_bytes());
        mem[off + s.len()] = 0;
        strings += s.len() + 1;
        p
    };
    let a: Vec<usize> = argv.iter().map(|s| put(s)).collect();
    let e: Vec<usize> = envp.iter().map(|s| put(s)).collect();
    let mut words: Vec<usize> = vec![a.len()];
    words.extend(&a);
    words.push(0);
    words.extend(&e);
    words.push(0);
    words.extend([6, 4096, 0, 0]);
    let sp = (base - words.len() * 8 - 64) & !15;
    for (i, w) in words.iter().enumerate() {
        // SAFETY: inside the mapping, below the strings.
        unsafe { *((sp + i * 8) as *mut usize) = *w };
    }
    (sp, (sp + 8) as *mut *mut c_char, (sp + 8 + (a.len() + 1) * 8) as *mut *mut c_char)
}

/// Enters `_start` with `%rsp` = `sp` and `%rdx` = 0.
///
/// # Safety
/// `entry` is the executable's entry point, `sp` a SysV initial stack.
unsafe fn enter(entry: usize, sp: usize) -> ! {
    // SAFETY: guaranteed by the caller; _start never returns (it ends in
    // exit, which ends the mock thread).
    unsafe {
        core::arch::asm!(
            "mov rsp, rsi",
            "xor edx, edx",
            "xor ebp, ebp",
            "jmp rdi",
            in("rdi") entry,
            in("rsi") sp,
            options(noreturn)
        )
    }
}

/// Runs `xenstore` with `argv` (argv[0] selects the tool) on the mock.
fn xenstore(argv: &[&'static str]) -> Outcome<()> {
    install_xenbus();
    let loaded = objects().expect("objects");
    let argv_owned: Vec<&'static str> = argv.to_vec();
    run(argv, &["PATH=/usr/bin"], move |proc| {
        let limits = Limits::default();
        let elfs: Vec<Elf<'static>> =
            loaded.files.iter().map(|(n, b)| Elf::parse(n, b, &limits).expect("parse")).collect();
        let mut spans: Vec<&'static mut [u8]> =
            elfs.iter().map(|e| host_map(((e.span_size() + 0xfff) & !0xfff) as usize)).collect();
        for (e, s) in elfs.iter().zip(spans.iter_mut()) {
            e.copy_into(s).expect("copy");
        }
        let table = Table::new(&proc.process);
        let objects: Vec<(&Elf<'_>, u64)> = elfs.iter().zip(&spans).map(|(e, s)| (e, s.as_ptr() as u64)).collect();
        let plan = elf_loader::link(&objects, &table).expect("link");
        plan.apply(&mut spans).expect("apply");
        let exe = spans[0].as_ptr() as usize;
        for c in &plan.copies {
            let name = c.symbol.split('@').next().unwrap_or_default();
            if let Some(Symbol::Data(d)) = lookup(name) {
                proc.process.bind_copy(d, exe + c.offset as usize);
            }
        }
        for (e, s) in elfs.iter().zip(&spans) {
            for seg in e.segments() {
                let prot = match seg.perm {
                    Perm::R => PROT_READ,
                    Perm::RW => PROT_READ | PROT_WRITE,
                    Perm::RX => PROT_READ | PROT_EXEC,
                };
                let r = seg.pages();
                // SAFETY: page-aligned pages of the span.
                let rc = unsafe {
                    mprotect(s.as_ptr().add(r.start as usize) as *mut c_void, (r.end - r.start) as usize, prot)
                };
                assert_eq!(rc, 0, "mprotect");
            }
        }
        let fini: Vec<usize> = plan.finalizers(&spans).expect("fini").iter().map(|f| f.address as usize).collect();
        proc.process.set_finalizers(fini);
        let (sp, cargv, cenvp) = initial_stack(&argv_owned, &["PATH=/usr/bin"]);
        for init in plan.initializers(&spans).expect("init") {
            // SAFETY: an initializer of a loaded object: void f(int, char **, char **).
            unsafe {
                let f: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) =
                    core::mem::transmute(init.address as usize);
                f(argv_owned.len() as c_int, cargv, cenvp);
            }
        }
        let entry = exe + elfs[0].entry().expect("entry") as usize;
        // SAFETY: the linked executable's entry and its initial stack.
        unsafe { enter(entry, sp) }
    })
}

fn install_xenbus() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        add_node(
            b"/dev/xen/xenbus",
            Node::Device { rdev: 0x0a3f, make: Arc::new(|| Box::new(Xenbus(Conn::new(store())))) },
        );
    });
}

/// Serialises the tests that share the fake store.
static SERIAL: Mutex<()> = Mutex::new(());

fn check(argv: &[&'static str], status: i32, stdout: &str, stderr: &str) {
    let out = xenstore(argv);
    assert_eq!(
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned()
        ),
        (Some(status), stdout.to_string(), stderr.to_string()),
        "{argv:?}"
    );
}

#[test]
fn debian_xenstore_tools_run_on_this_libc() {
    if objects().is_none() {
        eprintln!("Debian's xenstore objects are not installed: skipped");
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    check(&["xenstore-write", "/e2e/hello", "world", "/e2e/dir/a", "1"], 0, "", "");
    check(&["xenstore-read", "/e2e/hello"], 0, "world\n", "");
    check(&["/usr/bin/xenstore-read", "-p", "/e2e/hello", "/e2e/dir/a"], 0, "/e2e/hello: world\n/e2e/dir/a: 1\n", "");
    check(&["xenstore", "read", "/e2e/hello"], 0, "world\n", "");
    check(&["xenstore-read", "/e2e/nope"], 1, "", "xenstore-read: couldn't read path /e2e/nope\n");
    check(&["xenstore-exists", "/e2e/hello"], 0, "", "");
    check(&["xenstore-exists", "/e2e/nope"], 1, "", "");
    check(&["xenstore-list", "/e2e"], 0, "dir\nhello\n", "");
    check(&["xenstore-ls", "/e2e"], 0, "dir = \"\"\n a = \"1\"\nhello = \"world\"\n", "");
    check(&["xenstore-ls", "-f", "/e2e"], 0, "/e2e/dir = \"\"\n/e2e/dir/a = \"1\"\n/e2e/hello = \"world\"\n", "");
    check(&["xenstore-chmod", "/e2e/hello", "r0", "w5"], 0, "", "");
    // Escapes: unsanitise_value parses them with sscanf("%2x%n") and
    // sscanf("%3o%n"); sanitise_value prints a control byte back as a backslash and
    // three octal digits.
    check(&["xenstore-write", "/e2e/esc", "a\\x41\\101", "/e2e/ctl", "c\\x01d"], 0, "", "");
    check(&["xenstore-read", "/e2e/esc", "/e2e/ctl"], 0, "aAA\nc\\001d\n", "");
    check(&["xenstore-read", "-R", "/e2e/esc"], 0, "aAA", "");
    check(&["xenstore-ls", "-p", "/e2e/dir"], 0, &format!("a = \"1\" {}  (n0)\n", " .".repeat(26)), "");
    check(&["xenstore-rm", "/e2e/dir/a"], 0, "", "");
    check(&["xenstore-list", "/e2e/dir"], 0, "", "");
    check(&["xenstore-read"], 1, "", "xenstore-read: Usage: xenstore-read [-h] [-p] [-s] [-R] key [...]\n");
    check(
        &["xenstore-read", "-z", "/x"],
        1,
        "",
        "xenstore-read: invalid option -- 'z'\nxenstore-read: couldn't read path /x\n",
    );
    check(&["xenstore", "bogus"], 1, "", "xenstore: unknown mode bogus\n\n");
    check(
        &["xenstore-write", "/e2e/odd"],
        1,
        "",
        "xenstore-write: Usage: xenstore-write [-h] [-s] [-R] key value [...]\n",
    );
}

#[test]
fn xenstore_watch_uses_a_reader_thread_that_xs_close_cancels() {
    if objects().is_none() {
        eprintln!("Debian's xenstore objects are not installed: skipped");
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // One event: the initial one xenstored sends for a new watch.
    check(&["xenstore-watch", "-n", "1", "/w1"], 0, "/w1\n", "");
    // Two events: the second from a write by another program meanwhile.
    let watcher = std::thread::spawn(|| xenstore(&["xenstore-watch", "-n", "2", "/w2"]));
    std::thread::sleep(Duration::from_millis(300));
    check(&["xenstore-write", "/w2/x", "v"], 0, "", "");
    let out = watcher.join().expect("watcher");
    assert_eq!((out.status, out.stdout.as_slice(), out.stderr.as_slice()), (Some(0), &b"/w2\n/w2/x\n"[..], &b""[..]));
    // The watcher flushed each line on its own (fflush after each event).
    assert_eq!(out.stdout_writes, vec![b"/w2\n".to_vec(), b"/w2/x\n".to_vec()]);
}

/// Runs the same binary on the host's glibc, connected to a fake xenstored
/// on a unix socket (`XENSTORED_PATH`): the reference.
fn host_xenstore(argv: &[&str], sock: &std::path::Path) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let out = std::process::Command::new("/usr/bin/xenstore")
        .arg0(argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin")
        .env("XENSTORED_PATH", sock)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the host's xenstore");
    (out.status.code().or_else(|| out.status.signal().map(|s| 128 + s)), out.stdout, out.stderr)
}

/// The differential suite: every invocation runs on this libc (mock
/// kernel, `/dev/xen/xenbus`) and on the host's glibc (socket), each
/// against its own fake store that evolves the same way; status, stdout and
/// stderr must be identical.
#[test]
fn same_bytes_as_the_hosts_glibc() {
    if objects().is_none() || !std::path::Path::new("/usr/bin/xenstore").exists() {
        eprintln!("Debian's xenstore objects are not installed: skipped");
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    static HOST_STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    let host_store = HOST_STORE.get_or_init(|| Mutex::new(Store::new()));
    let sock = std::env::temp_dir().join(format!("guest-libc-xenstored-{}.sock", std::process::id()));
    serve_socket(&sock, host_store);
    let long: &'static str = Box::leak("x".repeat(100).into_boxed_str());
    let huge: &'static str = Box::leak("y".repeat(3000).into_boxed_str());
    let many: Vec<&'static str> =
        (0..40).flat_map(|i| [Box::leak(format!("/d/many/n{i:02}").into_boxed_str()) as &'static str, "v"]).collect();
    let mut cases: Vec<Vec<&'static str>> = vec![
        vec!["xenstore-write", "/d/a", "1", "/d/b/c", "two"],
        vec!["xenstore-read", "/d/a"],
        vec!["xenstore-read", "-p", "/d/a", "/d/b/c"],
        vec!["xenstore-read", "--prefix", "/d/a"],
        vec!["xenstore-read", "--pre", "/d/a"],
        vec!["xenstore-read", "/d/none"],
        vec!["xenstore-read", "/d/a", "/d/none"],
        vec!["xenstore-read"],
        vec!["xenstore-read", "-h"],
        vec!["xenstore-read", "--help=x", "/d/a"],
        vec!["xenstore-read", "-z", "/d/a"],
        vec!["xenstore-read", "--bogus", "/d/a"],
        vec!["xenstore-read", "--r", "/d/a"],
        vec!["xenstore-read", "--number"],
        vec!["xenstore-read", "-t", "/d/a"],
        vec!["xenstore-read", "-R", "/d/b/c"],
        vec!["xenstore", "read", "/d/a"],
        vec!["xenstore", "read", "-z", "/d/a"],
        vec!["xenstore"],
        vec!["xenstore", "bogus"],
        vec!["/usr/bin/xenstore-read", "/d/a"],
        vec!["xenstore-exists", "/d/a"],
        vec!["xenstore-exists", "/d/none"],
        vec!["xenstore-exists"],
        vec!["xenstore-list", "/d"],
        vec!["xenstore-list", "-p", "/d", "/d/b"],
        vec!["xenstore-list", "/d/none"],
        vec!["xenstore-write", "/d/long", long, "/d/huge", huge],
        vec!["xenstore-ls", "/d"],
        vec!["xenstore-ls", "-f", "/d"],
        vec!["xenstore-ls", "-p", "/d"],
        vec!["xenstore-ls", "-f", "-p", "/d/b"],
        vec!["xenstore-ls", "/d/none"],
        vec!["xenstore-ls", "-t", "/d"],
        vec!["xenstore-write", "/d/esc", "a\\x41\\101\\t", "/d/ctl", "c\\x01d\\\\"],
        vec!["xenstore-read", "/d/esc", "/d/ctl"],
        vec!["xenstore-ls", "/d"],
        vec!["xenstore-write", "/d/odd_-:@.,=", "weird value with spaces"],
        vec!["xenstore-list", "/d"],
        vec!["xenstore-write", "/d/w"],
        vec!["xenstore-write", "-R", "/d/raw", "\\x41"],
        vec!["xenstore-read", "/d/raw"],
        vec!["xenstore-chmod", "/d/a", "r0", "w5", "b7", "n9"],
        vec!["xenstore-ls", "-p", "/d/a"],
        vec!["xenstore-chmod", "/d/a", "x1"],
        vec!["xenstore-chmod", "-u", "/d/b/c", "b0"],
        vec!["xenstore-chmod", "-r", "/d/b", "r3"],
        vec!["xenstore-ls", "-p", "/d/b"],
        vec!["xenstore-chmod"],
        vec!["xenstore-rm", "/d/b/c"],
        vec!["xenstore-rm", "/d/none"],
        vec!["xenstore-rm", "/d/none/deeper"],
        vec!["xenstore-write", "/d/t/x/y", ""],
        vec!["xenstore-rm", "-t", "/d/t/x/y"],
        vec!["xenstore-list", "/d"],
        vec!["xenstore-rm"],
        vec!["xenstore-watch"],
        vec!["xenstore-watch", "-n", "1", "/d/a"],
        vec!["xenstore-watch", "--number", "1", "/d/a", "/d/b"],
        vec!["xenstore-watch", "-n"],
    ];
    let mut write_many = vec!["xenstore-write"];
    write_many.extend(&many);
    cases.push(write_many);
    cases.push(vec!["xenstore-list", "/d/many"]);
    cases.push(vec!["xenstore-ls", "/d/many"]);
    let mut diffs = Vec::new();
    for argv in &cases {
        let ours = xenstore(argv);
        let host = host_xenstore(argv, &sock);
        let ours = (ours.status, ours.stdout, ours.stderr);
        if ours != host {
            diffs.push(format!(
                "{argv:?}\n  ours: {:?} {:?} {:?}\n  host: {:?} {:?} {:?}",
                ours.0,
                String::from_utf8_lossy(&ours.1),
                String::from_utf8_lossy(&ours.2),
                host.0,
                String::from_utf8_lossy(&host.1),
                String::from_utf8_lossy(&host.2)
            ));
        }
    }
    let _ = std::fs::remove_file(&sock);
    assert!(cases.len() >= 60);
    assert!(diffs.is_empty(), "{} of {} invocations differ:\n{}", diffs.len(), cases.len(), diffs.join("\n"));
}
