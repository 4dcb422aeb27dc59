/* trace/live_index.c — checkpoints of a replay while a trace loads (see live_index.h). */
#include "trace/live_index.h"

#include <stdlib.h>
#include <string.h>

#include "common/reserve.h"
#include "trace/trace_model.h"

void vt_live_index_start(struct vt_live_index *index, size_t interval, size_t budget_bytes)
{
    memset(index, 0, sizeof *index);
    index->interval = interval ? interval : VT_LIVE_INDEX_FIRST_INTERVAL;
    index->budget_bytes = budget_bytes ? budget_bytes : VT_LIVE_INDEX_BUDGET_BYTES;
    index->next_due = index->interval;
}

static void free_checkpoint(struct vt_live_checkpoint *checkpoint)
{
    for (int space = 0; space < VT_SPACE_COUNT; space++)
        free(checkpoint->records[space]);
}

/* Keeps the checkpoints at multiples of twice the interval, which becomes that. */
static void thin_out(struct vt_live_index *index)
{
    index->interval *= 2;
    size_t kept = 0;
    for (size_t i = 0; i < index->count; i++) {
        struct vt_live_checkpoint *checkpoint = &index->checkpoints[i];
        if (checkpoint->next_event % index->interval == 0) {
            index->checkpoints[kept++] = *checkpoint;
        } else {
            index->bytes -= checkpoint->bytes;
            free_checkpoint(checkpoint);
        }
    }
    index->count = kept;
}

/* The replay's state as a checkpoint; false when out of memory. */
static bool take(struct vt_live_checkpoint *checkpoint, const struct vt_replay *replay)
{
    const struct vt_accounting *accounting = &replay->accounting;
    memset(checkpoint, 0, sizeof *checkpoint);
    checkpoint->next_event = replay->next_event;
    memcpy(checkpoint->usage, accounting->usage, sizeof checkpoint->usage);
    checkpoint->stats = accounting->stats;
    checkpoint->oom = accounting->oom;
    checkpoint->out_of_memory = accounting->out_of_memory;
    checkpoint->bytes = sizeof *checkpoint;
    for (int space = 0; space < VT_SPACE_COUNT; space++) {
        size_t count = accounting->live[space].live_count;
        if (!count)
            continue;
        struct alloc_record *records = malloc(count * sizeof *records);
        if (!records) {
            free_checkpoint(checkpoint);
            return false;
        }
        size_t copied = 0; /* oldest first, as alloc_table_for_each gives them */
        for (const struct alloc_record *record = accounting->live[space].oldest; record; record = record->newer)
            records[copied++] = *record;
        checkpoint->records[space] = records;
        checkpoint->record_count[space] = copied;
        checkpoint->bytes += count * sizeof *records;
    }
    return true;
}

/* The bytes a checkpoint of the replay would take. */
static size_t checkpoint_bytes(const struct vt_replay *replay)
{
    size_t bytes = sizeof(struct vt_live_checkpoint);
    for (int space = 0; space < VT_SPACE_COUNT; space++)
        bytes += replay->accounting.live[space].live_count * sizeof(struct alloc_record);
    return bytes;
}

/* A checkpoint of the replay's state, after the others. */
static void add_checkpoint(struct vt_live_index *index, const struct vt_replay *replay)
{
    if (!vt_reserve_one(&index->checkpoints, &index->capacity, index->count, sizeof *index->checkpoints) ||
        !take(&index->checkpoints[index->count], replay)) {
        index->out_of_memory = true;
        return;
    }
    index->bytes += index->checkpoints[index->count++].bytes;
}

/* A checkpoint of the replay, when it fits the budget once others are thinned out; `on_interval`:
 * only while the replay stands at a multiple of the (doubling) interval. A checkpoint alone over
 * the budget is not taken, the others stay. */
static void take_within_budget(struct vt_live_index *index, const struct vt_replay *replay, bool on_interval)
{
    size_t bytes = checkpoint_bytes(replay);
    if (bytes > index->budget_bytes)
        return;
    while (index->count && index->bytes + bytes > index->budget_bytes) {
        thin_out(index);
        if (on_interval && replay->next_event % index->interval)
            return; /* no longer a checkpoint's place */
    }
    add_checkpoint(index, replay);
}

void vt_live_index_note_due(struct vt_live_index *index, const struct vt_replay *replay)
{
    if (!index->out_of_memory && replay->accounting.track_live)
        take_within_budget(index, replay, true);
    index->next_due = (replay->next_event / index->interval + 1) * index->interval;
}

void vt_live_index_note_end(struct vt_live_index *index, const struct vt_replay *replay)
{
    if (index->out_of_memory || !replay->accounting.track_live ||
        (index->count && index->checkpoints[index->count - 1].next_event == replay->next_event))
        return;
    take_within_budget(index, replay, false);
}

const struct vt_live_checkpoint *vt_live_index_before(const struct vt_live_index *index, size_t events)
{
    size_t low = 0, high = index->count; /* checkpoints [0, low) are after at most `events` events */
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (index->checkpoints[middle].next_event <= events)
            low = middle + 1;
        else
            high = middle;
    }
    return low ? &index->checkpoints[low - 1] : NULL;
}

bool vt_live_checkpoint_restore(const struct vt_live_checkpoint *checkpoint, struct vt_replay *replay)
{
    struct vt_accounting *accounting = &replay->accounting;
    vt_accounting_clear(accounting);
    replay->next_event = 0;
    for (int space = 0; space < VT_SPACE_COUNT; space++)
        for (size_t i = 0; i < checkpoint->record_count[space]; i++)
            if (!alloc_table_insert(&accounting->live[space], &checkpoint->records[space][i])) {
                vt_accounting_clear(accounting);
                return false;
            }
    memcpy(accounting->usage, checkpoint->usage, sizeof accounting->usage);
    accounting->stats = checkpoint->stats;
    accounting->oom = checkpoint->oom;
    accounting->out_of_memory = checkpoint->out_of_memory;
    replay->next_event = checkpoint->next_event;
    return true;
}

void vt_live_index_free(struct vt_live_index *index)
{
    for (size_t i = 0; i < index->count; i++)
        free_checkpoint(&index->checkpoints[i]);
    free(index->checkpoints);
    memset(index, 0, sizeof *index);
}
