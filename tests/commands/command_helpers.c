/* tests/commands/command_helpers.c — see command_helpers.h. */
#define _GNU_SOURCE
#include "command_helpers.h"

#include <criterion/criterion.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

char *make_trace(const char *program, const char *const arguments[], const char *option, const char *name,
                 char **report)
{
    char *directory = make_temp_directory();
    char *trace = NULL, *report_path = NULL;
    cr_assert(asprintf(&trace, "%s/%s.trace", directory, name) > 0);
    cr_assert(asprintf(&report_path, "%s/%s.report.txt", directory, name) > 0);
    const char *options[] = {"-q", "-o", trace, option, NULL};
    struct process_result run = traced_run(options, program, arguments, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "%s failed: %s", program, run.err);
    if (report) {
        *report = read_file_text(report_path);
        cr_assert_not_null(*report, "no report at %s", report_path);
    }
    process_result_free(&run);
    free(report_path);
    free(directory);
    return trace;
}

struct process_result run_cli(const char *const args[])
{
    const char *argv[32] = {VT_CLI_PATH};
    size_t count = 1;
    while (args[count - 1]) {
        cr_assert_lt(count, sizeof argv / sizeof argv[0] - 1);
        argv[count] = args[count - 1];
        count++;
    }
    argv[count] = NULL;
    return run_process(argv, NULL, NULL);
}

pid_t start_in_background(const char *directory, const char *command, const char *ready_text)
{
    char shell_command[3072];
    snprintf(shell_command, sizeof shell_command, "cd '%s' && exec %s > stdout.txt 2> stderr.txt", directory, command);
    pid_t pid;
    char *argv[] = {"/bin/sh", "-c", shell_command, NULL};
    cr_assert_eq(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ), 0);
    char stdout_path[600];
    snprintf(stdout_path, sizeof stdout_path, "%s/stdout.txt", directory);
    for (int i = 0; i < 250; i++) {
        char *text = read_file_text(stdout_path);
        bool ready = text && strstr(text, ready_text);
        free(text);
        if (ready)
            return pid;
        usleep(20000);
    }
    cr_assert_fail("%s did not start", command);
    return -1;
}

pid_t start_traced_in_background(const char *directory, const char *command, const char *const environment[],
                                 const char *ready_text)
{
    char traced[2048] = "env LD_PRELOAD=" VT_SHIM_PATH " LD_LIBRARY_PATH=" VT_SIM_DIR " VRAMTRACE_QUIET=1";
    for (size_t i = 0; environment && environment[i]; i++) {
        strncat(traced, " '", sizeof traced - strlen(traced) - 1);
        strncat(traced, environment[i], sizeof traced - strlen(traced) - 1);
        strncat(traced, "'", sizeof traced - strlen(traced) - 1);
    }
    strncat(traced, " ", sizeof traced - strlen(traced) - 1);
    strncat(traced, command, sizeof traced - strlen(traced) - 1);
    return start_in_background(directory, traced, ready_text);
}

pid_t start_hold_and_wait(const char *seconds, char **directory, char **trace)
{
    *directory = make_temp_directory();
    cr_assert(asprintf(trace, "%s/held.trace", *directory) > 0);
    char command[600];
    snprintf(command, sizeof command, VT_PROGRAMS_DIR "/hold_and_wait %s", seconds);
    const char *environment[] = {"VRAMTRACE_OUTPUT=held.trace", NULL};
    return start_traced_in_background(*directory, command, environment, "holding");
}

void wait_for_success(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the background program failed (status %d)", status);
}

uint64_t report_device0_peak(const char *report)
{
    return number_after(report, "Peak memory in use:\n  device 0: ");
}

char *line_containing(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    if (!at)
        return NULL;
    const char *start = at;
    while (start > text && start[-1] != '\n')
        start--;
    return strndup(start, strcspn(start, "\n"));
}

int ends_with(const char *text, const char *suffix)
{
    size_t length = strlen(text), suffix_length = strlen(suffix);
    return length >= suffix_length && strcmp(text + length - suffix_length, suffix) == 0;
}
