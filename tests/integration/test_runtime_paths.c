/* Integration tests: every runtime allocation function seen exactly once per call, with exact
 * byte totals, under many threads, on failure (out of memory), and with the program's exit code
 * and output passed through. Programs live in tests/programs/. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM(name) VT_PROGRAMS_DIR "/" name

static const char *const no_report_file[] = {"--report=none", NULL};

Test(runtime_paths, every_runtime_function_counted_once)
{
    const char *arguments[] = {"1000", NULL};
    struct process_result run = traced_run(no_report_file, PROGRAM("alloc_counts"), arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    const char *report = run.err;
    cr_assert_eq(api_call_count(report, "cudaMalloc"), 1001);
    cr_assert_eq(api_call_count(report, "cudaMallocAsync"), 1001);
    cr_assert_eq(api_call_count(report, "cudaFreeAsync"), 1000);
    cr_assert_eq(api_call_count(report, "cudaMallocHost"), 1000);
    cr_assert_eq(api_call_count(report, "cudaHostAlloc"), 1);
    cr_assert_eq(api_call_count(report, "cudaFreeHost"), 1000);
    cr_assert_eq(api_call_count(report, "cudaMallocManaged"), 1001);
    cr_assert_eq(api_call_count(report, "cudaMallocPitch"), 1000);
    cr_assert_eq(api_call_count(report, "cudaFree"), 3000, "device + managed + pitch frees");
    cr_assert_eq(number_after(report, "Calls: "), 5004);
    cr_assert(strstr(report, "5004 allocation(s), 5000 free(s), 0 free(s) of unknown addresses, 0 failed out of memory"),
              "%s", report);

    cr_assert(strstr(report, "Device memory: 3145728 byte(s) (3.00 MiB) leaked in 2 allocation(s)"), "%s", report);
    cr_assert(strstr(report, "Host-pinned memory: 3145728 byte(s) (3.00 MiB) leaked in 1 allocation(s)"), "%s", report);
    cr_assert(strstr(report, "Managed memory: 4194304 byte(s) (4.00 MiB) leaked in 1 allocation(s)"), "%s", report);
    cr_assert(strstr(report, "of host-pinned memory, cudaHostAlloc, allocated from"), "%s", report);
    cr_assert(strstr(report, "SUMMARY: vramtrace: 10485760 byte(s) leaked in 4 allocation(s).\n"), "%s", report);
    process_result_free(&run);
}

Test(runtime_paths, eight_threads_ten_thousand_pairs_each_lose_nothing)
{
    const char *arguments[] = {"8", "10000", NULL};
    struct process_result run = traced_run(no_report_file, PROGRAM("thread_stress"), arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_eq(api_call_count(run.err, "cudaMalloc"), 80000);
    cr_assert_eq(api_call_count(run.err, "cudaFree"), 80000);
    cr_assert(strstr(run.err, "80000 allocation(s), 80000 free(s), 0 free(s) of unknown addresses"), "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 0 byte(s) leaked in 0 allocation(s).\n"), "%s", run.err);
    process_result_free(&run);
}

Test(runtime_paths, exit_code_stdout_and_stderr_pass_through)
{
    const char *arguments[] = {"7", NULL};
    struct process_result plain = untraced_run(PROGRAM("exit_code"), arguments);
    struct process_result traced = traced_run(no_report_file, PROGRAM("exit_code"), arguments, NULL, NULL);
    cr_assert_eq(plain.exit_code, 7);
    cr_assert_eq(traced.exit_code, 7);
    cr_assert_str_eq(traced.out, plain.out);
    cr_assert(strncmp(traced.err, plain.err, strlen(plain.err)) == 0, "program's stderr comes first, unchanged");
    cr_assert(strstr(traced.err, "SUMMARY: vramtrace: 1048576 byte(s) leaked in 1 allocation(s).\n"), "%s", traced.err);
    process_result_free(&plain);
    process_result_free(&traced);
}

Test(runtime_paths, out_of_memory_is_counted_not_an_allocation)
{
    const char *options[] = {"--report=none", "--simulate=1G", NULL};
    const char *arguments[] = {"4294967296", NULL};
    struct process_result run = traced_run(options, PROGRAM("oom"), arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_geq(number_after(run.err, "free(s) of unknown addresses, "), 1, "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 0 byte(s) leaked in 0 allocation(s).\n"), "%s", run.err);
    process_result_free(&run);
}

Test(runtime_paths, silent_when_no_gpu_memory_is_used)
{
    const char *arguments[] = {"-c", "echo hello", NULL};
    struct process_result run = traced_run(NULL, "/bin/sh", arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0);
    cr_assert_str_eq(run.out, "hello\n");
    cr_assert_str_eq(run.err, "", "a process that never touched CUDA gets no report");
    process_result_free(&run);
}
