/* shim/python_injection.h — running Python code in the traced process, and the trigger that
 * activates vramtrace's PyTorch integration where sitecustomize cannot (plain LD_PRELOAD,
 * `python -I`, `-E`, `-S`, launchers that scrub the environment).
 *
 * python_run_soon() never runs Python itself: it hands the code to a thread of the shim's own
 * (every signal blocked), which asks the interpreter with Py_AddPendingCall to run it on its main
 * thread, with the GIL held, at its next check for pending calls. So Python code never runs
 * inside a hook, under a shim lock, on a thread of the program's other than the main one, or on
 * the shim's thread (which, were it the first to import threading, would become
 * threading.main_thread()). Every Python symbol is looked up at run time: a process without an
 * interpreter, a forked child and VRAMTRACE_TORCH=off get nothing.
 *
 * The trigger: at the first allocation whose native stack has a frame inside libc10_cuda.so
 * (PyTorch's CUDA allocator), the bootstrap (<directory of libvramtrace.so>/vramtrace-python/
 * vramtrace_bootstrap.py) is imported and activate(injected=True) called, unless it is already
 * in sys.modules (sitecustomize loaded it). Only allocations whose stack is new are looked at (the
 * first one from libc10_cuda.so always is): the recorder tells, at the cost of a compare per event.
 * At each live dump the bootstrap's dump(N) is asked for the same way.
 */
#ifndef VT_SHIM_PYTHON_INJECTION_H
#define VT_SHIM_PYTHON_INJECTION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"

struct python_injection_settings {
    enum vt_torch_mode torch_mode;
    unsigned stack_depth;         /* native frames per stack: 0 hides libc10_cuda.so from the trigger */
    bool quiet;                   /* no message about what could not be done */
    const char *test_inject_code; /* the tests' code for the trigger instead of the bootstrap's (NULL: none) */
};

/* At start-up: looks the interpreter up and, when there is one and the mode is not off, arms the
 * trigger. The bootstrap's directory is found from the shim's own path (dladdr). */
void python_injection_init(const struct python_injection_settings *settings);

/* Runs `code` (Python source) once, soon, on the interpreter's main thread, in a namespace of its
 * own (the program's __main__ is untouched), every exception caught (one line on stderr unless
 * quiet; a KeyboardInterrupt is handed back to the main thread). Returns at once: the code is
 * copied (malloc) and the shim's thread is woken (started the first time). Nothing happens in a
 * process without an interpreter, in a forked child, with VRAMTRACE_TORCH=off, or when the
 * interpreter is not initialised or is finalizing when the thread gets to it. */
void python_run_soon(const char *code);

/* --- the trigger, from the recorder, outside its lock ----------------------------------------- */

/* True while the trigger waits for the first stack through libc10_cuda.so (inline: the recorder
 * asks at every allocation; a load and a test when it is not armed). */
extern bool python_injection_watching __attribute__((visibility("hidden")));
static inline bool python_injection_is_watching(void)
{
    return __atomic_load_n(&python_injection_watching, __ATOMIC_RELAXED);
}

/* While watching, for an allocation whose stack was seen for the first time, with its native
 * frames (innermost first): the trigger fires if one is inside libc10_cuda.so. */
void python_injection_check_stack(const uintptr_t *frames, unsigned depth);

/* The shim wrote live snapshot `dump_number`: the bootstrap writes PyTorch's beside it (when it
 * is active; the code asks sys.modules). From the trace writer's thread. */
void python_injection_live_dump(unsigned dump_number);

/* What the bootstrap reads back through vramtrace_torch_mode(): 0 off, 1 auto, 2 on; 0 in a forked
 * child. */
int python_injection_torch_mode(void);

/* In a forked child: nothing is ever run (the shim's thread is not there; the child stays silent). */
void python_injection_after_fork_in_child(void);

#endif
