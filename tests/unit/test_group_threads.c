/* Unit tests of common/group_threads.c: the tally of a group's threads (largest share first, a
 * thread's allocations summed wherever they come, a few threads or a thousand) and the line every
 * report prints of it. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/group_threads.h"

/* Names of made-up threads: 4711 "loader-a", 4712 "loader-b", others none. */
static const char *name_of(uint32_t tid, const void *context)
{
    (void)context;
    return tid == 4711 ? "loader-a" : tid == 4712 ? "loader-b" : NULL;
}

static void assert_line(const struct vt_thread_tally *tally, const char *expected)
{
    char line[160];
    cr_assert_str_eq(vt_format_threads(tally, name_of, NULL, line, sizeof line), expected);
}

Test(group_threads, one_thread_is_named_and_one_without_a_name_is_its_id)
{
    struct vt_thread_tally tally = {0};
    assert_line(&tally, "");
    cr_assert_not(vt_thread_tally_known(&tally));
    vt_thread_tally_add(&tally, 4711, 100);
    vt_thread_tally_add(&tally, 4711, 50);
    vt_thread_tally_sort(&tally);
    cr_assert_eq(tally.count, 1);
    cr_assert_eq(tally.shares[0].bytes, 150);
    cr_assert_eq(tally.shares[0].count, 2);
    assert_line(&tally, "thread 4711 \"loader-a\"");
    vt_thread_tally_free(&tally);
    vt_thread_tally_add(&tally, 99, 1);
    assert_line(&tally, "thread 99");
    vt_thread_tally_free(&tally);
}

Test(group_threads, several_threads_largest_first_the_two_largest_named)
{
    struct vt_thread_tally tally = {0};
    vt_thread_tally_add(&tally, 4712, 10);
    vt_thread_tally_add(&tally, 4711, 30);
    vt_thread_tally_add(&tally, 4712, 10); /* 4712: 20 in 2, wherever its allocations come */
    vt_thread_tally_sort(&tally);
    assert_line(&tally, "threads 4711 \"loader-a\" and 4712 \"loader-b\"");
    vt_thread_tally_add(&tally, 7, 20); /* as large as 4712, in fewer allocations: after it */
    vt_thread_tally_add(&tally, 8, 5);
    vt_thread_tally_add(&tally, 9, 1);
    vt_thread_tally_sort(&tally);
    uint32_t order[] = {4711, 4712, 7, 8, 9};
    for (unsigned i = 0; i < 5; i++)
        cr_assert_eq(tally.shares[i].tid, order[i], "share %u", i);
    assert_line(&tally, "threads 4711 \"loader-a\", 4712 \"loader-b\" and 3 others");
    vt_thread_tally_free(&tally);
    vt_thread_tally_add(&tally, 4711, 2);
    vt_thread_tally_add(&tally, 8, 1);
    vt_thread_tally_add(&tally, 9, 1);
    vt_thread_tally_sort(&tally);
    assert_line(&tally, "threads 4711 \"loader-a\", 8 and 1 other");
    vt_thread_tally_free(&tally);
}

Test(group_threads, an_unknown_thread_alone_says_nothing_beside_others_is_unknown)
{
    struct vt_thread_tally tally = {0};
    vt_thread_tally_add(&tally, 0, 64);
    vt_thread_tally_sort(&tally);
    cr_assert_not(vt_thread_tally_known(&tally));
    assert_line(&tally, "");
    vt_thread_tally_add(&tally, 4711, 32);
    vt_thread_tally_sort(&tally);
    cr_assert(vt_thread_tally_known(&tally));
    assert_line(&tally, "threads (unknown) and 4711 \"loader-a\"");
    vt_thread_tally_free(&tally);
}

/* Past a few threads the tally finds them through an index: a thread pool's allocations, interleaved. */
Test(group_threads, many_interleaved_threads_are_each_counted_once)
{
    struct vt_thread_tally tally = {0};
    for (unsigned round = 0; round < 3; round++)
        for (uint32_t tid = 1000; tid < 2000; tid++)
            vt_thread_tally_add(&tally, tid, tid);
    vt_thread_tally_add(&tally, 5000, 1); /* after the sort below too */
    vt_thread_tally_sort(&tally);
    vt_thread_tally_add(&tally, 1999, 3);
    cr_assert_eq(tally.count, 1001);
    cr_assert_eq(tally.shares[0].tid, 1999);
    cr_assert_eq(tally.shares[0].bytes, 3 * 1999 + 3);
    cr_assert_eq(tally.shares[0].count, 4);
    cr_assert_eq(tally.shares[1].tid, 1998);
    cr_assert_eq(tally.shares[1].count, 3);
    cr_assert_eq(tally.shares[1000].tid, 5000);
    vt_thread_tally_free(&tally);
}

Test(group_threads, a_short_buffer_is_cut_not_overrun)
{
    struct vt_thread_tally tally = {0};
    vt_thread_tally_add(&tally, 4711, 2);
    vt_thread_tally_add(&tally, 4712, 1);
    vt_thread_tally_add(&tally, 3, 1);
    vt_thread_tally_sort(&tally);
    char line[12];
    memset(line, 'x', sizeof line);
    vt_format_threads(&tally, name_of, NULL, line, sizeof line);
    cr_assert_str_eq(line, "threads 471");
    vt_thread_tally_free(&tally);
}
