/* Tests of `vramtrace merge TRACE...` with a multi-process job on the simulated device:
 * tests/programs/rank_job started as torchrun would (RANK, LOCAL_RANK, WORLD_SIZE; each rank on its
 * own device) under `vramtrace run -o 'job.%r.trace'`. Every rank leaks 2 MiB from common_leak;
 * rank 1 also leaks 3 MiB from rank_one_leak and peaks at 69 MiB (the planted imbalance), the others
 * at 6 MiB. Checked: one row per rank in rank order (the traces given out of order), the imbalance
 * naming rank 1 and its ratio, the common leak with its bytes on every rank, the leak of rank 1 as
 * "on some ranks: 1", the same in JSON; a trace without a rank numbered by its place, and two ranks
 * on one device compared; PyTorch's
 * tensors by Python line where the traces have the tensor layer (tests/programs/python/torch_jobs.py
 * on the stand-in torch); a rank that ran out of memory; the errors. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_helpers.h"
#include "json_check.h"

#define RANK_JOB VT_PROGRAMS_DIR "/rank_job"
#define RANKS 4
#define MIB 1048576ull

/* Runs the job of RANKS ranks in a fresh directory; returns it (free it). */
static char *run_job(void)
{
    char *directory = make_temp_directory();
    const char *argv[] = {VT_CLI_PATH, "run", "-q", "--simulate", "--simulate-devices", "4", "-o", "job.%r.trace",
                          "--", RANK_JOB, "--launch", "4", NULL};
    struct process_result run = run_process(argv, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "the job failed: %s", run.err);
    process_result_free(&run);
    return directory;
}

/* `vramtrace merge [option] job.3.trace ... job.0.trace` (out of rank order on purpose). */
static struct process_result merge_job(const char *directory, const char *option)
{
    char paths[RANKS][600];
    const char *args[RANKS + 4] = {"merge"};
    size_t count = 1;
    if (option)
        args[count++] = option;
    for (int rank = RANKS - 1; rank >= 0; rank--) {
        snprintf(paths[rank], sizeof paths[rank], "%s/job.%d.trace", directory, rank);
        args[count++] = paths[rank];
    }
    args[count] = NULL;
    return run_cli(args);
}

Test(merge, shows_each_rank_the_imbalance_and_the_common_and_partial_leaks)
{
    char *directory = run_job();
    struct process_result merged = merge_job(directory, NULL);
    cr_assert_eq(merged.exit_code, 0, "%s", merged.err);
    const char *out = merged.out;
    cr_assert(strstr(out, "vramtrace merge: 4 trace(s)\n"), "%s", out);
    cr_assert_eq(count_occurrences(out, "  device "), RANKS + 1, "the header and one row per rank:\n%s", out);
    const char *previous = out;
    for (int rank = 0; rank < RANKS; rank++) {
        char row_start[32], device[32];
        snprintf(row_start, sizeof row_start, "\n     %d  ", rank);
        snprintf(device, sizeof device, "  device %d  ", rank);
        const char *row = strstr(out, row_start);
        cr_assert(row && row > previous, "rank %d's row, in rank order:\n%s", rank, out);
        char *line = line_containing(row + 1, device);
        cr_assert(line && strstr(row + 1, line) == row + 1, "rank %d on device %d:\n%s", rank, rank, out);
        cr_assert(strstr(line, rank == 1 ? " 72351744 (69.0 MiB) " : " 6291456 (6.00 MiB) "), "peak: %s", line);
        cr_assert(strstr(line, rank == 1 ? " 5242880 (5.00 MiB) " : " 2097152 (2.00 MiB) "), "end: %s", line);
        cr_assert(ends_with(line, rank == 1 ? "  2  0" : "  1  0"), "end allocations and OOMs: %s", line);
        free(line);
        previous = row;
    }
    cr_assert(strstr(out, "  largest:  rank 1, 72351744 byte(s) (69.0 MiB) on device 1 at "), "%s", out);
    cr_assert(strstr(out, "  smallest: rank 0, 6291456 byte(s) (6.00 MiB) on device 0 at "), "%s", out);
    cr_assert(strstr(out, "  largest / smallest: 11.50\n"), "%s", out);
    cr_assert(strstr(out, "Out of memory: no failure on any rank.\n"), "%s", out);
    cr_assert(strstr(out, "Leaks (live at the end) common to all 4 rank(s): 1 site(s), largest first:\n\n"
                          "2097152 byte(s) (2.00 MiB) in 1 allocation(s) on each rank, of device memory, cudaMalloc, "
                          "allocated from:\n    #0 common_leak "),
              "%s", out);
    cr_assert(strstr(out, "Leaks on some ranks only: 1 site(s), largest first:\n\n"
                          "3145728 byte(s) (3.00 MiB) in 1 allocation(s) in all, on some ranks: 1 (1: 3145728 byte(s) "
                          "in 1), of device memory, cudaMalloc, allocated from:\n    #0 rank_one_leak "),
              "%s", out);
    process_result_free(&merged);
    free(directory);
}

static const struct json_value *item(const struct json_value *array, size_t index)
{
    cr_assert(array && array->type == JSON_ARRAY && index < array->count);
    return &array->items[index];
}

Test(merge, json_has_the_same_ranks_imbalance_and_sites)
{
    char *directory = run_job();
    struct process_result merged = merge_job(directory, "--format=json");
    cr_assert_eq(merged.exit_code, 0, "%s", merged.err);
    char error[200];
    struct json_value *root = json_parse(merged.out, error, sizeof error);
    cr_assert_not_null(root, "%s\n%s", error, merged.out);
    cr_assert_str_eq(json_member_string(root, "format"), "vramtrace-merge");
    cr_assert_eq(json_member_number(root, "version"), 1);
    cr_assert_eq(json_member_number(root, "trace_count"), RANKS);
    const struct json_value *ranks = json_member(root, "ranks");
    cr_assert_eq(ranks->count, RANKS);
    for (int rank = 0; rank < RANKS; rank++) {
        const struct json_value *entry = item(ranks, (size_t)rank);
        cr_assert_eq(json_member_number(entry, "rank"), rank);
        cr_assert_eq(json_member_number(entry, "recorded_rank"), rank);
        cr_assert_gt(json_member_number(entry, "pid"), 0);
        const struct json_value *device = item(json_member(entry, "devices"), 0);
        cr_assert_eq(json_member_number(device, "device"), rank);
        cr_assert_eq(json_member_number(device, "peak_bytes"), rank == 1 ? 69 * MIB : 6 * MIB);
        cr_assert_eq(json_member_number(device, "end_bytes"), rank == 1 ? 5 * MIB : 2 * MIB);
        cr_assert_eq(json_member_number(json_member(entry, "oom"), "failures"), 0);
        cr_assert_eq(json_member_number(entry, "leak_bytes"), rank == 1 ? 5 * MIB : 2 * MIB);
    }
    const struct json_value *imbalance = json_member(root, "imbalance");
    cr_assert_eq(json_member_number(json_member(imbalance, "largest"), "rank"), 1);
    cr_assert_eq(json_member_number(json_member(imbalance, "largest"), "peak_bytes"), 69 * MIB);
    cr_assert_eq(json_member_number(json_member(imbalance, "smallest"), "rank"), 0);
    cr_assert_eq(json_member_number(json_member(imbalance, "smallest"), "peak_bytes"), 6 * MIB);
    cr_assert_eq(json_member(root, "imbalance_by_device")->count, 0, "each rank on its own device");

    cr_assert_eq(json_member_number(root, "common_sites_count"), 1);
    const struct json_value *common = item(json_member(root, "common_sites"), 0);
    cr_assert_str_eq(json_member_string(common, "layer"), "cuda");
    cr_assert_str_eq(json_member_string(common, "api"), "cudaMalloc");
    cr_assert_eq(json_member_number(common, "bytes"), RANKS * 2 * MIB);
    const struct json_value *common_ranks = json_member(common, "ranks");
    cr_assert_eq(common_ranks->count, RANKS);
    for (int rank = 0; rank < RANKS; rank++) {
        cr_assert_eq(json_member_number(item(common_ranks, (size_t)rank), "rank"), rank);
        cr_assert_eq(json_member_number(item(common_ranks, (size_t)rank), "bytes"), 2 * MIB);
        cr_assert_eq(json_member_number(item(common_ranks, (size_t)rank), "count"), 1);
    }
    cr_assert_str_eq(json_member_string(item(json_member(common, "frames"), 0), "function"), "common_leak");

    cr_assert_eq(json_member_number(root, "some_sites_count"), 1);
    const struct json_value *some = item(json_member(root, "some_sites"), 0);
    cr_assert_eq(json_member(some, "ranks")->count, 1);
    cr_assert_eq(json_member_number(item(json_member(some, "ranks"), 0), "rank"), 1);
    cr_assert_eq(json_member_number(item(json_member(some, "ranks"), 0), "bytes"), 3 * MIB);
    cr_assert_str_eq(json_member_string(item(json_member(some, "frames"), 0), "function"), "rank_one_leak");
    json_free(root);
    process_result_free(&merged);
    free(directory);
}

Test(merge, numbers_a_trace_without_a_rank_by_its_place_and_compares_ranks_sharing_a_device)
{
    char *directory = run_job();
    const char *const hold_arguments[] = {"0", NULL};
    char *unranked = make_trace(VT_PROGRAMS_DIR "/hold_and_wait", hold_arguments, NULL, "held", NULL);
    char rank_one[600], rank_zero[600];
    snprintf(rank_one, sizeof rank_one, "%s/job.1.trace", directory);
    snprintf(rank_zero, sizeof rank_zero, "%s/job.0.trace", directory);
    const char *args[] = {"merge", unranked, rank_one, rank_zero, NULL};
    struct process_result merged = run_cli(args);
    cr_assert_eq(merged.exit_code, 0, "%s", merged.err);
    const char *out = merged.out;
    cr_assert(strstr(out, "\n    0*  "), "the unranked trace is 0, its place:\n%s", out);
    cr_assert(strstr(out, "\n     1  ") && strstr(out, "\n     0  "), "%s", out);
    cr_assert(strstr(out, "* the trace has no rank"), "%s", out);
    cr_assert(strstr(out, "note: rank 0 appears in several traces\n"), "%s", out);
    /* hold_and_wait peaks at 3 MiB on device 0, rank 0 of the job at 6 MiB */
    cr_assert(strstr(out, "Of device 0, used by 2 ranks:\n"
                          "  largest:  rank 0, 6291456 byte(s) (6.00 MiB) on device 0 at "),
              "%s", out);
    cr_assert(strstr(out, "  smallest: rank 0, 3145728 byte(s) (3.00 MiB) on device 0 at "), "%s", out);
    cr_assert(strstr(out, "  largest / smallest: 2.00\n"), "%s", out);
    cr_assert(strstr(out, "Leaks (live at the end) common to all 3 rank(s): 0 site(s).\n"), "%s", out);
    cr_assert(strstr(out, "Leaks on some ranks only: 3 site(s)"), "%s", out);
    cr_assert(strstr(out, "on some ranks: 0, 1 (0: 2097152 byte(s) in 1, 1: 2097152 byte(s) in 1), of device memory, "
                          "cudaMalloc, allocated from:\n    #0 common_leak "),
              "%s", out);

    const char *json_args[] = {"merge", "--format", "json", unranked, rank_one, rank_zero, NULL};
    struct process_result json_run = run_cli(json_args);
    cr_assert_eq(json_run.exit_code, 0, "%s", json_run.err);
    char error[200];
    struct json_value *root = json_parse(json_run.out, error, sizeof error);
    cr_assert_not_null(root, "%s", error);
    cr_assert(json_member(root, "ranks_from_order")->boolean);
    cr_assert_eq(json_member(item(json_member(root, "ranks"), 0), "recorded_rank")->type, JSON_NULL);
    const struct json_value *by_device = json_member(root, "imbalance_by_device");
    cr_assert_eq(by_device->count, 1);
    cr_assert_eq(json_member_number(item(by_device, 0), "device"), 0);
    cr_assert_eq(json_member_number(json_member(item(by_device, 0), "smallest"), "peak_bytes"), 3 * MIB);
    json_free(root);
    process_result_free(&json_run);
    process_result_free(&merged);
    free(unranked);
    free(directory);
}

Test(merge, names_the_ranks_that_ran_out_of_memory)
{
    char *directory = run_job();
    char *failing = make_trace(VT_PROGRAMS_DIR "/oom", NULL, NULL, "oom", NULL); /* no rank: 0, its place */
    char ranked[600];
    snprintf(ranked, sizeof ranked, "%s/job.2.trace", directory);
    const char *args[] = {"merge", failing, ranked, NULL};
    struct process_result merged = run_cli(args);
    cr_assert_eq(merged.exit_code, 0, "%s", merged.err);
    cr_assert(strstr(merged.out, "Out of memory on 1 of 2 rank(s):\n  rank 0: 1 failure(s), the first at "), "%s",
              merged.out);
    cr_assert(strstr(merged.out, " on device 0 (a request of 1099511627776 byte(s))\n"), "%s", merged.out);
    char *oom_row = line_containing(merged.out, "    0*  ");
    cr_assert(oom_row && ends_with(oom_row, "  0  1"), "the OOM column: %s", oom_row ? oom_row : merged.out);
    free(oom_row);
    process_result_free(&merged);
    free(failing);
    free(directory);
}

Test(merge, counts_pytorchs_tensors_by_python_line)
{
    setenv("PYTHONPATH", VT_STANDIN_TORCH_DIR, 1);
    setenv("VT_LIBC10_CUDA", VT_LIBC10_CUDA_PATH, 1);
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    const char *const jobs[] = {VT_SOURCE_DIR "/tests/programs/python/torch_jobs.py", "keep_losses", NULL};
    char *first = make_trace("python3", jobs, NULL, "keep_losses", NULL);
    char *second = make_trace("python3", jobs, NULL, "keep_losses", NULL);
    const char *args[] = {"merge", first, second, NULL};
    struct process_result merged = run_cli(args);
    cr_assert_eq(merged.exit_code, 0, "%s", merged.err);
    /* the 5 kept losses of each run, at the loss's line; PyTorch's segment is its cache, not a leak */
    cr_assert(strstr(merged.out, "Leaks (live at the end) common to all 2 rank(s): 1 site(s), largest first:\n\n"
                                 "2560 byte(s) (2.50 KiB) in 5 tensor(s) on each rank, of PyTorch's tensors at "
                                 "keep_losses torch_jobs.py:"),
              "%s", merged.out);
    cr_assert(strstr(merged.out, "Leaks on some ranks only: 0 site(s).\n"), "%s", merged.out);
    process_result_free(&merged);
    free(first);
    free(second);
}

Test(merge, refuses_no_trace_and_an_unreadable_one)
{
    const char *none[] = {"merge", NULL};
    struct process_result usage = run_cli(none);
    cr_assert_eq(usage.exit_code, 2);
    cr_assert(strstr(usage.err, "no trace given"), "%s", usage.err);
    process_result_free(&usage);
    const char *missing[] = {"merge", "/nonexistent/job.0.trace", NULL};
    struct process_result unreadable = run_cli(missing);
    cr_assert_eq(unreadable.exit_code, 1);
    cr_assert(strstr(unreadable.err, "vramtrace merge: "), "%s", unreadable.err);
    process_result_free(&unreadable);
}
