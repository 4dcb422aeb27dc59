/* shim/shim_state.h — the shim's lifecycle as the hooks see it: lazy initialisation, and the
 * begin/end pair every hook wraps around its real call. */
#ifndef VT_SHIM_STATE_H
#define VT_SHIM_STATE_H

#include <stdbool.h>

#include "shim/recorder.h"
#include "shim/reentry_guard.h"

/* Set once the shim is initialised. */
extern bool shim_initialized __attribute__((visibility("hidden")));
void shim_initialize_once(void);

/* Initialises the shim on first use (safe to call from any thread, any number of times). Inline:
 * afterwards, one load per hook. */
static inline void shim_ensure_initialized(void)
{
    if (!__atomic_load_n(&shim_initialized, __ATOMIC_ACQUIRE))
        shim_initialize_once();
}


/* True when this call is to be recorded: it is the outermost hook on this thread and recording is
 * on. The hook must then call hook_end() after the real call. Nested calls (made by the real
 * function itself) and calls after the exit report pass straight through. */
static inline bool hook_begin(void)
{
    if (shim_hook_depth != 0)
        return false;
    shim_ensure_initialized();
    if (!recorder_is_enabled())
        return false;
    shim_hook_depth++;
    return true;
}

static inline void hook_end(void)
{
    shim_hook_depth--;
}

#endif
