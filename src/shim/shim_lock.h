/* shim/shim_lock.h — the lock the recorder takes once per event: a futex lock (the classic
 * three-state one: free, taken, taken with waiters) whose uncontended take and give are one
 * atomic instruction each, inline, where a pthread mutex costs two calls and some fifty
 * instructions. Waiters sleep in the kernel, as on a pthread mutex; there is a timed take for
 * the exit path. Not recursive. Zeroed memory is a free lock (a forked child gets a fresh one by
 * zeroing it).
 */
#ifndef VT_SHIM_SHIM_LOCK_H
#define VT_SHIM_SHIM_LOCK_H

#include <stdbool.h>

struct shim_lock {
    int state; /* 0 free, 1 taken, 2 taken and someone may be waiting */
};

void shim_lock_wait(struct shim_lock *lock);
void shim_lock_wake(struct shim_lock *lock);

/* Takes the lock within timeout_ms; false when it stayed taken that long. */
bool shim_lock_take_within(struct shim_lock *lock, unsigned timeout_ms);

static inline void shim_lock_take(struct shim_lock *lock)
{
    int expected = 0;
    if (!__atomic_compare_exchange_n(&lock->state, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        shim_lock_wait(lock);
}

static inline void shim_lock_give(struct shim_lock *lock)
{
    if (__atomic_exchange_n(&lock->state, 0, __ATOMIC_RELEASE) == 2)
        shim_lock_wake(lock);
}

#endif
