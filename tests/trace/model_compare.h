/* tests/trace/model_compare.h — what the model tests share: a trace of many chunks with every kind
 * of event (many_chunk_trace), and assertions that two loads, replays or reports of a trace are the
 * same (events byte for byte, groups field by field, a replay's accounting and live tables record
 * by record in their order). */
#ifndef VT_TESTS_MODEL_COMPARE_H
#define VT_TESTS_MODEL_COMPARE_H

#include <stddef.h>

#include "run_process.h"
#include "trace/trace_model.h"
#include "trace/trace_report.h"

#define MIB (1ull << 20)
#define MS (1000000ull)
#define MANY_CHUNKS 40

/* MANY_CHUNKS chunks of churn on devices 0 and 1 (allocations, frees, a leak per chunk), with OOM,
 * MAP, MARKER, DROPPED and FREE_UNKNOWN events, a chunk of definitions only and chunk base times
 * that go back; written to a fresh temporary file `name`, whose path it returns. */
const char *many_chunk_trace(const char *name);

void assert_same_event(const struct vt_model_event *a, const struct vt_model_event *b, size_t index);
void assert_same_groups(const struct vt_groups *a, const struct vt_groups *b, const char *what);
void assert_same_reports(const struct vt_report *a, const struct vt_report *b);
/* The same state: events applied, usage, stats, out-of-memory state, each live table's records in
 * iteration order (their fields, not their links) and the live groups of every device. */
void assert_same_replay(const struct vt_replay *a, const struct vt_replay *b, const char *what);

/* `vramtrace ARGS...` (args NULL-terminated, at most 14) with one environment change, `setting`
 * ("NAME=value" to set, "NAME" to unset: run_process.h). */
struct process_result run_cli(const char *setting, const char *const args[]);

#endif
