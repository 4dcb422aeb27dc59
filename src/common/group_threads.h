/* common/group_threads.h — which threads allocated a group of live allocations: a tally of bytes
 * and allocations per thread, and the line every report prints of it. The shim's exit and OOM
 * reports and `vramtrace report` (text, JSON, HTML) use the same code, so that they say the same
 * of the same allocations. Built at report time from the live records, never on the allocation
 * path. */
#ifndef VT_COMMON_GROUP_THREADS_H
#define VT_COMMON_GROUP_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VT_THREADS_NAMED 2  /* threads the text line names before "and N others" */
#define VT_THREADS_LISTED 4 /* threads JSON lists per group (largest first), with the count of all */
#define VT_THREAD_NAME_MAX 16 /* a Linux thread name (comm) with its NUL */

struct vt_thread_share {
    uint32_t tid; /* kernel thread id; 0: unknown (a trace event without a THREAD definition) */
    uint64_t bytes, count;
};

/* The threads of one group. Zeroed: empty. After vt_thread_tally_sort, largest first (by bytes,
 * then count, then the lower tid). */
struct vt_thread_tally {
    struct vt_thread_share *shares;
    uint32_t count, capacity;
    uint32_t last;   /* the share found last: a thread's allocations tend to come together */
    uint32_t *index; /* past a few threads, until sorted: open addressing, tid -> share + 1 */
    uint32_t index_mask;
    bool incomplete; /* out of memory: some threads are missing */
};

void vt_thread_tally_add(struct vt_thread_tally *tally, uint32_t tid, uint64_t bytes);
/* Whether the tally knows a thread: false when empty, or when no event of the group had a thread the
 * trace defines (a trace written by something other than the shim); reports then say nothing of
 * threads. */
bool vt_thread_tally_known(const struct vt_thread_tally *tally);
void vt_thread_tally_sort(struct vt_thread_tally *tally);
void vt_thread_tally_free(struct vt_thread_tally *tally);

/* The name of a thread (its comm when first seen allocating), NULL when unknown. */
typedef const char *vt_thread_name_of(uint32_t tid, const void *context);

/* `thread 4711 "worker"`, `threads 4711 "a" and 4712 "b"`, `threads 4711 "a", 4712 "b" and 3
 * others` (a thread without a name: its id alone; an unknown thread: `(unknown)`) of a
 * sorted tally; "" for one that knows no thread (vt_thread_tally_known). Returns out. */
const char *vt_format_threads(const struct vt_thread_tally *tally, vt_thread_name_of *name_of, const void *context,
                              char *out, size_t out_size);

#endif
