/* common/group_threads.c — the threads of a group and their line (see group_threads.h). */
#include "common/group_threads.h"

#include <stdio.h>
#include <stdlib.h>

#define LINEAR_SEARCH_MAX 8 /* shares looked through one by one; past them, an index */

static uint32_t *index_slot(const struct vt_thread_tally *tally, uint32_t tid)
{
    uint32_t slot = (tid * 2654435761u) & tally->index_mask;
    while (tally->index[slot] && tally->shares[tally->index[slot] - 1].tid != tid)
        slot = (slot + 1) & tally->index_mask;
    return &tally->index[slot];
}

/* An index of every share, with room for as many again; false when out of memory. */
static bool rebuild_index(struct vt_thread_tally *tally)
{
    uint32_t slots = 16;
    while (slots < tally->capacity * 2)
        slots *= 2;
    uint32_t *index = calloc(slots, sizeof *index);
    if (!index)
        return false;
    free(tally->index);
    tally->index = index;
    tally->index_mask = slots - 1;
    for (uint32_t i = 0; i < tally->count; i++)
        *index_slot(tally, tally->shares[i].tid) = i + 1;
    return true;
}

static struct vt_thread_share *find_share(struct vt_thread_tally *tally, uint32_t tid)
{
    if (tally->last < tally->count && tally->shares[tally->last].tid == tid)
        return &tally->shares[tally->last];
    if (tally->index) {
        uint32_t at = *index_slot(tally, tid);
        if (at)
            tally->last = at - 1;
        return at ? &tally->shares[at - 1] : NULL;
    }
    for (uint32_t i = 0; i < tally->count; i++)
        if (tally->shares[i].tid == tid) {
            tally->last = i;
            return &tally->shares[i];
        }
    return NULL;
}

void vt_thread_tally_add(struct vt_thread_tally *tally, uint32_t tid, uint64_t bytes)
{
    struct vt_thread_share *share = find_share(tally, tid);
    if (!share) {
        if (tally->count == tally->capacity) {
            uint32_t capacity = tally->capacity ? tally->capacity * 2 : 2;
            struct vt_thread_share *grown = realloc(tally->shares, capacity * sizeof *grown);
            if (!grown) {
                tally->incomplete = true;
                return;
            }
            tally->shares = grown;
            tally->capacity = capacity;
            if (capacity > LINEAR_SEARCH_MAX && !rebuild_index(tally)) {
                free(tally->index); /* look through them one by one */
                tally->index = NULL;
            }
        }
        tally->last = tally->count;
        share = &tally->shares[tally->count++];
        *share = (struct vt_thread_share){.tid = tid};
        if (tally->index)
            *index_slot(tally, tid) = tally->count;
    }
    share->bytes += bytes;
    share->count++;
}

bool vt_thread_tally_known(const struct vt_thread_tally *tally)
{
    return tally->count > 1 || (tally->count == 1 && tally->shares[0].tid != 0);
}

static int largest_first(const void *left, const void *right)
{
    const struct vt_thread_share *a = left, *b = right;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return (a->tid > b->tid) - (a->tid < b->tid);
}

void vt_thread_tally_sort(struct vt_thread_tally *tally)
{
    if (tally->count > 1)
        qsort(tally->shares, tally->count, sizeof *tally->shares, largest_first);
    tally->last = 0;
    free(tally->index); /* the shares moved: looked through one by one until the next growth */
    tally->index = NULL;
}

void vt_thread_tally_free(struct vt_thread_tally *tally)
{
    free(tally->shares);
    free(tally->index);
    *tally = (struct vt_thread_tally){0};
}

const char *vt_format_threads(const struct vt_thread_tally *tally, vt_thread_name_of *name_of, const void *context,
                              char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
#define APPEND(...)                                                                       \
    do {                                                                                  \
        int written = snprintf(out + used, out_size - used, __VA_ARGS__);                 \
        used = written < 0 || (size_t)written >= out_size - used ? out_size - 1 : used + (size_t)written; \
    } while (0)
    if (!vt_thread_tally_known(tally))
        return out;
    unsigned named = tally->count < VT_THREADS_NAMED ? tally->count : VT_THREADS_NAMED;
    uint32_t others = tally->count - named;
    APPEND("%s", tally->count == 1 ? "thread " : "threads ");
    for (unsigned i = 0; i < named; i++) {
        uint32_t tid = tally->shares[i].tid;
        if (i)
            APPEND("%s", i + 1 == named && !others ? " and " : ", ");
        const char *name = tid ? name_of(tid, context) : NULL;
        if (!tid)
            APPEND("(unknown)");
        else if (name && name[0])
            APPEND("%u \"%s\"", tid, name);
        else
            APPEND("%u", tid);
    }
    if (others)
        APPEND(" and %u other%s", others, others == 1 ? "" : "s");
#undef APPEND
    return out;
}
