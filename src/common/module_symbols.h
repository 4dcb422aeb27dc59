/* common/module_symbols.h — what both symbolizers (the shim's in-process one, src/shim/symbolizer.c,
 * and the CLI's offline one, src/trace/symbolize.c) do with one ELF module once libdwfl has found
 * it: turn a call site into its source frames.
 *
 *   - Function names come from the module's symbol table, read once into an array sorted by
 *     address and binary-searched (libdwfl's own dwfl_module_addrinfo scans the whole table for
 *     every address: millions of instructions per frame in a libLLVM-sized library).
 *   - DWARF is opened only when a frame needs file:line, once per module. A call site then
 *     expands into one frame per inlined call that DWARF records there (DW_TAG_inlined_subroutine),
 *     innermost first, then the real function: the innermost frame's file:line is the line
 *     table's, each caller's is the DW_AT_call_file:DW_AT_call_line of the inlined call it made
 *     (what `eu-addr2line -i` prints). Each compilation unit's functions are indexed once, on
 *     first use, so a lookup walks only the one function that holds the call site.
 *   - The C runtime's start-up frames (`_start`, `__libc_start_main`, `__libc_start_call_main`,
 *     a thread's `start_thread`, `clone`, `clone3`) are named from the symbol table alone: they
 *     end every stack and say nothing about the program, and their file:line would need the C
 *     library's whole debug information (0.6 s with libc6-dbg installed) in every traced process.
 *
 * Names are demangled when a demangler is given. Strings handed out (names, absolute file names)
 * belong to the module's state and live until vt_module_symbols_free. libdw is reached through a
 * table of function pointers (struct vt_libdw): the shim fills it with dlsym() (it dlopen()s libdw
 * at report time), the CLI with the functions it links. Not thread-safe: one caller at a time.
 */
#ifndef VT_COMMON_MODULE_SYMBOLS_H
#define VT_COMMON_MODULE_SYMBOLS_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdbool.h>

/* Every libdw function the shared lookup calls, and those the two symbolizers call themselves to
 * find modules (so the shim loads one list with dlsym): X(name) for each. */
#define VT_LIBDW_FUNCTIONS(X)                                                                                  \
    X(dwfl_begin) X(dwfl_end) X(dwfl_report_begin) X(dwfl_report_end) X(dwfl_report_elf)                      \
    X(dwfl_linux_proc_report) X(dwfl_linux_proc_find_elf) X(dwfl_standard_find_debuginfo)                     \
    X(dwfl_build_id_find_elf) X(dwfl_offline_section_address) X(dwfl_addrmodule) X(dwfl_module_build_id) X(dwfl_module_info)      \
    X(dwfl_module_getsymtab) X(dwfl_module_getsym_info) X(dwfl_module_address_section)                        \
    X(dwfl_module_addrdie) X(dwfl_module_getsrc) X(dwfl_lineinfo)                                             \
    X(dwarf_attr) X(dwarf_attr_integrate) X(dwarf_formstring) X(dwarf_formudata) X(dwarf_formref_die)         \
    X(dwarf_diename) X(dwarf_tag) X(dwarf_child) X(dwarf_siblingof) X(dwarf_haspc) X(dwarf_ranges)           \
    X(dwarf_dieoffset) X(dwarf_diecu) X(dwarf_getsrcfiles) X(dwarf_filesrc)

struct vt_libdw {
#define VT_LIBDW_FIELD(name) __typeof__(name) *name;
    VT_LIBDW_FUNCTIONS(VT_LIBDW_FIELD)
#undef VT_LIBDW_FIELD
};

/* libstdc++'s abi::__cxa_demangle. */
typedef char *vt_demangle_function(const char *mangled, char *buffer, size_t *length, int *status);

struct vt_symbol_tools {
    const struct vt_libdw *dw;
    vt_demangle_function *demangle; /* NULL: names stay as the symbol table has them */
};

/* The most frames one call site expands into (inlined calls nested deeper than this lose their
 * innermost levels: the deepest one kept gets the line table's file:line). */
#define VT_SOURCE_FRAMES_MAX 64

struct vt_source_frame {
    const char *function; /* demangled; NULL when unknown */
    const char *file;     /* NULL when unknown; absolute when the compilation directory is known */
    int line;             /* 0 when unknown */
    bool inlined;         /* an inlined call: the next frame is the function it was inlined into */
};

struct vt_module_symbols;

/* The state of one module; NULL when out of memory. `tools` must outlive it. Reads nothing yet. */
struct vt_module_symbols *vt_module_symbols_new(const struct vt_symbol_tools *tools, Dwfl_Module *module);
void vt_module_symbols_free(struct vt_module_symbols *symbols);

/* The source frames of `call_site` (an address inside the module: a return address - 1),
 * innermost first, into `frames` (VT_SOURCE_FRAMES_MAX of them); returns how many, at least 1
 * (the last one is never inlined; its function may be unknown). */
unsigned vt_module_symbolize(struct vt_module_symbols *symbols, Dwarf_Addr call_site,
                             struct vt_source_frame frames[VT_SOURCE_FRAMES_MAX]);

#endif
