/* shim/torch_report.h — the PyTorch part of the shim's reports, from the snapshots the bootstrap
 * handed over (shim/torch_snapshot.h): per device, PyTorch's segments split into tensors (grouped
 * by the Python line that allocated them) and cached free memory with its fragmentation; at an
 * out-of-memory, the failing request's line and the largest live tensors. Outside any hook.
 */
#ifndef VT_SHIM_TORCH_REPORT_H
#define VT_SHIM_TORCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct symbolizer;
struct torch_snapshot;

/* The PyTorch sections of a report for `snapshot`: `at_exit` titles the tensors as leaks. */
void torch_report_render(FILE *out, struct symbolizer *symbolizer, const struct torch_snapshot *snapshot,
                         unsigned top, bool at_exit);

/* PyTorch's snapshot at its first out-of-memory arrived: its part of the OOM report is appended to
 * the report file the shim wrote at the CUDA failure (or a new one when PyTorch failed without a
 * CUDA failure, e.g. past a memory fraction), or printed on stderr where the OOM report went. */
void torch_report_out_of_memory(void);

/* "FUNCTION FILE:LINE" of the first frame of `stack_id` that is not a library's
 * (vt_python_file_is_library), else of its first Python frame; false when it has none. */
bool torch_report_user_line(uint32_t stack_id, char *out, size_t size);

#endif
