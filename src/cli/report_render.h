/* cli/report_render.h — the renderers of a `struct vt_report` (src/trace/trace_report.h): text
 * shaped like the exit report (report_text.c), JSON (report_json.c, docs/report-json.md) and the
 * HTML page of `vramtrace html` (cmd_html.c, which embeds the JSON renderer's members and adds its
 * timeline and live sets). None of them computes: the content is vt_report_build's. */
#ifndef VT_CLI_REPORT_RENDER_H
#define VT_CLI_REPORT_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "trace/json_writer.h"
#include "trace/symbolize.h"
#include "trace/trace_report.h"

/* `vramtrace report`'s text; `top`: groups shown per kind and sites per list. */
void vt_report_render_text(FILE *out, const struct vt_report *report, struct vt_symbolizer *symbolizer, unsigned top);

/* `vramtrace report --format json`: one object, vt_report_json_members inside it. */
void vt_report_render_json(FILE *out, const struct vt_report *report, struct vt_symbolizer *symbolizer, unsigned top);

/* The JSON renderer's state and parts, for a page that embeds them (cmd_html.c). */
struct vt_report_json {
    struct vt_json json;
    const struct vt_report *report;
    struct vt_symbolizer *symbolizer;
    unsigned top;
    /* NULL: stacks are written in place ("frames"). Else only their "stack_id", and the ids are
     * put here, for the page to write each stack once (vt_report_json_frames). */
    struct vt_id_map *stack_refs;
    bool out_of_memory; /* putting an id in stack_refs failed */
};

/* The members of the report's object (docs/report-json.md), into the object open in output->json. */
void vt_report_json_members(struct vt_report_json *output);
/* "<key_ns>": N, "<key_s>": N.NNNNNNNNN */
void vt_report_json_time(struct vt_json *json, const char *key_ns, const char *key_s, uint64_t nanoseconds);
/* The ordinal, or null for the host. */
void vt_report_json_device(struct vt_json *json, const char *key, int device);
/* "stack_id" and "frames" (symbolized, inlined calls expanded); only "stack_id" with stack_refs. */
void vt_report_json_stack(struct vt_report_json *output, uint32_t stack_id);
/* A stack's frames as the array `key` (NULL inside an array). */
void vt_report_json_frames(struct vt_report_json *output, const char *key, uint32_t stack_id);
/* One group as an object: kind, api, bytes, count, mapped_at (cuMemCreate, with `groups`), stack. */
void vt_report_json_group(struct vt_report_json *output, const struct vt_groups *groups, const struct vt_group *group);
/* "user_frame": the stack's first user Python frame, or null. */
void vt_report_json_user_frame(struct vt_report_json *output, uint32_t stack_id);
/* {"bytes", "count", "groups": [...], "more_groups": {...}}: PyTorch's tensors by stack. */
void vt_report_json_tensor_groups(struct vt_report_json *output, const char *key, const struct vt_torch_groups *groups);

#endif
