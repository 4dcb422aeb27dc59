/* shim/thread_names.h — the name of each thread that recorded an event, as it was when the thread
 * first did (its comm, pthread_setname_np's): the trace's THREAD records carry it and the reports
 * show it beside the thread ids of their groups. Noted once per thread, never on the later calls. */
#ifndef VT_SHIM_THREAD_NAMES_H
#define VT_SHIM_THREAD_NAMES_H

#include <stdint.h>

/* By the thread itself, at its first event (recorder_thread_id's first call): remembers its name
 * under its kernel thread id; later calls do nothing. A thread id the kernel reuses takes the new
 * thread's name. */
void thread_names_note(uint32_t thread_id);
/* The calling thread's name as noted (noting it first if need be; "" when it has none). */
const char *thread_names_current(void);
/* A vt_thread_name_of (common/group_threads.h): the name noted for a thread id, NULL when none
 * (the context is unused). Safe while other threads note theirs. */
const char *thread_names_find(uint32_t thread_id, const void *unused);

#endif
