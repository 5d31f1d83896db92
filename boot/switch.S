/*
 * Event upcall entry, failsafe callback, thread context switch.
 *
 * The event upcall arrives with the same frame as an exception (rcx, r11,
 * rip, cs, rflags, rsp, ss; no error code) and events masked
 * (CALLBACKF_mask_events). It is routed through trap_common with vector 32,
 * so it saves every register and returns through HYPERVISOR_iret. That
 * return closes the re-entrancy window every PV kernel must handle: Xen
 * restores the event mask from the saved RFLAGS.IF and the return address
 * atomically, and it re-checks evtchn_upcall_pending on the way out, so an
 * event that arrives while the handler is exiting is delivered as a new
 * upcall once the frame is gone, never lost and never nested.
 */
    .section .text.upcall, "ax"
    .globl hypervisor_callback
hypervisor_callback:
    pop     %rcx
    pop     %r11
    push    $0
    push    $32
    jmp     trap_common

    /* Xen could not load the guest's segment state on return: fatal. */
    .globl failsafe_callback
failsafe_callback:
    pop     %rcx
    pop     %r11
    push    $0
    push    $33
    jmp     trap_common

/*
 * switch_context(save: *mut u64, next_rsp: u64): saves the callee-saved
 * registers and %rsp of the current thread, then resumes the thread whose
 * stack pointer is next_rsp. Called by the scheduler with events masked.
 */
    .globl switch_context
switch_context:
    push    %rbp
    push    %rbx
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rsp, (%rdi)
    mov     %rsi, %rsp
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbx
    pop     %rbp
    ret

/*
 * First code of a new thread: its initial stack makes switch_context
 * "return" here with %r12 = the thread's start argument.
 */
    .globl thread_trampoline
thread_trampoline:
    mov     %r12, %rdi
    xor     %ebp, %ebp
    call    thread_start
    ud2
