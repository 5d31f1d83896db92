//! The two system calls std does not wrap: poll(2) and fcntl(2)
//! (F_GETFL/F_SETFL). glibc is linked anyway; these are its symbols.

use std::os::raw::{c_int, c_short, c_ulong};

/// `struct pollfd` (Linux x86_64).
#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

const F_GETFL: c_int = 3;
const F_SETFL: c_int = 4;
const O_NONBLOCK: c_int = 0o4000;

extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(5)
}

/// poll(2) over `(fd, events, revents)` triples; fills `revents`.
pub fn poll_fds(set: &mut [(i32, u16, u16)], timeout_ms: i32) -> Result<usize, i32> {
    let mut v: Vec<PollFd> = set.iter().map(|&(fd, ev, _)| PollFd { fd, events: ev as c_short, revents: 0 }).collect();
    // SAFETY: `v` is a live, properly aligned array of `v.len()` pollfd
    // structures that poll() may write to for the duration of the call.
    let r = unsafe { poll(v.as_mut_ptr(), v.len() as c_ulong, timeout_ms) };
    if r < 0 {
        return Err(last_errno());
    }
    for (slot, p) in set.iter_mut().zip(&v) {
        slot.2 = p.revents as u16;
    }
    Ok(r as usize)
}

/// Sets or clears O_NONBLOCK on `fd`.
pub fn set_nonblock(fd: i32, on: bool) -> Result<(), i32> {
    // SAFETY: F_GETFL takes no third argument and only reads the
    // descriptor's flags; an invalid fd yields -1/EBADF.
    let flags = unsafe { fcntl(fd, F_GETFL) };
    if flags < 0 {
        return Err(last_errno());
    }
    let new = if on { flags | O_NONBLOCK } else { flags & !O_NONBLOCK };
    // SAFETY: F_SETFL takes one int argument, passed as such.
    let r = unsafe { fcntl(fd, F_SETFL, new) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(())
}
