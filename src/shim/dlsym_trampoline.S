/* shim/dlsym_trampoline.S — the shim's dlsym(), x86-64.
 *
 * glibc's dlsym() finds "the caller" from its own return address: RTLD_NEXT means "the next
 * library after the one that called dlsym". A wrapper written in C would call the real dlsym
 * from inside the shim and silently change what RTLD_NEXT means for every other library. So
 * this entry asks shim_dlsym_decide() (hooks_lookup.c) whether the lookup is one the shim wraps;
 * if so it returns the wrapper, and otherwise it *jumps* to the real dlsym with the caller's own
 * return address still on the stack: the lookup then behaves exactly as without the shim.
 */
    .text
    .globl  shim_dlsym_trampoline
    .hidden shim_dlsym_trampoline
    .type   shim_dlsym_trampoline, @function
shim_dlsym_trampoline:
    .cfi_startproc
    endbr64
    pushq   %rdi                    /* handle */
    .cfi_adjust_cfa_offset 8
    pushq   %rsi                    /* symbol */
    .cfi_adjust_cfa_offset 8
    subq    $8, %rsp                /* keep the stack 16-byte aligned for the call */
    .cfi_adjust_cfa_offset 8
    call    shim_dlsym_decide
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %rsi
    .cfi_adjust_cfa_offset -8
    popq    %rdi
    .cfi_adjust_cfa_offset -8
    testq   %rax, %rax
    jnz     1f                      /* a wrapper: return it */
    movq    shim_real_dlsym_function(%rip), %rax
    testq   %rax, %rax
    jz      1f                      /* no real dlsym (cannot happen with glibc): NULL */
    jmp     *%rax                   /* tail call: the real dlsym sees the original caller */
1:  ret
    .cfi_endproc
    .size   shim_dlsym_trampoline, .-shim_dlsym_trampoline

    .globl  dlsym
    .type   dlsym, @function
    .set    dlsym, shim_dlsym_trampoline

    .section .note.GNU-stack,"",@progbits
