/* shim/config.h — the shim's settings, read once from the VRAMTRACE_* environment variables. */
#ifndef VT_SHIM_CONFIG_H
#define VT_SHIM_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"

struct shim_config {
    char trace_path[PATH_MAX];  /* expanded; empty when no trace is written */
    char report_path[PATH_MAX]; /* expanded; empty when the report file is turned off */
    unsigned flush_interval_ms;
    int dump_signal;
    unsigned stack_depth;       /* 0 = no stacks */
    unsigned python_depth;      /* 0 = no Python frames */
    unsigned top_groups;        /* leak groups shown per kind */
    bool quiet;                 /* no report on stderr */
    uint64_t limit_bytes;       /* VRAMTRACE_LIMIT: the simulated size of each device; 0 = no limit */
    enum vt_torch_mode torch_mode; /* VRAMTRACE_TORCH: the PyTorch integration (python_injection.h) */
    bool unwind_check;          /* VRAMTRACE_UNWIND_CHECK=1 (for the tests, not a user setting): every
                                   stack captured by the fast walk and by libunwind, and compared */
    const char *test_inject_code; /* VRAMTRACE_TEST_INJECT_CODE (for the tests, not a user setting): the
                                     Python code the PyTorch trigger runs instead of the bootstrap's */
    unsigned slow_writer_ms;      /* VRAMTRACE_TEST_SLOW_WRITER=MS (for the tests, not a user setting): the
                                     trace writer keeps 2 chunks of 64 KiB and sleeps MS before each */
};

/* Reads the environment; an invalid value is reported once on stderr (naming the variable and
 * the accepted values) and its default is used. */
void config_load(struct shim_config *config, const char *program_name, long pid);

#endif
