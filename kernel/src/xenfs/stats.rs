//! The node's counters, readable by programs as `/proc/xen/xenbus-stats`
//! (ours; Linux has no such file) and shown by the VIRQ_DEBUG dump. A watch
//! event that is coalesced or dropped at a bound is counted here, and the
//! first drop is logged once (docs/xenbus-abi.md §9.5).
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use xenbus_node::XenbusFile;

static OPENS: AtomicU64 = AtomicU64::new(0);
static EVENTS_COALESCED: AtomicU64 = AtomicU64::new(0);
static EVENTS_DROPPED: AtomicU64 = AtomicU64::new(0);
static FIRST_DROP_LOGGED: AtomicBool = AtomicBool::new(false);

/// Counts an open.
pub fn opened() {
    OPENS.fetch_add(1, Ordering::Relaxed);
}

/// Takes the per-open counters' growth into the totals, and logs the first
/// dropped event of the whole kernel.
pub fn note_file(f: &mut XenbusFile) {
    let d = f.take_stats_delta();
    EVENTS_COALESCED.fetch_add(d.events_coalesced, Ordering::Relaxed);
    EVENTS_DROPPED.fetch_add(d.events_dropped, Ordering::Relaxed);
    if f.take_first_drop() && !FIRST_DROP_LOGGED.swap(true, Ordering::Relaxed) {
        crate::warn!(
            "xenbus: watch events dropped: an open's unread data reached {} bytes and no identical event was \
             waiting to merge with; counted in /proc/xen/xenbus-stats",
            xenbus_node::QUEUE_LIMIT
        );
    }
}

/// The text of `/proc/xen/xenbus-stats`: one `name value` pair per line.
pub fn render() -> String {
    let mut s = String::new();
    let xs = crate::xenstore::stats();
    let _ = writeln!(s, "opens {}", OPENS.load(Ordering::Relaxed));
    let _ = writeln!(s, "events_coalesced {}", EVENTS_COALESCED.load(Ordering::Relaxed));
    let _ = writeln!(s, "events_dropped {}", EVENTS_DROPPED.load(Ordering::Relaxed));
    let (mc, md) = crate::xenstore::mailbox_drops();
    let _ = writeln!(s, "mailbox_events_coalesced {}", mc);
    let _ = writeln!(s, "mailbox_events_dropped {}", md);
    let _ = writeln!(s, "client_events_overflowed {}", xs.overflowed_events);
    let _ = writeln!(s, "client_replies_unmatched {}", xs.unmatched_replies);
    let _ = writeln!(s, "client_dropped_for_memory {}", xs.dropped_for_memory);
    let _ = writeln!(s, "client_requests_failed {}", xs.failed_requests);
    let _ = writeln!(s, "requests_completed {}", crate::xenstore::COMPLETED.load(Ordering::Relaxed));
    for b in crate::mm::budget::all() {
        let u = b.usage();
        let _ = writeln!(s, "budget_{} {} {} {} {}", u.name, u.used, u.peak, u.limit, u.refused);
    }
    s
}
