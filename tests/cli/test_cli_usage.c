/* tests/cli/test_cli_usage.c — `vramtrace --help`, `vramtrace run --help` (generated from the
 * settings table) and the usage errors of `vramtrace run`: unknown options, malformed values,
 * missing program or library, programs that cannot be executed. */
#include "cli_harness.h"
#include "common/options.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(cli_usage, top_level_help_lists_subcommands)
{
    struct captured_run run = run_cli(ARGS("--help"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 0);
    assert_contains(run.output, "Usage: vramtrace COMMAND");
    assert_contains(run.output, "  run ");
    assert_contains(run.output, "--version");
    free_captured_run(&run);

    run = run_cli(ARGS("help"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 0);
    assert_contains(run.output, "  run ");
    free_captured_run(&run);
}

Test(cli_usage, no_arguments_is_a_usage_error)
{
    struct captured_run run = run_cli((const char *const[]){NULL}, CLI_NO_ENV, NULL);
    assert_exit_code(&run, 2);
    assert_contains(run.errors, "Usage: vramtrace");
    free_captured_run(&run);
}

Test(cli_usage, version)
{
    struct captured_run run = run_cli(ARGS("--version"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 0);
    cr_assert(strncmp(run.output, "vramtrace ", 10) == 0, "got: %s", run.output);
    free_captured_run(&run);
}

Test(cli_usage, unknown_command)
{
    struct captured_run run = run_cli(ARGS("frobnicate"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 2);
    assert_contains(run.errors, "unknown command 'frobnicate'");
    free_captured_run(&run);
}

Test(cli_usage, run_help_describes_every_option_from_the_table)
{
    struct captured_run run = run_cli(ARGS("run", "--help"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 0);
    cr_assert_eq(run.errors_length, 0, "stderr: %s", run.errors);
    for (const struct vt_option *option = vt_options; option->long_name; option++) {
        char long_form[96];
        snprintf(long_form, sizeof long_form, "--%s", option->long_name);
        assert_contains(run.output, long_form);
        assert_contains(run.output, option->env_name);
        assert_contains(run.output, option->default_text);
        if (option->short_name) {
            char short_form[8];
            snprintf(short_form, sizeof short_form, "-%c, ", option->short_name);
            assert_contains(run.output, short_form);
        }
    }
    assert_contains(run.output, "VRAMTRACE_LIBRARY");
    assert_contains(run.output, "LD_PRELOAD=/");
    assert_contains(run.output, "Examples:");
    free_captured_run(&run);
}

Test(cli_usage, help_run_equals_run_help)
{
    struct captured_run direct = run_cli(ARGS("run", "--help"), CLI_NO_ENV, NULL);
    struct captured_run via_help = run_cli(ARGS("help", "run"), CLI_NO_ENV, NULL);
    struct captured_run short_form = run_cli(ARGS("run", "-h"), CLI_NO_ENV, NULL);
    assert_exit_code(&via_help, 0);
    cr_assert_str_eq(via_help.output, direct.output);
    cr_assert_str_eq(short_form.output, direct.output);
    free_captured_run(&direct);
    free_captured_run(&via_help);
    free_captured_run(&short_form);
}

static void assert_usage_error(const char *const *args, const char *const *edits, const char *message)
{
    struct captured_run run = run_cli(args, edits, NULL);
    assert_exit_code(&run, 2);
    cr_assert_eq(run.output_length, 0, "nothing on stdout expected, got: %s", run.output);
    assert_contains(run.errors, message);
    free_captured_run(&run);
}

Test(cli_usage, unknown_option)
{
    assert_usage_error(ARGS("run", "--foo", "--", "true"), CLI_NO_ENV, "vramtrace run: unknown option '--foo'\n");
    assert_usage_error(ARGS("run", "--foo", "--", "true"), CLI_NO_ENV, "Try 'vramtrace run --help'.");
    assert_usage_error(ARGS("run", "--foo=bar", "true"), CLI_NO_ENV, "unknown option '--foo'");
    assert_usage_error(ARGS("run", "-x", "true"), CLI_NO_ENV, "unknown option '-x'");
    assert_usage_error(ARGS("run", "-qx", "true"), CLI_NO_ENV, "unknown option '-x'");
}

Test(cli_usage, malformed_size_names_the_option_and_the_accepted_forms)
{
    const char *const bad_sizes[] = {"--simulate=12Q", "--simulate=", "--simulate=-1G", "--simulate=1.5.5G", "--simulate=0"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        struct captured_run run = run_cli(ARGS("run", bad_sizes[i], "true"), CLI_NO_ENV, NULL);
        assert_exit_code(&run, 2);
        assert_contains(run.errors, "--simulate");
        assert_contains(run.errors, "VRAMTRACE_SIMULATE");
        assert_contains(run.errors, "K, M, G or T");
        free_captured_run(&run);
    }
    assert_usage_error(ARGS("run", "--simulate=12Q", "true"), CLI_NO_ENV, "'12Q'");
}

Test(cli_usage, malformed_count_and_flag_name_the_option)
{
    assert_usage_error(ARGS("run", "--top=abc", "true"), CLI_NO_ENV, "bad value for --top: VRAMTRACE_TOP='abc'");
    assert_usage_error(ARGS("run", "--top", "0", "true"), CLI_NO_ENV, "VRAMTRACE_TOP='0'");
    assert_usage_error(ARGS("run", "--stack-depth", "129", "true"), CLI_NO_ENV, "from 0 to 128");
    assert_usage_error(ARGS("run", "--simulate-devices=99", "true"), CLI_NO_ENV, "VRAMTRACE_SIMULATE_DEVICES");
    assert_usage_error(ARGS("run", "--quiet=maybe", "true"), CLI_NO_ENV, "VRAMTRACE_QUIET='maybe'");
    assert_usage_error(ARGS("run", "--report=", "true"), CLI_NO_ENV, "VRAMTRACE_REPORT is empty");
}

Test(cli_usage, invalid_setting_in_the_environment)
{
    assert_usage_error(ARGS("run", "true"), ((const char *const[]){"VRAMTRACE_TOP=lots", NULL}),
                       "VRAMTRACE_TOP='lots'");
    assert_usage_error(ARGS("run", "true"), ((const char *const[]){"VRAMTRACE_SIMULATE=12Q", NULL}),
                       "VRAMTRACE_SIMULATE='12Q'");
}

/* Issue 9, point 10: a dump signal that is not safe to take over (a crash, terminate, kill or stop
 * signal...) is refused by name, with the variable and the accepted values. */
Test(cli_usage, unsafe_dump_signal_is_refused_by_name)
{
    assert_usage_error(ARGS("run", "--dump-signal", "SEGV", "true"), CLI_NO_ENV,
                       "bad value for --dump-signal: VRAMTRACE_DUMP_SIGNAL='SEGV' is SIGSEGV, which cannot be the dump "
                       "signal");
    assert_usage_error(ARGS("run", "--dump-signal", "SEGV", "true"), CLI_NO_ENV,
                       "accepted: USR1, USR2 or a real-time signal RTMIN to RTMIN+");
    assert_usage_error(ARGS("run", "--dump-signal=11", "true"), CLI_NO_ENV, "VRAMTRACE_DUMP_SIGNAL='11' is SIGSEGV");
    assert_usage_error(ARGS("run", "--dump-signal=TERM", "true"), CLI_NO_ENV, "'TERM' is SIGTERM");
    assert_usage_error(ARGS("run", "--dump-signal=9", "true"), CLI_NO_ENV, "'9' is SIGKILL");
    assert_usage_error(ARGS("run", "--dump-signal=19", "true"), CLI_NO_ENV, "'19' is SIGSTOP");
    assert_usage_error(ARGS("run", "--dump-signal=SIGINT", "true"), CLI_NO_ENV, "'SIGINT' is SIGINT");
    assert_usage_error(ARGS("run", "true"), ((const char *const[]){"VRAMTRACE_DUMP_SIGNAL=TERM", NULL}),
                       "VRAMTRACE_DUMP_SIGNAL='TERM' is SIGTERM");
    assert_usage_error(ARGS("run", "--dump-signal=nonsense", "true"), CLI_NO_ENV,
                       "VRAMTRACE_DUMP_SIGNAL='nonsense' is not a signal");
    const char *const accepted[] = {"USR1", "SIGUSR2", "RTMIN", "SIGRTMIN+7", "RTMIN+3", "RTMAX", "SIGRTMAX-2", "40"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        char option[64];
        snprintf(option, sizeof option, "--dump-signal=%s", accepted[i]);
        struct captured_run run = run_cli(ARGS("run", "--simulate", "--output=none", "--report=none", option, "true"),
                                          CLI_NO_ENV, NULL);
        assert_exit_code(&run, 0);
        free_captured_run(&run);
    }
}

Test(cli_usage, option_missing_its_value)
{
    assert_usage_error(ARGS("run", "--report"), CLI_NO_ENV, "option '--report' needs a value (PATH)");
    assert_usage_error(ARGS("run", "--top"), CLI_NO_ENV, "needs a value");
}

Test(cli_usage, missing_program)
{
    assert_usage_error(ARGS("run"), CLI_NO_ENV, "no program to run");
    assert_usage_error(ARGS("run", "--"), CLI_NO_ENV, "no program to run");
    assert_usage_error(ARGS("run", "-q", "--top", "3"), CLI_NO_ENV, "no program to run");
}

Test(cli_usage, missing_library)
{
    assert_usage_error(ARGS("run", "true"),
                       ((const char *const[]){"VRAMTRACE_LIBRARY=/nonexistent/libvramtrace.so", NULL}),
                       "VRAMTRACE_LIBRARY='/nonexistent/libvramtrace.so': No such file or directory");
}

Test(cli_usage, options_after_the_program_belong_to_the_program)
{
    struct captured_run run = run_cli(ARGS("run", "/bin/sh", "-c", "printf '%s|' \"$@\"", "sh", "--top", "-q", "--"),
                                      CLI_NO_ENV, NULL);
    assert_exit_code(&run, 0);
    cr_assert_str_eq(run.output, "--top|-q|--|");
    free_captured_run(&run);
}

Test(cli_usage, program_not_found_exits_127)
{
    struct captured_run run = run_cli(ARGS("run", "--", "vt-no-such-program-anywhere"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 127);
    assert_contains(run.errors, "vramtrace run: cannot run 'vt-no-such-program-anywhere': No such file or directory");
    free_captured_run(&run);

    run = run_cli(ARGS("run", "/nonexistent/dir/program"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 127);
    free_captured_run(&run);
}

Test(cli_usage, program_not_executable_exits_126)
{
    struct captured_run run = run_cli(ARGS("run", "/etc/passwd"), CLI_NO_ENV, NULL);
    assert_exit_code(&run, 126);
    assert_contains(run.errors, "cannot run '/etc/passwd': Permission denied");
    free_captured_run(&run);
}
