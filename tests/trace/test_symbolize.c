/* tests/trace/test_symbolize.c — offline symbolization (src/trace/symbolize.c) of frames recorded
 * in synthetic traces whose MODULE records describe this very test executable (and libstdc++):
 * function and file:line at the call site, demangled C++ names, module+offset; a module whose
 * build-id differs or whose file is missing is never used and is warned about once; frames
 * outside every module; results cached per address. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/symbolize.h"
#include "trace/trace_model.h"
#include "trace_builder.h"

struct module_facts {
    char path[PATH_MAX];
    uint64_t load_address, size;
    uint8_t build_id[64];
    uint32_t build_id_length;
};

static void read_build_id(const struct dl_phdr_info *info, struct module_facts *facts)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_NOTE)
            continue;
        const uint8_t *note = (const uint8_t *)(info->dlpi_addr + header->p_vaddr), *end = note + header->p_memsz;
        while (note + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nhdr = (const ElfW(Nhdr) *)note;
            const uint8_t *name = note + sizeof *nhdr, *desc = name + ((nhdr->n_namesz + 3) & ~3u);
            if (nhdr->n_type == NT_GNU_BUILD_ID && nhdr->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nhdr->n_descsz <= sizeof facts->build_id) {
                memcpy(facts->build_id, desc, nhdr->n_descsz);
                facts->build_id_length = nhdr->n_descsz;
                return;
            }
            note = desc + ((nhdr->n_descsz + 3) & ~3u);
        }
    }
}

struct module_search {
    const void *address;
    struct module_facts *facts;
    bool found;
};

static int find_module(struct dl_phdr_info *info, size_t size, void *context)
{
    (void)size;
    struct module_search *search = context;
    uint64_t end = 0;
    bool holds = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_LOAD)
            continue;
        uint64_t start = info->dlpi_addr + header->p_vaddr;
        if ((uint64_t)search->address >= start && (uint64_t)search->address < start + header->p_memsz)
            holds = true;
        if (header->p_vaddr + header->p_memsz > end)
            end = header->p_vaddr + header->p_memsz;
    }
    if (!holds)
        return 0;
    struct module_facts *facts = search->facts;
    if (info->dlpi_name && info->dlpi_name[0])
        cr_assert_not_null(realpath(info->dlpi_name, facts->path));
    else
        cr_assert_gt(readlink("/proc/self/exe", facts->path, sizeof facts->path - 1), 0);
    facts->load_address = info->dlpi_addr;
    facts->size = end;
    read_build_id(info, facts);
    search->found = true;
    return 1;
}

/* The module (path, load address, size, build-id) that holds `address` in this process. */
static struct module_facts module_of(const void *address)
{
    struct module_facts facts = {0};
    struct module_search search = {address, &facts, false};
    dl_iterate_phdr(find_module, &search);
    cr_assert(search.found);
    cr_assert_gt(facts.build_id_length, 0, "%s has no GNU build-id", facts.path);
    return facts;
}

static void module_record(struct trace_builder *builder, uint32_t id, const struct module_facts *facts)
{
    struct vt_trace_record record = {.type = VT_RECORD_MODULE};
    record.module.id = id;
    record.module.path = (struct vt_trace_text){facts->path, (uint32_t)strlen(facts->path)};
    record.module.load_address = facts->load_address;
    record.module.size_bytes = facts->size;
    record.module.build_id = facts->build_id;
    record.module.build_id_length = facts->build_id_length;
    tb_record(builder, &record);
}

static struct vt_trace_model model_of_modules(const struct module_facts *modules, size_t count)
{
    struct trace_builder builder;
    tb_start(&builder);
    for (size_t i = 0; i < count; i++)
        module_record(&builder, (uint32_t)i + 1, &modules[i]);
    struct vt_trace_model model;
    char error[256];
    cr_assert_eq(vt_model_load(&model, tb_write(&builder, tb_temp_path("modules.trace")), NULL, error, sizeof error),
                 VT_TRACE_OPENED, "%s", error);
    return model;
}

__attribute__((noinline, noipa)) static uint64_t return_address_here(void)
{
    return (uint64_t)__builtin_return_address(0);
}

static int call_line;

/* A frame as the shim records it: the return address of a call made from this function. */
__attribute__((noinline, noipa)) uint64_t known_caller(void)
{
    call_line = __LINE__ + 1;
    uint64_t frame = return_address_here();
    __asm__ volatile("" ::: "memory"); /* no tail call: the return address stays in known_caller */
    return frame;
}

static char *warnings_text;
static size_t warnings_length;

static FILE *open_warnings(void)
{
    FILE *out = open_memstream(&warnings_text, &warnings_length);
    cr_assert_not_null(out);
    return out;
}

Test(symbolize, function_file_line_and_module_offset_of_this_executable)
{
    uint64_t frame = known_caller();
    struct module_facts self = module_of((void *)frame);
    struct vt_trace_model model = model_of_modules(&self, 1);
    FILE *warnings = open_warnings();
    struct vt_symbolizer *symbolizer = vt_symbolizer_open(&model, warnings);
    const struct vt_symbol *symbol = vt_symbolize(symbolizer, frame);
    cr_assert_str_eq(symbol->function, "known_caller");
    cr_assert_str_eq(symbol->module_path, self.path);
    cr_assert_eq(symbol->module_offset, frame - self.load_address);
    cr_assert_not_null(symbol->source_file, "DWARF is there (-g)");
    cr_assert_eq(symbol->source_file[0], '/', "made absolute: %s", symbol->source_file);
    cr_assert(strstr(symbol->source_file, "tests/trace/test_symbolize.c"), "%s", symbol->source_file);
    cr_assert_eq(symbol->source_line, call_line);
    cr_assert_eq(vt_symbolize(symbolizer, frame), symbol, "cached per address");

    const struct vt_symbol *outside = vt_symbolize(symbolizer, 0x10);
    cr_assert_str_eq(outside->function, "??");
    cr_assert_null(outside->module_path);
    cr_assert_null(outside->source_file);
    vt_symbolizer_close(symbolizer);
    fclose(warnings);
    cr_assert_str_eq(warnings_text, "");
    free(warnings_text);
    vt_model_free(&model);
}

Test(symbolize, changed_build_id_is_never_used_and_warned_once)
{
    uint64_t frame = known_caller();
    struct module_facts self = module_of((void *)frame);
    self.build_id[0] ^= 0xff;
    struct vt_trace_model model = model_of_modules(&self, 1);
    FILE *warnings = open_warnings();
    struct vt_symbolizer *symbolizer = vt_symbolizer_open(&model, warnings);
    const struct vt_symbol *symbol = vt_symbolize(symbolizer, frame);
    cr_assert_str_eq(symbol->function, "??");
    cr_assert_null(symbol->source_file);
    cr_assert_str_eq(symbol->module_path, self.path);
    cr_assert_eq(symbol->module_offset, frame - self.load_address);
    cr_assert_str_eq(vt_symbolize(symbolizer, frame + 1)->function, "??");
    vt_symbolizer_close(symbolizer);
    fclose(warnings);
    char expected[PATH_MAX + 200];
    snprintf(expected, sizeof expected,
             "vramtrace: warning: %s has changed since the trace was recorded (build-id differs); its frames are "
             "shown as module+offset\n",
             self.path);
    cr_assert_str_eq(warnings_text, expected, "once, however many frames");
    free(warnings_text);
    vt_model_free(&model);
}

Test(symbolize, missing_file_shows_module_offset)
{
    struct module_facts gone = {.path = "/nonexistent/libgone.so", .load_address = 0x7f0000000000,
                                .size = 0x10000, .build_id = {1, 2, 3, 4}, .build_id_length = 4};
    struct vt_trace_model model = model_of_modules(&gone, 1);
    FILE *warnings = open_warnings();
    struct vt_symbolizer *symbolizer = vt_symbolizer_open(&model, warnings);
    const struct vt_symbol *symbol = vt_symbolize(symbolizer, 0x7f0000001235);
    cr_assert_str_eq(symbol->function, "??");
    cr_assert_str_eq(symbol->module_path, "/nonexistent/libgone.so");
    cr_assert_eq(symbol->module_offset, 0x1235);
    vt_symbolizer_close(symbolizer);
    fclose(warnings);
    cr_assert_str_eq(warnings_text,
                     "vramtrace: warning: /nonexistent/libgone.so cannot be read (it was moved or deleted since the "
                     "trace was recorded); its frames are shown as module+offset\n");
    free(warnings_text);
    vt_model_free(&model);
}

Test(symbolize, cxx_names_are_demangled)
{
    void *libstdcxx = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
    if (!libstdcxx)
        cr_skip_test("libstdc++.so.6 is not installed");
    void *destructor = dlsym(libstdcxx, "_ZNSt9exceptionD1Ev"); /* std::exception::~exception() */
    cr_assert_not_null(destructor);
    struct module_facts library = module_of(destructor);
    struct vt_trace_model model = model_of_modules(&library, 1);
    struct vt_symbolizer *symbolizer = vt_symbolizer_open(&model, NULL);
    const struct vt_symbol *symbol = vt_symbolize(symbolizer, (uint64_t)destructor + 2);
    cr_assert_str_eq(symbol->function, "std::exception::~exception()");
    cr_assert(strstr(symbol->module_path, "libstdc++.so.6"), "%s", symbol->module_path);
    vt_symbolizer_close(symbolizer);
    vt_model_free(&model);
}
