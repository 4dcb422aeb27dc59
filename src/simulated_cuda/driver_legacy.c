/* simulated_cuda/driver_legacy.c — owns the legacy 32-bit entry points (the ABI before CUDA 3.2:
 * unsigned int sizes and 32-bit device pointers). cuGetProcAddress hands them out for versions
 * below 3020, as the real driver does; the simulation does not implement them, they only exist
 * so that tests can check that a tracer passes such lookups through untouched.
 */
#include "sim_driver.h"

static CUresult legacy_abi_not_supported(void)
{
    return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
    (void)dptr, (void)bytesize;
    return legacy_abi_not_supported();
}

CUresult cuMemAllocPitch(CUdeviceptr_v1 *dptr, unsigned int *pPitch, unsigned int WidthInBytes, unsigned int Height,
                         unsigned int ElementSizeBytes)
{
    (void)dptr, (void)pPitch, (void)WidthInBytes, (void)Height, (void)ElementSizeBytes;
    return legacy_abi_not_supported();
}

CUresult cuMemFree(CUdeviceptr_v1 dptr)
{
    (void)dptr;
    return legacy_abi_not_supported();
}

CUresult cuMemAllocHost(void **pp, unsigned int bytesize)
{
    (void)pp, (void)bytesize;
    return legacy_abi_not_supported();
}

CUresult cuMemGetInfo(unsigned int *free_bytes, unsigned int *total_bytes)
{
    (void)free_bytes, (void)total_bytes;
    return legacy_abi_not_supported();
}

CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
    (void)bytes, (void)dev;
    return legacy_abi_not_supported();
}
