/* bench/exit_bench.c — owns the exit benchmark's program (scripts/bench-exit.sh; results in
 * docs/performance.md, "What the exit costs"). An ordinary CUDA program (runtime API, no kernels):
 *
 *   exit_bench leak|clean [--sites N] [--depth D]
 *
 * Makes N (100) allocations of 4 KiB + site bytes from N call sites. Each site reaches its
 * cudaMalloc through D + 1 (32) frames of libvt_big.so (bench/big_library.c: a library with a
 * libLLVM-sized symbol table), distinct frames for each site, so the shim's 32-frame stacks are
 * full and almost all in that library. `leak` keeps the allocations: the exit report groups N
 * stacks and symbolizes their frames. `clean` frees them: nothing leaks.
 *
 * Prints one line, "sites=N end_ns=T", T being CLOCK_MONOTONIC at the end of main: the caller times
 * the exit (the shim's destructor, then the process's teardown) from there to the process's end.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "big_library.h"
#include "cuda_check.h"

#define MAX_SITES 1000

static void *allocations[MAX_SITES];

/* The frame that calls CUDA, under the library's. */
KEEP_FRAME static void allocate(unsigned site)
{
    CHECK_CUDA(cudaMalloc(&allocations[site], 4096 + site));
}

static void usage_and_exit(void)
{
    fprintf(stderr, "usage: exit_bench leak|clean [--sites N (1-%d, 100)] [--depth D (0-1000, 31)]\n", MAX_SITES);
    exit(2);
}

static unsigned parse_number(const char *text, unsigned max)
{
    char *end;
    unsigned long value = strtoul(text ? text : "", &end, 10);
    if (!text || end == text || *end || value > max)
        usage_and_exit();
    return (unsigned)value;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "leak") != 0 && strcmp(argv[1], "clean") != 0))
        usage_and_exit();
    unsigned sites = 100, depth = 31;
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--sites") == 0)
            sites = parse_number(argv[i + 1], MAX_SITES);
        else if (strcmp(argv[i], "--depth") == 0)
            depth = parse_number(argv[i + 1], 1000);
        else
            usage_and_exit();
    }
    if (sites == 0)
        usage_and_exit();
    for (unsigned site = 0; site < sites; site++)
        vt_big_call(site, depth, allocate);
    if (strcmp(argv[1], "clean") == 0)
        for (unsigned site = 0; site < sites; site++)
            CHECK_CUDA(cudaFree(allocations[site]));
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    printf("sites=%u end_ns=%llu\n", sites, (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec);
    return 0;
}
