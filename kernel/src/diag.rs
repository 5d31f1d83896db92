//! Diagnostics on VIRQ_DEBUG (`xl debug-keys <domid> ...` in dom0 raises
//! it): the threads, their states and the event-channel table.
use core::sync::atomic::Ordering;

use crate::xen::evtchn;

/// VIRQ_DEBUG handler (upcall context; prints through the IrqLock'd console).
pub fn on_debug_virq(_port: u32, _data: usize) {
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
        crate::time::armed()
    );
    let (size, used) = crate::mm::heap_stats();
    crate::kprintln!("  heap: {} KiB used of {} KiB", used / 1024, size / 1024);
}
