//! Scheduler operations (`HYPERVISOR_sched_op`): yield, block, poll, shutdown.
use crate::arch::hypercall::{check, hypercall2, hypercall3, XenError};
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

/// `SCHEDOP_shutdown(SHUTDOWN_suspend)` with the start_info page's machine
/// frame as the suspend record (the third argument, %rdx: libxc's save
/// turns it into a pfn, its restore rewrites that page and passes the new
/// frame back). Returns when the domain runs again: `Ok(0)` in a new
/// domain (restored), `Ok(1)` when the toolstack cancelled the suspend and
/// resumed this domain where it was (`xl save -c`, a failed save). Only
/// [`crate::xen::suspend`] calls it, with events masked and shared_info
/// unmapped.
pub(in crate::xen) fn suspend_hypercall(start_info_mfn: u64) -> Result<i64, XenError> {
    let mut arg = x::sched_shutdown { reason: x::SHUTDOWN_suspend };
    // SAFETY: SCHEDOP_shutdown takes a pointer to a sched_shutdown on our
    // stack, live for the call; the third argument is a plain frame number.
    check(unsafe {
        hypercall3(x::__HYPERVISOR_sched_op, x::SCHEDOP_shutdown as u64, &mut arg as *mut _ as u64, start_info_mfn)
    })
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
