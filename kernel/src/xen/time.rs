//! Time from vCPU 0's `vcpu_time_info` and the TSC.
//!
//! Two clocks:
//!
//! - **Xen system time** ([`system_ns`]): nanoseconds since the *host's*
//!   clock started, as Xen publishes it. Absolute deadlines handed to Xen
//!   (`SCHEDOP_poll`, `VCPUOP_set_singleshot_timer`) are in this clock.
//!   After a restore, on the same host or another, it is that host's: it
//!   may jump either way.
//! - **The kernel's monotonic clock** ([`now_ns`]): Xen system time plus an
//!   offset that is 0 at boot and is moved by each suspend, so that the
//!   clock goes on from the value it had when the domain stopped. It never
//!   goes backwards and does not count the time the domain was saved or in
//!   transit (like Linux's `CLOCK_MONOTONIC`, which stops during a suspend).
//!   Every deadline inside the kernel (timers, waits, timeouts) is in this
//!   clock; [`to_system`] converts one for Xen.
//!
//! Wall-clock time is Xen's: `wc_sec`/`wc_nsec` of shared_info (the host's
//! wall clock at system time 0) plus [`system_ns`], so it is right on the
//! new host as soon as shared_info is mapped again.
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::arch::rdtsc;
use crate::xen::{shared_info, suspend};

/// Added to Xen system time to get the monotonic clock.
static OFFSET: AtomicI64 = AtomicI64::new(0);
/// The monotonic clock when the last suspend froze the kernel.
static FROZEN_AT: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds of Xen system time now, or 0 while shared_info is not mapped.
pub fn system_ns() -> u64 {
    match shared_info::time_snapshot() {
        Some(s) => s.system_time_at(rdtsc()),
        None => 0,
    }
}

/// Xen system time as of Xen's last refresh of vCPU 0's time info, without
/// reading the TSC (which Xen may emulate: `arch::rdtsc`). Never ahead of
/// [`system_ns`]; behind it by the time since Xen last refreshed the time
/// info, which it does whenever it schedules the vCPU in and at each time
/// calibration (once a second).
pub fn system_ns_coarse() -> u64 {
    shared_info::time_snapshot().map_or(0, |s| s.system_time)
}

/// The monotonic clock as of Xen's last time-info refresh ([`system_ns_coarse`]):
/// never ahead of [`now_ns`]. For checks where "not yet" may be answered
/// late (a deadline is checked again precisely once it may have passed)
/// and for long timeouts that may start up to a second early.
pub fn coarse_now_ns() -> u64 {
    apply(system_ns_coarse(), OFFSET.load(Ordering::Relaxed))
}

fn apply(system: u64, offset: i64) -> u64 {
    (system as i128 + offset as i128).clamp(0, u64::MAX as i128) as u64
}

/// Nanoseconds of the monotonic clock now (see the module docs), or the
/// offset alone while shared_info is not mapped.
pub fn now_ns() -> u64 {
    apply(system_ns(), OFFSET.load(Ordering::Relaxed))
}

/// The Xen system time of the monotonic deadline `mono` (saturating;
/// `u64::MAX`, "never", stays so; a deadline that is already past for Xen
/// becomes 1, which Xen treats as expired).
pub fn to_system(mono: u64) -> u64 {
    if mono == u64::MAX {
        return u64::MAX;
    }
    (mono as i128 - OFFSET.load(Ordering::Relaxed) as i128).clamp(1, u64::MAX as i128) as u64
}

/// Registers the clock's suspend hooks: remember the monotonic time when
/// the kernel freezes, and move the offset on thaw so the clock goes on
/// from there. Called once, when shared_info is first mapped.
pub fn init_suspend() {
    let _ = suspend::register(suspend::Hooks {
        name: "time",
        freeze: Some(|| FROZEN_AT.store(now_ns(), Ordering::Relaxed)),
        thaw: Some(|_| {
            let frozen = FROZEN_AT.load(Ordering::Relaxed);
            let offset = (frozen as i128 - system_ns() as i128).clamp(i64::MIN as i128, i64::MAX as i128);
            OFFSET.store(offset as i64, Ordering::Relaxed);
        }),
        ..suspend::Hooks::EMPTY
    });
}
