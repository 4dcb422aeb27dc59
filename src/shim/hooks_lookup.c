/* shim/hooks_lookup.c — the ways programs obtain driver functions without the PLT, each made to
 * hand out the shim's wrappers (docs/cuda-facts.md §1):
 *   dlsym(handle, "cuGetProcAddress_v2" / "cuMemAlloc_v2" / ...)   (runtime, CuPy, JAX)
 *   cuGetProcAddress / cuGetProcAddress_v2, including the pointer they hand out for
 *   "cuGetProcAddress" itself, which the runtime then uses for every later lookup
 *   cudaGetDriverEntryPoint / cudaGetDriverEntryPointByVersion     (PyTorch's expandable segments)
 * Wrapping is idempotent and version-aware (hook_registry.c). Lookups record no events.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>

#include "shim/hook_registry.h"
#include "shim/hooks.h"
#include "shim/real_functions.h"

/* Called by the dlsym trampoline: the wrapper to return, or NULL to let the real dlsym answer
 * (with the caller's own return address, so RTLD_NEXT and dlerror() behave as without the shim). */
__attribute__((visibility("hidden"))) SHIM_BEFORE_SANITIZERS void *shim_dlsym_decide(void *handle, const char *symbol)
{
    if (!shim_real_dlsym_function)
        real_dlsym_resolve();
    if (handle == RTLD_NEXT || !hook_symbol_is_wrapped(symbol))
        return NULL;
    void *real = shim_real_dlsym(handle, symbol);
    return real ? hook_wrap_symbol(symbol, real) : NULL;
}

static void wrap_handed_out(CUresult status, const char *symbol, void **pfn, int version, cuuint64_t flags)
{
    if (status == CUDA_SUCCESS && pfn && *pfn)
        *pfn = hook_wrap_driver_entry(symbol, version, flags, *pfn);
}

CUresult shim_wrapper_cuGetProcAddress_legacy(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    REAL_OR_RETURN(cuGetProcAddress_legacy, CUDA_ERROR_NOT_INITIALIZED);
    CUresult status = real(symbol, pfn, cudaVersion, flags);
    wrap_handed_out(status, symbol, pfn, cudaVersion, flags);
    return status;
}
SHIM_EXPORT(cuGetProcAddress_legacy, "cuGetProcAddress")

CUresult shim_wrapper_cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                          CUdriverProcAddressQueryResult *symbolStatus)
{
    REAL_OR_RETURN(cuGetProcAddress_v2, CUDA_ERROR_NOT_INITIALIZED);
    CUresult status = real(symbol, pfn, cudaVersion, flags, symbolStatus);
    wrap_handed_out(status, symbol, pfn, cudaVersion, flags);
    return status;
}
SHIM_EXPORT(cuGetProcAddress_v2, "cuGetProcAddress_v2")

cudaError_t shim_wrapper_cudaGetDriverEntryPointByVersion(const char *symbol, void **funcPtr, unsigned int cudaVersion,
                                                          unsigned long long flags,
                                                          enum cudaDriverEntryPointQueryResult *driverStatus)
{
    REAL_OR_RETURN(cudaGetDriverEntryPointByVersion, cudaErrorInitializationError);
    cudaError_t status = real(symbol, funcPtr, cudaVersion, flags, driverStatus);
    if (status == cudaSuccess && funcPtr && *funcPtr)
        *funcPtr = hook_wrap_driver_entry(symbol, (int)cudaVersion, flags, *funcPtr);
    return status;
}
SHIM_EXPORT(cudaGetDriverEntryPointByVersion, "cudaGetDriverEntryPointByVersion")

/* Without a version the runtime looks the name up at its own version. */
static int runtime_version(void)
{
    int version = 0;
    __typeof__(cudaRuntimeGetVersion) *get_version = REAL_FUNCTION(cudaRuntimeGetVersion);
    if (!get_version || get_version(&version) != cudaSuccess)
        return CUDART_VERSION;
    return version;
}

cudaError_t shim_wrapper_cudaGetDriverEntryPoint(const char *symbol, void **funcPtr, unsigned long long flags,
                                                 enum cudaDriverEntryPointQueryResult *driverStatus)
{
    REAL_OR_RETURN(cudaGetDriverEntryPoint, cudaErrorInitializationError);
    cudaError_t status = real(symbol, funcPtr, flags, driverStatus);
    if (status == cudaSuccess && funcPtr && *funcPtr)
        *funcPtr = hook_wrap_driver_entry(symbol, runtime_version(), flags, *funcPtr);
    return status;
}
SHIM_EXPORT(cudaGetDriverEntryPoint, "cudaGetDriverEntryPoint")
