/* tests/programs/oom_retry.c — PyTorch's out-of-memory path in miniature: with a 600 MiB "cache"
 * held (from hold_cache), an 800 MiB request fails with cudaErrorMemoryAllocation; the program frees
 * its cache and retries, and the retry succeeds. Run it on a device of 1 GiB (vramtrace run
 * --simulate=1G). Leaks nothing. */
#include "cuda_check.h"

#define MIB ((size_t)1 << 20)

KEEP_FRAME void *hold_cache(size_t bytes)
{
    void *cache;
    CHECK_CUDA(cudaMalloc(&cache, bytes));
    return cache;
}

KEEP_FRAME cudaError_t request_activations(void **activations, size_t bytes)
{
    return cudaMalloc(activations, bytes);
}

int main(void)
{
    void *cache = hold_cache(600 * MIB);
    void *activations;
    cudaError_t first = request_activations(&activations, 800 * MIB);
    if (first != cudaErrorMemoryAllocation) {
        printf("oom_retry: expected cudaErrorMemoryAllocation, got %s\n", cudaGetErrorName(first));
        return 1;
    }
    (void)cudaGetLastError();
    CHECK_CUDA(cudaFree(cache));
    CHECK_CUDA(request_activations(&activations, 800 * MIB));
    CHECK_CUDA(cudaFree(activations));
    printf("oom_retry: first request failed with %s, retry after freeing the cache succeeded\n", cudaGetErrorName(first));
    return 0;
}
