/* common/arena.c — chunked bump allocator (see arena.h). */
#include "common/arena.h"

#include <stdint.h>
#include <sys/mman.h>

enum { ARENA_CHUNK_BYTES = 1 << 20 };

struct arena_chunk {
    struct arena_chunk *previous;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void *arena_alloc(struct arena *arena, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    struct arena_chunk *chunk = arena->current;
    if (!chunk || chunk->size - chunk->used < bytes) {
        size_t chunk_bytes = sizeof *chunk + bytes > ARENA_CHUNK_BYTES ? sizeof *chunk + bytes : ARENA_CHUNK_BYTES;
        void *mapped = mmap(NULL, chunk_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapped == MAP_FAILED)
            return NULL;
        chunk = mapped;
        chunk->previous = arena->current;
        chunk->size = chunk_bytes - sizeof *chunk;
        chunk->used = 0;
        arena->current = chunk;
        arena->bytes_reserved += chunk_bytes;
    }
    void *block = chunk->data + chunk->used;
    chunk->used += bytes;
    return block;
}

void arena_release(struct arena *arena)
{
    while (arena->current) {
        struct arena_chunk *previous = arena->current->previous;
        munmap(arena->current, arena->current->size + sizeof *arena->current);
        arena->current = previous;
    }
    arena->bytes_reserved = 0;
}
