/* shim/shim_lock.c — the contended paths of the shim's lock (see shim_lock.h). */
#define _GNU_SOURCE
#include "shim/shim_lock.h"

#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long futex(int *address, int operation, int value, const struct timespec *timeout)
{
    return syscall(SYS_futex, address, operation, value, timeout, NULL, 0);
}

/* Marks the lock contended and sleeps until it is given, then takes it (still marked contended:
 * the next give wakes one more waiter, which may find nobody waits; that costs one syscall). */
void shim_lock_wait(struct shim_lock *lock)
{
    while (__atomic_exchange_n(&lock->state, 2, __ATOMIC_ACQUIRE) != 0)
        futex(&lock->state, FUTEX_WAIT_PRIVATE, 2, NULL);
}

void shim_lock_wake(struct shim_lock *lock)
{
    futex(&lock->state, FUTEX_WAKE_PRIVATE, 1, NULL);
}

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

bool shim_lock_take_within(struct shim_lock *lock, unsigned timeout_ms)
{
    int expected = 0;
    if (__atomic_compare_exchange_n(&lock->state, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return true;
    uint64_t deadline = monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
    while (__atomic_exchange_n(&lock->state, 2, __ATOMIC_ACQUIRE) != 0) {
        uint64_t now = monotonic_ns();
        if (now >= deadline)
            return false; /* (left marked contended: the holder's give wakes a waiter, if any) */
        struct timespec left = {.tv_sec = (time_t)((deadline - now) / 1000000000u),
                                .tv_nsec = (long)((deadline - now) % 1000000000u)};
        futex(&lock->state, FUTEX_WAIT_PRIVATE, 2, &left);
    }
    return true;
}
