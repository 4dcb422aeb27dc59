/* common/python_lines.h — the source line of a Python instruction, from the line table CPython
 * keeps in each code object. The shim copies a code object's table into the trace as it is; this
 * decodes the three formats CPython has used, as its PyCode_Addr2Line does:
 *   3.9          co_lnotab: (byte increment, signed line increment) pairs (Objects/lnotab_notes.txt);
 *   3.10         co_linetable: (byte delta, signed line delta, -128 = no line) pairs;
 *   3.11 to 3.13 co_linetable: the location table (Objects/locations.md);
 * and a fourth, for frames that come with their line already (PyTorch's snapshots): the offset is
 * the line.
 * Shared by the shim (its own reports) and the CLI.
 */
#ifndef VT_COMMON_PYTHON_LINES_H
#define VT_COMMON_PYTHON_LINES_H

#include <stddef.h>
#include <stdint.h>

enum vt_python_line_table {
    VT_LINE_TABLE_NONE = 0,
    VT_LINE_TABLE_LNOTAB = 1,    /* 3.9 */
    VT_LINE_TABLE_LINETABLE = 2, /* 3.10 */
    VT_LINE_TABLE_LOCATIONS = 3, /* 3.11 to 3.13 */
    VT_LINE_TABLE_LINE_NUMBERS = 4, /* no table: a frame's offset is its line (PyTorch's snapshot
                                       frames, which carry lines, not instructions) */
};

/* The line of the instruction at `byte_offset` (UINT32_MAX: a frame that has not started, which
 * is at its first line); the first line when no table was kept (VT_LINE_TABLE_NONE); 0 when the
 * table gives none (or is of an unknown format, or malformed). */
int vt_python_line(enum vt_python_line_table format, const uint8_t *table, size_t table_bytes, int first_line,
                   uint32_t byte_offset);

#endif
