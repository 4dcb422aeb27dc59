/* tests/cli/test_cli_exit_status.c — `vramtrace run` exits the way the program did: same exit
 * code, or death by the same signal; and it prints nothing itself, passing the program's
 * stdin, stdout and stderr through byte for byte — except, when a traced program dies by a
 * signal, one line saying where its trace is. */
#include "cli_harness.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(cli_exit_status, exit_code_propagates)
{
    const char *const scripts[] = {"exit 0", "exit 7", "exit 1", "exit 255"};
    const int codes[] = {0, 7, 1, 255};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        struct captured_run run = run_cli(ARGS("run", "--", "/bin/sh", "-c", scripts[i]), CLI_NO_ENV, NULL);
        assert_exit_code(&run, codes[i]);
        free_captured_run(&run);
    }
}

/* exit_code is a CUDA program (it leaks 1 MiB): both runs use the simulated device. */
Test(cli_exit_status, exit_code_program_matches_direct_run)
{
    const char *program = VT_PROGRAMS_DIR "/exit_code";
    if (!file_exists(VT_PROGRAMS_DIR) || !file_exists(program) || !file_exists(VT_SIM_DIR))
        cr_skip_test("tests/programs/exit_code or the simulated device is not built");
    struct captured_run direct =
        run_captured(ARGS(program, "42"), ENV("LD_LIBRARY_PATH=" VT_SIM_DIR, "VRAMTRACE_SIMULATE=16G"), NULL);
    struct captured_run traced = run_cli(ARGS("run", "--simulate", program, "42"), CLI_NO_ENV, NULL);
    assert_exit_code(&direct, 42);
    assert_exit_code(&traced, 42);
    cr_assert_eq(traced.output_length, direct.output_length);
    cr_assert(memcmp(traced.output, direct.output, direct.output_length) == 0, "stdout differs: %s", traced.output);
    cr_assert_eq(traced.errors_length, direct.errors_length, "stderr: %s", traced.errors);
    cr_assert(memcmp(traced.errors, direct.errors, direct.errors_length) == 0, "stderr differs: %s", traced.errors);
    assert_contains(traced.output, "stdout line");
    assert_contains(traced.errors, "stderr line");
    free_captured_run(&direct);
    free_captured_run(&traced);
}

/* The same under the real shim: its report must not change the program's exit code or stdout. */
Test(cli_exit_status, exit_code_program_under_the_shim)
{
    const char *program = VT_PROGRAMS_DIR "/exit_code";
    if (!file_exists(program) || !file_exists(VT_SIM_DIR) || !file_exists(VT_SHIM_PATH))
        cr_skip_test("exit_code, the simulated device or the shim is not built");
    struct captured_run traced = run_cli(ARGS("run", "--simulate", "--report=none", "--output=none", program, "3"),
                                         ENV("VRAMTRACE_LIBRARY"), NULL);
    assert_exit_code(&traced, 3);
    cr_assert_str_eq(traced.output, "stdout line\n");
    assert_contains(traced.errors, "stderr line\n");
    free_captured_run(&traced);
}

Test(cli_exit_status, death_by_signal_propagates)
{
    const char *const scripts[] = {"kill -TERM $$", "kill -USR1 $$", "kill -KILL $$", "kill -SEGV $$", "kill -INT $$"};
    const int signals[] = {SIGTERM, SIGUSR1, SIGKILL, SIGSEGV, SIGINT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct captured_run run = run_cli(ARGS("run", "--", "/bin/sh", "-c", scripts[i]), CLI_NO_ENV, NULL);
        assert_killed_by(run.status, signals[i]);
        cr_assert_eq(run.errors_length, 0, "the CLI printed: %s", run.errors);
        free_captured_run(&run);
    }
}

/* A traced program that dies by a signal writes no exit report: run says where its trace is. */
Test(cli_exit_status, death_by_signal_says_where_the_trace_is)
{
    const char *program = VT_PROGRAMS_DIR "/oom_abort";
    if (!file_exists(program) || !file_exists(VT_SIM_DIR))
        cr_skip_test("tests/programs/oom_abort or the simulated device is not built");
    char directory[] = "/tmp/vt-cli-signal-XXXXXX", trace[64];
    cr_assert_not_null(mkdtemp(directory));
    snprintf(trace, sizeof trace, "%s/job.trace", directory);
    struct captured_run run = run_cli(ARGS("run", "--simulate", "-o", trace, program),
                                      ENV("VRAMTRACE_LIBRARY=" VT_SHIM_PATH), NULL);
    assert_killed_by(run.status, SIGABRT);
    char wanted[256];
    snprintf(wanted, sizeof wanted, "ended by signal %d (SIGABRT): no exit report; its trace holds everything up to "
             "its last flush: vramtrace report %s\n", SIGABRT, trace);
    cr_assert(strstr(run.errors, wanted), "wanted \"%s\" in: %s", wanted, run.errors);
    free_captured_run(&run);
}

Test(cli_exit_status, stdout_and_stderr_pass_through_byte_identical)
{
    /* NUL bytes, invalid UTF-8, no final newline, interleaving on both streams. */
    const char *script = "printf 'out\\000bin\\377\\n'; printf 'err\\001\\n' >&2; printf 'tail'; printf 'e2' >&2; exit 3";
    struct captured_run direct = run_captured(ARGS("/bin/sh", "-c", script), CLI_NO_ENV, NULL);
    struct captured_run traced = run_cli(ARGS("run", "/bin/sh", "-c", script), CLI_NO_ENV, NULL);
    assert_exit_code(&traced, 3);
    cr_assert_eq(direct.output_length, 13);
    cr_assert_eq(traced.output_length, direct.output_length);
    cr_assert(memcmp(traced.output, direct.output, direct.output_length) == 0);
    cr_assert_eq(traced.errors_length, direct.errors_length, "stderr: %s", traced.errors);
    cr_assert(memcmp(traced.errors, direct.errors, direct.errors_length) == 0);
    free_captured_run(&direct);
    free_captured_run(&traced);
}

Test(cli_exit_status, large_output_passes_through)
{
    struct captured_run run = run_cli(ARGS("run", "/bin/sh", "-c", "head -c 300000 /dev/zero"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 0);
    cr_assert_eq(run.output_length, 300000);
    free_captured_run(&run);
}

Test(cli_exit_status, stdin_passes_through)
{
    struct captured_run run = run_cli(ARGS("run", "cat"), CLI_NO_ENV, "first line\nsecond\n");
    assert_exit_code(&run, 0);
    cr_assert_str_eq(run.output, "first line\nsecond\n");
    free_captured_run(&run);
}
