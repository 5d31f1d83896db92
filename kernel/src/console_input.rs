//! Console input for threads: dom0's `xl console`, or a write to the
//! guest's console pty, read with a wait. The console ring itself is
//! `xen::console`'s; this module adds the event handler and the waiting,
//! which need the scheduler (a layer above `xen`).
use crate::sched::WaitQueue;
use crate::xen::{console, evtchn};

/// Woken when the backend signals the console event channel (input arrived
/// or output was consumed).
static INPUT: WaitQueue = WaitQueue::new();

fn on_console_event(_port: u32, _data: usize) {
    INPUT.wake_all();
}

/// Binds the console event channel so that input wakes readers (and the
/// new one after a restore into a new domain: a suspend hook).
pub fn init() {
    if let Some(port) = console::port() {
        evtchn::bind_handler(port, on_console_event, 0);
    }
    let _ = crate::xen::suspend::register(crate::xen::suspend::Hooks {
        name: "console-input",
        thaw: Some(|o| {
            if o == crate::xen::suspend::Outcome::NewDomain {
                if let Some(port) = console::port() {
                    evtchn::bind_handler(port, on_console_event, 0);
                }
            }
        }),
        resume: Some(|_| {
            INPUT.wake_all();
        }),
        ..crate::xen::suspend::Hooks::EMPTY
    });
}

/// Reads what the console has received, waiting until at least one byte is
/// there or Xen system time reaches `deadline`. Returns the number of bytes
/// read.
///
/// # Yields
pub fn read_input(buf: &mut [u8], deadline: u64) -> usize {
    let mut n = 0;
    INPUT.wait_until_deadline(
        || {
            n = console::read_input_now(buf);
            n > 0
        },
        deadline,
    );
    n
}
