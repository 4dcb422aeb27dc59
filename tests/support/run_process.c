/* tests/support/run_process.c — see run_process.h. */
#define _GNU_SOURCE
#include "run_process.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *read_file_text(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    char *text = NULL;
    size_t length = 0;
    FILE *copy = open_memstream(&text, &length);
    char buffer[65536];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, file)) > 0)
        fwrite(buffer, 1, got, copy);
    fclose(file);
    fclose(copy);
    return text;
}

static void apply_environment_changes(const char *const changes[])
{
    for (size_t i = 0; changes && changes[i]; i++) {
        const char *equals = strchr(changes[i], '=');
        if (!equals) {
            unsetenv(changes[i]);
            continue;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(equals - changes[i]), changes[i]);
        setenv(name, equals + 1, 1);
    }
}

struct process_result run_process(const char *const argv[], const char *const environment_changes[],
                                  const char *directory)
{
    char out_path[] = "/tmp/vt-test-out-XXXXXX", err_path[] = "/tmp/vt-test-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    cr_assert(out_fd >= 0 && err_fd >= 0, "mkstemp: %s", strerror(errno));
    fflush(NULL);
    pid_t child = fork();
    cr_assert(child >= 0, "fork: %s", strerror(errno));
    if (child == 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, STDIN_FILENO);
        apply_environment_changes(environment_changes);
        if (directory && chdir(directory) != 0)
            _exit(125);
        execvp(argv[0], (char *const *)argv);
        dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(child, &status, 0) < 0)
        cr_assert(errno == EINTR, "waitpid: %s", strerror(errno));
    struct process_result result = {
        .out = read_file_text(out_path),
        .err = read_file_text(err_path),
        .signaled = WIFSIGNALED(status),
        .exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1,
        .signal_number = WIFSIGNALED(status) ? WTERMSIG(status) : 0,
    };
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
    return result;
}

void process_result_free(struct process_result *result)
{
    free(result->out);
    free(result->err);
    result->out = result->err = NULL;
}

size_t count_occurrences(const char *haystack, const char *needle)
{
    size_t count = 0, needle_length = strlen(needle);
    for (const char *at = haystack; needle_length && (at = strstr(at, needle)); at += needle_length)
        count++;
    return count;
}

char *make_temp_directory(void)
{
    char *path = strdup("/tmp/vt-test-dir-XXXXXX");
    cr_assert(path && mkdtemp(path), "mkdtemp failed");
    return path;
}
