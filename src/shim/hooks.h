/* shim/hooks.h — declarations of every wrapper, with the exact types of the functions they stand
 * in for (taken from the CUDA headers, so the compiler checks each signature).
 *
 * Wrappers are hidden functions named shim_wrapper_<id>; SHIM_EXPORT publishes one under the real
 * function's name. The shim itself always refers to the hidden name, so no other library can
 * interpose on the address it hands out, and address_in_shim() recognises it.
 */
#ifndef VT_SHIM_HOOKS_H
#define VT_SHIM_HOOKS_H

#include <cuda.h>
#include <cuda_runtime_api.h>

/* cuda.h maps cuGetProcAddress to the 5-argument _v2; the 4-argument one still exists. */
typedef CUresult cuGetProcAddress_legacy_function(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);
/* cuda.h maps cuDevicePrimaryCtxReset to _v2; the unversioned one (same arguments) still exists. */
typedef CUresult cuDevicePrimaryCtxReset_legacy_function(CUdevice dev);

#define SHIM_WRAPPER(id, type) extern __typeof__(type) shim_wrapper_##id __attribute__((visibility("hidden")));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
SHIM_WRAPPER(cudaMalloc, cudaMalloc)
SHIM_WRAPPER(cudaFree, cudaFree)
SHIM_WRAPPER(cudaMallocAsync, cudaMallocAsync)
SHIM_WRAPPER(cudaFreeAsync, cudaFreeAsync)
SHIM_WRAPPER(cudaMallocFromPoolAsync, cudaMallocFromPoolAsync)
SHIM_WRAPPER(cudaMallocHost, cudaMallocHost)
SHIM_WRAPPER(cudaHostAlloc, cudaHostAlloc)
SHIM_WRAPPER(cudaFreeHost, cudaFreeHost)
SHIM_WRAPPER(cudaMallocManaged, cudaMallocManaged)
SHIM_WRAPPER(cudaMallocPitch, cudaMallocPitch)
SHIM_WRAPPER(cudaGetDriverEntryPoint, cudaGetDriverEntryPoint)
SHIM_WRAPPER(cudaGetDriverEntryPointByVersion, cudaGetDriverEntryPointByVersion)
SHIM_WRAPPER(cuGetProcAddress_legacy, cuGetProcAddress_legacy_function)
SHIM_WRAPPER(cuGetProcAddress_v2, cuGetProcAddress_v2)
SHIM_WRAPPER(cuMemAlloc_v2, cuMemAlloc_v2)
SHIM_WRAPPER(cuMemAllocPitch_v2, cuMemAllocPitch_v2)
SHIM_WRAPPER(cuMemFree_v2, cuMemFree_v2)
SHIM_WRAPPER(cuMemAllocHost_v2, cuMemAllocHost_v2)
SHIM_WRAPPER(cuMemHostAlloc, cuMemHostAlloc)
SHIM_WRAPPER(cuMemFreeHost, cuMemFreeHost)
SHIM_WRAPPER(cuMemAllocManaged, cuMemAllocManaged)
SHIM_WRAPPER(cuMemAllocAsync, cuMemAllocAsync)
SHIM_WRAPPER(cuMemAllocAsync_ptsz, cuMemAllocAsync)
SHIM_WRAPPER(cuMemFreeAsync, cuMemFreeAsync)
SHIM_WRAPPER(cuMemFreeAsync_ptsz, cuMemFreeAsync)
SHIM_WRAPPER(cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync)
SHIM_WRAPPER(cuMemAllocFromPoolAsync_ptsz, cuMemAllocFromPoolAsync)
SHIM_WRAPPER(cuMemCreate, cuMemCreate)
SHIM_WRAPPER(cuMemRelease, cuMemRelease)
SHIM_WRAPPER(cuMemMap, cuMemMap)
SHIM_WRAPPER(cuMemUnmap, cuMemUnmap)
SHIM_WRAPPER(cuMemAddressReserve, cuMemAddressReserve)
SHIM_WRAPPER(cuMemAddressFree, cuMemAddressFree)
SHIM_WRAPPER(cudaDeviceReset, cudaDeviceReset)
SHIM_WRAPPER(cuDevicePrimaryCtxReset_legacy, cuDevicePrimaryCtxReset_legacy_function)
SHIM_WRAPPER(cuDevicePrimaryCtxReset_v2, cuDevicePrimaryCtxReset_v2)
#pragma GCC diagnostic pop
#undef SHIM_WRAPPER

/* Publishes shim_wrapper_<id> under the symbol name `exported` (in the same file as the wrapper). */
#define SHIM_EXPORT(id, exported)                                                        \
    extern __typeof__(shim_wrapper_##id) shim_export_##id __asm__(exported)              \
        __attribute__((alias("shim_wrapper_" #id), visibility("default")));

/* The real function of hook `id` as a pointer of the wrapper's type; the enclosing wrapper
 * returns `missing_status` when it cannot be found. */
#define REAL_OR_RETURN(id, missing_status)                                               \
    __typeof__(shim_wrapper_##id) *real = (__typeof__(shim_wrapper_##id) *)hook_real(HOOK_##id); \
    if (!real) {                                                                         \
        hook_report_missing(HOOK_##id);                                                  \
        return missing_status;                                                           \
    }

#endif
