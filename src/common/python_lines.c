/* common/python_lines.c — decoding CPython's line tables (see python_lines.h). Each decoder follows
 * CPython's own: 3.9 Objects/codeobject.c PyCode_Addr2Line; 3.10 Objects/codeobject.c advance() and
 * _PyCode_CheckLineNumber; 3.11+ Objects/codeobject.c advance(), get_line_delta() and
 * Objects/locations.md. All three bound every read by the table's length.
 */
#include "common/python_lines.h"

#include <stdbool.h>

/* 3.9: pairs (byte increment, signed line increment); the line of `offset` is the line reached
 * before the first increment that passes it. */
static int lnotab_line(const uint8_t *table, size_t bytes, int line, uint32_t offset)
{
    uint64_t address = 0;
    for (size_t i = 0; i + 1 < bytes; i += 2) {
        address += table[i];
        if (address > offset)
            break;
        line += (int8_t)table[i + 1];
        if (line < -(1 << 30) || line > (1 << 30))
            return -1; /* not a table CPython wrote */
    }
    return line;
}

/* 3.10: pairs (byte delta, signed line delta, -128 = no line); each pair is a range of bytes. */
static int linetable_line(const uint8_t *table, size_t bytes, int line, uint32_t offset)
{
    uint64_t start = 0;
    for (size_t i = 0; i + 1 < bytes; i += 2) {
        uint64_t end = start + table[i];
        int8_t line_delta = (int8_t)table[i + 1];
        int range_line = -1;
        if (line_delta != -128) {
            line += line_delta;
            if (line < -(1 << 30) || line > (1 << 30))
                return -1; /* not a table CPython wrote */
            range_line = line;
        }
        if (offset >= start && offset < end)
            return range_line;
        start = end;
    }
    return -1;
}

/* 3.11+: 6-bit varints, low bits first, bit 6 set on every byte but the last. */
static uint64_t read_varint(const uint8_t **cursor, const uint8_t *end)
{
    uint64_t value = 0;
    unsigned shift = 0;
    while (*cursor < end) {
        uint8_t byte = *(*cursor)++;
        if (shift < 64)
            value |= (uint64_t)(byte & 63) << shift;
        shift += 6;
        if (!(byte & 64))
            break;
    }
    return value;
}

static int64_t read_signed_varint(const uint8_t **cursor, const uint8_t *end)
{
    uint64_t value = read_varint(cursor, end);
    return value & 1 ? -(int64_t)(value >> 1) : (int64_t)(value >> 1);
}

enum {
    LOCATION_NONE = 15,       /* no location */
    LOCATION_LONG = 14,       /* line delta, end line delta, column + 1, end column + 1 */
    LOCATION_NO_COLUMNS = 13, /* line delta only */
    LOCATION_ONE_LINE0 = 10,  /* 10..12: line delta 0, 1, 2, then two column bytes */
};

/* 3.11+: entries of 1..8 code units; the first byte is 1, a 4-bit code, length - 1. */
static int locations_line(const uint8_t *table, size_t bytes, int line, uint32_t offset)
{
    const uint8_t *cursor = table, *end = table + bytes;
    uint64_t start = 0;
    while (cursor < end) {
        uint8_t first = *cursor++;
        if (!(first & 0x80))
            return -1; /* not at the start of an entry: a malformed table */
        unsigned code = (first >> 3) & 15;
        uint64_t range_end = start + ((first & 7) + 1) * 2;
        bool no_line = code == LOCATION_NONE;
        if (code == LOCATION_LONG || code == LOCATION_NO_COLUMNS) {
            int64_t delta = read_signed_varint(&cursor, end);
            if (delta < -(1 << 30) || delta > (1 << 30) || line + delta < -(1 << 30) || line + delta > (1 << 30))
                return -1; /* not a table CPython wrote */
            line += (int)delta;
        } else if (code >= LOCATION_ONE_LINE0 && code < LOCATION_NO_COLUMNS)
            line += (int)(code - LOCATION_ONE_LINE0);
        if (offset >= start && offset < range_end)
            return no_line ? -1 : line;
        while (cursor < end && !(*cursor & 0x80))
            cursor++; /* the entry's remaining bytes (columns) */
        start = range_end;
    }
    return -1;
}

int vt_python_line(enum vt_python_line_table format, const uint8_t *table, size_t table_bytes, int first_line,
                   uint32_t byte_offset)
{
    if (format == VT_LINE_TABLE_LINE_NUMBERS)
        return byte_offset == UINT32_MAX ? 0 : (int)(byte_offset & INT32_MAX);
    if (byte_offset == UINT32_MAX || format == VT_LINE_TABLE_NONE)
        return first_line; /* not started (CPython says the first line), or no table kept */
    int line = -1;
    switch (format) {
    case VT_LINE_TABLE_LNOTAB:
        line = lnotab_line(table, table_bytes, first_line, byte_offset);
        break;
    case VT_LINE_TABLE_LINETABLE:
        line = linetable_line(table, table_bytes, first_line, byte_offset);
        break;
    case VT_LINE_TABLE_LOCATIONS:
        line = locations_line(table, table_bytes, first_line, byte_offset);
        break;
    default:
        break;
    }
    return line > 0 ? line : 0;
}
