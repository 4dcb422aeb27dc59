/* common/alloc_table.h — the live allocations, keyed by address.
 *
 * Device, managed and pinned host pointers share one table: with unified virtual addressing they
 * come from one address space, and cudaFree() frees device and managed memory alike. Records come
 * from a free list refilled in large chunks, so inserting does not call malloc per allocation.
 * The index is an open-addressing hash table (linear probing, deletion by backward shift, no
 * tombstones) in mmap()ed memory that grows and is never given back while the table is in use:
 * a table that goes from empty to one record and back at every allocation (one buffer allocated
 * and freed in a loop) allocates nothing. Iteration follows insertion order.
 * Not thread-safe: the shim's recorder serialises access; the CLI replays traces into it.
 */
#ifndef VT_SHIM_ALLOC_TABLE_H
#define VT_SHIM_ALLOC_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

struct alloc_record {
    struct alloc_record *older, *newer; /* live: insertion order; free: `newer` links the free list */
    uint64_t address;
    uint64_t size_bytes;
    uint64_t timestamp_ns;
    uint32_t stack_id;
    uint32_t thread_id;
    int16_t device;
    uint8_t kind; /* enum vt_memory_kind */
    uint16_t api; /* enum vt_api */
    /* the context created with cuCtxCreate that owns it (the recorder's number for it, in what was
     * padding), 0 for none: the primary context's, or not owned by a context */
    uint16_t context;
    union {
        uint64_t backing_handle; /* mapped ranges: the cuMemCreate handle behind them */
        struct {
            uint32_t mappings; /* live mappings of it */
            uint32_t released; /* cuMemRelease seen: it goes with its last mapping */
        } physical;              /* cuMemCreate handles (common/memory_accounting.h) */
    };
};

struct alloc_slot {
    uint64_t address;
    struct alloc_record *record; /* NULL: empty slot */
};

struct alloc_table {
    struct alloc_slot *slots; /* NULL until the first insert; slot_mask + 1 (a power of two) slots */
    size_t slot_mask;
    unsigned slot_shift;      /* 64 - log2(slot count): a key's hash >> slot_shift is its home slot */
    struct alloc_record *oldest, *newest;
    struct alloc_record *free_records;
    struct arena record_arena;
    size_t live_count;
};

/* Stores a copy of *record (keyed by record->address). Returns false when out of memory or when
 * the address is already live (the caller removes the stale record first). Running out of memory
 * never ends the process. */
bool alloc_table_insert(struct alloc_table *table, const struct alloc_record *record);

/* Copies the record at `address` to *removed (when non-NULL) and forgets it. False if unknown. */
bool alloc_table_remove(struct alloc_table *table, uint64_t address, struct alloc_record *removed);

const struct alloc_record *alloc_table_find(const struct alloc_table *table, uint64_t address);

/* Calls visit for every live record, oldest first. */
void alloc_table_for_each(const struct alloc_table *table,
                          void (*visit)(const struct alloc_record *record, void *context), void *context);

/* Forgets every record and gives back all the table's memory. */
void alloc_table_clear(struct alloc_table *table);

#endif
