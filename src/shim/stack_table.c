/* shim/stack_table.c — capture and deduplication of native stacks (see stack_table.h).
 *
 * Each distinct stack lives in one block carved from an arena of large chunks, keyed in a uthash
 * table by its frames; ids index a growing array of pointers. Nothing here is freed while the
 * process runs: the number of distinct allocation sites in a program is small.
 */
#define _GNU_SOURCE
#include "shim/stack_table.h"

#include "common/arena.h"
#include "shim/real_functions.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdlib.h>
#include <string.h>

/* Stacks are arrays of words: hash them a word at a time (uthash's default hashes bytes, and was
 * a third of the cost of recording a 32-frame stack). */
static inline unsigned stack_hash_words(const void *key, size_t key_bytes)
{
    const uintptr_t *words = key;
    uint64_t hash = 0x9e3779b97f4a7c15u ^ key_bytes;
    for (size_t i = 0; i < key_bytes / sizeof *words; i++) {
        hash = (hash ^ words[i]) * 0xff51afd7ed558ccdu;
        hash ^= hash >> 32;
    }
    return (unsigned)hash;
}
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = stack_hash_words((keyptr), (keylen)))
#include <uthash.h>

struct stored_stack {
    UT_hash_handle hh;
    uint32_t id;
    unsigned depth;
    uintptr_t frames[];
};

static struct stored_stack *stacks_by_frames;
static struct stored_stack **stacks_by_id; /* index = id - 1 */
static size_t stacks_stored, stacks_capacity;
static struct arena stack_arena;

void stack_capture(struct captured_stack *stack, unsigned max_depth)
{
    enum { SHIM_FRAMES_AT_MOST = 8 };
    void *raw[128 + SHIM_FRAMES_AT_MOST];
    const unsigned capacity = sizeof stack->frames / sizeof stack->frames[0];
    if (max_depth > capacity)
        max_depth = capacity;
    stack->depth = 0;
    if (max_depth == 0)
        return;
    int captured = unw_backtrace(raw, (int)(max_depth + SHIM_FRAMES_AT_MOST));
    /* Leading frames: libunwind's, then the shim's (this function, the recorder, the hook). The
     * caller's code starts at the first frame after the shim's. */
    int first = 0;
    while (first < captured && !address_in_shim((uintptr_t)raw[first]))
        first++;
    while (first < captured && address_in_shim((uintptr_t)raw[first]))
        first++;
    if (first >= captured)
        first = 0; /* no shim frame seen (should not happen): keep everything */
    for (int i = first; i < captured && stack->depth < max_depth; i++)
        stack->frames[stack->depth++] = (uintptr_t)raw[i];
}

static bool grow_id_index(void)
{
    size_t capacity = stacks_capacity ? stacks_capacity * 2 : 1024;
    struct stored_stack **grown = realloc(stacks_by_id, capacity * sizeof *grown);
    if (!grown)
        return false;
    stacks_by_id = grown;
    stacks_capacity = capacity;
    return true;
}

uint32_t stack_intern(const uintptr_t *frames, unsigned depth)
{
    if (depth == 0)
        return STACK_ID_NONE;
    size_t key_bytes = depth * sizeof frames[0];
    struct stored_stack *found;
    HASH_FIND(hh, stacks_by_frames, frames, key_bytes, found);
    if (found)
        return found->id;
    if (stacks_stored == stacks_capacity && !grow_id_index())
        return STACK_ID_NONE;
    struct stored_stack *stack = arena_alloc(&stack_arena, sizeof *stack + key_bytes);
    if (!stack)
        return STACK_ID_NONE;
    memset(&stack->hh, 0, sizeof stack->hh);
    stack->depth = depth;
    memcpy(stack->frames, frames, key_bytes);
    stacks_by_id[stacks_stored++] = stack;
    stack->id = (uint32_t)stacks_stored;
    HASH_ADD(hh, stacks_by_frames, frames, key_bytes, stack);
    return stack->id;
}

const uintptr_t *stack_frames(uint32_t stack_id, unsigned *depth)
{
    if (stack_id == STACK_ID_NONE || stack_id > stacks_stored)
        return NULL;
    const struct stored_stack *stack = stacks_by_id[stack_id - 1];
    *depth = stack->depth;
    return stack->frames;
}

size_t stack_count(void)
{
    return stacks_stored;
}

void stack_table_reset(void)
{
    HASH_CLEAR(hh, stacks_by_frames);
    free(stacks_by_id);
    stacks_by_id = NULL;
    stacks_stored = stacks_capacity = 0;
    arena_release(&stack_arena);
}
