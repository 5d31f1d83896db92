//! Xen system time (nanoseconds since the domain's clock started) from
//! vCPU 0's `vcpu_time_info` and the TSC.
use crate::arch::rdtsc;
use crate::xen::shared_info;

/// Nanoseconds of Xen system time now, or 0 before shared_info is mapped.
pub fn now_ns() -> u64 {
    match shared_info::time_snapshot() {
        Some(s) => s.system_time_at(rdtsc()),
        None => 0,
    }
}
