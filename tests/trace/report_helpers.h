/* tests/trace/report_helpers.h — running `vramtrace report` in the trace tests and reading its
 * output: text blocks, and values out of the JSON (through python3's json module, which also
 * proves the output is valid JSON). */
#ifndef VT_TESTS_REPORT_HELPERS_H
#define VT_TESTS_REPORT_HELPERS_H

#include "run_process.h"

/* `vramtrace report ARGS...` (NULL-terminated). */
struct process_result run_report(const char *const args[]);

/* The values of the Python expressions over the JSON document in `json_text` (bound to `d`), as
 * Python prints them: e.g. "d['summary']['bytes']" gives "5242880". One python3 run for all of
 * them; fails the test when the document is not valid JSON. Free each value. */
void json_values(const char *json_text, const char *const expressions[], size_t count, char *values[]);
/* The same for one expression. Free the result. */
char *json_value(const char *json_text, const char *expression);

/* The text from `header` to the blank line that ends its block; fails when absent. Free it. */
char *text_block(const char *text, const char *header);

/* The line of `text` that starts with `prefix` (without its newline); fails when absent. Free it. */
char *line_starting(const char *text, const char *prefix);

#endif
