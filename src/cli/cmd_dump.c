/* cli/cmd_dump.c — `vramtrace dump PID`: asks a running traced process for a live snapshot. Checks
 * that PID has libvramtrace.so loaded (or, for a `vramtrace run` supervisor or any ancestor, finds
 * its traced descendants of this user: every one that has begun tracing is asked, and the command
 * says which answered), reads the process's own VRAMTRACE_* settings from /proc/PID/environ, checks that its
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
            "PID may be a 'vramtrace run' supervisor (or any ancestor): then every traced descendant\n"
            "of PID (of this user) that has begun tracing is asked, and it says which pids answered.\n"
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

/* Whether /proc/PID belongs to this user. */
static bool owned_by_me(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld", pid);
    struct stat info;
    return stat(path, &info) == 0 && info.st_uid == getuid();
}

/* The traced descendants of `ancestor` at any depth (children first, then theirs...) that belong
 * to this user: up to `capacity` pids. Only descendants: never other traced processes. */
static size_t traced_descendants(long ancestor, long *found, size_t capacity)
{
    size_t process_count = 0, process_capacity = 0, count = 0;
    long(*processes)[2] = NULL; /* pid, parent */
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    for (struct dirent *entry; (entry = readdir(proc));) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (process_count == process_capacity) {
            process_capacity = process_capacity ? 2 * process_capacity : 1024;
            void *grown = realloc(processes, process_capacity * sizeof *processes);
            if (!grown)
                break;
            processes = grown;
        }
        processes[process_count][0] = pid;
        processes[process_count++][1] = parent_of(pid);
    }
    closedir(proc);
    /* breadth first: `queue` holds the ancestor, then its descendants as they are found */
    long *queue = malloc((process_count + 1) * sizeof *queue);
    size_t queued = 0;
    if (queue)
        queue[queued++] = ancestor;
    for (size_t next = 0; queue && next < queued; next++)
        for (size_t i = 0; i < process_count; i++) {
            if (processes[i][1] != queue[next] || processes[i][0] == ancestor)
                continue;
            queue[queued++] = processes[i][0];
            if (count < capacity && owned_by_me(processes[i][0]) && has_shim(processes[i][0]) == 1)
                found[count++] = processes[i][0];
        }
    free(queue);
    free(processes);
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
    char trace_path[PATH_MAX];    /* as the process names it (relative to cwd); empty: none */
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
    snprintf(target->trace_path, sizeof target->trace_path, "%s", trace_path);
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

/* Whether the target has begun tracing: its trace file is open (the shim opens it with its first
 * record: a process that never used CUDA, such as a launcher, has no trace and writes no snapshot).
 * True when it writes no trace file (nothing to tell by). */
static bool trace_is_open(const struct target *target)
{
    if (!target->trace_path[0])
        return true;
    char directory[64];
    snprintf(directory, sizeof directory, "/proc/%ld/fd", target->pid);
    DIR *fds = opendir(directory);
    if (!fds)
        return true;
    bool open = false;
    const char *name = vt_path_basename(target->trace_path);
    for (struct dirent *entry; !open && (entry = readdir(fds));) {
        char link[64 + sizeof entry->d_name], path[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", directory, entry->d_name);
        ssize_t length = readlink(link, path, sizeof path - 1);
        if (length <= 0)
            continue;
        path[length] = '\0';
        open = strcmp(vt_path_basename(path), name) == 0;
    }
    closedir(fds);
    return open;
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

/* One process asked for a snapshot. */
struct request {
    struct target target;
    bool skipped;  /* one of several: it has not begun tracing (trace_is_open), so it is not asked */
    bool ready;    /* its settings read and its dump signal caught */
    bool pending;  /* ready and not asked yet */
    bool sent, answered, failed;
    struct dump_files *before;
    off_t last_size;
    uint64_t stable_since;
    char path[PATH_MAX + 32]; /* the snapshot, once answered (or expected, with --wait 0) */
};

/* Sends the dump signal to the requests of a round (none of them sharing a snapshot base), then
 * waits for their snapshots until --wait is over. */
static void ask_round(struct request **round, size_t count, const struct dump_settings *settings,
                      struct dump_files *now)
{
    for (size_t i = 0; i < count; i++) {
        struct request *request = round[i];
        list_dump_files(request->target.snapshot_base, request->before);
        if (kill((pid_t)request->target.pid, request->target.signal_number) != 0) {
            fprintf(stderr, WHO ": cannot send %s to process %ld: %s\n", request->target.signal_text,
                    request->target.pid, strerror(errno));
            request->failed = true;
            continue;
        }
        request->sent = true;
        request->stable_since = now_ns();
        request->last_size = -1;
        if (settings->wait_ns == 0) {
            snprintf(request->path, sizeof request->path, "%s.dump-%u.txt", request->target.snapshot_base,
                     highest_dump(request->before) + 1);
            request->answered = true;
            fprintf(stderr, WHO ": sent %s to process %ld; not waiting for the snapshot (--wait 0)\n",
                    request->target.signal_text, request->target.pid);
        }
    }
    uint64_t deadline = now_ns() + settings->wait_ns;
    for (size_t waiting = count; waiting > 0;) {
        waiting = 0;
        for (size_t i = 0; i < count; i++) {
            struct request *request = round[i];
            if (!request->sent || request->answered || request->failed)
                continue;
            list_dump_files(request->target.snapshot_base, now);
            unsigned number = newest_new_dump(request->before, now);
            if (number) {
                snprintf(request->path, sizeof request->path, "%s.dump-%u.txt", request->target.snapshot_base, number);
                if (snapshot_complete(request->path, &request->last_size, &request->stable_since)) {
                    request->answered = true;
                    continue;
                }
            }
            if (now_ns() >= deadline) {
                fprintf(stderr,
                        WHO ": no snapshot %s.dump-N.txt appeared within %.3g s after sending %s to process %ld. If "
                            "the program installed its own handler for that signal after vramtrace did, the signal "
                            "goes to it instead: start it with another " VT_ENV_DUMP_SIGNAL ". Else try a longer "
                            "--wait.\n",
                        request->target.snapshot_base, (double)settings->wait_ns / 1e9, request->target.signal_text,
                        request->target.pid);
                request->failed = true;
            } else if (!process_exists(request->target.pid)) {
                fprintf(stderr, WHO ": process %ld ended before writing its snapshot\n", request->target.pid);
                request->failed = true;
            } else {
                waiting++;
            }
        }
        if (waiting)
            sleep_ns(POLL_NS);
    }
}

/* Asks every ready request, in rounds: processes that write their snapshots under the same base
 * (e.g. a launcher and rank 0 of a '%r' template) are asked one after the other, so that each
 * snapshot found is the one asked for. */
static void ask_all(struct request *requests, size_t count, const struct dump_settings *settings)
{
    struct request **round = calloc(count, sizeof *round);
    struct dump_files *now = malloc(sizeof *now);
    for (size_t i = 0; i < count; i++) {
        requests[i].before = malloc(sizeof *requests[i].before);
        requests[i].pending = requests[i].ready;
    }
    for (size_t i = 0; i < count; i++)
        if (!requests[i].before || !round || !now) {
            fprintf(stderr, WHO ": out of memory\n");
            goto done;
        }
    for (;;) {
        size_t round_size = 0;
        for (size_t i = 0; i < count; i++) {
            if (!requests[i].pending)
                continue;
            bool shared = false;
            for (size_t j = 0; j < round_size && !shared; j++)
                shared = strcmp(round[j]->target.snapshot_base, requests[i].target.snapshot_base) == 0;
            if (!shared) {
                round[round_size++] = &requests[i];
                requests[i].pending = false;
            }
        }
        if (!round_size)
            break;
        ask_round(round, round_size, settings, now);
    }
done:
    for (size_t i = 0; i < count; i++)
        free(requests[i].before);
    free(round);
    free(now);
}

/* ---- the command ------------------------------------------------------------------------------ */

#define MAX_TARGETS 1024

/* PID itself when it is traced, else its traced descendants (said on stderr): their count in
 * *count (0 after an error). */
static long *traced_processes(long pid, size_t *count)
{
    *count = 0;
    long *found = malloc(MAX_TARGETS * sizeof *found);
    if (!found) {
        fprintf(stderr, WHO ": out of memory\n");
        return NULL;
    }
    int traced = has_shim(pid);
    if (traced < 0) {
        fprintf(stderr, WHO ": cannot read /proc/%ld/maps: %s\n", pid, strerror(errno));
        return found;
    }
    if (traced) {
        found[(*count)++] = pid;
        return found;
    }
    *count = traced_descendants(pid, found, MAX_TARGETS);
    char name[256], child_name[256];
    program_name(pid, name, sizeof name);
    if (*count == 0) {
        fprintf(stderr, WHO ": process %ld is not traced by vramtrace (" SHIM_LIBRARY " is not loaded)\n", pid);
    } else if (*count == 1) {
        program_name(found[0], child_name, sizeof child_name);
        fprintf(stderr, WHO ": process %ld (%s) is not traced itself; asking its traced child %ld (%s)\n", pid, name,
                found[0], child_name);
    } else {
        fprintf(stderr, WHO ": process %ld (%s) is not traced itself; its traced descendants (%zu):", pid, name,
                *count);
        for (size_t i = 0; i < *count; i++) {
            program_name(found[i], child_name, sizeof child_name);
            fprintf(stderr, " %ld (%s)", found[i], child_name);
        }
        fputc('\n', stderr);
    }
    return found;
}

/* Which processes answered, and which did not (several asked). */
static void say_who_answered(const struct request *requests, size_t count, const struct dump_settings *settings)
{
    size_t answered = 0, skipped = 0;
    for (size_t i = 0; i < count; i++) {
        answered += requests[i].answered;
        skipped += requests[i].skipped;
    }
    if (skipped) {
        fprintf(stderr, WHO ": not asked, as they have not begun tracing (no trace file open: no CUDA use yet):");
        for (size_t i = 0; i < count; i++)
            if (requests[i].skipped)
                fprintf(stderr, " %ld", requests[i].target.pid);
        fputc('\n', stderr);
    }
    fprintf(stderr, WHO ": %zu of %zu traced process(es) %s", answered, count - skipped,
            settings->wait_ns ? "answered" : "were sent the signal");
    for (size_t i = 0, shown = 0; i < count; i++)
        if (requests[i].answered)
            fprintf(stderr, "%s%ld", shown++ ? ", " : ": ", requests[i].target.pid);
    if (answered + skipped < count) {
        fprintf(stderr, "; no snapshot from");
        for (size_t i = 0, shown = 0; i < count; i++)
            if (!requests[i].answered && !requests[i].skipped)
                fprintf(stderr, "%s%ld", shown++ ? ", " : " ", requests[i].target.pid);
    }
    fputc('\n', stderr);
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
    size_t count;
    long *pids = traced_processes(settings.pid, &count);
    struct request *requests = count ? calloc(count, sizeof *requests) : NULL;
    int status = VT_CLI_EXIT_UNREADABLE;
    if (!requests) {
        if (count)
            fprintf(stderr, WHO ": out of memory\n");
        free(pids);
        return status;
    }
    char why[2 * PATH_MAX];
    size_t asked = 0;
    for (size_t i = 0; i < count; i++) {
        struct request *request = &requests[i];
        request->target.pid = pids[i];
        if (!read_target(&request->target, why, sizeof why)) {
            fprintf(stderr, WHO ": %s\n", why);
            continue;
        }
        request->skipped = count > 1 && !trace_is_open(&request->target);
        if (request->skipped)
            continue;
        asked++;
        request->ready = signal_is_caught(&request->target, why, sizeof why);
        if (!request->ready)
            fprintf(stderr, WHO ": %s\n", why);
    }
    ask_all(requests, count, &settings);
    status = asked ? 0 : VT_CLI_EXIT_UNREADABLE;
    for (size_t i = 0; i < count; i++) {
        if (requests[i].skipped)
            continue;
        if (!requests[i].answered) {
            status = VT_CLI_EXIT_UNREADABLE;
            continue;
        }
        printf("%s\n", requests[i].path);
        fflush(stdout);
        if (settings.print && settings.wait_ns && print_file(requests[i].path) != 0)
            status = VT_CLI_EXIT_UNREADABLE;
    }
    if (count > 1)
        say_who_answered(requests, count, &settings);
    for (size_t i = 0; i < count; i++)
        free(requests[i].target.environment);
    free(requests);
    free(pids);
    return status;
}
