/* Integration tests of --limit SIZE (VRAMTRACE_LIMIT, issue 11 point 2) on the simulated device:
 * every allocation path fails with its own out-of-memory error past the limit and succeeds below
 * it (tests/programs/limit_paths.c; a refused runtime call leaves cudaGetLastError() reporting it
 * once, as a real failure does); pinned host memory is not limited; threads allocating at once
 * never pass the limit together; the OOM report says the limit was simulated; the stand-in torch
 * takes its free-the-cache-and-retry path, then raises torch.OutOfMemoryError, and the report names
 * its lines; bad values are refused with one message naming the variable. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM VT_PROGRAMS_DIR "/limit_paths"
#define TORCH_JOBS VT_SOURCE_DIR "/tests/programs/python/torch_jobs.py"

static void assert_contains(const char *text, const char *wanted)
{
    cr_assert(strstr(text, wanted), "wanted \"%s\" in:\n%s", wanted, text);
}

static struct process_result run_limited(const char *mode)
{
    const char *options[] = {"--limit", "8M", "--report=none", NULL};
    struct process_result run = traced_run(options, PROGRAM, (const char *[]){mode, NULL}, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    return run;
}

static const char *const paths[] = {
    "cudaMalloc", "cudaMallocManaged", "cudaMallocPitch", "cudaMallocAsync", "cudaMallocFromPoolAsync",
    "cuMemAlloc", "cuMemAllocPitch", "cuMemAllocManaged", "cuMemAllocAsync", "cuMemAllocAsync_ptsz",
    "cuMemAllocFromPoolAsync", "cuMemAllocFromPoolAsync_ptsz", "cuMemCreate",
};

Test(limit, every_path_fails_with_its_own_out_of_memory_past_the_limit)
{
    struct process_result run = run_limited("all");
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "limit_paths %s: 4 MiB and 2 MiB allocated, 4 MiB more refused", paths[i]);
        assert_contains(run.out, line);
    }
    /* one refusal per path, the first one's report saying the limit was simulated */
    assert_contains(run.err, "Out of memory: 13 failed allocation(s); the first: cudaMalloc of 4194304 byte(s)");
    assert_contains(run.err, "cudaMalloc of 4194304 byte(s) (4.00 MiB) failed on device 0: simulated limit of "
                             "8.00 MiB on device 0 (--limit); 2.00 MiB of it free.");
    assert_contains(run.err, "Live on device 0 when it failed: 6291456 byte(s) (6.00 MiB) in 2 allocation(s)");
    assert_contains(run.err, "SUMMARY: vramtrace: 0 byte(s) leaked in 0 allocation(s).");
    process_result_free(&run);
}

Test(limit, each_path_alone_is_refused_as_out_of_memory_in_the_trace)
{
    char *directory = make_temp_directory();
    char trace[512];
    snprintf(trace, sizeof trace, "%s/limit.trace", directory);
    const char *options[] = {"--limit", "8M", "--report=none", "-o", trace, NULL};
    struct process_result run = traced_run(options, PROGRAM, (const char *[]){"cuMemCreate", NULL}, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s%s", run.out, run.err);
    assert_contains(run.err, "cuMemCreate of 4194304 byte(s) (4.00 MiB) failed on device 0: simulated limit of "
                             "8.00 MiB on device 0 (--limit)");
    process_result_free(&run);
    /* the trace's OOM record, as a real one: the simulated device's free and total memory */
    struct process_result report = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    assert_contains(report.out, "Out of memory: 1 failed allocation(s); the first: cuMemCreate of 4194304 byte(s) "
                                "(4.00 MiB) on device 0 at ");
    assert_contains(report.out, "the device had 2.00 MiB free of 8.00 MiB");
    process_result_free(&report);
    free(directory);
}

Test(limit, pinned_host_memory_is_not_limited)
{
    struct process_result run = run_limited("pinned");
    assert_contains(run.out, "limit_paths pinned: 16 MiB of pinned host memory twice, not limited");
    assert_contains(run.err, "Calls: 2 allocation(s), 2 free(s), 0 free(s) of unknown addresses, 0 failed out of memory");
    process_result_free(&run);
}

Test(limit, threads_allocating_at_once_never_pass_the_limit_together)
{
    struct process_result run = run_limited("threads");
    /* the program checks, at each of 20 rounds, that what its 8 threads hold is exactly the limit */
    assert_contains(run.out, "limit_paths threads: 8 threads x 20 rounds: 8388608 bytes live together at most (the "
                             "limit), 160 refused");
    assert_contains(run.err, "Out of memory: 160 failed allocation(s)");
    assert_contains(run.err, "device 0: 8388608 byte(s) (8.00 MiB) at ");
    process_result_free(&run);
}

Test(limit, without_a_limit_the_same_program_is_never_refused)
{
    struct process_result run = traced_run((const char *[]){"--report=none", NULL}, PROGRAM,
                                           (const char *[]){"cudaMalloc", NULL}, NULL, NULL);
    cr_assert_neq(run.exit_code, 0, "the 10 MiB must fit without a limit: %s", run.out);
    assert_contains(run.err, "4 MiB past the limit did not fail with out of memory (status 0)");
    process_result_free(&run);
}

static void assert_names_site(const char *text, const char *name)
{
    char wanted[1024];
    snprintf(wanted, sizeof wanted, "in under_limit %s:%d", TORCH_JOBS, source_site_line(TORCH_JOBS, name));
    assert_contains(text, wanted);
}

Test(limit, pytorch_frees_its_cache_retries_then_raises_out_of_memory)
{
    char *directory = make_temp_directory();
    char python_path[2048];
    snprintf(python_path, sizeof python_path, "PYTHONPATH=%s", VT_STANDIN_TORCH_DIR);
    const char *environment[] = {python_path, "VT_LIBC10_CUDA=" VT_LIBC10_CUDA_PATH, "PYTHONDONTWRITEBYTECODE=1", NULL};
    const char *options[] = {"--limit", "64M", "--output=job.trace", NULL};
    struct process_result run = traced_run(options, "python3", (const char *[]){TORCH_JOBS, "under_limit", NULL},
                                           environment, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    /* 16 MiB cached + 40 MiB kept + 20 MiB is past 64 MiB: refused, the cache freed, retried and fits */
    assert_contains(run.out, "torch: retried 1 time(s) after freeing its cache");
    assert_contains(run.out, "torch: out of memory under the limit, as expected");
    /* the retry's first attempt, the refused 32 MiB, and its retry after an (empty) cache release */
    assert_contains(run.err, "Out of memory: 3 failed allocation(s); the first: cudaMalloc of 20971520 byte(s)");
    assert_contains(run.err, "Calls: 3 allocation(s), 1 free(s)");

    char path[1024];
    snprintf(path, sizeof path, "%s/job.oom.txt", directory);
    char *report = read_file_text(path);
    cr_assert_not_null(report, "no %s", path);
    assert_contains(report, "cudaMalloc of 20971520 byte(s) (20.0 MiB) failed on device 0: simulated limit of "
                            "64.0 MiB on device 0 (--limit); 8.00 MiB of it free.");
    assert_names_site(report, "limit retried"); /* the failing request */
    assert_names_site(report, "limit kept");    /* live when it failed */
    assert_contains(report, "The failing request: 33554432 byte(s) (32.0 MiB) on device 0");
    assert_names_site(report, "limit refused"); /* PyTorch's view: the request it raised for */
    free(report);
    process_result_free(&run);
    free(directory);
}

Test(limit, a_bad_value_is_named_once_and_no_limit_applies)
{
    const char *argv[] = {PROGRAM, "cudaMalloc", NULL};
    const char *environment[] = {"LD_PRELOAD=" VT_SHIM_PATH, "LD_LIBRARY_PATH=" VT_SIM_DIR, "VRAMTRACE_REPORT=none",
                                 "VRAMTRACE_OUTPUT=none", "VRAMTRACE_LIMIT=abc", NULL};
    struct process_result run = run_process(argv, environment, NULL);
    assert_contains(run.err, "vramtrace: VRAMTRACE_LIMIT='abc' is not a valid size; accepted: bytes, or a number "
                             "with K, M, G or T (powers of 1024), e.g. 4G; 0 for none; using the default\n");
    cr_assert_eq(count_occurrences(run.err, "VRAMTRACE_LIMIT="), 1, "said once:\n%s", run.err);
    /* no limit: the program's 10 MiB fit, so its check of the refusal fails (and only that) */
    assert_contains(run.err, "4 MiB past the limit did not fail with out of memory (status 0)");
    process_result_free(&run);

    struct process_result cli = run_process((const char *[]){VT_CLI_PATH, "run", "--simulate", "--limit", "abc",
                                                             PROGRAM, "cudaMalloc", NULL},
                                            NULL, NULL);
    cr_assert_eq(cli.exit_code, 2, "%s", cli.err);
    assert_contains(cli.err, "vramtrace run: bad value for --limit: VRAMTRACE_LIMIT='abc' is not a valid size");
    process_result_free(&cli);
}

Test(limit, zero_means_no_limit)
{
    const char *options[] = {"--limit", "0", "--report=none", NULL};
    struct process_result run = traced_run(options, PROGRAM, (const char *[]){"cudaMalloc", NULL}, NULL, NULL);
    assert_contains(run.err, "4 MiB past the limit did not fail with out of memory (status 0)");
    process_result_free(&run);
}
