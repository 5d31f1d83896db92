//! The small devices of the file API: `/dev/null`, `AF_UNIX` sockets that
//! can connect nowhere, and the capture a program's standard output and
//! error write into.
// Used by the programs layer (feature `programs`).
#![cfg_attr(not(feature = "programs"), allow(dead_code))]
use alloc::string::String;
use alloc::vec::Vec;

use kcore::budget::Charge;
use vfs::Errno;

use crate::mm::budget::PROGRAMS;
use crate::sync::ThreadLock;

/// `AF_UNIX`.
pub const AF_UNIX: i32 = 1;
/// `SOCK_STREAM`.
pub const SOCK_STREAM: i32 = 1;
/// `SOCK_DGRAM`.
pub const SOCK_DGRAM: i32 = 2;
/// `SOCK_SEQPACKET`.
pub const SOCK_SEQPACKET: i32 = 5;
/// `SOCK_NONBLOCK` (a flag in the type argument).
pub const SOCK_NONBLOCK: i32 = 0o4000;
/// `SOCK_CLOEXEC` (a flag in the type argument).
pub const SOCK_CLOEXEC: i32 = 0o2000000;

/// An `AF_UNIX` socket. Nothing in the guest listens on a socket (there is
/// no xenstored here, nor any other server), so a connect fails as it does
/// on a Linux guest without that server: `ENOENT` when the path does not
/// exist, `ECONNREFUSED` when it is not a listening socket. That is what
/// makes libxenstore fall back to the xenbus device.
pub struct Socket {
    /// `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET`.
    pub kind: i32,
}

/// `sockaddr_un` is 110 bytes: `sun_family` and 108 of path.
const SOCKADDR_UN_LEN: usize = 110;

impl Socket {
    /// `socket(domain, ty, protocol)` checks, Linux's order: an unknown
    /// domain is `EAFNOSUPPORT` (no networking here: `AF_INET` too), an
    /// unknown type `EINVAL`, a protocol other than 0 `EPROTONOSUPPORT`.
    pub fn new(domain: i32, ty: i32, protocol: i32) -> Result<Socket, Errno> {
        if domain != AF_UNIX {
            return Err(Errno::EAFNOSUPPORT);
        }
        let kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
        if !matches!(kind, SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET) {
            return Err(Errno::EINVAL);
        }
        if protocol != 0 {
            return Err(Errno::EPROTONOSUPPORT);
        }
        Ok(Socket { kind })
    }

    /// `connect(2)` to the `sockaddr` bytes `addr`: `EINVAL` for a short or
    /// long address or another family; `ECONNREFUSED` for an abstract name
    /// (nobody listens); otherwise the path is looked up: its errors
    /// (`ENOENT`, `ENOTDIR`, …) as they are, and `ECONNREFUSED` when it
    /// exists (it is never a listening socket).
    pub fn connect(&self, addr: &[u8]) -> Result<(), Errno> {
        if addr.len() < 2 || addr.len() > SOCKADDR_UN_LEN {
            return Err(Errno::EINVAL);
        }
        let family = u16::from_le_bytes([addr.first().copied().unwrap_or(0), addr.get(1).copied().unwrap_or(0)]);
        if i32::from(family) != AF_UNIX {
            return Err(Errno::EINVAL);
        }
        let path = addr.get(2..).unwrap_or_default();
        if path.is_empty() {
            return Err(Errno::EINVAL);
        }
        if path.first() == Some(&0) {
            return Err(Errno::ECONNREFUSED);
        }
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        let name = core::str::from_utf8(path.get(..end).unwrap_or_default()).map_err(|_| Errno::ENOENT)?;
        super::stat(name)?;
        Err(Errno::ECONNREFUSED)
    }

    /// `read(2)` on an unconnected socket (Linux: `EINVAL` for a stream).
    pub fn read(&self) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    /// `write(2)` on an unconnected socket.
    pub fn write(&self) -> Result<usize, Errno> {
        Err(Errno::ENOTCONN)
    }

    /// `poll` of an unconnected socket: writable, and hung up for the
    /// connection-based kinds (Linux's `unix_poll`).
    pub fn poll(&self) -> u16 {
        let mut m = super::POLLOUT | super::POLLWRNORM;
        if self.kind != SOCK_DGRAM {
            m |= super::POLLHUP;
        }
        m
    }
}

/// Where a program's standard output or error goes: kept (up to a limit,
/// charged to the programs budget) for whoever ran the program, and, when
/// asked, shown on the console line by line with a prefix.
pub struct Output {
    state: ThreadLock<OutputState>,
}

struct OutputState {
    data: Vec<u8>,
    charge: Charge,
    limit: usize,
    /// Bytes written past the limit or the budget (not kept).
    dropped: u64,
    /// Console prefix, when echoing.
    echo: Option<String>,
    /// The unfinished console line.
    line: Vec<u8>,
}

/// Longest console line shown at once; longer lines are split.
const ECHO_LINE: usize = 512;

impl Output {
    /// A capture keeping at most `limit` bytes, echoing lines to the
    /// console as `<prefix> <line>` when `echo` is given.
    pub fn new(limit: usize, echo: Option<String>) -> Output {
        Output {
            state: ThreadLock::new(
                "fs.output",
                OutputState {
                    data: Vec::new(),
                    charge: PROGRAMS.try_charge(0).unwrap_or_default(),
                    limit,
                    dropped: 0,
                    echo,
                    line: Vec::new(),
                },
            ),
        }
    }

    /// `write(2)`: always all of it (like a pipe someone drains).
    pub fn write(&self, buf: &[u8]) -> usize {
        let mut s = self.state.lock();
        let keep = buf.len().min(s.limit.saturating_sub(s.data.len()));
        let mut kept = 0;
        if keep > 0 && s.charge.try_grow(keep).is_ok() {
            if s.data.try_reserve(keep).is_ok() {
                s.data.extend_from_slice(buf.get(..keep).unwrap_or_default());
                kept = keep;
            } else {
                let have = s.data.len();
                s.charge.shrink_to(have);
            }
        }
        s.dropped = s.dropped.saturating_add((buf.len() - kept) as u64);
        if s.echo.is_some() {
            for &b in buf {
                if b == b'\n' || s.line.len() >= ECHO_LINE {
                    s.show_line();
                    if b == b'\n' {
                        continue;
                    }
                }
                if s.line.try_reserve(1).is_ok() {
                    s.line.push(b);
                }
            }
        }
        buf.len()
    }

    /// Shows an unfinished last line (at the program's end).
    pub fn flush_echo(&self) {
        let mut s = self.state.lock();
        if !s.line.is_empty() {
            s.show_line();
        }
    }

    /// What was kept, how many bytes were not, and the programs-budget
    /// charge for what was kept: it goes with the bytes, so they stay
    /// counted until whoever took them drops the charge.
    pub fn take(&self) -> (Vec<u8>, u64, Charge) {
        let mut s = self.state.lock();
        let charge = core::mem::take(&mut s.charge);
        (core::mem::take(&mut s.data), s.dropped, charge)
    }
}

impl OutputState {
    fn show_line(&mut self) {
        let line = core::mem::take(&mut self.line);
        if let Some(p) = &self.echo {
            crate::kprintln!("{} {}", p, String::from_utf8_lossy(&line));
        }
    }
}
