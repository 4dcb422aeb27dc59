/* tests/support/run_process.h — runs a program for an integration test and captures what it did:
 * stdout, stderr (as strings) and how it ended. */
#ifndef VT_TESTS_RUN_PROCESS_H
#define VT_TESTS_RUN_PROCESS_H

#include <stdbool.h>
#include <stddef.h>

struct process_result {
    char *out;          /* everything written to stdout, NUL-terminated */
    char *err;          /* everything written to stderr */
    int exit_code;      /* valid when !signaled */
    bool signaled;
    int signal_number;  /* valid when signaled */
};

/* Runs argv (argv[0] searched in PATH) with `environment_changes` ("NAME=value" to set, "NAME" to
 * unset; NULL-terminated, may be NULL) applied on top of this process's environment, in
 * `directory` (NULL = current). Waits for it. Aborts the test on failure to start. */
struct process_result run_process(const char *const argv[], const char *const environment_changes[],
                                  const char *directory);

void process_result_free(struct process_result *result);

/* Reads a whole file into a NUL-terminated string (NULL if unreadable). */
char *read_file_text(const char *path);

/* Number of non-overlapping occurrences of `needle` in `haystack`. */
size_t count_occurrences(const char *haystack, const char *needle);

/* A fresh empty directory under /tmp for one test (mkdtemp). */
char *make_temp_directory(void);

#endif
