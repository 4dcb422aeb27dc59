/* common/text_buffer.c — the growable text buffer (see text_buffer.h). */
#include "common/text_buffer.h"

#include <stdlib.h>
#include <string.h>

void vt_text_append_bytes(struct vt_text *text, const char *bytes, size_t length)
{
    if (text->failed)
        return;
    if (text->length + length + 1 > text->capacity) {
        size_t capacity = text->capacity ? text->capacity : 256;
        while (capacity < text->length + length + 1)
            capacity *= 2;
        char *grown = realloc(text->text, capacity);
        if (!grown) {
            text->failed = true;
            return;
        }
        text->text = grown;
        text->capacity = capacity;
    }
    memcpy(text->text + text->length, bytes, length);
    text->length += length;
    text->text[text->length] = '\0';
}

void vt_text_append(struct vt_text *text, const char *piece)
{
    vt_text_append_bytes(text, piece, strlen(piece));
}

void vt_text_clear(struct vt_text *text)
{
    text->length = 0;
    if (text->text)
        text->text[0] = '\0';
}

void vt_text_free(struct vt_text *text)
{
    free(text->text);
    memset(text, 0, sizeof *text);
}
