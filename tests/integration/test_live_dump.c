/* Integration test of the live dump on the simulated device: the dump signal, sent to a traced
 * process that is still running, makes it write a snapshot of what is live now (and a marker in its
 * trace) without disturbing it; a program that handles the signal itself keeps its handler. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/options.h"
#include "traced_run.h"

extern char **environ;

/* Starts `hold_and_wait SECONDS` under the shim (plain LD_PRELOAD) in `directory`, stdout to a file;
 * returns its pid once it says "holding". */
static pid_t start_holding_program(const char *directory, const char *seconds, const char *settings)
{
    char stdout_path[512];
    snprintf(stdout_path, sizeof stdout_path, "%s/stdout.txt", directory);
    char command[1024];
    snprintf(command, sizeof command,
             "cd '%s' && LD_PRELOAD=" VT_SHIM_PATH " LD_LIBRARY_PATH=" VT_SIM_DIR
             " VRAMTRACE_QUIET=1 %s exec " VT_PROGRAMS_DIR "/hold_and_wait %s > stdout.txt 2> stderr.txt",
             directory, settings, seconds);
    pid_t pid;
    char *argv[] = {"/bin/sh", "-c", command, NULL};
    cr_assert_eq(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ), 0);
    for (int i = 0; i < 200; i++) {
        char *text = read_file_text(stdout_path);
        bool ready = text && strstr(text, "holding");
        free(text);
        if (ready)
            return pid;
        usleep(20000);
    }
    cr_assert_fail("hold_and_wait did not start");
    return -1;
}

static char *wait_for_file(const char *path)
{
    for (int i = 0; i < 200; i++) {
        char *text = read_file_text(path);
        if (text && strstr(text, "SUMMARY") == NULL && strstr(text, "Peak memory in use"))
            return text;
        free(text);
        usleep(20000);
    }
    return NULL;
}

/* Sends the default dump signal to `pid` and returns its first snapshot's text. */
static char *request_first_snapshot(const char *directory, pid_t pid)
{
    int dump_signal;
    cr_assert(vt_parse_signal(VT_DEFAULT_DUMP_SIGNAL, &dump_signal));
    cr_assert_eq(kill(pid, dump_signal), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/vramtrace.hold_and_wait.%d.dump-1.txt", directory, (int)pid);
    char *snapshot = wait_for_file(path);
    cr_assert_not_null(snapshot, "no live snapshot at %s", path);
    return snapshot;
}

Test(live_dump, signal_writes_a_snapshot_of_live_memory_and_the_program_goes_on)
{
    char *directory = make_temp_directory();
    pid_t pid = start_holding_program(directory, "3", "");
    char *snapshot = request_first_snapshot(directory, pid);
    char path[600];
    cr_assert(strstr(snapshot, "vramtrace: live snapshot 1 of hold_and_wait"), "%s", snapshot);
    cr_assert(strstr(snapshot, "Device memory: 3145728 byte(s) (3.00 MiB) in use in 3 allocation(s)"), "%s", snapshot);
    const char *group = strstr(snapshot, "Live of 3145728 byte(s) (3.00 MiB) in 3 allocation(s) of device memory, cudaMalloc");
    cr_assert(group && strstr(group, " in hold_buffers "), "%s", snapshot);

    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the dump must not disturb the program");
    snprintf(path, sizeof path, "%s/stdout.txt", directory);
    char *output = read_file_text(path);
    cr_assert_str_eq(output, "holding\ndone\n");
    snprintf(path, sizeof path, "%s/vramtrace.hold_and_wait.%d.report.txt", directory, (int)pid);
    char *report = read_file_text(path);
    cr_assert(report && strstr(report, "SUMMARY: vramtrace: 2097152 byte(s) leaked in 2 allocation(s).\n"), "%s",
              report ? report : "(no report)");
    free(snapshot);
    free(output);
    free(report);
}

Test(live_dump, works_without_a_trace_file)
{
    char *directory = make_temp_directory();
    pid_t pid = start_holding_program(directory, "2", "VRAMTRACE_OUTPUT=none");
    char *snapshot = request_first_snapshot(directory, pid);
    cr_assert(strstr(snapshot, "Device memory: 3145728 byte(s) (3.00 MiB) in use in 3 allocation(s)"), "%s", snapshot);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(snapshot);
}

/* Issue 9, point 10: VRAMTRACE_DUMP_SIGNAL=TERM under plain LD_PRELOAD is refused once on stderr; the
 * default signal still dumps, and kill -TERM still stops the program. */
Test(live_dump, unsafe_dump_signal_keeps_the_default_and_term_still_stops_the_program)
{
    char *directory = make_temp_directory();
    pid_t pid = start_holding_program(directory, "10", "VRAMTRACE_DUMP_SIGNAL=TERM");
    char *snapshot = request_first_snapshot(directory, pid);
    cr_assert(strstr(snapshot, "vramtrace: live snapshot 1 of hold_and_wait"), "%s", snapshot);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "kill -TERM must stop the program (status %#x)",
              status);
    char path[600];
    snprintf(path, sizeof path, "%s/stderr.txt", directory);
    char *errors = read_file_text(path);
    cr_assert_not_null(errors);
    cr_assert(strstr(errors, "vramtrace: VRAMTRACE_DUMP_SIGNAL='TERM' is SIGTERM, which cannot be the dump signal"),
              "%s", errors);
    cr_assert(strstr(errors, "accepted: USR1, USR2 or a real-time signal RTMIN to RTMIN+"), "%s", errors);
    cr_assert(strstr(errors, "; using the default\n"), "%s", errors);
    cr_assert_eq(count_occurrences(errors, "VRAMTRACE_DUMP_SIGNAL="), 1, "said once:\n%s", errors);
    free(snapshot);
    free(errors);
}

Test(live_dump, a_program_that_installs_its_own_handler_for_the_signal_wins)
{
    char *directory = make_temp_directory();
    /* The shim installs its handler at load; a program that installs its own later gets its own
     * behaviour (the shim never reinstalls it). */
    const char *arguments[] = {"-c", "trap 'echo got-usr1' USR1; kill -USR1 $$; echo after", NULL};
    const char *environment[] = {"VRAMTRACE_DUMP_SIGNAL=USR1", NULL};
    struct process_result run = traced_run(NULL, "/bin/sh", arguments, environment, directory);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_str_eq(run.out, "got-usr1\nafter\n");
    process_result_free(&run);
}
