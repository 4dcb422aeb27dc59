/* shim/python_frames.h — the calling thread's Python frames, read straight from CPython's memory
 * at every event (CPython 3.9 to 3.13, no build dependency on Python).
 *
 * In a process that contains an interpreter, python_frames_capture() finds the calling thread's
 * state (PyGILState_GetThisThreadState, which works with the GIL released, as in a ctypes call)
 * and walks its frame chain with the field offsets of that interpreter version: it never takes the
 * GIL, calls into Python, creates frame objects or allocates. A thread with no Python state gets
 * no Python frames. An interpreter version or build this file does not know is said once on
 * stderr and gets native frames only. Code objects become ids in python_codes.c; this file also
 * owns the merge of native and Python frames into the one stack an event records.
 */
#ifndef VT_SHIM_PYTHON_FRAMES_H
#define VT_SHIM_PYTHON_FRAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/python_lines.h"

#define PYTHON_MAX_DEPTH 128

/* One Python frame as read: its code object and the byte offset of the instruction it executes. */
struct python_raw_frame {
    uintptr_t code;
    uint32_t byte_offset;
    bool ends_evaluation; /* the outermost frame of one call of the interpreter's evaluation loop */
};

struct python_stack {
    unsigned depth;
    struct python_raw_frame frames[PYTHON_MAX_DEPTH]; /* innermost first */
};

/* Called once at start-up: how many frames to read (0 turns Python frames off), whether to stay
 * quiet, and the function that forgets a code object when CPython frees it (it runs inside
 * CPython's deallocation of the code object, with the GIL held). */
void python_frames_init(unsigned max_depth, bool quiet, void (*code_freed)(uintptr_t code));

/* The calling thread's Python frames, innermost first; depth 0 when it has none. */
void python_frames_capture(struct python_stack *stack);

/* Merges `native` (innermost first) with `python` into `out` (room for `capacity` words) and
 * returns its depth: native frames up to the first frame of the interpreter's evaluation loop,
 * then the Python frames of that call of the loop, and so on; native frames inside the
 * interpreter itself are left out once Python frames are there; Python frames left over when the
 * native stack ends (its depth limit) come last. `code_id` turns a code object into the id of
 * include/vramtrace/frames.h (0: unreadable, the frame is left out). */
unsigned python_frames_merge(const uintptr_t *native, unsigned native_depth, const struct python_stack *python,
                             uint32_t (*code_id)(uintptr_t code), uintptr_t *out, unsigned capacity);

/* What python_codes.c needs to read a code object of this interpreter. */
struct python_code_layout {
    unsigned filename, name, qualname; /* offsets of str fields; qualname 0: none (3.9, 3.10) */
    unsigned first_line;               /* int */
    unsigned line_table;               /* bytes */
    enum vt_python_line_table line_table_format;
    unsigned ascii_header_bytes, compact_header_bytes; /* sizeof PyASCIIObject, PyCompactUnicodeObject */
};

/* The layout of the running interpreter's code objects; NULL when Python frames are off. */
const struct python_code_layout *python_frames_code_layout(void);

/* The minor version (3.minor) of the interpreter in this process, its major in *major; both 0 when
 * there is none or it cannot be told (Py_Version from 3.11, Py_GetVersion before). */
unsigned python_interpreter_version(unsigned *major);

/* Whether `object` is a str / a bytes object of this interpreter (python_codes.c checks the
 * objects it copies). */
bool python_frames_is_str(uintptr_t object);
bool python_frames_is_bytes(uintptr_t object);

/* For a forked child and the tests: forget the interpreter (probed again at the next capture). */
void python_frames_reset(void);

#endif
