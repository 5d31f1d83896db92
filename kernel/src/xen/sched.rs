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

/// Most sends [`send_then_poll`] batches with its poll.
pub const MAX_BATCHED_SENDS: usize = 4;

/// Signals each port of `sends`, then waits as [`poll`] does on `ports`,
/// in one `HYPERVISOR_multicall`: one entry into Xen instead of one per
/// operation. A failed send is ignored (as a lone `EVTCHNOP_send`'s error
/// is by its callers: the port was closed under us). Xen may run the
/// scheduler between the sends and the poll (a send woke a vCPU it
/// prefers): the poll then continues when this vCPU runs again.
pub fn send_then_poll(sends: &[u32], ports: &mut [u32]) {
    // One send (the usual case: xenstore's) uses a two-entry list, so the
    // list is not cleared for sends that are not there.
    match sends {
        [_] => multicall_send_poll::<2>(sends, ports),
        _ => multicall_send_poll::<{ MAX_BATCHED_SENDS + 1 }>(sends, ports),
    }
}

/// [`send_then_poll`] with a list of `N` entries: at most `N - 1` sends.
fn multicall_send_poll<const N: usize>(sends: &[u32], ports: &mut [u32]) {
    let n = sends.len().min(N - 1).min(MAX_BATCHED_SENDS);
    let mut args = [x::evtchn_send { port: 0 }; MAX_BATCHED_SENDS];
    let mut poll = x::sched_poll {
        ports: x::__guest_handle_evtchn_port_t { p: ports.as_mut_ptr() },
        nr_ports: ports.len() as u32,
        timeout: 0,
    };
    let mut calls = [x::multicall_entry { op: 0, result: 0, args: [0; 6] }; N];
    for (i, &p) in sends.iter().take(n).enumerate() {
        let (Some(a), Some(c)) = (args.get_mut(i), calls.get_mut(i)) else { break };
        a.port = p;
        c.op = x::__HYPERVISOR_event_channel_op as u64;
        c.args[0] = x::EVTCHNOP_send as u64;
        c.args[1] = a as *mut _ as u64;
    }
    let Some(c) = calls.get_mut(n) else { return };
    c.op = x::__HYPERVISOR_sched_op as u64;
    c.args[0] = x::SCHEDOP_poll as u64;
    c.args[1] = &mut poll as *mut _ as u64;
    // SAFETY: the multicall list and every argument it points to (the
    // evtchn_send records, the sched_poll and, through it, `ports`) live
    // on this stack frame or in borrowed memory for the whole call.
    unsafe { hypercall2(x::__HYPERVISOR_multicall, calls.as_mut_ptr() as u64, (n + 1) as u64) };
}

/// Where vCPU 0's time went since it was created, in Xen system-time
/// nanoseconds (`VCPUOP_get_runstate_info`), the current state's share
/// included up to now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Runstate {
    /// Running guest code or Xen on its behalf: the vCPU's CPU time.
    pub running_ns: u64,
    /// Ready to run but another vCPU (dom0's, under one CPU) had the CPU.
    pub runnable_ns: u64,
    /// Sleeping until an event (waiting for dom0, a timer).
    pub blocked_ns: u64,
}

/// vCPU 0's [`Runstate`], or `None` if Xen refuses the query.
pub fn runstate() -> Option<Runstate> {
    // SAFETY: vcpu_runstate_info is plain old data; all-zero is valid.
    let mut r: x::vcpu_runstate_info = unsafe { core::mem::zeroed() };
    // SAFETY: VCPUOP_get_runstate_info for vCPU 0 fills the struct on our
    // stack, live for the call.
    let rc =
        unsafe { hypercall3(x::__HYPERVISOR_vcpu_op, x::VCPUOP_get_runstate_info as u64, 0, &mut r as *mut _ as u64) };
    check(rc).ok()?;
    let mut t = r.time;
    let now = crate::xen::time::system_ns();
    if let Some(cur) = t.get_mut(r.state as usize) {
        *cur = cur.saturating_add(now.saturating_sub(r.state_entry_time));
    }
    Some(Runstate {
        running_ns: t[x::RUNSTATE_running as usize],
        runnable_ns: t[x::RUNSTATE_runnable as usize],
        blocked_ns: t[x::RUNSTATE_blocked as usize],
    })
}
