/* simulated_cuda/allocation_table.c — owns the driver's table of live allocations (device, managed
 * and host-pinned), keyed by address. The table is split into shards, each with its own lock, so
 * many threads allocating and freeing at once rarely wait for each other.
 */
#include "sim_driver.h"

#include <pthread.h>
#include <stdalign.h>

#define SHARD_COUNT 64

struct shard {
    alignas(64) pthread_mutex_t lock;
    struct sim_allocation *allocations; /* uthash head */
};

static struct shard shards[SHARD_COUNT] = {
    [0 ... SHARD_COUNT - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER, .allocations = NULL},
};

static struct shard *shard_of(uint64_t address)
{
    return &shards[(address * 0x9E3779B97F4A7C15ULL) >> 58]; /* Fibonacci hashing onto 64 shards */
}

void sim_allocations_add(struct sim_allocation *allocation)
{
    struct shard *shard = shard_of(allocation->address);
    pthread_mutex_lock(&shard->lock);
    HASH_ADD(hh, shard->allocations, address, sizeof allocation->address, allocation);
    pthread_mutex_unlock(&shard->lock);
}

struct sim_allocation *sim_allocations_take(uint64_t address, unsigned int kinds)
{
    struct shard *shard = shard_of(address);
    struct sim_allocation *allocation;
    pthread_mutex_lock(&shard->lock);
    HASH_FIND(hh, shard->allocations, &address, sizeof address, allocation);
    if (allocation && (allocation->kind & kinds))
        HASH_DELETE(hh, shard->allocations, allocation);
    else
        allocation = NULL;
    pthread_mutex_unlock(&shard->lock);
    return allocation;
}

bool sim_allocations_lookup(uint64_t address, int *device, enum sim_memory_kind *kind)
{
    struct shard *shard = shard_of(address);
    struct sim_allocation *allocation;
    pthread_mutex_lock(&shard->lock);
    HASH_FIND(hh, shard->allocations, &address, sizeof address, allocation);
    if (allocation) {
        *device = allocation->device;
        *kind = allocation->kind;
    }
    pthread_mutex_unlock(&shard->lock);
    return allocation != NULL;
}

void sim_allocations_take_all(int device, CUcontext owner, unsigned int kinds,
                              void (*release)(struct sim_allocation *))
{
    for (int i = 0; i < SHARD_COUNT; i++) {
        struct sim_allocation *allocation, *next, *taken = NULL;
        pthread_mutex_lock(&shards[i].lock);
        HASH_ITER(hh, shards[i].allocations, allocation, next) {
            if (allocation->owner == owner && (owner || allocation->device == device) && (allocation->kind & kinds)) {
                HASH_DELETE(hh, shards[i].allocations, allocation);
                allocation->hh.next = taken; /* chain the taken ones through the now unused handle */
                taken = allocation;
            }
        }
        pthread_mutex_unlock(&shards[i].lock);
        for (allocation = taken; allocation; allocation = next) {
            next = allocation->hh.next;
            release(allocation);
        }
    }
}
