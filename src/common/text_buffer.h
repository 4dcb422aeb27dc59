/* common/text_buffer.h — a growable, always NUL-terminated text buffer (malloc'd), shared by the
 * CLI (keys of allocation sites, folded stacks) and the shim (Python code built off the hot path).
 * Out of memory marks the buffer failed; later appends do nothing. Start from {0}. */
#ifndef VT_COMMON_TEXT_BUFFER_H
#define VT_COMMON_TEXT_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

struct vt_text {
    char *text; /* NULL until the first append */
    size_t length, capacity;
    bool failed;
};

void vt_text_append_bytes(struct vt_text *text, const char *bytes, size_t length);
void vt_text_append(struct vt_text *text, const char *piece);
void vt_text_clear(struct vt_text *text);
void vt_text_free(struct vt_text *text);

#endif
