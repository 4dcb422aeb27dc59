/* cli/analysis_common.c — shared by the analysis commands (see analysis_common.h): argument
 * parsing, times, loading traces, frame names and stacks, and the text-keyed table of allocation sites. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "trace/index_file.h"

#include "trace/json_writer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "common/options.h"

/* ---- command line ---------------------------------------------------------------------------- */

static const struct vt_cli_option_spec help_spec = {"--help", 'h', false, VT_CLI_HELP_ID};

int vt_cli_usage_error(const char *command, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "vramtrace %s: ", command);
    vfprintf(stderr, format, arguments);
    fprintf(stderr, "\nTry 'vramtrace %s --help'.\n", command);
    va_end(arguments);
    return VT_CLI_EXIT_USAGE;
}

void vt_cli_parser_start(struct vt_cli_parser *parser, const char *command, int argc, char **argv,
                         const struct vt_cli_option_spec *specs)
{
    *parser = (struct vt_cli_parser){.command = command, .argc = argc, .argv = argv, .index = 1, .specs = specs};
}

static const struct vt_cli_option_spec *spec_by_long_name(const struct vt_cli_parser *parser, const char *name,
                                                          size_t length)
{
    if (length == strlen(help_spec.long_name) && strncmp(name, help_spec.long_name, length) == 0)
        return &help_spec;
    for (const struct vt_cli_option_spec *spec = parser->specs; spec->long_name; spec++)
        if (strlen(spec->long_name) == length && strncmp(spec->long_name, name, length) == 0)
            return spec;
    return NULL;
}

static const struct vt_cli_option_spec *spec_by_short_name(const struct vt_cli_parser *parser, char name)
{
    if (name == help_spec.short_name)
        return &help_spec;
    for (const struct vt_cli_option_spec *spec = parser->specs; spec->long_name; spec++)
        if (spec->short_name && spec->short_name == name)
            return spec;
    return NULL;
}

bool vt_cli_next_argument(struct vt_cli_parser *parser, const struct vt_cli_option_spec **option, const char **value,
                          int *status)
{
    *option = NULL;
    *value = NULL;
    *status = -1;
    if (parser->index >= parser->argc)
        return false;
    const char *argument = parser->argv[parser->index++];
    if (!parser->options_done && strcmp(argument, "--") == 0) {
        parser->options_done = true;
        return vt_cli_next_argument(parser, option, value, status);
    }
    if (parser->options_done || argument[0] != '-' || argument[1] == '\0' ||
        (argument[1] >= '0' && argument[1] <= '9')) {
        *value = argument; /* positional ("-" and negative numbers included) */
        return true;
    }
    const struct vt_cli_option_spec *spec;
    const char *attached = NULL; /* --name=VALUE or -xVALUE */
    if (argument[1] == '-') {
        const char *equals = strchr(argument, '=');
        size_t length = equals ? (size_t)(equals - argument) : strlen(argument);
        spec = spec_by_long_name(parser, argument, length);
        if (!spec) {
            *status = vt_cli_usage_error(parser->command, "unknown option '%.*s'", (int)length, argument);
            return false;
        }
        if (equals) {
            if (!spec->takes_value) {
                *status = vt_cli_usage_error(parser->command, "option '%s' takes no value", spec->long_name);
                return false;
            }
            attached = equals + 1;
        }
    } else {
        spec = spec_by_short_name(parser, argument[1]);
        if (!spec) {
            *status = vt_cli_usage_error(parser->command, "unknown option '%.2s'", argument);
            return false;
        }
        if (argument[2] != '\0') {
            if (!spec->takes_value) {
                *status = vt_cli_usage_error(parser->command, "unknown option '%s'", argument);
                return false;
            }
            attached = argument + 2;
        }
    }
    *option = spec;
    if (!spec->takes_value)
        return true;
    if (attached) {
        *value = attached;
        return true;
    }
    if (parser->index >= parser->argc) {
        *status = vt_cli_usage_error(parser->command, "option '%s' needs a value", spec->long_name);
        return false;
    }
    *value = parser->argv[parser->index++];
    return true;
}

void vt_cli_common_start(struct vt_cli_common_arguments *common, int max_traces)
{
    *common = (struct vt_cli_common_arguments){.max_traces = max_traces, .device = VT_GROUPS_ALL_DEVICES};
}

#define OWN_OPTION (-3)

/* Takes a trace, --device or --help: -1 when taken, an exit status to return now, or OWN_OPTION. */
static int common_argument(const char *command, const struct vt_cli_option_spec *option, const char *value,
                           struct vt_cli_common_arguments *common, void (*print_help)(FILE *out))
{
    if (!option) {
        if (common->trace_count == common->max_traces)
            return vt_cli_usage_error(command, "%s; '%s' is one too many",
                                      common->max_traces == 1 ? "one trace at a time" : "at most two traces", value);
        common->traces[common->trace_count++] = value;
        return -1;
    }
    if (option->id == VT_CLI_HELP_ID) {
        print_help(stdout);
        return 0;
    }
    if (option->id != VT_CLI_DEVICE_ID)
        return OWN_OPTION;
    if (!vt_cli_parse_device(value, &common->device))
        return vt_cli_usage_error(command, "--device '%s' is not valid; accepted: a device ordinal from 0 to %d", value,
                                  VT_MODEL_MAX_DEVICES - 1);
    return -1;
}

bool vt_cli_next_own_option(struct vt_cli_parser *parser, struct vt_cli_common_arguments *common,
                            void (*print_help)(FILE *out), const struct vt_cli_option_spec **option, const char **value,
                            int *status)
{
    while (vt_cli_next_argument(parser, option, value, status)) {
        int taken = common_argument(parser->command, *option, *value, common, print_help);
        if (taken == OWN_OPTION)
            return true;
        if (taken >= 0) {
            *status = taken;
            return false;
        }
    }
    return false;
}

int vt_cli_end_of_arguments(const char *command, int status, const struct vt_cli_common_arguments *common,
                            const char *usage)
{
    if (status >= 0)
        return status;
    if (common->trace_count == 0)
        return vt_cli_usage_error(command, "no trace given: %s", usage);
    return -1;
}

bool vt_cli_parse_time(const char *text, const char *bare_unit, uint64_t *nanoseconds)
{
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {{"s", 1e9}, {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}};
    if (!text || !((text[0] >= '0' && text[0] <= '9') || (text[0] == '.' && text[1] >= '0' && text[1] <= '9')))
        return false; /* no sign, no "inf", no "nan" */
    char *end;
    double value = strtod(text, &end);
    if (end == text || !isfinite(value) || strpbrk(text, "xXpP"))
        return false; /* no hexadecimal */
    const char *suffix = *end ? end : bare_unit;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(suffix, units[i].suffix) == 0) {
            double scaled = value * units[i].scale;
            if (scaled >= 1.8e19)
                return false;
            *nanoseconds = (uint64_t)llround(scaled);
            return true;
        }
    return false;
}

bool vt_cli_parse_device(const char *text, int *device)
{
    uint64_t ordinal;
    if (!vt_parse_count(text, 0, VT_MODEL_MAX_DEVICES - 1, &ordinal))
        return false;
    *device = (int)ordinal;
    return true;
}

/* ---- loading --------------------------------------------------------------------------------- */

void vt_cli_choose_event_storage(struct vt_model_load_options *options)
{
    options->stream_events = true;
    const char *blocks = getenv("VRAMTRACE_TEST_EVENT_BLOCKS");
    uint64_t count;
    if (blocks && strcmp(blocks, "all") == 0)
        options->stream_events = false;
    else if (blocks && vt_parse_count(blocks, 1, 1u << 20, &count))
        options->resident_blocks = (size_t)count;
}

/* How indexes are used (VRAMTRACE_INDEX); a value that is not valid ends the command as a usage
 * error, before any output. */
static enum vt_index_mode index_mode(const char *command)
{
    enum vt_index_mode mode;
    if (vt_index_mode_from_environment(&mode))
        return mode;
    fprintf(stderr, "vramtrace %s: VRAMTRACE_INDEX='%s' is not valid; accepted: auto (the default), read, off\n",
            command, getenv("VRAMTRACE_INDEX"));
    exit(VT_CLI_EXIT_USAGE);
}

bool vt_cli_read_index(struct vt_trace_index *index, const char *path, const char *command)
{
    return index_mode(command) != VT_INDEX_OFF && vt_index_read(index, path);
}

/* vt_cli_load_trace; for a report, with its pass (NULL: none), whose replay is made while loading
 * unless the index beside the trace holds its tables (then taken from it). The trace's index
 * (VRAMTRACE_INDEX, trace/index_file.h) is used when nothing replays while loading, and written
 * after a full load (with the report's tables). */
static bool load_trace_replaying(struct vt_trace_model *model, const char *path, const char *command, bool announce,
                                 struct vt_report_pass *report_pass)
{
    enum vt_index_mode mode = index_mode(command);
    /* the live-set index: replays to a time, a peak or the end start from its checkpoints */
    struct vt_model_load_options options = {.progress = announce && isatty(STDERR_FILENO) ? stderr : NULL,
                                            .index_live_set = true};
    vt_cli_choose_event_storage(&options);
    struct vt_trace_index index;
    bool indexed = mode != VT_INDEX_OFF && options.stream_events && vt_index_read(&index, path);
    /* the report's tables only for the trace as indexed: grown since, its whole run is replayed */
    bool tables_fit = indexed && report_pass && index.fit == VT_INDEX_CURRENT && index.report.present &&
                      index.report.device == report_pass->report->options.device;
    if (report_pass && !tables_fit)
        vt_report_pass_load_options(report_pass, &options);
    if (indexed && !options.replay)
        options.index = &index;
    struct vt_index_defining_chunks defining = {0};
    if (mode == VT_INDEX_AUTO && options.stream_events)
        options.defining_chunks = &defining;
    char error[4096 + 256];
    enum vt_trace_open_result opened = vt_model_load(model, path, &options, error, sizeof error);
    bool current = opened == VT_TRACE_OPENED && model->loaded_from_index && !model->read_past_index;
    if (opened == VT_TRACE_OPENED && report_pass && !options.replay &&
        !(current && vt_report_pass_take(report_pass, &index.report)))
        vt_report_pass_run(report_pass); /* the whole run now, over the loaded model */
    if (indexed)
        vt_trace_index_free(&index);
    if (opened == VT_TRACE_OPENED && options.defining_chunks && !current) {
        struct vt_index_report_tables tables = {0};
        if (report_pass && !report_pass->tables.present)
            vt_report_pass_tables(report_pass, &tables);
        vt_index_write(model, &defining, &tables); /* a cache: a directory it cannot be written to is no error */
        vt_index_report_tables_free(&tables);
    }
    vt_index_defining_chunks_free(&defining);
    if (opened != VT_TRACE_OPENED) {
        if (opened == VT_TRACE_NOT_A_TRACE && vt_index_file_is_one(path))
            fprintf(stderr, "vramtrace %s: %s is the index of a trace (written beside it), not a trace\n", command,
                    path);
        else
            fprintf(stderr, "vramtrace %s: %s\n", command, error);
        vt_model_free(model);
        return false;
    }
    if (announce)
        vt_model_warn_gaps(model, stderr);
    return true;
}

bool vt_cli_load_trace(struct vt_trace_model *model, const char *path, const char *command, bool announce)
{
    return load_trace_replaying(model, path, command, announce, NULL);
}

/* vt_cli_load_trace_for_device, with `report_pass` as load_trace_replaying's. */
static int load_trace_for_device(struct vt_trace_model *model, const char *path, const char *command, int device,
                                 struct vt_report_pass *report_pass)
{
    if (!load_trace_replaying(model, path, command, true, report_pass))
        return VT_CLI_EXIT_UNREADABLE;
    if (vt_cli_device_in_trace(model, device, command))
        return -1;
    vt_model_free(model);
    return VT_CLI_EXIT_USAGE;
}

int vt_cli_load_trace_for_report(struct vt_trace_model *model, struct vt_report *report, struct vt_report_pass *pass,
                                 const char *path, const char *command, const struct vt_report_options *options)
{
    vt_report_pass_start(pass, report, model, options, NULL);
    int status = load_trace_for_device(model, path, command, options->device, pass);
    if (status >= 0)
        vt_report_pass_drop(pass);
    return status;
}

int vt_cli_load_trace_for_device(struct vt_trace_model *model, const char *path, const char *command, int device)
{
    return load_trace_for_device(model, path, command, device, NULL);
}

bool vt_cli_device_in_trace(const struct vt_trace_model *model, int device, const char *command)
{
    if (device == VT_GROUPS_ALL_DEVICES || vt_model_has_device(model, device))
        return true;
    vt_cli_usage_error(command, "--device %d: the trace %s has no such device", device, model->path);
    return false;
}

struct vt_symbolizer *vt_cli_open_symbolizer(const struct vt_trace_model *model, const char *command)
{
    struct vt_symbolizer *symbolizer = vt_symbolizer_open(model, stderr);
    if (!symbolizer)
        fprintf(stderr, "vramtrace %s: out of memory while opening the symbolizer\n", command);
    return symbolizer;
}

/* ---- naming -------------------------------------------------------------------------------- */

const char *vt_cli_symbol_name(const struct vt_symbol *symbol, uint64_t frame, char *out, size_t size)
{
    if (symbol->function && strcmp(symbol->function, "??") != 0)
        snprintf(out, size, "%s", symbol->function);
    else if (symbol->module_path)
        snprintf(out, size, "%s+0x%llx", vt_path_basename(symbol->module_path),
                 (unsigned long long)symbol->module_offset);
    else
        snprintf(out, size, "0x%llx", (unsigned long long)frame);
    return out;
}

int vt_cli_finish_output(FILE *out, const char *path, const char *command)
{
    bool write_failed = ferror(out) != 0;
    if ((out == stdout ? fflush(out) : fclose(out)) != 0 || write_failed) {
        fprintf(stderr, "vramtrace %s: writing %s failed: %s\n", command, path ? path : "the output", strerror(errno));
        return VT_CLI_EXIT_UNREADABLE;
    }
    return 0;
}

void vt_cli_json_frame(struct vt_json *json, enum vt_frame_kind kind, const char *function, const char *file,
                       int line, const char *module, uint64_t module_offset)
{
    vt_json_object_begin(json, NULL);
    vt_json_string(json, "kind", vt_frame_kind_name(kind));
    vt_json_string(json, "function", function);
    vt_json_string(json, "file", file);
    if (line)
        vt_json_uint(json, "line", (uint64_t)line);
    else
        vt_json_null(json, "line");
    vt_json_string(json, "module", module);
    vt_json_hex(json, "module_offset", module_offset);
    vt_json_object_end(json);
}

void vt_cli_print_stack(FILE *out, struct vt_symbolizer *symbolizer, const struct vt_trace_model *model,
                        uint32_t stack_id, bool with_addresses)
{
    unsigned depth = 0;
    const uint64_t *frames = vt_model_stack_frames(model, stack_id, &depth);
    if (stack_id == 0) {
        fprintf(out, "    (no stack recorded: VRAMTRACE_STACK_DEPTH=0)\n");
        return;
    }
    if (!frames) {
        fprintf(out, "    (stack %u is not in the trace)\n", stack_id);
        return;
    }
    unsigned number = 0;
    for (unsigned i = 0; i < depth; i++)
        for (const struct vt_symbol *symbol = vt_symbolize(symbolizer, frames[i]); symbol; symbol = symbol->caller) {
            fprintf(out, "    #%u ", number++);
            if (symbol->kind == VT_FRAME_PYTHON)
                fputs("in ", out); /* a Python frame has no address */
            else if (with_addresses)
                fprintf(out, "0x%012llx in ", (unsigned long long)frames[i]);
            fputs(symbol->function, out);
            if (symbol->source_file)
                fprintf(out, " %s:%d", symbol->source_file, symbol->source_line);
            if (symbol->module_path)
                fprintf(out, " (%s+0x%llx)", vt_path_basename(symbol->module_path),
                        (unsigned long long)symbol->module_offset);
            fputs(symbol->kind == VT_FRAME_PYTHON ? " [python]\n" : "\n", out);
        }
}

const char *vt_cli_device_name(int device, char *out, size_t size)
{
    if (device < 0)
        snprintf(out, size, "host");
    else
        snprintf(out, size, "device %d", device);
    return out;
}

size_t vt_cli_used_slots(const struct vt_replay *replay, int device, int slots[VT_MODEL_SLOT_COUNT])
{
    size_t count = 0;
    for (int position = 1; position <= VT_MODEL_SLOT_COUNT; position++) {
        int slot = position % VT_MODEL_SLOT_COUNT; /* devices first, the host (slot 0) last */
        if (device != VT_GROUPS_ALL_DEVICES && slot != vt_slot_of_device(device))
            continue;
        if (replay->accounting.usage[slot].in_use.peak_bytes > 0)
            slots[count++] = slot;
    }
    return count;
}

/* ---- allocation sites keyed by text ---------------------------------------------------------- */

void vt_cli_site_key(struct vt_text *key, const struct vt_trace_model *model, struct vt_symbolizer *symbolizer,
                     const struct vt_group *group)
{
    char piece[1200];
    vt_text_clear(key);
    snprintf(piece, sizeof piece, "%s|%s", vt_memory_kind_name(group->kind), vt_api_name(group->api));
    vt_text_append(key, piece);
    unsigned depth = 0;
    const uint64_t *frames = vt_model_stack_frames(model, group->stack_id, &depth);
    if (!frames && group->stack_id) {
        snprintf(piece, sizeof piece, "|[stack %u not in the trace]", group->stack_id);
        vt_text_append(key, piece);
    }
    for (unsigned i = 0; i < depth; i++)
        for (const struct vt_symbol *symbol = vt_symbolize(symbolizer, frames[i]); symbol; symbol = symbol->caller) {
            char name[1024];
            vt_cli_symbol_name(symbol, frames[i], name, sizeof name);
            if (symbol->source_file && strcmp(symbol->function, "??") != 0)
                snprintf(piece, sizeof piece, "|%s %s:%d", name, vt_path_basename(symbol->source_file),
                         symbol->source_line);
            else
                snprintf(piece, sizeof piece, "|%s", name);
            vt_text_append(key, piece);
        }
}

void vt_cli_tensor_line_key(const struct vt_torch_line *line, char *out, size_t size)
{
    if (line->frame.file_name)
        snprintf(out, size, "%s %s:%d", line->frame.function_name, vt_path_basename(line->frame.file_name),
                 line->frame.line);
    else
        snprintf(out, size, "(no Python stack)");
}

struct site_index_entry {
    const char *key; /* the site's own copy */
    size_t position;
    UT_hash_handle hh;
};

bool vt_cli_site_add(struct vt_cli_site_table *table, const char *key, int side, const struct vt_group *group)
{
    struct site_index_entry *index = table->index, *entry = NULL;
    HASH_FIND_STR(index, key, entry);
    if (!entry) {
        if (table->count == table->capacity) {
            size_t capacity = table->capacity ? 2 * table->capacity : 64;
            struct vt_cli_site *grown = realloc(table->sites, capacity * sizeof *grown);
            if (!grown)
                return !(table->out_of_memory = true);
            table->sites = grown;
            table->capacity = capacity;
        }
        entry = calloc(1, sizeof *entry);
        char *copy = strdup(key);
        if (!entry || !copy) {
            free(entry);
            free(copy);
            return !(table->out_of_memory = true);
        }
        table->sites[table->count] = (struct vt_cli_site){
            .key = copy, .stack_id = group->stack_id, .side = side, .api = group->api, .kind = group->kind};
        entry->key = copy;
        entry->position = table->count++;
        HASH_ADD_KEYPTR(hh, index, entry->key, strlen(entry->key), entry);
        table->index = index;
    }
    struct vt_cli_site *site = &table->sites[entry->position];
    site->bytes[side] += group->bytes;
    site->count[side] += group->count;
    return true;
}

void vt_cli_site_table_free(struct vt_cli_site_table *table)
{
    struct site_index_entry *index = table->index, *entry, *next;
    HASH_ITER(hh, index, entry, next)
    {
        HASH_DEL(index, entry);
        free(entry);
    }
    for (size_t i = 0; i < table->count; i++)
        free(table->sites[i].key);
    free(table->sites);
    memset(table, 0, sizeof *table);
}
