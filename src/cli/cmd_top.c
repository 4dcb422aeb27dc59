/* cli/cmd_top.c — `vramtrace top TRACE`: a live view of a trace that is still being written (or a
 * finished one): per device the memory in use now, the peak so far and the allocation sites with
 * the most live bytes. Follows the trace (vt_model_follow_*): each refresh reads only the chunks
 * appended since the last one and goes on with the same replay, so a refresh costs what the new
 * events cost; the events are streamed as the other analysis commands' are (trace/event_store.h),
 * so memory follows the live set, not the number of events. Waits for a trace that does not exist
 * yet. On a terminal: clears the screen between frames, fits each line to the terminal's width
 * (re-read on SIGWINCH) and reads keys without waiting for Enter (`q` quits; the terminal's
 * settings are restored on every way out). Exits after the frame that shows the END record, on
 * `q`, Ctrl-C, SIGTERM or SIGHUP, or after one frame with --once. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "trace/index_file.h"
#include "commands.h"
#include "common/format.h"
#include "common/options.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
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
            "API) holding the most live memory. Each refresh reads what was appended to the trace since\n"
            "the last one, up to its last complete chunk (the writer flushes at least every 100 ms).\n"
            "A trace that does not exist yet is waited for (not with --once). Exits once the trace has\n"
            "its END record (the process ended), after showing it, or on q or Ctrl-C. On a terminal\n"
            "lines are cut to its width (elsewhere to $COLUMNS when set).\n"
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

static void print_header(FILE *out, const struct vt_trace_model *model, const struct top_settings *settings,
                         bool keys)
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
        fprintf(out, "no END record yet: still running, or killed (refreshing every %.3g s; %s quits)\n",
                (double)settings->interval_ns / 1e9, keys ? "q" : "Ctrl-C");
    if (model->skipped_bytes && !model->complete)
        fprintf(out, "(the last %" PRIu64 " byte(s) of the file are not a complete chunk yet)\n", model->skipped_bytes);
    char lost[256];
    if (model->dropped_events)
        fprintf(out, "Lost: %s\n", vt_format_lost_events(model->dropped_events, lost, sizeof lost));
}

/* The frame of what `replay` has applied (every event of its model); last_oom_time_ns: the time of
 * its last out-of-memory failure, if any. */
static void print_frame(FILE *out, const struct vt_replay *replay, uint64_t last_oom_time_ns,
                        struct vt_symbolizer *symbolizer, const struct top_settings *settings, bool keys)
{
    const struct vt_trace_model *model = replay->model;
    print_header(out, model, settings, keys);
    if (replay->accounting.oom.failures)
        fprintf(out, "Out of memory: %" PRIu64 " failed allocation(s), the last at %.3f s%s\n", replay->accounting.oom.failures,
                (double)last_oom_time_ns / 1e9,
                replay->accounting.oom.allocations_after_last_failure ? " (recovered since)" : "");
    int slots[VT_MODEL_SLOT_COUNT];
    size_t slot_count = vt_cli_used_slots(replay, settings->common.device, slots);
    char where[32], human[32], peak_human[32], total_human[32];
    for (size_t i = 0; i < slot_count; i++) {
        int device = vt_device_of_slot(slots[i]);
        const struct vt_usage_counter *in_use = &replay->accounting.usage[slots[i]].in_use;
        const struct vt_model_device *info = device >= 0 ? vt_model_find_device(model, device) : NULL;
        fprintf(out, "\n%s", device < 0 ? "host (pinned)" : vt_cli_device_name(device, where, sizeof where));
        if (info)
            fprintf(out, " (%s, %s)", info->name, vt_format_bytes(info->total_bytes, total_human, sizeof total_human));
        fprintf(out, ": in use %" PRIu64 " byte(s) (%s) in %" PRIu64 " allocation(s); peak %" PRIu64
                     " byte(s) (%s) at %.3f s\n",
                in_use->current_bytes, vt_format_bytes(in_use->current_bytes, human, sizeof human), in_use->live_count,
                in_use->peak_bytes, vt_format_bytes(in_use->peak_bytes, peak_human, sizeof peak_human),
                (double)in_use->peak_time_ns / 1e9);
        print_sites(out, replay, symbolizer, device, settings->top);
    }
    if (slot_count == 0)
        fprintf(out, "\n(no GPU memory allocated yet)\n");
}

/* ---- fitting the terminal ------------------------------------------------------------------ */

#define ELLIPSIS "\xe2\x80\xa6" /* "…" */

/* The width lines are cut to: the terminal's (TIOCGWINSZ), else $COLUMNS; 0 = no limit. */
static unsigned output_columns(bool terminal)
{
    struct winsize size;
    if (terminal && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    uint64_t columns;
    const char *text = getenv("COLUMNS");
    if (text && vt_parse_count(text, 1, 100000, &columns))
        return (unsigned)columns;
    return 0;
}

/* Writes `text` with every line longer than `columns` characters (UTF-8 code points, not bytes)
 * cut to columns - 1 of them and "…"; columns 0 writes it as it is. */
static void write_fitted(FILE *out, const char *text, size_t length, unsigned columns)
{
    const char *end = text + length;
    while (text < end) {
        const char *line_end = memchr(text, '\n', (size_t)(end - text));
        if (!line_end)
            line_end = end;
        const char *cut = NULL;
        unsigned shown = 0;
        for (const char *at = text; columns && at < line_end; at++) {
            if (((unsigned char)*at & 0xC0) == 0x80)
                continue; /* a continuation byte: same character */
            if (shown == columns - 1 && !cut)
                cut = at;
            if (++shown > columns)
                break;
        }
        if (columns && shown > columns) {
            fwrite(text, 1, (size_t)(cut - text), out);
            fputs(ELLIPSIS, out);
        } else {
            fwrite(text, 1, (size_t)(line_end - text), out);
        }
        if (line_end < end)
            fputc('\n', out);
        text = line_end + 1;
    }
}

/* ---- keys and signals -------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested, resized;

static void request_stop(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

static void note_resize(int signal_number)
{
    (void)signal_number;
    resized = 1;
}

/* The terminal on stdin, read key by key (non-canonical, no echo) while top runs. */
struct keyboard {
    bool raw;
    struct termios saved;
};

static void keyboard_start(struct keyboard *keyboard)
{
    keyboard->raw = false;
    /* not from the background (`top TRACE &`): changing the terminal there stops us (SIGTTOU) */
    if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) != getpgrp() ||
        tcgetattr(STDIN_FILENO, &keyboard->saved) != 0)
        return;
    struct termios raw = keyboard->saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    keyboard->raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
}

static void keyboard_restore(struct keyboard *keyboard)
{
    if (keyboard->raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &keyboard->saved);
    keyboard->raw = false;
}

/* Waits `nanoseconds`, less if a stop is asked for (q, Ctrl-C, SIGTERM, SIGHUP) or the terminal is
 * resized. */
static void pause_between_frames(const struct keyboard *keyboard, uint64_t nanoseconds)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t deadline = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec + nanoseconds;
    while (!stop_requested && !resized) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t at = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
        if (at >= deadline)
            return;
        struct pollfd input = {.fd = STDIN_FILENO, .events = POLLIN};
        int ready = poll(&input, keyboard->raw ? 1 : 0, (int)((deadline - at + 999999) / 1000000));
        if (ready <= 0)
            continue; /* the time is up, or a signal: checked above */
        char keys[64];
        ssize_t got = read(STDIN_FILENO, keys, sizeof keys);
        for (ssize_t i = 0; i < got; i++)
            if (keys[i] == 'q' || keys[i] == 'Q')
                stop_requested = 1;
        if (got == 0 || (input.revents & (POLLHUP | POLLERR)))
            return; /* the terminal went away: do not spin on it */
    }
}

/* ---- the loop -------------------------------------------------------------------------------- */

struct top_view {
    struct vt_model_follower follower;
    bool opened;
    bool shown;                       /* a frame was shown */
    bool device_checked;              /* --device was checked against the trace */
    struct vt_replay replay;          /* of follower.model, going on across refreshes */
    struct vt_symbolizer *symbolizer; /* reopened when modules or code objects were added */
    size_t symbolized_modules, symbolized_codes;
    /* the last out-of-memory failure's time, looked up when the failures counted change, not at every
     * frame (the events are streamed: an old failure's chunk would be read again each time) */
    uint64_t oom_failures_seen, last_oom_time_ns;
};

enum open_result { OPENED, NOT_THERE_YET, OPEN_FAILED };

/* Opens the trace. Without --once, a trace that does not exist yet (or has no complete file
 * header yet: its writer just created it) is NOT_THERE_YET. */
static enum open_result open_view(struct top_view *view, const struct top_settings *settings)
{
    const char *path = settings->common.traces[0];
    struct stat status;
    if (!settings->once && (stat(path, &status) != 0 ? errno == ENOENT
                                                     : S_ISREG(status.st_mode) &&
                                                           status.st_size < VT_TRACE_FILE_HEADER_BYTES))
        return NOT_THERE_YET;
    char error[4096 + 256];
    struct vt_model_load_options options = {0};
    vt_cli_choose_event_storage(&options);
    /* with the index beside the trace (a command read it before): from its end, replayed from its
     * last checkpoint, instead of from the trace's start */
    struct vt_trace_index index;
    bool indexed = options.stream_events && vt_cli_read_index(&index, path, COMMAND);
    if (indexed) {
        options.index = &index;
        options.index_live_set = true;
    }
    enum vt_trace_open_result opened = vt_model_follow_open(&view->follower, path, &options, error, sizeof error);
    if (indexed)
        vt_trace_index_free(&index);
    if (opened != VT_TRACE_OPENED) {
        fprintf(stderr, "vramtrace %s: %s\n", COMMAND, error);
        return OPEN_FAILED;
    }
    vt_replay_start(&view->replay, &view->follower.model, true);
    view->opened = true;
    return OPENED;
}

static void close_view(struct top_view *view)
{
    if (!view->opened)
        return;
    if (view->symbolizer)
        vt_symbolizer_close(view->symbolizer);
    vt_replay_finish(&view->replay);
    vt_model_follow_close(&view->follower);
    view->opened = false;
}

/* A symbolizer that knows every module and code object read so far. */
static bool refresh_symbolizer(struct top_view *view)
{
    const struct vt_trace_model *model = &view->follower.model;
    if (view->symbolizer && view->symbolized_modules == model->module_count &&
        view->symbolized_codes == model->code_slots)
        return true;
    if (view->symbolizer)
        vt_symbolizer_close(view->symbolizer);
    view->symbolizer = vt_cli_open_symbolizer(model, COMMAND);
    view->symbolized_modules = model->module_count;
    view->symbolized_codes = model->code_slots;
    return view->symbolizer != NULL;
}

/* Reads what was appended and shows one frame; returns -1 to go on, else the exit status. */
static int show_frame(struct top_view *view, const struct top_settings *settings, bool terminal, bool keys)
{
    const struct vt_trace_model *model = &view->follower.model;
    errno = 0;
    if (!vt_model_follow_update(&view->follower)) {
        fprintf(stderr, "vramtrace %s: cannot read %s: %s\n", COMMAND, model->path,
                errno ? strerror(errno) : "out of memory");
        return VT_CLI_EXIT_UNREADABLE;
    }
    bool first = !view->shown;
    if (first && settings->once)
        vt_model_warn_gaps(model, stderr);
    /* a trace still being written may name its devices later (its first allocation may be seconds
     * away): --device is checked once the whole trace is there, or at once with --once */
    if (!view->device_checked && (settings->once || model->complete)) {
        view->device_checked = true;
        if (!vt_cli_device_in_trace(model, settings->common.device, COMMAND))
            return VT_CLI_EXIT_USAGE;
    }
    if (!refresh_symbolizer(view))
        return VT_CLI_EXIT_UNREADABLE;
    vt_replay_all(&view->replay, NULL, NULL);
    const struct vt_accounting_oom *oom = &view->replay.accounting.oom;
    if (oom->failures != view->oom_failures_seen) {
        view->oom_failures_seen = oom->failures;
        view->last_oom_time_ns = vt_model_event_at(model, oom->last_event)->time_ns;
    }

    char *text = NULL;
    size_t length = 0;
    FILE *frame = open_memstream(&text, &length);
    if (!frame) {
        fprintf(stderr, "vramtrace %s: out of memory\n", COMMAND);
        return VT_CLI_EXIT_UNREADABLE;
    }
    print_frame(frame, &view->replay, view->last_oom_time_ns, view->symbolizer, settings, keys);
    fclose(frame);
    if (terminal)
        fputs(CLEAR_SCREEN, stdout);
    else if (!first)
        fputs("\n", stdout);
    write_fitted(stdout, text, length, output_columns(terminal));
    fflush(stdout);
    free(text);
    view->shown = true;
    if (!settings->once && !model->complete)
        return -1;
    if (model->complete && !settings->once)
        vt_model_warn_gaps(model, stderr);
    return 0;
}

static int follow(const struct top_settings *settings, const struct keyboard *keyboard)
{
    bool terminal = isatty(STDOUT_FILENO);
    struct top_view view = {0};
    bool announced = false;
    int status = -1;
    while (status < 0) {
        resized = 0;
        if (!view.opened) {
            enum open_result opened = open_view(&view, settings);
            if (opened == OPEN_FAILED)
                return VT_CLI_EXIT_UNREADABLE;
            if (opened == NOT_THERE_YET && !announced) {
                printf("waiting for %s" ELLIPSIS " (%s quits)\n", settings->common.traces[0],
                       keyboard->raw ? "q" : "Ctrl-C");
                fflush(stdout);
                announced = true;
            }
        }
        if (view.opened)
            status = show_frame(&view, settings, terminal, keyboard->raw);
        if (status < 0) {
            pause_between_frames(keyboard, settings->interval_ns);
            if (stop_requested)
                status = 0;
        }
    }
    close_view(&view);
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
    sigaction(SIGHUP, &action, NULL);
    struct sigaction resize = {.sa_handler = note_resize};
    sigemptyset(&resize.sa_mask);
    sigaction(SIGWINCH, &resize, NULL);
    struct keyboard keyboard = {0};
    if (!settings.once)
        keyboard_start(&keyboard);
    int status = follow(&settings, &keyboard);
    keyboard_restore(&keyboard);
    return status;
}
