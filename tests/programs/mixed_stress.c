/* tests/programs/mixed_stress.c — `mixed_stress THREADS PAIRS`: THREADS threads allocate and free
 * at once, each through one of the five paths real programs use (thread t takes path t % 5):
 *   0 runtime cudaMalloc/cudaFree         1 runtime cudaMallocAsync/cudaFreeAsync
 *   2 cuMemAlloc/cuMemFree handed out by cuGetProcAddress (CuPy)
 *   3 cuMemAlloc_v2/cuMemFree_v2 by dlsym (JAX)
 *   4 cuMemCreate/cuMemRelease from cudaGetDriverEntryPointByVersion (PyTorch expandable segments)
 * Every allocation is freed. Prints how many pairs each path made.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "cuda_check.h"

#define PATH_COUNT 5

static int pairs_per_thread;
static void *driver;
static CUcontext context;
static __typeof__(cuMemAlloc_v2) *handed_out_alloc, *dlsym_alloc;
static __typeof__(cuMemFree_v2) *handed_out_free, *dlsym_free;
static __typeof__(cuMemCreate) *entry_point_create;
static __typeof__(cuMemRelease) *entry_point_release;
static __typeof__(cuCtxSetCurrent) *set_current;

static void *lookup(const char *name)
{
    void *function = dlsym(driver, name);
    if (!function) {
        fprintf(stderr, "mixed_stress: dlsym %s: %s\n", name, dlerror());
        exit(1);
    }
    return function;
}

static void resolve_paths(void)
{
    driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!driver) {
        fprintf(stderr, "mixed_stress: %s\n", dlerror());
        exit(1);
    }
    __typeof__(cuGetProcAddress_v2) *get_proc = lookup("cuGetProcAddress_v2");
    __typeof__(cuGetProcAddress_v2) *handed_get_proc;
    CUdriverProcAddressQueryResult status;
    CHECK_CU(get_proc("cuGetProcAddress", (void **)&handed_get_proc, 12000, 0, &status));
    CHECK_CU(handed_get_proc("cuMemAlloc", (void **)&handed_out_alloc, 3020, 0, &status));
    CHECK_CU(handed_get_proc("cuMemFree", (void **)&handed_out_free, 3020, 0, &status));
    dlsym_alloc = lookup("cuMemAlloc_v2");
    dlsym_free = lookup("cuMemFree_v2");
    set_current = lookup("cuCtxSetCurrent");
    enum cudaDriverEntryPointQueryResult found;
    CHECK_CUDA(cudaGetDriverEntryPointByVersion("cuMemCreate", (void **)&entry_point_create, 12000, cudaEnableDefault, &found));
    CHECK_CUDA(cudaGetDriverEntryPointByVersion("cuMemRelease", (void **)&entry_point_release, 12000, cudaEnableDefault, &found));
    CHECK_CUDA(cudaFree(NULL)); /* creates the primary context */
    __typeof__(cuCtxGetCurrent) *get_current = lookup("cuCtxGetCurrent");
    CHECK_CU(get_current(&context));
}

static size_t pair_size(int i)
{
    return 256 * (size_t)(1 + i % 16);
}

static void *run_path(void *argument)
{
    int path = (int)(intptr_t)argument % PATH_COUNT;
    CHECK_CU(set_current(context));
    cudaStream_t stream = 0;
    if (path == 1)
        CHECK_CUDA(cudaStreamCreate(&stream));
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    for (int i = 0; i < pairs_per_thread; i++) {
        void *pointer;
        CUdeviceptr address;
        CUmemGenericAllocationHandle handle;
        switch (path) {
        case 0:
            CHECK_CUDA(cudaMalloc(&pointer, pair_size(i)));
            CHECK_CUDA(cudaFree(pointer));
            break;
        case 1:
            CHECK_CUDA(cudaMallocAsync(&pointer, pair_size(i), stream));
            CHECK_CUDA(cudaFreeAsync(pointer, stream));
            break;
        case 2:
            CHECK_CU(handed_out_alloc(&address, pair_size(i)));
            CHECK_CU(handed_out_free(address));
            break;
        case 3:
            CHECK_CU(dlsym_alloc(&address, pair_size(i)));
            CHECK_CU(dlsym_free(address));
            break;
        case 4:
            CHECK_CU(entry_point_create(&handle, (size_t)2 << 20, &prop, 0));
            CHECK_CU(entry_point_release(handle));
            break;
        }
    }
    if (stream)
        CHECK_CUDA(cudaStreamDestroy(stream));
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 16;
    pairs_per_thread = argc > 2 ? atoi(argv[2]) : 1000;
    resolve_paths();
    pthread_t workers[256];
    if (threads < 1 || threads > 256)
        return 2;
    for (int t = 0; t < threads; t++)
        pthread_create(&workers[t], NULL, run_path, (void *)(intptr_t)t);
    for (int t = 0; t < threads; t++)
        pthread_join(workers[t], NULL);
    int per_path[PATH_COUNT] = {0};
    for (int t = 0; t < threads; t++)
        per_path[t % PATH_COUNT] += pairs_per_thread;
    printf("mixed_stress: %d threads; pairs: runtime %d, async %d, handed-out %d, dlsym %d, vmm %d\n", threads,
           per_path[0], per_path[1], per_path[2], per_path[3], per_path[4]);
    return 0;
}
