/* tools/python-layouts/probe.c — prints offsetof/sizeof of the CPython structs that the shim's
 * raw-memory frame walker (src/shim/python_frames.c) needs. Built by probe.sh against a
 * configured CPython source tree:
 *
 *   cc -DPy_BUILD_CORE -I. -IInclude -IInclude/internal [-IInclude/internal/mimalloc] -o probe probe.c
 *
 * x86-64 Linux, default (non-debug, GIL) configure.
 */
#include "Python.h"
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030B0000
#  include "frameobject.h"          /* struct _frame (3.9/3.10: Include/cpython/frameobject.h) */
#else
#  include "pycore_frame.h"         /* _PyInterpreterFrame, struct _frame */
#endif
#include "pycore_pystate.h"
#include "pycore_runtime.h"
#if PY_VERSION_HEX >= 0x030D0000
#  include "pycore_runtime_init.h"
#endif

#define O(T, F)  printf("%-46s %4zu\n", #T "." #F, (size_t)offsetof(T, F))
#define S(T)     printf("%-46s %4zu\n", "sizeof(" #T ")", sizeof(T))
#define V(NAME, X) printf("%-46s %4ld\n", NAME, (long)(X))
#define FS(T, F) printf("%-46s %4zu\n", "sizeof(" #T "." #F ")", sizeof(((T *)0)->F))

/* find bit position/width of a bitfield inside PyASCIIObject.state by
 * setting it to all ones in a zeroed struct and scanning the 32-bit word */
static void bitfield(const char *name, PyASCIIObject *o, size_t soff)
{
    uint32_t w;
    memcpy(&w, (char *)o + soff, 4);
    int lo = -1, hi = -1;
    for (int i = 0; i < 32; i++) if (w & (1u << i)) { if (lo < 0) lo = i; hi = i; }
    printf("state.%-40s bits %d..%d (mask 0x%08x)\n", name, lo, hi, w);
}

int main(void)
{
    printf("PY_VERSION %s  PY_VERSION_HEX 0x%08lx\n", PY_VERSION, (unsigned long)PY_VERSION_HEX);
#ifdef Py_DEBUG
    printf("WARNING: Py_DEBUG\n");
#endif
#ifdef Py_GIL_DISABLED
    printf("WARNING: Py_GIL_DISABLED\n");
#endif
#ifdef Py_TRACE_REFS
    printf("WARNING: Py_TRACE_REFS\n");
#endif
    printf("sizeof(void*) %zu\n", sizeof(void *));

    puts("--- PyObject / PyVarObject / PyTypeObject");
    O(PyObject, ob_refcnt); O(PyObject, ob_type); S(PyObject);
    O(PyVarObject, ob_size); S(PyVarObject);
    O(PyTypeObject, tp_name); O(PyTypeObject, tp_dealloc); O(PyTypeObject, tp_flags);

    puts("--- PyThreadState");
    O(PyThreadState, prev); O(PyThreadState, next);
    O(PyThreadState, interp);
#if PY_VERSION_HEX < 0x030B0000
    O(PyThreadState, frame);
#elif PY_VERSION_HEX < 0x030D0000
    O(PyThreadState, cframe);
#  if PY_VERSION_HEX < 0x030C0000
    O(_PyCFrame, use_tracing);
#  endif
    O(_PyCFrame, current_frame); O(_PyCFrame, previous); S(_PyCFrame);
    O(PyThreadState, root_cframe);
#else
    O(PyThreadState, current_frame);
#endif
    O(PyThreadState, thread_id);
#if PY_VERSION_HEX >= 0x030B0000
    O(PyThreadState, native_thread_id);
#endif
    S(PyThreadState);

#if PY_VERSION_HEX < 0x030B0000
    puts("--- PyFrameObject (struct _frame)");
    O(PyFrameObject, f_back); O(PyFrameObject, f_code);
    O(PyFrameObject, f_lasti); FS(PyFrameObject, f_lasti);
    O(PyFrameObject, f_lineno); FS(PyFrameObject, f_lineno);
    O(PyFrameObject, f_trace);
#  if PY_VERSION_HEX < 0x030A0000
    O(PyFrameObject, f_stacktop); O(PyFrameObject, f_executing); FS(PyFrameObject, f_executing);
#  else
    O(PyFrameObject, f_stackdepth); O(PyFrameObject, f_state); FS(PyFrameObject, f_state);
    V("FRAME_CREATED", FRAME_CREATED); V("FRAME_SUSPENDED", FRAME_SUSPENDED);
    V("FRAME_EXECUTING", FRAME_EXECUTING); V("FRAME_RETURNED", FRAME_RETURNED);
    V("FRAME_UNWINDING", FRAME_UNWINDING); V("FRAME_RAISED", FRAME_RAISED);
    V("FRAME_CLEARED", FRAME_CLEARED);
#  endif
    O(PyFrameObject, f_gen); O(PyFrameObject, f_localsplus);
    S(PyFrameObject);
#else
    puts("--- _PyInterpreterFrame");
#  if PY_VERSION_HEX < 0x030D0000
    O(_PyInterpreterFrame, f_code);
    O(_PyInterpreterFrame, prev_instr);
#  else
    O(_PyInterpreterFrame, f_executable);
    O(_PyInterpreterFrame, instr_ptr);
#  endif
    O(_PyInterpreterFrame, previous);
#  if PY_VERSION_HEX < 0x030C0000
    O(_PyInterpreterFrame, f_func);
    O(_PyInterpreterFrame, is_entry); FS(_PyInterpreterFrame, is_entry);
#  else
    O(_PyInterpreterFrame, f_funcobj);
    O(_PyInterpreterFrame, return_offset); FS(_PyInterpreterFrame, return_offset);
#  endif
    O(_PyInterpreterFrame, f_globals); O(_PyInterpreterFrame, f_builtins);
    O(_PyInterpreterFrame, f_locals); O(_PyInterpreterFrame, frame_obj);
    O(_PyInterpreterFrame, stacktop); FS(_PyInterpreterFrame, stacktop);
    O(_PyInterpreterFrame, owner); FS(_PyInterpreterFrame, owner);
    O(_PyInterpreterFrame, localsplus);
    S(_PyInterpreterFrame);
    V("FRAME_OWNED_BY_THREAD", FRAME_OWNED_BY_THREAD);
    V("FRAME_OWNED_BY_GENERATOR", FRAME_OWNED_BY_GENERATOR);
    V("FRAME_OWNED_BY_FRAME_OBJECT", FRAME_OWNED_BY_FRAME_OBJECT);
#  if PY_VERSION_HEX >= 0x030C0000
    V("FRAME_OWNED_BY_CSTACK", FRAME_OWNED_BY_CSTACK);
#  endif
    V("FRAME_SPECIALS_SIZE", FRAME_SPECIALS_SIZE);
    puts("--- PyFrameObject (struct _frame)");
    O(PyFrameObject, f_back); O(PyFrameObject, f_frame); O(PyFrameObject, f_lineno);
    O(PyFrameObject, _f_frame_data);
    puts("--- PyGenObject");
    O(PyGenObject, gi_iframe);
#endif
    S(_Py_CODEUNIT);

    puts("--- PyCodeObject");
    O(PyCodeObject, co_argcount); O(PyCodeObject, co_flags); FS(PyCodeObject, co_flags);
    O(PyCodeObject, co_firstlineno); FS(PyCodeObject, co_firstlineno);
    O(PyCodeObject, co_filename); O(PyCodeObject, co_name);
#if PY_VERSION_HEX >= 0x030B0000
    O(PyCodeObject, co_qualname);
#endif
#if PY_VERSION_HEX < 0x030A0000
    O(PyCodeObject, co_lnotab);
#else
    O(PyCodeObject, co_linetable);
#endif
#if PY_VERSION_HEX < 0x030B0000
    O(PyCodeObject, co_code);
#else
    O(PyCodeObject, co_code_adaptive);
    O(PyCodeObject, _co_firsttraceable); FS(PyCodeObject, _co_firsttraceable);
    O(PyCodeObject, co_exceptiontable);
    O(PyCodeObject, co_nlocalsplus);
#  if PY_VERSION_HEX >= 0x030C0000
    O(PyCodeObject, co_framesize);
#  endif
    O(PyCodeObject, co_localsplusnames);
#endif
    S(PyCodeObject);

    puts("--- PyBytesObject");
    O(PyBytesObject, ob_base.ob_size); O(PyBytesObject, ob_shash); O(PyBytesObject, ob_sval);
    S(PyBytesObject);

    puts("--- Unicode");
    O(PyASCIIObject, length); O(PyASCIIObject, hash); O(PyASCIIObject, state);
    FS(PyASCIIObject, state);
#if PY_VERSION_HEX < 0x030C0000
    O(PyASCIIObject, wstr);
    O(PyCompactUnicodeObject, wstr_length);
#endif
    S(PyASCIIObject);
    O(PyCompactUnicodeObject, utf8_length); O(PyCompactUnicodeObject, utf8);
    S(PyCompactUnicodeObject);
    O(PyUnicodeObject, data); S(PyUnicodeObject);
    {
        size_t so = offsetof(PyASCIIObject, state);
        PyASCIIObject a;
#define BF(F, VAL) memset(&a, 0, sizeof a); a.state.F = VAL; bitfield(#F, &a, so)
        BF(interned, 3); BF(kind, 7); BF(compact, 1); BF(ascii, 1);
#if PY_VERSION_HEX < 0x030C0000
        BF(ready, 1);
#else
        BF(statically_allocated, 1);
#endif
    }
    V("PyUnicode_1BYTE_KIND", PyUnicode_1BYTE_KIND);
    V("PyUnicode_2BYTE_KIND", PyUnicode_2BYTE_KIND);
    V("PyUnicode_4BYTE_KIND", PyUnicode_4BYTE_KIND);

    puts("--- runtime");
    O(_PyRuntimeState, gilstate); S(_PyRuntimeState);
#if PY_VERSION_HEX >= 0x030D0000
    puts("--- _Py_DebugOffsets (3.13)");
    O(_PyRuntimeState, debug_offsets); S(_Py_DebugOffsets);
    O(_Py_DebugOffsets, cookie); O(_Py_DebugOffsets, version); O(_Py_DebugOffsets, free_threaded);
    O(_Py_DebugOffsets, runtime_state); O(_Py_DebugOffsets, interpreter_state);
    O(_Py_DebugOffsets, thread_state);
    O(_Py_DebugOffsets, thread_state.current_frame); O(_Py_DebugOffsets, thread_state.thread_id);
    O(_Py_DebugOffsets, thread_state.interp);
    O(_Py_DebugOffsets, interpreter_frame);
    O(_Py_DebugOffsets, interpreter_frame.previous); O(_Py_DebugOffsets, interpreter_frame.executable);
    O(_Py_DebugOffsets, interpreter_frame.instr_ptr); O(_Py_DebugOffsets, interpreter_frame.owner);
    O(_Py_DebugOffsets, code_object);
    O(_Py_DebugOffsets, code_object.filename); O(_Py_DebugOffsets, code_object.name);
    O(_Py_DebugOffsets, code_object.qualname); O(_Py_DebugOffsets, code_object.linetable);
    O(_Py_DebugOffsets, code_object.firstlineno); O(_Py_DebugOffsets, code_object.co_code_adaptive);
    O(_Py_DebugOffsets, pyobject); O(_Py_DebugOffsets, type_object);
    O(_Py_DebugOffsets, tuple_object); O(_Py_DebugOffsets, list_object);
    O(_Py_DebugOffsets, dict_object); O(_Py_DebugOffsets, float_object);
    O(_Py_DebugOffsets, long_object); O(_Py_DebugOffsets, bytes_object);
    O(_Py_DebugOffsets, bytes_object.ob_size); O(_Py_DebugOffsets, bytes_object.ob_sval);
    O(_Py_DebugOffsets, unicode_object);
    O(_Py_DebugOffsets, unicode_object.state); O(_Py_DebugOffsets, unicode_object.length);
    O(_Py_DebugOffsets, unicode_object.asciiobject_size);
    O(_Py_DebugOffsets, gc);
    printf("_Py_Debug_Cookie \"%s\"\n", _Py_Debug_Cookie);
    V("_Py_Debug_Free_Threaded", _Py_Debug_Free_Threaded);
#endif
    return 0;
}
