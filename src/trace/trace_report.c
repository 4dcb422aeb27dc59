/* trace/trace_report.c — the content of `vramtrace report` (see trace_report.h). Replays: the
 * whole run (usage, calls, the live set at the end, the out-of-memory failures and the allocation
 * sites in both orders: made while the trace loads, or over a loaded model), up to --at, up to the
 * first failure, and one that stops at each device's peak in turn to take its snapshot; these
 * start from the model's live-set checkpoints when it has them (trace/live_index.h). Each pass over
 * a streamed model's events decodes its chunks again (trace_model.h), hence no more passes than
 * these. With PyTorch's snapshots in the trace, the live set is the CUDA memory outside PyTorch's
 * segments plus the tensors of the snapshot of that moment (the exit report's accounting). */
#include "trace/trace_report.h"

#include <stdlib.h>
#include <string.h>

bool vt_report_shows_slot(const struct vt_report *report, int slot)
{
    int device = report->options.device;
    return device == VT_GROUPS_ALL_DEVICES || vt_slot_of_device(device) == slot;
}

/* The out-of-memory failures of --device and the allocation sites, event after event of the
 * whole-run replay. */
static void collect_whole_run(const struct vt_model_event *event, size_t index, const struct vt_replay *replay,
                              void *context)
{
    (void)index;
    (void)replay;
    struct vt_report_pass *pass = context;
    struct vt_report *report = pass->report;
    vt_sites_add(pass->sites, event);
    int device = report->options.device;
    if (event->type == VT_RECORD_OOM && (device == VT_GROUPS_ALL_DEVICES || event->device == device)) {
        if (report->oom.failures++ == 0) {
            report->oom.first_event = *event; /* its detail: resolved once the trace is loaded */
            report->oom.first = &report->oom.first_event;
        }
        report->oom.allocations_after_last_failure = 0;
    } else if (vt_event_allocated_memory(event) && report->oom.failures) {
        report->oom.allocations_after_last_failure++; /* as the accounting's: no zero-byte request */
    }
}

static int by_peak_event(const void *left, const void *right)
{
    const struct vt_report_peak *a = left, *b = right;
    size_t x = a->usage.in_use.peak_event, y = b->usage.in_use.peak_event;
    return (x > y) - (x < y);
}

static int devices_then_host(const void *left, const void *right)
{
    const struct vt_report_peak *a = left, *b = right;
    unsigned x = (unsigned)a->device, y = (unsigned)b->device; /* -1 sorts last */
    return (x > y) - (x < y);
}

/* One replay, stopping at each peak (in event order) to group what is live on that device. */
static bool take_peak_snapshots(struct vt_report *report)
{
    report->peaks = calloc(VT_MODEL_SLOT_COUNT, sizeof *report->peaks);
    if (!report->peaks)
        return false;
    for (int slot = 0; slot < VT_MODEL_SLOT_COUNT; slot++)
        if (report->usage[slot].in_use.peak_bytes && vt_report_shows_slot(report, slot))
            report->peaks[report->peak_count++] =
                (struct vt_report_peak){.device = vt_device_of_slot(slot), .usage = report->usage[slot]};
    qsort(report->peaks, report->peak_count, sizeof *report->peaks, by_peak_event);
    struct vt_replay replay;
    vt_replay_start(&replay, report->model, true);
    for (size_t i = 0; i < report->peak_count; i++) {
        vt_replay_until_event(&replay, report->peaks[i].usage.in_use.peak_event + 1);
        vt_groups_collect_live(&report->peaks[i].snapshot, &replay, report->peaks[i].device);
    }
    vt_replay_finish(&replay);
    qsort(report->peaks, report->peak_count, sizeof *report->peaks, devices_then_host);
    return true;
}

/* The live set at the replay's point: with a tensor layer, outside PyTorch's segments, and per
 * device what PyTorch held. */
static bool collect_live(struct vt_report *report, const struct vt_replay *replay,
                         const struct vt_model_torch_snapshot *snapshot)
{
    struct vt_report_torch *torch = &report->torch;
    int device = report->options.device;
    torch->snapshot = snapshot;
    vt_groups_collect_live_outside_torch(&report->live, replay, device, snapshot ? &snapshot->view : NULL);
    if (!snapshot)
        return true;
    struct vt_torch_device_summary summaries[VT_MODEL_MAX_DEVICES];
    size_t count = vt_torch_view_summarize(&snapshot->view, summaries, VT_MODEL_MAX_DEVICES);
    if (count > VT_MODEL_MAX_DEVICES)
        count = VT_MODEL_MAX_DEVICES;
    torch->devices = calloc(count ? count : 1, sizeof *torch->devices);
    if (!torch->devices)
        return false;
    for (size_t i = 0; i < count; i++) {
        if (device != VT_GROUPS_ALL_DEVICES && summaries[i].device != device)
            continue;
        struct vt_report_torch_device *shown = &torch->devices[torch->device_count++];
        shown->summary = summaries[i];
        vt_groups_collect_live_outside_torch(&shown->outside, replay, summaries[i].device, &snapshot->view);
        shown->cuda_live_bytes = vt_replay_usage(replay, summaries[i].device)->in_use.current_bytes;
    }
    return vt_torch_group_tensors(&snapshot->view, device == VT_GROUPS_ALL_DEVICES ? VT_TORCH_ALL_DEVICES : device,
                                  &torch->tensors);
}

static bool collect_torch_oom(struct vt_report *report)
{
    struct vt_report_torch_oom *oom = &report->torch_oom;
    const struct vt_model_torch_snapshot *snapshot = vt_torch_oom_snapshot(report->model);
    int device = report->options.device;
    if (!snapshot || (device != VT_GROUPS_ALL_DEVICES && snapshot->oom_device != device))
        return true;
    oom->snapshot = snapshot;
    oom->summary.device = snapshot->oom_device;
    struct vt_torch_device_summary summaries[VT_MODEL_MAX_DEVICES];
    size_t count = vt_torch_view_summarize(&snapshot->view, summaries, VT_MODEL_MAX_DEVICES);
    for (size_t i = 0; i < count && i < VT_MODEL_MAX_DEVICES; i++)
        if (summaries[i].device == snapshot->oom_device)
            oom->summary = summaries[i];
    return vt_torch_group_tensors(&snapshot->view, snapshot->oom_device, &oom->tensors);
}

void vt_report_memory_totals(const struct vt_groups *groups, uint64_t *bytes, uint64_t *count)
{
    *bytes = *count = 0;
    for (unsigned kind = 0; kind < VT_KIND_COUNT; kind++)
        if (vt_kind_is_memory_use(kind)) {
            *bytes += groups->bytes_by_kind[kind];
            *count += groups->count_by_kind[kind];
        }
}

bool vt_report_driver_beyond(const struct vt_report_torch_device *device, uint64_t *used, uint64_t *beyond)
{
    const struct vt_torch_device_summary *summary = &device->summary;
    if (!summary->driver_total_bytes)
        return false;
    *used = summary->driver_total_bytes - summary->driver_free_bytes;
    *beyond = *used > device->cuda_live_bytes ? *used - device->cuda_live_bytes : 0;
    return true;
}

void vt_report_summary(const struct vt_report *report, uint64_t *bytes, uint64_t *count)
{
    vt_report_memory_totals(&report->live, bytes, count);
    if (report->torch.snapshot) {
        *bytes += report->torch.tensors.bytes;
        *count += report->torch.tensors.count;
    }
}

void vt_report_pass_start(struct vt_report_pass *pass, struct vt_report *report, const struct vt_trace_model *model,
                          const struct vt_report_options *options, struct vt_model_load_options *load_options)
{
    memset(report, 0, sizeof *report);
    report->model = model;
    report->options = *options;
    memset(&pass->tables, 0, sizeof pass->tables);
    pass->report = report;
    pass->sites = vt_sites_start(options->device);
    vt_replay_start(&pass->replay, model, true);
    if (load_options)
        vt_report_pass_load_options(pass, load_options);
}

void vt_report_pass_load_options(struct vt_report_pass *pass, struct vt_model_load_options *load_options)
{
    load_options->replay = &pass->replay;
    load_options->visit = collect_whole_run;
    load_options->visit_context = pass;
    load_options->index_live_set = true;
}

void vt_report_pass_run(struct vt_report_pass *pass)
{
    vt_replay_all(&pass->replay, collect_whole_run, pass);
}

bool vt_report_pass_take(struct vt_report_pass *pass, struct vt_index_report_tables *tables)
{
    struct vt_report *report = pass->report;
    const struct vt_trace_model *model = report->model;
    if (!tables->present || tables->device != report->options.device)
        return false;
    if (tables->oom_failures) { /* the first failure: an OOM event of the model, of a known detail */
        if (tables->oom_first_event >= model->event_count)
            return false;
        const struct vt_model_event *first = vt_model_event_at(model, tables->oom_first_event);
        if (first->type != VT_RECORD_OOM || first->detail >= model->oom_count)
            return false;
        report->oom.first_event = *first;
        report->oom.first = &report->oom.first_event;
    }
    report->oom.failures = tables->oom_failures;
    report->oom.allocations_after_last_failure = tables->oom_allocations_after_last_failure;
    pass->tables = *tables; /* moved */
    memset(tables, 0, sizeof *tables);
    vt_replay_all(&pass->replay, NULL, NULL); /* to the end: from the last checkpoint */
    return true;
}

bool vt_report_pass_tables(const struct vt_report_pass *pass, struct vt_index_report_tables *tables)
{
    const struct vt_report *report = pass->report;
    memset(tables, 0, sizeof *tables);
    if (!vt_sites_copy(pass->sites, &tables->sites))
        return false;
    tables->present = true;
    tables->device = report->options.device;
    tables->oom_failures = report->oom.failures;
    tables->oom_allocations_after_last_failure = report->oom.allocations_after_last_failure;
    tables->oom_first_event = report->oom.first ? report->model->ooms[report->oom.first_event.detail].event_index : 0;
    return true;
}

bool vt_report_pass_finish(struct vt_report_pass *pass)
{
    struct vt_report *report = pass->report;
    const struct vt_trace_model *model = report->model;
    const struct vt_report_options *options = &report->options;
    struct vt_replay replay = pass->replay;
    if (pass->tables.present) { /* taken from the index */
        vt_sites_finish_both(pass->sites, &report->sites_by_bytes, &report->sites_by_count); /* frees it */
        vt_groups_free(&report->sites_by_bytes);
        vt_groups_free(&report->sites_by_count);
        report->sites_by_bytes = pass->tables.sites;
        vt_sites_by_count(&report->sites_by_bytes, &report->sites_by_count);
        memset(&pass->tables, 0, sizeof pass->tables);
    } else {
        vt_sites_finish_both(pass->sites, &report->sites_by_bytes, &report->sites_by_count);
    }
    if (report->oom.first)
        report->oom.first_detail = &model->ooms[report->oom.first_event.detail];
    memcpy(report->usage, replay.accounting.usage, sizeof report->usage);
    report->stats = replay.accounting.stats;
    bool ok = true;
    if (!options->at_time) {
        report->torch.leaked = true;
        ok = collect_live(report, &replay, vt_torch_exit_snapshot(model));
        report->live_time_ns = model->duration_ns;
    }
    vt_replay_finish(&replay);
    if (options->at_time) {
        vt_replay_start(&replay, model, true);
        vt_replay_until_time(&replay, options->at_ns);
        ok = collect_live(report, &replay, vt_torch_snapshot_at(model, options->at_ns));
        report->live_time_ns = options->at_ns;
        vt_replay_finish(&replay);
    }
    if (!ok || !collect_torch_oom(report))
        return false;
    if (report->oom.first) { /* what was live on the failing device: the OOM report's live set */
        vt_replay_start(&replay, model, true);
        vt_replay_until_event(&replay, report->oom.first_detail->event_index);
        vt_groups_collect_live(&report->oom.live, &replay, report->oom.first->device);
        vt_replay_finish(&replay);
    }
    return take_peak_snapshots(report);
}

void vt_report_pass_drop(struct vt_report_pass *pass)
{
    vt_index_report_tables_free(&pass->tables);
    vt_sites_finish_both(pass->sites, &pass->report->sites_by_bytes, &pass->report->sites_by_count);
    vt_replay_finish(&pass->replay);
    vt_report_free(pass->report);
}

bool vt_report_build(struct vt_report *report, const struct vt_trace_model *model,
                     const struct vt_report_options *options)
{
    struct vt_report_pass pass;
    vt_report_pass_start(&pass, report, model, options, NULL);
    vt_report_pass_run(&pass);
    return vt_report_pass_finish(&pass);
}

void vt_report_free(struct vt_report *report)
{
    for (size_t i = 0; i < report->peak_count; i++)
        vt_groups_free(&report->peaks[i].snapshot);
    free(report->peaks);
    vt_groups_free(&report->live);
    vt_groups_free(&report->oom.live);
    vt_groups_free(&report->sites_by_bytes);
    vt_groups_free(&report->sites_by_count);
    for (size_t i = 0; i < report->torch.device_count; i++)
        vt_groups_free(&report->torch.devices[i].outside);
    free(report->torch.devices);
    vt_torch_groups_free(&report->torch.tensors);
    vt_torch_groups_free(&report->torch_oom.tensors);
    memset(report, 0, sizeof *report);
}
