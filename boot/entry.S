/*
 * PV entry point, Xen ELF notes and the hypercall page.
 *
 * Included by kernel/src/arch/boot.rs through global_asm!; the XEN_ELFNOTE_*
 * numbers arrive as `const` operands taken from the xen-sys bindings.
 *
 * Xen starts the guest on the first vCPU with:
 *   %rsi = virtual address of start_info, %rsp = a small boot stack inside
 *   the bootstrap mapping, event delivery masked (evtchn_upcall_mask = 1),
 *   all of the image plus the bootstrap structures mapped from VIRT_BASE.
 */

    .macro XEN_NOTE_BEGIN type
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f           /* namesz, "Xen\0" */
    .long 4f - 3f           /* descsz */
    .long \type
1:  .asciz "Xen"
2:  .balign 4
3:
    .endm

    .macro XEN_NOTE_END
4:  .balign 4
    .popsection
    .endm

    .macro XEN_NOTE_STR type, value
    XEN_NOTE_BEGIN \type
    .asciz "\value"
    XEN_NOTE_END
    .endm

    .macro XEN_NOTE_QUAD type, value
    XEN_NOTE_BEGIN \type
    .quad \value
    XEN_NOTE_END
    .endm

    XEN_NOTE_STR  {NOTE_GUEST_OS},       "xenfs-unikernel"
    XEN_NOTE_STR  {NOTE_GUEST_VERSION},  "0.1"
    XEN_NOTE_STR  {NOTE_XEN_VERSION},    "xen-3.0"
    XEN_NOTE_STR  {NOTE_LOADER},         "generic"
    XEN_NOTE_QUAD {NOTE_VIRT_BASE},      KERNEL_BASE
    XEN_NOTE_QUAD {NOTE_PADDR_OFFSET},   KERNEL_BASE
    XEN_NOTE_QUAD {NOTE_ENTRY},          _start
    XEN_NOTE_QUAD {NOTE_HYPERCALL_PAGE}, hypercall_page
    XEN_NOTE_STR  {NOTE_FEATURES},       "!writable_page_tables"

    .section .text.boot, "ax"
    .globl _start
_start:
    cld
    lea     boot_stack_top(%rip), %rsp
    xor     %ebp, %ebp              /* ends the frame-pointer chain for backtraces */
    mov     %rsi, %rdi              /* kmain(start_info) */
    call    kmain
    ud2                             /* kmain never returns */

    /* Xen writes 32-byte hypercall stubs here at build time (XEN_ELFNOTE_HYPERCALL_PAGE). */
    .section .text.hypercall_page, "ax"
    .balign 4096
    .globl hypercall_page
hypercall_page:
    .fill 4096, 1, 0xcc

    /* Stack of the boot thread. The page below it is left unmapped at boot (guard). */
    .section .bss.boot_stack, "aw", @nobits
    .balign 4096
    .globl boot_stack_guard
boot_stack_guard:
    .skip 4096
    .globl boot_stack_bottom
boot_stack_bottom:
    .skip {BOOT_STACK_SIZE}
    .globl boot_stack_top
boot_stack_top:
