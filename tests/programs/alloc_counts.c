/* tests/programs/alloc_counts.c — `alloc_counts N`: N balanced pairs through each runtime
 * allocator, then exactly one leak of each kind, so a tracer's counts can be checked exactly:
 *   N x cudaMalloc/cudaFree 4 KiB            N x cudaMallocAsync/cudaFreeAsync 8 KiB (own stream)
 *   N x cudaMallocHost/cudaFreeHost 16 KiB   N x cudaMallocManaged/cudaFree 32 KiB
 *   N x cudaMallocPitch(width 1000, height 10)/cudaFree
 * leaked: cudaMalloc 1 MiB, cudaMallocAsync 2 MiB, cudaHostAlloc 3 MiB, cudaMallocManaged 4 MiB.
 */
#include <stdlib.h>

#include "cuda_check.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: alloc_counts N\n");
        return 2;
    }
    int pairs = atoi(argv[1]);
    cudaStream_t stream;
    void *buffer;
    size_t pitch = 0;
    CHECK_CUDA(cudaStreamCreate(&stream));
    for (int i = 0; i < pairs; i++) {
        CHECK_CUDA(cudaMalloc(&buffer, 4 * KIB));
        CHECK_CUDA(cudaFree(buffer));
        CHECK_CUDA(cudaMallocAsync(&buffer, 8 * KIB, stream));
        CHECK_CUDA(cudaFreeAsync(buffer, stream));
        CHECK_CUDA(cudaMallocHost(&buffer, 16 * KIB));
        CHECK_CUDA(cudaFreeHost(buffer));
        CHECK_CUDA(cudaMallocManaged(&buffer, 32 * KIB, cudaMemAttachGlobal));
        CHECK_CUDA(cudaFree(buffer));
        CHECK_CUDA(cudaMallocPitch(&buffer, &pitch, 1000, 10));
        CHECK_CUDA(cudaFree(buffer));
    }
    CHECK_CUDA(cudaStreamSynchronize(stream));

    void *leaked_device, *leaked_async, *leaked_host, *leaked_managed;
    CHECK_CUDA(cudaMalloc(&leaked_device, 1 * MIB));
    CHECK_CUDA(cudaMallocAsync(&leaked_async, 2 * MIB, stream));
    CHECK_CUDA(cudaHostAlloc(&leaked_host, 3 * MIB, cudaHostAllocDefault));
    CHECK_CUDA(cudaMallocManaged(&leaked_managed, 4 * MIB, cudaMemAttachGlobal));
    CHECK_CUDA(cudaStreamSynchronize(stream));
    CHECK_CUDA(cudaStreamDestroy(stream));

    printf("alloc_counts: %d pairs each of cudaMalloc 4096, cudaMallocAsync 8192, cudaMallocHost 16384, "
           "cudaMallocManaged 32768, cudaMallocPitch 1000x10\n", pairs);
    printf("alloc_counts: leaked cudaMalloc 1048576, cudaMallocAsync 2097152, cudaHostAlloc 3145728, "
           "cudaMallocManaged 4194304\n");
    return 0;
}
