/* Tests of `vramtrace top`: one frame of a finished trace (examples/leaky: in use at the end, the
 * peak, the top sites), the live view of a trace still being written (hold_and_wait: 3 MiB in use
 * while it holds, then the frame of its END record with 2 MiB, and top exits by itself), top
 * started before the trace exists (it waits, then follows creep's trace reading only what was
 * appended: its last frame is the one-shot frame of the finished trace), lines cut to $COLUMNS,
 * and top on a pseudo-terminal of 60 columns (lines fit, keys read without Enter, q quits, the
 * terminal's settings restored). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <utmp.h>

#include "command_helpers.h"

Test(top, once_shows_use_peak_and_top_sites_of_a_finished_trace)
{
    char *report;
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", &report);
    const char *args[] = {"top", "--once", "--top", "1", trace, NULL};
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.out, "vramtrace top: leaky (pid "), "%s", run.out);
    cr_assert(strstr(run.out, "the process ended (the trace is complete)"), "%s", run.out);
    char *device = line_containing(run.out, "device 0 (");
    cr_assert_not_null(device, "%s", run.out);
    cr_assert(strstr(device, ": in use 5242880 byte(s) (5.00 MiB) in 4 allocation(s); peak 70254592 byte(s)"), "%s",
              device);
    char *site = line_containing(run.out, " load_weights < main");
    cr_assert(site && strstr(site, " 3145728 ") && strstr(site, " cudaMalloc "), "%s", run.out);
    cr_assert_null(strstr(run.out, "prefetch_batch"), "--top 1:\n%s", run.out);
    cr_assert(strstr(run.out, "... and 1 more site(s)"), "%s", run.out);
    cr_assert_null(strstr(run.out, "\033["), "no screen clearing when stdout is not a terminal");
    free(site);
    free(device);
    process_result_free(&run);

    /* without --once, a complete trace gets one frame and top exits */
    const char *loop[] = {"timeout", "10", VT_CLI_PATH, "top", trace, NULL};
    struct process_result looped = run_process(loop, NULL, NULL);
    cr_assert_eq(looped.exit_code, 0, "%s", looped.err);
    cr_assert_eq(count_occurrences(looped.out, "vramtrace top: leaky"), 1, "%s", looped.out);
    process_result_free(&looped);
    free(report);
    free(trace);
}

Test(top, follows_a_trace_that_is_being_written_until_its_end)
{
    char *directory, *trace;
    pid_t pid = start_hold_and_wait("1", &directory, &trace);
    usleep(300000); /* the writer flushes at least every 100 ms */

    const char *once[] = {"top", "--once", trace, NULL};
    struct process_result now = run_cli(once);
    cr_assert_eq(now.exit_code, 0, "%s", now.err);
    cr_assert(strstr(now.out, "no END record yet"), "%s", now.out);
    cr_assert(strstr(now.out, ": in use 3145728 byte(s) (3.00 MiB) in 3 allocation(s)"), "%s", now.out);
    cr_assert(strstr(now.out, " hold_buffers < main"), "%s", now.out);
    process_result_free(&now);

    const char *follow[] = {"timeout", "10", VT_CLI_PATH, "top", "--interval", "100ms", trace, NULL};
    struct process_result followed = run_process(follow, NULL, NULL);
    wait_for_success(pid);
    cr_assert_eq(followed.exit_code, 0, "top must end by itself at the END record: %s", followed.err);
    cr_assert_geq(count_occurrences(followed.out, "vramtrace top: hold_and_wait"), 2, "%s", followed.out);
    const char *last = strstr(followed.out, "the process ended (the trace is complete)");
    cr_assert_not_null(last, "%s", followed.out);
    cr_assert_null(strstr(last + 1, "vramtrace top:"), "the END frame is the last one");
    cr_assert(strstr(last, ": in use 2097152 byte(s) (2.00 MiB) in 2 allocation(s); peak 3145728 byte(s)"), "%s", last);
    process_result_free(&followed);
    free(trace);
    free(directory);
}

/* The longest line of `text` in characters (UTF-8 code points), the screen-clearing sequence and
 * carriage returns left out. */
static size_t longest_line(const char *text)
{
    size_t longest = 0, length = 0;
    for (const char *at = text; *at; at++) {
        if (strncmp(at, "\033[H\033[2J", 7) == 0) {
            at += 6;
            continue;
        }
        if (*at == '\n')
            length = 0;
        else if (*at != '\r' && ((unsigned char)*at & 0xC0) != 0x80 && ++length > longest)
            longest = length;
    }
    return longest;
}

Test(top, waits_for_the_trace_then_reads_what_is_appended_to_the_same_end_as_one_shot)
{
    char *top_directory = make_temp_directory(), *creep_directory = make_temp_directory();
    char *trace, command[1200];
    cr_assert(asprintf(&trace, "%s/creep.trace", creep_directory) > 0);
    snprintf(command, sizeof command, "timeout 10 %s top --interval 20ms --top 5 %s", VT_CLI_PATH, trace);
    pid_t top = start_in_background(top_directory, command, "waiting for");
    usleep(200000); /* top keeps waiting */
    const char *environment[] = {"VRAMTRACE_OUTPUT=creep.trace", NULL};
    pid_t creep = start_traced_in_background(creep_directory, VT_PROGRAMS_DIR "/commands/creep 40", environment,
                                             "creep: 40 step(s)");
    wait_for_success(creep);
    wait_for_success(top);

    char path[600];
    snprintf(path, sizeof path, "%s/stdout.txt", top_directory);
    char *followed = read_file_text(path);
    cr_assert_not_null(followed);
    cr_assert_eq(count_occurrences(followed, "waiting for"), 1, "%s", followed);
    cr_assert(strstr(followed, "waiting for ") && strstr(followed, "creep.trace\xe2\x80\xa6"), "%s", followed);
    cr_assert_geq(count_occurrences(followed, "vramtrace top: creep"), 3, "frames while creep ran:\n%s", followed);
    cr_assert_geq(count_occurrences(followed, "no END record yet"), 2, "%s", followed);
    const char *last = followed, *next;
    while ((next = strstr(last + 1, "\nvramtrace top: creep")))
        last = next;
    last++;
    const char *once[] = {"top", "--once", "--top", "5", trace, NULL};
    struct process_result whole = run_cli(once);
    cr_assert_eq(whole.exit_code, 0, "%s", whole.err);
    cr_assert(strstr(whole.out, ": in use 41943040 byte(s) (40.0 MiB) in 40 allocation(s)"), "%s", whole.out);
    cr_assert_str_eq(last, whole.out, "the last frame read piece by piece is the frame of the whole trace");
    process_result_free(&whole);
    free(followed);
    free(trace);
    free(creep_directory);
    free(top_directory);
}

Test(top, once_on_a_missing_trace_is_an_error_and_columns_cut_lines)
{
    const char *missing[] = {"top", "--once", "/nonexistent/x.trace", NULL};
    struct process_result run = run_cli(missing);
    cr_assert_eq(run.exit_code, 1, "%s", run.out);
    cr_assert(strstr(run.err, "cannot open /nonexistent/x.trace"), "%s", run.err);
    process_result_free(&run);

    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", NULL);
    const char *narrow[] = {"env", "COLUMNS=60", VT_CLI_PATH, "top", "--once", trace, NULL};
    struct process_result cut = run_process(narrow, NULL, NULL);
    cr_assert_eq(cut.exit_code, 0, "%s", cut.err);
    cr_assert_leq(longest_line(cut.out), 60, "%s", cut.out);
    cr_assert(strstr(cut.out, "\xe2\x80\xa6\n"), "a site line cut with an ellipsis:\n%s", cut.out);
    process_result_free(&cut);
    free(trace);
}

/* Reads the pseudo-terminal until `text` came (or 5 s passed); returns everything read. */
static char *read_terminal_until(int master, char *buffer, size_t *length, size_t capacity, const char *text)
{
    for (int waited = 0; waited < 100 && !strstr(buffer, text); waited++) {
        struct pollfd input = {.fd = master, .events = POLLIN};
        if (poll(&input, 1, 50) > 0) {
            ssize_t got = read(master, buffer + *length, capacity - 1 - *length);
            if (got > 0)
                *length += (size_t)got;
            buffer[*length] = '\0';
        }
    }
    return buffer;
}

Test(top, on_a_terminal_of_60_columns_lines_fit_and_q_quits_restoring_the_terminal)
{
    char *directory, *trace;
    pid_t held = start_hold_and_wait("2", &directory, &trace);
    int master, slave;
    struct winsize size = {.ws_row = 40, .ws_col = 60};
    cr_assert_eq(openpty(&master, &slave, NULL, NULL, &size), 0);
    pid_t top = fork();
    cr_assert_neq(top, -1);
    if (top == 0) {
        close(master);
        login_tty(slave);
        execl(VT_CLI_PATH, VT_CLI_PATH, "top", "--interval", "100ms", trace, (char *)NULL);
        _exit(127);
    }
    static char screen[1 << 18];
    size_t length = 0;
    screen[0] = '\0';
    read_terminal_until(master, screen, &length, sizeof screen, "3145728   3.00 MiB       3  device");
    cr_assert(strstr(screen, "3145728   3.00 MiB       3  device"), "%s", screen);
    cr_assert(strstr(screen, "\033[H\033[2J"), "the screen is cleared between frames");
    struct termios running;
    cr_assert_eq(tcgetattr(slave, &running), 0);
    cr_assert_eq(running.c_lflag & (ICANON | ECHO), 0, "keys are read one by one, not echoed");
    cr_assert_eq(write(master, "q", 1), 1);
    int status = 0;
    for (int waited = 0; waited < 100 && waitpid(top, &status, WNOHANG) == 0; waited++) {
        read_terminal_until(master, screen, &length, sizeof screen, "\001"); /* drain for 50 ms */
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "q quits with status 0 (status %d)", status);
    struct termios after;
    cr_assert_eq(tcgetattr(slave, &after), 0);
    cr_assert_eq(after.c_lflag & (ICANON | ECHO), ICANON | ECHO, "the terminal is restored");
    cr_assert_leq(longest_line(screen), 60, "%s", screen);
    cr_assert(strstr(screen, "\xe2\x80\xa6"), "long lines are cut with an ellipsis:\n%s", screen);
    close(master);
    close(slave);
    wait_for_success(held);
    free(trace);
    free(directory);
}
