/* common/options.h — every user-facing setting, in one table shared by the CLI (which turns
 * command-line options into environment variables) and the shim (which reads those variables),
 * plus the parsers for the value types. One table means `vramtrace run --help`, the README and
 * the shim can never disagree about a name.
 */
#ifndef VT_COMMON_OPTIONS_H
#define VT_COMMON_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VT_ENV_OUTPUT "VRAMTRACE_OUTPUT"
#define VT_ENV_FLUSH_MS "VRAMTRACE_FLUSH_MS"
#define VT_ENV_DUMP_SIGNAL "VRAMTRACE_DUMP_SIGNAL"
#define VT_ENV_REPORT "VRAMTRACE_REPORT"
#define VT_ENV_STACK_DEPTH "VRAMTRACE_STACK_DEPTH"
#define VT_ENV_PYTHON_DEPTH "VRAMTRACE_PYTHON_DEPTH"
#define VT_ENV_TOP "VRAMTRACE_TOP"
#define VT_ENV_QUIET "VRAMTRACE_QUIET"
#define VT_ENV_SIMULATE "VRAMTRACE_SIMULATE"
#define VT_ENV_SIMULATE_DEVICES "VRAMTRACE_SIMULATE_DEVICES"
#define VT_ENV_TORCH "VRAMTRACE_TORCH"
#define VT_ENV_TORCH_ENTRIES "VRAMTRACE_TORCH_ENTRIES"
#define VT_ENV_LIMIT "VRAMTRACE_LIMIT"

#define VT_DEFAULT_OUTPUT_TEMPLATE "vramtrace.%n.%p.trace"
#define VT_DEFAULT_REPORT_TEMPLATE "vramtrace.%n.%p.report.txt"
#define VT_DEFAULT_FLUSH_MS 100
#define VT_DEFAULT_DUMP_SIGNAL "SIGRTMIN+7"
#define VT_DEFAULT_STACK_DEPTH 32
#define VT_MAX_STACK_DEPTH 128
#define VT_DEFAULT_PYTHON_DEPTH 32
#define VT_MAX_PYTHON_DEPTH 128
#define VT_DEFAULT_TOP 10
#define VT_DEFAULT_SIMULATE_BYTES (16ULL << 30)
#define VT_MAX_SIMULATED_DEVICES 16
#define VT_DEFAULT_TORCH "auto"

/* VRAMTRACE_TORCH: the values of its choices, in the table's order (vt_parse_choice's index). */
enum vt_torch_mode { VT_TORCH_OFF = 0, VT_TORCH_AUTO = 1, VT_TORCH_ON = 2 };

enum vt_option_type {
    VT_OPTION_PATH,          /* free text */
    VT_OPTION_COUNT,         /* non-negative integer within [min, max] */
    VT_OPTION_FLAG,          /* 1/0, true/false, yes/no, on/off */
    VT_OPTION_OPTIONAL_SIZE, /* --name or --name=SIZE */
    VT_OPTION_SIGNAL,        /* a signal: USR2, SIGUSR2, RTMIN+7, SIGRTMIN+7 or a number */
    VT_OPTION_CHOICE,        /* one of `choices` (any case) */
    VT_OPTION_SIZE,          /* --name SIZE: bytes or K, M, G, T (vt_parse_size); 0 allowed */
};

struct vt_option {
    const char *long_name;   /* without the leading dashes */
    char short_name;         /* 0 when there is none */
    const char *env_name;    /* the VRAMTRACE_* variable the option sets */
    enum vt_option_type type;
    const char *metavar;     /* shown in --help, e.g. "PATH" */
    uint64_t min, max;       /* range for VT_OPTION_COUNT */
    const char *default_text;
    const char *help;
    const char *const *choices; /* VT_OPTION_CHOICE: the accepted values, NULL-terminated; else NULL */
};

/* The table, terminated by an entry whose long_name is NULL. */
extern const struct vt_option vt_options[];

const struct vt_option *vt_option_by_env(const char *env_name);

/* Sizes: plain bytes or a number with K, M, G or T (powers of 1024; "KiB", "KB" and "k" accepted
 * too). Fractions like "1.5G" are allowed. Returns false on anything malformed or out of range. */
bool vt_parse_size(const char *text, uint64_t *bytes);
bool vt_parse_count(const char *text, uint64_t min, uint64_t max, uint64_t *value);
bool vt_parse_flag(const char *text, bool *value);
bool vt_parse_signal(const char *text, int *signal_number);
/* Whether a signal is safe to take over for live dumps: SIGUSR1, SIGUSR2, SIGRTMIN..SIGRTMAX. A
 * crash signal (SEGV...), TERM, INT, KILL, STOP and the others are refused (issue 9, point 10). */
bool vt_signal_can_dump(int signal_number);
/* vt_parse_signal, accepting only what vt_signal_can_dump accepts. */
bool vt_parse_dump_signal(const char *text, int *signal_number);
/* "SIGSEGV", "SIGRTMIN+7", or "signal N". */
void vt_signal_name(int signal_number, char *out, size_t out_size);
/* A VT_OPTION_CHOICE value: its index in option->choices (case is ignored). */
bool vt_parse_choice(const struct vt_option *option, const char *text, unsigned *index);

/* Checks one option's value; on failure writes a one-line explanation naming the variable and
 * the accepted values to `why`. */
bool vt_option_validate(const struct vt_option *option, const char *value, char *why, size_t why_size);

/* Expands %p (pid), %h (host name), %r (rank, "0" when none is set), %n (program name) and %%.
 * Returns false when the result does not fit. */
bool vt_expand_path_template(const char *template_text, const char *program_name, long pid,
                             char *out, size_t out_size);

/* The report path that goes with a trace path: "x.trace" -> "x.report.txt" (other names get
 * ".report.txt" appended). */
void vt_report_path_for_trace(const char *trace_path, char *out, size_t out_size);

/* The trace and report files a traced process writes, from its VRAMTRACE_OUTPUT and
 * VRAMTRACE_REPORT values (NULL when unset; "none" for no file): the trace from its template
 * (default vramtrace.%n.%p.trace); the report from its own template, else next to the trace, else
 * the default report template. An empty result means no such file. Returns false when a template
 * is too long once expanded (that file is then left empty). Placeholders use this process's rank
 * variables. */
bool vt_resolve_output_paths(const char *output_setting, const char *report_setting, const char *program_name,
                             long pid, char *trace_path, size_t trace_size, char *report_path, size_t report_size);

/* The name live snapshots start with (<base>.dump-N.txt): the report path without ".report.txt",
 * else the trace path. Empty when the process writes neither. */
void vt_snapshot_base(const char *trace_path, const char *report_path, char *out, size_t out_size);

/* The process rank from RANK, LOCAL_RANK, SLURM_PROCID or OMPI_COMM_WORLD_RANK, or -1. */
long vt_process_rank(void);

#endif
