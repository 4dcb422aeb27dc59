/* tests/sim/test_sim_device.c — Criterion tests of the simulated CUDA device itself (no tracer):
 * cuGetProcAddress versioning, capacity and out-of-memory, the allocation table, the
 * virtual-memory family, settings, and the runtime's route to the driver. The libraries are
 * dlopen()ed from VT_SIM_DIR when the build defines it, else found through LD_LIBRARY_PATH.
 * Criterion runs each test in its own process, so each may set VRAMTRACE_SIMULATE* first.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VT_SIM_DIR
#define SIM_LIBRARY(name) VT_SIM_DIR "/" name
#else
#define SIM_LIBRARY(name) name
#endif

#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)

static void *driver;

static void *driver_symbol(const char *name)
{
    if (!driver)
        driver = dlopen(SIM_LIBRARY("libcuda.so.1"), RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(driver, "%s", dlerror());
    void *function = dlsym(driver, name);
    cr_assert_not_null(function, "%s not exported", name);
    return function;
}

static void *runtime_symbol(const char *name)
{
    static void *runtime;
    driver_symbol("cuInit"); /* loaded first by path, so the runtime's dlopen("libcuda.so.1") finds it */
    if (!runtime)
        runtime = dlopen(SIM_LIBRARY("libcudart.so.13"), RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(runtime, "%s", dlerror());
    void *function = dlsym(runtime, name);
    cr_assert_not_null(function, "%s not exported", name);
    return function;
}

/* DRIVER(cuInit, 2000): the exported function of that name; DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020) where
 * the exported name carries a suffix. Typed with cudaTypedefs.h. */
#define DRIVER(name, version) ((PFN_##name##_v##version)driver_symbol(#name))
#define DRIVER_AS(symbol, name, version) ((PFN_##name##_v##version)driver_symbol(symbol))

static void *look_up(const char *name, int version, cuuint64_t flags, CUresult *result,
                     CUdriverProcAddressQueryResult *status)
{
    void *function = (void *)0x1;
    *result = DRIVER_AS("cuGetProcAddress_v2", cuGetProcAddress, 12000)(name, &function, version, flags, status);
    return function;
}

Test(sim_proc_address, versions_pick_the_abi)
{
    CUresult result;
    CUdriverProcAddressQueryResult status;
    cr_assert_eq(look_up("cuMemAlloc", 3020, 0, &result, &status), driver_symbol("cuMemAlloc_v2"));
    cr_assert_eq(result, CUDA_SUCCESS);
    cr_assert_eq(status, CU_GET_PROC_ADDRESS_SUCCESS);
    cr_assert_eq(look_up("cuMemAlloc", 13000, 0, &result, &status), driver_symbol("cuMemAlloc_v2"));
    cr_assert_eq(look_up("cuMemAlloc", 2000, 0, &result, &status), driver_symbol("cuMemAlloc"));
    cr_assert_eq(look_up("cuMemFree", 3020, 0, &result, &status), driver_symbol("cuMemFree_v2"));
    cr_assert_eq(look_up("cuMemGetInfo", 3020, 0, &result, &status), driver_symbol("cuMemGetInfo_v2"));
    cr_assert_eq(look_up("cuGetProcAddress", 12000, 0, &result, &status), driver_symbol("cuGetProcAddress_v2"));
    cr_assert_eq(look_up("cuGetProcAddress", 11030, 0, &result, &status), driver_symbol("cuGetProcAddress"));
    cr_assert_eq(look_up("cuMemAllocAsync", 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &result, &status),
                 driver_symbol("cuMemAllocAsync_ptsz"));
    cr_assert_eq(look_up("cuMemAllocAsync", 12000, CU_GET_PROC_ADDRESS_LEGACY_STREAM, &result, &status),
                 driver_symbol("cuMemAllocAsync"));
    cr_assert_eq(look_up("cuMemAlloc", 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &result, &status),
                 driver_symbol("cuMemAlloc_v2"), "no per-thread variant: the ordinary one");
}

/* As the real driver answers (measured on driver 580.159.04): the 5-argument lookup succeeds with
 * a NULL pointer and says why in the status; the legacy one returns CUDA_ERROR_NOT_FOUND. */
Test(sim_proc_address, unknown_too_old_and_too_new)
{
    CUresult result;
    CUdriverProcAddressQueryResult status;
    cr_assert_null(look_up("cuNoSuchFunction", 13000, 0, &result, &status));
    cr_assert_eq(result, CUDA_SUCCESS);
    cr_assert_eq(status, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    cr_assert_null(look_up("cuMemCreate", 10000, 0, &result, &status));
    cr_assert_eq(result, CUDA_SUCCESS);
    cr_assert_eq(status, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
    cr_assert_null(look_up("cuGetProcAddress", 11000, 0, &result, &status));
    cr_assert_eq(status, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
    look_up("cuMemAlloc", 13010, 0, &result, &status);
    cr_assert_eq(result, CUDA_ERROR_INVALID_VALUE, "newer than the driver");

    PFN_cuGetProcAddress_v11030 legacy = DRIVER_AS("cuGetProcAddress", cuGetProcAddress, 11030);
    void *function = NULL;
    cr_assert_eq(legacy("cuMemAlloc", &function, 3020, 0), CUDA_SUCCESS);
    cr_assert_eq(function, driver_symbol("cuMemAlloc_v2"));
    cr_assert_eq(legacy("cuNoSuchFunction", &function, 3020, 0), CUDA_ERROR_NOT_FOUND);
    cr_assert_eq(function, driver_symbol("cuMemAlloc_v2"), "left alone");
}

Test(sim_memory, null_and_zero_byte_requests)
{
    CUdeviceptr address = 1;
    void *host = (void *)1;
    cr_assert_eq(DRIVER_AS("cuMemFree_v2", cuMemFree, 3020)(0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemFreeHost, 2000)(NULL), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemFreeAsync, 11020)(0, NULL), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuMemFree_v2", cuMemFree, 3020)(0x1234), CUDA_ERROR_INVALID_VALUE);
    cr_assert_eq(DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020)(&address, 0), CUDA_ERROR_INVALID_VALUE);
    cr_assert_eq(DRIVER(cuMemAllocManaged, 6000)(&address, 0, CU_MEM_ATTACH_GLOBAL), CUDA_ERROR_INVALID_VALUE);
    cr_assert_eq(DRIVER(cuMemAllocAsync, 11020)(&address, 0, NULL), CUDA_SUCCESS);
    cr_assert_eq(address, 0);
    cr_assert_eq(DRIVER(cuMemHostAlloc, 2020)(&host, 0, 0), CUDA_SUCCESS);
    cr_assert_null(host);
}

Test(sim_memory, capacity_and_out_of_memory)
{
    setenv("VRAMTRACE_SIMULATE", "3M", 1);
    CUdeviceptr first, second, third;
    size_t free_bytes, total_bytes;
    cr_assert_eq(DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020)(&first, 2 * MIB), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemAllocManaged, 6000)(&second, MIB, CU_MEM_ATTACH_GLOBAL), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuMemGetInfo_v2", cuMemGetInfo, 3020)(&free_bytes, &total_bytes), CUDA_SUCCESS);
    cr_assert_eq(total_bytes, 3 * MIB);
    cr_assert_eq(free_bytes, 0);
    cr_assert_eq(DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020)(&third, 1), CUDA_ERROR_OUT_OF_MEMORY);
    void *pinned;
    cr_assert_eq(DRIVER(cuMemHostAlloc, 2020)(&pinned, 64 * MIB, 0), CUDA_SUCCESS, "host memory is not counted");
    cr_assert_eq(DRIVER_AS("cuMemFree_v2", cuMemFree, 3020)((CUdeviceptr)(uintptr_t)pinned), CUDA_ERROR_INVALID_VALUE);
    cr_assert_eq(DRIVER(cuMemFreeHost, 2000)(pinned), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuMemFree_v2", cuMemFree, 3020)(first), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuMemFree_v2", cuMemFree, 3020)(first), CUDA_ERROR_INVALID_VALUE, "double free");
    cr_assert_eq(DRIVER_AS("cuMemFree_v2", cuMemFree, 3020)(second), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuMemGetInfo_v2", cuMemGetInfo, 3020)(&free_bytes, &total_bytes), CUDA_SUCCESS);
    cr_assert_eq(free_bytes, 3 * MIB);
}

Test(sim_memory, large_allocations_are_cheap_and_writable)
{
    CUdeviceptr big;
    cr_assert_eq(DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020)(&big, 8 * GIB), CUDA_SUCCESS);
    cr_assert_eq(big % 512, 0);
    memset((void *)(uintptr_t)big, 7, 4096);
    cr_assert_eq(DRIVER_AS("cuMemsetD8_v2", cuMemsetD8, 3020)(big + 4096, 9, 16), CUDA_SUCCESS);
    cr_assert_eq(((unsigned char *)(uintptr_t)big)[4096 + 15], 9);
    cr_assert_eq(DRIVER_AS("cuMemFree_v2", cuMemFree, 3020)(big), CUDA_SUCCESS);
}

Test(sim_settings, bad_values_fall_back_to_defaults, .init = cr_redirect_stderr)
{
    setenv("VRAMTRACE_SIMULATE", "lots", 1);
    setenv("VRAMTRACE_SIMULATE_DEVICES", "99", 1);
    int count;
    size_t total;
    cr_assert_eq(DRIVER(cuDeviceGetCount, 2000)(&count), CUDA_SUCCESS);
    cr_assert_eq(count, 1);
    cr_assert_eq(DRIVER_AS("cuDeviceTotalMem_v2", cuDeviceTotalMem, 3020)(&total, 0), CUDA_SUCCESS);
    cr_assert_eq(total, 16 * GIB);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "vramtrace (simulated device): VRAMTRACE_SIMULATE='lots' is not a valid size; accepted: bytes, or a number "
        "with K, M, G or T (powers of 1024), e.g. 16G; using the default 16G\n"
        "vramtrace (simulated device): VRAMTRACE_SIMULATE_DEVICES='99' is not valid; accepted: a whole number "
        "from 1 to 16; using the default 1\n");
}

Test(sim_settings, empty_value_means_default)
{
    setenv("VRAMTRACE_SIMULATE", "", 1);
    size_t total;
    cr_assert_eq(DRIVER_AS("cuDeviceTotalMem_v2", cuDeviceTotalMem, 3020)(&total, 0), CUDA_SUCCESS);
    cr_assert_eq(total, 16 * GIB);
}

Test(sim_context, devices_have_their_own_capacity)
{
    setenv("VRAMTRACE_SIMULATE", "1M", 1);
    setenv("VRAMTRACE_SIMULATE_DEVICES", "2", 1);
    CUcontext context;
    CUdevice device;
    CUdeviceptr on_zero, on_one;
    cr_assert_eq(DRIVER(cuInit, 2000)(0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020)(&on_zero, MIB), CUDA_SUCCESS, "no context: device 0");
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxRetain, 7000)(&context, 1), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuCtxSetCurrent, 4000)(context), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuCtxGetDevice, 2000)(&device), CUDA_SUCCESS);
    cr_assert_eq(device, 1);
    cr_assert_eq(DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020)(&on_one, MIB), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020)(&on_one, 1), CUDA_ERROR_OUT_OF_MEMORY);
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxRetain, 7000)(&context, 2), CUDA_ERROR_INVALID_DEVICE);
}

Test(sim_context, a_created_contexts_destroy_frees_what_it_owns)
{
    setenv("VRAMTRACE_SIMULATE", "4M", 1);
    setenv("VRAMTRACE_SIMULATE_DEVICES", "1", 1);
    PFN_cuMemAlloc_v3020 mem_alloc = DRIVER_AS("cuMemAlloc_v2", cuMemAlloc, 3020);
    PFN_cuMemAllocAsync_v11020 mem_alloc_async = DRIVER(cuMemAllocAsync, 11020);
    PFN_cuMemFree_v3020 mem_free = DRIVER_AS("cuMemFree_v2", cuMemFree, 3020);
    PFN_cuCtxDestroy_v4000 destroy = DRIVER_AS("cuCtxDestroy_v2", cuCtxDestroy, 4000);
    CUcontext primary, created, current;
    CUdeviceptr in_primary, in_created, stream_ordered, more;
    void *pinned;
    cr_assert_eq(DRIVER(cuInit, 2000)(0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxRetain, 7000)(&primary, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuCtxSetCurrent, 4000)(primary), CUDA_SUCCESS);
    cr_assert_eq(mem_alloc(&in_primary, MIB), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuCtxCreate_v4", cuCtxCreate, 12050)(&created, NULL, 0, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuCtxGetCurrent, 4000)(&current), CUDA_SUCCESS);
    cr_assert_eq(current, created, "pushed: current");
    cr_assert_eq(mem_alloc(&in_created, 2 * MIB), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuMemAllocHost_v2", cuMemAllocHost, 3020)(&pinned, MIB), CUDA_SUCCESS);
    cr_assert_eq(mem_alloc_async(&stream_ordered, MIB, NULL), CUDA_SUCCESS, "4 MiB used");
    cr_assert_eq(mem_alloc(&more, 1), CUDA_ERROR_OUT_OF_MEMORY);
    cr_assert_eq(destroy(primary), CUDA_ERROR_INVALID_CONTEXT, "not a created context");
    cr_assert_eq(destroy(created), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuCtxGetCurrent, 4000)(&current), CUDA_SUCCESS);
    cr_assert_eq(current, primary, "popped: the primary context is current again");
    cr_assert_eq(mem_free(in_created), CUDA_ERROR_INVALID_VALUE, "freed with its context");
    cr_assert_eq(DRIVER(cuMemFreeHost, 2000)(pinned), CUDA_ERROR_INVALID_VALUE, "cuMemAllocHost's too");
    cr_assert_eq(mem_alloc(&more, 2 * MIB), CUDA_SUCCESS, "its capacity is back");
    cr_assert_eq(mem_alloc(&more, 1), CUDA_ERROR_OUT_OF_MEMORY, "the primary's and stream-ordered memory stay");
    cr_assert_eq(mem_free(in_primary), CUDA_SUCCESS);
    cr_assert_eq(mem_free(stream_ordered), CUDA_SUCCESS);
    cr_assert_eq(destroy(created), CUDA_ERROR_INVALID_CONTEXT, "destroyed already");
}

Test(sim_vmm, expandable_segment_sequence)
{
    setenv("VRAMTRACE_SIMULATE", "4M", 1);
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .requestedHandleTypes = CU_MEM_HANDLE_TYPE_FABRIC,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CUmemAccessDesc access = {.location = prop.location, .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CUmemGenericAllocationHandle first, second, third;
    CUdeviceptr base;
    size_t granularity, free_bytes, total_bytes;
    cr_assert_eq(DRIVER(cuMemGetAllocationGranularity, 10020)(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM),
                 CUDA_SUCCESS);
    cr_assert_eq(granularity, 2 * MIB);
    cr_assert_eq(DRIVER(cuMemCreate, 10020)(&first, 2 * MIB, &prop, 0), CUDA_ERROR_NOT_SUPPORTED);
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    cr_assert_eq(DRIVER(cuMemAddressReserve, 10020)(&base, 64 * GIB, 0, 0, 0), CUDA_SUCCESS, "not counted");
    cr_assert_eq(base % (2 * MIB), 0);
    cr_assert_eq(DRIVER(cuMemCreate, 10020)(&first, 2 * MIB, &prop, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemCreate, 10020)(&second, 2 * MIB, &prop, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemCreate, 10020)(&third, 2 * MIB, &prop, 0), CUDA_ERROR_OUT_OF_MEMORY);
    cr_assert_eq(DRIVER_AS("cuMemGetInfo_v2", cuMemGetInfo, 3020)(&free_bytes, &total_bytes), CUDA_SUCCESS);
    cr_assert_eq(free_bytes, 0);
    cr_assert_eq(DRIVER(cuMemMap, 10020)(base, 2 * MIB, 0, first, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemMap, 10020)(base, 2 * MIB, 0, second, 0), CUDA_ERROR_NOT_SUPPORTED, "already mapped");
    cr_assert_eq(DRIVER(cuMemMap, 10020)(base + 2 * MIB, 2 * MIB, 0, second, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemSetAccess, 10020)(base, 4 * MIB, &access, 1), CUDA_SUCCESS);
    memset((void *)(uintptr_t)base, 1, 4 * MIB);
    cr_assert_eq(DRIVER(cuMemUnmap, 10020)(base + 2 * MIB, 2 * MIB), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemUnmap, 10020)(base + MIB, 2 * MIB), CUDA_ERROR_INVALID_VALUE, "cuts a mapping");
    cr_assert_eq(DRIVER(cuMemRelease, 10020)(second), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemRelease, 10020)(second), CUDA_ERROR_INVALID_VALUE);
    cr_assert_eq(((unsigned char *)(uintptr_t)base)[2 * MIB - 1], 1, "first chunk still mapped");
    cr_assert_eq(DRIVER_AS("cuMemGetInfo_v2", cuMemGetInfo, 3020)(&free_bytes, &total_bytes), CUDA_SUCCESS);
    cr_assert_eq(free_bytes, 2 * MIB);
    cr_assert_eq(DRIVER(cuMemUnmap, 10020)(base, 2 * MIB), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemRelease, 10020)(first), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemAddressFree, 10020)(base, 64 * GIB), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemAddressFree, 10020)(base, 64 * GIB), CUDA_ERROR_INVALID_VALUE);
}

/* CUDA's rules: memory is freed once released *and* unmapped; one unmap over two mappings; a
 * reservation holding a mapping is not freed (docs/architecture.md, "Virtual memory"). */
Test(sim_vmm, released_memory_counts_until_its_last_mapping_goes)
{
    setenv("VRAMTRACE_SIMULATE", "8M", 1);
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CUmemGenericAllocationHandle first, second, third;
    CUdeviceptr base;
    size_t free_bytes, total_bytes;
    PFN_cuMemGetInfo_v3020 get_info = DRIVER_AS("cuMemGetInfo_v2", cuMemGetInfo, 3020);
    cr_assert_eq(DRIVER(cuMemAddressReserve, 10020)(&base, 16 * MIB, 0, 0, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemCreate, 10020)(&first, 2 * MIB, &prop, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemCreate, 10020)(&second, 4 * MIB, &prop, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemMap, 10020)(base, 2 * MIB, 0, first, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemMap, 10020)(base + 2 * MIB, 4 * MIB, 0, second, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemRelease, 10020)(first), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemRelease, 10020)(second), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemMap, 10020)(base + 8 * MIB, 2 * MIB, 0, first, 0), CUDA_ERROR_INVALID_VALUE,
                 "a released handle cannot be mapped again");
    cr_assert_eq(get_info(&free_bytes, &total_bytes), CUDA_SUCCESS);
    cr_assert_eq(free_bytes, 2 * MIB, "released but mapped: still counted");
    cr_assert_eq(DRIVER(cuMemCreate, 10020)(&third, 4 * MIB, &prop, 0), CUDA_ERROR_OUT_OF_MEMORY);
    cr_assert_eq(DRIVER(cuMemAddressFree, 10020)(base, 16 * MIB), CUDA_ERROR_INVALID_VALUE, "mappings inside");
    cr_assert_eq(DRIVER(cuMemUnmap, 10020)(base, 6 * MIB), CUDA_SUCCESS, "one unmap over both mappings");
    cr_assert_eq(get_info(&free_bytes, &total_bytes), CUDA_SUCCESS);
    cr_assert_eq(free_bytes, 8 * MIB, "both freed with their last mapping");
    cr_assert_eq(DRIVER(cuMemAddressFree, 10020)(base, 16 * MIB), CUDA_SUCCESS);
}

static void *allocate_and_free_many(void *arguments)
{
    PFN_cuMemAlloc_v3020 mem_alloc = ((void **)arguments)[0];
    PFN_cuMemFree_v3020 mem_free = ((void **)arguments)[1];
    for (int i = 0; i < 10000; i++) {
        CUdeviceptr buffer;
        if (mem_alloc(&buffer, 256 * (size_t)(1 + i % 16)) != CUDA_SUCCESS || mem_free(buffer) != CUDA_SUCCESS)
            return (void *)1;
    }
    return NULL;
}

Test(sim_memory, sixteen_threads)
{
    void *functions[] = {driver_symbol("cuMemAlloc_v2"), driver_symbol("cuMemFree_v2")};
    pthread_t threads[16];
    for (int i = 0; i < 16; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, allocate_and_free_many, functions), 0);
    for (int i = 0; i < 16; i++) {
        void *failed;
        pthread_join(threads[i], &failed);
        cr_assert_null(failed);
    }
    size_t free_bytes, total_bytes;
    cr_assert_eq(DRIVER_AS("cuMemGetInfo_v2", cuMemGetInfo, 3020)(&free_bytes, &total_bytes), CUDA_SUCCESS);
    cr_assert_eq(free_bytes, total_bytes);
}

Test(sim_runtime, errors_and_last_error)
{
    setenv("VRAMTRACE_SIMULATE", "1M", 1);
    cudaError_t (*malloc_fn)(void **, size_t) = runtime_symbol("cudaMalloc");
    cudaError_t (*free_fn)(void *) = runtime_symbol("cudaFree");
    cudaError_t (*last_error)(void) = runtime_symbol("cudaGetLastError");
    const char *(*error_name)(cudaError_t) = runtime_symbol("cudaGetErrorName");
    void *buffer, *zero = (void *)0x1;
    cr_assert_eq(malloc_fn(&zero, 0), cudaSuccess);
    cr_assert_null(zero);
    cr_assert_eq(malloc_fn(&buffer, 2 * MIB), cudaErrorMemoryAllocation);
    cr_assert_str_eq(error_name(cudaErrorMemoryAllocation), "cudaErrorMemoryAllocation");
    cr_assert_eq(last_error(), cudaErrorMemoryAllocation);
    cr_assert_eq(last_error(), cudaSuccess);
    cr_assert_eq(malloc_fn(&buffer, MIB), cudaSuccess);
    cr_assert_eq(free_fn(buffer), cudaSuccess);
    cr_assert_eq(free_fn(buffer), cudaErrorInvalidValue);
    cr_assert_eq(free_fn(NULL), cudaSuccess);
}

Test(sim_runtime, entry_points_come_from_the_driver_lookup)
{
    cudaError_t (*entry_point)(const char *, void **, unsigned int, unsigned long long,
                               enum cudaDriverEntryPointQueryResult *) = runtime_symbol("cudaGetDriverEntryPointByVersion");
    void *function;
    enum cudaDriverEntryPointQueryResult status;
    cr_assert_eq(entry_point("cuMemCreate", &function, 12000, cudaEnableDefault, &status), cudaSuccess);
    cr_assert_eq(function, driver_symbol("cuMemCreate"));
    cr_assert_eq(status, cudaDriverEntryPointSuccess);
    cr_assert_eq(entry_point("cuNoSuchFunction", &function, 12000, cudaEnableDefault, &status), cudaSuccess);
    cr_assert_null(function);
    cr_assert_eq(status, cudaDriverEntryPointSymbolNotFound);
    cr_assert_eq(entry_point("cuMemCreate", &function, 99000, cudaEnableDefault, &status), cudaErrorInvalidValue);
}

Test(sim_runtime, pools_streams_and_device_reset)
{
    setenv("VRAMTRACE_SIMULATE", "8M", 1);
    cudaError_t (*stream_create)(cudaStream_t *) = runtime_symbol("cudaStreamCreate");
    cudaError_t (*default_pool)(cudaMemPool_t *, int) = runtime_symbol("cudaDeviceGetDefaultMemPool");
    cudaError_t (*pool_create)(cudaMemPool_t *, const struct cudaMemPoolProps *) = runtime_symbol("cudaMemPoolCreate");
    cudaError_t (*pool_destroy)(cudaMemPool_t) = runtime_symbol("cudaMemPoolDestroy");
    cudaError_t (*from_pool)(void **, size_t, cudaMemPool_t, cudaStream_t) = runtime_symbol("cudaMallocFromPoolAsync");
    cudaError_t (*free_async)(void *, cudaStream_t) = runtime_symbol("cudaFreeAsync");
    cudaError_t (*mem_get_info)(size_t *, size_t *) = runtime_symbol("cudaMemGetInfo");
    cudaError_t (*malloc_fn)(void **, size_t) = runtime_symbol("cudaMalloc");
    cudaError_t (*device_reset)(void) = runtime_symbol("cudaDeviceReset");
    cudaStream_t stream;
    cudaMemPool_t pool, created;
    struct cudaMemPoolProps props = {.allocType = cudaMemAllocationTypePinned,
                                     .location = {.type = cudaMemLocationTypeDevice, .id = 0}};
    void *a, *b;
    size_t free_bytes, total_bytes;
    cr_assert_eq(stream_create(&stream), cudaSuccess);
    cr_assert_eq(default_pool(&pool, 0), cudaSuccess);
    cr_assert_eq(pool_destroy(pool), cudaErrorInvalidValue, "the default pool stays");
    cr_assert_eq(pool_create(&created, &props), cudaSuccess);
    cr_assert_eq(from_pool(&a, 2 * MIB, created, stream), cudaSuccess);
    cr_assert_eq(from_pool(&b, 2 * MIB, pool, stream), cudaSuccess);
    cr_assert_eq(free_async(b, stream), cudaSuccess);
    cr_assert_eq(malloc_fn(&b, 4 * MIB), cudaSuccess);
    cr_assert_eq(mem_get_info(&free_bytes, &total_bytes), cudaSuccess);
    cr_assert_eq(free_bytes, 2 * MIB);
    cr_assert_eq(pool_destroy(created), cudaSuccess);
    cr_assert_eq(device_reset(), cudaSuccess);
    cr_assert_eq(mem_get_info(&free_bytes, &total_bytes), cudaSuccess);
    cr_assert_eq(free_bytes, 8 * MIB, "a reset frees everything on the device");
}

Test(sim_context, stream_and_pointer_name_their_device)
{
    setenv("VRAMTRACE_SIMULATE_DEVICES", "2", 1);
    CUcontext zero, one;
    CUstream stream;
    CUdevice device = -1;
    CUmemoryPool pool;
    CUdeviceptr on_stream, from_pool;
    int ordinal = -1;
    unsigned int memory_type = 0;
    cr_assert_eq(DRIVER(cuInit, 2000)(0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxRetain, 7000)(&zero, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxRetain, 7000)(&one, 1), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuCtxSetCurrent, 4000)(one), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuStreamCreate, 2000)(&stream, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuCtxSetCurrent, 4000)(zero), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuStreamGetDevice, 12080)(stream, &device), CUDA_SUCCESS);
    cr_assert_eq(device, 1, "a stream belongs to the device it was made on");
    cr_assert_eq(DRIVER(cuStreamGetDevice, 12080)(CU_STREAM_LEGACY, &device), CUDA_SUCCESS);
    cr_assert_eq(device, 0, "the default streams are the current device's");
    cr_assert_eq(DRIVER(cuStreamGetDevice, 12080)(stream, NULL), CUDA_ERROR_INVALID_VALUE);

    cr_assert_eq(DRIVER(cuMemAllocAsync, 11020)(&on_stream, MIB, stream), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuDeviceGetDefaultMemPool, 11020)(&pool, 1), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuMemAllocFromPoolAsync, 11020)(&from_pool, MIB, pool, NULL), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuPointerGetAttribute, 4000)(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, on_stream),
                 CUDA_SUCCESS);
    cr_assert_eq(ordinal, 1);
    ordinal = -1;
    cr_assert_eq(DRIVER(cuPointerGetAttribute, 4000)(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, from_pool),
                 CUDA_SUCCESS);
    cr_assert_eq(ordinal, 1, "pool memory is the pool's device's");
    cr_assert_eq(DRIVER(cuPointerGetAttribute, 4000)(&memory_type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, from_pool),
                 CUDA_SUCCESS);
    cr_assert_eq(memory_type, CU_MEMORYTYPE_DEVICE);
    cr_assert_eq(DRIVER(cuPointerGetAttribute, 4000)(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, 0x1234),
                 CUDA_ERROR_INVALID_VALUE, "not an allocation");
}

Test(sim_context, context_stack_and_primary_state)
{
    setenv("VRAMTRACE_SIMULATE_DEVICES", "2", 1);
    CUcontext zero, one, current, popped;
    unsigned int flags = 1;
    int active = -1;
    CUdevice device;
    cr_assert_eq(DRIVER(cuInit, 2000)(0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxGetState, 7000)(1, &flags, &active), CUDA_SUCCESS);
    cr_assert_eq(active, 0, "not retained yet");
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxRetain, 7000)(&zero, 0), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxRetain, 7000)(&one, 1), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxGetState, 7000)(1, &flags, &active), CUDA_SUCCESS);
    cr_assert_eq(active, 1);
    cr_assert_eq(DRIVER_AS("cuCtxPopCurrent_v2", cuCtxPopCurrent, 4000)(&popped), CUDA_ERROR_INVALID_CONTEXT,
                 "nothing current");
    cr_assert_eq(DRIVER(cuCtxSetCurrent, 4000)(zero), CUDA_SUCCESS);
    cr_assert_eq(DRIVER_AS("cuCtxPushCurrent_v2", cuCtxPushCurrent, 4000)(one), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuCtxGetDevice, 2000)(&device), CUDA_SUCCESS);
    cr_assert_eq(device, 1);
    cr_assert_eq(DRIVER_AS("cuCtxPopCurrent_v2", cuCtxPopCurrent, 4000)(&popped), CUDA_SUCCESS);
    cr_assert_eq(popped, one);
    cr_assert_eq(DRIVER(cuCtxGetCurrent, 4000)(&current), CUDA_SUCCESS);
    cr_assert_eq(current, zero, "the context below is current again");
    cr_assert_eq(DRIVER_AS("cuDevicePrimaryCtxRelease_v2", cuDevicePrimaryCtxRelease, 11000)(1), CUDA_SUCCESS);
    cr_assert_eq(DRIVER(cuDevicePrimaryCtxGetState, 7000)(1, &flags, &active), CUDA_SUCCESS);
    cr_assert_eq(active, 0);
}
