/* Integration tests of issue 9, point 4: cuCtxDestroy of a context made by cuCtxCreate frees the
 * memory that context owns (cuMemAlloc, cudaMalloc, cuMemAllocManaged, cuMemAllocHost made while it
 * was current), not the primary context's nor its stream-ordered memory, in the exit report and in
 * `vramtrace report` alike; peaks are unchanged. tests/programs/context_destroy.c says what it holds. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM VT_PROGRAMS_DIR "/context_destroy"

static void check_destroy(const char *mode)
{
    char *directory = make_temp_directory();
    char trace[512];
    snprintf(trace, sizeof trace, "%s/destroy.trace", directory);
    const char *options[] = {"-o", trace, NULL};
    const char *arguments[] = {mode, NULL};
    struct process_result run = traced_run(options, PROGRAM, arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s%s", run.out, run.err);
    cr_assert(strstr(run.out, "context_destroy: done"), "%s", run.out);
    /* The exit report: the primary context's 4 + 3 + 1 MiB and the 512 KiB stream-ordered are live;
     * the peaks are kept (device 0: 26.5 MiB, before the destroy; the host: 1 MiB). */
    cr_assert(strstr(run.err, "8912896 byte(s) (8.50 MiB) leaked in 4 allocation(s)"), "%s", run.err);
    cr_assert(strstr(run.err, "  device 0: 27787264 byte(s) (26.5 MiB) at "), "%s", run.err);
    cr_assert(strstr(run.err, "Calls: 8 allocation(s), 4 free(s), 0 free(s) of unknown addresses"), "%s", run.err);
    process_result_free(&run);

    struct process_result report = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert(strstr(report.out, "  device 0, device memory: leaked 8912896 byte(s) (8.50 MiB) in 4 allocation(s) at the end; "
                                 "peak 26738688 byte(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, "  device 0, managed memory: leaked 0 byte(s) (0 B) in 0 allocation(s) at the end; "
                                 "peak 1048576 byte(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, "  host, host-pinned memory: leaked 0 byte(s) (0 B) in 0 allocation(s) at the end; "
                                 "peak 1048576 byte(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, "  device 0: 27787264 byte(s) (26.5 MiB) at "), "%s", report.out);
    cr_assert(strstr(report.out, "Calls: 8 allocation(s), 4 free(s), 0 free(s) of unknown addresses"), "%s", report.out);
    cr_assert(strstr(report.out, "cuCtxDestroy=2"), "%s", report.out);
    process_result_free(&report);
    free(directory);
}

Test(context_destroy, cuCtxDestroy_v2_frees_the_created_contexts_memory_only)
{
    check_destroy("v4");
}

Test(context_destroy, the_oldest_cuCtxCreate_and_cuCtxDestroy_do_the_same)
{
    check_destroy("v2");
}
