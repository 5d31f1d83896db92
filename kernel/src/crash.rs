//! CPU exceptions and crashes: the virtual IDT given to Xen
//! (`HYPERVISOR_set_trap_table`), the dispatch of `boot/traps.S` (the event
//! upcall goes to `xen::evtchn`), and the crash report every fatal
//! exception and panic ends in.
//!
//! Every exception is fatal, unless the fault hook ([`set_fault_hook`])
//! claims it (a program's own fault ends the program): the report shows the vector, error code, RIP,
//! RSP, RFLAGS, the general registers, the faulting address for a page fault
//! (Xen stores it in vcpu_info's `arch.cr2` for PV guests) and a backtrace of
//! return addresses found by walking the frame-pointer chain. Lines of the
//! form `    #N 0x<addr>` (a return address) or `    #0 0x<addr> (rip)` (the
//! faulting instruction) are resolved to symbol names by the harness against
//! build/unikernel.elf. The domain is then shut down with reason `crash`.
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use xen_sys as x;

use crate::arch::hypercall::{check, hypercall1};
use crate::log::LineBuf;
use crate::xen::{console, sched, shared_info};

/// Register state saved by `boot/traps.S`, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const NAMES: [&str; 22] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection",
];

macro_rules! entries {
    ($($n:literal => $f:ident),* $(,)?) => {
        extern "C" { $(fn $f();)* }
        fn entry_points() -> [(u8, u64); 22] {
            [$(($n, $f as *const () as u64)),*]
        }
    };
}

entries!(
    0 => trap_entry_0, 1 => trap_entry_1, 2 => trap_entry_2, 3 => trap_entry_3,
    4 => trap_entry_4, 5 => trap_entry_5, 6 => trap_entry_6, 7 => trap_entry_7,
    8 => trap_entry_8, 9 => trap_entry_9, 10 => trap_entry_10, 11 => trap_entry_11,
    12 => trap_entry_12, 13 => trap_entry_13, 14 => trap_entry_14, 15 => trap_entry_15,
    16 => trap_entry_16, 17 => trap_entry_17, 18 => trap_entry_18, 19 => trap_entry_19,
    20 => trap_entry_20, 21 => trap_entry_21,
);

/// Installs the trap table.
pub fn init_traps() -> Result<(), crate::arch::hypercall::XenError> {
    let mut table = [x::trap_info { vector: 0, flags: 0, cs: 0, address: 0 }; 23];
    for (i, (vec, addr)) in entry_points().into_iter().enumerate() {
        // int3 and into may be raised deliberately, so they get DPL 3; the
        // rest DPL 0. Event delivery stays masked on entry (no TI_SET_IF).
        let dpl = if vec == 3 || vec == 4 { 3 } else { 0 };
        table[i] = x::trap_info { vector: vec, flags: dpl, cs: x::FLAT_KERNEL_CS as u16, address: addr };
    }
    // SAFETY: the table is terminated by a zero entry and lives on our stack
    // for the call; Xen copies it.
    check(unsafe { hypercall1(x::__HYPERVISOR_set_trap_table, table.as_ptr() as u64) }).map(|_| ())
}

/// Vector number `boot/switch.S` uses for the event upcall.
const VECTOR_UPCALL: u64 = 32;
/// Vector number `boot/switch.S` uses for the failsafe callback.
const VECTOR_FAILSAFE: u64 = 33;

/// Called by `boot/traps.S` with the saved frame. The event upcall returns;
/// every exception is fatal.
#[no_mangle]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    if frame.vector == VECTOR_UPCALL {
        crate::xen::evtchn::do_upcall();
        return;
    }
    if frame.vector == VECTOR_FAILSAFE {
        crash("failsafe callback: Xen could not restore the guest's segment state", Some(frame), None, frame.rbp);
    }
    let name = NAMES.get(frame.vector as usize).copied().unwrap_or("unknown");
    let cr2 = if frame.vector == 14 { shared_info::cr2() } else { None };
    if let Some(hook) = FAULT_HOOK.get() {
        // Returns only when the fault is not a program's.
        hook(frame, name, cr2);
    }
    let mut b = LineBuf::new();
    let _ = write!(b, "{} (vector {}), error code {:#x}", name, frame.vector, frame.error_code);
    crash(core::str::from_utf8(b.as_bytes()).unwrap_or("exception"), Some(frame), cr2, frame.rbp);
}

/// Called for every exception before the crash report (see
/// [`set_fault_hook`]).
pub type FaultHook = fn(&TrapFrame, &str, Option<u64>);

static FAULT_HOOK: spin::Once<FaultHook> = spin::Once::new();

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Lets a layer above handle exceptions it owns: the programs layer ends a
/// program that faulted in its own code instead of crashing the kernel.
/// The hook gets the frame, the exception's name and the fault address; it
/// returns when the exception is not its to handle.
pub fn set_fault_hook(f: FaultHook) {
    FAULT_HOOK.call_once(|| f);
}

static CRASHING: AtomicBool = AtomicBool::new(false);

/// Prints the crash report, flushes the console and shuts the domain down
/// with reason `crash`. `rbp` starts the backtrace.
pub fn crash(what: &str, frame: Option<&TrapFrame>, fault_addr: Option<u64>, rbp: u64) -> ! {
    if CRASHING.swap(true, Ordering::SeqCst) {
        // A fault while reporting a crash: give up at once.
        console::emergency_write(b"*** nested crash ***\n");
        sched::shutdown_forever(sched::ShutdownReason::Crash);
    }
    console::force_unlock();
    crate::kprintln!("\n*** CRASH: {} ***", what);
    if let Some(f) = frame {
        crate::kprintln!(
            "    RIP {:#018x}  RSP {:#018x}  RFLAGS {:#x}  CS {:#x}  SS {:#x}",
            f.rip,
            f.rsp,
            f.rflags,
            f.cs & 0xffff,
            f.ss & 0xffff
        );
        crate::kprintln!("    RAX {:#018x}  RBX {:#018x}  RCX {:#018x}  RDX {:#018x}", f.rax, f.rbx, f.rcx, f.rdx);
        crate::kprintln!("    RSI {:#018x}  RDI {:#018x}  RBP {:#018x}  R8  {:#018x}", f.rsi, f.rdi, f.rbp, f.r8);
        crate::kprintln!("    R9  {:#018x}  R10 {:#018x}  R11 {:#018x}  R12 {:#018x}", f.r9, f.r10, f.r11, f.r12);
        crate::kprintln!("    R13 {:#018x}  R14 {:#018x}  R15 {:#018x}", f.r13, f.r14, f.r15);
    }
    if let Some(a) = fault_addr {
        crate::kprintln!("    fault address {:#018x}", a);
    }
    crate::kprintln!("    backtrace:");
    let mut n = 0;
    if let Some(f) = frame {
        crate::kprintln!("    #{} {:#018x} (rip)", n, f.rip);
        n += 1;
    }
    let mut fp = rbp;
    while n < 32 && frame_pointer_ok(fp) {
        // SAFETY: frame_pointer_ok checked that fp and fp+8 lie in mapped,
        // aligned kernel memory.
        let (next, ret) = unsafe { (core::ptr::read(fp as *const u64), core::ptr::read((fp + 8) as *const u64)) };
        if ret == 0 {
            break;
        }
        crate::kprintln!("    #{} {:#018x}", n, ret);
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    crate::kprintln!("*** END CRASH: shutting down (crash) ***");
    console::flush();
    sched::shutdown_forever(sched::ShutdownReason::Crash);
}

/// Whether `fp` can be followed: 8-aligned, inside the mapped kernel memory,
/// and not on an unmapped guard page.
fn frame_pointer_ok(fp: u64) -> bool {
    let lo = crate::mm::KERNEL_BASE;
    let hi = crate::mm::pfn_to_va(crate::mm::nr_pages());
    let guard = crate::sym_addr!(boot_stack_guard);
    fp.is_multiple_of(8)
        && fp >= lo
        && fp.saturating_add(16) <= hi
        && !(guard..guard + crate::mm::PAGE_SIZE).contains(&fp)
        && crate::mm::is_va_mapped(fp)
        && crate::mm::is_va_mapped(fp + 8)
}
