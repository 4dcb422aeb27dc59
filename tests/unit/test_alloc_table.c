/* Unit tests of common/alloc_table.c: the live-allocation table keyed by address. */
#include <criterion/criterion.h>

#include "common/alloc_table.h"

static struct alloc_record record_at(uint64_t address, uint64_t size)
{
    return (struct alloc_record){.address = address, .size_bytes = size, .stack_id = 7, .device = 1};
}

Test(alloc_table, insert_find_remove)
{
    struct alloc_table table = {0};
    struct alloc_record a = record_at(0x1000, 64), b = record_at(0x2000, 128);
    cr_assert(alloc_table_insert(&table, &a));
    cr_assert(alloc_table_insert(&table, &b));
    cr_assert_eq(table.live_count, 2);
    const struct alloc_record *found = alloc_table_find(&table, 0x2000);
    cr_assert_not_null(found);
    cr_assert_eq(found->size_bytes, 128);
    cr_assert_eq(found->stack_id, 7);

    struct alloc_record removed;
    cr_assert(alloc_table_remove(&table, 0x1000, &removed));
    cr_assert_eq(removed.size_bytes, 64);
    cr_assert_null(alloc_table_find(&table, 0x1000));
    cr_assert_eq(table.live_count, 1);
    alloc_table_clear(&table);
}

Test(alloc_table, rejects_duplicate_and_unknown)
{
    struct alloc_table table = {0};
    struct alloc_record a = record_at(0x1000, 64), again = record_at(0x1000, 999);
    cr_assert(alloc_table_insert(&table, &a));
    cr_assert_not(alloc_table_insert(&table, &again), "a live address must not be inserted twice");
    cr_assert_eq(alloc_table_find(&table, 0x1000)->size_bytes, 64);
    cr_assert_not(alloc_table_remove(&table, 0x5000, NULL));
    cr_assert_eq(table.live_count, 1);
    alloc_table_clear(&table);
}

static void sum_sizes(const struct alloc_record *record, void *context)
{
    *(uint64_t *)context += record->size_bytes;
}

Test(alloc_table, many_records_reuse_freed_slots)
{
    struct alloc_table table = {0};
    enum { COUNT = 100000 };
    for (uint64_t i = 1; i <= COUNT; i++) {
        struct alloc_record record = record_at(i * 256, i);
        cr_assert(alloc_table_insert(&table, &record));
    }
    uint64_t total = 0;
    alloc_table_for_each(&table, sum_sizes, &total);
    cr_assert_eq(total, (uint64_t)COUNT * (COUNT + 1) / 2);
    size_t arena_bytes = table.record_arena.bytes_reserved;

    for (uint64_t i = 1; i <= COUNT; i += 2)
        cr_assert(alloc_table_remove(&table, i * 256, NULL));
    cr_assert_eq(table.live_count, COUNT / 2);
    for (uint64_t i = 1; i <= COUNT; i += 2) {
        struct alloc_record record = record_at(i * 256 + 1, 1);
        cr_assert(alloc_table_insert(&table, &record));
    }
    cr_assert_eq(table.record_arena.bytes_reserved, arena_bytes, "freed records must be reused");
    cr_assert_eq(table.live_count, COUNT);
    alloc_table_clear(&table);
    cr_assert_eq(table.live_count, 0);
    cr_assert_null(alloc_table_find(&table, 512));
}

static void collect_addresses(const struct alloc_record *record, void *context)
{
    uint64_t **next = context;
    *(*next)++ = record->address;
}

Test(alloc_table, iterates_in_insertion_order)
{
    struct alloc_table table = {0};
    for (uint64_t address = 1; address <= 6; address++) {
        struct alloc_record record = record_at(address << 20, address);
        cr_assert(alloc_table_insert(&table, &record));
    }
    cr_assert(alloc_table_remove(&table, 1 << 20, NULL)); /* the oldest */
    cr_assert(alloc_table_remove(&table, 4 << 20, NULL)); /* one in the middle */
    cr_assert(alloc_table_remove(&table, 6 << 20, NULL)); /* the newest */
    struct alloc_record again = record_at(1 << 20, 1);
    cr_assert(alloc_table_insert(&table, &again));
    uint64_t seen[8], *next = seen;
    alloc_table_for_each(&table, collect_addresses, &next);
    uint64_t expected[] = {2 << 20, 3 << 20, 5 << 20, 1 << 20};
    cr_assert_eq(next - seen, 4);
    cr_assert_arr_eq(seen, expected, sizeof expected);
    alloc_table_clear(&table);
}

/* One allocation made and freed in a loop (the common case of a caching allocator's retries and of
 * the benchmark): the table's memory stays, nothing is allocated or given back per event. */
Test(alloc_table, keeps_its_index_when_it_empties)
{
    struct alloc_table table = {0};
    struct alloc_record record = record_at(0x7f0000000000, 512);
    cr_assert(alloc_table_insert(&table, &record));
    const struct alloc_slot *index = table.slots;
    cr_assert_not_null(index);
    for (int i = 0; i < 1000; i++) {
        cr_assert(alloc_table_remove(&table, record.address, NULL));
        cr_assert_eq(table.live_count, 0);
        cr_assert_null(alloc_table_find(&table, record.address));
        cr_assert_eq(table.slots, index, "emptying the table must not give back its index");
        record.address += 512;
        cr_assert(alloc_table_insert(&table, &record));
    }
    cr_assert_eq(table.slots, index);
    alloc_table_clear(&table);
    cr_assert_null(table.slots);
}

/* Random inserts and removes over a small key space, checked against a plain array: probing,
 * growth and deletion by backward shift keep every live key findable and no dead one. */
Test(alloc_table, random_operations_match_a_reference)
{
    enum { KEYS = 4096, OPERATIONS = 400000 };
    static uint64_t size_of_key[KEYS]; /* 0: not live */
    struct alloc_table table = {0};
    uint64_t state = 0x2545f4914f6cdd1d;
    size_t live = 0;
    for (int op = 0; op < OPERATIONS; op++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        unsigned key = (unsigned)(state % KEYS);
        /* Keys with the same low bits and nearby ones: many share a home slot's neighbourhood. */
        uint64_t address = ((uint64_t)key << 21) | 0x7e0000000000u;
        if (size_of_key[key]) {
            struct alloc_record removed;
            cr_assert(alloc_table_remove(&table, address, &removed));
            cr_assert_eq(removed.size_bytes, size_of_key[key]);
            size_of_key[key] = 0;
            live--;
        } else {
            struct alloc_record record = record_at(address, (uint64_t)op + 1);
            cr_assert(alloc_table_insert(&table, &record));
            size_of_key[key] = (uint64_t)op + 1;
            live++;
        }
        if (op % 9973 == 0) {
            for (unsigned k = 0; k < KEYS; k++) {
                const struct alloc_record *found = alloc_table_find(&table, ((uint64_t)k << 21) | 0x7e0000000000u);
                if (size_of_key[k])
                    cr_assert(found && found->size_bytes == size_of_key[k], "key %u lost", k);
                else
                    cr_assert_null(found, "key %u found after its removal", k);
            }
        }
    }
    cr_assert_eq(table.live_count, live);
    uint64_t total = 0, expected = 0;
    alloc_table_for_each(&table, sum_sizes, &total);
    for (unsigned k = 0; k < KEYS; k++)
        expected += size_of_key[k];
    cr_assert_eq(total, expected);
    alloc_table_clear(&table);
}
