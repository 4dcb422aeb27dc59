/* cli/cmd_html.c — `vramtrace html TRACE [-o FILE]`: one self-contained HTML page (the template
 * src/cli/html/report.html, compiled in by html/embed.py; no file is fetched) with the report's data
 * embedded as JSON. The page's data is computed here, on the command line's side, so that the page
 * stays responsive for traces of millions of events (docs/commands.md, "vramtrace html"):
 *   - "report": the members of `vramtrace report --format json` (report_json.c over the vt_report):
 *     metadata, usage, leaks, peaks with their snapshots, OOM, sites, the PyTorch layer — except
 *     that stacks are written once, in "stacks" (id -> frames), and referred to by their stack_id;
 *   - "tracks": usage over time per device and kind (and PyTorch's allocated/reserved), each cut
 *     into at most TRACK_BUCKETS buckets of trace time keeping the bucket's maximum (with its exact
 *     time: the peak is never lost) and its last value;
 *   - "moments": the live set, grouped by stack (the --top largest groups), at a bounded set of
 *     moments: each device's peak, each OOM (up to MAX_OOM_MOMENTS), each PyTorch snapshot (up to
 *     MAX_TORCH_MOMENTS, with its tensors), the end, and CHECKPOINTS evenly spaced times. A click on
 *     the timeline shows the nearest one. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "common/options.h"
#include "report_render.h"
#include "trace/trace_torch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "html"
#define HTML_DATA_VERSION 1
#define TRACK_BUCKETS 2000
#define CHECKPOINTS 50
#define MAX_OOM_MOMENTS 20
#define MAX_TORCH_MOMENTS 50
#define MAX_OOM_MARKERS 1000
#define DEFAULT_HTML_TOP 20
#define MAX_TOP 1000
#define DATA_PLACEHOLDER "/*@VRAMTRACE_DATA@*/"

extern const char vt_html_page[]; /* html_page.c, generated from html/report.html */

enum html_option { OPTION_OUTPUT, OPTION_TOP };

static const struct vt_cli_option_spec html_options[] = {
    {"--output", 'o', true, OPTION_OUTPUT},
    {"--top", 0, true, OPTION_TOP},
    {"--device", 0, true, VT_CLI_DEVICE_ID},
    {NULL, 0, false, 0},
};

struct html_settings {
    struct vt_cli_common_arguments common; /* the trace, --device */
    const char *output_path;               /* NULL: stdout */
    unsigned top;
};

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace html TRACE [-o FILE] [--top N] [--device N]\n"
            "\n"
            "Writes one self-contained HTML page (scripts and styles inlined, nothing fetched) that\n"
            "any browser opens: a zoomable timeline per device and kind of memory (and PyTorch's\n"
            "allocated and reserved bytes where the trace has them) with the peaks and out-of-memory\n"
            "failures marked; a click on it shows what was live at the nearest precomputed moment,\n"
            "grouped by stack; each peak's composition as an icicle graph; the leaks; the OOM\n"
            "details; the run's metadata. The data is aggregated here, so that the page stays fast\n"
            "for traces of millions of events: at most %d points per track (each bucket's maximum\n"
            "is kept, the peak exactly) and live sets at each peak, each OOM, each PyTorch snapshot,\n"
            "the end and %d evenly spaced checkpoints.\n"
            "\n"
            "Options:\n"
            "  -o, --output FILE   write to FILE instead of stdout\n"
            "  --top N             groups shown per live set and per list (default %d)\n"
            "  --device N          only device N\n"
            "  -h, --help          show this help\n"
            "\n"
            "Exit status: 0 written, 1 the trace cannot be read or the output written, 2 usage error.\n"
            "\n"
            "Example:\n"
            "  vramtrace html train.trace -o train.html      # then open it in a browser\n",
            2 * TRACK_BUCKETS, CHECKPOINTS, DEFAULT_HTML_TOP);
}

static int parse_arguments(int argc, char **argv, struct html_settings *settings)
{
    *settings = (struct html_settings){.top = DEFAULT_HTML_TOP};
    vt_cli_common_start(&settings->common, 1);
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, html_options);
    const struct vt_cli_option_spec *option;
    const char *value;
    int status;
    uint64_t top;
    while (vt_cli_next_own_option(&parser, &settings->common, print_help, &option, &value, &status)) {
        if (option->id == OPTION_OUTPUT) {
            settings->output_path = value;
        } else {
            if (!vt_parse_count(value, 1, MAX_TOP, &top))
                return vt_cli_usage_error(COMMAND, "--top '%s' is not valid; accepted: a whole number from 1 to %d",
                                          value, MAX_TOP);
            settings->top = (unsigned)top;
        }
    }
    return vt_cli_end_of_arguments(COMMAND, status, &settings->common, "vramtrace html TRACE [-o FILE]");
}

/* ---- tracks: usage over time in bounded buckets ------------------------------------------------ */

struct bucket {
    bool used;
    uint64_t max_time_ns, max_bytes;   /* the bucket's maximum, when first reached */
    uint64_t last_time_ns, last_bytes; /* its last change */
};

struct track {
    int device;        /* -1: host */
    const char *layer; /* a memory kind's name, or "torch_allocated" / "torch_reserved" */
    uint64_t peak_bytes;
    struct bucket *buckets;
};

struct tracks {
    struct track *tracks;
    size_t count;
    int index[VT_MODEL_SLOT_COUNT][VT_KIND_COUNT]; /* the track of a slot and kind; -1 none */
    uint64_t duration_ns;
};

static void track_add(struct track *track, uint64_t duration_ns, uint64_t time_ns, uint64_t bytes)
{
    size_t b = duration_ns ? (size_t)((unsigned __int128)time_ns * (TRACK_BUCKETS - 1) / duration_ns) : 0;
    if (b >= TRACK_BUCKETS)
        b = TRACK_BUCKETS - 1;
    struct bucket *bucket = &track->buckets[b];
    if (!bucket->used || bytes > bucket->max_bytes) {
        bucket->max_bytes = bytes;
        bucket->max_time_ns = time_ns;
    }
    bucket->used = true;
    bucket->last_bytes = bytes;
    bucket->last_time_ns = time_ns;
}

static struct track *tracks_new(struct tracks *tracks, int device, const char *layer, uint64_t peak_bytes)
{
    struct track *grown = realloc(tracks->tracks, (tracks->count + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    tracks->tracks = grown;
    struct bucket *buckets = calloc(TRACK_BUCKETS, sizeof *buckets);
    if (!buckets)
        return NULL;
    struct track *track = &grown[tracks->count++];
    *track = (struct track){.device = device, .layer = layer, .peak_bytes = peak_bytes, .buckets = buckets};
    return track;
}

static void visit_usage(const struct vt_model_event *event, size_t index, const struct vt_replay *replay, void *context)
{
    (void)index;
    struct tracks *tracks = context;
    if ((event->type != VT_RECORD_ALLOC && event->type != VT_RECORD_FREE) || event->kind >= VT_KIND_COUNT)
        return;
    int slot = vt_slot_of_device(event->device);
    int t = tracks->index[slot][event->kind];
    if (t >= 0)
        track_add(&tracks->tracks[t], tracks->duration_ns, event->time_ns,
                  replay->accounting.usage[slot].by_kind[event->kind].current_bytes);
}

/* PyTorch's two levels of a device, when its snapshots name it. */
static bool add_torch_tracks(struct tracks *tracks, const struct vt_trace_model *model, int device)
{
    struct vt_torch_levels levels;
    if (!vt_torch_levels_collect(model, device, &levels))
        return false;
    bool ok = true;
    if (levels.level_count) {
        struct track *allocated = tracks_new(tracks, device, "torch_allocated", 0);
        struct track *reserved = allocated ? tracks_new(tracks, device, "torch_reserved", 0) : NULL;
        ok = reserved != NULL;
        if (ok) {
            allocated = reserved - 1; /* tracks_new may have moved the array */
            for (size_t i = 0; i < levels.level_count; i++) {
                const struct vt_torch_level *level = &levels.levels[i];
                track_add(allocated, tracks->duration_ns, level->time_ns, level->allocated_bytes);
                track_add(reserved, tracks->duration_ns, level->time_ns, level->reserved_bytes);
                if (level->allocated_bytes > allocated->peak_bytes)
                    allocated->peak_bytes = level->allocated_bytes;
                if (level->reserved_bytes > reserved->peak_bytes)
                    reserved->peak_bytes = level->reserved_bytes;
            }
        }
    }
    vt_torch_levels_free(&levels);
    return ok;
}

static bool collect_tracks(struct tracks *tracks, const struct vt_report *report)
{
    const struct vt_trace_model *model = report->model;
    memset(tracks, 0, sizeof *tracks);
    memset(tracks->index, -1, sizeof tracks->index);
    tracks->duration_ns = model->duration_ns;
    for (int slot = 1; slot <= VT_MODEL_SLOT_COUNT; slot++) {
        int shown = slot % VT_MODEL_SLOT_COUNT; /* devices first, the host last */
        if (!vt_report_shows_slot(report, shown))
            continue;
        for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++) {
            uint64_t peak = report->usage[shown].by_kind[kind].peak_bytes;
            if (kind == VT_KIND_MAPPED_RANGE || peak == 0)
                continue;
            if (!tracks_new(tracks, vt_device_of_slot(shown), vt_memory_kind_name(kind), peak))
                return false;
            tracks->index[shown][kind] = (int)tracks->count - 1;
        }
        if (shown > 0 && model->torch_snapshot_count && !add_torch_tracks(tracks, model, vt_device_of_slot(shown)))
            return false;
    }
    struct vt_replay replay;
    vt_replay_start(&replay, model, false);
    vt_replay_all(&replay, visit_usage, tracks);
    vt_replay_finish(&replay);
    return true;
}

static void tracks_free(struct tracks *tracks)
{
    for (size_t i = 0; i < tracks->count; i++)
        free(tracks->tracks[i].buckets);
    free(tracks->tracks);
}

/* "tracks": [{"device", "layer", "peak_bytes", "t": [s...], "v": [bytes...]}]: from 0 at the start,
 * per used bucket its maximum then (if later and different) its last value. */
static void write_tracks(struct vt_json *json, const struct tracks *tracks)
{
    vt_json_array_begin(json, "tracks");
    for (size_t i = 0; i < tracks->count; i++) {
        const struct track *track = &tracks->tracks[i];
        vt_json_object_begin(json, NULL);
        vt_report_json_device(json, "device", track->device);
        vt_json_string(json, "layer", track->layer);
        vt_json_uint(json, "peak_bytes", track->peak_bytes);
        for (int values = 0; values < 2; values++) {
            vt_json_array_begin(json, values ? "v" : "t");
            if (values)
                vt_json_uint(json, NULL, 0);
            else
                vt_json_seconds(json, NULL, 0);
            for (size_t b = 0; b < TRACK_BUCKETS; b++) {
                const struct bucket *bucket = &track->buckets[b];
                if (!bucket->used)
                    continue;
                bool last_too = bucket->last_time_ns > bucket->max_time_ns && bucket->last_bytes != bucket->max_bytes;
                if (values)
                    vt_json_uint(json, NULL, bucket->max_bytes);
                else
                    vt_json_seconds(json, NULL, bucket->max_time_ns);
                if (last_too && values)
                    vt_json_uint(json, NULL, bucket->last_bytes);
                else if (last_too)
                    vt_json_seconds(json, NULL, bucket->last_time_ns);
            }
            vt_json_array_end(json);
        }
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
}

/* ---- moments: live sets where a click may land -------------------------------------------------- */

struct moment {
    size_t events;  /* the live set after events [0, events) */
    uint64_t time_ns;
    bool checkpoint; /* an evenly spaced one (others are named: peak, OOM, snapshot, end) */
    char why[64];
    const struct vt_model_torch_snapshot *torch; /* its tensors are shown too */
};

struct moments {
    struct moment *moments;
    size_t count, capacity;
};

static bool moment_add(struct moments *moments, size_t events, uint64_t time_ns, bool checkpoint,
                       const struct vt_model_torch_snapshot *torch, const char *why)
{
    if (moments->count == moments->capacity) {
        size_t grown = moments->capacity ? moments->capacity * 2 : 64;
        struct moment *bigger = realloc(moments->moments, grown * sizeof *bigger);
        if (!bigger)
            return false;
        moments->moments = bigger;
        moments->capacity = grown;
    }
    struct moment *moment = &moments->moments[moments->count++];
    *moment = (struct moment){.events = events, .time_ns = time_ns, .checkpoint = checkpoint, .torch = torch};
    snprintf(moment->why, sizeof moment->why, "%s", why);
    return true;
}

static int by_events_named_first(const void *left, const void *right)
{
    const struct moment *a = left, *b = right;
    if (a->events != b->events)
        return (a->events > b->events) - (a->events < b->events);
    if (a->checkpoint != b->checkpoint)
        return a->checkpoint - b->checkpoint;
    return (a->time_ns > b->time_ns) - (a->time_ns < b->time_ns);
}

/* Whether an event's device is the --device shown (or every device is). */
static bool shows_device(const struct vt_report *report, int device)
{
    return report->options.device == VT_GROUPS_ALL_DEVICES || report->options.device == device;
}

static bool collect_moments(struct moments *moments, const struct vt_report *report)
{
    const struct vt_trace_model *model = report->model;
    char why[64], where[32];
    bool ok = true;
    for (size_t i = 0; ok && i < report->peak_count; i++) {
        const struct vt_usage_counter *peak = &report->peaks[i].usage.in_use;
        snprintf(why, sizeof why, "peak of %s", vt_cli_device_name(report->peaks[i].device, where, sizeof where));
        ok = moment_add(moments, peak->peak_event + 1, peak->peak_time_ns, false, NULL, why);
    }
    size_t ooms = 0;
    for (size_t i = 0; ok && i < model->event_count && ooms < MAX_OOM_MOMENTS; i++) {
        const struct vt_model_event *event = vt_model_event_at(model, i);
        if (event->type == VT_RECORD_OOM && shows_device(report, event->device)) {
            snprintf(why, sizeof why, "out of memory #%zu", ++ooms);
            ok = moment_add(moments, i, event->time_ns, false, NULL, why);
        }
    }
    for (size_t i = 0; ok && i < model->torch_snapshot_count && i < MAX_TORCH_MOMENTS; i++) {
        const struct vt_model_torch_snapshot *snapshot = &model->torch_snapshots[i];
        char moment[48];
        snprintf(why, sizeof why, "PyTorch snapshot %s", vt_torch_moment_name(snapshot, moment, sizeof moment));
        ok = moment_add(moments, vt_model_events_until(model, snapshot->time_ns), snapshot->time_ns, false, snapshot,
                        why);
    }
    for (unsigned k = 0; ok && k < CHECKPOINTS; k++) {
        uint64_t time_ns = (uint64_t)((unsigned __int128)model->duration_ns * k / CHECKPOINTS);
        ok = moment_add(moments, vt_model_events_until(model, time_ns), time_ns, true, NULL, "checkpoint");
    }
    if (ok)
        ok = moment_add(moments, model->event_count, model->duration_ns, false, vt_torch_exit_snapshot(model),
                        "end of the trace");
    if (ok)
        qsort(moments->moments, moments->count, sizeof *moments->moments, by_events_named_first);
    return ok;
}

static int by_bytes_descending(const void *left, const void *right)
{
    const struct vt_group *a = *(const struct vt_group *const *)left, *b = *(const struct vt_group *const *)right;
    return (a->bytes < b->bytes) - (a->bytes > b->bytes);
}

/* One moment's object: its time, why, memory in use per device, the --top largest groups of
 * memory in use (all kinds together), the rest summed, and PyTorch's tensors at a snapshot. */
static bool write_moment(struct vt_report_json *output, const struct moment *moment, const struct vt_replay *replay)
{
    struct vt_json *json = &output->json;
    struct vt_groups groups = {0};
    const struct vt_report *report = output->report;
    vt_groups_collect_live(&groups, replay, report->options.device);
    const struct vt_group **order = calloc(groups.group_count ? groups.group_count : 1, sizeof *order);
    if (!order) {
        vt_groups_free(&groups);
        return false;
    }
    size_t shown = 0;
    for (size_t i = 0; i < groups.group_count; i++)
        if (vt_kind_is_memory_use(groups.groups[i].kind))
            order[shown++] = &groups.groups[i];
    qsort(order, shown, sizeof *order, by_bytes_descending);
    vt_json_object_begin(json, NULL);
    vt_report_json_time(json, "time_ns", "time_s", moment->time_ns);
    vt_json_string(json, "why", moment->why);
    vt_json_bool(json, "checkpoint", moment->checkpoint);
    vt_json_array_begin(json, "in_use");
    for (int slot = 1; slot <= VT_MODEL_SLOT_COUNT; slot++) {
        const struct vt_usage_counter *in_use = &replay->accounting.usage[slot % VT_MODEL_SLOT_COUNT].in_use;
        if (in_use->current_bytes == 0 || !vt_report_shows_slot(report, slot % VT_MODEL_SLOT_COUNT))
            continue;
        vt_json_object_begin(json, NULL);
        vt_report_json_device(json, "device", vt_device_of_slot(slot % VT_MODEL_SLOT_COUNT));
        vt_json_uint(json, "bytes", in_use->current_bytes);
        vt_json_uint(json, "count", in_use->live_count);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
    uint64_t bytes, count;
    vt_report_memory_totals(&groups, &bytes, &count);
    vt_json_uint(json, "bytes", bytes);
    vt_json_uint(json, "count", count);
    vt_json_array_begin(json, "groups");
    struct vt_groups_rest rest = {0};
    for (size_t i = 0; i < shown; i++) {
        if (i < output->top) {
            vt_report_json_group(output, &groups, order[i]);
        } else {
            rest.groups++;
            rest.bytes += order[i]->bytes;
            rest.count += order[i]->count;
        }
    }
    vt_json_array_end(json);
    vt_json_object_begin(json, "more_groups");
    vt_json_uint(json, "groups", rest.groups);
    vt_json_uint(json, "bytes", rest.bytes);
    vt_json_uint(json, "count", rest.count);
    vt_json_object_end(json);
    free(order);
    vt_groups_free(&groups);
    bool ok = true;
    if (moment->torch) {
        struct vt_torch_groups tensors = {0};
        int device = report->options.device;
        ok = vt_torch_group_tensors(&moment->torch->view, device == VT_GROUPS_ALL_DEVICES ? VT_TORCH_ALL_DEVICES : device,
                                    &tensors);
        if (ok)
            vt_report_json_tensor_groups(output, "tensors", &tensors);
        vt_torch_groups_free(&tensors);
    }
    vt_json_object_end(json);
    return ok;
}

/* "moments": one replay, stopping at each moment in turn. A moment at the same event as the one
 * before it has the same live set: it refers to the first of them ("same_as": its index), unless
 * it is a PyTorch snapshot (which adds its tensors). */
static bool write_moments(struct vt_report_json *output, const struct moments *moments)
{
    struct vt_replay replay;
    vt_replay_start(&replay, output->report->model, true);
    vt_json_array_begin(&output->json, "moments");
    bool ok = true;
    size_t first_of_events = 0;
    for (size_t i = 0; ok && i < moments->count; i++) {
        const struct moment *moment = &moments->moments[i];
        if (i > 0 && moment->events == moments->moments[i - 1].events && !moment->torch) {
            vt_json_object_begin(&output->json, NULL); /* the same live set at another time */
            vt_report_json_time(&output->json, "time_ns", "time_s", moment->time_ns);
            vt_json_string(&output->json, "why", moment->why);
            vt_json_bool(&output->json, "checkpoint", moment->checkpoint);
            vt_json_uint(&output->json, "same_as", first_of_events);
            vt_json_object_end(&output->json);
            continue;
        }
        first_of_events = i;
        vt_replay_until_event(&replay, moment->events);
        ok = write_moment(output, moment, &replay);
    }
    vt_json_array_end(&output->json);
    vt_replay_finish(&replay);
    return ok;
}

/* "ooms": each failure's time and device (up to MAX_OOM_MARKERS), for the timeline's marks. */
static void write_oom_markers(struct vt_json *json, const struct vt_report *report)
{
    const struct vt_trace_model *model = report->model;
    size_t written = 0;
    vt_json_array_begin(json, "ooms");
    for (size_t i = 0; i < model->event_count && written < MAX_OOM_MARKERS; i++) {
        const struct vt_model_event *event = vt_model_event_at(model, i);
        if (event->type != VT_RECORD_OOM || !shows_device(report, event->device))
            continue;
        written++;
        vt_json_object_begin(json, NULL);
        vt_report_json_time(json, "time_ns", "time_s", event->time_ns);
        vt_report_json_device(json, "device", event->device);
        vt_json_uint(json, "requested_bytes", event->size_bytes);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
}

/* "stacks": {"<stack id>": [frames]} of every stack the data refers to. */
static void write_stacks(struct vt_report_json *output)
{
    const struct vt_id_map *refs = output->stack_refs;
    vt_json_object_begin(&output->json, "stacks");
    for (size_t i = 0; i < refs->capacity; i++)
        if (refs->keys[i]) {
            char key[16];
            snprintf(key, sizeof key, "%u", (unsigned)(refs->keys[i] - 1));
            vt_report_json_frames(output, key, (uint32_t)(refs->keys[i] - 1));
        }
    vt_json_object_end(&output->json);
}

/* ---- the page ---------------------------------------------------------------------------------- */

/* The page's data as JSON into a memory buffer. */
static bool render_data(char **data, size_t *size, const struct vt_report *report, struct vt_symbolizer *symbolizer,
                        unsigned top)
{
    FILE *memory = open_memstream(data, size);
    if (!memory)
        return false;
    struct vt_id_map stack_refs = {0};
    struct vt_report_json output = {.report = report, .symbolizer = symbolizer, .top = top, .stack_refs = &stack_refs};
    struct vt_json *json = &output.json;
    struct tracks tracks;
    struct moments moments = {0};
    bool ok = collect_tracks(&tracks, report) && collect_moments(&moments, report);
    if (ok) {
        vt_json_start(json, memory);
        vt_json_object_begin(json, NULL);
        vt_json_string(json, "format", "vramtrace-html");
        vt_json_uint(json, "version", HTML_DATA_VERSION);
        vt_json_object_begin(json, "aggregation");
        vt_json_uint(json, "events", report->model->event_count);
        vt_json_uint(json, "buckets_per_track", TRACK_BUCKETS);
        vt_json_uint(json, "checkpoints", CHECKPOINTS);
        vt_json_uint(json, "groups_per_live_set", top);
        vt_json_object_end(json);
        vt_report_json_time(json, "duration_ns", "duration_s", report->model->duration_ns);
        vt_json_object_begin(json, "report");
        vt_report_json_members(&output);
        vt_json_object_end(json);
        write_tracks(json, &tracks);
        write_oom_markers(json, report);
        ok = write_moments(&output, &moments) && !output.out_of_memory;
        write_stacks(&output);
        vt_json_object_end(json);
        vt_json_finish(json);
    }
    tracks_free(&tracks);
    free(moments.moments);
    vt_id_map_free(&stack_refs);
    return fclose(memory) == 0 && ok;
}

/* The template with the data in place of its placeholder; '<' escaped as \u003c so that no string
 * in the data ends the <script> element that holds it (only strings can hold '<' in JSON). */
static void write_page(FILE *out, const char *data, size_t size)
{
    const char *at = strstr(vt_html_page, DATA_PLACEHOLDER);
    size_t before = at ? (size_t)(at - vt_html_page) : strlen(vt_html_page);
    fwrite(vt_html_page, 1, before, out);
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '<')
            fputs("\\u003c", out);
        else
            putc(data[i], out);
    }
    if (at)
        fputs(at + strlen(DATA_PLACEHOLDER), out);
}

static int write_output(const struct html_settings *settings, const struct vt_report *report,
                        struct vt_symbolizer *symbolizer)
{
    char *data = NULL;
    size_t size = 0;
    if (!render_data(&data, &size, report, symbolizer, settings->top)) {
        free(data);
        fprintf(stderr, "vramtrace " COMMAND ": out of memory\n");
        return VT_CLI_EXIT_UNREADABLE;
    }
    FILE *out = settings->output_path ? fopen(settings->output_path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "vramtrace " COMMAND ": cannot write %s: %s\n", settings->output_path, strerror(errno));
        free(data);
        return VT_CLI_EXIT_UNREADABLE;
    }
    write_page(out, data, size);
    free(data);
    return vt_cli_finish_output(out, settings->output_path, COMMAND);
}

int vt_cmd_html(int argc, char **argv)
{
    struct html_settings settings;
    int early = parse_arguments(argc, argv, &settings);
    if (early >= 0)
        return early;
    struct vt_trace_model model;
    struct vt_report_options options = {.device = settings.common.device};
    struct vt_report report;
    struct vt_report_pass pass;
    int loaded = vt_cli_load_trace_for_report(&model, &report, &pass, settings.common.traces[0], COMMAND, &options);
    if (loaded >= 0)
        return loaded;
    struct vt_symbolizer *symbolizer = vt_cli_open_symbolizer(&model, COMMAND);
    if (!symbolizer)
        vt_report_pass_drop(&pass);
    int status = VT_CLI_EXIT_UNREADABLE;
    if (symbolizer && vt_report_pass_finish(&pass))
        status = write_output(&settings, &report, symbolizer);
    else if (symbolizer)
        fprintf(stderr, "vramtrace " COMMAND ": out of memory\n");
    vt_report_free(&report);
    vt_symbolizer_close(symbolizer);
    vt_model_free(&model);
    return status;
}
