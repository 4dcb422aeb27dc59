/* trace/trace_model.h — a loaded trace, and replaying it: the base of every analysis command
 * (report, timeline, flame, diff, top, merge, html, export).
 *
 * Loading keeps the definitions (process, devices, modules, stacks, threads, codes, OOM details,
 * maps, markers, PyTorch snapshots) in memory. The events (struct vt_model_event, 40 bytes) are
 * kept one of two ways: all in one array, model->events (the default), or, with the load option
 * stream_events (the CLI's, `vramtrace top`'s follower included), as blocks of trace/event_store.h
 * — one per trace chunk, decoded again from the file when asked for, a few at a time — so memory
 * follows the live set, the stacks and the output instead of the number of events. Either way an
 * event is vt_model_event_at(model, index) and a replay steps through them in order. Replaying
 * applies the events in order to an accounting (common/memory_accounting.h, the very code the
 * shim's recorder runs) — running bytes per device and kind, peaks, call counts, out-of-memory
 * state and, optionally, the live set under the format's key rules (pointers, cuMemCreate handles,
 * reservations and mappings are separate key spaces) — so the numbers match the exit report's. Peak
 * and out-of-memory event numbers are event indices (vt_model_event_at), times are since the start.
 * A replay can also be made while loading, in the same pass over the file (the load options
 * replay/visit), and feed the model's live-set index (index_live_set, trace/live_index.h), from
 * whose checkpoints later replays to an event, a time or the end start. A load can also go through
 * the index a full load left beside the trace (the load option index, trace/index_file.h), reading
 * only the chunks that hold definitions.
 *
 * Typical uses:
 *   whole run:      vt_replay_start(&r, model, true); vt_replay_all(&r, visit, ctx) or a loop of
 *                   vt_replay_step(); r.accounting.usage[...] then holds peaks and end values.
 *   live set at T:  vt_replay_start(&r, model, true); vt_replay_until_time(&r, T);
 *                   vt_groups_collect_live(&groups, &r, device);
 *   peak snapshot:  the peak's event index is accounting.usage[slot].in_use.peak_event:
 *                   vt_replay_until_event(&r, peak_event + 1), then group as above.
 */
#ifndef VT_TRACE_TRACE_MODEL_H
#define VT_TRACE_TRACE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/alloc_table.h"
#include "common/group_threads.h"
#include "common/memory_accounting.h"
#include "common/torch_layer.h"
#include "trace/trace_reader.h"
#include "vramtrace/events.h"
#include "vramtrace/trace_format.h"

/* ---- the loaded trace ------------------------------------------------------------------------ */

/* One event record. `type` is the record type (VT_RECORD_ALLOC, FREE, FREE_UNKNOWN, OOM, MAP,
 * MARKER, DROPPED or END). Streams are not kept. */
struct vt_model_event {
    uint64_t time_ns;    /* since the trace started */
    uint64_t address;    /* ALLOC/FREE: the key (pointer, cuMemCreate handle or reserved address);
                            MAP: start of the range; FREE_UNKNOWN: the address */
    uint64_t size_bytes; /* ALLOC/FREE/MAP: size (a FREE's is the freed allocation's); OOM: the
                            request; DROPPED: events lost */
    uint32_t stack_id;   /* ALLOC, OOM, MAP (the handle's); 0 = none */
    uint32_t detail;     /* ALLOC/FREE/FREE_UNKNOWN: thread index; OOM, MAP, MARKER: index in
                            model->ooms, maps, markers */
    int16_t device;      /* -1 = host */
    uint8_t type;        /* enum vt_trace_record_type */
    uint8_t kind;        /* enum vt_memory_kind (ALLOC, FREE, OOM, MAP) */
    uint16_t api;        /* enum vt_api (ALLOC, FREE, FREE_UNKNOWN, OOM, MAP) */
    uint8_t flags;       /* FREE: enum vt_free_flags */
};

struct vt_model_oom {
    uint64_t device_free_bytes, device_total_bytes; /* 0 when unknown */
    uint32_t thread_index;
    size_t event_index;
};

struct vt_model_map {
    uint64_t handle; /* the cuMemCreate handle placed at the event's range */
    uint32_t thread_index;
    size_t event_index;
};

struct vt_model_marker {
    char *label;
    uint32_t kind; /* enum vt_trace_marker_kind */
    size_t event_index;
};

struct vt_model_process {
    bool present; /* a PROCESS record was read */
    char *program, *host, *command_line, *version;
    uint64_t pid;
    int64_t rank; /* -1 = none */
    uint64_t start_realtime_ns, start_monotonic_ns;
};

struct vt_model_device {
    int ordinal;
    char *name;
    uint64_t total_bytes;
};

struct vt_model_module {
    uint32_t id;
    char *path;
    uint64_t load_address, size_bytes;
    uint8_t *build_id;
    uint32_t build_id_length;
};

struct vt_model_thread {
    uint32_t index, thread_id;
    char *name; /* its name (comm) when it first allocated; NULL: unknown */
};

/* A Python code object (CODE record): a Python frame names it by id (vramtrace/frames.h). */
struct vt_model_code {
    bool defined;
    char *file_name, *function_name;
    uint32_t first_line;
    uint8_t line_table_format; /* enum vt_python_line_table */
    uint8_t *line_table;
    uint32_t line_table_bytes;
};

/* A hash map from a 32-bit id read from a trace to an index: its memory grows with the ids
 * present, never with their values (a trace is untrusted input). */
struct vt_id_map {
    uint64_t *keys;     /* id + 1; 0: empty */
    uint32_t *values;
    size_t capacity, count;
};
bool vt_id_map_put(struct vt_id_map *map, uint32_t id, uint32_t value); /* false: out of memory */
bool vt_id_map_get(const struct vt_id_map *map, uint32_t id, uint32_t *value);
void vt_id_map_free(struct vt_id_map *map);

struct vt_model_stack {
    uint32_t first_frame; /* in model->frames */
    uint32_t depth;       /* 0 with first_frame 0: not defined */
    bool defined;
};

/* An entry of PyTorch's allocator history (TORCH_TRACE; the stream is not kept). */
struct vt_model_torch_history {
    uint64_t address, size_bytes;
    uint64_t time_ns;   /* since the trace started; 0 unknown */
    int32_t device;
    uint32_t action;    /* enum vt_torch_action */
    uint32_t stack_id;
};

/* A snapshot of PyTorch's caching allocator (TORCH_SNAPSHOT and the DEVICE, SEGMENT, BLOCK and
 * TRACE records naming it). Its view is vt_torch_view_prepare'd once the trace is loaded. */
struct vt_model_torch_snapshot {
    uint64_t time_ns;             /* when the shim received it */
    uint32_t number;              /* 1, 2, ... in the process */
    uint32_t moment;              /* enum vt_torch_moment */
    uint32_t dump_number;         /* VT_TORCH_AT_DUMP */
    uint32_t flags;               /* enum vt_torch_snapshot_flags */
    int32_t oom_device;           /* VT_TORCH_AT_OOM; -1 otherwise */
    uint32_t oom_stack_id;
    uint64_t oom_requested_bytes; /* 0 unknown */
    uint64_t cost_ns;
    struct vt_torch_view view;
    struct vt_model_torch_history *history;
    size_t history_count;
    size_t segment_capacity, block_capacity, device_capacity, history_capacity;
};

struct vt_event_store;
struct vt_trace_index;
struct vt_index_defining_chunks;

struct vt_trace_model {
    char *path;
    struct vt_model_process process;
    struct vt_model_device *devices;
    size_t device_count;
    struct vt_model_module *modules;
    size_t module_count;
    struct vt_model_thread *threads;
    size_t thread_count;
    struct vt_id_map thread_firsts; /* thread index -> its first entry in threads (a record that
                                       repeats that entry exactly adds none) */

    struct vt_model_stack *stacks; /* in the order defined; found by id through stack_ids */
    size_t stack_slots;            /* entries in stacks */
    struct vt_id_map stack_ids;    /* stack id -> index in stacks */
    size_t stack_count;            /* defined ones */
    uint64_t *frames;
    size_t frame_count;

    struct vt_model_code *codes;   /* in the order defined; found by id through code_ids */
    size_t code_slots;             /* entries in codes */
    struct vt_id_map code_ids;     /* code id -> index in codes */

    struct vt_model_event *events; /* all events; NULL when streamed (store) */
    size_t event_count;
    struct vt_event_store *store;  /* streamed events (stream_events); NULL: they are in events */
    struct vt_live_index *live_index; /* checkpoints of the live set (index_live_set); NULL: none */
    int16_t *event_devices;        /* the devices events name (FREE_UNKNOWN's aside), -1 the host */
    size_t event_device_count;
    struct vt_model_oom *ooms;
    size_t oom_count;
    struct vt_model_map *maps;
    size_t map_count;
    struct vt_model_marker *markers;
    size_t marker_count;

    struct vt_model_torch_snapshot *torch_snapshots; /* in the order written (by time) */
    size_t torch_snapshot_count;
    struct vt_id_map torch_snapshot_ids;            /* snapshot number -> index */

    uint64_t dropped_events;   /* sum of DROPPED records */
    uint64_t duration_ns;      /* time of the last event */
    bool complete;             /* an END record was read */
    uint64_t file_bytes;
    uint64_t chunk_count, unknown_record_count;
    enum vt_trace_stop_reason stop_reason;
    uint64_t skipped_bytes;    /* truncated or damaged tail; see vt_trace_reader_warn_tail */
    uint64_t stopped_at;       /* where that tail starts (when skipped_bytes) */
    bool loaded_from_index;    /* of the chunks the index covers only those holding definitions were
                                  read (load option index) */
    bool read_past_index;      /* the trace had grown since: what followed was read as a full load does */
    uint64_t chunks_decoded;   /* chunks the load decoded */
};

struct vt_replay;
/* Called after each event is applied: `replay` shows the state including that event. */
typedef void vt_replay_visit(const struct vt_model_event *event, size_t index, const struct vt_replay *replay,
                             void *context);

struct vt_model_load_options {
    FILE *progress; /* progress lines go here when loading takes over a second; NULL: none */
    bool stream_events;     /* keep events as blocks decoded again on demand (event_store.h) */
    size_t resident_blocks; /* streaming: decoded blocks kept at most; 0: the default (4) */
    /* A replay of the whole run made while loading, in the same pass over the file: `replay`
     * (vt_replay_start'ed on the model being loaded, NULL: none) applies each event as it is
     * loaded, `visit` (may be NULL) is called after each as vt_replay_all calls it. The replay
     * then stands after the last event, as after vt_replay_all. */
    struct vt_replay *replay;
    vt_replay_visit *visit;
    void *visit_context;
    /* Build the model's live-set index (trace/live_index.h) from that replay (it must keep the
     * live set), or from one of the loader's own when `replay` is NULL: vt_replay_until_event and
     * vt_replay_until_time then start from its checkpoints. Interval and budget 0: the defaults. */
    bool index_live_set;
    size_t live_index_interval, live_index_budget_bytes;
    /* The trace's index (trace/index_file.h), read beside it: with stream_events and no `replay`,
     * when it describes the file as it is or its start (the file grew since), of the chunks it
     * covers only those holding definitions are read, the other blocks and the live-set
     * checkpoints (with index_live_set) are taken from it (moved into the model), and what follows
     * is read as a full load would; when it is stale, or the file does not read as it says, the
     * trace is loaded in full. */
    struct vt_trace_index *index;
    /* A full load notes here the chunks holding definitions, for an index to be written. */
    struct vt_index_defining_chunks *defining_chunks;
};

/* Loads the trace at `path`. On failure returns the reason and writes a one-line message to
 * error[0..error_size); the model is then empty (vt_model_free is still fine). Out of memory
 * while loading is VT_TRACE_CANNOT_OPEN with a message saying so. The warnings about a truncated
 * tail or lost events are the caller's to print (vt_model_warn_gaps). */
enum vt_trace_open_result vt_model_load(struct vt_trace_model *model, const char *path,
                                        const struct vt_model_load_options *options, char *error, size_t error_size);
void vt_model_free(struct vt_trace_model *model);

/* Following a trace that is still being written (`vramtrace top`): the model grows by what was
 * appended since the last update, read once; the result after an update is the model that
 * vt_model_load would give of the file as it is then (with the same options). Definitions (STACK,
 * CODE, MODULE, THREAD, DEVICE) are global: those of earlier chunks stay known. A chunk cut short
 * at the end of the file is read again, whole, at the next update. With stream_events each chunk
 * read whole that holds events becomes a block of the model's event store, read again when asked
 * for through a file descriptor of the store's own, so the follower's memory does not grow with
 * the events. The follower must not move between open and close (its loader points at its model
 * and reader); a replay of follower->model may go on across updates: the events it has applied
 * keep their indices. */
struct vt_model_loader;
struct vt_model_follower {
    struct vt_trace_model model;
    struct vt_trace_reader reader;
    struct vt_model_loader *loader;
};
/* Opens the trace (as vt_model_load, reading nothing yet). `options` (NULL: the defaults):
 * stream_events and resident_blocks as vt_model_load's; no progress is shown. With stream_events
 * and `index` (trace/index_file.h; index_live_set: its checkpoints too), the model starts as a load
 * through the index gives it (reading what follows the index when the trace grew since) and the
 * next update reads on from there; an index that does not serve is left aside (from the start). */
enum vt_trace_open_result vt_model_follow_open(struct vt_model_follower *follower, const char *path,
                                               const struct vt_model_load_options *options, char *error,
                                               size_t error_size);
/* Reads what the file holds beyond what was read; false when out of memory or when the file
 * cannot be examined any more. */
bool vt_model_follow_update(struct vt_model_follower *follower);
void vt_model_follow_close(struct vt_model_follower *follower);

/* The warnings about what the trace lacks: the truncated-tail line when the reader stopped early
 * (see trace_reader.h), and the events lost (DROPPED records: vt_format_lost_events). */
void vt_model_warn_gaps(const struct vt_trace_model *model, FILE *out);

/* A stack's frames (frame words of vramtrace/frames.h: return addresses and Python frames,
 * innermost first); NULL when the id is 0 or undefined. */
const uint64_t *vt_model_stack_frames(const struct vt_trace_model *model, uint32_t stack_id, unsigned *depth);
/* The CODE record of an id, or NULL when it is not defined. */
const struct vt_model_code *vt_model_find_code(const struct vt_trace_model *model, uint32_t code_id);
/* The THREAD record of a thread index (an event's), or NULL when it is not defined. */
const struct vt_model_thread *vt_model_find_thread(const struct vt_trace_model *model, uint32_t index);
/* A vt_thread_name_of (common/group_threads.h) over a model (the context): the name of the last
 * THREAD record with that kernel thread id, as the shim keeps the last thread of an id. */
const char *vt_model_thread_name(uint32_t thread_id, const void *model);
/* The DEVICE record of an ordinal, or NULL. */
const struct vt_model_device *vt_model_find_device(const struct vt_trace_model *model, int ordinal);
/* Whether any DEVICE record or event names `ordinal`. */
bool vt_model_has_device(const struct vt_trace_model *model, int ordinal);
/* Event `index` (< event_count). Streamed, the pointer stays valid until another block of the trace
 * is decoded (by this call or a replay step): copy the event to keep it. */
const struct vt_model_event *vt_model_event_at(const struct vt_trace_model *model, size_t index);
/* The last event at or before `time_ns` is event result - 1: the number of events up to then. */
size_t vt_model_events_until(const struct vt_trace_model *model, uint64_t time_ns);
/* The same over an array of events in time order: how many are at or before `time_ns`. */
size_t vt_events_until(const struct vt_model_event *events, size_t count, uint64_t time_ns);

/* ---- replay ---------------------------------------------------------------------------------- */

#define VT_MODEL_MAX_DEVICES VT_MAX_DEVICES
/* Usage slots (vt_slot_of_device): slot 0 is the host (pinned memory not tied to a device), slot
 * d + 1 device d; ordinals beyond VT_MODEL_MAX_DEVICES fall in slot 0, as in the shim. */
#define VT_MODEL_SLOT_COUNT VT_SLOT_COUNT

/* The record's time, before the fix-up. */
static inline uint64_t vt_event_record_time(const struct vt_trace_record *record)
{
    return record->type == VT_RECORD_MARKER    ? record->marker.timestamp_ns
           : record->type == VT_RECORD_END     ? record->end.timestamp_ns
           : record->type == VT_RECORD_DROPPED ? record->dropped.timestamp_ns
                                               : record->event.timestamp_ns;
}

static inline void vt_event_copy_allocation_fields(struct vt_model_event *event, const struct vt_trace_event *decoded)
{
    event->address = decoded->address;
    event->size_bytes = decoded->size_bytes;
    event->stack_id = decoded->stack_id;
    event->device = (int16_t)decoded->device;
    event->kind = decoded->kind;
    event->api = decoded->api;
}

/* The event a record stands for, but its time (not yet fixed up) and, for OOM, MAP and MARKER
 * events, its detail (the index in the model's ooms, maps, markers: the loader's to give): what
 * loading and decoding again (trace/event_store.c) share, inline for the loading's every event. */
static inline void vt_event_from_record(struct vt_model_event *event, const struct vt_trace_record *record)
{
    const struct vt_trace_event *decoded = &record->event;
    if (record->type == VT_RECORD_ALLOC || record->type == VT_RECORD_FREE) { /* nearly every event */
        *event = (struct vt_model_event){
            .address = decoded->address,
            .size_bytes = decoded->size_bytes,
            .stack_id = decoded->stack_id,
            .detail = decoded->thread_index,
            .device = (int16_t)decoded->device,
            .type = (uint8_t)record->type,
            .kind = decoded->kind,
            .api = decoded->api,
            .flags = decoded->flags,
        };
        return;
    }
    *event = (struct vt_model_event){.type = (uint8_t)record->type, .device = -1};
    switch (record->type) {
    case VT_RECORD_FREE_UNKNOWN:
        event->address = decoded->address;
        event->api = decoded->api;
        event->detail = decoded->thread_index;
        break;
    case VT_RECORD_OOM:
    case VT_RECORD_MAP:
        vt_event_copy_allocation_fields(event, decoded);
        break;
    case VT_RECORD_MARKER:
        event->kind = (uint8_t)record->marker.kind;
        break;
    case VT_RECORD_DROPPED:
        event->size_bytes = record->dropped.count;
        break;
    default: /* END */
        break;
    }
}

/* Whether an event is a successful allocation of memory (vt_allocated_memory: not a zero-byte
 * request, a null result, address space or a mapping): an allocation, a site, a recovery. */
static inline bool vt_event_allocated_memory(const struct vt_model_event *event)
{
    return event->type == VT_RECORD_ALLOC && vt_allocated_memory(event->kind, event->address, event->size_bytes);
}

struct vt_replay {
    const struct vt_trace_model *model;
    size_t next_event;  /* events [0, next_event) are applied */
    struct vt_model_event current; /* streamed: a copy of the event last applied */
    /* usage, stats, oom (first_event, last_event: event indices) and, with track_live,
     * the live tables (alloc_record: address = key, thread_id = thread index); out_of_memory: a
     * live table could not grow, the live set is incomplete */
    struct vt_accounting accounting;
};

/* Starts a replay at the beginning of the trace. With track_live false no live set is kept and a
 * FREE is applied with the sizes it carries (faster, same totals for traces written by the shim);
 * with it true, frees and key reuse are matched against the live tables as the recorder does. */
void vt_replay_start(struct vt_replay *replay, const struct vt_trace_model *model, bool track_live);
/* Applies the next event and returns it (valid until the next step); NULL when every event is
 * applied. */
const struct vt_model_event *vt_replay_step(struct vt_replay *replay);
/* Applies `event`, the next one (event next_event of the model), given by the caller: the loader's
 * replay (vt_model_load_options). */
void vt_replay_apply(struct vt_replay *replay, const struct vt_model_event *event);
/* Applies events until `end_event` of them are applied (no-op if already past); from the model's
 * last live-set checkpoint before end_event when it is ahead (a replay keeping the live set). */
void vt_replay_until_event(struct vt_replay *replay, size_t end_event);
/* Applies every event at or before time_ns. */
void vt_replay_until_time(struct vt_replay *replay, uint64_t time_ns);

/* Applies every remaining event, calling `visit` (may be NULL) after each; without a visitor, as
 * vt_replay_until_event (from the last live-set checkpoint when it is ahead). */
void vt_replay_all(struct vt_replay *replay, vt_replay_visit *visit, void *context);
void vt_replay_finish(struct vt_replay *replay);

/* The usage of a device (-1: host). */
const struct vt_slot_usage *vt_replay_usage(const struct vt_replay *replay, int device);

/* ---- groups: allocations by (kind, API, stack), largest first ---------------------------------- */

#define VT_GROUPS_ALL_DEVICES (-2)
#define VT_GROUP_HANDLES_KEPT 4

struct vt_group {
    uint64_t bytes, count;
    uint32_t stack_id;
    uint16_t api;
    uint8_t kind;
    unsigned handles_kept;                     /* cuMemCreate groups: some of their handles */
    uint64_t handles[VT_GROUP_HANDLES_KEPT];
    struct vt_thread_tally threads;            /* live sets: the threads that allocated it, by tid */
};

struct vt_group_mapping {
    uint64_t handle, address, size_bytes;
};

struct vt_groups {
    struct vt_group *groups;      /* live sets: by kind, then largest first; sites: largest first */
    size_t group_count;
    uint64_t bytes_by_kind[VT_KIND_COUNT];
    uint64_t count_by_kind[VT_KIND_COUNT];
    struct vt_group_mapping *mappings; /* live mapped ranges (live sets only) */
    size_t mapping_count;
    bool incomplete;              /* out of memory while grouping, or the replay's live set is */
    uint64_t torch_bytes, torch_count; /* ..._outside_torch: device memory left out (PyTorch's cache) */
};

enum vt_group_order { VT_GROUPS_BY_BYTES, VT_GROUPS_BY_COUNT };

/* Groups the replay's live set (track_live) on `device` (or VT_GROUPS_ALL_DEVICES). Mapped ranges
 * are kept as mappings, not groups. */
void vt_groups_collect_live(struct vt_groups *groups, const struct vt_replay *replay, int device);
/* The same, leaving out the memory PyTorch's caching allocator holds in the segments of `torch`
 * (vt_torch_view_holds): the CUDA layer outside PyTorch, as the shim's exit report groups it. What
 * is left out is counted in torch_bytes and torch_count (device memory) instead. */
void vt_groups_collect_live_outside_torch(struct vt_groups *groups, const struct vt_replay *replay, int device,
                                          const struct vt_torch_view *torch);
/* Groups every successful allocation of memory (kinds that are memory use) over the whole run:
 * the allocation sites, largest first by bytes allocated or by count, whatever their kind. */
void vt_groups_collect_sites(struct vt_groups *groups, const struct vt_trace_model *model, int device,
                             enum vt_group_order order);
/* The same in both orders, event by event, where a pass over the events is made anyway (the
 * report's whole-run replay): vt_sites_start, vt_sites_add for each event in order, then
 * vt_sites_finish_both (the same as two vt_groups_collect_sites; frees the collector). A NULL
 * collector (out of memory) is accepted by both and gives incomplete sites. */
struct vt_site_collector;
struct vt_site_collector *vt_sites_start(int device);
void vt_sites_add(struct vt_site_collector *collector, const struct vt_model_event *event);
/* A copy of the sites collected so far, as vt_sites_finish_both's by_bytes; the collector goes on
 * (what the index beside the trace keeps of a report's pass). False when out of memory. */
bool vt_sites_copy(const struct vt_site_collector *collector, struct vt_groups *by_bytes);
/* The same sites as by_bytes, most allocations first (by_count->incomplete when out of memory). */
void vt_sites_by_count(const struct vt_groups *by_bytes, struct vt_groups *by_count);
void vt_sites_finish_both(struct vt_site_collector *collector, struct vt_groups *by_bytes,
                          struct vt_groups *by_count);
void vt_groups_free(struct vt_groups *groups);

/* What a --top limit leaves out. */
struct vt_groups_rest {
    uint64_t groups, bytes, count;
};

/* Calls `shown` for the first `top` groups of `kind` (in their order, largest first) and returns
 * the totals of the others: the "... and N more group(s)" of every report. */
struct vt_groups_rest vt_groups_top(const struct vt_groups *groups, unsigned kind, unsigned top,
                                    void (*shown)(const struct vt_group *group, void *context), void *context);

#endif
