/* tests/fuzz/fuzz_trace.c — fuzz harness: the bytes are a trace file. Loads it (trace_reader:
 * file header, chunk headers, CRC, zstd, records; trace_model: the model), then does what the
 * analysis commands do with a model: a replay that tracks the live set, the report at the end
 * and at the middle of the run, the allocation sites, the PyTorch layer's lines, and the Python
 * line of every stack. docs/trace-format.md "What a reader accepts" is the contract: any input
 * ends in a model or a one-line error, with memory bounded by the file's real content. */
#include "fuzz_support.h"

#include "trace/trace_model.h"
#include "trace/trace_report.h"
#include "trace/trace_torch.h"

static void visit(const struct vt_model_event *event, size_t index, const struct vt_replay *replay, void *context)
{
    (void)index;
    uint64_t *sum = context;
    const struct vt_slot_usage *usage = vt_replay_usage(replay, event->device);
    *sum += usage ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], error[4096 + 256];
    uint8_t *trace = fuzz_trace_with_good_crcs(data, size);
    int fd = trace ? fuzz_memory_file(trace, size, path, sizeof path) : -1;
    free(trace);
    if (fd < 0)
        return 0;
    struct vt_trace_model model;
    struct vt_model_load_options options = {.progress = NULL};
    if (vt_model_load(&model, path, &options, error, sizeof error) == VT_TRACE_OPENED) {
        struct vt_replay replay;
        uint64_t sum = 0;
        vt_replay_start(&replay, &model, true);
        vt_replay_all(&replay, visit, &sum);
        vt_replay_finish(&replay);

        struct vt_report report;
        struct vt_report_options at_end = {.device = VT_GROUPS_ALL_DEVICES};
        if (vt_report_build(&report, &model, &at_end)) {
            uint64_t bytes, count;
            vt_report_summary(&report, &bytes, &count);
            vt_report_free(&report);
        }
        struct vt_report_options middle = {.device = 0, .at_time = true, .at_ns = model.duration_ns / 2};
        if (vt_report_build(&report, &model, &middle))
            vt_report_free(&report);

        struct vt_groups sites;
        vt_groups_collect_sites(&sites, &model, VT_GROUPS_ALL_DEVICES, VT_GROUPS_BY_COUNT);
        vt_groups_free(&sites);

        for (size_t i = 0; i < model.torch_snapshot_count; i++) {
            struct vt_torch_lines lines;
            if (vt_torch_lines_collect(&model, &model.torch_snapshots[i], 0, &lines))
                vt_torch_lines_free(&lines);
        }
        char line[512];
        for (size_t i = 0; i < model.stack_slots && i < 256; i++) {
            unsigned depth;
            vt_model_stack_frames(&model, (uint32_t)i, &depth);
            vt_torch_user_line(&model, (uint32_t)i, line, sizeof line);
        }
        vt_model_events_until(&model, model.duration_ns / 3);
    }
    vt_model_free(&model);
    close(fd);
    return 0;
}
