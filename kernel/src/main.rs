//! A Xen PV x86_64 unikernel. `kmain` is entered from `boot/entry.S` with the
//! start_info pointer and brings the kernel up layer by layer (start_info,
//! shared_info and the console, traps, memory, events/time/threads,
//! xenstore, the VFS), then runs what the command line asks for
//! ([`modes`]).
#![no_std]
#![no_main]
// Without the in-guest tests, parts of the kernel API have no caller in this image.
#![cfg_attr(not(feature = "in-guest-tests"), allow(dead_code, unused_imports))]

extern crate alloc;

mod arch;
#[cfg(feature = "bench")]
mod bench;
mod cmdline;
#[cfg(feature = "in-guest-tests")]
mod conformance;
mod console_input;
mod crash;
mod diag;
mod fs;
#[cfg(feature = "in-guest-tests")]
mod ktest;
mod log;
mod mm;
mod modes;
mod panic;
#[cfg(feature = "programs")]
mod programs;
mod sched;
mod sync;
mod time;
mod xen;
mod xenfs;
mod xenstore;

use xen::sched::{shutdown_forever, ShutdownReason};
use xen::start_info::{StartInfo, StartInfoError};

/// Entry from `boot/entry.S`.
///
/// # Safety
/// Only `_start` calls it, once, with the start_info pointer Xen passed in
/// %rsi.
#[no_mangle]
pub unsafe extern "C" fn kmain(start_info: *const xen_sys::start_info) -> ! {
    // SAFETY: `start_info` is the %rsi value Xen passed to _start.
    let si = match unsafe { StartInfo::from_ptr(start_info) } {
        Ok(si) => si,
        Err(e) => no_start_info(e),
    };
    // hang=early: never print, never end (the harness's timeout check).
    if si.cmdline().split_ascii_whitespace().any(|w| w == "hang=early") {
        loop {
            xen::sched::block();
        }
    }
    console_up(&si);
    sync::lockdep::set_reporter(|i| kprintln!("LOCKDEP: {}", i));
    if let Err(e) = crash::init_traps() {
        panic!("set_trap_table failed: {}", e);
    }
    memory_up(&si);
    threads_up();
    xenstore_up(&si);
    vfs_up(&si);
    // The wall time, then where it went: our own work (the vCPU running),
    // waiting for dom0's answers, and waiting for the one CPU.
    match xen::sched::runstate() {
        Some(r) => info!(
            "boot complete in {} us ({} us running, {} us blocked, {} us runnable)",
            log::uptime_ns() / 1000,
            r.running_ns / 1000,
            r.blocked_ns / 1000,
            r.runnable_ns / 1000
        ),
        None => info!("boot complete in {} us", log::uptime_ns() / 1000),
    }
    modes::run(si.cmdline())
}

fn no_start_info(e: StartInfoError) -> ! {
    // No console ring without start_info: Xen's console is all we have.
    let msg: &[u8] = match e {
        StartInfoError::Null => b"unikernel: start_info pointer is null; not started by Xen's PV loader?\n",
        StartInfoError::BadMagic(m) => {
            xen::console::emergency_write(b"unikernel: start_info magic is '");
            let end = m.iter().position(|&b| b == 0).unwrap_or(m.len());
            xen::console::emergency_write(&m[..end]);
            b"', not xen-3.0-x86_64: not a 64-bit PV start_info\n"
        }
    };
    xen::console::emergency_write(msg);
    shutdown_forever(ShutdownReason::Crash);
}

/// shared_info, the clock, the console ring, the log level; the banner.
fn console_up(si: &StartInfo) {
    if xen::shared_info::map(si.shared_info_maddr()).is_err() {
        xen::console::emergency_write(b"unikernel: cannot map shared_info\n");
        shutdown_forever(ShutdownReason::Crash);
    }
    log::set_boot_time(xen::time::now_ns());
    // SAFETY: the console page is named by start_info and mapped in the
    // bootstrap region at the linear address of its frame.
    unsafe { xen::console::init(mm::mfn_to_va(si.console_mfn()), si.console_evtchn()) };
    // Suspend hooks, in layer order (docs/lifecycle.md): the clock first.
    xen::time::init_suspend();
    xen::console::init_suspend();
    let cmdline = si.cmdline();
    if let Some(l) = cmdline::get(cmdline, "loglevel").and_then(log::Level::parse) {
        log::set_max_level(l);
    }
    kprintln!(
        "xenfs-unikernel {} (Xen PV x86_64): start_info {} nr_pages={} ({} MiB) flags={:#x}",
        env!("CARGO_PKG_VERSION"),
        si.magic(),
        si.nr_pages(),
        (si.nr_pages() * mm::PAGE_SIZE) >> 20,
        si.flags()
    );
    kprintln!(
        "  console mfn={:#x} evtchn={}  store mfn={:#x} evtchn={}  shared_info={:#x}",
        si.console_mfn(),
        si.console_evtchn(),
        si.store_mfn(),
        si.store_evtchn(),
        si.shared_info_maddr()
    );
    kprintln!("  cmdline: '{}'", cmdline);
    if let Some(t) = xen::shared_info::time_snapshot() {
        kprintln!(
            "  time: tsc_timestamp={} system_time={} mul={} shift={} tsc_now={}",
            t.tsc_timestamp,
            t.system_time,
            t.tsc_to_system_mul,
            t.tsc_shift,
            arch::rdtsc()
        );
    }
}

/// The heap and the budgets.
fn memory_up(si: &StartInfo) {
    let l = mm::init(si);
    kprintln!(
        "  memory: image {:#x}-{:#x} (text {} KiB, bss {} KiB), boot stack {:#x}-{:#x}",
        l.image.0,
        l.image.1,
        (l.text.1 - l.text.0) / 1024,
        (l.bss.1 - l.bss.0) / 1024,
        l.boot_stack.0,
        l.boot_stack.1
    );
    kprintln!(
        "  memory: page tables at {:#x} ({} frames), first free pfn {}, Xen mapped {} pfns",
        l.pt_base,
        l.nr_pt_frames,
        l.first_free_pfn,
        l.bootstrap_mapped_pfns
    );
    let (mapped, _) = mm::heap_stats();
    kprintln!(
        "  memory: heap {:#x}-{:#x} ({} KiB mapped now, grows on demand to {} KiB of {} KiB)",
        l.heap.0,
        l.heap.0 + mapped as u64,
        mapped / 1024,
        mm::heap::potential_bytes() / 1024,
        l.nr_pages * 4
    );
    match &l.p2m {
        Ok(p) => kprintln!(
            "  memory: p2m {} pages, {} frame list page(s), frame list list mfn {:#x} (published for xl save)",
            p.list_pages,
            p.fl_pages,
            p.fll_mfn
        ),
        Err(e) => kprintln!("  memory: p2m not published ({}): xl save will fail", e),
    }
    kprintln!(
        "  memory: budget {} KiB (reserve {} KiB): xenstore {} KiB, vfs {} KiB, stacks {} KiB, programs {} KiB",
        l.plan.global / 1024,
        l.plan.reserve / 1024,
        l.plan.xenstore / 1024,
        l.plan.vfs / 1024,
        l.plan.stacks / 1024,
        l.plan.programs / 1024
    );
}

/// Event callbacks, the scheduler, timers, diagnostics, console input.
fn threads_up() {
    if let Err(e) = xen::evtchn::init_callbacks() {
        panic!("registering the event callbacks failed: {}", e);
    }
    sched::init();
    match sched::timer::init() {
        Ok(port) => debug!("VIRQ_TIMER on port {}", port),
        Err(e) => panic!("timer setup failed: {}", e),
    }
    diag::init();
    console_input::init();
    arch::irq::enable();
    let (wsec, _) = time::wallclock();
    info!("events on; wall clock {} s since the epoch", wsec);
}

/// The xenstore connection, the domain's identity, the shutdown protocol.
fn xenstore_up(si: &StartInfo) {
    let cmdline = si.cmdline();
    if let Some(v) = cmdline::get(cmdline, "on_xenstore_failure") {
        match xenstore::policy::Policy::parse(v) {
            Some(p) => xenstore::policy::set(p),
            None => warn!("on_xenstore_failure={} not understood (auto|reconnect|continue|poweroff|crash)", v),
        }
    }
    match xenstore::init(mm::mfn_to_va(si.store_mfn()), si.store_evtchn()) {
        Ok(()) => {
            // One batch, one round trip (boot waits on dom0 for each).
            let mut id = xenstore::read_strings(0, &["domid", "name", "vm"]).into_iter().map(Result::unwrap_or_default);
            let mut next = || id.next().unwrap_or_default();
            let (domid, name, vm) = (next(), next(), next());
            info!(
                "xenstore: domid {} name '{}' vm {} (reconnection {})",
                domid,
                name,
                vm,
                if xenstore::supports_reconnection() { "offered" } else { "not offered" }
            );
            if let Err(e) = xenstore::shutdown::init() {
                warn!("xenstore: shutdown protocol not available: {}", e);
            }
        }
        Err(e) => warn!("xenstore: not available: {}", e),
    }
}

/// The VFS, with the files of the boot module (ramdisk=) if there is one.
fn vfs_up(si: &StartInfo) {
    let module = si.module().map(|(start, len)| {
        // With SIF_MOD_START_PFN, mod_start is a frame number, else a virtual address.
        let va = if si.flags() & xen_sys::SIF_MOD_START_PFN != 0 { mm::pfn_to_va(start) } else { start };
        // SAFETY: Xen placed the module in the bootstrap mapping, read-only
        // to nobody else, for the life of the guest; len is its size.
        unsafe { core::slice::from_raw_parts(va as *const u8, len as usize) }
    });
    match fs::init(module) {
        Ok(Some(u)) => {
            info!("vfs: boot module unpacked: {} directories, {} files, {} skipped", u.dirs, u.files, u.skipped)
        }
        Ok(None) => {}
        Err(e) => warn!("vfs: {}", e),
    }
    #[cfg(feature = "programs")]
    programs::init();
}
