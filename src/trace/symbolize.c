/* trace/symbolize.c — offline symbolization of recorded frames (see symbolize.h): finding and
 * checking each recorded module, caching per frame; the lookup itself is common/module_symbols.c. */
#define _GNU_SOURCE
#include "trace/symbolize.h"

#include "common/python_lines.h"

#include "common/module_symbols.h"
#include "trace/trace_model.h"
#include "vramtrace/frames.h"

#include <dlfcn.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

enum module_state { MODULE_UNOPENED, MODULE_READY, MODULE_UNUSABLE };

struct module_session {
    enum module_state state;
    Dwfl *dwfl;          /* one session per module: recorded ranges may overlap after dlclose */
    Dwfl_Module *module;
    struct vt_module_symbols *symbols;
};

/* The symbols of one frame word: symbols[0] innermost, each one's caller the next. */
struct cached_frame {
    UT_hash_handle hh;
    uint64_t frame;
    struct vt_symbol symbols[];
};

struct vt_symbolizer {
    const struct vt_trace_model *model;
    FILE *warnings;
    struct module_session *sessions; /* one per model->modules entry at open */
    size_t session_count;            /* the model's modules then (a followed model grows) */
    struct cached_frame *cache;
    struct vt_symbol_tools tools;
    void *libstdcxx;
};

static const struct vt_libdw linked_libdw = {
#define LINKED(name) .name = name,
    VT_LIBDW_FUNCTIONS(LINKED)
    VT_LIBELF_FUNCTIONS(LINKED)
#undef LINKED
};

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

const char *vt_path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

struct vt_symbolizer *vt_symbolizer_open(const struct vt_trace_model *model, FILE *warnings)
{
    /* libelf's version handshake, which libdw needs; calling it ourselves also makes libelf a direct
     * dependency, so a copy carried next to the binaries (scripts/gpu-bundle.sh) is found. */
    elf_version(EV_CURRENT);
    struct vt_symbolizer *symbolizer = calloc(1, sizeof *symbolizer);
    if (!symbolizer)
        return NULL;
    symbolizer->model = model;
    symbolizer->warnings = warnings;
    symbolizer->sessions = calloc(model->module_count ? model->module_count : 1, sizeof *symbolizer->sessions);
    symbolizer->session_count = model->module_count;
    if (!symbolizer->sessions) {
        free(symbolizer);
        return NULL;
    }
    symbolizer->tools.dw = &linked_libdw;
    symbolizer->tools.demangle = (vt_demangle_function *)dlsym(RTLD_DEFAULT, "__cxa_demangle");
    if (!symbolizer->tools.demangle) {
        symbolizer->libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (symbolizer->libstdcxx)
            symbolizer->tools.demangle = (vt_demangle_function *)dlsym(symbolizer->libstdcxx, "__cxa_demangle");
    }
    return symbolizer;
}

/* The module holding `address`: the latest recorded one, when ranges overlap. */
static long find_module(const struct vt_trace_model *model, uint64_t address)
{
    for (size_t i = model->module_count; i-- > 0;) {
        const struct vt_model_module *module = &model->modules[i];
        if (address >= module->load_address && address - module->load_address < module->size_bytes)
            return (long)i;
    }
    return -1;
}

static void warn_unusable(struct vt_symbolizer *symbolizer, const char *path, const char *why)
{
    if (symbolizer->warnings && path[0] == '/')
        fprintf(symbolizer->warnings, "vramtrace: warning: %s %s; its frames are shown as module+offset\n", path, why);
}

static bool build_id_matches(Dwfl_Module *module, const struct vt_model_module *recorded)
{
    if (recorded->build_id_length == 0)
        return true; /* nothing recorded to compare with */
    const unsigned char *bits = NULL;
    GElf_Addr where;
    int length = dwfl_module_build_id(module, &bits, &where);
    return length > 0 && (uint32_t)length == recorded->build_id_length &&
           memcmp(bits, recorded->build_id, (size_t)length) == 0;
}

static struct module_session *open_module(struct vt_symbolizer *symbolizer, size_t index)
{
    struct module_session *session = &symbolizer->sessions[index];
    if (session->state != MODULE_UNOPENED)
        return session;
    const struct vt_model_module *recorded = &symbolizer->model->modules[index];
    session->state = MODULE_UNUSABLE;
    session->dwfl = dwfl_begin(&offline_callbacks);
    if (!session->dwfl)
        return session;
    dwfl_report_begin(session->dwfl);
    session->module = dwfl_report_elf(session->dwfl, vt_path_basename(recorded->path), recorded->path, -1,
                                      recorded->load_address, true);
    dwfl_report_end(session->dwfl, NULL, NULL);
    if (!session->module)
        warn_unusable(symbolizer, recorded->path, "cannot be read (it was moved or deleted since the trace was recorded)");
    else if (!build_id_matches(session->module, recorded))
        warn_unusable(symbolizer, recorded->path, "has changed since the trace was recorded (build-id differs)");
    else if ((session->symbols = vt_module_symbols_new(&symbolizer->tools, session->module)) != NULL)
        session->state = MODULE_READY;
    return session;
}

/* The source frames of a return address (at least one; the function unknown when the frame is in
 * no usable module), and its module. */
static unsigned look_up(struct vt_symbolizer *symbolizer, uint64_t return_address,
                        struct vt_source_frame frames[VT_SOURCE_FRAMES_MAX], struct vt_symbol *module)
{
    const struct vt_trace_model *model = symbolizer->model;
    frames[0] = (struct vt_source_frame){0};
    long index = find_module(model, return_address);
    if (index < 0 || (size_t)index >= symbolizer->session_count)
        return 1;
    const struct vt_model_module *recorded = &model->modules[index];
    module->module_path = recorded->path;
    module->module_offset = return_address - recorded->load_address;
    struct module_session *session = open_module(symbolizer, (size_t)index);
    if (session->state != MODULE_READY)
        return 1;
    return vt_module_symbolize(session->symbols, return_address ? return_address - 1 : 0, frames);
}

/* A Python frame: its code object's qualified name and file (the model's strings), and the line
 * of its instruction, from the code object's line table. */
static struct vt_symbol python_symbol(const struct vt_trace_model *model, uint64_t frame)
{
    struct vt_symbol symbol = {.kind = VT_FRAME_PYTHON, .function = "??"};
    const struct vt_model_code *code = vt_model_find_code(model, vt_python_frame_code(frame));
    if (code) {
        symbol.function = code->function_name;
        symbol.source_file = code->file_name;
        symbol.source_line = vt_python_line(code->line_table_format, code->line_table, code->line_table_bytes,
                                            (int)code->first_line, vt_python_frame_offset(frame));
    }
    return symbol;
}

const struct vt_symbol *vt_symbolize(struct vt_symbolizer *symbolizer, uint64_t frame)
{
    static const struct vt_symbol unknown = {.kind = VT_FRAME_NATIVE, .function = "??"};
    struct cached_frame *cached;
    HASH_FIND(hh, symbolizer->cache, &frame, sizeof frame, cached);
    if (cached)
        return &cached->symbols[0];
    if (vt_frame_is_python(frame)) {
        cached = calloc(1, sizeof *cached + sizeof cached->symbols[0]);
        if (!cached)
            return &unknown;
        cached->frame = frame;
        cached->symbols[0] = python_symbol(symbolizer->model, frame);
        HASH_ADD(hh, symbolizer->cache, frame, sizeof cached->frame, cached);
        if (!cached->hh.tbl) {
            free(cached);
            return &unknown;
        }
        return &cached->symbols[0];
    }
    struct vt_source_frame sources[VT_SOURCE_FRAMES_MAX];
    struct vt_symbol module = {0};
    unsigned count = look_up(symbolizer, frame, sources, &module);
    cached = calloc(1, sizeof *cached + count * sizeof cached->symbols[0]);
    if (!cached)
        return &unknown;
    cached->frame = frame;
    for (unsigned i = 0; i < count; i++)
        cached->symbols[i] = (struct vt_symbol){
            .kind = sources[i].inlined ? VT_FRAME_INLINED : VT_FRAME_NATIVE,
            .function = sources[i].function ? sources[i].function : "??",
            .module_path = module.module_path,
            .module_offset = module.module_offset,
            .source_file = sources[i].file,
            .source_line = sources[i].file ? sources[i].line : 0,
            .caller = i + 1 < count ? &cached->symbols[i + 1] : NULL,
        };
    HASH_ADD(hh, symbolizer->cache, frame, sizeof cached->frame, cached);
    if (!cached->hh.tbl) { /* out of memory growing the table: answer without caching */
        free(cached);
        return &unknown;
    }
    return &cached->symbols[0];
}

const char *vt_frame_kind_name(enum vt_frame_kind kind)
{
    switch (kind) {
    case VT_FRAME_INLINED:
        return "inlined";
    case VT_FRAME_PYTHON:
        return "python";
    case VT_FRAME_NATIVE:
    default:
        return "native";
    }
}

void vt_symbolizer_close(struct vt_symbolizer *symbolizer)
{
    if (!symbolizer)
        return;
    struct cached_frame *cached, *next;
    HASH_ITER(hh, symbolizer->cache, cached, next) {
        HASH_DEL(symbolizer->cache, cached);
        free(cached);
    }
    for (size_t i = 0; i < symbolizer->session_count; i++) {
        vt_module_symbols_free(symbolizer->sessions[i].symbols);
        if (symbolizer->sessions[i].dwfl)
            dwfl_end(symbolizer->sessions[i].dwfl);
    }
    free(symbolizer->sessions);
    if (symbolizer->libstdcxx)
        dlclose(symbolizer->libstdcxx);
    free(symbolizer);
}
