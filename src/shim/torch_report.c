/* shim/torch_report.c — the PyTorch part of the shim's reports (see torch_report.h). */
#define _GNU_SOURCE
#include "shim/torch_report.h"

#include "common/format.h"
#include "common/python_lines.h"
#include "common/torch_layer.h"
#include "shim/live_groups.h"
#include "shim/oom_report.h"
#include "shim/python_codes.h"
#include "shim/recorder.h"
#include "shim/stack_table.h"
#include "shim/symbolizer.h"
#include "shim/torch_snapshot.h"
#include "vramtrace/frames.h"

#include <stdint.h>
#include <stdio.h>

enum { MAX_DEVICES_SHOWN = 64 };

_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "stack frames are 64-bit words");

static const char *code_file(uint64_t frame, void *context)
{
    (void)context;
    const struct python_code *code = python_code_get(vt_python_frame_code(frame));
    return code ? code->file_name : NULL;
}

bool torch_report_user_line(uint32_t stack_id, char *out, size_t size)
{
    unsigned depth = 0;
    const uint64_t *frames = (const uint64_t *)stack_frames(stack_id, &depth);
    long at = vt_python_user_frame(frames, depth, code_file, NULL);
    if (at < 0)
        return false;
    const struct python_code *chosen = python_code_get(vt_python_frame_code(frames[at]));
    int line = vt_python_line(chosen->line_table_format, chosen->line_table, chosen->line_table_bytes,
                              (int)chosen->first_line, vt_python_frame_offset(frames[at]));
    snprintf(out, size, "%s %s:%d", chosen->function_name, chosen->file_name, line);
    return true;
}

static double seconds(uint64_t since_start_ns)
{
    return (double)since_start_ns / 1e9;
}

static void render_device_summary(FILE *out, const struct vt_torch_device_summary *summary, const char *when)
{
    vt_torch_print_summary(out, summary, when);
    if (summary->driver_total_bytes) {
        char used[32], total[32];
        uint64_t used_bytes = summary->driver_total_bytes - summary->driver_free_bytes;
        fprintf(out, "  the driver reported %s used of %s on device %d (every process and context)\n",
                vt_format_bytes(used_bytes, used, sizeof used),
                vt_format_bytes(summary->driver_total_bytes, total, sizeof total), summary->device);
    }
}

/* The tensor groups of one device: `title` groups, at most `top`, then one line for the rest. */
static void render_tensor_groups(FILE *out, struct symbolizer *symbolizer, const struct vt_torch_groups *groups,
                                 const char *title, unsigned top)
{
    char line[1024];
    uint64_t rest_bytes = 0, rest_count = 0, rest_groups = 0;
    for (size_t i = 0; i < groups->group_count; i++) {
        const struct vt_torch_group *group = &groups->groups[i];
        if (i >= top) {
            rest_bytes += group->bytes;
            rest_count += group->count;
            rest_groups++;
            continue;
        }
        vt_torch_print_group_head(out, title, group);
        if (torch_report_user_line(group->stack_id, line, sizeof line))
            fprintf(out, ", allocated at %s", line);
        fprintf(out, ":\n");
        if (group->stack_id)
            render_stack(out, symbolizer, group->stack_id);
        else
            fprintf(out, "    (no Python stack: PyTorch's history was not on when it was allocated)\n");
        fputc('\n', out);
    }
    if (rest_groups) {
        vt_torch_print_rest(out, rest_groups, rest_bytes, rest_count);
        fprintf(out, "\n\n");
    }
}

void torch_report_render(FILE *out, struct symbolizer *symbolizer, const struct torch_snapshot *snapshot,
                         unsigned top, bool at_exit)
{
    struct vt_torch_device_summary summaries[MAX_DEVICES_SHOWN];
    size_t count = vt_torch_view_summarize(&snapshot->view, summaries, MAX_DEVICES_SHOWN);
    char when[64], human[32];
    snprintf(when, sizeof when, "%s (%.3f s)", at_exit ? "at exit" : "then", seconds(snapshot->timestamp_ns));
    for (size_t d = 0; d < count && d < MAX_DEVICES_SHOWN; d++) {
        const struct vt_torch_device_summary *summary = &summaries[d];
        render_device_summary(out, summary, when);
        fputc('\n', out);
        struct vt_torch_groups groups;
        if (!vt_torch_group_tensors(&snapshot->view, summary->device, &groups)) {
            fprintf(out, "(out of memory while grouping PyTorch's tensors)\n\n");
            continue;
        }
        if (groups.count == 0)
            fprintf(out, "Tensors on device %d: %s\n\n", summary->device, at_exit ? "no leaks" : "none");
        else
            fprintf(out, "Tensors on device %d: %llu byte(s) (%s) %s in %llu tensor(s)\n\n", summary->device,
                    (unsigned long long)groups.bytes, vt_format_bytes(groups.bytes, human, sizeof human),
                    at_exit ? "still allocated at exit (leaked)" : "live", (unsigned long long)groups.count);
        render_tensor_groups(out, symbolizer, &groups, at_exit ? "Leak" : "Live", top);
        vt_torch_groups_free(&groups);
    }
}

static void render_out_of_memory(FILE *out, unsigned top, void *context)
{
    const struct torch_snapshot *snapshot = context;
    struct symbolizer *symbolizer = symbolizer_open();
    char human[32], line[1024];
    fprintf(out, "PyTorch's view of the out-of-memory (its snapshot at %.3f s):\n", seconds(snapshot->timestamp_ns));
    if (snapshot->oom_requested_bytes) {
        fprintf(out, "The failing request: %llu byte(s) (%s) on device %d",
                (unsigned long long)snapshot->oom_requested_bytes,
                vt_format_bytes(snapshot->oom_requested_bytes, human, sizeof human), snapshot->oom_device);
        if (torch_report_user_line(snapshot->oom_stack_id, line, sizeof line))
            fprintf(out, ", at %s", line);
        fprintf(out, ":\n");
        if (snapshot->oom_stack_id)
            render_stack(out, symbolizer, snapshot->oom_stack_id);
        fputc('\n', out);
    }
    torch_report_render(out, symbolizer, snapshot, top, false);
    symbolizer_close(symbolizer);
}

void torch_report_out_of_memory(void)
{
    const struct torch_snapshot *snapshot = torch_snapshot_acquire(VT_TORCH_AT_OOM);
    if (snapshot)
        oom_report_append("PyTorch's tensors", render_out_of_memory, (void *)snapshot);
    torch_snapshot_release();
}
