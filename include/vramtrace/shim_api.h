/* vramtrace/shim_api.h — what libvramtrace.so exports besides the functions it interposes: a small
 * C API for code running inside the traced process. vramtrace's Python bootstrap
 * (src/python/vramtrace_bootstrap.py) calls it through ctypes (ctypes.CDLL(None).vramtrace_...), so
 * it finds the shim only when the shim is preloaded. Safe from any thread at any time.
 */
#ifndef VRAMTRACE_SHIM_API_H
#define VRAMTRACE_SHIM_API_H

#include <stddef.h>

/* Writes to `out` the base name this process's report files start with (live snapshots are
 * <base>.dump-N.txt, the OOM report <base>.oom.txt): the report path without ".report.txt", else
 * the trace path. Returns 0; -1 (and an empty string when size > 0) when the process writes neither
 * a trace nor a report, in a forked child (which writes nothing), or when `size` is too small. */
int vramtrace_output_base(char *out, size_t size);

/* VRAMTRACE_TORCH as the shim read it: 0 off, 1 auto, 2 on (an invalid value is said on stderr and
 * taken as auto). 0 in a forked child. */
int vramtrace_torch_mode(void);

#endif
