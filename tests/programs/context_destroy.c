/* tests/programs/context_destroy.c — cuCtxDestroy of a context made by cuCtxCreate frees the memory
 * that context owns, and only that (issue 9, point 4). Driver functions are looked up with
 * cudaGetDriverEntryPointByVersion, as the runtime's users reach them. On device 0:
 *   - the primary context (the runtime's) gets 4 MiB (cudaMalloc);
 *   - a created context, current after cuCtxCreate, gets 16 MiB (cuMemAlloc), 2 MiB (cudaMalloc,
 *     which allocates in the current context), 1 MiB managed (cuMemAllocManaged), 1 MiB pinned host
 *     memory (cuMemAllocHost), all of which its cuCtxDestroy frees, and 512 KiB stream-ordered
 *     (cuMemAllocAsync), which it does not free;
 *   - popped, the primary context is current again and gets 3 MiB; the created context is
 *     destroyed while not current; cuCtxDestroy of the primary context (an error on the simulated
 *     device) frees nothing; then 1 MiB more. What is left: 8.5 MiB in 4 allocations.
 * `context_destroy v4|v2`: cuCtxCreate at ABI 12050 (_v4) with cuCtxDestroy at 4000 (_v2), or at
 * 3020 (_v2) with cuCtxDestroy at 2000 (the unversioned one).
 */
#include <cudaTypedefs.h>
#include <stdbool.h>
#include <string.h>

#include "cuda_check.h"

static void *driver_function(const char *name, int version)
{
    void *function = NULL;
    enum cudaDriverEntryPointQueryResult found;
    CHECK_CUDA(cudaGetDriverEntryPointByVersion(name, &function, (unsigned int)version, cudaEnableDefault, &found));
    if (!function) {
        fprintf(stderr, "context_destroy: no %s at %d\n", name, version);
        exit(1);
    }
    return function;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "v4") != 0 && strcmp(argv[1], "v2") != 0)) {
        fprintf(stderr, "usage: context_destroy v4|v2\n");
        return 2;
    }
    bool v4 = strcmp(argv[1], "v4") == 0;
    PFN_cuCtxCreate_v12050 create_v4 = v4 ? driver_function("cuCtxCreate", 12050) : NULL;
    PFN_cuCtxCreate_v3020 create_v2 = v4 ? NULL : driver_function("cuCtxCreate", 3020);
    PFN_cuCtxDestroy_v4000 destroy = driver_function("cuCtxDestroy", v4 ? 4000 : 2000);
    PFN_cuMemAlloc_v3020 mem_alloc = driver_function("cuMemAlloc", 3020);
    PFN_cuMemAllocHost_v3020 mem_alloc_host = driver_function("cuMemAllocHost", 3020);
    PFN_cuMemAllocManaged_v6000 mem_alloc_managed = driver_function("cuMemAllocManaged", 6000);
    PFN_cuMemAllocAsync_v11020 mem_alloc_async = driver_function("cuMemAllocAsync", 11020);
    PFN_cuCtxGetCurrent_v4000 get_current = driver_function("cuCtxGetCurrent", 4000);
    PFN_cuCtxPopCurrent_v4000 pop_current = driver_function("cuCtxPopCurrent", 4000);

    void *primary_before, *primary_between, *primary_after, *runtime_in_context, *pinned;
    CUdeviceptr device_memory, managed, stream_ordered;
    CUcontext primary, created;
    CHECK_CUDA(cudaSetDevice(0));
    CHECK_CUDA(cudaMalloc(&primary_before, 4 << 20));
    CHECK_CU(get_current(&primary));

    if (v4)
        CHECK_CU(create_v4(&created, NULL, 0, 0));
    else
        CHECK_CU(create_v2(&created, 0, 0));
    CHECK_CU(mem_alloc(&device_memory, 16 << 20));
    CHECK_CUDA(cudaMalloc(&runtime_in_context, 2 << 20));
    CHECK_CU(mem_alloc_managed(&managed, 1 << 20, CU_MEM_ATTACH_GLOBAL));
    CHECK_CU(mem_alloc_host(&pinned, 1 << 20));
    CHECK_CU(mem_alloc_async(&stream_ordered, 512 << 10, NULL));

    CUcontext popped;
    CHECK_CU(pop_current(&popped));
    if (popped != created) {
        fprintf(stderr, "context_destroy: the created context was not current\n");
        return 1;
    }
    CHECK_CUDA(cudaMalloc(&primary_between, 3 << 20));
    CHECK_CU(destroy(created));
    (void)destroy(primary); /* a primary context: frees nothing (the simulated device refuses it) */
    CHECK_CUDA(cudaMalloc(&primary_after, 1 << 20));
    printf("context_destroy: done\n");
    return 0;
}
