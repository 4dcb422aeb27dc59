/* simulated_cuda/driver_memory.c — owns the driver's ordinary allocations: the helpers every
 * allocating entry point is built from (host memory standing in for device memory, capacity
 * accounting, the allocation table) and the synchronous entry points cuMemAlloc_v2,
 * cuMemAllocPitch_v2, cuMemFree_v2, cuMemAllocManaged, cuMemHostAlloc, cuMemAllocHost_v2,
 * cuMemFreeHost and cuMemGetInfo_v2.
 *
 * What cuMemAlloc, cuMemAllocPitch, cuMemAllocManaged and cuMemAllocHost obtain while a context
 * made by cuCtxCreate is current belongs to that context: its cuCtxDestroy frees it (CUDA's
 * cuCtxDestroy; sim_free_all_of_context).
 *
 * Memory is host memory. Large blocks come straight from mmap, so untouched pages cost nothing and
 * a 64 MiB allocation is as cheap as a small one; small blocks come from malloc, which is faster.
 */
#include "sim_driver.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define LARGE_ALLOCATION_BYTES (1u << 20)
#define DEVICE_ALIGNMENT 512 /* what cudaMalloc returns on current GPUs (256 is guaranteed) */
#define PITCH_ALIGNMENT 512

static void *backing_alloc(size_t bytes, size_t alignment)
{
    if (bytes >= LARGE_ALLOCATION_BYTES) {
        void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        return memory == MAP_FAILED ? NULL : memory;
    }
    void *memory;
    return posix_memalign(&memory, alignment, bytes) == 0 ? memory : NULL;
}

static void backing_free(void *memory, size_t bytes)
{
    if (bytes >= LARGE_ALLOCATION_BYTES)
        munmap(memory, bytes);
    else
        free(memory);
}

static bool counted_against_device(enum sim_memory_kind kind)
{
    return kind != SIM_MEMORY_HOST_PINNED;
}

CUresult sim_allocate(enum sim_memory_kind kind, int device, CUcontext owner, size_t bytes, CUdeviceptr *address)
{
    if (!address || bytes == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (counted_against_device(kind)) {
        CUresult result = sim_capacity_reserve(device, bytes);
        if (result != CUDA_SUCCESS)
            return result;
    }
    size_t alignment = kind == SIM_MEMORY_HOST_PINNED ? (size_t)sysconf(_SC_PAGESIZE) : DEVICE_ALIGNMENT;
    struct sim_allocation *allocation = malloc(sizeof *allocation);
    void *memory = backing_alloc(bytes, alignment);
    if (!allocation || !memory) {
        free(allocation);
        if (memory)
            backing_free(memory, bytes);
        if (counted_against_device(kind))
            sim_capacity_release(device, bytes);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    allocation->address = (uint64_t)(uintptr_t)memory;
    allocation->size = bytes;
    allocation->device = kind == SIM_MEMORY_HOST_PINNED ? -1 : device;
    allocation->kind = kind;
    allocation->owner = owner;
    sim_allocations_add(allocation);
    *address = allocation->address;
    return CUDA_SUCCESS;
}

static void release_allocation(struct sim_allocation *allocation)
{
    if (counted_against_device(allocation->kind))
        sim_capacity_release(allocation->device, allocation->size);
    backing_free((void *)(uintptr_t)allocation->address, allocation->size);
    free(allocation);
}

CUresult sim_free(CUdeviceptr address, unsigned int kinds)
{
    if (address == 0)
        return CUDA_SUCCESS; /* as the real driver: freeing NULL does nothing */
    struct sim_allocation *allocation = sim_allocations_take(address, kinds);
    if (!allocation)
        return CUDA_ERROR_INVALID_VALUE;
    release_allocation(allocation);
    return CUDA_SUCCESS;
}

void sim_free_all_on_device(int device)
{
    sim_allocations_take_all(device, NULL, SIM_MEMORY_DEVICE | SIM_MEMORY_MANAGED, release_allocation);
}

void sim_free_all_of_context(CUcontext context)
{
    sim_allocations_take_all(-1, context, SIM_MEMORY_DEVICE | SIM_MEMORY_MANAGED | SIM_MEMORY_HOST_PINNED,
                             release_allocation);
}

/* ---- device memory ---------------------------------------------------------------------- */

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    return sim_allocate(SIM_MEMORY_DEVICE, sim_current_device(), sim_created_context_current(), bytesize, dptr);
}

CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                            unsigned int ElementSizeBytes)
{
    if (!dptr || !pPitch || WidthInBytes == 0 || Height == 0 ||
        (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16))
        return CUDA_ERROR_INVALID_VALUE;
    size_t pitch = (WidthInBytes + PITCH_ALIGNMENT - 1) / PITCH_ALIGNMENT * PITCH_ALIGNMENT;
    if (pitch < WidthInBytes || Height > SIZE_MAX / pitch)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult result =
        sim_allocate(SIM_MEMORY_DEVICE, sim_current_device(), sim_created_context_current(), pitch * Height, dptr);
    if (result == CUDA_SUCCESS)
        *pPitch = pitch;
    return result;
}

/* Frees memory from cuMemAlloc, cuMemAllocPitch, cuMemAllocManaged and the stream-ordered
 * allocators, as the real cuMemFree does. */
CUresult cuMemFree_v2(CUdeviceptr dptr)
{
    return sim_free(dptr, SIM_MEMORY_DEVICE | SIM_MEMORY_MANAGED);
}

CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)
        return CUDA_ERROR_INVALID_VALUE;
    return sim_allocate(SIM_MEMORY_MANAGED, sim_current_device(), sim_created_context_current(), bytesize, dptr);
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total_bytes)
{
    if (!free_bytes || !total_bytes)
        return CUDA_ERROR_INVALID_VALUE;
    int device = sim_current_device();
    uint64_t capacity = sim_device_capacity();
    uint64_t used = sim_device_used(device);
    *total_bytes = (size_t)capacity;
    *free_bytes = (size_t)(used < capacity ? capacity - used : 0);
    return CUDA_SUCCESS;
}

/* Answers CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL and CU_POINTER_ATTRIBUTE_MEMORY_TYPE for the start of
 * a live allocation (the real driver also answers for addresses inside one, and more attributes:
 * those are CUDA_ERROR_NOT_SUPPORTED here). An address that is no allocation is
 * CUDA_ERROR_INVALID_VALUE, as on the real driver. */
CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
    if (!data)
        return CUDA_ERROR_INVALID_VALUE;
    int device;
    enum sim_memory_kind kind;
    if (!sim_allocations_lookup(ptr, &device, &kind))
        return CUDA_ERROR_INVALID_VALUE;
    switch (attribute) {
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
        *(int *)data = device >= 0 ? device : sim_current_device();
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned int *)data = kind == SIM_MEMORY_HOST_PINNED ? CU_MEMORYTYPE_HOST
                                : kind == SIM_MEMORY_MANAGED   ? CU_MEMORYTYPE_UNIFIED
                                                               : CU_MEMORYTYPE_DEVICE;
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_NOT_SUPPORTED;
    }
}

/* ---- page-locked host memory ------------------------------------------------------------ */

/* `owner`: the created context cuCtxDestroy of which frees it (cuMemAllocHost's memory, in CUDA's
 * list for cuCtxDestroy; cuMemHostAlloc's is not in it). */
static CUresult allocate_host(void **pp, size_t bytesize, CUcontext owner)
{
    if (!pp)
        return CUDA_ERROR_INVALID_VALUE;
    CUdeviceptr address = 0;
    /* Zero bytes: success and NULL, as the real driver answers. */
    CUresult result =
        bytesize == 0 ? CUDA_SUCCESS : sim_allocate(SIM_MEMORY_HOST_PINNED, -1, owner, bytesize, &address);
    *pp = result == CUDA_SUCCESS ? (void *)(uintptr_t)address : NULL;
    return result;
}

CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    const unsigned int known = CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED;
    if (Flags & ~known)
        return CUDA_ERROR_INVALID_VALUE;
    return allocate_host(pp, bytesize, NULL);
}

CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)
{
    return allocate_host(pp, bytesize, sim_created_context_current());
}

CUresult cuMemFreeHost(void *p)
{
    return sim_free((CUdeviceptr)(uintptr_t)p, SIM_MEMORY_HOST_PINNED);
}
