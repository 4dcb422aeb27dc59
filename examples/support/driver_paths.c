/* examples/support/driver_paths.c — reaching the CUDA driver's allocator the ways CuPy, JAX and
 * PyTorch's expandable segments do (see driver_paths.h), leaving known amounts allocated.
 * Runs unchanged on a real GPU and on the simulated device.
 */
#include "driver_paths.h"

#include <cudaTypedefs.h>
#include <dlfcn.h>

#include "cuda_check.h"

/* The driver calls a library needs to allocate on device 0 with a context of its own. */
struct driver_calls {
    PFN_cuInit_v2000 init;
    PFN_cuDeviceGet_v2000 device_get;
    PFN_cuDevicePrimaryCtxRetain_v7000 primary_ctx_retain;
    PFN_cuCtxSetCurrent_v4000 ctx_set_current;
    PFN_cuMemAlloc_v3020 mem_alloc;
    PFN_cuMemFree_v3020 mem_free;
};

static void *open_driver(void)
{
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        fprintf(stderr, "dlopen(libcuda.so.1) failed: %s\n", dlerror());
        exit(1);
    }
    return library;
}

static void *symbol_by_name(void *library, const char *name)
{
    void *function = dlsym(library, name);
    if (!function) {
        fprintf(stderr, "dlsym(libcuda.so.1, %s) failed: %s\n", name, dlerror());
        exit(1);
    }
    return function;
}

static PFN_cuGetProcAddress_v12000 cupy_lookup;

static void *symbol_by_lookup(const char *name, int version)
{
    void *function = NULL;
    CUdriverProcAddressQueryResult status;
    CHECK_CU(cupy_lookup(name, &function, version, CU_GET_PROC_ADDRESS_DEFAULT, &status));
    if (!function || status != CU_GET_PROC_ADDRESS_SUCCESS) { /* not found is CUDA_SUCCESS with NULL */
        fprintf(stderr, "cuGetProcAddress(%s, %d) found nothing (status %d)\n", name, version, (int)status);
        exit(1);
    }
    return function;
}

/* As CuPy does: cuInit, then make device 0's primary context current. */
static void make_context_current(const struct driver_calls *calls)
{
    CUdevice device;
    CUcontext context;
    CHECK_CU(calls->init(0));
    CHECK_CU(calls->device_get(&device, 0));
    CHECK_CU(calls->primary_ctx_retain(&context, device));
    CHECK_CU(calls->ctx_set_current(context));
}

static void allocate_and_leak(const struct driver_calls *calls, size_t leaked_bytes, int pairs)
{
    make_context_current(calls);
    for (int i = 0; i < pairs; i++) {
        CUdeviceptr buffer;
        CHECK_CU(calls->mem_alloc(&buffer, (size_t)(64 << 10) * (1 + i % 4)));
        CHECK_CU(calls->mem_free(buffer));
    }
    CUdeviceptr leaked;
    CHECK_CU(calls->mem_alloc(&leaked, leaked_bytes));
}

void leak_through_cupy_path(size_t leaked_bytes, int pairs)
{
    if (!cupy_lookup) {
        PFN_cuGetProcAddress_v12000 bootstrap =
            (PFN_cuGetProcAddress_v12000)symbol_by_name(open_driver(), "cuGetProcAddress_v2");
        void *function = NULL;
        CUdriverProcAddressQueryResult status;
        CHECK_CU(bootstrap("cuGetProcAddress", &function, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &status));
        if (!function) {
            fprintf(stderr, "cuGetProcAddress(cuGetProcAddress, 12000) found nothing\n");
            exit(1);
        }
        cupy_lookup = (PFN_cuGetProcAddress_v12000)function;
    }
    struct driver_calls calls = {
        .init = (PFN_cuInit_v2000)symbol_by_lookup("cuInit", 2000),
        .device_get = (PFN_cuDeviceGet_v2000)symbol_by_lookup("cuDeviceGet", 2000),
        .primary_ctx_retain = (PFN_cuDevicePrimaryCtxRetain_v7000)symbol_by_lookup("cuDevicePrimaryCtxRetain", 7000),
        .ctx_set_current = (PFN_cuCtxSetCurrent_v4000)symbol_by_lookup("cuCtxSetCurrent", 4000),
        .mem_alloc = (PFN_cuMemAlloc_v3020)symbol_by_lookup("cuMemAlloc", 3020),
        .mem_free = (PFN_cuMemFree_v3020)symbol_by_lookup("cuMemFree", 3020),
    };
    allocate_and_leak(&calls, leaked_bytes, pairs);
}

void leak_through_dlsym_path(size_t leaked_bytes, int pairs)
{
    void *library = open_driver();
    struct driver_calls calls = {
        .init = (PFN_cuInit_v2000)symbol_by_name(library, "cuInit"),
        .device_get = (PFN_cuDeviceGet_v2000)symbol_by_name(library, "cuDeviceGet"),
        .primary_ctx_retain = (PFN_cuDevicePrimaryCtxRetain_v7000)symbol_by_name(library, "cuDevicePrimaryCtxRetain"),
        .ctx_set_current = (PFN_cuCtxSetCurrent_v4000)symbol_by_name(library, "cuCtxSetCurrent"),
        .mem_alloc = (PFN_cuMemAlloc_v3020)symbol_by_name(library, "cuMemAlloc_v2"),
        .mem_free = (PFN_cuMemFree_v3020)symbol_by_name(library, "cuMemFree_v2"),
    };
    allocate_and_leak(&calls, leaked_bytes, pairs);
}

/* ---- expandable segments ---------------------------------------------------------------- */

struct vmm_calls {
    PFN_cuMemGetAllocationGranularity_v10020 get_granularity;
    PFN_cuMemAddressReserve_v10020 address_reserve;
    PFN_cuMemAddressFree_v10020 address_free;
    PFN_cuMemCreate_v10020 create;
    PFN_cuMemRelease_v10020 release;
    PFN_cuMemMap_v10020 map;
    PFN_cuMemUnmap_v10020 unmap;
    PFN_cuMemSetAccess_v10020 set_access;
};

static void *entry_point(const char *name)
{
    void *function = NULL;
    enum cudaDriverEntryPointQueryResult status;
    CHECK_CUDA(cudaGetDriverEntryPointByVersion(name, &function, 12000, cudaEnableDefault, &status));
    if (!function || status != cudaDriverEntryPointSuccess) {
        fprintf(stderr, "cudaGetDriverEntryPointByVersion(%s, 12000) found nothing (status %d)\n", name, (int)status);
        exit(1);
    }
    return function;
}

/* One chunk of physical memory. Like PyTorch, ask for a fabric handle first and, once that has
 * failed, for a POSIX file descriptor handle from then on. */
static CUmemGenericAllocationHandle create_chunk(const struct vmm_calls *vmm)
{
    static int fabric_failed;
    CUmemAllocationProp prop = {0};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    CUmemGenericAllocationHandle handle;
    if (!fabric_failed) {
        prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_FABRIC;
        if (vmm->create(&handle, EXPANDABLE_CHUNK_BYTES, &prop, 0) == CUDA_SUCCESS)
            return handle;
        fabric_failed = 1;
    }
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    CHECK_CU(vmm->create(&handle, EXPANDABLE_CHUNK_BYTES, &prop, 0));
    return handle;
}

static CUmemGenericAllocationHandle map_chunk(const struct vmm_calls *vmm, CUdeviceptr address)
{
    CUmemGenericAllocationHandle handle = create_chunk(vmm);
    CUmemAccessDesc access = {0};
    access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    access.location.id = 0;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    CHECK_CU(vmm->map(address, EXPANDABLE_CHUNK_BYTES, 0, handle, 0));
    CHECK_CU(vmm->set_access(address, EXPANDABLE_CHUNK_BYTES, &access, 1));
    CHECK_CUDA(cudaMemset((void *)(uintptr_t)address, 0, EXPANDABLE_CHUNK_BYTES)); /* the memory works */
    return handle;
}

static void unmap_chunk(const struct vmm_calls *vmm, CUdeviceptr address, CUmemGenericAllocationHandle handle)
{
    CHECK_CU(vmm->unmap(address, EXPANDABLE_CHUNK_BYTES));
    CHECK_CU(vmm->release(handle));
}

size_t leak_through_expandable_segments(int leaked_chunks)
{
    CHECK_CUDA(cudaSetDevice(0)); /* PyTorch works in the runtime's context */
    struct vmm_calls vmm = {
        .get_granularity = (PFN_cuMemGetAllocationGranularity_v10020)entry_point("cuMemGetAllocationGranularity"),
        .address_reserve = (PFN_cuMemAddressReserve_v10020)entry_point("cuMemAddressReserve"),
        .address_free = (PFN_cuMemAddressFree_v10020)entry_point("cuMemAddressFree"),
        .create = (PFN_cuMemCreate_v10020)entry_point("cuMemCreate"),
        .release = (PFN_cuMemRelease_v10020)entry_point("cuMemRelease"),
        .map = (PFN_cuMemMap_v10020)entry_point("cuMemMap"),
        .unmap = (PFN_cuMemUnmap_v10020)entry_point("cuMemUnmap"),
        .set_access = (PFN_cuMemSetAccess_v10020)entry_point("cuMemSetAccess"),
    };
    CUmemAllocationProp prop = {0};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    size_t granularity;
    CHECK_CU(vmm.get_granularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
    if (EXPANDABLE_CHUNK_BYTES % granularity != 0) {
        fprintf(stderr, "allocation granularity %zu does not divide 2 MiB\n", granularity);
        exit(1);
    }

    /* The segment that stays: grows chunk by chunk, grows once more and shrinks back. */
    CUdeviceptr segment;
    CHECK_CU(vmm.address_reserve(&segment, EXPANDABLE_RESERVATION_BYTES, 0, 0, 0));
    for (int i = 0; i < leaked_chunks; i++)
        map_chunk(&vmm, segment + (CUdeviceptr)i * EXPANDABLE_CHUNK_BYTES);
    CUdeviceptr extra = segment + (CUdeviceptr)leaked_chunks * EXPANDABLE_CHUNK_BYTES;
    unmap_chunk(&vmm, extra, map_chunk(&vmm, extra));

    /* A segment used and given back entirely. */
    CUdeviceptr other;
    CHECK_CU(vmm.address_reserve(&other, EXPANDABLE_RESERVATION_BYTES, 0, 0, 0));
    unmap_chunk(&vmm, other, map_chunk(&vmm, other));
    CHECK_CU(vmm.address_free(other, EXPANDABLE_RESERVATION_BYTES));

    return (size_t)leaked_chunks * EXPANDABLE_CHUNK_BYTES;
}
