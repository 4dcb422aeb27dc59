/* Integration tests: the traced program under forks, spawns and exits while other threads allocate
 * (tests/programs/fork_storm.c: the data-loader pattern), and every VRAMTRACE_* variable set to
 * garbage under plain LD_PRELOAD. The program's results and exit status never change, every child
 * ends, the reports stay exact and agree with the trace, and a bad setting is named once. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/options.h"
#include "traced_run.h"

#define FORK_STORM VT_PROGRAMS_DIR "/fork_storm"

/* The SUMMARY line of a report (to its end), or "" when there is none. */
static char *summary_line(const char *text)
{
    const char *at = strstr(text, "SUMMARY: vramtrace: ");
    return at ? strndup(at, strcspn(at, "\n")) : strdup("");
}

/* `vramtrace report TRACE`'s SUMMARY line. */
static char *trace_summary(const char *directory, const char *trace)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", directory, trace);
    struct process_result report = run_process((const char *[]){VT_CLI_PATH, "report", path, NULL}, NULL, NULL);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    char *line = summary_line(report.out);
    process_result_free(&report);
    return line;
}

Test(faults, two_hundred_workers_started_while_threads_allocate, .timeout = 120)
{
    char *directory = make_temp_directory();
    struct process_result run = traced_run((const char *[]){"-o", "storm.trace", NULL}, FORK_STORM,
                                           (const char *[]){"200", "4", NULL}, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    cr_assert(strstr(run.out, "children ok 200\n"), "%s", run.out);
    /* every pair the threads counted, plus the one kept allocation; nothing else */
    uint64_t pairs = number_after(run.out, "pairs ");
    cr_assert_gt(pairs, 0);
    cr_assert_eq(api_call_count(run.err, "cudaMalloc"), pairs + 1, "%s", run.err);
    cr_assert_eq(api_call_count(run.err, "cudaFree"), pairs, "%s", run.err);
    char *exit_summary = summary_line(run.err), *from_trace = trace_summary(directory, "storm.trace");
    cr_assert_str_eq(exit_summary, "SUMMARY: vramtrace: 4096 byte(s) leaked in 1 allocation(s).");
    cr_assert_str_eq(from_trace, exit_summary, "the trace says what the exit report said");
    cr_assert_null(strstr(run.err, "lost"), "%s", run.err);
    free(exit_summary);
    free(from_trace);
    process_result_free(&run);
}

Test(faults, exit_while_threads_allocate_keeps_the_reports_in_agreement, .timeout = 60)
{
    char *directory = make_temp_directory();
    struct process_result run = traced_run((const char *[]){"-o", "exit.trace", NULL}, FORK_STORM,
                                           (const char *[]){"30", "4", "exit-now", NULL}, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    cr_assert(strstr(run.out, "children ok 30\n"), "%s", run.out);
    char *exit_summary = summary_line(run.err), *from_trace = trace_summary(directory, "exit.trace");
    cr_assert_neq(exit_summary[0], '\0', "no exit report:\n%s", run.err);
    /* the kept 4 KiB and whatever the threads held at that moment; the trace ends with the report */
    cr_assert_geq(number_after(exit_summary, "SUMMARY: vramtrace: "), 4096);
    cr_assert_str_eq(from_trace, exit_summary);
    free(exit_summary);
    free(from_trace);
    process_result_free(&run);
}

/* Every VRAMTRACE_* variable of the settings table set to a value no setting accepts, under plain
 * LD_PRELOAD: the program's output and exit status are its own, and each variable whose value is
 * invalid is named once on stderr. */
Test(faults, every_setting_set_to_garbage_is_named_once_and_changes_nothing, .timeout = 120)
{
    static const char garbage[] = "!!garbage\x01value!!";
    for (const struct vt_option *option = vt_options; option->long_name; option++) {
        if (strcmp(option->env_name, VT_ENV_SIMULATE) == 0 || strcmp(option->env_name, VT_ENV_SIMULATE_DEVICES) == 0)
            continue; /* read by the simulated device, which the test itself sets up */
        char *directory = make_temp_directory();
        char setting[256];
        snprintf(setting, sizeof setting, "%s=%s", option->env_name, garbage);
        const char *environment[] = {"LD_PRELOAD=" VT_SHIM_PATH, "LD_LIBRARY_PATH=" VT_SIM_DIR,
                                     "VRAMTRACE_SIMULATE=16G", setting, NULL};
        struct process_result run =
            run_process((const char *[]){VT_PROGRAMS_DIR "/exit_code", "42", NULL}, environment, directory);
        cr_assert_eq(run.exit_code, 42, "%s: the program's exit status changed:\n%s", setting, run.err);
        char why[512];
        if (!vt_option_validate(option, garbage, why, sizeof why))
            cr_assert_eq(count_occurrences(run.err, option->env_name), 1, "%s is named %zu times:\n%s", option->env_name,
                         count_occurrences(run.err, option->env_name), run.err);
        process_result_free(&run);
        free(directory);
    }
}

/* The traced program started directly under LD_PRELOAD with its stdout on a pipe; returns its pid
 * once it printed `ready` (the pipe's read end in *out). */
static pid_t start_preloaded(const char *const argv[], const char *const environment[], const char *directory,
                             const char *ready, int *out)
{
    int pipe_ends[2];
    cr_assert_eq(pipe(pipe_ends), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(pipe_ends[1], STDOUT_FILENO);
        close(pipe_ends[0]);
        close(pipe_ends[1]);
        if (chdir(directory) != 0)
            _exit(126);
        for (size_t i = 0; environment[i]; i++)
            putenv((char *)environment[i]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipe_ends[1]);
    char text[256] = "";
    size_t length = 0;
    while (!strstr(text, ready) && length + 1 < sizeof text) {
        ssize_t got = read(pipe_ends[0], text + length, sizeof text - 1 - length);
        cr_assert_gt(got, 0, "the program ended before saying \"%s\": %s", ready, text);
        length += (size_t)got;
        text[length] = '\0';
    }
    *out = pipe_ends[0];
    return pid;
}

/* A crash (SIGSEGV) mid-run: the program dies as it would, and its trace holds what it had
 * allocated (the writer flushes every 100 ms), read as incomplete. */
Test(faults, a_crash_mid_run_leaves_a_readable_trace, .timeout = 60)
{
    char *directory = make_temp_directory();
    const char *environment[] = {"LD_PRELOAD=" VT_SHIM_PATH, "LD_LIBRARY_PATH=" VT_SIM_DIR, "VRAMTRACE_SIMULATE=16G",
                                 "VRAMTRACE_OUTPUT=crash.trace", "VRAMTRACE_QUIET=1", NULL};
    int out;
    pid_t pid = start_preloaded((const char *[]){VT_PROGRAMS_DIR "/hold_and_wait", "30", NULL}, environment, directory,
                                "holding", &out);
    usleep(400 * 1000); /* past a few flushes */
    cr_assert_eq(kill(pid, SIGSEGV), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    close(out);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "the program must die of its own crash (%d)", status);
    char path[1024];
    snprintf(path, sizeof path, "%s/crash.trace", directory);
    struct process_result report = run_process((const char *[]){VT_CLI_PATH, "report", path, NULL}, NULL, NULL);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    cr_assert(strstr(report.out, "SUMMARY: vramtrace: 3145728 byte(s) leaked in 3 allocation(s)."), "%s", report.out);
    cr_assert(strstr(report.out, "hold_buffers"), "the stacks are there: %s", report.out);
    process_result_free(&report);
    free(directory);
}

/* An output directory that does not exist: said once, the program runs on and exits as it would. */
Test(faults, a_missing_output_directory_is_said_and_changes_nothing)
{
    char *directory = make_temp_directory();
    const char *environment[] = {"LD_PRELOAD=" VT_SHIM_PATH, "LD_LIBRARY_PATH=" VT_SIM_DIR, "VRAMTRACE_SIMULATE=16G",
                                 "VRAMTRACE_OUTPUT=no/such/directory/x.trace", NULL};
    struct process_result run =
        run_process((const char *[]){VT_PROGRAMS_DIR "/exit_code", "42", NULL}, environment, directory);
    cr_assert_eq(run.exit_code, 42, "%s", run.err);
    cr_assert_eq(count_occurrences(run.err, "no/such/directory/x.trace"), 1, "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 1048576 byte(s) leaked in 1 allocation(s)."), "%s", run.err);
    process_result_free(&run);
    free(directory);
}
