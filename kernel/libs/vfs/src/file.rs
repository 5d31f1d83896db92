//! Descriptor operations: `open`, `close`, `read`, `write`, `lseek`,
//! `fstat`, `ftruncate`, `getdents`, on a [`Tree`] and an [`FdTable`].

use alloc::vec::Vec;

use crate::fd::{Fd, FdTable, Handle, OpenFile};
use crate::flags::{AccessMode, FileType, OpenFlags, O_CLOEXEC, SEEK_CUR, SEEK_END, SEEK_SET};
use crate::path::Path;
use crate::tree::{DirEntry, Last, NodeKind, SpecialId, Stat, Tree, MAX_FILE_SIZE};
use crate::Errno;

/// The outcome of [`Tree::read`] / [`Tree::write`].
#[derive(Debug)]
pub enum Io<'a, S> {
    /// The VFS did the transfer: this many bytes.
    Done(usize),
    /// The descriptor is a special node: the kernel performs the transfer
    /// with its device (access mode already checked). When the device would
    /// block and `nonblocking` is false, the kernel waits and retries.
    Special {
        /// The node's special id.
        id: SpecialId,
        /// The per-open state the `open` callback created.
        state: &'a mut S,
        /// `O_NONBLOCK` is set on the description.
        nonblocking: bool,
    },
}

fn new_offset(base: u64, delta: i64) -> Result<u64, Errno> {
    let r = i64::try_from(base).ok().and_then(|b| b.checked_add(delta)).ok_or(Errno::EINVAL)?;
    u64::try_from(r).map_err(|_| Errno::EINVAL)
}

impl Tree {
    /// `open(2)`. `flags` are Linux's (see [`OpenFlags`]); `mode & 07777`
    /// becomes the permission bits of a file `O_CREAT` creates (no umask).
    /// For a special node, `special(id, flags)` is called to create the
    /// kernel's per-open state; its error fails the open, leaving nothing
    /// behind.
    ///
    /// Checks, in order (first failure wins):
    /// 1. `O_ACCMODE` (both access bits) → `EINVAL`; `O_CREAT|O_DIRECTORY`
    ///    → `EINVAL` (Linux ≥ 6.4);
    /// 2. the table is full → `EMFILE`;
    /// 3. path errors (`ENOENT` empty, `ENAMETOOLONG`), a missing parent
    ///    component → `ENOENT`, a parent component that is not a directory →
    ///    `ENOTDIR`;
    /// 4. `O_CREAT` and a trailing slash → `EISDIR`;
    /// 5. path exists: `O_CREAT|O_EXCL` → `EEXIST`; a directory opened with
    ///    `O_CREAT`, for writing or with `O_TRUNC` → `EISDIR`; a
    ///    non-directory with `O_DIRECTORY` or a trailing slash → `ENOTDIR`;
    /// 6. path missing: without `O_CREAT` → `ENOENT`; otherwise a regular
    ///    file is created (`ENOSPC` at the limits).
    ///
    /// `O_TRUNC` empties an existing regular file whatever the access mode
    /// (Linux does this even for `O_RDONLY`); it is ignored on special nodes.
    /// Permission bits are not checked: programs run as root.
    pub fn open<'p, S>(
        &mut self,
        table: &mut FdTable<S>,
        path: impl Into<Path<'p>>,
        flags: u32,
        mode: u32,
        special: impl FnOnce(SpecialId, OpenFlags) -> Result<S, Errno>,
    ) -> Result<Fd, Errno> {
        let access = AccessMode::from_flags(flags)?;
        let of = OpenFlags::from_bits_truncate(flags);
        if of.contains(OpenFlags::CREAT | OpenFlags::DIRECTORY) {
            return Err(Errno::EINVAL);
        }
        if table.is_full() {
            return Err(Errno::EMFILE);
        }
        let r = self.resolve(path.into())?;
        if of.contains(OpenFlags::CREAT) && r.must_be_dir && matches!(r.last, Last::Name(_)) {
            // Linux: O_CREAT with a trailing slash, whether the name exists or not.
            return Err(Errno::EISDIR);
        }
        let ino = match self.target(&r)? {
            Some(ino) => {
                if of.contains(OpenFlags::CREAT | OpenFlags::EXCL) {
                    return Err(Errno::EEXIST);
                }
                if self.is_dir(ino) {
                    if of.intersects(OpenFlags::CREAT | OpenFlags::TRUNC) || access.writable() {
                        return Err(Errno::EISDIR);
                    }
                } else if of.contains(OpenFlags::DIRECTORY) || r.must_be_dir {
                    return Err(Errno::ENOTDIR);
                }
                ino
            }
            None => {
                if !of.contains(OpenFlags::CREAT) {
                    return Err(Errno::ENOENT);
                }
                if r.must_be_dir {
                    return Err(Errno::EISDIR);
                }
                let Last::Name(name) = r.last else { return Err(Errno::ENOENT) };
                self.create_in(r.parent, name, mode)?
            }
        };
        let handle = match self.kind(ino)? {
            NodeKind::Dir => Handle::Directory,
            NodeKind::File => {
                if of.contains(OpenFlags::TRUNC) {
                    self.set_len(ino, 0)?;
                }
                Handle::Regular
            }
            NodeKind::Special(id) => Handle::Special { id, state: special(id, of)? },
        };
        self.acquire(ino)?;
        let status = of & (OpenFlags::APPEND | OpenFlags::NONBLOCK);
        let file = OpenFile { ino, anon: None, access, status, offset: 0, handle };
        match table.insert(file, flags & O_CLOEXEC != 0) {
            Ok(fd) => Ok(fd),
            Err(e) => {
                self.release(ino);
                Err(e)
            }
        }
    }

    /// `close(2)`: removes `fd` and, when it was the description's last
    /// descriptor, returns the special per-open state, if any, for the
    /// kernel to tear down. An unlinked file is freed with its last
    /// description. Errors: `EBADF` when `fd` is not open.
    pub fn close<S>(&mut self, table: &mut FdTable<S>, fd: Fd) -> Result<Option<S>, Errno> {
        Ok(table.remove(fd)?.and_then(|f| self.end_description(f)))
    }

    /// Releases a description that lost its last descriptor.
    fn end_description<S>(&mut self, f: OpenFile<S>) -> Option<S> {
        if f.anon.is_none() {
            self.release(f.ino);
        }
        match f.handle {
            Handle::Special { state, .. } => Some(state),
            _ => None,
        }
    }

    /// Opens a description that is not a node of the tree — a pipe end, a
    /// socket, a program's captured output — as a special description of
    /// type `file_type` with the kernel's state `state` (reads and writes
    /// come back as [`Io::Special`] like a special node's; `lseek` is
    /// `ESPIPE`; `fstat` reports the type, permission bits 0600, size 0
    /// and an inode number of its own). `flags`: the access mode,
    /// `O_NONBLOCK`, `O_CLOEXEC`. Errors: `EINVAL` for `O_ACCMODE`;
    /// `EMFILE`; `ENFILE` when inode numbers ran out.
    pub fn open_anonymous<S>(
        &mut self,
        table: &mut FdTable<S>,
        id: SpecialId,
        file_type: FileType,
        flags: u32,
        state: S,
    ) -> Result<Fd, Errno> {
        let access = AccessMode::from_flags(flags)?;
        if table.is_full() {
            return Err(Errno::EMFILE);
        }
        let ino = self.anonymous_ino().ok_or(Errno::ENFILE)?;
        let status = OpenFlags::from_bits_truncate(flags) & OpenFlags::NONBLOCK;
        let file =
            OpenFile { ino, anon: Some(file_type), access, status, offset: 0, handle: Handle::Special { id, state } };
        table.insert(file, flags & O_CLOEXEC != 0)
    }

    /// `dup(2)` (`min` 0) and `fcntl(F_DUPFD)`/`F_DUPFD_CLOEXEC`: a new
    /// descriptor, the lowest free one at or above `min`, for `fd`'s
    /// description. Errors: `EBADF`; `EINVAL` for `min` outside
    /// `0..FD_LIMIT`; `EMFILE`.
    pub fn dup<S>(&mut self, table: &mut FdTable<S>, fd: Fd, min: Fd, cloexec: bool) -> Result<Fd, Errno> {
        table.dup_from(fd, min, cloexec)
    }

    /// `dup2(2)`: makes `new` a descriptor for `old`'s description, first
    /// closing what `new` referred to (returned like [`Tree::close`]'s
    /// state). `old == new` only checks that `old` is open. Errors:
    /// `EBADF` when `old` is not open or `new` is outside `0..FD_LIMIT`.
    pub fn dup2<S>(&mut self, table: &mut FdTable<S>, old: Fd, new: Fd) -> Result<Option<S>, Errno> {
        Ok(table.dup_to(old, new)?.and_then(|f| self.end_description(f)))
    }

    /// Closes every descriptor (program exit); returns the special per-open
    /// states in descriptor order.
    pub fn close_all<S>(&mut self, table: &mut FdTable<S>) -> Vec<S> {
        let fds: Vec<Fd> = table.fds().collect();
        fds.into_iter().filter_map(|fd| self.close(table, fd).ok().flatten()).collect()
    }

    /// `read(2)`. Errors: `EBADF` when `fd` is not open or was opened
    /// `O_WRONLY`; `EISDIR` for a directory. A regular file reads from the
    /// offset, advances it, and returns 0 at end of file. A special node is
    /// handed back as [`Io::Special`].
    pub fn read<'t, S>(&self, table: &'t mut FdTable<S>, fd: Fd, buf: &mut [u8]) -> Result<Io<'t, S>, Errno> {
        let f = table.get_mut(fd)?;
        if !f.access.readable() {
            return Err(Errno::EBADF);
        }
        let nonblocking = f.is_nonblocking();
        match &mut f.handle {
            Handle::Directory => Err(Errno::EISDIR),
            Handle::Special { id, state } => Ok(Io::Special { id: *id, state, nonblocking }),
            Handle::Regular => {
                let n = self.read_at(f.ino, f.offset, buf)?;
                f.offset = f.offset.saturating_add(n as u64);
                Ok(Io::Done(n))
            }
        }
    }

    /// `write(2)`. Errors: `EBADF` when `fd` is not open or was opened
    /// `O_RDONLY` (so always for a directory); `EFBIG`, `ENOSPC`, `ENOMEM`
    /// as [`Tree::write_at`]. A regular file is written at the offset (at
    /// the end of file with `O_APPEND`), extended as needed, and the offset
    /// moves past the data. A special node is handed back as
    /// [`Io::Special`].
    pub fn write<'t, S>(&mut self, table: &'t mut FdTable<S>, fd: Fd, data: &[u8]) -> Result<Io<'t, S>, Errno> {
        let f = table.get_mut(fd)?;
        if !f.access.writable() {
            return Err(Errno::EBADF);
        }
        let nonblocking = f.is_nonblocking();
        let append = f.is_append();
        match &mut f.handle {
            Handle::Directory => Err(Errno::EISDIR),
            Handle::Special { id, state } => Ok(Io::Special { id: *id, state, nonblocking }),
            Handle::Regular => {
                let at = if append { self.file_data(f.ino)?.len() as u64 } else { f.offset };
                let n = self.write_at(f.ino, at, data)?;
                f.offset = at.saturating_add(n as u64);
                Ok(Io::Done(n))
            }
        }
    }

    /// `lseek(2)`; returns the new offset. `whence` is `SEEK_SET`,
    /// `SEEK_CUR` or `SEEK_END`. Regular files may seek past the end.
    /// Errors: `EBADF`; `ESPIPE` for a special node; `EINVAL` for another
    /// `whence`, a negative or overflowing result, or `SEEK_END` on a
    /// directory (directory offsets are `getdents` positions).
    pub fn lseek<S>(&self, table: &mut FdTable<S>, fd: Fd, offset: i64, whence: u32) -> Result<u64, Errno> {
        let f = table.get_mut(fd)?;
        let base = match (&f.handle, whence) {
            (Handle::Special { .. }, _) => return Err(Errno::ESPIPE),
            (_, SEEK_SET) => 0,
            (_, SEEK_CUR) => f.offset,
            (Handle::Regular, SEEK_END) => self.file_data(f.ino)?.len() as u64,
            _ => return Err(Errno::EINVAL),
        };
        let off = new_offset(base, offset)?;
        if off > MAX_FILE_SIZE {
            return Err(Errno::EINVAL);
        }
        f.offset = off;
        Ok(off)
    }

    /// `fstat(2)`. Errors: `EBADF`.
    pub fn fstat<S>(&self, table: &FdTable<S>, fd: Fd) -> Result<Stat, Errno> {
        let f = table.get(fd)?;
        match (f.anon, &f.handle) {
            (Some(file_type), Handle::Special { id, .. }) => Ok(Stat {
                ino: f.ino,
                mode: file_type.mode_bits() | 0o600,
                nlink: 1,
                size: 0,
                file_type,
                special: Some(*id),
            }),
            _ => self.stat_ino(f.ino),
        }
    }

    /// `ftruncate(2)`. Errors: `EBADF` when `fd` is not open; `EINVAL` when
    /// `len` is negative, or `fd` is not a regular file open for writing;
    /// `EFBIG`, `ENOSPC`, `ENOMEM` as [`Tree::set_len`].
    pub fn ftruncate<S>(&mut self, table: &FdTable<S>, fd: Fd, len: i64) -> Result<(), Errno> {
        let f = table.get(fd)?;
        let len = u64::try_from(len).map_err(|_| Errno::EINVAL)?;
        if !f.access.writable() || !matches!(f.handle, Handle::Regular) {
            return Err(Errno::EINVAL);
        }
        self.set_len(f.ino, len)
    }

    /// `getdents64(2)` support: feeds the directory's entries from the
    /// descriptor's position to `fit`, which encodes each into the caller's
    /// buffer and returns `false` when it does not fit; the position advances
    /// past every accepted entry. Returns how many were accepted (0 at the
    /// end; when the very first does not fit, Linux returns `EINVAL`, which
    /// is the caller's to report). Entry order: see [`Tree::readdir_ino`].
    /// Errors: `EBADF`; `ENOTDIR` when `fd` is not a directory.
    pub fn getdents<S>(
        &self,
        table: &mut FdTable<S>,
        fd: Fd,
        mut fit: impl FnMut(&DirEntry) -> bool,
    ) -> Result<usize, Errno> {
        let f = table.get_mut(fd)?;
        if !matches!(f.handle, Handle::Directory) {
            return Err(Errno::ENOTDIR);
        }
        let mut n = 0usize;
        f.offset = self.dir_entries_from(f.ino, f.offset, |e| {
            let ok = fit(e);
            if ok {
                n = n.saturating_add(1);
            }
            ok
        })?;
        Ok(n)
    }
}
