/* tests/unit/unwind_probe_b.S — owns the second library of the dlclose test (see
 * unwind_probe_a.S): the same probe_call, the call ending at the same offset, from a frame
 * pointer frame (CFA = rbp + 16, the caller's rbp at CFA - 16). */
    .text
    .globl probe_call
    .type probe_call, @function
probe_call:
    .cfi_startproc
    pushq %rbp                  /* 1 byte */
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp             /* 3 bytes */
    .cfi_def_cfa_register %rbp
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax                  /* returns to offset 12 */
    popq %rbp
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
    .size probe_call, . - probe_call

    .section .note.GNU-stack, "", @progbits
