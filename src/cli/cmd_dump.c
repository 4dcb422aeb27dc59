/* cli/cmd_dump.c — `vramtrace dump PID`: asks a running traced process for a live snapshot. Checks
 * that PID has libvramtrace.so loaded (or, for a `vramtrace run` supervisor, finds its traced
 * child), reads the process's own VRAMTRACE_* settings from /proc/PID/environ, checks that its
 * dump signal is caught, sends it, then waits for the snapshot file the shim writes
 * (<report base>.dump-N.txt, the path computed as the shim does: the templates expanded for that
 * process, relative to its working directory) and prints its path. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "commands.h"
#include "common/options.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COMMAND "dump"
#define WHO "vramtrace dump"
#define DEFAULT_WAIT "5"
#define POLL_NS 20000000u          /* 20 ms between looks at the directory */
#define STABLE_NS 300000000u       /* a snapshot whose size holds this long is taken as written */
#define SHIM_LIBRARY "libvramtrace.so"
#define MAX_DUMP_FILES 4096

enum dump_option { OPTION_WAIT, OPTION_PRINT };

static const struct vt_cli_option_spec dump_options[] = {
    {"--wait", 0, true, OPTION_WAIT},
    {"--print", 0, false, OPTION_PRINT},
    {NULL, 0, false, 0},
};

struct dump_settings {
    long pid;
    uint64_t wait_ns;
    bool print;
};

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace dump PID [--wait SECONDS] [--print]\n"
            "\n"
            "Asks the running traced process PID to write a live snapshot of the GPU memory it holds\n"
            "now (what the exit report would call leaks, plus peaks and calls so far) and prints the\n"
            "snapshot's path. The process goes on undisturbed; its trace gets a \"live dump\" marker.\n"
            "PID may be a 'vramtrace run' supervisor: its traced child is asked instead.\n"
            "\n"
            "It sends the process's VRAMTRACE_DUMP_SIGNAL (default " VT_DEFAULT_DUMP_SIGNAL "), read from the\n"
            "process's environment, after checking that the process catches it, and waits for\n"
            "<report base>.dump-N.txt: next to the report (VRAMTRACE_REPORT) or the trace\n"
            "(VRAMTRACE_OUTPUT), relative to the process's working directory.\n"
            "\n"
            "Options:\n"
            "  --wait SECONDS   how long to wait for the snapshot (default " DEFAULT_WAIT "; 0: send and\n"
            "                   return at once; units: ms, s, m)\n"
            "  --print          print the snapshot too, after its path\n"
            "  -h, --help       show this help\n"
            "\n"
            "Exit status: 0 snapshot written (or sent, with --wait 0), 1 it could not be asked for\n"
            "or did not appear in time, 2 usage error.\n"
            "\n"
            "Examples:\n"
            "  vramtrace dump 12345\n"
            "  vramtrace dump --print $(pgrep -f train.py)\n");
}

static int parse_arguments(int argc, char **argv, struct dump_settings *settings)
{
    *settings = (struct dump_settings){.pid = 0};
    vt_cli_parse_time(DEFAULT_WAIT, "s", &settings->wait_ns);
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, dump_options);
    const struct vt_cli_option_spec *option;
    const char *value;
    int status;
    while (vt_cli_next_argument(&parser, &option, &value, &status)) {
        if (!option) {
            uint64_t pid;
            if (settings->pid)
                return vt_cli_usage_error(COMMAND, "one process at a time; '%s' is one too many", value);
            if (!vt_parse_count(value, 1, INT_MAX, &pid))
                return vt_cli_usage_error(COMMAND, "'%s' is not a process id", value);
            settings->pid = (long)pid;
            continue;
        }
        switch (option->id) {
        case VT_CLI_HELP_ID:
            print_help(stdout);
            return 0;
        case OPTION_WAIT:
            if (!vt_cli_parse_time(value, "s", &settings->wait_ns))
                return vt_cli_usage_error(COMMAND, "--wait '%s' is not valid; accepted: seconds (5, 0.5) or a number "
                                          "with a unit (500ms, 2m)",
                                          value);
            break;
        case OPTION_PRINT:
            settings->print = true;
            break;
        }
    }
    if (status >= 0)
        return status;
    if (!settings->pid)
        return vt_cli_usage_error(COMMAND, "no process given: vramtrace dump PID");
    return -1;
}

/* ---- /proc ----------------------------------------------------------------------------------- */

/* The whole of /proc/PID/NAME (NUL-terminated; its length in *length), or NULL with errno set. */
static char *read_proc_file(long pid, const char *name, size_t *length)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/%s", pid, name);
    FILE *file = fopen(path, "re");
    if (!file)
        return NULL;
    size_t capacity = 4096, used = 0;
    char *text = malloc(capacity);
    while (text) {
        used += fread(text + used, 1, capacity - used - 1, file);
        if (used < capacity - 1)
            break;
        char *grown = realloc(text, capacity * 2);
        if (!grown) {
            free(text);
            text = NULL;
            errno = ENOMEM;
            break;
        }
        text = grown;
        capacity *= 2;
    }
    fclose(file);
    if (text) {
        text[used] = '\0';
        if (length)
            *length = used;
    }
    return text;
}

static bool process_exists(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld", pid);
    struct stat info;
    return stat(path, &info) == 0;
}

/* The program name the shim uses for %n (program_invocation_short_name: the last component of
 * argv[0]), else the kernel's comm. */
static void program_name(long pid, char *out, size_t size)
{
    char *text = read_proc_file(pid, "cmdline", NULL);
    if (text && text[0]) {
        snprintf(out, size, "%s", vt_path_basename(text));
    } else {
        free(text);
        text = read_proc_file(pid, "comm", NULL);
        snprintf(out, size, "%s", text ? text : "program");
        out[strcspn(out, "\n")] = '\0';
    }
    free(text);
}

/* 1: libvramtrace.so is mapped in PID, 0: it is not, -1: the maps cannot be read (errno). */
static int has_shim(long pid)
{
    char *maps = read_proc_file(pid, "maps", NULL);
    if (!maps)
        return -1;
    bool found = false;
    for (char *line = maps; line && *line && !found;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        const char *file = strrchr(line, '/');
        found = file && strncmp(file + 1, SHIM_LIBRARY, strlen(SHIM_LIBRARY)) == 0;
        line = end ? end + 1 : NULL;
    }
    free(maps);
    return found;
}

/* The parent pid from /proc/PID/stat (after the ")" that ends the command name), or -1. */
static long parent_of(long pid)
{
    char *stat_text = read_proc_file(pid, "stat", NULL);
    if (!stat_text)
        return -1;
    const char *close = strrchr(stat_text, ')');
    long parent = -1;
    char state;
    if (!close || sscanf(close + 1, " %c %ld", &state, &parent) != 2)
        parent = -1;
    free(stat_text);
    return parent;
}

/* The traced descendants of `ancestor` (children first, then theirs): up to `capacity` pids. */
static size_t traced_descendants(long ancestor, long *found, size_t capacity)
{
    size_t count = 0;
    long generation[256];
    size_t generation_size = 1;
    generation[0] = ancestor;
    for (int depth = 0; depth < 4 && generation_size && count == 0; depth++) {
        long next[256];
        size_t next_size = 0;
        DIR *proc = opendir("/proc");
        if (!proc)
            return 0;
        for (struct dirent *entry; (entry = readdir(proc));) {
            char *end;
            long pid = strtol(entry->d_name, &end, 10);
            if (*end || pid <= 0)
                continue;
            long parent = parent_of(pid);
            for (size_t i = 0; i < generation_size; i++)
                if (parent == generation[i] && next_size < sizeof next / sizeof next[0])
                    next[next_size++] = pid;
        }
        closedir(proc);
        for (size_t i = 0; i < next_size; i++)
            if (has_shim(next[i]) == 1 && count < capacity)
                found[count++] = next[i];
        memcpy(generation, next, next_size * sizeof next[0]);
        generation_size = next_size;
    }
    return count;
}

/* The value of NAME in /proc/PID/environ (NUL-separated NAME=value), or NULL. */
static const char *environment_value(const char *environ_text, size_t length, const char *name)
{
    size_t name_length = strlen(name);
    for (const char *entry = environ_text; entry < environ_text + length; entry += strlen(entry) + 1)
        if (strncmp(entry, name, name_length) == 0 && entry[name_length] == '=')
            return entry + name_length + 1;
    return NULL;
}

/* Whether bit `signal_number` is set in the hexadecimal mask of /proc/PID/status's line FIELD. */
static bool signal_in_mask(const char *status_text, const char *field, int signal_number)
{
    const char *line = strstr(status_text, field);
    if (!line)
        return false;
    line += strlen(field);
    while (*line == ' ' || *line == '\t')
        line++;
    size_t digits = strspn(line, "0123456789abcdefABCDEF");
    int nibble_index = (signal_number - 1) / 4; /* from the right */
    if (nibble_index >= (int)digits)
        return false;
    char nibble = line[digits - 1 - (size_t)nibble_index];
    int value = nibble <= '9' ? nibble - '0' : (nibble | 0x20) - 'a' + 10;
    return (value >> ((signal_number - 1) % 4)) & 1;
}

/* ---- the process's settings ------------------------------------------------------------------ */

struct target {
    long pid;
    char program[256];
    char cwd[PATH_MAX];
    char *environment;
    size_t environment_length;
    int signal_number;
    const char *signal_text;
    char snapshot_base[PATH_MAX]; /* "<dir>/<name>": the snapshots are <base>.dump-N.txt */
};

/* Where the target writes its snapshots (<base>.dump-N.txt), by the shim's own rules
 * (vt_resolve_output_paths, vt_snapshot_base) with the target's settings, program name, pid, rank
 * variables and working directory. False, with the reason, when it writes none. */
static bool snapshot_base(struct target *target, char *why, size_t why_size)
{
    static const char *const rank_variables[] = {"RANK", "LOCAL_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK"};
    for (size_t i = 0; i < sizeof rank_variables / sizeof rank_variables[0]; i++) {
        const char *value = environment_value(target->environment, target->environment_length, rank_variables[i]);
        if (value)
            setenv(rank_variables[i], value, 1);
        else
            unsetenv(rank_variables[i]);
    }
    const char *output = environment_value(target->environment, target->environment_length, VT_ENV_OUTPUT);
    const char *report = environment_value(target->environment, target->environment_length, VT_ENV_REPORT);
    char trace_path[PATH_MAX], report_path[PATH_MAX], base[PATH_MAX];
    vt_resolve_output_paths(output, report, target->program, target->pid, trace_path, sizeof trace_path, report_path,
                            sizeof report_path);
    vt_snapshot_base(trace_path, report_path, base, sizeof base);
    if (!base[0]) {
        snprintf(why, why_size,
                 "process %ld writes neither a trace nor a report file (" VT_ENV_OUTPUT "=%s, " VT_ENV_REPORT
                 "=%s), so it has nowhere to write a live snapshot",
                 target->pid, output ? output : "(unset)", report ? report : "(unset)");
        return false;
    }
    bool relative = base[0] != '/';
    int written = snprintf(target->snapshot_base, sizeof target->snapshot_base, "%s%s%s", relative ? target->cwd : "",
                           relative ? "/" : "", base);
    if (written < 0 || (size_t)written >= sizeof target->snapshot_base) {
        snprintf(why, why_size, "the snapshot path of process %ld is too long", target->pid);
        return false;
    }
    return true;
}

static bool read_target(struct target *target, char *why, size_t why_size)
{
    program_name(target->pid, target->program, sizeof target->program);
    char link[64];
    snprintf(link, sizeof link, "/proc/%ld/cwd", target->pid);
    ssize_t length = readlink(link, target->cwd, sizeof target->cwd - 1);
    target->environment = read_proc_file(target->pid, "environ", &target->environment_length);
    if (length < 0 || !target->environment) {
        snprintf(why, why_size, "cannot read the working directory and environment of process %ld: %s", target->pid,
                 strerror(errno));
        return false;
    }
    target->cwd[length] = '\0';
    target->signal_text = environment_value(target->environment, target->environment_length, VT_ENV_DUMP_SIGNAL);
    if (!target->signal_text || !vt_parse_dump_signal(target->signal_text, &target->signal_number)) {
        target->signal_text = VT_DEFAULT_DUMP_SIGNAL; /* the shim falls back to the default too */
        vt_parse_signal(target->signal_text, &target->signal_number);
    }
    return snapshot_base(target, why, why_size);
}

/* Whether the target catches its dump signal; else why not, and what to do. */
static bool signal_is_caught(const struct target *target, char *why, size_t why_size)
{
    char *status_text = read_proc_file(target->pid, "status", NULL);
    if (!status_text) {
        snprintf(why, why_size, "cannot read /proc/%ld/status: %s", target->pid, strerror(errno));
        return false;
    }
    bool caught = signal_in_mask(status_text, "SigCgt:", target->signal_number);
    bool ignored = signal_in_mask(status_text, "SigIgn:", target->signal_number);
    free(status_text);
    if (caught)
        return true;
    snprintf(why, why_size,
             "process %ld %s its dump signal %s (%d): %s, so live dumps are off in it and nothing was sent. Start "
             "it with another signal, e.g. " VT_ENV_DUMP_SIGNAL "=SIGRTMIN+3 or 'vramtrace run --dump-signal "
             "SIGRTMIN+3'",
             target->pid, ignored ? "ignores" : "does not catch", target->signal_text, target->signal_number,
             ignored ? "the program ignores that signal itself (vramtrace leaves a signal the program set alone)"
                     : "the program handles or reset that signal itself (vramtrace leaves a signal the program set "
                       "alone)");
    return false;
}

/* ---- the snapshot files ---------------------------------------------------------------------- */

struct dump_file {
    unsigned number;
    struct timespec modified;
    off_t size;
};

struct dump_files {
    struct dump_file files[MAX_DUMP_FILES];
    size_t count;
};

/* The existing <base>.dump-N.txt files. */
static void list_dump_files(const char *base, struct dump_files *list)
{
    list->count = 0;
    char directory[PATH_MAX];
    snprintf(directory, sizeof directory, "%s", base);
    char *slash = strrchr(directory, '/');
    const char *name = vt_path_basename(base);
    if (!slash)
        return;
    *slash = '\0';
    DIR *dir = opendir(directory[0] ? directory : "/");
    if (!dir)
        return;
    char prefix[NAME_MAX + 8];
    snprintf(prefix, sizeof prefix, "%s.dump-", name);
    size_t prefix_length = strlen(prefix);
    for (struct dirent *entry; (entry = readdir(dir)) && list->count < MAX_DUMP_FILES;) {
        unsigned number;
        char tail[8];
        if (strncmp(entry->d_name, prefix, prefix_length) != 0 ||
            sscanf(entry->d_name + prefix_length, "%u%7s", &number, tail) != 2 || strcmp(tail, ".txt") != 0)
            continue;
        char path[PATH_MAX + NAME_MAX + 2];
        snprintf(path, sizeof path, "%s/%s", directory, entry->d_name);
        struct stat info;
        if (stat(path, &info) == 0)
            list->files[list->count++] = (struct dump_file){number, info.st_mtim, info.st_size};
    }
    closedir(dir);
}

/* The highest-numbered file of `now` that is not in `before`, or changed since; 0 if none. */
static unsigned newest_new_dump(const struct dump_files *before, const struct dump_files *now)
{
    unsigned newest = 0;
    for (size_t i = 0; i < now->count; i++) {
        const struct dump_file *file = &now->files[i];
        bool known = false;
        for (size_t j = 0; j < before->count && !known; j++) {
            const struct dump_file *old = &before->files[j];
            known = old->number == file->number && old->size == file->size &&
                    old->modified.tv_sec == file->modified.tv_sec && old->modified.tv_nsec == file->modified.tv_nsec;
        }
        if (!known && file->number > newest)
            newest = file->number;
    }
    return newest;
}

static unsigned highest_dump(const struct dump_files *list)
{
    unsigned highest = 0;
    for (size_t i = 0; i < list->count; i++)
        if (list->files[i].number > highest)
            highest = list->files[i].number;
    return highest;
}

static uint64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static void sleep_ns(uint64_t nanoseconds)
{
    struct timespec pause = {(time_t)(nanoseconds / 1000000000u), (long)(nanoseconds % 1000000000u)};
    nanosleep(&pause, NULL);
}

/* The shim writes a snapshot with stdio: it is complete once it ends with its "Calls by API:"
 * block, or, failing that, once its size has held for a while. */
static bool snapshot_complete(const char *path, off_t *last_size, uint64_t *stable_since)
{
    FILE *file = fopen(path, "re");
    if (!file)
        return false;
    char text[65536];
    struct stat info;
    bool complete = false;
    if (fstat(fileno(file), &info) == 0 && info.st_size > 0) {
        off_t start = info.st_size > (off_t)sizeof text - 1 ? info.st_size - (off_t)sizeof text + 1 : 0;
        fseeko(file, start, SEEK_SET);
        size_t length = fread(text, 1, sizeof text - 1, file);
        text[length] = '\0';
        const char *calls = strstr(text, "\nCalls by API:");
        const char *line_end = calls ? strchr(calls + 1, '\n') : NULL;
        complete = line_end && strcmp(line_end, "\n\n") == 0; /* the last block, ended */
        if (!complete && info.st_size != *last_size) {
            *last_size = info.st_size;
            *stable_since = now_ns();
        } else if (!complete && now_ns() - *stable_since >= STABLE_NS) {
            complete = true;
        }
    }
    fclose(file);
    return complete;
}

static int print_file(const char *path)
{
    FILE *file = fopen(path, "re");
    if (!file) {
        fprintf(stderr, WHO ": cannot read %s: %s\n", path, strerror(errno));
        return VT_CLI_EXIT_UNREADABLE;
    }
    char buffer[65536];
    for (size_t length; (length = fread(buffer, 1, sizeof buffer, file)) > 0;)
        fwrite(buffer, 1, length, stdout);
    fclose(file);
    return 0;
}

/* Sends the signal and waits for the snapshot; returns the exit status. */
static int ask_for_snapshot(const struct target *target, const struct dump_settings *settings)
{
    struct dump_files *before = malloc(sizeof *before), *now = malloc(sizeof *now);
    if (!before || !now) {
        free(before);
        free(now);
        fprintf(stderr, WHO ": out of memory\n");
        return VT_CLI_EXIT_UNREADABLE;
    }
    list_dump_files(target->snapshot_base, before);
    int status = VT_CLI_EXIT_UNREADABLE;
    if (kill((pid_t)target->pid, target->signal_number) != 0) {
        fprintf(stderr, WHO ": cannot send %s to process %ld: %s\n", target->signal_text, target->pid, strerror(errno));
        goto done;
    }
    if (settings->wait_ns == 0) {
        printf("%s.dump-%u.txt\n", target->snapshot_base, highest_dump(before) + 1);
        fprintf(stderr, WHO ": sent %s to process %ld; not waiting for the snapshot (--wait 0)\n", target->signal_text,
                target->pid);
        status = 0;
        goto done;
    }
    uint64_t deadline = now_ns() + settings->wait_ns, stable_since = now_ns();
    off_t last_size = -1;
    char path[PATH_MAX + 32];
    for (;;) {
        list_dump_files(target->snapshot_base, now);
        unsigned number = newest_new_dump(before, now);
        if (number) {
            snprintf(path, sizeof path, "%s.dump-%u.txt", target->snapshot_base, number);
            if (snapshot_complete(path, &last_size, &stable_since)) {
                printf("%s\n", path);
                fflush(stdout);
                status = settings->print ? print_file(path) : 0;
                break;
            }
        }
        if (now_ns() >= deadline) {
            fprintf(stderr,
                    WHO ": no snapshot %s.dump-N.txt appeared within %.3g s after sending %s to process %ld. If the "
                        "program installed its own handler for that signal after vramtrace did, the signal goes to "
                        "it instead: start it with another " VT_ENV_DUMP_SIGNAL ". Else try a longer --wait.\n",
                    target->snapshot_base, (double)settings->wait_ns / 1e9, target->signal_text, target->pid);
            break;
        }
        if (!process_exists(target->pid)) {
            fprintf(stderr, WHO ": process %ld ended before writing its snapshot\n", target->pid);
            break;
        }
        sleep_ns(POLL_NS);
    }
done:
    free(before);
    free(now);
    return status;
}

/* ---- the command ------------------------------------------------------------------------------ */

/* PID itself when it is traced, else its one traced descendant (said on stderr); 0 after an error. */
static long traced_process(long pid)
{
    int traced = has_shim(pid);
    if (traced < 0) {
        fprintf(stderr, WHO ": cannot read /proc/%ld/maps: %s\n", pid, strerror(errno));
        return 0;
    }
    if (traced)
        return pid;
    long found[16];
    size_t count = traced_descendants(pid, found, sizeof found / sizeof found[0]);
    char name[256];
    program_name(pid, name, sizeof name);
    if (count == 0) {
        fprintf(stderr, WHO ": process %ld is not traced by vramtrace (" SHIM_LIBRARY " is not loaded)\n", pid);
        return 0;
    }
    if (count > 1) {
        fprintf(stderr, WHO ": process %ld (%s) is not traced itself, and several of its children are:", pid, name);
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, " %ld", found[i]);
        fprintf(stderr, "; name one of them\n");
        return 0;
    }
    char child_name[256];
    program_name(found[0], child_name, sizeof child_name);
    fprintf(stderr, WHO ": process %ld (%s) is not traced itself; asking its traced child %ld (%s)\n", pid, name,
            found[0], child_name);
    return found[0];
}

int vt_cmd_dump(int argc, char **argv)
{
    struct dump_settings settings;
    int early = parse_arguments(argc, argv, &settings);
    if (early >= 0)
        return early;
    if (!process_exists(settings.pid)) {
        fprintf(stderr, WHO ": no process %ld\n", settings.pid);
        return VT_CLI_EXIT_UNREADABLE;
    }
    struct target target = {.pid = traced_process(settings.pid)};
    if (!target.pid)
        return VT_CLI_EXIT_UNREADABLE;
    char why[2 * PATH_MAX];
    int status = VT_CLI_EXIT_UNREADABLE;
    if (!read_target(&target, why, sizeof why) || !signal_is_caught(&target, why, sizeof why))
        fprintf(stderr, WHO ": %s\n", why);
    else
        status = ask_for_snapshot(&target, &settings);
    free(target.environment);
    return status;
}
