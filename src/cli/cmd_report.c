/* cli/cmd_report.c — `vramtrace report TRACE [OPTIONS]`: reads a trace (complete, cut short by a
 * kill, or still being written) and prints what the exit report says and more: who ran, the
 * devices, usage per device and kind, the leaks grouped by stack (or the live set at --at), each
 * device's peak with exactly what was live then, the out-of-memory state, the top allocation
 * sites, and the SUMMARY line — as text shaped like the exit report, or as JSON
 * (docs/report-json.md). With PyTorch's snapshots in the trace (docs/pytorch.md) it adds the tensor
 * layer — per device reserved = tensors + cached free, fragmentation, the driver's view; tensors by
 * stack with their Python line; PyTorch's OOM — and leaves PyTorch's cache out of the leaks, as the
 * exit report does. The content is computed by src/trace/trace_report.c; report_text.c and
 * report_json.c render it. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "common/options.h"
#include "report_render.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define COMMAND "report"
#define MAX_TOP 1000000
#define LONG_REPLAY_EVENTS 3000000 /* the snapshots' replays may take a second: say so on a terminal */

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

/* ---- the command ------------------------------------------------------------------------------ */

int vt_cmd_report(int argc, char **argv)
{
    struct report_settings settings;
    int early = parse_arguments(argc, argv, &settings);
    if (early >= 0)
        return early;

    /* the whole run is replayed as the trace loads: one pass over the file */
    struct vt_trace_model model;
    struct vt_report report;
    struct vt_report_pass pass;
    int loaded = vt_cli_load_trace_for_report(&model, &report, &pass, settings.path, COMMAND, &settings.report);
    if (loaded >= 0)
        return loaded;
    bool long_work = isatty(STDERR_FILENO) && model.event_count >= LONG_REPLAY_EVENTS;
    if (long_work) {
        fprintf(stderr, "vramtrace: taking the snapshots...");
        fflush(stderr);
    }
    struct vt_symbolizer *symbolizer = vt_cli_open_symbolizer(&model, COMMAND);
    if (!symbolizer)
        vt_report_pass_drop(&pass);
    if (!symbolizer || !vt_report_pass_finish(&pass)) {
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
        vt_report_render_json(stdout, &report, symbolizer, settings.top);
    else
        vt_report_render_text(stdout, &report, symbolizer, settings.top);
    fflush(stdout);
    vt_report_free(&report);
    vt_symbolizer_close(symbolizer);
    vt_model_free(&model);
    return 0;
}
