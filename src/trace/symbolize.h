/* trace/symbolize.h — offline symbolization of a trace's frames with elfutils' libdw.
 *
 * A frame belongs to the MODULE whose [load address, load address + size) holds it; that file is
 * opened (once, when a frame first needs it) at its recorded load address and looked up at the
 * call site (return address - 1) by the lookup the shim shares (common/module_symbols.h): the
 * function (demangled when libstdc++'s __cxa_demangle can be found), file:line where DWARF covers
 * it, and the calls inlined there, each as its own symbol. A file whose GNU build-id differs from
 * the recorded one, or that is missing, is never used: its frames show as module+offset only, and
 * one warning per file goes to the warnings stream. Results are cached per frame.
 *
 * One recorded frame may stand for several symbols: vt_symbolize returns the innermost (an
 * inlined callee) and each symbol's `caller` links outward to the function it was inlined into,
 * up to the real function, whose caller is NULL. Every consumer walks the whole chain:
 *     for (const struct vt_symbol *s = vt_symbolize(symbolizer, frame); s; s = s->caller) ...
 * A Python frame (include/vramtrace/frames.h) is one VT_FRAME_PYTHON symbol: its code object's
 * qualified name and file (the trace's CODE record) and the line of its instruction; no module.
 */
#ifndef VT_TRACE_SYMBOLIZE_H
#define VT_TRACE_SYMBOLIZE_H

#include <stdint.h>
#include <stdio.h>

struct vt_trace_model;

enum vt_frame_kind {
    VT_FRAME_NATIVE,  /* a function's own frame (a return address into it) */
    VT_FRAME_INLINED, /* a call the compiler inlined: `caller` is the function it was inlined into */
    VT_FRAME_PYTHON,  /* an interpreter frame (a frame word with bit 63 set) */
};

struct vt_symbol {
    enum vt_frame_kind kind;
    const char *function;    /* "??" when unknown */
    const char *module_path; /* NULL when the frame is in no recorded module */
    uint64_t module_offset;  /* return address - the module's load address */
    const char *source_file; /* NULL when unknown; absolute when the compile directory is known */
    int source_line;         /* 0 when unknown; an inlined call's caller: the line of that call */
    const struct vt_symbol *caller; /* the next frame outward within the same recorded frame; NULL after the real function */
};

struct vt_symbolizer;

/* `model` must outlive the symbolizer; it may grow meanwhile (vt_model_follow_update), but modules
 * added after the open are used only by a symbolizer opened after them. `warnings` (may be NULL)
 * receives the changed/missing module lines. Never fails for lack of debug information; NULL only when out of memory. */
struct vt_symbolizer *vt_symbolizer_open(const struct vt_trace_model *model, FILE *warnings);
/* The innermost symbol of a frame word as recorded (a return address, or a Python frame); its
 * `caller` chain holds the rest. Never NULL. Valid until vt_symbolizer_close. */
const struct vt_symbol *vt_symbolize(struct vt_symbolizer *symbolizer, uint64_t frame);
void vt_symbolizer_close(struct vt_symbolizer *symbolizer);

/* "native", "inlined" or "python" (the JSON reports' frame kinds). */
const char *vt_frame_kind_name(enum vt_frame_kind kind);

/* The last component of a path ("leaky" for "/x/leaky"). */
const char *vt_path_basename(const char *path);

#endif
