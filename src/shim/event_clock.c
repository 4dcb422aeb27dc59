/* shim/event_clock.c — anchoring and calibrating the event clock (see event_clock.h). */
#include "shim/event_clock.h"

#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

enum {
    CALIBRATION_NS = 10 * 1000 * 1000,  /* the first ratio is measured over at least this */
    ANCHOR_WINDOW_NS = 10 * 1000 * 1000, /* a new anchor at least this often (of event time) */
};

uint64_t event_clock_monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

#if defined(__x86_64__)
/* CPUID.80000007H:EDX[8]: the TSC runs at a constant rate in every P-, C- and T-state. */
static bool tsc_is_invariant(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) || eax < 0x80000007u)
        return false;
    __get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx);
    return (edx >> 8) & 1;
}
#endif

uint64_t event_clock_anchor(struct event_clock *clock)
{
    clock->slow_reads++;
#if defined(__x86_64__)
    if (!clock->checked) {
        clock->tsc_invariant = tsc_is_invariant();
        clock->checked = true;
    }
    if (!clock->tsc_invariant)
        return event_clock_monotonic_ns();
    /* A TSC read on each side of the clock read. The pair is kept only when they are about as close
     * as the closest seen (not when the thread was preempted in between): its tick is the middle. */
    uint64_t before = __builtin_ia32_rdtsc();
    uint64_t now = event_clock_monotonic_ns();
    uint64_t after = __builtin_ia32_rdtsc();
    if (after < before)
        return now;
    uint64_t width = after - before;
    bool close_enough = !clock->narrowest_pair_ticks || width <= 4 * clock->narrowest_pair_ticks + 256;
    if (!clock->narrowest_pair_ticks || width < clock->narrowest_pair_ticks)
        clock->narrowest_pair_ticks = width ? width : 1;
    if (!close_enough)
        return now;
    uint64_t tick = before + width / 2;
    if (!clock->first_ns) {
        clock->first_tick = tick;
        clock->first_ns = now;
        return now;
    }
    if (now - clock->first_ns < CALIBRATION_NS || tick <= clock->first_tick)
        return now;
    double ns_per_tick = (double)(now - clock->first_ns) / (double)(tick - clock->first_tick);
    clock->ns_per_tick_q32 = (uint64_t)(ns_per_tick * 4294967296.0);
    clock->anchor_tick = tick;
    clock->anchor_ns = now;
    clock->anchor_window_ticks = (uint64_t)(ANCHOR_WINDOW_NS / ns_per_tick);
    return now;
#else
    (void)clock;
    return event_clock_monotonic_ns();
#endif
}
