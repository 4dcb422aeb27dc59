/* tests/unit/unwind_shapes.S — owns the hand-written frames the native unwinder's tests walk
 * through (tests/unit/test_native_unwind.c): each function calls callback(context) from a frame
 * whose call frame information is one known shape, so that the rule read at its return address
 * and the walk through it can be checked against libunwind. x86-64, System V.
 *
 *   void shape_NAME(void (*callback)(void *), void *context);
 */
#define SHAPE(name)           \
    .globl name;              \
    .type name, @function;    \
    name:

#define END_SHAPE(name) .size name, . - name

#define CALL_BACK            \
    movq %rdi, %rax;         \
    movq %rsi, %rdi;         \
    call *%rax

    .text

/* CFA = rsp + 32, rbp untouched. */
SHAPE(shape_rsp_frame)
    .cfi_startproc
    subq $24, %rsp
    .cfi_def_cfa_offset 32
    CALL_BACK
    addq $24, %rsp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
END_SHAPE(shape_rsp_frame)

/* A frame pointer: CFA = rbp + 16, the caller's rbp at CFA - 16. */
SHAPE(shape_rbp_frame)
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    CALL_BACK
    popq %rbp
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
END_SHAPE(shape_rbp_frame)

/* rbp saved as an ordinary callee-saved register, then overwritten: a walk through this frame
 * must take the caller's rbp from the stack (CFA = rsp + 16, rbp at CFA - 16). */
SHAPE(shape_clobbered_rbp)
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movl $0x1234, %ebp
    CALL_BACK
    popq %rbp
    .cfi_def_cfa_offset 8
    .cfi_restore %rbp
    ret
    .cfi_endproc
END_SHAPE(shape_clobbered_rbp)

/* A 64 KiB frame: CFA = rsp + 0x10010. */
SHAPE(shape_big_frame)
    .cfi_startproc
    subq $0x10008, %rsp
    .cfi_def_cfa_offset 0x10010
    CALL_BACK
    addq $0x10008, %rsp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
END_SHAPE(shape_big_frame)

/* An early return between remember_state and restore_state: at the call, the restored row holds
 * (CFA = rsp + 16), not the early return's (rsp + 8). */
SHAPE(shape_remember_restore)
    .cfi_startproc
    pushq %rbx
    .cfi_def_cfa_offset 16
    .cfi_offset %rbx, -16
    testq %rdi, %rdi
    jne 1f
    .cfi_remember_state
    popq %rbx
    .cfi_def_cfa_offset 8
    .cfi_restore %rbx
    ret
1:
    .cfi_restore_state
    CALL_BACK
    popq %rbx
    .cfi_def_cfa_offset 8
    .cfi_restore %rbx
    ret
    .cfi_endproc
END_SHAPE(shape_remember_restore)

/* The CFA given by an expression (DW_CFA_def_cfa_expression: DW_OP_breg6 16, i.e. rbp + 16): the
 * same place as shape_rbp_frame's, but an expression, which libunwind evaluates and the fast
 * walk does not follow. */
SHAPE(shape_cfa_expression)
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_escape 0x0f, 0x02, 0x76, 0x10
    CALL_BACK
    popq %rbp
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
END_SHAPE(shape_cfa_expression)

/* The caller's rbp kept in rbx (DW_CFA_register): not followed by the fast walk either. */
SHAPE(shape_register_rule)
    .cfi_startproc
    pushq %rbx
    .cfi_def_cfa_offset 16
    .cfi_offset %rbx, -16
    movq %rbp, %rbx
    .cfi_register %rbp, %rbx
    CALL_BACK
    movq %rbx, %rbp
    .cfi_restore %rbp
    popq %rbx
    .cfi_def_cfa_offset 8
    .cfi_restore %rbx
    ret
    .cfi_endproc
END_SHAPE(shape_register_rule)

/* The return address undefined (as in _start or a thread's first frame): the stack ends here. */
SHAPE(shape_undefined_return)
    .cfi_startproc
    subq $8, %rsp
    .cfi_def_cfa_offset 16
    .cfi_undefined %rip
    CALL_BACK
    .cfi_offset %rip, -8
    addq $8, %rsp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
END_SHAPE(shape_undefined_return)

    .section .note.GNU-stack, "", @progbits
