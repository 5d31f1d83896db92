//! The assembly in `boot/`: Xen ELF notes, the `_start` entry, the hypercall
//! page and the boot stack (`boot/entry.S`), and the exception stubs
//! (`boot/traps.S`). Numbers the assembly needs come from `xen-sys`.
use xen_sys as x;

/// Size of the boot thread's stack (the stack `kmain` runs on).
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

core::arch::global_asm!(
    include_str!("../../../boot/entry.S"),
    NOTE_GUEST_OS = const x::XEN_ELFNOTE_GUEST_OS,
    NOTE_GUEST_VERSION = const x::XEN_ELFNOTE_GUEST_VERSION,
    NOTE_XEN_VERSION = const x::XEN_ELFNOTE_XEN_VERSION,
    NOTE_LOADER = const x::XEN_ELFNOTE_LOADER,
    NOTE_VIRT_BASE = const x::XEN_ELFNOTE_VIRT_BASE,
    NOTE_PADDR_OFFSET = const x::XEN_ELFNOTE_PADDR_OFFSET,
    NOTE_ENTRY = const x::XEN_ELFNOTE_ENTRY,
    NOTE_HYPERCALL_PAGE = const x::XEN_ELFNOTE_HYPERCALL_PAGE,
    NOTE_FEATURES = const x::XEN_ELFNOTE_FEATURES,
    BOOT_STACK_SIZE = const BOOT_STACK_SIZE,
    options(att_syntax)
);

core::arch::global_asm!(include_str!("../../../boot/switch.S"), options(att_syntax));

core::arch::global_asm!(
    include_str!("../../../boot/traps.S"),
    HYPERVISOR_IRET = const x::__HYPERVISOR_iret,
    options(att_syntax)
);

extern "C" {
    /// Bottom of the boot stack (lowest address), from `boot/entry.S`.
    pub static boot_stack_bottom: u8;
    /// The page below the boot stack, unmapped at boot as a guard.
    pub static boot_stack_guard: u8;
    /// Top of the boot stack.
    pub static boot_stack_top: u8;
    /// Image layout symbols from `linker.ld`.
    pub static __image_start: u8;
    pub static __text_start: u8;
    pub static __text_end: u8;
    pub static __rodata_start: u8;
    pub static __data_start: u8;
    pub static __bss_start: u8;
    pub static __bss_end: u8;
    pub static __image_end: u8;
}

/// Address of a linker or assembly symbol.
#[macro_export]
macro_rules! sym_addr {
    ($s:ident) => {
        core::ptr::addr_of!($crate::arch::boot::$s) as u64
    };
}
