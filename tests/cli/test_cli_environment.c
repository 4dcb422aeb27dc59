/* tests/cli/test_cli_environment.c — what `vramtrace run` puts in the program's environment:
 * LD_PRELOAD (the library first, then any existing entries), LD_LIBRARY_PATH (the simulated
 * CUDA directory first with --simulate), and one VRAMTRACE_* variable per option given. */
#include "cli_harness.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define SHOW_ENVIRONMENT "echo \"$LD_PRELOAD|$LD_LIBRARY_PATH|$VRAMTRACE_SIMULATE\""

/* Runs `vramtrace run [options...] /bin/sh -c SCRIPT` and returns its stdout without the final
 * newline (caller frees). */
static char *program_sees(const char *const *options, const char *const *edits, const char *script)
{
    const char *args[32] = {"run"};
    size_t count = 1;
    for (; *options; options++)
        args[count++] = *options;
    args[count++] = "/bin/sh";
    args[count++] = "-c";
    args[count++] = script;
    args[count] = NULL;
    struct captured_run run = run_cli(args, edits, NULL);
    assert_exit_code(&run, 0);
    cr_assert_eq(run.errors_length, 0, "stderr: %s", run.errors);
    free(run.errors);
    run.output[strcspn(run.output, "\n")] = '\0';
    return run.output;
}

static void assert_program_sees(const char *const *options, const char *const *edits, const char *script,
                                const char *expected)
{
    char *seen = program_sees(options, edits, script);
    cr_assert_str_eq(seen, expected);
    free(seen);
}

static char *format(const char *template_text, const char *a, const char *b)
{
    char *text;
    cr_assert(asprintf(&text, template_text, a, b) >= 0);
    return text;
}

Test(cli_environment, preload_without_existing_entries)
{
    char *expected = format("%s||", harmless_library(), "");
    assert_program_sees(ARGS("--"), CLI_NO_ENV, SHOW_ENVIRONMENT, expected);
    assert_program_sees(ARGS("--"), ENV("LD_PRELOAD="), SHOW_ENVIRONMENT, expected);
    free(expected);
}

Test(cli_environment, preload_goes_before_existing_entries)
{
    char *existing = format("LD_PRELOAD=%s", second_harmless_library(), "");
    char *expected = format("%s:%s||", harmless_library(), second_harmless_library());
    assert_program_sees(ARGS("--"), ENV(existing), SHOW_ENVIRONMENT, expected);
    free(existing);
    free(expected);
}

Test(cli_environment, library_path_is_made_absolute)
{
    /* harmless_library() without its leading '/', relative to a working directory of "/". */
    char *relative = format("VRAMTRACE_LIBRARY=%s", harmless_library() + 1, "");
    const char *args[] = {"run", "/bin/sh", "-c", "echo \"$LD_PRELOAD\"", NULL};
    char cwd[PATH_MAX];
    cr_assert(getcwd(cwd, sizeof cwd));
    cr_assert(chdir("/") == 0);
    struct captured_run run = run_cli(args, ENV(relative), NULL);
    cr_assert(chdir(cwd) == 0);
    assert_exit_code(&run, 0);
    char *expected = format("%s\n", harmless_library(), "");
    cr_assert_str_eq(run.output, expected);
    free(expected);
    free(relative);
    free_captured_run(&run);
}

Test(cli_environment, no_simulation_leaves_library_path_alone)
{
    char *expected = format("%s|/opt/x:/opt/y|", harmless_library(), "");
    assert_program_sees(ARGS("--"), ENV("LD_LIBRARY_PATH=/opt/x:/opt/y"), SHOW_ENVIRONMENT, expected);
    free(expected);
}

Test(cli_environment, simulate_prepends_the_simulated_device)
{
    if (!file_exists(VT_SIM_DIR))
        cr_skip_test("VT_SIM_DIR not set or missing");
    char *expected = format("%s|%s|16G", harmless_library(), VT_SIM_DIR);
    assert_program_sees(ARGS("--simulate"), CLI_NO_ENV, SHOW_ENVIRONMENT, expected);
    free(expected);

    expected = format("%s|%s:/opt/x|512M", harmless_library(), VT_SIM_DIR);
    assert_program_sees(ARGS("--simulate=512M"), ENV("LD_LIBRARY_PATH=/opt/x"), SHOW_ENVIRONMENT, expected);
    free(expected);

    /* VRAMTRACE_SIMULATE from the environment means simulation too. */
    expected = format("%s|%s|1.5G", harmless_library(), VT_SIM_DIR);
    assert_program_sees(ARGS("--"), ENV("VRAMTRACE_SIMULATE=1.5G"), SHOW_ENVIRONMENT, expected);
    free(expected);
}

Test(cli_environment, options_become_variables)
{
    assert_program_sees(ARGS("-q", "--top", "3", "--stack-depth=0", "--report", "out.%p.txt"), CLI_NO_ENV,
                        "echo \"$VRAMTRACE_QUIET|$VRAMTRACE_TOP|$VRAMTRACE_STACK_DEPTH|$VRAMTRACE_REPORT\"",
                        "1|3|0|out.%p.txt");
    assert_program_sees(ARGS("--quiet=no", "--simulate-devices", "4"), CLI_NO_ENV,
                        "echo \"$VRAMTRACE_QUIET|$VRAMTRACE_SIMULATE_DEVICES\"", "no|4");
}

Test(cli_environment, command_line_overrides_environment)
{
    assert_program_sees(ARGS("--top=3"), ENV("VRAMTRACE_TOP=9", "VRAMTRACE_STACK_DEPTH=7"),
                        "echo \"$VRAMTRACE_TOP|$VRAMTRACE_STACK_DEPTH\"", "3|7");
}

/* Without VRAMTRACE_LIBRARY, a vramtrace in the build tree preloads the build tree's shim. */
Test(cli_environment, default_library_is_the_build_trees_shim)
{
    if (!file_exists(VT_SHIM_PATH))
        cr_skip_test("the shim is not built");
    char shim[PATH_MAX];
    cr_assert(realpath(VT_SHIM_PATH, shim));
    char *seen = program_sees(ARGS("--"), ENV("VRAMTRACE_LIBRARY", "VRAMTRACE_QUIET=1", "VRAMTRACE_REPORT=none"),
                              "echo \"$LD_PRELOAD\"");
    cr_assert_str_eq(seen, shim);
    free(seen);
}
