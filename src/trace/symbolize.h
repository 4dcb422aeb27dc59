/* trace/symbolize.h — offline symbolization of a trace's frames with elfutils' libdw.
 *
 * A frame belongs to the MODULE whose [load address, load address + size) holds it; that file is
 * opened (once, when a frame first needs it) at its recorded load address and looked up at the
 * call site (return address - 1): function (demangled when libstdc++'s __cxa_demangle can be
 * found), and file:line where DWARF covers it. A file whose GNU build-id differs from the recorded
 * one, or that is missing, is never used: its frames show as module+offset only, and one warning
 * per file goes to the warnings stream. Results are cached per address.
 */
#ifndef VT_TRACE_SYMBOLIZE_H
#define VT_TRACE_SYMBOLIZE_H

#include <stdint.h>
#include <stdio.h>

struct vt_trace_model;

struct vt_symbol {
    const char *function;    /* "??" when unknown */
    const char *module_path; /* NULL when the frame is in no recorded module */
    uint64_t module_offset;  /* return address - the module's load address */
    const char *source_file; /* NULL when unknown; absolute when the compile directory is known */
    int source_line;         /* 0 when unknown */
};

struct vt_symbolizer;

/* `model` must outlive the symbolizer. `warnings` (may be NULL) receives the changed/missing
 * module lines. Never fails for lack of debug information; NULL only when out of memory. */
struct vt_symbolizer *vt_symbolizer_open(const struct vt_trace_model *model, FILE *warnings);
/* The symbol of a frame as recorded (a return address). Valid until vt_symbolizer_close. */
const struct vt_symbol *vt_symbolize(struct vt_symbolizer *symbolizer, uint64_t return_address);
void vt_symbolizer_close(struct vt_symbolizer *symbolizer);

/* The last component of a path ("leaky" for "/x/leaky"). */
const char *vt_path_basename(const char *path);

#endif
