/* trace/json_writer.c — streaming JSON output (see json_writer.h). */
#include "trace/json_writer.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
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

/* The length of the well-formed UTF-8 sequence at text[0..length), or 0 when it is not one
 * (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_sequence_length(const unsigned char *text, size_t length)
{
    unsigned char c = text[0];
    size_t need = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (!need || need > length)
        return 0;
    uint32_t value = c & (need == 2 ? 0x1f : need == 3 ? 0x0f : 0x07);
    for (size_t i = 1; i < need; i++) {
        if ((text[i] & 0xc0) != 0x80)
            return 0;
        value = value << 6 | (text[i] & 0x3f);
    }
    bool overlong = (need == 3 && value < 0x800) || (need == 4 && value < 0x10000);
    if (overlong || (value >= 0xd800 && value <= 0xdfff) || value > 0x10ffff)
        return 0;
    return need;
}

/* A JSON string: control characters escaped, and bytes that are not UTF-8 (a path recorded from
 * a file system that is not) replaced by U+FFFD, so the document always parses. */
static void write_escaped(FILE *out, const char *text, size_t length)
{
    const unsigned char *bytes = (const unsigned char *)text;
    fputc('"', out);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = bytes[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else if (c < 0x80)
            fputc(c, out);
        else {
            size_t sequence = utf8_sequence_length(bytes + i, length - i);
            if (sequence) {
                fwrite(bytes + i, 1, sequence, out);
                i += sequence - 1;
            } else {
                fputs("\\ufffd", out);
            }
        }
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
