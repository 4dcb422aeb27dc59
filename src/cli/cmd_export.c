/* cli/cmd_export.c — `vramtrace export --memory-viz TRACE [-o FILE]`: the trace as the snapshot
 * pickle PyTorch's memory_viz reads (pytorch.org/memory_viz, torch/cuda/_memory_viz.py), so its
 * timelines work for any CUDA program, CuPy, JAX or plain CUDA, not only PyTorch.
 *
 * The CUDA level maps onto PyTorch's snapshot as an allocator that caches nothing: every
 * allocation is a segment of one block. Per device, `device_traces` holds for each allocation
 * "segment_alloc" then "alloc", and for each free "free_requested", "free_completed" then
 * "segment_free" (memory_viz's "Active Memory Timeline" draws the blocks, "Active Cached Segment
 * Timeline" the segments), and "oom" for each out-of-memory failure; `segments` holds what is live
 * at the end of the trace. Frames are the event's stack, innermost first, as
 * {filename, line, name}; each distinct stack is written once and shared (pickle memo).
 * Host-pinned memory has no device and is left out; address reservations and mappings are
 * placement, not memory, and are left out too. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "pickle_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "export"

enum export_option { OPTION_MEMORY_VIZ, OPTION_OUTPUT };

static const struct vt_cli_option_spec export_options[] = {
    {"--memory-viz", 0, false, OPTION_MEMORY_VIZ},
    {"--output", 'o', true, OPTION_OUTPUT},
    {"--device", 0, true, VT_CLI_DEVICE_ID},
    {NULL, 0, false, 0},
};

struct export_settings {
    struct vt_cli_common_arguments common;
    bool memory_viz;
    const char *output_path; /* NULL: beside the trace */
};

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace export --memory-viz TRACE [-o FILE] [--device N]\n"
            "\n"
            "Writes the trace as the snapshot pickle PyTorch's memory_viz reads: open it at\n"
            "https://pytorch.org/memory_viz (drag and drop; nothing is uploaded) or with\n"
            "torch.cuda._memory_viz. Works for any traced program (CUDA, CuPy, JAX, PyTorch):\n"
            "every allocation is one segment of one block, with its stack (Python and native\n"
            "frames) as the block's frames; the history holds every allocation, free and\n"
            "out-of-memory failure of the trace; the segments are what is live at its end.\n"
            "\n"
            "Options:\n"
            "  --memory-viz        the format (the only one for now)\n"
            "  -o, --output FILE   where to write (default: the trace's name with .memory-viz.pickle\n"
            "                      in place of .trace)\n"
            "  --device N          only device N\n"
            "  -h, --help          show this help\n"
            "\n"
            "Exit status: 0 written, 1 the trace cannot be read or the file written, 2 usage error.\n"
            "\n"
            "Example:\n"
            "  vramtrace export --memory-viz train.trace -o train.pickle\n");
}

static int parse_arguments(int argc, char **argv, struct export_settings *settings)
{
    *settings = (struct export_settings){.memory_viz = false};
    vt_cli_common_start(&settings->common, 1);
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, export_options);
    const struct vt_cli_option_spec *option;
    const char *value;
    int status;
    while (vt_cli_next_own_option(&parser, &settings->common, print_help, &option, &value, &status)) {
        if (option->id == OPTION_MEMORY_VIZ)
            settings->memory_viz = true;
        else
            settings->output_path = value;
    }
    int end = vt_cli_end_of_arguments(COMMAND, status, &settings->common,
                                      "vramtrace export --memory-viz TRACE [-o FILE]");
    if (end >= 0)
        return end;
    if (!settings->memory_viz)
        return vt_cli_usage_error(COMMAND, "say which format: --memory-viz (the only one for now)");
    return -1;
}

/* ---- the snapshot --------------------------------------------------------------------------- */

struct exporter {
    const struct vt_trace_model *model;
    struct vt_symbolizer *symbolizer;
    struct vt_pickle pickle;
    struct vt_id_map stack_memo; /* stack id -> memo index of its frame list */
    struct vt_id_map empty_memo; /* id 0 -> the empty frame list's memo index */
    int device;                  /* VT_GROUPS_ALL_DEVICES or one */
};

/* The frames of a stack as memory_viz's list of {filename, line, name}, written once per stack. */
static void write_frames(struct exporter *exporter, uint32_t stack_id)
{
    uint32_t memo;
    struct vt_id_map *memos = stack_id ? &exporter->stack_memo : &exporter->empty_memo;
    if (vt_id_map_get(memos, stack_id, &memo)) {
        vt_pickle_memo_get(&exporter->pickle, memo);
        return;
    }
    struct vt_pickle *pickle = &exporter->pickle;
    vt_pickle_list_begin(pickle);
    unsigned depth = 0;
    const uint64_t *frames = vt_model_stack_frames(exporter->model, stack_id, &depth);
    for (unsigned i = 0; frames && i < depth; i++)
        for (const struct vt_symbol *symbol = vt_symbolize(exporter->symbolizer, frames[i]); symbol;
             symbol = symbol->caller) {
            char name[1024];
            vt_pickle_dict_begin(pickle);
            vt_pickle_key_text(pickle, "filename",
                               symbol->source_file ? symbol->source_file
                               : symbol->module_path ? symbol->module_path : "??");
            vt_pickle_key_int(pickle, "line", symbol->source_line);
            vt_pickle_key_text(pickle, "name", vt_cli_symbol_name(symbol, frames[i], name, sizeof name));
            vt_pickle_dict_end(pickle);
        }
    memo = vt_pickle_list_end_memoized(pickle);
    if (!vt_id_map_put(memos, stack_id, memo))
        pickle->failed = true;
}

/* One entry of a device's history. */
static void write_entry(struct exporter *exporter, const char *action, uint64_t address, uint64_t size,
                        uint64_t stream, uint64_t time_ns, uint32_t stack_id)
{
    struct vt_pickle *pickle = &exporter->pickle;
    vt_pickle_dict_begin(pickle);
    vt_pickle_key_text(pickle, "action", action);
    vt_pickle_key_uint(pickle, "addr", address);
    vt_pickle_key_uint(pickle, "size", size);
    vt_pickle_key_uint(pickle, "stream", stream);
    vt_pickle_key_uint(pickle, "time_us", (exporter->model->process.start_realtime_ns + time_ns) / 1000);
    vt_pickle_key_text(pickle, "compile_context", "N/A");
    vt_pickle_key_text(pickle, "user_metadata", "");
    vt_pickle_text(pickle, "frames");
    write_frames(exporter, stack_id);
    vt_pickle_dict_end(pickle);
}

/* Whether an event is device memory memory_viz can show: device or managed memory of a device. */
static bool exported(const struct exporter *exporter, const struct vt_model_event *event)
{
    if (event->device < 0 || (exporter->device != VT_GROUPS_ALL_DEVICES && event->device != exporter->device))
        return false;
    if (event->type == VT_RECORD_OOM)
        return true;
    return (event->type == VT_RECORD_ALLOC || event->type == VT_RECORD_FREE) &&
           (event->kind == VT_KIND_DEVICE || event->kind == VT_KIND_MANAGED) && !vt_allocated_nothing(event->address, event->size_bytes);
}

static void write_device_trace(struct exporter *exporter, int device)
{
    const struct vt_trace_model *model = exporter->model;
    vt_pickle_list_begin(&exporter->pickle);
    for (size_t i = 0; i < model->event_count; i++) {
        const struct vt_model_event *event = vt_model_event_at(model, i);
        if (event->device != device || !exported(exporter, event))
            continue;
        if (event->type == VT_RECORD_ALLOC) {
            write_entry(exporter, "segment_alloc", event->address, event->size_bytes, 0, event->time_ns,
                        event->stack_id);
            write_entry(exporter, "alloc", event->address, event->size_bytes, 0, event->time_ns, event->stack_id);
        } else if (event->type == VT_RECORD_FREE) {
            write_entry(exporter, "free_requested", event->address, event->size_bytes, 0, event->time_ns, 0);
            write_entry(exporter, "free_completed", event->address, event->size_bytes, 0, event->time_ns, 0);
            write_entry(exporter, "segment_free", event->address, event->size_bytes, 0, event->time_ns, 0);
        } else { /* OOM: memory_viz shows "addr" as the device's free memory */
            const struct vt_model_oom *oom = &model->ooms[event->detail];
            write_entry(exporter, "oom", oom->device_free_bytes, event->size_bytes, 0, event->time_ns,
                        event->stack_id);
        }
    }
    vt_pickle_list_end(&exporter->pickle);
}

/* What is live at the end: one segment of one active block per allocation. */
static void write_segment(struct exporter *exporter, const struct alloc_record *record)
{
    struct vt_pickle *pickle = &exporter->pickle;
    vt_pickle_dict_begin(pickle);
    vt_pickle_key_int(pickle, "device", record->device);
    vt_pickle_key_uint(pickle, "address", record->address);
    vt_pickle_key_uint(pickle, "total_size", record->size_bytes);
    vt_pickle_key_uint(pickle, "allocated_size", record->size_bytes);
    vt_pickle_key_uint(pickle, "active_size", record->size_bytes);
    vt_pickle_key_uint(pickle, "requested_size", record->size_bytes);
    vt_pickle_key_uint(pickle, "stream", 0);
    vt_pickle_key_text(pickle, "segment_type", "large");
    vt_pickle_text(pickle, "segment_pool_id");
    vt_pickle_int_pair(pickle, 0, 0);
    vt_pickle_text(pickle, "is_expandable");
    vt_pickle_bool(pickle, false);
    vt_pickle_text(pickle, "frames");
    write_frames(exporter, record->stack_id);
    vt_pickle_text(pickle, "blocks");
    vt_pickle_list_begin(pickle);
    vt_pickle_dict_begin(pickle);
    vt_pickle_key_uint(pickle, "address", record->address);
    vt_pickle_key_uint(pickle, "size", record->size_bytes);
    vt_pickle_key_uint(pickle, "requested_size", record->size_bytes);
    vt_pickle_key_text(pickle, "state", "active_allocated");
    vt_pickle_text(pickle, "frames");
    write_frames(exporter, record->stack_id);
    vt_pickle_dict_end(pickle);
    vt_pickle_list_end(pickle);
    vt_pickle_dict_end(pickle);
}

static int compare_records(const void *a, const void *b)
{
    const struct alloc_record *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return x->address < y->address ? -1 : x->address > y->address;
}

struct live_collection {
    const struct exporter *exporter;
    struct alloc_record *records;
    size_t count;
};

static void collect_live(const struct alloc_record *record, void *context)
{
    struct live_collection *live = context;
    int device = live->exporter->device;
    if (record->device < 0 || (record->kind != VT_KIND_DEVICE && record->kind != VT_KIND_MANAGED) ||
        (device != VT_GROUPS_ALL_DEVICES && record->device != device))
        return;
    live->records[live->count++] = *record;
}

/* The live pointers at the end (device and managed memory; cuMemCreate handles are not
 * addresses), sorted by device and address; NULL when out of memory. */
static struct alloc_record *live_at_end(const struct exporter *exporter, size_t *count)
{
    struct vt_replay replay;
    vt_replay_start(&replay, exporter->model, true);
    vt_replay_all(&replay, NULL, NULL);
    const struct alloc_table *table = &replay.accounting.live[VT_SPACE_POINTERS];
    struct live_collection live = {exporter, malloc((table->live_count ? table->live_count : 1) * sizeof *live.records), 0};
    if (live.records) {
        alloc_table_for_each(table, collect_live, &live);
        qsort(live.records, live.count, sizeof *live.records, compare_records);
    }
    vt_replay_finish(&replay);
    *count = live.count;
    return live.records;
}

static bool write_snapshot(struct exporter *exporter)
{
    size_t live_count = 0;
    struct alloc_record *live = live_at_end(exporter, &live_count);
    if (!live)
        return false;
    int devices = 0; /* device_traces covers devices 0 .. the highest with an exported event */
    for (size_t i = 0; i < exporter->model->event_count; i++) {
        const struct vt_model_event *event = vt_model_event_at(exporter->model, i);
        if (exported(exporter, event) && event->device >= devices)
            devices = event->device + 1;
    }

    struct vt_pickle *pickle = &exporter->pickle;
    vt_pickle_dict_begin(pickle);
    vt_pickle_text(pickle, "segments");
    vt_pickle_list_begin(pickle);
    for (size_t i = 0; i < live_count; i++)
        write_segment(exporter, &live[i]);
    vt_pickle_list_end(pickle);
    vt_pickle_text(pickle, "device_traces");
    vt_pickle_list_begin(pickle);
    for (int device = 0; device < devices; device++)
        write_device_trace(exporter, device);
    vt_pickle_list_end(pickle);
    vt_pickle_text(pickle, "allocator_settings");
    vt_pickle_dict_begin(pickle);
    vt_pickle_key_text(pickle, "PYTORCH_CUDA_ALLOC_CONF", "");
    vt_pickle_text(pickle, "exported_by");
    vt_pickle_text(pickle, "vramtrace export --memory-viz: every CUDA allocation is a segment of one block");
    vt_pickle_dict_end(pickle);
    vt_pickle_text(pickle, "external_annotations");
    vt_pickle_list_begin(pickle);
    vt_pickle_list_end(pickle);
    vt_pickle_dict_end(pickle);
    free(live);
    return true;
}

/* The default output: the trace's path with ".trace" replaced (or extended). */
static char *default_output(const char *trace_path)
{
    size_t length = strlen(trace_path);
    static const char suffix[] = ".trace";
    if (length >= sizeof suffix - 1 && strcmp(trace_path + length - (sizeof suffix - 1), suffix) == 0)
        length -= sizeof suffix - 1;
    char *path = NULL;
    if (asprintf(&path, "%.*s.memory-viz.pickle", (int)length, trace_path) < 0)
        return NULL;
    return path;
}

int vt_cmd_export(int argc, char **argv)
{
    struct export_settings settings;
    int status = parse_arguments(argc, argv, &settings);
    if (status >= 0)
        return status;
    struct vt_trace_model model;
    status = vt_cli_load_trace_for_device(&model, settings.common.traces[0], COMMAND, settings.common.device);
    if (status >= 0)
        return status;
    char *default_path = settings.output_path ? NULL : default_output(model.path);
    const char *path = settings.output_path ? settings.output_path : default_path;
    struct exporter exporter = {.model = &model, .device = settings.common.device};
    exporter.symbolizer = vt_cli_open_symbolizer(&model, COMMAND);
    FILE *out = path && exporter.symbolizer ? fopen(path, "wb") : NULL;
    status = VT_CLI_EXIT_UNREADABLE;
    if (!path || !exporter.symbolizer) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory\n");
    } else if (!out) {
        fprintf(stderr, "vramtrace " COMMAND ": cannot write %s: %s\n", path, strerror(errno));
    } else {
        vt_pickle_start(&exporter.pickle, out);
        bool written = write_snapshot(&exporter) && vt_pickle_finish(&exporter.pickle);
        written = fclose(out) == 0 && written;
        if (written) {
            fprintf(stderr, "vramtrace " COMMAND ": wrote %s (open it at https://pytorch.org/memory_viz)\n", path);
            status = 0;
        } else {
            fprintf(stderr, "vramtrace " COMMAND ": could not fully write %s: %s\n", path,
                    errno ? strerror(errno) : "out of memory");
        }
    }
    if (exporter.symbolizer)
        vt_symbolizer_close(exporter.symbolizer);
    vt_id_map_free(&exporter.stack_memo);
    vt_id_map_free(&exporter.empty_memo);
    free(default_path);
    vt_model_free(&model);
    return status;
}
