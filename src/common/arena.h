/* common/arena.h — bump allocation from large mmap()ed chunks, for records that live as long as
 * the recorder (stacks) so the hot path never calls malloc for them. */
#ifndef VT_SHIM_ARENA_H
#define VT_SHIM_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *current;
    size_t bytes_reserved; /* total mapped, for the recorder's own-memory figure */
};

/* 16-byte aligned block of `bytes`, or NULL when the system has no memory left. */
void *arena_alloc(struct arena *arena, size_t bytes);

/* Unmaps every chunk. */
void arena_release(struct arena *arena);

#endif
