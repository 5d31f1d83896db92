//! What the kernel does once it is up, as the command line says:
//! `crash=pagefault|panic|ud` (exercise the crash report),
//! `conformance=<dir>` (run the scenario corpus), `tests=<selection>` (run
//! in-guest tests), `programs=<list>` / `programs-file=<path>` (run
//! programs), `bench=<spec>` (the `make bench` workload, docs/bench.md),
//! `idle=<seconds>` (wait blocked in Xen); then power off.
//! `gapwatch` starts a thread that reports every stretch of wall-clock time
//! it did not run (`GAPWATCH gap_ms=<n>`): the downtime of a save, restore
//! or migration as a program sees it (the harness compares it with the
//! same probe in a Linux domU).
//! Every command-line word is listed in xen-config/unikernel.cfg.
use crate::xen::sched::{shutdown_forever, ShutdownReason};
use crate::{cmdline, info, kprintln, warn};

/// Runs the modes the command line names, then powers off.
pub fn run(cmdline: &'static str) -> ! {
    crash_on_request(cmdline);
    #[cfg(feature = "bench")]
    if let Some(spec) = cmdline::get(cmdline, "bench") {
        crate::bench::run(spec);
        poweroff();
    }
    let v = alloc::vec![1u8; 100_000];
    info!("heap check: allocated {} bytes", v.len());
    drop(v);
    #[cfg(feature = "in-guest-tests")]
    {
        if let Some(dir) = cmdline::get(cmdline, "conformance") {
            let n = crate::conformance::run_dir(dir);
            info!("conformance: {} scenarios run", n);
            poweroff();
        }
        if let Some(sel) = cmdline::get(cmdline, "tests") {
            // The verdict is on the console (`Test result: ...`); the domain
            // powers off either way, so the harness can tell a test failure
            // from a crash.
            let _failed = crate::ktest::run_selection(sel);
            poweroff();
        }
    }
    #[cfg(not(feature = "in-guest-tests"))]
    if cmdline::get(cmdline, "tests").is_some() || cmdline::get(cmdline, "conformance").is_some() {
        warn!("this image was built without the in-guest tests (feature in-guest-tests)");
    }
    if cmdline::words(cmdline).any(|(k, _)| k == "gapwatch") {
        gapwatch();
    }
    #[cfg(feature = "programs")]
    run_programs(cmdline);
    if let Some(secs) = cmdline::get(cmdline, "idle").and_then(|v| v.parse::<u64>().ok()) {
        info!("idling for {} s (blocked in Xen)", secs);
        let t0 = crate::time::now_ns();
        crate::sched::sleep_ns(secs.saturating_mul(1_000_000_000));
        info!(
            "idle done after {} ms, {} idle blocks, {} upcalls",
            (crate::time::now_ns() - t0) / 1_000_000,
            crate::sched::IDLE_BLOCKS.load(core::sync::atomic::Ordering::Relaxed),
            crate::xen::evtchn::UPCALLS.load(core::sync::atomic::Ordering::Relaxed)
        );
    }
    poweroff()
}

/// `programs=<list>` (the rest of the command line) and
/// `programs-file=<path>` (a list in the VFS, one command per line): run
/// the commands (`programs::shell`), then go on (and power off).
/// `programs-report` adds the harness's records; `programs-timeout=<s>`
/// kills a program that runs longer.
#[cfg(feature = "programs")]
fn run_programs(cmdline: &str) {
    let report = cmdline::words(cmdline).any(|(k, _)| k == "programs-report");
    let timeout_ns = cmdline::get(cmdline, "programs-timeout").and_then(cmdlist::parse_seconds).filter(|&ns| ns > 0);
    let mut lists: alloc::vec::Vec<alloc::string::String> = alloc::vec::Vec::new();
    if let Some(path) = cmdline::get(cmdline, "programs-file") {
        match crate::fs::read_file(path) {
            Ok(b) => lists.push(alloc::string::String::from_utf8_lossy(&b).into_owned()),
            Err(e) => warn!("programs-file={}: {}", path, e.name()),
        }
    }
    if let Some(rest) = cmdline::rest_after(cmdline, "programs") {
        lists.push(alloc::string::String::from(rest));
    }
    let domid = crate::xenstore::read_string(0, "domid").unwrap_or_default();
    for text in lists {
        let parsed = crate::programs::shell::parse(&text)
            .and_then(|mut c| cmdlist::expand(&mut c, &[("DOMID", domid.as_str())]).map(|()| c));
        match parsed {
            Ok(cmds) => {
                let (n, failed) = crate::programs::shell::run_list(&cmds, report, timeout_ns);
                kprintln!("programs: done: {} programs, {} failed", n, failed);
            }
            Err(e) => warn!("programs: cannot parse the command list: {}", e.0),
        }
    }
}

/// Samples the wall clock every 20 ms; a sample more than 200 ms after
/// the previous one is a gap the thread did not run through.
fn gapwatch() {
    fn wall_ms() -> u64 {
        let (s, n) = crate::time::wallclock();
        s.saturating_mul(1000).saturating_add(n as u64 / 1_000_000)
    }
    let spawned = crate::sched::spawn("gapwatch", || {
        let mut last = wall_ms();
        loop {
            crate::sched::sleep_ns(20_000_000);
            let now = wall_ms();
            if now.saturating_sub(last) >= 200 {
                kprintln!("GAPWATCH gap_ms={}", now - last);
            }
            last = now;
        }
    });
    if spawned.is_err() {
        warn!("gapwatch: no memory for its thread");
    }
}

fn poweroff() -> ! {
    kprintln!("unikernel: poweroff");
    crate::xen::console::flush();
    shutdown_forever(ShutdownReason::Poweroff);
}

fn crash_on_request(cmdline: &str) {
    match cmdline::get(cmdline, "crash") {
        Some("pagefault") => {
            info!("crash=pagefault: reading an unmapped address");
            // SAFETY: deliberately faults, to exercise the crash report.
            let v = unsafe { core::ptr::read_volatile(0xdead_b000 as *const u64) };
            kprintln!("unreachable: read {:#x}", v);
        }
        Some("panic") => panic!("crash=panic requested on the command line"),
        Some("ud") => {
            // SAFETY: deliberately raises #UD, to exercise the crash report.
            unsafe { core::arch::asm!("ud2") };
        }
        Some(other) => warn!("unknown crash= value '{}' ignored", other),
        None => {}
    }
}
