/* trace/symbolize.c — offline symbolization of recorded frames (see symbolize.h). */
#define _GNU_SOURCE
#include "trace/symbolize.h"

#include "common/python_lines.h"
#include "trace/trace_model.h"
#include "vramtrace/frames.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

enum module_state { MODULE_UNOPENED, MODULE_READY, MODULE_UNUSABLE };

struct module_session {
    enum module_state state;
    Dwfl *dwfl;          /* one session per module: recorded ranges may overlap after dlclose */
    Dwfl_Module *module;
};

struct cached_symbol {
    UT_hash_handle hh;
    uint64_t return_address;
    struct vt_symbol symbol;
    bool function_owned;
};

typedef char *demangle_function(const char *mangled, char *buffer, size_t *length, int *status);

struct vt_symbolizer {
    const struct vt_trace_model *model;
    FILE *warnings;
    struct module_session *sessions; /* one per model->modules entry */
    struct cached_symbol *cache;
    demangle_function *demangle;
    void *libstdcxx;
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
    if (!symbolizer->sessions) {
        free(symbolizer);
        return NULL;
    }
    symbolizer->demangle = (demangle_function *)dlsym(RTLD_DEFAULT, "__cxa_demangle");
    if (!symbolizer->demangle) {
        symbolizer->libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (symbolizer->libstdcxx)
            symbolizer->demangle = (demangle_function *)dlsym(symbolizer->libstdcxx, "__cxa_demangle");
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
    else
        session->state = MODULE_READY;
    return session;
}

static char *demangled_copy(struct vt_symbolizer *symbolizer, const char *name)
{
    if (symbolizer->demangle && name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *demangled = symbolizer->demangle(name, NULL, NULL, &status);
        if (status == 0 && demangled)
            return demangled;
        free(demangled);
    }
    return strdup(name);
}

/* file:line of `call_site` when a compilation unit covers it and the line found does not start
 * before the function (else it is the nearest line of unrelated code); relative file names are
 * joined to the unit's DW_AT_comp_dir. */
static void find_source(Dwfl_Module *module, Dwarf_Addr call_site, Dwarf_Addr function_start, struct vt_symbol *symbol)
{
    Dwarf_Addr bias;
    Dwarf_Die *unit = dwfl_module_addrdie(module, call_site, &bias);
    if (!unit)
        return;
    Dwfl_Line *line = dwfl_module_getsrc(module, call_site);
    Dwarf_Addr line_start = 0;
    int line_number = 0;
    const char *file = line ? dwfl_lineinfo(line, &line_start, &line_number, NULL, NULL, NULL) : NULL;
    if (!file || line_number <= 0 || line_start < function_start)
        return;
    char joined[PATH_MAX * 2];
    Dwarf_Attribute comp_dir;
    const char *directory = file[0] == '/' ? NULL : dwarf_formstring(dwarf_attr(unit, DW_AT_comp_dir, &comp_dir));
    if (directory)
        snprintf(joined, sizeof joined, "%s/%s", directory, file);
    else
        snprintf(joined, sizeof joined, "%s", file);
    char resolved[PATH_MAX];
    symbol->source_file = strdup(realpath(joined, resolved) ? resolved : joined);
    symbol->source_line = symbol->source_file ? line_number : 0;
}

static void look_up(struct vt_symbolizer *symbolizer, uint64_t return_address, struct vt_symbol *symbol)
{
    const struct vt_trace_model *model = symbolizer->model;
    uint64_t call_site = return_address ? return_address - 1 : 0;
    long index = find_module(model, return_address);
    if (index < 0)
        return;
    const struct vt_model_module *recorded = &model->modules[index];
    symbol->module_path = recorded->path;
    symbol->module_offset = return_address - recorded->load_address;
    struct module_session *session = open_module(symbolizer, (size_t)index);
    if (session->state != MODULE_READY)
        return;
    GElf_Off offset = 0;
    GElf_Sym elf_symbol;
    const char *name = dwfl_module_addrinfo(session->module, call_site, &offset, &elf_symbol, NULL, NULL, NULL);
    if (name && *name)
        symbol->function = demangled_copy(symbolizer, name);
    find_source(session->module, call_site, name ? call_site - offset : 0, symbol);
}

/* A Python frame: its code object's qualified name, file and the line of its instruction. */
static void look_up_python(struct vt_symbolizer *symbolizer, uint64_t frame, struct vt_symbol *symbol)
{
    const struct vt_model_code *code = vt_model_find_code(symbolizer->model, vt_python_frame_code(frame));
    if (!code)
        return;
    symbol->function = strdup(code->function_name);
    symbol->source_file = strdup(code->file_name);
    symbol->source_line = vt_python_line(code->line_table_format, code->line_table, code->line_table_bytes,
                                         (int)code->first_line, vt_python_frame_offset(frame));
}

const struct vt_symbol *vt_symbolize(struct vt_symbolizer *symbolizer, uint64_t return_address)
{
    static const struct vt_symbol unknown = {.function = "??"};
    struct cached_symbol *cached;
    HASH_FIND(hh, symbolizer->cache, &return_address, sizeof return_address, cached);
    if (cached)
        return &cached->symbol;
    cached = calloc(1, sizeof *cached);
    if (!cached)
        return &unknown;
    cached->return_address = return_address;
    if (vt_frame_is_python(return_address))
        look_up_python(symbolizer, return_address, &cached->symbol);
    else
        look_up(symbolizer, return_address, &cached->symbol);
    cached->function_owned = cached->symbol.function != NULL;
    if (!cached->function_owned)
        cached->symbol.function = "??";
    HASH_ADD(hh, symbolizer->cache, return_address, sizeof cached->return_address, cached);
    return &cached->symbol;
}

void vt_symbolizer_close(struct vt_symbolizer *symbolizer)
{
    if (!symbolizer)
        return;
    struct cached_symbol *cached, *next;
    HASH_ITER(hh, symbolizer->cache, cached, next) {
        HASH_DEL(symbolizer->cache, cached);
        if (cached->function_owned)
            free((char *)cached->symbol.function);
        free((char *)cached->symbol.source_file);
        free(cached);
    }
    for (size_t i = 0; i < symbolizer->model->module_count; i++)
        if (symbolizer->sessions[i].dwfl)
            dwfl_end(symbolizer->sessions[i].dwfl);
    free(symbolizer->sessions);
    if (symbolizer->libstdcxx)
        dlclose(symbolizer->libstdcxx);
    free(symbolizer);
}
