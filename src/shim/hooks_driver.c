/* shim/hooks_driver.c — the CUDA driver's allocation functions. Programs rarely call these
 * through the PLT: the runtime, CuPy, JAX, NCCL and PyTorch's expandable segments get them from
 * cuGetProcAddress or dlsym, and hooks_lookup.c hands out these wrappers there. Each is also
 * exported under the driver's own symbol for programs linked against libcuda.
 *
 * A driver call made while a runtime wrapper is active (the runtime's cudaMalloc calling
 * cuMemAlloc) is nested and passes through: one user call, one event.
 *
 * Virtual memory: cuMemCreate / cuMemRelease are physical memory (counted until released and
 * unmapped), cuMemMap / cuMemUnmap place it at addresses (recorded, so reports can say what a
 * handle backs, never counted as memory), cuMemAddressReserve / cuMemAddressFree are address space
 * only (recorded, never counted). An unmap or address free covers a range: the hooks pass its size.
 */
#include <stdint.h>

#include "shim/device_info.h"
#include "shim/hook_registry.h"
#include "shim/hooks.h"
#include "shim/oom_capture.h"
#include "shim/real_functions.h"
#include "shim/shim_state.h"

static int current_context_device(void)
{
    CUdevice device = 0;
    __typeof__(cuCtxGetDevice) *get_device = REAL_FUNCTION(cuCtxGetDevice);
    if (!get_device || get_device(&device) != CUDA_SUCCESS)
        return 0;
    return device;
}

/* Where the memory belongs: the host; the stream's device (stream-ordered); the memory's own device
 * (pool allocations, the stream's device when the pool could not allocate); else the current
 * context's device. */
enum owner { OWNER_CURRENT, OWNER_STREAM, OWNER_POOL };

static void record_driver_alloc(enum vt_api api, enum vt_memory_kind kind, CUresult status, uint64_t address,
                                size_t size_bytes, CUstream stream, enum owner owner)
{
    if (status != CUDA_SUCCESS && status != CUDA_ERROR_OUT_OF_MEMORY)
        return;
    int device;
    if (kind == VT_KIND_HOST_PINNED)
        device = RECORDER_DEVICE_HOST;
    else if (owner == OWNER_CURRENT)
        device = current_context_device();
    else {
        device = device_info_stream_device((uintptr_t)stream, current_context_device);
        if (owner == OWNER_POOL && status == CUDA_SUCCESS)
            device = device_info_pointer_device(address, device);
    }
    device_info_note(device);
    if (status == CUDA_SUCCESS)
        recorder_record_alloc(api, kind, device, address, size_bytes, (uintptr_t)stream);
    else
        oom_capture(api, kind, device, size_bytes);
}

static void record_driver_free(enum vt_api api, uint64_t address, CUstream stream)
{
    if (address)
        recorder_record_free(api, address, (uintptr_t)stream);
}

static void record_handle_release(enum vt_api api, uint64_t handle, CUstream stream)
{
    (void)api, (void)stream; /* DEFINE_MEM_FREE's form: always cuMemRelease, no stream */
    if (handle)
        recorder_record_release(handle);
}

#define MISSING CUDA_ERROR_NOT_INITIALIZED

CUresult shim_wrapper_cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    REAL_OR_RETURN(cuMemAlloc_v2, MISSING);
    if (!hook_begin())
        return real(dptr, bytesize);
    CUresult status = real(dptr, bytesize);
    record_driver_alloc(VT_API_cuMemAlloc, VT_KIND_DEVICE, status, dptr ? *dptr : 0, bytesize, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemAlloc_v2, "cuMemAlloc_v2")

CUresult shim_wrapper_cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                                         unsigned int ElementSizeBytes)
{
    REAL_OR_RETURN(cuMemAllocPitch_v2, MISSING);
    if (!hook_begin())
        return real(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
    CUresult status = real(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
    size_t size = status == CUDA_SUCCESS && pPitch ? *pPitch * Height : WidthInBytes * Height;
    record_driver_alloc(VT_API_cuMemAllocPitch, VT_KIND_DEVICE, status, dptr ? *dptr : 0, size, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemAllocPitch_v2, "cuMemAllocPitch_v2")

CUresult shim_wrapper_cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    REAL_OR_RETURN(cuMemAllocManaged, MISSING);
    if (!hook_begin())
        return real(dptr, bytesize, flags);
    CUresult status = real(dptr, bytesize, flags);
    record_driver_alloc(VT_API_cuMemAllocManaged, VT_KIND_MANAGED, status, dptr ? *dptr : 0, bytesize, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemAllocManaged, "cuMemAllocManaged")


CUresult shim_wrapper_cuMemAllocHost_v2(void **pp, size_t bytesize)
{
    REAL_OR_RETURN(cuMemAllocHost_v2, MISSING);
    if (!hook_begin())
        return real(pp, bytesize);
    CUresult status = real(pp, bytesize);
    record_driver_alloc(VT_API_cuMemAllocHost, VT_KIND_HOST_PINNED, status, pp ? (uintptr_t)*pp : 0, bytesize, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemAllocHost_v2, "cuMemAllocHost_v2")

CUresult shim_wrapper_cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    REAL_OR_RETURN(cuMemHostAlloc, MISSING);
    if (!hook_begin())
        return real(pp, bytesize, Flags);
    CUresult status = real(pp, bytesize, Flags);
    record_driver_alloc(VT_API_cuMemHostAlloc, VT_KIND_HOST_PINNED, status, pp ? (uintptr_t)*pp : 0, bytesize, 0, OWNER_CURRENT);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemHostAlloc, "cuMemHostAlloc")


/* The frees that take one argument: a pointer, or a cuMemCreate handle (`record` says which). The
 * record goes before the real free. */
#define DEFINE_MEM_FREE(id, exported, api, argument_type, record)                              \
    CUresult shim_wrapper_##id(argument_type key)                                              \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real(key);                                                                  \
        record(api, (uint64_t)(uintptr_t)key, 0);                                              \
        CUresult status = real(key);                                                           \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

DEFINE_MEM_FREE(cuMemFree_v2, "cuMemFree_v2", VT_API_cuMemFree, CUdeviceptr, record_driver_free)
DEFINE_MEM_FREE(cuMemFreeHost, "cuMemFreeHost", VT_API_cuMemFreeHost, void *, record_driver_free)
DEFINE_MEM_FREE(cuMemRelease, "cuMemRelease", VT_API_cuMemRelease, CUmemGenericAllocationHandle,
                record_handle_release)

/* The stream-ordered functions come in two variants (legacy and per-thread default stream) with
 * one signature and one behaviour; each macro defines the wrapper for one variant. */
#define DEFINE_MEM_ALLOC_ASYNC(id, exported)                                                   \
    CUresult shim_wrapper_##id(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)           \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real(dptr, bytesize, hStream);                                              \
        CUresult status = real(dptr, bytesize, hStream);                                       \
        record_driver_alloc(VT_API_cuMemAllocAsync, VT_KIND_DEVICE, status, dptr ? *dptr : 0, bytesize, hStream, OWNER_STREAM); \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

#define DEFINE_MEM_ALLOC_FROM_POOL_ASYNC(id, exported)                                         \
    CUresult shim_wrapper_##id(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream) \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real(dptr, bytesize, pool, hStream);                                        \
        CUresult status = real(dptr, bytesize, pool, hStream);                                 \
        record_driver_alloc(VT_API_cuMemAllocFromPoolAsync, VT_KIND_DEVICE, status, dptr ? *dptr : 0, bytesize, \
                            hStream, OWNER_POOL);                                              \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

#define DEFINE_MEM_FREE_ASYNC(id, exported)                                                    \
    CUresult shim_wrapper_##id(CUdeviceptr dptr, CUstream hStream)                             \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real(dptr, hStream);                                                        \
        record_driver_free(VT_API_cuMemFreeAsync, dptr, hStream);                              \
        CUresult status = real(dptr, hStream);                                                 \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

DEFINE_MEM_ALLOC_ASYNC(cuMemAllocAsync, "cuMemAllocAsync")
DEFINE_MEM_ALLOC_ASYNC(cuMemAllocAsync_ptsz, "cuMemAllocAsync_ptsz")
DEFINE_MEM_ALLOC_FROM_POOL_ASYNC(cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync")
DEFINE_MEM_ALLOC_FROM_POOL_ASYNC(cuMemAllocFromPoolAsync_ptsz, "cuMemAllocFromPoolAsync_ptsz")
DEFINE_MEM_FREE_ASYNC(cuMemFreeAsync, "cuMemFreeAsync")
DEFINE_MEM_FREE_ASYNC(cuMemFreeAsync_ptsz, "cuMemFreeAsync_ptsz")

/* --- virtual memory management ------------------------------------------------------------- */

static int allocation_device(const CUmemAllocationProp *prop)
{
    if (prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE)
        return prop->location.id;
    return prop ? RECORDER_DEVICE_HOST : current_context_device();
}

CUresult shim_wrapper_cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                                  unsigned long long flags)
{
    REAL_OR_RETURN(cuMemCreate, MISSING);
    if (!hook_begin())
        return real(handle, size, prop, flags);
    CUresult status = real(handle, size, prop, flags);
    int device = allocation_device(prop);
    device_info_note(device);
    enum vt_memory_kind kind = device == RECORDER_DEVICE_HOST ? VT_KIND_HOST_PINNED : VT_KIND_DEVICE;
    if (status == CUDA_SUCCESS && handle)
        recorder_record_alloc(VT_API_cuMemCreate, kind, device, *handle, size, 0);
    else if (status == CUDA_ERROR_OUT_OF_MEMORY)
        oom_capture(VT_API_cuMemCreate, kind, device, size);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemCreate, "cuMemCreate")


CUresult shim_wrapper_cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                               unsigned long long flags)
{
    REAL_OR_RETURN(cuMemMap, MISSING);
    if (!hook_begin())
        return real(ptr, size, offset, handle, flags);
    CUresult status = real(ptr, size, offset, handle, flags);
    if (status == CUDA_SUCCESS)
        recorder_record_mapping(ptr, size, handle);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemMap, "cuMemMap")

CUresult shim_wrapper_cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    REAL_OR_RETURN(cuMemUnmap, MISSING);
    if (!hook_begin())
        return real(ptr, size);
    recorder_record_unmap(VT_API_cuMemUnmap, ptr, size);
    CUresult status = real(ptr, size);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemUnmap, "cuMemUnmap")

CUresult shim_wrapper_cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                          unsigned long long flags)
{
    REAL_OR_RETURN(cuMemAddressReserve, MISSING);
    if (!hook_begin())
        return real(ptr, size, alignment, addr, flags);
    CUresult status = real(ptr, size, alignment, addr, flags);
    if (status == CUDA_SUCCESS && ptr)
        recorder_record_alloc(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, current_context_device(), *ptr,
                              size, 0);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemAddressReserve, "cuMemAddressReserve")

/* Recorded after the real call, and only when it succeeded: CUDA refuses to free a reservation
 * that still holds a mapping (docs/architecture.md, "Virtual memory"), and such a failure must not
 * free the mappings' memory in the accounting. (The cost: another thread's cuMemAddressReserve
 * that gets the same range back before this record is taken is retired by it; address space only.) */
CUresult shim_wrapper_cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
    REAL_OR_RETURN(cuMemAddressFree, MISSING);
    if (!hook_begin())
        return real(ptr, size);
    CUresult status = real(ptr, size);
    if (status == CUDA_SUCCESS)
        recorder_record_unmap(VT_API_cuMemAddressFree, ptr, size);
    hook_end();
    return status;
}
SHIM_EXPORT(cuMemAddressFree, "cuMemAddressFree")

/* A reset of a device's primary context frees every allocation of that device (device and managed
 * memory), as cudaDeviceReset does: one free per live allocation, recorded before the real call.
 * A CUdevice is the device's ordinal. */
#define DEFINE_PRIMARY_CTX_RESET(id, exported)                                                 \
    CUresult shim_wrapper_##id(CUdevice dev)                                                   \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real(dev);                                                                  \
        recorder_record_device_reset(VT_API_cuDevicePrimaryCtxReset, (int)dev);                \
        CUresult status = real(dev);                                                           \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

DEFINE_PRIMARY_CTX_RESET(cuDevicePrimaryCtxReset_legacy, "cuDevicePrimaryCtxReset")
DEFINE_PRIMARY_CTX_RESET(cuDevicePrimaryCtxReset_v2, "cuDevicePrimaryCtxReset_v2")
