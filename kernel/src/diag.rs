//! Diagnostics on VIRQ_DEBUG (`xl debug-keys <domid> ...` in dom0 raises
//! it): the threads, their states, the event-channel table, the heap and
//! the memory budgets. The handler only wakes the `diag` thread, which
//! prints (event handlers may not allocate).
use core::sync::atomic::{AtomicBool, Ordering};

use crate::sched::WaitQueue;
use crate::xen::evtchn;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static WAKE: WaitQueue = WaitQueue::new();

/// VIRQ_DEBUG handler (upcall context).
pub fn on_debug_virq(_port: u32, _data: usize) {
    REQUESTED.store(true, Ordering::SeqCst);
    WAKE.wake_all();
}

/// Binds VIRQ_DEBUG and starts the thread that prints the dump; after a
/// restore into a new domain, binds VIRQ_DEBUG again (suspend hook).
pub fn init() {
    match evtchn::bind_virq(xen_sys::VIRQ_DEBUG) {
        Ok(port) => {
            if crate::sched::spawn("diag", diag_thread).is_ok() {
                evtchn::bind_handler(port, on_debug_virq, 0);
                let _ = crate::xen::suspend::register(crate::xen::suspend::Hooks {
                    name: "diag",
                    thaw: Some(|o| {
                        if o == crate::xen::suspend::Outcome::NewDomain {
                            if let Ok(port) = evtchn::bind_virq(xen_sys::VIRQ_DEBUG) {
                                evtchn::bind_handler(port, on_debug_virq, 0);
                            }
                        }
                    }),
                    ..crate::xen::suspend::Hooks::EMPTY
                });
            } else {
                crate::warn!("VIRQ_DEBUG not bound: no memory for its thread");
            }
        }
        Err(e) => crate::warn!("VIRQ_DEBUG not bound: {}", e),
    }
}

fn diag_thread() {
    loop {
        WAKE.wait_until(|| REQUESTED.swap(false, Ordering::SeqCst));
        dump();
    }
}

fn dump() {
    crate::kprintln!("--- debug: threads ---");
    for (id, name, state, switches) in crate::sched::threads() {
        crate::kprintln!("  thread {:4} {:16} {:?} ({} switches)", id.0, name, state, switches);
    }
    crate::kprintln!("--- debug: event channels ---");
    for port in evtchn::bound_ports() {
        let st = evtchn::status(port);
        let pending = crate::xen::shared_info::is_pending(port);
        crate::kprintln!("  port {:4} {:?} pending={}", port, st, pending);
    }
    crate::kprintln!(
        "  upcalls={} dispatched={} unhandled={} switches={} idle_blocks={} timers={}",
        evtchn::UPCALLS.load(Ordering::Relaxed),
        evtchn::DISPATCHED.load(Ordering::Relaxed),
        evtchn::UNHANDLED.load(Ordering::Relaxed),
        crate::sched::SWITCHES.load(Ordering::Relaxed),
        crate::sched::IDLE_BLOCKS.load(Ordering::Relaxed),
        crate::sched::timer::armed()
    );
    crate::kprintln!(
        "  suspend: hooks {:?}; {} restore(s), {} cancelled suspend(s) since boot",
        crate::xen::suspend::registered(),
        crate::xen::suspend::RESTORES.load(Ordering::Relaxed),
        crate::xen::suspend::CANCELS.load(Ordering::Relaxed)
    );
    let (size, used) = crate::mm::heap_stats();
    crate::kprintln!("  heap: {} KiB used of {} KiB mapped", used / 1024, size / 1024);
    for b in crate::mm::budget::all() {
        let u = b.usage();
        crate::kprintln!(
            "  budget {}: {} of {} bytes (peak {}, {} refused)",
            u.name,
            u.used,
            u.limit,
            u.peak,
            u.refused
        );
    }
}
