/* Integration test of the trace's module map: frames of a program linked without PIE (load address
 * 0, as python3 is on many distributions) are symbolized offline. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "traced_run.h"

Test(trace_modules, executable_without_pie_is_in_the_module_map)
{
    char *directory = make_temp_directory();
    const char *options[] = {"-o", "t.trace", "--report=none", "-q", NULL};
    struct process_result run = traced_run(options, VT_PROGRAMS_DIR "/not_pie", NULL, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    const char *flame_argv[] = {VT_CLI_PATH, "flame", "t.trace", NULL};
    struct process_result flame = run_process(flame_argv, NULL, directory);
    cr_assert_eq(flame.exit_code, 0, "%s", flame.err);
    cr_assert(strstr(flame.out, ";main;grab_weights;cudaMalloc 1048576\n"), "%s", flame.out);
    process_result_free(&flame);
    process_result_free(&run);
}
