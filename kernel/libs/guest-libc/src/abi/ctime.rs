//! Clocks and sleeping over [`Sys::now_ns`](super::sys::Sys::now_ns),
//! [`Sys::wallclock`](super::sys::Sys::wallclock) and a timed
//! [`Sys::futex_wait`](super::sys::Sys::futex_wait) (whose deadline is taken
//! to be on the `now_ns` clock, Xen system time).
//!
//! `CLOCK_REALTIME` (and `_COARSE`) is the wall clock; `CLOCK_MONOTONIC`,
//! `_RAW`, `_COARSE` and `CLOCK_BOOTTIME` are the monotonic clock; other
//! clocks fail with `EINVAL`. `nanosleep`, `usleep` and `sleep` are
//! cancellation points; an interrupt that is not a cancellation ends them
//! early with `EINTR` (`nanosleep` then stores the time left).
use core::ffi::{c_int, c_long, c_uint, c_void};
use core::sync::atomic::AtomicU32;

use crate::errno::{EINTR, EINVAL};

use super::set_errno;
use super::sys::sys;
use super::thread::{act_on_cancel, on_eintr, testcancel, Intr};

const NS: u64 = 1_000_000_000;

/// `struct timespec`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Timespec {
    pub(crate) sec: i64,
    pub(crate) nsec: c_long,
}

/// Nanoseconds in a second.
pub(crate) const NS_PER_SEC: u64 = NS;

fn clock_ns(clk: c_int) -> Option<(u64, u32)> {
    match clk {
        0 | 5 => Some(sys().wallclock()),
        1 | 4 | 6 | 7 => {
            let n = sys().now_ns();
            Some((n / NS, (n % NS) as u32))
        }
        _ => None,
    }
}

/// `clock_gettime(clk, ts)`.
pub(crate) unsafe extern "C" fn clock_gettime(clk: c_int, ts: *mut c_void) -> c_int {
    match clock_ns(clk) {
        Some((s, n)) => {
            // SAFETY: `ts` points to a struct timespec.
            unsafe { (ts as *mut Timespec).write_unaligned(Timespec { sec: s as i64, nsec: c_long::from(n) }) };
            0
        }
        None => {
            set_errno(EINVAL);
            -1
        }
    }
}

/// `time(t)`.
pub(crate) unsafe extern "C" fn time(t: *mut i64) -> i64 {
    let s = sys().wallclock().0 as i64;
    if !t.is_null() {
        // SAFETY: `t` points to a time_t.
        unsafe { *t = s };
    }
    s
}

/// `gettimeofday(tv, tz)`: `tz` is ignored (glibc fills it with zeros only
/// on request; no time zone exists here).
pub(crate) unsafe extern "C" fn gettimeofday(tv: *mut c_void, _tz: *mut c_void) -> c_int {
    if !tv.is_null() {
        let (s, n) = sys().wallclock();
        // SAFETY: `tv` points to a struct timeval (two longs).
        unsafe { (tv as *mut [i64; 2]).write_unaligned([s as i64, i64::from(n / 1000)]) };
    }
    0
}

/// Sleeps `ns` nanoseconds; Err(left) when interrupted, acting on a
/// cancellation.
fn sleep_ns(ns: u64) -> Result<(), u64> {
    testcancel();
    let deadline = sys().now_ns().saturating_add(ns);
    let word = AtomicU32::new(0);
    loop {
        let now = sys().now_ns();
        if now >= deadline {
            return Ok(());
        }
        if let Err(EINTR) = sys().futex_wait(&word, 0, Some(deadline)) {
            match on_eintr() {
                Intr::Cancel => break,
                Intr::Retry => continue,
                Intr::Surface => return Err(deadline.saturating_sub(sys().now_ns())),
            }
        }
    }
    act_on_cancel()
}

/// `nanosleep(req, rem)`.
pub(crate) unsafe extern "C" fn nanosleep(req: *const c_void, rem: *mut c_void) -> c_int {
    // SAFETY: `req` points to a struct timespec.
    let r = unsafe { (req as *const Timespec).read_unaligned() };
    if r.sec < 0 || !(0..NS as c_long).contains(&r.nsec) {
        set_errno(EINVAL);
        return -1;
    }
    let ns = (r.sec as u64).saturating_mul(NS).saturating_add(r.nsec as u64);
    match sleep_ns(ns) {
        Ok(()) => 0,
        Err(left) => {
            if !rem.is_null() {
                let t = Timespec { sec: (left / NS) as i64, nsec: (left % NS) as c_long };
                // SAFETY: `rem` points to a struct timespec.
                unsafe { (rem as *mut Timespec).write_unaligned(t) };
            }
            set_errno(EINTR);
            -1
        }
    }
}

/// `usleep(us)`.
pub(crate) extern "C" fn usleep(us: c_uint) -> c_int {
    match sleep_ns(u64::from(us) * 1000) {
        Ok(()) => 0,
        Err(_) => {
            set_errno(EINTR);
            -1
        }
    }
}

/// `sleep(s)`: the seconds left (rounded up) when interrupted.
pub(crate) extern "C" fn sleep(s: c_uint) -> c_uint {
    match sleep_ns(u64::from(s) * NS) {
        Ok(()) => 0,
        Err(left) => left.div_ceil(NS) as c_uint,
    }
}
