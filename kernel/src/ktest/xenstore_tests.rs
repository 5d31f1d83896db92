//! `xenstore`: the kernel's xenstore client against the real xenstored,
//! checked from dom0 through the harness helper (`ktest::dom0`).
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{dom0, metric, Test, TestResult};
use crate::time::now_ns;
use crate::xenstore::{self as xs, XsError};
use xs_wire::XsErrno;

fn guest_write_dom0_reads() -> TestResult {
    crate::check_ok!(xs::write(0, "data/t/guest-wrote", b"hello from the guest"));
    let v = crate::check_ok!(dom0::read("data/t/guest-wrote"));
    crate::check_eq!(v.as_str(), "hello from the guest");
    Ok(())
}

fn dom0_write_fires_watch() -> TestResult {
    let w = crate::check_ok!(xs::watch("data/t/from-dom0", "tok"));
    // The initial firing.
    let first = crate::check_ok!(w.next_event(now_ns() + 5_000_000_000).ok_or("no initial event"));
    crate::check_bytes!(first.path, b"data/t/from-dom0");
    crate::check_bytes!(first.token, b"tok");
    crate::check_ok!(dom0::write("data/t/from-dom0", "set by dom0"));
    let ev = crate::check_ok!(w.next_event(now_ns() + 5_000_000_000).ok_or("no event for dom0's write"));
    crate::check_bytes!(ev.path, b"data/t/from-dom0");
    let v = crate::check_ok!(xs::read(0, "data/t/from-dom0"));
    crate::check_bytes!(v, b"set by dom0");
    // dom0 removes it: the watch fires again and the node is gone.
    crate::check_ok!(dom0::rm("data/t/from-dom0"));
    let ev = crate::check_ok!(w.next_event(now_ns() + 5_000_000_000).ok_or("no event for dom0's rm"));
    crate::check_bytes!(ev.path, b"data/t/from-dom0");
    crate::check_eq!(xs::read(0, "data/t/from-dom0"), Err(XsError::Xs(XsErrno::ENOENT)));
    Ok(())
}

fn transaction_conflict_and_retry() -> TestResult {
    crate::check_ok!(xs::write(0, "data/t/counter", b"1"));
    // A transaction that reads the counter, then dom0 writes it: EAGAIN.
    let tx = crate::check_ok!(xs::transaction_start());
    let v = crate::check_ok!(xs::read(tx, "data/t/counter"));
    crate::check_bytes!(v, b"1");
    crate::check_ok!(dom0::write("data/t/counter", "5"));
    crate::check_ok!(xs::write(tx, "data/t/counter", b"2"));
    crate::check_eq!(xs::transaction_end(tx, true), Err(XsError::Xs(XsErrno::EAGAIN)));
    // The retry helper: the first attempt conflicts with dom0 again, the second commits.
    let mut attempts_seen = 0;
    let r = xs::transaction(5, |tx| {
        attempts_seen += 1;
        let v = xs::read_string(tx, "data/t/counter")?;
        let n: u32 = v.parse().map_err(|_| XsError::Invalid)?;
        if attempts_seen == 1 {
            dom0::write("data/t/counter", "7").map_err(|_| XsError::Invalid)?;
        }
        xs::write(tx, "data/t/counter", format!("{}", n + 1).as_bytes())?;
        Ok(n + 1)
    });
    let (value, attempts) = crate::check_ok!(r);
    crate::check_eq!(attempts, 2);
    crate::check_eq!(value, 8);
    let v = crate::check_ok!(dom0::read("data/t/counter"));
    crate::check_eq!(v.as_str(), "8");
    Ok(())
}

fn errors_are_typed() -> TestResult {
    crate::check_eq!(xs::read(0, "data/t/does-not-exist"), Err(XsError::Xs(XsErrno::ENOENT)));
    // A domU may not write outside its home.
    crate::check_eq!(xs::write(0, "/local/domain/0/forbidden", b"x"), Err(XsError::Xs(XsErrno::EACCES)));
    // An empty path is invalid.
    crate::check_eq!(xs::read(0, ""), Err(XsError::Xs(XsErrno::EINVAL)));
    // A value over xenstored's per-node quota (2048 bytes by default).
    let big = alloc::vec![b'x'; 3000];
    let r = xs::write(0, "data/t/big", &big);
    crate::check!(
        r == Err(XsError::Xs(XsErrno::ENOSPC)) || r == Err(XsError::Xs(XsErrno::E2BIG)),
        "big write: {:?}",
        r
    );
    // A payload over the protocol maximum never reaches the ring.
    let huge = alloc::vec![b'y'; 5000];
    crate::check_eq!(xs::write(0, "data/t/huge", &huge), Err(XsError::Invalid));
    // Unknown transaction: C xenstored says ENOENT, oxenstored EIO.
    let r = xs::transaction_end(0xdead, true);
    crate::check!(r == Err(XsError::Xs(XsErrno::ENOENT)) || r == Err(XsError::Xs(XsErrno::EIO)), "unknown tx: {:?}", r);
    // And the client still works.
    crate::check_ok!(xs::write(0, "data/t/after-errors", b"ok"));
    Ok(())
}

fn directory_and_perms() -> TestResult {
    crate::check_ok!(xs::rm(0, "data/t/dir").or_else(|e| if e == XsError::Xs(XsErrno::ENOENT) {
        Ok(())
    } else {
        Err(e)
    }));
    for i in 0..5 {
        crate::check_ok!(xs::write(0, &format!("data/t/dir/n{}", i), b"v"));
    }
    let mut names = crate::check_ok!(xs::directory(0, "data/t/dir"));
    names.sort();
    crate::check_eq!(names, ["n0", "n1", "n2", "n3", "n4"]);
    let perms = crate::check_ok!(xs::get_perms(0, "data/t/dir/n0"));
    crate::check!(!perms.is_empty());
    // Owner stays us; everybody else (dom0 included, which may do anything
    // anyway) gets read access. Set, read back, and dom0 can read it.
    let me: u16 = crate::check_ok!(crate::check_ok!(xs::read_string(0, "domid")).parse::<u16>());
    use xs_client::ops::{Perm, PermKind};
    let want = [Perm { kind: PermKind::Read, domid: me }];
    crate::check_ok!(xs::set_perms(0, "data/t/dir/n0", &want));
    crate::check_eq!(crate::check_ok!(xs::get_perms(0, "data/t/dir/n0")), want);
    crate::check_eq!(crate::check_ok!(dom0::read("data/t/dir/n0")).as_str(), "v");
    // Giving the node away to dom0 is refused to a domU.
    let r = xs::set_perms(0, "data/t/dir/n0", &[Perm { kind: PermKind::None, domid: 0 }]);
    crate::check!(r.is_err(), "changing the owner to dom0 succeeded: {:?}", r);
    let domid: u16 = crate::check_ok!(crate::check_ok!(xs::read_string(0, "domid")).parse::<u16>());
    let home = crate::check_ok!(xs::get_domain_path(domid));
    crate::check!(home.starts_with("/local/domain/"), "home {}", home);
    crate::check_ok!(xs::mkdir(0, "data/t/emptydir"));
    crate::check_ok!(xs::rm(0, "data/t/dir"));
    crate::check_eq!(xs::directory(0, "data/t/dir"), Err(XsError::Xs(XsErrno::ENOENT)));
    Ok(())
}

fn directory_many_entries() -> TestResult {
    // As many children as xenstored's default node-size quota (2048 bytes,
    // which counts the children's names) allows. A listing larger than one
    // 4096-byte reply, where the client pages with DIRECTORY_PART, cannot
    // be built under that quota; the paging is tested on the host
    // (xs-client) against a simulated xenstored.
    let _ = xs::rm(0, "data/t/long");
    let n = 40;
    for i in 0..n {
        crate::check_ok!(xs::write(0, &format!("data/t/long/a-rather-long-node-name-number-{:04}", i), b""));
    }
    let names = crate::check_ok!(xs::directory(0, "data/t/long"));
    crate::check_eq!(names.len(), n);
    let _ = xs::rm(0, "data/t/long");
    Ok(())
}

fn ops_per_second() -> TestResult {
    crate::check_ok!(xs::write(0, "data/t/bench", b"v"));
    // Under TCG the figure depends on what dom0 is doing at the moment, so
    // each figure is the median of three rounds, after a warm-up.
    for _ in 0..20 {
        crate::check_ok!(xs::read(0, "data/t/bench"));
    }
    let mut serial = Vec::new();
    let mut parallel = Vec::new();
    for _ in 0..3 {
        // One thread, one request at a time.
        let n = 200u64;
        let t0 = now_ns();
        for _ in 0..n {
            crate::check_ok!(xs::read(0, "data/t/bench"));
        }
        serial.push(n * 1_000_000_000 / (now_ns() - t0).max(1));
        // 16 threads, each with one request in flight.
        let done = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let t0 = now_ns();
        let mut ids = Vec::new();
        for _ in 0..16 {
            let (d, e) = (done.clone(), errors.clone());
            ids.push(crate::check_ok!(crate::sched::spawn("bench", move || {
                for _ in 0..25 {
                    match xs::read(0, "data/t/bench") {
                        Ok(_) => d.fetch_add(1, Ordering::Relaxed),
                        Err(_) => e.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })));
        }
        for id in ids {
            crate::sched::join(id);
        }
        crate::check_eq!(errors.load(Ordering::Relaxed), 0);
        parallel.push(done.load(Ordering::Relaxed) * 1_000_000_000 / (now_ns() - t0).max(1));
    }
    serial.sort();
    parallel.sort();
    metric("xenstore.ops_per_second_1_thread", serial[1], "reads/s (median of 3 rounds of 200)");
    metric("xenstore.ops_per_second_16_in_flight", parallel[1], "reads/s (median of 3 rounds of 16x25)");
    Ok(())
}

fn quota_queueing() -> TestResult {
    // 60 concurrent requests: more than xenstored's 20 outstanding per
    // domain; the client queues instead of failing.
    let errors = Arc::new(AtomicU64::new(0));
    let mut ids = Vec::new();
    for i in 0..60 {
        let e = errors.clone();
        // Small stacks: 60 threads must fit the stacks budget at 4 MiB.
        ids.push(crate::check_ok!(crate::sched::spawn_with_stack("quota", 8 * 1024, move || {
            let p = format!("data/t/q/{}", i);
            if xs::write(0, &p, b"x").is_err() || xs::read(0, &p).is_err() {
                e.fetch_add(1, Ordering::Relaxed);
            }
        })));
    }
    for id in ids {
        crate::sched::join(id);
    }
    crate::check_eq!(errors.load(Ordering::Relaxed), 0);
    let (in_flight, queued) = xs::load();
    crate::check_eq!((in_flight, queued), (0, 0));
    let _ = xs::rm(0, "data/t/q");
    Ok(())
}

fn identity() -> TestResult {
    let domid: String = crate::check_ok!(xs::read_string(0, "domid"));
    crate::check!(domid.parse::<u32>().map(|d| d > 0).unwrap_or(false), "domid '{}'", domid);
    let name = crate::check_ok!(xs::read_string(0, "name"));
    crate::check!(!name.is_empty());
    let vm = crate::check_ok!(xs::read_string(0, "vm"));
    crate::check!(vm.starts_with("/vm/"), "vm '{}'", vm);
    let f = crate::check_ok!(xs::read_string(0, "control/feature-poweroff"));
    crate::check_eq!(f.as_str(), "1");
    Ok(())
}

fn reconnect_or_typed_refusal() -> TestResult {
    if !xs::supports_reconnection() {
        // The harness's C xenstored 4.17 does not offer the feature: the
        // request is refused with a typed error and nothing breaks. (The
        // reset itself is tested on the host against a simulated xenstored.)
        crate::check_eq!(xs::reconnect(), Err(XsError::Xs(XsErrno::ENOSYS)));
        crate::check_ok!(xs::read_string(0, "domid"));
        return Ok(());
    }
    let w = crate::check_ok!(xs::watch("data/t/reconnect", "rc"));
    let _ = w.next_event(now_ns() + 2_000_000_000);
    crate::check_ok!(xs::reconnect());
    // Watches are registered again: a change fires.
    crate::check_ok!(xs::write(0, "data/t/reconnect", b"after"));
    let mut seen = false;
    while let Some(ev) = w.next_event(now_ns() + 5_000_000_000) {
        if ev.path == b"data/t/reconnect" {
            seen = true;
            break;
        }
    }
    crate::check!(seen, "no event after the reconnection");
    Ok(())
}

pub static TESTS: &[Test] = &[
    Test {
        suite: "xenstore",
        name: "reconnect_or_typed_refusal",
        func: reconnect_or_typed_refusal,
        timeout_ms: 20_000,
        default: true,
    },
    Test { suite: "xenstore", name: "identity", func: identity, timeout_ms: 10_000, default: true },
    Test {
        suite: "xenstore",
        name: "guest_write_dom0_reads",
        func: guest_write_dom0_reads,
        timeout_ms: 20_000,
        default: true,
    },
    Test {
        suite: "xenstore",
        name: "dom0_write_fires_watch",
        func: dom0_write_fires_watch,
        timeout_ms: 20_000,
        default: true,
    },
    Test {
        suite: "xenstore",
        name: "transaction_conflict_and_retry",
        func: transaction_conflict_and_retry,
        timeout_ms: 30_000,
        default: true,
    },
    Test { suite: "xenstore", name: "errors_are_typed", func: errors_are_typed, timeout_ms: 10_000, default: true },
    Test {
        suite: "xenstore",
        name: "directory_and_perms",
        func: directory_and_perms,
        timeout_ms: 10_000,
        default: true,
    },
    Test {
        suite: "xenstore",
        name: "directory_many_entries",
        func: directory_many_entries,
        timeout_ms: 60_000,
        default: true,
    },
    Test { suite: "xenstore", name: "quota_queueing", func: quota_queueing, timeout_ms: 30_000, default: true },
    Test { suite: "xenstore", name: "ops_per_second", func: ops_per_second, timeout_ms: 60_000, default: true },
];
