//! The in-guest test framework: tests registered by name in suites, selected
//! from the command line (`tests=all`, `tests=xenbus::*`,
//! `tests=events::self_loop,time::*`), each run in its own thread with a
//! timeout, one console line per test, and a closing summary:
//!
//! ```text
//! TEST events::self_loop ... ok (3.201 ms)
//! TEST demo::fails ... FAIL (0.012 ms)
//!     at kernel/src/ktest/demo.rs:12: bytes differ
//!     expected: 4f 4b 00                                        |OK.|
//!     received: 45 4e 4f 45 4e 54 00                            |ENOENT.|
//! 41 passed, 1 failed
//! Test result: FAILURE
//! ```
//! A test that does not finish within its timeout is reported `TIMEOUT`
//! and abandoned (its thread stays blocked); the run goes on. `all` runs
//! every test marked default; tests kept out of the default set (the
//! deliberately failing and hanging demos) run only when named exactly.
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::sched::{self, WaitQueue};
use crate::sync::ThreadLock;

mod adversary;
mod boot_module;
mod demo;
pub mod dom0;
mod events;
mod fs_devices;
#[cfg(feature = "programs")]
mod programs_tests;
mod sched_tests;
mod suspend_tests;
mod time_tests;
mod vfs_tests;
pub mod xenbus;
mod xenstore_tests;

/// Why a test failed: where, and what.
pub struct Failure {
    pub file: &'static str,
    pub line: u32,
    pub msg: String,
}

/// What a test returns.
pub type TestResult = Result<(), Failure>;

/// A registered test.
pub struct Test {
    pub suite: &'static str,
    pub name: &'static str,
    pub func: fn() -> TestResult,
    pub timeout_ms: u64,
    /// Part of `tests=all` and of `suite::*`.
    pub default: bool,
}

/// Fails the test with a message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err($crate::ktest::Failure { file: file!(), line: line!(), msg: alloc::format!("check failed: {}", stringify!($cond)) });
        }
    };
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::ktest::Failure { file: file!(), line: line!(), msg: alloc::format!($($arg)*) });
        }
    };
}

/// Fails the test with a message (an expression of any type, for match
/// arms).
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::ktest::Failure { file: file!(), line: line!(), msg: alloc::format!($($arg)*) })
    };
}

/// Fails unless the two values are equal (Debug output of both shown).
#[macro_export]
macro_rules! check_eq {
    ($got:expr, $want:expr) => {
        // `match` keeps temporaries of both expressions alive for the comparison.
        match (&$got, &$want) {
            (g, w) => {
                if g != w {
                    return Err($crate::ktest::Failure {
                        file: file!(),
                        line: line!(),
                        msg: alloc::format!(
                            "{} != {}\n    expected: {:?}\n    received: {:?}",
                            stringify!($got),
                            stringify!($want),
                            w,
                            g
                        ),
                    });
                }
            }
        }
    };
}

/// Fails unless two byte strings are equal; shows both in hex and printable form.
#[macro_export]
macro_rules! check_bytes {
    ($got:expr, $want:expr) => {{
        let (g, w): (&[u8], &[u8]) = (&$got[..], &$want[..]);
        if g != w {
            return Err($crate::ktest::Failure {
                file: file!(),
                line: line!(),
                msg: alloc::format!(
                    "bytes differ ({})\n    expected: {}\n    received: {}",
                    stringify!($got),
                    $crate::ktest::hexdump(w),
                    $crate::ktest::hexdump(g)
                ),
            });
        }
    }};
}

/// Unwraps a Result, failing the test with the error otherwise.
#[macro_export]
macro_rules! check_ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => {
                return Err($crate::ktest::Failure {
                    file: file!(),
                    line: line!(),
                    msg: alloc::format!("{} failed: {:?}", stringify!($e), err),
                })
            }
        }
    };
}

/// `41 42 00  |AB.|`
pub fn hexdump(b: &[u8]) -> String {
    let mut s = String::new();
    for x in b.iter().take(96) {
        s.push_str(&format!("{:02x} ", x));
    }
    if b.len() > 96 {
        s.push_str("... ");
    }
    s.push('|');
    for &x in b.iter().take(96) {
        s.push(if (0x20..0x7f).contains(&x) { x as char } else { '.' });
    }
    s.push('|');
    s
}

/// Prints a metric line the harness collects: `METRIC name=value unit`.
pub fn metric(name: &str, value: u64, unit: &str) {
    crate::kprintln!("METRIC {}={} {}", name, value, unit);
}

fn registry() -> Vec<&'static Test> {
    let mut v: Vec<&'static Test> = Vec::new();
    for suite in [
        events::TESTS,
        time_tests::TESTS,
        sched_tests::TESTS,
        xenstore_tests::TESTS,
        vfs_tests::TESTS,
        fs_devices::TESTS,
        boot_module::TESTS,
    ] {
        v.extend(suite.iter());
    }
    #[cfg(feature = "programs")]
    v.extend(programs_tests::TESTS.iter());
    // The xenbus suite is split by area, in file order.
    for suite in xenbus::suites() {
        v.extend(suite.iter());
    }
    for suite in [adversary::TESTS, suspend_tests::TESTS, demo::TESTS] {
        v.extend(suite.iter());
    }
    v
}

fn selected(t: &Test, sel: &str) -> bool {
    sel.split(',').any(|p| {
        let p = p.trim();
        let full = format!("{}::{}", t.suite, t.name);
        if p == full {
            return true;
        }
        if !t.default {
            return false;
        }
        p == "all" || p == "*" || p == t.suite || p.strip_suffix("::*") == Some(t.suite)
    })
}

/// Runs the selected tests; returns the number that did not pass.
pub fn run_selection(sel: &str) -> usize {
    let tests: Vec<&'static Test> = registry().into_iter().filter(|t| selected(t, sel)).collect();
    crate::kprintln!("TESTS selected '{}': {} tests", sel, tests.len());
    let (mut passed, mut failed) = (0usize, 0usize);
    for t in &tests {
        match run_one(t) {
            Outcome::Ok => passed += 1,
            _ => failed += 1,
        }
    }
    crate::kprintln!("{} passed, {} failed", passed, failed);
    let verdict = if tests.is_empty() {
        "ERROR"
    } else if failed == 0 {
        "SUCCESS"
    } else {
        "FAILURE"
    };
    crate::kprintln!("Test result: {}", verdict);
    if tests.is_empty() {
        1
    } else {
        failed
    }
}

enum Outcome {
    Ok,
    Fail,
    Timeout,
}

struct Slot {
    result: ThreadLock<Option<TestResult>>,
    done: WaitQueue,
}

fn run_one(t: &'static Test) -> Outcome {
    let slot = Arc::new(Slot { result: ThreadLock::new("ktest.slot", None), done: WaitQueue::new() });
    let s2 = slot.clone();
    let t0 = crate::time::now_ns();
    let spawned = sched::spawn_with_stack(t.name, 64 * 1024, move || {
        let r = (t.func)();
        *s2.result.lock() = Some(r);
        s2.done.wake_all();
    });
    if spawned.is_err() {
        crate::kprintln!("TEST {}::{} ... FAIL (0.000 ms)\n    could not spawn the test thread", t.suite, t.name);
        return Outcome::Fail;
    }
    let deadline = t0 + t.timeout_ms * 1_000_000;
    let finished = slot.done.wait_until_deadline(|| slot.result.lock().is_some(), deadline);
    let us = (crate::time::now_ns() - t0) / 1000;
    let ms = format!("{}.{:03} ms", us / 1000, us % 1000);
    if !finished {
        crate::kprintln!(
            "TEST {}::{} ... TIMEOUT ({})\n    no result within {} ms; the test thread is abandoned",
            t.suite,
            t.name,
            ms,
            t.timeout_ms
        );
        return Outcome::Timeout;
    }
    let r = slot.result.lock().take();
    match r {
        Some(Ok(())) => {
            crate::kprintln!("TEST {}::{} ... ok ({})", t.suite, t.name, ms);
            Outcome::Ok
        }
        Some(Err(f)) => {
            crate::kprintln!("TEST {}::{} ... FAIL ({})\n    at {}:{}: {}", t.suite, t.name, ms, f.file, f.line, f.msg);
            Outcome::Fail
        }
        None => Outcome::Fail,
    }
}
