//! The toolstack's shutdown protocol (`xl shutdown`, `xl reboot`, and the
//! suspend of `xl save`, `xl save -c` and migration).
//!
//! At boot the guest writes `control/feature-poweroff`,
//! `control/feature-reboot` and `control/feature-suspend` = "1" and watches
//! `control/shutdown`. When the toolstack writes a request there, the
//! `control` thread acknowledges it by clearing the node (in a transaction,
//! as Linux does, so that a request is consumed exactly once), then:
//!
//! - `poweroff`, `halt`, `reboot`: flushes the console and asks Xen to shut
//!   the domain down with the matching reason;
//! - `suspend`: runs the suspend sequence ([`crate::xen::suspend`]; libxl
//!   4.17 waits up to 60 s for the acknowledgement, then up to 60 s for
//!   `SHUTDOWN_suspend`). It returns when the domain runs again, in a new
//!   domain or (`xl save -c`, a failed save) the same one, and logs how
//!   long each part took. libxl rewrites the guest's xenstore home on
//!   restore, so the features are written again then (a resume hook).
use crate::xen::sched::ShutdownReason;
use crate::xen::suspend;
use crate::xenstore::{self, XsError};

const FEATURES: [&str; 3] = ["control/feature-poweroff", "control/feature-reboot", "control/feature-suspend"];

fn advertise() {
    // One batch: one round trip for the three writes.
    let reqs = FEATURES.iter().map(|f| xs_client::ops::write(0, f.as_bytes(), b"1")).collect();
    for (f, r) in FEATURES.iter().zip(xenstore::request_all(reqs)) {
        if let Err(e) = r {
            crate::warn!("xenstore: cannot write {}: {}", f, e);
        }
    }
}

/// Advertises the features and starts the thread that serves requests.
pub fn init() -> Result<(), XsError> {
    advertise();
    let _ = suspend::register(suspend::Hooks {
        name: "shutdown",
        resume: Some(|o| {
            if o == suspend::Outcome::NewDomain {
                advertise();
            }
        }),
        ..suspend::Hooks::EMPTY
    });
    crate::debug!("shutdown: features written");
    let w = xenstore::watch("control/shutdown", "shutdown")?;
    crate::debug!("shutdown: watch registered");
    crate::sched::spawn("control", move || loop {
        if w.next_event(u64::MAX).is_none() {
            continue;
        }
        handle_request();
    })
    .map_err(|_| XsError::NoMemory)?;
    Ok(())
}

fn handle_request() {
    crate::debug!("shutdown: control/shutdown fired");
    // Read and clear the request atomically.
    let r = xenstore::transaction(10, |tx| {
        let v = match xenstore::read_string(tx, "control/shutdown") {
            Ok(v) => v,
            Err(XsError::Xs(xs_wire::XsErrno::ENOENT)) => return Ok(alloc::string::String::new()),
            Err(e) => return Err(e),
        };
        if v.is_empty() {
            return Ok(v);
        }
        xenstore::write(tx, "control/shutdown", b"")?;
        Ok(v)
    });
    let req = match r {
        Ok((v, _)) => v,
        Err(e) => {
            crate::warn!("control/shutdown: cannot read the request: {}", e);
            return;
        }
    };
    let reason = match req.as_str() {
        "" => return,
        "poweroff" | "halt" => ShutdownReason::Poweroff,
        "reboot" => ShutdownReason::Reboot,
        "suspend" => {
            do_suspend();
            return;
        }
        other => {
            crate::warn!("control/shutdown: unknown request '{}' ignored", other);
            return;
        }
    };
    crate::info!("control/shutdown: '{}' requested by the toolstack", req);
    crate::kprintln!("unikernel: {}", if reason == ShutdownReason::Reboot { "reboot" } else { "poweroff" });
    crate::xen::console::flush();
    crate::xen::sched::shutdown_forever(reason);
}

/// Runs the suspend sequence and logs how it went.
fn do_suspend() {
    let (before, _) = crate::time::wallclock();
    crate::info!("control/shutdown: 'suspend' requested by the toolstack (wall clock {} s)", before);
    match suspend::suspend() {
        Ok(r) => {
            let domid = xenstore::read_string(0, "domid").unwrap_or_default();
            let p2m = match r.p2m {
                Some(Err(e)) => alloc::format!("; P2M NOT republished: {}", e),
                _ => alloc::string::String::new(),
            };
            crate::info!(
                "suspend: {} (domid {}): domain stopped for {} ms of wall-clock time; prepare {} ms, frozen {} us, \
                 resume {} ms{}",
                match r.outcome {
                    suspend::Outcome::NewDomain => "resumed in a new domain",
                    suspend::Outcome::Cancelled => "cancelled, resumed where it was",
                },
                domid,
                r.wall_gap_ns / 1_000_000,
                r.prepare_ns / 1_000_000,
                r.frozen_ns / 1_000,
                r.resume_ns / 1_000_000,
                p2m
            );
        }
        Err(e) => crate::error!("suspend: {}", e),
    }
}
