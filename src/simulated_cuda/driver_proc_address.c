/* simulated_cuda/driver_proc_address.c — owns the driver's entry-point lookup: the table of
 * {name, first CUDA version, function, per-thread-stream variant} and the two functions that
 * search it, cuGetProcAddress_v2 (5 arguments, with a status out-pointer) and the legacy
 * 4-argument cuGetProcAddress. This is how the CUDA runtime, CuPy, JAX and NCCL reach the
 * allocator (cuda-facts.md §1), so it follows the real driver's versioning rules:
 *   - a name has one row per ABI version, newest first; the first row whose version is not above
 *     the requested one wins ("cuMemAlloc" at 3020 or later is cuMemAlloc_v2, earlier the legacy
 *     32-bit cuMemAlloc; "cuGetProcAddress" at 12000 or later is cuGetProcAddress_v2);
 *   - CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM selects the _ptsz/_ptds variant where one
 *     exists;
 *   - a version above the driver's (13000) is CUDA_ERROR_INVALID_VALUE;
 *   - an unknown name, or a known one asked for at too old a version, is what the real driver
 *     answers (measured on driver 580.159.04, and documented in cuda.h): cuGetProcAddress_v2
 *     returns CUDA_SUCCESS with *pfn NULL and *symbolStatus CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND
 *     or CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT; the legacy cuGetProcAddress, which has no
 *     status to report it in, returns CUDA_ERROR_NOT_FOUND and leaves *pfn alone.
 */
#include "sim_driver.h"

#include <string.h>

typedef void (*entry_point)(void);

struct proc_entry {
    const char *name;
    int first_version;
    entry_point function;
    entry_point per_thread_stream_function; /* NULL where the function takes no stream */
};

#define ENTRY(name, version, function) {name, version, (entry_point)function, NULL}
#define STREAM_ENTRY(name, version, function, per_thread) \
    {name, version, (entry_point)function, (entry_point)per_thread}

static const struct proc_entry entries[] = {
    ENTRY("cuGetProcAddress", 12000, cuGetProcAddress_v2),
    ENTRY("cuGetProcAddress", 11030, cuGetProcAddress),
    ENTRY("cuInit", 2000, cuInit),
    ENTRY("cuDriverGetVersion", 2020, cuDriverGetVersion),
    ENTRY("cuDeviceGet", 2000, cuDeviceGet),
    ENTRY("cuDeviceGetCount", 2000, cuDeviceGetCount),
    ENTRY("cuDeviceGetName", 2000, cuDeviceGetName),
    ENTRY("cuDeviceTotalMem", 3020, cuDeviceTotalMem_v2),
    ENTRY("cuDeviceTotalMem", 2000, cuDeviceTotalMem),
    ENTRY("cuDeviceGetAttribute", 2000, cuDeviceGetAttribute),
    ENTRY("cuDevicePrimaryCtxRetain", 7000, cuDevicePrimaryCtxRetain),
    ENTRY("cuDevicePrimaryCtxRelease", 11000, cuDevicePrimaryCtxRelease_v2),
    ENTRY("cuDevicePrimaryCtxRelease", 7000, cuDevicePrimaryCtxRelease),
    ENTRY("cuDevicePrimaryCtxReset", 11000, cuDevicePrimaryCtxReset_v2),
    ENTRY("cuDevicePrimaryCtxReset", 7000, cuDevicePrimaryCtxReset),
    ENTRY("cuDevicePrimaryCtxGetState", 7000, cuDevicePrimaryCtxGetState),
    ENTRY("cuCtxCreate", 12050, cuCtxCreate_v4),
    ENTRY("cuCtxCreate", 11040, cuCtxCreate_v3),
    ENTRY("cuCtxCreate", 3020, cuCtxCreate_v2),
    ENTRY("cuCtxCreate", 2000, cuCtxCreate),
    ENTRY("cuCtxDestroy", 4000, cuCtxDestroy_v2),
    ENTRY("cuCtxDestroy", 2000, cuCtxDestroy),
    ENTRY("cuCtxPushCurrent", 4000, cuCtxPushCurrent_v2),
    ENTRY("cuCtxPushCurrent", 2000, cuCtxPushCurrent),
    ENTRY("cuCtxPopCurrent", 4000, cuCtxPopCurrent_v2),
    ENTRY("cuCtxPopCurrent", 2000, cuCtxPopCurrent),
    ENTRY("cuCtxSetCurrent", 4000, cuCtxSetCurrent),
    ENTRY("cuCtxGetCurrent", 4000, cuCtxGetCurrent),
    ENTRY("cuCtxGetDevice", 13000, cuCtxGetDevice_v2),
    ENTRY("cuCtxGetDevice", 2000, cuCtxGetDevice),
    ENTRY("cuCtxSynchronize", 13000, cuCtxSynchronize_v2),
    ENTRY("cuCtxSynchronize", 2000, cuCtxSynchronize),
    ENTRY("cuStreamCreate", 2000, cuStreamCreate),
    STREAM_ENTRY("cuStreamGetDevice", 12080, cuStreamGetDevice, cuStreamGetDevice_ptsz),
    ENTRY("cuPointerGetAttribute", 4000, cuPointerGetAttribute),
    ENTRY("cuStreamDestroy", 4000, cuStreamDestroy_v2),
    ENTRY("cuStreamDestroy", 2000, cuStreamDestroy),
    STREAM_ENTRY("cuStreamSynchronize", 2000, cuStreamSynchronize, cuStreamSynchronize_ptsz),
    ENTRY("cuMemGetInfo", 3020, cuMemGetInfo_v2),
    ENTRY("cuMemGetInfo", 2000, cuMemGetInfo),
    ENTRY("cuMemAlloc", 3020, cuMemAlloc_v2),
    ENTRY("cuMemAlloc", 2000, cuMemAlloc),
    ENTRY("cuMemAllocPitch", 3020, cuMemAllocPitch_v2),
    ENTRY("cuMemAllocPitch", 2000, cuMemAllocPitch),
    ENTRY("cuMemFree", 3020, cuMemFree_v2),
    ENTRY("cuMemFree", 2000, cuMemFree),
    ENTRY("cuMemAllocHost", 3020, cuMemAllocHost_v2),
    ENTRY("cuMemAllocHost", 2000, cuMemAllocHost),
    ENTRY("cuMemHostAlloc", 2020, cuMemHostAlloc),
    ENTRY("cuMemFreeHost", 2000, cuMemFreeHost),
    ENTRY("cuMemAllocManaged", 6000, cuMemAllocManaged),
    STREAM_ENTRY("cuMemAllocAsync", 11020, cuMemAllocAsync, cuMemAllocAsync_ptsz),
    STREAM_ENTRY("cuMemFreeAsync", 11020, cuMemFreeAsync, cuMemFreeAsync_ptsz),
    STREAM_ENTRY("cuMemAllocFromPoolAsync", 11020, cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync_ptsz),
    ENTRY("cuDeviceGetDefaultMemPool", 11020, cuDeviceGetDefaultMemPool),
    ENTRY("cuMemPoolCreate", 11020, cuMemPoolCreate),
    ENTRY("cuMemPoolDestroy", 11020, cuMemPoolDestroy),
    STREAM_ENTRY("cuMemcpy", 4000, cuMemcpy, cuMemcpy_ptds),
    STREAM_ENTRY("cuMemcpyAsync", 4000, cuMemcpyAsync, cuMemcpyAsync_ptsz),
    STREAM_ENTRY("cuMemcpyHtoD", 3020, cuMemcpyHtoD_v2, cuMemcpyHtoD_v2_ptds),
    STREAM_ENTRY("cuMemcpyDtoH", 3020, cuMemcpyDtoH_v2, cuMemcpyDtoH_v2_ptds),
    STREAM_ENTRY("cuMemcpyDtoD", 3020, cuMemcpyDtoD_v2, cuMemcpyDtoD_v2_ptds),
    STREAM_ENTRY("cuMemsetD8", 3020, cuMemsetD8_v2, cuMemsetD8_v2_ptds),
    STREAM_ENTRY("cuMemsetD8Async", 3020, cuMemsetD8Async, cuMemsetD8Async_ptsz),
    ENTRY("cuMemAddressReserve", 10020, cuMemAddressReserve),
    ENTRY("cuMemAddressFree", 10020, cuMemAddressFree),
    ENTRY("cuMemCreate", 10020, cuMemCreate),
    ENTRY("cuMemRelease", 10020, cuMemRelease),
    ENTRY("cuMemMap", 10020, cuMemMap),
    ENTRY("cuMemUnmap", 10020, cuMemUnmap),
    ENTRY("cuMemSetAccess", 10020, cuMemSetAccess),
    ENTRY("cuMemGetAllocationGranularity", 10020, cuMemGetAllocationGranularity),
};

/* Searches the table: CU_GET_PROC_ADDRESS_SUCCESS with *function set, or why there is none. */
static CUdriverProcAddressQueryResult find_entry(const char *symbol, int cudaVersion, cuuint64_t flags,
                                                 entry_point *function)
{
    CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        const struct proc_entry *entry = &entries[i];
        if (strcmp(entry->name, symbol) != 0)
            continue;
        if (cudaVersion < entry->first_version) {
            status = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
            continue;
        }
        bool per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) && entry->per_thread_stream_function;
        *function = per_thread ? entry->per_thread_stream_function : entry->function;
        return CU_GET_PROC_ADDRESS_SUCCESS;
    }
    return status;
}

static bool valid_request(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    const cuuint64_t known_flags = CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
    return symbol && pfn && cudaVersion <= SIM_DRIVER_VERSION && !(flags & ~known_flags);
}

CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *symbolStatus)
{
    if (!valid_request(symbol, pfn, cudaVersion, flags))
        return CUDA_ERROR_INVALID_VALUE;
    entry_point function = NULL;
    CUdriverProcAddressQueryResult status = find_entry(symbol, cudaVersion, flags, &function);
    *pfn = (void *)function;
    if (symbolStatus)
        *symbolStatus = status;
    return CUDA_SUCCESS;
}

/* The pre-12.0 signature, exported under its historical name "cuGetProcAddress". */
CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    if (!valid_request(symbol, pfn, cudaVersion, flags))
        return CUDA_ERROR_INVALID_VALUE;
    entry_point function = NULL;
    if (find_entry(symbol, cudaVersion, flags, &function) != CU_GET_PROC_ADDRESS_SUCCESS)
        return CUDA_ERROR_NOT_FOUND;
    *pfn = (void *)function;
    return CUDA_SUCCESS;
}
