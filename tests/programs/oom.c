/* tests/programs/oom.c — `oom [BYTES]`: holds a 64 KiB buffer, then makes one huge cudaMalloc
 * (BYTES, default 1 TiB) that must fail with cudaErrorMemoryAllocation; prints the error name,
 * checks that cudaGetLastError reports it once, frees what it had and exits 0.
 */
#include <stdlib.h>

#include "cuda_check.h"

int main(int argc, char **argv)
{
    size_t huge = argc > 1 ? (size_t)strtoull(argv[1], NULL, 0) : (size_t)1 << 40;
    void *held;
    CHECK_CUDA(cudaMalloc(&held, 64 << 10));

    void *too_big = NULL;
    cudaError_t result = cudaMalloc(&too_big, huge);
    if (result != cudaErrorMemoryAllocation) {
        fprintf(stderr, "oom: cudaMalloc(%zu) returned %s, expected cudaErrorMemoryAllocation\n", huge,
                cudaGetErrorName(result));
        return 1;
    }
    printf("oom: cudaMalloc(%zu) failed with %s\n", huge, cudaGetErrorName(result));
    if (cudaGetLastError() != cudaErrorMemoryAllocation || cudaGetLastError() != cudaSuccess) {
        fprintf(stderr, "oom: cudaGetLastError did not report the failure exactly once\n");
        return 1;
    }
    CHECK_CUDA(cudaFree(held));
    printf("oom: freed the 65536 bytes it held\n");
    return 0;
}
