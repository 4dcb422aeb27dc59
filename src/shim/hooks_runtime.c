/* shim/hooks_runtime.c — the CUDA runtime's allocation functions, exported by the shim so that a
 * program's (or PyTorch's) PLT calls land here first. Each wrapper calls the real function with
 * the reentry guard held, so the driver calls the runtime makes underneath are not counted again,
 * and turns the outcome into exactly one event. Frees are recorded before the real free runs, so
 * an address the driver hands out again at once cannot race with its old record.
 */
#include <stdint.h>

#include "shim/device_info.h"
#include "shim/hook_registry.h"
#include "shim/hooks.h"
#include "shim/oom_capture.h"
#include "shim/real_functions.h"
#include "shim/shim_state.h"

static int current_device(void)
{
    int device = 0;
    __typeof__(cudaGetDevice) *get_device = REAL_FUNCTION(cudaGetDevice);
    if (!get_device || get_device(&device) != cudaSuccess)
        return 0;
    return device;
}

/* Where the memory belongs: the host; the stream's device (stream-ordered); the memory's own device
 * (pool allocations, the stream's device when the pool could not allocate); else the current
 * device. */
enum owner { OWNER_CURRENT, OWNER_STREAM, OWNER_POOL };

static void record_runtime_alloc(enum vt_api api, enum vt_memory_kind kind, cudaError_t status,
                                 void *const *result, size_t size_bytes, cudaStream_t stream, enum owner owner)
{
    if (status != cudaSuccess && status != cudaErrorMemoryAllocation)
        return; /* other errors allocate nothing and are not out of memory */
    int device;
    if (kind == VT_KIND_HOST_PINNED)
        device = RECORDER_DEVICE_HOST;
    else if (owner == OWNER_CURRENT)
        device = current_device();
    else {
        device = device_info_stream_device((uintptr_t)stream, current_device);
        if (owner == OWNER_POOL && status == cudaSuccess && result)
            device = device_info_pointer_device((uintptr_t)*result, device);
    }
    device_info_note(device);
    if (status == cudaSuccess && result)
        recorder_record_alloc(api, kind, device, (uintptr_t)*result, size_bytes, (uintptr_t)stream);
    else if (status == cudaErrorMemoryAllocation)
        oom_capture(api, kind, device, size_bytes);
}

static void record_runtime_free(enum vt_api api, const void *address, cudaStream_t stream)
{
    if (address)
        recorder_record_free(api, (uintptr_t)address, (uintptr_t)stream);
}

#define MISSING cudaErrorInitializationError

cudaError_t shim_wrapper_cudaMalloc(void **devPtr, size_t size)
{
    REAL_OR_RETURN(cudaMalloc, MISSING);
    if (!hook_begin())
        return real(devPtr, size);
    cudaError_t status = real(devPtr, size);
    record_runtime_alloc(VT_API_cudaMalloc, VT_KIND_DEVICE, status, devPtr, size, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaMalloc, "cudaMalloc")

cudaError_t shim_wrapper_cudaMallocAsync(void **devPtr, size_t size, cudaStream_t hStream)
{
    REAL_OR_RETURN(cudaMallocAsync, MISSING);
    if (!hook_begin())
        return real(devPtr, size, hStream);
    cudaError_t status = real(devPtr, size, hStream);
    record_runtime_alloc(VT_API_cudaMallocAsync, VT_KIND_DEVICE, status, devPtr, size, hStream, OWNER_STREAM);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaMallocAsync, "cudaMallocAsync")

cudaError_t shim_wrapper_cudaMallocFromPoolAsync(void **ptr, size_t size, cudaMemPool_t memPool, cudaStream_t stream)
{
    REAL_OR_RETURN(cudaMallocFromPoolAsync, MISSING);
    if (!hook_begin())
        return real(ptr, size, memPool, stream);
    cudaError_t status = real(ptr, size, memPool, stream);
    record_runtime_alloc(VT_API_cudaMallocFromPoolAsync, VT_KIND_DEVICE, status, ptr, size, stream, OWNER_POOL);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaMallocFromPoolAsync, "cudaMallocFromPoolAsync")

cudaError_t shim_wrapper_cudaMallocManaged(void **devPtr, size_t size, unsigned int flags)
{
    REAL_OR_RETURN(cudaMallocManaged, MISSING);
    if (!hook_begin())
        return real(devPtr, size, flags);
    cudaError_t status = real(devPtr, size, flags);
    record_runtime_alloc(VT_API_cudaMallocManaged, VT_KIND_MANAGED, status, devPtr, size, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaMallocManaged, "cudaMallocManaged")

cudaError_t shim_wrapper_cudaMallocPitch(void **devPtr, size_t *pitch, size_t width, size_t height)
{
    REAL_OR_RETURN(cudaMallocPitch, MISSING);
    if (!hook_begin())
        return real(devPtr, pitch, width, height);
    cudaError_t status = real(devPtr, pitch, width, height);
    size_t size = status == cudaSuccess && pitch ? *pitch * height : width * height;
    record_runtime_alloc(VT_API_cudaMallocPitch, VT_KIND_DEVICE, status, devPtr, size, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaMallocPitch, "cudaMallocPitch")

cudaError_t shim_wrapper_cudaMallocHost(void **ptr, size_t size)
{
    REAL_OR_RETURN(cudaMallocHost, MISSING);
    if (!hook_begin())
        return real(ptr, size);
    cudaError_t status = real(ptr, size);
    record_runtime_alloc(VT_API_cudaMallocHost, VT_KIND_HOST_PINNED, status, ptr, size, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaMallocHost, "cudaMallocHost")

cudaError_t shim_wrapper_cudaHostAlloc(void **pHost, size_t size, unsigned int flags)
{
    REAL_OR_RETURN(cudaHostAlloc, MISSING);
    if (!hook_begin())
        return real(pHost, size, flags);
    cudaError_t status = real(pHost, size, flags);
    record_runtime_alloc(VT_API_cudaHostAlloc, VT_KIND_HOST_PINNED, status, pHost, size, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cudaHostAlloc, "cudaHostAlloc")

cudaError_t shim_wrapper_cudaFree(void *devPtr)
{
    REAL_OR_RETURN(cudaFree, MISSING);
    if (!hook_begin())
        return real(devPtr);
    record_runtime_free(VT_API_cudaFree, devPtr, 0);
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
    record_runtime_free(VT_API_cudaFreeAsync, devPtr, hStream);
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
    record_runtime_free(VT_API_cudaFreeHost, ptr, 0);
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
    recorder_record_device_reset(VT_API_cudaDeviceReset, current_device());
    cudaError_t status = real();
    hook_end();
    return status;
}
SHIM_EXPORT(cudaDeviceReset, "cudaDeviceReset")
