/* shim/live_groups.h — live allocations grouped by (kind, API, stack), largest first: the shape
 * of both the exit report's leaks and the OOM report's "what filled the device". */
#ifndef VT_SHIM_LIVE_GROUPS_H
#define VT_SHIM_LIVE_GROUPS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/group_threads.h"
#include "common/torch_layer.h"
#include "vramtrace/events.h"

#define LIVE_GROUPS_ALL_DEVICES (-2)
#define LIVE_GROUP_HANDLES_KEPT 4

struct live_group {
    uint32_t stack_id;
    uint16_t api;
    uint8_t kind;
    uint64_t bytes;
    uint64_t count;
    uint64_t handles[LIVE_GROUP_HANDLES_KEPT]; /* cuMemCreate groups: some of their handles */
    unsigned handles_kept;
    struct vt_thread_tally threads; /* the threads that allocated it, by kernel thread id */
};

struct mapped_range {
    uint64_t handle, address, size_bytes;
};

struct live_groups {
    struct live_group *groups; /* sorted: by kind, then bytes, largest first */
    size_t group_count;
    uint64_t bytes_by_kind[VT_KIND_COUNT];
    uint64_t count_by_kind[VT_KIND_COUNT];
    struct mapped_range *mappings;
    size_t mapping_count;
    bool incomplete; /* out of memory while grouping */
    /* live_groups_collect_outside_torch: device memory left out because PyTorch's segments hold it */
    uint64_t torch_bytes, torch_count;
};

/* Groups what is live now, on one device (or LIVE_GROUPS_ALL_DEVICES). */
void live_groups_collect(struct live_groups *groups, int device);
/* The same, leaving out the memory PyTorch's caching allocator holds in the segments of `torch`
 * (their cudaMalloc, an expandable segment's reservation, mappings and physical handles): the
 * CUDA layer outside PyTorch. Counted in torch_bytes and torch_count instead. */
void live_groups_collect_outside_torch(struct live_groups *groups, int device, const struct vt_torch_view *torch);
void live_groups_free(struct live_groups *groups);

struct symbolizer;

/* Prints the groups of one kind: "<title> of N byte(s) (...) in M allocation(s) of <kind> memory,
 * <API>, allocated from:", the threads that did (vt_format_threads) + frames, at most `top` of
 * them, then one line for the rest. */
void live_groups_render_kind(FILE *out, struct symbolizer *symbolizer, const struct live_groups *groups,
                             enum vt_memory_kind kind, const char *title, unsigned top);

/* Prints one stack, a frame per line (the calls inlined at a recorded frame each on their own line,
 * innermost first, numbered in that order), or a note when none was recorded. */
void render_stack(FILE *out, struct symbolizer *symbolizer, uint32_t stack_id);

#endif
