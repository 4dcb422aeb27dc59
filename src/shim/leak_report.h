/* shim/leak_report.h — the report made when the traced process exits: leaked allocations per
 * kind, grouped by stack, largest first, with symbolized frames; the peak per device; the call
 * counts; and a last line in LeakSanitizer's shape:
 *   SUMMARY: vramtrace: <bytes> byte(s) leaked in <n> allocation(s).
 * Built from the recorder's host-side tables only: it never calls CUDA.
 */
#ifndef VT_SHIM_LEAK_REPORT_H
#define VT_SHIM_LEAK_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct leak_report_options {
    const char *program_name;
    long pid;
    unsigned top_groups;    /* groups shown per kind; the rest are summed up in one line */
    bool print_to_stderr;
    const char *file_path;  /* empty or NULL: no file */
    const char *trace_path; /* the trace written, or NULL */
    const char *trace_error; /* what failed while writing the trace (then it is incomplete), or NULL */
    uint64_t trace_bytes;    /* how many bytes of the trace reached its file */
    uint64_t trace_events_lost; /* events the trace writer dropped (its output stalled): the trace then
                                   lacks them, while this report's own figures stay exact */
    unsigned live_snapshot; /* > 0: a live dump (its number): "in use" instead of "leaked" */
};

/* Writes the body of the report (everything but the SUMMARY line) to `out`. */
void leak_report_render(FILE *out, const struct leak_report_options *options);

/* A live snapshot (vramtrace dump) to options->file_path, from the writer thread. */
void leak_report_write_live_snapshot(const struct leak_report_options *options);

/* Writes the SUMMARY line for the current live set to `out`. */
void leak_report_render_summary(FILE *out);

/* The whole report, to stderr and/or the file. Says on stderr where the file went, or why it
 * could not be written. */
void leak_report_write_at_exit(const struct leak_report_options *options);

#endif
