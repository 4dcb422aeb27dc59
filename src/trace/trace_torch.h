/* trace/trace_torch.h — the PyTorch layer of a loaded trace, for the analysis commands: which
 * snapshot of PyTorch's caching allocator speaks for a moment (exit, out-of-memory, the newest at
 * or before a time), the "user frame" of a Python stack (the first frame that is not a library's:
 * the line that holds the memory), tensors grouped by that line (what `vramtrace diff` compares),
 * and the allocated/reserved history per device (what `vramtrace timeline` draws). The snapshots
 * themselves are loaded by trace_model.c; the accounting of one snapshot is common/torch_layer. */
#ifndef VT_TRACE_TRACE_TORCH_H
#define VT_TRACE_TRACE_TORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace/trace_model.h"

/* The last exit snapshot, or NULL. */
const struct vt_model_torch_snapshot *vt_torch_exit_snapshot(const struct vt_trace_model *model);
/* The first out-of-memory snapshot, or NULL. */
const struct vt_model_torch_snapshot *vt_torch_oom_snapshot(const struct vt_trace_model *model);
/* The newest snapshot (of any moment) taken at or before time_ns, or NULL. */
const struct vt_model_torch_snapshot *vt_torch_snapshot_at(const struct vt_trace_model *model, uint64_t time_ns);
/* "at exit", "at the out-of-memory", "at live dump N". */
const char *vt_torch_moment_name(const struct vt_model_torch_snapshot *snapshot, char *out, size_t size);

/* A stack's user frame: the first Python frame whose file is not a library's
 * (vt_python_file_is_library), else its innermost Python frame. False when it has none. */
struct vt_user_frame {
    const char *file_name, *function_name; /* the model's */
    int line;
};
bool vt_torch_user_frame(const struct vt_trace_model *model, uint32_t stack_id, struct vt_user_frame *frame);
/* "FUNC FILE:LINE" of the user frame into out; false (out empty) when there is none. */
bool vt_torch_user_line(const struct vt_trace_model *model, uint32_t stack_id, char *out, size_t size);

/* Tensors grouped by their user frame (file, line, function); a tensor without one is in the
 * group whose file_name is NULL. */
struct vt_torch_line {
    struct vt_user_frame frame; /* file_name NULL: no Python stack */
    uint32_t stack_id;          /* the stack of the group's largest part (for rendering) */
    uint64_t bytes, count;
};
struct vt_torch_lines {
    struct vt_torch_line *lines; /* sorted by file, line, function */
    size_t line_count;
    uint64_t bytes, count;
};
/* Of `device` (or VT_TORCH_ALL_DEVICES). False when out of memory (the lines are then empty). */
bool vt_torch_lines_collect(const struct vt_trace_model *model, const struct vt_model_torch_snapshot *snapshot,
                            int device, struct vt_torch_lines *lines);
/* The order of vt_torch_lines (by file, line, function; no Python stack first). */
int vt_torch_line_compare(const struct vt_torch_line *a, const struct vt_torch_line *b);
void vt_torch_lines_free(struct vt_torch_lines *lines);

/* PyTorch's allocated (tensor) and reserved (segment) bytes of one device over time: each
 * snapshot gives exact totals, and the history entries recorded with it (alloc/free_completed:
 * allocated; segment_alloc/free/map/unmap: reserved) fill in the changes before it, walked
 * backwards from those totals. Points are in time order. */
struct vt_torch_level {
    uint64_t time_ns;
    uint64_t allocated_bytes, reserved_bytes;
};
struct vt_torch_levels {
    struct vt_torch_level *levels;
    size_t level_count;
};
/* False when out of memory. Empty when the trace has no snapshot naming the device. */
bool vt_torch_levels_collect(const struct vt_trace_model *model, int device, struct vt_torch_levels *levels);
void vt_torch_levels_free(struct vt_torch_levels *levels);

#endif
