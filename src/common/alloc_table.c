/* common/alloc_table.c — live allocations keyed by address (see alloc_table.h). */
#include <stdint.h>

/* Keys are 64-bit addresses: one multiplication spreads them (every HASH_* use of the table is in
 * this file, so defining it before uthash.h is included covers them all). */
#define HASH_FUNCTION(keyptr, keylen, hashv) \
    ((hashv) = (unsigned)((*(const uint64_t *)(keyptr) * 0x9e3779b97f4a7c15u) >> 32))
#include "common/alloc_table.h"

#include <string.h>

static struct alloc_record *take_free_record(struct alloc_table *table)
{
    struct alloc_record *record = table->free_records;
    if (record) {
        table->free_records = record->next_free;
        return record;
    }
    return arena_alloc(&table->record_arena, sizeof *record);
}

bool alloc_table_insert(struct alloc_table *table, const struct alloc_record *record)
{
    if (alloc_table_find(table, record->address))
        return false;
    struct alloc_record *stored = take_free_record(table);
    if (!stored)
        return false;
    *stored = *record;
    memset(&stored->hh, 0, sizeof stored->hh);
    stored->next_free = NULL;
    HASH_ADD(hh, table->by_address, address, sizeof stored->address, stored);
    if (!stored->hh.tbl) { /* uthash could not grow the table (HASH_NONFATAL_OOM): not added */
        stored->next_free = table->free_records;
        table->free_records = stored;
        return false;
    }
    table->live_count++;
    return true;
}

const struct alloc_record *alloc_table_find(const struct alloc_table *table, uint64_t address)
{
    struct alloc_record *found;
    HASH_FIND(hh, table->by_address, &address, sizeof address, found);
    return found;
}

bool alloc_table_remove(struct alloc_table *table, uint64_t address, struct alloc_record *removed)
{
    struct alloc_record *found;
    HASH_FIND(hh, table->by_address, &address, sizeof address, found);
    if (!found)
        return false;
    HASH_DEL(table->by_address, found);
    if (removed)
        *removed = *found;
    found->next_free = table->free_records;
    table->free_records = found;
    table->live_count--;
    return true;
}

void alloc_table_for_each(const struct alloc_table *table,
                          void (*visit)(const struct alloc_record *record, void *context), void *context)
{
    for (const struct alloc_record *record = table->by_address; record; record = record->hh.next)
        visit(record, context);
}

void alloc_table_clear(struct alloc_table *table)
{
    HASH_CLEAR(hh, table->by_address);
    table->free_records = NULL;
    table->live_count = 0;
    arena_release(&table->record_arena);
}
