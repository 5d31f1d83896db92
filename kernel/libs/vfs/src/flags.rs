//! Linux x86_64 numbers: `open` flags, file-type mode bits, `lseek` whence
//! values and `getdents64` `d_type` values.

use crate::Errno;

bitflags::bitflags! {
    /// `open(2)` flags with their Linux x86_64 (octal) values. `O_RDONLY` is
    /// the absence of both access bits; see [`AccessMode`]. Bits not named
    /// here (`O_CLOEXEC`, `O_NOCTTY`, …) are accepted and ignored, as Linux
    /// ignores unknown ones.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        /// `O_WRONLY` (1).
        const WRONLY = 0o1;
        /// `O_RDWR` (2).
        const RDWR = 0o2;
        /// `O_CREAT` (0o100).
        const CREAT = 0o100;
        /// `O_EXCL` (0o200).
        const EXCL = 0o200;
        /// `O_TRUNC` (0o1000).
        const TRUNC = 0o1000;
        /// `O_APPEND` (0o2000).
        const APPEND = 0o2000;
        /// `O_NONBLOCK` (0o4000).
        const NONBLOCK = 0o4000;
        /// `O_DIRECTORY` (0o200000).
        const DIRECTORY = 0o200000;
    }
}

/// `O_RDONLY`.
pub const O_RDONLY: u32 = 0;
/// `O_WRONLY`.
pub const O_WRONLY: u32 = OpenFlags::WRONLY.bits();
/// `O_RDWR`.
pub const O_RDWR: u32 = OpenFlags::RDWR.bits();
/// `O_ACCMODE`: the two access-mode bits.
pub const O_ACCMODE: u32 = 0o3;
/// `O_CREAT`.
pub const O_CREAT: u32 = OpenFlags::CREAT.bits();
/// `O_EXCL`.
pub const O_EXCL: u32 = OpenFlags::EXCL.bits();
/// `O_TRUNC`.
pub const O_TRUNC: u32 = OpenFlags::TRUNC.bits();
/// `O_APPEND`.
pub const O_APPEND: u32 = OpenFlags::APPEND.bits();
/// `O_NONBLOCK`.
pub const O_NONBLOCK: u32 = OpenFlags::NONBLOCK.bits();
/// `O_DIRECTORY`.
pub const O_DIRECTORY: u32 = OpenFlags::DIRECTORY.bits();
/// `O_CLOEXEC` (0o2000000): sets the new descriptor's close-on-exec flag;
/// not a status flag of the description.
pub const O_CLOEXEC: u32 = 0o2000000;

/// The access mode of an open file description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessMode {
    /// `O_RDONLY`
    ReadOnly,
    /// `O_WRONLY`
    WriteOnly,
    /// `O_RDWR`
    ReadWrite,
}

impl AccessMode {
    /// The access mode of raw `open` flags; `O_ACCMODE` (both bits, a Linux
    /// oddity meaning "neither read nor write") is rejected with `EINVAL`.
    pub fn from_flags(flags: u32) -> Result<Self, Errno> {
        match flags & O_ACCMODE {
            0 => Ok(AccessMode::ReadOnly),
            1 => Ok(AccessMode::WriteOnly),
            2 => Ok(AccessMode::ReadWrite),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The `O_ACCMODE` bits of this mode.
    pub fn bits(self) -> u32 {
        match self {
            AccessMode::ReadOnly => O_RDONLY,
            AccessMode::WriteOnly => O_WRONLY,
            AccessMode::ReadWrite => O_RDWR,
        }
    }

    /// Reading is allowed.
    pub fn readable(self) -> bool {
        self != AccessMode::WriteOnly
    }

    /// Writing is allowed.
    pub fn writable(self) -> bool {
        self != AccessMode::ReadOnly
    }
}

/// `S_IFMT`: the file-type bits of a mode.
pub const S_IFMT: u32 = 0o170000;
/// `S_IFDIR`: directory.
pub const S_IFDIR: u32 = 0o040000;
/// `S_IFREG`: regular file.
pub const S_IFREG: u32 = 0o100000;
/// `S_IFCHR`: character device.
pub const S_IFCHR: u32 = 0o020000;
/// `S_IFIFO`: pipe (only for descriptions without a node, see
/// [`crate::Tree::open_anonymous`]).
pub const S_IFIFO: u32 = 0o010000;
/// `S_IFSOCK`: socket (as [`S_IFIFO`]).
pub const S_IFSOCK: u32 = 0o140000;
/// `S_IFLNK`: symbolic link (only seen in cpio archives; never created).
pub const S_IFLNK: u32 = 0o120000;
/// The permission bits a mode may carry (`07777`: rwx for all plus
/// set-uid, set-gid, sticky).
pub const PERM_MASK: u32 = 0o7777;

/// `SEEK_SET`.
pub const SEEK_SET: u32 = 0;
/// `SEEK_CUR`.
pub const SEEK_CUR: u32 = 1;
/// `SEEK_END`.
pub const SEEK_END: u32 = 2;

/// `DT_CHR` (`getdents64` `d_type` of a character device).
pub const DT_CHR: u8 = 2;
/// `DT_DIR`.
pub const DT_DIR: u8 = 4;
/// `DT_REG`.
pub const DT_REG: u8 = 8;
/// `DT_FIFO`.
pub const DT_FIFO: u8 = 1;
/// `DT_SOCK`.
pub const DT_SOCK: u8 = 12;

/// The type of a node as `stat` and `getdents` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A directory (`S_IFDIR`, `DT_DIR`).
    Directory,
    /// A regular file (`S_IFREG`, `DT_REG`); special nodes can present
    /// themselves as such, like Linux's `/proc/xen/xenbus`.
    Regular,
    /// A character device (`S_IFCHR`, `DT_CHR`), like `/dev/xen/xenbus`.
    CharDevice,
    /// A pipe (`S_IFIFO`): never a node of the tree, only an anonymous
    /// description ([`crate::Tree::open_anonymous`]).
    Fifo,
    /// A socket (`S_IFSOCK`): as [`FileType::Fifo`].
    Socket,
}

impl FileType {
    /// The `S_IF*` bits.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Directory => S_IFDIR,
            FileType::Regular => S_IFREG,
            FileType::CharDevice => S_IFCHR,
            FileType::Fifo => S_IFIFO,
            FileType::Socket => S_IFSOCK,
        }
    }

    /// The `DT_*` value.
    pub fn d_type(self) -> u8 {
        match self {
            FileType::Directory => DT_DIR,
            FileType::Regular => DT_REG,
            FileType::CharDevice => DT_CHR,
            FileType::Fifo => DT_FIFO,
            FileType::Socket => DT_SOCK,
        }
    }

    /// The type named by the `S_IFMT` bits of `mode`, if it is one a node of
    /// the tree can have (directory, regular file, character device).
    pub fn from_mode(mode: u32) -> Option<Self> {
        match mode & S_IFMT {
            S_IFDIR => Some(FileType::Directory),
            S_IFREG => Some(FileType::Regular),
            S_IFCHR => Some(FileType::CharDevice),
            _ => None,
        }
    }
}
