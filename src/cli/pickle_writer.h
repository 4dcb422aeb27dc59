/* cli/pickle_writer.h — writing a Python pickle (protocol 4) of dicts, lists, strings, integers,
 * booleans and None, streamed to a FILE: what `vramtrace export --memory-viz` needs to write the
 * snapshot PyTorch's memory_viz reads. Only opcodes that both CPython's unpickler and memory_viz's
 * own (MemoryViz.js `unpickle`) accept are used; lists and dicts are filled in batches of 1000, as
 * CPython's pickler does (memory_viz spreads a batch as call arguments: an unbounded one would
 * overflow a browser's stack). A list or dict can be memoized as it is closed and written again by
 * reference (one object, shared), which keeps repeated stacks small.
 *
 * Usage: vt_pickle_start; then values: a dict is vt_pickle_dict_begin, key, value, key, value, ...,
 * vt_pickle_dict_end (keys and values are any values written in between); a list likewise; then
 * vt_pickle_finish, which says whether everything reached the file.
 */
#ifndef VT_CLI_PICKLE_WRITER_H
#define VT_CLI_PICKLE_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define VT_PICKLE_MAX_DEPTH 16

struct vt_pickle {
    FILE *out;
    uint32_t memo_count;
    unsigned depth;
    uint32_t items[VT_PICKLE_MAX_DEPTH]; /* values written in the open container's current batch */
    bool is_dict[VT_PICKLE_MAX_DEPTH];
    bool failed;
};

void vt_pickle_start(struct vt_pickle *pickle, FILE *out);
/* STOP; false when a write failed or the containers were not all closed. */
bool vt_pickle_finish(struct vt_pickle *pickle);

void vt_pickle_dict_begin(struct vt_pickle *pickle);
void vt_pickle_dict_end(struct vt_pickle *pickle);
void vt_pickle_list_begin(struct vt_pickle *pickle);
void vt_pickle_list_end(struct vt_pickle *pickle);
/* The same ends, memoizing the container (one object that vt_pickle_memo_get writes again);
 * they return its memo index. */
uint32_t vt_pickle_dict_end_memoized(struct vt_pickle *pickle);
uint32_t vt_pickle_list_end_memoized(struct vt_pickle *pickle);

void vt_pickle_text(struct vt_pickle *pickle, const char *text);
void vt_pickle_int(struct vt_pickle *pickle, int64_t value);
void vt_pickle_uint(struct vt_pickle *pickle, uint64_t value);
void vt_pickle_bool(struct vt_pickle *pickle, bool value);
void vt_pickle_none(struct vt_pickle *pickle);
/* A 2-tuple of integers (PyTorch's segment_pool_id). */
void vt_pickle_int_pair(struct vt_pickle *pickle, int64_t first, int64_t second);

/* Writes the container memoized under `index` again (the same object). */
void vt_pickle_memo_get(struct vt_pickle *pickle, uint32_t index);

/* Shorthands for a dict's entries: the key, then the value. */
void vt_pickle_key_text(struct vt_pickle *pickle, const char *key, const char *value);
void vt_pickle_key_int(struct vt_pickle *pickle, const char *key, int64_t value);
void vt_pickle_key_uint(struct vt_pickle *pickle, const char *key, uint64_t value);

#endif
