/* Integration tests: the tensor layer of the shim's reports (src/shim/torch_snapshot.c,
 * torch_report.c, common/torch_layer.c) on the stand-in torch (tests/standin_torch) and the
 * simulated device. PyTorch's cached segments are never leaks; its tensors still allocated at exit
 * are, named by their Python line; memory outside PyTorch's allocator is reported by itself; the
 * SUMMARY line counts exactly those; the OOM report names the failing request's line and the live
 * tensors, also when PyTorch refused without a CUDA failure; every allocator mode. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define TORCH_JOBS VT_SOURCE_DIR "/tests/programs/python/torch_jobs.py"
#define LAYER_JOBS VT_SOURCE_DIR "/tests/programs/python/torch_layer_jobs.py"

/* Runs `jobs` SCENARIO in a fresh directory (kept in *directory) with the report on stderr, the
 * files as job.*, and `extra` environment variables. */
static struct process_result run_scenario(const char *jobs, const char *scenario, const char *const extra[],
                                          char **directory)
{
    *directory = make_temp_directory();
    char python_path[2048];
    snprintf(python_path, sizeof python_path, "PYTHONPATH=%s", VT_STANDIN_TORCH_DIR);
    const char *environment[10] = {python_path, "VT_LIBC10_CUDA=" VT_LIBC10_CUDA_PATH, "PYTHONDONTWRITEBYTECODE=1"};
    size_t count = 3;
    for (size_t i = 0; extra && extra[i]; i++)
        environment[count++] = extra[i];
    struct process_result run = traced_run((const char *[]){"--output=job.trace", NULL}, "python3",
                                           (const char *[]){jobs, scenario, NULL}, environment, *directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    return run;
}

static void assert_contains(const char *text, const char *wanted)
{
    cr_assert(strstr(text, wanted), "wanted \"%s\" in:\n%s", wanted, text);
}

/* "allocated at FUNCTION JOBS:LINE" for the site NAME of `jobs` (plus `offset` lines). */
static void assert_names_site(const char *text, const char *function, const char *jobs, const char *name,
                              int offset)
{
    char wanted[1024];
    snprintf(wanted, sizeof wanted, "at %s %s:%d", function, jobs, source_site_line(jobs, name) + offset);
    assert_contains(text, wanted);
}

static char *read_file(const char *directory, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "no %s", path);
    static char text[1 << 16];
    size_t length = fread(text, 1, sizeof text - 1, file);
    text[length] = '\0';
    fclose(file);
    return text;
}

Test(torch_layer, kept_losses_are_the_leak_and_the_cache_is_not)
{
    char *directory;
    struct process_result run = run_scenario(TORCH_JOBS, "keep_losses", NULL, &directory);
    /* five scalar losses, 512 bytes each (PyTorch's smallest block); the 2 MiB segment is cache */
    assert_contains(run.err, "Tensors on device 0: 2560 byte(s) (2.50 KiB) still allocated at exit (leaked) in 5 tensor(s)");
    assert_names_site(run.err, "keep_losses", TORCH_JOBS, "batch", 1); /* loss = model(batch).sum() */
    assert_contains(run.err, "CUDA memory held in PyTorch's segments at exit: 2097152 byte(s)");
    assert_contains(run.err, "Device memory: no leaks");
    assert_contains(run.err, "SUMMARY: vramtrace: 2560 byte(s) leaked in 5 allocation(s).");
    process_result_free(&run);
}

Test(torch_layer, fragmentation_is_cached_free_memory_not_a_leak)
{
    char *directory;
    struct process_result run = run_scenario(LAYER_JOBS, "fragmentation", NULL, &directory);
    /* what PyTorch itself says is allocated (the job prints memory_allocated()) is what leaked */
    uint64_t allocated = number_after(run.out, "allocated: "), reserved = number_after(run.out, "reserved: ");
    cr_assert_gt(allocated, 0);
    char summary[256];
    snprintf(summary, sizeof summary, "SUMMARY: vramtrace: %llu byte(s) leaked in 10 allocation(s).",
             (unsigned long long)allocated);
    assert_contains(run.err, summary);
    char held[256];
    snprintf(held, sizeof held, "CUDA memory held in PyTorch's segments at exit: %llu byte(s)",
             (unsigned long long)reserved);
    assert_contains(run.err, held);
    assert_contains(run.err, "cached and free in 10 block(s)");
    /* ten free blocks between live tensors: the largest is not all of the free memory */
    const char *fragmented = strstr(run.err, "; ");
    cr_assert_not_null(strstr(run.err, "fragmented)"));
    cr_assert_null(strstr(run.err, "; 0 B fragmented)"), "%s", fragmented);
    assert_names_site(run.err, "<listcomp>", LAYER_JOBS, "fragments", 0);
    assert_contains(run.err, "Device memory: no leaks");
    process_result_free(&run);
}

Test(torch_layer, memory_outside_pytorch_is_reported_by_itself)
{
    char *directory;
    struct process_result run = run_scenario(LAYER_JOBS, "outside_torch", NULL, &directory);
    assert_contains(run.err, "Tensors on device 0: 4096 byte(s) (4.00 KiB) still allocated at exit (leaked) in 1 tensor(s)");
    assert_names_site(run.err, "outside_torch", LAYER_JOBS, "kept tensor", 0);
    assert_contains(run.err, "Device memory: 3145728 byte(s) (3.00 MiB) leaked in 1 allocation(s)");
    char raw_frame[1024];
    snprintf(raw_frame, sizeof raw_frame, "in outside_torch %s:%d [python]", LAYER_JOBS, source_site_line(LAYER_JOBS, "raw"));
    assert_contains(run.err, raw_frame);
    assert_contains(run.err, "SUMMARY: vramtrace: 3149824 byte(s) leaked in 2 allocation(s).");
    process_result_free(&run);
}

Test(torch_layer, a_job_that_freed_its_tensors_leaks_nothing)
{
    char *directory;
    struct process_result run = run_scenario(LAYER_JOBS, "freed_everything", NULL, &directory);
    assert_contains(run.err, "Tensors on device 0: no leaks");
    assert_contains(run.err, "20.0 MiB cached and free in 1 block(s)");
    assert_contains(run.err, "SUMMARY: vramtrace: 0 byte(s) leaked in 0 allocation(s).");
    process_result_free(&run);
}

Test(torch_layer, the_oom_report_names_the_failing_line_and_the_live_tensors)
{
    char *directory;
    struct process_result run = run_scenario(TORCH_JOBS, "out_of_memory", NULL, &directory);
    const char *report = read_file(directory, "job.oom.txt");
    assert_contains(report, "cudaMalloc of 4398046511104 byte(s) (4.00 TiB) failed on device 0");
    assert_contains(report, "PyTorch's view of the out-of-memory");
    assert_contains(report, "The failing request: 4398046511104 byte(s) (4.00 TiB) on device 0");
    assert_names_site(report, "out_of_memory", TORCH_JOBS, "too large", 0);
    assert_contains(report, "Tensors on device 0: 268435456 byte(s) (256.0 MiB) live in 1 tensor(s)");
    assert_names_site(report, "out_of_memory", TORCH_JOBS, "weights", 0);
    assert_contains(report, "0 B cached and free");
    process_result_free(&run);
}

Test(torch_layer, an_oom_refused_by_pytorch_alone_still_gets_a_report)
{
    char *directory;
    struct process_result run = run_scenario(LAYER_JOBS, "fraction_out_of_memory", NULL, &directory);
    assert_contains(run.out, "torch: out of memory, as expected");
    assert_contains(run.err, "Out of memory: PyTorch's allocator refused 268435456 byte(s) (256.0 MiB) on device 0");
    const char *report = read_file(directory, "job.oom.txt");
    assert_contains(report, "PyTorch's allocator refused a request (no CUDA call failed)");
    assert_contains(report, "The failing request: 268435456 byte(s) (256.0 MiB) on device 0");
    assert_names_site(report, "fraction_out_of_memory", LAYER_JOBS, "past the fraction", 0);
    assert_names_site(report, "fraction_out_of_memory", LAYER_JOBS, "before the fraction", 0);
    process_result_free(&run);
}

Test(torch_layer, expandable_segments_are_cache_too)
{
    char *directory;
    struct process_result run = run_scenario(TORCH_JOBS, "keep_losses",
                                             (const char *[]){"PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True", NULL},
                                             &directory);
    assert_contains(run.err, "cuMemCreate=1");
    assert_contains(run.err, "Tensors on device 0: 2560 byte(s) (2.50 KiB) still allocated at exit (leaked) in 5 tensor(s)");
    assert_contains(run.err, "Device memory: no leaks");
    cr_assert_null(strstr(run.err, "Reserved address space:"), "the segment's reservation is PyTorch's:\n%s", run.err);
    assert_contains(run.err, "SUMMARY: vramtrace: 2560 byte(s) leaked in 5 allocation(s).");
    process_result_free(&run);
}

Test(torch_layer, without_caching_the_tensors_are_the_cuda_allocations)
{
    char *directory;
    struct process_result run = run_scenario(TORCH_JOBS, "keep_losses",
                                             (const char *[]){"PYTORCH_NO_CUDA_MEMORY_CACHING=1", NULL}, &directory);
    assert_contains(run.err, "PyTorch's caching allocator held no memory at exit");
    assert_contains(run.err, "Device memory: 20 byte(s) (20 B) leaked in 5 allocation(s)");
    assert_contains(run.err, "SUMMARY: vramtrace: 20 byte(s) leaked in 5 allocation(s).");
    process_result_free(&run);
}

Test(torch_layer, the_async_backend_is_traced_per_tensor_at_the_cuda_level)
{
    char *directory;
    struct process_result run = run_scenario(TORCH_JOBS, "keep_losses",
                                             (const char *[]){"PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync", NULL},
                                             &directory);
    cr_assert_null(strstr(run.err, "PyTorch's caching allocator"), "%s", run.err);
    assert_contains(run.err, "Device memory: 20 byte(s) (20 B) leaked in 5 allocation(s)");
    assert_contains(run.err, "cudaMallocAsync");
    char kept_line[1024];
    snprintf(kept_line, sizeof kept_line, "in keep_losses %s:%d [python]", TORCH_JOBS, source_site_line(TORCH_JOBS, "batch") + 1);
    assert_contains(run.err, kept_line);
    assert_contains(run.err, "SUMMARY: vramtrace: 20 byte(s) leaked in 5 allocation(s).");
    process_result_free(&run);
}
