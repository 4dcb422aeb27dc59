/* trace/json_writer.h — a small streaming JSON writer for the analysis commands' --format json:
 * indented output, strings escaped, 64-bit integers exact. Members take a key; array elements
 * pass NULL. Nesting is at most VT_JSON_MAX_DEPTH deep. */
#ifndef VT_TRACE_JSON_WRITER_H
#define VT_TRACE_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define VT_JSON_MAX_DEPTH 32

struct vt_json {
    FILE *out;
    int depth;
    bool has_members[VT_JSON_MAX_DEPTH]; /* per open level: something was written (comma next) */
};

void vt_json_start(struct vt_json *json, FILE *out);
/* Ends the document with a newline. */
void vt_json_finish(struct vt_json *json);

void vt_json_object_begin(struct vt_json *json, const char *key);
void vt_json_object_end(struct vt_json *json);
void vt_json_array_begin(struct vt_json *json, const char *key);
void vt_json_array_end(struct vt_json *json);

void vt_json_string(struct vt_json *json, const char *key, const char *value); /* NULL: null */
void vt_json_string_length(struct vt_json *json, const char *key, const char *value, size_t length);
void vt_json_uint(struct vt_json *json, const char *key, uint64_t value);
void vt_json_int(struct vt_json *json, const char *key, int64_t value);
void vt_json_seconds(struct vt_json *json, const char *key, uint64_t nanoseconds); /* 1.234567890 */
void vt_json_bool(struct vt_json *json, const char *key, bool value);
void vt_json_null(struct vt_json *json, const char *key);
/* "0x7f12..." : addresses do not fit a double exactly, so they go as strings. */
void vt_json_hex(struct vt_json *json, const char *key, uint64_t value);

#endif
