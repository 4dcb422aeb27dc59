/* shim/symbolizer.c — in-process symbolization for the reports (see symbolizer.h): loading libdw,
 * one libdwfl session over this process's modules, the table of loaded modules (path and offset,
 * as the trace records them), the per-frame cache and the dladdr() fallback; the lookup itself is
 * common/module_symbols.c. */
#define _GNU_SOURCE
#include "shim/symbolizer.h"

#include "common/module_symbols.h"
#include "common/python_lines.h"
#include "shim/python_codes.h"
#include "shim/real_functions.h"
#include "shim/shim_log.h"
#include "vramtrace/frames.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

_Static_assert(SYMBOLIZER_FRAMES_MAX == VT_SOURCE_FRAMES_MAX, "one frame expands to as many frames here as in the lookup");

/* The frames of one frame word, innermost first. */
struct cached_frame {
    UT_hash_handle hh;
    uintptr_t frame;
    unsigned count;
    struct symbolized_frame frames[];
};

struct module_entry {
    UT_hash_handle hh;
    Dwfl_Module *module;
    struct vt_module_symbols *symbols;
};

/* A string the symbolizer made (a demangled dladdr() name). */
struct owned_text {
    struct owned_text *next;
    char text[];
};

/* A loaded module as the trace's module map records it (src/shim/trace_writer.c): its path, the
 * load address offsets are counted from, and the addresses its segments span. */
struct loaded_module {
    char *path;
    uintptr_t load_address, start, end;
};

struct symbolizer {
    bool started; /* libdw loaded and the session begun, or tried */
    uint64_t started_ns;
    bool said_slow;
    struct vt_libdw dw;
    struct vt_symbol_tools tools;
    Dwfl_Callbacks callbacks;
    Dwfl *session;
    struct module_entry *modules;
    struct cached_frame *cache;
    struct owned_text *texts;
    struct loaded_module *loaded; /* read at the first lookup (dladdr() searches symbols: slow) */
    size_t loaded_count, loaded_capacity;
};

static bool load_libdw(struct vt_libdw *dw)
{
    /* libelf first: a copy carried next to the shim (found through the shim's RUNPATH) then
     * satisfies libdw's own dependency on it. */
    dlopen("libelf.so.1", RTLD_NOW | RTLD_LOCAL);
    void *handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        return false;
    bool complete = true;
#define LOAD(name) complete = complete && (dw->name = (__typeof__(dw->name))shim_real_dlsym(handle, #name)) != NULL;
    VT_LIBDW_FUNCTIONS(LOAD)
#undef LOAD
    if (!complete)
        dlclose(handle);
    /* else libdw stays loaded: unloading it during exit gains nothing and risks its own destructors */
    return complete;
}

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static int add_loaded_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct symbolizer *symbolizer = data;
    char path[PATH_MAX];
    if (info->dlpi_name && info->dlpi_name[0]) {
        snprintf(path, sizeof path, "%s", info->dlpi_name);
    } else {
        /* the main program (reported first) has no name here */
        ssize_t length = symbolizer->loaded_count == 0 ? readlink("/proc/self/exe", path, sizeof path - 1) : -1;
        if (length <= 0)
            return 0;
        path[length] = '\0';
    }
    uintptr_t start = UINTPTR_MAX, end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD)
            continue;
        if (info->dlpi_addr + segment->p_vaddr < start)
            start = info->dlpi_addr + segment->p_vaddr;
        if (info->dlpi_addr + segment->p_vaddr + segment->p_memsz > end)
            end = info->dlpi_addr + segment->p_vaddr + segment->p_memsz;
    }
    if (symbolizer->loaded_count == symbolizer->loaded_capacity) {
        size_t capacity = symbolizer->loaded_capacity ? symbolizer->loaded_capacity * 2 : 64;
        struct loaded_module *grown = realloc(symbolizer->loaded, capacity * sizeof *grown);
        if (!grown)
            return 1;
        symbolizer->loaded = grown;
        symbolizer->loaded_capacity = capacity;
    }
    char *copy = start < end ? strdup(path) : NULL;
    if (copy)
        symbolizer->loaded[symbolizer->loaded_count++] = (struct loaded_module){copy, info->dlpi_addr, start, end};
    return 0;
}

/* The module holding `address` (the latest loaded, should ranges overlap), or NULL. */
static const struct loaded_module *find_loaded_module(const struct symbolizer *symbolizer, uintptr_t address)
{
    for (size_t i = symbolizer->loaded_count; i-- > 0;)
        if (address >= symbolizer->loaded[i].start && address < symbolizer->loaded[i].end)
            return &symbolizer->loaded[i];
    return NULL;
}

/* Loads libdw and reports this process's modules to a libdwfl session (their files are opened
 * only when a frame needs them), and finds the demangler. */
static void start(struct symbolizer *symbolizer)
{
    symbolizer->started = true;
    symbolizer->started_ns = monotonic_ns();
    dl_iterate_phdr(add_loaded_module, symbolizer);
    /* C++ programs have libstdc++ loaded, though often not in the global scope (Python extensions). */
    void *libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
    symbolizer->tools.demangle =
        (vt_demangle_function *)shim_real_dlsym(libstdcxx ? libstdcxx : RTLD_DEFAULT, "__cxa_demangle");
    symbolizer->tools.dw = &symbolizer->dw;
    if (!load_libdw(&symbolizer->dw))
        return;
    const struct vt_libdw *dw = &symbolizer->dw;
    symbolizer->callbacks.find_elf = dw->dwfl_linux_proc_find_elf;
    symbolizer->callbacks.find_debuginfo = dw->dwfl_standard_find_debuginfo;
    Dwfl *session = dw->dwfl_begin(&symbolizer->callbacks);
    if (!session)
        return;
    if (dw->dwfl_linux_proc_report(session, getpid()) != 0 || dw->dwfl_report_end(session, NULL, NULL) != 0) {
        dw->dwfl_end(session);
        return;
    }
    symbolizer->session = session;
}

struct symbolizer *symbolizer_open(void)
{
    return calloc(1, sizeof(struct symbolizer));
}

static bool quiet;

void symbolizer_set_quiet(bool new_quiet)
{
    quiet = new_quiet;
}

/* Reading the symbol tables of very large libraries (PyTorch's, XLA's) can take seconds: say so. */
static void note_slow_progress(struct symbolizer *symbolizer)
{
    if (quiet || symbolizer->said_slow || monotonic_ns() - symbolizer->started_ns < 1000000000u)
        return;
    symbolizer->said_slow = true;
    shim_log("reading symbols of large libraries for the report; this can take a few seconds");
}

static struct vt_module_symbols *module_symbols(struct symbolizer *symbolizer, Dwfl_Module *module)
{
    struct module_entry *entry;
    HASH_FIND_PTR(symbolizer->modules, &module, entry);
    if (entry)
        return entry->symbols;
    entry = calloc(1, sizeof *entry);
    if (!entry)
        return NULL;
    entry->module = module;
    entry->symbols = vt_module_symbols_new(&symbolizer->tools, module);
    HASH_ADD_PTR(symbolizer->modules, module, entry);
    if (!entry->hh.tbl) { /* out of memory growing the table */
        vt_module_symbols_free(entry->symbols);
        free(entry);
        return NULL;
    }
    return entry->symbols;
}

/* `name` demangled, in storage that lives as long as the symbolizer (or `name` itself). */
static const char *demangled_dynamic_name(struct symbolizer *symbolizer, const char *name)
{
    vt_demangle_function *demangle = symbolizer ? symbolizer->tools.demangle : NULL;
    if (!demangle || name[0] != '_' || name[1] != 'Z')
        return name;
    int status = -1;
    char *demangled = demangle(name, NULL, NULL, &status);
    size_t length = status == 0 && demangled ? strlen(demangled) : 0;
    struct owned_text *text = length ? malloc(sizeof *text + length + 1) : NULL;
    if (!text) {
        free(demangled);
        return name;
    }
    memcpy(text->text, demangled, length + 1);
    free(demangled);
    text->next = symbolizer->texts;
    symbolizer->texts = text;
    return text->text;
}

/* The frames of a return address, into `out` (SYMBOLIZER_FRAMES_MAX of them); returns how many.
 * Without libdw, the function's name comes from dladdr() (the dynamic symbols only). */
static unsigned look_up(struct symbolizer *symbolizer, uintptr_t return_address, struct symbolized_frame *out)
{
    uintptr_t call_site = return_address ? return_address - 1 : 0;
    out[0] = (struct symbolized_frame){.kind = VT_FRAME_NATIVE, .function = "??"};
    const struct loaded_module *loaded = symbolizer ? find_loaded_module(symbolizer, call_site) : NULL;
    if (loaded) {
        out[0].module_path = loaded->path;
        out[0].module_offset = return_address - loaded->load_address;
    }
    Dl_info info;
    if (!symbolizer || !symbolizer->session) {
        if (dladdr((void *)call_site, &info) && info.dli_fname) {
            if (!loaded) { /* no module table (out of memory) */
                out[0].module_path = info.dli_fname;
                out[0].module_offset = return_address - (uintptr_t)info.dli_fbase;
            }
            if (info.dli_sname && info.dli_sname[0])
                out[0].function = demangled_dynamic_name(symbolizer, info.dli_sname);
        }
        return 1;
    }
    note_slow_progress(symbolizer);
    Dwfl_Module *module = symbolizer->dw.dwfl_addrmodule(symbolizer->session, call_site);
    struct vt_module_symbols *symbols = module ? module_symbols(symbolizer, module) : NULL;
    if (!symbols)
        return 1;
    struct vt_source_frame sources[VT_SOURCE_FRAMES_MAX];
    unsigned count = vt_module_symbolize(symbols, call_site, sources);
    struct symbolized_frame module_part = out[0];
    for (unsigned i = 0; i < count; i++) {
        out[i] = module_part;
        out[i].kind = sources[i].inlined ? VT_FRAME_INLINED : VT_FRAME_NATIVE;
        out[i].function = sources[i].function ? sources[i].function : "??";
        out[i].source_file = sources[i].file;
        out[i].source_line = sources[i].file ? sources[i].line : 0;
    }
    return count;
}

static unsigned copy_frames(const struct symbolized_frame *frames, unsigned count, struct symbolized_frame *out,
                            unsigned capacity)
{
    memcpy(out, frames, (count < capacity ? count : capacity) * sizeof *out);
    return count;
}

/* A Python frame: its code object's qualified name and file (python_codes.c keeps them for the
 * life of the process) and the line of its instruction. */
static struct symbolized_frame python_frame(uintptr_t frame)
{
    struct symbolized_frame symbolized = {.kind = VT_FRAME_PYTHON, .function = "??"};
    const struct python_code *code = python_code_get(vt_python_frame_code(frame));
    if (code) {
        symbolized.function = code->function_name;
        symbolized.source_file = code->file_name;
        symbolized.source_line = vt_python_line(code->line_table_format, code->line_table, code->line_table_bytes,
                                                (int)code->first_line, vt_python_frame_offset(frame));
    }
    return symbolized;
}

unsigned symbolizer_lookup(struct symbolizer *symbolizer, uintptr_t frame, struct symbolized_frame *out,
                           unsigned capacity)
{
    struct symbolized_frame frames[SYMBOLIZER_FRAMES_MAX];
    if (vt_frame_is_python(frame)) {
        frames[0] = python_frame(frame);
        return copy_frames(frames, 1, out, capacity);
    }
    if (!symbolizer)
        return copy_frames(frames, look_up(NULL, frame, frames), out, capacity);
    struct cached_frame *cached;
    HASH_FIND(hh, symbolizer->cache, &frame, sizeof frame, cached);
    if (cached)
        return copy_frames(cached->frames, cached->count, out, capacity);
    if (!symbolizer->started)
        start(symbolizer);
    unsigned count = look_up(symbolizer, frame, frames);
    cached = malloc(sizeof *cached + count * sizeof cached->frames[0]);
    if (cached) {
        cached->frame = frame;
        cached->count = count;
        memcpy(cached->frames, frames, count * sizeof frames[0]);
        HASH_ADD(hh, symbolizer->cache, frame, sizeof cached->frame, cached);
        if (!cached->hh.tbl) /* out of memory growing the table: answer without caching */
            free(cached);
    }
    return copy_frames(frames, count, out, capacity);
}

void symbolizer_close(struct symbolizer *symbolizer)
{
    if (!symbolizer)
        return;
    struct cached_frame *cached, *next_cached;
    HASH_ITER(hh, symbolizer->cache, cached, next_cached) {
        HASH_DEL(symbolizer->cache, cached);
        free(cached);
    }
    struct module_entry *entry, *next_entry;
    HASH_ITER(hh, symbolizer->modules, entry, next_entry) {
        HASH_DEL(symbolizer->modules, entry);
        vt_module_symbols_free(entry->symbols);
        free(entry);
    }
    if (symbolizer->session)
        symbolizer->dw.dwfl_end(symbolizer->session);
    for (size_t i = 0; i < symbolizer->loaded_count; i++)
        free(symbolizer->loaded[i].path);
    free(symbolizer->loaded);
    while (symbolizer->texts) {
        struct owned_text *text = symbolizer->texts;
        symbolizer->texts = text->next;
        free(text);
    }
    free(symbolizer);
}
