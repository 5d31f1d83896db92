/*
 * CPU exception entry stubs for a 64-bit PV guest.
 *
 * Xen delivers an exception by building, on the guest kernel stack:
 *     rcx, r11, [error code], rip, cs, rflags, rsp, ss
 * (rcx and r11 first because Xen's return path is SYSRET-like). Every stub
 * restores rcx/r11, pushes a zero error code where the CPU has none and the
 * vector number, then trap_common saves the general registers and calls
 * trap_dispatch(&TrapFrame). The layout must match kernel/src/arch/traps.rs.
 */

    .macro TRAP_NOERR vec
    .globl trap_entry_\vec
trap_entry_\vec:
    pop     %rcx
    pop     %r11
    push    $0
    push    $\vec
    jmp     trap_common
    .endm

    .macro TRAP_ERR vec
    .globl trap_entry_\vec
trap_entry_\vec:
    pop     %rcx
    pop     %r11
    push    $\vec
    jmp     trap_common
    .endm

    .section .text.traps, "ax"
    TRAP_NOERR 0
    TRAP_NOERR 1
    TRAP_NOERR 2
    TRAP_NOERR 3
    TRAP_NOERR 4
    TRAP_NOERR 5
    TRAP_NOERR 6
    TRAP_NOERR 7
    TRAP_ERR   8
    TRAP_NOERR 9
    TRAP_ERR   10
    TRAP_ERR   11
    TRAP_ERR   12
    TRAP_ERR   13
    TRAP_ERR   14
    TRAP_NOERR 15
    TRAP_NOERR 16
    TRAP_ERR   17
    TRAP_NOERR 18
    TRAP_NOERR 19
    TRAP_NOERR 20
    TRAP_ERR   21

trap_common:
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rsp, %rdi
    mov     %rsp, %rbx              /* callee-saved: the frame, for the return path */
    and     $-16, %rsp
    call    trap_dispatch
    mov     %rbx, %rsp
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rbp
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    add     $16, %rsp               /* vector and error code */
    /*
     * Return through Xen. The iret stub in the hypercall page pushes rcx,
     * r11 and rax itself (struct iret_context); the guest pushes only the
     * flags word (0: not returning from a syscall).
     */
    push    $0
    jmp     hypercall_page + {HYPERVISOR_IRET} * 32
