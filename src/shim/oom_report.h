/* shim/oom_report.h — the report written at the first out-of-memory failure: the failed request
 * and its stack, the device's free/total memory, and what was live on that device, grouped by
 * stack. The live set is frozen in the failing hook (PyTorch frees its cache right after, before
 * retrying); a worker thread with every signal blocked symbolizes and writes it. */
#ifndef VT_SHIM_OOM_REPORT_H
#define VT_SHIM_OOM_REPORT_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

struct oom_report_settings {
    const char *program_name;
    long pid;
    unsigned top_groups;
    bool quiet;                 /* no line on stderr */
    char file_path[PATH_MAX];   /* empty: the whole report goes to stderr instead */
};

void oom_report_configure(const struct oom_report_settings *settings);

/* From oom_capture(), in the failing hook: freezes the live set of `device` and starts the writer. */
void oom_report_start(int device);

/* At exit: waits (bounded) until a started OOM report is written. */
void oom_report_wait(void);

/* Adds a section (`what`, for messages) rendered by render(out, top groups, context) to the OOM
 * report once it is written: appended to its file, or to a new one when no CUDA call failed, or
 * printed on stderr where the report went there. Outside any hook. */
void oom_report_append(const char *what, void (*render)(FILE *out, unsigned top, void *context), void *context);

/* Where the OOM report went, for the exit report's summary; NULL if none was written. */
const char *oom_report_path(void);

/* Renders the OOM report for the frozen state to `out` (the worker and the unit tests use it). */
void oom_report_render(FILE *out);

#endif
