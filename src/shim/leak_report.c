/* shim/leak_report.c — the exit report (see leak_report.h). Runs once, at exit, outside any
 * hook: it may allocate and do I/O. */
#define _GNU_SOURCE
#include "shim/leak_report.h"

#include "common/format.h"
#include "shim/live_groups.h"
#include "shim/oom_report.h"
#include "shim/recorder.h"
#include "shim/output_file.h"
#include "shim/shim_log.h"
#include "shim/symbolizer.h"
#include "shim/torch_report.h"
#include "shim/torch_snapshot.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_title(enum vt_memory_kind kind)
{
    static const char *const titles[] = {"Device memory", "Host-pinned memory", "Managed memory",
                                         "Reserved address space", "Mapped ranges"};
    return (unsigned)kind < VT_KIND_COUNT ? titles[kind] : "Memory";
}

static void render_kind(FILE *out, struct symbolizer *symbolizer, const struct live_groups *groups,
                        enum vt_memory_kind kind, const struct leak_report_options *options)
{
    char human[32];
    uint64_t bytes = groups->bytes_by_kind[kind], count = groups->count_by_kind[kind];
    bool address_space = kind == VT_KIND_ADDRESS_SPACE, live = options->live_snapshot > 0;
    if (count == 0) {
        if (!address_space)
            fprintf(out, "%s: %s\n\n", kind_title(kind), live ? "none in use" : "no leaks");
        return;
    }
    fprintf(out, "%s: %llu byte(s) (%s) %s in %llu allocation(s)\n\n", kind_title(kind), (unsigned long long)bytes,
            vt_format_bytes(bytes, human, sizeof human),
            address_space ? "still reserved (not memory use)" : live ? "in use" : "leaked", (unsigned long long)count);
    live_groups_render_kind(out, symbolizer, groups, kind, address_space ? "Reservation" : live ? "Live" : "Leak",
                            options->top_groups);
}

static double seconds_since_start(uint64_t timestamp_ns)
{
    uint64_t start = recorder_start_ns();
    return timestamp_ns > start ? (double)(timestamp_ns - start) / 1e9 : 0.0;
}

/* An event's time as the trace holds it (format version 3: rounded down to the microsecond), so
 * the exit report and `vramtrace report` print the same time, and `--at` it lands on the event. */
static double event_seconds(uint64_t timestamp_ns)
{
    uint64_t start = recorder_start_ns();
    return timestamp_ns > start ? (double)((timestamp_ns - start) / 1000) / 1e6 : 0.0;
}

static void render_peaks(FILE *out)
{
    static struct vt_slot_usage usage[RECORDER_SLOT_COUNT];
    recorder_read_usage(usage);
    char human[32];
    fprintf(out, "Peak memory in use:\n");
    bool any = false;
    for (int slot = 1; slot < RECORDER_SLOT_COUNT; slot++) {
        const struct vt_slot_usage *device = &usage[slot];
        if (device->in_use.peak_bytes == 0)
            continue;
        any = true;
        fprintf(out, "  device %d: %llu byte(s) (%s) at %.6f s; peak by kind: device %llu, managed %llu\n",
                slot - 1, (unsigned long long)device->in_use.peak_bytes,
                vt_format_bytes(device->in_use.peak_bytes, human, sizeof human),
                event_seconds(device->in_use.peak_time_ns),
                (unsigned long long)device->by_kind[VT_KIND_DEVICE].peak_bytes,
                (unsigned long long)device->by_kind[VT_KIND_MANAGED].peak_bytes);
    }
    const struct vt_usage_counter *pinned = &usage[0].by_kind[VT_KIND_HOST_PINNED];
    if (pinned->peak_bytes) {
        any = true;
        fprintf(out, "  host (pinned): %llu byte(s) (%s) at %.6f s\n", (unsigned long long)pinned->peak_bytes,
                vt_format_bytes(pinned->peak_bytes, human, sizeof human),
                event_seconds(pinned->peak_time_ns));
    }
    if (!any)
        fprintf(out, "  (no memory was allocated)\n");
    fputc('\n', out);
}

static void render_out_of_memory(FILE *out)
{
    struct oom_state oom;
    recorder_read_oom(&oom);
    char human[32];
    if (oom.failures == 0) {
        const struct torch_snapshot *torch = torch_snapshot_acquire(VT_TORCH_AT_OOM);
        if (torch) /* PyTorch refused on its own (a memory fraction): no CUDA call failed */
            fprintf(out, "Out of memory: PyTorch's allocator refused %llu byte(s) (%s) on device %d at %.3f s with no "
                         "CUDA failure.\nOOM report: %s\n\n", (unsigned long long)torch->oom_requested_bytes,
                    vt_format_bytes(torch->oom_requested_bytes, human, sizeof human), torch->oom_device,
                    (double)torch->timestamp_ns / 1e9, oom_report_path() ? oom_report_path() : "on stderr");
        torch_snapshot_release();
        return;
    }
    fprintf(out, "Out of memory: %llu failed allocation(s); the first: %s of %llu byte(s) (%s) on %s %d at %.6f s.\n",
            (unsigned long long)oom.failures, vt_api_name(oom.first.api), (unsigned long long)oom.first.size_bytes,
            vt_format_bytes(oom.first.size_bytes, human, sizeof human), oom.first.device < 0 ? "host" : "device",
            oom.first.device, event_seconds(oom.first.timestamp_ns));
    if (oom.allocations_after_last_failure)
        fprintf(out, "Recovered: %llu allocation(s) succeeded after the last failure.\n",
                (unsigned long long)oom.allocations_after_last_failure);
    else
        fprintf(out, "Not recovered: no allocation succeeded after the last failure.\n");
    const char *path = oom_report_path();
    if (path)
        fprintf(out, "OOM report (live memory at the first failure): %s\n", path);
    fputc('\n', out);
}

static void render_stats(FILE *out)
{
    struct recorder_stats stats;
    recorder_read_stats(&stats);
    fprintf(out, "Calls: %llu allocation(s), %llu free(s), %llu free(s) of unknown addresses, "
                 "%llu failed out of memory; %llu distinct stack(s)\n",
            (unsigned long long)stats.events.allocations, (unsigned long long)stats.events.frees,
            (unsigned long long)stats.events.unknown_frees, (unsigned long long)stats.events.failed_out_of_memory,
            (unsigned long long)stats.stack_count);
    if (stats.events.zero_byte_requests)
        fprintf(out, "Zero-byte requests: %llu (they succeed and allocate nothing: counted by API, not as "
                     "allocations)\n", (unsigned long long)stats.events.zero_byte_requests);
    fprintf(out, "Calls by API:");
    for (int api = 0; api < VT_API_COUNT; api++)
        if (stats.events.calls_by_api[api])
            fprintf(out, " %s=%llu", vt_api_name(api), (unsigned long long)stats.events.calls_by_api[api]);
    fprintf(out, "\n\n");
}

/* The exit report's PyTorch part, when the bootstrap handed over a snapshot at exit: PyTorch's
 * segments are then its cache, not leaks; its tensors still allocated are. */
static void render_torch(FILE *out, struct symbolizer *symbolizer, const struct torch_snapshot *torch,
                         const struct live_groups *groups, const struct leak_report_options *options)
{
    char human[32];
    if (torch->view.segment_count == 0 && torch->view.block_count == 0) {
        fprintf(out, "PyTorch's caching allocator held no memory at exit (PYTORCH_NO_CUDA_MEMORY_CACHING=1, or "
                     "nothing allocated): its tensors are the CUDA allocations below.\n\n");
        return;
    }
    torch_report_render(out, symbolizer, torch, options->top_groups, true);
    fprintf(out, "CUDA memory held in PyTorch's segments at exit: %llu byte(s) (%s) in %llu allocation(s): its cache, "
                 "not leaks (its leaked tensors are above). The CUDA memory below is outside PyTorch's allocator.\n\n",
            (unsigned long long)groups->torch_bytes, vt_format_bytes(groups->torch_bytes, human, sizeof human),
            (unsigned long long)groups->torch_count);
}

void leak_report_render(FILE *out, const struct leak_report_options *options)
{
    struct live_groups groups;
    const struct torch_snapshot *torch = options->live_snapshot ? NULL : torch_snapshot_acquire(VT_TORCH_AT_EXIT);
    live_groups_collect_outside_torch(&groups, LIVE_GROUPS_ALL_DEVICES, torch ? &torch->view : NULL);
    struct symbolizer *symbolizer = symbolizer_open();
    fprintf(out, "=================================================================\n");
    if (options->live_snapshot)
        fprintf(out, "vramtrace: live snapshot %u of %s (pid %ld), %.3f s after start\n\n", options->live_snapshot,
                options->program_name, options->pid, seconds_since_start(recorder_now_ns()));
    else
        fprintf(out, "vramtrace: GPU memory report for %s (pid %ld), %.3f s after start\n\n", options->program_name,
                options->pid, seconds_since_start(recorder_now_ns()));
    if (torch)
        render_torch(out, symbolizer, torch, &groups, options);
    if (!options->live_snapshot)
        torch_snapshot_release();
    for (int kind = 0; kind < VT_KIND_COUNT; kind++)
        if (kind != VT_KIND_MAPPED_RANGE)
            render_kind(out, symbolizer, &groups, kind, options);
    if (groups.incomplete)
        fprintf(out, "(out of memory while grouping: some leaks are missing from the groups above)\n\n");
    render_out_of_memory(out);
    render_peaks(out);
    render_stats(out);
    symbolizer_close(symbolizer);
    live_groups_free(&groups);
}

struct summary_totals {
    uint64_t bytes, count;
};

static void add_to_summary(const struct alloc_record *record, void *context)
{
    struct summary_totals *totals = context;
    if (record->kind == VT_KIND_ADDRESS_SPACE || record->kind == VT_KIND_MAPPED_RANGE)
        return;
    totals->bytes += record->size_bytes;
    totals->count++;
}

void leak_report_render_summary(FILE *out)
{
    /* Leaks: memory outside PyTorch's allocator never freed, and, when PyTorch's snapshot at exit is
     * there, its tensors still allocated — never its cached segments. */
    struct summary_totals totals = {0, 0};
    const struct torch_snapshot *torch = torch_snapshot_acquire(VT_TORCH_AT_EXIT);
    if (torch) {
        struct live_groups groups;
        live_groups_collect_outside_torch(&groups, LIVE_GROUPS_ALL_DEVICES, &torch->view);
        for (int kind = 0; kind < VT_KIND_COUNT; kind++)
            if (kind != VT_KIND_ADDRESS_SPACE && kind != VT_KIND_MAPPED_RANGE) {
                totals.bytes += groups.bytes_by_kind[kind];
                totals.count += groups.count_by_kind[kind];
            }
        live_groups_free(&groups);
        for (size_t i = 0; i < torch->view.block_count; i++)
            if (vt_torch_block_is_tensor(torch->view.blocks[i].state)) {
                totals.bytes += torch->view.blocks[i].size_bytes;
                totals.count++;
            }
    } else {
        recorder_visit_live(add_to_summary, &totals);
    }
    torch_snapshot_release();
    fprintf(out, "SUMMARY: vramtrace: %llu byte(s) leaked in %llu allocation(s).\n",
            (unsigned long long)totals.bytes, (unsigned long long)totals.count);
}

/* False, with errno set, when the text did not all reach the stream's file. */
static bool write_all(FILE *out, const char *text, size_t length)
{
    if (length > 0 && fwrite(text, 1, length, out) != length)
        return false;
    return fflush(out) == 0;
}

/* Closes FILE; false, with errno set, when something written to it was lost (the close included). */
static bool close_checked(FILE *file, bool written)
{
    int saved = errno;
    bool failed = !written || ferror(file);
    if (!failed)
        saved = 0;
    if (fclose(file) != 0 && !failed) {
        failed = true;
        saved = errno;
    }
    errno = saved ? saved : EIO;
    return !failed;
}

void leak_report_write_live_snapshot(const struct leak_report_options *options)
{
    char written_to[PATH_MAX];
    FILE *file = output_file_fopen(options->file_path, "live snapshot", written_to, sizeof written_to);
    if (!file) {
        if (errno != EEXIST) /* a taken name was already said by output_file_fopen */
            shim_log("could not write the live snapshot to %s: %s", options->file_path, strerror(errno));
        return;
    }
    leak_report_render(file, options);
    bool written = fflush(file) == 0;
    if (!close_checked(file, written)) {
        shim_log("could not fully write the live snapshot %u to %s: %s", options->live_snapshot, written_to,
                 strerror(errno));
        return;
    }
    shim_log("live snapshot %u written to %s", options->live_snapshot, written_to);
}

void leak_report_write_at_exit(const struct leak_report_options *options)
{
    struct recorder_stats stats;
    recorder_read_stats(&stats);
    uint64_t calls = 0;
    for (int api = 0; api < VT_API_COUNT; api++)
        calls += stats.events.calls_by_api[api];
    if (calls == 0)
        return; /* the program never allocated GPU memory: say nothing */
    bool to_file = options->file_path && options->file_path[0];
    if (!to_file && !options->print_to_stderr)
        return; /* no report asked for (VRAMTRACE_QUIET with VRAMTRACE_REPORT=none): render nothing */

    char *body = NULL, *summary = NULL;
    size_t body_length = 0, summary_length = 0;
    FILE *body_stream = open_memstream(&body, &body_length);
    FILE *summary_stream = open_memstream(&summary, &summary_length);
    if (!body_stream || !summary_stream) {
        shim_log("internal error: no memory for the exit report");
        return;
    }
    leak_report_render(body_stream, options);
    leak_report_render_summary(summary_stream);
    fclose(body_stream);
    fclose(summary_stream);

    char note[2 * PATH_MAX + 256] = "";
    bool file_failed = false;
    if (options->trace_path && options->trace_error)
        snprintf(note, sizeof note, "Trace %s is incomplete: %s; %llu byte(s) were written (vramtrace report %s reads "
                 "what is there)\n", options->trace_path, options->trace_error,
                 (unsigned long long)options->trace_bytes, options->trace_path);
    else if (options->trace_path)
        snprintf(note, sizeof note, "Trace written to %s (vramtrace report %s)\n", options->trace_path, options->trace_path);
    else if (options->trace_error)
        snprintf(note, sizeof note, "No trace was written: %s\n", options->trace_error);
    char lost[256];
    if (options->trace_events_lost)
        snprintf(note + strlen(note), sizeof note - strlen(note),
                 "The trace is INCOMPLETE: %s (this report's own figures are exact)\n",
                 vt_format_lost_events(options->trace_events_lost, lost, sizeof lost));
    if (to_file) {
        char written_to[PATH_MAX];
        FILE *file = output_file_fopen(options->file_path, "report", written_to, sizeof written_to);
        if (file) {
            bool written = write_all(file, body, body_length) && write_all(file, summary, summary_length);
            if (close_checked(file, written)) {
                snprintf(note + strlen(note), sizeof note - strlen(note), "Report written to %s\n", written_to);
            } else {
                file_failed = true;
                snprintf(note + strlen(note), sizeof note - strlen(note),
                         "Could not fully write the report to %s: %s (it is incomplete; set VRAMTRACE_REPORT)\n",
                         written_to, strerror(errno));
            }
        } else {
            file_failed = true;
            snprintf(note + strlen(note), sizeof note - strlen(note),
                     "Could not write the report to %s: %s (set VRAMTRACE_REPORT)\n", options->file_path, strerror(errno));
        }
    }
    size_t note_length = strlen(note);
    if (note_length > 0 && note_length + 1 < sizeof note) { /* a blank line before the SUMMARY */
        note[note_length] = '\n';
        note[note_length + 1] = '\0';
    }
    if (options->print_to_stderr) {
        write_all(stderr, body, body_length);
        write_all(stderr, note, strlen(note));
        write_all(stderr, summary, summary_length);
    } else if (file_failed || options->trace_error || options->trace_events_lost) {
        write_all(stderr, note, strlen(note));
    }
    free(body);
    free(summary);
}
