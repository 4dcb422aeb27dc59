/* trace/trace_model.c — loading a trace (definitions in memory; events in one array, or as blocks
 * of trace/event_store.h decoded again on demand), replaying it (each record applied to the shared
 * accounting of common/memory_accounting.h), and grouping allocations (see trace_model.h). */
#define _GNU_SOURCE
#include "trace/trace_model.h"

#include "common/format.h"
#include "common/reserve.h"
#include "trace/event_store.h"
#include "trace/index_file.h"
#include "trace/live_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct vt_model_event) == 40, "events stay compact: traces hold tens of millions");

/* ---- loading --------------------------------------------------------------------------------- */

static char *copy_text(struct vt_trace_text text)
{
    return strndup(text.bytes ? text.bytes : "", text.bytes ? text.length : 0);
}

struct loader {
    struct vt_trace_model *model;
    size_t device_capacity, module_capacity, thread_capacity, frame_capacity, event_capacity;
    size_t oom_capacity, map_capacity, marker_capacity, stack_capacity, code_capacity;
    size_t torch_snapshot_capacity;
    size_t unsorted_snapshot;  /* the first snapshot given segments since the last read, + 1; 0: none */
    uint64_t last_time_ns;
    bool out_of_memory;
    /* streaming (model->store): the reader whose chunk the events come from, the block being
     * registered (its chunk's number in reader->chunk_count) and where its events go: nowhere */
    const struct vt_trace_reader *reader;
    uint64_t block_chunk;
    struct vt_model_event scratch;
    /* the replay applying the events as they load (options->replay, or the loader's own for the
     * live-set index), its visitor */
    struct vt_replay *replay, own_replay;
    vt_replay_visit *visit;
    void *visit_context;
    /* the chunks holding definitions, noted for an index (options->defining_chunks; NULL: not) */
    struct vt_index_defining_chunks *defining;
    /* progress */
    FILE *progress;
    struct timespec started;
    double progress_shown_at; /* seconds since started; 0: not shown yet */
};

static bool add_device(struct loader *loader, const struct vt_trace_record *record)
{
    struct vt_trace_model *model = loader->model;
    char *name = copy_text(record->device.name);
    if (!name)
        return false;
    for (size_t i = 0; i < model->device_count; i++)
        if (model->devices[i].ordinal == (int)record->device.ordinal) {
            free(model->devices[i].name);
            model->devices[i].name = name;
            model->devices[i].total_bytes = record->device.total_bytes;
            return true;
        }
    if (!vt_reserve_one(&model->devices, &loader->device_capacity, model->device_count, sizeof *model->devices)) {
        free(name);
        return false;
    }
    model->devices[model->device_count++] =
        (struct vt_model_device){(int)record->device.ordinal, name, record->device.total_bytes};
    return true;
}

static bool add_module(struct loader *loader, const struct vt_trace_record *record)
{
    struct vt_trace_model *model = loader->model;
    if (!vt_reserve_one(&model->modules, &loader->module_capacity, model->module_count, sizeof *model->modules))
        return false;
    struct vt_model_module module = {
        .id = record->module.id,
        .path = copy_text(record->module.path),
        .load_address = record->module.load_address,
        .size_bytes = record->module.size_bytes,
        .build_id_length = record->module.build_id_length,
    };
    if (module.build_id_length) {
        module.build_id = malloc(module.build_id_length);
        if (module.build_id)
            memcpy(module.build_id, record->module.build_id, module.build_id_length);
    }
    if (!module.path || (module.build_id_length && !module.build_id)) {
        free(module.path);
        free(module.build_id);
        return false;
    }
    model->modules[model->module_count++] = module;
    return true;
}

/* ---- id maps --------------------------------------------------------------------------------- */

static size_t id_slot(uint64_t key, size_t capacity)
{
    key *= 0x9E3779B97F4A7C15ull;
    return (size_t)(key >> 32) & (capacity - 1);
}

static bool id_map_grow(struct vt_id_map *map)
{
    size_t capacity = map->capacity ? map->capacity * 2 : 64;
    uint64_t *keys = calloc(capacity, sizeof *keys);
    uint32_t *values = calloc(capacity, sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        return false;
    }
    for (size_t i = 0; i < map->capacity; i++) {
        if (!map->keys[i])
            continue;
        size_t at = id_slot(map->keys[i], capacity);
        while (keys[at])
            at = (at + 1) & (capacity - 1);
        keys[at] = map->keys[i];
        values[at] = map->values[i];
    }
    free(map->keys);
    free(map->values);
    map->keys = keys;
    map->values = values;
    map->capacity = capacity;
    return true;
}

bool vt_id_map_put(struct vt_id_map *map, uint32_t id, uint32_t value)
{
    if ((map->count + 1) * 2 > map->capacity && !id_map_grow(map))
        return false;
    uint64_t key = (uint64_t)id + 1;
    size_t at = id_slot(key, map->capacity);
    while (map->keys[at] && map->keys[at] != key)
        at = (at + 1) & (map->capacity - 1);
    if (!map->keys[at])
        map->count++;
    map->keys[at] = key;
    map->values[at] = value;
    return true;
}

bool vt_id_map_get(const struct vt_id_map *map, uint32_t id, uint32_t *value)
{
    if (!map->capacity)
        return false;
    uint64_t key = (uint64_t)id + 1;
    for (size_t at = id_slot(key, map->capacity); map->keys[at]; at = (at + 1) & (map->capacity - 1))
        if (map->keys[at] == key) {
            *value = map->values[at];
            return true;
        }
    return false;
}

void vt_id_map_free(struct vt_id_map *map)
{
    free(map->keys);
    free(map->values);
    memset(map, 0, sizeof *map);
}

/* Stack and code ids are found through a hash map, so memory follows the definitions the trace
 * holds, whatever the values of their ids (a trace is untrusted input). */
static bool add_stack(struct loader *loader, const struct vt_trace_record *record)
{
    struct vt_trace_model *model = loader->model;
    uint32_t id = record->stack.id;
    uint32_t index;
    if (id == 0)
        return true; /* not a valid id: events naming it show no stack */
    if (vt_id_map_get(&model->stack_ids, id, &index))
        return true; /* the first definition stands */
    size_t needed = model->frame_count + record->stack.depth;
    if (needed > UINT32_MAX || model->stack_slots >= UINT32_MAX)
        return false;
    if (needed > loader->frame_capacity) {
        size_t capacity = loader->frame_capacity ? loader->frame_capacity : 4096;
        while (capacity < needed)
            capacity *= 2;
        uint64_t *bigger = realloc(model->frames, capacity * sizeof *bigger);
        if (!bigger)
            return false;
        model->frames = bigger;
        loader->frame_capacity = capacity;
    }
    if (!vt_reserve_one(&model->stacks, &loader->stack_capacity, model->stack_slots, sizeof *model->stacks) ||
        !vt_id_map_put(&model->stack_ids, id, (uint32_t)model->stack_slots))
        return false;
    if (record->stack.depth) /* an empty stack: frames may be NULL, and memcpy from NULL is undefined */
        memcpy(model->frames + model->frame_count, record->stack.frames, record->stack.depth * sizeof(uint64_t));
    model->stacks[model->stack_slots++] = (struct vt_model_stack){(uint32_t)model->frame_count, record->stack.depth, true};
    model->frame_count = needed;
    model->stack_count++;
    return true;
}

static bool add_code(struct loader *loader, const struct vt_trace_record *record)
{
    struct vt_trace_model *model = loader->model;
    uint32_t id = record->code.id;
    uint32_t index;
    if (id == 0)
        return true; /* not a valid id: frames naming it show as unknown */
    if (vt_id_map_get(&model->code_ids, id, &index))
        return true; /* the first definition stands */
    if (model->code_slots >= UINT32_MAX ||
        !vt_reserve_one(&model->codes, &loader->code_capacity, model->code_slots, sizeof *model->codes))
        return false;
    struct vt_model_code *code = &model->codes[model->code_slots];
    memset(code, 0, sizeof *code);
    code->file_name = copy_text(record->code.file_name);
    code->function_name = copy_text(record->code.function_name);
    code->line_table = malloc(record->code.line_table_bytes ? record->code.line_table_bytes : 1);
    if (!code->file_name || !code->function_name || !code->line_table ||
        !vt_id_map_put(&model->code_ids, id, (uint32_t)model->code_slots)) {
        free(code->file_name);
        free(code->function_name);
        free(code->line_table);
        memset(code, 0, sizeof *code);
        return false;
    }
    if (record->code.line_table_bytes) /* no table: line_table may be NULL */
        memcpy(code->line_table, record->code.line_table, record->code.line_table_bytes);
    code->line_table_bytes = record->code.line_table_bytes;
    code->line_table_format = record->code.line_table_format;
    code->first_line = record->code.first_line;
    code->defined = true;
    model->code_slots++;
    return true;
}

/* Whether a THREAD record says what an entry already holds. */
static bool same_thread(const struct vt_model_thread *known, const struct vt_trace_record *record)
{
    const char *name = known->name ? known->name : "";
    return known->thread_id == record->thread.thread_id && strlen(name) == record->thread.name.length &&
           memcmp(name, record->thread.name.bytes ? record->thread.name.bytes : "", record->thread.name.length) == 0;
}

/* The shim writes one THREAD record per thread; one that repeats its thread index's first entry
 * (a damaged or hostile trace holds millions in a few KB) takes no memory. */
static bool add_thread(struct loader *loader, const struct vt_trace_record *record)
{
    struct vt_trace_model *model = loader->model;
    uint32_t first;
    bool known = vt_id_map_get(&model->thread_firsts, record->thread.index, &first);
    if (known && same_thread(&model->threads[first], record))
        return true;
    if (model->thread_count >= UINT32_MAX ||
        (!known && !vt_id_map_put(&model->thread_firsts, record->thread.index, (uint32_t)model->thread_count)))
        return false;
    if (!vt_reserve_one(&model->threads, &loader->thread_capacity, model->thread_count, sizeof *model->threads))
        return false;
    char *name = record->thread.name.length ? copy_text(record->thread.name) : NULL;
    if (record->thread.name.length && !name)
        return false;
    model->threads[model->thread_count++] =
        (struct vt_model_thread){record->thread.index, record->thread.thread_id, name};
    return true;
}

static bool set_process(struct vt_trace_model *model, const struct vt_trace_record *record)
{
    if (model->process.present)
        return true; /* the first one stands */
    struct vt_model_process *process = &model->process;
    process->program = copy_text(record->process.program);
    process->host = copy_text(record->process.host);
    process->command_line = copy_text(record->process.command_line);
    process->version = copy_text(record->process.version);
    process->pid = record->process.pid;
    process->rank = record->process.rank;
    process->start_realtime_ns = record->process.start_realtime_ns;
    process->start_monotonic_ns = record->process.start_monotonic_ns;
    process->present = true;
    return process->program && process->host && process->command_line && process->version;
}

/* Events get times that never go backwards (the codec already clamps within a chunk). */
static uint64_t monotonic_time(struct loader *loader, uint64_t time_ns)
{
    if (time_ns < loader->last_time_ns)
        time_ns = loader->last_time_ns;
    loader->last_time_ns = time_ns;
    return time_ns;
}

/* Where the next event goes: the array, or (streaming) the scratch event, counted in the block of
 * the reader's current chunk (a new one at a new chunk). */
static struct vt_model_event *new_event(struct loader *loader, uint64_t time_ns)
{
    struct vt_trace_model *model = loader->model;
    if (!model->store) {
        if (!vt_reserve_one(&model->events, &loader->event_capacity, model->event_count, sizeof *model->events))
            return NULL;
        return &model->events[model->event_count++];
    }
    struct vt_event_store *store = model->store;
    if (!store->block_count || loader->block_chunk != loader->reader->chunk_count) {
        if (model->oom_count > UINT32_MAX || model->map_count > UINT32_MAX || model->marker_count > UINT32_MAX)
            return NULL;
        struct vt_event_block block = {
            .first_event = model->event_count,
            .chunk_offset = loader->reader->chunk_offset,
            .first_time_ns = time_ns < loader->last_time_ns ? loader->last_time_ns : time_ns,
            .time_before_ns = loader->last_time_ns,
            .oom_base = (uint32_t)model->oom_count,
            .map_base = (uint32_t)model->map_count,
            .marker_base = (uint32_t)model->marker_count,
        };
        if (!vt_event_store_add_block(store, &block))
            return NULL;
        loader->block_chunk = loader->reader->chunk_count;
    }
    if (store->blocks[store->block_count - 1].event_count == UINT32_MAX)
        return NULL; /* cannot be: a chunk's records decode to at most 32 MiB */
    store->blocks[store->block_count - 1].event_count++;
    model->event_count++;
    return &loader->scratch;
}

/* The devices events name (not FREE_UNKNOWN's), for vt_model_has_device without a pass. */
static bool note_device(struct vt_trace_model *model, int16_t device)
{
    for (size_t i = 0; i < model->event_device_count; i++)
        if (model->event_devices[i] == device)
            return true;
    int16_t *bigger = realloc(model->event_devices, (model->event_device_count + 1) * sizeof *bigger);
    if (!bigger)
        return false;
    model->event_devices = bigger;
    model->event_devices[model->event_device_count++] = device;
    return true;
}

/* The event just loaded, applied to the load's replay (vt_model_load_options): given to its
 * visitor, noted in the live-set index. */
static void replay_while_loading(struct loader *loader, const struct vt_model_event *event, size_t index)
{
    struct vt_replay *replay = loader->replay;
    if (!replay)
        return;
    vt_replay_apply(replay, event);
    if (loader->visit)
        loader->visit(event, index, replay, loader->visit_context);
    if (loader->model->live_index)
        vt_live_index_note(loader->model->live_index, replay);
}

static bool add_event(struct loader *loader, const struct vt_trace_record *record)
{
    struct vt_trace_model *model = loader->model;
    const struct vt_trace_event *decoded = &record->event;
    uint64_t time_ns = vt_event_record_time(record);
    struct vt_model_event *event = new_event(loader, time_ns);
    if (!event)
        return false;
    size_t index = model->event_count - 1;
    vt_event_from_record(event, record);
    event->time_ns = monotonic_time(loader, time_ns);
    model->duration_ns = event->time_ns;
    if (record->type != VT_RECORD_FREE_UNKNOWN && !note_device(model, event->device))
        return false;
    switch (record->type) {
    case VT_RECORD_OOM:
        if (!vt_reserve_one(&model->ooms, &loader->oom_capacity, model->oom_count, sizeof *model->ooms))
            return false;
        event->detail = (uint32_t)model->oom_count;
        model->ooms[model->oom_count++] = (struct vt_model_oom){decoded->device_free_bytes, decoded->device_total_bytes,
                                                                decoded->thread_index, index};
        break;
    case VT_RECORD_MAP:
        if (!vt_reserve_one(&model->maps, &loader->map_capacity, model->map_count, sizeof *model->maps))
            return false;
        event->detail = (uint32_t)model->map_count;
        model->maps[model->map_count++] = (struct vt_model_map){decoded->handle, decoded->thread_index, index};
        break;
    case VT_RECORD_MARKER: {
        if (!vt_reserve_one(&model->markers, &loader->marker_capacity, model->marker_count, sizeof *model->markers))
            return false;
        char *label = copy_text(record->marker.text);
        if (!label)
            return false;
        event->detail = (uint32_t)model->marker_count;
        model->markers[model->marker_count++] = (struct vt_model_marker){label, record->marker.kind, index};
        break;
    }
    case VT_RECORD_DROPPED:
        model->dropped_events += record->dropped.count;
        break;
    case VT_RECORD_END:
        model->complete = true;
        break;
    default: /* ALLOC, FREE, FREE_UNKNOWN: all in the event */
        break;
    }
    replay_while_loading(loader, event, index);
    return true;
}

/* ---- PyTorch snapshots: a record naming a snapshot no TORCH_SNAPSHOT defined is ignored; the first
 * definition of a number stands. Memory grows with the records present. */

static bool add_torch_snapshot(struct loader *loader, const struct vt_trace_record *record)
{
    struct vt_trace_model *model = loader->model;
    uint32_t index;
    if (vt_id_map_get(&model->torch_snapshot_ids, record->torch_snapshot.number, &index))
        return true;
    if (model->torch_snapshot_count >= UINT32_MAX ||
        !vt_reserve_one(&model->torch_snapshots, &loader->torch_snapshot_capacity, model->torch_snapshot_count,
                     sizeof *model->torch_snapshots) ||
        !vt_id_map_put(&model->torch_snapshot_ids, record->torch_snapshot.number,
                       (uint32_t)model->torch_snapshot_count))
        return false;
    model->torch_snapshots[model->torch_snapshot_count++] = (struct vt_model_torch_snapshot){
        .time_ns = record->torch_snapshot.timestamp_ns,
        .number = record->torch_snapshot.number,
        .moment = record->torch_snapshot.moment,
        .dump_number = record->torch_snapshot.dump_number,
        .flags = record->torch_snapshot.flags,
        .oom_device = record->torch_snapshot.oom_device,
        .oom_stack_id = record->torch_snapshot.oom_stack_id,
        .oom_requested_bytes = record->torch_snapshot.oom_requested_bytes,
        .cost_ns = record->torch_snapshot.cost_ns,
    };
    return true;
}

static struct vt_model_torch_snapshot *torch_snapshot_named(struct vt_trace_model *model, uint32_t number)
{
    uint32_t index;
    return vt_id_map_get(&model->torch_snapshot_ids, number, &index) ? &model->torch_snapshots[index] : NULL;
}

static bool add_torch_part(struct loader *loader, const struct vt_trace_record *record)
{
    struct vt_model_torch_snapshot *snapshot;
    struct vt_torch_view *view;
    switch (record->type) {
    case VT_RECORD_TORCH_DEVICE:
        if (!(snapshot = torch_snapshot_named(loader->model, record->torch_device.snapshot)))
            return true;
        view = &snapshot->view;
        if (!vt_reserve_one(&view->devices, &snapshot->device_capacity, view->device_count, sizeof *view->devices))
            return false;
        view->devices[view->device_count++] = (struct vt_torch_device_memory){
            record->torch_device.device, record->torch_device.free_bytes, record->torch_device.total_bytes};
        return true;
    case VT_RECORD_TORCH_SEGMENT:
        if (!(snapshot = torch_snapshot_named(loader->model, record->torch_segment.snapshot)))
            return true;
        size_t index = (size_t)(snapshot - loader->model->torch_snapshots);
        if (!loader->unsorted_snapshot || index + 1 < loader->unsorted_snapshot)
            loader->unsorted_snapshot = index + 1;
        view = &snapshot->view;
        if (!vt_reserve_one(&view->segments, &snapshot->segment_capacity, view->segment_count, sizeof *view->segments))
            return false;
        view->segments[view->segment_count++] = (struct vt_torch_segment){
            .address = record->torch_segment.address,
            .size_bytes = record->torch_segment.size_bytes,
            .stream = record->torch_segment.stream,
            .device = record->torch_segment.device,
            .flags = record->torch_segment.flags,
            .stack_id = record->torch_segment.stack_id,
        };
        return true;
    case VT_RECORD_TORCH_BLOCK:
        if (!(snapshot = torch_snapshot_named(loader->model, record->torch_block.snapshot)))
            return true;
        view = &snapshot->view;
        if (!vt_reserve_one(&view->blocks, &snapshot->block_capacity, view->block_count, sizeof *view->blocks))
            return false;
        view->blocks[view->block_count++] = (struct vt_torch_block){
            .address = record->torch_block.address,
            .size_bytes = record->torch_block.size_bytes,
            .requested_bytes = record->torch_block.requested_bytes,
            .device = record->torch_block.device,
            .state = record->torch_block.state,
            .stack_id = record->torch_block.stack_id,
        };
        return true;
    default: /* TORCH_TRACE */
        if (!(snapshot = torch_snapshot_named(loader->model, record->torch_trace.snapshot)))
            return true;
        if (!vt_reserve_one(&snapshot->history, &snapshot->history_capacity, snapshot->history_count,
                         sizeof *snapshot->history))
            return false;
        snapshot->history[snapshot->history_count++] = (struct vt_model_torch_history){
            .address = record->torch_trace.address,
            .size_bytes = record->torch_trace.size_bytes,
            .time_ns = record->torch_trace.time_ns,
            .device = record->torch_trace.device,
            .action = record->torch_trace.action,
            .stack_id = record->torch_trace.stack_id,
        };
        return true;
    }
}

/* The reader's chunk holds a definition: noted once, with the time fix-up at its start (its block's
 * when events came first in it). */
static void note_defining_chunk(struct loader *loader)
{
    struct vt_index_defining_chunks *defining = loader->defining;
    uint64_t offset = loader->reader->chunk_offset;
    if (defining->count && defining->chunks[defining->count - 1].offset == offset)
        return;
    uint64_t time_before_ns = loader->last_time_ns;
    const struct vt_event_store *store = loader->model->store;
    if (store && store->block_count && store->blocks[store->block_count - 1].chunk_offset == offset)
        time_before_ns = store->blocks[store->block_count - 1].time_before_ns;
    if (!vt_reserve_one(&defining->chunks, &defining->capacity, defining->count, sizeof *defining->chunks)) {
        defining->out_of_memory = true;
        return;
    }
    defining->chunks[defining->count++] = (struct vt_index_defining_chunk){offset, time_before_ns};
}

static bool add_record(struct loader *loader, const struct vt_trace_record *record)
{
    if (loader->defining && record->type != VT_RECORD_ALLOC && record->type != VT_RECORD_FREE &&
        record->type != VT_RECORD_FREE_UNKNOWN)
        note_defining_chunk(loader);
    switch (record->type) {
    case VT_RECORD_PROCESS:
        return set_process(loader->model, record);
    case VT_RECORD_DEVICE:
        return add_device(loader, record);
    case VT_RECORD_MODULE:
        return add_module(loader, record);
    case VT_RECORD_STACK:
        return add_stack(loader, record);
    case VT_RECORD_THREAD:
        return add_thread(loader, record);
    case VT_RECORD_CODE:
        return add_code(loader, record);
    case VT_RECORD_TORCH_SNAPSHOT:
        return add_torch_snapshot(loader, record);
    case VT_RECORD_TORCH_DEVICE:
    case VT_RECORD_TORCH_SEGMENT:
    case VT_RECORD_TORCH_BLOCK:
    case VT_RECORD_TORCH_TRACE:
        return add_torch_part(loader, record);
    default:
        return add_event(loader, record);
    }
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void show_progress(struct loader *loader, const struct vt_trace_reader *reader)
{
    double elapsed = loader->progress ? seconds_since(&loader->started) : 0;
    if (elapsed < 1.0 || elapsed < loader->progress_shown_at + 0.25)
        return; /* quiet for the first second, then four updates a second */
    char done[32], total[32];
    unsigned percent = reader->file_bytes ? (unsigned)(reader->next_offset * 100 / reader->file_bytes) : 100;
    fprintf(loader->progress, "\rvramtrace: reading %s: %3u%% (%s of %s, %zu events)\033[K",
            loader->model->path, percent, vt_format_bytes(reader->next_offset, done, sizeof done),
            vt_format_bytes(reader->file_bytes, total, sizeof total), loader->model->event_count);
    fflush(loader->progress);
    loader->progress_shown_at = elapsed;
}

/* Prepares the views of the snapshots given segments since the last read (a followed model is read
 * many times). */
static void prepare_new_snapshots(struct loader *loader)
{
    struct vt_trace_model *model = loader->model;
    for (size_t i = loader->unsorted_snapshot ? loader->unsorted_snapshot - 1 : model->torch_snapshot_count;
         i < model->torch_snapshot_count; i++)
        vt_torch_view_prepare(&model->torch_snapshots[i].view);
    loader->unsorted_snapshot = 0;
}

/* Reads the reader's records into the loader's model until the reader stops, then copies where
 * and why it stopped into the model; false when out of memory. */
static bool read_records(struct loader *loader, struct vt_trace_reader *reader)
{
    struct vt_trace_model *model = loader->model;
    struct vt_trace_record records[64];
    uint64_t chunks_seen = reader->chunk_count;
    bool ok = true;
    size_t count;
    while (ok && (count = vt_trace_reader_next_records(reader, records, sizeof records / sizeof *records))) {
        for (size_t i = 0; ok && i < count; i++)
            ok = add_record(loader, &records[i]);
        if (reader->chunk_count != chunks_seen && (chunks_seen = reader->chunk_count) % 64 == 0)
            show_progress(loader, reader);
    }
    if (loader->progress_shown_at > 0) {
        fprintf(loader->progress, "\r\033[K");
        fflush(loader->progress);
    }
    model->file_bytes = reader->file_bytes;
    model->chunk_count = model->chunks_decoded = reader->chunk_count;
    model->unknown_record_count = reader->unknown_record_count;
    model->stop_reason = reader->stop_reason;
    model->skipped_bytes = reader->skipped_bytes;
    model->stopped_at = reader->chunk_offset;
    prepare_new_snapshots(loader);
    return ok && !loader->out_of_memory;
}

/* The replay applying the events as they load (options->replay, or with options->index_live_set
 * the loader's own) and the model's live-set index; false when out of memory. */
static bool start_replay_while_loading(struct loader *loader, const struct vt_model_load_options *options)
{
    if (!options)
        return true;
    loader->replay = options->replay;
    loader->visit = options->visit;
    loader->visit_context = options->visit_context;
    if (!options->index_live_set)
        return true;
    loader->model->live_index = malloc(sizeof *loader->model->live_index);
    if (!loader->model->live_index)
        return false;
    vt_live_index_start(loader->model->live_index, options->live_index_interval, options->live_index_budget_bytes);
    if (!loader->replay) {
        loader->replay = &loader->own_replay;
        vt_replay_start(loader->replay, loader->model, true);
    }
    return true;
}

/* Gives the model an empty event store (options->stream_events), its reader not open yet; false
 * when out of memory. */
static bool start_store(struct vt_trace_model *model, const struct vt_model_load_options *options)
{
    model->store = calloc(1, sizeof *model->store);
    if (!model->store)
        return false;
    model->store->reader.fd = -1;
    model->store->path = model->path;
    model->store->resident_limit = options->resident_blocks ? options->resident_blocks : VT_EVENT_STORE_DEFAULT_BLOCKS;
    return true;
}

/* ---- loading with the trace's index (trace/index_file.h) ---------------------------------------- */

static bool same_block(const struct vt_event_block *a, const struct vt_event_block *b)
{
    return a->first_event == b->first_event && a->chunk_offset == b->chunk_offset &&
           a->first_time_ns == b->first_time_ns && a->time_before_ns == b->time_before_ns &&
           a->event_count == b->event_count && a->oom_base == b->oom_base && a->map_base == b->map_base &&
           a->marker_base == b->marker_base;
}

/* Reads a chunk holding definitions into the model, as the full load did (`ordinal`: a number of
 * its own among the chunks, for its block); `block`: the index's block of that chunk, NULL when it
 * holds no events. False when it does not read as the index says, or out of memory. */
static bool read_defining_chunk(struct loader *loader, struct vt_trace_reader *reader,
                                const struct vt_index_defining_chunk *chunk, const struct vt_event_block *block,
                                uint64_t ordinal)
{
    struct vt_trace_model *model = loader->model;
    struct vt_event_store *store = model->store;
    if (!vt_trace_reader_read_chunk_at(reader, chunk->offset))
        return false;
    reader->chunk_count = ordinal;
    loader->last_time_ns = chunk->time_before_ns;
    size_t blocks_before = store->block_count;
    struct vt_trace_record records[64];
    size_t count;
    bool ok = true;
    while (ok && (count = vt_trace_reader_next_records_in_chunk(reader, records, sizeof records / sizeof *records)))
        for (size_t i = 0; ok && i < count; i++)
            ok = add_record(loader, &records[i]);
    model->chunks_decoded++;
    if (!ok || loader->out_of_memory || reader->stop_reason != VT_TRACE_STOP_NONE)
        return false;
    if (!block)
        return store->block_count == blocks_before;
    return store->block_count == blocks_before + 1 && same_block(&store->blocks[blocks_before], block);
}

/* Registers the index's block of a chunk holding events only, where the model stands. */
static bool add_indexed_block(struct vt_trace_model *model, const struct vt_event_block *block)
{
    if (block->first_event != model->event_count || block->oom_base != model->oom_count ||
        block->map_base != model->map_count || block->marker_base != model->marker_count)
        return false;
    struct vt_event_block registered = *block;
    registered.events = NULL;
    registered.last_used = 0;
    if (!vt_event_store_add_block(model->store, &registered))
        return false;
    model->event_count += block->event_count;
    return true;
}

/* Whether every device the events read name is one of the index's. */
static bool devices_indexed(const struct vt_trace_model *model, const struct vt_trace_index *index)
{
    for (size_t i = 0; i < model->event_device_count; i++) {
        size_t j = 0;
        while (j < index->event_device_count && index->event_devices[j] != model->event_devices[i])
            j++;
        if (j == index->event_device_count)
            return false;
    }
    return true;
}

/* The blocks and the defining chunks, in file order: the one read, the other registered. */
static bool load_chunks_from_index(struct loader *loader, struct vt_trace_reader *reader,
                                   const struct vt_trace_index *index)
{
    size_t b = 0, d = 0;
    uint64_t ordinal = 0;
    while (b < index->block_count || d < index->defining.count) {
        const struct vt_event_block *block = b < index->block_count ? &index->blocks[b] : NULL;
        const struct vt_index_defining_chunk *chunk = d < index->defining.count ? &index->defining.chunks[d] : NULL;
        bool ok;
        if (chunk && (!block || chunk->offset <= block->chunk_offset)) {
            bool with_events = block && block->chunk_offset == chunk->offset;
            ok = read_defining_chunk(loader, reader, chunk, with_events ? block : NULL, ++ordinal);
            b += with_events;
            d++;
        } else {
            ok = add_indexed_block(loader->model, block);
            ordinal++;
            b++;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* Whether the chunk of the index's last block, unless a defining chunk after it (read already),
 * still reads: the start of a grown trace is as it was indexed. */
static bool last_block_reads(struct vt_trace_reader *reader, const struct vt_trace_index *index)
{
    if (!index->block_count)
        return true;
    uint64_t offset = index->blocks[index->block_count - 1].chunk_offset;
    if (index->defining.count && index->defining.chunks[index->defining.count - 1].offset >= offset)
        return true;
    return vt_trace_reader_read_chunk_at(reader, offset);
}

/* A trace grown since it was indexed: reads on from where the indexed load stopped, as that load
 * would have gone on, its replay (for the live-set index) restored from the index's checkpoint at
 * its end; false when there is none, or out of memory. */
static bool read_past_index(struct loader *loader, struct vt_trace_reader *reader, const struct vt_trace_index *index)
{
    struct vt_trace_model *model = loader->model;
    uint64_t chunks_decoded = model->chunks_decoded;
    if (model->live_index) {
        const struct vt_live_checkpoint *end = vt_live_index_before(model->live_index, model->event_count);
        if (!end || end->next_event != model->event_count)
            return false;
        loader->replay = &loader->own_replay;
        vt_replay_start(loader->replay, model, true);
        if (!vt_live_checkpoint_restore(end, loader->replay))
            return false;
    }
    vt_trace_reader_continue_at(
        reader, index->stop_reason == VT_TRACE_STOP_NONE ? index->identity.file_bytes : index->stopped_at,
        index->chunk_count);
    reader->unknown_record_count = index->unknown_record_count;
    loader->last_time_ns = index->duration_ns;
    model->read_past_index = true;
    vt_trace_reader_read_ahead(reader);
    bool ok = read_records(loader, reader);
    if (ok && model->live_index)
        vt_live_index_note_end(model->live_index, loader->replay);
    model->chunks_decoded = chunks_decoded + (reader->chunk_count - index->chunk_count);
    return ok;
}

/* The model of the trace open in `reader` from its index (and what was appended since); false (the
 * model then half loaded) when the index is stale or the file does not read as it says. */
static bool load_from_index(struct loader *loader, struct vt_trace_reader *reader, struct vt_trace_index *index,
                            const struct vt_model_load_options *options)
{
    struct vt_trace_model *model = loader->model;
    enum vt_index_fit fit = vt_index_fit(index, reader->fd, reader->file_bytes);
    if (fit == VT_INDEX_STALE || !load_chunks_from_index(loader, reader, index) ||
        model->event_count != index->event_count || model->duration_ns > index->duration_ns ||
        !devices_indexed(model, index) || (fit == VT_INDEX_PREFIX && !last_block_reads(reader, index)))
        return false;
    if (options->index_live_set) {
        if (!(model->live_index = malloc(sizeof *model->live_index)))
            return false;
        *model->live_index = index->live_index; /* moved */
        memset(&index->live_index, 0, sizeof index->live_index);
    }
    int16_t *devices = model->event_devices;
    model->event_devices = index->event_devices; /* moved, in the order the full load met them */
    model->event_device_count = index->event_device_count;
    index->event_devices = devices;
    index->event_device_count = 0;
    model->duration_ns = index->duration_ns;
    model->file_bytes = reader->file_bytes;
    model->chunk_count = index->chunk_count;
    model->unknown_record_count = index->unknown_record_count;
    model->stop_reason = (enum vt_trace_stop_reason)index->stop_reason;
    model->skipped_bytes = index->skipped_bytes;
    model->stopped_at = index->stopped_at;
    prepare_new_snapshots(loader);
    model->loaded_from_index = true;
    return fit == VT_INDEX_CURRENT || read_past_index(loader, reader, index);
}

/* vt_model_load through options->index; false (the model empty) when it cannot be used. */
static bool load_indexed(struct vt_trace_model *model, const char *path, const struct vt_model_load_options *options)
{
    memset(model, 0, sizeof *model);
    struct vt_trace_reader reader;
    char error[512];
    if (vt_trace_reader_open(&reader, path, error, sizeof error) != VT_TRACE_OPENED)
        return false;
    model->path = strdup(path);
    struct loader loader = {.model = model,
                            .progress = options->progress,
                            .reader = &reader,
                            .defining = options->defining_chunks};
    clock_gettime(CLOCK_MONOTONIC, &loader.started);
    bool loaded = model->path && start_store(model, options) && load_from_index(&loader, &reader, options->index, options);
    if (loader.replay == &loader.own_replay)
        vt_replay_finish(&loader.own_replay);
    if (loaded) {
        model->store->reader = reader; /* the store reads chunks again through it */
        return true;
    }
    vt_trace_reader_close(&reader);
    vt_model_free(model);
    if (options->defining_chunks) { /* noted again by the full load */
        options->defining_chunks->count = 0;
        options->defining_chunks->out_of_memory = false;
    }
    return false;
}

enum vt_trace_open_result vt_model_load(struct vt_trace_model *model, const char *path,
                                        const struct vt_model_load_options *options, char *error, size_t error_size)
{
    if (options && options->index && options->stream_events && !options->replay &&
        load_indexed(model, path, options))
        return VT_TRACE_OPENED;
    memset(model, 0, sizeof *model);
    struct vt_trace_reader reader;
    enum vt_trace_open_result opened = vt_trace_reader_open(&reader, path, error, error_size);
    if (opened != VT_TRACE_OPENED)
        return opened;
    model->path = strdup(path);
    struct loader loader = {.model = model,
                            .progress = options ? options->progress : NULL,
                            .reader = &reader,
                            .defining = options ? options->defining_chunks : NULL};
    if ((options && options->stream_events && !start_store(model, options)) ||
        !start_replay_while_loading(&loader, options)) {
        vt_trace_reader_close(&reader);
        vt_model_free(model);
        snprintf(error, error_size, "cannot load %s: out of memory", path);
        return VT_TRACE_CANNOT_OPEN;
    }
    clock_gettime(CLOCK_MONOTONIC, &loader.started);
    vt_trace_reader_read_ahead(&reader); /* else it reads alone */
    /* read to the end (read ahead ends there), unless out of memory (closed below) */
    bool ok = model->path != NULL && read_records(&loader, &reader);
    if (ok && model->live_index)
        vt_live_index_note_end(model->live_index, loader.replay);
    if (loader.replay == &loader.own_replay)
        vt_replay_finish(&loader.own_replay);
    if (ok && model->store) { /* the store reads chunks again through the same file descriptor */
        model->store->reader = reader;
    } else {
        vt_trace_reader_close(&reader);
    }
    if (!ok) {
        vt_model_free(model);
        snprintf(error, error_size, "cannot load %s: out of memory", path);
        return VT_TRACE_CANNOT_OPEN;
    }
    return VT_TRACE_OPENED;
}

/* ---- following a trace that is being written --------------------------------------------------- */

struct vt_model_loader {
    struct loader loader;
};

/* A follower's start through the trace's index (options->index): the model as a load through it
 * gives, the follower's reader where that load stopped (reading on at the next update); false (the
 * model half loaded) when the index does not serve: stale, or the indexed pass stopped at a chunk it
 * cannot read again whole (a damaged or malformed one). */
static bool follow_from_index(struct vt_model_follower *follower, const struct vt_model_load_options *options)
{
    struct loader *loader = &follower->loader->loader;
    struct vt_trace_index *index = options->index;
    if (index->stop_reason != VT_TRACE_STOP_NONE && index->stop_reason != VT_TRACE_STOP_CUT_SHORT)
        return false;
    bool loaded = load_from_index(loader, &follower->reader, index, options);
    if (loader->replay == &loader->own_replay) /* read on past the index: done with its replay */
        vt_replay_finish(&loader->own_replay);
    loader->replay = NULL;
    if (!loaded)
        return false;
    if (!follower->model.read_past_index) { /* at the indexed end: on from there at the next update */
        vt_trace_reader_continue_at(&follower->reader,
                                    index->stop_reason == VT_TRACE_STOP_NONE ? index->identity.file_bytes
                                                                             : index->stopped_at,
                                    index->chunk_count);
        follower->reader.unknown_record_count = index->unknown_record_count;
        follower->reader.chunk_offset = index->stopped_at; /* the chunk the indexed pass ended at */
    }
    follower->model.store->reader.file_bytes = follower->reader.file_bytes;
    return true;
}

enum vt_trace_open_result vt_model_follow_open(struct vt_model_follower *follower, const char *path,
                                               const struct vt_model_load_options *options, char *error,
                                               size_t error_size)
{
    memset(follower, 0, sizeof *follower);
    enum vt_trace_open_result opened = vt_trace_reader_open(&follower->reader, path, error, error_size);
    if (opened != VT_TRACE_OPENED)
        return opened;
    struct vt_trace_model *model = &follower->model;
    model->path = strdup(path);
    follower->loader = calloc(1, sizeof *follower->loader);
    const char *why = "out of memory";
    bool ok = model->path && follower->loader;
    if (ok && options && options->stream_events) {
        /* the store reads chunks again through a reader of its own: the follower's goes on where
         * it stopped, at the next update */
        ok = start_store(model, options);
        if (ok && !vt_trace_reader_duplicate(&model->store->reader, &follower->reader)) {
            why = strerror(errno);
            ok = false;
        }
    }
    if (!ok) {
        snprintf(error, error_size, "cannot load %s: %s", path, why);
        vt_model_follow_close(follower);
        return VT_TRACE_CANNOT_OPEN;
    }
    follower->loader->loader.model = model;
    follower->loader->loader.reader = &follower->reader;
    if (options && options->index && model->store && !follow_from_index(follower, options)) {
        vt_model_follow_close(follower); /* half loaded: open again, to read from the start */
        struct vt_model_load_options without_index = *options;
        without_index.index = NULL;
        return vt_model_follow_open(follower, path, &without_index, error, error_size);
    }
    return VT_TRACE_OPENED;
}

bool vt_model_follow_update(struct vt_model_follower *follower)
{
    if (!vt_trace_reader_resume(&follower->reader))
        return false;
    /* a block is a chunk this update reads whole (the reader returns no record of a chunk cut short
     * at the end of the file, it reads it again, whole, at the next update): the store may read
     * chunks again up to where this update reads */
    if (follower->model.store)
        follower->model.store->reader.file_bytes = follower->reader.file_bytes;
    return read_records(&follower->loader->loader, &follower->reader);
}

void vt_model_follow_close(struct vt_model_follower *follower)
{
    vt_trace_reader_close(&follower->reader);
    vt_model_free(&follower->model);
    free(follower->loader);
    follower->loader = NULL;
}

void vt_model_free(struct vt_trace_model *model)
{
    if (model->live_index)
        vt_live_index_free(model->live_index);
    free(model->live_index);
    free(model->path);
    free(model->process.program);
    free(model->process.host);
    free(model->process.command_line);
    free(model->process.version);
    for (size_t i = 0; i < model->device_count; i++)
        free(model->devices[i].name);
    free(model->devices);
    for (size_t i = 0; i < model->module_count; i++) {
        free(model->modules[i].path);
        free(model->modules[i].build_id);
    }
    free(model->modules);
    for (size_t i = 0; i < model->thread_count; i++)
        free(model->threads[i].name);
    free(model->threads);
    free(model->stacks);
    free(model->frames);
    for (size_t i = 0; i < model->code_slots; i++) {
        free(model->codes[i].file_name);
        free(model->codes[i].function_name);
        free(model->codes[i].line_table);
    }
    free(model->codes);
    vt_id_map_free(&model->thread_firsts);
    vt_id_map_free(&model->stack_ids);
    vt_id_map_free(&model->code_ids);
    for (size_t i = 0; i < model->torch_snapshot_count; i++) {
        struct vt_model_torch_snapshot *snapshot = &model->torch_snapshots[i];
        free(snapshot->view.segments);
        free(snapshot->view.blocks);
        free(snapshot->view.devices);
        free(snapshot->history);
    }
    free(model->torch_snapshots);
    vt_id_map_free(&model->torch_snapshot_ids);
    free(model->events);
    if (model->store) {
        vt_event_store_free(model->store);
        free(model->store);
    }
    free(model->event_devices);
    free(model->ooms);
    free(model->maps);
    for (size_t i = 0; i < model->marker_count; i++)
        free(model->markers[i].label);
    free(model->markers);
    memset(model, 0, sizeof *model);
}

void vt_model_warn_gaps(const struct vt_trace_model *model, FILE *out)
{
    struct vt_trace_reader stopped = {.stop_reason = model->stop_reason, .skipped_bytes = model->skipped_bytes,
                                      .chunk_offset = model->stopped_at};
    vt_trace_reader_warn_tail(&stopped, model->path, out);
    char lost[256];
    if (model->dropped_events)
        fprintf(out, "warning: %s: %s\n", model->path,
                vt_format_lost_events(model->dropped_events, lost, sizeof lost));
}

const uint64_t *vt_model_stack_frames(const struct vt_trace_model *model, uint32_t stack_id, unsigned *depth)
{
    *depth = 0;
    uint32_t index;
    if (stack_id == 0 || !vt_id_map_get(&model->stack_ids, stack_id, &index))
        return NULL;
    *depth = model->stacks[index].depth;
    static const uint64_t no_frames[1];
    if (*depth == 0) /* a stack defined with no frames (model->frames may still be NULL) */
        return no_frames;
    return model->frames + model->stacks[index].first_frame;
}

const struct vt_model_code *vt_model_find_code(const struct vt_trace_model *model, uint32_t code_id)
{
    uint32_t index;
    if (code_id == 0 || !vt_id_map_get(&model->code_ids, code_id, &index))
        return NULL;
    return &model->codes[index];
}

const struct vt_model_thread *vt_model_find_thread(const struct vt_trace_model *model, uint32_t index)
{
    if (index && index <= model->thread_count && model->threads[index - 1].index == index)
        return &model->threads[index - 1]; /* the shim numbers them 1, 2, ... in order */
    for (size_t i = 0; i < model->thread_count; i++)
        if (model->threads[i].index == index)
            return &model->threads[i];
    return NULL;
}

const char *vt_model_thread_name(uint32_t thread_id, const void *context)
{
    const struct vt_trace_model *model = context;
    for (size_t i = model->thread_count; i-- > 0;)
        if (model->threads[i].thread_id == thread_id)
            return model->threads[i].name;
    return NULL;
}

const struct vt_model_device *vt_model_find_device(const struct vt_trace_model *model, int ordinal)
{
    for (size_t i = 0; i < model->device_count; i++)
        if (model->devices[i].ordinal == ordinal)
            return &model->devices[i];
    return NULL;
}

bool vt_model_has_device(const struct vt_trace_model *model, int ordinal)
{
    if (vt_model_find_device(model, ordinal))
        return true;
    for (size_t i = 0; i < model->event_device_count; i++)
        if (model->event_devices[i] == ordinal)
            return true;
    return false;
}

const struct vt_model_event *vt_model_event_at(const struct vt_trace_model *model, size_t index)
{
    return model->store ? vt_event_store_at(model->store, index) : &model->events[index];
}

size_t vt_events_until(const struct vt_model_event *events, size_t count, uint64_t time_ns)
{
    size_t low = 0, high = count; /* answer in [low, high] */
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (events[middle].time_ns <= time_ns)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

size_t vt_model_events_until(const struct vt_trace_model *model, uint64_t time_ns)
{
    if (model->store)
        return vt_event_store_until(model->store, time_ns, model->event_count);
    return vt_events_until(model->events, model->event_count, time_ns);
}

/* ---- replay ---------------------------------------------------------------------------------- */

void vt_replay_start(struct vt_replay *replay, const struct vt_trace_model *model, bool track_live)
{
    replay->model = model;
    replay->next_event = 0;
    vt_accounting_start(&replay->accounting, track_live);
}

const struct vt_slot_usage *vt_replay_usage(const struct vt_replay *replay, int device)
{
    return &replay->accounting.usage[vt_slot_of_device(device)];
}

/* The live record an ALLOC or MAP event stands for (a MAP is a cuMemMap, in the mappings). */
static struct alloc_record record_of_event(const struct vt_replay *replay, const struct vt_model_event *event)
{
    bool map = event->type == VT_RECORD_MAP;
    return (struct alloc_record){
        .address = event->address,
        .size_bytes = event->size_bytes,
        .timestamp_ns = event->time_ns,
        .stack_id = event->stack_id,
        .thread_id = map ? replay->model->maps[event->detail].thread_index : event->detail,
        .device = event->device,
        .kind = event->kind,
        .api = map ? VT_API_cuMemMap : event->api,
        .backing_handle = map ? replay->model->maps[event->detail].handle : 0,
    };
}

/* A FREE: the freed record is the live one at its key (with live tables) or the one it carries;
 * whether it is a call is the accounting's rule (vt_accounting_apply_free: a reset's FREE records
 * and those that follow a VMM call are not). */
static void apply_free(struct vt_replay *replay, const struct vt_model_event *event)
{
    struct alloc_record removed = {.device = event->device, .kind = event->kind, .size_bytes = event->size_bytes};
    vt_accounting_apply_free(&replay->accounting, event->api, event->flags, event->address, &removed);
}

const struct vt_model_event *vt_replay_step(struct vt_replay *replay)
{
    const struct vt_trace_model *model = replay->model;
    if (replay->next_event >= model->event_count)
        return NULL;
    const struct vt_model_event *event;
    if (model->store) { /* a copy: the block may be dropped before the caller is done with it */
        replay->current = *vt_event_store_at(model->store, replay->next_event);
        event = &replay->current;
    } else {
        event = &model->events[replay->next_event];
    }
    vt_replay_apply(replay, event);
    return event;
}

void vt_replay_apply(struct vt_replay *replay, const struct vt_model_event *event)
{
    size_t index = replay->next_event++;
    struct alloc_record record;
    switch (event->type) {
    case VT_RECORD_ALLOC:
        record = record_of_event(replay, event);
        vt_accounting_allocation(&replay->accounting, &record, index, VT_FROM_TRACE);
        break;
    case VT_RECORD_MAP:
        record = record_of_event(replay, event);
        vt_accounting_map(&replay->accounting, &record, index, VT_FROM_TRACE);
        break;
    case VT_RECORD_FREE:
        apply_free(replay, event);
        break;
    case VT_RECORD_FREE_UNKNOWN:
        if (vt_api_is_reset(event->api)) /* a reset's call (its frees follow), not a free */
            vt_accounting_count_call(&replay->accounting, event->api, VT_FROM_TRACE);
        else
            vt_accounting_unknown_free(&replay->accounting, event->api);
        break;
    case VT_RECORD_OOM:
        vt_accounting_out_of_memory(&replay->accounting, event->api, index);
        break;
    default:
        break; /* MARKER, DROPPED, END: nothing to apply */
    }
}

void vt_replay_until_event(struct vt_replay *replay, size_t end_event)
{
    const struct vt_live_index *index = replay->model->live_index;
    if (index && replay->accounting.track_live) { /* from the last checkpoint, when it is ahead */
        const struct vt_live_checkpoint *checkpoint = vt_live_index_before(index, end_event);
        if (checkpoint && checkpoint->next_event > replay->next_event)
            vt_live_checkpoint_restore(checkpoint, replay); /* false: back at the start, still exact */
    }
    while (replay->next_event < end_event && vt_replay_step(replay))
        ;
}

void vt_replay_until_time(struct vt_replay *replay, uint64_t time_ns)
{
    vt_replay_until_event(replay, vt_model_events_until(replay->model, time_ns));
}

void vt_replay_all(struct vt_replay *replay, vt_replay_visit *visit, void *context)
{
    if (!visit) { /* from the last checkpoint */
        vt_replay_until_event(replay, replay->model->event_count);
        return;
    }
    const struct vt_model_event *event;
    while ((event = vt_replay_step(replay)))
        visit(event, replay->next_event - 1, replay, context);
}

void vt_replay_finish(struct vt_replay *replay)
{
    vt_accounting_clear(&replay->accounting);
}

/* ---- groups ------------------------------------------------------------------------------------ */

/* Groups are found by stack id: heads maps a stack id to the first of a short list of the groups
 * of that stack (one per kind and API, nearly always just one). A hash map, not an array indexed
 * by the id: an id read from a trace can be anything up to 2^32 - 1. */
struct group_builder {
    struct vt_group *groups;
    uint32_t *next_of; /* next group of the same stack, + 1 (0 = end) */
    size_t count, capacity;
    struct vt_id_map heads; /* stack id -> first group, + 1 */
    struct vt_groups *out;
    int device;
    const struct vt_trace_model *threads; /* live sets: tally the threads (of this model's THREADs) */
};

static struct vt_group *builder_group(struct group_builder *builder, uint32_t stack_id, unsigned kind, unsigned api)
{
    uint32_t head = 0;
    vt_id_map_get(&builder->heads, stack_id, &head);
    for (uint32_t at = head; at; at = builder->next_of[at - 1]) {
        struct vt_group *group = &builder->groups[at - 1];
        if (group->kind == kind && group->api == api)
            return group;
    }
    if (builder->count == builder->capacity) {
        size_t capacity = builder->capacity ? builder->capacity * 2 : 64;
        struct vt_group *groups = realloc(builder->groups, capacity * sizeof *groups);
        if (groups)
            builder->groups = groups;
        uint32_t *next_of = groups ? realloc(builder->next_of, capacity * sizeof *next_of) : NULL;
        if (!next_of)
            return NULL;
        builder->next_of = next_of;
        builder->capacity = capacity;
    }
    if (builder->count >= UINT32_MAX || !vt_id_map_put(&builder->heads, stack_id, (uint32_t)builder->count + 1))
        return NULL;
    struct vt_group *group = &builder->groups[builder->count];
    memset(group, 0, sizeof *group);
    group->stack_id = stack_id;
    group->kind = (uint8_t)kind;
    group->api = (uint16_t)api;
    builder->next_of[builder->count] = head;
    builder->count++;
    return group;
}

static void builder_add(struct group_builder *builder, uint32_t stack_id, unsigned kind, unsigned api,
                        uint64_t bytes, uint64_t handle, uint32_t thread_index)
{
    if (kind >= VT_KIND_COUNT)
        return;
    struct vt_group *group = builder_group(builder, stack_id, kind, api);
    if (!group) {
        builder->out->incomplete = true;
        return;
    }
    group->bytes += bytes;
    group->count++;
    if (api == VT_API_cuMemCreate && group->handles_kept < VT_GROUP_HANDLES_KEPT)
        group->handles[group->handles_kept++] = handle;
    if (builder->threads) {
        const struct vt_model_thread *thread = vt_model_find_thread(builder->threads, thread_index);
        vt_thread_tally_add(&group->threads, thread ? thread->thread_id : 0, bytes);
        builder->out->incomplete |= group->threads.incomplete;
    }
    builder->out->bytes_by_kind[kind] += bytes;
    builder->out->count_by_kind[kind]++;
}

/* Live sets: by kind, then largest first. Allocation sites: largest first, whatever the kind. */
static int compare_groups(const struct vt_group *a, const struct vt_group *b, enum vt_group_order order, bool kind_first)
{
    if (kind_first && a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    uint64_t first_a = order == VT_GROUPS_BY_BYTES ? a->bytes : a->count;
    uint64_t first_b = order == VT_GROUPS_BY_BYTES ? b->bytes : b->count;
    uint64_t second_a = order == VT_GROUPS_BY_BYTES ? a->count : a->bytes;
    uint64_t second_b = order == VT_GROUPS_BY_BYTES ? b->count : b->bytes;
    if (first_a != first_b)
        return first_a > first_b ? -1 : 1;
    if (second_a != second_b)
        return second_a > second_b ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->stack_id != b->stack_id)
        return a->stack_id < b->stack_id ? -1 : 1;
    return (a->api > b->api) - (a->api < b->api);
}

static int kind_then_bytes(const void *a, const void *b)
{
    return compare_groups(a, b, VT_GROUPS_BY_BYTES, true);
}

static int bytes_first(const void *a, const void *b)
{
    return compare_groups(a, b, VT_GROUPS_BY_BYTES, false);
}

static int count_first(const void *a, const void *b)
{
    return compare_groups(a, b, VT_GROUPS_BY_COUNT, false);
}

static void builder_finish(struct group_builder *builder, int (*order)(const void *, const void *))
{
    struct vt_groups *out = builder->out;
    out->groups = builder->groups;
    out->group_count = builder->count;
    for (size_t i = 0; i < out->group_count; i++)
        vt_thread_tally_sort(&out->groups[i].threads);
    if (out->groups)
        qsort(out->groups, out->group_count, sizeof *out->groups, order);
    free(builder->next_of);
    vt_id_map_free(&builder->heads);
}

static void keep_mapping(struct group_builder *builder, const struct alloc_record *record, size_t *capacity)
{
    struct vt_groups *out = builder->out;
    if (!vt_reserve_one(&out->mappings, capacity, out->mapping_count, sizeof *out->mappings)) {
        out->incomplete = true;
        return;
    }
    out->mappings[out->mapping_count++] =
        (struct vt_group_mapping){record->backing_handle, record->address, record->size_bytes};
}

struct live_collection {
    struct group_builder builder;
    bool mappings;
    size_t mapping_capacity;
    const struct vt_torch_view *torch;     /* leave PyTorch's segments out (NULL: none) */
    struct vt_torch_handles torch_handles; /* cuMemCreate handles mapped inside them */
};

static void note_torch_handle(const struct alloc_record *record, void *context)
{
    struct live_collection *collection = context;
    vt_torch_handles_note(&collection->torch_handles, collection->torch, record);
}

static void collect_live_record(const struct alloc_record *record, void *context)
{
    struct live_collection *collection = context;
    if (collection->builder.device != VT_GROUPS_ALL_DEVICES && record->device != collection->builder.device)
        return;
    if (collection->torch && vt_torch_view_holds(collection->torch, &collection->torch_handles, record)) {
        if (record->kind == VT_KIND_DEVICE) {
            collection->builder.out->torch_bytes += record->size_bytes;
            collection->builder.out->torch_count++;
        }
        return;
    }
    if (collection->mappings)
        keep_mapping(&collection->builder, record, &collection->mapping_capacity);
    else
        builder_add(&collection->builder, record->stack_id, record->kind, record->api, record->size_bytes,
                    record->address, record->thread_id);
}

void vt_groups_collect_live(struct vt_groups *groups, const struct vt_replay *replay, int device)
{
    vt_groups_collect_live_outside_torch(groups, replay, device, NULL);
}

void vt_groups_collect_live_outside_torch(struct vt_groups *groups, const struct vt_replay *replay, int device,
                                          const struct vt_torch_view *torch)
{
    memset(groups, 0, sizeof *groups);
    struct live_collection collection = {.builder = {.out = groups, .device = device, .threads = replay->model},
                                         .torch = torch};
    if (torch) {
        alloc_table_for_each(&replay->accounting.live[VT_SPACE_MAPPINGS], note_torch_handle, &collection);
        vt_torch_handles_sort(&collection.torch_handles);
        groups->incomplete |= collection.torch_handles.incomplete;
    }
    for (int space = 0; space < VT_SPACE_COUNT; space++) {
        collection.mappings = space == VT_SPACE_MAPPINGS;
        alloc_table_for_each(&replay->accounting.live[space], collect_live_record, &collection);
    }
    vt_torch_handles_free(&collection.torch_handles);
    groups->incomplete |= replay->accounting.out_of_memory || !replay->accounting.track_live;
    builder_finish(&collection.builder, kind_then_bytes);
}

struct vt_site_collector {
    struct vt_groups collected;
    struct group_builder builder;
};

struct vt_site_collector *vt_sites_start(int device)
{
    struct vt_site_collector *collector = calloc(1, sizeof *collector);
    if (collector)
        collector->builder = (struct group_builder){.out = &collector->collected, .device = device};
    return collector;
}

void vt_sites_add(struct vt_site_collector *collector, const struct vt_model_event *event)
{
    if (!collector || !vt_event_allocated_memory(event))
        return; /* a zero-byte request is no allocation site */
    if (collector->builder.device != VT_GROUPS_ALL_DEVICES && event->device != collector->builder.device)
        return;
    builder_add(&collector->builder, event->stack_id, event->kind, event->api, event->size_bytes, event->address, 0);
}

/* The collected sites in `order` into *groups; frees the collector (NULL: none, out of memory). */
static void sites_finish(struct vt_site_collector *collector, struct vt_groups *groups,
                         int (*order)(const void *, const void *))
{
    if (!collector) {
        *groups = (struct vt_groups){.incomplete = true};
        return;
    }
    builder_finish(&collector->builder, order);
    *groups = collector->collected;
    free(collector);
}

bool vt_sites_copy(const struct vt_site_collector *collector, struct vt_groups *by_bytes)
{
    memset(by_bytes, 0, sizeof *by_bytes);
    if (!collector)
        return false;
    const struct group_builder *builder = &collector->builder;
    struct vt_group *groups = malloc((builder->count ? builder->count : 1) * sizeof *groups);
    if (!groups)
        return false;
    *by_bytes = collector->collected; /* the totals; its groups are the builder's until finished */
    if (builder->count)
        memcpy(groups, builder->groups, builder->count * sizeof *groups); /* sites tally no threads */
    by_bytes->groups = groups;
    by_bytes->group_count = builder->count;
    qsort(groups, by_bytes->group_count, sizeof *groups, bytes_first);
    return true;
}

void vt_sites_finish_both(struct vt_site_collector *collector, struct vt_groups *by_bytes,
                          struct vt_groups *by_count)
{
    sites_finish(collector, by_bytes, bytes_first);
    vt_sites_by_count(by_bytes, by_count);
}

void vt_sites_by_count(const struct vt_groups *by_bytes, struct vt_groups *by_count)
{
    *by_count = *by_bytes;
    by_count->groups = NULL;
    if (!by_bytes->group_count)
        return;
    by_count->groups = malloc(by_bytes->group_count * sizeof *by_count->groups);
    if (!by_count->groups) {
        by_count->group_count = 0;
        by_count->incomplete = true;
        return;
    }
    memcpy(by_count->groups, by_bytes->groups, by_bytes->group_count * sizeof *by_count->groups);
    qsort(by_count->groups, by_count->group_count, sizeof *by_count->groups, count_first); /* a total order */
}

/* Adds every event of the model to a new collector. */
static struct vt_site_collector *sites_of_model(const struct vt_trace_model *model, int device)
{
    struct vt_site_collector *collector = vt_sites_start(device);
    for (size_t i = 0; collector && i < model->event_count; i++)
        vt_sites_add(collector, vt_model_event_at(model, i));
    return collector;
}

void vt_groups_collect_sites(struct vt_groups *groups, const struct vt_trace_model *model, int device,
                             enum vt_group_order order)
{
    sites_finish(sites_of_model(model, device), groups, order == VT_GROUPS_BY_BYTES ? bytes_first : count_first);
}

void vt_groups_free(struct vt_groups *groups)
{
    for (size_t i = 0; i < groups->group_count; i++)
        vt_thread_tally_free(&groups->groups[i].threads);
    free(groups->groups);
    free(groups->mappings);
    memset(groups, 0, sizeof *groups);
}

struct vt_groups_rest vt_groups_top(const struct vt_groups *groups, unsigned kind, unsigned top,
                                    void (*shown)(const struct vt_group *group, void *context), void *context)
{
    struct vt_groups_rest rest = {0, 0, 0};
    unsigned listed = 0;
    for (size_t i = 0; i < groups->group_count; i++) {
        const struct vt_group *group = &groups->groups[i];
        if (group->kind != kind)
            continue;
        if (listed < top) {
            listed++;
            shown(group, context);
        } else {
            rest.groups++;
            rest.bytes += group->bytes;
            rest.count += group->count;
        }
    }
    return rest;
}
