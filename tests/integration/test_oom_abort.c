/* Integration test of issue 9, point 7: the first OOM reaches the disk before the failing call
 * returns. tests/programs/oom_abort.c abort()s right after its OOM, with a flush interval of a
 * minute: the trace must still hold the OOM record and everything before it, and `vramtrace report`
 * must rebuild the OOM report (the failure, its stack, and what was live on the device) from it. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM VT_PROGRAMS_DIR "/oom_abort"

Test(oom_abort, the_first_oom_is_on_disk_before_the_program_aborts)
{
    char *directory = make_temp_directory();
    char trace[512];
    snprintf(trace, sizeof trace, "%s/abort.trace", directory);
    const char *options[] = {"--flush-ms", "60000", "--report=none", "-o", trace, NULL};
    const char *arguments[] = {NULL};
    struct process_result run = traced_run(options, PROGRAM, arguments, NULL, NULL);
    cr_assert_neq(run.exit_code, 0, "%s%s", run.out, run.err);
    cr_assert_null(strstr(run.err, "did not fail"), "%s", run.err);
    process_result_free(&run);

    struct process_result report = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert(strstr(report.out, "Out of memory: 1 failed allocation(s); the first: cudaMalloc of 1099511627776 byte(s) "
                                 "(1.00 TiB) on device 0 at "),
              "%s", report.out);
    cr_assert(strstr(report.out, "Failed request made from:\n    #0 "), "%s", report.out);
    cr_assert(strstr(report.out, "oom_abort.c:15"), "%s", report.out);
    cr_assert(strstr(report.out, "Live on device 0 when it failed: 1114112 byte(s) (1.06 MiB) in 2 allocation(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, "Live of 1048576 byte(s) (1.00 MiB) in 1 allocation(s) of device memory, cudaMalloc"),
              "%s", report.out);

    struct process_result json =
        run_process((const char *[]){VT_CLI_PATH, "report", "--format", "json", trace, NULL}, NULL, NULL);
    cr_assert_eq(json.exit_code, 0, "%s", json.err);
    cr_assert(strstr(json.out, "\"requested_bytes\": 1099511627776"), "%s", json.out);
    process_result_free(&json);
    process_result_free(&report);
    free(directory);
}
