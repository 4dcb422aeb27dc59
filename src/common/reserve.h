/* common/reserve.h — room for one more element in a growing array (the capacity doubles, from 16):
 * the one way the trace model, its event store and its live-set index grow their arrays. */
#ifndef VT_COMMON_RESERVE_H
#define VT_COMMON_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Makes room for one more element in *array (a pointer to the array's pointer, holding `count`,
 * room for *capacity); false when out of memory (the array is left as it was). */
static inline bool vt_reserve_one(void *array, size_t *capacity, size_t count, size_t element_size)
{
    if (count < *capacity)
        return true;
    size_t grown = *capacity ? *capacity * 2 : 16;
    void *bigger = realloc(*(void **)array, grown * element_size);
    if (!bigger)
        return false;
    *(void **)array = bigger;
    *capacity = grown;
    return true;
}

#endif
