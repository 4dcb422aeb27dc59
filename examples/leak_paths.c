/* examples/leak_paths.c — leaks a known, documented amount through every path by which real
 * programs reach the CUDA allocator (cuda-facts.md §1), all in one run:
 *
 *   path                                             kind          leaked
 *   runtime cudaMalloc                               device        1 MiB
 *   runtime cudaMallocAsync                          device        2 MiB
 *   runtime cudaHostAlloc                            host-pinned   3 MiB
 *   CuPy-like: cuGetProcAddress -> cuMemAlloc        device        4 MiB
 *   JAX-like: dlsym "cuMemAlloc_v2"                  device        5 MiB
 *   PyTorch expandable segments: cuMemCreate+cuMemMap device       6 MiB (3 x 2 MiB handles)
 *   runtime cudaMallocManaged                        managed       7 MiB
 *
 * Expected leaks: device 18 MiB in 7 allocations (cudaMalloc, cudaMallocAsync, CuPy-like, JAX-like,
 * 3 VMM handles), host-pinned 3 MiB in 1, managed 7 MiB in 1; the program prints them at the end.
 * Each path also makes balanced allocate/free pairs that must not be reported. Runs unchanged on a
 * real GPU and on the simulated device.
 */
#include <stdio.h>

#include "cuda_check.h"
#include "driver_paths.h"

#define MIB ((size_t)1 << 20)
#define PAIRS 50

KEEP_FRAME void *leak_runtime_malloc(size_t bytes)
{
    void *buffer = NULL;
    for (int i = 0; i < PAIRS; i++) {
        CHECK_CUDA(cudaMalloc(&buffer, 4096 * (size_t)(1 + i % 8)));
        CHECK_CUDA(cudaFree(buffer));
    }
    CHECK_CUDA(cudaMalloc(&buffer, bytes));
    return buffer;
}

KEEP_FRAME void *leak_runtime_malloc_async(size_t bytes)
{
    cudaStream_t stream;
    void *buffer = NULL;
    CHECK_CUDA(cudaStreamCreate(&stream));
    for (int i = 0; i < PAIRS; i++) {
        CHECK_CUDA(cudaMallocAsync(&buffer, 8192 * (size_t)(1 + i % 8), stream));
        CHECK_CUDA(cudaFreeAsync(buffer, stream));
    }
    CHECK_CUDA(cudaMallocAsync(&buffer, bytes, stream));
    CHECK_CUDA(cudaStreamSynchronize(stream));
    CHECK_CUDA(cudaStreamDestroy(stream));
    return buffer;
}

KEEP_FRAME void *leak_runtime_host_alloc(size_t bytes)
{
    void *buffer = NULL;
    for (int i = 0; i < PAIRS; i++) {
        CHECK_CUDA(cudaHostAlloc(&buffer, 4096, cudaHostAllocDefault));
        CHECK_CUDA(cudaFreeHost(buffer));
    }
    CHECK_CUDA(cudaHostAlloc(&buffer, bytes, cudaHostAllocPortable));
    return buffer;
}

KEEP_FRAME void *leak_runtime_managed(size_t bytes)
{
    void *buffer = NULL;
    for (int i = 0; i < PAIRS; i++) {
        CHECK_CUDA(cudaMallocManaged(&buffer, 4096, cudaMemAttachGlobal));
        CHECK_CUDA(cudaFree(buffer));
    }
    CHECK_CUDA(cudaMallocManaged(&buffer, bytes, cudaMemAttachGlobal));
    return buffer;
}

int main(void)
{
    void *kept[4];
    kept[0] = leak_runtime_malloc(1 * MIB);
    kept[1] = leak_runtime_malloc_async(2 * MIB);
    kept[2] = leak_runtime_host_alloc(3 * MIB);
    leak_through_cupy_path(4 * MIB, PAIRS);
    leak_through_dlsym_path(5 * MIB, PAIRS);
    size_t expandable = leak_through_expandable_segments(3);
    kept[3] = leak_runtime_managed(7 * MIB);
    CHECK_CUDA(cudaDeviceSynchronize());

    int held = 0;
    for (int i = 0; i < 4; i++)
        held += kept[i] != NULL;
    size_t device = (1 + 2 + 4 + 5) * MIB + expandable;
    printf("leak_paths: runtime cudaMalloc 1 MiB, cudaMallocAsync 2 MiB, cudaHostAlloc 3 MiB (host-pinned)\n");
    printf("leak_paths: CuPy-like cuGetProcAddress cuMemAlloc 4 MiB, JAX-like dlsym cuMemAlloc_v2 5 MiB\n");
    printf("leak_paths: expandable segments %zu MiB physical (3 x 2 MiB handles mapped), cudaMallocManaged 7 MiB\n",
           expandable / MIB);
    printf("leak_paths: expected leaks: device %zu bytes (%zu MiB) in 7 allocations, host-pinned %zu bytes (3 MiB) "
           "in 1, managed %zu bytes (7 MiB) in 1; %d runtime buffers held\n",
           device, device / MIB, 3 * MIB, 7 * MIB, held);
    return 0;
}
