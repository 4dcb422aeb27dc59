/* tests/programs/limit_paths.c — allocations under `vramtrace run --limit 8M` (VRAMTRACE_LIMIT):
 *
 *   limit_paths PATH      through one allocation path: 4 MiB and 2 MiB succeed, then 4 MiB more
 *                         must fail with the path's own out-of-memory error (cudaErrorMemoryAllocation
 *                         or CUDA_ERROR_OUT_OF_MEMORY); once the first two are freed, 4 MiB succeeds
 *                         again (frees give the limit back); zero bytes always succeed. PATH is one
 *                         of the names in `paths` below, "all" runs each in turn.
 *   limit_paths pinned    16 MiB of pinned host memory (cudaMallocHost, cuMemAllocHost): never
 *                         limited (host memory, not the device's).
 *   limit_paths threads   THREADS threads allocate CHUNK bytes each (cudaMalloc and cuMemAlloc in
 *                         turn) until one fails, ROUNDS times, everything freed between rounds: the
 *                         live bytes of all threads together never pass the limit, and fill it.
 *
 * The driver functions are got as PyTorch gets them (cudaGetDriverEntryPointByVersion, 12000; the
 * _ptsz variants with cudaEnablePerThreadDefaultStream). Prints one deterministic line per check.
 */
#include <cudaTypedefs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"

#define MIB ((size_t)1 << 20)
#define LIMIT (8 * MIB)

static void *driver_function(const char *name, unsigned long long flags)
{
    void *function = NULL;
    enum cudaDriverEntryPointQueryResult found;
    CHECK_CUDA(cudaGetDriverEntryPointByVersion(name, &function, 12000, flags, &found));
    if (found != cudaDriverEntryPointSuccess || !function) {
        fprintf(stderr, "limit_paths: no %s\n", name);
        exit(1);
    }
    return function;
}
#define DRIVER(name, version) ((PFN_##name##_v##version)driver_function(#name, cudaEnableDefault))
#define DRIVER_PTSZ(name, version) ((PFN_##name##_v##version)driver_function(#name, cudaEnablePerThreadDefaultStream))

/* One allocation path: allocate `size` into *key (a pointer or a handle), free it. Returns the
 * call's status as an int: 0 success, OUT_OF_MEMORY (2, the same value in both layers) or another. */
enum { OUT_OF_MEMORY = 2 };
_Static_assert((int)cudaErrorMemoryAllocation == OUT_OF_MEMORY && (int)CUDA_ERROR_OUT_OF_MEMORY == OUT_OF_MEMORY, "");

static cudaMemPool_t runtime_pool;
static CUmemoryPool driver_pool;
static size_t granularity;

static int r_malloc(size_t size, uint64_t *key) { return cudaMalloc((void **)key, size); }
static int r_managed(size_t size, uint64_t *key) { return cudaMallocManaged((void **)key, size, cudaMemAttachGlobal); }
static int r_pitch(size_t size, uint64_t *key)
{
    size_t pitch;
    return cudaMallocPitch((void **)key, &pitch, MIB, size / MIB);
}
static int r_async(size_t size, uint64_t *key) { return cudaMallocAsync((void **)key, size, 0); }
static int r_pool(size_t size, uint64_t *key) { return cudaMallocFromPoolAsync((void **)key, size, runtime_pool, 0); }
static int r_free(uint64_t key) { return cudaFree((void *)key); }
static int r_free_async(uint64_t key)
{
    int status = cudaFreeAsync((void *)key, 0);
    return status ? status : (int)cudaStreamSynchronize(0);
}

static int d_alloc(size_t size, uint64_t *key) { return DRIVER(cuMemAlloc, 3020)((CUdeviceptr *)key, size); }
static int d_pitch(size_t size, uint64_t *key)
{
    size_t pitch;
    return DRIVER(cuMemAllocPitch, 3020)((CUdeviceptr *)key, &pitch, MIB, size / MIB, 4);
}
static int d_managed(size_t size, uint64_t *key)
{
    return DRIVER(cuMemAllocManaged, 6000)((CUdeviceptr *)key, size, CU_MEM_ATTACH_GLOBAL);
}
static int d_async(size_t size, uint64_t *key) { return DRIVER(cuMemAllocAsync, 11020)((CUdeviceptr *)key, size, 0); }
static int d_async_ptsz(size_t size, uint64_t *key)
{
    return DRIVER_PTSZ(cuMemAllocAsync, 11020)((CUdeviceptr *)key, size, 0);
}
static int d_pool(size_t size, uint64_t *key)
{
    return DRIVER(cuMemAllocFromPoolAsync, 11020)((CUdeviceptr *)key, size, driver_pool, 0);
}
static int d_pool_ptsz(size_t size, uint64_t *key)
{
    return DRIVER_PTSZ(cuMemAllocFromPoolAsync, 11020)((CUdeviceptr *)key, size, driver_pool, 0);
}
static int d_free(uint64_t key) { return DRIVER(cuMemFree, 3020)((CUdeviceptr)key); }
static int d_free_async(uint64_t key)
{
    int status = DRIVER(cuMemFreeAsync, 11020)((CUdeviceptr)key, 0);
    return status ? status : (int)cudaStreamSynchronize(0);
}
static const CUmemAllocationProp device_prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
static int d_create(size_t size, uint64_t *key)
{
    return DRIVER(cuMemCreate, 10020)((CUmemGenericAllocationHandle *)key, size, &device_prop, 0);
}
static int d_release(uint64_t key) { return DRIVER(cuMemRelease, 10020)((CUmemGenericAllocationHandle)key); }

struct path {
    const char *name;
    int (*allocate)(size_t size, uint64_t *key);
    int (*release)(uint64_t key);
};

static const struct path paths[] = {
    {"cudaMalloc", r_malloc, r_free},
    {"cudaMallocManaged", r_managed, r_free},
    {"cudaMallocPitch", r_pitch, r_free},
    {"cudaMallocAsync", r_async, r_free_async},
    {"cudaMallocFromPoolAsync", r_pool, r_free_async},
    {"cuMemAlloc", d_alloc, d_free},
    {"cuMemAllocPitch", d_pitch, d_free},
    {"cuMemAllocManaged", d_managed, d_free},
    {"cuMemAllocAsync", d_async, d_free_async},
    {"cuMemAllocAsync_ptsz", d_async_ptsz, d_free_async},
    {"cuMemAllocFromPoolAsync", d_pool, d_free_async},
    {"cuMemAllocFromPoolAsync_ptsz", d_pool_ptsz, d_free_async},
    {"cuMemCreate", d_create, d_release},
};

static void check(bool ok, const char *path, const char *what, int status)
{
    if (!ok) {
        fprintf(stderr, "limit_paths %s: %s (status %d)\n", path, what, status);
        exit(1);
    }
}

static void run_path(const struct path *path)
{
    uint64_t a = 0, b = 0, c = 0, zero = 0;
    int status = path->allocate(4 * MIB, &a);
    check(status == 0, path->name, "4 MiB under the limit failed", status);
    status = path->allocate(2 * MIB, &b);
    check(status == 0, path->name, "2 MiB more (6 of 8 MiB) failed", status);
    status = path->allocate(4 * MIB, &c);
    check(status == OUT_OF_MEMORY, path->name, "4 MiB past the limit did not fail with out of memory", status);
    if (strncmp(path->name, "cuda", 4) == 0) { /* a runtime call: the last error says so once, as after a real failure */
        cudaError_t first = cudaGetLastError(), then = cudaGetLastError();
        check(first == cudaErrorMemoryAllocation && then == cudaSuccess, path->name,
              "cudaGetLastError did not report the refusal exactly once", first);
    }
    if (path->allocate == r_malloc || path->allocate == r_managed || path->allocate == r_async) {
        status = path->allocate(0, &zero); /* zero bytes never count (where CUDA accepts them) */
        check(status == 0, path->name, "zero bytes at the limit failed", status);
        if (zero)
            path->release(zero);
    }
    check(path->release(a) == 0 && path->release(b) == 0, path->name, "free failed", 0);
    status = path->allocate(4 * MIB, &c);
    check(status == 0, path->name, "4 MiB after the frees failed", status);
    check(path->release(c) == 0, path->name, "free failed", 0);
    printf("limit_paths %s: 4 MiB and 2 MiB allocated, 4 MiB more refused (out of memory), 4 MiB again after the "
           "frees\n",
           path->name);
}

static void pinned(void)
{
    void *runtime_pinned, *driver_pinned;
    CHECK_CUDA(cudaMallocHost(&runtime_pinned, 16 * MIB));
    CHECK_CUDA(DRIVER(cuMemAllocHost, 3020)(&driver_pinned, 16 * MIB) == CUDA_SUCCESS ? cudaSuccess
                                                                                        : cudaErrorMemoryAllocation);
    CHECK_CUDA(cudaFreeHost(runtime_pinned));
    CHECK_CUDA(cudaFreeHost(driver_pinned));
    printf("limit_paths pinned: 16 MiB of pinned host memory twice, not limited\n");
}

/* ---- threads ---------------------------------------------------------------------------------- */

#define THREADS 8
#define ROUNDS 20
#define CHUNK (64 << 10)
#define MAX_CHUNKS (LIMIT / CHUNK + 1)

static pthread_barrier_t start_round, end_round;

struct worker {
    int index;
    uint64_t keys[MAX_CHUNKS];
    unsigned live, refused;
};

static struct worker workers[THREADS];

static void *work(void *argument)
{
    struct worker *worker = argument;
    const struct path *mine = &paths[worker->index % 2 ? 5 : 0]; /* cuMemAlloc, cudaMalloc */
    CHECK_CUDA(cudaSetDevice(0));
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_wait(&start_round);
        worker->live = 0;
        for (;;) {
            int status = worker->live < MAX_CHUNKS ? mine->allocate(CHUNK, &worker->keys[worker->live]) : -1;
            if (status != 0) {
                check(status == OUT_OF_MEMORY, mine->name, "a thread's allocation failed otherwise", status);
                worker->refused++;
                break;
            }
            worker->live++;
        }
        pthread_barrier_wait(&end_round); /* the main thread sums what is live */
        pthread_barrier_wait(&start_round);
        for (unsigned i = 0; i < worker->live; i++)
            check(mine->release(worker->keys[i]) == 0, mine->name, "free failed", 0);
        pthread_barrier_wait(&end_round);
    }
    return NULL;
}

static void threads(void)
{
    pthread_t thread[THREADS];
    pthread_barrier_init(&start_round, NULL, THREADS + 1);
    pthread_barrier_init(&end_round, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++) {
        workers[i].index = i;
        pthread_create(&thread[i], NULL, work, &workers[i]);
    }
    size_t most = 0, least = SIZE_MAX;
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_wait(&start_round);
        pthread_barrier_wait(&end_round);
        size_t live = 0;
        for (int i = 0; i < THREADS; i++)
            live += (size_t)workers[i].live * CHUNK;
        most = live > most ? live : most;
        least = live < least ? live : least;
        pthread_barrier_wait(&start_round); /* the threads free everything */
        pthread_barrier_wait(&end_round);
    }
    unsigned refused = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(thread[i], NULL);
        refused += workers[i].refused;
    }
    if (most > LIMIT || least != LIMIT) {
        fprintf(stderr, "limit_paths threads: live bytes ranged from %zu to %zu, the limit is %zu\n", least, most,
                (size_t)LIMIT);
        exit(1);
    }
    printf("limit_paths threads: %d threads x %d rounds: %zu bytes live together at most (the limit), %u refused\n",
           THREADS, ROUNDS, most, refused);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    CHECK_CUDA(cudaSetDevice(0));
    CHECK_CUDA(cudaDeviceGetDefaultMemPool(&runtime_pool, 0));
    CHECK_CUDA(DRIVER(cuDeviceGetDefaultMemPool, 11020)(&driver_pool, 0) == CUDA_SUCCESS ? cudaSuccess
                                                                                          : cudaErrorUnknown);
    CHECK_CUDA(DRIVER(cuMemGetAllocationGranularity, 10020)(&granularity, &device_prop,
                                                             CU_MEM_ALLOC_GRANULARITY_MINIMUM) == CUDA_SUCCESS
                   ? cudaSuccess
                   : cudaErrorUnknown);
    if (granularity > 2 * MIB) {
        fprintf(stderr, "limit_paths: granularity %zu is more than 2 MiB\n", granularity);
        return 1;
    }
    if (strcmp(mode, "pinned") == 0) {
        pinned();
        return 0;
    }
    if (strcmp(mode, "threads") == 0) {
        threads();
        return 0;
    }
    bool found = false;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (strcmp(mode, "all") == 0 || strcmp(mode, paths[i].name) == 0) {
            run_path(&paths[i]);
            found = true;
        }
    if (!found) {
        fprintf(stderr, "usage: limit_paths all|pinned|threads|PATH\n");
        return 2;
    }
    return 0;
}
