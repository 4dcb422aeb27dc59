/* Unit tests: common/python_lines.c against what CPython itself says. Each
 * tests/unit/python_lines/cpython-3.X.txt was written by make_fixture.py run with that version's
 * interpreter: code objects' raw line tables and the line of every instruction offset. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/python_lines.h"

#define FIXTURES VT_SOURCE_DIR "/tests/unit/python_lines"

static size_t parse_hex(const char *hex, uint8_t *out, size_t capacity)
{
    size_t length = 0;
    if (strcmp(hex, "-") == 0)
        return 0;
    for (; hex[0] && hex[1] && length < capacity; hex += 2) {
        unsigned byte;
        cr_assert_eq(sscanf(hex, "%2x", &byte), 1);
        out[length++] = (uint8_t)byte;
    }
    return length;
}

/* Checks every "at" line of one fixture; returns the number of offsets checked. */
static unsigned check_fixture(const char *path)
{
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "%s", path);
    static char line[1 << 20];
    static uint8_t table[1 << 19];
    size_t table_bytes = 0;
    int format = 0, first_line = 0;
    unsigned checked = 0, codes = 0;
    while (fgets(line, sizeof line, file)) {
        unsigned offset;
        int expected;
        static char hex[1 << 20];
        if (sscanf(line, "code %d %d %s", &format, &first_line, hex) == 3) {
            table_bytes = parse_hex(hex, table, sizeof table);
            codes++;
        } else if (sscanf(line, "at %u %d", &offset, &expected) == 2) {
            int got = vt_python_line((enum vt_python_line_table)format, table, table_bytes, first_line, offset);
            cr_assert_eq(got, expected, "%s: code %u (first line %d), offset %u: line %d, CPython says %d", path,
                         codes, first_line, offset, got, expected);
            checked++;
        }
    }
    fclose(file);
    return checked;
}

Test(python_lines, every_instruction_of_every_fixture_gets_cpythons_line)
{
    DIR *directory = opendir(FIXTURES);
    cr_assert_not_null(directory);
    unsigned fixtures = 0, offsets = 0;
    for (struct dirent *entry; (entry = readdir(directory));) {
        if (strncmp(entry->d_name, "cpython-", 8) != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", FIXTURES, entry->d_name);
        offsets += check_fixture(path);
        fixtures++;
    }
    closedir(directory);
    cr_assert_geq(fixtures, 1);
    cr_assert_gt(offsets, 1000);
}

Test(python_lines, a_frame_that_has_not_started_is_at_its_first_line)
{
    cr_assert_eq(vt_python_line(VT_LINE_TABLE_LOCATIONS, NULL, 0, 42, UINT32_MAX), 42);
    cr_assert_eq(vt_python_line(VT_LINE_TABLE_LNOTAB, NULL, 0, 7, UINT32_MAX), 7);
}

Test(python_lines, truncated_or_unknown_tables_give_no_line_and_never_read_past_the_end)
{
    const uint8_t long_entry[] = {0x80 | (14 << 3), 0x7f}; /* a varint whose continuation is missing */
    cr_assert_eq(vt_python_line(VT_LINE_TABLE_LOCATIONS, long_entry, sizeof long_entry, 1, 4), 0);
    const uint8_t not_an_entry[] = {0x01, 0x02};
    cr_assert_eq(vt_python_line(VT_LINE_TABLE_LOCATIONS, not_an_entry, sizeof not_an_entry, 1, 0), 0);
    cr_assert_eq(vt_python_line((enum vt_python_line_table)9, not_an_entry, sizeof not_an_entry, 1, 0), 0);
}
