/* trace/json_writer.c — streaming JSON output (see json_writer.h). */
#include "trace/json_writer.h"

#include <inttypes.h>
#include <string.h>

void vt_json_start(struct vt_json *json, FILE *out)
{
    memset(json, 0, sizeof *json);
    json->out = out;
}

void vt_json_finish(struct vt_json *json)
{
    fputc('\n', json->out);
}

static void write_escaped(FILE *out, const char *text, size_t length)
{
    fputc('"', out);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* Separator, indentation and key before a value at the current level. */
static void start_value(struct vt_json *json, const char *key)
{
    if (json->depth > 0) {
        if (json->has_members[json->depth - 1])
            fputc(',', json->out);
        json->has_members[json->depth - 1] = true;
        fprintf(json->out, "\n%*s", 2 * json->depth, "");
    }
    if (key) {
        write_escaped(json->out, key, strlen(key));
        fputs(": ", json->out);
    }
}

static void open_level(struct vt_json *json, const char *key, char bracket)
{
    start_value(json, key);
    fputc(bracket, json->out);
    if (json->depth < VT_JSON_MAX_DEPTH)
        json->has_members[json->depth] = false;
    json->depth++;
}

static void close_level(struct vt_json *json, char bracket)
{
    json->depth--;
    if (json->depth < VT_JSON_MAX_DEPTH && json->has_members[json->depth])
        fprintf(json->out, "\n%*s", 2 * json->depth, "");
    fputc(bracket, json->out);
}

void vt_json_object_begin(struct vt_json *json, const char *key)
{
    open_level(json, key, '{');
}

void vt_json_object_end(struct vt_json *json)
{
    close_level(json, '}');
}

void vt_json_array_begin(struct vt_json *json, const char *key)
{
    open_level(json, key, '[');
}

void vt_json_array_end(struct vt_json *json)
{
    close_level(json, ']');
}

void vt_json_string_length(struct vt_json *json, const char *key, const char *value, size_t length)
{
    start_value(json, key);
    if (value)
        write_escaped(json->out, value, length);
    else
        fputs("null", json->out);
}

void vt_json_string(struct vt_json *json, const char *key, const char *value)
{
    vt_json_string_length(json, key, value, value ? strlen(value) : 0);
}

void vt_json_uint(struct vt_json *json, const char *key, uint64_t value)
{
    start_value(json, key);
    fprintf(json->out, "%" PRIu64, value);
}

void vt_json_int(struct vt_json *json, const char *key, int64_t value)
{
    start_value(json, key);
    fprintf(json->out, "%" PRId64, value);
}

void vt_json_seconds(struct vt_json *json, const char *key, uint64_t nanoseconds)
{
    start_value(json, key);
    fprintf(json->out, "%" PRIu64 ".%09" PRIu64, nanoseconds / 1000000000u, nanoseconds % 1000000000u);
}

void vt_json_bool(struct vt_json *json, const char *key, bool value)
{
    start_value(json, key);
    fputs(value ? "true" : "false", json->out);
}

void vt_json_null(struct vt_json *json, const char *key)
{
    start_value(json, key);
    fputs("null", json->out);
}

void vt_json_hex(struct vt_json *json, const char *key, uint64_t value)
{
    start_value(json, key);
    fprintf(json->out, "\"0x%" PRIx64 "\"", value);
}
