//! Time: the monotonic clock and wall-clock time (`xen::time` explains
//! both, and how a suspend moves them). Timers and sleeping are the
//! scheduler's (`sched::timer`), so that this module depends on nothing
//! above `xen`.

/// Nanoseconds of the kernel's monotonic clock (Xen system time at boot;
/// it does not count the time the domain was suspended).
pub fn now_ns() -> u64 {
    crate::xen::time::now_ns()
}

/// The monotonic clock as of Xen's last time-info refresh: never ahead of
/// [`now_ns`], and free of the TSC read that Xen may emulate (see
/// `xen::time::coarse_now_ns`).
pub fn coarse_now_ns() -> u64 {
    crate::xen::time::coarse_now_ns()
}

/// A deadline about `ns` from now for a long timeout, without a TSC read:
/// it may fall up to the coarse clock's lag (at most about a second) early.
pub fn coarse_deadline_after(ns: u64) -> u64 {
    coarse_now_ns().saturating_add(ns)
}

/// The absolute deadline `ns` nanoseconds from now, saturating at
/// `u64::MAX` ("never") instead of wrapping.
pub fn deadline_after(ns: u64) -> u64 {
    now_ns().saturating_add(ns)
}

/// The absolute deadline `ms` milliseconds from now, saturating.
pub fn deadline_after_ms(ms: u64) -> u64 {
    deadline_after(ms.saturating_mul(1_000_000))
}

/// Wall-clock time now: (seconds, nanoseconds) since the Unix epoch.
pub fn wallclock() -> (u64, u32) {
    let (sec, nsec) = crate::xen::shared_info::wallclock_base().unwrap_or((0, 0));
    let total = sec as u128 * 1_000_000_000 + nsec as u128 + crate::xen::time::system_ns() as u128;
    ((total / 1_000_000_000) as u64, (total % 1_000_000_000) as u32)
}
