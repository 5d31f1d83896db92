//! What the guest does when the xenstore connection fails
//! (`on_xenstore_failure=` on the command line; docs/xenbus-abi.md §11):
//!
//! | value | after a fatal ring or protocol error |
//! |---|---|
//! | `auto` (default) | reconnect if xenstored offers ring reconnection, else `continue` |
//! | `reconnect` | the same as `auto` |
//! | `continue` | keep running without xenstore: requests fail at once with `EIO`; `xl shutdown`/`xl reboot` cannot reach the guest (use `xl destroy`) |
//! | `poweroff` | shut the domain down (reason poweroff) |
//! | `crash` | crash report, shut down with reason crash |
//!
//! Either way every request in flight has already been answered (kernel
//! callers with a typed error, each xenbus open with `XS_ERROR "EIO"`), and
//! one log line names what the other side did.
use core::sync::atomic::{AtomicU8, Ordering};

use super::conn::Failure;

/// The choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    /// Reconnect if offered, else continue.
    Auto = 0,
    /// Keep running without xenstore.
    Continue = 1,
    /// Power off.
    Poweroff = 2,
    /// Crash.
    Crash = 3,
}

static POLICY: AtomicU8 = AtomicU8::new(Policy::Auto as u8);

impl Policy {
    /// Parses an `on_xenstore_failure=` value.
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "auto" | "reconnect" => Policy::Auto,
            "continue" => Policy::Continue,
            "poweroff" => Policy::Poweroff,
            "crash" => Policy::Crash,
            _ => return None,
        })
    }

    fn get() -> Policy {
        match POLICY.load(Ordering::Relaxed) {
            1 => Policy::Continue,
            2 => Policy::Poweroff,
            3 => Policy::Crash,
            _ => Policy::Auto,
        }
    }
}

/// Sets the policy.
pub fn set(p: Policy) {
    POLICY.store(p as u8, Ordering::Relaxed);
}

/// Logs the failure and acts on the policy. Runs in thread context, after
/// the connection's locks are released.
pub(super) fn on_failure(f: &Failure) {
    let policy = Policy::get();
    let reconnect = policy == Policy::Auto && super::supports_reconnection();
    let consequence = match policy {
        Policy::Auto if reconnect => "reconnecting (xenstored offers ring reconnection)",
        Policy::Auto | Policy::Continue => {
            "continuing without xenstore: requests fail with EIO, and xl shutdown/reboot cannot reach this guest \
             (use xl destroy)"
        }
        Policy::Poweroff => "powering off (on_xenstore_failure=poweroff)",
        Policy::Crash => "crashing (on_xenstore_failure=crash)",
    };
    crate::error!(
        "xenstore: connection lost: {}; {} request(s) in flight answered with EIO; {}",
        f.what,
        f.answered,
        consequence
    );
    match policy {
        Policy::Auto if reconnect => {
            if crate::sched::spawn("xs-reconnect", || match super::reconnect() {
                Ok(()) => crate::info!("xenstore: reconnected"),
                Err(e) => crate::error!("xenstore: reconnection failed: {}; continuing without xenstore", e),
            })
            .is_err()
            {
                crate::error!("xenstore: no memory for the reconnection thread; continuing without xenstore");
            }
        }
        Policy::Auto | Policy::Continue => {}
        Policy::Poweroff => {
            crate::kprintln!("unikernel: poweroff");
            crate::xen::console::flush();
            crate::xen::sched::shutdown_forever(crate::xen::sched::ShutdownReason::Poweroff);
        }
        Policy::Crash => panic!("xenstore connection lost: {}", f.what),
    }
}
