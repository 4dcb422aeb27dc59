/* cli/cmd_top.c — `vramtrace top TRACE`: a live view of a trace that is still being written (or a
 * finished one): per device the memory in use now, the peak so far and the allocation sites with
 * the most live bytes. Re-reads the trace every --interval (the reader stops at the last complete
 * chunk, so a trace in the middle of a write is fine); clears the screen between frames when
 * stdout is a terminal. Exits after the frame that shows the END record, on Ctrl-C, or after one
 * frame with --once. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "common/format.h"
#include "common/options.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COMMAND "top"
#define DEFAULT_INTERVAL "1"
#define MIN_INTERVAL_NS 10000000u /* 10 ms */
#define MAX_TOP 1000
#define SITE_FRAMES 4             /* frames shown per site, innermost first */
#define CLEAR_SCREEN "\033[H\033[2J"

enum top_option { OPTION_INTERVAL, OPTION_ONCE, OPTION_TOP };

static const struct vt_cli_option_spec top_options[] = {
    {"--interval", 0, true, OPTION_INTERVAL},
    {"--once", 0, false, OPTION_ONCE},
    {"--top", 0, true, OPTION_TOP},
    {"--device", 0, true, VT_CLI_DEVICE_ID},
    {NULL, 0, false, 0},
};

struct top_settings {
    struct vt_cli_common_arguments common; /* the trace, --device */
    uint64_t interval_ns;
    bool once;
    unsigned top;
};

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace top TRACE [--interval S] [--once] [--top N] [--device N]\n"
            "\n"
            "Shows, refreshed every second, what a trace that is still being written says now: per\n"
            "device the memory in use, the peak so far, and the allocation sites (call stack and\n"
            "API) holding the most live memory. The trace is re-read at each refresh up to its last\n"
            "complete chunk (the writer flushes at least every 100 ms). Exits once the trace has its\n"
            "END record (the process ended), after showing it, or on Ctrl-C.\n"
            "\n"
            "Options:\n"
            "  --interval S   seconds between refreshes (default 1; units: ms, s, m)\n"
            "  --once         print one frame and exit\n"
            "  --top N        sites shown per device (default %u)\n"
            "  --device N     only device N\n"
            "  -h, --help     show this help\n"
            "\n"
            "Exit status: 0 done, 1 the trace cannot be read, 2 usage error.\n"
            "\n"
            "Example:\n"
            "  vramtrace run -o train.trace python3 train.py &   vramtrace top train.trace\n",
            VT_DEFAULT_TOP);
}

static int parse_arguments(int argc, char **argv, struct top_settings *settings)
{
    *settings = (struct top_settings){.top = VT_DEFAULT_TOP};
    vt_cli_common_start(&settings->common, 1);
    vt_cli_parse_time(DEFAULT_INTERVAL, "s", &settings->interval_ns);
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, top_options);
    const struct vt_cli_option_spec *option;
    const char *value;
    int status;
    uint64_t number;
    while (vt_cli_next_own_option(&parser, &settings->common, print_help, &option, &value, &status)) {
        switch (option->id) {
        case OPTION_INTERVAL:
            if (!vt_cli_parse_time(value, "s", &settings->interval_ns) || settings->interval_ns < MIN_INTERVAL_NS)
                return vt_cli_usage_error(COMMAND, "--interval '%s' is not valid; accepted: seconds (1, 0.5) or a "
                                          "number with a unit (250ms), at least 10 ms",
                                          value);
            break;
        case OPTION_ONCE:
            settings->once = true;
            break;
        case OPTION_TOP:
            if (!vt_parse_count(value, 0, MAX_TOP, &number))
                return vt_cli_usage_error(COMMAND, "--top '%s' is not valid; accepted: a whole number from 0 to %d",
                                          value, MAX_TOP);
            settings->top = (unsigned)number;
            break;
        }
    }
    return vt_cli_end_of_arguments(COMMAND, status, &settings->common, "vramtrace top TRACE");
}

/* ---- one frame ------------------------------------------------------------------------------- */

static int by_bytes(const void *a, const void *b)
{
    const struct vt_group *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return (x->stack_id > y->stack_id) - (x->stack_id < y->stack_id);
}

/* "load_weights < main < __libc_start_call_main < _start" */
static void print_site_frames(FILE *out, const struct vt_trace_model *model, struct vt_symbolizer *symbolizer,
                              uint32_t stack_id)
{
    unsigned depth = 0;
    const uint64_t *frames = vt_model_stack_frames(model, stack_id, &depth);
    if (!frames) {
        fputs(stack_id ? "(stack not in the trace)" : "(no stack recorded)", out);
        return;
    }
    char name[512];
    unsigned shown = 0;
    for (unsigned i = 0; i < depth; i++)
        for (const struct vt_symbol *symbol = vt_symbolize(symbolizer, frames[i]); symbol; symbol = symbol->caller) {
            if (shown == SITE_FRAMES) {
                fputs(" < ...", out);
                return;
            }
            fprintf(out, "%s%s", shown++ ? " < " : "", vt_cli_symbol_name(symbol, frames[i], name, sizeof name));
        }
}

static void print_sites(FILE *out, const struct vt_replay *replay, struct vt_symbolizer *symbolizer, int device,
                        unsigned top)
{
    struct vt_groups groups;
    vt_groups_collect_live(&groups, replay, device);
    size_t memory_groups = 0;
    for (size_t i = 0; i < groups.group_count; i++)
        if (vt_kind_is_memory_use(groups.groups[i].kind))
            groups.groups[memory_groups++] = groups.groups[i];
    if (groups.groups)
        qsort(groups.groups, memory_groups, sizeof *groups.groups, by_bytes);
    if (memory_groups && top)
        fprintf(out, "  %14s %10s %7s  %-11s %-18s %s\n", "LIVE BYTES", "", "COUNT", "KIND", "API",
                "SITE (innermost frame first)");
    char human[32];
    for (size_t i = 0; i < memory_groups && i < top; i++) {
        const struct vt_group *group = &groups.groups[i];
        fprintf(out, "  %14" PRIu64 " %10s %7" PRIu64 "  %-11s %-18s ", group->bytes,
                vt_format_bytes(group->bytes, human, sizeof human), group->count, vt_memory_kind_name(group->kind),
                vt_api_name(group->api));
        print_site_frames(out, replay->model, symbolizer, group->stack_id);
        fputc('\n', out);
    }
    if (memory_groups > top)
        fprintf(out, "  ... and %zu more site(s)\n", memory_groups - top);
    vt_groups_free(&groups);
}

static void print_header(FILE *out, const struct vt_trace_model *model, const struct top_settings *settings)
{
    const struct vt_model_process *process = &model->process;
    if (process->present)
        fprintf(out, "vramtrace top: %s (pid %" PRIu64 "), trace %s\n", process->program, process->pid, model->path);
    else
        fprintf(out, "vramtrace top: trace %s\n", model->path);
    fprintf(out, "%.3f s recorded, %zu event(s); ", (double)model->duration_ns / 1e9, model->event_count);
    if (model->complete && !model->dropped_events)
        fprintf(out, "the process ended (the trace is complete)\n");
    else if (model->complete)
        fprintf(out, "the process ended (the trace is INCOMPLETE: events were lost)\n");
    else if (settings->once)
        fprintf(out, "no END record yet: still running, or killed\n");
    else
        fprintf(out, "no END record yet: still running, or killed (refreshing every %.3g s; Ctrl-C quits)\n",
                (double)settings->interval_ns / 1e9);
    if (model->skipped_bytes && !model->complete)
        fprintf(out, "(the last %" PRIu64 " byte(s) of the file are not a complete chunk yet)\n", model->skipped_bytes);
    char lost[256];
    if (model->dropped_events)
        fprintf(out, "Lost: %s\n", vt_format_lost_events(model->dropped_events, lost, sizeof lost));
}

static void print_frame(FILE *out, const struct vt_trace_model *model, struct vt_symbolizer *symbolizer,
                        const struct top_settings *settings)
{
    struct vt_replay replay;
    vt_replay_start(&replay, model, true);
    vt_replay_all(&replay, NULL, NULL);
    print_header(out, model, settings);
    if (replay.accounting.oom.failures)
        fprintf(out, "Out of memory: %" PRIu64 " failed allocation(s), the last at %.3f s%s\n", replay.accounting.oom.failures,
                (double)model->events[replay.accounting.oom.last_event].time_ns / 1e9,
                replay.accounting.oom.allocations_after_last_failure ? " (recovered since)" : "");
    int slots[VT_MODEL_SLOT_COUNT];
    size_t slot_count = vt_cli_used_slots(&replay, settings->common.device, slots);
    char where[32], human[32], peak_human[32], total_human[32];
    for (size_t i = 0; i < slot_count; i++) {
        int device = vt_device_of_slot(slots[i]);
        const struct vt_usage_counter *in_use = &replay.accounting.usage[slots[i]].in_use;
        const struct vt_model_device *info = device >= 0 ? vt_model_find_device(model, device) : NULL;
        fprintf(out, "\n%s", device < 0 ? "host (pinned)" : vt_cli_device_name(device, where, sizeof where));
        if (info)
            fprintf(out, " (%s, %s)", info->name, vt_format_bytes(info->total_bytes, total_human, sizeof total_human));
        fprintf(out, ": in use %" PRIu64 " byte(s) (%s) in %" PRIu64 " allocation(s); peak %" PRIu64
                     " byte(s) (%s) at %.3f s\n",
                in_use->current_bytes, vt_format_bytes(in_use->current_bytes, human, sizeof human), in_use->live_count,
                in_use->peak_bytes, vt_format_bytes(in_use->peak_bytes, peak_human, sizeof peak_human),
                (double)in_use->peak_time_ns / 1e9);
        print_sites(out, &replay, symbolizer, device, settings->top);
    }
    if (slot_count == 0)
        fprintf(out, "\n(no GPU memory allocated yet)\n");
    vt_replay_finish(&replay);
}

/* ---- the loop -------------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void request_stop(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

/* Sleeps `nanoseconds` unless Ctrl-C comes first. */
static void pause_between_frames(uint64_t nanoseconds)
{
    struct timespec remaining = {(time_t)(nanoseconds / 1000000000u), (long)(nanoseconds % 1000000000u)};
    while (!stop_requested && nanosleep(&remaining, &remaining) != 0 && errno == EINTR)
        ;
}

/* Loads and shows one frame; returns -1 to go on, else the exit status. */
static int show_frame(const struct top_settings *settings, bool first, bool terminal)
{
    struct vt_trace_model model;
    if (!vt_cli_load_trace(&model, settings->common.traces[0], COMMAND, first && settings->once))
        return VT_CLI_EXIT_UNREADABLE;
    int status = -1;
    if (first && !vt_cli_device_in_trace(&model, settings->common.device, COMMAND)) {
        status = VT_CLI_EXIT_USAGE;
    } else {
        struct vt_symbolizer *symbolizer = vt_cli_open_symbolizer(&model, COMMAND);
        if (!symbolizer) {
            status = VT_CLI_EXIT_UNREADABLE;
        } else {
            if (terminal)
                fputs(CLEAR_SCREEN, stdout);
            else if (!first)
                fputs("\n", stdout);
            print_frame(stdout, &model, symbolizer, settings);
            fflush(stdout);
            vt_symbolizer_close(symbolizer);
            if (settings->once || model.complete)
                status = 0;
        }
    }
    if (status == 0 && model.complete && !settings->once)
        vt_model_warn_gaps(&model, stderr);
    vt_model_free(&model);
    return status;
}

int vt_cmd_top(int argc, char **argv)
{
    struct top_settings settings;
    int early = parse_arguments(argc, argv, &settings);
    if (early >= 0)
        return early;
    struct sigaction action = {.sa_handler = request_stop};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    bool terminal = isatty(STDOUT_FILENO);
    for (bool first = true;; first = false) {
        int status = show_frame(&settings, first, terminal);
        if (status >= 0)
            return status;
        pause_between_frames(settings.interval_ns);
        if (stop_requested)
            return 0;
    }
}
