//! `programs`: real programs in the guest — Debian's unmodified xenstore
//! tools and C programs of our own (tests/programs, in /usr/local/bin of
//! every test guest) — run through `programs::run`, with exact output and
//! status; refused images; faults that end the program and not the
//! kernel; and no memory left behind.
use alloc::string::String;
use alloc::vec::Vec;

use super::{metric, Test, TestResult};
use crate::mm::budget::PROGRAMS;
use crate::programs::{self, image::ImageError, ExitStatus, Options, Signal, StartError};
use crate::{check, check_bytes, check_eq};

const T: u64 = 60_000;

fn run(argv: &[&str]) -> Result<programs::Outcome, StartError> {
    programs::run(argv, programs::DEFAULT_ENV, &Options::default())
}

/// Runs `argv`; fails the test unless it starts.
macro_rules! run_ok {
    ($($a:expr),+) => {
        match run(&[$($a),+]) {
            Ok(o) => o,
            Err(e) => crate::fail!("{:?} did not start: {}", [$($a),+], e),
        }
    };
}

/// Every program's memory (image, heap pages, control blocks, captured
/// output) goes back to the programs budget when it ends.
fn budget_back_to(base: usize) -> TestResult {
    // Thread records (and the control blocks they own) are reaped by the
    // scheduler after the thread switched away for good.
    for _ in 0..50 {
        if PROGRAMS.used() == base {
            return Ok(());
        }
        crate::sched::sleep_ns(10_000_000);
    }
    check_eq!(PROGRAMS.used(), base);
    Ok(())
}

fn debian_write_read_ls() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        let o = run_ok!("xenstore-write", "data/ktest-prog/a", "hello", "data/ktest-prog/b", "two words");
        check_eq!(o.status, ExitStatus::Exited(0));
        check_bytes!(&o.stdout[..], b"");
        check_bytes!(&o.stderr[..], b"");
        let o = run_ok!("xenstore-read", "data/ktest-prog/a", "data/ktest-prog/b");
        check_eq!(o.status, ExitStatus::Exited(0));
        check_bytes!(&o.stdout[..], b"hello\ntwo words\n");
        metric("program_xenstore_read_load_us", o.load_ns / 1000, "us");
        metric("program_xenstore_read_run_us", o.run_ns / 1000, "us");
        let o = run_ok!("xenstore-ls", "data/ktest-prog");
        check_bytes!(&o.stdout[..], b"a = \"hello\"\nb = \"two words\"\n");
        let o = run_ok!("xenstore-read", "data/ktest-prog/missing");
        check_eq!(o.status, ExitStatus::Exited(1));
        check_bytes!(&o.stderr[..], b"xenstore-read: couldn't read path data/ktest-prog/missing\n");
        let o = run_ok!("xenstore-rm", "data/ktest-prog");
        check_eq!(o.status, ExitStatus::Exited(0));
        // The tools went through the xenbus node like any program.
        check!(crate::xenstore::read(0, "data/ktest-prog").is_err());
    }
    budget_back_to(base)
}

fn argv_env_status_stderr() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        let o = programs::run(
            &["exit-status", "7", "two words"],
            &["GREETING=hi there", "PATH=/usr/local/bin"],
            &Options::default(),
        );
        let o = match o {
            Ok(o) => o,
            Err(e) => crate::fail!("did not start: {}", e),
        };
        check_eq!(o.status, ExitStatus::Exited(7));
        check_bytes!(&o.stdout[..], b"argv[0]=exit-status\nargv[1]=7\nargv[2]=two words\nGREETING=hi there\n");
        check_bytes!(&o.stderr[..], b"to stderr\n");
        let o = run_ok!("exit-status");
        check_eq!(o.status, ExitStatus::Exited(0));
        check_bytes!(&o.stdout[..], b"argv[0]=exit-status\nGREETING=(unset)\n");
    }
    budget_back_to(base)
}

fn unknown_symbols_refused_with_the_list() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        match run(&["missing-symbols"]) {
            Err(StartError::Image(ImageError::Load(e))) => {
                let text = alloc::format!("{}", e);
                crate::kprintln!("    refused: {}", text);
                for sym in ["execvp", "fork", "mkfifo"] {
                    check!(text.contains(sym), "the error does not name {}: {}", sym, text);
                }
                check!(!text.contains("puts"), "puts is provided: {}", text);
            }
            Err(e) => crate::fail!("refused for another reason: {}", e),
            Ok(_) => crate::fail!("a program with unknown imports was started"),
        }
    }
    budget_back_to(base)
}

fn not_found_and_malformed_refused() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        match run(&["no-such-program"]) {
            Err(e @ StartError::Image(ImageError::NotFound { .. })) => check_eq!(e.status(), 127),
            other => crate::fail!("not found: {:?}", other.err()),
        }
        // Truncated copies of a real executable, and garbage.
        let elf = crate::fs::read_file("/usr/bin/xenstore").map_err(|e| super::Failure {
            file: file!(),
            line: line!(),
            msg: alloc::format!("read /usr/bin/xenstore: {}", e.name()),
        })?;
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        // (Past the last segment only section headers follow, which a loader
        // does not need: those cuts load.)
        for cut in [0usize, 3, 63, 64, 200, 4000, elf.len() / 2, 24000] {
            cases.push((alloc::format!("truncated at {}", cut), elf.get(..cut).unwrap_or_default().to_vec()));
        }
        let mut bad_phoff = elf.clone();
        if let Some(b) = bad_phoff.get_mut(32..40) {
            b.copy_from_slice(&u64::MAX.to_le_bytes());
        }
        cases.push((String::from("e_phoff out of range"), bad_phoff));
        cases.push((String::from("text"), b"#!/bin/sh\necho not an ELF\n".to_vec()));
        for (what, bytes) in cases {
            let p = crate::fs::Program::new();
            let fd = p.open("/tmp/bad-elf", crate::fs::O_CREAT | crate::fs::O_WRONLY | crate::fs::O_TRUNC);
            let fd = match fd {
                Ok(fd) => fd,
                Err(e) => crate::fail!("open /tmp/bad-elf: {}", e.name()),
            };
            check_eq!(p.write(fd, &bytes).ok(), Some(bytes.len()));
            let _ = p.close(fd);
            match run(&["/tmp/bad-elf"]) {
                Err(e @ StartError::Image(ImageError::Load(_))) => check_eq!(e.status(), 126),
                other => crate::fail!("{}: {:?}", what, other.map(|o| o.status)),
            }
        }
        let _ = crate::fs::unlink("/tmp/bad-elf");
    }
    budget_back_to(base)
}

fn faults_end_the_program_not_the_kernel() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        let o = run_ok!("crash", "segv");
        check_eq!(o.status, ExitStatus::Signaled(Signal::Sigsegv));
        check_eq!(o.status.code(), 139);
        check_bytes!(&o.stdout[..], b"crash: segv\n");
        let o = run_ok!("crash", "ud");
        check_eq!(o.status, ExitStatus::Signaled(Signal::Sigill));
        // The canary at %fs:0x28 catches a stack overflow: glibc's message and
        // SIGABRT's status.
        let o = run_ok!("crash", "smash");
        check_eq!(o.status.code(), 134);
        check_bytes!(&o.stdout[..], b"crash: smash\n");
        check_bytes!(&o.stderr[..], b"*** stack smashing detected ***: terminated\n");
        // And the kernel goes on running programs.
        let o = run_ok!("xenstore-read", "domid");
        check_eq!(o.status, ExitStatus::Exited(0));
    }
    budget_back_to(base)
}

fn own_program_on_libxenstore() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        let o = run_ok!("xs-demo", "data/ktest-demo");
        check_bytes!(&o.stderr[..], b"");
        check_eq!(o.status, ExitStatus::Exited(0));
        check_bytes!(
            &o.stdout[..],
            b"read data/ktest-demo/value = first (5 bytes)\nentry 0: value\nevent 0: data/ktest-demo/value demo-token\n\
    event 1: data/ktest-demo/value demo-token\ndone\n"
        );
    }
    budget_back_to(base)
}

fn watch_fired_by_another_program() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        let w =
            programs::start(&["xenstore-watch", "-n", "3", "data/ktest-w"], programs::DEFAULT_ENV, &Options::default());
        let w = match w {
            Ok(w) => w,
            Err(e) => crate::fail!("watch did not start: {}", e),
        };
        // The watcher registers (its first event is the registration's).
        crate::sched::sleep_ns(300_000_000);
        for v in ["one", "two"] {
            let o = run_ok!("xenstore-write", "data/ktest-w", v);
            check_eq!(o.status, ExitStatus::Exited(0));
        }
        let o = programs::wait(w);
        check_bytes!(&o.stdout[..], b"data/ktest-w\ndata/ktest-w\ndata/ktest-w\n");
        check_bytes!(&o.stderr[..], b"");
        check_eq!(o.status, ExitStatus::Exited(0));
        let _ = run(&["xenstore-rm", "data/ktest-w"]);
    }
    budget_back_to(base)
}

fn many_programs_in_a_row_leave_nothing() -> TestResult {
    let base = PROGRAMS.used();
    let heap0 = crate::mm::heap_stats();
    for i in 0..20 {
        let v = alloc::format!("v{}", i);
        let o = run_ok!("xenstore-write", "data/ktest-many", v.as_str());
        check_eq!(o.status, ExitStatus::Exited(0));
    }
    let o = run_ok!("xenstore-read", "data/ktest-many");
    check_bytes!(&o.stdout[..], b"v19\n");
    drop(o);
    let _ = run(&["xenstore-rm", "data/ktest-many"]);
    budget_back_to(base)?;
    let heap1 = crate::mm::heap_stats();
    crate::kprintln!("    heap used before {} after {} bytes", heap0.0, heap1.0);
    Ok(())
}

/// x87/SSE control state is per thread: four threads of one program with
/// different rounding modes and precisions, switching 200 times.
fn fpu_state_is_per_thread() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        let o = run_ok!("fpu-threads");
        check_bytes!(
            &o.stdout[..],
            b"thread 0: 0 failures\nthread 1: 0 failures\nthread 2: 0 failures\nthread 3: 0 failures\nmain mxcsr 0x1f80\n"
        );
        check_eq!(o.status, ExitStatus::Exited(0));
    }
    budget_back_to(base)
}

/// A program that would run for ever (a watch without `-n`) is killed at
/// its timeout: its threads, blocked in the kernel, are woken and end.
fn timeout_kills_a_blocked_program() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        let opts = Options { timeout_ns: Some(500_000_000), ..Options::default() };
        let o = match programs::run(&["xenstore-watch", "data/ktest-forever"], programs::DEFAULT_ENV, &opts) {
            Ok(o) => o,
            Err(e) => crate::fail!("did not start: {}", e),
        };
        check_eq!(o.status, ExitStatus::Signaled(Signal::Sigkill));
        check_eq!(o.status.code(), 137);
        // The registration's event came before the kill.
        check_bytes!(&o.stdout[..], b"data/ktest-forever\n");
    }
    budget_back_to(base)
}

/// A program that allocates until malloc fails gets NULL and ENOMEM (the
/// programs budget runs out, not the kernel's heap), its memory is intact,
/// and everything goes back when it ends; the kernel keeps serving.
fn out_of_memory_is_enomem() -> TestResult {
    let base = PROGRAMS.used();
    // Outcomes hold their output's charge: they end before the check.
    {
        let o = run_ok!("eat-memory");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        crate::kprintln!("    {}", out.trim_end().replace('\n', " / "));
        check!(out.contains("before malloc failed with ENOMEM\nafter free: allocated again\n"), "output: {}", out);
        check_eq!(o.status, ExitStatus::Exited(0));
        drop(o);
        budget_back_to(base)?;
        // Still serving programs afterwards.
        let o = run_ok!("xenstore-read", "domid");
        check_eq!(o.status, ExitStatus::Exited(0));
    }
    budget_back_to(base)
}

/// A program's captured output stays charged to the programs budget while
/// its outcome lives (the bytes are still in memory), and goes back when
/// the outcome is dropped.
fn output_stays_charged_until_dropped() -> TestResult {
    let base = PROGRAMS.used();
    let o = run_ok!("exit-status", "7");
    let held = o.stdout.len() + o.stderr.len();
    check!(held > 0, "the program wrote nothing");
    budget_back_to(base + held)?;
    drop(o);
    budget_back_to(base)
}

pub const TESTS: &[Test] = &[
    Test {
        suite: "programs",
        name: "output_stays_charged_until_dropped",
        func: output_stays_charged_until_dropped,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "out_of_memory_is_enomem",
        func: out_of_memory_is_enomem,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "timeout_kills_a_blocked_program",
        func: timeout_kills_a_blocked_program,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "fpu_state_is_per_thread",
        func: fpu_state_is_per_thread,
        timeout_ms: T,
        default: true,
    },
    Test { suite: "programs", name: "debian_write_read_ls", func: debian_write_read_ls, timeout_ms: T, default: true },
    Test {
        suite: "programs",
        name: "argv_env_status_stderr",
        func: argv_env_status_stderr,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "unknown_symbols_refused_with_the_list",
        func: unknown_symbols_refused_with_the_list,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "not_found_and_malformed_refused",
        func: not_found_and_malformed_refused,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "faults_end_the_program_not_the_kernel",
        func: faults_end_the_program_not_the_kernel,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "own_program_on_libxenstore",
        func: own_program_on_libxenstore,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "watch_fired_by_another_program",
        func: watch_fired_by_another_program,
        timeout_ms: T,
        default: true,
    },
    Test {
        suite: "programs",
        name: "many_programs_in_a_row_leave_nothing",
        func: many_programs_in_a_row_leave_nothing,
        timeout_ms: T,
        default: true,
    },
];
