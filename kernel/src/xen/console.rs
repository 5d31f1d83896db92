//! The PV console: a pair of byte rings in a page shared with xenconsoled in
//! dom0 (`struct xencons_interface`, `io/console.h`), plus Xen's
//! `console_io` hypercall as the emergency path.
//!
//! Output: bytes go into `out[]` (2 KiB) at `out_prod`; the producer index
//! is published after the data (write barrier) and the backend is notified
//! on the console event channel. When the ring is full the writer waits on
//! that event channel with `SCHEDOP_poll` (xenconsoled signals after it
//! consumes) instead of spinning. `\n` becomes `\r\n`.
//!
//! # Concurrency
//! [`CONSOLE`] is an `IrqLock` (events masked while held, so the event
//! upcall may print) around the ring state. It is taken for one write; the
//! only wait under it is `SCHEDOP_poll` on the console's own event channel,
//! which needs no upcall. The crash path may break the lock ([`force_unlock`]) because a
//! fault can interrupt a writer holding it.
//!
//! # Suspend
//! The ring is flushed (the backend has consumed every byte) when the
//! kernel freezes, so nothing is left in it to be lost or printed twice.
//! After a restore the page is the same pseudo-physical frame with the
//! indices as they were saved, but served by a new backend on a new event
//! channel: the ring is re-attached from the new start_info and the
//! producer index re-read from the page ([`init_suspend`]).
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{fence, Ordering};
use xen_sys as x;

use crate::arch::hypercall::hypercall3;
use crate::sync::IrqLock;
use crate::xen::{evtchn, p2m, sched, shared_info, start_info, suspend, time};

const OUT_SIZE: u32 = 2048;
const IN_SIZE: u32 = 1024;

/// The console ring and its event channel.
pub struct Console {
    ring: *mut x::xencons_interface,
    port: u32,
    /// Our copy of out_prod (we are the only producer).
    prod: u32,
}

// SAFETY: the ring pointer refers to a page mapped for the life of the guest;
// access is serialised by the CONSOLE lock.
unsafe impl Send for Console {}

/// The console, once [`init`] has run. Lock: see the module docs.
pub static CONSOLE: IrqLock<Option<Console>> = IrqLock::new("console", None);

/// Sets up the ring console at virtual address `va` with event channel `port`.
///
/// # Safety
/// `va` must be the mapping of the console page named by start_info.
pub unsafe fn init(va: u64, port: u32) {
    let ring = va as *mut x::xencons_interface;
    // SAFETY: the caller guarantees `ring` maps the console page.
    let prod = unsafe { core::ptr::read_volatile(addr_of!((*ring).out_prod)) };
    *CONSOLE.lock() = Some(Console { ring, port, prod });
}

/// One wait for the backend to consume output (an event on the console
/// port, or this long).
const WAIT_STEP_NS: u64 = 10_000_000;
/// How long `flush` waits for the backend at most.
pub const FLUSH_LIMIT_NS: u64 = 2_000_000_000;

impl Console {
    fn out_cons(&self) -> u32 {
        // SAFETY: `ring` maps the console page (see `init`); the backend writes this index.
        unsafe { core::ptr::read_volatile(addr_of!((*self.ring).out_cons)) }
    }

    fn publish(&mut self) {
        // The bytes must be visible before the producer index that covers them.
        fence(Ordering::Release);
        // SAFETY: as in out_cons; we are the only writer of out_prod.
        unsafe { core::ptr::write_volatile(addr_of_mut!((*self.ring).out_prod), self.prod) };
        let _ = evtchn::send(self.port);
    }

    /// Waits (blocked in Xen, not spinning) until the backend signals or 10 ms pass.
    fn wait_backend(&self) {
        let mut ports = [self.port];
        // SCHEDOP_poll takes Xen system time, not the monotonic clock.
        let deadline = if shared_info::is_mapped() { time::system_ns() + WAIT_STEP_NS } else { 0 };
        let _ = sched::poll(&mut ports, deadline);
        // The pending bit stays set: the upcall (once events are on) sees it
        // too and wakes input readers; poll returns at once while it is set,
        // so clear it only when nobody handles the port's events.
        if !crate::arch::irq::enabled() {
            shared_info::clear_pending(self.port);
        }
    }

    fn put(&mut self, b: u8) {
        let mut waited = 0;
        while self.prod.wrapping_sub(self.out_cons()) >= OUT_SIZE {
            self.publish();
            self.wait_backend();
            waited += 1;
            if waited > 500 {
                // The backend has not consumed anything for ~5 s: drop output
                // rather than hang the kernel.
                return;
            }
        }
        // Read the consumer index before overwriting the slot it freed.
        fence(Ordering::SeqCst);
        let idx = (self.prod & (OUT_SIZE - 1)) as usize;
        // SAFETY: idx < OUT_SIZE, the size of `out`; the slot is free (checked above).
        unsafe { core::ptr::write_volatile(addr_of_mut!((*self.ring).out[idx]), b as core::ffi::c_char) };
        self.prod = self.prod.wrapping_add(1);
    }

    /// Writes `data`, turning `\n` into `\r\n`, and notifies the backend.
    pub fn write_bytes(&mut self, data: &[u8]) {
        for &b in data {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
        self.publish();
    }

    /// Waits until the backend has consumed everything (at most
    /// [`FLUSH_LIMIT_NS`]).
    pub fn flush(&mut self) {
        self.publish();
        for _ in 0..FLUSH_LIMIT_NS / WAIT_STEP_NS {
            if self.out_cons() == self.prod {
                return;
            }
            self.wait_backend();
        }
    }

    /// Reads available input bytes into `buf`; returns how many.
    pub fn read_input(&mut self, buf: &mut [u8]) -> usize {
        // SAFETY: `ring` maps the console page; indices are read volatile.
        let (cons, prod) = unsafe {
            (
                core::ptr::read_volatile(addr_of!((*self.ring).in_cons)),
                core::ptr::read_volatile(addr_of!((*self.ring).in_prod)),
            )
        };
        // Read the producer index before the bytes it covers.
        fence(Ordering::Acquire);
        let avail = prod.wrapping_sub(cons);
        if avail > IN_SIZE {
            // Corrupt indices from the backend: discard what is there.
            // SAFETY: as above.
            unsafe { core::ptr::write_volatile(addr_of_mut!((*self.ring).in_cons), prod) };
            return 0;
        }
        let n = (avail as usize).min(buf.len());
        for (i, slot) in buf.iter_mut().enumerate().take(n) {
            let idx = (cons.wrapping_add(i as u32) & (IN_SIZE - 1)) as usize;
            // SAFETY: idx < IN_SIZE, the size of `in_`.
            *slot = unsafe { core::ptr::read_volatile(addr_of!((*self.ring).in_[idx])) } as u8;
        }
        // Bytes are read before the slots are handed back.
        fence(Ordering::SeqCst);
        // SAFETY: as above; we are the only writer of in_cons.
        unsafe { core::ptr::write_volatile(addr_of_mut!((*self.ring).in_cons), cons.wrapping_add(n as u32)) };
        let _ = evtchn::send(self.port);
        n
    }
}

/// Registers the console's suspend hooks: flush when the kernel freezes;
/// after a restore, re-attach the ring named by the new start_info.
pub fn init_suspend() {
    let _ = suspend::register(suspend::Hooks {
        name: "console",
        freeze: Some(flush),
        thaw: Some(|o| {
            if o != suspend::Outcome::NewDomain {
                return;
            }
            let Some(si) = start_info::get() else { return };
            let Some(pfn) = suspend::restored_console_pfn() else {
                // The toolstack named a frame that is not ours: stay
                // detached (emergency_write only) rather than map it.
                *CONSOLE.lock() = None;
                emergency_write(b"console: the restored start_info names a console frame that is not this domain's; the ring stays detached\n");
                return;
            };
            // SAFETY: `pfn` is one of this domain's frames (checked against
            // the P2M by the suspend path), mapped in the linear map; start_info
            // names it as the new domain's console page.
            unsafe { init(p2m::pfn_to_va(pfn), si.console_evtchn()) };
        }),
        ..suspend::Hooks::EMPTY
    });
}

/// Writes through `HYPERVISOR_console_io` (works for dom0 and on debug Xen;
/// a release Xen answers -EPERM to a domU, which is ignored).
pub fn emergency_write(data: &[u8]) {
    // SAFETY: CONSOLEIO_write reads `len` bytes from the pointer, borrowed for the call.
    unsafe {
        hypercall3(x::__HYPERVISOR_console_io, x::CONSOLEIO_write as u64, data.len() as u64, data.as_ptr() as u64)
    };
}

/// Writes to the ring console if it is up, else to the emergency path.
pub fn write(data: &[u8]) {
    let mut guard = CONSOLE.lock();
    match guard.as_mut() {
        Some(c) => c.write_bytes(data),
        None => emergency_write(data),
    }
}

/// Flushes the ring console.
pub fn flush() {
    if let Some(c) = CONSOLE.lock().as_mut() {
        c.flush();
    }
}

/// Breaks the console lock. Only for the crash path, where the interrupted
/// context may have held it and will never run again.
pub fn force_unlock() {
    if CONSOLE.is_locked() {
        // SAFETY: called only on the way to shutting the domain down; the
        // holder (interrupted by the fault) never resumes.
        unsafe { CONSOLE.force_unlock() };
    }
}

/// The console's event channel (for the input module above).
pub fn port() -> Option<u32> {
    CONSOLE.lock().as_ref().map(|c| c.port)
}

/// Reads what the console has received into `buf` without waiting.
pub fn read_input_now(buf: &mut [u8]) -> usize {
    CONSOLE.lock().as_mut().map(|c| c.read_input(buf)).unwrap_or(0)
}
