/* Integration tests: the trace under load (docs/reliability.md). Many threads against a slow
 * writer lose no event: the hooks wait for the writer, and the exit report and `vramtrace report`
 * of the trace give the same exact totals. An output nobody reads (a FIFO held open, read only once
 * the shim has said it stalled) loses events, and both reports say how many, the same number (and
 * top, flame, timeline and diff warn of it). Live
 * dumps while hooks wait for the writer (the dump runs on the writer's thread and takes the
 * recorder's lock a waiting hook holds) neither deadlock nor miscount. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "traced_run.h"

#define PROGRAM(name) VT_PROGRAMS_DIR "/" name

/* 8 threads x 25,000 pairs (50,000 events each) and 12 allocations kept per thread: 96 live at exit,
 * as in the run that reported 151. */
#define STRESS_THREADS "8"
#define STRESS_PAIRS "25000"
#define STRESS_KEPT "12"
static const char *const stress_arguments[] = {STRESS_THREADS, STRESS_PAIRS, STRESS_KEPT, NULL};
static const char exact_calls[] = "200096 allocation(s), 200000 free(s), 0 free(s) of unknown addresses";
static const char exact_summary[] = "SUMMARY: vramtrace: 393216 byte(s) leaked in 96 allocation(s).\n";

static struct process_result report_of(const char *trace_path)
{
    const char *argv[] = {VT_CLI_PATH, "report", trace_path, NULL};
    return run_process(argv, NULL, NULL);
}

static char *trace_in_temp_directory(const char *name)
{
    char *directory = make_temp_directory(), *path;
    cr_assert(asprintf(&path, "%s/%s", directory, name) > 0);
    free(directory);
    return path;
}

Test(trace_load, a_slow_writer_loses_nothing_and_both_reports_are_exact)
{
    char *trace_path = trace_in_temp_directory("t.trace");
    const char *options[] = {"--report=none", "-o", trace_path, NULL};
    /* Two chunks of 64 KiB in memory, 20 ms per chunk written: the threads wait for the writer
     * about thirty times (before, each of those was a run of dropped events). */
    const char *environment[] = {"VRAMTRACE_TEST_SLOW_WRITER=20", NULL};
    struct process_result run = traced_run(options, PROGRAM("thread_stress"), stress_arguments, environment, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.err, exact_calls), "%s", run.err);
    cr_assert(strstr(run.err, exact_summary), "%s", run.err);
    cr_assert_null(strstr(run.err, "lost"), "%s", run.err);
    cr_assert_null(strstr(run.err, "INCOMPLETE"), "%s", run.err);

    struct process_result report = report_of(trace_path);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert_str_eq(report.err, "", "no warning: nothing was lost");
    cr_assert(strstr(report.out, "Trace: complete; 400097 event(s), "), "%s", report.out);
    cr_assert_null(strstr(report.out, "Lost: "), "%s", report.out);
    cr_assert(strstr(report.out, exact_calls), "%s", report.out);
    cr_assert(strstr(report.out, exact_summary), "%s", report.out);
    process_result_free(&report);

    const char *json_argv[] = {VT_CLI_PATH, "report", "--format", "json", trace_path, NULL};
    report = run_process(json_argv, NULL, NULL);
    cr_assert(strstr(report.out, "\"dropped_events\": 0"), "%s", report.out);
    process_result_free(&report);
    process_result_free(&run);
    free(trace_path);
}

/* The FIFO is held open by the script (so the writer's open succeeds) and read only once the
 * shim said the writer stalled; the events dropped meanwhile are counted in the trace (a DROPPED
 * record, written once the output moves again) and in the exit report. */
static const char stalled_script[] =
    "set -e\n"
    "cd \"$1\"; shift\n"
    "mkfifo fifo\n"
    "exec 3<>fifo\n"
    "\"$@\" 2>err.txt 3>&- &\n"
    "program=$!\n"
    "tries=0\n"
    "until grep -q 'wrote nothing for' err.txt; do\n"
    "  tries=$((tries + 1)); [ $tries -lt 400 ] || { echo 'the writer never stalled' >&2; exit 3; }\n"
    "  sleep 0.05\n"
    "done\n"
    "exec 4<fifo\n" /* a reader before the holder goes: the writer never sees none (EPIPE) */
    "cat <&4 >got.trace 3>&- 4<&- &\n"
    "reader=$!\n"
    "exec 3>&- 4<&-\n"
    "status=0; wait $program || status=$?\n"
    "wait $reader\n"
    "cat err.txt >&2\n"
    "exit $status\n";

Test(trace_load, an_output_nobody_reads_loses_events_and_every_report_says_how_many)
{
    char *directory = make_temp_directory(), *trace_path;
    cr_assert(asprintf(&trace_path, "%s/got.trace", directory) > 0);
    const char *argv[] = {"/bin/sh", "-c", stalled_script, "sh", directory, VT_CLI_PATH, "run", "--simulate",
                          "--report=none", "-o", "fifo", "--", PROGRAM("thread_stress"), STRESS_THREADS,
                          STRESS_PAIRS, STRESS_KEPT, NULL};
    const char *environment[] = {"VRAMTRACE_TEST_SLOW_WRITER=1", NULL};
    struct process_result run = run_process(argv, environment, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    /* The exit report's own figures stay exact; it says how many events the trace lost. */
    cr_assert(strstr(run.err, exact_calls), "%s", run.err);
    cr_assert(strstr(run.err, exact_summary), "%s", run.err);
    const char *said = "The trace is INCOMPLETE: ";
    uint64_t lost = number_after(run.err, said);
    cr_assert_gt(lost, 0);
    cr_assert(strstr(strstr(run.err, said), " event(s) were lost from the trace (its writer could not write them "
                                            "in time); leak and peak figures read from it may be overstated or "
                                            "understated (this report's own figures are exact)"),
              "%s", run.err);

    /* The trace: complete (END), yet not called complete; the same count, on stdout and stderr. */
    struct process_result report = report_of(trace_path);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert(strstr(report.out, "Trace: INCOMPLETE (events were lost: below); "), "%s", report.out);
    cr_assert_null(strstr(report.out, "Trace: complete"), "%s", report.out);
    cr_assert_eq(number_after(report.out, "Lost: "), lost, "%s", report.out);
    cr_assert(strstr(report.out, " may be overstated or understated\n"), "%s", report.out);
    char *warning;
    cr_assert(asprintf(&warning, "warning: %s: %llu event(s) were lost", trace_path, (unsigned long long)lost) > 0);
    cr_assert(strstr(report.err, warning), "%s", report.err);
    process_result_free(&report);

    /* Every other command that reads it warns the same way; top says it on its screen too. */
    const char *commands[][5] = {{"top", "--once", trace_path}, {"flame", trace_path}, {"timeline", trace_path},
                                 {"diff", trace_path, trace_path}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const char *command_argv[6] = {VT_CLI_PATH};
        for (size_t j = 0; commands[i][j]; j++)
            command_argv[j + 1] = commands[i][j];
        struct process_result other = run_process(command_argv, NULL, NULL);
        cr_assert(strstr(other.err, warning), "vramtrace %s:\n%s", commands[i][0], other.err);
        if (i == 0)
            cr_assert_eq(number_after(other.out, "Lost: "), lost, "%s", other.out);
        process_result_free(&other);
    }
    free(warning);

    const char *json_argv[] = {VT_CLI_PATH, "report", "--format", "json", trace_path, NULL};
    report = run_process(json_argv, NULL, NULL);
    cr_assert_eq(number_after(report.out, "\"dropped_events\": "), lost, "%s", report.out);
    process_result_free(&report);
    process_result_free(&run);
    free(trace_path);
    free(directory);
}

/* Runs the program with the shim preloaded, sends it the dump signal 3 times, 150 ms apart. */
static const char dumping_script[] =
    "cd \"$1\"; signal=$2; shift 2\n"
    "\"$@\" >/dev/null 2>err.txt &\n"
    "program=$!\n"
    "for i in 1 2 3; do sleep 0.15; kill -s $signal $program 2>/dev/null || true; done\n"
    "status=0; wait $program || status=$?\n"
    "cat err.txt >&2\n"
    "exit $status\n";

Test(trace_load, live_dumps_while_hooks_wait_neither_deadlock_nor_miscount, .timeout = 120)
{
    char *directory = make_temp_directory(), *trace_path;
    cr_assert(asprintf(&trace_path, "%s/t.trace", directory) > 0);
    int dump_signal;
    cr_assert(vt_parse_signal(VT_DEFAULT_DUMP_SIGNAL, &dump_signal));
    char signal_text[16];
    snprintf(signal_text, sizeof signal_text, "%d", dump_signal);
    const char *argv[] = {"/bin/sh", "-c", dumping_script, "sh", directory, signal_text, PROGRAM("thread_stress"),
                          STRESS_THREADS, STRESS_PAIRS, STRESS_KEPT, NULL};
    char *output_setting;
    cr_assert(asprintf(&output_setting, "VRAMTRACE_OUTPUT=%s", trace_path) > 0);
    const char *environment[] = {"LD_PRELOAD=" VT_SHIM_PATH, "LD_LIBRARY_PATH=" VT_SIM_DIR, "VRAMTRACE_REPORT=none",
                                 "VRAMTRACE_TEST_SLOW_WRITER=20", output_setting, NULL};
    struct process_result run = run_process(argv, environment, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    /* (a dump may be refused while the output counts as stalled, on a heavily loaded machine) */
    cr_assert(strstr(run.err, "vramtrace: live snapshot "), "no snapshot written: %s", run.err);
    cr_assert(strstr(run.err, exact_calls), "%s", run.err);
    cr_assert(strstr(run.err, exact_summary), "%s", run.err);

    /* Events may be lost only while a dump waits for the recorder's lock with the 2 chunks full;
     * whatever was lost, both reports give the same count, and a trace that lost none is exact.
     * The END record is never lost: its thread waits for a chunk even while a dump waits. */
    const char *said = strstr(run.err, "The trace is INCOMPLETE: ");
    struct process_result report = report_of(trace_path);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert_null(strstr(report.out, "no END record"), "the exit's END record is in: %s", report.out);
    if (said) {
        cr_assert_eq(number_after(report.out, "Lost: "), number_after(said, "INCOMPLETE: "), "%s", report.out);
    } else {
        cr_assert(strstr(report.out, "Trace: complete; "), "%s", report.out);
        cr_assert(strstr(report.out, exact_summary), "%s", report.out);
    }
    process_result_free(&report);
    process_result_free(&run);
    free(output_setting);
    free(trace_path);
    free(directory);
}
