/* shim/reentry_guard.h — the thread-local flag that makes one user call one event.
 *
 * A hook sets the flag before it calls the real function and clears it afterwards. Anything the
 * real function calls that is hooked too (the runtime's cudaMalloc calling the driver's cuMemAlloc
 * through the table it got from cuGetProcAddress, libunwind touching memory, the report code) sees
 * the flag and passes straight through. Initial-exec TLS: no allocation, no lock, no lazy TLS setup
 * on first touch inside a hook.
 */
#ifndef VT_SHIM_REENTRY_GUARD_H
#define VT_SHIM_REENTRY_GUARD_H

#include <stdbool.h>

extern __thread int shim_hook_depth __attribute__((tls_model("initial-exec")));

/* True when this is the outermost hook on this thread; the caller must then call reentry_leave(). */
static inline bool reentry_enter(void)
{
    return shim_hook_depth++ == 0;
}

static inline void reentry_leave(void)
{
    shim_hook_depth--;
}

#endif
