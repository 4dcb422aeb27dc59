/* simulated_cuda/runtime_device.c — owns the runtime's device, stream, version and entry-point
 * calls: cudaGetDeviceCount, cudaSetDevice, cudaGetDevice, cudaDeviceSynchronize, cudaDeviceReset,
 * cudaDeviceGetAttribute, cudaStreamCreate(WithFlags), cudaStreamDestroy, cudaStreamSynchronize,
 * cudaDriverGetVersion, cudaRuntimeGetVersion, cudaGetDriverEntryPoint and
 * cudaGetDriverEntryPointByVersion (both forward to the stored cuGetProcAddress pointer).
 */
#include "runtime_internal.h"

/* ---- devices ---------------------------------------------------------------------------- */

cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count)
        return rt_record(cudaErrorInvalidValue);
    *count = 0;
    cudaError_t error = rt_load();
    if (error != cudaSuccess)
        return error;
    return rt_result(rt_driver.device_get_count(count));
}

cudaError_t cudaSetDevice(int device)
{
    return rt_use_device(device);
}

cudaError_t cudaGetDevice(int *device)
{
    RT_ENTER();
    if (!device)
        return rt_record(cudaErrorInvalidValue);
    *device = rt_current_device();
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    RT_ENTER();
    return rt_result(rt_driver.ctx_synchronize());
}

/* Destroys every allocation of the current device, as the real call does (through the driver's
 * primary context reset: the program sees no free calls for them). */
cudaError_t cudaDeviceReset(void)
{
    RT_ENTER();
    CUdevice handle;
    CUresult result = rt_driver.device_get(&handle, rt_current_device());
    if (result == CUDA_SUCCESS)
        result = rt_driver.primary_ctx_reset(handle);
    return rt_result(result);
}

/* cudaDeviceAttr values are those of the driver's CUdevice_attribute. */
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    cudaError_t error = rt_load();
    if (error != cudaSuccess)
        return error;
    CUdevice handle;
    CUresult result = rt_driver.device_get(&handle, device);
    if (result == CUDA_SUCCESS)
        result = rt_driver.device_get_attribute(value, (CUdevice_attribute)attr, handle);
    return rt_result(result);
}

/* ---- streams ---------------------------------------------------------------------------- */

/* Exported functions never call each other, so a tracer that wraps one sees only the program's calls. */
static cudaError_t create_stream(cudaStream_t *pStream, unsigned int flags)
{
    RT_ENTER();
    if (!pStream)
        return rt_record(cudaErrorInvalidValue);
    /* cudaStreamNonBlocking has the value of CU_STREAM_NON_BLOCKING. */
    return rt_result(rt_driver.stream_create(pStream, flags));
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags)
{
    return create_stream(pStream, flags);
}

cudaError_t cudaStreamCreate(cudaStream_t *pStream)
{
    return create_stream(pStream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    RT_ENTER();
    return rt_result(rt_driver.stream_destroy(stream));
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    RT_ENTER();
    return rt_result(rt_driver.stream_synchronize(stream));
}

/* ---- versions and driver entry points --------------------------------------------------- */

cudaError_t cudaRuntimeGetVersion(int *runtimeVersion)
{
    if (!runtimeVersion)
        return rt_record(cudaErrorInvalidValue);
    *runtimeVersion = RT_RUNTIME_VERSION;
    return cudaSuccess;
}

/* Like the real runtime, 0 (and success) when no driver can be loaded. */
cudaError_t cudaDriverGetVersion(int *driverVersion)
{
    if (!driverVersion)
        return rt_record(cudaErrorInvalidValue);
    *driverVersion = 0;
    if (rt_load() != cudaSuccess) {
        rt_last_error(true);
        return cudaSuccess;
    }
    return rt_result(rt_driver.driver_get_version(driverVersion));
}

static enum cudaDriverEntryPointQueryResult entry_point_status(CUdriverProcAddressQueryResult status)
{
    switch (status) {
    case CU_GET_PROC_ADDRESS_SUCCESS: return cudaDriverEntryPointSuccess;
    case CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT: return cudaDriverEntryPointVersionNotSufficent;
    default: return cudaDriverEntryPointSymbolNotFound;
    }
}

/* A symbol that is not found is still cudaSuccess, with *funcPtr NULL and the reason in
 * *driverStatus (documented behaviour of the real runtime). */
static cudaError_t get_entry_point(const char *symbol, void **funcPtr, unsigned int cudaVersion,
                                   unsigned long long flags, enum cudaDriverEntryPointQueryResult *driverStatus)
{
    cudaError_t error = rt_load();
    if (error != cudaSuccess)
        return error;
    const unsigned long long known_flags = cudaEnableLegacyStream | cudaEnablePerThreadDefaultStream;
    if (!symbol || !funcPtr || (flags & ~known_flags) || cudaVersion > (unsigned int)RT_RUNTIME_VERSION)
        return rt_record(cudaErrorInvalidValue);
    /* cudaEnable* flags have the values of the driver's CU_GET_PROC_ADDRESS_* flags. */
    CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    CUresult result = rt_driver.get_proc_address(symbol, funcPtr, (int)cudaVersion, flags, &status);
    if (driverStatus)
        *driverStatus = entry_point_status(status);
    if (result == CUDA_SUCCESS || result == CUDA_ERROR_NOT_FOUND) {
        if (result != CUDA_SUCCESS)
            *funcPtr = NULL;
        return cudaSuccess;
    }
    return rt_result(result);
}

cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **funcPtr, unsigned int cudaVersion,
                                             unsigned long long flags,
                                             enum cudaDriverEntryPointQueryResult *driverStatus)
{
    return get_entry_point(symbol, funcPtr, cudaVersion, flags, driverStatus);
}

cudaError_t cudaGetDriverEntryPoint(const char *symbol, void **funcPtr, unsigned long long flags,
                                    enum cudaDriverEntryPointQueryResult *driverStatus)
{
    return get_entry_point(symbol, funcPtr, RT_RUNTIME_VERSION, flags, driverStatus);
}
