/* trace/index_file.h — a trace's index, kept beside it as TRACE.vtindex: what one full loading pass
 * learned, so that the next command on the same unchanged trace need not read every chunk again.
 *
 * It holds the event store's blocks (trace/event_store.h: each chunk holding events, its first
 * event, its count, its first time, the loader's state at its start), the chunks holding
 * definitions (a record that is not an ALLOC, FREE or FREE_UNKNOWN: they are read again, since the
 * model keeps their contents), what the loading pass counted (events, their devices, the last
 * event's time, chunks, unknown records, where and why reading stopped) and the live-set index
 * (trace/live_index.h: the checkpoints of the replay). A load given the index (the load option
 * `index`, trace_model.h) reads only the defining chunks, registers the other blocks as they are and
 * takes the checkpoints: the model is the one a full load gives (tests/trace/test_index_file.c),
 * and replays to a time, a peak or the end start from a checkpoint as before.
 *
 * The index describes one state of the trace: its size, modification time, inode and device. A
 * trace only grows: when the same file has grown since, the load takes the index for the start and
 * reads on from where the indexed load stopped (the replay restored from the index's last checkpoint),
 * so a trace still being written is not read from its start by every command; a file changed
 * otherwise is loaded in full. Either way the command writes the index again. It is the user's cache:
 * read only when it is a regular file of the user running the command (not followed through a
 * symbolic link), checked whole (CRC-32 of the compressed body; every count and offset against the
 * trace), written to a temporary file in the trace's directory then renamed over the old one (a
 * symbolic link there is replaced, never followed). docs/trace-format.md describes the file.
 */
#ifndef VT_TRACE_INDEX_FILE_H
#define VT_TRACE_INDEX_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace/event_store.h"
#include "trace/live_index.h"

#define VT_INDEX_SUFFIX ".vtindex"

/* A chunk holding definitions, as the full load met it. */
struct vt_index_defining_chunk {
    uint64_t offset;         /* where it starts in the trace */
    uint64_t time_before_ns; /* the loader's time fix-up at its start */
};

/* The defining chunks in file order: noted by a full load (vt_model_load_options.defining_chunks),
 * written into the index. */
struct vt_index_defining_chunks {
    struct vt_index_defining_chunk *chunks;
    size_t count, capacity;
    bool out_of_memory; /* one could not be noted: the list is incomplete, no index is written */
};

/* The state of the trace file an index describes. */
struct vt_index_identity {
    uint64_t file_bytes, modified_s, modified_ns, inode, device;
};

/* What a report's whole-run pass gathered for one --device (trace/trace_report.h): the allocation
 * sites and the out-of-memory failures. Kept in the index when a report wrote it, so that the next
 * report of the unchanged trace with that --device need not visit every event. */
struct vt_index_report_tables {
    bool present;
    int32_t device;          /* the report's --device: VT_GROUPS_ALL_DEVICES or an ordinal */
    struct vt_groups sites;  /* largest first (vt_sites_copy) */
    uint64_t oom_failures, oom_allocations_after_last_failure;
    uint64_t oom_first_event; /* the first failure's event index, when oom_failures */
};

/* How an index fits the trace as it is now. */
enum vt_index_fit {
    VT_INDEX_STALE,   /* another file, or changed otherwise than by appending: not used */
    VT_INDEX_CURRENT, /* the trace as it was indexed */
    VT_INDEX_PREFIX,  /* the same file grown since (a job still running): the index describes its
                         start, read whole (not stopped at a damaged chunk), and a load goes on after it */
};

/* An index read back. */
struct vt_trace_index {
    struct vt_index_identity identity;
    enum vt_index_fit fit; /* how it fitted the trace when read (current, or its start) */
    uint64_t event_count, duration_ns, chunk_count, unknown_record_count, skipped_bytes, stopped_at;
    uint32_t stop_reason; /* enum vt_trace_stop_reason */
    struct vt_event_block *blocks; /* events NULL */
    size_t block_count;
    struct vt_index_defining_chunks defining;
    int16_t *event_devices;
    size_t event_device_count;
    struct vt_live_index live_index; /* moved into the model by a load that uses it */
    struct vt_index_report_tables report; /* present only when a report's pass wrote the index */
};

/* How the analysis commands use indexes: VRAMTRACE_INDEX=auto (the default: use a current index,
 * write one when there is none or it is stale), read (use one, never write), off (neither). */
enum vt_index_mode { VT_INDEX_AUTO, VT_INDEX_READ, VT_INDEX_OFF };
/* The mode VRAMTRACE_INDEX asks for; false (with `mode` untouched) when its value is not valid. */
bool vt_index_mode_from_environment(enum vt_index_mode *mode);

/* TRACE.vtindex for a trace path (malloc'd; NULL when out of memory). */
char *vt_index_path(const char *trace_path);

/* Whether the file at `path` is an index (begins with its magic): what merge skips among the
 * traces of a glob, and what a command given one says it is. */
bool vt_index_file_is_one(const char *path);


/* Reads the index beside `trace_path`; false when there is none, it is not the user's regular
 * file, it does not read whole, or it is stale. */
bool vt_index_read(struct vt_trace_index *index, const char *trace_path);

struct vt_trace_model;

/* How `index` fits the trace open as `trace_fd` now, `file_bytes` long when its reader opened it. */
enum vt_index_fit vt_index_fit(const struct vt_trace_index *index, int trace_fd, uint64_t file_bytes);

/* The identity of the file open as `fd` now; false when it cannot be examined. */
bool vt_index_identity_of(int fd, struct vt_index_identity *identity);

/* What vt_index_read does once it has the file's bytes: parses and checks them for a trace that is
 * `now`; false when they do not read whole or are stale. */
bool vt_index_parse(struct vt_trace_index *index, const uint8_t *bytes, size_t length,
                    const struct vt_index_identity *now);

/* The index's body for `model` (loaded in full, streamed, `defining` noted), appended to `body`
 * uncompressed: what the loading pass counted, the blocks, the defining chunks, the devices events
 * name, the live-set index, a report's tables (NULL: none) (body->failed when out of memory). */
struct vt_text;
void vt_index_body(struct vt_text *body, const struct vt_trace_model *model,
                   const struct vt_index_defining_chunks *defining, const struct vt_index_report_tables *report);
void vt_index_report_tables_free(struct vt_index_report_tables *report);

/* An index file's bytes for `identity` around an uncompressed `body` (the layout of
 * docs/trace-format.md): header, then the body compressed; *bytes malloc'd; false when out of
 * memory. vt_index_write's, and the index fuzz harness's (tests/fuzz/fuzz_index.c). */
bool vt_index_encode(const uint8_t *body, size_t body_length, const struct vt_index_identity *identity,
                     uint8_t **bytes, size_t *length);

/* Writes the index of `model`, loaded in full with stream_events and its defining chunks noted,
 * beside its trace, with a report's tables (NULL or not present: none), when the trace (its
 * store's file descriptor) is still as its reader found it; false when it is not written (errno
 * says why when a system call failed). */
bool vt_index_write(const struct vt_trace_model *model, const struct vt_index_defining_chunks *defining,
                    const struct vt_index_report_tables *report);

void vt_index_defining_chunks_free(struct vt_index_defining_chunks *defining);
void vt_trace_index_free(struct vt_trace_index *index);

#endif
