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

/* Hands over one snapshot of PyTorch's caching allocator (the bootstrap's, at an out-of-memory, at
 * exit and at each live dump): the shim writes it into the trace and keeps the exit and
 * out-of-memory ones for its reports. Returns 0; -1 when the blob is malformed or memory runs out
 * (said once on stderr), or in a forked child. The blob, all integers little-endian (u32, i32,
 * u64), a "stack" being 0 for none or a stack's index + 1:
 *
 *   header   "VTTS", u32 version (VRAMTRACE_TORCH_BLOB_VERSION), u32 moment (enum vt_torch_moment),
 *            u32 dump number, i32 out-of-memory device (-1), u32 flags (enum vt_torch_snapshot_flags),
 *            u64 out-of-memory request bytes, u64 what taking the snapshot cost (ns)
 *   strings  u32 count, then each: u32 byte count, UTF-8 bytes
 *   frames   u32 count, then each: u32 file string, u32 function string, u32 line
 *   frame list  u32 count, then that many u32 frame indices: every stack's frames, innermost
 *            first, one stack after another
 *   stacks   u32 count, then each: u32 depth (its frames are the next `depth` of the frame list);
 *            then a stack: the failing request's (out of memory)
 *   devices  u32 count, then each: i32 device, u64 free bytes, u64 total bytes (the driver's)
 *   segments u32 count, then each: i32 device, u32 flags (enum vt_torch_segment_flags), u64 address,
 *            u64 size, u64 stream, stack
 *   blocks   u32 count, then each: i32 device, u32 state (enum vt_torch_block_state), u64 address,
 *            u64 size, u64 requested size, stack
 *   history  u32 count, then each: i32 device, u32 action (enum vt_torch_action), u64 address,
 *            u64 size, u64 stream, u64 wall-clock time (ns since the Unix epoch; 0 unknown), stack
 */
#define VRAMTRACE_TORCH_BLOB_MAGIC "VTTS"
#define VRAMTRACE_TORCH_BLOB_VERSION 1u
int vramtrace_torch_snapshot(const void *blob, size_t length);

#endif
