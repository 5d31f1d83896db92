//! A Xen PV x86_64 unikernel. `kmain` is entered from `boot/entry.S` with the
//! start_info pointer and brings the kernel up in order: start_info
//! validation, shared_info, console, traps, memory, then the work named on
//! the command line.
#![no_std]
#![no_main]
// Without the in-guest tests, parts of the kernel API have no caller in this image.
#![cfg_attr(not(feature = "in-guest-tests"), allow(dead_code, unused_imports))]

extern crate alloc;

mod arch;
mod cmdline;
#[cfg(feature = "in-guest-tests")]
mod conformance;
mod diag;
mod fs;
#[cfg(feature = "in-guest-tests")]
mod ktest;
mod log;
mod mm;
mod panic;
mod sched;
mod time;
mod xen;
mod xenfs;
mod xenstore;

use xen::sched::{shutdown_forever, ShutdownReason};
use xen::start_info::{StartInfo, StartInfoError};

/// Entry from `boot/entry.S`.
#[no_mangle]
pub extern "C" fn kmain(start_info: *const xen_sys::start_info) -> ! {
    // SAFETY: `start_info` is the %rsi value Xen passed to _start.
    let si = match unsafe { StartInfo::from_ptr(start_info) } {
        Ok(si) => si,
        Err(e) => {
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
    };

    // hang=early: never print, never end (the harness's timeout check).
    if si.cmdline().split_ascii_whitespace().any(|w| w == "hang=early") {
        loop {
            xen::sched::block();
        }
    }

    if let Err(e) = xen::shared_info::map(si.shared_info_maddr()) {
        xen::console::emergency_write(b"unikernel: cannot map shared_info\n");
        let _ = e;
        shutdown_forever(ShutdownReason::Crash);
    }
    log::set_boot_time(xen::time::now_ns());
    // SAFETY: the console page is named by start_info and mapped in the
    // bootstrap region at the linear address of its frame.
    unsafe { xen::console::init(mm::mfn_to_va(si.console_mfn()), si.console_evtchn()) };

    let cmdline = si.cmdline();
    if let Some(l) = cmdline::get(cmdline, "loglevel").and_then(log::Level::parse) {
        log::set_max_level(l);
    }
    kprintln!(
        "xenfs-unikernel {} (Xen PV x86_64): start_info {} nr_pages={} ({} MiB) flags={:#x}",
        env!("CARGO_PKG_VERSION"),
        si.magic(),
        si.nr_pages(),
        si.nr_pages() * 4096 >> 20,
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

    if let Err(e) = arch::traps::init() {
        panic!("set_trap_table failed: {}", e);
    }

    let layout = mm::init(&si);
    kprintln!(
        "  memory: image {:#x}-{:#x} (text {} KiB, bss {} KiB), boot stack {:#x}-{:#x}",
        layout.image.0,
        layout.image.1,
        (layout.text.1 - layout.text.0) / 1024,
        (layout.bss.1 - layout.bss.0) / 1024,
        layout.boot_stack.0,
        layout.boot_stack.1
    );
    kprintln!(
        "  memory: page tables at {:#x} ({} frames), first free pfn {}, Xen mapped {} pfns, added {} L1 tables",
        layout.pt_base,
        layout.nr_pt_frames,
        layout.first_free_pfn,
        layout.bootstrap_mapped_pfns,
        layout.new_l1_tables
    );
    kprintln!(
        "  memory: heap {:#x}-{:#x} ({} KiB of {} KiB)",
        layout.heap.0,
        layout.heap.1,
        (layout.heap.1 - layout.heap.0) / 1024,
        layout.nr_pages * 4
    );

    // Events, time and threads.
    if let Err(e) = xen::evtchn::init_callbacks() {
        panic!("registering the event callbacks failed: {}", e);
    }
    sched::init();
    match time::init() {
        Ok(port) => debug!("VIRQ_TIMER on port {}", port),
        Err(e) => panic!("timer setup failed: {}", e),
    }
    match xen::evtchn::bind_virq(xen_sys::VIRQ_DEBUG) {
        Ok(port) => xen::evtchn::bind_handler(port, diag::on_debug_virq, 0),
        Err(e) => warn!("VIRQ_DEBUG not bound: {}", e),
    }
    xen::console::init_input();
    arch::irq::enable();
    let (wsec, _) = time::wallclock();
    info!("events on; wall clock {} s since the epoch", wsec);

    // The xenstore connection, the domain's identity, the shutdown protocol.
    match xenstore::init(mm::mfn_to_va(si.store_mfn()), si.store_evtchn()) {
        Ok(()) => {
            let domid = xenstore::read_string(0, "domid").unwrap_or_default();
            let name = xenstore::read_string(0, "name").unwrap_or_default();
            let vm = xenstore::read_string(0, "vm").unwrap_or_default();
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

    // The VFS, with the files of the boot module (ramdisk=) if there is one.
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

    match cmdline::get(cmdline, "crash") {
        Some("pagefault") => {
            info!("crash=pagefault: reading an unmapped address");
            // SAFETY: deliberately faults, to exercise the crash report.
            let v = unsafe { core::ptr::read_volatile(0xdead_b000 as *const u64) };
            kprintln!("unreachable: read {:#x}", v);
        }
        Some("panic") => panic!("crash=panic requested on the command line"),
        Some("ud") => {
            // SAFETY: deliberately raises #UD, to exercise the crash report.
            unsafe { core::arch::asm!("ud2") };
        }
        Some(other) => warn!("unknown crash= value '{}' ignored", other),
        None => {}
    }

    info!("boot complete in {} us", log::uptime_ns() / 1000);
    let v = alloc::vec![1u8; 100_000];
    info!("heap check: allocated {} bytes", v.len());
    drop(v);
    #[cfg(feature = "in-guest-tests")]
    {
        if let Some(dir) = cmdline::get(cmdline, "conformance") {
            let n = conformance::run_dir(dir);
            info!("conformance: {} scenarios run", n);
            kprintln!("unikernel: poweroff");
            xen::console::flush();
            shutdown_forever(ShutdownReason::Poweroff);
        }
        if let Some(sel) = cmdline::get(cmdline, "tests") {
            // The verdict is on the console (`Test result: ...`); the domain
            // powers off either way, so the harness can tell a test failure
            // from a crash.
            let _failed = ktest::run_selection(sel);
            kprintln!("unikernel: poweroff");
            xen::console::flush();
            shutdown_forever(ShutdownReason::Poweroff);
        }
    }
    #[cfg(not(feature = "in-guest-tests"))]
    if cmdline::get(cmdline, "tests").is_some() || cmdline::get(cmdline, "conformance").is_some() {
        warn!("this image was built without the in-guest tests (feature in-guest-tests)");
    }
    if let Some(secs) = cmdline::get(cmdline, "idle").and_then(|v| v.parse::<u64>().ok()) {
        info!("idling for {} s (blocked in Xen)", secs);
        let t0 = time::now_ns();
        time::sleep_ns(secs * 1_000_000_000);
        info!(
            "idle done after {} ms, {} idle blocks, {} upcalls",
            (time::now_ns() - t0) / 1_000_000,
            sched::IDLE_BLOCKS.load(core::sync::atomic::Ordering::Relaxed),
            xen::evtchn::UPCALLS.load(core::sync::atomic::Ordering::Relaxed)
        );
    }
    kprintln!("unikernel: poweroff");
    xen::console::flush();
    shutdown_forever(ShutdownReason::Poweroff);
}
