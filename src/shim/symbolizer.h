/* shim/symbolizer.h — turns frames of this process into function, module + offset and, where
 * debug info exists, file:line, with the calls inlined at each frame as frames of their own.
 * Uses elfutils' libdw, loaded with dlopen() at the first lookup (so a machine without libdw still
 * runs the traced program, and a report that prints no stack never loads it; names then come from
 * the dynamic symbol table via dladdr()), and the lookup the CLI shares
 * (common/module_symbols.h): each module's symbol table is indexed once, its DWARF read only when
 * a frame needs file:line. C++ names are demangled when libstdc++ is loaded. Results are cached
 * per frame.
 */
#ifndef VT_SHIM_SYMBOLIZER_H
#define VT_SHIM_SYMBOLIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "trace/symbolize.h" /* enum vt_frame_kind: the same kinds as the CLI's symbols */

/* The most frames one recorded frame expands to (common/module_symbols.h: VT_SOURCE_FRAMES_MAX). */
#define SYMBOLIZER_FRAMES_MAX 64

/* One frame of a report. Strings stay valid until symbolizer_close. */
struct symbolized_frame {
    enum vt_frame_kind kind;   /* native, inlined (into the next frame) or Python */
    const char *function;      /* "??" when unknown */
    const char *module_path;   /* NULL when unknown */
    uintptr_t module_offset;   /* return address - module load address */
    const char *source_file;   /* NULL when unknown; for the caller of an inlined call, where it was called */
    int source_line;
};

struct symbolizer;

/* Cheap: nothing is loaded until the first lookup. NULL only when out of memory (lookups then
 * still answer, from dladdr()). */
struct symbolizer *symbolizer_open(void);
/* The frames `frame` (a frame word as captured: a return address, whose call site is looked up)
 * stands for, innermost first: the calls inlined there, then the function. Writes at most
 * `capacity` of them to `out` and returns how many there are (at least 1). A Python frame word is
 * one VT_FRAME_PYTHON frame: its code object's qualified name, file and line. */
unsigned symbolizer_lookup(struct symbolizer *symbolizer, uintptr_t frame, struct symbolized_frame *out,
                           unsigned capacity);
void symbolizer_close(struct symbolizer *symbolizer);

/* With quiet on (VRAMTRACE_QUIET), the note about slow symbol tables is not printed. */
void symbolizer_set_quiet(bool quiet);

#endif
