/* Tests of `vramtrace export --memory-viz`: the pickle is read back the way PyTorch's memory_viz
 * reads it (tests/commands/memory_viz_check.py follows MemoryViz.js), and what its views would
 * show matches the trace: the active timeline's peak is the report's peak and its end the leaks
 * (examples/leaky), replaying the history backwards from the segments reaches an empty device,
 * frames name the program's functions, out-of-memory failures are entries of their own
 * (tests/programs/oom), and the usage errors say what is missing. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_helpers.h"

#define CHECKER VT_SOURCE_DIR "/tests/commands/memory_viz_check.py"

/* Exports `trace` (to the default name beside it) and returns what memory_viz_check.py says about
 * device 0. */
static char *export_and_check(const char *trace, const char *const extra[])
{
    const char *args[8] = {"export", "--memory-viz", trace};
    size_t count = 3;
    for (size_t i = 0; extra && extra[i]; i++)
        args[count++] = extra[i];
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.err, "pytorch.org/memory_viz"), "%s", run.err);
    process_result_free(&run);
    char pickle[4096];
    snprintf(pickle, sizeof pickle, "%.*s.memory-viz.pickle", (int)(strlen(trace) - strlen(".trace")), trace);
    struct process_result check = run_process((const char *[]){"python3", CHECKER, pickle, "0", NULL}, NULL, NULL);
    cr_assert_eq(check.exit_code, 0, "%s", check.err);
    char *out = strdup(check.out);
    process_result_free(&check);
    return out;
}

Test(command_export, memory_viz_shows_the_reports_peak_and_leaks_with_the_programs_frames)
{
    char *report;
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", &report);
    char *check = export_and_check(trace, NULL);
    uint64_t peak = report_device0_peak(report), leaked = number_after(report, "SUMMARY: vramtrace: ");
    cr_assert_gt(peak, 0);
    cr_assert_eq(number_after(check, "\"peak\": "), peak, "%s", check);
    cr_assert_eq(number_after(check, "\"segment_peak\": "), peak, "%s", check);
    cr_assert_eq(number_after(check, "\"live\": "), leaked, "%s", check);
    cr_assert(strstr(check, "\"initially_allocated\": 0,"), "%s", check);
    cr_assert(strstr(check, "\"start_blocks\": 0, \"start_segments\": 0,"), "%s", check);
    cr_assert(strstr(check, "\"keys\": [\"allocator_settings\", \"device_traces\", \"external_annotations\", \"segments\"]"),
              "%s", check);
    cr_assert(strstr(check, "\"load_weights\"") && strstr(check, "\"prefetch_batch\""), "%s", check);
    free(check);
    free(report);
    free(trace);
}

Test(command_export, an_out_of_memory_failure_is_an_oom_entry)
{
    char *trace = make_trace(VT_PROGRAMS_DIR "/oom", NULL, NULL, "oom", NULL);
    char *check = export_and_check(trace, (const char *[]){"--device", "0", NULL});
    cr_assert(strstr(check, "\"ooms\": 1,"), "%s", check);
    cr_assert_eq(number_after(check, "\"peak\": "), 64 << 10, "%s", check);
    cr_assert(strstr(check, "\"live\": 0,"), "the 64 KiB were freed: %s", check);
    free(check);
    free(trace);
}

Test(command_export, the_format_must_be_named)
{
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", NULL);
    struct process_result run = run_cli((const char *[]){"export", trace, NULL});
    cr_assert_eq(run.exit_code, 2);
    cr_assert(strstr(run.err, "--memory-viz"), "%s", run.err);
    process_result_free(&run);
    run = run_cli((const char *[]){"export", "--memory-viz", trace, "-o", "/nonexistent/dir/x.pickle", NULL});
    cr_assert_eq(run.exit_code, 1);
    cr_assert(strstr(run.err, "cannot write /nonexistent/dir/x.pickle"), "%s", run.err);
    process_result_free(&run);
    free(trace);
}
