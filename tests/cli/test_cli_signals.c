/* tests/cli/test_cli_signals.c — `vramtrace run` relays signals sent to it by other processes
 * to the program, mirrors job-control stops, and leaves terminal-generated signals (which the
 * program gets directly) alone. */
#include "cli_harness.h"

#include <pty.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(cli_signals, sigterm_to_the_cli_ends_the_program, .timeout = 10)
{
    pid_t cli = spawn_cli(ARGS("run", "--", "sleep", "30"), CLI_NO_ENV, NULL);
    pid_t program = wait_for_child_running(cli, "sleep", 2.0);
    double sent_at = seconds_now();
    cr_assert(kill(cli, SIGTERM) == 0);
    int status = wait_with_deadline(cli, 0, 2.0);
    assert_killed_by(status, SIGTERM);
    cr_assert(seconds_now() - sent_at < 1.5, "the CLI took %.2f s to end", seconds_now() - sent_at);
    bool ended = wait_process_ended(program, 1.0);
    if (!ended)
        kill(program, SIGKILL);
    cr_assert(ended, "the program (sleep, pid %d) is still running", (int)program);
}

Test(cli_signals, relayed_signal_reaches_the_programs_handler, .timeout = 10)
{
    int output;
    pid_t cli = spawn_cli(ARGS("run", "/bin/sh", "-c",
                               "trap 'echo got USR1; exit 5' USR1; echo ready; while :; do sleep 0.02; done"),
                          CLI_NO_ENV, &output);
    cr_assert(read_until(output, "ready", 2.0), "the program never said ready");
    cr_assert(kill(cli, SIGUSR1) == 0);
    cr_assert(read_until(output, "got USR1", 2.0), "the program's USR1 trap did not run");
    int status = wait_with_deadline(cli, 0, 2.0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 5, "status 0x%x", status);
    close(output);
}

Test(cli_signals, stop_and_continue_follow_the_program, .timeout = 10)
{
    pid_t cli = spawn_cli(ARGS("run", "--", "sleep", "30"), CLI_NO_ENV, NULL);
    pid_t program = wait_for_child_running(cli, "sleep", 2.0);

    cr_assert(kill(cli, SIGTSTP) == 0);
    int status = wait_with_deadline(cli, WUNTRACED, 2.0);
    cr_assert(WIFSTOPPED(status), "the CLI did not stop with its program: status 0x%x", status);
    char state = '?';
    cr_assert(process_state(program, &state, NULL) && state == 'T', "program state %c", state);

    cr_assert(kill(cli, SIGCONT) == 0);
    double deadline = seconds_now() + 2.0;
    while (process_state(program, &state, NULL) && state == 'T' && seconds_now() < deadline)
        sleep_briefly();
    cr_assert(state != 'T', "the program was not continued");

    cr_assert(kill(cli, SIGTERM) == 0);
    status = wait_with_deadline(cli, 0, 2.0);
    assert_killed_by(status, SIGTERM);
    wait_process_ended(program, 1.0);
}

/* Ctrl-C on a terminal reaches the CLI and the program alike: the program dies of SIGINT and
 * the CLI, which does not relay it a second time, then dies of SIGINT as well. */
Test(cli_signals, terminal_interrupt_ends_both, .timeout = 10)
{
    harmless_library();
    int terminal;
    pid_t cli = forkpty(&terminal, NULL, NULL, NULL);
    cr_assert(cli >= 0, "forkpty: %s", strerror(errno));
    if (cli == 0) {
        prepare_child_environment(CLI_NO_ENV);
        execl(VT_CLI_PATH, VT_CLI_PATH, "run", "--", "sleep", "30", (char *)NULL);
        _exit(99);
    }
    pid_t program = wait_for_child_running(cli, "sleep", 2.0);
    cr_assert(write(terminal, "\003", 1) == 1);
    int status = wait_with_deadline(cli, 0, 2.0);
    assert_killed_by(status, SIGINT);
    cr_assert(wait_process_ended(program, 1.0), "the program survived Ctrl-C");
    close(terminal);
}
