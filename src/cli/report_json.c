/* cli/report_json.c — the JSON rendering of `vramtrace report --format json` (docs/report-json.md,
 * report_render.h), and its parts that `vramtrace html` embeds: frames, stacks, groups, tensors. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "common/format.h"
#include "report_render.h"
#include "trace/trace_torch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPORT_JSON_VERSION 1


void vt_report_json_time(struct vt_json *json, const char *key_ns, const char *key_s, uint64_t nanoseconds)
{
    vt_json_uint(json, key_ns, nanoseconds);
    vt_json_seconds(json, key_s, nanoseconds);
}

void vt_report_json_device(struct vt_json *json, const char *key, int device)
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

void vt_report_json_frames(struct vt_report_json *output, const char *key, uint32_t stack_id)
{
    struct vt_json *json = &output->json;
    unsigned depth;
    const uint64_t *frames = vt_model_stack_frames(output->report->model, stack_id, &depth);
    vt_json_array_begin(json, key);
    for (unsigned i = 0; frames && i < depth; i++)
        for (const struct vt_symbol *symbol = vt_symbolize(output->symbolizer, frames[i]); symbol; symbol = symbol->caller)
            json_frame(json, frames[i], symbol);
    vt_json_array_end(json);
}

void vt_report_json_stack(struct vt_report_json *output, uint32_t stack_id)
{
    vt_json_uint(&output->json, "stack_id", stack_id);
    if (!output->stack_refs)
        vt_report_json_frames(output, "frames", stack_id);
    else if (!vt_id_map_put(output->stack_refs, stack_id, 0))
        output->out_of_memory = true;
}

void vt_report_json_group(struct vt_report_json *output, const struct vt_groups *groups, const struct vt_group *group)
{
    struct vt_json *json = &output->json;
    vt_json_object_begin(json, NULL);
    vt_json_string(json, "kind", vt_memory_kind_name(group->kind));
    vt_json_string(json, "api", vt_api_name(group->api));
    vt_json_uint(json, "bytes", group->bytes);
    vt_json_uint(json, "count", group->count);
    if (vt_thread_tally_known(&group->threads)) {
        vt_json_uint(json, "thread_count", group->threads.count);
        vt_json_array_begin(json, "threads");
        for (uint32_t i = 0; i < group->threads.count && i < VT_THREADS_LISTED; i++) {
            const struct vt_thread_share *share = &group->threads.shares[i];
            vt_json_object_begin(json, NULL);
            if (share->tid) {
                vt_json_uint(json, "tid", share->tid);
                vt_json_string(json, "name", vt_model_thread_name(share->tid, output->report->model));
            } else {
                vt_json_null(json, "tid");
                vt_json_null(json, "name");
            }
            vt_json_uint(json, "bytes", share->bytes);
            vt_json_uint(json, "count", share->count);
            vt_json_object_end(json);
        }
        vt_json_array_end(json);
    }
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
    vt_report_json_stack(output, group->stack_id);
    vt_json_object_end(json);
}

struct json_group_context {
    struct vt_report_json *output;
    const struct vt_groups *groups;
};

static void json_listed_group(const struct vt_group *group, void *context)
{
    const struct json_group_context *listed = context;
    vt_report_json_group(listed->output, listed->groups, group);
}

/* {"bytes", "count", "kinds": [{"kind", "bytes", "count", "groups": [...], "more_groups": {...}}]}
 * over the kinds `include` accepts. */
static void json_group_set(struct vt_report_json *output, const struct vt_groups *groups, bool (*include)(unsigned kind))
{
    struct vt_json *json = &output->json;
    uint64_t bytes, count;
    vt_report_memory_totals(groups, &bytes, &count);
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

static void json_header(struct vt_report_json *output)
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
    vt_report_json_time(json, "duration_ns", "duration_s", model->duration_ns);
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
    vt_report_json_device(json, "device", report->options.device == VT_GROUPS_ALL_DEVICES ? -1 : report->options.device);
    vt_json_uint(json, "top", output->top);
    if (report->options.at_time)
        vt_report_json_time(json, "at_ns", "at_s", report->options.at_ns);
    else {
        vt_json_null(json, "at_ns");
        vt_json_null(json, "at_s");
    }
    vt_json_object_end(json);
}

static void json_usage(struct vt_report_json *output)
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
            vt_report_json_device(json, "device", vt_device_of_slot(shown_slot));
            vt_json_string(json, "kind", vt_memory_kind_name(kind));
            vt_json_bool(json, "memory_use", vt_kind_is_memory_use(kind));
            vt_json_uint(json, "end_bytes", counter->current_bytes);
            vt_json_uint(json, "end_count", counter->live_count);
            vt_json_uint(json, "peak_bytes", counter->peak_bytes);
            vt_report_json_time(json, "peak_time_ns", "peak_time_s", counter->peak_time_ns);
            vt_json_object_end(json);
        }
    }
    vt_json_array_end(json);
}

static void json_peaks(struct vt_report_json *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report *report = output->report;
    vt_json_array_begin(json, "peaks");
    for (size_t i = 0; i < report->peak_count; i++) {
        const struct vt_report_peak *peak = &report->peaks[i];
        vt_json_object_begin(json, NULL);
        vt_report_json_device(json, "device", peak->device);
        vt_json_uint(json, "bytes", peak->usage.in_use.peak_bytes);
        vt_report_json_time(json, "time_ns", "time_s", peak->usage.in_use.peak_time_ns);
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

static void json_out_of_memory(struct vt_report_json *output)
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
    vt_report_json_time(json, "time_ns", "time_s", oom->first->time_ns);
    vt_json_string(json, "api", vt_api_name(oom->first->api));
    vt_json_string(json, "kind", vt_memory_kind_name(oom->first->kind));
    vt_report_json_device(json, "device", oom->first->device);
    vt_json_uint(json, "requested_bytes", oom->first->size_bytes);
    vt_json_uint(json, "device_free_bytes", oom->first_detail->device_free_bytes);
    vt_json_uint(json, "device_total_bytes", oom->first_detail->device_total_bytes);
    vt_report_json_stack(output, oom->first->stack_id);
    vt_json_object_begin(json, "live");
    json_group_set(output, &oom->live, memory_kinds);
    vt_json_object_end(json);
    vt_json_object_end(json);
    vt_json_object_end(json);
}

static void json_sites(struct vt_report_json *output, const char *key, const struct vt_groups *sites)
{
    struct vt_json *json = &output->json;
    vt_json_array_begin(json, key);
    for (size_t i = 0; i < sites->group_count && i < output->top; i++)
        vt_report_json_group(output, NULL, &sites->groups[i]);
    vt_json_array_end(json);
}

static void json_calls(struct vt_report_json *output)
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

void vt_report_json_user_frame(struct vt_report_json *output, uint32_t stack_id)
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
void vt_report_json_tensor_groups(struct vt_report_json *output, const char *key, const struct vt_torch_groups *groups)
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
        vt_report_json_user_frame(output, group->stack_id);
        vt_report_json_stack(output, group->stack_id);
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
    vt_report_json_time(json, "time_ns", "time_s", snapshot->time_ns);
}

static void json_torch_devices(struct vt_report_json *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report_torch *torch = &output->report->torch;
    vt_json_array_begin(json, "devices");
    for (size_t d = 0; d < torch->device_count; d++) {
        const struct vt_report_torch_device *device = &torch->devices[d];
        uint64_t outside_bytes, outside_count, used, beyond;
        vt_report_memory_totals(&device->outside, &outside_bytes, &outside_count);
        vt_json_object_begin(json, NULL);
        json_torch_summary(json, &device->summary);
        vt_json_uint(json, "cuda_live_bytes", device->cuda_live_bytes);
        if (vt_report_driver_beyond(device, &used, &beyond))
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
                vt_report_json_group(output, &device->outside, &device->outside.groups[i]);
        vt_json_array_end(json);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
}

static void json_torch_out_of_memory(struct vt_report_json *output)
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
    vt_report_json_user_frame(output, oom->snapshot->oom_stack_id);
    vt_report_json_stack(output, oom->snapshot->oom_stack_id);
    vt_json_object_begin(json, "allocator");
    json_torch_summary(json, &oom->summary);
    vt_json_object_end(json);
    vt_report_json_tensor_groups(output, "tensors", &oom->tensors);
    vt_json_object_end(json);
}

/* "torch" (docs/report-json.md): only in reports of traces with PyTorch's snapshots. */
static void json_torch(struct vt_report_json *output)
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
        vt_report_json_tensor_groups(output, "tensors", &report->torch.tensors);
        vt_json_object_end(json);
    }
    json_torch_out_of_memory(output);
    vt_json_object_end(json);
}

void vt_report_json_members(struct vt_report_json *output)
{
    struct vt_json *json = &output->json;
    const struct vt_report *report = output->report;
    json_header(output);
    json_usage(output);
    vt_json_object_begin(json, "live");
    vt_json_string(json, "at", report->options.at_time ? "time" : "end");
    vt_report_json_time(json, "time_ns", "time_s", report->live_time_ns);
    json_group_set(output, &report->live, live_kinds);
    vt_json_object_end(json);
    json_peaks(output);
    json_out_of_memory(output);
    vt_json_object_begin(json, "top_sites");
    json_sites(output, "by_bytes", &report->sites_by_bytes);
    json_sites(output, "by_count", &report->sites_by_count);
    vt_json_object_end(json);
    json_calls(output);
    json_torch(output);
    uint64_t bytes, count;
    vt_report_summary(report, &bytes, &count);
    vt_json_object_begin(json, "summary");
    vt_json_string(json, "what", report->options.at_time ? "live" : "leaked");
    vt_json_uint(json, "bytes", bytes);
    vt_json_uint(json, "count", count);
    vt_json_object_end(json);
}

void vt_report_render_json(FILE *out, const struct vt_report *report, struct vt_symbolizer *symbolizer, unsigned top)
{
    struct vt_report_json output = {.report = report, .symbolizer = symbolizer, .top = top};
    vt_json_start(&output.json, out);
    vt_json_object_begin(&output.json, NULL);
    vt_report_json_members(&output);
    vt_json_object_end(&output.json);
    vt_json_finish(&output.json);
}
