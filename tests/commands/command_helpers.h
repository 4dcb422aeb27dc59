/* tests/commands/command_helpers.h — what the analysis command tests share: traces of the test
 * programs made with `vramtrace run --simulate -o`, running `vramtrace COMMAND ...`, a traced
 * program left running in the background, and numbers out of the exit report. */
#ifndef VT_TESTS_COMMAND_HELPERS_H
#define VT_TESTS_COMMAND_HELPERS_H

#include <stdint.h>
#include <sys/types.h>

#include "traced_run.h"

/* Runs PROGRAM (arguments NULL-terminated, may be NULL) under `vramtrace run --simulate [option]
 * -o DIR/NAME.trace` in a fresh directory (option may be NULL, e.g. "--simulate=1G"); fails the
 * test unless it exits 0. Returns the trace's path (free it); its exit report is in *report when
 * report is not NULL (free it). */
char *make_trace(const char *program, const char *const arguments[], const char *option, const char *name,
                 char **report);

/* `vramtrace ARGS...` (NULL-terminated), waited for. */
struct process_result run_cli(const char *const args[]);

/* Starts `command` (shell words) in the background in `directory`, its stdout and stderr in
 * DIRECTORY/stdout.txt and stderr.txt; returns its pid (the shell execs it) once it printed
 * `ready_text`. */
pid_t start_in_background(const char *directory, const char *command, const char *ready_text);
/* The same under the shim: LD_PRELOAD, the simulated device, VRAMTRACE_QUIET=1 plus the
 * "NAME=value" settings in `environment` (may be NULL). */
pid_t start_traced_in_background(const char *directory, const char *command, const char *const environment[],
                                 const char *ready_text);
/* `hold_and_wait SECONDS` (3 x 1 MiB held, then one freed) under the shim in a fresh directory,
 * tracing to DIRECTORY/held.trace; returns its pid once it holds. Free *directory and *trace. */
pid_t start_hold_and_wait(const char *seconds, char **directory, char **trace);
/* Waits for a background program; fails the test unless it exits 0. */
void wait_for_success(pid_t pid);

/* The peak of device 0 in an exit report ("Peak memory in use:\n  device 0: N byte(s)"). */
uint64_t report_device0_peak(const char *report);

/* The line of `text` that contains `needle` (without its newline; free it), or NULL. */
char *line_containing(const char *text, const char *needle);

/* Whether `text` ends with `suffix`. */
int ends_with(const char *text, const char *suffix);

#endif
