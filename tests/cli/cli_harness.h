/* tests/cli/cli_harness.h — helpers shared by the CLI tests: run `vramtrace` (or any program)
 * with a controlled environment and capture its exit status, stdout and stderr, or spawn it in
 * its own process group for signal tests.
 *
 * Every run starts from the test's environment minus LD_PRELOAD, LD_LIBRARY_PATH and all
 * VRAMTRACE_* variables, plus VRAMTRACE_LIBRARY pointing at libc (a library that is harmless to
 * preload, so these tests exercise the CLI and not the shim), then applies the test's edits:
 * "NAME=VALUE" sets, "NAME" unsets.
 *
 * Compile-time paths (string literals, set by tests/meson.build): VT_CLI_PATH, VT_SHIM_PATH,
 * VT_SIM_DIR, VT_PROGRAMS_DIR.
 */
#ifndef VT_TESTS_CLI_HARNESS_H
#define VT_TESTS_CLI_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef VT_CLI_PATH
#error "VT_CLI_PATH (absolute path of the vramtrace executable) must be defined"
#endif
#ifndef VT_SHIM_PATH
#define VT_SHIM_PATH ""
#endif
#ifndef VT_SIM_DIR
#define VT_SIM_DIR ""
#endif
#ifndef VT_PROGRAMS_DIR
#define VT_PROGRAMS_DIR ""
#endif

#define CLI_NO_ENV ((const char *const[]){NULL})

struct captured_run {
    int status; /* as from waitpid */
    char *output;
    size_t output_length;
    char *errors;
    size_t errors_length;
};

/* Absolute, symlink-free path of the libc the tests run with. */
static inline const char *harmless_library(void)
{
    static char path[PATH_MAX];
    if (!path[0]) {
        Dl_info info;
        cr_assert(dladdr((void *)printf, &info) && info.dli_fname, "cannot locate libc");
        cr_assert(realpath(info.dli_fname, path), "cannot resolve %s", info.dli_fname);
    }
    return path;
}

/* Absolute path of another harmless library (libm), for "LD_PRELOAD was already set". */
static inline const char *second_harmless_library(void)
{
    static char path[PATH_MAX];
    if (!path[0]) {
        void *handle = dlopen("libm.so.6", RTLD_NOW);
        cr_assert(handle, "cannot load libm.so.6: %s", dlerror());
        void *symbol = dlsym(handle, "cos");
        Dl_info info;
        cr_assert(symbol && dladdr(symbol, &info) && info.dli_fname, "cannot locate libm");
        cr_assert(realpath(info.dli_fname, path), "cannot resolve %s", info.dli_fname);
    }
    return path;
}

static inline bool file_exists(const char *path)
{
    return path && *path && access(path, F_OK) == 0;
}

/* In a freshly forked child: the environment described above, default signal handling. */
static inline void prepare_child_environment(const char *const *edits)
{
    for (int signal_number = 1; signal_number < NSIG; signal_number++)
        signal(signal_number, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    unsetenv("LD_PRELOAD");
    unsetenv("LD_LIBRARY_PATH");
    extern char **environ;
    for (bool removed = true; removed;) {
        removed = false;
        for (char **entry = environ; *entry; entry++) {
            if (strncmp(*entry, "VRAMTRACE_", 10) == 0) {
                char name[256];
                size_t length = strcspn(*entry, "=");
                snprintf(name, sizeof name, "%.*s", (int)length, *entry);
                unsetenv(name);
                removed = true;
                break;
            }
        }
    }
    setenv("VRAMTRACE_LIBRARY", harmless_library(), 1);
    for (; edits && *edits; edits++) {
        const char *equals = strchr(*edits, '=');
        if (!equals) {
            unsetenv(*edits);
            continue;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(equals - *edits), *edits);
        setenv(name, equals + 1, 1);
    }
}

static inline void append_bytes(char **buffer, size_t *length, size_t *capacity, const char *data, size_t size)
{
    if (*length + size + 1 > *capacity) {
        *capacity = (*length + size + 1) * 2;
        *buffer = realloc(*buffer, *capacity);
        cr_assert(*buffer);
    }
    memcpy(*buffer + *length, data, size);
    *length += size;
    (*buffer)[*length] = '\0';
}

/* Runs argv (argv[0] a path) to completion with the environment edits and `input` on stdin
 * (NULL: /dev/null). Output buffers are NUL-terminated; free with free_captured_run. */
static inline struct captured_run run_captured(const char *const *argv, const char *const *edits, const char *input)
{
    harmless_library(); /* resolved here: the forked child must not fail an assertion */
    int output_pipe[2], errors_pipe[2], input_pipe[2];
    cr_assert(pipe(output_pipe) == 0 && pipe(errors_pipe) == 0 && pipe(input_pipe) == 0);
    pid_t child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        prepare_child_environment(edits);
        dup2(input_pipe[0], 0);
        dup2(output_pipe[1], 1);
        dup2(errors_pipe[1], 2);
        closefrom(3);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "test harness: cannot exec %s: %s\n", argv[0], strerror(errno));
        _exit(99);
    }
    close(output_pipe[1]);
    close(errors_pipe[1]);
    close(input_pipe[0]);
    if (input) {
        size_t size = strlen(input);
        cr_assert(size < 60000, "input must fit in the pipe");
        cr_assert(write(input_pipe[1], input, size) == (ssize_t)size);
    }
    close(input_pipe[1]);

    struct captured_run run = {0};
    size_t output_capacity = 0, errors_capacity = 0;
    append_bytes(&run.output, &run.output_length, &output_capacity, "", 0);
    append_bytes(&run.errors, &run.errors_length, &errors_capacity, "", 0);
    struct pollfd fds[2] = {{output_pipe[0], POLLIN, 0}, {errors_pipe[0], POLLIN, 0}};
    int open_count = 2;
    while (open_count > 0) {
        if (poll(fds, 2, -1) < 0) {
            cr_assert(errno == EINTR);
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            char chunk[8192];
            ssize_t got = read(fds[i].fd, chunk, sizeof chunk);
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_count--;
            } else if (i == 0) {
                append_bytes(&run.output, &run.output_length, &output_capacity, chunk, (size_t)got);
            } else {
                append_bytes(&run.errors, &run.errors_length, &errors_capacity, chunk, (size_t)got);
            }
        }
    }
    while (waitpid(child, &run.status, 0) < 0)
        cr_assert(errno == EINTR);
    return run;
}

/* Runs `vramtrace ARGS...`; args is NULL-terminated. */
static inline struct captured_run run_cli(const char *const *args, const char *const *edits, const char *input)
{
    const char *argv[64] = {VT_CLI_PATH};
    size_t count = 1;
    for (; args[count - 1]; count++) {
        cr_assert(count < 63);
        argv[count] = args[count - 1];
    }
    argv[count] = NULL;
    return run_captured(argv, edits, input);
}

static inline void free_captured_run(struct captured_run *run)
{
    free(run->output);
    free(run->errors);
}

static inline void assert_exit_code(const struct captured_run *run, int code)
{
    cr_assert(WIFEXITED(run->status), "expected exit %d, got status 0x%x; stderr:\n%s", code, run->status, run->errors);
    cr_assert_eq(WEXITSTATUS(run->status), code, "expected exit %d, got %d; stderr:\n%s", code,
                 WEXITSTATUS(run->status), run->errors);
}

static inline void assert_killed_by(int status, int signal_number)
{
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == signal_number,
              "expected death by signal %d (%s), got status 0x%x", signal_number, strsignal(signal_number), status);
}

static inline void assert_contains(const char *text, const char *expected)
{
    cr_assert(strstr(text, expected), "expected to find \"%s\" in:\n%s", expected, text);
}

/* ---- spawned runs, for signal tests ---- */

/* Starts `vramtrace ARGS...` in a new process group (not orphaned, so job-control stops work
 * even when the test runner is a session leader). *output_fd gets its stdout. */
static inline pid_t spawn_cli(const char *const *args, const char *const *edits, int *output_fd)
{
    harmless_library();
    int output_pipe[2];
    cr_assert(pipe(output_pipe) == 0);
    pid_t child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        setpgid(0, 0);
        prepare_child_environment(edits);
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, 0);
        dup2(output_pipe[1], 1);
        closefrom(3);
        const char *argv[64] = {VT_CLI_PATH};
        size_t count = 1;
        for (; args[count - 1] && count < 63; count++)
            argv[count] = args[count - 1];
        argv[count] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(99);
    }
    setpgid(child, child); /* also from here, so it holds before we signal */
    close(output_pipe[1]);
    if (output_fd)
        *output_fd = output_pipe[0];
    else
        close(output_pipe[0]);
    return child;
}

static inline double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static inline void sleep_briefly(void)
{
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

/* Reads /proc/PID/stat: state letter and parent pid. False when the process is gone. */
static inline bool process_state(pid_t pid, char *state, pid_t *parent)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return false;
    size_t size = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[size] = '\0';
    const char *after_name = strrchr(text, ')');
    int parent_pid;
    if (!after_name || sscanf(after_name + 1, " %c %d", state, &parent_pid) != 2)
        return false;
    if (parent)
        *parent = parent_pid;
    return true;
}

static inline bool process_ended(pid_t pid)
{
    char state;
    return !process_state(pid, &state, NULL) || state == 'Z' || state == 'X';
}

/* Waits (up to `seconds`) for a child of `parent` that runs `command` (after exec). */
static inline pid_t wait_for_child_running(pid_t parent, const char *command, double seconds)
{
    double deadline = seconds_now() + seconds;
    while (seconds_now() < deadline) {
        DIR *proc = opendir("/proc");
        cr_assert(proc);
        for (struct dirent *entry; (entry = readdir(proc));) {
            if (!isdigit((unsigned char)entry->d_name[0]))
                continue;
            pid_t pid = (pid_t)atoi(entry->d_name), its_parent;
            char state, path[64], name[64] = "";
            if (!process_state(pid, &state, &its_parent) || its_parent != parent)
                continue;
            snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
            FILE *file = fopen(path, "r");
            if (file) {
                if (!fgets(name, sizeof name, file))
                    name[0] = '\0';
                fclose(file);
            }
            name[strcspn(name, "\n")] = '\0';
            if (strcmp(name, command) == 0) {
                closedir(proc);
                return pid;
            }
        }
        closedir(proc);
        sleep_briefly();
    }
    cr_assert_fail("no child '%s' of process %d appeared within %.1f s", command, (int)parent, seconds);
    return -1;
}

/* waitpid with a deadline; fails the test (after killing the group) on timeout. */
static inline int wait_with_deadline(pid_t pid, int options, double seconds)
{
    double deadline = seconds_now() + seconds;
    int status;
    for (;;) {
        pid_t done = waitpid(pid, &status, options | WNOHANG);
        if (done == pid)
            return status;
        cr_assert(done == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
        if (seconds_now() > deadline) {
            kill(-pid, SIGKILL);
            cr_assert_fail("process %d did not %s within %.1f s", (int)pid,
                           options & WUNTRACED ? "stop or end" : "end", seconds);
        }
        sleep_briefly();
    }
}

/* Waits until `pid` is gone or a zombie. */
static inline bool wait_process_ended(pid_t pid, double seconds)
{
    double deadline = seconds_now() + seconds;
    while (seconds_now() < deadline) {
        if (process_ended(pid))
            return true;
        sleep_briefly();
    }
    return false;
}

/* Reads from fd until `marker` has been seen (or the deadline passes). */
static inline bool read_until(int fd, const char *marker, double seconds)
{
    char seen[4096] = "";
    size_t length = 0;
    double deadline = seconds_now() + seconds;
    while (seconds_now() < deadline && !strstr(seen, marker)) {
        struct pollfd ready = {fd, POLLIN, 0};
        if (poll(&ready, 1, 20) <= 0)
            continue;
        ssize_t got = read(fd, seen + length, sizeof seen - 1 - length);
        if (got <= 0)
            break;
        length += (size_t)got;
        seen[length] = '\0';
    }
    return strstr(seen, marker) != NULL;
}

#endif
