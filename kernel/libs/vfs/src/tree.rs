//! The in-memory node tree: directories, regular files and special nodes.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::flags::{FileType, PERM_MASK, S_IFCHR, S_IFMT, S_IFREG};
use crate::path::{self, Component, Path};
use crate::Errno;

/// An inode number. Numbers are allocated upwards from [`ROOT_INO`] and never
/// reused within one [`Tree`].
pub type Ino = u64;

/// The root directory's inode number (1, like tmpfs).
pub const ROOT_INO: Ino = 1;

/// The largest size a regular file may reach (Linux `MAX_LFS_FILESIZE`,
/// `i64::MAX`); a write or truncation beyond it is `EFBIG`.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// Size `stat` reports for a directory per entry, counting `.` and `..`
/// (tmpfs's `BOGO_DIRENT_SIZE`).
pub const DIRENT_SIZE: u64 = 20;

/// Opaque identity of a special node. The kernel maps it to a device
/// implementation (the xenbus node, say). Several directory entries may carry
/// the same id: that is how one device appears at several paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpecialId(pub u32);

/// Resource limits of a tree; exceeding any is `ENOSPC`, as on a full
/// tmpfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most inodes (directories, files and special nodes, root included).
    pub max_inodes: usize,
    /// Most bytes of regular-file data in total.
    pub max_bytes: u64,
    /// Most bytes of memory the tree may hold: file data (as allocated),
    /// names, and [`INODE_OVERHEAD`] per inode and [`ENTRY_OVERHEAD`] plus
    /// twice the name per directory entry. The kernel derives it from the
    /// domain's memory, so that filling the tree ends in `ENOSPC`, never in
    /// an allocation failure.
    pub max_memory: u64,
}

impl Default for Limits {
    /// 16384 inodes, 64 MiB of file data, no memory bound of its own.
    fn default() -> Self {
        Limits { max_inodes: 16384, max_bytes: 64 << 20, max_memory: u64::MAX }
    }
}

/// Memory accounted per inode (the inode, its map slot, a directory's maps).
pub const INODE_OVERHEAD: u64 = 160;
/// Memory accounted per directory entry beyond twice its name (the name is
/// kept in two maps: by name and by position).
pub const ENTRY_OVERHEAD: u64 = 96;

fn entry_cost(name: &[u8]) -> u64 {
    (name.len() as u64).saturating_mul(2).saturating_add(ENTRY_OVERHEAD)
}

/// What `stat` reports about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Inode number (`st_ino`).
    pub ino: Ino,
    /// Type and permission bits (`st_mode`), e.g. `S_IFCHR | 0o600`.
    pub mode: u32,
    /// Link count (`st_nlink`): 1 for files and special nodes (0 once
    /// unlinked while still open), `2 + subdirectories` for directories.
    pub nlink: u32,
    /// Size in bytes (`st_size`): data length for regular files, 0 for
    /// special nodes, `20 * (entries + 2)` for directories (like tmpfs).
    pub size: u64,
    /// The node's type, as encoded in `mode`.
    pub file_type: FileType,
    /// The special id when the node is a special node.
    pub special: Option<SpecialId>,
}

/// One directory entry as `getdents64` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number (`d_ino`).
    pub ino: Ino,
    /// Name (`d_name`, without NUL).
    pub name: Vec<u8>,
    /// Type (`d_type`, see [`FileType::d_type`]).
    pub file_type: FileType,
    /// Directory position just after this entry (`d_off`); seeking the
    /// directory there resumes with the next entry.
    pub next_offset: u64,
}

struct Dir {
    parent: Ino,
    by_name: BTreeMap<Box<[u8]>, (Ino, u64)>,
    by_pos: BTreeMap<u64, Box<[u8]>>,
    next_pos: u64,
    subdirs: u32,
    mount_point: bool,
}

enum Node {
    Dir(Dir),
    File(Vec<u8>),
    Special(SpecialId),
}

struct Inode {
    perm: u32,
    ftype: FileType,
    nlink: u32,
    opens: u32,
    /// Part of a fixed layout (xenfs, device nodes): unlink and rename give
    /// `EPERM`.
    fixed: bool,
    node: Node,
}

/// Where a resolved path ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Last<'a> {
    /// The path was only slashes.
    Root,
    /// Final `.`.
    Dot,
    /// Final `..`.
    DotDot,
    /// A final name, which may or may not exist.
    Name(&'a [u8]),
}

/// A path resolved up to its last component.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resolved<'a> {
    /// The directory containing the last component.
    pub parent: Ino,
    pub last: Last<'a>,
    /// A trailing slash, `.` or `..`: the target must be a directory.
    pub must_be_dir: bool,
}

/// The node tree. See the crate documentation for the semantics of each
/// operation.
pub struct Tree {
    inodes: BTreeMap<Ino, Inode>,
    next_ino: Ino,
    bytes: u64,
    /// Accounted memory (see [`Limits::max_memory`]).
    memory: u64,
    limits: Limits,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

impl Tree {
    /// A tree holding only the root directory (mode `0755`), with default
    /// [`Limits`].
    pub fn new() -> Self {
        Tree::with_limits(Limits::default())
    }

    /// A tree holding only the root directory, with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        let mut inodes = BTreeMap::new();
        inodes.insert(ROOT_INO, Inode::dir(0o755, ROOT_INO, true));
        Tree { inodes, next_ino: ROOT_INO + 1, bytes: 0, memory: INODE_OVERHEAD, limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the limits; existing contents are kept even if above them.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Number of inodes alive (including unlinked ones still open).
    pub fn inode_count(&self) -> usize {
        self.inodes.len()
    }

    /// Bytes of regular-file data held.
    pub fn bytes_used(&self) -> u64 {
        self.bytes
    }

    /// Memory accounted against [`Limits::max_memory`].
    pub fn memory_used(&self) -> u64 {
        self.memory
    }

    /// Recomputes every counter from the tree itself and checks the
    /// structure: the memory and byte accounting, inode count, each
    /// directory's two maps (same entries), its subdirectory count and link
    /// count, and that every entry names a live inode whose parent pointer
    /// (for directories) is right. For fuzzing and tests: `Err` describes
    /// the first inconsistency.
    pub fn audit(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let mut memory = 0u64;
        let mut bytes = 0u64;
        let mut names: BTreeMap<Ino, u32> = BTreeMap::new();
        for (&ino, i) in &self.inodes {
            memory = memory.saturating_add(INODE_OVERHEAD);
            match &i.node {
                Node::File(d) => {
                    bytes = bytes.saturating_add(d.len() as u64);
                    memory = memory.saturating_add(d.capacity() as u64);
                }
                Node::Dir(d) => {
                    if d.by_name.len() != d.by_pos.len() {
                        return Err(format!("dir {ino}: {} names, {} positions", d.by_name.len(), d.by_pos.len()));
                    }
                    let mut subdirs = 0u32;
                    for (name, &(child, pos)) in &d.by_name {
                        if d.by_pos.get(&pos).map(|n| n.as_ref()) != Some(name.as_ref()) {
                            return Err(format!("dir {ino}: entry {:?} not at its position {pos}", name));
                        }
                        memory = memory.saturating_add(entry_cost(name));
                        let Some(c) = self.inodes.get(&child) else {
                            return Err(format!("dir {ino}: entry {:?} names dead inode {child}", name));
                        };
                        if !matches!(c.node, Node::Dir(_)) {
                            *names.entry(child).or_insert(0) += 1;
                        }
                        if let Node::Dir(cd) = &c.node {
                            subdirs += 1;
                            if cd.parent != ino {
                                return Err(format!("dir {child} has parent {}, is in {ino}", cd.parent));
                            }
                        }
                    }
                    if subdirs != d.subdirs {
                        return Err(format!("dir {ino}: {subdirs} subdirectories counted {}", d.subdirs));
                    }
                    if i.nlink != 0 && i.nlink != 2 + subdirs {
                        return Err(format!("dir {ino}: nlink {} with {subdirs} subdirectories", i.nlink));
                    }
                }
                Node::Special(_) => {}
            }
        }
        for (&ino, i) in &self.inodes {
            if !matches!(i.node, Node::Dir(_)) && i.nlink != names.get(&ino).copied().unwrap_or(0) {
                return Err(format!("inode {ino}: nlink {} but {} names", i.nlink, names.get(&ino).unwrap_or(&0)));
            }
        }
        if memory != self.memory {
            return Err(format!("memory accounted {} but the tree holds {memory}", self.memory));
        }
        if bytes != self.bytes {
            return Err(format!("bytes accounted {} but files hold {bytes}", self.bytes));
        }
        if self.memory > self.limits.max_memory && self.limits.max_memory != 0 {
            return Err(format!("memory {} over the bound {}", self.memory, self.limits.max_memory));
        }
        Ok(())
    }

    fn charge_memory(&mut self, n: u64) -> Result<(), Errno> {
        match self.memory.checked_add(n) {
            Some(m) if m <= self.limits.max_memory => {
                self.memory = m;
                Ok(())
            }
            _ => Err(Errno::ENOSPC),
        }
    }

    fn release_memory(&mut self, n: u64) {
        self.memory = self.memory.saturating_sub(n);
    }

    /// Adds the standard layout, creating what is missing (existing
    /// directories are kept):
    ///
    /// | path                    | mode               | node                     |
    /// |-------------------------|--------------------|--------------------------|
    /// | `/proc`                 | `S_IFDIR \| 0555`  | directory, mount point   |
    /// | `/proc/xen`             | `S_IFDIR \| 0555`  | directory, mount point   |
    /// | `/proc/xen/xenbus`      | `S_IFREG \| 0600`  | special `xenbus`         |
    /// | `/proc/xen/capabilities`| `S_IFREG \| 0444`  | special `capabilities`, or an empty regular file when `None` (a domU's is empty) |
    /// | `/dev`                  | `S_IFDIR \| 0755`  | directory, mount point   |
    /// | `/dev/xen`              | `S_IFDIR \| 0755`  | directory                |
    /// | `/dev/xen/xenbus`       | `S_IFCHR \| 0600`  | special `xenbus` again   |
    /// | `/tmp`                  | `S_IFDIR \| 01777` | directory                |
    /// | `/etc`                  | `S_IFDIR \| 0755`  | directory                |
    ///
    /// The two xenbus entries are distinct inodes with the same special id,
    /// mirroring Linux where the xenfs file is a regular file and the misc
    /// device a character device. "Mount point" only means `rmdir` gives
    /// `EBUSY`, as for Linux's mounts there.
    ///
    /// Errors: `EEXIST` when one of the leaf nodes already exists, `ENOTDIR`
    /// when one of the directories exists as a non-directory, `ENOSPC` when
    /// the limits are reached.
    pub fn add_standard_layout(&mut self, xenbus: SpecialId, capabilities: Option<SpecialId>) -> Result<(), Errno> {
        let proc_ = self.mkdir_all("/proc", 0o555)?;
        self.mark_mount_point(proc_)?;
        let proc_xen = self.mkdir_all("/proc/xen", 0o555)?;
        self.mark_mount_point(proc_xen)?;
        let x = self.create_special("/proc/xen/xenbus", S_IFREG | 0o600, xenbus)?;
        self.mark_fixed(x)?;
        let c = match capabilities {
            Some(id) => self.create_special("/proc/xen/capabilities", S_IFREG | 0o444, id)?,
            None => self.create_file("/proc/xen/capabilities", 0o444)?,
        };
        self.mark_fixed(c)?;
        let dev = self.mkdir_all("/dev", 0o755)?;
        self.mark_mount_point(dev)?;
        self.mkdir_all("/dev/xen", 0o755)?;
        let d = self.create_special("/dev/xen/xenbus", S_IFCHR | 0o600, xenbus)?;
        self.mark_fixed(d)?;
        self.mkdir_all("/tmp", 0o1777)?;
        self.mkdir_all("/etc", 0o755)?;
        Ok(())
    }

    // ----- internal helpers -------------------------------------------------

    fn inode(&self, ino: Ino) -> Result<&Inode, Errno> {
        self.inodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn inode_mut(&mut self, ino: Ino) -> Result<&mut Inode, Errno> {
        self.inodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn dir(&self, ino: Ino) -> Result<&Dir, Errno> {
        match &self.inode(ino)?.node {
            Node::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Result<&mut Dir, Errno> {
        match &mut self.inode_mut(ino)?.node {
            Node::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn step(&self, dir: Ino, c: Component<'_>) -> Result<Ino, Errno> {
        let d = self.dir(dir)?;
        match c {
            Component::Dot => Ok(dir),
            Component::DotDot => Ok(d.parent),
            Component::Name(n) => d.by_name.get(n).map(|e| e.0).ok_or(Errno::ENOENT),
        }
    }

    /// Resolves every component but the last; the parent must be a directory.
    pub(crate) fn resolve<'a>(&self, p: Path<'a>) -> Result<Resolved<'a>, Errno> {
        let parsed = path::parse(p.as_bytes())?;
        let mut cur = ROOT_INO;
        if !parsed.absolute {
            for c in path::parse_cwd(p.cwd())? {
                cur = self.step(cur, c)?;
            }
        }
        let Some((last, init)) = parsed.components.split_last() else {
            return Ok(Resolved { parent: cur, last: Last::Root, must_be_dir: true });
        };
        for c in init {
            cur = self.step(cur, *c)?;
        }
        self.dir(cur)?;
        if self.inode(cur)?.nlink == 0 {
            // A removed directory, reachable only through `..` of a stale
            // working directory: nothing can be looked up or created there.
            return Err(Errno::ENOENT);
        }
        let (last, must_be_dir) = match *last {
            Component::Dot => (Last::Dot, true),
            Component::DotDot => (Last::DotDot, true),
            Component::Name(n) => (Last::Name(n), parsed.trailing_slash),
        };
        Ok(Resolved { parent: cur, last, must_be_dir })
    }

    /// The inode a resolved path names, `None` when its last name is missing.
    pub(crate) fn target(&self, r: &Resolved<'_>) -> Result<Option<Ino>, Errno> {
        match r.last {
            Last::Root | Last::Dot => Ok(Some(r.parent)),
            Last::DotDot => Ok(Some(self.dir(r.parent)?.parent)),
            Last::Name(n) => Ok(self.dir(r.parent)?.by_name.get(n).map(|e| e.0)),
        }
    }

    /// A fresh inode number for an anonymous description (never a node).
    pub(crate) fn anonymous_ino(&mut self) -> Option<Ino> {
        let ino = self.next_ino;
        self.next_ino = ino.checked_add(1)?;
        Some(ino)
    }

    fn alloc_ino(&mut self) -> Result<Ino, Errno> {
        if self.inodes.len() >= self.limits.max_inodes {
            return Err(Errno::ENOSPC);
        }
        let ino = self.next_ino;
        self.next_ino = ino.checked_add(1).ok_or(Errno::ENOSPC)?;
        Ok(ino)
    }

    /// Links a new inode under `parent` as `name`; the name must be free.
    fn link_new(&mut self, parent: Ino, name: &[u8], inode: Inode) -> Result<Ino, Errno> {
        check_name(name)?;
        let is_dir = matches!(inode.node, Node::Dir(_));
        {
            let d = self.dir(parent)?;
            if d.by_name.contains_key(name) {
                return Err(Errno::EEXIST);
            }
            if is_dir && d.subdirs == u32::MAX - 2 {
                return Err(Errno::EMLINK);
            }
        }
        if self.inodes.len() >= self.limits.max_inodes {
            return Err(Errno::ENOSPC);
        }
        self.charge_memory(INODE_OVERHEAD.saturating_add(entry_cost(name)))?;
        let ino = match self.alloc_ino() {
            Ok(i) => i,
            Err(e) => {
                self.release_memory(INODE_OVERHEAD.saturating_add(entry_cost(name)));
                return Err(e);
            }
        };
        self.inodes.insert(ino, inode);
        let d = self.dir_mut(parent)?;
        let pos = d.next_pos;
        d.next_pos = pos.saturating_add(1);
        d.by_name.insert(name.into(), (ino, pos));
        d.by_pos.insert(pos, name.into());
        if is_dir {
            d.subdirs = d.subdirs.saturating_add(1);
            let p = self.inode_mut(parent)?;
            p.nlink = p.nlink.saturating_add(1);
        }
        Ok(ino)
    }

    /// Removes the entry `name` of `parent` (which must exist) and drops the
    /// inode once it has neither links nor opens.
    fn unlink_entry(&mut self, parent: Ino, name: &[u8], child: Ino) -> Result<(), Errno> {
        let child_is_dir = matches!(self.inode(child)?.node, Node::Dir(_));
        let d = self.dir_mut(parent)?;
        if let Some((_, pos)) = d.by_name.remove(name) {
            d.by_pos.remove(&pos);
        }
        self.release_memory(entry_cost(name));
        let d = self.dir_mut(parent)?;
        if child_is_dir {
            d.subdirs = d.subdirs.saturating_sub(1);
            let p = self.inode_mut(parent)?;
            p.nlink = p.nlink.saturating_sub(1);
        }
        let c = self.inode_mut(child)?;
        c.nlink = if child_is_dir { 0 } else { c.nlink.saturating_sub(1) };
        self.maybe_free(child);
        Ok(())
    }

    fn maybe_free(&mut self, ino: Ino) {
        if ino == ROOT_INO {
            return;
        }
        let dead = matches!(self.inodes.get(&ino), Some(i) if i.nlink == 0 && i.opens == 0);
        if dead {
            self.release_memory(INODE_OVERHEAD);
            if let Some(Inode { node: Node::File(data), .. }) = self.inodes.remove(&ino) {
                self.bytes = self.bytes.saturating_sub(data.len() as u64);
                self.release_memory(data.capacity() as u64);
            }
        }
    }

    /// Counts one more open of `ino` (an open file description refers to it).
    pub(crate) fn acquire(&mut self, ino: Ino) -> Result<(), Errno> {
        let i = self.inode_mut(ino)?;
        i.opens = i.opens.checked_add(1).ok_or(Errno::ENFILE)?;
        Ok(())
    }

    /// Drops one open of `ino`; frees it when unlinked and no longer open.
    pub(crate) fn release(&mut self, ino: Ino) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.opens = i.opens.saturating_sub(1);
        }
        self.maybe_free(ino);
    }

    /// Creates a regular file under a resolved parent (open's `O_CREAT`).
    pub(crate) fn create_in(&mut self, parent: Ino, name: &[u8], mode: u32) -> Result<Ino, Errno> {
        self.link_new(parent, name, Inode::node(mode, FileType::Regular, Node::File(Vec::new())))
    }

    // ----- path operations --------------------------------------------------

    /// The inode `path` names.
    ///
    /// Errors: the path errors of [`crate::path::parse`]; `ENOENT` when a
    /// component is missing; `ENOTDIR` when a non-final component is not a
    /// directory, or the path ends in `/` (or `.`/`..`) and names a
    /// non-directory.
    pub fn lookup<'p>(&self, path: impl Into<Path<'p>>) -> Result<Ino, Errno> {
        let r = self.resolve(path.into())?;
        let ino = self.target(&r)?.ok_or(Errno::ENOENT)?;
        if r.must_be_dir && !self.is_dir(ino) {
            return Err(Errno::ENOTDIR);
        }
        Ok(ino)
    }

    /// `stat(2)` by path. Errors: those of [`Tree::lookup`].
    pub fn stat<'p>(&self, path: impl Into<Path<'p>>) -> Result<Stat, Errno> {
        let ino = self.lookup(path)?;
        self.stat_ino(ino)
    }

    /// `stat` of an inode. Errors: `ENOENT` for an inode that does not
    /// exist (never for one an open descriptor refers to).
    pub fn stat_ino(&self, ino: Ino) -> Result<Stat, Errno> {
        let i = self.inode(ino)?;
        let (size, special) = match &i.node {
            Node::Dir(d) => ((d.by_name.len() as u64).saturating_add(2).saturating_mul(DIRENT_SIZE), None),
            Node::File(data) => (data.len() as u64, None),
            Node::Special(id) => (0, Some(*id)),
        };
        let size = if i.nlink == 0 && matches!(i.node, Node::Dir(_)) { 0 } else { size };
        Ok(Stat { ino, mode: i.ftype.mode_bits() | i.perm, nlink: i.nlink, size, file_type: i.ftype, special })
    }

    /// Whether `ino` is an existing directory.
    pub fn is_dir(&self, ino: Ino) -> bool {
        matches!(self.inodes.get(&ino), Some(Inode { node: Node::Dir(_), .. }))
    }

    /// `mkdir(2)`: creates a directory with permission bits `mode & 07777`
    /// (no umask). A trailing slash is allowed.
    ///
    /// Errors: path errors; `EEXIST` when the path exists (including `/`,
    /// `.` and `..`); `ENOENT` when the parent is missing; `ENOTDIR` when a
    /// parent component is not a directory; `ENOSPC` at the limits.
    pub fn mkdir<'p>(&mut self, path: impl Into<Path<'p>>, mode: u32) -> Result<Ino, Errno> {
        let r = self.resolve(path.into())?;
        let Last::Name(name) = r.last else { return Err(Errno::EEXIST) };
        let parent = r.parent;
        self.link_new(parent, name, Inode::dir(mode, parent, false))
    }

    /// `mkdir -p`: creates every missing directory of the lexically
    /// normalised `path` (new ones get `mode & 07777`) and returns the last
    /// one's inode; existing directories are kept unchanged.
    ///
    /// Errors: path errors; `ENOTDIR` when a component exists and is not a
    /// directory; `ENOSPC` at the limits.
    pub fn mkdir_all<'p>(&mut self, path: impl Into<Path<'p>>, mode: u32) -> Result<Ino, Errno> {
        let p = path.into();
        let norm = path::normalize(p.cwd(), p.as_bytes())?;
        let mut cur = ROOT_INO;
        for name in norm.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            cur = match self.dir(cur)?.by_name.get(name) {
                Some(&(ino, _)) if self.is_dir(ino) => ino,
                Some(_) => return Err(Errno::ENOTDIR),
                None => self.link_new(cur, name, Inode::dir(mode, cur, false))?,
            };
        }
        Ok(cur)
    }

    /// Marks a directory as a mount point: `rmdir` of it gives `EBUSY`.
    /// Errors: `ENOENT` for an unknown inode, `ENOTDIR` for a non-directory.
    pub fn mark_mount_point(&mut self, ino: Ino) -> Result<(), Errno> {
        self.dir_mut(ino)?.mount_point = true;
        Ok(())
    }

    /// `rmdir(2)`.
    ///
    /// Errors: path errors; `EBUSY` for `/` and mount points; `EINVAL` when
    /// the last component is `.`; `ENOTEMPTY` when it is `..` or the
    /// directory has entries; `ENOENT` when missing; `ENOTDIR` when not a
    /// directory (or a parent component is not one).
    pub fn rmdir<'p>(&mut self, path: impl Into<Path<'p>>) -> Result<(), Errno> {
        let r = self.resolve(path.into())?;
        let name = match r.last {
            Last::Root => return Err(Errno::EBUSY),
            Last::Dot => return Err(Errno::EINVAL),
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Name(n) => n,
        };
        let ino = self.target(&r)?.ok_or(Errno::ENOENT)?;
        let d = self.dir(ino)?;
        if d.mount_point || ino == ROOT_INO {
            return Err(Errno::EBUSY);
        }
        if !d.by_name.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.unlink_entry(r.parent, name, ino)
    }

    /// `unlink(2)`. An open file stays readable and writable through its
    /// descriptors until the last one is closed.
    ///
    /// Errors: path errors; `EISDIR` when the path names a directory
    /// (including `/`, `.` and `..`); `ENOENT` when missing; `ENOTDIR` when
    /// a parent component is not a directory or the path has a trailing
    /// slash and names a non-directory.
    pub fn unlink<'p>(&mut self, path: impl Into<Path<'p>>) -> Result<(), Errno> {
        let r = self.resolve(path.into())?;
        let Last::Name(name) = r.last else { return Err(Errno::EISDIR) };
        let ino = self.target(&r)?.ok_or(Errno::ENOENT)?;
        if self.is_dir(ino) {
            return Err(Errno::EISDIR);
        }
        if r.must_be_dir {
            return Err(Errno::ENOTDIR);
        }
        if self.inode(ino)?.fixed {
            return Err(Errno::EPERM);
        }
        self.unlink_entry(r.parent, name, ino)
    }

    /// `link(2)`: a new name `new` for the file `old`. Regular files only
    /// (a directory or a special node: `EPERM`, as Linux for directories).
    ///
    /// Errors: path errors of either path; `ENOENT` when `old` is missing
    /// or `new`'s parent is; `ENOTDIR` for a trailing slash on `old`;
    /// `EPERM` for a directory or special node; `EEXIST` when `new` exists
    /// (or is `/`, `.`, `..`); `ENOENT` for a trailing slash on `new`;
    /// `EMLINK` at `u32::MAX` links; `ENOSPC`.
    pub fn link<'p, 'q>(&mut self, old: impl Into<Path<'p>>, new: impl Into<Path<'q>>) -> Result<(), Errno> {
        let ro = self.resolve(old.into())?;
        let rn = self.resolve(new.into())?;
        let src = self.target(&ro)?.ok_or(Errno::ENOENT)?;
        if ro.must_be_dir && !self.is_dir(src) {
            return Err(Errno::ENOTDIR);
        }
        if !matches!(self.inode(src)?.node, Node::File(_)) {
            return Err(Errno::EPERM);
        }
        let Last::Name(name) = rn.last else { return Err(Errno::EEXIST) };
        if self.target(&rn)?.is_some() {
            return Err(Errno::EEXIST);
        }
        if rn.must_be_dir {
            return Err(Errno::ENOENT);
        }
        check_name(name)?;
        if self.inode(src)?.nlink == u32::MAX {
            return Err(Errno::EMLINK);
        }
        self.charge_memory(entry_cost(name))?;
        let d = self.dir_mut(rn.parent)?;
        let pos = d.next_pos;
        d.next_pos = pos.saturating_add(1);
        d.by_name.insert(name.into(), (src, pos));
        d.by_pos.insert(pos, name.into());
        let i = self.inode_mut(src)?;
        i.nlink = i.nlink.saturating_add(1);
        Ok(())
    }

    /// Marks a node as part of a fixed layout (xenfs, device nodes): unlink
    /// and rename of it give `EPERM`. Errors: `ENOENT` for an unknown inode.
    pub fn mark_fixed(&mut self, ino: Ino) -> Result<(), Errno> {
        self.inode_mut(ino)?.fixed = true;
        Ok(())
    }

    /// `rename(2)`: moves the entry `from` to `to`, replacing what `to`
    /// names (a file by a file, an empty directory by a directory).
    ///
    /// Errors: path errors of either path; `ENOENT` when `from` is missing
    /// or `to`'s parent is; `EBUSY` when either is `/` or a mount point, or
    /// ends in `.` or `..`; `EPERM` when either is a fixed node (xenfs,
    /// device nodes); `EINVAL` when a directory would move into itself;
    /// `ENOTDIR` when a directory would replace a non-directory (or a path
    /// with a trailing slash names a file); `EISDIR` when a file would
    /// replace a directory; `ENOTEMPTY` when the directory replaced has
    /// entries; `ENOSPC` at the limits. Renaming an entry onto itself (or
    /// onto another link of the same inode) does nothing.
    pub fn rename<'p, 'q>(&mut self, from: impl Into<Path<'p>>, to: impl Into<Path<'q>>) -> Result<(), Errno> {
        let rf = self.resolve(from.into())?;
        let rt = self.resolve(to.into())?;
        let (Last::Name(fname), Last::Name(tname)) = (rf.last, rt.last) else {
            return Err(Errno::EBUSY);
        };
        check_name(tname)?;
        let src = self.target(&rf)?.ok_or(Errno::ENOENT)?;
        let src_is_dir = self.is_dir(src);
        if (rf.must_be_dir || rt.must_be_dir) && !src_is_dir {
            return Err(Errno::ENOTDIR);
        }
        if self.inode(src)?.fixed {
            return Err(Errno::EPERM);
        }
        if src_is_dir && self.dir(src)?.mount_point {
            return Err(Errno::EBUSY);
        }
        let dst = self.target(&rt)?;
        if dst == Some(src) {
            return Ok(());
        }
        if src_is_dir {
            // The destination's parent must not be the source or below it.
            let mut cur = rt.parent;
            loop {
                if cur == src {
                    return Err(Errno::EINVAL);
                }
                if cur == ROOT_INO {
                    break;
                }
                cur = self.dir(cur)?.parent;
            }
        }
        if let Some(d) = dst {
            let di = self.inode(d)?;
            if di.fixed {
                return Err(Errno::EPERM);
            }
            match (&di.node, src_is_dir) {
                (Node::Dir(dd), true) => {
                    if dd.mount_point {
                        return Err(Errno::EBUSY);
                    }
                    if !dd.by_name.is_empty() {
                        return Err(Errno::ENOTEMPTY);
                    }
                }
                (Node::Dir(_), false) => return Err(Errno::EISDIR),
                (_, true) => return Err(Errno::ENOTDIR),
                (_, false) => {}
            }
        }
        // The new entry costs its name; charge before changing anything.
        self.charge_memory(entry_cost(tname))?;
        if let Some(d) = dst {
            if let Err(e) = self.unlink_entry(rt.parent, tname, d) {
                self.release_memory(entry_cost(tname));
                return Err(e);
            }
        }
        // Detach from the old parent.
        let fd = self.dir_mut(rf.parent)?;
        if let Some((_, pos)) = fd.by_name.remove(fname) {
            fd.by_pos.remove(&pos);
        }
        if src_is_dir {
            fd.subdirs = fd.subdirs.saturating_sub(1);
            let p = self.inode_mut(rf.parent)?;
            p.nlink = p.nlink.saturating_sub(1);
        }
        self.release_memory(entry_cost(fname));
        // Attach to the new one.
        let td = self.dir_mut(rt.parent)?;
        let pos = td.next_pos;
        td.next_pos = pos.saturating_add(1);
        td.by_name.insert(tname.into(), (src, pos));
        td.by_pos.insert(pos, tname.into());
        if src_is_dir {
            td.subdirs = td.subdirs.saturating_add(1);
            let p = self.inode_mut(rt.parent)?;
            p.nlink = p.nlink.saturating_add(1);
            self.dir_mut(src)?.parent = rt.parent;
        }
        Ok(())
    }

    /// Creates an empty regular file with permission bits `mode & 07777`
    /// (`open(path, O_CREAT | O_EXCL)` without a descriptor).
    ///
    /// Errors: path errors; `EISDIR` for a name with a trailing slash
    /// (checked first, as `open` does with `O_CREAT`); `EEXIST` when the path
    /// exists (also `/`, `.`, `..`); `ENOENT` for a missing parent;
    /// `ENOTDIR` when a parent component is not a directory; `ENOSPC` at the
    /// limits.
    pub fn create_file<'p>(&mut self, path: impl Into<Path<'p>>, mode: u32) -> Result<Ino, Errno> {
        let (parent, name) = self.new_name(path.into())?;
        self.create_in(parent, name, mode)
    }

    /// Creates a special node. `mode` carries the type it presents,
    /// `S_IFCHR` or `S_IFREG`, and permission bits (`& 07777`).
    ///
    /// Errors: `EINVAL` for another type; otherwise those of
    /// [`Tree::create_file`].
    pub fn create_special<'p>(&mut self, path: impl Into<Path<'p>>, mode: u32, id: SpecialId) -> Result<Ino, Errno> {
        let ftype = match mode & S_IFMT {
            S_IFCHR => FileType::CharDevice,
            S_IFREG => FileType::Regular,
            _ => return Err(Errno::EINVAL),
        };
        let (parent, name) = self.new_name(path.into())?;
        self.link_new(parent, name, Inode::node(mode, ftype, Node::Special(id)))
    }

    fn new_name<'a>(&self, p: Path<'a>) -> Result<(Ino, &'a [u8]), Errno> {
        let r = self.resolve(p)?;
        let Last::Name(name) = r.last else { return Err(Errno::EEXIST) };
        if r.must_be_dir {
            return Err(Errno::EISDIR);
        }
        if self.target(&r)?.is_some() {
            return Err(Errno::EEXIST);
        }
        Ok((r.parent, name))
    }

    /// `chmod(2)`: sets the permission bits to `mode & 07777`, keeping the
    /// type. Errors: those of [`Tree::lookup`].
    pub fn chmod<'p>(&mut self, path: impl Into<Path<'p>>, mode: u32) -> Result<(), Errno> {
        let ino = self.lookup(path)?;
        self.inode_mut(ino)?.perm = mode & PERM_MASK;
        Ok(())
    }

    /// The entries of the directory `path`, in the order `getdents` returns
    /// them (see [`Tree::readdir_ino`]). Errors: those of [`Tree::lookup`];
    /// `ENOTDIR` when the path is not a directory.
    pub fn readdir<'p>(&self, path: impl Into<Path<'p>>) -> Result<Vec<DirEntry>, Errno> {
        let ino = self.lookup(path)?;
        self.readdir_ino(ino)
    }

    /// The entries of directory `ino`: `.`, `..`, then the other entries in
    /// creation order (the order is stable: an entry keeps its position until
    /// removed; a name re-created later goes to the end). A removed
    /// directory still open has no entries at all. Errors: `ENOENT` for an
    /// unknown inode, `ENOTDIR` for a non-directory.
    pub fn readdir_ino(&self, ino: Ino) -> Result<Vec<DirEntry>, Errno> {
        let mut v = Vec::new();
        self.dir_entries_from(ino, 0, |e| {
            v.push(e.clone());
            true
        })?;
        Ok(v)
    }

    /// Feeds the entries of `dir` from position `pos` to `f` until it returns
    /// `false`; returns the position after the last accepted entry.
    pub(crate) fn dir_entries_from(
        &self,
        dir: Ino,
        pos: u64,
        mut f: impl FnMut(&DirEntry) -> bool,
    ) -> Result<u64, Errno> {
        let inode = self.inode(dir)?;
        let d = self.dir(dir)?;
        if inode.nlink == 0 {
            return Ok(pos);
        }
        let mut pos = pos;
        if pos == 0 {
            let e = DirEntry { ino: dir, name: b".".to_vec(), file_type: FileType::Directory, next_offset: 1 };
            if !f(&e) {
                return Ok(pos);
            }
            pos = 1;
        }
        if pos == 1 {
            let e = DirEntry { ino: d.parent, name: b"..".to_vec(), file_type: FileType::Directory, next_offset: 2 };
            if !f(&e) {
                return Ok(pos);
            }
            pos = 2;
        }
        for (&p, name) in d.by_pos.range(pos..) {
            let Some(&(ino, _)) = d.by_name.get(name) else { continue };
            let file_type = self.inode(ino).map(|i| i.ftype).unwrap_or(FileType::Regular);
            let next = p.saturating_add(1);
            let e = DirEntry { ino, name: name.to_vec(), file_type, next_offset: next };
            if !f(&e) {
                return Ok(pos);
            }
            pos = next;
        }
        Ok(pos)
    }

    // ----- regular file data ------------------------------------------------

    /// The whole contents of regular file `ino`. Errors: `ENOENT` unknown
    /// inode; `EISDIR` directory; `EINVAL` special node.
    pub fn file_data(&self, ino: Ino) -> Result<&[u8], Errno> {
        match &self.inode(ino)?.node {
            Node::File(d) => Ok(d),
            Node::Dir(_) => Err(Errno::EISDIR),
            Node::Special(_) => Err(Errno::EINVAL),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut Vec<u8>, Errno> {
        match &mut self.inode_mut(ino)?.node {
            Node::File(d) => Ok(d),
            Node::Dir(_) => Err(Errno::EISDIR),
            Node::Special(_) => Err(Errno::EINVAL),
        }
    }

    /// Reads from regular file `ino` at `offset` into `buf`; returns the
    /// count, 0 at or past end of file. Errors: as [`Tree::file_data`].
    pub fn read_at(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let data = self.file_data(ino)?;
        let Ok(off) = usize::try_from(offset) else { return Ok(0) };
        let Some(src) = data.get(off..) else { return Ok(0) };
        let n = src.len().min(buf.len());
        if let (Some(d), Some(s)) = (buf.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
        Ok(n)
    }

    /// Writes `data` into regular file `ino` at `offset`, extending it (a gap
    /// reads as zeros); returns `data.len()`. Errors: as [`Tree::file_data`];
    /// `EFBIG` past [`MAX_FILE_SIZE`]; `ENOSPC` past [`Limits::max_bytes`];
    /// `ENOMEM` when the allocation fails. Nothing is written on error.
    pub fn write_at(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        self.file_data(ino)?;
        if data.is_empty() {
            return Ok(0);
        }
        let end = offset.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        self.resize(ino, end, true)?;
        let off = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let file = self.file_mut(ino)?;
        let dst = off.checked_add(data.len()).and_then(|e| file.get_mut(off..e)).ok_or(Errno::EFBIG)?;
        dst.copy_from_slice(data);
        Ok(data.len())
    }

    /// Sets the length of regular file `ino` (`truncate(2)`), zero-filling
    /// when it grows. Errors: as [`Tree::write_at`].
    pub fn set_len(&mut self, ino: Ino, len: u64) -> Result<(), Errno> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        self.resize(ino, len, false)
    }

    /// Resizes to `len` (only grows when `grow_only`).
    fn resize(&mut self, ino: Ino, len: u64, grow_only: bool) -> Result<(), Errno> {
        let max_bytes = self.limits.max_bytes;
        let max_memory = self.limits.max_memory;
        let bytes = self.bytes;
        let memory = self.memory;
        let file = self.file_mut(ino)?;
        let cur = file.len() as u64;
        let cap_before = file.capacity() as u64;
        if len <= cur {
            if !grow_only {
                let new_len = usize::try_from(len).map_err(|_| Errno::EFBIG)?;
                file.truncate(new_len);
                file.shrink_to(new_len.saturating_mul(2));
                let cap_after = file.capacity() as u64;
                self.bytes = bytes.saturating_sub(cur - len);
                self.memory = memory.saturating_sub(cap_before.saturating_sub(cap_after));
            }
            return Ok(());
        }
        let growth = len - cur;
        if bytes.checked_add(growth).is_none_or(|t| t > max_bytes) {
            return Err(Errno::ENOSPC);
        }
        let new_len = usize::try_from(len).map_err(|_| Errno::EFBIG)?;
        // The allocation may grow past `len` (amortised doubling): reserve
        // exactly when the doubling would cross the memory bound.
        let extra = usize::try_from(growth).map_err(|_| Errno::EFBIG)?;
        let doubled = cap_before.saturating_mul(2).max(len);
        let fits = |cap: u64| memory.saturating_sub(cap_before).checked_add(cap).is_some_and(|m| m <= max_memory);
        if len > cap_before {
            if fits(doubled) {
                file.try_reserve(extra).map_err(|_| Errno::ENOMEM)?;
            } else if fits(len) {
                file.try_reserve_exact(extra).map_err(|_| Errno::ENOMEM)?;
            } else {
                return Err(Errno::ENOSPC);
            }
        }
        let cap_after = file.capacity() as u64;
        if !fits(cap_after) {
            // The allocator gave more than asked and it does not fit.
            file.shrink_to(new_len);
        }
        file.resize(new_len, 0);
        let cap_after = file.capacity() as u64;
        self.bytes = bytes.saturating_add(growth);
        self.memory = memory.saturating_sub(cap_before).saturating_add(cap_after);
        Ok(())
    }

    /// The special id of `ino`, if it is a special node.
    pub fn special_id(&self, ino: Ino) -> Option<SpecialId> {
        match self.inodes.get(&ino)?.node {
            Node::Special(id) => Some(id),
            _ => None,
        }
    }

    /// What kind of node `ino` is, for `open`.
    pub(crate) fn kind(&self, ino: Ino) -> Result<NodeKind, Errno> {
        Ok(match self.inode(ino)?.node {
            Node::Dir(_) => NodeKind::Dir,
            Node::File(_) => NodeKind::File,
            Node::Special(id) => NodeKind::Special(id),
        })
    }
}

/// The kind of a node without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Dir,
    File,
    Special(SpecialId),
}

impl Inode {
    fn dir(mode: u32, parent: Ino, mount_point: bool) -> Self {
        Inode {
            perm: mode & PERM_MASK,
            ftype: FileType::Directory,
            nlink: 2,
            opens: 0,
            fixed: false,
            node: Node::Dir(Dir {
                parent,
                by_name: BTreeMap::new(),
                by_pos: BTreeMap::new(),
                next_pos: 2,
                subdirs: 0,
                mount_point,
            }),
        }
    }

    fn node(mode: u32, ftype: FileType, node: Node) -> Self {
        Inode { perm: mode & PERM_MASK, ftype, nlink: 1, opens: 0, fixed: false, node }
    }
}

/// A name for a new directory entry: not empty, no `/`, no NUL (`EINVAL`).
fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
