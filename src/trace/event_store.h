/* trace/event_store.h — the events of a loaded trace kept as blocks, one per trace chunk, with at
 * most a few of them decoded in memory at a time: what bounds the memory of the analysis commands
 * by the live set and the distinct stacks instead of by the number of events.
 *
 * Loading registers each chunk that holds events as a block (its first event's index, its event
 * count, its first event's time, the file offset of its chunk, and the loader's state at its start:
 * the time the monotonic fix-up starts from and how many OOM, MAP and MARKER records came before,
 * which an event's `detail` counts from) and drops the events. A block is decoded again from the
 * file when an event of it is asked for (the chunk's deltas start afresh in every chunk, so a
 * chunk decodes on its own); the least recently used decoded block is dropped when more than
 * `resident_limit` are. The store keeps the loader's reader (its file descriptor) to read chunks
 * again — following a trace that grows, a reader of its own on the same file, whose size limit
 * follows the follower's — so the file must stay as it was up to the end of the last block (a
 * trace only grows).
 */
#ifndef VT_TRACE_EVENT_STORE_H
#define VT_TRACE_EVENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace/trace_reader.h"

struct vt_model_event;

/* Decoded blocks kept at most, by default. */
#define VT_EVENT_STORE_DEFAULT_BLOCKS 4

struct vt_event_block {
    uint64_t first_event;        /* index of its first event in the trace */
    uint64_t chunk_offset;       /* where its chunk starts in the file */
    uint64_t first_time_ns;      /* its first event's time (fixed up: times never go backwards) */
    uint64_t time_before_ns;     /* the fix-up's time before its first event */
    uint32_t event_count;
    uint32_t oom_base, map_base, marker_base; /* OOM, MAP, MARKER events before it */
    struct vt_model_event *events; /* decoded; NULL when not resident */
    uint64_t last_used;
};

struct vt_event_store {
    struct vt_trace_reader reader; /* the loader's (a follower's duplicate), kept to read chunks again */
    const char *path;              /* for the error when a chunk cannot be read again */
    struct vt_event_block *blocks;
    size_t block_count, block_capacity;
    size_t resident_count, resident_limit;
    size_t hint;                   /* the block last asked for: sequential access finds it at once */
    uint64_t clock;
};

/* Whether records of `type` are events (kept in order, numbered) rather than definitions. */
bool vt_record_is_event(uint32_t type);

/* (vt_event_from_record and vt_event_record_time, the conversion of a record to an event that
 * loading and decoding again share, are inline in trace_model.h.) */

/* A new block (whose events are counted by vt_event_store_count); false when out of memory. */
bool vt_event_store_add_block(struct vt_event_store *store, const struct vt_event_block *block);

/* Event `index` (< the events registered). The pointer stays valid until another block is decoded
 * (at most resident_limit - 1 other blocks may be asked for meanwhile). A chunk that cannot be read
 * again (the file changed under the analysis, or out of memory) ends the process with a message:
 * the analysis cannot go on without it. */
const struct vt_model_event *vt_event_store_at(struct vt_event_store *store, size_t index);

/* The number of events at or before `time_ns`, of `total` (times never go backwards). */
size_t vt_event_store_until(struct vt_event_store *store, uint64_t time_ns, size_t total);

void vt_event_store_free(struct vt_event_store *store);

#endif
