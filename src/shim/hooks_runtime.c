/* shim/hooks_runtime.c — the CUDA runtime's allocation functions, exported by the shim so that a
 * program's (or PyTorch's) PLT calls land here first. Each wrapper calls the real function with
 * the reentry guard held, so the driver calls the runtime makes underneath are not counted again,
 * and turns the outcome into exactly one event. The allocations are DEFINE_ALLOC_WRAPPER's
 * (hooks_alloc.h: device attribution, --limit, out-of-memory capture); the frees and the device
 * reset are written here.
 */
#include <stdint.h>

#include "shim/hooks_alloc.h"

/* The allocations (hooks_alloc.h): the result is *ptr; cudaMallocPitch obtains pitch * height. */

DEFINE_ALLOC_WRAPPER(RUNTIME, cudaMalloc, "cudaMalloc", VT_KIND_DEVICE, OWNER_CURRENT,
                     ALLOC_DEVICE_LATER, 0, (void **devPtr, size_t size), (devPtr, size), size, ALLOC_RESULT(devPtr), size)
DEFINE_ALLOC_WRAPPER(RUNTIME, cudaMallocAsync, "cudaMallocAsync", VT_KIND_DEVICE,
                     OWNER_STREAM, ALLOC_DEVICE_LATER, hStream, (void **devPtr, size_t size, cudaStream_t hStream),
                     (devPtr, size, hStream), size, ALLOC_RESULT(devPtr), size)
DEFINE_ALLOC_WRAPPER(RUNTIME, cudaMallocFromPoolAsync, "cudaMallocFromPoolAsync", VT_KIND_DEVICE, OWNER_POOL, ALLOC_DEVICE_LATER, stream,
                     (void **ptr, size_t size, cudaMemPool_t memPool, cudaStream_t stream),
                     (ptr, size, memPool, stream), size, ALLOC_RESULT(ptr), size)
DEFINE_ALLOC_WRAPPER(RUNTIME, cudaMallocManaged, "cudaMallocManaged", VT_KIND_MANAGED,
                     OWNER_CURRENT, ALLOC_DEVICE_LATER, 0, (void **devPtr, size_t size, unsigned int flags),
                     (devPtr, size, flags), size, ALLOC_RESULT(devPtr), size)
DEFINE_ALLOC_WRAPPER(RUNTIME, cudaMallocPitch, "cudaMallocPitch", VT_KIND_DEVICE,
                     OWNER_CURRENT, ALLOC_DEVICE_LATER, 0, (void **devPtr, size_t *pitch, size_t width, size_t height),
                     (devPtr, pitch, width, height), width * height, ALLOC_RESULT(devPtr),
                     status == cudaSuccess && pitch ? *pitch * height : width * height)
DEFINE_ALLOC_WRAPPER(RUNTIME, cudaMallocHost, "cudaMallocHost", VT_KIND_HOST_PINNED,
                     OWNER_CURRENT, ALLOC_DEVICE_LATER, 0, (void **ptr, size_t size), (ptr, size), size, ALLOC_RESULT(ptr),
                     size)
DEFINE_ALLOC_WRAPPER(RUNTIME, cudaHostAlloc, "cudaHostAlloc", VT_KIND_HOST_PINNED,
                     OWNER_CURRENT, ALLOC_DEVICE_LATER, 0, (void **pHost, size_t size, unsigned int flags),
                     (pHost, size, flags), size, ALLOC_RESULT(pHost), size)

/* The frees: recorded before the real free runs, so an address the driver hands out again at once
 * cannot race with its old record. (--limit needs nothing here: a free lowers the use it checks.) */
static void record_runtime_free(enum vt_api api, const void *address, cudaStream_t stream)
{
    if (address)
        recorder_record_free(api, (uintptr_t)address, (uintptr_t)stream);
}

#define MISSING cudaErrorInitializationError

cudaError_t shim_wrapper_cudaFree(void *devPtr)
{
    REAL_OR_RETURN(cudaFree, MISSING);
    if (!hook_begin())
        return real(devPtr);
    record_runtime_free(HOOK_API(cudaFree), devPtr, 0);
    cudaError_t status = real(devPtr);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaFree, "cudaFree")

cudaError_t shim_wrapper_cudaFreeAsync(void *devPtr, cudaStream_t hStream)
{
    REAL_OR_RETURN(cudaFreeAsync, MISSING);
    if (!hook_begin())
        return real(devPtr, hStream);
    record_runtime_free(HOOK_API(cudaFreeAsync), devPtr, hStream);
    cudaError_t status = real(devPtr, hStream);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaFreeAsync, "cudaFreeAsync")

cudaError_t shim_wrapper_cudaFreeHost(void *ptr)
{
    REAL_OR_RETURN(cudaFreeHost, MISSING);
    if (!hook_begin())
        return real(ptr);
    record_runtime_free(HOOK_API(cudaFreeHost), ptr, 0);
    cudaError_t status = real(ptr);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaFreeHost, "cudaFreeHost")

/* Destroys the current device's primary context and every allocation it owns (device and managed
 * memory of that device): recorded as one free per live allocation, before the real call, as the
 * other frees are. */
cudaError_t shim_wrapper_cudaDeviceReset(void)
{
    REAL_OR_RETURN(cudaDeviceReset, MISSING);
    if (!hook_begin())
        return real();
    recorder_record_device_reset(HOOK_API(cudaDeviceReset), runtime_current_device());
    cudaError_t status = real();
    hook_end();
    return status;
}
SHIM_EXPORT(cudaDeviceReset, "cudaDeviceReset")
