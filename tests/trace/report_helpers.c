/* tests/trace/report_helpers.c — see report_helpers.h. */
#define _GNU_SOURCE
#include "report_helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct process_result run_report(const char *const args[])
{
    const char *argv[32] = {VT_CLI_PATH, "report"};
    size_t count = 2;
    for (; args[count - 2]; count++) {
        cr_assert_lt(count, 31);
        argv[count] = args[count - 2];
    }
    argv[count] = NULL;
    return run_process(argv, NULL, NULL);
}

void json_values(const char *json_text, const char *const expressions[], size_t count, char *values[])
{
    char path[] = "/tmp/vt-report-json-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t length = strlen(json_text);
    cr_assert_eq(write(fd, json_text, length), (ssize_t)length);
    close(fd);
    const char *argv[40] = {"python3", "-c",
                            "import json, sys\n"
                            "d = json.load(open(sys.argv[1]))\n"
                            "print('\\x1e'.join(str(eval(e)) for e in sys.argv[2:]), end='')\n",
                            path};
    cr_assert_lt(count, 35);
    for (size_t i = 0; i < count; i++)
        argv[4 + i] = expressions[i];
    argv[4 + count] = NULL;
    struct process_result result = run_process(argv, NULL, NULL);
    unlink(path);
    cr_assert_eq(result.exit_code, 0, "python3 could not evaluate the expressions:\n%s\n%s", result.err, json_text);
    char *rest = result.out;
    for (size_t i = 0; i < count; i++) {
        size_t field = strcspn(rest, "\x1e");
        values[i] = strndup(rest, field);
        rest += field + (rest[field] ? 1 : 0);
    }
    process_result_free(&result);
}

char *json_value(const char *json_text, const char *expression)
{
    char *value;
    json_values(json_text, &expression, 1, &value);
    return value;
}

char *text_block(const char *text, const char *header)
{
    const char *start = strstr(text, header);
    cr_assert_not_null(start, "'%s' missing from:\n%s", header, text);
    const char *end = strstr(start, "\n\n");
    return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

char *line_starting(const char *text, const char *prefix)
{
    size_t length = strlen(prefix);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, prefix, length) == 0)
            return strndup(line, strcspn(line, "\n"));
    cr_assert_fail("no line starting with '%s' in:\n%s", prefix, text);
    return NULL;
}
