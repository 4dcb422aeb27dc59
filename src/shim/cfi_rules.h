/* shim/cfi_rules.h — how to step from one native frame to its caller, read from the DWARF call
 * frame information (.eh_frame, found through .eh_frame_hdr) of the module holding a return
 * address, the way libunwind 1.6's fast trace reads it: the same module and FDE lookup, the same
 * CFA program, the same row. Only the rows libunwind's fast trace (x86_64 tdep_trace) handles as
 * standard frames, and the rows where libunwind ends the stack, are described; anything else
 * (expressions, signal frames, code without unwind information, registers kept in registers...)
 * is CFI_RULE_UNSUPPORTED, and the caller lets libunwind do the whole stack.
 *
 * x86-64 only. Safe inside a hook: no allocation, no lock of its own (dl_iterate_phdr takes the
 * loader's), reads only the module's mapped segments.
 */
#ifndef VT_SHIM_CFI_RULES_H
#define VT_SHIM_CFI_RULES_H

#include <stdint.h>

enum cfi_rule_kind {
    CFI_RULE_UNSUPPORTED = 0, /* not handled here: let libunwind unwind this stack */
    CFI_RULE_STANDARD = 1,    /* CFA = (rbp or rsp) + cfa_offset; return address at CFA - 8 */
    CFI_RULE_LAST = 2,        /* libunwind ends the stack at this frame (return address or rbp undefined) */
};

enum cfi_rule_flags {
    CFI_RULE_CFA_FROM_RBP = 1, /* CFA = rbp + cfa_offset (else rsp + cfa_offset) */
    CFI_RULE_RBP_SAVED = 2,    /* the caller's rbp is at CFA + rbp_offset (else it is this frame's) */
};

/* One step, packed in 8 bytes with no padding (compared and stored as one word). For
 * CFI_RULE_STANDARD the caller's rsp is the CFA. */
struct cfi_rule {
    int32_t cfa_offset;
    int16_t rbp_offset;
    uint8_t kind;  /* enum cfi_rule_kind */
    uint8_t flags; /* enum cfi_rule_flags */
};

/* The rule for the frame whose return address (or, for the innermost frame, resume address) is
 * `return_address`, looked up at return_address - 1 as libunwind does for call frames. */
struct cfi_rule cfi_rule_for_return_address(uintptr_t return_address);

#endif
