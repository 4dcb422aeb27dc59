/* Integration tests: errors of the shim's own output (issue 9, point 9). A full disk (simulated
 * with /dev/full) or a file size limit (ulimit -f) is said in the exit report instead of "written
 * to"; the shim's writes never raise SIGXFSZ in the program, which keeps its own exit status; a
 * character device as the trace derives no report file next to it. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "traced_run.h"

#define EXIT_CODE_PROGRAM VT_PROGRAMS_DIR "/exit_code"

static bool exists(const char *path)
{
    struct stat status;
    return lstat(path, &status) == 0;
}

Test(output_errors, file_size_limit_keeps_exit_code_and_says_report_incomplete)
{
    char *directory = make_temp_directory();
    /* The limit (soft: cat raises it back) applies to the traced program only; its stderr goes
     * through a pipe, so the captured stderr is whole; its exit status goes to a file (128 + 25
     * had SIGXFSZ killed it). */
    char script[4096], status_path[700];
    snprintf(status_path, sizeof status_path, "%s/status", directory);
    snprintf(script, sizeof script,
             "(ulimit -S -f 1; '%s' run --simulate --output='%s/x.trace' --report='%s/x.report.txt' -- '%s' 7; "
             "echo $? > '%s') 2>&1 | (ulimit -S -f unlimited; cat >&2)",
             VT_CLI_PATH, directory, directory, EXIT_CODE_PROGRAM, status_path);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct process_result run = run_process(argv, NULL, directory);
    char *status = read_file_text(status_path);
    cr_assert_not_null(status, "no exit status written:\n%s", run.err);
    cr_assert_str_eq(status, "7\n", "the program's own exit code (153 is death by SIGXFSZ):\n%s", run.err);
    free(status);
    char expected[1200];
    snprintf(expected, sizeof expected, "Could not fully write the report to %s/x.report.txt: File too large",
             directory);
    cr_assert(strstr(run.err, expected), "expected:\n%s\nin:\n%s", expected, run.err);
    snprintf(expected, sizeof expected, "Trace %s/x.trace is incomplete: File too large", directory);
    cr_assert(strstr(run.err, expected), "expected:\n%s\nin:\n%s", expected, run.err);
    cr_assert_null(strstr(run.err, "Report written to"), "%s", run.err);
    cr_assert_null(strstr(run.err, "Trace written to"), "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 1048576 byte(s) leaked in 1 allocation(s).\n"), "%s", run.err);
    process_result_free(&run);
}

Test(output_errors, report_to_dev_full_says_so)
{
    const char *options[] = {"--report=/dev/full", NULL};
    const char *arguments[] = {"7", NULL};
    struct process_result run = traced_run(options, EXIT_CODE_PROGRAM, arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 7, "%s", run.err);
    cr_assert(strstr(run.err, "Could not fully write the report to /dev/full: No space left on device"), "%s",
              run.err);
    cr_assert_null(strstr(run.err, "Report written to"), "%s", run.err);
    cr_assert(!exists("/dev/full.1"), "a numbered file was created next to /dev/full");
    process_result_free(&run);
}

Test(output_errors, report_to_dev_full_is_said_when_quiet)
{
    const char *options[] = {"--report=/dev/full", "--quiet", NULL};
    const char *arguments[] = {"0", NULL};
    struct process_result run = traced_run(options, EXIT_CODE_PROGRAM, arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.err, "Could not fully write the report to /dev/full: No space left on device"), "%s",
              run.err);
    process_result_free(&run);
}

Test(output_errors, trace_to_dev_full_says_no_trace_and_derives_no_report)
{
    char *directory = make_temp_directory();
    const char *options[] = {"--output=/dev/full", NULL};
    const char *arguments[] = {"7", NULL};
    struct process_result run = traced_run(options, EXIT_CODE_PROGRAM, arguments, NULL, directory);
    cr_assert_eq(run.exit_code, 7, "%s", run.err);
    cr_assert(strstr(run.err, "cannot write the trace to /dev/full: No space left on device"), "%s", run.err);
    cr_assert(strstr(run.err, "No trace was written: No space left on device"), "%s", run.err);
    cr_assert_null(strstr(run.err, "Trace written to"), "%s", run.err);
    cr_assert_null(strstr(run.err, "Report written to"), "no report file next to a device:\n%s", run.err);
    cr_assert(!exists("/dev/full.report.txt"), "/dev/full.report.txt was created");
    cr_assert(!exists("/dev/full.1"), "a numbered file was created next to /dev/full");
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 1048576 byte(s) leaked in 1 allocation(s).\n"), "%s", run.err);
    process_result_free(&run);
}
