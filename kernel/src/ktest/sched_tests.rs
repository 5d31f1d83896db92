//! `sched`: threads, wait queues and their costs.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::{metric, Test, TestResult};
use crate::arch::rdtsc;
use crate::sched::{self, WaitQueue};
use crate::time::now_ns;

fn spawn_join() -> TestResult {
    let hits = Arc::new(AtomicU32::new(0));
    let mut ids = Vec::new();
    // 50 threads, or as many as the stacks budget has room for (at
    // memory=4 that is fewer), keeping two stacks' worth for others.
    let per = sched::DEFAULT_STACK + crate::mm::PAGE + sched::THREAD_OVERHEAD;
    let n = (crate::mm::budget::STACKS.available() / per).saturating_sub(2).min(50);
    crate::check!(n >= 8, "room for only {} threads", n);
    for _ in 0..n {
        let h = hits.clone();
        ids.push(crate::check_ok!(sched::spawn("worker", move || {
            sched::yield_now();
            h.fetch_add(1, Ordering::SeqCst);
        })));
    }
    for id in ids {
        sched::join(id);
    }
    crate::check_eq!(hits.load(Ordering::SeqCst), n as u32);
    Ok(())
}

struct Ring {
    holder: AtomicU32,
    passes: AtomicU64,
    queues: Vec<WaitQueue>,
}

/// 1,000 threads pass a token 3 times round a ring of wait queues. Where
/// the domain's memory cannot hold 1,000 stacks (at 4 MiB: 1,000 pages of
/// stack alone are the whole domain), spawning stops at the stacks budget
/// with a clean `SpawnError::NoMemory`, which is checked, and the ring runs
/// with the threads that fit (at least 100).
fn token_ring_up_to_1000() -> TestResult {
    const MAX: u32 = 1000;
    const ROUNDS: u64 = 3;
    let size = Arc::new(AtomicU32::new(MAX));
    let ring = Arc::new(Ring {
        holder: AtomicU32::new(u32::MAX),
        passes: AtomicU64::new(0),
        queues: (0..MAX).map(|_| WaitQueue::new()).collect(),
    });
    let mut ids = Vec::new();
    let mut refused = None;
    for i in 0..MAX {
        let r = ring.clone();
        let n = size.clone();
        let id = sched::spawn_with_stack("ring", 4 * 1024, move || {
            for _ in 0..ROUNDS {
                r.queues[i as usize].wait_until(|| r.holder.load(Ordering::SeqCst) == i);
                r.passes.fetch_add(1, Ordering::SeqCst);
                let next = (i + 1) % n.load(Ordering::SeqCst);
                r.holder.store(next, Ordering::SeqCst);
                r.queues[next as usize].wake_one();
            }
        });
        match id {
            Ok(id) => ids.push(id),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let n = ids.len() as u32;
    if let Some(e) = refused {
        crate::check_eq!(e, sched::SpawnError::NoMemory);
        crate::check!(n >= 100, "only {} threads before the stacks budget refused", n);
        let u = crate::mm::budget::STACKS.usage();
        crate::check!(u.refused > 0, "the refusal was not the stacks budget's: {:?}", u);
    }
    size.store(n, Ordering::SeqCst);
    metric("sched.token_ring_threads", n as u64, "threads");
    let t0 = now_ns();
    ring.holder.store(0, Ordering::SeqCst);
    ring.queues[0].wake_one();
    for id in ids {
        sched::join(id);
    }
    crate::check_eq!(ring.passes.load(Ordering::SeqCst), n as u64 * ROUNDS);
    metric("sched.token_ring_x3_ms", (now_ns() - t0) / 1_000_000, "ms");
    Ok(())
}

fn wait_timeout_vs_event() -> TestResult {
    // The event comes first: the waiter wakes on it, long before the deadline.
    let flag = Arc::new(AtomicBool::new(false));
    let q = Arc::new(WaitQueue::new());
    let (f2, q2) = (flag.clone(), q.clone());
    let waker = crate::check_ok!(sched::spawn("waker", move || {
        crate::sched::sleep_ns(5_000_000);
        f2.store(true, Ordering::SeqCst);
        q2.wake_all();
    }));
    let t0 = now_ns();
    let got = q.wait_until_deadline(|| flag.load(Ordering::SeqCst), t0 + 2_000_000_000);
    let d = now_ns() - t0;
    sched::join(waker);
    crate::check!(got, "woke by timeout although the event came first");
    crate::check!(d < 1_000_000_000, "woke after {} ns", d);
    // The timeout comes first.
    let t0 = now_ns();
    let got = q.wait_until_deadline(|| false, t0 + 20_000_000);
    crate::check!(!got);
    crate::check!(now_ns() - t0 >= 20_000_000);
    // A deadline already past: false, at once or after one timer wake-up.
    let t0 = now_ns();
    crate::check!(!q.wait_until_deadline(|| false, t0.saturating_sub(1)));
    crate::check!(now_ns() - t0 < 1_000_000_000);
    // One so close that the coarse clock cannot tell it has passed.
    for _ in 0..20 {
        let d = now_ns() + 50_000;
        crate::check!(!q.wait_until_deadline(|| false, d));
        crate::check!(now_ns() >= d, "returned before its deadline");
    }
    // Waits that need no clock read make none (Xen may emulate RDTSC at
    // microseconds a time): no deadline, or a condition already true.
    let reads = || crate::arch::RDTSC_READS.load(Ordering::SeqCst);
    let r0 = reads();
    crate::check!(q.wait_until_deadline(|| true, t0 + 1_000_000_000));
    crate::check!(q.wait_until_deadline(|| true, u64::MAX));
    crate::check_eq!(reads(), r0);
    Ok(())
}

fn switch_cost() -> TestResult {
    let n = 20_000u64;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let other = crate::check_ok!(sched::spawn("yielder", move || {
        while !s2.load(Ordering::SeqCst) {
            sched::yield_now();
        }
    }));
    let before = sched::SWITCHES.load(Ordering::Relaxed);
    let t0 = rdtsc();
    for _ in 0..n {
        sched::yield_now();
    }
    let cycles = rdtsc() - t0;
    let switches = sched::SWITCHES.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::SeqCst);
    sched::join(other);
    crate::check!(switches >= n, "only {} switches", switches);
    metric("sched.thread_switch_cycles", cycles / switches.max(1), "TSC cycles per switch (yield to yield)");
    Ok(())
}

/// A stack's guard page is address space only: never mapped, before or
/// after the stack is freed; the stack's own pages are unmapped on free and
/// their memory goes back to the heap.
fn guard_page_is_unmapped() -> TestResult {
    let used0 = crate::mm::budget::STACKS.used();
    let stack = crate::check_ok!(sched::Stack::new(8192).ok_or("no memory"));
    let g = stack.guard();
    crate::check!(crate::mm::stack_region::contains(g), "stack outside the stack region: {:#x}", g);
    crate::check!(!crate::mm::is_va_mapped(g), "guard page is mapped");
    crate::check!(crate::mm::is_va_mapped(g + 4096));
    crate::check!(crate::mm::is_va_mapped(stack.top() - 8));
    crate::check!(crate::mm::budget::STACKS.used() > used0, "the stack was not charged");
    drop(stack);
    crate::check!(!crate::mm::is_va_mapped(g), "guard page mapped after free");
    crate::check!(!crate::mm::is_va_mapped(g + 4096), "stack page still mapped after free");
    crate::check_eq!(crate::mm::budget::STACKS.used(), used0);
    Ok(())
}

/// A freed stack's frames are not reachable through its old addresses: the
/// TLB is flushed when a stack is unmapped. (Without the flush, the next
/// stack in the same slot was written through a stale translation into
/// the old frames, which the heap had handed out again.)
fn freed_stack_not_reachable() -> TestResult {
    let touch = |top: u64, v: u8| {
        for off in (64..8192u64).step_by(512) {
            // SAFETY: `top - off` lies in the mapped pages of a live stack
            // of 8 KiB that nothing runs on.
            unsafe { core::ptr::write_volatile((top - off) as *mut u8, v) };
        }
    };
    for round in 0..20 {
        let s1 = crate::check_ok!(sched::Stack::new(8192).ok_or("no memory"));
        let top = s1.top();
        touch(top, 0x11);
        drop(s1);
        // Likely to get the freed frames back.
        let layout = core::alloc::Layout::from_size_align(4096, 4096).map_err(|_| super::Failure {
            file: file!(),
            line: line!(),
            msg: alloc::string::String::from("layout"),
        })?;
        let mut pages = Vec::new();
        for _ in 0..8 {
            // SAFETY: a non-zero-sized layout; freed below.
            let p = unsafe { alloc::alloc::alloc(layout) };
            crate::check!(!p.is_null(), "no memory");
            // SAFETY: `p` is a fresh 4096-byte allocation.
            unsafe { core::ptr::write_bytes(p, 0x55, 4096) };
            pages.push(p);
        }
        let s2 = crate::check_ok!(sched::Stack::new(8192).ok_or("no memory"));
        touch(s2.top(), 0xaa);
        let mut bad = None;
        for &p in &pages {
            // SAFETY: each `p` is a live 4096-byte allocation.
            let b = unsafe { core::slice::from_raw_parts(p, 4096) };
            if let Some(i) = b.iter().position(|&x| x != 0x55) {
                bad = Some((p as u64 + i as u64, b[i]));
            }
            // SAFETY: allocated above with this layout.
            unsafe { alloc::alloc::dealloc(p, layout) };
        }
        // SAFETY: as in `touch`.
        let back = unsafe { core::ptr::read_volatile((s2.top() - 64) as *const u8) };
        drop(s2);
        crate::check!(
            bad.is_none(),
            "round {}: a heap page was written through a freed stack's address: {:x?}",
            round,
            bad
        );
        crate::check_eq!(back, 0xaa);
    }
    Ok(())
}

pub static TESTS: &[Test] = &[
    Test {
        suite: "sched",
        name: "freed_stack_not_reachable",
        func: freed_stack_not_reachable,
        timeout_ms: 10_000,
        default: true,
    },
    Test { suite: "sched", name: "spawn_join", func: spawn_join, timeout_ms: 5_000, default: true },
    Test {
        suite: "sched",
        name: "token_ring_up_to_1000",
        func: token_ring_up_to_1000,
        timeout_ms: 60_000,
        default: true,
    },
    Test {
        suite: "sched",
        name: "wait_timeout_vs_event",
        func: wait_timeout_vs_event,
        timeout_ms: 10_000,
        default: true,
    },
    Test { suite: "sched", name: "switch_cost", func: switch_cost, timeout_ms: 30_000, default: true },
    Test {
        suite: "sched",
        name: "guard_page_is_unmapped",
        func: guard_page_is_unmapped,
        timeout_ms: 2_000,
        default: true,
    },
];
