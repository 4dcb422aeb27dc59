/* tests/programs/trace/peak_shift.c — a program whose live set at its peak differs from its live
 * set at exit, so the peak snapshot of `vramtrace report` can be checked exactly:
 *   build_peak():  A = 10 MiB and B = 20 MiB through cudaMalloc (two call sites) -> peak 30 MiB
 *   main():        frees B
 *   after_peak():  C = 5 MiB through cudaMalloc
 * It leaks A and C (15 MiB in 2 allocations). At the peak: A and B; at exit: A and C.
 */
#include <stdio.h>

#include "cuda_check.h"

#define MIB ((size_t)1 << 20)

KEEP_FRAME void build_peak(void **a, void **b)
{
    CHECK_CUDA(cudaMalloc(a, 10 * MIB));
    CHECK_CUDA(cudaMalloc(b, 20 * MIB));
}

KEEP_FRAME void *after_peak(void)
{
    void *c = NULL;
    CHECK_CUDA(cudaMalloc(&c, 5 * MIB));
    return c;
}

int main(void)
{
    void *a = NULL, *b = NULL;
    build_peak(&a, &b);
    CHECK_CUDA(cudaFree(b));
    void *c = after_peak();
    printf("peak_shift: peak 30 MiB (A 10 MiB + B 20 MiB), leaked A and C (15 MiB): %d\n", a != NULL && c != NULL);
    return 0;
}
