/* common/memory_accounting.c — the accounting's rare paths: starting and clearing, a stale record
 * at a reused key, unknown frees, resets (device resets, cuCtxDestroy), virtual memory (mappings, releases and unmaps:
 * when cuMemCreate memory stops being in use) and out-of-memory failures (see memory_accounting.h;
 * the hot path is inline there). */
#include "common/memory_accounting.h"

#include <string.h>

#include "vramtrace/trace_format.h"

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

/* The physical record of a cuMemCreate handle (live tables only), or NULL. */
static struct alloc_record *physical_record(struct vt_accounting *accounting, uint64_t handle)
{
    /* the table's records are the accounting's own: const only for other readers */
    return (struct alloc_record *)alloc_table_find(&accounting->live[VT_SPACE_PHYSICAL_HANDLES], handle);
}

/* A mapping is gone: its handle counts one mapping less. Returns the handle's physical record when
 * that was its last mapping and the handle is released (its memory is free now), else NULL. */
static struct alloc_record *mapping_gone(struct vt_accounting *accounting, const struct alloc_record *mapping)
{
    struct alloc_record *physical = physical_record(accounting, mapping->backing_handle);
    if (!physical || physical->physical.mappings == 0)
        return NULL;
    return --physical->physical.mappings == 0 && physical->physical.released ? physical : NULL;
}

/* vt_accounting_remove, and the mapping bookkeeping when it removed a mapping. */
static bool remove_in_space(struct vt_accounting *accounting, enum vt_key_space space, uint64_t key,
                            struct alloc_record *removed, enum vt_event_source source)
{
    if (!vt_accounting_remove(accounting, space, key, removed, source))
        return false;
    if (space == VT_SPACE_MAPPINGS && vt_accounting_has_tables(accounting, source))
        mapping_gone(accounting, removed); /* the replay: a freed handle has a FREE of its own */
    return true;
}

bool vt_accounting_replace_stale(struct vt_accounting *accounting, struct alloc_table *table,
                                 const struct alloc_record *record)
{
    struct alloc_record stale;
    if (alloc_table_remove(table, record->address, &stale)) { /* its free went by a path nobody saw */
        vt_accounting_subtract(accounting, &stale, VT_FROM_TRACE);
        if (table == &accounting->live[VT_SPACE_MAPPINGS])
            mapping_gone(accounting, &stale); /* its handle, if released, stays: nobody saw it go */
    }
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

/* Whether a reset frees `record` (memory_accounting.h, vt_accounting_reset). */
static bool freed_by_reset(const struct alloc_record *record, int device, unsigned context)
{
    if (context)
        return record->context == context;
    return record->context == 0 && record->device == device &&
           (record->kind == VT_KIND_DEVICE || record->kind == VT_KIND_MANAGED);
}

void vt_accounting_reset(struct vt_accounting *accounting, unsigned api, int device, unsigned context,
                         void (*removed)(const struct alloc_record *record, void *context), void *removed_context)
{
    vt_accounting_count_call(accounting, api, VT_FROM_TRACE);
    struct alloc_table *table = &accounting->live[VT_SPACE_POINTERS];
    struct alloc_record *next;
    for (struct alloc_record *live = table->oldest; live; live = next) {
        next = live->newer; /* taken before the removal recycles `live` */
        if (!freed_by_reset(live, device, context))
            continue;
        struct alloc_record freed;
        if (!vt_accounting_remove(accounting, VT_SPACE_POINTERS, live->address, &freed, VT_FROM_TRACE))
            continue;
        if (removed)
            removed(&freed, removed_context);
    }
}

void vt_accounting_map(struct vt_accounting *accounting, const struct alloc_record *record, uint64_t event,
                       enum vt_event_source source)
{
    if (!vt_accounting_allocation(accounting, record, event, source) || !vt_accounting_has_tables(accounting, source))
        return;
    struct alloc_record *physical = physical_record(accounting, record->backing_handle);
    if (physical)
        physical->physical.mappings++;
}

bool vt_accounting_release(struct vt_accounting *accounting, uint64_t handle, struct alloc_record *released,
                           unsigned *flags)
{
    struct alloc_record *physical = physical_record(accounting, handle);
    if (physical && physical->physical.mappings) {
        vt_accounting_count_call(accounting, VT_API_cuMemRelease, VT_FROM_TRACE);
        physical->physical.released = 1;
        *released = *physical;
        *flags = VT_FREE_STILL_MAPPED;
        return true;
    }
    *flags = 0;
    return vt_accounting_free(accounting, VT_API_cuMemRelease, handle, released, VT_FROM_TRACE);
}

/* Under vt_accounting_unmap: removes the mapping at `key` and, when that was the last mapping of a
 * released handle, the handle's memory; shows each. */
static void unmap_one(struct vt_accounting *accounting, uint64_t key, unsigned *flags,
                      vt_accounting_removed_fn *removed, void *context)
{
    struct alloc_record mapping, memory;
    if (!vt_accounting_remove(accounting, VT_SPACE_MAPPINGS, key, &mapping, VT_FROM_TRACE))
        return;
    removed(&mapping, *flags, context);
    *flags = VT_FREE_FOLLOWS;
    struct alloc_record *physical = mapping_gone(accounting, &mapping);
    if (physical && vt_accounting_remove(accounting, VT_SPACE_PHYSICAL_HANDLES, physical->address, &memory,
                                         VT_FROM_TRACE))
        removed(&memory, VT_FREE_FOLLOWS, context);
}

bool vt_accounting_unmap(struct vt_accounting *accounting, unsigned api, uint64_t address, uint64_t size,
                         vt_accounting_removed_fn *removed, void *context)
{
    vt_accounting_count_call(accounting, api, VT_FROM_TRACE);
    unsigned flags = 0;
    if (api == VT_API_cuMemAddressFree) {
        struct alloc_record reservation;
        if (alloc_table_remove(&accounting->live[VT_SPACE_RESERVATIONS], address, &reservation)) {
            vt_accounting_subtract(accounting, &reservation, VT_FROM_TRACE);
            removed(&reservation, flags, context);
            flags = VT_FREE_FOLLOWS;
            size = reservation.size_bytes;
        }
    }
    struct alloc_table *mappings = &accounting->live[VT_SPACE_MAPPINGS];
    const struct alloc_record *first = alloc_table_find(mappings, address);
    if (first && first->size_bytes >= size) { /* one mapping, the usual case: no scan */
        unmap_one(accounting, address, &flags, removed, context);
    } else {
        struct alloc_record *next;
        for (struct alloc_record *live = mappings->oldest; live; live = next) {
            next = live->newer; /* taken before the removal recycles `live` */
            if (live->address >= address && live->address - address < size)
                unmap_one(accounting, live->address, &flags, removed, context);
        }
    }
    if (flags == 0)
        accounting->stats.unknown_frees++;
    return flags != 0;
}

bool vt_accounting_apply_free(struct vt_accounting *accounting, unsigned api, unsigned flags, uint64_t key,
                              struct alloc_record *removed)
{
    if (flags & VT_FREE_STILL_MAPPED) {
        vt_accounting_count_call(accounting, api, VT_FROM_TRACE);
        struct alloc_record *physical = accounting->track_live ? physical_record(accounting, key) : NULL;
        if (physical)
            physical->physical.released = 1;
        return false;
    }
    if (!(flags & VT_FREE_FOLLOWS) && !vt_api_is_reset(api))
        vt_accounting_count_call(accounting, api, VT_FROM_TRACE);
    return remove_in_space(accounting, vt_key_space_of_freed(api, removed->kind), key, removed, VT_FROM_TRACE);
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
