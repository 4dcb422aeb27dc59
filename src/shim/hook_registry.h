/* shim/hook_registry.h — every function the shim wraps, in one table: its exported symbol, the
 * name and ABI version range under which cuGetProcAddress hands it out, the wrapper, and the real
 * function behind it.
 *
 * The real function is learned from whichever path reaches the shim first: dlsym() on a library
 * handle, a pointer handed out by cuGetProcAddress / cudaGetDriverEntryPoint*, or (for calls that
 * come through the PLT) dlsym(RTLD_NEXT). A wrapper is never recorded as a real function: that
 * double wrapping made PyTorch hang in the measurements (docs/cuda-facts.md §2).
 */
#ifndef VT_SHIM_HOOK_REGISTRY_H
#define VT_SHIM_HOOK_REGISTRY_H

#include <stdint.h>

#include "vramtrace/events.h"

/* The first ABI version whose signatures may differ from the headers we compile against: lookups
 * at this version or later pass through unwrapped. */
#define HOOK_VERSION_LIMIT 14000

enum hook_stream_variant {
    HOOK_NOT_STREAM_ORDERED, /* the same entry serves every lookup flag */
    HOOK_LEGACY_STREAM,      /* handed out without CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM */
    HOOK_PER_THREAD_STREAM,  /* the _ptsz variant */
};

/* The one list of wrapped functions: the hook ids, the registry's entries (hook_registry.c), the
 * wrappers' declarations (hooks.h) and the API each wrapper records under (HOOK_API) are generated
 * from it; the wrappers are defined in
 * hooks_runtime.c, hooks_driver.c and hooks_lookup.c (every allocating one by DEFINE_ALLOC_WRAPPER,
 * hooks_alloc.h, where --limit's reserve/commit step is). What a wrapper records is named in the
 * trace's API vocabulary (include/vramtrace/events.h, VT_API_LIST: part of the trace format,
 * append-only, one API for several symbols: cuMemAlloc for cuMemAlloc_v2, ...).
 *
 * X(id, exported symbol, lookup name or NULL, first version, last version + 1, stream variant,
 *   the function's type: the CUDA function's, or a typedef of hooks.h for a variant cuda.h hides,
 *   the API its events are recorded under: VT_API_<api>, COUNT for the lookups and cuCtxCreate,
 *   which record none) */
#define SHIM_HOOK_LIST(X) \
    X(cudaMalloc, "cudaMalloc", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaMalloc, cudaMalloc) \
    X(cudaFree, "cudaFree", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaFree, cudaFree) \
    X(cudaMallocAsync, "cudaMallocAsync", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaMallocAsync, cudaMallocAsync) \
    X(cudaFreeAsync, "cudaFreeAsync", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaFreeAsync, cudaFreeAsync) \
    X(cudaMallocFromPoolAsync, "cudaMallocFromPoolAsync", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaMallocFromPoolAsync, cudaMallocFromPoolAsync) \
    X(cudaMallocHost, "cudaMallocHost", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaMallocHost, cudaMallocHost) \
    X(cudaHostAlloc, "cudaHostAlloc", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaHostAlloc, cudaHostAlloc) \
    X(cudaFreeHost, "cudaFreeHost", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaFreeHost, cudaFreeHost) \
    X(cudaMallocManaged, "cudaMallocManaged", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaMallocManaged, cudaMallocManaged) \
    X(cudaMallocPitch, "cudaMallocPitch", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaMallocPitch, cudaMallocPitch) \
    X(cudaGetDriverEntryPoint, "cudaGetDriverEntryPoint", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaGetDriverEntryPoint, COUNT) \
    X(cudaGetDriverEntryPointByVersion, "cudaGetDriverEntryPointByVersion", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaGetDriverEntryPointByVersion, COUNT) \
    X(cuGetProcAddress_legacy, "cuGetProcAddress", "cuGetProcAddress", 11030, 12000, HOOK_NOT_STREAM_ORDERED, cuGetProcAddress_legacy_function, COUNT) \
    X(cuGetProcAddress_v2, "cuGetProcAddress_v2", "cuGetProcAddress", 12000, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuGetProcAddress_v2, COUNT) \
    X(cuMemAlloc_v2, "cuMemAlloc_v2", "cuMemAlloc", 3020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemAlloc_v2, cuMemAlloc) \
    X(cuMemAllocPitch_v2, "cuMemAllocPitch_v2", "cuMemAllocPitch", 3020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemAllocPitch_v2, cuMemAllocPitch) \
    X(cuMemFree_v2, "cuMemFree_v2", "cuMemFree", 3020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemFree_v2, cuMemFree) \
    X(cuMemAllocHost_v2, "cuMemAllocHost_v2", "cuMemAllocHost", 3020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemAllocHost_v2, cuMemAllocHost) \
    X(cuMemHostAlloc, "cuMemHostAlloc", "cuMemHostAlloc", 2020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemHostAlloc, cuMemHostAlloc) \
    X(cuMemFreeHost, "cuMemFreeHost", "cuMemFreeHost", 2000, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemFreeHost, cuMemFreeHost) \
    X(cuMemAllocManaged, "cuMemAllocManaged", "cuMemAllocManaged", 6000, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemAllocManaged, cuMemAllocManaged) \
    X(cuMemAllocAsync, "cuMemAllocAsync", "cuMemAllocAsync", 11020, HOOK_VERSION_LIMIT, HOOK_LEGACY_STREAM, cuMemAllocAsync, cuMemAllocAsync) \
    X(cuMemAllocAsync_ptsz, "cuMemAllocAsync_ptsz", "cuMemAllocAsync", 11020, HOOK_VERSION_LIMIT, HOOK_PER_THREAD_STREAM, cuMemAllocAsync, cuMemAllocAsync) \
    X(cuMemFreeAsync, "cuMemFreeAsync", "cuMemFreeAsync", 11020, HOOK_VERSION_LIMIT, HOOK_LEGACY_STREAM, cuMemFreeAsync, cuMemFreeAsync) \
    X(cuMemFreeAsync_ptsz, "cuMemFreeAsync_ptsz", "cuMemFreeAsync", 11020, HOOK_VERSION_LIMIT, HOOK_PER_THREAD_STREAM, cuMemFreeAsync, cuMemFreeAsync) \
    X(cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync", "cuMemAllocFromPoolAsync", 11020, HOOK_VERSION_LIMIT, HOOK_LEGACY_STREAM, cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync) \
    X(cuMemAllocFromPoolAsync_ptsz, "cuMemAllocFromPoolAsync_ptsz", "cuMemAllocFromPoolAsync", 11020, HOOK_VERSION_LIMIT, HOOK_PER_THREAD_STREAM, cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync) \
    X(cuMemCreate, "cuMemCreate", "cuMemCreate", 10020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemCreate, cuMemCreate) \
    X(cuMemRelease, "cuMemRelease", "cuMemRelease", 10020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemRelease, cuMemRelease) \
    X(cuMemMap, "cuMemMap", "cuMemMap", 10020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemMap, cuMemMap) \
    X(cuMemUnmap, "cuMemUnmap", "cuMemUnmap", 10020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemUnmap, cuMemUnmap) \
    X(cuMemAddressReserve, "cuMemAddressReserve", "cuMemAddressReserve", 10020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemAddressReserve, cuMemAddressReserve) \
    X(cuMemAddressFree, "cuMemAddressFree", "cuMemAddressFree", 10020, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuMemAddressFree, cuMemAddressFree) \
    X(cudaDeviceReset, "cudaDeviceReset", NULL, 0, 0, HOOK_NOT_STREAM_ORDERED, cudaDeviceReset, cudaDeviceReset) \
    X(cuDevicePrimaryCtxReset_legacy, "cuDevicePrimaryCtxReset", "cuDevicePrimaryCtxReset", 7000, 11000, HOOK_NOT_STREAM_ORDERED, cuDevicePrimaryCtxReset_legacy_function, cuDevicePrimaryCtxReset) \
    X(cuDevicePrimaryCtxReset_v2, "cuDevicePrimaryCtxReset_v2", "cuDevicePrimaryCtxReset", 11000, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuDevicePrimaryCtxReset_v2, cuDevicePrimaryCtxReset) \
    X(cuCtxCreate_legacy, "cuCtxCreate", "cuCtxCreate", 2000, 3020, HOOK_NOT_STREAM_ORDERED, cuCtxCreate_legacy_function, COUNT) \
    X(cuCtxCreate_v2, "cuCtxCreate_v2", "cuCtxCreate", 3020, 11040, HOOK_NOT_STREAM_ORDERED, cuCtxCreate_v2_function, COUNT) \
    X(cuCtxCreate_v3, "cuCtxCreate_v3", "cuCtxCreate", 11040, 12050, HOOK_NOT_STREAM_ORDERED, cuCtxCreate_v3_function, COUNT) \
    X(cuCtxCreate_v4, "cuCtxCreate_v4", "cuCtxCreate", 12050, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuCtxCreate_v4, COUNT) \
    X(cuCtxDestroy_legacy, "cuCtxDestroy", "cuCtxDestroy", 2000, 4000, HOOK_NOT_STREAM_ORDERED, cuCtxDestroy_legacy_function, cuCtxDestroy) \
    X(cuCtxDestroy_v2, "cuCtxDestroy_v2", "cuCtxDestroy", 4000, HOOK_VERSION_LIMIT, HOOK_NOT_STREAM_ORDERED, cuCtxDestroy_v2, cuCtxDestroy)

enum hook_id {
#define HOOK_ENUM(id, symbol, lookup_name, first_version, version_limit, stream, type, api) HOOK_##id,
    SHIM_HOOK_LIST(HOOK_ENUM)
#undef HOOK_ENUM
    HOOK_COUNT
};

/* HOOK_API(id): the API hook `id` records its events under (the wrappers name it so). */
enum hook_api {
#define HOOK_API_ENUM(id, symbol, lookup_name, first_version, version_limit, stream, type, api) \
    HOOK_API_OF_##id = VT_API_##api,
    SHIM_HOOK_LIST(HOOK_API_ENUM)
#undef HOOK_API_ENUM
};
#define HOOK_API(id) ((enum vt_api)HOOK_API_OF_##id)

/* The real functions, by hook id (NULL until learned); hook_real_find looks one up. */
extern void *hook_real_functions[HOOK_COUNT] __attribute__((visibility("hidden")));
void *hook_real_find(enum hook_id id);

/* The real function behind hook `id`, found on first need; NULL when no loaded library has it.
 * Inline: every hooked call asks, nested ones included. */
static inline void *hook_real(enum hook_id id)
{
    void *real = __atomic_load_n(&hook_real_functions[id], __ATOMIC_ACQUIRE);
    return real ? real : hook_real_find(id);
}

/* `symbol` looked up by name (dlsym): the wrapper to hand out instead of `real`, after
 * remembering `real` — or `real` itself when the shim does not wrap that symbol. */
void *hook_wrap_symbol(const char *symbol, void *real);

/* `lookup_name` handed out by cuGetProcAddress / cudaGetDriverEntryPoint* for ABI `version` with
 * lookup `flags`: the wrapper to hand out instead of `real`, or `real` itself when the shim does
 * not wrap that name at that version or stream variant, or when `real` is already a wrapper. */
void *hook_wrap_driver_entry(const char *lookup_name, int version, uint64_t flags, void *real);

/* Whether dlsym() of `symbol` is one the shim wraps (cheap: used on every dlsym call). */
int hook_symbol_is_wrapped(const char *symbol);

/* Used by the wrappers: fail the call when the real function is missing. */
void hook_report_missing(enum hook_id id);

#endif
