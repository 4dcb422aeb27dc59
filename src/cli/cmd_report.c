/* cli/cmd_report.c — `vramtrace report TRACE [OPTIONS]`: reads a trace (complete, cut short by a
 * kill, or still being written) and prints what the exit report says and more: who ran, the
 * devices, usage per device and kind, the leaks grouped by stack (or the live set at --at), each
 * device's peak with exactly what was live then, the out-of-memory state, the top allocation
 * sites, and the SUMMARY line — as text shaped like the exit report, or as JSON
 * (docs/report-json.md). With PyTorch's snapshots in the trace (docs/pytorch.md) it adds the tensor
 * layer — per device reserved = tensors + cached free, fragmentation, the driver's view; tensors by
 * stack with their Python line; PyTorch's OOM — and leaves PyTorch's cache out of the leaks, as the
 * exit report does. The content is computed by src/trace/trace_report.c. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "common/format.h"
#include "common/options.h"
#include "trace/json_writer.h"
#include "trace/symbolize.h"
#include "trace/trace_report.h"
#include "trace/trace_torch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COMMAND "report"
#define REPORT_JSON_VERSION 1
#define MAX_TOP 1000000
#define LONG_REPLAY_EVENTS 3000000 /* about a second of replaying: say so on a terminal */

struct report_settings {
    const char *path;
    bool json;
    unsigned top;
    struct vt_report_options report;
};

/* ---- command line -------------------------------------------------------------------------- */

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace report TRACE [OPTIONS]\n"
            "\n"
            "Reports what a trace recorded (written by 'vramtrace run -o TRACE', or by default as\n"
            "vramtrace.<program>.<pid>.trace): the program and its devices; per device and kind the\n"
            "memory in use at the end, its peak and when; the leaks grouped by call stack, largest\n"
            "first; each device's peak snapshot (exactly the allocations live when it peaked); the\n"
            "out-of-memory failures; and the allocation sites with the most bytes and the most calls.\n"
            "A trace that is still being written, or whose process was killed, is reported up to\n"
            "its last complete chunk. With PyTorch (docs/pytorch.md), its tensors still allocated at\n"
            "exit are the leaks, grouped by the Python line that allocated them, and its cached free\n"
            "memory is not (as in the exit report).\n"
            "\n"
            "Options:\n"
            "  --format text|json   output format (default text; JSON: docs/report-json.md)\n"
            "  --device N           only device N\n"
            "  --top N              groups shown per kind and sites per list (default %u)\n"
            "  --at TIME            the allocations live at TIME instead of at the end: seconds\n"
            "                       since the start (12.5) or with a unit: ns, us, ms, s, m, h\n"
            "                       (1500ms, 2m)\n"
            "  -h, --help           show this help\n"
            "\n"
            "Exit status: 0 reported, 1 the file cannot be read as a trace, 2 usage error.\n"
            "\n"
            "Examples:\n"
            "  vramtrace run -o train.trace python3 train.py && vramtrace report train.trace\n"
            "  vramtrace report --at 90s --device 1 train.trace\n"
            "  vramtrace report --format json train.trace > report.json\n",
            VT_DEFAULT_TOP);
}

enum report_option { OPTION_FORMAT, OPTION_DEVICE, OPTION_TOP, OPTION_AT };

static const struct vt_cli_option_spec report_options[] = {
    {"--format", 0, true, OPTION_FORMAT},
    {"--device", 0, true, OPTION_DEVICE},
    {"--top", 0, true, OPTION_TOP},
    {"--at", 0, true, OPTION_AT},
    {NULL, 0, false, 0},
};

/* One option's value into the settings; returns -1, or the exit status of a usage error. */
static int apply_option(int id, const char *value, struct report_settings *settings)
{
    uint64_t top;
    switch (id) {
    case OPTION_FORMAT:
        if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
            return vt_cli_usage_error(COMMAND, "--format '%s' is not valid; accepted: text, json", value);
        settings->json = strcmp(value, "json") == 0;
        return -1;
    case OPTION_DEVICE:
        if (!vt_cli_parse_device(value, &settings->report.device))
            return vt_cli_usage_error(COMMAND, "--device '%s' is not valid; accepted: a device ordinal from 0 to %d",
                                      value, VT_MODEL_MAX_DEVICES - 1);
        return -1;
    case OPTION_TOP:
        if (!vt_parse_count(value, 0, MAX_TOP, &top))
            return vt_cli_usage_error(COMMAND, "--top '%s' is not valid; accepted: a whole number from 0 to %d", value,
                                      MAX_TOP);
        settings->top = (unsigned)top;
        return -1;
    default: /* OPTION_AT */
        if (!vt_cli_parse_time(value, "s", &settings->report.at_ns))
            return vt_cli_usage_error(COMMAND,
                                      "--at '%s' is not a time; use seconds since the start (12.5) or a number with "
                                      "a unit: ns, us, ms, s, m, h (1500ms, 2m)",
                                      value);
        settings->report.at_time = true;
        return -1;
    }
}

/* Returns -1 when the settings are complete, else the exit status to return now. */
static int parse_arguments(int argc, char **argv, struct report_settings *settings)
{
    *settings = (struct report_settings){.top = VT_DEFAULT_TOP, .report = {.device = VT_GROUPS_ALL_DEVICES}};
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, report_options);
    const struct vt_cli_option_spec *option;
    const char *value;
    int status;
    while (vt_cli_next_argument(&parser, &option, &value, &status)) {
        if (!option) {
            if (settings->path)
                return vt_cli_usage_error(COMMAND, "one trace at a time; '%s' is one too many", value);
            settings->path = value;
        } else if (option->id == VT_CLI_HELP_ID) {
            print_help(stdout);
            return 0;
        } else if ((status = apply_option(option->id, value, settings)) >= 0) {
            return status;
        }
    }
    if (status >= 0)
        return status;
    if (!settings->path)
        return vt_cli_usage_error(COMMAND, "no trace given: vramtrace report TRACE");
    return -1;
}

/* ---- shared by both renderings -------------------------------------------------------------- */

static double seconds(uint64_t nanoseconds)
{
    return (double)nanoseconds / 1e9;
}

static const char *kind_title(unsigned kind)
{
    static const char *const titles[] = {"Device memory", "Host-pinned memory", "Managed memory",
                                         "Reserved address space", "Mapped ranges"};
    return kind < VT_KIND_COUNT ? titles[kind] : "Memory";
}

/* "device 3"; the host as in the exit report's peaks. */
static const char *peak_slot_name(int device, char *out, size_t size)
{
    if (device < 0) {
        snprintf(out, size, "host (pinned)");
        return out;
    }
    return vt_cli_device_name(device, out, size);
}

/* Leaked memory: the live set's bytes and count over the kinds that are memory use. */
static void memory_totals(const struct vt_groups *groups, uint64_t *bytes, uint64_t *count)
{
    *bytes = *count = 0;
    for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++)
        if (vt_kind_is_memory_use(kind)) {
            *bytes += groups->bytes_by_kind[kind];
            *count += groups->count_by_kind[kind];
        }
}

/* ---- text ------------------------------------------------------------------------------------ */

struct text_output {
    FILE *out;
    const struct vt_report *report;
    struct vt_symbolizer *symbolizer;
    unsigned top;
};

static void text_stack(const struct text_output *text, uint32_t stack_id)
{
    vt_cli_print_stack(text->out, text->symbolizer, text->report->model, stack_id, true);
}

static void text_mappings(FILE *out, const struct vt_groups *groups, const struct vt_group *group)
{
    unsigned shown = 0;
    for (unsigned h = 0; h < group->handles_kept; h++)
        for (size_t m = 0; m < groups->mapping_count; m++)
            if (groups->mappings[m].handle == group->handles[h])
                fprintf(out, "%s0x%llx-0x%llx", shown++ ? ", " : "  mapped at ",
                        (unsigned long long)groups->mappings[m].address,
                        (unsigned long long)(groups->mappings[m].address + groups->mappings[m].size_bytes));
    if (shown)
        fprintf(out, "%s\n", group->count > group->handles_kept ? ", ..." : "");
}

struct text_group_context {
    const struct text_output *text;
    const struct vt_groups *groups;
    const char *title;
};

/* "<title> of N byte(s) (...) in M allocation(s) of <kind> memory, <API>, allocated from:", the
 * mappings of cuMemCreate memory, and the stack. */
static void text_group(const struct vt_group *group, void *context)
{
    const struct text_group_context *shown = context;
    FILE *out = shown->text->out;
    char human[32];
    fprintf(out, "%s of %llu byte(s) (%s) in %llu allocation(s) of %s memory, %s, allocated from:\n", shown->title,
            (unsigned long long)group->bytes, vt_format_bytes(group->bytes, human, sizeof human),
            (unsigned long long)group->count, vt_memory_kind_name(group->kind), vt_api_name(group->api));
    text_mappings(out, shown->groups, group);
    text_stack(shown->text, group->stack_id);
    fputc('\n', out);
}

/* The groups of `kind` up to --top, then one line for the rest. */
static void text_groups(const struct text_output *text, const struct vt_groups *groups, unsigned kind,
                        const char *title)
{
    struct text_group_context context = {text, groups, title};
    struct vt_groups_rest rest = vt_groups_top(groups, kind, text->top, text_group, &context);
    if (rest.groups)
        fprintf(text->out, "... and %llu more group(s): %llu byte(s) in %llu allocation(s) (--top %u shows %u per kind)\n\n",
                (unsigned long long)rest.groups, (unsigned long long)rest.bytes, (unsigned long long)rest.count,
                text->top, text->top);
}

static void text_header(const struct text_output *text)
{
    FILE *out = text->out;
    const struct vt_trace_model *model = text->report->model;
    const struct vt_model_process *process = &model->process;
    char human[32];
    fprintf(out, "=================================================================\n");
    fprintf(out, "vramtrace: GPU memory report for %s (pid %llu), from the trace %s\n",
            process->present ? process->program : "(unknown program)", (unsigned long long)process->pid, model->path);
    if (process->present) {
        fprintf(out, "Host: %s", process->host);
        if (process->rank >= 0)
            fprintf(out, ", rank %lld", (long long)process->rank);
        fprintf(out, "\nCommand: %s\n", process->command_line);
        time_t started = (time_t)(process->start_realtime_ns / 1000000000u);
        char when[64] = "?";
        struct tm local;
        if (localtime_r(&started, &local))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", &local);
        fprintf(out, "Started: %s; duration %.3f s\n", when, seconds(model->duration_ns));
    }
    for (size_t i = 0; i < model->device_count; i++) {
        const struct vt_model_device *device = &model->devices[i];
        if (text->report->options.device == VT_GROUPS_ALL_DEVICES || text->report->options.device == device->ordinal)
            fprintf(out, "Device %d: %s, %llu byte(s) (%s)\n", device->ordinal, device->name,
                    (unsigned long long)device->total_bytes, vt_format_bytes(device->total_bytes, human, sizeof human));
    }
    char lost[256];
    if (model->complete && !model->dropped_events)
        fprintf(out, "Trace: complete; %zu event(s), %zu stack(s)\n", model->event_count, model->stack_count);
    else if (model->complete)
        fprintf(out, "Trace: INCOMPLETE (events were lost: below); %zu event(s), %zu stack(s)\n", model->event_count,
                model->stack_count);
    else
        fprintf(out, "Trace: INCOMPLETE (no END record: the process was killed or is still running); %zu event(s), "
                     "%zu stack(s); \"leaked\" below means still live where the trace ends\n",
                model->event_count, model->stack_count);
    if (model->dropped_events)
        fprintf(out, "Lost: %s\n", vt_format_lost_events(model->dropped_events, lost, sizeof lost));
    fputc('\n', out);
}

static void text_usage(const struct text_output *text)
{
    FILE *out = text->out;
    const struct vt_report *report = text->report;
    char where[32], human[32], peak_human[32];
    fprintf(out, "Memory by device and kind:\n");
    bool any = false;
    for (int slot = 1; slot <= VT_MODEL_SLOT_COUNT; slot++) {
        int shown_slot = slot % VT_MODEL_SLOT_COUNT; /* devices first, the host last */
        if (!vt_report_shows_slot(report, shown_slot))
            continue;
        for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++) {
            const struct vt_usage_counter *counter = &report->usage[shown_slot].by_kind[kind];
            if (kind == VT_KIND_MAPPED_RANGE || counter->peak_bytes == 0)
                continue;
            any = true;
            bool reserved = kind == VT_KIND_ADDRESS_SPACE;
            fprintf(out, "  %s, %s%s: %s %llu byte(s) (%s) in %llu allocation(s) at the end; peak %llu byte(s) (%s) at %.9f s\n",
                    vt_cli_device_name(vt_device_of_slot(shown_slot), where, sizeof where), vt_memory_kind_name(kind),
                    reserved ? " (not memory use)" : " memory", reserved ? "reserved" : "leaked",
                    (unsigned long long)counter->current_bytes, vt_format_bytes(counter->current_bytes, human, sizeof human),
                    (unsigned long long)counter->live_count, (unsigned long long)counter->peak_bytes,
                    vt_format_bytes(counter->peak_bytes, peak_human, sizeof peak_human), seconds(counter->peak_time_ns));
        }
    }
    if (!any)
        fprintf(out, "  (no memory was allocated)\n");
    if (report->torch.snapshot)
        fprintf(out, "  (the CUDA level: PyTorch's segments count here, its cache included; its tensors and the "
                     "memory outside it are below)\n");
    fputc('\n', out);
}

/* ---- text: the PyTorch layer -------------------------------------------------------------------- */


/* The driver's used memory beyond the process's CUDA allocations: contexts, other processes. */
static bool driver_beyond(const struct vt_report_torch_device *device, uint64_t *used, uint64_t *beyond)
{
    const struct vt_torch_device_summary *summary = &device->summary;
    if (!summary->driver_total_bytes)
        return false;
    *used = summary->driver_total_bytes - summary->driver_free_bytes;
    *beyond = *used > device->cuda_live_bytes ? *used - device->cuda_live_bytes : 0;
    return true;
}

/* The tensor groups of `device`: `title` groups up to --top, then one line for the rest. */
static void text_tensor_groups(const struct text_output *text, const struct vt_torch_groups *groups, int device,
                               const char *title)
{
    FILE *out = text->out;
    char line[1024];
    uint64_t rest_bytes = 0, rest_count = 0, rest_groups = 0, shown = 0;
    for (size_t i = 0; i < groups->group_count; i++) {
        const struct vt_torch_group *group = &groups->groups[i];
        if (group->device != device)
            continue;
        if (shown++ >= text->top) {
            rest_bytes += group->bytes;
            rest_count += group->count;
            rest_groups++;
            continue;
        }
        vt_torch_print_group_head(out, title, group);
        if (vt_torch_user_line(text->report->model, group->stack_id, line, sizeof line))
            fprintf(out, ", allocated at %s", line);
        fprintf(out, ":\n");
        if (group->stack_id)
            text_stack(text, group->stack_id);
        else
            fprintf(out, "    (no Python stack: PyTorch's history was not on when it was allocated)\n");
        fputc('\n', out);
    }
    if (rest_groups) {
        vt_torch_print_rest(out, rest_groups, rest_bytes, rest_count);
        fprintf(out, " (--top %u shows %u)\n\n", text->top, text->top);
    }
}

/* Per device: PyTorch's reserved memory split into tensors and cache, what the driver reports
 * beyond the process's CUDA memory, the memory outside PyTorch's allocator, and the tensors (the
 * leaks at exit, the live ones at --at) by stack; then what the leak sections below leave out. */
static void text_torch(const struct text_output *text)
{
    FILE *out = text->out;
    const struct vt_report_torch *torch = &text->report->torch;
    if (!torch->snapshot)
        return;
    char when[96], moment[48], human[32], other[32];
    snprintf(when, sizeof when, "%s (%.3f s)", vt_torch_moment_name(torch->snapshot, moment, sizeof moment),
             seconds(torch->snapshot->time_ns));
    uint64_t held_bytes = 0, held_count = 0;
    for (size_t d = 0; d < torch->device_count; d++) {
        const struct vt_report_torch_device *device = &torch->devices[d];
        const struct vt_torch_device_summary *summary = &device->summary;
        uint64_t outside_bytes, outside_count, used, beyond;
        memory_totals(&device->outside, &outside_bytes, &outside_count);
        held_bytes += device->outside.torch_bytes;
        held_count += device->outside.torch_count;
        vt_torch_print_summary(out, summary, when);
        if (driver_beyond(device, &used, &beyond))
            fprintf(out, "  the driver reported %s used of %s on device %d; %s beyond the process's CUDA allocations "
                         "(contexts, other processes)\n",
                    vt_format_bytes(used, human, sizeof human),
                    vt_format_bytes(summary->driver_total_bytes, other, sizeof other), summary->device,
                    vt_format_bytes(beyond, moment, sizeof moment));
        fprintf(out, "  outside PyTorch's allocator on device %d: %llu byte(s) (%s) in %llu allocation(s)%s\n\n",
                summary->device, (unsigned long long)outside_bytes, vt_format_bytes(outside_bytes, human, sizeof human),
                (unsigned long long)outside_count, outside_count ? " (by stack under the memory kinds below)" : "");
        uint64_t bytes = 0, count = 0;
        for (size_t i = 0; i < torch->tensors.group_count; i++)
            if (torch->tensors.groups[i].device == summary->device) {
                bytes += torch->tensors.groups[i].bytes;
                count += torch->tensors.groups[i].count;
            }
        if (count == 0)
            fprintf(out, "Tensors on device %d: %s\n\n", summary->device, torch->leaked ? "no leaks" : "none");
        else
            fprintf(out, "Tensors on device %d: %llu byte(s) (%s) %s in %llu tensor(s)\n\n", summary->device,
                    (unsigned long long)bytes, vt_format_bytes(bytes, human, sizeof human),
                    torch->leaked ? "still allocated at exit (leaked)" : "live", (unsigned long long)count);
        text_tensor_groups(text, &torch->tensors, summary->device, torch->leaked ? "Leak" : "Live");
    }
    fprintf(out, "CUDA memory held in PyTorch's segments %s: %llu byte(s) (%s) in %llu allocation(s): its cache, "
                 "not %s (its tensors are above). The CUDA memory below is outside PyTorch's allocator.\n\n",
            torch->leaked ? "at exit" : "then", (unsigned long long)held_bytes,
            vt_format_bytes(held_bytes, human, sizeof human), (unsigned long long)held_count,
            torch->leaked ? "leaks" : "tensors");
}

/* PyTorch's view of its first out-of-memory: the failing request and its line, the cache's free
 * and fragmented bytes, and the largest live tensors with their lines. */
static void text_torch_out_of_memory(const struct text_output *text)
{
    FILE *out = text->out;
    const struct vt_report_torch_oom *oom = &text->report->torch_oom;
    if (!oom->snapshot)
        return;
    char human[32], line[1024];
    fprintf(out, "PyTorch's view of the out-of-memory (its snapshot at %.3f s):\n", seconds(oom->snapshot->time_ns));
    if (oom->snapshot->oom_requested_bytes) {
        fprintf(out, "The failing request: %llu byte(s) (%s) on device %d",
                (unsigned long long)oom->snapshot->oom_requested_bytes,
                vt_format_bytes(oom->snapshot->oom_requested_bytes, human, sizeof human), oom->snapshot->oom_device);
        if (vt_torch_user_line(text->report->model, oom->snapshot->oom_stack_id, line, sizeof line))
            fprintf(out, ", at %s", line);
        fprintf(out, ":\n");
        if (oom->snapshot->oom_stack_id)
            text_stack(text, oom->snapshot->oom_stack_id);
        fputc('\n', out);
    }
    vt_torch_print_summary(out, &oom->summary, "then");
    fputc('\n', out);
    fprintf(out, "Live tensors on device %d then: %llu byte(s) (%s) in %llu tensor(s), largest first:\n\n",
            oom->summary.device, (unsigned long long)oom->tensors.bytes,
            vt_format_bytes(oom->tensors.bytes, human, sizeof human), (unsigned long long)oom->tensors.count);
    text_tensor_groups(text, &oom->tensors, oom->summary.device, "Live");
}

static void text_live(const struct text_output *text)
{
    FILE *out = text->out;
    const struct vt_report *report = text->report;
    const struct vt_groups *live = &report->live;
    bool at = report->options.at_time;
    char human[32], moment[64];
    snprintf(moment, sizeof moment, "at %.3f s", seconds(report->live_time_ns));
    if (at && report->live_time_ns > report->model->duration_ns)
        fprintf(out, "Live %s (after the end of the trace, at %.3f s):\n\n", moment, seconds(report->model->duration_ns));
    else if (at)
        fprintf(out, "Live %s:\n\n", moment);
    for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++) {
        if (kind == VT_KIND_MAPPED_RANGE)
            continue;
        bool reserved = kind == VT_KIND_ADDRESS_SPACE;
        uint64_t bytes = live->bytes_by_kind[kind], count = live->count_by_kind[kind];
        if (count == 0) {
            if (reserved)
                continue;
            if (at)
                fprintf(out, "%s: nothing live %s\n\n", kind_title(kind), moment);
            else
                fprintf(out, "%s: no leaks\n\n", kind_title(kind));
            continue;
        }
        const char *verb = reserved ? (at ? "reserved (not memory use)" : "still reserved (not memory use)")
                                    : (at ? "live" : "leaked");
        fprintf(out, "%s: %llu byte(s) (%s) %s%s%s in %llu allocation(s)\n\n", kind_title(kind),
                (unsigned long long)bytes, vt_format_bytes(bytes, human, sizeof human), verb, at ? " " : "",
                at ? moment : "", (unsigned long long)count);
        text_groups(text, live, kind, reserved ? "Reservation" : at ? "Live" : "Leak");
    }
    if (live->incomplete)
        fprintf(out, "(out of memory while grouping: some allocations are missing from the groups above)\n\n");
}

static void text_out_of_memory(const struct text_output *text)
{
    FILE *out = text->out;
    const struct vt_report_oom *oom = &text->report->oom;
    if (oom->failures == 0)
        return;
    char human[32], free_human[32], total_human[32];
    const struct vt_model_event *first = oom->first;
    fprintf(out, "Out of memory: %llu failed allocation(s); the first: %s of %llu byte(s) (%s) on %s %d at %.9f s",
            (unsigned long long)oom->failures, vt_api_name(first->api), (unsigned long long)first->size_bytes,
            vt_format_bytes(first->size_bytes, human, sizeof human), first->device < 0 ? "host" : "device",
            first->device, seconds(first->time_ns));
    if (oom->first_detail->device_total_bytes)
        fprintf(out, "; the device had %s free of %s",
                vt_format_bytes(oom->first_detail->device_free_bytes, free_human, sizeof free_human),
                vt_format_bytes(oom->first_detail->device_total_bytes, total_human, sizeof total_human));
    fprintf(out, ".\nFailed request made from:\n");
    text_stack(text, first->stack_id);
    uint64_t live_bytes, live_count;
    memory_totals(&oom->live, &live_bytes, &live_count);
    fprintf(out, "\nLive on %s %d when it failed: %llu byte(s) (%s) in %llu allocation(s)\n\n",
            first->device < 0 ? "host" : "device", first->device, (unsigned long long)live_bytes,
            vt_format_bytes(live_bytes, human, sizeof human), (unsigned long long)live_count);
    for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++)
        if (vt_kind_is_memory_use(kind))
            text_groups(text, &oom->live, kind, "Live");
    if (oom->live.incomplete)
        fprintf(out, "(out of memory while grouping: some allocations are missing from the groups above)\n\n");
    if (oom->allocations_after_last_failure)
        fprintf(out, "Recovered: %llu allocation(s) succeeded after the last failure.\n",
                (unsigned long long)oom->allocations_after_last_failure);
    else
        fprintf(out, "Not recovered: no allocation succeeded after the last failure.\n");
    fputc('\n', out);
}

static void text_peaks(const struct text_output *text)
{
    FILE *out = text->out;
    const struct vt_report *report = text->report;
    char human[32], where[32];
    fprintf(out, "Peak memory in use:\n");
    for (size_t i = 0; i < report->peak_count; i++) {
        const struct vt_report_peak *peak = &report->peaks[i];
        const struct vt_usage_counter *in_use = &peak->usage.in_use;
        fprintf(out, "  %s: %llu byte(s) (%s) at %.9f s", peak_slot_name(peak->device, where, sizeof where),
                (unsigned long long)in_use->peak_bytes, vt_format_bytes(in_use->peak_bytes, human, sizeof human),
                seconds(in_use->peak_time_ns));
        if (peak->device >= 0)
            fprintf(out, "; peak by kind: device %llu, managed %llu",
                    (unsigned long long)peak->usage.by_kind[VT_KIND_DEVICE].peak_bytes,
                    (unsigned long long)peak->usage.by_kind[VT_KIND_MANAGED].peak_bytes);
        fputc('\n', out);
    }
    if (report->peak_count == 0)
        fprintf(out, "  (no memory was allocated)\n");
    fputc('\n', out);
    for (size_t i = 0; i < report->peak_count; i++) {
        const struct vt_report_peak *peak = &report->peaks[i];
        uint64_t bytes, count;
        memory_totals(&peak->snapshot, &bytes, &count);
        fprintf(out, "Peak snapshot of %s: %llu byte(s) (%s) in %llu allocation(s) live at %.9f s\n\n",
                peak_slot_name(peak->device, where, sizeof where), (unsigned long long)bytes,
                vt_format_bytes(bytes, human, sizeof human), (unsigned long long)count,
                seconds(peak->usage.in_use.peak_time_ns));
        for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++)
            if (vt_kind_is_memory_use(kind))
                text_groups(text, &peak->snapshot, kind, "Live");
    }
}

/* The index of a site in the shown part of `shown_sites` with the same stack, kind and API; -1. */
static long same_site(const struct vt_groups *shown_sites, size_t shown, const struct vt_group *site)
{
    for (size_t i = 0; i < shown && i < shown_sites->group_count; i++) {
        const struct vt_group *other = &shown_sites->groups[i];
        if (other->stack_id == site->stack_id && other->kind == site->kind && other->api == site->api)
            return (long)i;
    }
    return -1;
}

/* Sites numbered from 1; a site already listed in `earlier` (its first `top`) refers to it
 * instead of repeating its stack. */
static void text_sites(const struct text_output *text, const struct vt_groups *sites, const char *title,
                       const struct vt_groups *earlier, const char *earlier_title)
{
    FILE *out = text->out;
    char human[32];
    fprintf(out, "Top allocation sites by %s (whole run):\n\n", title);
    size_t shown = sites->group_count < text->top ? sites->group_count : text->top;
    for (size_t i = 0; i < shown; i++) {
        const struct vt_group *site = &sites->groups[i];
        fprintf(out, "Site #%zu: %llu byte(s) (%s) in %llu allocation(s) of %s memory, %s, allocated from:\n", i + 1,
                (unsigned long long)site->bytes, vt_format_bytes(site->bytes, human, sizeof human),
                (unsigned long long)site->count, vt_memory_kind_name(site->kind), vt_api_name(site->api));
        long listed = earlier ? same_site(earlier, text->top, site) : -1;
        if (listed >= 0)
            fprintf(out, "    (the stack of site #%ld by %s, above)\n", listed + 1, earlier_title);
        else
            text_stack(text, site->stack_id);
        fputc('\n', out);
    }
    if (sites->group_count == 0)
        fprintf(out, "  (no allocations)\n\n");
    else if (sites->group_count > shown)
        fprintf(out, "... and %zu more site(s) (--top %u shows %u)\n\n", sites->group_count - shown, text->top, text->top);
}

static void text_calls(const struct text_output *text)
{
    FILE *out = text->out;
    const struct vt_report *report = text->report;
    const struct vt_accounting_stats *stats = &report->stats;
    fprintf(out, "Calls: %llu allocation(s), %llu free(s), %llu free(s) of unknown addresses, "
                 "%llu failed out of memory; %zu distinct stack(s)\n",
            (unsigned long long)stats->allocations, (unsigned long long)stats->frees,
            (unsigned long long)stats->unknown_frees, (unsigned long long)stats->failed_out_of_memory,
            report->model->stack_count);
    if (stats->zero_byte_requests)
        fprintf(out, "Zero-byte requests: %llu (they succeed and allocate nothing: counted by API, not as "
                     "allocations)\n", (unsigned long long)stats->zero_byte_requests);
    fprintf(out, "Calls by API:");
    for (int api = 0; api < VT_API_COUNT; api++)
        if (stats->calls_by_api[api])
            fprintf(out, " %s=%llu", vt_api_name(api), (unsigned long long)stats->calls_by_api[api]);
    fprintf(out, "\n\n");
}

static void text_summary(const struct text_output *text)
{
    const struct vt_report *report = text->report;
    uint64_t bytes, count;
    vt_report_summary(report, &bytes, &count);
    if (report->options.at_time)
        fprintf(text->out, "SUMMARY: vramtrace: %llu byte(s) live at %.3f s in %llu allocation(s).\n",
                (unsigned long long)bytes, seconds(report->live_time_ns), (unsigned long long)count);
    else
        fprintf(text->out, "SUMMARY: vramtrace: %llu byte(s) leaked in %llu allocation(s).\n",
                (unsigned long long)bytes, (unsigned long long)count);
}

static void render_text(FILE *out, const struct vt_report *report, struct vt_symbolizer *symbolizer, unsigned top)
{
    struct text_output text = {out, report, symbolizer, top};
    text_header(&text);
    text_usage(&text);
    text_torch(&text);
    text_live(&text);
    text_out_of_memory(&text);
    text_torch_out_of_memory(&text);
    text_peaks(&text);
    text_sites(&text, &report->sites_by_bytes, "bytes allocated", NULL, NULL);
    text_sites(&text, &report->sites_by_count, "number of allocations", &report->sites_by_bytes, "bytes");
    text_calls(&text);
    text_summary(&text);
}

/* ---- JSON (docs/report-json.md) --------------------------------------------------------------- */

struct json_output {
    struct vt_json json;
    const struct vt_report *report;
    struct vt_symbolizer *symbolizer;
    unsigned top;
};

static void json_time(struct vt_json *json, const char *key_ns, const char *key_s, uint64_t nanoseconds)
{
    vt_json_uint(json, key_ns, nanoseconds);
    vt_json_seconds(json, key_s, nanoseconds);
}

static void json_device(struct vt_json *json, const char *key, int device)
{
    if (device < 0)
        vt_json_null(json, key);
    else
        vt_json_int(json, key, device);
}

/* One symbol of a recorded frame (docs/report-json.md, "A frame"). */
static void json_frame(struct vt_json *json, uint64_t frame, const struct vt_symbol *symbol)
{
    vt_json_object_begin(json, NULL);
    if (symbol->kind == VT_FRAME_PYTHON)
        vt_json_null(json, "address"); /* a Python frame has none */
    else
        vt_json_hex(json, "address", frame);
    vt_json_string(json, "kind", vt_frame_kind_name(symbol->kind));
    vt_json_string(json, "function", strcmp(symbol->function, "??") ? symbol->function : NULL);
    vt_json_string(json, "file", symbol->source_file);
    if (symbol->source_file)
        vt_json_int(json, "line", symbol->source_line);
    else
        vt_json_null(json, "line");
    vt_json_string(json, "module", symbol->module_path);
    if (symbol->module_path)
        vt_json_hex(json, "module_offset", symbol->module_offset);
    else
        vt_json_null(json, "module_offset");
    vt_json_object_end(json);
}

static void json_stack(struct json_output *output, uint32_t stack_id)
{
    struct vt_json *json = &output->json;
    unsigned depth;
    const uint64_t *frames = vt_model_stack_frames(output->report->model, stack_id, &depth);
    vt_json_uint(json, "stack_id", stack_id);
    vt_json_array_begin(json, "frames");
    for (unsigned i = 0; frames && i < depth; i++)
        for (const struct vt_symbol *symbol = vt_symbolize(output->symbolizer, frames[i]); symbol; symbol = symbol->caller)
            json_frame(json, frames[i], symbol);
    vt_json_array_end(json);
}

static void json_group(struct json_output *output, const struct vt_groups *groups, const struct vt_group *group)
{
    struct vt_json *json = &output->json;
    vt_json_object_begin(json, NULL);
    vt_json_string(json, "kind", vt_memory_kind_name(group->kind));
    vt_json_string(json, "api", vt_api_name(group->api));
    vt_json_uint(json, "bytes", group->bytes);
    vt_json_uint(json, "count", group->count);
    if (group->api == VT_API_cuMemCreate && groups) {
        vt_json_array_begin(json, "mapped_at");
        for (unsigned h = 0; h < group->handles_kept; h++)
            for (size_t m = 0; m < groups->mapping_count; m++)
                if (groups->mappings[m].handle == group->handles[h]) {
                    vt_json_object_begin(json, NULL);
                    vt_json_hex(json, "handle", groups->mappings[m].handle);
                    vt_json_hex(json, "address", groups->mappings[m].address);
                    vt_json_uint(json, "bytes", groups->mappings[m].size_bytes);
                    vt_json_object_end(json);
                }
        vt_json_array_end(json);
    }
    json_stack(output, group->stack_id);
    vt_json_object_end(json);
}

struct json_group_context {
    struct json_output *output;
    const struct vt_groups *groups;
};

static void json_listed_group(const struct vt_group *group, void *context)
{
    const struct json_group_context *listed = context;
    json_group(listed->output, listed->groups, group);
}

/* {"bytes", "count", "kinds": [{"kind", "bytes", "count", "groups": [...], "more_groups": {...}}]}
 * over the kinds `include` accepts. */
static void json_group_set(struct json_output *output, const struct vt_groups *groups, bool (*include)(unsigned kind))
{
    struct vt_json *json = &output->json;
    uint64_t bytes, count;
    memory_totals(groups, &bytes, &count);
    vt_json_uint(json, "bytes", bytes);
    vt_json_uint(json, "count", count);
    vt_json_bool(json, "incomplete", groups->incomplete);
    vt_json_array_begin(json, "kinds");
    for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++) {
        if (!include(kind))
            continue;
        vt_json_object_begin(json, NULL);
        vt_json_string(json, "kind", vt_memory_kind_name(kind));
        vt_json_bool(json, "memory_use", vt_kind_is_memory_use(kind));
        vt_json_uint(json, "bytes", groups->bytes_by_kind[kind]);
        vt_json_uint(json, "count", groups->count_by_kind[kind]);
        vt_json_array_begin(json, "groups");
        struct json_group_context context = {output, groups};
        struct vt_groups_rest rest = vt_groups_top(groups, kind, output->top, json_listed_group, &context);
        vt_json_array_end(json);
        vt_json_object_begin(json, "more_groups");
        vt_json_uint(json, "groups", rest.groups);
        vt_json_uint(json, "bytes", rest.bytes);
        vt_json_uint(json, "count", rest.count);
        vt_json_object_end(json);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
}

static bool live_kinds(unsigned kind)
{
    return kind != VT_KIND_MAPPED_RANGE;
}

static bool memory_kinds(unsigned kind)
{
    return vt_kind_is_memory_use(kind);
}

static void json_header(struct json_output *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report *report = output->report;
    const struct vt_trace_model *model = report->model;
    vt_json_string(json, "format", "vramtrace-report");
    vt_json_uint(json, "version", REPORT_JSON_VERSION);
    vt_json_object_begin(json, "trace");
    vt_json_string(json, "path", model->path);
    vt_json_uint(json, "file_bytes", model->file_bytes);
    vt_json_bool(json, "complete", model->complete);
    vt_json_uint(json, "truncated_bytes", model->skipped_bytes);
    vt_json_uint(json, "events", model->event_count);
    vt_json_uint(json, "stacks", model->stack_count);
    vt_json_uint(json, "dropped_events", model->dropped_events);
    json_time(json, "duration_ns", "duration_s", model->duration_ns);
    vt_json_object_end(json);
    const struct vt_model_process *process = &model->process;
    if (!process->present) {
        vt_json_null(json, "process");
    } else {
        vt_json_object_begin(json, "process");
        vt_json_string(json, "program", process->program);
        vt_json_uint(json, "pid", process->pid);
        vt_json_string(json, "host", process->host);
        if (process->rank >= 0)
            vt_json_int(json, "rank", process->rank);
        else
            vt_json_null(json, "rank");
        vt_json_string(json, "command_line", process->command_line);
        vt_json_string(json, "vramtrace_version", process->version);
        vt_json_uint(json, "start_unix_ns", process->start_realtime_ns);
        char when[64] = "";
        time_t started = (time_t)(process->start_realtime_ns / 1000000000u);
        struct tm utc;
        if (gmtime_r(&started, &utc))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
        vt_json_string(json, "start_time_utc", when);
        vt_json_object_end(json);
    }
    vt_json_array_begin(json, "devices");
    for (size_t i = 0; i < model->device_count; i++) {
        const struct vt_model_device *device = &model->devices[i];
        if (report->options.device != VT_GROUPS_ALL_DEVICES && report->options.device != device->ordinal)
            continue;
        vt_json_object_begin(json, NULL);
        vt_json_int(json, "ordinal", device->ordinal);
        vt_json_string(json, "name", device->name);
        vt_json_uint(json, "total_bytes", device->total_bytes);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
    vt_json_object_begin(json, "options");
    json_device(json, "device", report->options.device == VT_GROUPS_ALL_DEVICES ? -1 : report->options.device);
    vt_json_uint(json, "top", output->top);
    if (report->options.at_time)
        json_time(json, "at_ns", "at_s", report->options.at_ns);
    else {
        vt_json_null(json, "at_ns");
        vt_json_null(json, "at_s");
    }
    vt_json_object_end(json);
}

static void json_usage(struct json_output *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report *report = output->report;
    vt_json_array_begin(json, "usage");
    for (int slot = 1; slot <= VT_MODEL_SLOT_COUNT; slot++) {
        int shown_slot = slot % VT_MODEL_SLOT_COUNT;
        if (!vt_report_shows_slot(report, shown_slot))
            continue;
        for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++) {
            const struct vt_usage_counter *counter = &report->usage[shown_slot].by_kind[kind];
            if (counter->peak_bytes == 0)
                continue;
            vt_json_object_begin(json, NULL);
            json_device(json, "device", vt_device_of_slot(shown_slot));
            vt_json_string(json, "kind", vt_memory_kind_name(kind));
            vt_json_bool(json, "memory_use", vt_kind_is_memory_use(kind));
            vt_json_uint(json, "end_bytes", counter->current_bytes);
            vt_json_uint(json, "end_count", counter->live_count);
            vt_json_uint(json, "peak_bytes", counter->peak_bytes);
            json_time(json, "peak_time_ns", "peak_time_s", counter->peak_time_ns);
            vt_json_object_end(json);
        }
    }
    vt_json_array_end(json);
}

static void json_peaks(struct json_output *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report *report = output->report;
    vt_json_array_begin(json, "peaks");
    for (size_t i = 0; i < report->peak_count; i++) {
        const struct vt_report_peak *peak = &report->peaks[i];
        vt_json_object_begin(json, NULL);
        json_device(json, "device", peak->device);
        vt_json_uint(json, "bytes", peak->usage.in_use.peak_bytes);
        json_time(json, "time_ns", "time_s", peak->usage.in_use.peak_time_ns);
        vt_json_object_begin(json, "peak_by_kind");
        for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++)
            if (vt_kind_is_memory_use(kind))
                vt_json_uint(json, vt_memory_kind_name(kind), peak->usage.by_kind[kind].peak_bytes);
        vt_json_object_end(json);
        vt_json_object_begin(json, "snapshot");
        json_group_set(output, &peak->snapshot, memory_kinds);
        vt_json_object_end(json);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
}

static void json_out_of_memory(struct json_output *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report_oom *oom = &output->report->oom;
    if (oom->failures == 0) {
        vt_json_null(json, "out_of_memory");
        return;
    }
    vt_json_object_begin(json, "out_of_memory");
    vt_json_uint(json, "failures", oom->failures);
    vt_json_bool(json, "recovered", oom->allocations_after_last_failure > 0);
    vt_json_uint(json, "allocations_after_last_failure", oom->allocations_after_last_failure);
    vt_json_object_begin(json, "first");
    json_time(json, "time_ns", "time_s", oom->first->time_ns);
    vt_json_string(json, "api", vt_api_name(oom->first->api));
    vt_json_string(json, "kind", vt_memory_kind_name(oom->first->kind));
    json_device(json, "device", oom->first->device);
    vt_json_uint(json, "requested_bytes", oom->first->size_bytes);
    vt_json_uint(json, "device_free_bytes", oom->first_detail->device_free_bytes);
    vt_json_uint(json, "device_total_bytes", oom->first_detail->device_total_bytes);
    json_stack(output, oom->first->stack_id);
    vt_json_object_begin(json, "live");
    json_group_set(output, &oom->live, memory_kinds);
    vt_json_object_end(json);
    vt_json_object_end(json);
    vt_json_object_end(json);
}

static void json_sites(struct json_output *output, const char *key, const struct vt_groups *sites)
{
    struct vt_json *json = &output->json;
    vt_json_array_begin(json, key);
    for (size_t i = 0; i < sites->group_count && i < output->top; i++)
        json_group(output, NULL, &sites->groups[i]);
    vt_json_array_end(json);
}

static void json_calls(struct json_output *output)
{
    struct vt_json *json = &output->json;
    const struct vt_accounting_stats *stats = &output->report->stats;
    vt_json_object_begin(json, "calls");
    vt_json_uint(json, "allocations", stats->allocations);
    vt_json_uint(json, "frees", stats->frees);
    vt_json_uint(json, "unknown_frees", stats->unknown_frees);
    vt_json_uint(json, "failed_out_of_memory", stats->failed_out_of_memory);
    vt_json_uint(json, "zero_byte_requests", stats->zero_byte_requests);
    vt_json_object_begin(json, "by_api");
    for (int api = 0; api < VT_API_COUNT; api++)
        if (stats->calls_by_api[api])
            vt_json_uint(json, vt_api_name(api), stats->calls_by_api[api]);
    vt_json_object_end(json);
    vt_json_object_end(json);
}

/* ---- JSON: the PyTorch layer ------------------------------------------------------------------- */

static void json_user_frame(struct json_output *output, uint32_t stack_id)
{
    struct vt_json *json = &output->json;
    struct vt_user_frame frame;
    if (!vt_torch_user_frame(output->report->model, stack_id, &frame)) {
        vt_json_null(json, "user_frame");
        return;
    }
    vt_json_object_begin(json, "user_frame");
    vt_json_string(json, "function", frame.function_name);
    vt_json_string(json, "file", frame.file_name);
    vt_json_int(json, "line", frame.line);
    vt_json_object_end(json);
}

static void json_torch_summary(struct vt_json *json, const struct vt_torch_device_summary *summary)
{
    vt_json_int(json, "device", summary->device);
    vt_json_uint(json, "reserved_bytes", summary->reserved_bytes);
    vt_json_uint(json, "segment_count", summary->segment_count);
    vt_json_uint(json, "tensor_bytes", summary->tensor_bytes);
    vt_json_uint(json, "tensor_count", summary->tensor_count);
    vt_json_uint(json, "cached_free_bytes", summary->cached_free_bytes);
    vt_json_uint(json, "largest_free_block_bytes", summary->largest_free_block);
    vt_json_uint(json, "fragmented_bytes", vt_torch_fragmented_bytes(summary));
    vt_json_uint(json, "driver_free_bytes", summary->driver_free_bytes);
    vt_json_uint(json, "driver_total_bytes", summary->driver_total_bytes);
}

/* {"bytes", "count", "groups": [...], "more_groups": {...}}: tensors by stack, of `device` or all. */
static void json_tensor_groups(struct json_output *output, const char *key, const struct vt_torch_groups *groups)
{
    struct vt_json *json = &output->json;
    vt_json_object_begin(json, key);
    vt_json_uint(json, "bytes", groups->bytes);
    vt_json_uint(json, "count", groups->count);
    vt_json_array_begin(json, "groups");
    uint64_t rest_groups = 0, rest_bytes = 0, rest_count = 0;
    for (size_t i = 0; i < groups->group_count; i++) {
        const struct vt_torch_group *group = &groups->groups[i];
        if (i >= output->top) {
            rest_groups++;
            rest_bytes += group->bytes;
            rest_count += group->count;
            continue;
        }
        vt_json_object_begin(json, NULL);
        vt_json_int(json, "device", group->device);
        vt_json_uint(json, "bytes", group->bytes);
        vt_json_uint(json, "requested_bytes", group->requested_bytes);
        vt_json_uint(json, "count", group->count);
        json_user_frame(output, group->stack_id);
        json_stack(output, group->stack_id);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
    vt_json_object_begin(json, "more_groups");
    vt_json_uint(json, "groups", rest_groups);
    vt_json_uint(json, "bytes", rest_bytes);
    vt_json_uint(json, "count", rest_count);
    vt_json_object_end(json);
    vt_json_object_end(json);
}

static void json_torch_moment(struct vt_json *json, const struct vt_model_torch_snapshot *snapshot)
{
    static const char *const moments[] = {"other", "exit", "out_of_memory", "live_dump"};
    vt_json_uint(json, "snapshot", snapshot->number);
    vt_json_string(json, "moment", snapshot->moment < 4 ? moments[snapshot->moment] : "other");
    if (snapshot->moment == VT_TORCH_AT_DUMP)
        vt_json_uint(json, "dump_number", snapshot->dump_number);
    else
        vt_json_null(json, "dump_number");
    json_time(json, "time_ns", "time_s", snapshot->time_ns);
}

static void json_torch_devices(struct json_output *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report_torch *torch = &output->report->torch;
    vt_json_array_begin(json, "devices");
    for (size_t d = 0; d < torch->device_count; d++) {
        const struct vt_report_torch_device *device = &torch->devices[d];
        uint64_t outside_bytes, outside_count, used, beyond;
        memory_totals(&device->outside, &outside_bytes, &outside_count);
        vt_json_object_begin(json, NULL);
        json_torch_summary(json, &device->summary);
        vt_json_uint(json, "cuda_live_bytes", device->cuda_live_bytes);
        if (driver_beyond(device, &used, &beyond))
            vt_json_uint(json, "driver_used_beyond_cuda_bytes", beyond);
        else
            vt_json_null(json, "driver_used_beyond_cuda_bytes");
        vt_json_uint(json, "held_in_segments_bytes", device->outside.torch_bytes);
        vt_json_uint(json, "held_in_segments_count", device->outside.torch_count);
        vt_json_uint(json, "outside_torch_bytes", outside_bytes);
        vt_json_uint(json, "outside_torch_count", outside_count);
        vt_json_array_begin(json, "outside_torch_groups");
        for (size_t i = 0; i < device->outside.group_count && i < output->top; i++)
            if (vt_kind_is_memory_use(device->outside.groups[i].kind))
                json_group(output, &device->outside, &device->outside.groups[i]);
        vt_json_array_end(json);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
}

static void json_torch_out_of_memory(struct json_output *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report_torch_oom *oom = &output->report->torch_oom;
    if (!oom->snapshot) {
        vt_json_null(json, "out_of_memory");
        return;
    }
    vt_json_object_begin(json, "out_of_memory");
    json_torch_moment(json, oom->snapshot);
    vt_json_uint(json, "requested_bytes", oom->snapshot->oom_requested_bytes);
    json_user_frame(output, oom->snapshot->oom_stack_id);
    json_stack(output, oom->snapshot->oom_stack_id);
    vt_json_object_begin(json, "allocator");
    json_torch_summary(json, &oom->summary);
    vt_json_object_end(json);
    json_tensor_groups(output, "tensors", &oom->tensors);
    vt_json_object_end(json);
}

/* "torch" (docs/report-json.md): only in reports of traces with PyTorch's snapshots. */
static void json_torch(struct json_output *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report *report = output->report;
    if (report->model->torch_snapshot_count == 0)
        return;
    vt_json_object_begin(json, "torch");
    vt_json_array_begin(json, "snapshots");
    for (size_t i = 0; i < report->model->torch_snapshot_count; i++) {
        const struct vt_model_torch_snapshot *snapshot = &report->model->torch_snapshots[i];
        vt_json_object_begin(json, NULL);
        json_torch_moment(json, snapshot);
        vt_json_bool(json, "history", snapshot->flags & VT_TORCH_HISTORY);
        vt_json_uint(json, "cost_ns", snapshot->cost_ns);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
    if (!report->torch.snapshot) {
        vt_json_null(json, "at");
    } else {
        vt_json_object_begin(json, "at");
        json_torch_moment(json, report->torch.snapshot);
        vt_json_string(json, "what", report->torch.leaked ? "leaked" : "live");
        json_torch_devices(output);
        json_tensor_groups(output, "tensors", &report->torch.tensors);
        vt_json_object_end(json);
    }
    json_torch_out_of_memory(output);
    vt_json_object_end(json);
}

static void render_json(FILE *out, const struct vt_report *report, struct vt_symbolizer *symbolizer, unsigned top)
{
    struct json_output output = {.report = report, .symbolizer = symbolizer, .top = top};
    struct vt_json *json = &output.json;
    vt_json_start(json, out);
    vt_json_object_begin(json, NULL);
    json_header(&output);
    json_usage(&output);
    vt_json_object_begin(json, "live");
    vt_json_string(json, "at", report->options.at_time ? "time" : "end");
    json_time(json, "time_ns", "time_s", report->live_time_ns);
    json_group_set(&output, &report->live, live_kinds);
    vt_json_object_end(json);
    json_peaks(&output);
    json_out_of_memory(&output);
    vt_json_object_begin(json, "top_sites");
    json_sites(&output, "by_bytes", &report->sites_by_bytes);
    json_sites(&output, "by_count", &report->sites_by_count);
    vt_json_object_end(json);
    json_calls(&output);
    json_torch(&output);
    uint64_t bytes, count;
    vt_report_summary(report, &bytes, &count);
    vt_json_object_begin(json, "summary");
    vt_json_string(json, "what", report->options.at_time ? "live" : "leaked");
    vt_json_uint(json, "bytes", bytes);
    vt_json_uint(json, "count", count);
    vt_json_object_end(json);
    vt_json_object_end(json);
    vt_json_finish(json);
}

/* ---- the command ------------------------------------------------------------------------------ */

int vt_cmd_report(int argc, char **argv)
{
    struct report_settings settings;
    int early = parse_arguments(argc, argv, &settings);
    if (early >= 0)
        return early;

    struct vt_trace_model model;
    if (!vt_cli_load_trace(&model, settings.path, COMMAND, true))
        return VT_CLI_EXIT_UNREADABLE;
    if (!vt_cli_device_in_trace(&model, settings.report.device, COMMAND)) {
        vt_model_free(&model);
        return VT_CLI_EXIT_USAGE;
    }
    bool long_work = isatty(STDERR_FILENO) && model.event_count >= LONG_REPLAY_EVENTS;
    if (long_work) {
        fprintf(stderr, "vramtrace: replaying %zu events...", model.event_count);
        fflush(stderr);
    }
    struct vt_report report = {0};
    struct vt_symbolizer *symbolizer = vt_cli_open_symbolizer(&model, COMMAND);
    if (!symbolizer || !vt_report_build(&report, &model, &settings.report)) {
        if (symbolizer)
            fprintf(stderr, "vramtrace " COMMAND ": out of memory while reporting %s\n", settings.path);
        vt_report_free(&report);
        vt_symbolizer_close(symbolizer);
        vt_model_free(&model);
        return VT_CLI_EXIT_UNREADABLE;
    }
    if (long_work)
        fprintf(stderr, "\r\033[K");
    if (settings.json)
        render_json(stdout, &report, symbolizer, settings.top);
    else
        render_text(stdout, &report, symbolizer, settings.top);
    fflush(stdout);
    vt_report_free(&report);
    vt_symbolizer_close(symbolizer);
    vt_model_free(&model);
    return 0;
}
