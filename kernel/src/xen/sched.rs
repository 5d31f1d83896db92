//! Scheduler operations (`HYPERVISOR_sched_op`): yield, block, poll, shutdown.
use crate::arch::hypercall::{check, hypercall2, XenError};
use xen_sys as x;

/// How the domain ends; the toolstack acts on it (`on_poweroff`, `on_crash`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    Poweroff,
    Reboot,
    Crash,
}

impl ShutdownReason {
    fn code(self) -> u32 {
        match self {
            ShutdownReason::Poweroff => x::SHUTDOWN_poweroff,
            ShutdownReason::Reboot => x::SHUTDOWN_reboot,
            ShutdownReason::Crash => x::SHUTDOWN_crash,
        }
    }
}

/// Asks Xen to shut the domain down. Does not return for poweroff, reboot
/// or crash; callers flush the console first.
pub fn shutdown(reason: ShutdownReason) -> Result<i64, XenError> {
    let mut arg = x::sched_shutdown { reason: reason.code() };
    // SAFETY: SCHEDOP_shutdown takes a pointer to a sched_shutdown that lives
    // on our stack for the duration of the call.
    check(unsafe { hypercall2(x::__HYPERVISOR_sched_op, x::SCHEDOP_shutdown as u64, &mut arg as *mut _ as u64) })
}

/// Shuts down and never returns (spins on SCHEDOP_block if Xen refuses).
pub fn shutdown_forever(reason: ShutdownReason) -> ! {
    loop {
        let _ = shutdown(reason);
        block();
    }
}

/// Blocks the vCPU until an event is pending. Xen clears the upcall mask
/// (enables event delivery) as part of this operation; the caller must have
/// checked for work with events masked just before, so no wake-up is lost.
pub fn block() {
    // SAFETY: SCHEDOP_block takes no argument.
    unsafe { hypercall2(x::__HYPERVISOR_sched_op, x::SCHEDOP_block as u64, 0) };
}

/// Waits until one of `ports` is pending or the Xen system time reaches
/// `deadline_ns` (0: no deadline). Event delivery is not needed for this.
pub fn poll(ports: &mut [u32], deadline_ns: u64) -> Result<i64, XenError> {
    let mut arg = x::sched_poll {
        ports: x::__guest_handle_evtchn_port_t { p: ports.as_mut_ptr() },
        nr_ports: ports.len() as u32,
        timeout: deadline_ns,
    };
    // SAFETY: SCHEDOP_poll reads nr_ports ports from the handle, which points
    // into `ports`, borrowed for the call.
    check(unsafe { hypercall2(x::__HYPERVISOR_sched_op, x::SCHEDOP_poll as u64, &mut arg as *mut _ as u64) })
}
