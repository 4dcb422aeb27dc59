/* shim/thread_names.c — thread names by kernel thread id (see thread_names.h): a list that only
 * grows, newest first, pushed onto without a lock; its entries are never freed or changed. */
#define _GNU_SOURCE
#include "shim/thread_names.h"

#include "common/group_threads.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct thread_name {
    struct thread_name *older;
    uint32_t thread_id;
    char name[VT_THREAD_NAME_MAX];
};

static struct thread_name *newest;
static __thread char current_name[VT_THREAD_NAME_MAX] __attribute__((tls_model("initial-exec")));
static __thread bool noted __attribute__((tls_model("initial-exec")));

void thread_names_note(uint32_t thread_id)
{
    if (noted)
        return;
    noted = true;
    char name[VT_THREAD_NAME_MAX] = {0};
    if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0)
        name[0] = '\0';
    name[VT_THREAD_NAME_MAX - 1] = '\0';
    memcpy(current_name, name, sizeof name);
    struct thread_name *entry = malloc(sizeof *entry);
    if (!entry)
        return; /* the reports show its id alone */
    entry->thread_id = thread_id;
    memcpy(entry->name, name, sizeof name);
    entry->older = __atomic_load_n(&newest, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&newest, &entry->older, entry, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
}

const char *thread_names_current(void)
{
    if (!noted) /* a thread whose first event is a free */
        thread_names_note((uint32_t)gettid());
    return current_name;
}

const char *thread_names_find(uint32_t thread_id, const void *unused)
{
    (void)unused;
    for (const struct thread_name *entry = __atomic_load_n(&newest, __ATOMIC_ACQUIRE); entry; entry = entry->older)
        if (entry->thread_id == thread_id)
            return entry->name[0] ? entry->name : NULL;
    return NULL;
}
