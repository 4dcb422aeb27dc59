/* common/torch_layer.h — the PyTorch layer of the accounting: what PyTorch's caching allocator held
 * at one moment (a snapshot: its segments and their blocks, docs/pytorch.md), summed per device,
 * grouped by the stack that allocated each tensor, and laid over the CUDA layer so that no byte is
 * counted twice: a CUDA allocation that lies inside a segment is PyTorch's cache, not memory of its
 * own. Shared by the shim's exit and OOM reports and the CLI's report, diff and flame.
 *
 * Layers, per device:
 *   CUDA (what the driver holds for the process)
 *     = PyTorch's segments (reserved)  = tensors (active blocks) + cached free (inactive blocks)
 *     + memory outside PyTorch's allocator (cuBLAS workspaces, NCCL, CuPy, raw CUDA)
 *   and, from the driver, used beyond that: contexts, other processes.
 * Fragmentation: cached free bytes that a request as large as the cache's free total could not
 * use, i.e. free bytes minus the largest free block.
 */
#ifndef VT_COMMON_TORCH_LAYER_H
#define VT_COMMON_TORCH_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/alloc_table.h"
#include "vramtrace/trace_format.h"

struct vt_torch_segment {
    uint64_t address, size_bytes, stream;
    int32_t device;
    uint32_t flags;    /* enum vt_torch_segment_flags */
    uint32_t stack_id;
};

struct vt_torch_block {
    uint64_t address, size_bytes, requested_bytes;
    int32_t device;
    uint32_t state;    /* enum vt_torch_block_state */
    uint32_t stack_id;
};

struct vt_torch_device_memory {
    int32_t device;
    uint64_t free_bytes, total_bytes; /* the driver's; 0 when unknown */
};

/* One snapshot. Segments are sorted by address by vt_torch_view_prepare (the owner search needs
 * it); blocks keep their order. */
struct vt_torch_view {
    struct vt_torch_segment *segments;
    size_t segment_count;
    struct vt_torch_block *blocks;
    size_t block_count;
    struct vt_torch_device_memory *devices;
    size_t device_count;
};

/* Sorts the segments by address. */
void vt_torch_view_prepare(struct vt_torch_view *view);

/* Whether [address, address + size) of `device` lies inside one of PyTorch's segments: memory the
 * caching allocator got from CUDA (a segment's cudaMalloc, or a cuMemMap of an expandable one). */
bool vt_torch_view_owns(const struct vt_torch_view *view, int device, uint64_t address, uint64_t size_bytes);

/* Whether [address, address + size) meets any segment (of any device): an expandable segment's
 * address reservation. */
bool vt_torch_view_overlaps(const struct vt_torch_view *view, uint64_t address, uint64_t size_bytes);

/* The cuMemCreate handles whose live mapping lies inside a segment (an expandable segment's
 * memory): note every live record (mapped ranges are kept), sort, then ask vt_torch_view_holds. */
struct vt_torch_handles {
    uint64_t *handles;
    size_t count, capacity;
    bool incomplete; /* out of memory: some are missing */
};
void vt_torch_handles_note(struct vt_torch_handles *handles, const struct vt_torch_view *view,
                           const struct alloc_record *record);
void vt_torch_handles_sort(struct vt_torch_handles *handles);
void vt_torch_handles_free(struct vt_torch_handles *handles);

/* Whether a live record (alloc_table's) is memory PyTorch's allocator holds in its segments: a
 * cudaMalloc pointer inside one, a cuMemCreate handle mapped inside one, a reservation meeting one,
 * a mapping inside one. Such memory is PyTorch's cache, not memory of its own. */
bool vt_torch_view_holds(const struct vt_torch_view *view, const struct vt_torch_handles *handles,
                         const struct alloc_record *record);

/* A block's bytes count as a tensor's while it is active or pending free (PyTorch's
 * allocated_bytes); only inactive blocks are cached and free. */
static inline bool vt_torch_block_is_tensor(uint32_t state)
{
    return state == VT_TORCH_BLOCK_ACTIVE || state == VT_TORCH_BLOCK_PENDING_FREE;
}

struct vt_torch_device_summary {
    int32_t device;
    uint64_t reserved_bytes;        /* segments' sizes */
    uint64_t segment_count;
    uint64_t tensor_bytes;          /* active and pending-free blocks */
    uint64_t tensor_requested_bytes;
    uint64_t tensor_count;
    uint64_t cached_free_bytes;     /* inactive blocks */
    uint64_t cached_free_blocks;
    uint64_t largest_free_block;
    uint64_t driver_free_bytes, driver_total_bytes; /* 0 when unknown */
};

/* Fragmented bytes: free in the cache but not in its largest free block. */
static inline uint64_t vt_torch_fragmented_bytes(const struct vt_torch_device_summary *summary)
{
    return summary->cached_free_bytes - summary->largest_free_block;
}

/* "PyTorch's caching allocator on device D WHEN: R reserved in N segment(s) = T in M tensor(s) +
 * F cached and free in B block(s) (largest free block L; X fragmented)\n": the line the shim's
 * reports and `vramtrace report` print for a device. */
void vt_torch_print_summary(FILE *out, const struct vt_torch_device_summary *summary, const char *when);

/* The summary of each device the snapshot names, in device order, into out[0..capacity);
 * returns how many devices there are (more than capacity: the rest are left out). */
size_t vt_torch_view_summarize(const struct vt_torch_view *view, struct vt_torch_device_summary *out,
                               size_t capacity);

/* Tensors grouped by the stack that allocated them. */
struct vt_torch_group {
    uint32_t stack_id;
    int32_t device;
    uint64_t bytes, requested_bytes, count;
};

struct vt_torch_groups {
    struct vt_torch_group *groups; /* largest first */
    size_t group_count;
    uint64_t bytes, count;         /* all of them */
};

#define VT_TORCH_ALL_DEVICES (-2)

/* Groups the tensors (active and pending-free blocks) of `device` (or VT_TORCH_ALL_DEVICES) by
 * (device, stack). False when out of memory (the groups are then empty). */
bool vt_torch_group_tensors(const struct vt_torch_view *view, int device, struct vt_torch_groups *groups);
void vt_torch_groups_free(struct vt_torch_groups *groups);

/* "TITLE of N byte(s) (H; R requested) in M tensor(s) on device D" (no newline: the caller adds
 * ", allocated at LINE:" and the stack): the head of a tensor group in every report. */
void vt_torch_print_group_head(FILE *out, const char *title, const struct vt_torch_group *group);
/* "... and N more group(s): B byte(s) (H) in M tensor(s)" (no newline): what a --top limit left out. */
void vt_torch_print_rest(FILE *out, uint64_t groups, uint64_t bytes, uint64_t count);

/* Whether a Python source file is a library's rather than the user's: under site-packages or
 * dist-packages, the standard library (".../lib/pythonX.Y/"), a package named torch, or a
 * frozen or generated module ("<frozen runpy>", "<string>"). Reports show the first frame that
 * is not a library's as the line that holds the memory. */
bool vt_python_file_is_library(const char *file_name);

/* The user frame of a stack (frame words of vramtrace/frames.h, innermost first): the first Python
 * frame whose file is not a library's, else the innermost Python frame; `file_of` gives a Python
 * frame's file name (NULL: its code is unknown, the frame is skipped). Returns its index in
 * frames, or -1 when there is none. The shim's reports and the CLI's name a tensor's line by it. */
long vt_python_user_frame(const uint64_t *frames, unsigned depth,
                          const char *(*file_of)(uint64_t frame, void *context), void *context);

#endif
