//! Event-channel hypercalls (`HYPERVISOR_event_channel_op`).
use crate::arch::hypercall::{check, hypercall2, XenError};
use xen_sys as x;

/// Raises the event on `port` for the other end.
pub fn send(port: u32) -> Result<(), XenError> {
    let mut arg = x::evtchn_send { port };
    // SAFETY: EVTCHNOP_send reads an evtchn_send that lives on our stack for the call.
    check(unsafe { hypercall2(x::__HYPERVISOR_event_channel_op, x::EVTCHNOP_send as u64, &mut arg as *mut _ as u64) })
        .map(|_| ())
}
