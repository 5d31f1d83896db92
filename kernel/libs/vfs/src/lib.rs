//! The in-memory VFS: path resolution, the node tree, open semantics, the
//! file descriptor table, newc cpio unpacking and Linux errno values.
//!
//! # Design
//!
//! Pure data structures: no locks, no threads, no blocking, no `unsafe`, and
//! no panics on any input (paths, flags, descriptor numbers, archives).
//! The kernel owns concurrency: it wraps a [`Tree`] (global) and each
//! program's [`FdTable`] in its own locks, and does all waiting. Every
//! operation returns a Linux [`Errno`] on failure, the one Linux returns in
//! the same case; the order of checks follows Linux where two errors apply.
//!
//! * [`path`]: byte-string paths. A [`Path`] is the path a program passed
//!   plus the working directory relative paths resolve against (`/` unless
//!   built with [`Path::at`]; the kernel keeps each program's working
//!   directory as a normalised absolute path, see [`path::normalize`]).
//!   A NUL inside → `EINVAL`; empty → `ENOENT`; 4096 bytes or more
//!   (`PATH_MAX` counts the NUL) or a component over 255 bytes →
//!   `ENAMETOOLONG`. `//` is `/`, `.` is the current directory, `..` the parent (at
//!   the root, the root). Resolution walks the tree: a component followed by
//!   anything (including `..`) must be a directory (`ENOTDIR`) and exist
//!   (`ENOENT`); a trailing slash, `.` or `..` at the end requires a
//!   directory (`ENOTDIR` on a file).
//! * [`Tree`]: directories, regular files (bytes in memory) and special
//!   nodes. A special node carries an opaque [`SpecialId`] the kernel maps to
//!   its device, a presented type (`S_IFCHR` or `S_IFREG`) and permission
//!   bits. Inode numbers start at 1 (the root) and are never reused.
//!   Permission bits are recorded and reported but never checked: programs
//!   run as root. [`Limits`] bound inode count, data bytes and the memory
//!   the tree holds (data as allocated, names, per-inode and per-entry
//!   overheads), all with `ENOSPC`; the kernel sets the memory bound from
//!   its budget, so a full tree is an errno, never a failed allocation.
//!   Names of new entries must not be empty or contain `/` or NUL
//!   (`EINVAL`).
//! * Several paths for one device: there is no mount table; two directory
//!   entries (distinct inodes) carry the same [`SpecialId`], like
//!   Linux's `/proc/xen/xenbus` (xenfs, `S_IFREG 0600`) and
//!   `/dev/xen/xenbus` (misc device, `S_IFCHR 0600`). Directories can be
//!   marked as mount points so that `rmdir` gives `EBUSY` as on Linux.
//!   [`Tree::add_standard_layout`] builds `/proc/xen/{xenbus,capabilities}`,
//!   `/dev/xen/xenbus`, `/tmp` and `/etc`.
//! * [`FdTable<S>`]: one per program (threads of a program share it). `S`
//!   is the kernel's per-open state for special nodes, created by a callback
//!   of [`Tree::open`] and handed back by [`Tree::close`]. Descriptors are
//!   allocated lowest-free-first in `0..FD_LIMIT` ([`FD_LIMIT`] = 64; one
//!   more is `EMFILE`). A descriptor refers to an open file description
//!   (access mode, `O_APPEND`, `O_NONBLOCK`, offset) and has its own
//!   close-on-exec flag; [`Tree::dup`] and [`Tree::dup2`] share a
//!   description between descriptors, which then share its offset and
//!   status flags, as on Linux. [`Tree::open_anonymous`] opens a
//!   description that is no node of the tree (pipe ends, sockets, a
//!   program's captured output): the kernel gives its type and state.
//! * Regular-file I/O is done here; a read or write on a special node
//!   returns [`Io::Special`] with the per-open state, after the access-mode
//!   check, and the kernel does the transfer (and, when the device says
//!   `EAGAIN` on a blocking descriptor, waits on the node's queue and
//!   retries).
//! * [`cpio`]: the newc archive parser that populates the tree.
//!
//! # Errors per operation
//!
//! "Path errors" means `ENOENT` (empty path, missing component),
//! `ENAMETOOLONG`, `ENOTDIR` (a non-final component is not a directory),
//! and `EINVAL` for a working directory that is not absolute.
//!
//! | operation | errors |
//! |-----------|--------|
//! | [`Tree::lookup`], [`Tree::stat`] | path errors; `ENOTDIR` trailing `/` on a non-directory |
//! | [`Tree::mkdir`] | path errors; `EEXIST` exists (also `/`, `.`, `..`); `ENOSPC` |
//! | [`Tree::rmdir`] | path errors; `EBUSY` `/` or mount point; `EINVAL` last is `.`; `ENOTEMPTY` last is `..` or not empty; `ENOTDIR` not a directory |
//! | [`Tree::unlink`] | path errors; `EISDIR` a directory (also `/`, `.`, `..`); `ENOTDIR` trailing `/` on a file; `EPERM` a fixed node (xenfs, device nodes) |
//! | [`Tree::rename`] | path errors; `EBUSY` `/`, `.`, `..`, mount points; `EPERM` a fixed node; `EINVAL` a directory into itself; `EISDIR`/`ENOTDIR` type mismatch; `ENOTEMPTY`; `ENOSPC` |
//! | [`Tree::create_file`], [`Tree::create_special`] | path errors; `EISDIR` trailing `/`; `EEXIST`; `EINVAL` bad special type; `ENOSPC` |
//! | [`Tree::link`] | path errors; `ENOENT` missing; `ENOTDIR` trailing `/` on the file; `EPERM` a directory or special node; `EEXIST` new name exists (or `/`, `.`, `..`); `EMLINK`; `ENOSPC` |
//! | [`Tree::readdir`] | path errors; `ENOTDIR` |
//! | [`Tree::open`] | `EINVAL` `O_ACCMODE` or `O_CREAT\|O_DIRECTORY`; `EMFILE`; path errors; `EISDIR` `O_CREAT` with a trailing `/`; `EEXIST` `O_CREAT\|O_EXCL` on existing; `EISDIR` directory with write access, `O_TRUNC` or `O_CREAT`; `ENOTDIR` `O_DIRECTORY` or trailing `/` on a non-directory; `ENOENT` missing without `O_CREAT`; `ENOSPC`; the special callback's error |
//! | [`Tree::close`] | `EBADF` |
//! | [`Tree::open_anonymous`] | `EINVAL` `O_ACCMODE`; `EMFILE`; `ENFILE` |
//! | [`Tree::dup`] | `EBADF`; `EINVAL` minimum outside `0..FD_LIMIT`; `EMFILE` |
//! | [`Tree::dup2`] | `EBADF` `old` not open or `new` outside `0..FD_LIMIT` |
//! | [`Tree::read`] | `EBADF` not open or `O_WRONLY`; `EISDIR` directory |
//! | [`Tree::write`] | `EBADF` not open or `O_RDONLY` (every directory); `EFBIG` past `i64::MAX`; `ENOSPC`; `ENOMEM` |
//! | [`Tree::lseek`] | `EBADF`; `ESPIPE` special node; `EINVAL` bad whence, negative result, `SEEK_END` on a directory |
//! | [`Tree::fstat`] | `EBADF` |
//! | [`Tree::ftruncate`] | `EBADF`; `EINVAL` negative length, not a regular file open for writing; `EFBIG`; `ENOSPC` |
//! | [`Tree::getdents`] | `EBADF`; `ENOTDIR` |
//! | [`FdTable::getfl`], [`FdTable::setfl`] | `EBADF` (`F_SETFL` changes only `O_APPEND` and `O_NONBLOCK`) |
//! | [`FdTable::getfd`], [`FdTable::setfd`] | `EBADF` (only `FD_CLOEXEC`) |
//!
//! `O_TRUNC` empties a regular file whatever the access mode (as Linux does,
//! even with `O_RDONLY`) and is ignored on special nodes. Unknown `open`
//! flag bits (`O_CLOEXEC`, `O_NOCTTY`, …) are ignored.
//!
//! `readdir`/`getdents` order: `.`, `..`, then entries in creation order
//! (stable while entries are added and removed; a position is a cookie that
//! stays valid).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod cpio;
mod errno;
mod fd;
mod file;
pub mod flags;
pub mod path;
mod tree;

pub use errno::Errno;
pub use fd::{Fd, FdTable, Handle, OpenFile, FD_CLOEXEC, FD_LIMIT, F_GETFL, F_SETFL, SETFL_MASK};
pub use file::Io;
pub use flags::{AccessMode, FileType, OpenFlags};
pub use path::Path;
pub use tree::{
    DirEntry, Ino, Limits, SpecialId, Stat, Tree, DIRENT_SIZE, ENTRY_OVERHEAD, INODE_OVERHEAD, MAX_FILE_SIZE, ROOT_INO,
};
