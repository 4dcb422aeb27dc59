/* Integration tests of issue 9, point 3: CUDA's rules for when cuMemCreate memory is freed
 * (released *and* no longer mapped; one cuMemUnmap over several mappings; a reservation that still
 * holds a mapping is not freed, and its refused cuMemAddressFree changes nothing), on the simulated
 * device (cuMemGetInfo), in the exit report and in `vramtrace report` of the trace alike. tests/programs/vmm_lifetime.c says what it does; its
 * granularity G is 2 MiB: peak 5G (10 MiB), 2G (4 MiB) in 2 allocations left, 3 frees. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM VT_PROGRAMS_DIR "/vmm_lifetime"

static const char *const expected_output =
    "vmm_lifetime: A, B, C created and mapped: 4G in use\n"
    "vmm_lifetime: A and B released while mapped: 4G in use\n"
    "vmm_lifetime: D created: 5G in use\n"
    "vmm_lifetime: one cuMemUnmap over A and B: 2G in use\n"
    "vmm_lifetime: D mapped and released: 2G in use\n"
    "vmm_lifetime: C released while mapped: 2G in use\n"
    "vmm_lifetime: cuMemAddressFree of C's reservation while C is mapped: CUDA_ERROR_INVALID_VALUE\n"
    "vmm_lifetime: C still mapped: 2G in use\n"
    "vmm_lifetime: C unmapped: 1G in use\n"
    "vmm_lifetime: E created: 2G in use\n"
    "vmm_lifetime: done\n";

static const char *const calls =
    "Calls: 5 allocation(s), 3 free(s), 0 free(s) of unknown addresses, 0 failed out of memory";
static const char *const calls_by_api =
    "Calls by API: cuMemCreate=5 cuMemRelease=4 cuMemMap=4 cuMemUnmap=2 cuMemAddressReserve=2 cuMemAddressFree=1\n";

Test(vmm_lifetime, the_simulated_device_the_exit_report_and_the_trace_follow_cuda)
{
    char *directory = make_temp_directory();
    char trace[512];
    snprintf(trace, sizeof trace, "%s/vmm.trace", directory);
    const char *options[] = {"-o", trace, NULL};
    struct process_result run = traced_run(options, PROGRAM, NULL, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s%s", run.out, run.err);
    cr_assert_str_eq(run.out, expected_output, "the simulated device counts released memory until unmapped");

    const char *report = run.err;
    cr_assert(strstr(report, "SUMMARY: vramtrace: 4194304 byte(s) leaked in 2 allocation(s).\n"), "%s", report);
    cr_assert(strstr(report, "  device 0: 10485760 byte(s) (10.0 MiB) at "), "the peak: A, B, C, D\n%s", report);
    cr_assert(strstr(report, calls), "%s", report);
    cr_assert(strstr(report, calls_by_api), "%s", report);
    cr_assert(strstr(report, "Reserved address space: 16777216 byte(s) (16.0 MiB) still reserved"), "%s", report);
    process_result_free(&run);

    struct process_result replay = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(replay.exit_code, 0, "%s", replay.err);
    cr_assert(strstr(replay.out, "  device 0, device memory: leaked 4194304 byte(s) (4.00 MiB) in 2 allocation(s) at the end; "
                                 "peak 10485760 byte(s) (10.0 MiB)"),
              "%s", replay.out);
    cr_assert(strstr(replay.out, "  device 0: 10485760 byte(s) (10.0 MiB) at "), "%s", replay.out);
    cr_assert(strstr(replay.out, "Peak snapshot of device 0: 10485760 byte(s) (10.0 MiB) in 4 allocation(s)"), "%s",
              replay.out);
    cr_assert(strstr(replay.out, calls), "%s", replay.out);
    cr_assert(strstr(replay.out, calls_by_api), "%s", replay.out);
    process_result_free(&replay);
    free(directory);
}
