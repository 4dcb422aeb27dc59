/* trace/trace_torch.c — the PyTorch layer of a loaded trace (see trace_torch.h). */
#define _GNU_SOURCE
#include "trace/trace_torch.h"

#include "common/python_lines.h"
#include "vramtrace/frames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct vt_model_torch_snapshot *vt_torch_exit_snapshot(const struct vt_trace_model *model)
{
    for (size_t i = model->torch_snapshot_count; i > 0; i--)
        if (model->torch_snapshots[i - 1].moment == VT_TORCH_AT_EXIT)
            return &model->torch_snapshots[i - 1];
    return NULL;
}

const struct vt_model_torch_snapshot *vt_torch_oom_snapshot(const struct vt_trace_model *model)
{
    for (size_t i = 0; i < model->torch_snapshot_count; i++)
        if (model->torch_snapshots[i].moment == VT_TORCH_AT_OOM)
            return &model->torch_snapshots[i];
    return NULL;
}

const struct vt_model_torch_snapshot *vt_torch_snapshot_at(const struct vt_trace_model *model, uint64_t time_ns)
{
    const struct vt_model_torch_snapshot *newest = NULL;
    for (size_t i = 0; i < model->torch_snapshot_count; i++) {
        const struct vt_model_torch_snapshot *snapshot = &model->torch_snapshots[i];
        if (snapshot->time_ns <= time_ns && (!newest || snapshot->time_ns >= newest->time_ns))
            newest = snapshot;
    }
    return newest;
}

const char *vt_torch_moment_name(const struct vt_model_torch_snapshot *snapshot, char *out, size_t size)
{
    if (snapshot->moment == VT_TORCH_AT_EXIT)
        snprintf(out, size, "at exit");
    else if (snapshot->moment == VT_TORCH_AT_OOM)
        snprintf(out, size, "at the out-of-memory");
    else if (snapshot->moment == VT_TORCH_AT_DUMP)
        snprintf(out, size, "at live dump %u", snapshot->dump_number);
    else
        snprintf(out, size, "(snapshot %u)", snapshot->number);
    return out;
}

static const char *code_file(uint64_t frame, void *context)
{
    const struct vt_model_code *code = vt_model_find_code(context, vt_python_frame_code(frame));
    return code ? code->file_name : NULL;
}

bool vt_torch_user_frame(const struct vt_trace_model *model, uint32_t stack_id, struct vt_user_frame *frame)
{
    unsigned depth = 0;
    const uint64_t *frames = vt_model_stack_frames(model, stack_id, &depth);
    long at = vt_python_user_frame(frames, depth, code_file, (void *)model);
    if (at < 0)
        return false;
    const struct vt_model_code *chosen = vt_model_find_code(model, vt_python_frame_code(frames[at]));
    frame->file_name = chosen->file_name;
    frame->function_name = chosen->function_name;
    frame->line = vt_python_line(chosen->line_table_format, chosen->line_table, chosen->line_table_bytes,
                                 (int)chosen->first_line, vt_python_frame_offset(frames[at]));
    return true;
}

bool vt_torch_user_line(const struct vt_trace_model *model, uint32_t stack_id, char *out, size_t size)
{
    struct vt_user_frame frame;
    if (size)
        out[0] = '\0';
    if (!vt_torch_user_frame(model, stack_id, &frame))
        return false;
    snprintf(out, size, "%s %s:%d", frame.function_name, frame.file_name, frame.line);
    return true;
}

int vt_torch_line_compare(const struct vt_torch_line *a, const struct vt_torch_line *b)
{
    if (!a->frame.file_name || !b->frame.file_name)
        return (a->frame.file_name != NULL) - (b->frame.file_name != NULL);
    int order = strcmp(a->frame.file_name, b->frame.file_name);
    if (order)
        return order;
    if (a->frame.line != b->frame.line)
        return a->frame.line < b->frame.line ? -1 : 1;
    return strcmp(a->frame.function_name, b->frame.function_name);
}

static int compare_lines(const void *a, const void *b)
{
    return vt_torch_line_compare(a, b);
}

bool vt_torch_lines_collect(const struct vt_trace_model *model, const struct vt_model_torch_snapshot *snapshot,
                            int device, struct vt_torch_lines *lines)
{
    memset(lines, 0, sizeof *lines);
    struct vt_torch_groups groups;
    if (!vt_torch_group_tensors(&snapshot->view, device, &groups))
        return false;
    lines->lines = malloc((groups.group_count ? groups.group_count : 1) * sizeof *lines->lines);
    if (!lines->lines) {
        vt_torch_groups_free(&groups);
        return false;
    }
    for (size_t i = 0; i < groups.group_count; i++) {
        const struct vt_torch_group *group = &groups.groups[i];
        struct vt_torch_line *line = &lines->lines[i];
        *line = (struct vt_torch_line){.stack_id = group->stack_id, .bytes = group->bytes, .count = group->count};
        if (!vt_torch_user_frame(model, group->stack_id, &line->frame))
            line->frame = (struct vt_user_frame){NULL, NULL, 0};
    }
    lines->bytes = groups.bytes;
    lines->count = groups.count;
    size_t count = groups.group_count;
    vt_torch_groups_free(&groups);
    qsort(lines->lines, count, sizeof *lines->lines, compare_lines);
    size_t merged = 0;
    uint64_t largest_part = 0; /* of the line being merged: it keeps the stack of its largest part */
    for (size_t i = 0; i < count; i++) {
        struct vt_torch_line *line = &lines->lines[i];
        if (merged > 0 && vt_torch_line_compare(&lines->lines[merged - 1], line) == 0) {
            struct vt_torch_line *into = &lines->lines[merged - 1];
            if (line->bytes > largest_part || (line->bytes == largest_part && line->stack_id < into->stack_id)) {
                largest_part = line->bytes;
                into->stack_id = line->stack_id;
            }
            into->bytes += line->bytes;
            into->count += line->count;
        } else {
            largest_part = line->bytes;
            lines->lines[merged++] = *line;
        }
    }
    lines->line_count = merged;
    return true;
}

void vt_torch_lines_free(struct vt_torch_lines *lines)
{
    free(lines->lines);
    memset(lines, 0, sizeof *lines);
}

/* ---- levels over time ---------------------------------------------------------------------------- */

static bool add_level(struct vt_torch_levels *levels, size_t *capacity, struct vt_torch_level level)
{
    if (levels->level_count == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 64;
        struct vt_torch_level *bigger = realloc(levels->levels, grown * sizeof *bigger);
        if (!bigger)
            return false;
        levels->levels = bigger;
        *capacity = grown;
    }
    levels->levels[levels->level_count++] = level;
    return true;
}

/* How an entry changes allocated (*tensor) or reserved bytes; false: it changes neither. */
static bool entry_change(const struct vt_model_torch_history *entry, bool *tensor, bool *added)
{
    switch (entry->action) {
    case VT_TORCH_ACTION_ALLOC:
    case VT_TORCH_ACTION_FREE_COMPLETED:
        *tensor = true;
        *added = entry->action == VT_TORCH_ACTION_ALLOC;
        return true;
    case VT_TORCH_ACTION_SEGMENT_ALLOC:
    case VT_TORCH_ACTION_SEGMENT_FREE:
    case VT_TORCH_ACTION_SEGMENT_MAP:
    case VT_TORCH_ACTION_SEGMENT_UNMAP:
        *tensor = false;
        *added = entry->action == VT_TORCH_ACTION_SEGMENT_ALLOC || entry->action == VT_TORCH_ACTION_SEGMENT_MAP;
        return true;
    default:
        return false;
    }
}

static uint64_t undo(uint64_t bytes, uint64_t change, bool added)
{
    if (added)
        return bytes > change ? bytes - change : 0; /* the ring may have lost older entries */
    return bytes + change;
}

/* The levels of one snapshot's window (after `since_ns`, up to the snapshot), appended in time order:
 * walked backwards from its exact totals, then reversed. */
static bool add_window(struct vt_torch_levels *levels, size_t *capacity, const struct vt_model_torch_snapshot *snapshot,
                       int device, uint64_t since_ns)
{
    struct vt_torch_device_summary summary = {.device = device};
    struct vt_torch_device_summary all[VT_MODEL_MAX_DEVICES];
    size_t count = vt_torch_view_summarize(&snapshot->view, all, VT_MODEL_MAX_DEVICES);
    for (size_t i = 0; i < count && i < VT_MODEL_MAX_DEVICES; i++)
        if (all[i].device == device)
            summary = all[i];
    size_t first = levels->level_count;
    struct vt_torch_level level = {snapshot->time_ns, summary.tensor_bytes, summary.reserved_bytes};
    if (!add_level(levels, capacity, level))
        return false;
    for (size_t i = snapshot->history_count; i > 0; i--) {
        const struct vt_model_torch_history *entry = &snapshot->history[i - 1];
        bool tensor, added;
        if (entry->device != device || entry->time_ns == 0 || entry->time_ns > snapshot->time_ns ||
            !entry_change(entry, &tensor, &added))
            continue;
        if (entry->time_ns <= since_ns)
            break;
        level.time_ns = entry->time_ns; /* the level just after this entry */
        if (!add_level(levels, capacity, level))
            return false;
        if (tensor)
            level.allocated_bytes = undo(level.allocated_bytes, entry->size_bytes, added);
        else
            level.reserved_bytes = undo(level.reserved_bytes, entry->size_bytes, added);
    }
    for (size_t low = first, high = levels->level_count - 1; low < high; low++, high--) {
        struct vt_torch_level swap = levels->levels[low];
        levels->levels[low] = levels->levels[high];
        levels->levels[high] = swap;
    }
    return true;
}

static bool names_device(const struct vt_model_torch_snapshot *snapshot, int device)
{
    for (size_t i = 0; i < snapshot->view.segment_count; i++)
        if (snapshot->view.segments[i].device == device)
            return true;
    for (size_t i = 0; i < snapshot->view.device_count; i++)
        if (snapshot->view.devices[i].device == device)
            return true;
    return false;
}

bool vt_torch_levels_collect(const struct vt_trace_model *model, int device, struct vt_torch_levels *levels)
{
    memset(levels, 0, sizeof *levels);
    size_t capacity = 0;
    uint64_t since_ns = 0;
    bool any = false;
    for (size_t i = 0; i < model->torch_snapshot_count; i++)
        any |= names_device(&model->torch_snapshots[i], device);
    if (!any)
        return true;
    for (size_t i = 0; i < model->torch_snapshot_count; i++) {
        const struct vt_model_torch_snapshot *snapshot = &model->torch_snapshots[i];
        if (snapshot->time_ns < since_ns)
            continue; /* out of order: skip rather than go back in time */
        if (!add_window(levels, &capacity, snapshot, device, since_ns)) {
            vt_torch_levels_free(levels);
            return false;
        }
        since_ns = snapshot->time_ns;
    }
    return true;
}

void vt_torch_levels_free(struct vt_torch_levels *levels)
{
    free(levels->levels);
    memset(levels, 0, sizeof *levels);
}
