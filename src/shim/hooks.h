/* shim/hooks.h — declarations of every wrapper, generated from the one list (SHIM_HOOK_LIST in
 * hook_registry.h), with the exact types of the functions they stand in for (taken from the CUDA
 * headers, so the compiler checks each signature).
 *
 * Wrappers are hidden functions named shim_wrapper_<id>; SHIM_EXPORT publishes one under the real
 * function's name. The shim itself always refers to the hidden name, so no other library can
 * interpose on the address it hands out, and address_in_shim() recognises it.
 */
#ifndef VT_SHIM_HOOKS_H
#define VT_SHIM_HOOKS_H

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "shim/hook_registry.h"

/* cuda.h maps cuGetProcAddress to the 5-argument _v2; the 4-argument one still exists. */
typedef CUresult cuGetProcAddress_legacy_function(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);
/* cuda.h maps cuDevicePrimaryCtxReset to _v2; the unversioned one (same arguments) still exists. */
typedef CUresult cuDevicePrimaryCtxReset_legacy_function(CUdevice dev);
/* cuda.h maps cuCtxCreate to _v4 and cuCtxDestroy to _v2; the older ones still exist (cudaTypedefs.h:
 * PFN_cuCtxCreate_v2000, _v3020, _v11040, PFN_cuCtxDestroy_v2000). */
typedef CUresult cuCtxCreate_legacy_function(CUcontext *pctx, unsigned int flags, CUdevice dev);
typedef CUresult cuCtxCreate_v2_function(CUcontext *pctx, unsigned int flags, CUdevice dev);
typedef CUresult cuCtxCreate_v3_function(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                         unsigned int flags, CUdevice dev);
typedef CUresult cuCtxDestroy_legacy_function(CUcontext ctx);

/* shim_wrapper_<id> for every entry of SHIM_HOOK_LIST (hook_registry.h), of the function's type. */
#define SHIM_WRAPPER(id, symbol, lookup_name, first_version, version_limit, stream, type, api) \
    extern __typeof__(type) shim_wrapper_##id __attribute__((visibility("hidden")));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
SHIM_HOOK_LIST(SHIM_WRAPPER)
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
