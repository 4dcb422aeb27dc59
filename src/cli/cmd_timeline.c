/* cli/cmd_timeline.c — `vramtrace timeline TRACE`: memory in use over time as Chrome trace event
 * JSON (what Perfetto UI and chrome://tracing open) or as CSV. One counter track per device and
 * kind of memory, sampled where it changes but at most once per --interval of trace time (the
 * sample of each track's peak is always kept, exactly); instant events for out-of-memory
 * failures, live dumps and other markers, lost events, each device's peak and the end. Where the
 * trace has snapshots of PyTorch's caching allocator, two more tracks per device: PyTorch's
 * allocated (tensor) and reserved (segment) bytes, from its history anchored at the snapshots'
 * exact totals (trace_torch.h), sampled like the others. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "common/format.h"
#include "trace/json_writer.h"
#include "trace/trace_torch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "timeline"
#define DEFAULT_INTERVAL "1ms"

enum timeline_option { OPTION_OUTPUT, OPTION_CSV, OPTION_INTERVAL };

static const struct vt_cli_option_spec timeline_options[] = {
    {"--output", 'o', true, OPTION_OUTPUT},
    {"--csv", 0, false, OPTION_CSV},
    {"--device", 0, true, VT_CLI_DEVICE_ID},
    {"--interval", 0, true, OPTION_INTERVAL},
    {NULL, 0, false, 0},
};

struct timeline_settings {
    struct vt_cli_common_arguments common; /* the trace, --device */
    const char *output_path;               /* NULL: stdout */
    bool csv;
    uint64_t interval_ns;                  /* 0: every change */
};

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace timeline TRACE [-o FILE] [--csv] [--device N] [--interval MS]\n"
            "\n"
            "Writes the memory in use over the run as Chrome trace event JSON, which Perfetto UI\n"
            "(ui.perfetto.dev: Open trace file) and chrome://tracing open: one counter track per\n"
            "device and kind of memory (\"device 0: device memory\", bytes in use), and instant\n"
            "events for out-of-memory failures, live dumps, each device's peak and the end of the\n"
            "trace. Timestamps are microseconds since the trace started.\n"
            "\n"
            "Options:\n"
            "  -o, --output FILE   write to FILE instead of stdout\n"
            "  --csv               CSV instead: time_s,device,kind,bytes at the same sample points\n"
            "  --device N          only device N\n"
            "  --interval MS       at most one sample per track per MS milliseconds of trace time\n"
            "                      (default 1; 0 keeps every change; units: us, ms, s). The sample\n"
            "                      of each track's peak is always kept, exactly\n"
            "  -h, --help          show this help\n"
            "\n"
            "Exit status: 0 written, 1 the trace cannot be read or the output written, 2 usage error.\n"
            "\n"
            "Examples:\n"
            "  vramtrace timeline train.trace -o train.json      # then open it in ui.perfetto.dev\n"
            "  vramtrace timeline --csv --interval 100 train.trace > memory.csv\n");
}

static int parse_arguments(int argc, char **argv, struct timeline_settings *settings)
{
    *settings = (struct timeline_settings){.output_path = NULL};
    vt_cli_common_start(&settings->common, 1);
    vt_cli_parse_time(DEFAULT_INTERVAL, "ms", &settings->interval_ns);
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, timeline_options);
    const struct vt_cli_option_spec *option;
    const char *value;
    int status;
    while (vt_cli_next_own_option(&parser, &settings->common, print_help, &option, &value, &status)) {
        switch (option->id) {
        case OPTION_OUTPUT:
            settings->output_path = value;
            break;
        case OPTION_CSV:
            settings->csv = true;
            break;
        case OPTION_INTERVAL:
            if (!vt_cli_parse_time(value, "ms", &settings->interval_ns))
                return vt_cli_usage_error(COMMAND, "--interval '%s' is not valid; accepted: milliseconds (1, 0.5) or "
                                          "a number with a unit: us, ms, s",
                                          value);
            break;
        }
    }
    return vt_cli_end_of_arguments(COMMAND, status, &settings->common, "vramtrace timeline TRACE");
}

/* ---- output ---------------------------------------------------------------------------------- */

/* Tracks per slot: one per kind of memory, then PyTorch's two. */
enum { TRACK_TORCH_ALLOCATED = VT_KIND_COUNT, TRACK_TORCH_RESERVED, TRACK_KINDS };

static const char *track_kind_name(unsigned kind)
{
    return kind == TRACK_TORCH_ALLOCATED ? "torch_allocated"
           : kind == TRACK_TORCH_RESERVED ? "torch_reserved"
                                          : vt_memory_kind_name(kind);
}

/* A change of one of PyTorch's tracks. */
struct torch_sample {
    uint64_t time_ns, bytes;
    int slot;
    unsigned kind; /* TRACK_TORCH_* */
};

struct track {
    bool shown;
    char name[64];      /* "device 0: device memory" */
    size_t peak_event;  /* the event whose sample is always kept */
    bool emitted_any;
    uint64_t emitted_value, emitted_time_ns;
    bool pending;       /* the latest change of the current interval, not written yet */
    uint64_t pending_time_ns, pending_value;
};

struct timeline {
    const struct timeline_settings *settings;
    const struct vt_trace_model *model;
    const struct vt_replay *totals; /* the whole run: peaks */
    FILE *out;
    uint64_t pid;
    bool first_event_written;
    struct track tracks[VT_MODEL_SLOT_COUNT][TRACK_KINDS];
    struct torch_sample *torch_samples; /* in time order */
    size_t torch_sample_count, torch_next;
    int used_slots[VT_MODEL_SLOT_COUNT];
    size_t used_slot_count;
    uint64_t current_bucket;
};

/* A JSON string, escaped by the shared writer (at depth 0 it writes the value alone). */
static void put_json_string(FILE *out, const char *text)
{
    struct vt_json json;
    vt_json_start(&json, out);
    vt_json_string(&json, NULL, text);
}

/* Microseconds, as Chrome trace events count time: "1234.567". */
static void put_microseconds(FILE *out, uint64_t nanoseconds)
{
    fprintf(out, "%" PRIu64 ".%03" PRIu64, nanoseconds / 1000, nanoseconds % 1000);
}

/* Starts one event object: {"name": NAME, "ph": PHASE, "ts": T, "pid": P, "tid": 0 */
static void begin_event(struct timeline *timeline, const char *name, const char *phase, uint64_t time_ns)
{
    FILE *out = timeline->out;
    fputs(timeline->first_event_written ? ",\n" : "\n", out);
    timeline->first_event_written = true;
    fputs("{\"name\": ", out);
    put_json_string(out, name);
    fprintf(out, ", \"ph\": \"%s\", \"ts\": ", phase);
    put_microseconds(out, time_ns);
    fprintf(out, ", \"pid\": %" PRIu64 ", \"tid\": 0", timeline->pid);
}

static void write_sample(struct timeline *timeline, int slot, unsigned kind, uint64_t time_ns, uint64_t bytes)
{
    struct track *track = &timeline->tracks[slot][kind];
    track->emitted_any = true;
    track->emitted_value = bytes;
    track->emitted_time_ns = time_ns;
    if (timeline->settings->csv) {
        char device[16] = "host";
        if (slot > 0)
            snprintf(device, sizeof device, "%d", vt_device_of_slot(slot));
        fprintf(timeline->out, "%" PRIu64 ".%09" PRIu64 ",%s,%s,%" PRIu64 "\n", time_ns / 1000000000u,
                time_ns % 1000000000u, device, track_kind_name(kind), bytes);
        return;
    }
    begin_event(timeline, track->name, "C", time_ns);
    fprintf(timeline->out, ", \"cat\": \"memory\", \"args\": {\"bytes\": %" PRIu64 "}}", bytes);
}

static void flush_pending(struct timeline *timeline, int slot, unsigned kind)
{
    struct track *track = &timeline->tracks[slot][kind];
    if (!track->pending)
        return;
    track->pending = false;
    if (!track->emitted_any || track->emitted_value != track->pending_value)
        write_sample(timeline, slot, kind, track->pending_time_ns, track->pending_value);
}

/* Writes the pending samples of every track in time order (CSV rows stay sorted by time). */
static void flush_all_pending(struct timeline *timeline)
{
    for (;;) {
        struct track *earliest = NULL;
        int earliest_slot = 0;
        unsigned earliest_kind = 0;
        for (size_t i = 0; i < timeline->used_slot_count; i++)
            for (unsigned kind = 0; kind < TRACK_KINDS; kind++) {
                struct track *track = &timeline->tracks[timeline->used_slots[i]][kind];
                if (track->pending && (!earliest || track->pending_time_ns < earliest->pending_time_ns)) {
                    earliest = track;
                    earliest_slot = timeline->used_slots[i];
                    earliest_kind = kind;
                }
            }
        if (!earliest)
            return;
        flush_pending(timeline, earliest_slot, earliest_kind);
    }
}

/* Instant events: global scope, args written by the caller after this. */
static void begin_instant(struct timeline *timeline, const char *name, uint64_t time_ns)
{
    begin_event(timeline, name, "i", time_ns);
    fputs(", \"s\": \"g\", \"cat\": \"vramtrace\", \"args\": {", timeline->out);
}

static bool device_shown(const struct timeline *timeline, int device)
{
    return timeline->settings->common.device == VT_GROUPS_ALL_DEVICES || timeline->settings->common.device == device;
}

static void instant_out_of_memory(struct timeline *timeline, const struct vt_model_event *event)
{
    if (timeline->settings->csv || !device_shown(timeline, event->device))
        return;
    const struct vt_model_oom *detail = &timeline->model->ooms[event->detail];
    char name[160], human[32], where[32];
    snprintf(name, sizeof name, "out of memory: %s of %s on %s", vt_api_name(event->api),
             vt_format_bytes(event->size_bytes, human, sizeof human),
             vt_cli_device_name(event->device, where, sizeof where));
    begin_instant(timeline, name, event->time_ns);
    FILE *out = timeline->out;
    fprintf(out, "\"api\": \"%s\", \"kind\": \"%s\", \"device\": %d, \"requested_bytes\": %" PRIu64
                 ", \"device_free_bytes\": %" PRIu64 ", \"device_total_bytes\": %" PRIu64 "}}",
            vt_api_name(event->api), vt_memory_kind_name(event->kind), event->device, event->size_bytes,
            detail->device_free_bytes, detail->device_total_bytes);
}

static void instant_marker(struct timeline *timeline, const struct vt_model_event *event)
{
    if (timeline->settings->csv)
        return;
    const struct vt_model_marker *marker = &timeline->model->markers[event->detail];
    const char *what = marker->kind == VT_MARKER_DUMP ? "live dump" : "marker";
    begin_instant(timeline, marker->label && marker->label[0] ? marker->label : what, event->time_ns);
    fprintf(timeline->out, "\"marker\": \"%s\", \"label\": ", what);
    put_json_string(timeline->out, marker->label ? marker->label : "");
    fputs("}}", timeline->out);
}

static void instant_dropped(struct timeline *timeline, const struct vt_model_event *event)
{
    if (timeline->settings->csv)
        return;
    char name[96];
    snprintf(name, sizeof name, "%" PRIu64 " event(s) lost", event->size_bytes);
    begin_instant(timeline, name, event->time_ns);
    fprintf(timeline->out, "\"lost_events\": %" PRIu64 "}}", event->size_bytes);
}

/* `now` is the replay at the peak: the bytes of each kind then. */
static void instant_peak(struct timeline *timeline, int slot, uint64_t time_ns, const struct vt_replay *now)
{
    if (timeline->settings->csv)
        return;
    const struct vt_slot_usage *usage = &timeline->totals->accounting.usage[slot];
    int device = vt_device_of_slot(slot);
    char name[128], human[32], where[32];
    snprintf(name, sizeof name, "peak of %s: %s",
             device < 0 ? "host-pinned memory" : vt_cli_device_name(device, where, sizeof where),
             vt_format_bytes(usage->in_use.peak_bytes, human, sizeof human));
    begin_instant(timeline, name, time_ns);
    FILE *out = timeline->out;
    fprintf(out, "\"device\": %d, \"bytes\": %" PRIu64, device, usage->in_use.peak_bytes);
    for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++)
        if (vt_kind_is_memory_use(kind))
            fprintf(out, ", \"%s_bytes_at_peak\": %" PRIu64, vt_memory_kind_name(kind),
                    now->accounting.usage[slot].by_kind[kind].current_bytes);
    fputs("}}", out);
}

/* PyTorch's samples up to time_ns become their tracks' pending samples, in the interval they fall
 * in (with --interval 0, each is written at once). */
static void feed_torch_samples(struct timeline *timeline, uint64_t time_ns)
{
    uint64_t interval = timeline->settings->interval_ns;
    while (timeline->torch_next < timeline->torch_sample_count &&
           timeline->torch_samples[timeline->torch_next].time_ns <= time_ns) {
        const struct torch_sample *sample = &timeline->torch_samples[timeline->torch_next++];
        uint64_t bucket = interval ? sample->time_ns / interval : UINT64_MAX - 1;
        if (bucket != timeline->current_bucket || !interval) {
            flush_all_pending(timeline);
            timeline->current_bucket = bucket;
        }
        struct track *track = &timeline->tracks[sample->slot][sample->kind];
        track->pending = true;
        track->pending_time_ns = sample->time_ns;
        track->pending_value = sample->bytes;
    }
}

/* After each event of the second replay: samples, instants. */
static void visit_event(const struct vt_model_event *event, size_t index, const struct vt_replay *replay, void *context)
{
    struct timeline *timeline = context;
    feed_torch_samples(timeline, event->time_ns);
    uint64_t interval = timeline->settings->interval_ns;
    uint64_t bucket = interval ? event->time_ns / interval : index;
    if (bucket != timeline->current_bucket) {
        flush_all_pending(timeline);
        timeline->current_bucket = bucket;
    }
    switch (event->type) {
    case VT_RECORD_ALLOC:
    case VT_RECORD_FREE: {
        int slot = vt_slot_of_device(event->device);
        if (event->kind >= VT_KIND_COUNT || !timeline->tracks[slot][event->kind].shown)
            break;
        struct track *track = &timeline->tracks[slot][event->kind];
        uint64_t bytes = replay->accounting.usage[slot].by_kind[event->kind].current_bytes;
        if (index == track->peak_event) {
            track->pending = false; /* the peak replaces the interval's earlier changes */
            write_sample(timeline, slot, event->kind, event->time_ns, bytes);
        } else {
            track->pending = true;
            track->pending_time_ns = event->time_ns;
            track->pending_value = bytes;
        }
        if (index == timeline->totals->accounting.usage[slot].in_use.peak_event)
            instant_peak(timeline, slot, event->time_ns, replay);
        break;
    }
    case VT_RECORD_OOM:
        instant_out_of_memory(timeline, event);
        break;
    case VT_RECORD_MARKER:
        instant_marker(timeline, event);
        break;
    case VT_RECORD_DROPPED:
        instant_dropped(timeline, event);
        break;
    default:
        break;
    }
}

static int by_time(const void *a, const void *b)
{
    const struct torch_sample *x = a, *y = b;
    if (x->time_ns != y->time_ns)
        return x->time_ns < y->time_ns ? -1 : 1;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

/* PyTorch's tracks of a device slot and their samples; false when out of memory. */
static bool choose_torch_tracks(struct timeline *timeline, int slot, size_t *capacity)
{
    struct vt_torch_levels levels;
    if (!vt_torch_levels_collect(timeline->model, vt_device_of_slot(slot), &levels))
        return false;
    char where[32];
    for (unsigned kind = TRACK_TORCH_ALLOCATED; kind < TRACK_KINDS && levels.level_count; kind++) {
        struct track *track = &timeline->tracks[slot][kind];
        track->shown = true;
        track->peak_event = SIZE_MAX;
        snprintf(track->name, sizeof track->name, "%s: PyTorch %s",
                 vt_cli_device_name(vt_device_of_slot(slot), where, sizeof where),
                 kind == TRACK_TORCH_ALLOCATED ? "allocated" : "reserved");
    }
    bool ok = true;
    for (size_t i = 0; ok && i < levels.level_count; i++)
        for (unsigned kind = TRACK_TORCH_ALLOCATED; ok && kind < TRACK_KINDS; kind++) {
            if (timeline->torch_sample_count == *capacity) {
                size_t grown = *capacity ? *capacity * 2 : 256;
                struct torch_sample *bigger = realloc(timeline->torch_samples, grown * sizeof *bigger);
                if (!(ok = bigger != NULL))
                    break;
                timeline->torch_samples = bigger;
                *capacity = grown;
            }
            const struct vt_torch_level *level = &levels.levels[i];
            timeline->torch_samples[timeline->torch_sample_count++] = (struct torch_sample){
                level->time_ns, kind == TRACK_TORCH_ALLOCATED ? level->allocated_bytes : level->reserved_bytes, slot,
                kind};
        }
    vt_torch_levels_free(&levels);
    return ok;
}

static bool choose_tracks(struct timeline *timeline)
{
    timeline->used_slot_count =
        vt_cli_used_slots(timeline->totals, timeline->settings->common.device, timeline->used_slots);
    for (size_t i = 0; i < timeline->used_slot_count; i++) {
        int slot = timeline->used_slots[i];
        char where[32];
        for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++) {
            const struct vt_usage_counter *counter = &timeline->totals->accounting.usage[slot].by_kind[kind];
            struct track *track = &timeline->tracks[slot][kind];
            if (!vt_kind_is_memory_use(kind) || counter->peak_bytes == 0)
                continue;
            track->shown = true;
            track->peak_event = counter->peak_event;
            snprintf(track->name, sizeof track->name, "%s: %s memory",
                     vt_cli_device_name(vt_device_of_slot(slot), where, sizeof where), vt_memory_kind_name(kind));
        }
    }
    if (timeline->model->torch_snapshot_count == 0)
        return true;
    size_t capacity = 0;
    for (size_t i = 0; i < timeline->used_slot_count; i++)
        if (timeline->used_slots[i] > 0 && !choose_torch_tracks(timeline, timeline->used_slots[i], &capacity))
            return false;
    if (timeline->torch_samples)
        qsort(timeline->torch_samples, timeline->torch_sample_count, sizeof *timeline->torch_samples, by_time);
    return true;
}

static void write_metadata(struct timeline *timeline)
{
    const struct vt_model_process *process = &timeline->model->process;
    char name[512];
    if (process->present)
        snprintf(name, sizeof name, "%s", process->program); /* the viewer adds the pid */
    else
        snprintf(name, sizeof name, "%s", timeline->model->path);
    begin_event(timeline, "process_name", "M", 0);
    fputs(", \"args\": {\"name\": ", timeline->out);
    put_json_string(timeline->out, name);
    fputs("}}", timeline->out);
    begin_event(timeline, "thread_name", "M", 0);
    fputs(", \"args\": {\"name\": \"GPU memory (vramtrace)\"}}", timeline->out);
}

static void write_other_data(struct timeline *timeline)
{
    FILE *out = timeline->out;
    const struct vt_trace_model *model = timeline->model;
    const struct vt_model_process *process = &model->process;
    fputs("\n],\n\"displayTimeUnit\": \"ms\",\n\"otherData\": {\"generator\": \"vramtrace timeline " VT_VERSION
          "\", \"trace\": ",
          out);
    put_json_string(out, model->path);
    if (process->present) {
        fputs(", \"program\": ", out);
        put_json_string(out, process->program);
        fprintf(out, ", \"pid\": %" PRIu64 ", \"host\": ", process->pid);
        put_json_string(out, process->host);
        fputs(", \"command_line\": ", out);
        put_json_string(out, process->command_line);
    }
    fprintf(out, ", \"complete\": %s, \"duration_us\": ", model->complete ? "true" : "false");
    put_microseconds(out, model->duration_ns);
    fputs(", \"interval_us\": ", out);
    put_microseconds(out, timeline->settings->interval_ns);
    fputs(", \"devices\": [", out);
    for (size_t i = 0; i < model->device_count; i++) {
        fprintf(out, "%s{\"ordinal\": %d, \"name\": ", i ? ", " : "", model->devices[i].ordinal);
        put_json_string(out, model->devices[i].name);
        fprintf(out, ", \"total_bytes\": %" PRIu64 "}", model->devices[i].total_bytes);
    }
    fputs("]}}\n", out);
}

/* A counter track is drawn up to its last sample: one more sample of each track's last value at
 * the end of the trace, so memory held to the end is drawn to the end (JSON only: CSV rows are
 * changes). */
static void extend_tracks_to(struct timeline *timeline, uint64_t end_ns)
{
    for (size_t i = 0; i < timeline->used_slot_count; i++)
        for (unsigned kind = 0; kind < TRACK_KINDS; kind++) {
            const struct track *track = &timeline->tracks[timeline->used_slots[i]][kind];
            if (track->shown && track->emitted_any && track->emitted_time_ns < end_ns)
                write_sample(timeline, timeline->used_slots[i], kind, end_ns, track->emitted_value);
        }
}

static bool write_timeline(struct timeline *timeline)
{
    const struct vt_trace_model *model = timeline->model;
    timeline->pid = model->process.present ? model->process.pid : 1;
    if (!choose_tracks(timeline))
        return false;
    if (timeline->settings->csv) {
        fputs("time_s,device,kind,bytes\n", timeline->out);
    } else {
        fputs("{\"traceEvents\": [", timeline->out);
        write_metadata(timeline);
    }
    struct vt_replay replay;
    vt_replay_start(&replay, model, true);
    vt_replay_all(&replay, visit_event, timeline);
    vt_replay_finish(&replay);
    feed_torch_samples(timeline, UINT64_MAX);
    flush_all_pending(timeline);
    if (timeline->settings->csv)
        return true;
    extend_tracks_to(timeline, model->duration_ns);
    begin_instant(timeline, model->complete ? "end of trace" : "end of trace (incomplete: no END record)",
                  model->duration_ns);
    fprintf(timeline->out, "\"complete\": %s}}", model->complete ? "true" : "false");
    write_other_data(timeline);
    return true;
}

/* Writes the timeline of a loaded trace whose whole-run totals are `totals`; returns the exit status. */
static int write_output(const struct timeline_settings *settings, const struct vt_trace_model *model,
                        const struct vt_replay *totals)
{
    FILE *out = settings->output_path ? fopen(settings->output_path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "vramtrace " COMMAND ": cannot write %s: %s\n", settings->output_path, strerror(errno));
        return VT_CLI_EXIT_UNREADABLE;
    }
    struct timeline *timeline = calloc(1, sizeof *timeline);
    if (!timeline) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory\n");
        if (out != stdout)
            fclose(out);
        return VT_CLI_EXIT_UNREADABLE;
    }
    *timeline = (struct timeline){
        .settings = settings, .model = model, .totals = totals, .out = out, .current_bucket = UINT64_MAX};
    bool written = write_timeline(timeline);
    free(timeline->torch_samples);
    free(timeline);
    if (!written) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory\n");
        if (out != stdout)
            fclose(out);
        return VT_CLI_EXIT_UNREADABLE;
    }
    return vt_cli_finish_output(out, settings->output_path, COMMAND);
}

int vt_cmd_timeline(int argc, char **argv)
{
    struct timeline_settings settings;
    int early = parse_arguments(argc, argv, &settings);
    if (early >= 0)
        return early;
    struct vt_trace_model model;
    int loaded = vt_cli_load_trace_for_device(&model, settings.common.traces[0], COMMAND, settings.common.device);
    if (loaded >= 0)
        return loaded;
    struct vt_replay totals;
    vt_replay_start(&totals, &model, true);
    vt_replay_all(&totals, NULL, NULL);
    int status;
    if (totals.accounting.out_of_memory) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory while replaying %s\n", settings.common.traces[0]);
        status = VT_CLI_EXIT_UNREADABLE;
    } else {
        status = write_output(&settings, &model, &totals);
    }
    vt_replay_finish(&totals);
    vt_model_free(&model);
    return status;
}
