/* cli/pickle_writer.c — a streamed pickle, protocol 4 (see pickle_writer.h). Opcodes from
 * CPython's Lib/pickle.py. */
#include "pickle_writer.h"

#include <string.h>

enum {
    OP_PROTO = 0x80,
    OP_STOP = '.',
    OP_MARK = '(',
    OP_EMPTY_DICT = '}',
    OP_SETITEMS = 'u',
    OP_EMPTY_LIST = ']',
    OP_APPENDS = 'e',
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE = 'X',
    OP_BININT1 = 'K',
    OP_BININT2 = 'M',
    OP_BININT = 'J',
    OP_LONG1 = 0x8a,
    OP_NONE = 'N',
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_TUPLE2 = 0x86,
    OP_MEMOIZE = 0x94,
    OP_BINGET = 'h',
    OP_LONG_BINGET = 'j',
    BATCH = 1000, /* items per MARK ... APPENDS/SETITEMS, as CPython's pickler */
};

static void put(struct vt_pickle *pickle, const void *bytes, size_t length)
{
    if (!pickle->failed && fwrite(bytes, 1, length, pickle->out) != length)
        pickle->failed = true;
}

static void put_byte(struct vt_pickle *pickle, uint8_t byte)
{
    put(pickle, &byte, 1);
}

static void put_le32(struct vt_pickle *pickle, uint32_t value)
{
    uint8_t bytes[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16), (uint8_t)(value >> 24)};
    put(pickle, bytes, sizeof bytes);
}

/* A value was written into the open container: a full batch is closed and another opened. A dict
 * counts keys and values, so its batches close on a key-value boundary. */
static void wrote_value(struct vt_pickle *pickle)
{
    if (pickle->depth == 0)
        return;
    unsigned top = pickle->depth - 1;
    uint32_t limit = pickle->is_dict[top] ? 2 * BATCH : BATCH;
    if (++pickle->items[top] == limit) {
        put_byte(pickle, pickle->is_dict[top] ? OP_SETITEMS : OP_APPENDS);
        put_byte(pickle, OP_MARK);
        pickle->items[top] = 0;
    }
}

void vt_pickle_start(struct vt_pickle *pickle, FILE *out)
{
    *pickle = (struct vt_pickle){.out = out};
    put_byte(pickle, OP_PROTO);
    put_byte(pickle, 4);
}

bool vt_pickle_finish(struct vt_pickle *pickle)
{
    put_byte(pickle, OP_STOP);
    return !pickle->failed && pickle->depth == 0 && fflush(pickle->out) == 0 && !ferror(pickle->out);
}

static void open_container(struct vt_pickle *pickle, uint8_t empty, bool is_dict)
{
    if (pickle->depth == VT_PICKLE_MAX_DEPTH) {
        pickle->failed = true;
        return;
    }
    put_byte(pickle, empty);
    put_byte(pickle, OP_MARK);
    pickle->items[pickle->depth] = 0;
    pickle->is_dict[pickle->depth] = is_dict;
    pickle->depth++;
}

/* Closes the open container; with `memo`, memoizes it (before the parent's batch can close: the
 * memo takes the top of the unpickler's stack) and returns its index there. */
static uint32_t close_container(struct vt_pickle *pickle, uint8_t fill, bool memo)
{
    if (pickle->depth == 0) {
        pickle->failed = true;
        return 0;
    }
    put_byte(pickle, fill); /* the last batch (possibly empty: MARK then the fill is valid) */
    uint32_t index = memo ? pickle->memo_count++ : 0;
    if (memo)
        put_byte(pickle, OP_MEMOIZE);
    pickle->depth--;
    wrote_value(pickle);
    return index;
}

void vt_pickle_dict_begin(struct vt_pickle *pickle)
{
    open_container(pickle, OP_EMPTY_DICT, true);
}

void vt_pickle_dict_end(struct vt_pickle *pickle)
{
    close_container(pickle, OP_SETITEMS, false);
}

uint32_t vt_pickle_dict_end_memoized(struct vt_pickle *pickle)
{
    return close_container(pickle, OP_SETITEMS, true);
}

void vt_pickle_list_begin(struct vt_pickle *pickle)
{
    open_container(pickle, OP_EMPTY_LIST, false);
}

void vt_pickle_list_end(struct vt_pickle *pickle)
{
    close_container(pickle, OP_APPENDS, false);
}

uint32_t vt_pickle_list_end_memoized(struct vt_pickle *pickle)
{
    return close_container(pickle, OP_APPENDS, true);
}

void vt_pickle_text(struct vt_pickle *pickle, const char *text)
{
    size_t length = strlen(text);
    if (length < 256) {
        put_byte(pickle, OP_SHORT_BINUNICODE);
        put_byte(pickle, (uint8_t)length);
    } else {
        put_byte(pickle, OP_BINUNICODE);
        put_le32(pickle, (uint32_t)length);
    }
    put(pickle, text, length);
    wrote_value(pickle);
}

/* LONG1: the two's complement, little-endian: a negative value in 8 bytes, a non-negative one in as
 * few as keep its top bit clear (9 for 2^63 and more). */
static void put_long1(struct vt_pickle *pickle, uint64_t bits, bool negative)
{
    uint8_t bytes[9] = {0};
    unsigned count = 0;
    for (uint64_t rest = bits; count < 8; rest >>= 8) {
        bytes[count++] = (uint8_t)rest;
        if (!negative && rest < 0x80)
            break;
    }
    if (!negative && (bytes[count - 1] & 0x80))
        bytes[count++] = 0;
    put_byte(pickle, OP_LONG1);
    put_byte(pickle, (uint8_t)count);
    put(pickle, bytes, count);
}

void vt_pickle_int(struct vt_pickle *pickle, int64_t value)
{
    if (value >= 0 && value < 256) {
        put_byte(pickle, OP_BININT1);
        put_byte(pickle, (uint8_t)value);
    } else if (value >= 0 && value < 65536) {
        uint8_t bytes[3] = {OP_BININT2, (uint8_t)value, (uint8_t)(value >> 8)};
        put(pickle, bytes, sizeof bytes);
    } else if (value >= INT32_MIN && value <= INT32_MAX) {
        put_byte(pickle, OP_BININT);
        put_le32(pickle, (uint32_t)(int32_t)value);
    } else {
        put_long1(pickle, (uint64_t)value, value < 0);
    }
    wrote_value(pickle);
}

void vt_pickle_uint(struct vt_pickle *pickle, uint64_t value)
{
    if (value <= INT64_MAX) {
        vt_pickle_int(pickle, (int64_t)value);
        return;
    }
    put_long1(pickle, value, false);
    wrote_value(pickle);
}

void vt_pickle_bool(struct vt_pickle *pickle, bool value)
{
    put_byte(pickle, value ? OP_NEWTRUE : OP_NEWFALSE);
    wrote_value(pickle);
}

void vt_pickle_none(struct vt_pickle *pickle)
{
    put_byte(pickle, OP_NONE);
    wrote_value(pickle);
}

void vt_pickle_int_pair(struct vt_pickle *pickle, int64_t first, int64_t second)
{
    /* written as two values and a TUPLE2, counted once in the container */
    unsigned depth = pickle->depth;
    pickle->depth = 0; /* (the two integers are not the container's values) */
    vt_pickle_int(pickle, first);
    vt_pickle_int(pickle, second);
    pickle->depth = depth;
    put_byte(pickle, OP_TUPLE2);
    wrote_value(pickle);
}

void vt_pickle_memo_get(struct vt_pickle *pickle, uint32_t index)
{
    if (index < 256) {
        put_byte(pickle, OP_BINGET);
        put_byte(pickle, (uint8_t)index);
    } else {
        put_byte(pickle, OP_LONG_BINGET);
        put_le32(pickle, index);
    }
    wrote_value(pickle);
}

void vt_pickle_key_text(struct vt_pickle *pickle, const char *key, const char *value)
{
    vt_pickle_text(pickle, key);
    vt_pickle_text(pickle, value);
}

void vt_pickle_key_int(struct vt_pickle *pickle, const char *key, int64_t value)
{
    vt_pickle_text(pickle, key);
    vt_pickle_int(pickle, value);
}

void vt_pickle_key_uint(struct vt_pickle *pickle, const char *key, uint64_t value)
{
    vt_pickle_text(pickle, key);
    vt_pickle_uint(pickle, value);
}
