//! Time: the monotonic clock (Xen system time) and wall-clock time. Timers
//! and sleeping are the scheduler's (`sched::timer`), so that this module
//! depends on nothing above `xen`.

/// Nanoseconds of Xen system time (monotonic).
pub fn now_ns() -> u64 {
    crate::xen::time::now_ns()
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
    let total = sec as u128 * 1_000_000_000 + nsec as u128 + now_ns() as u128;
    ((total / 1_000_000_000) as u64, (total % 1_000_000_000) as u32)
}
