/* Integration tests: examples/leaky under `vramtrace run --simulate` — the leak groups, the peak,
 * the SUMMARY line, the report file, and that the program's own output and exit code are untouched. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traced_run.h"

#define LEAKY VT_EXAMPLES_DIR "/leaky"

static const char *group_text(const char *report, const char *header)
{
    const char *group = strstr(report, header);
    cr_assert_not_null(group, "group '%s' missing from:\n%s", header, report);
    return group;
}

/* The text of one leak group: from its header to the blank line that ends it. */
static char *group_block(const char *report, const char *header)
{
    const char *start = group_text(report, header);
    const char *end = strstr(start, "\n\n");
    return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

Test(leaky, report_shows_both_leak_groups_and_summary)
{
    char *directory = make_temp_directory();
    char report_path[512];
    snprintf(report_path, sizeof report_path, "%s/leaky.report.txt", directory);
    char report_option[600];
    snprintf(report_option, sizeof report_option, "--report=%s", report_path);
    const char *options[] = {report_option, NULL};
    struct process_result run = traced_run(options, LEAKY, NULL, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "stderr:\n%s", run.err);

    cr_assert(strstr(run.err, "Device memory: 5242880 byte(s) (5.00 MiB) leaked in 4 allocation(s)"), "%s", run.err);
    char *weights = group_block(run.err, "Leak of 3145728 byte(s) (3.00 MiB) in 3 allocation(s) of device memory, cudaMalloc, allocated from:");
    cr_assert(strstr(weights, " in load_weights "), "%s", weights);
    cr_assert(strstr(weights, "leaky.c:"), "file:line expected:\n%s", weights);
    cr_assert(strstr(weights, " in main "), "%s", weights);
    char *batch = group_block(run.err, "Leak of 2097152 byte(s) (2.00 MiB) in 1 allocation(s) of device memory, cudaMallocAsync, allocated from:");
    cr_assert(strstr(batch, " in prefetch_batch "), "%s", batch);
    cr_assert(strstr(run.err, "Host-pinned memory: no leaks"));
    cr_assert(strstr(run.err, "Managed memory: no leaks"));

    uint64_t peak = number_after(run.err, "  device 0: ");
    cr_assert_geq(peak, (64u << 20) + (3u << 20), "peak %lu must hold the 64 MiB scratch and the 3 MiB of weights", peak);

    const char *summary = strstr(run.err, "SUMMARY:");
    cr_assert_str_eq(summary, "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s).\n");

    char *file = read_file_text(report_path);
    cr_assert_not_null(file, "report file %s not written", report_path);
    cr_assert(strstr(file, "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s).\n"));
    cr_assert(strstr(file, " in load_weights "));
    char note[700];
    snprintf(note, sizeof note, "Report written to %s", report_path);
    cr_assert(strstr(run.err, note), "%s", run.err);
    free(file);
    free(weights);
    free(batch);
    process_result_free(&run);
}

Test(leaky, program_output_and_exit_code_unchanged)
{
    struct process_result plain = untraced_run(LEAKY, NULL);
    const char *options[] = {"--report=none", NULL};
    struct process_result traced = traced_run(options, LEAKY, NULL, NULL, NULL);
    cr_assert_eq(plain.exit_code, 0, "%s", plain.err);
    cr_assert_eq(traced.exit_code, plain.exit_code);
    cr_assert_str_eq(traced.out, plain.out, "stdout must be byte-identical");
    cr_assert_str_eq(plain.err, "");
    cr_assert(strncmp(traced.err, "=====", 5) == 0, "stderr holds only the report:\n%s", traced.err);
    process_result_free(&plain);
    process_result_free(&traced);
}

Test(leaky, plain_ld_preload_works_and_writes_default_report_in_cwd)
{
    char *directory = make_temp_directory();
    const char *argv[] = {LEAKY, NULL};
    const char *environment[] = {"LD_PRELOAD=" VT_SHIM_PATH, "LD_LIBRARY_PATH=" VT_SIM_DIR, "VRAMTRACE_REPORT", "VRAMTRACE_OUTPUT", NULL};
    struct process_result run = run_process(argv, environment, directory);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s).\n"), "%s", run.err);
    const char *written = strstr(run.err, "Report written to vramtrace.leaky.");
    cr_assert_not_null(written, "%s", run.err);
    char name[256];
    cr_assert_eq(sscanf(written, "Report written to %255s", name), 1);
    char path[800];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    cr_assert_eq(access(path, R_OK), 0, "default report %s missing", path);
    cr_assert(strstr(name, ".report.txt"));
    process_result_free(&run);
}

Test(leaky, quiet_keeps_stderr_clean_but_writes_file)
{
    char *directory = make_temp_directory();
    const char *options[] = {"--quiet", "--report=%n.txt", NULL};
    struct process_result run = traced_run(options, LEAKY, NULL, NULL, directory);
    cr_assert_eq(run.exit_code, 0);
    cr_assert_str_eq(run.err, "");
    char path[600];
    snprintf(path, sizeof path, "%s/leaky.txt", directory);
    char *file = read_file_text(path);
    cr_assert_not_null(file, "%s not written", path);
    cr_assert(strstr(file, "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s).\n"));
    free(file);
    process_result_free(&run);
}

Test(leaky, bad_setting_is_named_and_default_used)
{
    const char *argv[] = {LEAKY, NULL};
    const char *environment[] = {"LD_PRELOAD=" VT_SHIM_PATH, "LD_LIBRARY_PATH=" VT_SIM_DIR, "VRAMTRACE_REPORT=none", "VRAMTRACE_OUTPUT=none",
                                 "VRAMTRACE_STACK_DEPTH=deep", NULL};
    struct process_result run = run_process(argv, environment, NULL);
    cr_assert_eq(run.exit_code, 0);
    cr_assert(strstr(run.err, "vramtrace: VRAMTRACE_STACK_DEPTH='deep' is not valid; accepted: a whole number from 0 to 128; using the default\n"),
              "%s", run.err);
    cr_assert_eq(count_occurrences(run.err, "VRAMTRACE_STACK_DEPTH="), 1, "said once");
    cr_assert(strstr(run.err, " in load_weights "), "default depth still records stacks");
    process_result_free(&run);
}

Test(leaky, stack_depth_zero_records_no_stacks)
{
    const char *options[] = {"--report=none", "--stack-depth=0", NULL};
    struct process_result run = traced_run(options, LEAKY, NULL, NULL, NULL);
    cr_assert_eq(run.exit_code, 0);
    cr_assert(strstr(run.err, "(no stack recorded"), "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s).\n"));
    process_result_free(&run);
}
