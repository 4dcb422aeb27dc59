/* examples/leaky.c — an ordinary CUDA program (runtime API, no kernels) with known leaks, the
 * reference case for vramtrace's leak report. Among a few hundred allocations it frees correctly,
 * it leaks exactly:
 *   - 3 x 1 MiB through cudaMalloc, from load_weights()
 *   - 1 x 2 MiB through cudaMallocAsync, from prefetch_batch()
 * and in between holds a 64 MiB scratch buffer that it frees. Runs unchanged on a real GPU and on
 * vramtrace's simulated device.
 */
#include <stdio.h>

#include "cuda_check.h"

#define MIB ((size_t)1 << 20)
#define BALANCED_PAIRS 200
#define WEIGHT_BUFFERS 3

static const size_t pair_sizes[] = {256, 4096, 64 << 10, 1 << 20, 3 << 20};
#define PAIR_SIZE_COUNT (sizeof pair_sizes / sizeof pair_sizes[0])

/* Leaked on purpose: the caller keeps the pointers and never frees them. One call site for all
 * layers (a loop the compiler cannot unroll: `layers` is not known here), so the report shows one
 * group of 3 allocations. */
KEEP_FRAME void load_weights(void **weights, int layers, size_t bytes)
{
    for (int i = 0; i < layers; i++) {
        CHECK_CUDA(cudaMalloc(&weights[i], bytes));
        CHECK_CUDA(cudaMemset(weights[i], 0, 4096));
    }
}

/* Leaked on purpose as well, stream-ordered this time. */
KEEP_FRAME void *prefetch_batch(cudaStream_t stream, size_t bytes)
{
    void *batch = NULL;
    CHECK_CUDA(cudaMallocAsync(&batch, bytes, stream));
    CHECK_CUDA(cudaMemsetAsync(batch, 0, 4096, stream));
    return batch;
}

static size_t balanced_device_pairs(void)
{
    size_t bytes = 0;
    for (int i = 0; i < BALANCED_PAIRS; i++) {
        void *buffer = NULL;
        size_t size = pair_sizes[i % PAIR_SIZE_COUNT];
        CHECK_CUDA(cudaMalloc(&buffer, size));
        CHECK_CUDA(cudaFree(buffer));
        bytes += size;
    }
    return bytes;
}

static size_t balanced_async_pairs(cudaStream_t stream)
{
    size_t bytes = 0;
    for (int i = 0; i < BALANCED_PAIRS; i++) {
        void *buffer = NULL;
        size_t size = pair_sizes[(i + 2) % PAIR_SIZE_COUNT];
        CHECK_CUDA(cudaMallocAsync(&buffer, size, stream));
        CHECK_CUDA(cudaFreeAsync(buffer, stream));
        bytes += size;
    }
    return bytes;
}

static void pinned_staging_pair(void)
{
    void *staging = NULL;
    CHECK_CUDA(cudaMallocHost(&staging, MIB));
    ((char *)staging)[0] = 1;
    CHECK_CUDA(cudaFreeHost(staging));
}

static void scratch_pass(void)
{
    void *scratch = NULL;
    CHECK_CUDA(cudaMalloc(&scratch, 64 * MIB));
    CHECK_CUDA(cudaMemset(scratch, 0, 4096));
    CHECK_CUDA(cudaDeviceSynchronize());
    CHECK_CUDA(cudaFree(scratch));
}

int main(void)
{
    cudaStream_t stream;
    CHECK_CUDA(cudaStreamCreate(&stream));

    pinned_staging_pair();
    size_t freed_bytes = balanced_device_pairs();

    void *weights[WEIGHT_BUFFERS];
    load_weights(weights, WEIGHT_BUFFERS, MIB);

    scratch_pass();
    freed_bytes += balanced_async_pairs(stream);

    void *batch = prefetch_batch(stream, 2 * MIB);
    CHECK_CUDA(cudaStreamSynchronize(stream));
    CHECK_CUDA(cudaStreamDestroy(stream));

    int still_held = (batch != NULL);
    for (int i = 0; i < WEIGHT_BUFFERS; i++)
        still_held += (weights[i] != NULL);
    printf("leaky: %d cudaMalloc/cudaFree pairs, %d cudaMallocAsync/cudaFreeAsync pairs, %zu bytes freed\n",
           BALANCED_PAIRS, BALANCED_PAIRS, freed_bytes);
    printf("leaky: 1 cudaMallocHost/cudaFreeHost pair, 64 MiB scratch buffer freed\n");
    printf("leaky: done, %d buffers intentionally leaked (3 x 1 MiB cudaMalloc in load_weights, "
           "1 x 2 MiB cudaMallocAsync in prefetch_batch)\n", still_held);
    return 0;
}
