/* shim/hooks_driver.c — the CUDA driver's allocation functions. Programs rarely call these
 * through the PLT: the runtime, CuPy, JAX, NCCL and PyTorch's expandable segments get them from
 * cuGetProcAddress or dlsym, and hooks_lookup.c hands out these wrappers there. Each is also
 * exported under the driver's own symbol for programs linked against libcuda.
 *
 * A driver call made while a runtime wrapper is active (the runtime's cudaMalloc calling
 * cuMemAlloc) is nested and passes through: one user call, one event. The allocations (cuMemCreate
 * included) are DEFINE_ALLOC_WRAPPER's (hooks_alloc.h: device attribution, --limit, out-of-memory
 * capture); the frees, the VMM placement calls, the context resets and the created contexts
 * (cuCtxCreate, cuCtxDestroy) are written here.
 *
 * Virtual memory: cuMemCreate / cuMemRelease are physical memory (counted until released and
 * unmapped), cuMemMap / cuMemUnmap place it at addresses (recorded, so reports can say what a
 * handle backs, never counted as memory), cuMemAddressReserve / cuMemAddressFree are address space
 * only (recorded, never counted). An unmap or address free covers a range: the hooks pass its size.
 */
#include <stdint.h>

#include "shim/hooks_alloc.h"

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

/* The allocations (hooks_alloc.h): the result is *dptr (*pp for pinned memory); cuMemAllocPitch
 * obtains pitch * height. The stream-ordered ones come in two variants (legacy and per-thread
 * default stream) with one signature and one behaviour. */

DEFINE_ALLOC_WRAPPER(DRIVER, cuMemAlloc_v2, "cuMemAlloc_v2", VT_KIND_DEVICE, OWNER_CURRENT,
                     ALLOC_DEVICE_LATER, 0, (CUdeviceptr *dptr, size_t bytesize), (dptr, bytesize), bytesize,
                     ALLOC_RESULT(dptr), bytesize)
DEFINE_ALLOC_WRAPPER(DRIVER, cuMemAllocPitch_v2, "cuMemAllocPitch_v2", VT_KIND_DEVICE,
                     OWNER_CURRENT, ALLOC_DEVICE_LATER, 0,
                     (CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height, unsigned int ElementSizeBytes),
                     (dptr, pPitch, WidthInBytes, Height, ElementSizeBytes), WidthInBytes * Height, ALLOC_RESULT(dptr),
                     status == CUDA_SUCCESS && pPitch ? *pPitch * Height : WidthInBytes * Height)
DEFINE_ALLOC_WRAPPER(DRIVER, cuMemAllocManaged, "cuMemAllocManaged", VT_KIND_MANAGED,
                     OWNER_CURRENT, ALLOC_DEVICE_LATER, 0, (CUdeviceptr *dptr, size_t bytesize, unsigned int flags),
                     (dptr, bytesize, flags), bytesize, ALLOC_RESULT(dptr), bytesize)
DEFINE_ALLOC_WRAPPER(DRIVER, cuMemAllocHost_v2, "cuMemAllocHost_v2", VT_KIND_HOST_PINNED,
                     OWNER_CURRENT, ALLOC_DEVICE_LATER, 0, (void **pp, size_t bytesize), (pp, bytesize), bytesize,
                     ALLOC_RESULT(pp), bytesize)
DEFINE_ALLOC_WRAPPER(DRIVER, cuMemHostAlloc, "cuMemHostAlloc", VT_KIND_HOST_PINNED,
                     OWNER_CURRENT, ALLOC_DEVICE_LATER, 0, (void **pp, size_t bytesize, unsigned int Flags),
                     (pp, bytesize, Flags), bytesize, ALLOC_RESULT(pp), bytesize)

#define DEFINE_MEM_ALLOC_ASYNC(id, exported)                                                                     \
    DEFINE_ALLOC_WRAPPER(DRIVER, id, exported, VT_KIND_DEVICE, OWNER_STREAM,            \
                         ALLOC_DEVICE_LATER, hStream, (CUdeviceptr * dptr, size_t bytesize, CUstream hStream),   \
                         (dptr, bytesize, hStream), bytesize, ALLOC_RESULT(dptr), bytesize)
#define DEFINE_MEM_ALLOC_FROM_POOL_ASYNC(id, exported)                                                           \
    DEFINE_ALLOC_WRAPPER(DRIVER, id, exported, VT_KIND_DEVICE, OWNER_POOL,      \
                         ALLOC_DEVICE_LATER, hStream,                                                           \
                         (CUdeviceptr * dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream),             \
                         (dptr, bytesize, pool, hStream), bytesize, ALLOC_RESULT(dptr), bytesize)

DEFINE_MEM_ALLOC_ASYNC(cuMemAllocAsync, "cuMemAllocAsync")
DEFINE_MEM_ALLOC_ASYNC(cuMemAllocAsync_ptsz, "cuMemAllocAsync_ptsz")
DEFINE_MEM_ALLOC_FROM_POOL_ASYNC(cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync")
DEFINE_MEM_ALLOC_FROM_POOL_ASYNC(cuMemAllocFromPoolAsync_ptsz, "cuMemAllocFromPoolAsync_ptsz")

/* cuMemCreate: physical memory on the device (or host) its properties name. */
static int allocation_device(const CUmemAllocationProp *prop)
{
    if (prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE)
        return prop->location.id;
    return prop ? RECORDER_DEVICE_HOST : driver_current_device();
}

static enum vt_memory_kind allocation_kind(const CUmemAllocationProp *prop)
{
    return allocation_device(prop) == RECORDER_DEVICE_HOST ? VT_KIND_HOST_PINNED : VT_KIND_DEVICE;
}

DEFINE_ALLOC_WRAPPER(DRIVER, cuMemCreate, "cuMemCreate", allocation_kind(prop), OWNER_GIVEN,
                     allocation_device(prop), 0,
                     (CUmemGenericAllocationHandle * handle, size_t size, const CUmemAllocationProp *prop,
                      unsigned long long flags),
                     (handle, size, prop, flags), size, handle ? *handle : 0, size)


/* The frees that take one argument: a pointer, or a cuMemCreate handle (`record` says which). The
 * record goes before the real free. */
#define DEFINE_MEM_FREE(id, exported, argument_type, record)                                   \
    CUresult shim_wrapper_##id(argument_type key)                                              \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real(key);                                                                  \
        record(HOOK_API(id), (uint64_t)(uintptr_t)key, 0);                                     \
        CUresult status = real(key);                                                           \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

DEFINE_MEM_FREE(cuMemFree_v2, "cuMemFree_v2", CUdeviceptr, record_driver_free)
DEFINE_MEM_FREE(cuMemFreeHost, "cuMemFreeHost", void *, record_driver_free)
DEFINE_MEM_FREE(cuMemRelease, "cuMemRelease", CUmemGenericAllocationHandle,
                record_handle_release)

#define DEFINE_MEM_FREE_ASYNC(id, exported)                                                    \
    CUresult shim_wrapper_##id(CUdeviceptr dptr, CUstream hStream)                             \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real(dptr, hStream);                                                        \
        record_driver_free(HOOK_API(id), dptr, hStream);                                       \
        CUresult status = real(dptr, hStream);                                                 \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

DEFINE_MEM_FREE_ASYNC(cuMemFreeAsync, "cuMemFreeAsync")
DEFINE_MEM_FREE_ASYNC(cuMemFreeAsync_ptsz, "cuMemFreeAsync_ptsz")

/* --- virtual memory management ------------------------------------------------------------- */




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
    recorder_record_unmap(HOOK_API(cuMemUnmap), ptr, size);
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
        recorder_record_alloc(HOOK_API(cuMemAddressReserve), VT_KIND_ADDRESS_SPACE, driver_current_device(), *ptr,
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
        recorder_record_unmap(HOOK_API(cuMemAddressFree), ptr, size);
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
        recorder_record_device_reset(HOOK_API(id), (int)dev);                                  \
        CUresult status = real(dev);                                                           \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

DEFINE_PRIMARY_CTX_RESET(cuDevicePrimaryCtxReset_legacy, "cuDevicePrimaryCtxReset")
DEFINE_PRIMARY_CTX_RESET(cuDevicePrimaryCtxReset_v2, "cuDevicePrimaryCtxReset_v2")

/* Contexts created with cuCtxCreate (docs/architecture.md, "Device resets"): a success is noted
 * (recorder_record_context_created: from then on allocations note their owning context), and
 * cuCtxDestroy of such a context frees the memory it owns, recorded before the real call; of any
 * other context (a primary one) it is the call only. `params`, `args`: as DEFINE_ALLOC_WRAPPER's. */
#define DEFINE_CTX_CREATE(id, exported, params, args)                                          \
    CUresult shim_wrapper_##id params                                                          \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real args;                                                                  \
        CUresult status = real args;                                                           \
        if (status == CUDA_SUCCESS && pctx)                                                    \
            recorder_record_context_created((uint64_t)(uintptr_t)*pctx, (int)dev);             \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

DEFINE_CTX_CREATE(cuCtxCreate_legacy, "cuCtxCreate", (CUcontext * pctx, unsigned int flags, CUdevice dev),
                  (pctx, flags, dev))
DEFINE_CTX_CREATE(cuCtxCreate_v2, "cuCtxCreate_v2", (CUcontext * pctx, unsigned int flags, CUdevice dev),
                  (pctx, flags, dev))
DEFINE_CTX_CREATE(cuCtxCreate_v3, "cuCtxCreate_v3",
                  (CUcontext * pctx, CUexecAffinityParam * paramsArray, int numParams, unsigned int flags, CUdevice dev),
                  (pctx, paramsArray, numParams, flags, dev))
DEFINE_CTX_CREATE(cuCtxCreate_v4, "cuCtxCreate_v4",
                  (CUcontext * pctx, CUctxCreateParams * ctxCreateParams, unsigned int flags, CUdevice dev),
                  (pctx, ctxCreateParams, flags, dev))

#define DEFINE_CTX_DESTROY(id, exported)                                                       \
    CUresult shim_wrapper_##id(CUcontext ctx)                                                  \
    {                                                                                          \
        REAL_OR_RETURN(id, MISSING);                                                           \
        if (!hook_begin())                                                                     \
            return real(ctx);                                                                  \
        recorder_record_context_destroy(HOOK_API(id), (uint64_t)(uintptr_t)ctx);               \
        CUresult status = real(ctx);                                                           \
        hook_end();                                                                            \
        return status;                                                                         \
    }                                                                                          \
    SHIM_EXPORT(id, exported)

DEFINE_CTX_DESTROY(cuCtxDestroy_legacy, "cuCtxDestroy")
DEFINE_CTX_DESTROY(cuCtxDestroy_v2, "cuCtxDestroy_v2")
