/* Tests of `vramtrace flame`: folded stacks, outermost frame first and the allocating API as the
 * leaf, with exact bytes: what leaked (examples/leaky: 3 MiB from load_weights, 2 MiB from
 * prefetch_batch, together the SUMMARY), what was live at the peak (peak_shift: its two build_peak
 * buffers; leaky: the report's peak), and what was allocated over the run (the sum of the trace's
 * allocations, counted here from the trace model); a frame name with ';' and a space (a stripped
 * program so named) keeps every line parseable. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_helpers.h"
#include "json_check.h"
#include "trace/trace_model.h"

/* Checks every line's shape (frames without white space, joined by single ';', one space, the
 * bytes) and returns the sum of the bytes of the lines starting with `prefix` ("" for all). */
static uint64_t folded_total(const char *folded, const char *prefix, size_t *lines)
{
    uint64_t total = 0;
    *lines = 0;
    for (const char *line = folded; *line;) {
        size_t length = strcspn(line, "\n");
        const char *space = memchr(line, ' ', length);
        cr_assert_not_null(space, "no count in: %.*s", (int)length, line);
        cr_assert_null(memchr(space + 1, ' ', length - (size_t)(space + 1 - line)), "%.*s", (int)length, line);
        cr_assert_null(memchr(line, '\t', length));
        cr_assert(line[0] != ';' && space[-1] != ';', "empty frame in: %.*s", (int)length, line);
        for (const char *c = line; c + 1 < space; c++)
            cr_assert(!(c[0] == ';' && c[1] == ';'), "empty frame in: %.*s", (int)length, line);
        char *end;
        uint64_t bytes = strtoull(space + 1, &end, 10);
        cr_assert_eq(end, line + length, "count is not a number: %.*s", (int)length, line);
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            total += bytes;
            (*lines)++;
        }
        line += length + (line[length] == '\n');
    }
    return total;
}

static struct process_result flame(const char *measure, const char *device, const char *trace)
{
    const char *args[6] = {"flame", trace, measure};
    if (device) {
        args[3] = "--device";
        args[4] = device;
    }
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    return run;
}

Test(flame, leaks_of_leaky_are_two_stacks_with_their_exact_bytes)
{
    char *report;
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", &report);
    struct process_result run = flame(NULL, NULL, trace);
    size_t lines;
    uint64_t total = folded_total(run.out, "", &lines);
    cr_assert_eq(lines, 2, "%s", run.out);
    cr_assert_eq(total, number_after(report, "SUMMARY: vramtrace: "), "%s", run.out);
    cr_assert_eq(total, 5242880u);

    char *weights = line_containing(run.out, ";load_weights;");
    char *batch = line_containing(run.out, ";prefetch_batch;");
    cr_assert(weights && batch, "%s", run.out);
    cr_assert(ends_with(weights, ";main;load_weights;cudaMalloc 3145728"), "%s", weights);
    cr_assert(ends_with(batch, ";main;prefetch_batch;cudaMallocAsync 2097152"), "%s", batch);
    cr_assert_eq(strncmp(weights, "_start;", 7), 0, "outermost frame first: %s", weights);
    cr_assert_eq(strncmp(run.out, weights, strlen(weights)), 0, "largest first:\n%s", run.out);
    free(weights);
    free(batch);
    process_result_free(&run);
    free(report);
    free(trace);
}

Test(flame, peak_shows_exactly_what_was_live_at_each_peak)
{
    char *trace = make_trace(VT_PROGRAMS_DIR "/trace/peak_shift", NULL, NULL, "peak_shift", NULL);
    struct process_result peak = flame("--peak", NULL, trace);
    size_t lines;
    cr_assert_eq(folded_total(peak.out, "", &lines), 31457280u, "A 10 MiB + B 20 MiB:\n%s", peak.out);
    cr_assert_eq(lines, 1, "both from build_peak, one stack:\n%s", peak.out);
    cr_assert(ends_with(strtok(peak.out, "\n"), ";main;build_peak;cudaMalloc 31457280"), "%s", peak.out);

    struct process_result leaks = flame("--leaks", NULL, trace);
    cr_assert_eq(folded_total(leaks.out, "", &lines), 15728640u, "A and C:\n%s", leaks.out);
    cr_assert_eq(lines, 2);
    char *c = line_containing(leaks.out, ";after_peak;");
    cr_assert(c && ends_with(c, ";main;after_peak;cudaMalloc 5242880"), "%s", leaks.out);
    free(c);
    process_result_free(&peak);
    process_result_free(&leaks);
    free(trace);
}

Test(flame, peak_of_leaky_matches_the_report_per_device_and_host)
{
    char *report;
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", &report);
    struct process_result all = flame("--peak", NULL, trace);
    size_t device_lines, host_lines, lines;
    cr_assert_eq(folded_total(all.out, "device_0;", &device_lines), report_device0_peak(report), "%s", all.out);
    cr_assert_eq(folded_total(all.out, "host;", &host_lines), 1048576u, "the pinned staging buffer:\n%s", all.out);
    folded_total(all.out, "", &lines);
    cr_assert_eq(device_lines + host_lines, lines, "two slots: every line starts with its device:\n%s", all.out);

    struct process_result device = flame("--peak", "0", trace);
    cr_assert_eq(folded_total(device.out, "_start;", &lines), report_device0_peak(report), "%s", device.out);
    cr_assert_null(strstr(device.out, "device_0"), "one device: no device frame:\n%s", device.out);
    process_result_free(&all);
    process_result_free(&device);
    free(report);
    free(trace);
}

Test(flame, allocated_adds_up_every_allocation_of_the_run)
{
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", NULL);
    struct vt_trace_model model;
    char error[512];
    cr_assert_eq(vt_model_load(&model, trace, NULL, error, sizeof error), VT_TRACE_OPENED, "%s", error);
    uint64_t device_bytes = 0, host_bytes = 0;
    for (size_t i = 0; i < model.event_count; i++) {
        const struct vt_model_event *event = &model.events[i];
        if (event->type == VT_RECORD_ALLOC && vt_kind_is_memory_use(event->kind))
            *(event->device == 0 ? &device_bytes : &host_bytes) += event->size_bytes;
    }
    vt_model_free(&model);
    struct process_result run = flame("--allocated", NULL, trace);
    size_t lines;
    cr_assert_eq(folded_total(run.out, "device_0;", &lines), device_bytes, "%s", run.out);
    cr_assert_eq(folded_total(run.out, "host;", &lines), host_bytes);
    cr_assert_eq(host_bytes, 1048576u);
    char *weights = line_containing(run.out, ";load_weights;");
    cr_assert(weights && ends_with(weights, ";main;load_weights;cudaMalloc 3145728"), "%s", run.out);
    free(weights);
    process_result_free(&run);
    free(trace);
}

Test(flame, nothing_leaked_prints_no_stack_and_says_so)
{
    char *trace = make_trace(VT_PROGRAMS_DIR "/oom_retry", NULL, "--simulate=1G", "oom_retry", NULL);
    struct process_result run = flame("--leaks", NULL, trace);
    cr_assert_str_eq(run.out, "");
    cr_assert(strstr(run.err, "no leaks"), "%s", run.err);
    process_result_free(&run);

    const char *both[] = {"flame", "--peak", "--allocated", trace, NULL};
    struct process_result conflict = run_cli(both);
    cr_assert_eq(conflict.exit_code, 2);
    cr_assert(strstr(conflict.err, "--peak and --allocated: choose one"), "%s", conflict.err);
    process_result_free(&conflict);
    free(trace);
}

Test(flame, names_with_spaces_and_semicolons_stay_parseable)
{
    /* a stripped copy of leaky named "my prog;v2": its frames are module+offset, with that name */
    char *directory = make_temp_directory();
    char program[600];
    snprintf(program, sizeof program, "%s/my prog;v2", directory);
    const char *copy[] = {"cp", VT_EXAMPLES_DIR "/leaky", program, NULL};
    struct process_result copied = run_process(copy, NULL, NULL);
    cr_assert_eq(copied.exit_code, 0, "%s", copied.err);
    const char *strip[] = {"strip", program, NULL};
    struct process_result stripped = run_process(strip, NULL, NULL);
    if (stripped.exit_code != 0)
        cr_skip_test("strip is not available: %s", stripped.err);
    char *trace = make_trace(program, NULL, NULL, "stripped", NULL);
    struct process_result run = flame(NULL, NULL, trace);
    size_t lines;
    cr_assert_eq(folded_total(run.out, "", &lines), 5242880u, "%s", run.out);
    cr_assert_eq(lines, 2);
    cr_assert(strstr(run.out, ";my_prog:v2+0x"), "';' and ' ' replaced inside the frame name:\n%s", run.out);
    cr_assert(strstr(run.out, ";cudaMalloc 3145728\n"), "%s", run.out);
    process_result_free(&copied);
    process_result_free(&stripped);
    process_result_free(&run);
    free(trace);
    free(directory);
}

/* --format speedscope: speedscope's file format, the same stacks as the folded lines (frames
 * outermost first, by index into the shared frames), weighted by their bytes, unit bytes. */
Test(flame, speedscope_format_holds_the_folded_stacks_with_their_bytes)
{
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", NULL);
    struct process_result folded = flame(NULL, NULL, trace);
    struct process_result run = run_cli((const char *[]){"flame", "--format", "speedscope", trace, NULL});
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    char error[256];
    struct json_value *document = json_parse(run.out, error, sizeof error);
    cr_assert_not_null(document, "%s:\n%s", error, run.out);
    cr_assert_str_eq(json_member_string(document, "$schema"), "https://www.speedscope.app/file-format-schema.json");
    const struct json_value *frames = json_member(json_member(document, "shared"), "frames");
    const struct json_value *profile = &json_member(document, "profiles")->items[0];
    cr_assert_str_eq(json_member_string(profile, "type"), "sampled");
    cr_assert_str_eq(json_member_string(profile, "unit"), "bytes");
    const struct json_value *samples = json_member(profile, "samples"), *weights = json_member(profile, "weights");
    cr_assert_eq(samples->count, 2);
    cr_assert_eq(weights->count, 2);
    cr_assert_eq(json_member_number(profile, "endValue"), 5242880.0);
    for (size_t i = 0; i < samples->count; i++) { /* each sample, rebuilt as a folded line, is one of the lines */
        char line[4096] = "";
        for (size_t f = 0; f < samples->items[i].count; f++) {
            const struct json_value *frame = &frames->items[(size_t)samples->items[i].items[f].number];
            strcat(line, f ? ";" : "");
            strcat(line, json_member_string(frame, "name"));
        }
        snprintf(line + strlen(line), sizeof line - strlen(line), " %.0f", weights->items[i].number);
        char *found = line_containing(folded.out, line);
        cr_assert_not_null(found, "%s not among:\n%s", line, folded.out);
        cr_assert_str_eq(found, line);
        free(found);
    }
    json_free(document);
    process_result_free(&run);
    process_result_free(&folded);
    run = run_cli((const char *[]){"flame", "--format", "svg", trace, NULL});
    cr_assert_eq(run.exit_code, 2);
    cr_assert(strstr(run.err, "accepted: folded, speedscope"), "%s", run.err);
    process_result_free(&run);
    free(trace);
}
