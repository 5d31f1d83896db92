//! A [`Sys`] over std for the host tests.
//!
//! * Each test program runs with [`run`] on its own std thread, with its own
//!   [`Process`], descriptor table and [`ThreadData`]; fd 0 is an empty
//!   pipe, fds 1 and 2 are captured (every `write` call is recorded).
//! * The file system is a map of paths to nodes ([`Node`]), shared by all
//!   programs of a test; `open` of a regular node reads its bytes, a node
//!   with a [`Device`] gets that device (a fake xenstored for
//!   `/dev/xen/xenbus`).
//! * Threads are std threads. Ending a thread (`exit_thread`) or the process
//!   (`exit_process`) marks it ended and parks the std thread for good (no
//!   unwinding through the C ABI): [`run`] returns once the program's main
//!   thread has ended, with the exit status, if any.
//! * All state is under one mutex with one condition variable; blocking
//!   calls wait on it and end with `EINTR` when their thread is interrupted.
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use crate::abi::sys::{FileStat, PollFd, Sys, ThreadStart};
use crate::abi::{set_sys, Process, ThreadData};

pub const EBADF: i32 = 9;
pub const ENOENT: i32 = 2;
pub const EINTR: i32 = 4;
pub const EAGAIN: i32 = 11;
pub const EINVAL: i32 = 22;
pub const EPIPE: i32 = 32;
pub const ESRCH: i32 = 3;

const O_ACCMODE: i32 = 3;
const O_NONBLOCK: i32 = 0o4000;
const O_CLOEXEC: i32 = 0o2000000;
const FD_CLOEXEC: i32 = 1;
const POLLIN: u16 = 1;
const POLLOUT: u16 = 4;
const POLLHUP: u16 = 16;
const POLLNVAL: u16 = 32;

/// A device node's behaviour.
pub trait Device: Send {
    /// Bytes written by the program.
    fn write(&mut self, data: &[u8]) -> Result<usize, i32>;
    /// Bytes available to read (None: would block).
    fn read(&mut self, buf: &mut [u8]) -> Option<Result<usize, i32>>;
    /// Whether a read would not block.
    fn readable(&self) -> bool;
}

/// A file-system node.
pub enum Node {
    /// A regular file with its bytes.
    File(Vec<u8>),
    /// A character device; `make` builds one open instance.
    Device { rdev: u64, make: Arc<dyn Fn() -> Box<dyn Device> + Send + Sync> },
}

enum Obj {
    Capture { data: Vec<u8>, writes: Vec<Vec<u8>> },
    PipeRead(u64),
    PipeWrite(u64),
    File { data: Vec<u8>, pos: usize },
    Dev(Box<dyn Device>),
    Socket,
}

struct Pipe {
    buf: VecDeque<u8>,
    writers: usize,
    readers: usize,
}

struct FdEntry {
    obj: u64,
    flags: i32,
    fd_flags: i32,
}

struct ThreadState {
    pid: u64,
    interrupted: bool,
    ended: bool,
    /// The process exited: the thread parks at its next wait.
    killed: bool,
}

#[derive(Default)]
struct World {
    fs: HashMap<Vec<u8>, Node>,
    objs: HashMap<u64, (Obj, usize)>,
    pipes: HashMap<u64, Pipe>,
    fds: HashMap<u64, HashMap<i32, FdEntry>>,
    threads: HashMap<u64, ThreadState>,
    next: u64,
    consoles: Vec<Vec<u8>>,
    futex_gen: u64,
}

static WORLD: Mutex<Option<World>> = Mutex::new(None);
static WAKE: Condvar = Condvar::new();

fn world() -> MutexGuard<'static, Option<World>> {
    WORLD.lock().unwrap_or_else(|p| p.into_inner())
}

fn with_world<R>(f: impl FnOnce(&mut World) -> R) -> R {
    let mut g = world();
    f(g.get_or_insert_with(World::default))
}

/// Waits on the world's condition variable (bounded, so a lost wake-up
/// or a deadline costs at most 2 ms).
fn wait(g: MutexGuard<'static, Option<World>>) -> MutexGuard<'static, Option<World>> {
    WAKE.wait_timeout(g, Duration::from_millis(2)).unwrap_or_else(|p| p.into_inner()).0
}

impl World {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn add_obj(&mut self, o: Obj) -> u64 {
        let id = self.id();
        self.objs.insert(id, (o, 0));
        id
    }

    fn install(&mut self, pid: u64, fd: Option<i32>, obj: u64, flags: i32) -> i32 {
        let table = self.fds.entry(pid).or_default();
        let fd = fd.unwrap_or_else(|| (0..).find(|f| !table.contains_key(f)).unwrap_or(0));
        let fd_flags = if flags & O_CLOEXEC != 0 { FD_CLOEXEC } else { 0 };
        table.insert(fd, FdEntry { obj, flags: flags & !O_CLOEXEC, fd_flags });
        if let Some(o) = self.objs.get_mut(&obj) {
            o.1 += 1;
        }
        fd
    }

    fn release(&mut self, obj: u64) {
        let gone = match self.objs.get_mut(&obj) {
            Some(o) => {
                o.1 -= 1;
                o.1 == 0
            }
            None => false,
        };
        if gone {
            if let Some((o, _)) = self.objs.remove(&obj) {
                match o {
                    Obj::PipeRead(p) => {
                        if let Some(p) = self.pipes.get_mut(&p) {
                            p.readers -= 1;
                        }
                    }
                    Obj::PipeWrite(p) => {
                        if let Some(p) = self.pipes.get_mut(&p) {
                            p.writers -= 1;
                        }
                    }
                    _ => {}
                }
            }
        }
        WAKE.notify_all();
    }

    fn entry(&self, pid: u64, fd: i32) -> Result<&FdEntry, i32> {
        self.fds.get(&pid).and_then(|t| t.get(&fd)).ok_or(EBADF)
    }

    fn interrupted(&self, tid: u64) -> bool {
        self.threads.get(&tid).is_some_and(|t| t.interrupted)
    }

    fn killed(&self, tid: u64) -> bool {
        self.threads.get(&tid).is_some_and(|t| t.killed)
    }
}

/// The state of one test program.
pub struct MockProc {
    pub pid: u64,
    pub process: Process,
}

struct Ctx {
    proc: Arc<MockProc>,
    td: Box<ThreadData>,
    tid: u64,
}

thread_local! {
    static CTX: RefCell<Option<Ctx>> = const { RefCell::new(None) };
}

fn ctx<R>(f: impl FnOnce(&Ctx) -> R) -> R {
    CTX.with(|c| f(c.borrow().as_ref().expect("mock: not a program thread")))
}

fn pid() -> u64 {
    ctx(|c| c.proc.pid)
}

fn tid() -> u64 {
    ctx(|c| c.tid)
}

fn new_thread(pid: u64) -> u64 {
    with_world(|w| {
        let t = w.id();
        w.threads.insert(t, ThreadState { pid, interrupted: false, ended: false, killed: false });
        t
    })
}

/// Parks the calling thread for good if its process has exited.
fn check_killed(g: MutexGuard<'static, Option<World>>, tid: u64) -> MutexGuard<'static, Option<World>> {
    if g.as_ref().is_some_and(|w| w.killed(tid)) {
        drop(g);
        end_thread(tid);
        park_forever();
    }
    g
}

fn end_thread(t: u64) {
    with_world(|w| {
        if let Some(s) = w.threads.get_mut(&t) {
            s.ended = true;
        }
    });
    WAKE.notify_all();
}

fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// The mock kernel.
pub struct MockSys;

pub static MOCK: MockSys = MockSys;

/// Registers the mock once.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| set_sys(&MOCK));
}

/// Adds (or replaces) a node of the shared file system.
pub fn add_node(path: &[u8], node: Node) {
    with_world(|w| {
        w.fs.insert(path.to_vec(), node);
    });
}

/// The lines written to the console so far.
pub fn consoles() -> Vec<Vec<u8>> {
    with_world(|w| w.consoles.clone())
}

/// What a program did.
pub struct Outcome<R> {
    /// `exit`/`abort` status; None when the body returned.
    pub status: Option<i32>,
    /// The body's result when it returned.
    pub ret: Option<R>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Each `write(2)` to fd 1 / fd 2.
    pub stdout_writes: Vec<Vec<u8>>,
    pub stderr_writes: Vec<Vec<u8>>,
}

fn capture(pid: u64, fd: i32) -> (Vec<u8>, Vec<Vec<u8>>) {
    with_world(|w| {
        let Ok(e) = w.entry(pid, fd) else { return (Vec::new(), Vec::new()) };
        match w.objs.get(&e.obj) {
            Some((Obj::Capture { data, writes }, _)) => (data.clone(), writes.clone()),
            _ => (Vec::new(), Vec::new()),
        }
    })
}

/// Runs `body` as the main thread of a new program.
pub fn run<R: Send + 'static>(
    argv: &[&str],
    envp: &[&str],
    body: impl FnOnce(&MockProc) -> R + Send + 'static,
) -> Outcome<R> {
    install();
    let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let envp: Vec<Vec<u8>> = envp.iter().map(|a| a.as_bytes().to_vec()).collect();
    let pid = with_world(|w| w.id());
    let proc = Arc::new(MockProc { pid, process: Process::new(argv, envp) });
    with_world(|w| {
        let p = w.id();
        w.pipes.insert(p, Pipe { buf: VecDeque::new(), writers: 0, readers: 1 });
        let stdin = w.add_obj(Obj::PipeRead(p));
        w.install(pid, Some(0), stdin, 0);
        for fd in [1, 2] {
            let o = w.add_obj(Obj::Capture { data: Vec::new(), writes: Vec::new() });
            w.install(pid, Some(fd), o, 1);
        }
    });
    let main_tid = new_thread(pid);
    let result: Arc<Mutex<Option<std::thread::Result<R>>>> = Arc::new(Mutex::new(None));
    let (r2, p2) = (result.clone(), proc.clone());
    std::thread::Builder::new()
        .name("mock-program".into())
        .stack_size(8 << 20)
        .spawn(move || {
            CTX.with(|c| {
                *c.borrow_mut() = Some(Ctx { proc: p2.clone(), td: Box::new(ThreadData::new()), tid: main_tid })
            });
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&p2)));
            *r2.lock().unwrap() = Some(r);
            end_thread(main_tid);
        })
        .expect("spawn");
    let start = Instant::now();
    loop {
        let g = world();
        let ended = g.as_ref().and_then(|w| w.threads.get(&main_tid)).is_some_and(|t| t.ended);
        if ended {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "mock program hung");
        drop(wait(g));
    }
    let ret = match result.lock().unwrap().take() {
        Some(Ok(r)) => Some(r),
        Some(Err(p)) => std::panic::resume_unwind(p),
        None => None,
    };
    let (stdout, stdout_writes) = capture(pid, 1);
    let (stderr, stderr_writes) = capture(pid, 2);
    Outcome { status: proc.process.exit_status(), ret, stdout, stderr, stdout_writes, stderr_writes }
}

/// Makes a pipe in the current program (test helper): [read, write].
pub fn make_pipe() -> [i32; 2] {
    MOCK.pipe2(0).expect("pipe")
}

/// Writes to a descriptor of the current program (test helper).
pub fn write_fd(fd: i32, data: &[u8]) {
    MOCK.write(fd, data).expect("write");
}

impl Sys for MockSys {
    fn open(&self, path: &[u8], flags: i32, _mode: u32) -> Result<i32, i32> {
        let pid = pid();
        with_world(|w| {
            let obj = match w.fs.get(path) {
                None => return Err(ENOENT),
                Some(Node::File(d)) => Obj::File { data: d.clone(), pos: 0 },
                Some(Node::Device { make, .. }) => Obj::Dev(make()),
            };
            let o = w.add_obj(obj);
            Ok(w.install(pid, None, o, flags))
        })
    }

    fn close(&self, fd: i32) -> Result<(), i32> {
        let pid = pid();
        with_world(|w| {
            let e = w.fds.get_mut(&pid).and_then(|t| t.remove(&fd)).ok_or(EBADF)?;
            w.release(e.obj);
            Ok(())
        })
    }

    fn read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
        let (pid, tid) = (pid(), tid());
        let mut g = world();
        loop {
            let w = g.get_or_insert_with(World::default);
            let e = w.entry(pid, fd)?;
            let (obj, nonblock) = (e.obj, e.flags & O_NONBLOCK != 0);
            if e.flags & O_ACCMODE == 1 {
                return Err(EBADF);
            }
            let r = match w.objs.get_mut(&obj).map(|o| &mut o.0) {
                Some(Obj::PipeRead(p)) => {
                    let p = *p;
                    let pipe = w.pipes.get_mut(&p).ok_or(EBADF)?;
                    if !pipe.buf.is_empty() {
                        let n = buf.len().min(pipe.buf.len());
                        for (i, b) in pipe.buf.drain(..n).enumerate() {
                            buf[i] = b;
                        }
                        WAKE.notify_all();
                        Some(Ok(n))
                    } else if pipe.writers == 0 || buf.is_empty() {
                        Some(Ok(0))
                    } else {
                        None
                    }
                }
                Some(Obj::File { data, pos }) => {
                    let n = buf.len().min(data.len().saturating_sub(*pos));
                    buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                    *pos += n;
                    Some(Ok(n))
                }
                Some(Obj::Dev(d)) => d.read(buf),
                Some(_) => Some(Err(EINVAL)),
                None => Some(Err(EBADF)),
            };
            match r {
                Some(r) => return r,
                None if nonblock => return Err(EAGAIN),
                None => {}
            }
            if w.interrupted(tid) {
                return Err(EINTR);
            }
            g = check_killed(wait(g), tid);
        }
    }

    fn write(&self, fd: i32, data: &[u8]) -> Result<usize, i32> {
        let pid = pid();
        with_world(|w| {
            let e = w.entry(pid, fd)?;
            if e.flags & O_ACCMODE == 0 && !matches!(w.objs.get(&e.obj), Some((Obj::Capture { .. }, _))) {
                return Err(EBADF);
            }
            let obj = e.obj;
            let r = match w.objs.get_mut(&obj).map(|o| &mut o.0) {
                Some(Obj::Capture { data: d, writes }) => {
                    d.extend_from_slice(data);
                    writes.push(data.to_vec());
                    Ok(data.len())
                }
                Some(Obj::PipeWrite(p)) => {
                    let p = *p;
                    let pipe = w.pipes.get_mut(&p).ok_or(EBADF)?;
                    if pipe.readers == 0 {
                        Err(EPIPE)
                    } else {
                        pipe.buf.extend(data);
                        Ok(data.len())
                    }
                }
                Some(Obj::Dev(d)) => d.write(data),
                Some(Obj::File { .. }) => Ok(data.len()),
                _ => Err(EINVAL),
            };
            WAKE.notify_all();
            r
        })
    }

    fn fcntl(&self, fd: i32, cmd: i32, arg: u64) -> Result<i32, i32> {
        let pid = pid();
        with_world(|w| {
            let e = w.fds.get_mut(&pid).and_then(|t| t.get_mut(&fd)).ok_or(EBADF)?;
            match cmd {
                1 => Ok(e.fd_flags),
                2 => {
                    e.fd_flags = arg as i32 & FD_CLOEXEC;
                    Ok(0)
                }
                3 => Ok(e.flags),
                4 => {
                    e.flags = (e.flags & O_ACCMODE) | (arg as i32 & O_NONBLOCK);
                    Ok(0)
                }
                _ => Err(EINVAL),
            }
        })
    }

    fn stat(&self, path: &[u8]) -> Result<FileStat, i32> {
        with_world(|w| match w.fs.get(path) {
            None => Err(ENOENT),
            Some(Node::File(d)) => Ok(FileStat { ino: 7, mode: 0o100644, nlink: 1, size: d.len() as i64, rdev: 0 }),
            Some(Node::Device { rdev, .. }) => Ok(FileStat { ino: 8, mode: 0o020600, nlink: 1, size: 0, rdev: *rdev }),
        })
    }

    fn fstat(&self, fd: i32) -> Result<FileStat, i32> {
        let pid = pid();
        with_world(|w| {
            let e = w.entry(pid, fd)?;
            Ok(match w.objs.get(&e.obj).map(|o| &o.0) {
                Some(Obj::File { data, .. }) => {
                    FileStat { ino: 7, mode: 0o100644, nlink: 1, size: data.len() as i64, rdev: 0 }
                }
                Some(Obj::Dev(_)) => FileStat { ino: 8, mode: 0o020600, nlink: 1, size: 0, rdev: 0 },
                _ => FileStat { ino: 5, mode: 0o010600, nlink: 1, size: 0, rdev: 0 },
            })
        })
    }

    fn isatty(&self, fd: i32) -> Result<bool, i32> {
        self.fstat(fd).map(|_| false)
    }

    fn dup2(&self, old: i32, new: i32) -> Result<i32, i32> {
        let pid = pid();
        with_world(|w| {
            let (obj, flags) = {
                let e = w.entry(pid, old)?;
                (e.obj, e.flags)
            };
            if old == new {
                return Ok(new);
            }
            if let Some(e) = w.fds.get_mut(&pid).and_then(|t| t.remove(&new)) {
                w.release(e.obj);
            }
            Ok(w.install(pid, Some(new), obj, flags))
        })
    }

    fn pipe2(&self, flags: i32) -> Result<[i32; 2], i32> {
        let pid = pid();
        with_world(|w| {
            let p = w.id();
            w.pipes.insert(p, Pipe { buf: VecDeque::new(), writers: 1, readers: 1 });
            let r = w.add_obj(Obj::PipeRead(p));
            let wr = w.add_obj(Obj::PipeWrite(p));
            let a = w.install(pid, None, r, flags & (O_CLOEXEC | O_NONBLOCK));
            let b = w.install(pid, None, wr, 1 | (flags & (O_CLOEXEC | O_NONBLOCK)));
            Ok([a, b])
        })
    }

    fn socket(&self, domain: i32, _ty: i32, _protocol: i32) -> Result<i32, i32> {
        if domain != 1 {
            return Err(97);
        }
        let pid = pid();
        with_world(|w| {
            let o = w.add_obj(Obj::Socket);
            Ok(w.install(pid, None, o, 2))
        })
    }

    fn connect(&self, fd: i32, _addr: &[u8]) -> Result<(), i32> {
        let pid = pid();
        with_world(|w| {
            w.entry(pid, fd)?;
            Err(ENOENT)
        })
    }

    fn poll(&self, fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, i32> {
        let (pid, tid) = (pid(), tid());
        let deadline = (timeout_ms >= 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
        let mut g = world();
        loop {
            let w = g.get_or_insert_with(World::default);
            let mut n = 0;
            for p in fds.iter_mut() {
                p.revents = 0;
                if p.fd < 0 {
                    continue;
                }
                let Ok(e) = w.entry(pid, p.fd) else {
                    p.revents = POLLNVAL;
                    n += 1;
                    continue;
                };
                let ready = match w.objs.get(&e.obj).map(|o| &o.0) {
                    Some(Obj::PipeRead(pp)) => w.pipes.get(pp).map_or(POLLHUP, |pipe| {
                        if !pipe.buf.is_empty() {
                            POLLIN
                        } else if pipe.writers == 0 {
                            POLLHUP
                        } else {
                            0
                        }
                    }),
                    Some(Obj::Dev(d)) => {
                        if d.readable() {
                            POLLIN | POLLOUT
                        } else {
                            POLLOUT
                        }
                    }
                    _ => POLLIN | POLLOUT,
                };
                p.revents = ready & (p.events | POLLHUP | POLLNVAL);
                if p.revents != 0 {
                    n += 1;
                }
            }
            if n > 0 {
                return Ok(n);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(0);
            }
            if w.interrupted(tid) {
                return Err(EINTR);
            }
            g = check_killed(wait(g), tid);
        }
    }

    fn map_pages(&self, n: usize) -> Option<*mut u8> {
        let layout = std::alloc::Layout::from_size_align(n.checked_mul(4096)?, 4096).ok()?;
        // SAFETY: a non-zero layout; the memory is leaked (a process's pages
        // live until the test binary ends).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        (!p.is_null()).then_some(p)
    }

    fn spawn(&self, start: ThreadStart, ctx: usize, stack_size: usize) -> Result<u64, i32> {
        let proc = CTX.with(|c| c.borrow().as_ref().map(|c| c.proc.clone())).ok_or(EINVAL)?;
        let t = new_thread(proc.pid);
        std::thread::Builder::new()
            .name("mock-thread".into())
            .stack_size(stack_size.max(256 * 1024))
            .spawn(move || {
                CTX.with(|c| *c.borrow_mut() = Some(Ctx { proc, td: Box::new(ThreadData::new()), tid: t }));
                start(ctx);
                end_thread(t);
            })
            .map_err(|_| EAGAIN)?;
        Ok(t)
    }

    fn join(&self, t: u64) -> Result<(), i32> {
        let me = tid();
        let mut g = world();
        loop {
            let w = g.get_or_insert_with(World::default);
            match w.threads.get(&t) {
                None => return Err(ESRCH),
                Some(s) if s.ended => return Ok(()),
                _ => {}
            }
            if w.interrupted(me) {
                return Err(EINTR);
            }
            g = check_killed(wait(g), me);
        }
    }

    fn interrupt(&self, t: u64) {
        with_world(|w| {
            if let Some(s) = w.threads.get_mut(&t) {
                s.interrupted = true;
            }
        });
        WAKE.notify_all();
    }

    fn interrupted(&self) -> bool {
        let t = tid();
        with_world(|w| w.interrupted(t))
    }

    fn clear_interrupt(&self) {
        let t = tid();
        with_world(|w| {
            if let Some(s) = w.threads.get_mut(&t) {
                s.interrupted = false;
            }
        });
    }

    fn current_tid(&self) -> u64 {
        tid()
    }

    fn exit_thread(&self) -> ! {
        end_thread(tid());
        park_forever()
    }

    fn exit_process(&self, _status: i32) -> ! {
        let (me, pid) = (tid(), pid());
        with_world(|w| {
            for (t, s) in w.threads.iter_mut() {
                if s.pid == pid && *t != me {
                    s.killed = true;
                }
            }
        });
        end_thread(me);
        park_forever()
    }

    fn futex_wait(&self, word: &AtomicU32, expected: u32, deadline_ns: Option<u64>) -> Result<(), i32> {
        let t = tid();
        let mut g = world();
        let w = g.get_or_insert_with(World::default);
        if word.load(Ordering::SeqCst) != expected || deadline_ns.is_some_and(|d| self.now_ns() >= d) {
            return Ok(());
        }
        if w.interrupted(t) {
            return Err(EINTR);
        }
        let gen = w.futex_gen;
        loop {
            g = check_killed(wait(g), t);
            let w = g.get_or_insert_with(World::default);
            if w.futex_gen != gen
                || word.load(Ordering::SeqCst) != expected
                || deadline_ns.is_some_and(|d| self.now_ns() >= d)
            {
                return Ok(());
            }
            if w.interrupted(t) {
                return Err(EINTR);
            }
        }
    }

    fn futex_wake(&self, _word: &AtomicU32, _n: u32) {
        with_world(|w| w.futex_gen += 1);
        WAKE.notify_all();
    }

    fn now_ns(&self) -> u64 {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    fn wallclock(&self) -> (u64, u32) {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (d.as_secs(), d.subsec_nanos())
    }

    fn thread_data(&self) -> *mut ThreadData {
        ctx(|c| &*c.td as *const ThreadData as *mut ThreadData)
    }

    fn process(&self) -> &Process {
        let p = ctx(|c| &c.proc.process as *const Process);
        // SAFETY: the Arc in this thread's context keeps the process alive
        // for as long as the thread runs (the context is never cleared).
        unsafe { &*p }
    }

    fn console(&self, line: &[u8]) {
        with_world(|w| w.consoles.push(line.to_vec()));
    }
}
