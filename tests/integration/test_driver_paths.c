/* Integration tests of the interposition layer on the simulated device: every path of
 * docs/cuda-facts.md §1 counted exactly once (a test per path fails if it is missed or double
 * counted), the version and variant rules of wrapping, VMM accounting, out-of-memory reports,
 * many threads mixing paths, fork, and byte-identical program output. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM(name) VT_PROGRAMS_DIR "/" name

static const char *const no_report_file[] = {"--report=none", NULL};

static struct process_result run_driver_path(const char *mode)
{
    const char *arguments[] = {mode, NULL};
    struct process_result run = traced_run(no_report_file, PROGRAM("driver_paths"), arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    return run;
}

Test(driver_paths, runtime_cudaMalloc_is_one_event_not_two)
{
    struct process_result run = run_driver_path("runtime");
    cr_assert_eq(api_call_count(run.err, "cudaMalloc"), 1);
    cr_assert_eq(api_call_count(run.err, "cuMemAlloc"), 0, "the runtime's own cuMemAlloc must not count again");
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 4194304 byte(s) leaked in 1 allocation(s).\n"), "%s", run.err);
    process_result_free(&run);
}

Test(driver_paths, cupy_path_through_handed_out_cuGetProcAddress)
{
    struct process_result run = run_driver_path("cupy");
    cr_assert_eq(api_call_count(run.err, "cuMemAlloc"), 11, "%s", run.err);
    cr_assert_eq(api_call_count(run.err, "cuMemFree"), 10);
    cr_assert(strstr(run.err, "Leak of 1048576 byte(s) (1.00 MiB) in 1 allocation(s) of device memory, cuMemAlloc, allocated from:"),
              "%s", run.err);
    cr_assert(strstr(run.err, " in leak_through_cupy_path "), "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 1048576 byte(s) leaked in 1 allocation(s).\n"));
    process_result_free(&run);
}

Test(driver_paths, jax_path_through_dlsym_by_name)
{
    struct process_result run = run_driver_path("jax");
    cr_assert_eq(api_call_count(run.err, "cuMemAlloc"), 11, "%s", run.err);
    cr_assert_eq(api_call_count(run.err, "cuMemFree"), 10);
    cr_assert(strstr(run.err, " in leak_through_dlsym_path "), "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 2097152 byte(s) leaked in 1 allocation(s).\n"));
    process_result_free(&run);
}

Test(driver_paths, expandable_segments_count_physical_memory_only)
{
    struct process_result run = run_driver_path("expandable");
    const char *report = run.err;
    cr_assert_eq(api_call_count(report, "cuMemCreate"), 3, "the failing fabric cuMemCreate is not an allocation:\n%s", report);
    cr_assert_eq(api_call_count(report, "cuMemRelease"), 2);
    cr_assert_eq(api_call_count(report, "cuMemMap"), 3);
    cr_assert_eq(api_call_count(report, "cuMemUnmap"), 2);
    cr_assert_eq(api_call_count(report, "cuMemAddressReserve"), 2);
    cr_assert_eq(api_call_count(report, "cuMemAddressFree"), 1);
    const char *leak = strstr(report, "Leak of 2097152 byte(s) (2.00 MiB) in 1 allocation(s) of device memory, cuMemCreate, "
                                      "allocated from:\n  thread ");
    const char *threads_end = leak ? strchr(strchr(leak, '\n') + 1, '\n') : NULL;
    cr_assert(threads_end && strncmp(threads_end, "\n  mapped at 0x", 15) == 0,
              "a leaked handle says which thread allocated it, then where it is mapped:\n%s", report);
    cr_assert(strstr(report, "Reserved address space: 68719476736 byte(s) (64.0 GiB) still reserved (not memory use)"), "%s", report);
    cr_assert_lt(number_after(report, "  device 0: "), 64ULL << 30, "reserved address space never counts as use");
    cr_assert(strstr(report, "SUMMARY: vramtrace: 2097152 byte(s) leaked in 1 allocation(s).\n"), "%s", report);
    process_result_free(&run);
}

Test(driver_paths, leak_paths_report_every_path)
{
    struct process_result run = traced_run(no_report_file, VT_EXAMPLES_DIR "/leak_paths", NULL, NULL, NULL);
    const char *report = run.err;
    cr_assert_eq(run.exit_code, 0, "%s", report);
    cr_assert(strstr(report, "Device memory: 18874368 byte(s) (18.0 MiB) leaked in 7 allocation(s)"), "%s", report);
    cr_assert(strstr(report, "Leak of 6291456 byte(s) (6.00 MiB) in 3 allocation(s) of device memory, cuMemCreate"), "%s", report);
    cr_assert(strstr(report, "Leak of 5242880 byte(s) (5.00 MiB) in 1 allocation(s) of device memory, cuMemAlloc"), "%s", report);
    cr_assert(strstr(report, "Leak of 4194304 byte(s) (4.00 MiB) in 1 allocation(s) of device memory, cuMemAlloc"), "%s", report);
    cr_assert(strstr(report, "Leak of 2097152 byte(s) (2.00 MiB) in 1 allocation(s) of device memory, cudaMallocAsync"), "%s", report);
    cr_assert(strstr(report, "Leak of 1048576 byte(s) (1.00 MiB) in 1 allocation(s) of device memory, cudaMalloc,"), "%s", report);
    cr_assert(strstr(report, "Host-pinned memory: 3145728 byte(s) (3.00 MiB) leaked in 1 allocation(s)"), "%s", report);
    cr_assert(strstr(report, "Managed memory: 7340032 byte(s) (7.00 MiB) leaked in 1 allocation(s)"), "%s", report);
    cr_assert(strstr(report, "SUMMARY: vramtrace: 29360128 byte(s) leaked in 9 allocation(s).\n"), "%s", report);
    process_result_free(&run);
}

Test(driver_paths, wrapping_follows_versions_variants_and_is_idempotent)
{
    struct process_result run = traced_run(no_report_file, PROGRAM("lookup_rules"), NULL, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    const char *expected =
        "dlsym cuGetProcAddress_v2: libvramtrace.so\n"
        "dlsym cuMemAlloc_v2: libvramtrace.so\n"
        "dlsym cuMemAlloc (legacy 32-bit): libcuda.so.1\n"
        "dlsym cuMemGetInfo_v2 (not wrapped): libcuda.so.1\n"
        "dlsym cuNoSuchFunction: NULL, dlerror set\n"
        "dlsym(RTLD_NEXT) from a library: probe_value 2 (next_probe_b loaded: 1)\n"
        "cuGetProcAddress cuMemAlloc@3020: libvramtrace.so\n"
        "cuGetProcAddress cuMemAlloc@3010 (legacy ABI): libcuda.so.1\n"
        "cuGetProcAddress cuMemAllocAsync@12000: libvramtrace.so\n"
        "cuGetProcAddress cuMemAllocAsync@12000 per-thread: libvramtrace.so\n"
        "cuGetProcAddress cuMemGetInfo@12000 (not wrapped): libcuda.so.1\n"
        "cuGetProcAddress cuGetProcAddress@12000: libvramtrace.so\n"
        "cuGetProcAddress cuGetProcAddress@11030 (4 arguments): libvramtrace.so\n"
        "handed-out cuGetProcAddress cuMemAlloc@3020: libvramtrace.so\n"
        "cudaGetDriverEntryPointByVersion cuMemCreate@12000: libvramtrace.so, same pointer twice: yes\n"
        "allocated 4096 bytes through the per-thread cuMemAllocAsync (kept)\n";
    /* A version past the tracer's headers passes through: the driver answers (or refuses) itself. */
    const char *newer = "cuGetProcAddress cuMemAlloc@14000 (newer than the tracer): ";
    char *newer_line = strstr(run.out, newer);
    cr_assert_not_null(newer_line, "%s", run.out);
    char *newer_end = strchr(newer_line, '\n');
    cr_assert(strncmp(newer_line + strlen(newer), "libvramtrace.so", 15) != 0, "%s", run.out);
    memmove(newer_line, newer_end + 1, strlen(newer_end + 1) + 1);
    cr_assert_str_eq(run.out, expected);
    cr_assert_eq(api_call_count(run.err, "cuMemAllocAsync"), 1, "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 4096 byte(s) leaked in 1 allocation(s).\n"), "%s", run.err);
    process_result_free(&run);
}

Test(driver_paths, sixteen_threads_mixing_paths_exact_totals)
{
    const char *arguments[] = {"16", "5000", NULL};
    struct process_result run = traced_run(no_report_file, PROGRAM("mixed_stress"), arguments, NULL, NULL);
    const char *report = run.err;
    cr_assert_eq(run.exit_code, 0, "%s", report);
    cr_assert_eq(api_call_count(report, "cudaMalloc"), 20000);
    cr_assert_eq(api_call_count(report, "cudaFree"), 20000);
    cr_assert_eq(api_call_count(report, "cudaMallocAsync"), 15000);
    cr_assert_eq(api_call_count(report, "cudaFreeAsync"), 15000);
    cr_assert_eq(api_call_count(report, "cuMemAlloc"), 30000);
    cr_assert_eq(api_call_count(report, "cuMemFree"), 30000);
    cr_assert_eq(api_call_count(report, "cuMemCreate"), 15000);
    cr_assert_eq(api_call_count(report, "cuMemRelease"), 15000);
    cr_assert(strstr(report, "80000 allocation(s), 80000 free(s), 0 free(s) of unknown addresses"), "%s", report);
    cr_assert(strstr(report, "SUMMARY: vramtrace: 0 byte(s) leaked in 0 allocation(s).\n"), "%s", report);
    process_result_free(&run);
}

Test(driver_paths, forked_child_stays_silent_and_leaves_parent_report_alone)
{
    char *directory = make_temp_directory();
    const char *options[] = {"--report=%n.%p.report.txt", "--output=%n.%p.trace", NULL};
    struct process_result run = traced_run(options, PROGRAM("fork_child"), NULL, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_str_eq(run.out, "fork_child: child exited with 0\n");
    cr_assert_eq(count_occurrences(run.err, "SUMMARY:"), 1, "only the parent reports:\n%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 1048576 byte(s) leaked in 1 allocation(s).\n"), "%s", run.err);
    cr_assert_eq(api_call_count(run.err, "cudaMalloc"), 1, "the child's allocation is not the parent's");
    struct process_result listing = run_process((const char *[]){"/bin/sh", "-c", "ls | wc -l", NULL}, NULL, directory);
    cr_assert_str_eq(listing.out, "2\n", "the parent's report and trace, nothing from the child");
    process_result_free(&listing);
    process_result_free(&run);
}

Test(driver_paths, first_oom_writes_report_of_live_memory_and_recovery_is_noted)
{
    char *directory = make_temp_directory();
    const char *options[] = {"--simulate=1G", "--report=run.report.txt", NULL};
    struct process_result run = traced_run(options, PROGRAM("oom_retry"), NULL, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.err, "vramtrace: out of memory: cudaMalloc failed on device 0; OOM report written to run.oom.txt\n"),
              "%s", run.err);
    cr_assert(strstr(run.err, "Out of memory: 1 failed allocation(s); the first: cudaMalloc of 838860800 byte(s) (800.0 MiB) on device 0"),
              "%s", run.err);
    cr_assert(strstr(run.err, "Recovered: 1 allocation(s) succeeded after the last failure."), "%s", run.err);

    char path[600];
    snprintf(path, sizeof path, "%s/run.oom.txt", directory);
    char *oom = read_file_text(path);
    cr_assert_not_null(oom, "%s missing", path);
    cr_assert(strstr(oom, "vramtrace: OUT OF MEMORY in oom_retry"), "%s", oom);
    cr_assert(strstr(oom, "cudaMalloc of 838860800 byte(s) (800.0 MiB) failed on device 0; the device had 424.0 MiB free of 1.00 GiB."),
              "%s", oom);
    const char *failed = strstr(oom, "Failed request made from:\n");
    cr_assert(failed && strstr(failed, " in request_activations "), "%s", oom);
    cr_assert(strstr(oom, "Live on device 0 when it failed: 629145600 byte(s) (600.0 MiB) in 1 allocation(s)"),
              "the live set is frozen at the failure, before the cache is freed:\n%s", oom);
    const char *live = strstr(oom, "Live of 629145600 byte(s)");
    cr_assert(live && strstr(live, " in hold_cache "), "%s", oom);
    free(oom);
    process_result_free(&run);
}

Test(driver_paths, oom_not_followed_by_success_is_not_recovered)
{
    const char *options[] = {"--report=none", "--simulate=1G", NULL};
    const char *arguments[] = {"4294967296", NULL};
    struct process_result run = traced_run(options, PROGRAM("oom"), arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.err, "Not recovered: no allocation succeeded after the last failure."), "%s", run.err);
    cr_assert(strstr(run.err, "vramtrace: OUT OF MEMORY in oom"), "without a report file the OOM report goes to stderr:\n%s", run.err);
    process_result_free(&run);
}

Test(driver_paths, program_output_byte_identical_under_the_shim)
{
    const char *programs[][3] = {
        {VT_EXAMPLES_DIR "/leak_paths", NULL, NULL},
        {PROGRAM("lookup_rules"), NULL, NULL},
        {PROGRAM("mixed_stress"), "8", "100"},
        {PROGRAM("driver_paths"), "expandable", NULL},
    };
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        const char *arguments[] = {programs[i][1], programs[i][2], NULL};
        struct process_result plain = untraced_run(programs[i][0], arguments);
        struct process_result traced = traced_run(no_report_file, programs[i][0], arguments, NULL, NULL);
        cr_assert_eq(traced.exit_code, plain.exit_code, "%s", programs[i][0]);
        if (strstr(programs[i][0], "lookup_rules"))
            cr_assert_neq(strcmp(plain.out, traced.out), 0, "lookup_rules prints which library answered");
        else
            cr_assert_str_eq(traced.out, plain.out, "%s: stdout must be byte-identical", programs[i][0]);
        process_result_free(&plain);
        process_result_free(&traced);
    }
}
