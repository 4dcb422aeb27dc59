/* tests/trace/test_report_cli.c — `vramtrace report` on synthetic traces (written with the shared
 * encoder, so every number is known): the text sections and their exact lines, --device, --at,
 * --top, JSON, a truncated trace, and the exit status of usage errors (2) and of files that are
 * not traces (1). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_helpers.h"
#include "trace_builder.h"

#define MIB (1ull << 20)
#define MS (1000000ull)

/* device 0: A 10 MiB (stack 1, 100 ms), B 20 MiB (stack 2, 200 ms) freed at 300 ms, C 5 MiB
 * (stack 3, 400 ms); device 1: 7 MiB managed (stack 4, 150 ms); an 8 GiB request on device 1
 * fails at 450 ms with 1 GiB free of 8 GiB and nothing succeeds after it; END at 500 ms. The last
 * chunk starts at *last_chunk. Frames lie in no module: they print as "in ??". */
static const char *report_trace(size_t *last_chunk)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_two_devices_and_four_stacks(&builder, "synth", 4321);
    tb_alloc(&builder, 100 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xA000000, 10 * MIB, 1);
    tb_alloc(&builder, 150 * MS, VT_API_cudaMallocManaged, VT_KIND_MANAGED, 1, 0xD000000, 7 * MIB, 4);
    tb_alloc(&builder, 200 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xB000000, 20 * MIB, 2);
    tb_free(&builder, 300 * MS, VT_API_cudaFree, VT_KIND_DEVICE, 0, 0xB000000, 20 * MIB);
    tb_end_chunk(&builder, VT_TRACE_ZSTD);
    tb_begin_chunk(&builder, 400 * MS);
    tb_alloc(&builder, 400 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xC000000, 5 * MIB, 3);
    tb_oom(&builder, 450 * MS, VT_API_cudaMalloc, 1, 8ull << 30, 4, 1ull << 30, 8ull << 30);
    tb_end(&builder, 500 * MS);
    tb_end_chunk(&builder, VT_TRACE_ZSTD);
    if (last_chunk)
        *last_chunk = builder.last_chunk_offset;
    return tb_write(&builder, tb_temp_path("report.trace"));
}

static struct process_result report_ok(const char *const args[])
{
    struct process_result result = run_report(args);
    cr_assert_eq(result.exit_code, 0, "stderr:\n%s", result.err);
    return result;
}

static void assert_has(const char *text, const char *expected)
{
    cr_assert(strstr(text, expected), "expected \"%s\" in:\n%s", expected, text);
}

Test(report_cli, text_sections_of_a_complete_trace)
{
    const char *path = report_trace(NULL);
    struct process_result run = report_ok((const char *[]){path, NULL});
    cr_assert_str_eq(run.err, "");
    const char *out = run.out;
    char expected[1024];
    snprintf(expected, sizeof expected, "vramtrace: GPU memory report for synth (pid 4321), from the trace %s\n", path);
    assert_has(out, expected);
    assert_has(out, "\nHost: testhost\nCommand: synth\n");
    assert_has(out, "; duration 0.500 s\n");
    assert_has(out, "Device 0: GPU zero, 17179869184 byte(s) (16.0 GiB)\nDevice 1: GPU one, 8589934592 byte(s) (8.00 GiB)\n");
    assert_has(out, "Trace: complete; 7 event(s), 4 stack(s)\n");
    assert_has(out, "Memory by device and kind:\n"
                    "  device 0, device memory: leaked 15728640 byte(s) (15.0 MiB) in 2 allocation(s) at the end; "
                    "peak 31457280 byte(s) (30.0 MiB) at 0.200000 s\n"
                    "  device 1, managed memory: leaked 7340032 byte(s) (7.00 MiB) in 1 allocation(s) at the end; "
                    "peak 7340032 byte(s) (7.00 MiB) at 0.150000 s\n\n");
    assert_has(out, "Device memory: 15728640 byte(s) (15.0 MiB) leaked in 2 allocation(s)\n\n"
                    "Leak of 10485760 byte(s) (10.0 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n"
                    "    #0 0x000000401100 in ??\n"
                    "    #1 0x000000401900 in ??\n\n"
                    "Leak of 5242880 byte(s) (5.00 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n"
                    "    #0 0x000000401300 in ??\n");
    assert_has(out, "Host-pinned memory: no leaks\n\n");
    assert_has(out, "Managed memory: 7340032 byte(s) (7.00 MiB) leaked in 1 allocation(s)\n\n"
                    "Leak of 7340032 byte(s) (7.00 MiB) in 1 allocation(s) of managed memory, cudaMallocManaged, allocated from:\n");
    assert_has(out, "Out of memory: 1 failed allocation(s); the first: cudaMalloc of 8589934592 byte(s) (8.00 GiB) on "
                    "device 1 at 0.450000 s; the device had 1.00 GiB free of 8.00 GiB.\n"
                    "Failed request made from:\n"
                    "    #0 0x000000401400 in ??\n"
                    "    #1 0x000000401b00 in ??\n"
                    "\nLive on device 1 when it failed: 7340032 byte(s) (7.00 MiB) in 1 allocation(s)\n\n"
                    "Live of 7340032 byte(s) (7.00 MiB) in 1 allocation(s) of managed memory, cudaMallocManaged, allocated from:\n"
                    "    #0 0x000000401400 in ??\n"
                    "    #1 0x000000401b00 in ??\n");
    assert_has(out, "Not recovered: no allocation succeeded after the last failure.\n\n");
    assert_has(out, "Peak memory in use:\n"
                    "  device 0: 31457280 byte(s) (30.0 MiB) at 0.200000 s; peak by kind: device 31457280, managed 0\n"
                    "  device 1: 7340032 byte(s) (7.00 MiB) at 0.150000 s; peak by kind: device 0, managed 7340032\n\n");
    assert_has(out, "Peak snapshot of device 0: 31457280 byte(s) (30.0 MiB) in 2 allocation(s) live at 0.200000 s\n\n"
                    "Live of 20971520 byte(s) (20.0 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n"
                    "    #0 0x000000401200 in ??\n"
                    "    #1 0x000000401900 in ??\n\n"
                    "Live of 10485760 byte(s) (10.0 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n"
                    "    #0 0x000000401100 in ??\n"
                    "    #1 0x000000401900 in ??\n\n"
                    "Peak snapshot of device 1: 7340032 byte(s) (7.00 MiB) in 1 allocation(s) live at 0.150000 s\n\n");
    assert_has(out, "Top allocation sites by bytes allocated (whole run):\n\n"
                    "Site #1: 20971520 byte(s) (20.0 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n");
    assert_has(out, "Top allocation sites by number of allocations (whole run):\n\n"
                    "Site #1: 20971520 byte(s) (20.0 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n"
                    "    (the stack of site #1 by bytes, above)\n");
    assert_has(out, "Calls: 4 allocation(s), 1 free(s), 0 free(s) of unknown addresses, 1 failed out of memory; 4 distinct stack(s)\n"
                    "Calls by API: cudaMalloc=4 cudaFree=1 cudaMallocManaged=1\n\n");
    const char *summary = strstr(out, "SUMMARY:");
    cr_assert_str_eq(summary, "SUMMARY: vramtrace: 23068672 byte(s) leaked in 3 allocation(s).\n");
    process_result_free(&run);
}

Test(report_cli, device_option_keeps_one_device)
{
    const char *path = report_trace(NULL);
    struct process_result run = report_ok((const char *[]){"--device", "1", path, NULL});
    assert_has(run.out, "Device 1: GPU one");
    cr_assert_null(strstr(run.out, "Device 0:"), "%s", run.out);
    cr_assert_null(strstr(run.out, "  device 0"), "%s", run.out);
    cr_assert_null(strstr(run.out, "snapshot of device 0"), "%s", run.out);
    assert_has(run.out, "Device memory: no leaks\n");
    assert_has(run.out, "Peak memory in use:\n  device 1: 7340032 byte(s) (7.00 MiB) at 0.150000 s;");
    assert_has(run.out, "Out of memory: 1 failed allocation(s)");
    assert_has(run.out, "SUMMARY: vramtrace: 7340032 byte(s) leaked in 1 allocation(s).\n");
    process_result_free(&run);

    run = report_ok((const char *[]){path, "--device=0", NULL});
    assert_has(run.out, "SUMMARY: vramtrace: 15728640 byte(s) leaked in 2 allocation(s).\n");
    cr_assert_null(strstr(run.out, "Out of memory"), "the failure was on device 1");
    process_result_free(&run);

    run = run_report((const char *[]){path, "--device", "5", NULL});
    cr_assert_eq(run.exit_code, 2);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "vramtrace report: --device 5: the trace %s has no such device\nTry 'vramtrace report --help'.\n", path);
    cr_assert_str_eq(run.err, expected);
    process_result_free(&run);
}

Test(report_cli, at_option_reports_the_live_set_at_that_time)
{
    const char *path = report_trace(NULL);
    const char *forms[] = {"0.25", "250ms", "250000us", "250000000ns", ".25s"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct process_result run = report_ok((const char *[]){path, "--at", forms[i], NULL});
        assert_has(run.out, "Live at 0.250 s:\n\n"
                            "Device memory: 31457280 byte(s) (30.0 MiB) live at 0.250 s in 2 allocation(s)\n\n"
                            "Live of 20971520 byte(s) (20.0 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n");
        assert_has(run.out, "Host-pinned memory: nothing live at 0.250 s\n");
        assert_has(run.out, "Managed memory: 7340032 byte(s) (7.00 MiB) live at 0.250 s in 1 allocation(s)\n");
        cr_assert_str_eq(strstr(run.out, "SUMMARY:"), "SUMMARY: vramtrace: 38797312 byte(s) live at 0.250 s in 3 allocation(s).\n");
        process_result_free(&run);
    }
    struct process_result run = report_ok((const char *[]){path, "--at=0.3", NULL});
    assert_has(run.out, "SUMMARY: vramtrace: 17825792 byte(s) live at 0.300 s in 2 allocation(s).\n"); /* B freed at 0.3 */
    process_result_free(&run);
    run = report_ok((const char *[]){path, "--at", "2m", NULL});
    assert_has(run.out, "Live at 120.000 s (after the end of the trace, at 0.500 s):\n");
    assert_has(run.out, "SUMMARY: vramtrace: 23068672 byte(s) live at 120.000 s in 3 allocation(s).\n");
    process_result_free(&run);
    run = report_ok((const char *[]){path, "--at", "0", NULL});
    assert_has(run.out, "SUMMARY: vramtrace: 0 byte(s) live at 0.000 s in 0 allocation(s).\n");
    process_result_free(&run);
}

Test(report_cli, top_limits_groups_per_kind_and_sites)
{
    const char *path = report_trace(NULL);
    struct process_result run = report_ok((const char *[]){path, "--top", "1", NULL});
    assert_has(run.out, "Device memory: 15728640 byte(s) (15.0 MiB) leaked in 2 allocation(s)\n\n"
                        "Leak of 10485760 byte(s) (10.0 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n"
                        "    #0 0x000000401100 in ??\n"
                        "    #1 0x000000401900 in ??\n\n"
                        "... and 1 more group(s): 5242880 byte(s) in 1 allocation(s) (--top 1 shows 1 per kind)\n\n");
    assert_has(run.out, "... and 3 more site(s) (--top 1 shows 1)\n");
    cr_assert_null(strstr(run.out, "Site #2:"));
    process_result_free(&run);
}

Test(report_cli, json_output_carries_every_section)
{
    const char *path = report_trace(NULL);
    struct process_result run = report_ok((const char *[]){"--format", "json", path, NULL});
    const char *json = run.out;
    const struct {
        const char *expression, *value;
    } checks[] = {
        {"d['format'], d['version']", "('vramtrace-report', 1)"},
        {"d['trace']['complete'], d['trace']['truncated_bytes'], d['trace']['events'], d['trace']['stacks']",
         "(True, 0, 7, 4)"},
        {"d['trace']['duration_ns'], d['trace']['duration_s']", "(500000000, 0.5)"},
        {"d['process']['program'], d['process']['pid'], d['process']['rank'], d['process']['start_time_utc']",
         "('synth', 4321, None, '2023-11-14T22:13:20Z')"},
        {"[(x['ordinal'], x['name'], x['total_bytes']) for x in d['devices']]",
         "[(0, 'GPU zero', 17179869184), (1, 'GPU one', 8589934592)]"},
        {"d['options']", "{'device': None, 'top': 10, 'at_ns': None, 'at_s': None}"},
        {"[(u['device'], u['kind'], u['end_bytes'], u['end_count'], u['peak_bytes'], u['peak_time_ns']) for u in d['usage']]",
         "[(0, 'device', 15728640, 2, 31457280, 200000000), (1, 'managed', 7340032, 1, 7340032, 150000000)]"},
        {"d['live']['at'], d['live']['bytes'], d['live']['count']", "('end', 23068672, 3)"},
        {"[(k['kind'], k['bytes'], [g['bytes'] for g in k['groups']]) for k in d['live']['kinds']]",
         "[('device', 15728640, [10485760, 5242880]), ('host-pinned', 0, []), ('managed', 7340032, [7340032]), "
         "('address-space', 0, [])]"},
        {"d['live']['kinds'][0]['groups'][0]['frames'][0]",
         "{'address': '0x401100', 'kind': 'native', 'function': None, 'file': None, 'line': None, 'module': None, 'module_offset': None}"},
        {"[(p['device'], p['bytes'], p['time_s'], p['snapshot']['bytes'], [g['stack_id'] for g in p['snapshot']['kinds'][0]['groups']]) for p in d['peaks']]",
         "[(0, 31457280, 0.2, 31457280, [2, 1]), (1, 7340032, 0.15, 7340032, [])]"},
        {"d['peaks'][1]['peak_by_kind']", "{'device': 0, 'host-pinned': 0, 'managed': 7340032}"},
        {"[(o['failures'], o['recovered'], o['first']['requested_bytes'], o['first']['device'], "
         "o['first']['device_free_bytes'], o['first']['stack_id']) for o in [d['out_of_memory']]][0]",
         "(1, False, 8589934592, 1, 1073741824, 4)"},
        {"[s['bytes'] for s in d['top_sites']['by_bytes']], [s['count'] for s in d['top_sites']['by_count']]",
         "([20971520, 10485760, 7340032, 5242880], [1, 1, 1, 1])"},
        {"d['calls']", "{'allocations': 4, 'frees': 1, 'unknown_frees': 0, 'failed_out_of_memory': 1, "
                       "'zero_byte_requests': 0, 'by_api': {'cudaMalloc': 4, 'cudaFree': 1, 'cudaMallocManaged': 1}}"},
        {"d['summary']", "{'what': 'leaked', 'bytes': 23068672, 'count': 3}"},
    };
    enum { CHECKS = sizeof checks / sizeof checks[0] };
    const char *expressions[CHECKS];
    char *values[CHECKS];
    for (size_t i = 0; i < CHECKS; i++)
        expressions[i] = checks[i].expression;
    json_values(json, expressions, CHECKS, values);
    for (size_t i = 0; i < CHECKS; i++) {
        cr_assert_str_eq(values[i], checks[i].value, "%s", checks[i].expression);
        free(values[i]);
    }
    process_result_free(&run);

    run = report_ok((const char *[]){"--format=json", "--at", "250ms", "--device", "0", "--top", "1", path, NULL});
    char *value = json_value(run.out, "d['options'], d['live']['at'], d['live']['time_ns'], d['summary'], "
                                      "d['live']['kinds'][0]['more_groups'], [x['ordinal'] for x in d['devices']]");
    cr_assert_str_eq(value, "({'device': 0, 'top': 1, 'at_ns': 250000000, 'at_s': 0.25}, 'time', 250000000, "
                            "{'what': 'live', 'bytes': 31457280, 'count': 2}, {'groups': 1, 'bytes': 10485760, 'count': 1}, [0])");
    free(value);
    process_result_free(&run);
}

Test(report_cli, truncated_trace_warns_once_and_reports_what_precedes)
{
    size_t last_chunk;
    const char *path = report_trace(&last_chunk);
    size_t cut = last_chunk + 40;
    tb_truncate_file(path, cut);
    struct process_result run = report_ok((const char *[]){path, NULL});
    char expected[1024];
    snprintf(expected, sizeof expected,
             "vramtrace: warning: %s: the trace ends with 40 bytes of an incomplete chunk (the process was killed or is "
             "still writing) from offset %zu; reporting what precedes it\n",
             path, last_chunk);
    cr_assert_str_eq(run.err, expected);
    assert_has(run.out, "Trace: INCOMPLETE (no END record: the process was killed or is still running); 4 event(s), "
                        "4 stack(s); \"leaked\" below means still live where the trace ends\n");
    assert_has(run.out, "SUMMARY: vramtrace: 17825792 byte(s) leaked in 2 allocation(s).\n");
    process_result_free(&run);

    run = report_ok((const char *[]){"--format", "json", path, NULL});
    char *value = json_value(run.out, "d['trace']['complete'], d['trace']['truncated_bytes'], d['summary']['bytes']");
    cr_assert_str_eq(value, "(False, 40, 17825792)");
    free(value);
    process_result_free(&run);
}

static void assert_fails(const char *const args[], int status, const char *message)
{
    struct process_result run = run_report(args);
    cr_assert_eq(run.exit_code, status, "stderr:\n%s", run.err);
    if (message)
        cr_assert_str_eq(run.err, message);
    cr_assert_str_eq(run.out, "");
    process_result_free(&run);
}

Test(report_cli, usage_errors_exit_2)
{
    const char *path = report_trace(NULL);
    assert_fails((const char *[]){NULL}, 2,
                 "vramtrace report: no trace given: vramtrace report TRACE\nTry 'vramtrace report --help'.\n");
    assert_fails((const char *[]){path, "--format", "xml", NULL}, 2,
                 "vramtrace report: --format 'xml' is not valid; accepted: text, json\nTry 'vramtrace report --help'.\n");
    assert_fails((const char *[]){path, "--at", "soon", NULL}, 2,
                 "vramtrace report: --at 'soon' is not a time; use seconds since the start (12.5) or a number with a "
                 "unit: ns, us, ms, s, m, h (1500ms, 2m)\nTry 'vramtrace report --help'.\n");
    const char *bad_times[] = {"-1", "12x", "inf", "nan", "0x10", "", "1.5.2", "ms"};
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
        struct process_result run = run_report((const char *[]){path, "--at", bad_times[i], NULL});
        cr_assert_eq(run.exit_code, 2, "--at '%s' accepted", bad_times[i]);
        process_result_free(&run);
    }
    assert_fails((const char *[]){path, "--top", "-3", NULL}, 2,
                 "vramtrace report: --top '-3' is not valid; accepted: a whole number from 0 to 1000000\n"
                 "Try 'vramtrace report --help'.\n");
    assert_fails((const char *[]){path, "--device", "gpu", NULL}, 2,
                 "vramtrace report: --device 'gpu' is not valid; accepted: a device ordinal from 0 to 63\n"
                 "Try 'vramtrace report --help'.\n");
    assert_fails((const char *[]){path, "--top", NULL}, 2,
                 "vramtrace report: option '--top' needs a value\nTry 'vramtrace report --help'.\n");
    assert_fails((const char *[]){path, "--colour", NULL}, 2,
                 "vramtrace report: unknown option '--colour'\nTry 'vramtrace report --help'.\n");
    char message[1024];
    snprintf(message, sizeof message,
             "vramtrace report: one trace at a time; '%s' is one too many\nTry 'vramtrace report --help'.\n", path);
    assert_fails((const char *[]){path, path, NULL}, 2, message);
}

Test(report_cli, help_exits_0)
{
    struct process_result run = report_ok((const char *[]){"--help", NULL});
    cr_assert(strncmp(run.out, "Usage: vramtrace report TRACE [OPTIONS]\n", 40) == 0, "%s", run.out);
    assert_has(run.out, "--at TIME");
    process_result_free(&run);
}

Test(report_cli, unreadable_files_exit_1_with_a_clear_message)
{
    char message[1024];
    const char *path = report_trace(NULL);
    tb_flip_byte(path, 3);
    snprintf(message, sizeof message, "vramtrace report: %s is not a vramtrace trace (no VRAMTRCE header)\n", path);
    assert_fails((const char *[]){path, NULL}, 1, message);

    path = report_trace(NULL);
    tb_flip_byte(path, 9); /* version 3 -> 0xff03 */
    snprintf(message, sizeof message,
             "vramtrace report: %s: unsupported trace format version 65283 (this vramtrace reads versions 1 to 3)\n", path);
    assert_fails((const char *[]){path, NULL}, 1, message);

    snprintf(message, sizeof message, "vramtrace report: cannot open /nonexistent/x.trace: %s\n", strerror(ENOENT));
    assert_fails((const char *[]){"/nonexistent/x.trace", NULL}, 1, message);
}
