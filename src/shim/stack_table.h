/* shim/stack_table.h — native call stacks: captured (the fast walk of native_unwind.h, or
 * libunwind's unw_backtrace where it gives up: the same frames either way), trimmed of the shim's
 * own frames, and interned so each distinct stack is stored once and named by a small integer id.
 * Frames are raw return addresses; symbolization happens only when a report is made.
 */
#ifndef VT_SHIM_STACK_TABLE_H
#define VT_SHIM_STACK_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STACK_ID_NONE 0u

struct captured_stack {
    unsigned depth;
    uintptr_t frames[128];
};

/* Unwinds the calling thread (up to max_depth frames after the shim's own) into `stack`. */
void stack_capture(struct captured_stack *stack, unsigned max_depth);

/* Returns the id of an identical stack stored earlier, or stores this one under a new id.
 * Not thread-safe: the recorder calls it under its lock. Returns STACK_ID_NONE for an empty stack
 * or when memory for the table cannot be had. stack_frames and stack_count are safe from any
 * thread at any time. */
uint32_t stack_intern(const uintptr_t *frames, unsigned depth);

/* The frames of a stored stack; NULL for STACK_ID_NONE or an unknown id. */
const uintptr_t *stack_frames(uint32_t stack_id, unsigned *depth);

size_t stack_count(void);

/* Drops every stored stack and frees their memory (for the tests). */
void stack_table_reset(void);

/* Forgets every stored stack without freeing anything: for a forked child, where another thread
 * of the parent may have been changing the table at the fork. */
void stack_table_forget(void);

#endif
