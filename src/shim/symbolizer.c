/* shim/symbolizer.c — in-process symbolization for the exit report (see symbolizer.h). */
#define _GNU_SOURCE
#include "shim/symbolizer.h"

#include "common/python_lines.h"
#include "shim/python_codes.h"
#include "shim/real_functions.h"
#include "vramtrace/frames.h"
#include "shim/shim_log.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct libdw_functions {
    __typeof__(dwfl_begin) *begin;
    __typeof__(dwfl_end) *end;
    __typeof__(dwfl_linux_proc_report) *linux_proc_report;
    __typeof__(dwfl_report_end) *report_end;
    __typeof__(dwfl_addrmodule) *addrmodule;
    __typeof__(dwfl_module_addrinfo) *module_addrinfo;
    __typeof__(dwfl_module_getsrc) *module_getsrc;
    __typeof__(dwfl_lineinfo) *lineinfo;
    __typeof__(dwfl_linux_proc_find_elf) *linux_proc_find_elf;
    __typeof__(dwfl_standard_find_debuginfo) *standard_find_debuginfo;
    __typeof__(dwfl_module_addrdie) *module_addrdie;
    __typeof__(dwarf_attr) *attr;
    __typeof__(dwarf_formstring) *formstring;
};

typedef char *cxa_demangle_function(const char *mangled, char *buffer, size_t *length, int *status);

struct symbolizer {
    uint64_t opened_ns;
    bool said_slow;
    void *libdw_handle;
    struct libdw_functions dw;
    Dwfl_Callbacks callbacks;
    Dwfl *session;
    cxa_demangle_function *demangle;
};

static bool load_libdw(struct symbolizer *symbolizer)
{
    /* libelf first: a copy carried next to the shim (found through the shim's RUNPATH) then
     * satisfies libdw's own dependency on it. */
    dlopen("libelf.so.1", RTLD_NOW | RTLD_LOCAL);
    void *handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        return false;
    struct libdw_functions *dw = &symbolizer->dw;
#define LOAD(field, symbol) (dw->field = (__typeof__(dw->field))shim_real_dlsym(handle, #symbol)) != NULL
    bool complete = LOAD(begin, dwfl_begin) && LOAD(end, dwfl_end) &&
                    LOAD(linux_proc_report, dwfl_linux_proc_report) && LOAD(report_end, dwfl_report_end) &&
                    LOAD(addrmodule, dwfl_addrmodule) && LOAD(module_addrinfo, dwfl_module_addrinfo) &&
                    LOAD(module_getsrc, dwfl_module_getsrc) && LOAD(lineinfo, dwfl_lineinfo) &&
                    LOAD(linux_proc_find_elf, dwfl_linux_proc_find_elf) &&
                    LOAD(standard_find_debuginfo, dwfl_standard_find_debuginfo) &&
                    LOAD(module_addrdie, dwfl_module_addrdie) && LOAD(attr, dwarf_attr) &&
                    LOAD(formstring, dwarf_formstring);
#undef LOAD
    if (!complete) {
        dlclose(handle);
        return false;
    }
    symbolizer->libdw_handle = handle;
    return true;
}

static void start_session(struct symbolizer *symbolizer)
{
    symbolizer->callbacks.find_elf = symbolizer->dw.linux_proc_find_elf;
    symbolizer->callbacks.find_debuginfo = symbolizer->dw.standard_find_debuginfo;
    Dwfl *session = symbolizer->dw.begin(&symbolizer->callbacks);
    if (!session)
        return;
    if (symbolizer->dw.linux_proc_report(session, getpid()) != 0 ||
        symbolizer->dw.report_end(session, NULL, NULL) != 0) {
        symbolizer->dw.end(session);
        return;
    }
    symbolizer->session = session;
}

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static bool quiet;

void symbolizer_set_quiet(bool new_quiet)
{
    quiet = new_quiet;
}

/* Reading the symbol tables of very large libraries (PyTorch's, XLA's) takes seconds: say so. */
static void note_slow_progress(struct symbolizer *symbolizer)
{
    if (quiet || symbolizer->said_slow || monotonic_ns() - symbolizer->opened_ns < 1000000000u)
        return;
    symbolizer->said_slow = true;
    shim_log("reading symbols of large libraries for the report; this can take a few seconds");
}

struct symbolizer *symbolizer_open(void)
{
    struct symbolizer *symbolizer = calloc(1, sizeof *symbolizer);
    if (!symbolizer)
        return NULL;
    symbolizer->opened_ns = monotonic_ns();
    if (load_libdw(symbolizer))
        start_session(symbolizer);
    /* C++ programs have libstdc++ loaded, though often not in the global scope (Python extensions). */
    void *libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
    symbolizer->demangle = (cxa_demangle_function *)shim_real_dlsym(libstdcxx ? libstdcxx : RTLD_DEFAULT,
                                                                     "__cxa_demangle");
    return symbolizer;
}

static void set_function_name(struct symbolizer *symbolizer, struct symbolized_frame *frame, const char *name)
{
    if (!name || !*name)
        return;
    char *demangled = NULL;
    int status = -1;
    if (symbolizer && symbolizer->demangle && name[0] == '_' && name[1] == 'Z')
        demangled = symbolizer->demangle(name, NULL, NULL, &status);
    snprintf(frame->function, sizeof frame->function, "%s", status == 0 && demangled ? demangled : name);
    free(demangled);
}

/* file:line for `call_site`, only when a compilation unit covers it and the line found starts
 * inside the function (libdw otherwise gives the nearest line of other code, e.g. for _start),
 * with relative names made absolute from the unit's compilation directory. */
static void set_source_location(struct symbolizer *symbolizer, Dwfl_Module *module, uintptr_t call_site,
                                uintptr_t function_start, struct symbolized_frame *frame)
{
    Dwarf_Addr bias;
    Dwarf_Die *unit = symbolizer->dw.module_addrdie(module, call_site, &bias);
    Dwfl_Line *line = unit ? symbolizer->dw.module_getsrc(module, call_site) : NULL;
    int line_number = 0;
    Dwarf_Addr line_address = 0;
    const char *file = line ? symbolizer->dw.lineinfo(line, &line_address, &line_number, NULL, NULL, NULL) : NULL;
    if (!file || line_number <= 0 || line_address < function_start)
        return; /* no line, or the nearest line belongs to code before this function */
    Dwarf_Attribute attribute;
    const char *directory = file[0] == '/' ? NULL
                                           : symbolizer->dw.formstring(symbolizer->dw.attr(unit, DW_AT_comp_dir, &attribute));
    char joined[PATH_MAX * 2];
    snprintf(joined, sizeof joined, "%s%s%s", directory ? directory : "", directory ? "/" : "", file);
    char resolved[PATH_MAX];
    const char *best = realpath(joined, resolved) ? resolved : joined;
    size_t length = strlen(best);
    if (length >= sizeof frame->source_file)
        best += length - (sizeof frame->source_file - 1); /* keep the end of an overlong path */
    memcpy(frame->source_file, best, strlen(best) + 1);
    frame->source_line = line_number;
}

static void lookup_with_libdw(struct symbolizer *symbolizer, uintptr_t call_site, struct symbolized_frame *frame)
{
    Dwfl_Module *module = symbolizer->dw.addrmodule(symbolizer->session, call_site);
    if (!module)
        return;
    GElf_Off offset = 0;
    GElf_Sym symbol;
    const char *name = symbolizer->dw.module_addrinfo(module, call_site, &offset, &symbol, NULL, NULL, NULL);
    set_function_name(symbolizer, frame, name);
    set_source_location(symbolizer, module, call_site, name ? call_site - offset : 0, frame);
}

/* A Python frame: its code object's qualified name, file and the line of its instruction. */
static void lookup_python(uint64_t word, struct symbolized_frame *frame)
{
    const struct python_code *code = python_code_get(vt_python_frame_code(word));
    if (!code)
        return;
    snprintf(frame->function, sizeof frame->function, "%s", code->function_name);
    snprintf(frame->source_file, sizeof frame->source_file, "%s", code->file_name);
    frame->source_line = vt_python_line(code->line_table_format, code->line_table, code->line_table_bytes,
                                        (int)code->first_line, vt_python_frame_offset(word));
}

void symbolizer_lookup(struct symbolizer *symbolizer, uintptr_t return_address, struct symbolized_frame *frame)
{
    memset(frame, 0, sizeof *frame);
    strcpy(frame->function, "??");
    if (vt_frame_is_python(return_address)) {
        lookup_python(return_address, frame);
        return;
    }
    uintptr_t call_site = return_address ? return_address - 1 : 0;
    Dl_info info;
    if (dladdr((void *)call_site, &info) && info.dli_fname) {
        snprintf(frame->module_path, sizeof frame->module_path, "%s", info.dli_fname);
        frame->module_offset = return_address - (uintptr_t)info.dli_fbase;
        set_function_name(symbolizer, frame, info.dli_sname);
    }
    if (symbolizer && symbolizer->session) {
        note_slow_progress(symbolizer);
        lookup_with_libdw(symbolizer, call_site, frame);
    }
}

void symbolizer_close(struct symbolizer *symbolizer)
{
    if (!symbolizer)
        return;
    if (symbolizer->session)
        symbolizer->dw.end(symbolizer->session);
    /* libdw stays loaded: unloading it during exit gains nothing and risks its own destructors. */
    free(symbolizer);
}
