/* Integration tests of issue 9, point 4: a device reset (cudaDeviceReset, cuDevicePrimaryCtxReset)
 * frees every device and managed allocation of that device, in the exit report and in `vramtrace
 * report` alike; peaks are unchanged. tests/programs/device_reset.c holds 16 MiB + 1 MiB managed on
 * device 0 and 8 MiB on device 1, resets device 0 and allocates 2 MiB there. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM VT_PROGRAMS_DIR "/device_reset"

static void check_reset(const char *mode, const char *api)
{
    char *directory = make_temp_directory();
    char trace[512];
    snprintf(trace, sizeof trace, "%s/reset.trace", directory);
    const char *options[] = {"--simulate-devices", "2", "-o", trace, NULL};
    const char *arguments[] = {mode, NULL};
    struct process_result run = traced_run(options, PROGRAM, arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s%s", run.out, run.err);
    cr_assert(strstr(run.out, "device_reset: done"), "%s", run.out);
    /* The exit report: only device 1's 8 MiB and the new 2 MiB are live; the peaks are kept. */
    cr_assert(strstr(run.err, "10485760 byte(s) (10.0 MiB) leaked in 2 allocation(s)"), "%s", run.err);
    cr_assert(strstr(run.err, "  device 0: 17825792 byte(s) (17.0 MiB) at "), "%s", run.err);
    cr_assert(strstr(run.err, "  device 1: 8388608 byte(s) (8.00 MiB) at "), "%s", run.err);
    cr_assert(strstr(run.err, "Calls: 4 allocation(s), 2 free(s), 0 free(s) of unknown addresses"), "%s", run.err);
    process_result_free(&run);

    struct process_result report = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert(strstr(report.out, "  device 0, device memory: leaked 2097152 byte(s) (2.00 MiB) in 1 allocation(s) at the end; "
                                 "peak 16777216 byte(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, "  device 1, device memory: leaked 8388608 byte(s) (8.00 MiB) in 1 allocation(s) at the end; "
                                 "peak 8388608 byte(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, "  device 0, managed memory: leaked 0 byte(s) (0 B) in 0 allocation(s) at the end; "
                                 "peak 1048576 byte(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, "  device 0: 17825792 byte(s) (17.0 MiB) at "), "%s", report.out);
    cr_assert(strstr(report.out, "Calls: 4 allocation(s), 2 free(s), 0 free(s) of unknown addresses"), "%s", report.out);
    char calls[64];
    snprintf(calls, sizeof calls, "%s=1", api);
    cr_assert(strstr(report.out, calls), "%s", report.out);
    process_result_free(&report);
    free(directory);
}

Test(device_reset, cuda_device_reset_frees_the_current_devices_memory)
{
    check_reset("runtime", "cudaDeviceReset");
}

Test(device_reset, primary_context_reset_frees_that_devices_memory)
{
    check_reset("driver", "cuDevicePrimaryCtxReset");
}
