/* Tests of `vramtrace dump PID` with tests/programs/hold_and_wait (3 x 1 MiB held while it sleeps)
 * under the shim: the snapshot path it prints (relative template, the process's working
 * directory), numbered dumps, --print, a `vramtrace run` supervisor (its traced child is asked,
 * with the child's own dump signal and report path), a supervisor of a multi-process job
 * (tests/programs/rank_job: every traced rank is asked, the launcher that never used CUDA is not, a
 * stopped rank is named as not answering), and the refusals: a process without the shim,
 * one that ignores its dump signal, one with no trace writer, no such process. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command_helpers.h"

extern char **environ;

#define HOLD VT_PROGRAMS_DIR "/hold_and_wait"

static struct process_result dump(const char *pid_text, const char *option)
{
    const char *args[] = {"dump", pid_text, option, NULL};
    return run_cli(args);
}

Test(dump, writes_numbered_snapshots_next_to_the_trace_and_prints_their_path)
{
    char *directory = make_temp_directory();
    pid_t pid = start_traced_in_background(directory, HOLD " 2", NULL, "holding");
    char pid_text[16], expected[700];
    snprintf(pid_text, sizeof pid_text, "%d", (int)pid);

    struct process_result first = dump(pid_text, NULL);
    cr_assert_eq(first.exit_code, 0, "%s", first.err);
    snprintf(expected, sizeof expected, "%s/vramtrace.hold_and_wait.%d.dump-1.txt\n", directory, (int)pid);
    cr_assert_str_eq(first.out, expected);
    char *path = strndup(first.out, strlen(first.out) - 1);
    char *snapshot = read_file_text(path);
    cr_assert(snapshot && strstr(snapshot, "Device memory: 3145728 byte(s) (3.00 MiB) in use in 3 allocation(s)"),
              "%s", snapshot ? snapshot : "(none)");
    cr_assert(strstr(snapshot, "Calls by API:"), "the snapshot is complete when its path is printed");

    struct process_result second = dump(pid_text, "--print");
    cr_assert_eq(second.exit_code, 0, "%s", second.err);
    snprintf(expected, sizeof expected, "%s/vramtrace.hold_and_wait.%d.dump-2.txt\n", directory, (int)pid);
    cr_assert_eq(strncmp(second.out, expected, strlen(expected)), 0, "%s", second.out);
    cr_assert(strstr(second.out, "vramtrace: live snapshot 2 of hold_and_wait"), "--print:\n%s", second.out);
    wait_for_success(pid);
    free(snapshot);
    free(path);
    process_result_free(&first);
    process_result_free(&second);
    free(directory);
}

Test(dump, asks_the_traced_child_of_a_vramtrace_run_supervisor)
{
    char *directory = make_temp_directory();
    pid_t supervisor = start_in_background(directory,
                                           VT_CLI_PATH " run -q --simulate --dump-signal USR2 -o held.trace --report "
                                                       "'mine.%p.report.txt' -- " HOLD " 2",
                                           "holding");
    char pid_text[16];
    snprintf(pid_text, sizeof pid_text, "%d", (int)supervisor);
    struct process_result run = dump(pid_text, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.err, "is not traced itself; asking its traced child"), "%s", run.err);
    const char *child = strstr(run.err, "traced child ");
    cr_assert_not_null(child);
    int child_pid = atoi(child + strlen("traced child "));
    cr_assert_neq(child_pid, (int)supervisor);
    char expected[700];
    snprintf(expected, sizeof expected, "%s/mine.%d.dump-1.txt\n", directory, child_pid);
    cr_assert_str_eq(run.out, expected, "VRAMTRACE_REPORT of the child, %%p its pid");
    wait_for_success(supervisor);
    process_result_free(&run);
    free(directory);
}

/* The pids after `prefix` in `text` ("...: 12, 13, 14"): how many (at most `capacity`). */
static size_t pids_after(const char *text, const char *prefix, int *pids, size_t capacity)
{
    const char *at = strstr(text, prefix);
    size_t count = 0;
    for (at = at ? at + strlen(prefix) : NULL; at && count < capacity;) {
        char *end;
        long pid = strtol(at, &end, 10);
        if (end == at)
            break;
        pids[count++] = (int)pid;
        at = strncmp(end, ", ", 2) == 0 ? end + 2 : NULL;
    }
    return count;
}

Test(dump, asks_every_traced_rank_under_a_supervisor_and_names_those_that_did_not_answer)
{
    char *directory = make_temp_directory();
    pid_t supervisor = start_in_background(directory,
                                           VT_CLI_PATH " run -q --simulate --simulate-devices 3 -o 'job.%r.trace' -- "
                                                       VT_PROGRAMS_DIR "/rank_job --launch 3 --hold 6",
                                           "holding");
    char stdout_path[600];
    snprintf(stdout_path, sizeof stdout_path, "%s/stdout.txt", directory);
    for (int i = 0; i < 250; i++) {
        char *text = read_file_text(stdout_path);
        size_t holding = text ? count_occurrences(text, " holding") : 0;
        free(text);
        if (holding == 3)
            break;
        usleep(20000);
    }
    char pid_text[16], expected[2000];
    snprintf(pid_text, sizeof pid_text, "%d", (int)supervisor);
    struct process_result all = dump(pid_text, NULL);
    cr_assert_eq(all.exit_code, 0, "%s", all.err);
    snprintf(expected, sizeof expected, "%s/job.0.dump-1.txt\n%s/job.1.dump-1.txt\n%s/job.2.dump-1.txt\n", directory,
             directory, directory);
    cr_assert_str_eq(all.out, expected, "%s", all.err);
    int ranks[8], launcher[8];
    cr_assert_eq(pids_after(all.err, "3 of 3 traced process(es) answered: ", ranks, 8), 3, "%s", all.err);
    cr_assert_eq(pids_after(all.err, "not asked, as they have not begun tracing (no trace file open: no CUDA use "
                                     "yet): ", launcher, 8), 1, "the launcher: %s", all.err);
    for (int rank = 0; rank < 3; rank++) {
        char path[700];
        snprintf(path, sizeof path, "%s/job.%d.dump-1.txt", directory, rank);
        char *snapshot = read_file_text(path);
        cr_assert(snapshot && strstr(snapshot, rank == 1 ? "5242880 byte(s) (5.00 MiB) in use in 2 allocation(s)"
                                                         : "2097152 byte(s) (2.00 MiB) in use in 1 allocation(s)"),
                  "rank %d: %s", rank, snapshot ? snapshot : "(none)");
        free(snapshot);
    }

    /* a stopped rank cannot answer: the others do, it is named, the exit status says so */
    cr_assert_eq(kill(ranks[0], SIGSTOP), 0);
    const char *args[] = {"dump", pid_text, "--wait", "1", NULL};
    struct process_result partial = run_cli(args);
    kill(ranks[0], SIGCONT);
    cr_assert_eq(partial.exit_code, 1, "%s", partial.err);
    cr_assert_eq(count_occurrences(partial.out, ".dump-2.txt\n"), 2, "%s", partial.out);
    snprintf(expected, sizeof expected, "; no snapshot from %d\n", ranks[0]);
    cr_assert(strstr(partial.err, "2 of 3 traced process(es) answered: ") && ends_with(partial.err, expected), "%s",
              partial.err);
    wait_for_success(supervisor);
    process_result_free(&all);
    process_result_free(&partial);
    free(directory);
}

Test(dump, refuses_a_process_without_the_shim)
{
    pid_t sleeper;
    char *sleep_argv[] = {"sleep", "5", NULL};
    cr_assert_eq(posix_spawnp(&sleeper, "sleep", NULL, NULL, sleep_argv, environ), 0);
    char pid_text[16], expected[200];
    snprintf(pid_text, sizeof pid_text, "%d", (int)sleeper);
    struct process_result run = dump(pid_text, NULL);
    cr_assert_eq(run.exit_code, 1);
    snprintf(expected, sizeof expected,
             "vramtrace dump: process %d is not traced by vramtrace (libvramtrace.so is not loaded)\n", (int)sleeper);
    cr_assert_str_eq(run.err, expected);
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
    process_result_free(&run);

    struct process_result gone = dump("999999999", NULL);
    cr_assert_eq(gone.exit_code, 1);
    cr_assert_str_eq(gone.err, "vramtrace dump: no process 999999999\n");
    process_result_free(&gone);
}

Test(dump, sends_nothing_to_a_process_that_cannot_take_a_dump)
{
    /* USR1 was ignored when it started, so the shim left it alone: sending it would do nothing */
    char *ignoring_directory = make_temp_directory();
    const char *ignoring_settings[] = {"VRAMTRACE_DUMP_SIGNAL=USR1", NULL};
    pid_t ignoring = start_traced_in_background(ignoring_directory, "/bin/sh -c \"trap '' USR1; exec " HOLD " 1\"",
                                                ignoring_settings, "holding");
    /* neither a trace nor a report file: nowhere to write a snapshot */
    char *untraced_directory = make_temp_directory();
    const char *no_trace_settings[] = {"VRAMTRACE_OUTPUT=none", "VRAMTRACE_REPORT=none", NULL};
    pid_t no_trace = start_traced_in_background(untraced_directory, HOLD " 1", no_trace_settings, "holding");

    char pid_text[16];
    snprintf(pid_text, sizeof pid_text, "%d", (int)ignoring);
    struct process_result ignored = dump(pid_text, NULL);
    cr_assert_eq(ignored.exit_code, 1, "%s", ignored.err);
    cr_assert(strstr(ignored.err, "ignores its dump signal USR1 (10)"), "%s", ignored.err);
    cr_assert(strstr(ignored.err, "nothing was sent") && strstr(ignored.err, "VRAMTRACE_DUMP_SIGNAL="), "%s",
              ignored.err);
    snprintf(pid_text, sizeof pid_text, "%d", (int)no_trace);
    struct process_result none = dump(pid_text, NULL);
    cr_assert_eq(none.exit_code, 1, "%s", none.err);
    cr_assert(strstr(none.err, "writes neither a trace nor a report file (VRAMTRACE_OUTPUT=none, VRAMTRACE_REPORT=none)"),
              "%s", none.err);
    wait_for_success(ignoring);
    wait_for_success(no_trace);
    process_result_free(&ignored);
    process_result_free(&none);
    free(ignoring_directory);
    free(untraced_directory);
}

Test(dump, usage_errors)
{
    const char *no_pid[] = {"dump", NULL};
    const char *not_a_pid[] = {"dump", "12x", NULL};
    const char *bad_wait[] = {"dump", "1", "--wait", "forever", NULL};
    const char *two[] = {"dump", "1", "2", NULL};
    const char *const *cases[] = {no_pid, not_a_pid, bad_wait, two};
    const char *messages[] = {"no process given", "'12x' is not a process id", "--wait 'forever' is not valid",
                              "one process at a time"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct process_result run = run_cli(cases[i]);
        cr_assert_eq(run.exit_code, 2, "case %zu: %s", i, run.err);
        cr_assert(strstr(run.err, messages[i]), "case %zu: %s", i, run.err);
        process_result_free(&run);
    }
}
