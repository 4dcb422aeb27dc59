/* shim/symbolizer.h — turns return addresses of this process into function, module + offset and,
 * where debug info exists, file:line. Uses elfutils' libdw, loaded with dlopen() only when a report
 * is made (so a machine without libdw still runs the traced program; names then come from the
 * dynamic symbol table via dladdr()). C++ names are demangled when libstdc++ is loaded.
 */
#ifndef VT_SHIM_SYMBOLIZER_H
#define VT_SHIM_SYMBOLIZER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct symbolized_frame {
    char function[512];      /* "??" when unknown */
    char module_path[PATH_MAX];
    uintptr_t module_offset; /* address - module load address */
    char source_file[PATH_MAX]; /* empty when unknown */
    int source_line;
};

struct symbolizer;

/* Never fails: without libdw the symbolizer falls back to dladdr(). */
struct symbolizer *symbolizer_open(void);
/* `return_address` is a frame as captured (a return address); the call site is looked up. */
void symbolizer_lookup(struct symbolizer *symbolizer, uintptr_t return_address, struct symbolized_frame *frame);
void symbolizer_close(struct symbolizer *symbolizer);

/* With quiet on (VRAMTRACE_QUIET), the note about slow symbol tables is not printed. */
void symbolizer_set_quiet(bool quiet);

#endif
