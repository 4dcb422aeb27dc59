/* tests/unit/unwind_probe_a.S — owns one of the two libraries of the dlclose test of the native
 * unwinder (tests/unit/test_native_unwind.c): probe_call(callback, context) calls back from a
 * frame with CFA = rsp + 32. unwind_probe_b.S has the same layout (the call ends at the same
 * offset) with a frame pointer instead, so a rule kept from this library after it is unloaded
 * would walk the other one wrongly. */
    .text
    .globl probe_call
    .type probe_call, @function
probe_call:
    .cfi_startproc
    subq $24, %rsp              /* 4 bytes */
    .cfi_def_cfa_offset 32
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax                  /* returns to offset 12 */
    addq $24, %rsp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
    .size probe_call, . - probe_call

    .section .note.GNU-stack, "", @progbits
