/* shim/native_unwind.h — the fast walk over native frames that stack capture tries first: the
 * stack libunwind's unw_backtrace returns, from a per-return-address cache of the CFI rules of
 * cfi_rules.c, in a few instructions per frame. It gives up (and the caller asks libunwind) at any
 * frame whose rule it does not follow exactly. Also the check mode that captures every stack
 * both ways and counts the differences (VRAMTRACE_UNWIND_CHECK=1, for the tests).
 */
#ifndef VT_SHIM_NATIVE_UNWIND_H
#define VT_SHIM_NATIVE_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

/* At the shim's start: `check` turns the check mode on (VRAMTRACE_UNWIND_CHECK=1, see config.h). */
void native_unwind_init(bool check);

/* The calling thread's return addresses, innermost first, starting with native_backtrace's own
 * return address: what unw_backtrace(buffer, size) stores when called from the same place.
 * Stops early once `wanted_after_shim` frames follow the first run of frames in the shim's own
 * code (see address_in_shim); 0: no early stop. Returns the number stored, or -1 when some frame
 * needs libunwind. Safe in a hook: no malloc; a lock (and an mmap) only when a return address is
 * seen for the first time. */
int native_backtrace(void **buffer, int size, unsigned wanted_after_shim);

/* Check mode (VRAMTRACE_UNWIND_CHECK=1): every capture is made both ways and compared. */
bool native_unwind_checking(void);
/* One comparison: `fast_used` when native_backtrace gave the stack (not libunwind after it gave
 * up), `same` when both ways gave the same frames. */
void native_unwind_check_count(bool fast_used, bool same, const uintptr_t *fast, unsigned fast_depth,
                               const uintptr_t *reference, unsigned reference_depth);
/* At exit, in check mode, when stacks were compared: one line on stderr with the counts, and
 * the first difference seen. */
void native_unwind_check_report(void);

#endif
