/* tests/programs/zero_bytes.c — zero-byte requests (issue 9, point 6): cudaMalloc, cudaMallocManaged,
 * cudaMallocHost and cudaMallocAsync of 0 bytes succeed with NULL and allocate nothing; then one
 * real 1 MiB cudaMalloc is leaked, and cudaFree(NULL) of the zero-byte results is allowed. */
#include "cuda_check.h"

int main(void)
{
    void *nothing[5];
    CHECK_CUDA(cudaMalloc(&nothing[0], 0));
    CHECK_CUDA(cudaMalloc(&nothing[1], 0));
    CHECK_CUDA(cudaMallocManaged(&nothing[2], 0, cudaMemAttachGlobal));
    CHECK_CUDA(cudaMallocHost(&nothing[3], 0));
    CHECK_CUDA(cudaMallocAsync(&nothing[4], 0, 0));
    CHECK_CUDA(cudaStreamSynchronize(0));
    for (int i = 0; i < 5; i++)
        if (nothing[i] != NULL)
            printf("request %d returned %p\n", i, nothing[i]);
    void *leaked;
    CHECK_CUDA(cudaMalloc(&leaked, (size_t)1 << 20));
    printf("done\n");
    return 0;
}
