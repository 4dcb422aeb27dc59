/* simulated_cuda/runtime_internal.h — the internal interface shared by the files of the stand-in
 * runtime (libcudart.so.13): the table of driver functions (the only way the runtime reaches the
 * driver), lazy initialisation, the per-thread context binding and the per-thread last error.
 */
#ifndef VT_SIM_RUNTIME_INTERNAL_H
#define VT_SIM_RUNTIME_INTERNAL_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <cudaTypedefs.h>

#define RT_RUNTIME_VERSION CUDART_VERSION

/* X(field, driver name, CUDA version asked for): every driver function the runtime uses. The
 * field's type is cudaTypedefs.h's PFN_<name>_v<version>, so the compiler checks each call. */
#define RT_DRIVER_FUNCTIONS(X)                                  \
    X(init, cuInit, 2000)                                       \
    X(driver_get_version, cuDriverGetVersion, 2020)             \
    X(device_get, cuDeviceGet, 2000)                            \
    X(device_get_count, cuDeviceGetCount, 2000)                 \
    X(device_get_attribute, cuDeviceGetAttribute, 2000)         \
    X(primary_ctx_retain, cuDevicePrimaryCtxRetain, 7000)       \
    X(primary_ctx_reset, cuDevicePrimaryCtxReset, 11000)        \
    X(ctx_set_current, cuCtxSetCurrent, 4000)                   \
    X(ctx_get_current, cuCtxGetCurrent, 4000)                   \
    X(ctx_get_device, cuCtxGetDevice, 2000)                     \
    X(ctx_synchronize, cuCtxSynchronize, 2000)                  \
    X(stream_create, cuStreamCreate, 2000)                      \
    X(stream_destroy, cuStreamDestroy, 4000)                    \
    X(stream_synchronize, cuStreamSynchronize, 2000)            \
    X(mem_get_info, cuMemGetInfo, 3020)                         \
    X(mem_alloc, cuMemAlloc, 3020)                              \
    X(mem_alloc_pitch, cuMemAllocPitch, 3020)                   \
    X(mem_free, cuMemFree, 3020)                                \
    X(mem_host_alloc, cuMemHostAlloc, 2020)                     \
    X(mem_alloc_host, cuMemAllocHost, 3020)                     \
    X(mem_free_host, cuMemFreeHost, 2000)                       \
    X(mem_alloc_managed, cuMemAllocManaged, 6000)               \
    X(mem_alloc_async, cuMemAllocAsync, 11020)                  \
    X(mem_free_async, cuMemFreeAsync, 11020)                    \
    X(mem_alloc_from_pool_async, cuMemAllocFromPoolAsync, 11020) \
    X(device_get_default_mem_pool, cuDeviceGetDefaultMemPool, 11020) \
    X(mem_pool_create, cuMemPoolCreate, 11020)                  \
    X(mem_pool_destroy, cuMemPoolDestroy, 11020)                \
    X(copy, cuMemcpy, 4000)                                     \
    X(copy_async, cuMemcpyAsync, 4000)                          \
    X(fill_bytes, cuMemsetD8, 3020)                             \
    X(fill_bytes_async, cuMemsetD8Async, 3020)

struct rt_driver_table {
    /* The pointer the driver handed out for "cuGetProcAddress" at version 12000: every other
     * entry was looked up through it, and cudaGetDriverEntryPoint* forward to it. */
    PFN_cuGetProcAddress_v12000 get_proc_address;
#define RT_DRIVER_FIELD(field, name, version) PFN_##name##_v##version field;
    RT_DRIVER_FUNCTIONS(RT_DRIVER_FIELD)
#undef RT_DRIVER_FIELD
};

/* Filled once by rt_load(); read-only afterwards. */
extern struct rt_driver_table rt_driver;

/* Loads the driver once (dlopen, cuGetProcAddress, cuInit). cudaSuccess, or the error every call
 * then fails with (recorded as the thread's last error). */
cudaError_t rt_load(void);
/* rt_load(), then makes sure this thread has a current context (the current device's primary
 * context unless the program set one itself). Every call that touches a device starts with it. */
cudaError_t rt_enter(void);
/* The device runtime calls on this thread work on, and switching it (cudaSetDevice). */
int rt_current_device(void);
cudaError_t rt_use_device(int device);

/* Records `error` as this thread's last error when it is not cudaSuccess; returns it. */
cudaError_t rt_record(cudaError_t error);
/* Translates a driver result to the runtime's error code and records it. */
cudaError_t rt_result(CUresult result);
/* The last error of this thread; cudaGetLastError also resets it. */
cudaError_t rt_last_error(bool reset);

#define RT_ENTER()                              \
    do {                                        \
        cudaError_t rt_entry_error = rt_enter(); \
        if (rt_entry_error != cudaSuccess)      \
            return rt_entry_error;              \
    } while (0)

#endif
