/* Integration tests of issue 9's device attribution on two simulated devices: memory belongs to
 * the device that owns it (the stream's or the pool's device, not the current one), and an
 * out-of-memory report gives the failing device's figures. tests/programs/device_owner.c keeps
 * device 0 current throughout. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM VT_PROGRAMS_DIR "/device_owner"

static const char device_0_peak[] =
    "  device 0: 16777216 byte(s) (16.0 MiB) at ";
static const char device_1_peak[] =
    "  device 1: 15728640 byte(s) (15.0 MiB) at ";

Test(device_owner, stream_and_pool_memory_belongs_to_their_device)
{
    char *directory = make_temp_directory();
    char trace[512];
    snprintf(trace, sizeof trace, "%s/owner.trace", directory);
    const char *options[] = {"--simulate-devices", "2", "--report=none", "-o", trace, NULL};
    const char *arguments[] = {"alloc", NULL};
    struct process_result run = traced_run(options, PROGRAM, arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    /* cudaMallocAsync 1 MiB + cudaMallocFromPoolAsync 2 MiB + cuMemAllocAsync 4 MiB +
     * cuMemAllocFromPoolAsync 8 MiB on device 1; only cudaMalloc's 16 MiB on device 0. */
    cr_assert(strstr(run.err, device_0_peak), "%s", run.err);
    cr_assert(strstr(run.err, device_1_peak), "%s", run.err);
    cr_assert(strstr(run.err, "peak by kind: device 15728640, managed 0"), "%s", run.err);
    process_result_free(&run);

    struct process_result report = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert(strstr(report.out, "  device 0, device memory: leaked 16777216 byte(s) (16.0 MiB) in 1 allocation(s) at the end; "
                                 "peak 16777216 byte(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, "  device 1, device memory: leaked 15728640 byte(s) (15.0 MiB) in 4 allocation(s) at the end; "
                                 "peak 15728640 byte(s)"),
              "%s", report.out);
    cr_assert(strstr(report.out, device_0_peak), "%s", report.out);
    cr_assert(strstr(report.out, device_1_peak), "%s", report.out);
    process_result_free(&report);
    free(directory);
}

/* Runs `device_owner MODE` with a trace and returns `vramtrace report --format json` of it (the
 * OOM report's text is checked through `vramtrace report`, which rebuilds the same line). */
static void run_oom(const char *mode, struct process_result *text, struct process_result *json)
{
    char *directory = make_temp_directory();
    char trace[512];
    snprintf(trace, sizeof trace, "%s/oom.trace", directory);
    const char *options[] = {"--simulate-devices", "2", "--report=none", "-o", trace, NULL};
    const char *arguments[] = {mode, NULL};
    struct process_result run = traced_run(options, PROGRAM, arguments, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s%s", run.out, run.err);
    cr_assert(strstr(run.out, "failed out of memory"), "%s", run.out);
    process_result_free(&run);
    *text = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(text->exit_code, 0, "%s", text->err);
    *json = run_process((const char *[]){VT_CLI_PATH, "report", "--format", "json", trace, NULL}, NULL, NULL);
    cr_assert_eq(json->exit_code, 0, "%s", json->err);
    free(directory);
}

Test(device_owner, oom_reports_the_failing_devices_memory)
{
    /* Device 0 (current) holds 16 MiB; device 1, which failed, holds nothing: its figures are
     * 16 GiB free of 16 GiB, device 0's would be 16 MiB less. */
    struct process_result text, json;
    run_oom("oom", &text, &json);
    cr_assert(strstr(text.out, "cuMemCreate of 1099511627776 byte(s) (1.00 TiB) on device 1 at "), "%s", text.out);
    cr_assert(strstr(text.out, "; the device had 16.0 GiB free of 16.0 GiB."), "%s", text.out);
    cr_assert(strstr(json.out, "\"device_free_bytes\": 17179869184,"), "%s", json.out);
    cr_assert(strstr(json.out, "\"device_total_bytes\": 17179869184"), "%s", json.out);
    process_result_free(&text);
    process_result_free(&json);
}

Test(device_owner, oom_on_a_device_without_active_context_leaves_free_unknown)
{
    /* Device 1 was never used: asking would create its primary context, so the figures are left
     * out rather than taken from device 0. */
    struct process_result text, json;
    run_oom("oom-cold", &text, &json);
    cr_assert(strstr(text.out, "cuMemCreate of 1099511627776 byte(s) (1.00 TiB) on device 1 at "), "%s", text.out);
    cr_assert_null(strstr(text.out, "free of"), "%s", text.out);
    cr_assert(strstr(json.out, "\"device_free_bytes\": 0,"), "%s", json.out);
    cr_assert(strstr(json.out, "\"device_total_bytes\": 0"), "%s", json.out);
    process_result_free(&text);
    process_result_free(&json);
}
