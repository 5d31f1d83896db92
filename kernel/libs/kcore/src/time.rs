//! Xen's TSC-to-nanoseconds conversion (`struct vcpu_time_info`).
//!
//! Xen publishes, per vCPU, a snapshot `(tsc_timestamp, system_time)` and a
//! scale `(tsc_to_system_mul, tsc_shift)`. The system time now is
//! `system_time + scale(tsc_now - tsc_timestamp)` where `scale(d)` first
//! shifts `d` left by `tsc_shift` (right if negative) and then multiplies by
//! `tsc_to_system_mul / 2^32`.

/// Converts a TSC delta to nanoseconds with Xen's scale factors.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let d = if shift >= 0 {
        delta.checked_shl(shift as u32).unwrap_or(0)
    } else {
        delta.checked_shr(shift.unsigned_abs() as u32).unwrap_or(0)
    };
    ((d as u128 * mul as u128) >> 32) as u64
}

/// One consistent reading of a `vcpu_time_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeSnapshot {
    pub tsc_timestamp: u64,
    pub system_time: u64,
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
}

impl TimeSnapshot {
    /// System time in nanoseconds at TSC value `tsc`. The TSC is a
    /// free-running 64-bit counter that Xen may have offset for the guest,
    /// so the snapshot's `tsc_timestamp` can be "negative" (just below 2^64)
    /// while the TSC read now is small: the delta is taken modulo 2^64. A
    /// delta that is negative as a signed number (a TSC behind the snapshot)
    /// counts as 0 rather than as a huge jump forward.
    pub fn system_time_at(&self, tsc: u64) -> u64 {
        let d = tsc.wrapping_sub(self.tsc_timestamp) as i64;
        let delta = if d < 0 { 0 } else { d as u64 };
        self.system_time.wrapping_add(scale_delta(delta, self.tsc_to_system_mul, self.tsc_shift))
    }

    /// The inverse scale: TSC ticks for `ns` nanoseconds (for cycle counts in reports).
    pub fn ns_to_tsc(&self, ns: u64) -> u64 {
        if self.tsc_to_system_mul == 0 {
            return 0;
        }
        let t = ((ns as u128) << 32) / self.tsc_to_system_mul as u128;
        let t = t as u64;
        if self.tsc_shift >= 0 {
            t.checked_shr(self.tsc_shift as u32).unwrap_or(0)
        } else {
            t.checked_shl(self.tsc_shift.unsigned_abs() as u32).unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // A 2 GHz TSC: Xen picks shift 0 and mul = 2^32 * 1e9 / 2e9 = 2^31.
        assert_eq!(scale_delta(2_000_000_000, 1 << 31, 0), 1_000_000_000);
        // A 3 GHz TSC: shift -1, mul = 2^32 * 1e9 / 1.5e9 ~= 2863311530.
        assert_eq!(scale_delta(3_000_000_000, 2_863_311_530, -1), 999_999_999);
        // A 1 GHz TSC: shift 1, mul = 2^31 (ns = ticks).
        assert_eq!(scale_delta(123_456_789, 1 << 31, 1), 123_456_789);
        // Big deltas do not overflow the intermediate product.
        assert_eq!(scale_delta(u64::MAX >> 1, 1 << 31, 0), (u64::MAX >> 1) >> 1);
        assert_eq!(scale_delta(5, 0, 0), 0);
    }

    #[test]
    fn snapshot_reading() {
        let s = TimeSnapshot { tsc_timestamp: 1000, system_time: 5_000, tsc_to_system_mul: 1 << 31, tsc_shift: 0 };
        assert_eq!(s.system_time_at(3000), 6_000);
        assert_eq!(s.system_time_at(500), 5_000);
        // Measured under Xen 4.17: the guest TSC was offset so that the
        // snapshot's timestamp wrapped below zero.
        let x = TimeSnapshot {
            tsc_timestamp: 18446744073249060179,
            system_time: 5896586411,
            tsc_to_system_mul: 3512673771,
            tsc_shift: -1,
        };
        let t = x.system_time_at(1793104694);
        let delta_ticks = 1793104694u64.wrapping_sub(18446744073249060179);
        assert_eq!(delta_ticks, 2_253_596_131);
        assert_eq!(t, 5896586411 + scale_delta(delta_ticks, 3512673771, -1));
        assert!(t > 5896586411 + 900_000_000 && t < 5896586411 + 1_000_000_000);
        assert_eq!(s.ns_to_tsc(1000), 2000);
    }
}
