//! Event channels: the hypercall API (bind_virq, alloc_unbound,
//! bind_interdomain, send, close, status, unmask), per-port handlers and the
//! upcall dispatcher.
//!
//! The upcall (`boot/switch.S` → `crash::trap_dispatch` → [`do_upcall`]) runs with
//! events masked on the interrupted thread's stack. It clears
//! `evtchn_upcall_pending`, takes the selector with an atomic exchange, and
//! scans the 2-level bitmaps fairly (`kcore::evtchn_scan`), clearing each
//! port's pending bit *before* calling its handler, so an event raised while
//! the handler runs is seen again. Masked ports are skipped (their pending
//! bit stays set; [`unmask`] has Xen re-raise them).
//!
//! Handlers run in upcall context: they must not block, allocate or free,
//! or take a `ThreadLock`. They set flags and wake wait queues; the woken
//! threads do the work. (With the `lockdep` feature each of these is
//! checked and a violation panics.)
//!
//! # Suspend
//! A domain restored from a save is a new domain: every port of the old
//! one is gone (the toolstack allocates new ones for the console and
//! xenstore; libxc leaves every port masked and none pending). The thaw
//! hook ([`init_callbacks`] registers it) forgets every handler and bumps
//! the [`generation`]; each owner of a port binds its new one in its own
//! thaw hook (timer, diagnostics, console input, xenstore). Interdomain
//! channels held as [`Channel`]s answer [`EvtchnError::Stale`] from then on.
//! A cancelled suspend (checkpoint) keeps every port.
//!
//! # Concurrency
//! `HANDLERS` is an `IrqLock` (read by the upcall, written by threads); it
//! is released before a handler runs (the handler is copied out). `SCANNER`
//! is a plain spin lock touched only by the upcall, which does not nest
//! (events stay masked while it runs); it *is* held while handlers run,
//! which is safe because nothing else ever takes it. `LAZY` (the signals
//! [`send_lazy`] deferred) is a few atomic slots with no lock: a slot is
//! claimed with a compare-exchange and emptied with a swap, so a signal is
//! sent exactly once, by whoever empties its slot (the scheduler's flush,
//! [`wait`]'s multicall, or the suspend freeze hook).
use alloc::collections::BTreeMap;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use xen_sys as x;

use crate::arch::hypercall::{check, hypercall2, XenError};
use crate::sync::IrqLock;
use crate::xen::{shared_info, suspend};

/// A port handler: called in upcall context with the port and its data word.
pub type Handler = fn(port: u32, data: usize);

/// Most handled ports [`wait`] lists without walking the map (the usual
/// few: xenstore, console, timer, debug).
const POLL_FEW: usize = 8;

/// The port handlers, and their ports in a flat list for [`wait`], which
/// builds its poll set on every sleep.
struct Handlers {
    map: BTreeMap<u32, (Handler, usize)>,
    /// `map`'s keys in order while there are at most [`POLL_FEW`] of them.
    few: [u32; POLL_FEW],
}

impl Handlers {
    const fn new() -> Self {
        Self { map: BTreeMap::new(), few: [0; POLL_FEW] }
    }

    /// Re-derives `few` after the map changed (bind and unbind, not the event path).
    fn changed(&mut self) {
        for (slot, &p) in self.few.iter_mut().zip(self.map.keys()) {
            *slot = p;
        }
    }

    /// Fills `out` with the unmasked handled ports; `None` when more are
    /// handled than `out` holds.
    fn pollable(&self, out: &mut [u32]) -> Option<usize> {
        if self.map.len() > out.len() {
            return None;
        }
        let mut n = 0;
        let mut push = |p: u32| {
            if !shared_info::is_masked(p) {
                if let Some(slot) = out.get_mut(n) {
                    *slot = p;
                    n += 1;
                }
            }
        };
        match self.few.get(..self.map.len()) {
            Some(few) => few.iter().for_each(|&p| push(p)),
            None => self.map.keys().for_each(|&p| push(p)),
        }
        Some(n)
    }
}

static HANDLERS: IrqLock<Handlers> = IrqLock::new("evtchn.handlers", Handlers::new());
static SCANNER: spin::Mutex<kcore::evtchn_scan::Scanner> = spin::Mutex::new(kcore::evtchn_scan::Scanner::new());
/// Upcalls taken since boot (diagnostics).
pub static UPCALLS: AtomicU64 = AtomicU64::new(0);
/// Events dispatched to handlers since boot.
pub static DISPATCHED: AtomicU64 = AtomicU64::new(0);
/// Events on ports with no handler (cleared and dropped).
pub static UNHANDLED: AtomicU64 = AtomicU64::new(0);
/// Restores into a new domain since boot: the port numbering's generation.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many times the domain was restored into a new domain since boot
/// (every port number from before is meaningless since).
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Errors of [`Channel`] operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvtchnError {
    /// Xen refused the operation.
    Xen(XenError),
    /// The channel belonged to the domain before a restore: it no longer
    /// exists (its port number may name another channel now).
    Stale,
}

impl core::fmt::Display for EvtchnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EvtchnError::Xen(e) => write!(f, "{}", e),
            EvtchnError::Stale => f.write_str("the event channel did not survive the restore"),
        }
    }
}

/// An interdomain (or unbound) channel with the generation it was made in,
/// so that a user finds out with a typed error, not by signalling a
/// stranger's port, that a restore took it away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    port: u32,
    generation: u64,
}

impl Channel {
    /// A channel of this domain for `remote_dom` to bind ([`alloc_unbound`]).
    pub fn alloc_unbound(remote_dom: u16) -> Result<Channel, EvtchnError> {
        alloc_unbound(remote_dom).map(|port| Channel { port, generation: generation() }).map_err(EvtchnError::Xen)
    }

    /// A channel connected to `remote_port` of `remote_dom` ([`bind_interdomain`]).
    pub fn bind_interdomain(remote_dom: u16, remote_port: u32) -> Result<Channel, EvtchnError> {
        bind_interdomain(remote_dom, remote_port)
            .map(|port| Channel { port, generation: generation() })
            .map_err(EvtchnError::Xen)
    }

    /// The local port, unless a restore took the channel away.
    pub fn port(&self) -> Result<u32, EvtchnError> {
        if self.generation == generation() {
            Ok(self.port)
        } else {
            Err(EvtchnError::Stale)
        }
    }

    /// Signals the other end.
    pub fn send(&self) -> Result<(), EvtchnError> {
        send(self.port()?).map_err(EvtchnError::Xen)
    }

    /// Closes the channel (a stale one is already gone: `Stale`).
    pub fn close(self) -> Result<(), EvtchnError> {
        close(self.port()?).map_err(EvtchnError::Xen)
    }
}

fn op<T>(cmd: u32, arg: &mut T) -> Result<i64, XenError> {
    // SAFETY: every EVTCHNOP takes a pointer to its own argument struct,
    // which `arg` is (the callers pair `cmd` with the matching type), live
    // for the call.
    check(unsafe { hypercall2(x::__HYPERVISOR_event_channel_op, cmd as u64, arg as *mut T as u64) })
}

/// Binds a virtual IRQ (VIRQ_TIMER, VIRQ_DEBUG, ...) of vCPU 0 to a new port.
pub fn bind_virq(virq: u32) -> Result<u32, XenError> {
    let mut a = x::evtchn_bind_virq { virq, vcpu: 0, port: 0 };
    op(x::EVTCHNOP_bind_virq, &mut a)?;
    Ok(a.port)
}

/// Allocates a port that `remote_dom` may bind to.
pub fn alloc_unbound(remote_dom: u16) -> Result<u32, XenError> {
    let mut a = x::evtchn_alloc_unbound { dom: x::DOMID_SELF, remote_dom, port: 0 };
    op(x::EVTCHNOP_alloc_unbound, &mut a)?;
    Ok(a.port)
}

/// Connects a new local port to `remote_port` of `remote_dom`.
pub fn bind_interdomain(remote_dom: u16, remote_port: u32) -> Result<u32, XenError> {
    let mut a = x::evtchn_bind_interdomain { remote_dom, remote_port, local_port: 0 };
    op(x::EVTCHNOP_bind_interdomain, &mut a)?;
    Ok(a.local_port)
}

/// Ports signalled with [`send_lazy`] and not sent yet (0: a free slot;
/// port 0 is never bound).
static LAZY: [AtomicU32; crate::xen::sched::MAX_BATCHED_SENDS] =
    [const { AtomicU32::new(0) }; crate::xen::sched::MAX_BATCHED_SENDS];

/// Signals `port` before this vCPU next sleeps or switches threads, not
/// now: the scheduler sends it ([`flush_lazy`]), or [`wait`] sends it in
/// the same hypercall as its poll, so a request and the wait for its reply
/// cost one entry into Xen. Two lazy sends of one port before the flush
/// are one event (the other side drains its ring either way). With every
/// slot taken it sends at once.
pub fn send_lazy(port: u32) {
    for slot in LAZY.iter() {
        match slot.compare_exchange(0, port, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(p) if p == port => return,
            Err(_) => {}
        }
    }
    let _ = send(port);
}

/// Sends every pending [`send_lazy`] signal now.
pub fn flush_lazy() {
    let mut ports = [0u32; crate::xen::sched::MAX_BATCHED_SENDS];
    let n = take_lazy(&mut ports);
    for &p in &ports[..n] {
        let _ = send(p);
    }
}

/// Takes the pending lazy signals into `out`; returns how many.
fn take_lazy(out: &mut [u32; crate::xen::sched::MAX_BATCHED_SENDS]) -> usize {
    let mut n = 0;
    for slot in LAZY.iter() {
        let p = slot.swap(0, Ordering::AcqRel);
        if p != 0 {
            out[n] = p;
            n += 1;
        }
    }
    n
}

/// Signals the other end of `port`.
pub fn send(port: u32) -> Result<(), XenError> {
    let mut a = x::evtchn_send { port };
    op(x::EVTCHNOP_send, &mut a).map(|_| ())
}

/// Closes `port` (and forgets its handler).
pub fn close(port: u32) -> Result<(), XenError> {
    unbind_handler(port);
    let mut a = x::evtchn_close { port };
    op(x::EVTCHNOP_close, &mut a).map(|_| ())
}

/// What a port is connected to (`EVTCHNOP_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Closed,
    Unbound { remote_dom: u16 },
    Interdomain { dom: u16, port: u32 },
    Pirq(u32),
    Virq(u32),
    Ipi,
    Other(u32),
}

/// Asks Xen what `port` is.
pub fn status(port: u32) -> Result<Status, XenError> {
    // SAFETY: evtchn_status is plain old data; all-zero is a valid value.
    let mut a: x::evtchn_status = unsafe { core::mem::zeroed() };
    a.dom = x::DOMID_SELF;
    a.port = port;
    op(x::EVTCHNOP_status, &mut a)?;
    // SAFETY: the union member read is the one `status` says Xen filled in.
    Ok(unsafe {
        match a.status {
            x::EVTCHNSTAT_closed => Status::Closed,
            x::EVTCHNSTAT_unbound => Status::Unbound { remote_dom: a.u.unbound.dom },
            x::EVTCHNSTAT_interdomain => Status::Interdomain { dom: a.u.interdomain.dom, port: a.u.interdomain.port },
            x::EVTCHNSTAT_pirq => Status::Pirq(a.u.pirq),
            x::EVTCHNSTAT_virq => Status::Virq(a.u.virq),
            x::EVTCHNSTAT_ipi => Status::Ipi,
            s => Status::Other(s),
        }
    })
}

/// Masks `port`: its events stay pending and are not delivered.
pub fn mask(port: u32) {
    shared_info::set_masked(port, true);
}

/// Unmasks `port`. Xen re-raises the upcall if the port became pending while
/// masked, so such an event is delivered now rather than lost.
pub fn unmask(port: u32) {
    let mut a = x::evtchn_unmask { port };
    if op(x::EVTCHNOP_unmask, &mut a).is_err() {
        shared_info::set_masked(port, false);
    }
}

/// Clears a pending event on `port` without handling it.
pub fn clear(port: u32) {
    shared_info::clear_pending(port);
}

/// Installs `handler` for `port` (replacing any previous one) and unmasks it.
pub fn bind_handler(port: u32, handler: Handler, data: usize) {
    {
        let mut h = HANDLERS.lock();
        h.map.insert(port, (handler, data));
        h.changed();
    }
    unmask(port);
}

/// Removes the handler of `port` and masks it.
pub fn unbind_handler(port: u32) {
    mask(port);
    let mut h = HANDLERS.lock();
    h.map.remove(&port);
    h.changed();
}

/// Ports with a handler (for the VIRQ_DEBUG dump).
pub fn bound_ports() -> alloc::vec::Vec<u32> {
    HANDLERS.lock().map.keys().copied().collect()
}

/// The event upcall. Called from `crash::trap_dispatch` with events masked.
pub fn do_upcall() {
    UPCALLS.fetch_add(1, Ordering::Relaxed);
    let v = shared_info::vcpu0();
    if v.is_null() {
        return;
    }
    crate::sync::enter_upcall();
    scan_loop(v);
    crate::sync::leave_upcall();
}

/// Most ports [`wait`] hands to `SCHEDOP_poll` (Xen refuses more than 128);
/// with more handlers bound it sleeps with `SCHEDOP_block` instead.
const POLL_MAX: usize = 128;

/// Wake-ups of [`wait`] whose handlers ran inline, without an upcall.
pub static POLL_WAKES: AtomicU64 = AtomicU64::new(0);

/// Sleeps the vCPU until an event is pending on a port that has a handler,
/// and runs the handlers of every pending port before returning. Called
/// with events masked (the caller checked for work under the mask); returns
/// with events masked.
///
/// It sleeps with `SCHEDOP_poll` on the unmasked handled ports and keeps
/// event delivery masked throughout: Xen wakes the vCPU when one of them
/// becomes pending (or finds one already pending, so no wake-up is lost),
/// and the handlers run here, as the upcall would run them, without the
/// upcall's bounce frame and its `HYPERVISOR_iret`: one hypercall per
/// wake-up instead of two plus an exception-style entry. Pending
/// [`send_lazy`] signals go out in the same hypercall (a multicall). Events on ports
/// without a handler do not wake it (nothing would handle them). With no
/// port to poll, or more than [`POLL_MAX`], it falls back to
/// `SCHEDOP_block` (which unmasks, so the upcall runs the handlers).
pub fn wait() {
    let mut few = [0u32; POLL_FEW];
    match pollable_ports(&mut few) {
        Some(n) => sleep_polling(few.get_mut(..n).unwrap_or_default()),
        None => {
            let mut many = [0u32; POLL_MAX];
            let n = pollable_ports(&mut many).unwrap_or(0);
            sleep_polling(many.get_mut(..n).unwrap_or_default());
        }
    }
}

/// [`wait`] with its poll set: `ports` are the unmasked handled ports
/// (empty: sleep with `SCHEDOP_block`).
fn sleep_polling(ports: &mut [u32]) {
    let v = shared_info::vcpu0();
    let mut sends = [0u32; crate::xen::sched::MAX_BATCHED_SENDS];
    let s = take_lazy(&mut sends);
    if v.is_null() || ports.is_empty() {
        for &p in sends.get(..s).unwrap_or_default() {
            let _ = send(p);
        }
        crate::xen::sched::block();
        let _ = crate::arch::irq::disable();
        return;
    }
    if s == 0 {
        let _ = crate::xen::sched::poll(ports, 0);
    } else {
        crate::xen::sched::send_then_poll(sends.get(..s).unwrap_or_default(), ports);
    }
    POLL_WAKES.fetch_add(1, Ordering::Relaxed);
    crate::sync::enter_upcall();
    scan_loop(v);
    // A polled port can be pending without its selector bit (it became
    // pending while masked and was unmasked without Xen re-raising it):
    // the scan does not see it, and the next poll would return at once.
    // Dispatch those directly, so every wake-up makes progress.
    for &p in ports.iter() {
        if shared_info::is_pending(p) && !shared_info::is_masked(p) {
            dispatch(p);
        }
    }
    crate::sync::leave_upcall();
}

/// Fills `out` with the unmasked ports that have a handler; `None` when
/// more ports have a handler than `out` holds.
fn pollable_ports(out: &mut [u32]) -> Option<usize> {
    HANDLERS.lock().pollable(out)
}

fn scan_loop(v: *mut x::vcpu_info) {
    loop {
        // SAFETY: `v` is vCPU 0's vcpu_info in the mapped shared_info page.
        unsafe { core::ptr::write_volatile(addr_of_mut!((*v).evtchn_upcall_pending), 0) };
        // The pending flag is cleared before the selector is taken, so a
        // new event sets it again and is seen by the next loop.
        // SAFETY: evtchn_pending_sel is a u64 Xen updates atomically.
        let sel_word = unsafe { &*(addr_of_mut!((*v).evtchn_pending_sel) as *const AtomicU64) };
        let sel = sel_word.swap(0, Ordering::AcqRel);
        if sel != 0 {
            let mut scanner = SCANNER.lock();
            let left = scanner.scan(sel, shared_info::pending_unmasked_word, dispatch, 256);
            if left != 0 {
                // Budget used up: put the rest back so it is scanned again.
                sel_word.fetch_or(left, Ordering::AcqRel);
                // SAFETY: as above.
                unsafe { core::ptr::write_volatile(addr_of_mut!((*v).evtchn_upcall_pending), 1) };
            }
        }
        // SAFETY: as above.
        if unsafe { core::ptr::read_volatile(addr_of_mut!((*v).evtchn_upcall_pending)) } == 0 {
            break;
        }
    }
}

fn dispatch(port: u32) {
    shared_info::clear_pending(port);
    let h = HANDLERS.lock().map.get(&port).copied();
    match h {
        Some((f, data)) => {
            DISPATCHED.fetch_add(1, Ordering::Relaxed);
            f(port, data);
        }
        None => {
            UNHANDLED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Registers the event and failsafe callbacks with Xen.
pub fn init_callbacks() -> Result<(), XenError> {
    extern "C" {
        fn hypervisor_callback();
        fn failsafe_callback();
    }
    for (ty, addr) in [
        (xen_sys::CALLBACKTYPE_EVENT, hypervisor_callback as *const () as u64),
        (xen_sys::CALLBACKTYPE_FAILSAFE, failsafe_callback as *const () as u64),
    ] {
        let mut cb = x::callback_register { type_: ty as u16, flags: xen_sys::CALLBACKF_MASK_EVENTS, address: addr };
        // SAFETY: CALLBACKOP_register reads a callback_register on our stack.
        check(unsafe {
            hypercall2(x::__HYPERVISOR_callback_op, x::CALLBACKOP_register as u64, &mut cb as *mut _ as u64)
        })?;
    }
    // The callbacks are part of the vCPU's context, which a save keeps; the
    // ports are not.
    let _ = suspend::register(suspend::Hooks {
        name: "evtchn",
        // Signals still waiting to go out go now, before the domain stops.
        freeze: Some(flush_lazy),
        thaw: Some(|o| {
            if o == suspend::Outcome::NewDomain {
                // (None is left: the freeze hook flushed them.)
                for slot in LAZY.iter() {
                    slot.store(0, Ordering::Release);
                }
                let mut h = HANDLERS.lock();
                h.map.clear();
                h.changed();
                GENERATION.fetch_add(1, Ordering::AcqRel);
            }
        }),
        ..suspend::Hooks::EMPTY
    });
    Ok(())
}
