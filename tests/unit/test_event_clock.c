/* Unit tests of shim/event_clock.c: event times are CLOCK_MONOTONIC nanoseconds, never go back,
 * and come from the TSC (no clock_gettime per read) once calibrated on a CPU whose TSC is
 * invariant. */
#include <criterion/criterion.h>

#include "shim/event_clock.h"

enum { TOLERANCE_NS = 200 * 1000 }; /* interpolation error, and a preemption between reads */

/* An event time read between two clock_gettime readings lies between them (give or take). */
static void assert_between_monotonic_reads(struct event_clock *clock)
{
    uint64_t before = event_clock_monotonic_ns();
    uint64_t now = event_clock_now_ns(clock);
    uint64_t after = event_clock_monotonic_ns();
    cr_assert_geq(now + TOLERANCE_NS, before, "event time %lu ns before the clock", (unsigned long)(before - now));
    cr_assert_leq(now, after + TOLERANCE_NS, "event time %lu ns after the clock", (unsigned long)(now - after));
}

Test(event_clock, follows_clock_monotonic_and_never_goes_back)
{
    struct event_clock clock = {0};
    uint64_t previous = 0, start = event_clock_monotonic_ns();
    unsigned long reads = 0;
    while (event_clock_monotonic_ns() - start < 100 * 1000 * 1000) { /* 100 ms: calibration and anchors */
        uint64_t now = event_clock_now_ns(&clock);
        cr_assert_geq(now, previous, "time went back after %lu reads", reads);
        previous = now;
        if (++reads % 1000 == 0)
            assert_between_monotonic_reads(&clock);
    }
    assert_between_monotonic_reads(&clock);
}

Test(event_clock, reads_the_tsc_once_calibrated_where_it_is_invariant)
{
    struct event_clock clock = {0};
    uint64_t start = event_clock_monotonic_ns();
    while (event_clock_monotonic_ns() - start < 30 * 1000 * 1000)
        event_clock_now_ns(&clock);
    if (!clock.tsc_invariant)
        cr_skip_test("this CPU does not say its TSC is invariant: every read is a clock_gettime");
    cr_assert_neq(clock.ns_per_tick_q32, 0, "not calibrated after 30 ms");
    cr_assert_gt(clock.anchor_window_ticks, 0);
    /* Within an anchor's window a read is the anchor plus converted ticks, no clock_gettime: of a
     * thousand reads made in well under the 10 ms window, at most a few take the slow path (the
     * window ending meanwhile, a preempted clock_gettime not taken as an anchor). */
    uint64_t slow_before = clock.slow_reads, loop_start = event_clock_monotonic_ns();
    for (int i = 0; i < 1000; i++)
        event_clock_now_ns(&clock);
    if (event_clock_monotonic_ns() - loop_start < 2 * 1000 * 1000)
        cr_assert_leq(clock.slow_reads - slow_before, 10, "%lu of 1000 reads called clock_gettime",
                      (unsigned long)(clock.slow_reads - slow_before));
    assert_between_monotonic_reads(&clock);
}

Test(event_clock, a_time_is_never_earlier_than_the_last_one_given)
{
    struct event_clock clock = {0};
    uint64_t ahead = event_clock_monotonic_ns() + 5 * 1000 * 1000; /* as if another CPU's TSC ran ahead */
    clock.last_ns = ahead;
    cr_assert_eq(event_clock_now_ns(&clock), ahead);
    cr_assert_eq(event_clock_now_ns(&clock), ahead);
}
