/* tests/programs/vmm_lifetime.c — CUDA's rules for when cuMemCreate memory is freed (issue 9, point
 * 3), through the driver's VMM functions as PyTorch gets them (cudaGetDriverEntryPointByVersion,
 * 12000). With G the allocation granularity (2 MiB on the simulated device):
 *   - A (2G) and B (G) mapped side by side in reservation R1, C (G) mapped in reservation R2;
 *   - A and B released while mapped: still in use; D (G) created: 5G in use, the peak;
 *   - one cuMemUnmap over A and B: both freed (3G);
 *   - D mapped in R1, then released: still in use; C released: still in use; R2's cuMemAddressFree
 *     refused while C is mapped in it (CUDA_ERROR_INVALID_VALUE, as on a real driver); C unmapped:
 *     freed; R2 freed;
 *   - E (G) created and kept.
 * It ends with D (released, still mapped) and E (never mapped) in use: 2G in 2 allocations, R1
 * still reserved. After each step it prints what cuMemGetInfo says is in use (in units of G).
 */
#include <cudaTypedefs.h>
#include <stdio.h>

#include "cuda_check.h"

static PFN_cuMemGetInfo_v3020 get_info;
static PFN_cuMemCreate_v10020 create;
static PFN_cuMemRelease_v10020 release;
static PFN_cuMemAddressReserve_v10020 reserve;
static PFN_cuMemAddressFree_v10020 address_free;
static PFN_cuMemMap_v10020 map;
static PFN_cuMemUnmap_v10020 unmap;
static size_t granularity, free_at_start;

static void *driver_function(const char *name)
{
    void *function = NULL;
    enum cudaDriverEntryPointQueryResult found;
    CHECK_CUDA(cudaGetDriverEntryPointByVersion(name, &function, 12000, cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || !function) {
        fprintf(stderr, "vmm_lifetime: no %s\n", name);
        exit(1);
    }
    return function;
}

static void print_in_use(const char *step)
{
    size_t free_bytes, total_bytes;
    CHECK_CU(get_info(&free_bytes, &total_bytes));
    printf("vmm_lifetime: %s: %zuG in use\n", step, (free_at_start - free_bytes) / granularity);
}

static CUmemGenericAllocationHandle create_memory(size_t granules)
{
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CUmemGenericAllocationHandle handle;
    CHECK_CU(create(&handle, granules * granularity, &prop, 0));
    return handle;
}

int main(void)
{
    CHECK_CUDA(cudaSetDevice(0));
    CHECK_CUDA(cudaFree(0));
    get_info = driver_function("cuMemGetInfo");
    create = driver_function("cuMemCreate");
    release = driver_function("cuMemRelease");
    reserve = driver_function("cuMemAddressReserve");
    address_free = driver_function("cuMemAddressFree");
    map = driver_function("cuMemMap");
    unmap = driver_function("cuMemUnmap");
    PFN_cuMemGetAllocationGranularity_v10020 get_granularity = driver_function("cuMemGetAllocationGranularity");
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CHECK_CU(get_granularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    size_t total_bytes;
    CHECK_CU(get_info(&free_at_start, &total_bytes));

    size_t g = granularity;
    CUdeviceptr r1, r2;
    CHECK_CU(reserve(&r1, 8 * g, 0, 0, 0));
    CHECK_CU(reserve(&r2, 4 * g, 0, 0, 0));
    CUmemGenericAllocationHandle a = create_memory(2), b = create_memory(1), c = create_memory(1);
    CHECK_CU(map(r1, 2 * g, 0, a, 0));
    CHECK_CU(map(r1 + 2 * g, g, 0, b, 0));
    CHECK_CU(map(r2, g, 0, c, 0));
    print_in_use("A, B, C created and mapped");
    CHECK_CU(release(a));
    CHECK_CU(release(b));
    print_in_use("A and B released while mapped");
    CUmemGenericAllocationHandle d = create_memory(1);
    print_in_use("D created");
    CHECK_CU(unmap(r1, 3 * g));
    print_in_use("one cuMemUnmap over A and B");
    CHECK_CU(map(r1, g, 0, d, 0));
    CHECK_CU(release(d));
    print_in_use("D mapped and released");
    CHECK_CU(release(c));
    print_in_use("C released while mapped");
    CUresult refused = address_free(r2, 4 * g);
    printf("vmm_lifetime: cuMemAddressFree of C's reservation while C is mapped: %s\n",
           refused == CUDA_ERROR_INVALID_VALUE ? "CUDA_ERROR_INVALID_VALUE" : "not refused");
    print_in_use("C still mapped");
    CHECK_CU(unmap(r2, g));
    print_in_use("C unmapped");
    CHECK_CU(address_free(r2, 4 * g));
    create_memory(1);
    print_in_use("E created");
    printf("vmm_lifetime: done\n");
    return 0;
}
