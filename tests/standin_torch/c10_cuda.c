/* tests/standin_torch/c10_cuda.c — stands in for PyTorch's libc10_cuda.so, the library whose code
 * makes the CUDA calls of PyTorch's caching allocator (c10/cuda/CUDACachingAllocator.cpp, its
 * cudaMallocAsync backend CUDAMallocAsyncAllocator.cpp, and c10/cuda/driver_api.cpp for expandable
 * segments). The stand-in's allocator is Python (torch/_caching_allocator.py): it decides, and calls
 * these functions through ctypes to get and return memory, so every cudaMalloc, cudaMallocAsync and
 * cuMem* call comes from inside a library named libc10_cuda.so, as in PyTorch (vramtrace's shim
 * recognises PyTorch's allocator by that).
 *
 * Like the real library it has NEEDED libcudart.so.13 and calls the runtime through the PLT
 * (cudaMalloc, cudaFree, cudaMallocAsync, cudaFreeAsync, ...), and reaches the driver's
 * virtual-memory calls (cuMemAddressReserve, cuMemCreate, cuMemMap, cuMemSetAccess, cuMemUnmap,
 * cuMemRelease, cuMemAddressFree) through cudaGetDriverEntryPointByVersion at version 12000.
 * Loading it makes no CUDA call; each function makes only the calls its comment names.
 *
 * Every function returns the CUDA status of the call that decided it: a cudaError_t for runtime
 * calls, a CUresult for the driver's (out of memory is 2 in both). c10_cuda_api_calls() counts the
 * CUDA calls made so far, so tests can check that nothing touched CUDA.
 */
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The functions the Python side calls (everything else is static). */
#define C10_API __attribute__((visibility("default")))

static _Atomic long api_calls;

/* Counts one CUDA call; used as `COUNT(cudaMalloc(...))`. */
#define COUNT(call) (atomic_fetch_add(&api_calls, 1), (call))

C10_API long c10_cuda_api_calls(void)
{
    return atomic_load(&api_calls);
}

C10_API const char *c10_cuda_error_string(int error)
{
    return cudaGetErrorString((cudaError_t)error);
}

/* ---- devices (c10/cuda/CUDAFunctions.cpp) ------------------------------------------------- */

/* cudaGetDeviceCount; 0 devices and the error when there is no driver. */
C10_API int c10_cuda_device_count(int *count)
{
    *count = 0;
    cudaError_t error = COUNT(cudaGetDeviceCount(count));
    if (error != cudaSuccess) {
        *count = 0;
        (void)COUNT(cudaGetLastError());
    }
    return error;
}

C10_API int c10_cuda_set_device(int device)
{
    return COUNT(cudaSetDevice(device));
}

C10_API int c10_cuda_get_device(int *device)
{
    return COUNT(cudaGetDevice(device));
}

/* CUDAGuard: make `device` current for one call, and put the previous device back. */
static cudaError_t guard_enter(int device, int *previous)
{
    cudaError_t error = COUNT(cudaGetDevice(previous));
    if (error == cudaSuccess && *previous != device)
        error = COUNT(cudaSetDevice(device));
    return error;
}

static void guard_exit(int device, int previous)
{
    if (previous != device)
        (void)COUNT(cudaSetDevice(previous));
}

/* cudaDeviceSynchronize on `device`. */
C10_API int c10_cuda_synchronize(int device)
{
    int previous;
    cudaError_t error = guard_enter(device, &previous);
    if (error == cudaSuccess) {
        error = COUNT(cudaDeviceSynchronize());
        guard_exit(device, previous);
    }
    return error;
}

/* cudaMemGetInfo on `device` (the allocator asks at an out-of-memory, for its message). */
C10_API int c10_cuda_mem_get_info(int device, size_t *free_bytes, size_t *total_bytes)
{
    int previous;
    cudaError_t error = guard_enter(device, &previous);
    if (error == cudaSuccess) {
        error = COUNT(cudaMemGetInfo(free_bytes, total_bytes));
        guard_exit(device, previous);
    }
    return error;
}

/* ---- segments of the native caching allocator, and the uncached mode ---------------------- */

/* cudaMalloc on `device`. Out of memory is cleared from the runtime's error state, as the
 * allocator does before it frees its cache and retries. */
C10_API int c10_cuda_malloc(int device, size_t bytes, void **out)
{
    *out = NULL;
    int previous;
    cudaError_t error = guard_enter(device, &previous);
    if (error != cudaSuccess)
        return error;
    error = COUNT(cudaMalloc(out, bytes));
    if (error == cudaErrorMemoryAllocation)
        (void)COUNT(cudaGetLastError());
    guard_exit(device, previous);
    return error;
}

/* cudaFree on `device`. */
C10_API int c10_cuda_free(int device, void *pointer)
{
    int previous;
    cudaError_t error = guard_enter(device, &previous);
    if (error != cudaSuccess)
        return error;
    error = COUNT(cudaFree(pointer));
    guard_exit(device, previous);
    return error;
}

/* ---- backend:cudaMallocAsync: one call per tensor on the current (default) stream --------- */

C10_API int c10_cuda_malloc_async(int device, size_t bytes, void **out)
{
    *out = NULL;
    int previous;
    cudaError_t error = guard_enter(device, &previous);
    if (error != cudaSuccess)
        return error;
    error = COUNT(cudaMallocAsync(out, bytes, (cudaStream_t)0));
    if (error == cudaErrorMemoryAllocation)
        (void)COUNT(cudaGetLastError());
    guard_exit(device, previous);
    return error;
}

C10_API int c10_cuda_free_async(int device, void *pointer)
{
    int previous;
    cudaError_t error = guard_enter(device, &previous);
    if (error != cudaSuccess)
        return error;
    error = COUNT(cudaFreeAsync(pointer, (cudaStream_t)0));
    guard_exit(device, previous);
    return error;
}

/* ---- expandable segments (driver_api.cpp: the driver through the runtime's entry points) --- */

typedef CUresult (*address_reserve_fn)(CUdeviceptr *, size_t, size_t, CUdeviceptr, unsigned long long);
typedef CUresult (*address_free_fn)(CUdeviceptr, size_t);
typedef CUresult (*create_fn)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *,
                              unsigned long long);
typedef CUresult (*release_fn)(CUmemGenericAllocationHandle);
typedef CUresult (*map_fn)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long);
typedef CUresult (*unmap_fn)(CUdeviceptr, size_t);
typedef CUresult (*set_access_fn)(CUdeviceptr, size_t, const CUmemAccessDesc *, size_t);

static struct {
    int looked_up; /* 1 once every pointer below is set */
    address_reserve_fn address_reserve;
    address_free_fn address_free;
    create_fn create;
    release_fn release;
    map_fn map;
    unmap_fn unmap;
    set_access_fn set_access;
} driver;

/* The handle type cuMemCreate is asked for: fabric first, as PyTorch does, then (once the
 * driver says it is not supported) POSIX file descriptors for good. */
static _Atomic int handle_type = CU_MEM_HANDLE_TYPE_FABRIC;

static int look_up(const char *name, void **function)
{
    enum cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
    cudaError_t error = COUNT(cudaGetDriverEntryPointByVersion(name, function, 12000, cudaEnableDefault, &status));
    if (error != cudaSuccess)
        return error;
    return *function && status == cudaDriverEntryPointSuccess ? 0 : (int)cudaErrorSymbolNotFound;
}

/* Looks up the driver's functions once (DriverAPI::get() in PyTorch). */
static int driver_api(void)
{
    if (driver.looked_up)
        return 0;
    int error = look_up("cuMemAddressReserve", (void **)&driver.address_reserve);
    if (!error)
        error = look_up("cuMemAddressFree", (void **)&driver.address_free);
    if (!error)
        error = look_up("cuMemCreate", (void **)&driver.create);
    if (!error)
        error = look_up("cuMemRelease", (void **)&driver.release);
    if (!error)
        error = look_up("cuMemMap", (void **)&driver.map);
    if (!error)
        error = look_up("cuMemUnmap", (void **)&driver.unmap);
    if (!error)
        error = look_up("cuMemSetAccess", (void **)&driver.set_access);
    if (!error)
        driver.looked_up = 1;
    return error;
}

/* cuMemAddressReserve of `bytes` of address space (no memory). */
C10_API int c10_cuda_vmm_reserve(size_t bytes, uint64_t *address)
{
    *address = 0;
    int error = driver_api();
    if (error)
        return error;
    CUdeviceptr pointer = 0;
    CUresult result = COUNT(driver.address_reserve(&pointer, bytes, 0, 0, 0));
    *address = pointer;
    return result;
}

/* cuMemAddressFree of a reservation. */
C10_API int c10_cuda_vmm_address_free(uint64_t address, size_t bytes)
{
    int error = driver_api();
    return error ? error : (int)COUNT(driver.address_free(address, bytes));
}

/* Backs `pages` pages of `page_bytes` at `address` with physical memory of `device`, as
 * ExpandableSegment::map does: one cuMemCreate per page (all of them released again if one runs
 * out of memory), one cuMemMap per page, then one cuMemSetAccess over the whole range. The
 * handles go to handles[0..pages). */
C10_API int c10_cuda_vmm_map(int device, uint64_t address, size_t page_bytes, size_t pages, uint64_t *handles)
{
    int error = driver_api();
    if (error)
        return error;
    CUresult result = CUDA_SUCCESS;
    size_t created = 0;
    while (created < pages) {
        CUmemAllocationProp prop = {0};
        prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
        prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        prop.location.id = device;
        prop.requestedHandleTypes = (CUmemAllocationHandleType)atomic_load(&handle_type);
        CUmemGenericAllocationHandle handle = 0;
        result = COUNT(driver.create(&handle, page_bytes, &prop, 0));
        if ((result == CUDA_ERROR_NOT_SUPPORTED || result == CUDA_ERROR_NOT_PERMITTED) &&
            prop.requestedHandleTypes == CU_MEM_HANDLE_TYPE_FABRIC) {
            atomic_store(&handle_type, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
            continue;
        }
        if (result != CUDA_SUCCESS)
            break;
        handles[created++] = handle;
    }
    if (result != CUDA_SUCCESS) {
        while (created > 0)
            (void)COUNT(driver.release(handles[--created]));
        return result;
    }
    for (size_t i = 0; i < pages && result == CUDA_SUCCESS; i++)
        result = COUNT(driver.map(address + i * page_bytes, page_bytes, 0, handles[i], 0));
    if (result == CUDA_SUCCESS) {
        CUmemAccessDesc access = {0};
        access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        access.location.id = device;
        access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
        result = COUNT(driver.set_access(address, pages * page_bytes, &access, 1));
    }
    return result;
}

/* Returns `pages` pages at `address` to the driver, as ExpandableSegment::unmapHandles does: waits
 * for the device, then one cuMemUnmap and one cuMemRelease per page. */
C10_API int c10_cuda_vmm_unmap(int device, uint64_t address, size_t page_bytes, size_t pages,
                               const uint64_t *handles)
{
    int error = driver_api();
    if (error)
        return error;
    error = c10_cuda_synchronize(device);
    if (error)
        return error;
    CUresult result = CUDA_SUCCESS;
    for (size_t i = 0; i < pages; i++) {
        CUresult unmapped = COUNT(driver.unmap(address + i * page_bytes, page_bytes));
        CUresult released = COUNT(driver.release(handles[i]));
        if (result == CUDA_SUCCESS)
            result = unmapped != CUDA_SUCCESS ? unmapped : released;
    }
    return result;
}
