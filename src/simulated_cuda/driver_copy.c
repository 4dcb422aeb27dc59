/* simulated_cuda/driver_copy.c — owns the driver's copies and fills: cuMemcpy, cuMemcpyAsync,
 * cuMemcpyHtoD_v2, cuMemcpyDtoH_v2, cuMemcpyDtoD_v2, cuMemsetD8_v2, cuMemsetD8Async and their
 * per-thread-default-stream (_ptds/_ptsz) variants. All memory is host memory with unified
 * addresses, so every copy is a memmove and runs to completion before returning.
 */
#include "sim_driver.h"

#include <string.h>

static CUresult copy_bytes(CUdeviceptr destination, CUdeviceptr source, size_t bytes)
{
    if (bytes == 0)
        return CUDA_SUCCESS;
    if (!destination || !source)
        return CUDA_ERROR_INVALID_VALUE;
    memmove((void *)(uintptr_t)destination, (const void *)(uintptr_t)source, bytes);
    return CUDA_SUCCESS;
}

static CUresult copy_bytes_on_stream(CUdeviceptr destination, CUdeviceptr source, size_t bytes, CUstream stream)
{
    int device;
    CUresult result = sim_stream_device(stream, &device);
    return result != CUDA_SUCCESS ? result : copy_bytes(destination, source, bytes);
}

static CUresult fill_bytes(CUdeviceptr destination, unsigned char value, size_t bytes)
{
    if (bytes == 0)
        return CUDA_SUCCESS;
    if (!destination)
        return CUDA_ERROR_INVALID_VALUE;
    memset((void *)(uintptr_t)destination, value, bytes);
    return CUDA_SUCCESS;
}

static CUresult fill_bytes_on_stream(CUdeviceptr destination, unsigned char value, size_t bytes, CUstream stream)
{
    int device;
    CUresult result = sim_stream_device(stream, &device);
    return result != CUDA_SUCCESS ? result : fill_bytes(destination, value, bytes);
}

static CUdeviceptr host_address(const void *pointer)
{
    return (CUdeviceptr)(uintptr_t)pointer;
}

CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
    return copy_bytes(dst, src, ByteCount);
}

CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
    return copy_bytes(dst, src, ByteCount);
}

CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
    return copy_bytes_on_stream(dst, src, ByteCount, hStream);
}

CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
    return copy_bytes_on_stream(dst, src, ByteCount, hStream);
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    return copy_bytes(dstDevice, host_address(srcHost), ByteCount);
}

CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    return copy_bytes(dstDevice, host_address(srcHost), ByteCount);
}

CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_bytes(host_address(dstHost), srcDevice, ByteCount);
}

CUresult cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_bytes(host_address(dstHost), srcDevice, ByteCount);
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_bytes(dstDevice, srcDevice, ByteCount);
}

CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_bytes(dstDevice, srcDevice, ByteCount);
}

CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
    return fill_bytes(dstDevice, uc, N);
}

CUresult cuMemsetD8_v2_ptds(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
    return fill_bytes(dstDevice, uc, N);
}

CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
{
    return fill_bytes_on_stream(dstDevice, uc, N, hStream);
}

CUresult cuMemsetD8Async_ptsz(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
{
    return fill_bytes_on_stream(dstDevice, uc, N, hStream);
}
