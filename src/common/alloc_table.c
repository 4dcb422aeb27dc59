/* common/alloc_table.c — live allocations keyed by address (see alloc_table.h). */
#include "common/alloc_table.h"

#include <string.h>
#include <sys/mman.h>

enum { FIRST_SLOT_BITS = 8 }; /* 256 slots, one 4 KiB page */

/* Keys are 64-bit addresses (often aligned to 512 bytes or more): one multiplication spreads
 * them, and the top bits index the table. */
static inline size_t home_slot(const struct alloc_table *table, uint64_t address)
{
    return (size_t)((address * 0x9e3779b97f4a7c15u) >> table->slot_shift);
}

static size_t slots_bytes(const struct alloc_table *table)
{
    return (table->slot_mask + 1) * sizeof(struct alloc_slot);
}

/* The slot holding `address`, or the empty slot where it would go. */
static struct alloc_slot *probe(const struct alloc_table *table, uint64_t address)
{
    size_t i = home_slot(table, address);
    while (table->slots[i].record && table->slots[i].address != address)
        i = (i + 1) & table->slot_mask;
    return &table->slots[i];
}

/* A new index twice the size (or the first one), the records rehashed into it. Out of line, so
 * that inserting into a table with room stays short. False when out of memory. */
static __attribute__((noinline)) bool grow(struct alloc_table *table)
{
    unsigned bits = table->slots ? 64 - table->slot_shift + 1 : FIRST_SLOT_BITS;
    struct alloc_table resized = {.slot_mask = ((size_t)1 << bits) - 1, .slot_shift = 64 - bits};
    void *grown = mmap(NULL, slots_bytes(&resized), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (grown == MAP_FAILED)
        return false;
    resized.slots = grown;
    for (const struct alloc_record *record = table->oldest; record; record = record->newer)
        *probe(&resized, record->address) = (struct alloc_slot){record->address, (struct alloc_record *)record};
    if (table->slots)
        munmap(table->slots, slots_bytes(table));
    table->slots = resized.slots;
    table->slot_mask = resized.slot_mask;
    table->slot_shift = resized.slot_shift;
    return true;
}

/* Room for one more record, keeping the table at most half full. False when out of memory. */
static inline bool make_room(struct alloc_table *table)
{
    return (table->slots && (table->live_count + 1) * 2 <= table->slot_mask + 1) || grow(table);
}

static __attribute__((noinline)) struct alloc_record *new_record(struct alloc_table *table)
{
    return arena_alloc(&table->record_arena, sizeof(struct alloc_record));
}

static inline struct alloc_record *take_free_record(struct alloc_table *table)
{
    struct alloc_record *record = table->free_records;
    if (!record)
        return new_record(table);
    table->free_records = record->newer;
    return record;
}

bool alloc_table_insert(struct alloc_table *table, const struct alloc_record *record)
{
    if (!make_room(table))
        return false;
    struct alloc_slot *slot = probe(table, record->address);
    if (slot->record)
        return false; /* already live */
    struct alloc_record *stored = take_free_record(table);
    if (!stored)
        return false;
    *stored = *record;
    stored->older = table->newest;
    stored->newer = NULL;
    if (table->newest)
        table->newest->newer = stored;
    else
        table->oldest = stored;
    table->newest = stored;
    *slot = (struct alloc_slot){record->address, stored};
    table->live_count++;
    return true;
}

const struct alloc_record *alloc_table_find(const struct alloc_table *table, uint64_t address)
{
    if (!table->slots)
        return NULL;
    return probe(table, address)->record;
}

/* Empties slot `hole`, moving later records of its probe run back so that every record stays
 * reachable from its home slot without tombstones. */
static __attribute__((noinline)) void shift_back(struct alloc_table *table, size_t hole)
{
    size_t mask = table->slot_mask;
    for (size_t next = (hole + 1) & mask; table->slots[next].record; next = (next + 1) & mask) {
        size_t home = home_slot(table, table->slots[next].address);
        /* The record at `next` may move to `hole` unless its home lies cyclically in (hole, next]. */
        bool home_after_hole = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
        if (!home_after_hole) {
            table->slots[hole] = table->slots[next];
            hole = next;
        }
    }
    table->slots[hole].record = NULL;
}

/* (Mostly the next slot is empty: nothing to move, nothing out of line.) */
static inline void delete_slot(struct alloc_table *table, size_t hole)
{
    if (table->slots[(hole + 1) & table->slot_mask].record)
        shift_back(table, hole);
    else
        table->slots[hole].record = NULL;
}

bool alloc_table_remove(struct alloc_table *table, uint64_t address, struct alloc_record *removed)
{
    if (!table->slots)
        return false;
    struct alloc_slot *slot = probe(table, address);
    struct alloc_record *found = slot->record;
    if (!found)
        return false;
    delete_slot(table, (size_t)(slot - table->slots));
    if (found->older)
        found->older->newer = found->newer;
    else
        table->oldest = found->newer;
    if (found->newer)
        found->newer->older = found->older;
    else
        table->newest = found->older;
    if (removed)
        *removed = *found;
    found->newer = table->free_records;
    table->free_records = found;
    table->live_count--;
    return true;
}

void alloc_table_for_each(const struct alloc_table *table,
                          void (*visit)(const struct alloc_record *record, void *context), void *context)
{
    for (const struct alloc_record *record = table->oldest; record; record = record->newer)
        visit(record, context);
}

void alloc_table_clear(struct alloc_table *table)
{
    if (table->slots)
        munmap(table->slots, slots_bytes(table));
    arena_release(&table->record_arena);
    memset(table, 0, sizeof *table);
}
