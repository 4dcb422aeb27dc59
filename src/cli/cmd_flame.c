/* cli/cmd_flame.c — `vramtrace flame TRACE`: GPU memory by call stack as folded stacks, the input
 * of flamegraph.pl, speedscope and inferno: one line per stack, outermost frame first, the
 * allocating API as the leaf, then the bytes ("main;load_weights;cudaMalloc 3145728"). What is
 * counted: what is live at the end (--leaks, the default), what is live at each device's peak
 * (--peak), what is live at a time (--at), or everything allocated over the run (--allocated).
 * Where the trace has a snapshot of PyTorch's caching allocator for the moment (the exit snapshot
 * for --leaks, the newest at or before --at), the stacks are the tensors' Python stacks (leaf
 * "torch_tensor") plus the CUDA memory outside PyTorch's segments: the cache is not counted. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "trace/trace_torch.h"

#include "trace/json_writer.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define COMMAND "flame"

enum flame_option { OPTION_LEAKS, OPTION_PEAK, OPTION_ALLOCATED, OPTION_AT, OPTION_FORMAT };
enum flame_measure { MEASURE_LEAKS, MEASURE_PEAK, MEASURE_ALLOCATED, MEASURE_AT };
#define TENSOR_LEAF "torch_tensor"

static const struct vt_cli_option_spec flame_options[] = {
    {"--leaks", 0, false, OPTION_LEAKS},
    {"--peak", 0, false, OPTION_PEAK},
    {"--allocated", 0, false, OPTION_ALLOCATED},
    {"--at", 0, true, OPTION_AT},
    {"--format", 0, true, OPTION_FORMAT},
    {"--device", 0, true, VT_CLI_DEVICE_ID},
    {NULL, 0, false, 0},
};

struct flame_settings {
    struct vt_cli_common_arguments common; /* the trace, --device */
    enum flame_measure measure;
    uint64_t at_ns; /* MEASURE_AT */
    bool speedscope; /* --format speedscope */
};

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace flame TRACE [--leaks|--peak|--at TIME|--allocated] [--device N]\n"
            "\n"
            "Prints GPU memory by call stack as folded stacks, one line per stack: the frames from\n"
            "the outermost (left) to the innermost, the allocating API as the leaf, then the bytes:\n"
            "    _start;__libc_start_main;main;load_weights;cudaMalloc 3145728\n"
            "Frames are function names (module+0xoffset where the function is unknown); a ';'\n"
            "inside a name becomes ':' and white space '_'. When the lines cover more than one\n"
            "device (or devices and pinned host memory), each starts with a \"device_N\" or \"host\"\n"
            "frame. Feed it to flamegraph.pl, inferno-flamegraph or speedscope.\n"
            "With PyTorch (docs/pytorch.md), where the trace has its allocator's snapshot for the\n"
            "moment (at exit for --leaks; the newest at or before --at), the lines are the tensors'\n"
            "Python stacks with the leaf \"" TENSOR_LEAF "\", plus the CUDA memory outside PyTorch's\n"
            "segments; its cached free memory is not counted.\n"
            "\n"
            "What is counted (one of):\n"
            "  --leaks       memory still live at the end of the trace (default)\n"
            "  --peak        memory live at each device's peak (exactly the allocations live then)\n"
            "  --at TIME     memory live at TIME: seconds since the start (12.5) or with a unit:\n"
            "                ns, us, ms, s, m, h (1500ms, 2m)\n"
            "  --allocated   all memory allocated over the run, freed or not\n"
            "Options:\n"
            "  --format F    folded (default) or speedscope: speedscope's own JSON file format, the\n"
            "                same stacks with their unit, bytes (open it at https://www.speedscope.app)\n"
            "  --device N    only device N\n"
            "  -h, --help    show this help\n"
            "\n"
            "Exit status: 0 printed, 1 the trace cannot be read, 2 usage error.\n"
            "\n"
            "Examples:\n"
            "  vramtrace flame train.trace | flamegraph.pl --countname bytes > leaks.svg\n"
            "  vramtrace flame --peak --device 1 train.trace > peak.folded   # speedscope peak.folded\n"
            "  vramtrace flame --format speedscope train.trace > leaks.speedscope.json\n");
}

static int parse_arguments(int argc, char **argv, struct flame_settings *settings)
{
    *settings = (struct flame_settings){.measure = MEASURE_LEAKS};
    vt_cli_common_start(&settings->common, 1);
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, flame_options);
    const struct vt_cli_option_spec *option;
    const char *value, *measure_given = NULL;
    int status;
    while (vt_cli_next_own_option(&parser, &settings->common, print_help, &option, &value, &status)) {
        if (option->id == OPTION_FORMAT) {
            if (strcmp(value, "folded") != 0 && strcmp(value, "speedscope") != 0)
                return vt_cli_usage_error(COMMAND, "--format '%s' is not valid; accepted: folded, speedscope", value);
            settings->speedscope = strcmp(value, "speedscope") == 0;
            continue;
        }
        /* --leaks, --peak, --at or --allocated */
        if (measure_given && strcmp(measure_given, option->long_name) != 0)
            return vt_cli_usage_error(COMMAND, "%s and %s: choose one", measure_given, option->long_name);
        measure_given = option->long_name;
        settings->measure = option->id == OPTION_PEAK        ? MEASURE_PEAK
                            : option->id == OPTION_ALLOCATED ? MEASURE_ALLOCATED
                            : option->id == OPTION_AT        ? MEASURE_AT
                                                             : MEASURE_LEAKS;
        if (option->id == OPTION_AT && !vt_cli_parse_time(value, "s", &settings->at_ns))
            return vt_cli_usage_error(COMMAND,
                                      "--at '%s' is not a time; use seconds since the start (12.5) or a number with "
                                      "a unit: ns, us, ms, s, m, h (1500ms, 2m)",
                                      value);
    }
    return vt_cli_end_of_arguments(COMMAND, status, &settings->common, "vramtrace flame TRACE");
}

/* ---- the groups of each device ---------------------------------------------------------------- */

struct slot_groups {
    int slot;
    struct vt_groups groups;      /* with a tensor layer: outside PyTorch's segments */
    struct vt_torch_groups tensors; /* PyTorch's tensors on the slot's device (empty: none) */
};

static bool has_memory(const struct vt_groups *groups)
{
    for (size_t i = 0; i < groups->group_count; i++)
        if (vt_kind_is_memory_use(groups->groups[i].kind))
            return true;
    return false;
}

/* Fills per_slot[] with the groups measured on each used slot; returns how many hold memory, or -1
 * when out of memory. */
static long collect_groups(const struct flame_settings *settings, const struct vt_trace_model *model,
                           struct slot_groups per_slot[VT_MODEL_SLOT_COUNT], size_t *slot_count)
{
    const struct vt_model_torch_snapshot *torch = settings->measure == MEASURE_LEAKS ? vt_torch_exit_snapshot(model)
                                                  : settings->measure == MEASURE_AT
                                                      ? vt_torch_snapshot_at(model, settings->at_ns)
                                                      : NULL;
    struct vt_replay replay;
    vt_replay_start(&replay, model, true);
    if (settings->measure == MEASURE_AT)
        vt_replay_until_time(&replay, settings->at_ns);
    else
        vt_replay_all(&replay, NULL, NULL);
    int slots[VT_MODEL_SLOT_COUNT];
    *slot_count = vt_cli_used_slots(&replay, settings->common.device, slots);
    long with_memory = 0;
    bool incomplete = replay.accounting.out_of_memory;
    for (size_t i = 0; i < *slot_count; i++) {
        int device = vt_device_of_slot(slots[i]);
        per_slot[i] = (struct slot_groups){.slot = slots[i]};
        if (settings->measure == MEASURE_ALLOCATED) {
            vt_groups_collect_sites(&per_slot[i].groups, model, device, VT_GROUPS_BY_BYTES);
        } else if (settings->measure == MEASURE_LEAKS || settings->measure == MEASURE_AT) {
            vt_groups_collect_live_outside_torch(&per_slot[i].groups, &replay, device, torch ? &torch->view : NULL);
            if (torch && device >= 0) {
                incomplete |= !vt_torch_group_tensors(&torch->view, device, &per_slot[i].tensors);
                with_memory += per_slot[i].tensors.count > 0 && !has_memory(&per_slot[i].groups);
            }
        } else {
            struct vt_replay at_peak;
            vt_replay_start(&at_peak, model, true);
            vt_replay_until_event(&at_peak, replay.accounting.usage[slots[i]].in_use.peak_event + 1);
            vt_groups_collect_live(&per_slot[i].groups, &at_peak, device);
            vt_replay_finish(&at_peak);
        }
        incomplete |= per_slot[i].groups.incomplete && settings->measure != MEASURE_ALLOCATED;
        with_memory += has_memory(&per_slot[i].groups);
    }
    vt_replay_finish(&replay);
    return incomplete ? -1 : with_memory;
}

/* ---- folded stacks ------------------------------------------------------------------------------ */

/* Appends a frame name with ';' and white space replaced, so the line stays parseable. */
static void append_frame(struct vt_text *line, const char *name)
{
    char piece[2] = {0, 0};
    for (const char *c = name; *c; c++) {
        piece[0] = *c == ';' ? ':' : (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r') ? '_' : *c;
        vt_text_append(line, piece);
    }
}

/* A frame's symbols, which run innermost first (inlined calls, then the function), outermost
 * first like the frames: "function;inlined callee;". */
static void append_symbols(struct vt_text *line, const struct vt_symbol *symbol, uint64_t frame)
{
    if (!symbol)
        return;
    append_symbols(line, symbol->caller, frame);
    char name[1024];
    append_frame(line, vt_cli_symbol_name(symbol, frame, name, sizeof name));
    vt_text_append(line, ";");
}

/* The frames of `stack_id`, outermost first, then `leaf` (the API, or TENSOR_LEAF). */
static void folded_stack(struct vt_text *line, const struct vt_trace_model *model, struct vt_symbolizer *symbolizer,
                         uint32_t stack_id, const char *leaf, const char *root)
{
    vt_text_clear(line);
    vt_text_append(line, "");
    if (root) {
        vt_text_append(line, root);
        vt_text_append(line, ";");
    }
    unsigned depth = 0;
    const uint64_t *frames = vt_model_stack_frames(model, stack_id, &depth);
    char name[1024];
    if (!frames && stack_id != 0) {
        snprintf(name, sizeof name, "[stack %u not in the trace];", stack_id);
        vt_text_append(line, name);
    }
    for (unsigned i = depth; i-- > 0;)
        append_symbols(line, vt_symbolize(symbolizer, frames[i]), frames[i]);
    append_frame(line, leaf);
}

static int by_bytes_then_key(const void *a, const void *b)
{
    const struct vt_cli_site *x = a, *y = b;
    if (x->bytes[0] != y->bytes[0])
        return x->bytes[0] > y->bytes[0] ? -1 : 1;
    return strcmp(x->key, y->key);
}

static bool fold(struct vt_cli_site_table *table, const struct vt_trace_model *model, struct vt_symbolizer *symbolizer,
                 const struct slot_groups *per_slot, size_t slot_count, bool device_roots)
{
    struct vt_text line = {0};
    for (size_t s = 0; s < slot_count; s++) {
        char root[32] = "host";
        if (per_slot[s].slot > 0)
            snprintf(root, sizeof root, "device_%d", vt_device_of_slot(per_slot[s].slot));
        const struct vt_groups *groups = &per_slot[s].groups;
        for (size_t i = 0; i < groups->group_count; i++) {
            const struct vt_group *group = &groups->groups[i];
            if (!vt_kind_is_memory_use(group->kind) || group->bytes == 0)
                continue;
            folded_stack(&line, model, symbolizer, group->stack_id, vt_api_name(group->api), device_roots ? root : NULL);
            if (line.failed || !vt_cli_site_add(table, line.text, 0, group)) {
                vt_text_free(&line);
                return false;
            }
        }
        const struct vt_torch_groups *tensors = &per_slot[s].tensors;
        for (size_t i = 0; i < tensors->group_count; i++) {
            const struct vt_torch_group *tensor = &tensors->groups[i];
            struct vt_group as_group = {.bytes = tensor->bytes, .count = tensor->count, .stack_id = tensor->stack_id,
                                        .kind = VT_KIND_DEVICE};
            folded_stack(&line, model, symbolizer, tensor->stack_id, TENSOR_LEAF, device_roots ? root : NULL);
            if (line.failed || !vt_cli_site_add(table, line.text, 0, &as_group)) {
                vt_text_free(&line);
                return false;
            }
        }
    }
    vt_text_free(&line);
    if (table->sites)
        qsort(table->sites, table->count, sizeof *table->sites, by_bytes_then_key);
    return true;
}

/* ---- speedscope ---------------------------------------------------------------------------------- */

struct frame_index {
    UT_hash_handle hh;
    size_t index;
    char name[];
};

/* The frames of a folded key ("a;b;c"), as indices into the shared frame list (added when new). */
static bool frame_indices(const char *key, struct frame_index **frames, size_t *frame_count, struct vt_text *out)
{
    vt_text_clear(out);
    vt_text_append(out, "");
    for (const char *start = key; *start;) {
        size_t length = strcspn(start, ";");
        struct frame_index *found = NULL;
        HASH_FIND(hh, *frames, start, length, found);
        if (!found) {
            if (!(found = malloc(sizeof *found + length + 1)))
                return false;
            memcpy(found->name, start, length);
            found->name[length] = '\0';
            found->index = (*frame_count)++;
            HASH_ADD(hh, *frames, name, length, found);
        }
        char number[24];
        snprintf(number, sizeof number, "%s%zu", out->text[0] ? "," : "", found->index);
        vt_text_append(out, number);
        start += length + (start[length] == ';');
    }
    return !out->failed;
}

/* speedscope's file format (https://www.speedscope.app/file-format-schema.json): one "sampled"
 * profile whose samples are the folded stacks, outermost frame first, weighted by their bytes. */
static bool print_speedscope(const struct vt_cli_site_table *table, const struct flame_settings *settings)
{
    struct frame_index *frames = NULL, *frame, *next;
    size_t frame_count = 0;
    struct vt_text *samples = calloc(table->count ? table->count : 1, sizeof *samples);
    bool ok = samples != NULL;
    uint64_t total = 0;
    for (size_t i = 0; ok && i < table->count; i++) {
        ok = frame_indices(table->sites[i].key, &frames, &frame_count, &samples[i]);
        total += table->sites[i].bytes[0];
    }
    const char **names = ok ? calloc(frame_count ? frame_count : 1, sizeof *names) : NULL;
    if (names) {
        HASH_ITER(hh, frames, frame, next)
            names[frame->index] = frame->name;
        static const char *const measures[] = {"memory live at the end (leaks)", "memory live at each device's peak",
                                               "memory allocated over the run", "memory live at the given time"};
        printf("{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\", \"exporter\": "
               "\"vramtrace flame " VT_VERSION "\", \"name\": ");
        struct vt_json json;
        vt_json_start(&json, stdout);
        vt_json_string(&json, NULL, settings->common.traces[0]);
        printf(", \"activeProfileIndex\": 0, \"shared\": {\"frames\": [");
        for (size_t i = 0; i < frame_count; i++) {
            printf("%s{\"name\": ", i ? ", " : "");
            vt_json_string(&json, NULL, names[i]);
            printf("}");
        }
        printf("]}, \"profiles\": [{\"type\": \"sampled\", \"name\": \"%s\", \"unit\": \"bytes\", "
               "\"startValue\": 0, \"endValue\": %" PRIu64 ", \"samples\": [",
               measures[settings->measure], total);
        for (size_t i = 0; i < table->count; i++)
            printf("%s[%s]", i ? ", " : "", samples[i].text);
        printf("], \"weights\": [");
        for (size_t i = 0; i < table->count; i++)
            printf("%s%" PRIu64, i ? ", " : "", table->sites[i].bytes[0]);
        printf("]}]}\n");
    }
    ok = names != NULL;
    free(names);
    for (size_t i = 0; samples && i < table->count; i++)
        vt_text_free(&samples[i]);
    free(samples);
    HASH_ITER(hh, frames, frame, next) {
        HASH_DEL(frames, frame);
        free(frame);
    }
    return ok;
}

int vt_cmd_flame(int argc, char **argv)
{
    struct flame_settings settings;
    int early = parse_arguments(argc, argv, &settings);
    if (early >= 0)
        return early;
    struct vt_trace_model model;
    int loaded = vt_cli_load_trace_for_device(&model, settings.common.traces[0], COMMAND, settings.common.device);
    if (loaded >= 0)
        return loaded;
    int status = 0;
    struct slot_groups per_slot[VT_MODEL_SLOT_COUNT];
    size_t slot_count = 0;
    struct vt_cli_site_table table = {0};
    struct vt_symbolizer *symbolizer = vt_cli_open_symbolizer(&model, COMMAND);
    long with_memory = symbolizer ? collect_groups(&settings, &model, per_slot, &slot_count) : -1;
    if (with_memory < 0 || !fold(&table, &model, symbolizer, per_slot, slot_count, with_memory > 1)) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory while grouping %s\n", settings.common.traces[0]);
        status = VT_CLI_EXIT_UNREADABLE;
    } else if (settings.speedscope && !print_speedscope(&table, &settings)) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory while writing the speedscope file\n");
        status = VT_CLI_EXIT_UNREADABLE;
    } else {
        for (size_t i = 0; !settings.speedscope && i < table.count; i++)
            printf("%s %" PRIu64 "\n", table.sites[i].key, table.sites[i].bytes[0]);
        if (table.count == 0)
            fprintf(stderr, "vramtrace " COMMAND ": %s\n",
                    settings.measure == MEASURE_LEAKS  ? "no memory is live at the end of the trace: no leaks"
                    : settings.measure == MEASURE_AT   ? "no memory is live at that time"
                    : settings.measure == MEASURE_PEAK ? "no memory was in use: no peak"
                                                       : "no memory was allocated");
        fflush(stdout);
    }
    vt_cli_site_table_free(&table);
    for (size_t i = 0; i < slot_count; i++) {
        vt_groups_free(&per_slot[i].groups);
        vt_torch_groups_free(&per_slot[i].tensors);
    }
    vt_symbolizer_close(symbolizer);
    vt_model_free(&model);
    return status;
}
