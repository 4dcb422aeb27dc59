/* tests/support/traced_run.c — see traced_run.h. */
#define _GNU_SOURCE
#include "traced_run.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t list_length(const char *const list[])
{
    size_t length = 0;
    while (list && list[length])
        length++;
    return length;
}

struct process_result traced_run(const char *const options[], const char *program, const char *const arguments[],
                                 const char *const environment_changes[], const char *directory)
{
    const char *argv[64];
    size_t count = 0;
    argv[count++] = VT_CLI_PATH;
    argv[count++] = "run";
    argv[count++] = "--simulate";
    argv[count++] = "--output=none"; /* tests that want a trace say -o PATH, which comes later and wins */
    for (size_t i = 0; i < list_length(options); i++)
        argv[count++] = options[i];
    argv[count++] = "--";
    argv[count++] = program;
    for (size_t i = 0; i < list_length(arguments); i++)
        argv[count++] = arguments[i];
    argv[count] = NULL;
    cr_assert_lt(count, sizeof argv / sizeof argv[0]);
    return run_process(argv, environment_changes, directory);
}

struct process_result untraced_run(const char *program, const char *const arguments[])
{
    const char *argv[32] = {program};
    size_t count = 1;
    for (size_t i = 0; i < list_length(arguments); i++)
        argv[count++] = arguments[i];
    const char *environment[] = {"LD_LIBRARY_PATH=" VT_SIM_DIR, "LD_PRELOAD", NULL};
    return run_process(argv, environment, NULL);
}

uint64_t number_after(const char *text, const char *prefix)
{
    const char *at = text ? strstr(text, prefix) : NULL;
    cr_assert_not_null(at, "'%s' not found in:\n%s", prefix, text ? text : "(null)");
    return strtoull(at + strlen(prefix), NULL, 10);
}

uint64_t api_call_count(const char *report, const char *name)
{
    const char *line = strstr(report, "Calls by API:");
    cr_assert_not_null(line, "no 'Calls by API:' line in:\n%s", report);
    const char *end = strchr(line, '\n');
    char needle[128];
    snprintf(needle, sizeof needle, " %s=", name);
    const char *at = strstr(line, needle);
    if (!at || (end && at > end))
        return 0;
    return strtoull(at + strlen(needle), NULL, 10);
}

int source_site_line(const char *path, const char *name)
{
    char marker[256], line[1024];
    snprintf(marker, sizeof marker, "# site: %s\n", name);
    FILE *source = fopen(path, "r");
    cr_assert_not_null(source, "%s", path);
    for (int number = 1; fgets(line, sizeof line, source); number++) {
        size_t length = strlen(line), marker_length = strlen(marker);
        if (length >= marker_length && strcmp(line + length - marker_length, marker) == 0) {
            fclose(source);
            return number;
        }
    }
    fclose(source);
    cr_assert_fail("no '# site: %s' in %s", name, path);
    return 0;
}
