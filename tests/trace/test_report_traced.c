/* tests/trace/test_report_traced.c — `vramtrace report` on traces that real programs wrote under
 * `vramtrace run --simulate -o TRACE`: the report of the trace says what the exit report of the
 * same run said (leak groups with their symbolized stacks, peaks, calls, SUMMARY), the peak
 * snapshot of peak_shift holds exactly its peak's allocations (not its exit's), --at, --device,
 * --top, JSON, the thread(s) shown for each group (named_threads: the same line in the exit report,
 * the report's leaks, peak snapshots and --at, and the same threads in JSON), and a run killed with
 * SIGKILL still has a readable, incomplete trace. */
#define _GNU_SOURCE
#include "../cli/cli_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_helpers.h"
#include "traced_run.h"

struct traced_program {
    char *trace_path;
    struct process_result run; /* run.err holds the exit report */
};

/* Runs `program arguments...` under `vramtrace run --simulate -o DIR/t.trace` in a fresh directory. */
static struct traced_program trace_program(const char *program, const char *const arguments[])
{
    struct traced_program traced;
    char *directory = make_temp_directory();
    cr_assert(asprintf(&traced.trace_path, "%s/t.trace", directory) > 0);
    const char *options[] = {"-o", traced.trace_path, NULL};
    traced.run = traced_run(options, program, arguments, NULL, directory);
    cr_assert_eq(traced.run.exit_code, 0, "stderr:\n%s", traced.run.err);
    cr_assert(strstr(traced.run.err, "SUMMARY: vramtrace: "), "no exit report:\n%s", traced.run.err);
    free(directory);
    return traced;
}

static struct process_result report_of(const struct traced_program *traced, const char *const options[])
{
    const char *args[16];
    size_t count = 0;
    for (; options && options[count]; count++)
        args[count] = options[count];
    args[count++] = traced->trace_path;
    args[count] = NULL;
    struct process_result report = run_report(args);
    cr_assert_eq(report.exit_code, 0, "stderr:\n%s", report.err);
    cr_assert_str_eq(report.err, "", "a complete trace reads without warnings");
    return report;
}

/* The same line (from its prefix to its end) in both texts. */
static void assert_same_line(const char *exit_report, const char *trace_report, const char *prefix)
{
    char *expected = line_starting(exit_report, prefix), *got = line_starting(trace_report, prefix);
    cr_assert_str_eq(got, expected);
    free(expected);
    free(got);
}

/* The same block (from `header` to its blank line) in both texts. */
static void assert_same_block(const char *exit_report, const char *trace_report, const char *header)
{
    char *expected = text_block(exit_report, header), *got = text_block(trace_report, header);
    cr_assert_str_eq(got, expected);
    free(expected);
    free(got);
}

static void free_traced(struct traced_program *traced)
{
    process_result_free(&traced->run);
    free(traced->trace_path);
}

Test(report_traced, leaky_report_says_what_the_exit_report_said)
{
    struct traced_program traced = trace_program(VT_EXAMPLES_DIR "/leaky", NULL);
    struct process_result report = report_of(&traced, NULL);
    const char *exit_report = traced.run.err, *out = report.out;
    assert_same_line(exit_report, out, "Device memory: ");
    assert_same_line(exit_report, out, "Host-pinned memory: ");
    assert_same_line(exit_report, out, "Managed memory: ");
    assert_same_block(exit_report, out, "Leak of 3145728 byte(s) (3.00 MiB) in 3 allocation(s) of device memory, cudaMalloc");
    assert_same_block(exit_report, out, "Leak of 2097152 byte(s) (2.00 MiB) in 1 allocation(s) of device memory, cudaMallocAsync");
    assert_same_block(exit_report, out, "Peak memory in use:\n");
    assert_same_line(exit_report, out, "Calls: ");
    assert_same_line(exit_report, out, "Calls by API: ");
    assert_same_line(exit_report, out, "SUMMARY: ");
    cr_assert_str_eq(strstr(out, "SUMMARY:"), "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s).\n");
    cr_assert(strstr(out, "vramtrace: GPU memory report for leaky (pid "), "%s", out);
    cr_assert(strstr(out, "Trace: complete; "), "%s", out);
    cr_assert(strstr(out, " in load_weights "), "%s", out);
    cr_assert(strstr(out, "leaky.c:26 (leaky+0x"), "file:line and module+offset:\n%s", out);

    /* the 64 MiB scratch buffer is in the peak snapshot, not in the leaks */
    char *snapshot = text_block(out, "Peak snapshot of device 0: 70254592 byte(s) (67.0 MiB) in 4 allocation(s) live at ");
    free(snapshot);
    cr_assert(strstr(out, "\nLive of 67108864 byte(s) (64.0 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n"),
              "%s", out);
    process_result_free(&report);

    report = report_of(&traced, (const char *[]){"--top", "1", NULL});
    cr_assert(strstr(report.out, "... and 1 more group(s): 2097152 byte(s) in 1 allocation(s) (--top 1 shows 1 per kind)\n"),
              "%s", report.out);
    cr_assert_null(strstr(report.out, "Leak of 2097152"));
    process_result_free(&report);
    free_traced(&traced);
}

Test(report_traced, alloc_counts_json_matches_the_exit_report)
{
    struct traced_program traced = trace_program(VT_PROGRAMS_DIR "/alloc_counts", (const char *[]){"20", NULL});
    const char *exit_report = traced.run.err;
    struct process_result report = report_of(&traced, NULL);
    assert_same_line(exit_report, report.out, "SUMMARY: ");
    assert_same_line(exit_report, report.out, "Device memory: ");
    assert_same_line(exit_report, report.out, "Host-pinned memory: ");
    assert_same_line(exit_report, report.out, "Managed memory: ");
    assert_same_line(exit_report, report.out, "Calls by API: ");
    process_result_free(&report);

    report = report_of(&traced, (const char *[]){"--format", "json", NULL});
    const char *expressions[] = {
        "d['summary']",
        "d['trace']['complete'], d['process']['program']",
        "[(k['kind'], k['bytes'], k['count']) for k in d['live']['kinds']]",
        "' '.join('%s=%d' % item for item in d['calls']['by_api'].items())",
        "[(s['api'], s['count']) for s in d['top_sites']['by_count'][:2]]",
    };
    char *values[5];
    json_values(report.out, expressions, 5, values);
    cr_assert_str_eq(values[0], "{'what': 'leaked', 'bytes': 10485760, 'count': 4}");
    cr_assert_str_eq(values[1], "(True, 'alloc_counts')");
    cr_assert_str_eq(values[2], "[('device', 3145728, 2), ('host-pinned', 3145728, 1), ('managed', 4194304, 1), "
                                "('address-space', 0, 0)]");
    char *calls = line_starting(exit_report, "Calls by API: ");
    cr_assert_str_eq(values[3], calls + strlen("Calls by API: "));
    free(calls);
    cr_assert_str_eq(values[4], "[('cudaMallocManaged', 20), ('cudaMallocHost', 20)]",
                     "the pairs' sites, 20 calls each, the most bytes first");
    for (int i = 0; i < 5; i++)
        free(values[i]);
    process_result_free(&report);

    /* --device 0 leaves out the pinned host memory (not on a device) */
    report = report_of(&traced, (const char *[]){"--device", "0", NULL});
    cr_assert_str_eq(strstr(report.out, "SUMMARY:"), "SUMMARY: vramtrace: 7340032 byte(s) leaked in 3 allocation(s).\n");
    cr_assert(strstr(report.out, "Host-pinned memory: no leaks\n"), "%s", report.out);
    process_result_free(&report);
    free_traced(&traced);
}

/* The header and first frame of a group: "<title> of N byte(s) ..." then "    #0 0x... in FUNCTION ". */
static void assert_group(const char *text, const char *header, const char *function)
{
    char *block = text_block(text, header);
    char *frame = strstr(block, "\n    #0 0x");
    cr_assert_not_null(frame, "%s", block);
    char *end = strchr(frame + 1, '\n');
    char needle[128];
    snprintf(needle, sizeof needle, " in %s ", function);
    char *found = strstr(frame, needle);
    cr_assert(found && (!end || found < end), "frame #0 is not in %s:\n%s", function, block);
    free(block);
}

Test(report_traced, peak_shift_snapshot_holds_the_peak_not_the_exit)
{
    struct traced_program traced = trace_program(VT_PROGRAMS_DIR "/trace/peak_shift", NULL);
    struct process_result report = report_of(&traced, NULL);
    const char *out = report.out;
    assert_same_line(traced.run.err, out, "SUMMARY: ");
    cr_assert_str_eq(strstr(out, "SUMMARY:"), "SUMMARY: vramtrace: 15728640 byte(s) leaked in 2 allocation(s).\n");

    /* leaks at exit: A (build_peak) and C (after_peak) */
    assert_group(out, "Leak of 10485760 byte(s) (10.0 MiB) in 1 allocation(s) of device memory, cudaMalloc,", "build_peak");
    assert_group(out, "Leak of 5242880 byte(s) (5.00 MiB) in 1 allocation(s) of device memory, cudaMalloc,", "after_peak");
    cr_assert_null(strstr(out, "Leak of 20971520"));

    /* at the peak: A and B, both from build_peak, nothing from after_peak */
    const char *snapshot = strstr(out, "Peak snapshot of device 0: 31457280 byte(s) (30.0 MiB) in 2 allocation(s) live at ");
    cr_assert_not_null(snapshot, "%s", out);
    const char *sites = strstr(snapshot, "Top allocation sites");
    cr_assert_not_null(sites);
    char *section = strndup(snapshot, (size_t)(sites - snapshot));
    assert_group(section, "Live of 20971520 byte(s) (20.0 MiB) in 1 allocation(s) of device memory, cudaMalloc,", "build_peak");
    assert_group(section, "Live of 10485760 byte(s) (10.0 MiB) in 1 allocation(s) of device memory, cudaMalloc,", "build_peak");
    cr_assert_eq(count_occurrences(section, "\nLive of "), 2, "%s", section);
    cr_assert_null(strstr(section, "after_peak"), "%s", section);
    free(section);
    process_result_free(&report);

    /* JSON: the same groups; and --at the peak's time gives the peak's live set */
    report = report_of(&traced, (const char *[]){"--format=json", NULL});
    const char *expressions[] = {
        "[(g['bytes'], g['frames'][0]['function']) for g in d['peaks'][0]['snapshot']['kinds'][0]['groups']]",
        "[(g['bytes'], g['frames'][0]['function']) for g in d['live']['kinds'][0]['groups']]",
        "d['peaks'][0]['time_ns']",
        "d['peaks'][0]['bytes'], d['peaks'][0]['device']",
    };
    char *values[4];
    json_values(report.out, expressions, 4, values);
    cr_assert_str_eq(values[0], "[(20971520, 'build_peak'), (10485760, 'build_peak')]");
    cr_assert_str_eq(values[1], "[(10485760, 'build_peak'), (5242880, 'after_peak')]");
    cr_assert_str_eq(values[3], "(31457280, 0)");
    char at[64];
    snprintf(at, sizeof at, "%sns", values[2]);
    for (int i = 0; i < 4; i++)
        free(values[i]);
    process_result_free(&report);

    report = report_of(&traced, (const char *[]){"--at", at, NULL});
    cr_assert(strstr(report.out, "SUMMARY: vramtrace: 31457280 byte(s) live at "), "%s", report.out);
    assert_group(report.out, "Live of 20971520 byte(s) (20.0 MiB) in 1 allocation(s) of device memory, cudaMalloc,", "build_peak");
    process_result_free(&report);
    report = report_of(&traced, (const char *[]){"--at", "0", NULL});
    cr_assert(strstr(report.out, "SUMMARY: vramtrace: 0 byte(s) live at 0.000 s in 0 allocation(s).\n"), "%s", report.out);
    process_result_free(&report);

    /* the peak's time as the exit report prints it, given back to --at, lands on the peak */
    const char *printed = strstr(traced.run.err, "device 0: 31457280 byte(s) (30.0 MiB) at ");
    cr_assert_not_null(printed, "%s", traced.run.err);
    char seconds[32];
    cr_assert_eq(sscanf(printed + strlen("device 0: 31457280 byte(s) (30.0 MiB) at "), "%31s", seconds), 1);
    report = report_of(&traced, (const char *[]){"--at", seconds, NULL});
    cr_assert(strstr(report.out, "SUMMARY: vramtrace: 31457280 byte(s) live at "), "--at %s:\n%s", seconds, report.out);
    process_result_free(&report);
    free_traced(&traced);
}

Test(report_traced, leak_paths_every_path_and_the_vmm_mappings)
{
    struct traced_program traced = trace_program(VT_EXAMPLES_DIR "/leak_paths", NULL);
    struct process_result report = report_of(&traced, NULL);
    const char *exit_report = traced.run.err, *out = report.out;
    assert_same_line(exit_report, out, "SUMMARY: ");
    cr_assert_str_eq(strstr(out, "SUMMARY:"), "SUMMARY: vramtrace: 29360128 byte(s) leaked in 9 allocation(s).\n");
    assert_same_line(exit_report, out, "Device memory: ");
    assert_same_line(exit_report, out, "Host-pinned memory: ");
    assert_same_line(exit_report, out, "Managed memory: ");
    assert_same_line(exit_report, out, "Reserved address space: ");
    assert_same_block(exit_report, out, "Leak of 6291456 byte(s) (6.00 MiB) in 3 allocation(s) of device memory, cuMemCreate");
    assert_same_line(exit_report, out, "Calls: ");
    assert_same_line(exit_report, out, "Calls by API: ");
    process_result_free(&report);
    free_traced(&traced);
}

Test(report_traced, killed_run_leaves_an_incomplete_trace_that_reports)
{
    char *directory = make_temp_directory();
    char trace_path[600];
    snprintf(trace_path, sizeof trace_path, "%s/killed.trace", directory);
    int output;
    pid_t cli = spawn_cli((const char *[]){"run", "--simulate", "-q", "-o", trace_path, "--",
                                           VT_PROGRAMS_DIR "/hold_and_wait", "30", NULL},
                          (const char *[]){"VRAMTRACE_LIBRARY=" VT_SHIM_PATH, NULL}, &output);
    cr_assert(read_until(output, "holding", 10.0), "hold_and_wait did not start");
    pid_t program = wait_for_child_running(cli, "hold_and_wait", 5.0);
    struct timespec flush_time = {0, 300 * 1000 * 1000}; /* the writer flushes every 100 ms */
    nanosleep(&flush_time, NULL);
    cr_assert_eq(kill(program, SIGKILL), 0);
    assert_killed_by(wait_with_deadline(cli, 0, 10.0), SIGKILL);
    close(output);

    struct process_result report = run_report((const char *[]){trace_path, NULL});
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert(strstr(report.out, "vramtrace: GPU memory report for hold_and_wait (pid "), "%s", report.out);
    cr_assert(strstr(report.out, "Trace: INCOMPLETE (no END record: the process was killed or is still running); "),
              "%s", report.out);
    assert_group(report.out, "Leak of 3145728 byte(s) (3.00 MiB) in 3 allocation(s) of device memory, cudaMalloc,",
                 "hold_buffers");
    cr_assert_str_eq(strstr(report.out, "SUMMARY:"), "SUMMARY: vramtrace: 3145728 byte(s) leaked in 3 allocation(s).\n");
    process_result_free(&report);

    report = run_report((const char *[]){"--format", "json", trace_path, NULL});
    char *value = json_value(report.out, "d['trace']['complete'], d['summary']['count'], d['calls']['allocations']");
    cr_assert_str_eq(value, "(False, 3, 3)");
    free(value);
    process_result_free(&report);
    free(directory);
}

/* One clock order under contention (issue 9 point 5): 8 threads allocating at once, and the exit
 * report and the trace's report name the same peaks at the same microsecond (the trace's resolution,
 * which both print). */
Test(report_traced, peaks_under_contention_are_the_same_to_the_microsecond)
{
    struct traced_program traced =
        trace_program(VT_PROGRAMS_DIR "/thread_stress", (const char *[]){"8", "20000", "4", NULL});
    struct process_result report = report_of(&traced, NULL);
    assert_same_block(traced.run.err, report.out, "Peak memory in use:\n");
    assert_same_line(traced.run.err, report.out, "SUMMARY: ");
    process_result_free(&report);
    free_traced(&traced);
}

/* The kernel id named_threads printed for its thread `name` ("thread NAME TID"). */
static int printed_tid(const char *out, const char *name)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "thread %s ", name);
    char *line = line_starting(out, prefix);
    int tid = atoi(line + strlen(prefix));
    free(line);
    cr_assert_gt(tid, 0, "%s", out);
    return tid;
}

/* The line under a group's header (the threads that allocated it). */
static char *threads_line(const char *text, const char *header)
{
    char *block = text_block(text, header);
    char *line = strchr(block, '\n');
    cr_assert_not_null(line, "%s", block);
    char *end = strchr(line + 1, '\n');
    char *threads = strndup(line + 1, end ? (size_t)(end - line - 1) : strlen(line + 1));
    free(block);
    return threads;
}

/* Each group says which thread(s) allocated it, by kernel id and name: one thread, several (the two
 * largest named, the rest counted), pinned host memory alike; the trace's report says exactly what
 * the exit report said, in its leaks, peak snapshots and --at, and its JSON lists the threads. */
Test(report_traced, named_threads_each_group_shows_its_threads)
{
    struct traced_program traced = trace_program(VT_PROGRAMS_DIR "/trace/named_threads", NULL);
    int main_tid = printed_tid(traced.run.out, "vt-main"), a_tid = printed_tid(traced.run.out, "loader-a"),
        b_tid = printed_tid(traced.run.out, "loader-b"), c_tid = printed_tid(traced.run.out, "loader-c");
    struct {
        const char *header; /* after "Leak of " / "Live of " */
        char *threads;
    } groups[] = {
        {"18874368 byte(s) (18.0 MiB) in 5 allocation(s) of device memory, cudaMalloc, allocated from:\n", NULL},
        {"1048576 byte(s) (1.00 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:\n", NULL},
        {"65536 byte(s) (64.0 KiB) in 1 allocation(s) of host-pinned memory, cudaMallocHost, allocated from:\n", NULL},
    };
    cr_assert(asprintf(&groups[0].threads, "  threads %d \"loader-a\", %d \"loader-b\" and 1 other", a_tid, b_tid) > 0);
    cr_assert(asprintf(&groups[1].threads, "  thread %d \"vt-main\"", main_tid) > 0);
    cr_assert(asprintf(&groups[2].threads, "  thread %d \"vt-main\"", main_tid) > 0);

    struct process_result report = report_of(&traced, NULL);
    struct process_result at_end = report_of(&traced, (const char *[]){"--at", "3600", NULL});
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        char leak[256], live[256];
        snprintf(leak, sizeof leak, "Leak of %s", groups[i].header);
        snprintf(live, sizeof live, "Live of %s", groups[i].header);
        char *threads = threads_line(traced.run.err, leak);
        cr_assert_str_eq(threads, groups[i].threads, "exit report:\n%s", traced.run.err);
        free(threads);
        assert_same_block(traced.run.err, report.out, leak);
        const char *snapshot = strstr(report.out, "Peak snapshot of ");
        cr_assert_not_null(snapshot, "%s", report.out);
        threads = threads_line(snapshot, live);
        cr_assert_str_eq(threads, groups[i].threads, "peak snapshot:\n%s", snapshot);
        free(threads);
        threads = threads_line(at_end.out, live);
        cr_assert_str_eq(threads, groups[i].threads, "--at:\n%s", at_end.out);
        free(threads);
        free(groups[i].threads);
    }
    process_result_free(&at_end);
    process_result_free(&report);

    report = report_of(&traced, (const char *[]){"--format=json", NULL});
    char *threads = json_value(report.out, "[(g['bytes'], g['thread_count'], [(t['tid'], t['name'], t['bytes'], "
                                           "t['count']) for t in g['threads']]) for k in d['live']['kinds'] for g in "
                                           "k['groups']]");
    char expected[512];
    snprintf(expected, sizeof expected,
             "[(18874368, 3, [(%d, 'loader-a', 12582912, 3), (%d, 'loader-b', 4194304, 1), (%d, 'loader-c', 2097152, 1)]), "
             "(1048576, 1, [(%d, 'vt-main', 1048576, 1)]), (65536, 1, [(%d, 'vt-main', 65536, 1)])]",
             a_tid, b_tid, c_tid, main_tid, main_tid);
    cr_assert_str_eq(threads, expected);
    free(threads);
    process_result_free(&report);
    free_traced(&traced);
}
