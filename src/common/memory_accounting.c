/* common/memory_accounting.c — the accounting's rare paths: starting and clearing, a stale record
 * at a reused key, unknown frees, device resets and out-of-memory failures (see
 * memory_accounting.h; the hot path is inline there). */
#include "common/memory_accounting.h"

#include <string.h>

void vt_accounting_start(struct vt_accounting *accounting, bool track_live)
{
    memset(accounting, 0, sizeof *accounting);
    accounting->track_live = track_live;
}

void vt_accounting_clear(struct vt_accounting *accounting)
{
    for (int space = 0; space < VT_SPACE_COUNT; space++)
        alloc_table_clear(&accounting->live[space]);
    vt_accounting_start(accounting, accounting->track_live);
}

bool vt_accounting_replace_stale(struct vt_accounting *accounting, struct alloc_table *table,
                                 const struct alloc_record *record)
{
    struct alloc_record stale;
    if (alloc_table_remove(table, record->address, &stale)) /* its free went by a path nobody saw */
        vt_accounting_subtract(accounting, &stale, VT_FROM_TRACE);
    if (alloc_table_insert(table, record))
        return true;
    accounting->out_of_memory = true;
    return false;
}

void vt_accounting_unknown_free(struct vt_accounting *accounting, unsigned api)
{
    vt_accounting_count_call(accounting, api, VT_FROM_TRACE);
    accounting->stats.unknown_frees++;
}

void vt_accounting_reset_device(struct vt_accounting *accounting, unsigned api, int device,
                                void (*removed)(const struct alloc_record *record, void *context), void *context)
{
    vt_accounting_count_call(accounting, api, VT_FROM_TRACE);
    struct alloc_table *table = &accounting->live[VT_SPACE_POINTERS];
    struct alloc_record *next;
    for (struct alloc_record *live = table->oldest; live; live = next) {
        next = live->newer; /* taken before the removal recycles `live` */
        if (live->device != device || (live->kind != VT_KIND_DEVICE && live->kind != VT_KIND_MANAGED))
            continue;
        struct alloc_record freed;
        if (!vt_accounting_remove(accounting, VT_SPACE_POINTERS, live->address, &freed, VT_FROM_TRACE))
            continue;
        if (removed)
            removed(&freed, context);
    }
}

bool vt_accounting_out_of_memory(struct vt_accounting *accounting, unsigned api, uint64_t event)
{
    vt_accounting_count_call(accounting, api, VT_FROM_TRACE);
    accounting->stats.failed_out_of_memory++;
    bool first = accounting->oom.failures++ == 0;
    if (first)
        accounting->oom.first_event = event;
    accounting->oom.last_event = event;
    accounting->oom.allocations_after_last_failure = 0;
    return first;
}
