//! Deliberately failing, hanging and crashing tests, kept out of the default
//! set: they prove the framework reports a failure with the bytes expected
//! and received, stops a hanging test at its timeout and moves on, and that
//! the harness reports a test that crashes the kernel, with its crash report.
use super::{Test, TestResult};

fn fails() -> TestResult {
    let received = b"ENOENT\0";
    crate::check_bytes!(received, b"OK\0");
    Ok(())
}

fn hangs() -> TestResult {
    let q = crate::sched::WaitQueue::new();
    q.wait_until(|| false);
    Ok(())
}

fn crashes() -> TestResult {
    // A test that takes the kernel down: the harness must report the crash
    // (with its report) instead of a hang or a pass.
    // SAFETY: deliberately faults, to exercise crash reporting from a test.
    let v = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    crate::check_eq!(v, 0);
    Ok(())
}

pub static TESTS: &[Test] = &[
    Test { suite: "demo", name: "crashes", func: crashes, timeout_ms: 1000, default: false },
    Test { suite: "demo", name: "fails", func: fails, timeout_ms: 1000, default: false },
    Test { suite: "demo", name: "hangs", func: hangs, timeout_ms: 300, default: false },
];
