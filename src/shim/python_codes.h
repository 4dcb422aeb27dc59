/* shim/python_codes.h — Python code objects as small ids: each code object seen in a stack is
 * read once (file name, qualified name, first line, line table) into memory of the shim's own and
 * named by an id; a Python frame is then (code id, instruction offset) (include/vramtrace/frames.h).
 * Lines are worked out only when a report is made (common/python_lines.h).
 *
 * A code object freed by CPython is forgotten (python_codes_forget, called from CPython's
 * deallocation of it), so a new code object at the same address gets a new id: a frame is never
 * attributed to a code object that no longer exists.
 *
 * Interning and forgetting run under the recorder's lock. python_code_get and python_code_count
 * are safe from any thread at any time (the report threads read while hooks intern).
 */
#ifndef VT_SHIM_PYTHON_CODES_H
#define VT_SHIM_PYTHON_CODES_H

#include <stddef.h>
#include <stdint.h>

struct python_code {
    const char *file_name;     /* UTF-8, never NULL */
    const char *function_name; /* the qualified name where the version has one (3.11+) */
    uint32_t first_line;
    uint8_t line_table_format; /* enum vt_python_line_table (common/python_lines.h) */
    uint32_t line_table_bytes;
    const uint8_t *line_table;
};

/* The id of the code object at `code` (read now if it is new); 0 when it cannot be stored. */
uint32_t python_code_intern(uintptr_t code);
/* A new id for a function known only by its names, whose frames carry their line as their
 * offset (VT_LINE_TABLE_LINE_NUMBERS): PyTorch's snapshot frames (shim/torch_snapshot.h). Not
 * deduplicated here; 0 when it cannot be stored. */
uint32_t python_code_add_named(const char *file_name, size_t file_name_length, const char *function_name,
                               size_t function_name_length);
/* CPython is freeing the code object at `code`: a later one at that address is another code. */
void python_codes_forget(uintptr_t code);

/* The code of an id; NULL for 0 or an unknown id. */
const struct python_code *python_code_get(uint32_t id);
size_t python_code_count(void);

/* Drops everything (tests). */
void python_codes_reset(void);
/* Forgets everything without freeing (forked child). */
void python_codes_forget_all(void);

#endif
