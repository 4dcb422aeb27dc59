/* cli/cmd_diff.c — `vramtrace diff A B` and `vramtrace diff TRACE --from T1 --to T2`: how the live
 * memory of each allocation site (call stack, API and kind) grew from one moment to another, of
 * one trace or of two runs, largest growth first, with totals. Sites are matched by their
 * symbolized frames (function and source line, or module+offset), never by address, so two runs
 * of the same program line up. The tool for "memory creeps up every epoch". Where both moments have
 * a snapshot of PyTorch's caching allocator (trace_torch.h), it also shows tensor growth per Python
 * line (each tensor's user frame: what shows a loss kept every step), and the CUDA sites leave out
 * the memory PyTorch's segments hold. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "common/format.h"
#include "common/options.h"
#include "trace/json_writer.h"
#include "trace/trace_torch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "diff"
#define DIFF_JSON_VERSION 1
#define MAX_TOP 1000000

enum diff_option { OPTION_FROM, OPTION_TO, OPTION_TOP, OPTION_FORMAT };

static const struct vt_cli_option_spec diff_options[] = {
    {"--from", 0, true, OPTION_FROM},
    {"--to", 0, true, OPTION_TO},
    {"--top", 0, true, OPTION_TOP},
    {"--format", 0, true, OPTION_FORMAT},
    {"--device", 0, true, VT_CLI_DEVICE_ID},
    {NULL, 0, false, 0},
};

enum diff_moment { AT_START, AT_TIME, AT_END };

/* One side of the comparison: a trace at a moment. */
struct diff_side {
    const char *path;
    enum diff_moment moment;
    uint64_t time_ns; /* AT_TIME */
    struct vt_trace_model *model;
    struct vt_symbolizer *symbolizer;
    uint64_t bytes, count; /* live memory then */
    const struct vt_model_torch_snapshot *torch; /* PyTorch's snapshot for the moment; NULL: none */
    uint64_t tensor_bytes, tensor_count;
};

struct diff_settings {
    struct vt_cli_common_arguments common; /* the trace(s), --device */
    bool json;
    unsigned top;
    bool from_given, to_given;
    uint64_t from_ns, to_ns;
};

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace diff A B [OPTIONS]              two traces (two runs)\n"
            "       vramtrace diff TRACE --from T1 --to T2    two moments of one trace\n"
            "\n"
            "Compares the live GPU memory (device, host-pinned and managed) of each allocation site\n"
            "(call stack, API and kind) between two moments: the end of trace A and the end of\n"
            "trace B, or times T1 and T2 of one trace. Sites are listed by growth in live bytes,\n"
            "largest first, with the change in allocation count and the totals. Sites of two runs\n"
            "match by their symbolized frames (function and source line; module+offset where the\n"
            "function is unknown), so addresses may differ; a rebuilt program whose lines moved\n"
            "shows moved sites as new ones. With PyTorch's snapshots at both moments\n"
            "(docs/pytorch.md), it also lists tensor growth per Python line.\n"
            "\n"
            "Options:\n"
            "  --from TIME          the first moment (one trace: default the start, when nothing is\n"
            "                       live; two traces: a time of A instead of its end)\n"
            "  --to TIME            the second moment (default the end; two traces: a time of B)\n"
            "                       TIME: seconds since the start (12.5) or with a unit: ns, us,\n"
            "                       ms, s, m, h (1500ms, 2m)\n"
            "  --top N              sites shown (default %u; 0: totals only)\n"
            "  --format text|json   output format (default text)\n"
            "  --device N           only device N\n"
            "  -h, --help           show this help\n"
            "\n"
            "Exit status: 0 compared, 1 a trace cannot be read, 2 usage error.\n"
            "\n"
            "Examples:\n"
            "  vramtrace diff train.trace --from 60s --to 300s    # what grew between epochs\n"
            "  vramtrace diff run-2-steps.trace run-5-steps.trace\n"
            "  vramtrace diff --format json --top 0 a.trace b.trace\n",
            VT_DEFAULT_TOP);
}

static int parse_arguments(int argc, char **argv, struct diff_settings *settings)
{
    *settings = (struct diff_settings){.top = VT_DEFAULT_TOP};
    vt_cli_common_start(&settings->common, 2);
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, diff_options);
    const struct vt_cli_option_spec *option;
    const char *value;
    int status;
    uint64_t number;
    while (vt_cli_next_own_option(&parser, &settings->common, print_help, &option, &value, &status)) {
        switch (option->id) {
        case OPTION_FROM:
        case OPTION_TO: {
            bool from = option->id == OPTION_FROM;
            if (!vt_cli_parse_time(value, "s", from ? &settings->from_ns : &settings->to_ns))
                return vt_cli_usage_error(COMMAND, "%s '%s' is not a time; use seconds since the start (12.5) or a "
                                          "number with a unit: ns, us, ms, s, m, h (1500ms, 2m)",
                                          option->long_name, value);
            *(from ? &settings->from_given : &settings->to_given) = true;
            break;
        }
        case OPTION_TOP:
            if (!vt_parse_count(value, 0, MAX_TOP, &number))
                return vt_cli_usage_error(COMMAND, "--top '%s' is not valid; accepted: a whole number from 0 to %d",
                                          value, MAX_TOP);
            settings->top = (unsigned)number;
            break;
        case OPTION_FORMAT:
            if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
                return vt_cli_usage_error(COMMAND, "--format '%s' is not valid; accepted: text, json", value);
            settings->json = strcmp(value, "json") == 0;
            break;
        }
    }
    int end = vt_cli_end_of_arguments(COMMAND, status, &settings->common,
                                      "vramtrace diff A B, or vramtrace diff TRACE --from T1 --to T2");
    if (end >= 0)
        return end;
    if (settings->common.trace_count == 1 && !settings->from_given && !settings->to_given)
        return vt_cli_usage_error(COMMAND, "one trace needs --from and/or --to (the moments to compare); or give two "
                                  "traces");
    if (settings->common.trace_count == 1 && settings->from_given && settings->to_given &&
        settings->from_ns > settings->to_ns)
        return vt_cli_usage_error(COMMAND, "--from is after --to");
    return -1;
}

/* ---- sites ----------------------------------------------------------------------------------- */

/* Adds the live memory of `side` to the table, on side `index`. */
static bool add_side(struct vt_cli_site_table *table, struct diff_side *side, int index, int device)
{
    struct vt_replay replay;
    vt_replay_start(&replay, side->model, true);
    if (side->moment == AT_TIME)
        vt_replay_until_time(&replay, side->time_ns);
    else if (side->moment == AT_END)
        vt_replay_all(&replay, NULL, NULL);
    struct vt_groups groups;
    vt_groups_collect_live_outside_torch(&groups, &replay, device, side->torch ? &side->torch->view : NULL);
    bool ok = !groups.incomplete;
    struct vt_text key = {0};
    for (size_t i = 0; ok && i < groups.group_count; i++) {
        const struct vt_group *group = &groups.groups[i];
        if (!vt_kind_is_memory_use(group->kind))
            continue;
        side->bytes += group->bytes;
        side->count += group->count;
        vt_cli_site_key(&key, side->model, side->symbolizer, group);
        ok = !key.failed && vt_cli_site_add(table, key.text, index, group);
    }
    vt_text_free(&key);
    vt_groups_free(&groups);
    vt_replay_finish(&replay);
    return ok;
}

/* PyTorch's snapshot for a side's moment: the newest at or before its time, or the exit snapshot
 * at its end (else the newest); the start has none (nothing is live). */
static const struct vt_model_torch_snapshot *side_snapshot(const struct diff_side *side)
{
    if (side->moment == AT_TIME)
        return vt_torch_snapshot_at(side->model, side->time_ns);
    if (side->moment == AT_END) {
        const struct vt_model_torch_snapshot *exit = vt_torch_exit_snapshot(side->model);
        return exit ? exit : vt_torch_snapshot_at(side->model, UINT64_MAX);
    }
    return NULL;
}

/* Adds the tensors of `side` by Python line ("function file:line" of their user frame, the file's
 * last component so that two runs match) to the table, on side `index`. The start (no snapshot)
 * adds nothing. */
static bool add_tensor_side(struct vt_cli_site_table *table, struct diff_side *side, int index, int device)
{
    if (!side->torch)
        return true;
    struct vt_torch_lines lines;
    if (!vt_torch_lines_collect(side->model, side->torch, device == VT_GROUPS_ALL_DEVICES ? VT_TORCH_ALL_DEVICES : device,
                                &lines))
        return false;
    bool ok = true;
    char key[1200];
    for (size_t i = 0; ok && i < lines.line_count; i++) {
        const struct vt_torch_line *line = &lines.lines[i];
        vt_cli_tensor_line_key(line, key, sizeof key);
        struct vt_group group = {.bytes = line->bytes, .count = line->count, .stack_id = line->stack_id,
                                 .kind = VT_KIND_DEVICE};
        ok = vt_cli_site_add(table, key, index, &group);
    }
    side->tensor_bytes = lines.bytes;
    side->tensor_count = lines.count;
    vt_torch_lines_free(&lines);
    return ok;
}

static int64_t growth_bytes(const struct vt_cli_site *site)
{
    return (int64_t)(site->bytes[1] - site->bytes[0]);
}

static int64_t growth_count(const struct vt_cli_site *site)
{
    return (int64_t)(site->count[1] - site->count[0]);
}

static int by_growth(const void *a, const void *b)
{
    const struct vt_cli_site *x = a, *y = b;
    if (growth_bytes(x) != growth_bytes(y))
        return growth_bytes(x) > growth_bytes(y) ? -1 : 1;
    if (growth_count(x) != growth_count(y))
        return growth_count(x) > growth_count(y) ? -1 : 1;
    if (x->bytes[1] != y->bytes[1])
        return x->bytes[1] > y->bytes[1] ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* ---- text ------------------------------------------------------------------------------------ */

/* "+4194304 byte(s) (+4.00 MiB)" */
static const char *signed_bytes(int64_t bytes, char *out, size_t size)
{
    char human[32];
    uint64_t magnitude = bytes < 0 ? (uint64_t)0 - (uint64_t)bytes : (uint64_t)bytes;
    const char *sign = bytes < 0 ? "-" : "+";
    snprintf(out, size, "%s%" PRIu64 " byte(s) (%s%s)", sign, magnitude, bytes ? sign : "",
             vt_format_bytes(magnitude, human, sizeof human));
    return out;
}

static const char *moment(const struct diff_side *side, char *out, size_t size)
{
    if (side->moment == AT_START)
        snprintf(out, size, "at the start of %s", side->path);
    else if (side->moment == AT_END)
        snprintf(out, size, "at the end of %s (%.3f s)", side->path, (double)side->model->duration_ns / 1e9);
    else if (side->time_ns > side->model->duration_ns)
        snprintf(out, size, "at %.3f s of %s (after its end at %.3f s)", (double)side->time_ns / 1e9, side->path,
                 (double)side->model->duration_ns / 1e9);
    else
        snprintf(out, size, "at %.3f s of %s", (double)side->time_ns / 1e9, side->path);
    return out;
}

static void render_text(FILE *out, const struct vt_cli_site_table *table, const struct diff_side sides[2], unsigned top)
{
    char first[1200], second[1200], human[32], human2[32], growth[64];
    fprintf(out, "vramtrace diff: live GPU memory %s -> %s\n\n", moment(&sides[0], first, sizeof first),
            moment(&sides[1], second, sizeof second));
    bool torch = sides[0].torch || sides[1].torch;
    fprintf(out, "%s: %" PRIu64 " byte(s) (%s) in %" PRIu64 " allocation(s) -> %" PRIu64 " byte(s) (%s) in %" PRIu64
                 " allocation(s): %s, %+" PRId64 " allocation(s)\n\n",
            torch ? "Total outside PyTorch's segments (its tensors are below)" : "Total", sides[0].bytes, vt_format_bytes(sides[0].bytes, human, sizeof human), sides[0].count, sides[1].bytes,
            vt_format_bytes(sides[1].bytes, human2, sizeof human2), sides[1].count,
            signed_bytes((int64_t)(sides[1].bytes - sides[0].bytes), growth, sizeof growth),
            (int64_t)(sides[1].count - sides[0].count));
    if (table->count == 0) {
        fprintf(out, torch ? "No CUDA memory outside PyTorch's segments is live at either moment.\n"
                           : "No memory is live at either moment.\n");
        return;
    }
    fprintf(out, "Sites by growth, largest first (%zu site(s)):\n\n", table->count);
    size_t shown = table->count < top ? table->count : top;
    for (size_t i = 0; i < shown; i++) {
        const struct vt_cli_site *site = &table->sites[i];
        fprintf(out, "%s, %+" PRId64 " allocation(s) (%" PRIu64 " -> %" PRIu64 " byte(s), %" PRIu64 " -> %" PRIu64
                     " allocation(s)) of %s memory, %s, allocated from:\n",
                signed_bytes(growth_bytes(site), growth, sizeof growth), growth_count(site), site->bytes[0],
                site->bytes[1], site->count[0], site->count[1], vt_memory_kind_name(site->kind),
                vt_api_name(site->api));
        vt_cli_print_stack(out, sides[site->side].symbolizer, sides[site->side].model, site->stack_id, false);
        fputc('\n', out);
    }
    if (shown < table->count) {
        int64_t bytes = 0, count = 0;
        for (size_t i = shown; i < table->count; i++) {
            bytes += growth_bytes(&table->sites[i]);
            count += growth_count(&table->sites[i]);
        }
        fprintf(out, "... and %zu more site(s): %s, %+" PRId64 " allocation(s) together (--top %u shows %u)\n",
                table->count - shown, signed_bytes(bytes, growth, sizeof growth), count, top, top);
    }
}

/* Tensor growth per Python line, largest first. */
static void render_text_tensors(FILE *out, const struct vt_cli_site_table *lines, const struct diff_side sides[2],
                                unsigned top)
{
    char human[32], human2[32], growth[64], where[1200];
    fprintf(out, "\nPyTorch's tensors: %" PRIu64 " byte(s) (%s) in %" PRIu64 " tensor(s) -> %" PRIu64 " byte(s) (%s) in %"
                 PRIu64 " tensor(s): %s, %+" PRId64 " tensor(s)\n\n",
            sides[0].tensor_bytes, vt_format_bytes(sides[0].tensor_bytes, human, sizeof human), sides[0].tensor_count,
            sides[1].tensor_bytes, vt_format_bytes(sides[1].tensor_bytes, human2, sizeof human2),
            sides[1].tensor_count, signed_bytes((int64_t)(sides[1].tensor_bytes - sides[0].tensor_bytes), growth,
                                                sizeof growth),
            (int64_t)(sides[1].tensor_count - sides[0].tensor_count));
    if (lines->count == 0)
        return;
    fprintf(out, "Tensors by Python line, largest growth first (%zu line(s)):\n\n", lines->count);
    size_t shown = lines->count < top ? lines->count : top;
    for (size_t i = 0; i < shown; i++) {
        const struct vt_cli_site *line = &lines->sites[i];
        const struct diff_side *side = &sides[line->side];
        if (!vt_torch_user_line(side->model, line->stack_id, where, sizeof where))
            snprintf(where, sizeof where, "(no Python stack: PyTorch's history was off)");
        fprintf(out, "%s, %+" PRId64 " tensor(s) (%" PRIu64 " -> %" PRIu64 " byte(s), %" PRIu64 " -> %" PRIu64
                     " tensor(s)) at %s:\n",
                signed_bytes(growth_bytes(line), growth, sizeof growth), growth_count(line), line->bytes[0],
                line->bytes[1], line->count[0], line->count[1], where);
        vt_cli_print_stack(out, side->symbolizer, side->model, line->stack_id, false);
        fputc('\n', out);
    }
    if (shown < lines->count)
        fprintf(out, "... and %zu more line(s) (--top %u shows %u)\n", lines->count - shown, top, top);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void json_side(struct vt_json *json, const char *key, const struct diff_side *side)
{
    vt_json_object_begin(json, key);
    vt_json_string(json, "trace", side->path);
    static const char *const moments[] = {"start", "time", "end"};
    vt_json_string(json, "at", moments[side->moment]);
    vt_json_seconds(json, "time_s", side->moment == AT_TIME  ? side->time_ns
                                    : side->moment == AT_END ? side->model->duration_ns
                                                             : 0);
    vt_json_seconds(json, "trace_duration_s", side->model->duration_ns);
    vt_json_uint(json, "bytes", side->bytes);
    vt_json_uint(json, "count", side->count);
    vt_json_object_end(json);
}

static void json_frames(struct vt_json *json, const struct diff_side *side, uint32_t stack_id)
{
    unsigned depth = 0;
    const uint64_t *frames = vt_model_stack_frames(side->model, stack_id, &depth);
    vt_json_array_begin(json, "frames");
    for (unsigned i = 0; i < depth; i++)
        for (const struct vt_symbol *symbol = vt_symbolize(side->symbolizer, frames[i]); symbol; symbol = symbol->caller)
            vt_cli_json_frame(json, symbol->kind, symbol->function, symbol->source_file, symbol->source_line,
                              symbol->module_path, symbol->module_offset);
    vt_json_array_end(json);
}

/* "torch": tensor growth per Python line (only when both moments have PyTorch's snapshots). */
static void json_tensors(struct vt_json *json, const struct vt_cli_site_table *lines, const struct diff_side sides[2],
                         unsigned top)
{
    vt_json_object_begin(json, "torch");
    for (int i = 0; i < 2; i++) {
        vt_json_object_begin(json, i ? "b" : "a");
        if (sides[i].torch) {
            vt_json_uint(json, "snapshot", sides[i].torch->number);
            vt_json_seconds(json, "snapshot_time_s", sides[i].torch->time_ns);
        } else {
            vt_json_null(json, "snapshot");
            vt_json_null(json, "snapshot_time_s");
        }
        vt_json_uint(json, "bytes", sides[i].tensor_bytes);
        vt_json_uint(json, "count", sides[i].tensor_count);
        vt_json_object_end(json);
    }
    vt_json_object_begin(json, "growth");
    vt_json_int(json, "bytes", (int64_t)(sides[1].tensor_bytes - sides[0].tensor_bytes));
    vt_json_int(json, "count", (int64_t)(sides[1].tensor_count - sides[0].tensor_count));
    vt_json_object_end(json);
    vt_json_uint(json, "line_count", lines->count);
    vt_json_array_begin(json, "lines");
    for (size_t i = 0; i < lines->count && i < top; i++) {
        const struct vt_cli_site *line = &lines->sites[i];
        const struct diff_side *side = &sides[line->side];
        struct vt_user_frame frame;
        vt_json_object_begin(json, NULL);
        if (vt_torch_user_frame(side->model, line->stack_id, &frame)) {
            vt_json_string(json, "function", frame.function_name);
            vt_json_string(json, "file", frame.file_name);
            vt_json_int(json, "line", frame.line);
        } else {
            vt_json_null(json, "function");
            vt_json_null(json, "file");
            vt_json_null(json, "line");
        }
        vt_json_int(json, "growth_bytes", growth_bytes(line));
        vt_json_int(json, "growth_count", growth_count(line));
        vt_json_uint(json, "a_bytes", line->bytes[0]);
        vt_json_uint(json, "a_count", line->count[0]);
        vt_json_uint(json, "b_bytes", line->bytes[1]);
        vt_json_uint(json, "b_count", line->count[1]);
        json_frames(json, side, line->stack_id);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
    vt_json_object_end(json);
}

static void render_json(FILE *out, const struct vt_cli_site_table *table, const struct vt_cli_site_table *lines,
                        const struct diff_side sides[2], unsigned top, int device)
{
    struct vt_json json;
    vt_json_start(&json, out);
    vt_json_object_begin(&json, NULL);
    vt_json_string(&json, "format", "vramtrace-diff");
    vt_json_uint(&json, "version", DIFF_JSON_VERSION);
    if (device == VT_GROUPS_ALL_DEVICES)
        vt_json_null(&json, "device");
    else
        vt_json_int(&json, "device", device);
    json_side(&json, "a", &sides[0]);
    json_side(&json, "b", &sides[1]);
    vt_json_object_begin(&json, "growth");
    vt_json_int(&json, "bytes", (int64_t)(sides[1].bytes - sides[0].bytes));
    vt_json_int(&json, "count", (int64_t)(sides[1].count - sides[0].count));
    vt_json_object_end(&json);
    vt_json_uint(&json, "site_count", table->count);
    vt_json_array_begin(&json, "sites");
    for (size_t i = 0; i < table->count && i < top; i++) {
        const struct vt_cli_site *site = &table->sites[i];
        vt_json_object_begin(&json, NULL);
        vt_json_string(&json, "kind", vt_memory_kind_name(site->kind));
        vt_json_string(&json, "api", vt_api_name(site->api));
        vt_json_int(&json, "growth_bytes", growth_bytes(site));
        vt_json_int(&json, "growth_count", growth_count(site));
        vt_json_uint(&json, "a_bytes", site->bytes[0]);
        vt_json_uint(&json, "a_count", site->count[0]);
        vt_json_uint(&json, "b_bytes", site->bytes[1]);
        vt_json_uint(&json, "b_count", site->count[1]);
        json_frames(&json, &sides[site->side], site->stack_id);
        vt_json_object_end(&json);
    }
    vt_json_array_end(&json);
    if (lines)
        json_tensors(&json, lines, sides, top);
    vt_json_object_end(&json);
    vt_json_finish(&json);
}

/* ---- the command ------------------------------------------------------------------------------ */

static int compare(const struct diff_settings *settings, struct diff_side sides[2])
{
    for (int i = 0; i < 2; i++) {
        if (!vt_cli_device_in_trace(sides[i].model, settings->common.device, COMMAND))
            return VT_CLI_EXIT_USAGE;
        if (i == 0 || sides[1].model != sides[0].model) {
            sides[i].symbolizer = vt_cli_open_symbolizer(sides[i].model, COMMAND);
            if (!sides[i].symbolizer)
                return VT_CLI_EXIT_UNREADABLE;
        } else {
            sides[1].symbolizer = sides[0].symbolizer;
        }
    }
    /* the tensor layer: when both moments have a snapshot (the start: when the other one has) */
    for (int i = 0; i < 2; i++)
        sides[i].torch = side_snapshot(&sides[i]);
    bool tensors = (sides[0].torch || sides[0].moment == AT_START) && sides[1].torch;
    if (!tensors)
        sides[0].torch = sides[1].torch = NULL;
    struct vt_cli_site_table table = {0}, lines = {0};
    int device = settings->common.device;
    if (!add_side(&table, &sides[0], 0, device) || !add_side(&table, &sides[1], 1, device) ||
        !add_tensor_side(&lines, &sides[0], 0, device) || !add_tensor_side(&lines, &sides[1], 1, device)) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory while grouping the live memory\n");
        vt_cli_site_table_free(&table);
        vt_cli_site_table_free(&lines);
        return VT_CLI_EXIT_UNREADABLE;
    }
    if (table.sites)
        qsort(table.sites, table.count, sizeof *table.sites, by_growth);
    if (lines.sites)
        qsort(lines.sites, lines.count, sizeof *lines.sites, by_growth);
    if (settings->json) {
        render_json(stdout, &table, tensors ? &lines : NULL, sides, settings->top, settings->common.device);
    } else {
        render_text(stdout, &table, sides, settings->top);
        if (tensors)
            render_text_tensors(stdout, &lines, sides, settings->top);
    }
    fflush(stdout);
    vt_cli_site_table_free(&table);
    vt_cli_site_table_free(&lines);
    return 0;
}

int vt_cmd_diff(int argc, char **argv)
{
    struct diff_settings settings;
    int early = parse_arguments(argc, argv, &settings);
    if (early >= 0)
        return early;
    struct vt_trace_model models[2];
    int loaded = 0, status = VT_CLI_EXIT_UNREADABLE;
    for (; loaded < settings.common.trace_count; loaded++)
        if (!vt_cli_load_trace(&models[loaded], settings.common.traces[loaded], COMMAND, true))
            goto done;
    bool one_trace = settings.common.trace_count == 1;
    struct diff_side sides[2] = {
        {.path = settings.common.traces[0], .model = &models[0],
         .moment = settings.from_given ? AT_TIME : one_trace ? AT_START : AT_END, .time_ns = settings.from_ns},
        {.path = settings.common.traces[one_trace ? 0 : 1], .model = &models[one_trace ? 0 : 1],
         .moment = settings.to_given ? AT_TIME : AT_END, .time_ns = settings.to_ns},
    };
    status = compare(&settings, sides);
    if (sides[1].symbolizer != sides[0].symbolizer)
        vt_symbolizer_close(sides[1].symbolizer);
    vt_symbolizer_close(sides[0].symbolizer);
done:
    for (int i = 0; i < loaded; i++)
        vt_model_free(&models[i]);
    return status;
}
