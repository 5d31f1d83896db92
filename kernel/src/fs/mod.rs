//! The file API for in-guest programs, shaped like POSIX: `open`, `read`,
//! `write`, `close`, `poll`, `lseek`, `fstat`, `stat`, `mkdir`, `rmdir`,
//! `unlink`, `readdir`, `fcntl`. Errors are Linux errno values.
//!
//! The tree and descriptor tables are the `vfs` crate's; this module adds
//! the devices (xenfs) and waiting. A [`Program`] owns a descriptor table
//! ([`vfs::FD_LIMIT`] = 64 descriptors); the threads of one program share
//! it through an `Arc`.
//!
//! # Concurrency
//! * `TREE` (an `IrqLock`) protects the node tree; held for one operation,
//!   never across a wait.
//! * A program's `fds` (an `IrqLock`) protects its descriptor table; held to
//!   look a descriptor up or change the table, never across a device
//!   operation: the per-open device state is an `Arc` cloned out of it.
//! * Lock order: `fds`, then `TREE` (both may be held for a regular-file
//!   operation); device locks (`xenfs`) are taken with neither held.
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

pub use vfs::flags::{O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
pub use vfs::{DirEntry, Errno, Fd, Stat};
use vfs::{FdTable, Io, SpecialId, Tree};

use crate::arch::irq::IrqLock;
use crate::xenfs::{self, XenbusOpen};

/// The xenbus device's id in the tree.
const XENBUS: SpecialId = SpecialId(1);

/// Per-open state of a device node.
#[derive(Clone)]
pub enum Device {
    Xenbus(Arc<XenbusOpen>),
}

static TREE: IrqLock<Option<Tree>> = IrqLock::new(None);

/// `poll` events.
pub const POLLIN: u16 = 0x001;
/// `poll` events.
pub const POLLOUT: u16 = 0x004;
/// `poll` events.
pub const POLLRDNORM: u16 = 0x040;
/// `poll` events: `fd` is not open.
pub const POLLNVAL: u16 = 0x020;

/// `fcntl` commands.
pub use vfs::{F_GETFL, F_SETFL};

/// One entry of a `poll` set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    pub fd: Fd,
    pub events: u16,
    pub revents: u16,
}

/// Builds the tree: `/proc/xen/{xenbus,capabilities}`, `/dev/xen/xenbus`,
/// `/tmp`, `/etc`, and the files of the boot module (a newc cpio archive
/// given as `ramdisk=`), if any. Returns what was unpacked.
pub fn init(module: Option<&[u8]>) -> Result<Option<vfs::cpio::Unpacked>, String> {
    let mut t = Tree::new();
    let layout = t.add_standard_layout(XENBUS, None).map_err(|e| alloc::format!("standard layout: {}", e));
    // A bad archive is reported, and whatever it applied before the bad
    // entry stays: the kernel keeps running either way.
    let unpacked = match module {
        Some(bytes) => vfs::cpio::unpack(&mut t, bytes).map(Some).map_err(|e| alloc::format!("boot module: {:?}", e)),
        None => Ok(None),
    };
    *TREE.lock() = Some(t);
    layout?;
    unpacked
}

fn with_tree<R>(f: impl FnOnce(&mut Tree) -> R) -> R {
    let mut g = TREE.lock();
    f(g.as_mut().expect("fs::init ran"))
}

/// A program: a descriptor table shared by its threads.
pub struct Program {
    fds: IrqLock<FdTable<Device>>,
}

impl Default for Program {
    fn default() -> Self {
        Self::new()
    }
}

impl Program {
    /// A program with no open descriptors.
    pub fn new() -> Program {
        Program { fds: IrqLock::new(FdTable::new()) }
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
        let dev = {
            let mut fds = self.fds.lock();
            let r = with_tree(|t| match t.read(&mut fds, fd, buf)? {
                Io::Done(n) => Ok(Ok(n)),
                Io::Special { state, nonblocking, .. } => Ok(Err((state.clone(), nonblocking))),
            });
            match r? {
                Ok(n) => return Ok(n),
                Err(d) => d,
            }
        };
        match dev {
            (Device::Xenbus(x), nonblocking) => x.read(buf, nonblocking),
        }
    }

    /// `write(2)`.
    ///
    /// # Yields
    pub fn write(&self, fd: Fd, buf: &[u8]) -> Result<usize, Errno> {
        let dev = {
            let mut fds = self.fds.lock();
            let r = with_tree(|t| match t.write(&mut fds, fd, buf)? {
                Io::Done(n) => Ok(Ok(n)),
                Io::Special { state, .. } => Ok(Err(state.clone())),
            });
            match r? {
                Ok(n) => return Ok(n),
                Err(d) => d,
            }
        };
        match dev {
            Device::Xenbus(x) => x.write(buf),
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
        if let Some(Device::Xenbus(x)) = dev {
            x.close();
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
            match d {
                Device::Xenbus(x) => x.close(),
            }
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

    /// `fcntl(F_GETFL)` / `fcntl(F_SETFL, flags)` (only `O_NONBLOCK` and
    /// `O_APPEND` change).
    pub fn fcntl(&self, fd: Fd, cmd: u32, arg: u32) -> Result<u32, Errno> {
        let mut fds = self.fds.lock();
        match cmd {
            F_GETFL => fds.getfl(fd),
            F_SETFL => fds.setfl(fd, arg).map(|_| 0),
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
        let deadline = if timeout_ms < 0 { u64::MAX } else { crate::time::now_ns() + timeout_ms as u64 * 1_000_000 };
        loop {
            let mut gens: Vec<(Arc<XenbusOpen>, u64)> = Vec::new();
            let mut ready = 0;
            for p in set.iter_mut() {
                p.revents = 0;
                if p.fd < 0 {
                    continue;
                }
                let mask = match self.device(p.fd) {
                    Err(_) => POLLNVAL,
                    Ok(None) => (POLLIN | POLLRDNORM | POLLOUT | 0x100/* POLLWRNORM */) & p.events,
                    Ok(Some((Device::Xenbus(x), _))) => {
                        gens.push((x.clone(), x.generation()));
                        (x.poll() as u16) & (p.events | POLLNVAL)
                    }
                };
                p.revents = mask;
                if mask != 0 {
                    ready += 1;
                }
            }
            if ready > 0 || timeout_ms == 0 || crate::time::now_ns() >= deadline {
                return Ok(ready);
            }
            xenfs::ACTIVITY.wait_until_deadline(|| gens.iter().any(|(x, g)| x.changed_since(*g)), deadline);
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// `stat(2)`.
pub fn stat(path: &str) -> Result<Stat, Errno> {
    with_tree(|t| t.stat(path))
}

/// `mkdir(2)`.
pub fn mkdir(path: &str, mode: u32) -> Result<(), Errno> {
    with_tree(|t| t.mkdir(path, mode)).map(|_| ())
}

/// `rmdir(2)`.
pub fn rmdir(path: &str) -> Result<(), Errno> {
    with_tree(|t| t.rmdir(path))
}

/// `unlink(2)`.
pub fn unlink(path: &str) -> Result<(), Errno> {
    with_tree(|t| t.unlink(path))
}

/// The entries of a directory by path.
pub fn readdir(path: &str) -> Result<Vec<DirEntry>, Errno> {
    with_tree(|t| t.readdir(path))
}
