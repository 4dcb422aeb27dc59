/* simulated_cuda/driver_stream_ordered.c — owns stream-ordered allocation: cuMemAllocAsync,
 * cuMemFreeAsync and cuMemAllocFromPoolAsync (each also as its per-thread-default-stream _ptsz
 * variant, a separate function with the same behaviour) and the memory pools they draw from
 * (cuDeviceGetDefaultMemPool, cuMemPoolCreate, cuMemPoolDestroy). Work is synchronous, so
 * "stream-ordered" memory is ordinary device memory counted against the stream's device.
 */
#include "sim_driver.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/options.h"

#define POOL_MAGIC 0x504f4f4cU /* "POOL" */

struct CUmemPoolHandle_st {
    uint32_t magic;
    int device;
    bool is_default;
};

static struct CUmemPoolHandle_st default_pools[VT_MAX_SIMULATED_DEVICES];
static pthread_once_t default_pools_once = PTHREAD_ONCE_INIT;

static void create_default_pools(void)
{
    for (int device = 0; device < VT_MAX_SIMULATED_DEVICES; device++)
        default_pools[device] = (struct CUmemPoolHandle_st){.magic = POOL_MAGIC, .device = device, .is_default = true};
}

static bool is_live_pool(CUmemoryPool pool)
{
    return pool && pool->magic == POOL_MAGIC;
}

/* Unlike cuMemAlloc, a stream-ordered request for zero bytes succeeds with address 0 (measured
 * on the real driver). */
static CUresult allocate_stream_ordered(int device, size_t bytesize, CUdeviceptr *dptr)
{
    if (dptr && bytesize == 0) {
        *dptr = 0;
        return CUDA_SUCCESS;
    }
    return sim_allocate(SIM_MEMORY_DEVICE, device, NULL, bytesize, dptr); /* no context owns it */
}

static CUresult allocate_on_stream(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    int device;
    CUresult result = sim_stream_device(hStream, &device);
    return result != CUDA_SUCCESS ? result : allocate_stream_ordered(device, bytesize, dptr);
}

static CUresult allocate_from_pool(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream)
{
    int stream_device;
    if (!is_live_pool(pool))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult result = sim_stream_device(hStream, &stream_device);
    return result != CUDA_SUCCESS ? result : allocate_stream_ordered(pool->device, bytesize, dptr);
}

static CUresult free_on_stream(CUdeviceptr dptr, CUstream hStream)
{
    int device;
    CUresult result = sim_stream_device(hStream, &device);
    return result != CUDA_SUCCESS ? result : sim_free(dptr, SIM_MEMORY_DEVICE);
}

CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return allocate_on_stream(dptr, bytesize, hStream);
}

CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return allocate_on_stream(dptr, bytesize, hStream);
}

CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream)
{
    return allocate_from_pool(dptr, bytesize, pool, hStream);
}

CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream)
{
    return allocate_from_pool(dptr, bytesize, pool, hStream);
}

CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
    return free_on_stream(dptr, hStream);
}

CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
    return free_on_stream(dptr, hStream);
}

/* ---- pools ------------------------------------------------------------------------------ */

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
    if (!pool_out)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sim_device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    pthread_once(&default_pools_once, create_default_pools);
    *pool_out = &default_pools[dev];
    return CUDA_SUCCESS;
}

CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *poolProps)
{
    if (!pool || !poolProps || poolProps->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
        poolProps->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sim_device_valid(poolProps->location.id))
        return CUDA_ERROR_INVALID_DEVICE;
    if (poolProps->handleTypes & CU_MEM_HANDLE_TYPE_FABRIC)
        return CUDA_ERROR_NOT_SUPPORTED;
    struct CUmemPoolHandle_st *created = malloc(sizeof *created);
    if (!created)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *created = (struct CUmemPoolHandle_st){.magic = POOL_MAGIC, .device = poolProps->location.id};
    *pool = created;
    return CUDA_SUCCESS;
}

CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
    if (!is_live_pool(pool) || pool->is_default)
        return CUDA_ERROR_INVALID_VALUE;
    pool->magic = 0;
    free(pool);
    return CUDA_SUCCESS;
}
