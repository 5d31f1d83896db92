//! The toolstack's shutdown protocol (`xl shutdown`, `xl reboot`).
//!
//! At boot the guest writes `control/feature-poweroff` and
//! `control/feature-reboot` = "1" and watches `control/shutdown`. When the
//! toolstack writes a request there, the `control` thread acknowledges it
//! by clearing the node (in a transaction, as Linux does, so that a request
//! is consumed exactly once), flushes the console and asks Xen to shut the
//! domain down with the matching reason.
//!
//! Suspend is not supported, and refused in ways the toolstack reports:
//! `control/feature-suspend` is not advertised, and the guest does not
//! publish the p2m frame list that a save needs (shared_info's
//! `pfn_to_mfn_frame_list_list`), so `xl save` fails at once ("Bad mfn 0
//! for p2m frame list list", then "domain did not respond to suspend
//! request"), libxl resumes the domain and the guest keeps running and stays
//! manageable (the harness's `xl-save` check: save fails, `xl shutdown`
//! afterwards powers it off). A "suspend" written to `control/shutdown` by
//! other means is logged and left unacknowledged, so a toolstack waiting for
//! the acknowledgement times out and cancels it.
use crate::xen::sched::ShutdownReason;
use crate::xenstore::{self, XsError};

/// Advertises the features and starts the thread that serves requests.
pub fn init() -> Result<(), XsError> {
    for f in ["control/feature-poweroff", "control/feature-reboot"] {
        if let Err(e) = xenstore::write(0, f, b"1") {
            crate::warn!("xenstore: cannot write {}: {}", f, e);
        }
    }
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
        if v.is_empty() || v == "suspend" {
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
            crate::warn!("control/shutdown: suspend requested; not supported, refused (request left unacknowledged)");
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
