/* Unit tests of shim/alloc_table.c: the live-allocation table keyed by address. */
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
