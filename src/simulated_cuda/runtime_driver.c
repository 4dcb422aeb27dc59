/* simulated_cuda/runtime_driver.c — owns how the stand-in runtime reaches the driver, done exactly
 * as the real libcudart.so.13 does it (cuda-facts.md §1): dlopen("libcuda.so.1"),
 * dlsym(handle, "cuGetProcAddress_v2"), ask that function for "cuGetProcAddress" itself (at
 * versions 11030 and 12000) and look up every other driver function through the pointer returned
 * at 12000. The runtime never calls the driver any other way, so a tracer that wraps what
 * cuGetProcAddress hands out sees every runtime call arrive at the driver.
 *
 * Also owns the per-thread binding of the runtime's current device to a driver context.
 */
#include "runtime_internal.h"

#include <dlfcn.h>
#include <pthread.h>

#define RT_MAX_DEVICES 64

struct rt_driver_table rt_driver;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static cudaError_t load_error = cudaSuccess;

static pthread_mutex_t primary_context_lock = PTHREAD_MUTEX_INITIALIZER;
static CUcontext primary_contexts[RT_MAX_DEVICES];

static __thread bool thread_has_context;
static __thread int thread_device;

static void *look_up(const char *name, int version)
{
    void *function = NULL;
    CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    if (rt_driver.get_proc_address(name, &function, version, CU_GET_PROC_ADDRESS_DEFAULT, &status) != CUDA_SUCCESS ||
        status != CU_GET_PROC_ADDRESS_SUCCESS)
        return NULL;
    return function;
}

static cudaError_t load_driver_table(void)
{
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library)
        return cudaErrorInsufficientDriver;
    PFN_cuGetProcAddress_v12000 bootstrap = (PFN_cuGetProcAddress_v12000)dlsym(library, "cuGetProcAddress_v2");
    if (!bootstrap)
        return cudaErrorInsufficientDriver;

    /* The real runtime asks for the lookup function itself twice; it keeps the 12000 answer, the
     * 5-argument cuGetProcAddress_v2 (or whatever a tracer put in its place). */
    void *function = NULL;
    CUdriverProcAddressQueryResult status;
    (void)bootstrap("cuGetProcAddress", &function, 11030, CU_GET_PROC_ADDRESS_DEFAULT, &status);
    function = NULL;
    if (bootstrap("cuGetProcAddress", &function, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &status) != CUDA_SUCCESS ||
        !function)
        return cudaErrorInsufficientDriver;
    rt_driver.get_proc_address = (PFN_cuGetProcAddress_v12000)function;

#define RT_LOOK_UP(field, name, version)                                        \
    if (!(rt_driver.field = (PFN_##name##_v##version)look_up(#name, version))) \
        return cudaErrorInsufficientDriver;
    RT_DRIVER_FUNCTIONS(RT_LOOK_UP)
#undef RT_LOOK_UP

    CUresult result = rt_driver.init(0);
    return result == CUDA_SUCCESS ? cudaSuccess : cudaErrorInitializationError;
}

static void load_once_routine(void)
{
    load_error = load_driver_table();
}

cudaError_t rt_load(void)
{
    pthread_once(&load_once, load_once_routine);
    return rt_record(load_error);
}

static CUresult retain_primary_context(int device, CUcontext *context)
{
    CUresult result = CUDA_SUCCESS;
    pthread_mutex_lock(&primary_context_lock);
    if (!primary_contexts[device]) {
        CUdevice handle;
        result = rt_driver.device_get(&handle, device);
        if (result == CUDA_SUCCESS)
            result = rt_driver.primary_ctx_retain(&primary_contexts[device], handle);
    }
    *context = primary_contexts[device];
    pthread_mutex_unlock(&primary_context_lock);
    return result;
}

cudaError_t rt_use_device(int device)
{
    cudaError_t error = rt_load();
    if (error != cudaSuccess)
        return error;
    int count = 0;
    CUresult result = rt_driver.device_get_count(&count);
    if (result != CUDA_SUCCESS)
        return rt_result(result);
    if (device < 0 || device >= count || device >= RT_MAX_DEVICES)
        return rt_record(cudaErrorInvalidDevice);
    CUcontext context = NULL;
    result = retain_primary_context(device, &context);
    if (result == CUDA_SUCCESS)
        result = rt_driver.ctx_set_current(context);
    if (result != CUDA_SUCCESS)
        return rt_result(result);
    thread_device = device;
    thread_has_context = true;
    return cudaSuccess;
}

cudaError_t rt_enter(void)
{
    cudaError_t error = rt_load();
    if (error != cudaSuccess || thread_has_context)
        return error;
    /* A context the program made current through the driver API is used as it is. */
    CUcontext current = NULL;
    CUdevice device;
    if (rt_driver.ctx_get_current(&current) == CUDA_SUCCESS && current &&
        rt_driver.ctx_get_device(&device) == CUDA_SUCCESS) {
        thread_device = device;
        thread_has_context = true;
        return cudaSuccess;
    }
    return rt_use_device(thread_device);
}

int rt_current_device(void)
{
    return thread_device;
}
