/* Tests of the analysis commands on traces with PyTorch's tensor layer (TORCH_* records), made by
 * tests/programs/python/torch_jobs.py on the stand-in torch (tests/standin_torch) under `vramtrace
 * run --simulate`: the model loads the snapshots; `vramtrace report` names the lines that hold the
 * leaked tensors and its SUMMARY equals the exit report's; the OOM section shows PyTorch's failing
 * line and largest live tensors; `vramtrace diff` between two live dumps of a loop that keeps its
 * losses shows the growth at the loss's line, and `report --at` a live dump's tensors as live;
 * flame and timeline show the tensor layer. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_helpers.h"
#include "json_check.h"
#include "trace/trace_model.h"

#define JOBS VT_SOURCE_DIR "/tests/programs/python/torch_jobs.py"

/* A trace of torch_jobs.py SCENARIO; the shim's exit report in *report. */
static char *torch_trace(const char *scenario, char **report)
{
    setenv("PYTHONPATH", VT_STANDIN_TORCH_DIR, 1);
    setenv("VT_LIBC10_CUDA", VT_LIBC10_CUDA_PATH, 1);
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    return make_trace("python3", (const char *[]){JOBS, scenario, NULL}, NULL, scenario, report);
}

static char *cli_output(const char *const args[])
{
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s %s: %s", args[0], args[1], run.err);
    char *out = strdup(run.out);
    process_result_free(&run);
    return out;
}

/* The number of the first line of torch_jobs.py that is `text` after its indentation (whole line),
 * or that ends with "# site: NAME" when text starts with "site:". */
static int jobs_line(const char *text)
{
    char line[1024], marker[256] = "";
    if (strncmp(text, "site:", 5) == 0)
        snprintf(marker, sizeof marker, "# %s\n", text);
    FILE *source = fopen(JOBS, "r");
    cr_assert_not_null(source);
    for (int number = 1; fgets(line, sizeof line, source); number++) {
        const char *start = line + strspn(line, " ");
        bool found = marker[0] ? strlen(line) >= strlen(marker) && !strcmp(line + strlen(line) - strlen(marker), marker)
                               : strncmp(start, text, strlen(text)) == 0 && start[strlen(text)] == '\n';
        if (found) {
            fclose(source);
            return number;
        }
    }
    fclose(source);
    cr_assert_fail("no line %s in %s", text, JOBS);
    return 0;
}

/* The SUMMARY line of `vramtrace report TRACE` equals the exit report's. */
static void assert_same_summary(const char *trace, const char *exit_report)
{
    char *report = cli_output((const char *[]){"report", trace, NULL});
    char *ours = line_containing(report, "SUMMARY: "), *shims = line_containing(exit_report, "SUMMARY: ");
    cr_assert_not_null(ours, "%s", report);
    cr_assert_not_null(shims, "%s", exit_report);
    cr_assert_str_eq(ours, shims, "vramtrace report:\n%s\nexit report:\n%s", report, exit_report);
    free(ours);
    free(shims);
    free(report);
}

Test(command_torch, the_model_loads_each_snapshot_with_its_segments_blocks_and_history)
{
    char *trace = torch_trace("keep_losses_dumped", NULL);
    struct vt_trace_model model;
    char error[512];
    cr_assert_eq(vt_model_load(&model, trace, NULL, error, sizeof error), VT_TRACE_OPENED, "%s", error);
    cr_assert_eq(model.unknown_record_count, 0);
    cr_assert_eq(model.torch_snapshot_count, 3);
    const unsigned moments[] = {VT_TORCH_AT_DUMP, VT_TORCH_AT_DUMP, VT_TORCH_AT_EXIT};
    for (size_t i = 0; i < 3; i++) {
        const struct vt_model_torch_snapshot *snapshot = &model.torch_snapshots[i];
        cr_assert_eq(snapshot->number, i + 1);
        cr_assert_eq(snapshot->moment, moments[i]);
        cr_assert_gt(snapshot->view.segment_count, 0);
        cr_assert_gt(snapshot->view.block_count, 0);
        cr_assert_gt(snapshot->history_count, 0);
        cr_assert_eq(snapshot->view.device_count, 1);
        if (i > 0)
            cr_assert_geq(snapshot->time_ns, model.torch_snapshots[i - 1].time_ns);
    }
    cr_assert_eq(model.torch_snapshots[1].dump_number, 2);
    vt_model_free(&model);
    free(trace);
}

Test(command_torch, report_names_the_line_of_the_kept_losses_and_its_summary_equals_the_exit_reports)
{
    char *exit_report = NULL;
    char *trace = torch_trace("keep_losses", &exit_report);
    char *report = cli_output((const char *[]){"report", trace, NULL});
    char expected[1024];
    snprintf(expected, sizeof expected, "in 5 tensor(s) on device 0, allocated at keep_losses %s:%d:\n", JOBS,
             jobs_line("loss = model(batch).sum()"));
    cr_assert(strstr(report, expected), "no '%s' in:\n%s", expected, report);
    cr_assert(strstr(report, "Tensors on device 0: 2560 byte(s) (2.50 KiB) still allocated at exit (leaked) in 5 "
                             "tensor(s)"), "%s", report);
    cr_assert(strstr(report, "PyTorch's caching allocator on device 0 at exit ("), "%s", report);
    cr_assert(strstr(report, "CUDA memory held in PyTorch's segments at exit: 2097152 byte(s)"), "%s", report);
    cr_assert(strstr(report, "\nDevice memory: no leaks\n"), "its segment is its cache, not a leak:\n%s", report);
    assert_same_summary(trace, exit_report);

    char *json_text = cli_output((const char *[]){"report", "--format", "json", trace, NULL});
    char error[256];
    struct json_value *json = json_parse(json_text, error, sizeof error);
    cr_assert_not_null(json, "%s", error);
    const struct json_value *at = json_member(json_member(json, "torch"), "at");
    cr_assert_str_eq(json_member_string(at, "what"), "leaked");
    const struct json_value *device = &json_member(at, "devices")->items[0];
    cr_assert_eq(json_member_number(device, "tensor_bytes"), 2560);
    cr_assert_eq(json_member_number(device, "tensor_count"), 5);
    cr_assert_eq(json_member_number(device, "reserved_bytes"),
                 json_member_number(device, "tensor_bytes") + json_member_number(device, "cached_free_bytes"));
    cr_assert_eq(json_member_number(device, "outside_torch_bytes"), 0);
    const struct json_value *group = &json_member(json_member(at, "tensors"), "groups")->items[0];
    cr_assert_eq(json_member_number(json_member(group, "user_frame"), "line"), jobs_line("loss = model(batch).sum()"));
    cr_assert_str_eq(json_member_string(&json_member(group, "frames")->items[0], "kind"), "python");
    cr_assert_eq(json_member_number(json_member(json, "summary"), "bytes"), 2560);
    json_free(json);
    free(json_text);
    free(report);
    free(exit_report);
    free(trace);
}

Test(command_torch, report_shows_pytorchs_failing_line_and_its_largest_live_tensors)
{
    char *exit_report = NULL;
    char *trace = torch_trace("out_of_memory", &exit_report);
    char *report = cli_output((const char *[]){"report", trace, NULL});
    char expected[1024];
    snprintf(expected, sizeof expected, "The failing request: 4398046511104 byte(s) (4.00 TiB) on device 0, at "
             "out_of_memory %s:%d:\n", JOBS, jobs_line("site: too large"));
    cr_assert(strstr(report, expected), "no '%s' in:\n%s", expected, report);
    snprintf(expected, sizeof expected, "Live of 268435456 byte(s) (256.0 MiB; 256.0 MiB requested) in 1 tensor(s) on "
             "device 0, allocated at out_of_memory %s:%d:\n", JOBS, jobs_line("site: weights"));
    cr_assert(strstr(report, expected), "no '%s' in:\n%s", expected, report);
    cr_assert(strstr(report, "Live tensors on device 0 then: 268435456 byte(s) (256.0 MiB) in 1 tensor(s)"), "%s",
              report);
    assert_same_summary(trace, exit_report);
    free(report);
    free(exit_report);
    free(trace);
}

Test(command_torch, diff_between_two_live_dumps_shows_the_growth_at_the_line_that_keeps_the_losses)
{
    char *exit_report = NULL;
    char *trace = torch_trace("keep_losses_dumped", &exit_report);
    assert_same_summary(trace, exit_report);
    struct vt_trace_model model;
    char error[512], from[32], to[32];
    cr_assert_eq(vt_model_load(&model, trace, NULL, error, sizeof error), VT_TRACE_OPENED, "%s", error);
    cr_assert_eq(model.torch_snapshot_count, 3);
    snprintf(from, sizeof from, "%" PRIu64 "ns", model.torch_snapshots[0].time_ns);
    snprintf(to, sizeof to, "%" PRIu64 "ns", model.torch_snapshots[1].time_ns);
    vt_model_free(&model);

    /* report --at: the newest snapshot at or before, its tensors live (not leaked) */
    char *at_dump = cli_output((const char *[]){"report", "--at", from, trace, NULL});
    cr_assert(strstr(at_dump, "PyTorch's caching allocator on device 0 at live dump 1 ("), "%s", at_dump);
    cr_assert(strstr(at_dump, "Tensors on device 0: 526336 byte(s) (514.0 KiB) live in 8 tensor(s)"), "%s", at_dump);
    cr_assert(strstr(at_dump, "SUMMARY: vramtrace: 526336 byte(s) live at "), "%s", at_dump);
    free(at_dump);

    char *diff = cli_output((const char *[]){"diff", trace, "--from", from, "--to", to, NULL});
    const char *lines = strstr(diff, "Tensors by Python line, largest growth first");
    cr_assert_not_null(lines, "%s", diff);
    char expected[1024];
    snprintf(expected, sizeof expected, "+8 tensor(s) (132096 -> 396288 byte(s), 4 -> 12 tensor(s)) at "
             "keep_losses_dumped %s:%d:\n", JOBS, jobs_line("site: dumped loss"));
    char *first = line_containing(lines, " tensor(s)) at "); /* the largest growth */
    cr_assert(first && strstr(expected, strstr(first, " tensor(s)) at ")), "the first line grows most:\n%s", diff);
    cr_assert(strstr(diff, expected), "no '%s' in:\n%s", expected, diff);
    free(first);

    char *json_text = cli_output((const char *[]){"diff", "--format", "json", trace, "--from", from, "--to", to, NULL});
    struct json_value *json = json_parse(json_text, error, sizeof error);
    cr_assert_not_null(json, "%s", error);
    const struct json_value *torch = json_member(json, "torch");
    const struct json_value *line = &json_member(torch, "lines")->items[0];
    cr_assert_eq(json_member_number(line, "line"), jobs_line("site: dumped loss"));
    cr_assert_eq(json_member_number(line, "growth_count"), 8);
    cr_assert_eq(json_member_number(json_member(torch, "growth"), "bytes"), 526336);
    json_free(json);
    free(json_text);
    free(diff);
    free(exit_report);
    free(trace);
}

Test(command_torch, flame_and_timeline_show_the_tensor_layer)
{
    char *trace = torch_trace("keep_losses", NULL);
    char *flame = cli_output((const char *[]){"flame", trace, NULL});
    cr_assert_str_eq(flame, "<module>;keep_losses;torch_tensor 2560\n", "the tensors, not the cache:\n%s", flame);
    char *timeline = cli_output((const char *[]){"timeline", "--csv", "--interval", "0", trace, NULL});
    cr_assert(strstr(timeline, ",0,torch_reserved,2097152\n"), "%s", timeline);
    const char *last = NULL;
    for (const char *at = strstr(timeline, ",0,torch_allocated,"); at; at = strstr(at + 1, ",0,torch_allocated,"))
        last = at;
    cr_assert(last && strncmp(last, ",0,torch_allocated,2560\n", 24) == 0, "ends at the exit snapshot's tensors:\n%s",
              timeline);
    free(timeline);
    free(flame);
    free(trace);
}
