/* What every analysis command (timeline, flame, diff, top, dump, html) does with its command line and
 * with traces it cannot fully read: --help, usage errors (exit 2, with the way to --help),
 * unreadable files (exit 1 with the reader's message), a trace cut short (the reader's warning,
 * then what precedes the cut), and a --device the trace does not have. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command_helpers.h"

static const char *const trace_commands[] = {"timeline", "flame", "diff", "top", "html"};
#define TRACE_COMMAND_COUNT (sizeof trace_commands / sizeof trace_commands[0])

/* `vramtrace COMMAND ARG1 ARG2 [--to 1s for diff, --once for top]` */
static struct process_result run_on(const char *command, const char *first, const char *second)
{
    const char *args[8] = {command};
    size_t count = 1;
    if (first)
        args[count++] = first;
    if (second)
        args[count++] = second;
    if (strcmp(command, "diff") == 0) {
        args[count++] = "--to";
        args[count++] = "1s";
    } else if (strcmp(command, "top") == 0) {
        args[count++] = "--once";
    }
    return run_cli(args);
}

Test(command_errors, help_and_usage_errors)
{
    const char *all[] = {"timeline", "flame", "diff", "top", "dump", "html"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char usage[64], try_help[96];
        snprintf(usage, sizeof usage, "Usage: vramtrace %s ", all[i]);
        snprintf(try_help, sizeof try_help, "Try 'vramtrace %s --help'.\n", all[i]);
        const char *help[] = {all[i], "--help", NULL};
        struct process_result shown = run_cli(help);
        cr_assert_eq(shown.exit_code, 0);
        cr_assert_eq(strncmp(shown.out, usage, strlen(usage)), 0, "%s", shown.out);
        cr_assert(strstr(shown.out, "Exit status:"), "%s", shown.out);
        process_result_free(&shown);

        const char *help_command[] = {"help", all[i], NULL};
        struct process_result via_help = run_cli(help_command);
        cr_assert_eq(via_help.exit_code, 0);
        cr_assert_eq(strncmp(via_help.out, usage, strlen(usage)), 0);
        process_result_free(&via_help);

        const char *unknown[] = {all[i], "--frobnicate", NULL};
        struct process_result bad = run_cli(unknown);
        cr_assert_eq(bad.exit_code, 2);
        cr_assert(strstr(bad.err, "unknown option '--frobnicate'") && strstr(bad.err, try_help), "%s", bad.err);
        process_result_free(&bad);

        const char *nothing[] = {all[i], NULL};
        struct process_result missing = run_cli(nothing);
        cr_assert_eq(missing.exit_code, 2, "%s", all[i]);
        cr_assert(strstr(missing.err, try_help), "%s", missing.err);
        process_result_free(&missing);
    }
    const char *listed[] = {"--help", NULL};
    struct process_result overview = run_cli(listed);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char entry[32];
        snprintf(entry, sizeof entry, "\n  %s ", all[i]);
        cr_assert(strstr(overview.out, entry), "'vramtrace --help' lists %s:\n%s", all[i], overview.out);
    }
    process_result_free(&overview);

    const char *needs_value[] = {"timeline", "trace", "--interval", NULL};
    struct process_result no_value = run_cli(needs_value);
    cr_assert_eq(no_value.exit_code, 2);
    cr_assert(strstr(no_value.err, "option '--interval' needs a value"), "%s", no_value.err);
    process_result_free(&no_value);
    const char *bad_device[] = {"flame", "trace", "--device", "64", NULL};
    struct process_result device = run_cli(bad_device);
    cr_assert_eq(device.exit_code, 2);
    cr_assert(strstr(device.err, "--device '64' is not valid"), "%s", device.err);
    process_result_free(&device);
}

Test(command_errors, unreadable_files_exit_1_with_the_readers_message)
{
    char *directory = make_temp_directory();
    char missing[600], not_a_trace[600];
    snprintf(missing, sizeof missing, "%s/missing.trace", directory);
    snprintf(not_a_trace, sizeof not_a_trace, "%s/text.trace", directory);
    FILE *file = fopen(not_a_trace, "w");
    fputs("not a trace at all\n", file);
    fclose(file);
    for (size_t i = 0; i < TRACE_COMMAND_COUNT; i++) {
        struct process_result absent = run_on(trace_commands[i], missing, NULL);
        cr_assert_eq(absent.exit_code, 1, "%s: %s", trace_commands[i], absent.err);
        char expected[700];
        snprintf(expected, sizeof expected, "vramtrace %s: cannot open %s: No such file or directory\n",
                 trace_commands[i], missing);
        cr_assert_str_eq(absent.err, expected);
        cr_assert_str_eq(absent.out, "");
        process_result_free(&absent);

        struct process_result text = run_on(trace_commands[i], not_a_trace, NULL);
        cr_assert_eq(text.exit_code, 1, "%s", trace_commands[i]);
        cr_assert(strstr(text.err, "is not a vramtrace trace"), "%s", text.err);
        process_result_free(&text);
    }
    free(directory);
}

Test(command_errors, a_trace_cut_short_is_read_up_to_the_cut_with_a_warning)
{
    char *trace = make_trace(VT_PROGRAMS_DIR "/hold_and_wait", (const char *const[]){"0", NULL}, NULL, "held", NULL);
    cr_assert_eq(truncate(trace, 40), 0, "cut inside the first chunk's header");
    for (size_t i = 0; i < TRACE_COMMAND_COUNT; i++) {
        struct process_result run = run_on(trace_commands[i], trace, NULL);
        cr_assert_eq(run.exit_code, 0, "%s: %s", trace_commands[i], run.err);
        cr_assert(strstr(run.err, "vramtrace: warning: ") && strstr(run.err, "incomplete chunk"), "%s: %s",
                  trace_commands[i], run.err);
        process_result_free(&run);
    }
    free(trace);
}

Test(command_errors, a_device_the_trace_does_not_have_is_a_usage_error)
{
    char *trace = make_trace(VT_PROGRAMS_DIR "/hold_and_wait", (const char *const[]){"0", NULL}, NULL, "held", NULL);
    for (size_t i = 0; i < TRACE_COMMAND_COUNT; i++) {
        struct process_result run = run_on(trace_commands[i], "--device=5", trace);
        cr_assert_eq(run.exit_code, 2, "%s: %s", trace_commands[i], run.err);
        cr_assert(strstr(run.err, "--device 5: the trace ") && strstr(run.err, "has no such device"), "%s", run.err);
        process_result_free(&run);
    }
    free(trace);
}
