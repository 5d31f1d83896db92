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

/// Two locks taken in both orders: the lock-order checker must report the
/// inversion (once, with both acquisition sites), and the test reads the
/// report back. Nothing deadlocks here (one thread), which is the point:
/// lockdep finds the bug before it bites.
fn lock_inversion() -> TestResult {
    static A: crate::sync::ThreadLock<u32> = crate::sync::ThreadLock::new("demo.a", 0);
    static B: crate::sync::ThreadLock<u32> = crate::sync::ThreadLock::new("demo.b", 0);
    if !crate::sync::lockdep::ENABLED {
        crate::check!(false, "this image was built without the lockdep feature");
    }
    let before = crate::sync::lockdep::inversions();
    {
        let _a = A.lock();
        let _b = B.lock();
    }
    {
        let _b = B.lock();
        let _a = A.lock();
    }
    crate::check!(crate::sync::lockdep::inversions() > before, "the inversion was not seen");
    let first = crate::sync::lockdep::first_inversion();
    crate::check!(first.is_some_and(|i| i.new.to == "demo.a" && i.new.from == "demo.b"), "{:?}", first);
    Ok(())
}

pub static TESTS: &[Test] = &[
    Test { suite: "demo", name: "lock_inversion", func: lock_inversion, timeout_ms: 1000, default: false },
    Test { suite: "demo", name: "crashes", func: crashes, timeout_ms: 1000, default: false },
    Test { suite: "demo", name: "fails", func: fails, timeout_ms: 1000, default: false },
    Test { suite: "demo", name: "hangs", func: hangs, timeout_ms: 300, default: false },
];
