/* simulated_cuda/driver_vmm.c — owns the driver's virtual-memory family, the calls PyTorch's
 * expandable segments, JAX and NCCL use: cuMemAddressReserve / cuMemAddressFree (address space
 * only: a PROT_NONE mapping, never counted against capacity), cuMemCreate / cuMemRelease
 * (physical memory: a memfd, counted against the device until it is released and no mapping uses
 * it, as CUDA frees it), cuMemMap / cuMemUnmap (the memfd mapped over part of a reservation; one
 * unmap removes every mapping inside its range; a reservation is freed only once nothing is
 * mapped in it),
 * cuMemSetAccess and cuMemGetAllocationGranularity.
 *
 * These calls are rare, so one lock and plain lists guard the state.
 */
#define _GNU_SOURCE /* memfd_create */
#include "sim_driver.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct physical_memory {
    uint64_t handle;
    int fd;
    size_t size;
    int device;
    unsigned mappings; /* live mappings of it */
    bool released;     /* cuMemRelease'd (no longer in physical_handles): it goes with its last mapping */
    UT_hash_handle hh;
};

struct address_range {
    uint64_t address;
    size_t size;
    struct physical_memory *memory; /* mappings: what backs them */
    struct address_range *next;
};

static pthread_mutex_t vmm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct physical_memory *physical_handles; /* uthash head, by handle */
static struct address_range *reservations;
static struct address_range *mappings;
static uint64_t next_handle = 0x1000;

static bool granular(uint64_t value)
{
    return value % SIM_VMM_GRANULARITY == 0;
}

static bool is_device_location(const CUmemLocation *location)
{
    return location->type == CU_MEM_LOCATION_TYPE_DEVICE && sim_device_valid(location->id);
}

static bool range_contains(const struct address_range *outer, uint64_t address, size_t size)
{
    return address >= outer->address && address - outer->address <= outer->size &&
           size <= outer->size - (address - outer->address);
}

static uint64_t overlap_bytes(const struct address_range *range, uint64_t address, size_t size)
{
    uint64_t start = range->address > address ? range->address : address;
    uint64_t range_end = range->address + range->size, end = address + size;
    uint64_t stop = range_end < end ? range_end : end;
    return stop > start ? stop - start : 0;
}

static struct address_range *reservation_containing(uint64_t address, size_t size)
{
    for (struct address_range *reservation = reservations; reservation; reservation = reservation->next)
        if (range_contains(reservation, address, size))
            return reservation;
    return NULL;
}

/* How many bytes of [address, address + size) are mapped. */
static uint64_t mapped_bytes_within(uint64_t address, size_t size)
{
    uint64_t total = 0;
    for (struct address_range *mapping = mappings; mapping; mapping = mapping->next)
        total += overlap_bytes(mapping, address, size);
    return total;
}

/* Whether some mapping lies partly inside [address, address + size) and partly outside. */
static bool cuts_a_mapping(uint64_t address, size_t size)
{
    for (struct address_range *mapping = mappings; mapping; mapping = mapping->next) {
        uint64_t overlap = overlap_bytes(mapping, address, size);
        if (overlap && overlap != mapping->size)
            return true;
    }
    return false;
}

/* Physical memory nothing holds any more (released, no mapping): its capacity goes back. */
static void free_physical(struct physical_memory *memory)
{
    close(memory->fd);
    sim_capacity_release(memory->device, memory->size);
    free(memory);
}

static void forget_mappings_within(uint64_t address, size_t size)
{
    for (struct address_range **link = &mappings; *link;) {
        struct address_range *mapping = *link;
        if (range_contains(&(struct address_range){.address = address, .size = size}, mapping->address, mapping->size)) {
            *link = mapping->next;
            struct physical_memory *memory = mapping->memory;
            if (--memory->mappings == 0 && memory->released)
                free_physical(memory); /* its last mapping: CUDA frees a released handle's memory now */
            free(mapping);
        } else {
            link = &mapping->next;
        }
    }
}

static bool remember_range(struct address_range **list, uint64_t address, size_t size, struct physical_memory *memory)
{
    struct address_range *range = malloc(sizeof *range);
    if (!range)
        return false;
    *range = (struct address_range){.address = address, .size = size, .memory = memory, .next = *list};
    *list = range;
    return true;
}

/* Turns [address, address + size) back into inaccessible reserved address space. */
static bool reserve_again(uint64_t address, size_t size)
{
    return mmap((void *)(uintptr_t)address, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                -1, 0) != MAP_FAILED;
}

/* ---- address space ---------------------------------------------------------------------- */

CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                       CUmemAllocationGranularity_flags option)
{
    if (!granularity || !prop || !is_device_location(&prop->location) ||
        (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
        return CUDA_ERROR_INVALID_VALUE;
    *granularity = SIM_VMM_GRANULARITY;
    return CUDA_SUCCESS;
}

CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags)
{
    (void)addr; /* a hint only; the real driver may ignore it too */
    if (!ptr || size == 0 || !granular(size) || flags != 0 || (alignment & (alignment - 1)))
        return CUDA_ERROR_INVALID_VALUE;
    if (alignment < SIM_VMM_GRANULARITY)
        alignment = SIM_VMM_GRANULARITY;
    if (size > SIZE_MAX - alignment)
        return CUDA_ERROR_OUT_OF_MEMORY;
    /* Over-reserve, then trim to an aligned range. */
    size_t span = size + alignment;
    char *base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return CUDA_ERROR_OUT_OF_MEMORY;
    uintptr_t aligned = ((uintptr_t)base + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (aligned > (uintptr_t)base)
        munmap(base, aligned - (uintptr_t)base);
    size_t tail = (size_t)((uintptr_t)base + span - (aligned + size));
    if (tail)
        munmap((void *)(aligned + size), tail);

    pthread_mutex_lock(&vmm_lock);
    bool remembered = remember_range(&reservations, aligned, size, NULL);
    pthread_mutex_unlock(&vmm_lock);
    if (!remembered) {
        munmap((void *)aligned, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *ptr = aligned;
    return CUDA_SUCCESS;
}

/* A reservation that still holds a mapping is not freed (CUDA_ERROR_INVALID_VALUE, as the real
 * driver 580 answers on an H200; docs/architecture.md, "Virtual memory"). */
CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
    CUresult result = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    for (struct address_range **link = &reservations; *link; link = &(*link)->next) {
        struct address_range *reservation = *link;
        if (reservation->address == ptr && reservation->size == size && mapped_bytes_within(ptr, size) == 0) {
            *link = reservation->next;
            free(reservation);
            munmap((void *)(uintptr_t)ptr, size);
            result = CUDA_SUCCESS;
            break;
        }
    }
    pthread_mutex_unlock(&vmm_lock);
    return result;
}

/* ---- physical memory -------------------------------------------------------------------- */

CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                     unsigned long long flags)
{
    if (!handle || !prop || flags != 0 || size == 0 || !granular(size) ||
        prop->type != CU_MEM_ALLOCATION_TYPE_PINNED || !is_device_location(&prop->location))
        return CUDA_ERROR_INVALID_VALUE;
    /* Like many real machines (no IMEX channel), fabric handles are not available. */
    if (prop->requestedHandleTypes & CU_MEM_HANDLE_TYPE_FABRIC)
        return CUDA_ERROR_NOT_SUPPORTED;
    int device = prop->location.id;
    CUresult result = sim_capacity_reserve(device, size);
    if (result != CUDA_SUCCESS)
        return result;
    struct physical_memory *memory = malloc(sizeof *memory);
    int fd = memfd_create("vramtrace-simulated-vmm", MFD_CLOEXEC);
    if (!memory || fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        free(memory);
        if (fd >= 0)
            close(fd);
        sim_capacity_release(device, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *memory = (struct physical_memory){.fd = fd, .size = size, .device = device};
    pthread_mutex_lock(&vmm_lock);
    memory->handle = next_handle++;
    HASH_ADD(hh, physical_handles, handle, sizeof memory->handle, memory);
    pthread_mutex_unlock(&vmm_lock);
    *handle = memory->handle;
    return CUDA_SUCCESS;
}

/* The handle is gone at once (it cannot be mapped again); its memory stays counted until no
 * mapping uses it: "the memory allocation will be freed when all outstanding mappings to the memory
 * are unmapped" (CUDA's cuMemRelease). */
CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
    struct physical_memory *memory;
    pthread_mutex_lock(&vmm_lock);
    HASH_FIND(hh, physical_handles, &handle, sizeof handle, memory);
    if (memory) {
        HASH_DELETE(hh, physical_handles, memory);
        memory->released = true;
        if (memory->mappings == 0)
            free_physical(memory);
    }
    pthread_mutex_unlock(&vmm_lock);
    return memory ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- mappings --------------------------------------------------------------------------- */

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags)
{
    if (flags != 0 || size == 0 || !granular(ptr) || !granular(size))
        return CUDA_ERROR_INVALID_VALUE;
    if (offset != 0) /* the real driver maps whole handles only */
        return CUDA_ERROR_NOT_SUPPORTED;
    CUresult result;
    pthread_mutex_lock(&vmm_lock);
    struct physical_memory *memory;
    HASH_FIND(hh, physical_handles, &handle, sizeof handle, memory);
    if (!memory || size > memory->size || !reservation_containing(ptr, size)) {
        result = CUDA_ERROR_INVALID_VALUE;
    } else if (mapped_bytes_within(ptr, size) != 0) {
        result = CUDA_ERROR_NOT_SUPPORTED; /* mapping over a mapping, as the real driver answers */
    } else {
        /* Mapped inaccessible: access comes with cuMemSetAccess, as on a GPU. */
        void *mapped = mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_SHARED | MAP_FIXED, memory->fd, 0);
        if (mapped == MAP_FAILED)
            result = CUDA_ERROR_OUT_OF_MEMORY;
        else if (!remember_range(&mappings, ptr, size, memory))
            result = reserve_again(ptr, size) ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_UNKNOWN;
        else {
            memory->mappings++;
            result = CUDA_SUCCESS;
        }
    }
    pthread_mutex_unlock(&vmm_lock);
    return result;
}

/* The range must lie in a reservation and cut no mapping in two; it may hold several whole
 * mappings, or none (the real driver answers CUDA_SUCCESS for an unmapped range too). */
CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    CUresult result = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    if (size > 0 && reservation_containing(ptr, size) && !cuts_a_mapping(ptr, size)) {
        forget_mappings_within(ptr, size);
        result = reserve_again(ptr, size) ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN;
    }
    pthread_mutex_unlock(&vmm_lock);
    return result;
}

static int protection_of(CUmemAccess_flags flags)
{
    switch (flags) {
    case CU_MEM_ACCESS_FLAGS_PROT_NONE: return PROT_NONE;
    case CU_MEM_ACCESS_FLAGS_PROT_READ: return PROT_READ;
    case CU_MEM_ACCESS_FLAGS_PROT_READWRITE: return PROT_READ | PROT_WRITE;
    default: return -1;
    }
}

CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
    if (!desc || count == 0 || size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    int protection = PROT_NONE;
    for (size_t i = 0; i < count; i++) {
        int requested = protection_of(desc[i].flags);
        if (requested < 0 || !is_device_location(&desc[i].location))
            return CUDA_ERROR_INVALID_VALUE;
        protection |= requested; /* one address space for all devices: the widest access wins */
    }
    CUresult result = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    if (mapped_bytes_within(ptr, size) == size)
        result = mprotect((void *)(uintptr_t)ptr, size, protection) == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_unlock(&vmm_lock);
    return result;
}
