//! Unpacking a "newc" cpio archive (the initramfs format) into a [`Tree`].
//!
//! Each entry is a 110-byte header of ASCII characters: the magic `070701`
//! (or `070702`, the same with a checksum), then thirteen 8-digit hex fields
//! (`ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor
//! rdevminor namesize check`), then `namesize` bytes of name including its
//! NUL, padded with zeros so the header plus name is a multiple of 4, then
//! `filesize` bytes of data, padded to a multiple of 4. The entry named
//! `TRAILER!!!` ends the archive; bytes after it (and its padding) are
//! ignored.
//!
//! The archive may come from the toolstack (`ramdisk=`), so it is untrusted:
//! [`parse`] checks the whole archive before anything is applied, and every
//! defect is a [`CpioError`] naming the byte offset and the reason, never a
//! panic. A truncated archive (any prefix of a valid one, padding included)
//! is an error.
//!
//! [`unpack`] then applies the entries in order:
//!
//! * names are normalised lexically against `/` (`./etc/x`, `etc//x` and
//!   `../etc/x` all mean `/etc/x`); a name that normalises to `/` only sets
//!   the root's permissions when it is a directory;
//! * directories are created with their permission bits, or get them when
//!   they exist;
//! * regular files are created (or replace an existing regular file's
//!   contents) with their permission bits and data;
//! * missing parent directories are created with mode `0755`;
//! * symlinks, devices, fifos and sockets are skipped and counted;
//! * hard links: regular-file entries with `nlink > 1` that share an inode
//!   number are one file with several names ([`Tree::link`]); the data is
//!   whichever of those entries carries some (GNU cpio puts it on the last,
//!   others on the first), and a later entry with data replaces it;
//! * uid, gid, mtime and the archive's inode numbers are ignored.
//!
//! A failure while applying (a file where a directory is needed, the limits
//! reached, …) stops there; the entries before it remain.

use alloc::vec::Vec;
use core::fmt;

use crate::flags::{PERM_MASK, S_IFDIR, S_IFMT, S_IFREG};
use crate::path::{self, Path};
use crate::tree::Tree;
use crate::Errno;

/// Length of a newc header.
pub const HEADER_LEN: usize = 110;
/// Magic of the newc format.
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// Magic of the newc format with checksums (sum of the data bytes).
pub const MAGIC_CRC: &[u8; 6] = b"070702";
/// Name of the entry that ends an archive.
pub const TRAILER: &[u8] = b"TRAILER!!!";

/// Why an archive was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioReason {
    /// The archive ends inside a header, name, data or padding, or before a
    /// `TRAILER!!!` entry.
    Truncated,
    /// A header does not start with `070701` or `070702`.
    BadMagic,
    /// A header field is not 8 hex digits; the field's name.
    BadHex(&'static str),
    /// `namesize` is 0 (a name needs at least its NUL).
    EmptyName,
    /// The name's last byte is not NUL.
    NameNotTerminated,
    /// A `070702` entry's data does not add up to its `check` field.
    BadChecksum,
    /// Applying the entry to the tree failed with this error.
    Fs(Errno),
}

/// An archive defect: where (the byte offset of the offending entry's
/// header; for a missing trailer, the archive's length) and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpioError {
    /// Byte offset in the archive.
    pub offset: usize,
    /// What is wrong.
    pub reason: CpioReason,
}

impl fmt::Display for CpioReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpioReason::Truncated => f.write_str("archive truncated"),
            CpioReason::BadMagic => f.write_str("bad magic (expected 070701 or 070702)"),
            CpioReason::BadHex(field) => write!(f, "header field {field} is not 8 hex digits"),
            CpioReason::EmptyName => f.write_str("namesize is 0"),
            CpioReason::NameNotTerminated => f.write_str("name is not NUL-terminated"),
            CpioReason::BadChecksum => f.write_str("data checksum mismatch"),
            CpioReason::Fs(e) => write!(f, "cannot apply entry: {e}"),
        }
    }
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpio: offset {}: {}", self.offset, self.reason)
    }
}

/// One archive entry (the trailer excluded), borrowing from the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Offset of the entry's header in the archive.
    pub offset: usize,
    /// The `mode` field: type and permission bits.
    pub mode: u32,
    /// The `nlink` field.
    pub nlink: u32,
    /// The `ino` field (identifies the names of one hard-linked file).
    pub ino: u32,
    /// The name, without its NUL (cut at the first NUL).
    pub name: &'a [u8],
    /// The data (`filesize` bytes).
    pub data: &'a [u8],
}

/// What [`unpack`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Directory entries applied.
    pub dirs: usize,
    /// Regular files written.
    pub files: usize,
    /// Entries skipped (symlinks, devices, fifos, sockets).
    pub skipped: usize,
}

const FIELDS: [&str; 13] = [
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
];

fn hex8(b: &[u8]) -> Option<u32> {
    if b.len() != 8 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some(acc.wrapping_shl(4) | d)
    })
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|v| v & !3)
}

/// Checks the whole archive and returns its entries (without the trailer).
pub fn parse(archive: &[u8]) -> Result<Vec<Entry<'_>>, CpioError> {
    let mut entries = Vec::new();
    let mut off = 0usize;
    let err = |offset, reason| CpioError { offset, reason };
    loop {
        let header =
            off.checked_add(HEADER_LEN).and_then(|end| archive.get(off..end)).ok_or(err(off, CpioReason::Truncated))?;
        let crc = match header.split_first_chunk::<6>() {
            Some((m, _)) if m == MAGIC_NEWC => false,
            Some((m, _)) if m == MAGIC_CRC => true,
            _ => return Err(err(off, CpioReason::BadMagic)),
        };
        let rest = header.get(6..).unwrap_or(&[]);
        let mut f = [0u32; 13];
        for ((slot, chunk), name) in f.iter_mut().zip(rest.chunks(8)).zip(FIELDS) {
            *slot = hex8(chunk).ok_or(err(off, CpioReason::BadHex(name)))?;
        }
        let [ino, mode, _uid, _gid, nlink, _mtime, filesize, _, _, _, _, namesize, check] = f;
        let namesize = namesize as usize;
        if namesize == 0 {
            return Err(err(off, CpioReason::EmptyName));
        }
        let name_start = off.saturating_add(HEADER_LEN);
        let truncated = err(off, CpioReason::Truncated);
        let name_end = name_start.checked_add(namesize).ok_or(truncated)?;
        let raw_name = archive.get(name_start..name_end).ok_or(truncated)?;
        if raw_name.last() != Some(&0) {
            return Err(err(off, CpioReason::NameNotTerminated));
        }
        let name = raw_name.split(|&b| b == 0).next().unwrap_or(&[]);
        let data_start = align4(name_end).ok_or(truncated)?;
        if data_start > archive.len() {
            return Err(truncated);
        }
        if name == TRAILER {
            return Ok(entries);
        }
        let data_end = data_start.checked_add(filesize as usize).ok_or(truncated)?;
        let data = archive.get(data_start..data_end).ok_or(truncated)?;
        let next = align4(data_end).ok_or(truncated)?;
        if next > archive.len() {
            return Err(truncated);
        }
        if crc {
            let sum = data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
            if sum != check {
                return Err(err(off, CpioReason::BadChecksum));
            }
        }
        entries.push(Entry { offset: off, mode, nlink, ino, name, data });
        off = next;
    }
}

/// Parses `archive` completely, then applies its entries to `tree` (see the
/// module documentation). On a parse error nothing is applied.
pub fn unpack(tree: &mut Tree, archive: &[u8]) -> Result<Unpacked, CpioError> {
    let entries = parse(archive)?;
    let mut done = Unpacked::default();
    // Archive inode number -> (tree inode, path) of hard-linked files seen.
    let mut linked: alloc::collections::BTreeMap<u32, (crate::tree::Ino, Vec<u8>)> = Default::default();
    for e in entries {
        let fs = |errno| CpioError { offset: e.offset, reason: CpioReason::Fs(errno) };
        let perm = e.mode & PERM_MASK;
        match e.mode & S_IFMT {
            S_IFDIR => {
                let p = path::normalize(b"/", e.name).map_err(fs)?;
                tree.mkdir_all(&p, perm).map_err(fs)?;
                tree.chmod(Path::new(&p), perm).map_err(fs)?;
                done.dirs = done.dirs.saturating_add(1);
            }
            S_IFREG => {
                let p = path::normalize(b"/", e.name).map_err(fs)?;
                let cut = p.iter().rposition(|&b| b == b'/').unwrap_or(0);
                let (dir, _) = p.split_at(cut);
                if dir.is_empty() && p.len() <= 1 {
                    // The name is the root itself: not a file.
                    return Err(fs(Errno::EISDIR));
                }
                tree.mkdir_all(if dir.is_empty() { &b"/"[..] } else { dir }, 0o755).map_err(fs)?;
                if e.nlink > 1 {
                    if let Some((ino, first)) = linked.get(&e.ino) {
                        let ino = *ino;
                        // Only a file this archive created gets a new name.
                        if tree.lookup(first.as_slice()) == Ok(ino) && tree.lookup(&p) != Ok(ino) {
                            if tree.lookup(&p).is_ok() {
                                tree.unlink(&p).map_err(fs)?;
                            }
                            tree.link(first.as_slice(), &p).map_err(fs)?;
                        }
                        if !e.data.is_empty() {
                            tree.set_len(ino, 0).map_err(fs)?;
                            tree.write_at(ino, 0, e.data).map_err(fs)?;
                        }
                        done.files = done.files.saturating_add(1);
                        continue;
                    }
                }
                let ino = match tree.lookup(&p) {
                    Ok(ino) => {
                        let st = tree.stat_ino(ino).map_err(fs)?;
                        if st.special.is_some() {
                            return Err(fs(Errno::EEXIST));
                        }
                        tree.set_len(ino, 0).map_err(fs)?;
                        tree.chmod(&p, perm).map_err(fs)?;
                        ino
                    }
                    Err(Errno::ENOENT) => tree.create_file(&p, perm).map_err(fs)?,
                    Err(other) => return Err(fs(other)),
                };
                tree.write_at(ino, 0, e.data).map_err(fs)?;
                if e.nlink > 1 {
                    linked.insert(e.ino, (ino, p.clone()));
                }
                done.files = done.files.saturating_add(1);
            }
            _ => done.skipped = done.skipped.saturating_add(1),
        }
    }
    Ok(done)
}
