//! The file API for in-guest programs, shaped like POSIX: `open`, `read`,
//! `write`, `close`, `poll`, `lseek`, `fstat`, `stat`, `mkdir`, `rmdir`,
//! `unlink`, `readdir`, `fcntl`, `dup`/`dup2`, `pipe2`, `socket`/`connect`.
//! Errors are Linux errno values.
//!
//! The tree and descriptor tables are the `vfs` crate's; this module adds
//! the devices and waiting: the xenbus node (xenfs), `/dev/null`, pipes
//! (`pipe`), `AF_UNIX` sockets that connect nowhere and the output capture
//! of programs (`devices`). A [`Program`] owns a descriptor table
//! ([`vfs::FD_LIMIT`] = 64 descriptors); the threads of one program share
//! it through an `Arc`.
//!
//! # Memory
//! The tree's memory bound (`vfs::Limits::max_memory`) is the VFS's share
//! of the kernel budget; what the tree holds is also charged to the global
//! budget after every change (`VfsState::charge`), and the bound is lowered
//! to what the global budget still allows before every operation, so a
//! full tree is `ENOSPC`, never a failed allocation.
//!
//! # Concurrency
//! * `TREE` (a `ThreadLock`) protects the node tree and its charge; held
//!   for one operation, never across a wait.
//! * A program's `fds` (a `ThreadLock`) protects its descriptor table; held
//!   to look a descriptor up or change the table, never across a device
//!   operation: the per-open device state is an `Arc` cloned out of it.
//! * Lock order: `fds`, then `TREE` (both may be held for a regular-file
//!   operation); device locks (`xenfs`) are taken with neither held.
pub mod devices;
pub mod pipe;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kcore::budget::Charge;
pub use vfs::flags::{
    O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
};
pub use vfs::{DirEntry, Errno, Fd, FileType, Stat};
use vfs::{FdTable, Io, Limits, SpecialId, Tree};

use devices::{Output, Socket};
use pipe::PipeEnd;

use crate::mm::budget::GLOBAL;
use crate::sync::ThreadLock;
use crate::xenfs::{self, XenbusOpen};

/// The xenbus device's id in the tree.
const XENBUS: SpecialId = SpecialId(1);
/// `/proc/xen/xenbus-stats`.
const XENBUS_STATS: SpecialId = SpecialId(2);
/// `/dev/null`.
const NULL: SpecialId = SpecialId(3);
#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Anonymous descriptions: pipe ends, sockets, output captures.
const PIPE: SpecialId = SpecialId(100);
#[cfg_attr(not(feature = "programs"), allow(dead_code))]
const SOCKET: SpecialId = SpecialId(101);
#[cfg_attr(not(feature = "programs"), allow(dead_code))]
const OUTPUT: SpecialId = SpecialId(102);

/// A read-only snapshot file (its text is made at open).
pub struct TextFile {
    data: Vec<u8>,
    pos: ThreadLock<usize>,
}

impl TextFile {
    fn read(&self, buf: &mut [u8]) -> usize {
        let mut pos = self.pos.lock();
        let src = self.data.get(*pos..).unwrap_or_default();
        let n = src.len().min(buf.len());
        if let (Some(d), Some(s)) = (buf.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
        *pos += n;
        n
    }
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Per-open state of a device node or anonymous description.
#[derive(Clone)]
pub enum Device {
    Xenbus(Arc<XenbusOpen>),
    Text(Arc<TextFile>),
    /// `/dev/null`: reads end at once, writes vanish.
    Null,
    Pipe(PipeEnd),
    Socket(Arc<Socket>),
    /// A program's standard output or error.
    Output(Arc<Output>),
}

impl Device {
    /// Tears down what the description held (its last descriptor closed).
    fn end(self) {
        match self {
            Device::Xenbus(x) => x.close(),
            Device::Pipe(p) => p.close(),
            Device::Text(_) | Device::Null | Device::Socket(_) | Device::Output(_) => {}
        }
    }
}

struct VfsState {
    tree: Tree,
    /// What the tree's memory is charged to the global budget.
    charge: Charge,
}

impl VfsState {
    /// Lowers the tree's memory bound to what the global budget allows now.
    fn bound(&mut self) {
        let used = self.tree.memory_used();
        let room = (GLOBAL.available() as u64).min(crate::mm::budget::vfs_cap().saturating_sub(used));
        let l = self.tree.limits();
        self.tree.set_limits(Limits { max_memory: used.saturating_add(room), ..l });
    }

    /// Charges the global budget for what the tree holds now.
    fn charge(&mut self) {
        let used = self.tree.memory_used() as usize;
        let have = self.charge.bytes();
        if used > have {
            // Within the bound set by `bound`, so this is admitted; if a
            // race with another class made it not, the tree is still within
            // its own cap.
            let _ = self.charge.try_grow(used - have);
        } else {
            self.charge.shrink_to(used);
        }
    }
}

static TREE: ThreadLock<Option<VfsState>> = ThreadLock::new("vfs.tree", None);

/// `poll` events (the node's own bits come from its crate, which defines
/// the values it reports).
pub const POLLIN: u16 = xenbus_node::POLLIN as u16;
/// `poll` events.
pub const POLLOUT: u16 = 0x004;
/// `poll` events.
pub const POLLRDNORM: u16 = xenbus_node::POLLRDNORM as u16;
/// `poll` events.
pub const POLLERR: u16 = 0x008;
/// `poll` events.
pub const POLLHUP: u16 = 0x010;
/// `poll` events: `fd` is not open.
pub const POLLNVAL: u16 = 0x020;
/// `poll` events.
pub const POLLWRNORM: u16 = 0x100;

/// `fcntl` commands.
pub use vfs::{FD_CLOEXEC, F_GETFL, F_SETFL};
/// `fcntl(F_DUPFD)`.
pub const F_DUPFD: u32 = 0;
/// `fcntl(F_GETFD)`.
pub const F_GETFD: u32 = 1;
/// `fcntl(F_SETFD)`.
pub const F_SETFD: u32 = 2;
/// `fcntl(F_DUPFD_CLOEXEC)`.
pub const F_DUPFD_CLOEXEC: u32 = 1030;

/// One entry of a `poll` set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    pub fd: Fd,
    pub events: u16,
    pub revents: u16,
}

/// Builds the tree: `/proc/xen/{xenbus,capabilities}`, `/dev/xen/xenbus`,
/// `/dev/null`, `/tmp`, `/etc`, and the files of the boot module (a newc cpio archive
/// given as `ramdisk=`), if any. Returns what was unpacked.
pub fn init(module: Option<&[u8]>) -> Result<Option<vfs::cpio::Unpacked>, String> {
    let limits = Limits { max_memory: crate::mm::budget::vfs_cap(), ..Limits::default() };
    let mut t = Tree::with_limits(limits);
    let layout = t
        .add_standard_layout(XENBUS, None)
        .and_then(|()| t.create_special("/proc/xen/xenbus-stats", vfs::flags::S_IFREG | 0o444, XENBUS_STATS))
        .and_then(|i| t.mark_fixed(i))
        .and_then(|()| t.create_special("/dev/null", vfs::flags::S_IFCHR | 0o666, NULL))
        .and_then(|i| t.mark_fixed(i))
        .map_err(|e| alloc::format!("standard layout: {}", e));
    let mut st = VfsState { tree: t, charge: GLOBAL.try_charge(0).unwrap_or_default() };
    st.bound();
    // A bad archive is reported, and whatever it applied before the bad
    // entry stays: the kernel keeps running either way.
    let unpacked = match module {
        Some(bytes) => {
            vfs::cpio::unpack(&mut st.tree, bytes).map(Some).map_err(|e| alloc::format!("boot module: {:?}", e))
        }
        None => Ok(None),
    };
    st.charge();
    *TREE.lock() = Some(st);
    layout?;
    unpacked
}

/// Runs `f` on the tree with its memory bound set from the budget, and
/// charges what it holds afterwards.
fn with_tree<R>(f: impl FnOnce(&mut Tree) -> R) -> R {
    let mut g = TREE.lock();
    match g.as_mut() {
        Some(st) => {
            st.bound();
            let r = f(&mut st.tree);
            st.charge();
            r
        }
        None => {
            // Before fs::init: an empty tree answers (ENOENT and the like).
            let mut t = Tree::with_limits(Limits { max_inodes: 1, max_bytes: 0, max_memory: 0 });
            f(&mut t)
        }
    }
}

mod program;
pub use program::{Program, POLL_MAX_ENTRIES};

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

/// `rename(2)`.
pub fn rename(from: &str, to: &str) -> Result<(), Errno> {
    with_tree(|t| t.rename(from, to))
}

/// Bytes the VFS holds (accounted), for diagnostics and tests.
pub fn memory_used() -> u64 {
    TREE.lock().as_ref().map(|s| s.tree.memory_used()).unwrap_or(0)
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// The whole contents of the regular file at `path` (a copy, charged to
/// nobody: the caller holds it briefly). Errors: those of `stat`; `EISDIR`
/// for a directory; `EINVAL` for a special node; `ENOMEM`.
pub fn read_file(path: &str) -> Result<Vec<u8>, Errno> {
    with_tree(|t| {
        let ino = t.lookup(path)?;
        let st = t.stat_ino(ino)?;
        match st.file_type {
            FileType::Directory => return Err(Errno::EISDIR),
            _ if st.special.is_some() => return Err(Errno::EINVAL),
            _ => {}
        }
        let len = usize::try_from(st.size).map_err(|_| Errno::ENOMEM)?;
        let mut out = Vec::new();
        out.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
        out.resize(len, 0);
        let n = t.read_at(ino, 0, &mut out)?;
        out.truncate(n);
        Ok(out)
    })
}

/// The entries of a directory by path.
pub fn readdir(path: &str) -> Result<Vec<DirEntry>, Errno> {
    with_tree(|t| t.readdir(path))
}
