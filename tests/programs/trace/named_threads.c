/* tests/programs/trace/named_threads.c — allocations from named threads, so the reports can be
 * checked to show which thread(s) allocated each group:
 *   main, named "vt-main":         1 MiB of device memory (main_alloc) and 64 KiB of pinned host
 *                                  memory (pinned_alloc)
 *   "loader-a", "loader-b", "loader-c", one after the other, through the same call site
 *   (load_shard): 3, 1 and 1 allocation(s) of 4, 4 and 2 MiB: one group of 18 MiB, 12 MiB of it
 *   loader-a's
 * All of it leaks. Prints each thread's name and kernel id ("thread NAME TID"), in that order.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "cuda_check.h"

#define MIB ((size_t)1 << 20)

struct loader {
    const char *name;
    int allocations;
    size_t bytes;
};

KEEP_FRAME void load_shard(size_t bytes)
{
    void *shard = NULL;
    CHECK_CUDA(cudaMalloc(&shard, bytes));
}

static void *run_loader(void *argument)
{
    const struct loader *loader = argument;
    pthread_setname_np(pthread_self(), loader->name);
    printf("thread %s %d\n", loader->name, (int)gettid());
    fflush(stdout);
    for (int i = 0; i < loader->allocations; i++)
        load_shard(loader->bytes);
    return NULL;
}

KEEP_FRAME void main_alloc(void)
{
    void *buffer = NULL;
    CHECK_CUDA(cudaMalloc(&buffer, MIB));
}

KEEP_FRAME void pinned_alloc(void)
{
    void *buffer = NULL;
    CHECK_CUDA(cudaMallocHost(&buffer, 64 << 10));
}

int main(void)
{
    pthread_setname_np(pthread_self(), "vt-main");
    printf("thread vt-main %d\n", (int)gettid());
    fflush(stdout);
    main_alloc();
    pinned_alloc();
    static const struct loader loaders[] = {{"loader-a", 3, 4 * MIB}, {"loader-b", 1, 4 * MIB}, {"loader-c", 1, 2 * MIB}};
    for (size_t i = 0; i < sizeof loaders / sizeof loaders[0]; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, run_loader, (void *)&loaders[i]) != 0 || pthread_join(thread, NULL) != 0) {
            fprintf(stderr, "named_threads: could not run %s\n", loaders[i].name);
            return 1;
        }
    }
    return 0;
}
