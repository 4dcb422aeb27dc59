/* Unit tests of shim/shim_lock.c: mutual exclusion under contention (threads sleeping in the
 * kernel and woken), and the timed take of the exit path. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>

#include "shim/shim_lock.h"

enum { THREADS = 8, ROUNDS = 200000 };

static struct shim_lock lock;
static long counter; /* only changed under the lock, with a read-modify-write that races without it */

static void *add_many(void *unused)
{
    (void)unused;
    for (int i = 0; i < ROUNDS; i++) {
        shim_lock_take(&lock);
        long seen = __atomic_load_n(&counter, __ATOMIC_RELAXED);
        if (i % 1000 == 0)
            sched_yield(); /* hold it a while now and then: the others wait in the kernel */
        __atomic_store_n(&counter, seen + 1, __ATOMIC_RELAXED);
        shim_lock_give(&lock);
    }
    return NULL;
}

Test(shim_lock, excludes_under_contention)
{
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, add_many, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    cr_assert_eq(counter, (long)THREADS * ROUNDS, "increments were lost: the lock let two threads in");
    cr_assert_eq(lock.state, 0, "free at the end");
}

static void *give_after_a_while(void *held)
{
    struct timespec pause = {.tv_nsec = 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    shim_lock_give(held);
    return NULL;
}

Test(shim_lock, timed_take_waits_only_as_long_as_asked)
{
    struct shim_lock held = {0};
    shim_lock_take(&held);
    cr_assert_not(shim_lock_take_within(&held, 20), "taken while held");
    pthread_t giver;
    cr_assert_eq(pthread_create(&giver, NULL, give_after_a_while, &held), 0);
    cr_assert(shim_lock_take_within(&held, 5000), "not taken once given");
    pthread_join(giver, NULL);
    shim_lock_give(&held);
    cr_assert(shim_lock_take_within(&held, 0), "a free lock is taken at once");
    shim_lock_give(&held);
    cr_assert_eq(held.state, 0);
}
