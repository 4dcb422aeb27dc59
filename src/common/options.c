/* common/options.c — the settings table and the value parsers shared by the CLI and the shim.
 * Nothing here allocates memory, so the shim may call it during lazy initialisation. */
#include "common/options.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const torch_modes[] = {"off", "auto", "on", NULL}; /* enum vt_torch_mode's order */

const struct vt_option vt_options[] = {
    {"output", 'o', VT_ENV_OUTPUT, VT_OPTION_PATH, "PATH", 0, 0, VT_DEFAULT_OUTPUT_TEMPLATE,
     "write the trace to PATH (placeholders: %p pid, %h host, %r rank, %n program, %% a percent sign); 'none' writes no trace", NULL},
    {"report", 0, VT_ENV_REPORT, VT_OPTION_PATH, "PATH", 0, 0, VT_DEFAULT_REPORT_TEMPLATE,
     "write the exit report to PATH too (same placeholders; by default next to the trace, its name ending in .report.txt instead of .trace); 'none' writes no file", NULL},
    {"stack-depth", 0, VT_ENV_STACK_DEPTH, VT_OPTION_COUNT, "N", 0, VT_MAX_STACK_DEPTH, "32",
     "native frames recorded per allocation, 0 to 128; 0 records no stacks", NULL},
    {"python-depth", 0, VT_ENV_PYTHON_DEPTH, VT_OPTION_COUNT, "N", 0, VT_MAX_PYTHON_DEPTH, "32",
     "Python frames recorded per allocation in a Python process, 0 to 128; 0 records none", NULL},
    {"top", 0, VT_ENV_TOP, VT_OPTION_COUNT, "N", 1, 1000000, "10",
     "leak groups shown per memory kind in the exit report", NULL},
    {"flush-ms", 0, VT_ENV_FLUSH_MS, VT_OPTION_COUNT, "MS", 10, 60000, "100",
     "write the trace to disk at least every MS milliseconds while events arrive (10 to 60000)", NULL},
    {"dump-signal", 0, VT_ENV_DUMP_SIGNAL, VT_OPTION_SIGNAL, "SIGNAL", 0, 0, VT_DEFAULT_DUMP_SIGNAL,
     "signal that makes the traced process write a live snapshot (vramtrace dump PID sends it): USR1, USR2 or a real-time signal RTMIN..RTMAX; others are refused", NULL},
    {"quiet", 'q', VT_ENV_QUIET, VT_OPTION_FLAG, NULL, 0, 0, "off",
     "do not print the exit report on stderr (the report file is still written)", NULL},
    {"simulate", 0, VT_ENV_SIMULATE, VT_OPTION_OPTIONAL_SIZE, "SIZE", 0, 0, "16G",
     "run on the simulated CUDA device with SIZE bytes of memory per device (K, M, G, T suffixes); the program must use the shared CUDA runtime (libcudart.so, nvcc -cudart shared): one linked with the static runtime (nvcc's default) carries its own and cannot be moved onto the simulated device", NULL},
    {"simulate-devices", 0, VT_ENV_SIMULATE_DEVICES, VT_OPTION_COUNT, "N", 1, VT_MAX_SIMULATED_DEVICES, "1",
     "number of simulated devices (with --simulate)", NULL},
    {"torch", 0, VT_ENV_TORCH, VT_OPTION_CHOICE, "MODE", 0, 0, VT_DEFAULT_TORCH,
     "PyTorch integration (PyTorch's own memory snapshots, with Python lines, beside the trace at exit, OOM and dumps): 'auto' activates it in PyTorch programs, 'on' as well and says why when it cannot, 'off' never (no Python code is run in the program)",
     torch_modes},
    {"torch-entries", 0, VT_ENV_TORCH_ENTRIES, VT_OPTION_COUNT, "N", 0, 100000000, "10000",
     "entries of PyTorch's memory history ring (with --torch); 0 keeps only the live blocks' stacks", NULL},
    {"limit", 0, VT_ENV_LIMIT, VT_OPTION_SIZE, "SIZE", 0, 0, "0",
     "simulate a GPU with SIZE bytes (K, M, G, T suffixes): an allocation that would take a device's device, managed or cuMemCreate memory above SIZE fails with the API's own out-of-memory error, and the OOM report says the limit was simulated; 0: no limit", NULL},
    {NULL, 0, NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};

const struct vt_option *vt_option_by_env(const char *env_name)
{
    for (const struct vt_option *option = vt_options; option->long_name; option++)
        if (strcmp(option->env_name, env_name) == 0)
            return option;
    return NULL;
}

static int size_suffix_shift(const char *suffix)
{
    static const struct { const char *letters; int shift; } units[] = {
        {"", 0}, {"B", 0}, {"K", 10}, {"KB", 10}, {"KIB", 10}, {"M", 20}, {"MB", 20}, {"MIB", 20},
        {"G", 30}, {"GB", 30}, {"GIB", 30}, {"T", 40}, {"TB", 40}, {"TIB", 40},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(suffix, units[i].letters) == 0)
            return units[i].shift;
    return -1;
}

bool vt_parse_size(const char *text, uint64_t *bytes)
{
    if (!text || !isdigit((unsigned char)text[0]))
        return false;
    /* Exact integer arithmetic: whole * 2^shift + round(fraction * 2^shift). */
    unsigned __int128 whole = 0, fraction_numerator = 0, fraction_denominator = 1;
    const char *c = text;
    for (; isdigit((unsigned char)*c); c++) {
        whole = whole * 10 + (unsigned)(*c - '0');
        if (whole > UINT64_MAX)
            return false;
    }
    if (*c == '.') {
        c++;
        if (!isdigit((unsigned char)*c))
            return false;
        for (; isdigit((unsigned char)*c); c++)
            if (fraction_denominator < (unsigned __int128)1 << 80) { /* further digits cannot matter */
                fraction_numerator = fraction_numerator * 10 + (unsigned)(*c - '0');
                fraction_denominator *= 10;
            }
    }
    int shift = size_suffix_shift(c);
    if (shift < 0)
        return false;
    unsigned __int128 total = (whole << shift) +
                              ((fraction_numerator << shift) + fraction_denominator / 2) / fraction_denominator;
    if (total > UINT64_MAX)
        return false;
    *bytes = (uint64_t)total;
    return true;
}

bool vt_parse_count(const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
    if (!text || !*text)
        return false;
    for (const char *c = text; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    errno = 0;
    unsigned long long number = strtoull(text, NULL, 10);
    if (errno == ERANGE || number < min || number > max)
        return false;
    *value = number;
    return true;
}

bool vt_parse_flag(const char *text, bool *value)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};
    if (!text)
        return false;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcasecmp(text, yes[i]) == 0)
            return *value = true, true;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcasecmp(text, no[i]) == 0)
            return *value = false, true;
    return false;
}

bool vt_parse_choice(const struct vt_option *option, const char *text, unsigned *index)
{
    if (!text || !option->choices)
        return false;
    for (unsigned i = 0; option->choices[i]; i++)
        if (strcasecmp(text, option->choices[i]) == 0)
            return *index = i, true;
    return false;
}

/* "a, b, c": the accepted values of a VT_OPTION_CHOICE, for messages. */
static void list_choices(const struct vt_option *option, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; option->choices && option->choices[i] && used < out_size; i++) {
        int written = snprintf(out + used, out_size - used, "%s%s", i ? ", " : "", option->choices[i]);
        if (written < 0)
            break;
        used += (size_t)written;
    }
}

bool vt_option_validate(const struct vt_option *option, const char *value, char *why, size_t why_size)
{
    uint64_t number;
    bool flag;
    switch (option->type) {
    case VT_OPTION_PATH:
        if (*value)
            return true;
        snprintf(why, why_size, "%s is empty; accepted: a file path, or 'none'", option->env_name);
        return false;
    case VT_OPTION_COUNT:
        if (vt_parse_count(value, option->min, option->max, &number))
            return true;
        snprintf(why, why_size, "%s='%s' is not valid; accepted: a whole number from %llu to %llu",
                 option->env_name, value, (unsigned long long)option->min, (unsigned long long)option->max);
        return false;
    case VT_OPTION_FLAG:
        if (vt_parse_flag(value, &flag))
            return true;
        snprintf(why, why_size, "%s='%s' is not valid; accepted: 1, 0, true, false, yes, no, on, off",
                 option->env_name, value);
        return false;
    case VT_OPTION_SIGNAL: {
        int signal_number;
        if (!vt_parse_signal(value, &signal_number)) {
            snprintf(why, why_size,
                     "%s='%s' is not a signal; accepted: USR1, USR2 or a real-time signal RTMIN to RTMIN+%d "
                     "or RTMAX-N (with or without SIG, e.g. SIGRTMIN+7), or its number",
                     option->env_name, value, SIGRTMAX - SIGRTMIN);
            return false;
        }
        if (vt_signal_can_dump(signal_number))
            return true;
        /* A crash, stop, kill or terminate signal taken over would change how the program dies or stops. */
        char name[32];
        vt_signal_name(signal_number, name, sizeof name);
        snprintf(why, why_size,
                 "%s='%s' is %s, which cannot be the dump signal: taking it over would change what it does to the "
                 "program; accepted: USR1, USR2 or a real-time signal RTMIN to RTMIN+%d (e.g. SIGRTMIN+7)",
                 option->env_name, value, name, SIGRTMAX - SIGRTMIN);
        return false;
    }
    case VT_OPTION_CHOICE: {
        unsigned index;
        if (vt_parse_choice(option, value, &index))
            return true;
        char choices[128];
        list_choices(option, choices, sizeof choices);
        snprintf(why, why_size, "%s='%s' is not valid; accepted: %s", option->env_name, value, choices);
        return false;
    }
    case VT_OPTION_SIZE:
        if (vt_parse_size(value, &number))
            return true;
        snprintf(why, why_size,
                 "%s='%s' is not a valid size; accepted: bytes, or a number with K, M, G or T (powers of 1024), e.g. 4G; 0 for none",
                 option->env_name, value);
        return false;
    case VT_OPTION_OPTIONAL_SIZE:
        if (vt_parse_size(value, &number) && number > 0)
            return true;
        snprintf(why, why_size,
                 "%s='%s' is not a valid size; accepted: bytes, or a number with K, M, G or T (powers of 1024), e.g. 16G",
                 option->env_name, value);
        return false;
    }
    return false;
}

/* Every standard signal by name, so that a refused one is named (e.g. SEGV or 11 -> SIGSEGV). */
static const struct { const char *name; int number; } signal_names[] = {
    {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL}, {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},
    {"IOT", SIGIOT}, {"BUS", SIGBUS}, {"FPE", SIGFPE}, {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO}, {"POLL", SIGPOLL}, {"PWR", SIGPWR}, {"SYS", SIGSYS},
};

bool vt_signal_can_dump(int signal_number)
{
    return signal_number == SIGUSR1 || signal_number == SIGUSR2 ||
           (signal_number >= SIGRTMIN && signal_number <= SIGRTMAX);
}

void vt_signal_name(int signal_number, char *out, size_t out_size)
{
    if (signal_number >= SIGRTMIN && signal_number <= SIGRTMAX) {
        snprintf(out, out_size, "SIGRTMIN+%d", signal_number - SIGRTMIN);
        return;
    }
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (signal_names[i].number == signal_number) {
            snprintf(out, out_size, "SIG%s", signal_names[i].name);
            return;
        }
    snprintf(out, out_size, "signal %d", signal_number);
}

bool vt_parse_dump_signal(const char *text, int *signal_number)
{
    int number;
    if (!vt_parse_signal(text, &number) || !vt_signal_can_dump(number))
        return false;
    *signal_number = number;
    return true;
}

bool vt_parse_signal(const char *text, int *signal_number)
{
    if (!text || !*text)
        return false;
    uint64_t number;
    if (vt_parse_count(text, 1, (uint64_t)SIGRTMAX, &number)) {
        *signal_number = (int)number;
        return true;
    }
    const char *name = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (strcasecmp(name, signal_names[i].name) == 0)
            return *signal_number = signal_names[i].number, true;
    if (strncasecmp(name, "RTMIN", 5) == 0) {
        uint64_t offset = 0;
        if (name[5] && (name[5] != '+' || !vt_parse_count(name + 6, 0, (uint64_t)(SIGRTMAX - SIGRTMIN), &offset)))
            return false;
        *signal_number = SIGRTMIN + (int)offset;
        return true;
    }
    if (strncasecmp(name, "RTMAX", 5) == 0) {
        uint64_t offset = 0;
        if (name[5] && (name[5] != '-' || !vt_parse_count(name + 6, 0, (uint64_t)(SIGRTMAX - SIGRTMIN), &offset)))
            return false;
        *signal_number = SIGRTMAX - (int)offset;
        return true;
    }
    return false;
}

void vt_report_path_for_trace(const char *trace_path, char *out, size_t out_size)
{
    static const char trace_suffix[] = ".trace";
    size_t length = strlen(trace_path), suffix_length = sizeof trace_suffix - 1;
    if (length >= suffix_length && strcmp(trace_path + length - suffix_length, trace_suffix) == 0)
        length -= suffix_length;
    snprintf(out, out_size, "%.*s.report.txt", (int)length, trace_path);
}

/* Expands one file setting into out (empty for "none"). False when too long. */
static bool expand_file_setting(const char *template_text, const char *program_name, long pid, char *out,
                                size_t out_size)
{
    out[0] = '\0';
    if (strcmp(template_text, "none") == 0)
        return true;
    if (vt_expand_path_template(template_text, program_name, pid, out, out_size))
        return true;
    out[0] = '\0';
    return false;
}

bool vt_resolve_output_paths(const char *output_setting, const char *report_setting, const char *program_name,
                             long pid, char *trace_path, size_t trace_size, char *report_path, size_t report_size)
{
    bool fits = expand_file_setting(output_setting ? output_setting : VT_DEFAULT_OUTPUT_TEMPLATE, program_name, pid,
                                    trace_path, trace_size);
    if (report_setting)
        return expand_file_setting(report_setting, program_name, pid, report_path, report_size) && fits;
    if (trace_path[0]) {
        vt_report_path_for_trace(trace_path, report_path, report_size);
        return fits;
    }
    return expand_file_setting(VT_DEFAULT_REPORT_TEMPLATE, program_name, pid, report_path, report_size) && fits;
}

void vt_snapshot_base(const char *trace_path, const char *report_path, char *out, size_t out_size)
{
    static const char suffix[] = ".report.txt";
    const char *base = report_path[0] ? report_path : trace_path;
    size_t length = strlen(base);
    if (base == report_path && length >= sizeof suffix - 1 && strcmp(base + length - (sizeof suffix - 1), suffix) == 0)
        length -= sizeof suffix - 1;
    snprintf(out, out_size, "%.*s", (int)length, base);
}

long vt_process_rank(void)
{
    static const char *const variables[] = {"RANK", "LOCAL_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK"};
    for (size_t i = 0; i < sizeof variables / sizeof variables[0]; i++) {
        uint64_t rank;
        if (vt_parse_count(getenv(variables[i]), 0, 1u << 30, &rank))
            return (long)rank;
    }
    return -1;
}

static bool append_text(char *out, size_t out_size, size_t *used, const char *text)
{
    size_t length = strlen(text);
    if (*used + length >= out_size)
        return false;
    memcpy(out + *used, text, length + 1);
    *used += length;
    return true;
}

bool vt_expand_path_template(const char *template_text, const char *program_name, long pid,
                             char *out, size_t out_size)
{
    size_t used = 0;
    if (out_size == 0)
        return false;
    out[0] = '\0';
    for (const char *c = template_text; *c; c++) {
        char piece[256] = {c[0], 0};
        if (c[0] == '%' && c[1]) {
            c++;
            switch (*c) {
            case 'p': snprintf(piece, sizeof piece, "%ld", pid); break;
            case 'h': if (gethostname(piece, sizeof piece - 1) != 0) strcpy(piece, "host"); break;
            case 'r': snprintf(piece, sizeof piece, "%ld", vt_process_rank() < 0 ? 0 : vt_process_rank()); break;
            case 'n': snprintf(piece, sizeof piece, "%s", program_name && *program_name ? program_name : "program"); break;
            case '%': strcpy(piece, "%"); break;
            default: snprintf(piece, sizeof piece, "%%%c", *c); break;
            }
        }
        if (!append_text(out, out_size, &used, piece))
            return false;
    }
    return true;
}
