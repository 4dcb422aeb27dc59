/* tests/programs/oom_abort.c — holds a 64 KiB buffer and a 1 MiB one, makes one cudaMalloc of
 * 1 TiB that must fail with cudaErrorMemoryAllocation, and abort()s at once, as a C++ job whose CHECK
 * fails on the error does: no exit handler runs, so only what reached the disk before the failing
 * call returned survives (issue 9, point 7).
 */
#include <stdlib.h>

#include "cuda_check.h"

int main(void)
{
    void *small, *large, *too_big = NULL;
    CHECK_CUDA(cudaMalloc(&small, 64 << 10));
    CHECK_CUDA(cudaMalloc(&large, 1 << 20));
    if (cudaMalloc(&too_big, (size_t)1 << 40) != cudaErrorMemoryAllocation) {
        fprintf(stderr, "oom_abort: cudaMalloc(1 TiB) did not fail out of memory\n");
        return 1;
    }
    abort();
}
