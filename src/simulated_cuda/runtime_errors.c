/* simulated_cuda/runtime_errors.c — owns the runtime's errors: the translation of driver results to
 * cudaError_t (CUDA_ERROR_OUT_OF_MEMORY -> cudaErrorMemoryAllocation, ...), the per-thread last
 * error (cudaGetLastError, cudaPeekAtLastError) and the names and descriptions
 * (cudaGetErrorName, cudaGetErrorString).
 */
#include "runtime_internal.h"

#define NO_DRIVER_RESULT (-1)

/* X(runtime error, the driver result it stands for or NO_DRIVER_RESULT, description) */
#define RT_ERRORS(X)                                                                                          \
    X(cudaSuccess, CUDA_SUCCESS, "no error")                                                                  \
    X(cudaErrorInvalidValue, CUDA_ERROR_INVALID_VALUE, "invalid argument")                                    \
    X(cudaErrorMemoryAllocation, CUDA_ERROR_OUT_OF_MEMORY, "out of memory")                                   \
    X(cudaErrorInitializationError, CUDA_ERROR_NOT_INITIALIZED, "initialization error")                       \
    X(cudaErrorCudartUnloading, CUDA_ERROR_DEINITIALIZED, "driver shutting down")                             \
    X(cudaErrorNoDevice, CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected")                          \
    X(cudaErrorInvalidDevice, CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal")                            \
    X(cudaErrorDeviceUninitialized, CUDA_ERROR_INVALID_CONTEXT, "invalid device context")                     \
    X(cudaErrorInvalidResourceHandle, CUDA_ERROR_INVALID_HANDLE, "invalid resource handle")                   \
    X(cudaErrorSymbolNotFound, CUDA_ERROR_NOT_FOUND, "named symbol not found")                                \
    X(cudaErrorNotReady, CUDA_ERROR_NOT_READY, "device not ready")                                            \
    X(cudaErrorNotPermitted, CUDA_ERROR_NOT_PERMITTED, "operation not permitted")                             \
    X(cudaErrorNotSupported, CUDA_ERROR_NOT_SUPPORTED, "operation not supported")                             \
    X(cudaErrorInvalidDevicePointer, NO_DRIVER_RESULT, "invalid device pointer")                              \
    X(cudaErrorInvalidMemcpyDirection, NO_DRIVER_RESULT, "invalid copy direction for memcpy")                 \
    X(cudaErrorInsufficientDriver, NO_DRIVER_RESULT, "CUDA driver version is insufficient for CUDA runtime version") \
    X(cudaErrorUnknown, CUDA_ERROR_UNKNOWN, "unknown error")

struct rt_error_info {
    cudaError_t error;
    int driver_result;
    const char *name;
    const char *description;
};

static const struct rt_error_info errors[] = {
#define RT_ERROR_ROW(error, driver_result, description) {error, (int)driver_result, #error, description},
    RT_ERRORS(RT_ERROR_ROW)
#undef RT_ERROR_ROW
};

#define UNRECOGNIZED "unrecognized error code"

static __thread cudaError_t last_error = cudaSuccess;

static const struct rt_error_info *info_of(cudaError_t error)
{
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].error == error)
            return &errors[i];
    return NULL;
}

cudaError_t rt_record(cudaError_t error)
{
    if (error != cudaSuccess)
        last_error = error;
    return error;
}

cudaError_t rt_result(CUresult result)
{
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].driver_result == (int)result)
            return rt_record(errors[i].error);
    return rt_record(cudaErrorUnknown);
}

cudaError_t rt_last_error(bool reset)
{
    cudaError_t error = last_error;
    if (reset)
        last_error = cudaSuccess;
    return error;
}

cudaError_t cudaGetLastError(void)
{
    return rt_last_error(true);
}

cudaError_t cudaPeekAtLastError(void)
{
    return rt_last_error(false);
}

const char *cudaGetErrorName(cudaError_t error)
{
    const struct rt_error_info *info = info_of(error);
    return info ? info->name : UNRECOGNIZED;
}

const char *cudaGetErrorString(cudaError_t error)
{
    const struct rt_error_info *info = info_of(error);
    return info ? info->description : UNRECOGNIZED;
}
