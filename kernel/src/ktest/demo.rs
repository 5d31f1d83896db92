//! Deliberately failing and hanging tests, kept out of the default set:
//! they prove the framework reports a failure with the bytes expected and
//! received, and stops a hanging test at its timeout and moves on.
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

pub static TESTS: &[Test] = &[
    Test { suite: "demo", name: "fails", func: fails, timeout_ms: 1000, default: false },
    Test { suite: "demo", name: "hangs", func: hangs, timeout_ms: 300, default: false },
];
