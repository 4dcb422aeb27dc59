/* tests/support/traced_run.h — runs a test program under `vramtrace run --simulate` and picks
 * numbers out of the exit report. Paths come from the build (VT_CLI_PATH, VT_SIM_DIR, ...). */
#ifndef VT_TESTS_TRACED_RUN_H
#define VT_TESTS_TRACED_RUN_H

#include <stdint.h>

#include "run_process.h"

/* `vramtrace run --simulate --output=none [options...] -- program [arguments...]`; both lists
 * NULL-terminated (an -o among the options turns the trace back on). */
struct process_result traced_run(const char *const options[], const char *program, const char *const arguments[],
                                 const char *const environment_changes[], const char *directory);

/* The program alone on the simulated device (no shim), for output comparisons. */
struct process_result untraced_run(const char *program, const char *const arguments[]);

/* The number after `prefix` in `text` (e.g. prefix "SUMMARY: vramtrace: "); aborts the test if absent. */
uint64_t number_after(const char *text, const char *prefix);

/* The number of the line of the source file at `path` that ends with "# site: NAME" (test
 * programs mark the lines reports must name); fails the test when there is none. */
int source_site_line(const char *path, const char *name);

/* The value of API `name` in the report's "Calls by API:" line (0 when not listed). */
uint64_t api_call_count(const char *report, const char *name);

#endif
