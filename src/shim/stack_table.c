/* shim/stack_table.c — capture and deduplication of native stacks (see stack_table.h).
 *
 * Each distinct stack lives in one block carved from an arena of large chunks, keyed in a uthash
 * table by its frames. Ids index blocks of pointers that never move once made, so report threads
 * (OOM report, live dump) can read a stack by id while hooks intern new ones: the count of stored
 * stacks is published with a release store after the stack is complete. Nothing here is freed
 * while the process runs: the number of distinct allocation sites in a program is small. The
 * uthash table's own memory comes from the arena too (the bucket arrays it outgrows are left
 * there), so stacks never touch the traced program's malloc heap.
 */
#define _GNU_SOURCE
#include "shim/stack_table.h"

#include "common/arena.h"
#include "shim/native_unwind.h"
#include "shim/real_functions.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdlib.h>
#include <string.h>

/* Stacks are arrays of words: hash them a word at a time (uthash's default hashes bytes, and was
 * a third of the cost of recording a 32-frame stack), in four independent lanes so that the
 * multiplications of neighbouring words overlap instead of waiting for each other. The lanes are
 * folded and mixed at the end (MurmurHash3's finaliser), so every bit of every word reaches the
 * low bits uthash picks its bucket with. */
static inline uint64_t rotate_left(uint64_t value, unsigned bits)
{
    return (value << bits) | (value >> (64 - bits));
}

static inline unsigned stack_hash_words(const void *key, size_t key_bytes)
{
    const uint64_t multiplier = 0x9e3779b97f4a7c15u;
    const uintptr_t *words = key;
    size_t count = key_bytes / sizeof *words, i = 0;
    uint64_t lane0 = key_bytes, lane1 = 0x6a09e667f3bcc909u, lane2 = 0xbb67ae8584caa73bu, lane3 = 0x3c6ef372fe94f82bu;
    for (; i + 4 <= count; i += 4) {
        lane0 = (lane0 ^ words[i]) * multiplier;
        lane1 = (lane1 ^ words[i + 1]) * multiplier;
        lane2 = (lane2 ^ words[i + 2]) * multiplier;
        lane3 = (lane3 ^ words[i + 3]) * multiplier;
    }
    if (i < count)
        lane0 = (lane0 ^ words[i++]) * multiplier;
    if (i < count)
        lane1 = (lane1 ^ words[i++]) * multiplier;
    if (i < count)
        lane2 = (lane2 ^ words[i]) * multiplier;
    uint64_t hash = lane0 ^ rotate_left(lane1, 16) ^ rotate_left(lane2, 32) ^ rotate_left(lane3, 48);
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdu;
    hash ^= hash >> 33;
    hash *= 0xc4ceb9fe1a85ec53u;
    hash ^= hash >> 33;
    return (unsigned)hash;
}
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = stack_hash_words((keyptr), (keylen)))
static struct arena stack_arena;
#define uthash_malloc(bytes) arena_alloc(&stack_arena, (bytes))
#define uthash_free(pointer, bytes) ((void)(pointer), (void)(bytes))
#include <uthash.h>

struct stored_stack {
    UT_hash_handle hh;
    uint32_t id;
    unsigned depth;
    uintptr_t frames[];
};

enum { IDS_PER_BLOCK = 4096, ID_BLOCKS = 4096 }; /* room for 16 million distinct stacks */
enum { CAPTURE_FRAMES_AT_MOST = 128, SHIM_FRAMES_AT_MOST = 8 };

static struct stored_stack *stacks_by_frames;
static struct stored_stack **stacks_by_id[ID_BLOCKS]; /* id - 1 -> [block][slot]; blocks never move */
static size_t stacks_stored;                          /* written under the recorder's lock, read anywhere */

/* The caller's frames in `raw` (as unw_backtrace stores them): those after the first run of the
 * shim's own frames (this function, the recorder, the hook), at most max_depth. */
static unsigned trim_shim_frames(void *const *raw, int captured, uintptr_t *frames, unsigned max_depth)
{
    int first = 0;
    while (first < captured && !address_in_shim((uintptr_t)raw[first]))
        first++;
    while (first < captured && address_in_shim((uintptr_t)raw[first]))
        first++;
    if (first >= captured)
        first = 0; /* no shim frame seen (should not happen): keep everything */
    unsigned depth = (unsigned)(captured - first) < max_depth ? (unsigned)(captured - first) : max_depth;
    memcpy(frames, raw + first, depth * sizeof frames[0]);
    return depth;
}

/* Check mode: the stack as libunwind alone gives it, compared with what was captured; when they
 * differ, libunwind's is kept (out of line: its buffers stay off the stack of every other capture). */
static __attribute__((noinline)) void check_against_libunwind(struct captured_stack *stack, unsigned max_depth,
                                                              bool fast_used)
{
    void *raw[CAPTURE_FRAMES_AT_MOST + SHIM_FRAMES_AT_MOST];
    uintptr_t reference[CAPTURE_FRAMES_AT_MOST];
    int captured = unw_backtrace(raw, (int)(max_depth + SHIM_FRAMES_AT_MOST));
    unsigned depth = trim_shim_frames(raw, captured, reference, max_depth);
    bool same = depth == stack->depth && memcmp(reference, stack->frames, depth * sizeof reference[0]) == 0;
    native_unwind_check_count(fast_used, same, stack->frames, stack->depth, reference, depth);
    if (!same) {
        memcpy(stack->frames, reference, depth * sizeof reference[0]);
        stack->depth = depth;
    }
}

/* stack_capture's work, for max_depth > 0 (out of line: no stack frame of a kilobyte when stacks
 * are off). */
static __attribute__((noinline)) void capture_frames(struct captured_stack *stack, unsigned max_depth)
{
    void *raw[CAPTURE_FRAMES_AT_MOST + SHIM_FRAMES_AT_MOST];
    /* The fast walk stops once it has max_depth frames past the shim's; libunwind is asked for
     * enough to have them past up to SHIM_FRAMES_AT_MOST of the shim's. */
    int size = (int)(max_depth + SHIM_FRAMES_AT_MOST);
    int captured = native_backtrace(raw, size, max_depth);
    bool fast_used = captured >= 0;
    if (!fast_used)
        captured = unw_backtrace(raw, size);
    stack->depth = trim_shim_frames(raw, captured, stack->frames, max_depth);
    if (native_unwind_checking())
        check_against_libunwind(stack, max_depth, fast_used);
}

void stack_capture(struct captured_stack *stack, unsigned max_depth)
{
    const unsigned capacity = sizeof stack->frames / sizeof stack->frames[0];
    if (max_depth > capacity)
        max_depth = capacity;
    if (max_depth > CAPTURE_FRAMES_AT_MOST)
        max_depth = CAPTURE_FRAMES_AT_MOST;
    stack->depth = 0;
    if (max_depth > 0)
        capture_frames(stack, max_depth);
}

/* The slot for stack number `index` (0-based), making its block when needed. */
static struct stored_stack **id_slot(size_t index, bool make)
{
    size_t block = index / IDS_PER_BLOCK;
    if (block >= ID_BLOCKS)
        return NULL;
    if (!stacks_by_id[block]) {
        if (!make)
            return NULL;
        struct stored_stack **fresh = arena_alloc(&stack_arena, IDS_PER_BLOCK * sizeof *fresh);
        if (!fresh)
            return NULL;
        __atomic_store_n(&stacks_by_id[block], fresh, __ATOMIC_RELEASE);
    }
    return &stacks_by_id[block][index % IDS_PER_BLOCK];
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
    struct stored_stack **slot = id_slot(stacks_stored, true);
    struct stored_stack *stack = slot ? arena_alloc(&stack_arena, sizeof *stack + key_bytes) : NULL;
    if (!stack)
        return STACK_ID_NONE;
    memset(&stack->hh, 0, sizeof stack->hh);
    stack->depth = depth;
    stack->id = (uint32_t)stacks_stored + 1;
    memcpy(stack->frames, frames, key_bytes);
    HASH_ADD(hh, stacks_by_frames, frames, key_bytes, stack);
    if (!stack->hh.tbl)
        return STACK_ID_NONE; /* out of memory growing the table (HASH_NONFATAL_OOM): not stored */
    *slot = stack;
    __atomic_store_n(&stacks_stored, stacks_stored + 1, __ATOMIC_RELEASE);
    return stack->id;
}

const uintptr_t *stack_frames(uint32_t stack_id, unsigned *depth)
{
    if (stack_id == STACK_ID_NONE || stack_id > __atomic_load_n(&stacks_stored, __ATOMIC_ACQUIRE))
        return NULL;
    struct stored_stack **block = __atomic_load_n(&stacks_by_id[(stack_id - 1) / IDS_PER_BLOCK], __ATOMIC_ACQUIRE);
    const struct stored_stack *stack = block[(stack_id - 1) % IDS_PER_BLOCK];
    *depth = stack->depth;
    return stack->frames;
}

size_t stack_count(void)
{
    return __atomic_load_n(&stacks_stored, __ATOMIC_ACQUIRE);
}

void stack_table_reset(void)
{
    HASH_CLEAR(hh, stacks_by_frames);
    arena_release(&stack_arena);
    stack_table_forget();
}

void stack_table_forget(void)
{
    stacks_by_frames = NULL;
    memset(stacks_by_id, 0, sizeof stacks_by_id);
    memset(&stack_arena, 0, sizeof stack_arena);
    __atomic_store_n(&stacks_stored, 0, __ATOMIC_RELEASE);
}
