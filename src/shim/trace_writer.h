/* shim/trace_writer.h — the trace file (docs/trace-format.md): hooks append encoded records to an
 * in-memory chunk (no syscall, no stdio); a writer thread, with every signal blocked, compresses
 * full or due chunks and writes each with one write(2) — at least every flush interval while events
 * arrive, on request (out of memory, live dump) and at exit. A process killed at any moment leaves
 * a file readable up to its last complete chunk.
 *
 * Memory is bounded: at most 48 chunks of 1 MiB wait for the writer; beyond that an append waits
 * for the writer to hand one back, as long as the writer makes progress. Only when it has written
 * nothing for 2 s (an output nobody reads) are events dropped, counted, and a DROPPED record says
 * how many (docs/architecture.md, "The trace writer").
 */
#ifndef VT_SHIM_TRACE_WRITER_H
#define VT_SHIM_TRACE_WRITER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/trace_codec.h"

struct trace_writer_settings {
    char path[PATH_MAX];         /* empty: no trace */
    unsigned flush_interval_ms;
    const char *program_name;
    long pid;
    uint64_t start_monotonic_ns; /* the recorder's start: event times are relative to it */
    unsigned slow_writer_ms;     /* VRAMTRACE_TEST_SLOW_WRITER (for the tests): 2 chunks of 64 KiB at most,
                                    and the writer sleeps this long before each; 0: normal */
};

void trace_writer_configure(const struct trace_writer_settings *settings);
bool trace_writer_enabled(void);

/* --- called under the recorder's lock ---------------------------------------------------------- */

/* Appends one record (event times relative to the start). Waits while every chunk waits for a
 * writer that makes progress (not on the writer's thread, nor after trace_writer_finish began).
 * False when it was dropped (or there is no trace). */
bool trace_writer_append(const struct vt_trace_record *record);
/* The calling thread's small index for events; announces it with a THREAD record the first time
 * (0, "unknown", when that record could not be written: it is tried again at the next event). */
uint32_t trace_writer_thread_index(void);

/* --- lifecycle --------------------------------------------------------------------------------- */

/* Starts the writer thread on the first event (one load after that: inline, as every event asks).
 * Call outside the recorder lock. */
extern bool trace_writer_started __attribute__((visibility("hidden")));
void trace_writer_start(void);
static inline void trace_writer_ensure_started(void)
{
    if (!__atomic_load_n(&trace_writer_started, __ATOMIC_ACQUIRE))
        trace_writer_start();
}
/* Wakes the writer to flush now. Async-signal-safe. */
void trace_writer_request_flush(void);
/* On the writer thread, in the dump handler (the recorder reads its tables for a live dump): while
 * `wanted`, no hook waits for the writer, so a hook waiting with the recorder's lock drops its event
 * and gives the lock back. Returns whether the caller is the writer thread (else nothing is done). */
bool trace_writer_recorder_lock_wanted(bool wanted);
/* Wakes the writer to flush and call `dump` (set by trace_writer_set_dump_handler) from its thread.
 * Async-signal-safe: the live-dump signal handler calls only this. */
void trace_writer_request_dump(void);
/* Wakes the writer and waits, at most timeout_ms, until a flush that began after this call has
 * written everything appended before it (the first OOM: on disk before the failing call returns).
 * Never called under the recorder's lock or from the writer thread (refused: false); false too when
 * there is no trace or writer, or on timeout. The writer takes no lock a hook holds while waiting. */
bool trace_writer_flush_and_wait(unsigned timeout_ms);
void trace_writer_set_dump_handler(void (*dump)(unsigned dump_number));
/* At exit: an END record, a last flush, and the writer joined (waits while it writes, at most 10 s;
 * gives up after 2 s without progress, and counts what it did not write as dropped). */
void trace_writer_finish(void);
/* In a forked child: never write to the parent's file. */
void trace_writer_after_fork_in_child(void);

/* Figures for the reports: bytes written so far and events dropped (records, after
 * trace_writer_finish gave up on the writer: those it did not write too). */
uint64_t trace_writer_bytes_written(void);
/* What failed while creating, writing or closing the trace ("No space left on device"...), or NULL
 * when nothing did: the exit report then says the trace is incomplete instead of written. */
const char *trace_writer_error(void);
uint64_t trace_writer_events_dropped(void);
const char *trace_writer_path(void);

#endif
