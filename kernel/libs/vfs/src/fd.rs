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

/// An open file description: what `open` created, shared by the
/// descriptors `dup` makes from it.
#[derive(Debug)]
pub struct OpenFile<S> {
    /// The node; for an anonymous description a number of its own that no
    /// node has.
    pub(crate) ino: Ino,
    /// The type of an anonymous description (a pipe end, a socket): one
    /// that is not a node of the tree ([`crate::Tree::open_anonymous`]).
    pub(crate) anon: Option<crate::flags::FileType>,
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

    /// The type of an anonymous description, `None` for a node of the tree.
    pub fn anonymous(&self) -> Option<crate::flags::FileType> {
        self.anon
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
/// most [`FD_LIMIT`].
///
/// A descriptor refers to an open file description; `dup`/`dup2`
/// ([`crate::Tree::dup`], [`crate::Tree::dup2`]) make another descriptor
/// for the same description, which then shares the offset and the status
/// flags, as on Linux. A description ends with its last descriptor.
/// The close-on-exec flag (`FD_CLOEXEC`) belongs to the descriptor.
/// Entries are added and removed only through [`crate::Tree`] (`open`,
/// `open_anonymous`, `dup`, `dup2`, `close`), which keep the tree's open
/// counts right.
#[derive(Debug)]
pub struct FdTable<S> {
    /// Per descriptor number: (description index, close-on-exec).
    slots: Vec<Option<(usize, bool)>>,
    /// The descriptions with their descriptor counts.
    descs: Vec<Option<(OpenFile<S>, u32)>>,
}

impl<S> Default for FdTable<S> {
    fn default() -> Self {
        FdTable::new()
    }
}

/// `FD_CLOEXEC`, the only descriptor flag (`F_GETFD`/`F_SETFD`).
pub const FD_CLOEXEC: u32 = 1;

impl<S> FdTable<S> {
    /// An empty table.
    pub fn new() -> Self {
        FdTable { slots: Vec::new(), descs: Vec::new() }
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
        self.lowest_free(0).is_none()
    }

    /// Number of open file descriptions (at most [`FdTable::len`]).
    pub fn descriptions(&self) -> usize {
        self.descs.iter().filter(|d| d.is_some()).count()
    }

    /// The open descriptors, in increasing order.
    pub fn fds(&self) -> impl Iterator<Item = Fd> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).filter_map(|(i, _)| Fd::try_from(i).ok())
    }

    fn lowest_free(&self, from: usize) -> Option<usize> {
        match self.slots.iter().enumerate().skip(from).position(|(_, s)| s.is_none()) {
            Some(i) => Some(from + i),
            None => Some(self.slots.len().max(from)).filter(|&i| i < FD_LIMIT),
        }
    }

    fn index(fd: Fd) -> Result<usize, Errno> {
        usize::try_from(fd).ok().filter(|&i| i < FD_LIMIT).ok_or(Errno::EBADF)
    }

    fn desc_of(&self, fd: Fd) -> Result<usize, Errno> {
        self.slots.get(Self::index(fd)?).and_then(|s| s.map(|(d, _)| d)).ok_or(Errno::EBADF)
    }

    /// The description behind `fd`. Errors: `EBADF` when `fd` is not open
    /// (negative and out-of-range numbers included).
    pub fn get(&self, fd: Fd) -> Result<&OpenFile<S>, Errno> {
        let d = self.desc_of(fd)?;
        self.descs.get(d).and_then(|s| s.as_ref()).map(|(f, _)| f).ok_or(Errno::EBADF)
    }

    /// The description behind `fd`, mutably. Errors: as [`FdTable::get`].
    pub fn get_mut(&mut self, fd: Fd) -> Result<&mut OpenFile<S>, Errno> {
        let d = self.desc_of(fd)?;
        self.descs.get_mut(d).and_then(|s| s.as_mut()).map(|(f, _)| f).ok_or(Errno::EBADF)
    }

    /// Whether `a` and `b` are open and refer to the same description.
    pub fn same_description(&self, a: Fd, b: Fd) -> bool {
        matches!((self.desc_of(a), self.desc_of(b)), (Ok(x), Ok(y)) if x == y)
    }

    /// `fcntl(fd, F_GETFL)`: see [`OpenFile::flags`]. Errors: `EBADF`.
    pub fn getfl(&self, fd: Fd) -> Result<u32, Errno> {
        Ok(self.get(fd)?.flags())
    }

    /// `fcntl(fd, F_SETFL, flags)`: sets `O_APPEND` and `O_NONBLOCK` as in
    /// `flags` and ignores every other bit (access mode, `O_CREAT`, …).
    /// The change is seen through every descriptor of the description.
    /// Errors: `EBADF`.
    pub fn setfl(&mut self, fd: Fd, flags: u32) -> Result<(), Errno> {
        let f = self.get_mut(fd)?;
        f.status = OpenFlags::from_bits_truncate(flags) & SETFL_MASK;
        Ok(())
    }

    /// `fcntl(fd, F_GETFD)`: [`FD_CLOEXEC`] or 0. Errors: `EBADF`.
    pub fn getfd(&self, fd: Fd) -> Result<u32, Errno> {
        match self.slots.get(Self::index(fd)?) {
            Some(Some((_, cloexec))) => Ok(if *cloexec { FD_CLOEXEC } else { 0 }),
            _ => Err(Errno::EBADF),
        }
    }

    /// `fcntl(fd, F_SETFD, flags)`: sets close-on-exec from bit
    /// [`FD_CLOEXEC`] (other bits ignored). Errors: `EBADF`.
    pub fn setfd(&mut self, fd: Fd, flags: u32) -> Result<(), Errno> {
        match self.slots.get_mut(Self::index(fd)?) {
            Some(Some((_, cloexec))) => {
                *cloexec = flags & FD_CLOEXEC != 0;
                Ok(())
            }
            _ => Err(Errno::EBADF),
        }
    }

    fn place(&mut self, i: usize, desc: usize, cloexec: bool) {
        while self.slots.len() <= i {
            self.slots.push(None);
        }
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some((desc, cloexec));
        }
    }

    fn trim(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        while matches!(self.descs.last(), Some(None)) {
            self.descs.pop();
        }
    }

    /// Installs a new description at the lowest free number. Errors:
    /// `EMFILE`.
    pub(crate) fn insert(&mut self, file: OpenFile<S>, cloexec: bool) -> Result<Fd, Errno> {
        let i = self.lowest_free(0).ok_or(Errno::EMFILE)?;
        let fd = Fd::try_from(i).map_err(|_| Errno::EMFILE)?;
        let d = match self.descs.iter().position(|d| d.is_none()) {
            Some(d) => {
                if let Some(slot) = self.descs.get_mut(d) {
                    *slot = Some((file, 1));
                }
                d
            }
            None => {
                self.descs.push(Some((file, 1)));
                self.descs.len() - 1
            }
        };
        self.place(i, d, cloexec);
        Ok(fd)
    }

    /// Removes `fd`; returns its description when this was the last
    /// descriptor for it. Errors: `EBADF`.
    pub(crate) fn remove(&mut self, fd: Fd) -> Result<Option<OpenFile<S>>, Errno> {
        let i = Self::index(fd)?;
        let (d, _) = self.slots.get_mut(i).and_then(|s| s.take()).ok_or(Errno::EBADF)?;
        let last = match self.descs.get_mut(d) {
            Some(Some((_, refs))) => {
                *refs = refs.saturating_sub(1);
                *refs == 0
            }
            _ => false,
        };
        let file = if last { self.descs.get_mut(d).and_then(|s| s.take()).map(|(f, _)| f) } else { None };
        self.trim();
        Ok(file)
    }

    /// A new descriptor for `fd`'s description: the lowest free number at
    /// or above `min` (`F_DUPFD`; `dup` is `min` 0), close-on-exec as
    /// given. Errors: `EBADF`; `EINVAL` for `min` outside `0..FD_LIMIT`;
    /// `EMFILE`.
    pub(crate) fn dup_from(&mut self, fd: Fd, min: Fd, cloexec: bool) -> Result<Fd, Errno> {
        let d = self.desc_of(fd)?;
        let from = usize::try_from(min).ok().filter(|&m| m < FD_LIMIT).ok_or(Errno::EINVAL)?;
        let i = self.lowest_free(from).ok_or(Errno::EMFILE)?;
        let new = Fd::try_from(i).map_err(|_| Errno::EMFILE)?;
        if let Some(Some((_, refs))) = self.descs.get_mut(d) {
            *refs = refs.saturating_add(1);
        }
        self.place(i, d, cloexec);
        Ok(new)
    }

    /// Makes `new` refer to `old`'s description (close-on-exec clear);
    /// returns the description `new` referred to before, if that was its
    /// last descriptor (for the caller to release). `old == new` changes
    /// nothing. Errors: `EBADF` when `old` is not open or `new` is out of
    /// range.
    pub(crate) fn dup_to(&mut self, old: Fd, new: Fd) -> Result<Option<OpenFile<S>>, Errno> {
        let d = self.desc_of(old)?;
        let i = Self::index(new)?;
        if old == new {
            return Ok(None);
        }
        let closed = if matches!(self.slots.get(i), Some(Some(_))) { self.remove(new)? } else { None };
        if let Some(Some((_, refs))) = self.descs.get_mut(d) {
            *refs = refs.saturating_add(1);
        }
        self.place(i, d, false);
        Ok(closed)
    }
}
