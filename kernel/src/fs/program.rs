//! [`Program`]: a descriptor table shared by the threads of one program,
//! and the descriptor operations on it (see the module above for the locks
//! and the devices).
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::devices::{Output, Socket};
use super::pipe::{self, PipeEnd};
use super::*;

/// Most entries one `poll(2)` takes: `RLIMIT_NOFILE` as the libc's
/// `sysconf(_SC_OPEN_MAX)` reports it (a Linux domU's default, 1024); more
/// is `EINVAL`, as on Linux. (An entry may repeat a descriptor or be -1,
/// so this is not the descriptor table's size.)
pub const POLL_MAX_ENTRIES: usize = 1024;

/// A program: a descriptor table shared by its threads.
pub struct Program {
    fds: ThreadLock<FdTable<Device>>,
}

impl Default for Program {
    fn default() -> Self {
        Self::new()
    }
}

impl Program {
    /// A program with no open descriptors.
    pub fn new() -> Program {
        Program { fds: ThreadLock::new("vfs.fds", FdTable::new()) }
    }

    /// A read or write through the VFS: the bytes it moved, or the device
    /// that performs it and the description's `O_NONBLOCK`, cloned out so
    /// that no lock is held while the device waits.
    fn transfer(
        &self,
        op: impl for<'t> FnOnce(&mut Tree, &'t mut FdTable<Device>) -> Result<Io<'t, Device>, Errno>,
    ) -> Result<Result<usize, (Device, bool)>, Errno> {
        let mut fds = self.fds.lock();
        with_tree(|t| match op(t, &mut fds)? {
            Io::Done(n) => Ok(Ok(n)),
            Io::Special { state, nonblocking, .. } => Ok(Err((state.clone(), nonblocking))),
        })
    }

    /// `open(2)`.
    pub fn open(&self, path: &str, flags: u32) -> Result<Fd, Errno> {
        self.open_mode(path, flags, 0o644)
    }

    /// `open(2)` with a creation mode.
    pub fn open_mode(&self, path: &str, flags: u32, mode: u32) -> Result<Fd, Errno> {
        let mut fds = self.fds.lock();
        with_tree(|t| {
            t.open(&mut fds, path, flags, mode, |id, _| match id {
                XENBUS => XenbusOpen::open().map(Device::Xenbus),
                XENBUS_STATS => Ok(Device::Text(Arc::new(TextFile {
                    data: xenfs::stats::render().into_bytes(),
                    pos: ThreadLock::new("vfs.textfile", 0),
                }))),
                NULL => Ok(Device::Null),
                _ => Err(Errno::ENOENT),
            })
        })
    }

    fn device(&self, fd: Fd) -> Result<Option<(Device, bool)>, Errno> {
        let fds = self.fds.lock();
        let f = fds.get(fd)?;
        Ok(f.special().map(|(_, d)| (d.clone(), f.is_nonblocking())))
    }

    /// `read(2)`. Blocks on an empty xenbus node unless `O_NONBLOCK`.
    ///
    /// # Yields
    pub fn read(&self, fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read_interruptible(fd, buf, &|| false)
    }

    /// `read(2)` whose wait ends with `EINTR` once `interrupted()` is true
    /// (a program thread being cancelled).
    ///
    /// # Yields
    pub fn read_interruptible(&self, fd: Fd, buf: &mut [u8], interrupted: &dyn Fn() -> bool) -> Result<usize, Errno> {
        let dev = match self.transfer(|t, fds| t.read(fds, fd, buf))? {
            Ok(n) => return Ok(n),
            Err(d) => d,
        };
        match dev {
            (Device::Xenbus(x), nonblocking) => x.read(buf, nonblocking, interrupted),
            (Device::Text(t), _) => Ok(t.read(buf)),
            (Device::Null, _) => Ok(0),
            (Device::Pipe(p), nonblocking) => p.read(buf, nonblocking, interrupted),
            (Device::Socket(s), _) => s.read(),
            (Device::Output(_), _) => Err(Errno::EBADF),
        }
    }

    /// `write(2)`.
    ///
    /// # Yields
    pub fn write(&self, fd: Fd, buf: &[u8]) -> Result<usize, Errno> {
        self.write_interruptible(fd, buf, &|| false)
    }

    /// `write(2)` whose wait (a full pipe) ends with `EINTR` once
    /// `interrupted()` is true.
    ///
    /// # Yields
    pub fn write_interruptible(&self, fd: Fd, buf: &[u8], interrupted: &dyn Fn() -> bool) -> Result<usize, Errno> {
        let dev = match self.transfer(|t, fds| t.write(fds, fd, buf))? {
            Ok(n) => return Ok(n),
            Err(d) => d,
        };
        match dev {
            (Device::Xenbus(x), _) => x.write(buf),
            (Device::Text(_), _) => Err(Errno::EBADF),
            (Device::Null, _) => Ok(buf.len()),
            (Device::Pipe(p), nonblocking) => p.write(buf, nonblocking, interrupted),
            (Device::Socket(s), _) => s.write(),
            (Device::Output(o), _) => Ok(o.write(buf)),
        }
    }

    /// `close(2)`. Closing a xenbus descriptor aborts its transactions and
    /// removes its watches.
    ///
    /// # Yields
    pub fn close(&self, fd: Fd) -> Result<(), Errno> {
        let dev = {
            let mut fds = self.fds.lock();
            with_tree(|t| t.close(&mut fds, fd))?
        };
        if let Some(d) = dev {
            d.end();
        }
        Ok(())
    }

    /// Closes every descriptor (a program's exit).
    pub fn close_all(&self) {
        let devs = {
            let mut fds = self.fds.lock();
            with_tree(|t| t.close_all(&mut fds))
        };
        for d in devs {
            d.end();
        }
    }

    /// `lseek(2)` (`ESPIPE` on the xenbus node).
    pub fn lseek(&self, fd: Fd, offset: i64, whence: u32) -> Result<u64, Errno> {
        let mut fds = self.fds.lock();
        with_tree(|t| t.lseek(&mut fds, fd, offset, whence))
    }

    /// `fstat(2)`.
    pub fn fstat(&self, fd: Fd) -> Result<Stat, Errno> {
        let fds = self.fds.lock();
        with_tree(|t| t.fstat(&fds, fd))
    }

    /// `fcntl`: `F_GETFL` / `F_SETFL` (only `O_NONBLOCK` and `O_APPEND`
    /// change), `F_GETFD` / `F_SETFD` (`FD_CLOEXEC`), `F_DUPFD` /
    /// `F_DUPFD_CLOEXEC`; other commands `EINVAL`.
    pub fn fcntl(&self, fd: Fd, cmd: u32, arg: u32) -> Result<u32, Errno> {
        let mut fds = self.fds.lock();
        match cmd {
            F_GETFL => fds.getfl(fd),
            F_SETFL => fds.setfl(fd, arg).map(|_| 0),
            F_GETFD => fds.getfd(fd),
            F_SETFD => fds.setfd(fd, arg).map(|_| 0),
            F_DUPFD | F_DUPFD_CLOEXEC => {
                let min = Fd::try_from(arg).map_err(|_| Errno::EINVAL)?;
                with_tree(|t| t.dup(&mut fds, fd, min, cmd == F_DUPFD_CLOEXEC)).map(|n| n as u32)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `getdents(2)` of a directory descriptor: the entries from the
    /// descriptor's position on (all of them; the position advances).
    pub fn readdir(&self, fd: Fd) -> Result<Vec<DirEntry>, Errno> {
        let mut fds = self.fds.lock();
        let mut out = Vec::new();
        with_tree(|t| {
            t.getdents(&mut fds, fd, |e| {
                out.push(e.clone());
                true
            })
        })?;
        Ok(out)
    }

    /// `poll(2)` over `fds`, waiting up to `timeout_ms` (negative: forever,
    /// 0: don't wait). Returns the number of entries with `revents != 0`.
    /// Regular files and directories are always ready (`POLLIN|POLLOUT`
    /// masked by what was asked, as Linux); the xenbus node reports
    /// `POLLIN|POLLRDNORM` exactly when data is queued and never `POLLOUT`.
    ///
    /// # Yields
    pub fn poll(&self, set: &mut [PollFd], timeout_ms: i64) -> Result<usize, Errno> {
        self.poll_interruptible(set, timeout_ms, &|| false)
    }

    /// `poll(2)` whose wait ends with `EINTR` once `interrupted()` is true.
    ///
    /// # Yields
    pub fn poll_interruptible(
        &self,
        set: &mut [PollFd],
        timeout_ms: i64,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<usize, Errno> {
        enum Watched {
            Xenbus(Arc<XenbusOpen>, u64),
            Pipe(PipeEnd, u64),
        }
        impl Watched {
            fn changed(&self) -> bool {
                match self {
                    Watched::Xenbus(x, g) => x.changed_since(*g),
                    Watched::Pipe(p, g) => p.generation() != *g,
                }
            }
        }
        // Linux: more entries than RLIMIT_NOFILE is EINVAL. It also bounds
        // what a program can make this call hold across its wait.
        if set.len() > POLL_MAX_ENTRIES {
            return Err(Errno::EINVAL);
        }
        // Saturating: a huge timeout is "never", not a wrapped past.
        let deadline = if timeout_ms < 0 { u64::MAX } else { crate::time::deadline_after_ms(timeout_ms as u64) };
        loop {
            let mut gens: Vec<Watched> = Vec::new();
            gens.try_reserve(set.len()).map_err(|_| Errno::ENOMEM)?;
            let mut ready = 0;
            for p in set.iter_mut() {
                p.revents = 0;
                if p.fd < 0 {
                    continue;
                }
                // POLLERR, POLLHUP and POLLNVAL are reported whatever was
                // asked, as Linux does.
                let always = POLLERR | POLLHUP | POLLNVAL;
                let mask = match self.device(p.fd) {
                    Err(_) => POLLNVAL,
                    Ok(None) => (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM) & p.events,
                    Ok(Some((Device::Xenbus(x), _))) => {
                        gens.push(Watched::Xenbus(x.clone(), x.generation()));
                        (x.poll() as u16) & (p.events | POLLNVAL)
                    }
                    Ok(Some((Device::Text(_), _))) => (POLLIN | POLLRDNORM) & p.events,
                    Ok(Some((Device::Null, _))) => (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM) & p.events,
                    Ok(Some((Device::Pipe(e), _))) => {
                        gens.push(Watched::Pipe(e.clone(), e.generation()));
                        e.poll() & (p.events | always)
                    }
                    Ok(Some((Device::Socket(s), _))) => s.poll() & (p.events | always),
                    Ok(Some((Device::Output(_), _))) => (POLLOUT | POLLWRNORM) & p.events,
                };
                p.revents = mask;
                if mask != 0 {
                    ready += 1;
                }
            }
            if ready > 0 || timeout_ms == 0 || crate::time::now_ns() >= deadline {
                return Ok(ready);
            }
            if interrupted() {
                return Err(Errno::EINTR);
            }
            xenfs::ACTIVITY.wait_until_deadline(|| gens.iter().any(Watched::changed) || interrupted(), deadline);
        }
    }
}

/// Descriptor operations the programs layer uses (the libc's `dup2`,
/// `pipe2`, `socket`, `connect`, `isatty`, and the standard streams).
#[cfg_attr(not(feature = "programs"), allow(dead_code))]
impl Program {
    /// `dup2(2)`: `new` becomes a descriptor for `old`'s description (what
    /// `new` was is closed first). Returns `new`.
    ///
    /// # Yields
    pub fn dup2(&self, old: Fd, new: Fd) -> Result<Fd, Errno> {
        let dev = {
            let mut fds = self.fds.lock();
            with_tree(|t| t.dup2(&mut fds, old, new))?
        };
        if let Some(d) = dev {
            d.end();
        }
        Ok(new)
    }

    /// Installs an anonymous description (`flags`: access mode,
    /// `O_NONBLOCK`, `O_CLOEXEC`).
    fn install(&self, id: SpecialId, ty: FileType, flags: u32, dev: Device) -> Result<Fd, Errno> {
        let mut fds = self.fds.lock();
        with_tree(|t| t.open_anonymous(&mut fds, id, ty, flags, dev))
    }

    /// `pipe2(2)`: (read end, write end). `flags`: `O_NONBLOCK`,
    /// `O_CLOEXEC` (others: `EINVAL`).
    pub fn pipe2(&self, flags: u32) -> Result<[Fd; 2], Errno> {
        if flags & !(O_NONBLOCK | O_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let (r, w) = pipe::new().ok_or(Errno::ENFILE)?;
        let rfd = self.install(PIPE, FileType::Fifo, O_RDONLY | flags, Device::Pipe(r.clone()))?;
        match self.install(PIPE, FileType::Fifo, O_WRONLY | flags, Device::Pipe(w.clone())) {
            Ok(wfd) => Ok([rfd, wfd]),
            Err(e) => {
                let _ = self.close(rfd);
                w.close();
                Err(e)
            }
        }
    }

    /// `socket(2)` (see [`Socket::new`]); `SOCK_NONBLOCK`/`SOCK_CLOEXEC`
    /// in `ty` set those flags.
    pub fn socket(&self, domain: i32, ty: i32, protocol: i32) -> Result<Fd, Errno> {
        let s = Socket::new(domain, ty, protocol)?;
        let mut flags = O_RDWR;
        if ty & devices::SOCK_NONBLOCK != 0 {
            flags |= O_NONBLOCK;
        }
        if ty & devices::SOCK_CLOEXEC != 0 {
            flags |= O_CLOEXEC;
        }
        self.install(SOCKET, FileType::Socket, flags, Device::Socket(Arc::new(s)))
    }

    /// `connect(2)` (see [`Socket::connect`]): `ENOTSOCK` for a descriptor
    /// that is not a socket.
    pub fn connect(&self, fd: Fd, addr: &[u8]) -> Result<(), Errno> {
        match self.device(fd)? {
            Some((Device::Socket(s), _)) => s.connect(addr),
            _ => Err(Errno::ENOTSOCK),
        }
    }

    /// Installs an output capture as descriptor `fd` (replacing what was
    /// there), write-only: a program's standard output or error.
    pub fn install_output(&self, fd: Fd, out: Arc<Output>) -> Result<(), Errno> {
        let tmp = self.install(OUTPUT, FileType::Fifo, O_WRONLY, Device::Output(out))?;
        if tmp != fd {
            self.dup2(tmp, fd)?;
            self.close(tmp)?;
        }
        Ok(())
    }

    /// Whether `fd` is a terminal: never (`ENOTTY`), `EBADF` if not open.
    pub fn isatty(&self, fd: Fd) -> Result<bool, Errno> {
        self.fds.lock().get(fd).map(|_| false)
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.close_all();
    }
}
