/* bench/alloc_bench.c — owns the allocation benchmark that scripts/bench.sh runs with and without
 * the shim (docs/performance.md). An ordinary CUDA program (runtime API, no kernels), so it runs
 * unchanged on a real GPU or on the simulated device.
 *
 *   alloc_bench sync  [--pairs N] [--repeat R] [--depth D] [--resident K]   cudaMalloc/cudaFree pairs
 *   alloc_bench async [--pairs N] [--repeat R] [--depth D] [--resident K]   cudaMallocAsync/cudaFreeAsync
 *   alloc_bench churn [--events N] [--live L] [--depth D] [--rate R] [--host]   bounded-memory run (see below);
 *                                                          --rate: at most R events per second (0: as fast as it goes);
 *                                                          --host: malloc/free instead of cudaMalloc/cudaFree (the
 *                                                          same churn for a host-memory profiler: heaptrack)
 *
 * An event is one allocation or one free. Every mode first recurses D frames deep (a noinline
 * function that is not a tail call), so the CUDA calls are made from a native stack at least D
 * frames deep; the shim then has a full stack to capture.
 *
 * sync/async: N pairs of a few sizes, timed with CLOCK_MONOTONIC around the loop, best of R
 * repetitions. The loop is the function timed_pairs(). With --resident K, K allocations made
 * beforehand stay live during the loop (by default none: the tracer's tables go from empty to one
 * entry and back at every pair).
 *
 * churn: keeps L allocations live and replaces them in rotation (free the oldest, allocate anew)
 * until N events in all were made. The allocations come from CHURN_SITES (1,000) distinct call
 * paths: three levels of ten distinct functions each, chosen by the site's decimal digits, so
 * every site reaches cudaMalloc through its own chain of return addresses. VmRSS is read from
 * /proc/self/status before and after the loop, VmHWM after it.
 *
 * Output: one line of key=value pairs on stdout, for the script to parse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_check.h"

enum bench_mode { MODE_SYNC, MODE_ASYNC, MODE_CHURN };

struct bench_settings {
    enum bench_mode mode;
    long pairs;       /* sync/async: pairs per repetition */
    unsigned repeat;  /* sync/async: repetitions, the best one counts */
    unsigned depth;   /* extra native frames between main() and the CUDA calls */
    unsigned resident; /* sync/async: allocations kept live during the loop */
    long events;      /* churn: events in all */
    unsigned live;    /* churn: allocations kept live */
    long rate;        /* churn: events per second at most (0: no limit), for trace sizes at a real rate */
    bool host;        /* churn: malloc/free instead of cudaMalloc/cudaFree (--host) */
};

struct bench_result {
    double best_ns_per_event; /* sync/async: best repetition; churn: the one loop */
    long events_per_repetition;
    long rss_start_kib, rss_end_kib, hwm_end_kib; /* churn */
};

/* Below the simulated device's mmap threshold (1 MiB), so the device side stays cheap and steady;
 * the shim's cost does not depend on the size. */
static const size_t pair_sizes[] = {512, 8 << 10, 64 << 10, 512 << 10};
#define PAIR_SIZE_COUNT (sizeof pair_sizes / sizeof pair_sizes[0])

#define CHURN_SITES 1000
#define CHURN_DEFAULT_LIVE 10000
#define CHURN_DEFAULT_EVENTS 10000000L

static uint64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* ---- sync / async pairs ------------------------------------------------------------------- */

/* The measured loop (callgrind: --toggle-collect=timed_pairs). */
KEEP_FRAME void timed_pairs(enum bench_mode mode, long pairs)
{
    cudaStream_t stream = 0;
    for (long i = 0; i < pairs; i++) {
        void *buffer = NULL;
        size_t size = pair_sizes[(size_t)i % PAIR_SIZE_COUNT];
        if (mode == MODE_ASYNC) {
            CHECK_CUDA(cudaMallocAsync(&buffer, size, stream));
            CHECK_CUDA(cudaFreeAsync(buffer, stream));
        } else {
            CHECK_CUDA(cudaMalloc(&buffer, size));
            CHECK_CUDA(cudaFree(buffer));
        }
    }
}

static void run_pairs(const struct bench_settings *settings, struct bench_result *result)
{
    void **resident = calloc(settings->resident ? settings->resident : 1, sizeof *resident);
    if (!resident) {
        fprintf(stderr, "alloc_bench: out of host memory\n");
        exit(1);
    }
    for (unsigned i = 0; i < settings->resident; i++)
        CHECK_CUDA(cudaMalloc(&resident[i], 512));
    result->events_per_repetition = 2 * settings->pairs;
    result->best_ns_per_event = 0;
    for (unsigned rep = 0; rep < settings->repeat; rep++) {
        uint64_t start = now_ns();
        timed_pairs(settings->mode, settings->pairs);
        uint64_t elapsed = now_ns() - start;
        double per_event = settings->pairs ? (double)elapsed / (double)result->events_per_repetition : 0;
        if (rep == 0 || per_event < result->best_ns_per_event)
            result->best_ns_per_event = per_event;
    }
    for (unsigned i = 0; i < settings->resident; i++)
        CHECK_CUDA(cudaFree(resident[i]));
    free(resident);
}

/* ---- churn: 1,000 distinct call paths ------------------------------------------------------ */

static void **churn_slots;

/* The one place the churn allocates: its return address is the same for every site, the chain
 * of callers above it differs. */
static bool churn_host; /* --host: malloc/free */

KEEP_FRAME void churn_allocate(unsigned slot, unsigned site)
{
    size_t size = (size_t)256 << (site % 6); /* 256 B to 8 KiB */
    if (!churn_host) {
        CHECK_CUDA(cudaMalloc(&churn_slots[slot], size));
    } else if (!(churn_slots[slot] = malloc(size))) {
        fprintf(stderr, "alloc_bench: out of host memory\n");
        exit(1);
    }
}

static void churn_free(unsigned slot)
{
    if (churn_host)
        free(churn_slots[slot]);
    else
        CHECK_CUDA(cudaFree(churn_slots[slot]));
}

typedef void churn_step(unsigned slot, unsigned site);

#define DIGIT_FUNCTIONS(X, level) \
    X(level, 0) X(level, 1) X(level, 2) X(level, 3) X(level, 4) X(level, 5) X(level, 6) X(level, 7) X(level, 8) X(level, 9)
#define DECLARE_STEP(level, digit) static churn_step churn_##level##_##digit;
#define LIST_STEP(level, digit) churn_##level##_##digit,
DIGIT_FUNCTIONS(DECLARE_STEP, hundreds)
DIGIT_FUNCTIONS(DECLARE_STEP, tens)
DIGIT_FUNCTIONS(DECLARE_STEP, units)
static churn_step *const churn_hundreds[10] = {DIGIT_FUNCTIONS(LIST_STEP, hundreds)};
static churn_step *const churn_tens[10] = {DIGIT_FUNCTIONS(LIST_STEP, tens)};
static churn_step *const churn_units[10] = {DIGIT_FUNCTIONS(LIST_STEP, units)};

/* Each function is distinct (KEEP_FRAME: no inlining, cloning or identical-code folding), so its
 * call instruction, hence the return address in the stack, is its own. */
#define DEFINE_HUNDREDS(level, digit) \
    KEEP_FRAME static void churn_##level##_##digit(unsigned slot, unsigned site) { churn_tens[site / 10 % 10](slot, site); }
#define DEFINE_TENS(level, digit) \
    KEEP_FRAME static void churn_##level##_##digit(unsigned slot, unsigned site) { churn_units[site % 10](slot, site); }
#define DEFINE_UNITS(level, digit) \
    KEEP_FRAME static void churn_##level##_##digit(unsigned slot, unsigned site) { churn_allocate(slot, site); }
DIGIT_FUNCTIONS(DEFINE_HUNDREDS, hundreds)
DIGIT_FUNCTIONS(DEFINE_TENS, tens)
DIGIT_FUNCTIONS(DEFINE_UNITS, units)

static void churn_allocate_from_site(unsigned slot, unsigned site)
{
    churn_hundreds[site / 100 % 10](slot, site);
}

/* Resident and peak resident memory from /proc/self/status, in KiB (-1 when unreadable). */
static void read_memory_status(long *rss_kib, long *hwm_kib)
{
    *rss_kib = *hwm_kib = -1;
    FILE *status = fopen("/proc/self/status", "r");
    if (!status)
        return;
    char line[256];
    while (fgets(line, sizeof line, status)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kib = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kib = strtol(line + 6, NULL, 10);
    }
    fclose(status);
}

/* The measured loop of the churn: the first `live` rounds fill the slots, the rest replace them.
 * Slot i always holds an allocation from site i % CHURN_SITES, made through the one call below,
 * so the program has exactly CHURN_SITES distinct stacks here. */
static long churn_rate;

/* --rate: waits (sleeping) until event `event` is due. */
static void pace(long event, uint64_t start_ns)
{
    if (!churn_rate)
        return;
    uint64_t due = start_ns + (uint64_t)((double)event * 1e9 / (double)churn_rate), now = now_ns();
    if (due > now)
        nanosleep(&(struct timespec){(time_t)((due - now) / 1000000000u), (long)((due - now) % 1000000000u)}, NULL);
}

KEEP_FRAME void timed_churn(unsigned live, long replacements)
{
    uint64_t start = now_ns();
    long event = 0;
    for (long i = 0; i < (long)live + replacements; i++) {
        unsigned slot = (unsigned)(i % live);
        if (i >= (long)live) {
            pace(event++, start);
            churn_free(slot);
        }
        pace(event++, start);
        churn_allocate_from_site(slot, slot % CHURN_SITES);
    }
}

static void run_churn(const struct bench_settings *settings, struct bench_result *result)
{
    churn_slots = calloc(settings->live, sizeof *churn_slots);
    if (!churn_slots) {
        fprintf(stderr, "alloc_bench: out of host memory\n");
        exit(1);
    }
    churn_rate = settings->rate;
    churn_host = settings->host;
    long replacements = (settings->events - (long)settings->live) / 2;
    if (replacements < 0)
        replacements = 0;
    result->events_per_repetition = (long)settings->live + 2 * replacements;
    long ignored_hwm;
    read_memory_status(&result->rss_start_kib, &ignored_hwm);
    uint64_t start = now_ns();
    timed_churn(settings->live, replacements);
    uint64_t elapsed = now_ns() - start;
    read_memory_status(&result->rss_end_kib, &result->hwm_end_kib);
    result->best_ns_per_event =
        result->events_per_repetition ? (double)elapsed / (double)result->events_per_repetition : 0;
    for (unsigned slot = 0; slot < settings->live; slot++)
        churn_free(slot);
    free(churn_slots);
}

/* ---- driver --------------------------------------------------------------------------------- */

/* Initialises the runtime (and a tracer's lookups) outside the measured loops. */
KEEP_FRAME static void warm_up(void)
{
    void *buffer = NULL;
    CHECK_CUDA(cudaMalloc(&buffer, 512));
    CHECK_CUDA(cudaFree(buffer));
    CHECK_CUDA(cudaMallocAsync(&buffer, 512, 0));
    CHECK_CUDA(cudaFreeAsync(buffer, 0));
    CHECK_CUDA(cudaStreamSynchronize(0));
}

KEEP_FRAME static void run_mode(const struct bench_settings *settings, struct bench_result *result)
{
    if (settings->mode == MODE_CHURN)
        run_churn(settings, result);
    else
        run_pairs(settings, result);
}

/* Adds `levels` frames to the stack, then runs the benchmark. Not a tail call: the addition after
 * the call keeps each frame live. */
KEEP_FRAME static unsigned descend_then_run(unsigned levels, const struct bench_settings *settings,
                                            struct bench_result *result)
{
    if (levels == 0) {
        run_mode(settings, result);
        return 0;
    }
    return descend_then_run(levels - 1, settings, result) + 1;
}

static void usage_and_exit(void)
{
    fprintf(stderr,
            "usage: alloc_bench sync|async [--pairs N] [--repeat R] [--depth D] [--resident K]\n"
            "       alloc_bench churn [--events N] [--live L] [--depth D] [--rate R] [--host]\n");
    exit(2);
}

static long parse_number(const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < min || value > max) {
        fprintf(stderr, "alloc_bench: bad number \"%s\" (%ld to %ld)\n", text, min, max);
        exit(2);
    }
    return value;
}

static void parse_arguments(int argc, char **argv, struct bench_settings *settings)
{
    if (argc < 2)
        usage_and_exit();
    *settings = (struct bench_settings){.pairs = 100000, .repeat = 7, .depth = 32,
                                        .events = CHURN_DEFAULT_EVENTS, .live = CHURN_DEFAULT_LIVE};
    if (strcmp(argv[1], "sync") == 0)
        settings->mode = MODE_SYNC;
    else if (strcmp(argv[1], "async") == 0)
        settings->mode = MODE_ASYNC;
    else if (strcmp(argv[1], "churn") == 0)
        settings->mode = MODE_CHURN;
    else
        usage_and_exit();
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0 && settings->mode == MODE_CHURN) {
            settings->host = true;
            i--; /* a flag: no value */
            continue;
        }
        if (i + 1 >= argc)
            usage_and_exit();
        const char *name = argv[i], *value = argv[i + 1];
        if (strcmp(name, "--pairs") == 0)
            settings->pairs = parse_number(value, 0, 1000000000L);
        else if (strcmp(name, "--repeat") == 0)
            settings->repeat = (unsigned)parse_number(value, 1, 1000);
        else if (strcmp(name, "--depth") == 0)
            settings->depth = (unsigned)parse_number(value, 0, 10000);
        else if (strcmp(name, "--resident") == 0)
            settings->resident = (unsigned)parse_number(value, 0, 10000000);
        else if (strcmp(name, "--events") == 0)
            settings->events = parse_number(value, 0, 1000000000000L);
        else if (strcmp(name, "--live") == 0)
            settings->live = (unsigned)parse_number(value, 1, 10000000);
        else if (strcmp(name, "--rate") == 0)
            settings->rate = parse_number(value, 0, 1000000000L);
        else
            usage_and_exit();
    }
}

int main(int argc, char **argv)
{
    static const char *const mode_names[] = {"sync", "async", "churn"};
    struct bench_settings settings;
    struct bench_result result = {0};
    parse_arguments(argc, argv, &settings);
    warm_up();
    descend_then_run(settings.depth, &settings, &result);
    CHECK_CUDA(cudaStreamSynchronize(0));

    printf("mode=%s depth=%u events=%ld ns_per_event=%.1f", mode_names[settings.mode], settings.depth,
           result.events_per_repetition, result.best_ns_per_event);
    if (settings.mode == MODE_CHURN)
        printf(" live=%u sites=%d rss_start_kib=%ld rss_end_kib=%ld hwm_end_kib=%ld", settings.live, CHURN_SITES,
               result.rss_start_kib, result.rss_end_kib, result.hwm_end_kib);
    else
        printf(" repeat=%u resident=%u", settings.repeat, settings.resident);
    printf("\n");
    return 0;
}
