/* Unit tests of shim/stack_table.c: stack deduplication and capture. */
#include <criterion/criterion.h>

#include "shim/stack_table.h"

Test(stack_table, identical_stacks_share_one_id)
{
    uintptr_t first[] = {0x401000, 0x402000, 0x403000};
    uintptr_t same[] = {0x401000, 0x402000, 0x403000};
    uint32_t id = stack_intern(first, 3);
    cr_assert_neq(id, STACK_ID_NONE);
    cr_assert_eq(stack_intern(same, 3), id);
    cr_assert_eq(stack_count(), 1);

    unsigned depth = 0;
    const uintptr_t *frames = stack_frames(id, &depth);
    cr_assert_eq(depth, 3);
    cr_assert_arr_eq(frames, first, sizeof first);
}

Test(stack_table, different_stacks_get_different_ids)
{
    uintptr_t base[] = {0x401000, 0x402000, 0x403000};
    uintptr_t other_caller[] = {0x401000, 0x402000, 0x403004};
    uint32_t a = stack_intern(base, 3);
    uint32_t prefix = stack_intern(base, 2); /* same frames, shallower: a different stack */
    uint32_t b = stack_intern(other_caller, 3);
    cr_assert(a != prefix && a != b && prefix != b);
    cr_assert_eq(stack_count(), 3);
    cr_assert_eq(stack_intern(NULL, 0), STACK_ID_NONE);
    unsigned depth;
    cr_assert_null(stack_frames(STACK_ID_NONE, &depth));
    cr_assert_null(stack_frames(99, &depth));
}

Test(stack_table, ten_thousand_distinct_stacks)
{
    for (uintptr_t i = 0; i < 10000; i++) {
        uintptr_t frames[4] = {0x1000, 0x2000 + i, 0x3000, 0x4000};
        cr_assert_eq(stack_intern(frames, 4), i + 1);
    }
    for (uintptr_t i = 0; i < 10000; i += 997) {
        uintptr_t frames[4] = {0x1000, 0x2000 + i, 0x3000, 0x4000};
        cr_assert_eq(stack_intern(frames, 4), i + 1, "lookup after growth");
    }
    cr_assert_eq(stack_count(), 10000);
    stack_table_reset();
    cr_assert_eq(stack_count(), 0);
}

static __attribute__((noinline)) void capture_here(struct captured_stack *stack, unsigned depth)
{
    stack_capture(stack, depth);
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

Test(stack_table, capture_respects_depth_and_is_repeatable)
{
    struct captured_stack first, second;
    capture_here(&first, 4);
    capture_here(&second, 4);
    cr_assert_eq(first.depth, 4);
    cr_assert_eq(stack_intern(first.frames, first.depth), stack_intern(second.frames, second.depth),
                 "the same call site must give the same stack");
    capture_here(&first, 0);
    cr_assert_eq(first.depth, 0);
}
