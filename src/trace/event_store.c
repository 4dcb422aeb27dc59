/* trace/event_store.c — a loaded trace's events as blocks decoded again from the file on demand,
 * a few kept (least recently used dropped) (see event_store.h). */
#include "trace/event_store.h"

#include "common/reserve.h"
#include "trace/trace_model.h"

#include <stdlib.h>
#include <string.h>

bool vt_record_is_event(uint32_t type)
{
    switch (type) {
    case VT_RECORD_ALLOC:
    case VT_RECORD_FREE:
    case VT_RECORD_FREE_UNKNOWN:
    case VT_RECORD_OOM:
    case VT_RECORD_MAP:
    case VT_RECORD_MARKER:
    case VT_RECORD_DROPPED:
    case VT_RECORD_END:
        return true;
    default:
        return false;
    }
}

bool vt_event_store_add_block(struct vt_event_store *store, const struct vt_event_block *block)
{
    if (!vt_reserve_one(&store->blocks, &store->block_capacity, store->block_count, sizeof *store->blocks))
        return false;
    store->blocks[store->block_count++] = *block;
    return true;
}

static _Noreturn void cannot_read_again(const struct vt_event_store *store, const struct vt_event_block *block,
                                        const char *why)
{
    fprintf(stderr, "vramtrace: error: %s: cannot read the chunk at offset %llu again (%s); the analysis stops\n",
            store->path ? store->path : "trace", (unsigned long long)block->chunk_offset, why);
    exit(1);
}

/* Decodes a block from its chunk, with the loader's rules (vt_model_load): times fixed up from
 * time_before_ns, OOM, MAP and MARKER details counted from the block's bases. */
static void decode_block(struct vt_event_store *store, struct vt_event_block *block)
{
    struct vt_model_event *events = malloc((block->event_count ? block->event_count : 1) * sizeof *events);
    if (!events)
        cannot_read_again(store, block, "out of memory");
    if (!vt_trace_reader_read_chunk_at(&store->reader, block->chunk_offset))
        cannot_read_again(store, block, "the file changed");
    uint64_t last_time = block->time_before_ns;
    uint32_t ooms = block->oom_base, maps = block->map_base, markers = block->marker_base;
    struct vt_trace_record records[64];
    uint32_t count = 0;
    size_t read;
    while (count < block->event_count &&
           (read = vt_trace_reader_next_records_in_chunk(&store->reader, records, sizeof records / sizeof *records)))
        for (size_t i = 0; i < read && count < block->event_count; i++) {
            const struct vt_trace_record *record = &records[i];
            if (!vt_record_is_event(record->type))
                continue;
            struct vt_model_event *event = &events[count++];
            vt_event_from_record(event, record);
            uint64_t time_ns = vt_event_record_time(record);
            event->time_ns = last_time = time_ns < last_time ? last_time : time_ns;
            if (record->type == VT_RECORD_OOM)
                event->detail = ooms++;
            else if (record->type == VT_RECORD_MAP)
                event->detail = maps++;
            else if (record->type == VT_RECORD_MARKER)
                event->detail = markers++;
        }
    if (count < block->event_count)
        cannot_read_again(store, block, "the file changed");
    block->events = events;
    store->resident_count++;
}

/* Drops the least recently used decoded block but `keep`, while more than the limit are kept. */
static void evict(struct vt_event_store *store, const struct vt_event_block *keep)
{
    size_t limit = store->resident_limit ? store->resident_limit : 1;
    while (store->resident_count > limit) {
        struct vt_event_block *oldest = NULL;
        for (size_t i = 0; i < store->block_count; i++) {
            struct vt_event_block *block = &store->blocks[i];
            if (block->events && block != keep && (!oldest || block->last_used < oldest->last_used))
                oldest = block;
        }
        if (!oldest)
            return;
        free(oldest->events);
        oldest->events = NULL;
        store->resident_count--;
    }
}

/* The block holding event `index`. */
static size_t block_of(const struct vt_event_store *store, size_t index)
{
    const struct vt_event_block *hint = &store->blocks[store->hint];
    if (index >= hint->first_event && index - hint->first_event < hint->event_count)
        return store->hint;
    if (store->hint + 1 < store->block_count && index >= hint[1].first_event &&
        index - hint[1].first_event < hint[1].event_count)
        return store->hint + 1;
    size_t low = 0, high = store->block_count; /* the last block starting at or before index */
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (store->blocks[middle].first_event <= index)
            low = middle;
        else
            high = middle;
    }
    return low;
}

static struct vt_event_block *resident_block(struct vt_event_store *store, size_t at)
{
    struct vt_event_block *block = &store->blocks[at];
    store->hint = at;
    block->last_used = ++store->clock;
    if (!block->events) {
        decode_block(store, block);
        evict(store, block);
    }
    return block;
}

const struct vt_model_event *vt_event_store_at(struct vt_event_store *store, size_t index)
{
    struct vt_event_block *block = resident_block(store, block_of(store, index));
    return &block->events[index - block->first_event];
}

size_t vt_event_store_until(struct vt_event_store *store, uint64_t time_ns, size_t total)
{
    size_t low = 0, high = store->block_count; /* blocks [0, low) start at or before time_ns */
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (store->blocks[middle].first_time_ns <= time_ns)
            low = middle + 1;
        else
            high = middle;
    }
    if (low == 0)
        return 0;
    /* every event before block low - 1 is at or before its first event's time, hence time_ns */
    struct vt_event_block *block = resident_block(store, low - 1);
    size_t result = block->first_event + vt_events_until(block->events, block->event_count, time_ns);
    return result < total ? result : total;
}

void vt_event_store_free(struct vt_event_store *store)
{
    for (size_t i = 0; i < store->block_count; i++)
        free(store->blocks[i].events);
    free(store->blocks);
    vt_trace_reader_close(&store->reader);
    memset(store, 0, sizeof *store);
    store->reader.fd = -1;
}
