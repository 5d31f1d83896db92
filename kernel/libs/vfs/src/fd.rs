//! The per-program descriptor table and open file descriptions.

use alloc::vec::Vec;

use crate::flags::{AccessMode, OpenFlags};
use crate::tree::{Ino, SpecialId};
use crate::Errno;

/// A descriptor number as system calls carry it.
pub type Fd = i32;

/// Descriptors per table (`RLIMIT_NOFILE`): numbers `0..FD_LIMIT`; opening
/// one more is `EMFILE`.
pub const FD_LIMIT: usize = 64;

/// `fcntl` commands this crate implements the semantics of.
pub const F_GETFL: u32 = 3;
/// See [`F_GETFL`].
pub const F_SETFL: u32 = 4;

/// The status flags `F_SETFL` may change; all other bits are ignored.
pub const SETFL_MASK: OpenFlags = OpenFlags::APPEND.union(OpenFlags::NONBLOCK);

/// What an open file description refers to.
#[derive(Debug)]
pub enum Handle<S> {
    /// A regular file; the description's offset is the file position.
    Regular,
    /// A directory; the offset is the `getdents` position.
    Directory,
    /// A special node, with the kernel's per-open state for it.
    Special {
        /// The node's special id.
        id: SpecialId,
        /// The kernel's per-open state, created by the `open` callback.
        state: S,
    },
}

/// An open file description: what `open` created, shared by nothing else
/// (this crate has no `dup`).
#[derive(Debug)]
pub struct OpenFile<S> {
    pub(crate) ino: Ino,
    pub(crate) access: AccessMode,
    pub(crate) status: OpenFlags,
    pub(crate) offset: u64,
    pub(crate) handle: Handle<S>,
}

impl<S> OpenFile<S> {
    /// The inode this description refers to.
    pub fn ino(&self) -> Ino {
        self.ino
    }

    /// The access mode given to `open`.
    pub fn access(&self) -> AccessMode {
        self.access
    }

    /// The `F_GETFL` value: access mode bits plus `O_APPEND`/`O_NONBLOCK`
    /// when set.
    pub fn flags(&self) -> u32 {
        self.access.bits() | self.status.bits()
    }

    /// `O_NONBLOCK` is set: a special node's read that would block returns
    /// `EAGAIN` instead of waiting.
    pub fn is_nonblocking(&self) -> bool {
        self.status.contains(OpenFlags::NONBLOCK)
    }

    /// `O_APPEND` is set.
    pub fn is_append(&self) -> bool {
        self.status.contains(OpenFlags::APPEND)
    }

    /// The current offset (file position, or directory position).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// What the description refers to.
    pub fn handle(&self) -> &Handle<S> {
        &self.handle
    }

    /// The special id and state, for a special node.
    pub fn special(&self) -> Option<(SpecialId, &S)> {
        match &self.handle {
            Handle::Special { id, state } => Some((*id, state)),
            _ => None,
        }
    }

    /// The special id and mutable state, for a special node.
    pub fn special_mut(&mut self) -> Option<(SpecialId, &mut S)> {
        match &mut self.handle {
            Handle::Special { id, state } => Some((*id, state)),
            _ => None,
        }
    }
}

/// A program's descriptor table, generic over the kernel's per-open state
/// `S` for special nodes. Descriptors are allocated lowest-free-first, at
/// most [`FD_LIMIT`]. Entries are added and removed only through
/// [`crate::Tree::open`] and [`crate::Tree::close`], which keep the tree's
/// open counts right.
#[derive(Debug)]
pub struct FdTable<S> {
    slots: Vec<Option<OpenFile<S>>>,
}

impl<S> Default for FdTable<S> {
    fn default() -> Self {
        FdTable::new()
    }
}

impl<S> FdTable<S> {
    /// An empty table.
    pub fn new() -> Self {
        FdTable { slots: Vec::new() }
    }

    /// Number of open descriptors.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// No descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All [`FD_LIMIT`] descriptors are in use: the next open is `EMFILE`.
    pub fn is_full(&self) -> bool {
        self.lowest_free().is_none()
    }

    /// The open descriptors, in increasing order.
    pub fn fds(&self) -> impl Iterator<Item = Fd> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).filter_map(|(i, _)| Fd::try_from(i).ok())
    }

    fn lowest_free(&self) -> Option<usize> {
        match self.slots.iter().position(|s| s.is_none()) {
            Some(i) => Some(i),
            None if self.slots.len() < FD_LIMIT => Some(self.slots.len()),
            None => None,
        }
    }

    fn index(fd: Fd) -> Result<usize, Errno> {
        usize::try_from(fd).ok().filter(|&i| i < FD_LIMIT).ok_or(Errno::EBADF)
    }

    /// The description behind `fd`. Errors: `EBADF` when `fd` is not open
    /// (negative and out-of-range numbers included).
    pub fn get(&self, fd: Fd) -> Result<&OpenFile<S>, Errno> {
        self.slots.get(Self::index(fd)?).and_then(|s| s.as_ref()).ok_or(Errno::EBADF)
    }

    /// The description behind `fd`, mutably. Errors: as [`FdTable::get`].
    pub fn get_mut(&mut self, fd: Fd) -> Result<&mut OpenFile<S>, Errno> {
        self.slots.get_mut(Self::index(fd)?).and_then(|s| s.as_mut()).ok_or(Errno::EBADF)
    }

    /// `fcntl(fd, F_GETFL)`: see [`OpenFile::flags`]. Errors: `EBADF`.
    pub fn getfl(&self, fd: Fd) -> Result<u32, Errno> {
        Ok(self.get(fd)?.flags())
    }

    /// `fcntl(fd, F_SETFL, flags)`: sets `O_APPEND` and `O_NONBLOCK` as in
    /// `flags` and ignores every other bit (access mode, `O_CREAT`, …).
    /// Errors: `EBADF`.
    pub fn setfl(&mut self, fd: Fd, flags: u32) -> Result<(), Errno> {
        let f = self.get_mut(fd)?;
        f.status = OpenFlags::from_bits_truncate(flags) & SETFL_MASK;
        Ok(())
    }

    /// Installs a description at the lowest free number. Errors: `EMFILE`.
    pub(crate) fn insert(&mut self, file: OpenFile<S>) -> Result<Fd, Errno> {
        let i = self.lowest_free().ok_or(Errno::EMFILE)?;
        let fd = Fd::try_from(i).map_err(|_| Errno::EMFILE)?;
        if i == self.slots.len() {
            self.slots.push(Some(file));
        } else if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some(file);
        }
        Ok(fd)
    }

    /// Removes `fd`. Errors: `EBADF`.
    pub(crate) fn remove(&mut self, fd: Fd) -> Result<OpenFile<S>, Errno> {
        let i = Self::index(fd)?;
        let f = self.slots.get_mut(i).and_then(|s| s.take()).ok_or(Errno::EBADF)?;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(f)
    }
}
