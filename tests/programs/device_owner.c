/* tests/programs/device_owner.c — memory belongs to the device that owns it (issue 9). Needs two
 * devices. Device 0 stays current throughout; the program makes a stream on device 1 and takes
 * device 1's default pool, then:
 *   `device_owner alloc`: allocates and leaks, on device 1's stream or from device 1's pool,
 *     cudaMallocAsync 1 MiB (stream 1), cudaMallocFromPoolAsync 2 MiB (pool 1, legacy stream),
 *     cuMemAllocAsync 4 MiB (stream 1), cuMemAllocFromPoolAsync 8 MiB (pool 1, NULL stream) and,
 *     for contrast, cudaMalloc 16 MiB on the current device 0;
 *   `device_owner oom`: holds 16 MiB on device 0, then a cuMemCreate of 1 TiB on device 1 must
 *     fail out of memory;
 *   `device_owner oom-cold`: the same, but device 1 was never used, so its primary context is not
 *     active (the stream and pool of device 1 are not made).
 */
#include <cudaTypedefs.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"

static void *driver_function(const char *name)
{
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    void *function = library ? dlsym(library, name) : NULL;
    if (!function) {
        fprintf(stderr, "device_owner: no %s in libcuda.so.1\n", name);
        exit(1);
    }
    return function;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "alloc") != 0 && strcmp(argv[1], "oom") != 0 && strcmp(argv[1], "oom-cold") != 0)) {
        fprintf(stderr, "usage: device_owner alloc|oom|oom-cold\n");
        return 2;
    }
    bool cold = strcmp(argv[1], "oom-cold") == 0;
    cudaStream_t stream1 = NULL;
    cudaMemPool_t pool1 = NULL;
    if (!cold) {
        CHECK_CUDA(cudaSetDevice(1));
        CHECK_CUDA(cudaStreamCreate(&stream1));
        CHECK_CUDA(cudaDeviceGetDefaultMemPool(&pool1, 1));
    }
    CHECK_CUDA(cudaSetDevice(0));
    CHECK_CUDA(cudaFree(NULL)); /* device 0's context is current from here on */

    if (strncmp(argv[1], "oom", 3) == 0) {
        void *held;
        CHECK_CUDA(cudaMalloc(&held, 16 << 20));
        PFN_cuMemCreate_v10020 mem_create = (PFN_cuMemCreate_v10020)driver_function("cuMemCreate");
        CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                    .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 1}};
        CUmemGenericAllocationHandle handle;
        CUresult result = mem_create(&handle, (size_t)1 << 40, &prop, 0);
        if (result != CUDA_ERROR_OUT_OF_MEMORY) {
            fprintf(stderr, "device_owner: cuMemCreate(1 TiB) on device 1 returned %d\n", (int)result);
            return 1;
        }
        /* The tracer asked about device 1 without changing this thread's context. */
        PFN_cuCtxGetDevice_v2000 ctx_get_device = (PFN_cuCtxGetDevice_v2000)driver_function("cuCtxGetDevice");
        CUdevice current = -1;
        int runtime_current = -1;
        CHECK_CU(ctx_get_device(&current));
        CHECK_CUDA(cudaGetDevice(&runtime_current));
        if (current != 0 || runtime_current != 0) {
            fprintf(stderr, "device_owner: the current device changed to %d / %d\n", (int)current, runtime_current);
            return 1;
        }
        printf("device_owner: cuMemCreate on device 1 failed out of memory\n");
        return 0;
    }

    void *runtime_stream, *runtime_pool, *current;
    CHECK_CUDA(cudaMallocAsync(&runtime_stream, 1 << 20, stream1));
    CHECK_CUDA(cudaMallocFromPoolAsync(&runtime_pool, 2 << 20, pool1, cudaStreamLegacy));
    CHECK_CUDA(cudaMalloc(&current, 16 << 20));

    PFN_cuMemAllocAsync_v11020 alloc_async = (PFN_cuMemAllocAsync_v11020)driver_function("cuMemAllocAsync");
    PFN_cuMemAllocFromPoolAsync_v11020 alloc_from_pool =
        (PFN_cuMemAllocFromPoolAsync_v11020)driver_function("cuMemAllocFromPoolAsync");
    CUdeviceptr driver_stream, driver_pool;
    CHECK_CU(alloc_async(&driver_stream, 4 << 20, (CUstream)stream1));
    CHECK_CU(alloc_from_pool(&driver_pool, 8 << 20, (CUmemoryPool)pool1, NULL));
    CHECK_CUDA(cudaStreamSynchronize(stream1));
    printf("device_owner: 15 MiB on device 1, 16 MiB on device 0, all leaked\n");
    return 0;
}
