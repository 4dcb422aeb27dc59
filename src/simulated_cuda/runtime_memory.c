/* simulated_cuda/runtime_memory.c — owns the runtime's memory calls: cudaMalloc / cudaFree,
 * cudaMallocAsync / cudaFreeAsync, cudaMallocFromPoolAsync and the pool calls, cudaMallocHost /
 * cudaHostAlloc / cudaFreeHost, cudaMallocManaged, cudaMallocPitch, cudaMemGetInfo and the copies
 * and fills. Each forwards to one driver function through the table in runtime_driver.c.
 */
#include "runtime_internal.h"

#include <string.h>

/* The element size the runtime passes to cuMemAllocPitch (the driver accepts 4, 8 or 16). */
#define PITCH_ELEMENT_BYTES 4

static CUdeviceptr device_address(const void *pointer)
{
    return (CUdeviceptr)(uintptr_t)pointer;
}

/* Stores an allocation's address (NULL after a failure) and passes on the translated result. The
 * address is passed by pointer: it is read only after the driver call has filled it in. */
static cudaError_t allocation_result(CUresult result, const CUdeviceptr *address, void **out)
{
    *out = result == CUDA_SUCCESS ? (void *)(uintptr_t)*address : NULL;
    return rt_result(result);
}

/* ---- device memory ---------------------------------------------------------------------- */

cudaError_t cudaMalloc(void **devPtr, size_t size)
{
    RT_ENTER();
    if (!devPtr)
        return rt_record(cudaErrorInvalidValue);
    if (size == 0) { /* the runtime answers a zero-byte request itself, with NULL */
        *devPtr = NULL;
        return cudaSuccess;
    }
    CUdeviceptr address = 0;
    return allocation_result(rt_driver.mem_alloc(&address, size), &address, devPtr);
}

cudaError_t cudaFree(void *devPtr)
{
    RT_ENTER();
    if (!devPtr)
        return cudaSuccess;
    return rt_result(rt_driver.mem_free(device_address(devPtr)));
}

cudaError_t cudaMallocPitch(void **devPtr, size_t *pitch, size_t width, size_t height)
{
    RT_ENTER();
    if (!devPtr || !pitch)
        return rt_record(cudaErrorInvalidValue);
    CUdeviceptr address = 0;
    CUresult result = rt_driver.mem_alloc_pitch(&address, pitch, width, height, PITCH_ELEMENT_BYTES);
    return allocation_result(result, &address, devPtr);
}

cudaError_t cudaMallocManaged(void **devPtr, size_t size, unsigned int flags)
{
    RT_ENTER();
    if (!devPtr)
        return rt_record(cudaErrorInvalidValue);
    if (size == 0) { /* NULL and success, as the real runtime (the driver would refuse it) */
        *devPtr = NULL;
        return cudaSuccess;
    }
    CUdeviceptr address = 0;
    return allocation_result(rt_driver.mem_alloc_managed(&address, size, flags), &address, devPtr);
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    RT_ENTER();
    return rt_result(rt_driver.mem_get_info(free_bytes, total_bytes));
}

/* ---- stream-ordered memory and pools ----------------------------------------------------- */

cudaError_t cudaMallocAsync(void **devPtr, size_t size, cudaStream_t hStream)
{
    RT_ENTER();
    if (!devPtr)
        return rt_record(cudaErrorInvalidValue);
    if (size == 0) {
        *devPtr = NULL;
        return cudaSuccess;
    }
    CUdeviceptr address = 0;
    return allocation_result(rt_driver.mem_alloc_async(&address, size, hStream), &address, devPtr);
}

cudaError_t cudaFreeAsync(void *devPtr, cudaStream_t hStream)
{
    RT_ENTER();
    if (!devPtr)
        return cudaSuccess;
    return rt_result(rt_driver.mem_free_async(device_address(devPtr), hStream));
}

cudaError_t cudaMallocFromPoolAsync(void **ptr, size_t size, cudaMemPool_t memPool, cudaStream_t stream)
{
    RT_ENTER();
    if (!ptr)
        return rt_record(cudaErrorInvalidValue);
    CUdeviceptr address = 0;
    return allocation_result(rt_driver.mem_alloc_from_pool_async(&address, size, memPool, stream), &address, ptr);
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *memPool, int device)
{
    RT_ENTER();
    CUdevice handle;
    CUresult result = rt_driver.device_get(&handle, device);
    if (result == CUDA_SUCCESS)
        result = rt_driver.device_get_default_mem_pool(memPool, handle);
    return rt_result(result);
}

cudaError_t cudaMemPoolCreate(cudaMemPool_t *memPool, const struct cudaMemPoolProps *poolProps)
{
    RT_ENTER();
    if (!memPool || !poolProps)
        return rt_record(cudaErrorInvalidValue);
    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = (CUmemAllocationType)poolProps->allocType;
    props.handleTypes = (CUmemAllocationHandleType)poolProps->handleTypes;
    props.location.type = (CUmemLocationType)poolProps->location.type;
    props.location.id = poolProps->location.id;
    props.win32SecurityAttributes = poolProps->win32SecurityAttributes;
    props.maxSize = poolProps->maxSize;
    props.usage = poolProps->usage;
    return rt_result(rt_driver.mem_pool_create(memPool, &props));
}

cudaError_t cudaMemPoolDestroy(cudaMemPool_t memPool)
{
    RT_ENTER();
    return rt_result(rt_driver.mem_pool_destroy(memPool));
}

/* ---- page-locked host memory ------------------------------------------------------------ */

/* cudaMallocHost is cuMemAllocHost (memory a created context owns when current, in CUDA's list for
 * cuCtxDestroy), cudaHostAlloc cuMemHostAlloc with its flags. */
static cudaError_t allocate_host(void **ptr, size_t size, bool with_flags, unsigned int flags)
{
    RT_ENTER();
    if (!ptr)
        return rt_record(cudaErrorInvalidValue);
    if (size == 0) {
        *ptr = NULL;
        return cudaSuccess;
    }
    /* cudaHostAlloc flags have the values of the driver's CU_MEMHOSTALLOC_* flags. */
    CUresult result = with_flags ? rt_driver.mem_host_alloc(ptr, size, flags) : rt_driver.mem_alloc_host(ptr, size);
    if (result != CUDA_SUCCESS)
        *ptr = NULL;
    return rt_result(result);
}

cudaError_t cudaMallocHost(void **ptr, size_t size)
{
    return allocate_host(ptr, size, false, 0);
}

cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags)
{
    return allocate_host(pHost, size, true, flags);
}

cudaError_t cudaFreeHost(void *ptr)
{
    RT_ENTER();
    if (!ptr)
        return cudaSuccess;
    return rt_result(rt_driver.mem_free_host(ptr));
}

/* ---- copies and fills ------------------------------------------------------------------- */

static bool valid_copy_kind(enum cudaMemcpyKind kind)
{
    return kind >= cudaMemcpyHostToHost && kind <= cudaMemcpyDefault;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
    RT_ENTER();
    if (!valid_copy_kind(kind))
        return rt_record(cudaErrorInvalidMemcpyDirection);
    return rt_result(rt_driver.copy(device_address(dst), device_address(src), count));
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind, cudaStream_t stream)
{
    RT_ENTER();
    if (!valid_copy_kind(kind))
        return rt_record(cudaErrorInvalidMemcpyDirection);
    return rt_result(rt_driver.copy_async(device_address(dst), device_address(src), count, stream));
}

cudaError_t cudaMemset(void *devPtr, int value, size_t count)
{
    RT_ENTER();
    return rt_result(rt_driver.fill_bytes(device_address(devPtr), (unsigned char)value, count));
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
{
    RT_ENTER();
    return rt_result(rt_driver.fill_bytes_async(device_address(devPtr), (unsigned char)value, count, stream));
}
