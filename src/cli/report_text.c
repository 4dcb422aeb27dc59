/* cli/report_text.c — the text rendering of `vramtrace report` (report_render.h), shaped like the
 * shim's exit report: who ran, the devices, usage per device and kind, the PyTorch layer, the leaks
 * grouped by stack (or the live set at --at), the out-of-memory state, each device's peak with what
 * was live then, the top allocation sites, the call counts and the SUMMARY line. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "common/format.h"
#include "report_render.h"
#include "trace/trace_torch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
 * threads that did (vt_format_threads), the mappings of cuMemCreate memory, and the stack. */
static void text_group(const struct vt_group *group, void *context)
{
    const struct text_group_context *shown = context;
    FILE *out = shown->text->out;
    char human[32], threads[160];
    fprintf(out, "%s of %llu byte(s) (%s) in %llu allocation(s) of %s memory, %s, allocated from:\n", shown->title,
            (unsigned long long)group->bytes, vt_format_bytes(group->bytes, human, sizeof human),
            (unsigned long long)group->count, vt_memory_kind_name(group->kind), vt_api_name(group->api));
    if (vt_thread_tally_known(&group->threads))
        fprintf(out, "  %s\n", vt_format_threads(&group->threads, vt_model_thread_name, shown->text->report->model,
                                                threads, sizeof threads));
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
            fprintf(out, "  %s, %s%s: %s %llu byte(s) (%s) in %llu allocation(s) at the end; peak %llu byte(s) (%s) at %.6f s\n",
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
        vt_report_memory_totals(&device->outside, &outside_bytes, &outside_count);
        held_bytes += device->outside.torch_bytes;
        held_count += device->outside.torch_count;
        vt_torch_print_summary(out, summary, when);
        if (vt_report_driver_beyond(device, &used, &beyond))
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
    fprintf(out, "Out of memory: %llu failed allocation(s); the first: %s of %llu byte(s) (%s) on %s %d at %.6f s",
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
    vt_report_memory_totals(&oom->live, &live_bytes, &live_count);
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
        fprintf(out, "  %s: %llu byte(s) (%s) at %.6f s", peak_slot_name(peak->device, where, sizeof where),
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
        vt_report_memory_totals(&peak->snapshot, &bytes, &count);
        fprintf(out, "Peak snapshot of %s: %llu byte(s) (%s) in %llu allocation(s) live at %.6f s\n\n",
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

void vt_report_render_text(FILE *out, const struct vt_report *report, struct vt_symbolizer *symbolizer, unsigned top)
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
