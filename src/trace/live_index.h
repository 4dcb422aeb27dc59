/* trace/live_index.h — checkpoints of a replay taken while a trace loads, so that a replay to event
 * N starts from the last checkpoint at or before N instead of from the first event: the index
 * behind `report --at`, the peak and out-of-memory snapshots, `diff --from/--to`, `flame --at`.
 *
 * A checkpoint is the whole state of a replay that keeps the live set (trace_model.h) after its
 * first `next_event` events: the accounting's counters and its live tables' records, oldest first
 * (restored in that order, a table iterates as it did). One is taken every `interval` events, and
 * one at the end of the load (a replay to the end of the trace starts there). The checkpoints
 * together stay within `budget_bytes`: when the next would not fit, every other one is dropped
 * and the interval doubles (so memory follows the budget, the spacing the trace's length); a
 * checkpoint larger than the whole budget is not taken, the others stay (with none, replays start
 * from the first event, as without an index). Restoring gives the replay exactly the state it would have reached
 * by applying the events from the start (tests/trace/test_live_index.c).
 */
#ifndef VT_TRACE_LIVE_INDEX_H
#define VT_TRACE_LIVE_INDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "common/memory_accounting.h"
#include "trace/trace_model.h"

/* Defaults: a checkpoint every 64 Ki events at first, 16 MiB of checkpoints at most. */
#define VT_LIVE_INDEX_FIRST_INTERVAL ((size_t)1 << 16)
#define VT_LIVE_INDEX_BUDGET_BYTES ((size_t)16 << 20)

struct vt_live_checkpoint {
    size_t next_event; /* the events applied */
    struct vt_slot_usage usage[VT_SLOT_COUNT];
    struct vt_accounting_stats stats;
    struct vt_accounting_oom oom;
    bool out_of_memory;
    struct alloc_record *records[VT_SPACE_COUNT]; /* each table's, oldest first */
    size_t record_count[VT_SPACE_COUNT];
    size_t bytes;
};

struct vt_live_index {
    struct vt_live_checkpoint *checkpoints; /* by next_event */
    size_t count, capacity;
    size_t interval;     /* events between checkpoints (a power of two times the first) */
    size_t next_due;     /* the next checkpoint's place: the next multiple of the interval */
    size_t bytes, budget_bytes;
    bool out_of_memory;  /* a checkpoint could not be taken: none is taken any more */
};

/* An empty index; interval and budget 0: the defaults. */
void vt_live_index_start(struct vt_live_index *index, size_t interval, size_t budget_bytes);
/* After the replay applied an event (the loader's replay, keeping the live set): takes a
 * checkpoint when one is due. */
void vt_live_index_note_due(struct vt_live_index *index, const struct vt_replay *replay);
static inline void vt_live_index_note(struct vt_live_index *index, const struct vt_replay *replay)
{
    if (replay->next_event >= index->next_due)
        vt_live_index_note_due(index, replay);
}
/* After the replay's last event (the end of the load): a checkpoint of that state too, the budget
 * permitting (not at a multiple of the interval: no checkpoint follows it), so that a replay to
 * the end of the trace starts there. */
void vt_live_index_note_end(struct vt_live_index *index, const struct vt_replay *replay);
/* The last checkpoint after at most `events` events, or NULL. */
const struct vt_live_checkpoint *vt_live_index_before(const struct vt_live_index *index, size_t events);
/* Puts the replay (keeping the live set) in the checkpoint's state; false when out of memory (the
 * replay is then back at the start). */
bool vt_live_checkpoint_restore(const struct vt_live_checkpoint *checkpoint, struct vt_replay *replay);
void vt_live_index_free(struct vt_live_index *index);

#endif
