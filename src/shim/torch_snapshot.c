/* shim/torch_snapshot.c — PyTorch's snapshots from the bootstrap into the trace and the shim's
 * reports (see torch_snapshot.h; the blob's layout is in include/vramtrace/shim_api.h). */
#define _GNU_SOURCE
#include "shim/torch_snapshot.h"

#include "common/trace_codec.h"
#include "shim/python_codes.h"
#include "shim/recorder.h"
#include "shim/shim_log.h"
#include "shim/stack_table.h"
#include "shim/torch_report.h"
#include "vramtrace/frames.h"
#include "vramtrace/shim_api.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

/* ---- reading the blob --------------------------------------------------------------------------- */

struct blob {
    const uint8_t *at, *end;
    bool bad;
};

static const uint8_t *take(struct blob *b, size_t bytes)
{
    if (b->bad || (size_t)(b->end - b->at) < bytes) {
        b->bad = true;
        return NULL;
    }
    const uint8_t *here = b->at;
    b->at += bytes;
    return here;
}

static uint32_t take_u32(struct blob *b)
{
    uint32_t value = 0;
    const uint8_t *bytes = take(b, sizeof value);
    if (bytes)
        memcpy(&value, bytes, sizeof value); /* little-endian, as x86-64 */
    return value;
}

static uint64_t take_u64(struct blob *b)
{
    uint64_t value = 0;
    const uint8_t *bytes = take(b, sizeof value);
    if (bytes)
        memcpy(&value, bytes, sizeof value);
    return value;
}

/* A count of items of at least `item_bytes` each: never more than the blob can hold. */
static uint32_t take_count(struct blob *b, size_t item_bytes)
{
    uint32_t count = take_u32(b);
    if ((uint64_t)count * item_bytes > (uint64_t)(b->end - b->at))
        b->bad = true;
    return b->bad ? 0 : count;
}

struct text {
    const char *bytes;
    uint32_t length;
};

struct frame_entry {
    uint32_t file, name, line; /* string indices; line */
};

struct stack_entry {
    uint32_t first, depth; /* in the blob's frame-index list */
};

/* What a blob holds, once read (pointers into the blob, arrays of our own). */
struct parsed {
    uint32_t moment, dump_number, flags, oom_stack;
    int32_t oom_device;
    uint64_t oom_requested_bytes, cost_ns;
    struct text *strings;
    uint32_t string_count;
    struct frame_entry *frames;
    uint32_t frame_count;
    uint32_t *stack_frames; /* frame indices of every stack, one after another */
    struct stack_entry *stacks;
    uint32_t stack_count;
    uint32_t *stack_ids;    /* the shim's id of each stack (interned) */
    struct vt_torch_view view;
    struct vt_trace_record *traces; /* TORCH_TRACE records, stack ids to be filled in */
    uint32_t trace_count;
};

static void free_parsed(struct parsed *p)
{
    free(p->strings);
    free(p->frames);
    free(p->stack_frames);
    free(p->stacks);
    free(p->stack_ids);
    free(p->view.segments);
    free(p->view.blocks);
    free(p->view.devices);
    free(p->traces);
}

/* A stack reference in the blob: its index + 1, 0 for none; anything else is malformed. */
static uint32_t take_stack(struct blob *b, uint32_t stack_count)
{
    uint32_t reference = take_u32(b);
    if (reference > stack_count)
        b->bad = true;
    return reference;
}

static bool parse(struct blob *b, struct parsed *p)
{
    const uint8_t *magic = take(b, 4);
    if (!magic || memcmp(magic, VRAMTRACE_TORCH_BLOB_MAGIC, 4) != 0 || take_u32(b) != VRAMTRACE_TORCH_BLOB_VERSION)
        return false;
    p->moment = take_u32(b);
    p->dump_number = take_u32(b);
    p->oom_device = (int32_t)take_u32(b);
    p->flags = take_u32(b);
    p->oom_requested_bytes = take_u64(b);
    p->cost_ns = take_u64(b);

    p->string_count = take_count(b, 4);
    p->strings = calloc(p->string_count + 1, sizeof *p->strings);
    for (uint32_t i = 0; p->strings && i < p->string_count; i++) {
        p->strings[i].length = take_u32(b);
        p->strings[i].bytes = (const char *)take(b, p->strings[i].length);
    }
    p->frame_count = take_count(b, 12);
    p->frames = calloc(p->frame_count + 1, sizeof *p->frames);
    for (uint32_t i = 0; p->frames && i < p->frame_count; i++) {
        p->frames[i] = (struct frame_entry){take_u32(b), take_u32(b), take_u32(b)};
        if (p->frames[i].file >= p->string_count || p->frames[i].name >= p->string_count)
            b->bad = true;
    }
    uint32_t total_frames = take_count(b, 4);
    p->stack_frames = calloc(total_frames + 1, sizeof *p->stack_frames);
    for (uint32_t i = 0; p->stack_frames && i < total_frames; i++)
        if ((p->stack_frames[i] = take_u32(b)) >= p->frame_count)
            b->bad = true;
    p->stack_count = take_count(b, 4);
    p->stacks = calloc(p->stack_count + 1, sizeof *p->stacks);
    p->stack_ids = calloc(p->stack_count + 1, sizeof *p->stack_ids);
    for (uint32_t i = 0, first = 0; p->stacks && i < p->stack_count; i++) {
        uint32_t depth = take_u32(b);
        if (depth > total_frames - first)
            b->bad = true;
        p->stacks[i] = (struct stack_entry){first, b->bad ? 0 : depth};
        first += p->stacks[i].depth;
    }
    p->oom_stack = take_stack(b, p->stack_count);

    p->view.device_count = take_count(b, 20);
    p->view.devices = calloc(p->view.device_count + 1, sizeof *p->view.devices);
    for (size_t i = 0; p->view.devices && i < p->view.device_count; i++) {
        struct vt_torch_device_memory *device = &p->view.devices[i];
        device->device = (int32_t)take_u32(b);
        device->free_bytes = take_u64(b);
        device->total_bytes = take_u64(b);
    }
    p->view.segment_count = take_count(b, 36);
    p->view.segments = calloc(p->view.segment_count + 1, sizeof *p->view.segments);
    for (size_t i = 0; p->view.segments && i < p->view.segment_count; i++) {
        struct vt_torch_segment *segment = &p->view.segments[i];
        segment->device = (int32_t)take_u32(b);
        segment->flags = take_u32(b);
        segment->address = take_u64(b);
        segment->size_bytes = take_u64(b);
        segment->stream = take_u64(b);
        segment->stack_id = take_stack(b, p->stack_count);
    }
    p->view.block_count = take_count(b, 36);
    p->view.blocks = calloc(p->view.block_count + 1, sizeof *p->view.blocks);
    for (size_t i = 0; p->view.blocks && i < p->view.block_count; i++) {
        struct vt_torch_block *block = &p->view.blocks[i];
        block->device = (int32_t)take_u32(b);
        block->state = take_u32(b);
        block->address = take_u64(b);
        block->size_bytes = take_u64(b);
        block->requested_bytes = take_u64(b);
        block->stack_id = take_stack(b, p->stack_count);
    }
    p->trace_count = take_count(b, 44);
    p->traces = calloc(p->trace_count + 1, sizeof *p->traces);
    for (uint32_t i = 0; p->traces && i < p->trace_count; i++) {
        struct vt_trace_record *record = &p->traces[i];
        record->type = VT_RECORD_TORCH_TRACE;
        record->torch_trace.device = (int32_t)take_u32(b);
        record->torch_trace.action = take_u32(b);
        record->torch_trace.address = take_u64(b);
        record->torch_trace.size_bytes = take_u64(b);
        record->torch_trace.stream = take_u64(b);
        record->torch_trace.time_ns = take_u64(b); /* the blob's wall-clock ns; made trace time below */
        record->torch_trace.stack_id = take_stack(b, p->stack_count);
    }
    return !b->bad && p->strings && p->frames && p->stack_frames && p->stacks && p->stack_ids && p->view.devices &&
           p->view.segments && p->view.blocks && p->traces;
}

/* ---- codes and stacks --------------------------------------------------------------------------- */

/* PyTorch's frames name functions by (file, name): one code id each, for the process's life. */
struct named_code {
    UT_hash_handle hh;
    uint32_t id;
    char key[]; /* file, '\0', name */
};

static struct named_code *named_codes;

/* Under the recorder's lock. */
static uint32_t named_code_id(struct text file, struct text name)
{
    size_t key_length = (size_t)file.length + 1 + name.length;
    char *key = malloc(key_length);
    if (!key)
        return 0;
    memcpy(key, file.bytes, file.length);
    key[file.length] = '\0';
    memcpy(key + file.length + 1, name.bytes, name.length);
    struct named_code *found = NULL;
    HASH_FIND(hh, named_codes, key, key_length, found);
    if (!found && (found = malloc(sizeof *found + key_length))) {
        memcpy(found->key, key, key_length);
        found->id = python_code_add_named(file.bytes, file.length, name.bytes, name.length);
        HASH_ADD(hh, named_codes, key, key_length, found);
    }
    free(key);
    return found ? found->id : 0;
}

/* Under the recorder's lock: every stack of the blob interned (an id of 0 when it cannot be). */
static void intern_stacks(void *context)
{
    struct parsed *p = context;
    uint32_t *code_ids = calloc(p->frame_count + 1, sizeof *code_ids);
    if (!code_ids)
        return;
    for (uint32_t i = 0; i < p->frame_count; i++)
        code_ids[i] = named_code_id(p->strings[p->frames[i].file], p->strings[p->frames[i].name]);
    uintptr_t words[VT_TRACE_MAX_FRAMES];
    for (uint32_t i = 0; i < p->stack_count; i++) {
        unsigned depth = 0;
        for (uint32_t f = 0; f < p->stacks[i].depth && depth < VT_TRACE_MAX_FRAMES; f++) {
            uint32_t frame = p->stack_frames[p->stacks[i].first + f];
            if (code_ids[frame])
                words[depth++] = vt_python_frame(code_ids[frame], p->frames[frame].line);
        }
        p->stack_ids[i] = stack_intern(words, depth);
    }
    free(code_ids);
}

/* A blob's stack reference (index + 1) as the shim's stack id. */
static uint32_t stack_id_of(const struct parsed *p, uint32_t reference)
{
    return reference ? p->stack_ids[reference - 1] : STACK_ID_NONE;
}

/* ---- the kept snapshots ------------------------------------------------------------------------- */

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct torch_snapshot *kept_at_exit, *kept_at_oom;
static uint32_t snapshots_taken;

static void free_snapshot(struct torch_snapshot *snapshot)
{
    if (!snapshot)
        return;
    free(snapshot->view.segments);
    free(snapshot->view.blocks);
    free(snapshot->view.devices);
    free(snapshot);
}

const struct torch_snapshot *torch_snapshot_acquire(uint32_t moment)
{
    pthread_mutex_lock(&kept_lock);
    return moment == VT_TORCH_AT_EXIT ? kept_at_exit : moment == VT_TORCH_AT_OOM ? kept_at_oom : NULL;
}

void torch_snapshot_release(void)
{
    pthread_mutex_unlock(&kept_lock);
}

/* Keeps the parsed view (taking its arrays) as the snapshot of its moment. */
static const struct torch_snapshot *keep(struct parsed *p, uint64_t timestamp_ns)
{
    if (p->moment != VT_TORCH_AT_EXIT && p->moment != VT_TORCH_AT_OOM)
        return NULL;
    struct torch_snapshot *snapshot = malloc(sizeof *snapshot);
    if (!snapshot)
        return NULL;
    *snapshot = (struct torch_snapshot){p->view, p->moment, timestamp_ns, p->oom_device, p->oom_requested_bytes,
                                        stack_id_of(p, p->oom_stack)};
    memset(&p->view, 0, sizeof p->view);
    vt_torch_view_prepare(&snapshot->view);
    pthread_mutex_lock(&kept_lock);
    struct torch_snapshot **slot = p->moment == VT_TORCH_AT_EXIT ? &kept_at_exit : &kept_at_oom;
    if (p->moment == VT_TORCH_AT_OOM && *slot) {
        free_snapshot(snapshot); /* the first out-of-memory's is kept */
        snapshot = NULL;
    } else {
        free_snapshot(*slot);
        *slot = snapshot;
    }
    pthread_mutex_unlock(&kept_lock);
    return snapshot;
}

/* ---- into the trace ----------------------------------------------------------------------------- */

static struct vt_trace_record *build_records(const struct parsed *p, uint32_t number, size_t *count)
{
    size_t total = 1 + p->view.device_count + p->view.segment_count + p->view.block_count + p->trace_count;
    struct vt_trace_record *records = calloc(total, sizeof *records);
    if (!records)
        return NULL;
    struct vt_trace_record *r = records;
    r->type = VT_RECORD_TORCH_SNAPSHOT;
    r->torch_snapshot.number = number;
    r->torch_snapshot.moment = p->moment;
    r->torch_snapshot.dump_number = p->dump_number;
    r->torch_snapshot.flags = p->flags;
    r->torch_snapshot.oom_device = p->oom_device;
    r->torch_snapshot.oom_requested_bytes = p->oom_requested_bytes;
    r->torch_snapshot.oom_stack_id = stack_id_of(p, p->oom_stack);
    r->torch_snapshot.cost_ns = p->cost_ns;
    r++;
    for (size_t i = 0; i < p->view.device_count; i++, r++) {
        r->type = VT_RECORD_TORCH_DEVICE;
        r->torch_device.snapshot = number;
        r->torch_device.device = p->view.devices[i].device;
        r->torch_device.free_bytes = p->view.devices[i].free_bytes;
        r->torch_device.total_bytes = p->view.devices[i].total_bytes;
    }
    for (size_t i = 0; i < p->view.segment_count; i++, r++) {
        const struct vt_torch_segment *segment = &p->view.segments[i];
        r->type = VT_RECORD_TORCH_SEGMENT;
        r->torch_segment.snapshot = number;
        r->torch_segment.device = segment->device;
        r->torch_segment.address = segment->address;
        r->torch_segment.size_bytes = segment->size_bytes;
        r->torch_segment.stream = segment->stream;
        r->torch_segment.flags = segment->flags;
        r->torch_segment.stack_id = segment->stack_id;
    }
    for (size_t i = 0; i < p->view.block_count; i++, r++) {
        const struct vt_torch_block *block = &p->view.blocks[i];
        r->type = VT_RECORD_TORCH_BLOCK;
        r->torch_block.snapshot = number;
        r->torch_block.device = block->device;
        r->torch_block.address = block->address;
        r->torch_block.size_bytes = block->size_bytes;
        r->torch_block.requested_bytes = block->requested_bytes;
        r->torch_block.state = block->state;
        r->torch_block.stack_id = block->stack_id;
    }
    /* PyTorch's history times are wall-clock microseconds; the trace's start on that clock: */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t start_wall_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec -
                             (recorder_now_ns() - recorder_start_ns());
    for (uint32_t i = 0; i < p->trace_count; i++, r++) {
        *r = p->traces[i];
        r->torch_trace.snapshot = number;
        r->torch_trace.stack_id = stack_id_of(p, r->torch_trace.stack_id);
        uint64_t wall_ns = r->torch_trace.time_ns;
        r->torch_trace.time_ns = wall_ns > start_wall_ns ? wall_ns - start_wall_ns : 0;
    }
    *count = total;
    return records;
}

int torch_snapshot_receive(const void *bytes, size_t length)
{
    static bool said_malformed, said_memory;
    struct blob b = {bytes, (const uint8_t *)bytes + length, false};
    struct parsed p = {0};
    if (!bytes || !parse(&b, &p)) {
        bool out_of_memory = !b.bad && bytes;
        free_parsed(&p);
        if (out_of_memory)
            shim_log_once(&said_memory, "internal error: no memory for a PyTorch snapshot; it is left out of the trace");
        else
            shim_log_once(&said_malformed, "internal error: a PyTorch snapshot from the bootstrap is malformed "
                                           "(a vramtrace_bootstrap.py of another version?); it is left out");
        return -1;
    }
    recorder_run_locked(intern_stacks, &p);
    for (size_t i = 0; i < p.view.segment_count; i++)
        p.view.segments[i].stack_id = stack_id_of(&p, p.view.segments[i].stack_id);
    for (size_t i = 0; i < p.view.block_count; i++)
        p.view.blocks[i].stack_id = stack_id_of(&p, p.view.blocks[i].stack_id);
    /* (numbers are taken under kept_lock: two Python threads may hand snapshots over at once) */
    pthread_mutex_lock(&kept_lock);
    uint32_t number = ++snapshots_taken;
    pthread_mutex_unlock(&kept_lock);
    size_t count = 0;
    struct vt_trace_record *records = build_records(&p, number, &count);
    uint64_t timestamp_ns = 0;
    if (records) {
        recorder_append_records(records, count, &records[0].torch_snapshot.timestamp_ns);
        timestamp_ns = records[0].torch_snapshot.timestamp_ns;
        free(records);
    } else {
        shim_log_once(&said_memory, "internal error: no memory for a PyTorch snapshot; it is left out of the trace");
    }
    const struct torch_snapshot *kept = keep(&p, timestamp_ns);
    if (kept && kept->moment == VT_TORCH_AT_OOM)
        torch_report_out_of_memory();
    free_parsed(&p);
    return 0;
}

void torch_snapshot_reset(void)
{
    pthread_mutex_lock(&kept_lock);
    free_snapshot(kept_at_exit);
    free_snapshot(kept_at_oom);
    kept_at_exit = kept_at_oom = NULL;
    snapshots_taken = 0;
    pthread_mutex_unlock(&kept_lock);
    struct named_code *code, *next;
    HASH_ITER(hh, named_codes, code, next) {
        HASH_DEL(named_codes, code);
        free(code);
    }
}
