/* common/reserve.h — room for more elements in a growing array (the capacity doubles, from 16):
 * the one way the trace model, its event store, its live-set index and the reader's read-ahead
 * slots grow their arrays. */
#ifndef VT_COMMON_RESERVE_H
#define VT_COMMON_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Makes room for `more` elements after `count` in *array (a pointer to the array's pointer, room
 * for *capacity); false when out of memory (the array is left as it was). */
static inline bool vt_reserve(void *array, size_t *capacity, size_t count, size_t more, size_t element_size)
{
    if (count + more <= *capacity)
        return true;
    size_t grown = *capacity ? *capacity * 2 : 16;
    while (grown < count + more)
        grown *= 2;
    void *bigger = realloc(*(void **)array, grown * element_size);
    if (!bigger)
        return false;
    *(void **)array = bigger;
    *capacity = grown;
    return true;
}

/* The same for one element. */
static inline bool vt_reserve_one(void *array, size_t *capacity, size_t count, size_t element_size)
{
    return vt_reserve(array, capacity, count, 1, element_size);
}

#endif
