/* shim/torch_snapshot.h — PyTorch's caching allocator, as the Python bootstrap hands its snapshots
 * over (vramtrace_torch_snapshot, include/vramtrace/shim_api.h): each snapshot is written into the
 * trace (TORCH_* records, docs/trace-format.md) with its Python frames as CODE and STACK records,
 * and the last one taken at exit and the one taken at the first out-of-memory are kept for the
 * shim's own reports (the tensor layer of common/torch_layer.h).
 *
 * Called from a Python thread, never from a hook: it allocates, and takes the recorder's lock only
 * to intern stacks and to write the records.
 */
#ifndef VT_SHIM_TORCH_SNAPSHOT_H
#define VT_SHIM_TORCH_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/torch_layer.h"

/* Takes one snapshot blob (its layout: shim_api.h). Returns 0, or -1 when the blob is malformed
 * (said once on stderr) or out of memory. */
int torch_snapshot_receive(const void *blob, size_t length);

/* A kept snapshot: the view stays valid until torch_snapshot_release. */
struct torch_snapshot {
    struct vt_torch_view view;
    uint32_t moment;          /* enum vt_torch_moment */
    uint64_t timestamp_ns;    /* since the trace started */
    int32_t oom_device;
    uint64_t oom_requested_bytes;
    uint32_t oom_stack_id;
};

/* The last snapshot taken at `moment` (VT_TORCH_AT_EXIT or VT_TORCH_AT_OOM; the out-of-memory one
 * is the first), or NULL. Holds a lock until torch_snapshot_release. */
const struct torch_snapshot *torch_snapshot_acquire(uint32_t moment);
void torch_snapshot_release(void);

/* Forgets every kept snapshot and named code (a forked child; the tests). */
void torch_snapshot_reset(void);

#endif
