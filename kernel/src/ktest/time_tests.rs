//! `time`: the clock and timers against Xen's system time.
use super::{metric, Test, TestResult};
use crate::sched::sleep_ns;
use crate::sched::WaitQueue;
use crate::time::{now_ns, wallclock};

fn sleep_10ms() -> TestResult {
    let mut worst = 0;
    for _ in 0..5 {
        let t0 = now_ns();
        sleep_ns(10_000_000);
        let d = now_ns() - t0;
        crate::check!(d >= 10_000_000, "sleep(10 ms) returned after {} ns", d);
        worst = worst.max(d - 10_000_000);
    }
    metric("time.sleep_10ms_overshoot_max_us", worst / 1000, "us");
    Ok(())
}

fn monotonic() -> TestResult {
    let mut last = now_ns();
    for _ in 0..100_000 {
        let t = now_ns();
        crate::check!(t >= last, "time went back: {} then {}", last, t);
        last = t;
    }
    Ok(())
}

fn wallclock_sane() -> TestResult {
    let (s, ns) = wallclock();
    // After 2020-01-01 and before 2100.
    crate::check!(s > 1_577_836_800 && s < 4_102_444_800, "wall clock {} s", s);
    crate::check!(ns < 1_000_000_000);
    Ok(())
}

fn timeout_fires() -> TestResult {
    let q = WaitQueue::new();
    let t0 = now_ns();
    let ok = q.wait_until_deadline(|| false, t0 + 30_000_000);
    let d = now_ns() - t0;
    crate::check!(!ok, "the condition cannot be true");
    crate::check!(d >= 30_000_000, "timed out early, after {} ns", d);
    Ok(())
}

pub static TESTS: &[Test] = &[
    Test { suite: "time", name: "sleep_10ms", func: sleep_10ms, timeout_ms: 5_000, default: true },
    Test { suite: "time", name: "monotonic", func: monotonic, timeout_ms: 10_000, default: true },
    Test { suite: "time", name: "wallclock_sane", func: wallclock_sane, timeout_ms: 1_000, default: true },
    Test { suite: "time", name: "timeout_fires", func: timeout_fires, timeout_ms: 5_000, default: true },
];
