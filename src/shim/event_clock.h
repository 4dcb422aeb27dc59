/* shim/event_clock.h — the time of each recorded event: CLOCK_MONOTONIC nanoseconds, read for
 * the price of a TSC read where the TSC can be trusted, and never earlier than the previous time
 * it gave.
 *
 * Between two anchors (a clock_gettime and a TSC read taken together, at most 10 ms of TSC ticks
 * apart) the time is the anchor's plus the ticks since, converted with the ratio measured from
 * the first anchor to the latest (so it gets more exact as the process runs). The TSC is used
 * only when the CPU says it is invariant (constant rate, running in every power state); without
 * that, and until 10 ms of calibration have passed, every read is a clock_gettime.
 *
 * Not thread-safe: one caller at a time (the recorder calls it under its lock, where the trace's
 * order is decided, so times are in the trace's order too). Zeroed memory is a valid clock that
 * starts with its first read.
 */
#ifndef VT_SHIM_EVENT_CLOCK_H
#define VT_SHIM_EVENT_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct event_clock {
    uint64_t ns_per_tick_q32;           /* 0 until calibrated (or when the TSC is not used) */
    uint64_t anchor_tick, anchor_ns;    /* the latest clock_gettime and its TSC */
    uint64_t anchor_window_ticks;       /* ticks after the anchor before the next one */
    uint64_t first_tick, first_ns;      /* the first anchor, base of the ratio */
    uint64_t last_ns;                   /* the latest time given */
    uint64_t narrowest_pair_ticks;      /* the shortest clock_gettime seen, in ticks (0: none yet) */
    uint64_t slow_reads;                /* reads that took the slow path (a clock_gettime) */
    bool checked, tsc_invariant;
};

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t event_clock_monotonic_ns(void);

/* The slow path of event_clock_now_ns: an anchor (and calibration) from clock_gettime. */
uint64_t event_clock_anchor(struct event_clock *clock);

static inline uint64_t event_clock_now_ns(struct event_clock *clock)
{
    uint64_t now;
#if defined(__x86_64__)
    uint64_t ticks = 0;
    if (clock->ns_per_tick_q32 && (ticks = __builtin_ia32_rdtsc() - clock->anchor_tick) < clock->anchor_window_ticks)
        now = clock->anchor_ns + (uint64_t)(((unsigned __int128)ticks * clock->ns_per_tick_q32) >> 32);
    else
        now = event_clock_anchor(clock);
#else
    now = event_clock_anchor(clock);
#endif
    if (now < clock->last_ns)
        now = clock->last_ns;
    clock->last_ns = now;
    return now;
}

#endif
