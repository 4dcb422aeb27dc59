/* trace/index_file.c — a trace's index beside it, TRACE.vtindex: writing, reading and checking it
 * (see index_file.h; the layout is in docs/trace-format.md, "The index beside a trace"). */
#define _GNU_SOURCE
#include "trace/index_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "common/reserve.h"
#include "common/text_buffer.h"
#include "common/trace_codec.h"
#include "trace/trace_model.h"

#define INDEX_MAGIC "VTINDEX"
#define INDEX_VERSION 1u
#define INDEX_ZSTD_LEVEL 1
#define INDEX_MAX_BYTES ((uint64_t)1 << 30) /* read no larger index, compressed or not (the checkpoints' budget is 16 MiB) */
/* an alloc_record as written: address, size, time, stack, thread, device, kind, api, context, handle */
#define RECORD_BYTES (8 + 8 + 8 + 4 + 4 + 2 + 1 + 2 + 2 + 8)

/* A checkpoint without records as written: events, usage, statistics, OOM state, out of memory,
 * record counts (a count of checkpoints is checked against it). */
#define CHECKPOINT_MIN_BYTES                                                                                   \
    (8 + sizeof(struct vt_slot_usage) * VT_SLOT_COUNT + sizeof(struct vt_accounting_stats) +                   \
     sizeof(struct vt_accounting_oom) + 4 + 8 * VT_SPACE_COUNT)

/* The uncompressed header: magic, version, layout, identity, the body's sizes and CRC, its own CRC. */
struct index_header {
    char magic[8];
    uint32_t version, layout;
    struct vt_index_identity identity;
    uint64_t body_raw_bytes, body_stored_bytes;
    uint32_t body_crc, header_crc;
};

/* A fingerprint of the structures written whole: an index of another build's layout is not read. */
static uint32_t layout_fingerprint(void)
{
    const uint32_t sizes[] = {sizeof(struct vt_slot_usage), sizeof(struct vt_accounting_stats),
                              sizeof(struct vt_accounting_oom), VT_SLOT_COUNT, VT_SPACE_COUNT, VT_KIND_COUNT,
                              VT_API_COUNT, RECORD_BYTES, sizeof(struct index_header)};
    return vt_crc32((const uint8_t *)sizes, sizeof sizes);
}

bool vt_index_mode_from_environment(enum vt_index_mode *mode)
{
    const char *value = getenv("VRAMTRACE_INDEX");
    if (!value || strcmp(value, "auto") == 0)
        *mode = VT_INDEX_AUTO;
    else if (strcmp(value, "read") == 0)
        *mode = VT_INDEX_READ;
    else if (strcmp(value, "off") == 0)
        *mode = VT_INDEX_OFF;
    else
        return false;
    return true;
}

char *vt_index_path(const char *trace_path)
{
    char *path;
    return asprintf(&path, "%s" VT_INDEX_SUFFIX, trace_path) < 0 ? NULL : path;
}

static struct vt_index_identity identity_of(const struct stat *status)
{
    return (struct vt_index_identity){(uint64_t)status->st_size, (uint64_t)status->st_mtim.tv_sec,
                                      (uint64_t)status->st_mtim.tv_nsec, (uint64_t)status->st_ino,
                                      (uint64_t)status->st_dev};
}

static bool same_identity(const struct vt_index_identity *a, const struct vt_index_identity *b)
{
    return a->file_bytes == b->file_bytes && a->modified_s == b->modified_s && a->modified_ns == b->modified_ns &&
           a->inode == b->inode && a->device == b->device;
}

/* How an index of `indexed` fits the file `now`, when the indexed load stopped for `stop_reason`
 * (a stop at a damaged chunk stays a stop: nothing after it is read). */
static enum vt_index_fit fit_of(const struct vt_index_identity *indexed, const struct vt_index_identity *now,
                                uint32_t stop_reason)
{
    if (same_identity(indexed, now))
        return VT_INDEX_CURRENT;
    bool grown = indexed->inode == now->inode && indexed->device == now->device &&
                 now->file_bytes > indexed->file_bytes;
    return grown && (stop_reason == VT_TRACE_STOP_NONE || stop_reason == VT_TRACE_STOP_CUT_SHORT) ? VT_INDEX_PREFIX
                                                                                                    : VT_INDEX_STALE;
}

enum vt_index_fit vt_index_fit(const struct vt_trace_index *index, int trace_fd, uint64_t file_bytes)
{
    struct vt_index_identity now;
    if (!vt_index_identity_of(trace_fd, &now) || file_bytes != now.file_bytes)
        return VT_INDEX_STALE;
    return fit_of(&index->identity, &now, index->stop_reason);
}

bool vt_index_file_is_one(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO given as a trace: no wait */
    if (fd < 0)
        return false;
    struct stat status;
    char magic[sizeof INDEX_MAGIC];
    bool is_one = fstat(fd, &status) == 0 && S_ISREG(status.st_mode) &&
                  read(fd, magic, sizeof magic) == (ssize_t)sizeof magic && memcmp(magic, INDEX_MAGIC, sizeof magic) == 0;
    close(fd);
    return is_one;
}

/* ---- writing ----------------------------------------------------------------------------------- */

static void put(struct vt_text *body, const void *bytes, size_t length)
{
    vt_text_append_bytes(body, bytes, length);
}

static void put_u64(struct vt_text *body, uint64_t value)
{
    put(body, &value, sizeof value);
}

static void put_u32(struct vt_text *body, uint32_t value)
{
    put(body, &value, sizeof value);
}

static void put_record(struct vt_text *body, const struct alloc_record *record)
{
    uint8_t bytes[RECORD_BYTES], *at = bytes;
    const uint16_t device = (uint16_t)record->device, api = record->api, context = record->context;
#define FIELD(value)                                                                                                   \
    do {                                                                                                               \
        memcpy(at, &(value), sizeof(value));                                                                           \
        at += sizeof(value);                                                                                           \
    } while (0)
    FIELD(record->address);
    FIELD(record->size_bytes);
    FIELD(record->timestamp_ns);
    FIELD(record->stack_id);
    FIELD(record->thread_id);
    FIELD(device);
    FIELD(record->kind);
    FIELD(api);
    FIELD(context);
    FIELD(record->backing_handle);
#undef FIELD
    put(body, bytes, sizeof bytes);
}

static void put_live_index(struct vt_text *body, const struct vt_live_index *index)
{
    put_u64(body, index->interval);
    put_u64(body, index->next_due);
    put_u64(body, index->budget_bytes);
    put_u32(body, index->out_of_memory);
    put_u64(body, index->count);
    for (size_t i = 0; i < index->count; i++) {
        const struct vt_live_checkpoint *checkpoint = &index->checkpoints[i];
        put_u64(body, checkpoint->next_event);
        put(body, checkpoint->usage, sizeof checkpoint->usage);
        put(body, &checkpoint->stats, sizeof checkpoint->stats);
        put(body, &checkpoint->oom, sizeof checkpoint->oom);
        put_u32(body, checkpoint->out_of_memory);
        for (int space = 0; space < VT_SPACE_COUNT; space++)
            put_u64(body, checkpoint->record_count[space]);
        for (int space = 0; space < VT_SPACE_COUNT; space++)
            for (size_t r = 0; r < checkpoint->record_count[space]; r++)
                put_record(body, &checkpoint->records[space][r]);
    }
}

static void put_report_tables(struct vt_text *body, const struct vt_index_report_tables *report)
{
    put_u32(body, report && report->present);
    if (!report || !report->present)
        return;
    const struct vt_groups *sites = &report->sites;
    put_u32(body, (uint32_t)report->device);
    put_u64(body, report->oom_failures);
    put_u64(body, report->oom_allocations_after_last_failure);
    put_u64(body, report->oom_first_event);
    put(body, sites->bytes_by_kind, sizeof sites->bytes_by_kind);
    put(body, sites->count_by_kind, sizeof sites->count_by_kind);
    put_u32(body, sites->incomplete);
    put_u64(body, sites->group_count);
    for (size_t i = 0; i < sites->group_count; i++) {
        const struct vt_group *group = &sites->groups[i];
        put_u64(body, group->bytes);
        put_u64(body, group->count);
        put_u32(body, group->stack_id);
        put_u32(body, group->api);
        put_u32(body, group->kind);
        put_u32(body, group->handles_kept);
        put(body, group->handles, sizeof group->handles);
    }
}

void vt_index_body(struct vt_text *body, const struct vt_trace_model *model,
                   const struct vt_index_defining_chunks *defining, const struct vt_index_report_tables *report)
{
    const struct vt_event_store *store = model->store;
    put_u64(body, model->event_count);
    put_u64(body, model->duration_ns);
    put_u64(body, model->chunk_count);
    put_u64(body, model->unknown_record_count);
    put_u64(body, model->skipped_bytes);
    put_u64(body, model->stopped_at);
    put_u32(body, (uint32_t)model->stop_reason);
    put_u64(body, store->block_count);
    for (size_t i = 0; i < store->block_count; i++) {
        const struct vt_event_block *block = &store->blocks[i];
        put_u64(body, block->first_event);
        put_u64(body, block->chunk_offset);
        put_u64(body, block->first_time_ns);
        put_u64(body, block->time_before_ns);
        put_u32(body, block->event_count);
        put_u32(body, block->oom_base);
        put_u32(body, block->map_base);
        put_u32(body, block->marker_base);
    }
    put_u64(body, defining->count);
    for (size_t i = 0; i < defining->count; i++) {
        put_u64(body, defining->chunks[i].offset);
        put_u64(body, defining->chunks[i].time_before_ns);
    }
    put_u64(body, model->event_device_count);
    for (size_t i = 0; i < model->event_device_count; i++)
        put_u32(body, (uint32_t)(uint16_t)model->event_devices[i]);
    static const struct vt_live_index no_checkpoints;
    put_live_index(body, model->live_index ? model->live_index : &no_checkpoints);
    put_report_tables(body, report);
}

static bool write_all(int fd, const void *bytes, size_t length)
{
    const uint8_t *at = bytes;
    while (length) {
        ssize_t written = write(fd, at, length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return false;
        at += written;
        length -= (size_t)written;
    }
    return true;
}

/* Writes `bytes` to a new temporary file beside `path`, then renames it to `path`. */
static bool replace_file(const char *path, const uint8_t *bytes, size_t length)
{
    char *temporary;
    if (asprintf(&temporary, "%s.XXXXXX", path) < 0)
        return false;
    int fd = mkostemp(temporary, O_CLOEXEC); /* O_EXCL: a name that exists, link or not, is not used */
    bool ok = fd >= 0 && write_all(fd, bytes, length);
    int saved = errno;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok && rename(temporary, path) != 0) /* replaces a link named `path`, never follows it */
        ok = false;
    saved = ok ? 0 : errno ? errno : saved;
    if (!ok && fd >= 0)
        unlink(temporary);
    free(temporary);
    errno = saved;
    return ok;
}

bool vt_index_encode(const uint8_t *body, size_t body_length, const struct vt_index_identity *identity,
                     uint8_t **bytes, size_t *length)
{
    size_t bound = ZSTD_compressBound(body_length);
    uint8_t *file = malloc(sizeof(struct index_header) + bound);
    if (!file)
        return false;
    uint8_t *stored = file + sizeof(struct index_header);
    size_t stored_bytes = ZSTD_compress(stored, bound, body, body_length, INDEX_ZSTD_LEVEL);
    if (ZSTD_isError(stored_bytes)) {
        free(file);
        return false;
    }
    struct index_header header = {.magic = INDEX_MAGIC,
                                  .version = INDEX_VERSION,
                                  .layout = layout_fingerprint(),
                                  .identity = *identity,
                                  .body_raw_bytes = body_length,
                                  .body_stored_bytes = stored_bytes,
                                  .body_crc = vt_crc32(stored, stored_bytes)};
    header.header_crc = vt_crc32((const uint8_t *)&header, offsetof(struct index_header, header_crc));
    memcpy(file, &header, sizeof header);
    *bytes = file;
    *length = sizeof header + stored_bytes;
    return true;
}

bool vt_index_write(const struct vt_trace_model *model, const struct vt_index_defining_chunks *defining,
                    const struct vt_index_report_tables *report)
{
    struct stat status;
    if (!model->store || !model->path || defining->out_of_memory || fstat(model->store->reader.fd, &status) != 0 ||
        (uint64_t)status.st_size != model->store->reader.file_bytes)
        return false; /* not streamed, not noted whole, or the trace changed while it loaded */
    struct vt_text body = {0};
    vt_index_body(&body, model, defining, report);
    struct vt_index_identity identity = identity_of(&status);
    uint8_t *bytes = NULL;
    size_t length = 0;
    char *path = NULL;
    bool ok = !body.failed && vt_index_encode((const uint8_t *)body.text, body.length, &identity, &bytes, &length) &&
              (path = vt_index_path(model->path)) && replace_file(path, bytes, length);
    free(path);
    free(bytes);
    vt_text_free(&body);
    return ok;
}

/* ---- reading ----------------------------------------------------------------------------------- */

/* A cursor over the body; `failed` once a read goes past its end. */
struct body_cursor {
    const uint8_t *at, *end;
    bool failed;
};

static void take(struct body_cursor *cursor, void *out, size_t length)
{
    if (cursor->failed || (size_t)(cursor->end - cursor->at) < length) {
        cursor->failed = true;
        memset(out, 0, length);
        return;
    }
    memcpy(out, cursor->at, length);
    cursor->at += length;
}

static uint64_t take_u64(struct body_cursor *cursor)
{
    uint64_t value;
    take(cursor, &value, sizeof value);
    return value;
}

static uint32_t take_u32(struct body_cursor *cursor)
{
    uint32_t value;
    take(cursor, &value, sizeof value);
    return value;
}

/* A count of items of `item_bytes` each that the rest of the body can hold; 0 and failed if not. */
static size_t take_count(struct body_cursor *cursor, size_t item_bytes)
{
    uint64_t count = take_u64(cursor);
    if (cursor->failed || count > (uint64_t)(cursor->end - cursor->at) / item_bytes) {
        cursor->failed = true;
        return 0;
    }
    return (size_t)count;
}

static bool take_record(struct body_cursor *cursor, struct alloc_record *record)
{
    uint16_t device, api, context;
    memset(record, 0, sizeof *record);
    record->address = take_u64(cursor);
    record->size_bytes = take_u64(cursor);
    record->timestamp_ns = take_u64(cursor);
    record->stack_id = take_u32(cursor);
    record->thread_id = take_u32(cursor);
    take(cursor, &device, sizeof device);
    take(cursor, &record->kind, sizeof record->kind);
    take(cursor, &api, sizeof api);
    take(cursor, &context, sizeof context);
    record->backing_handle = take_u64(cursor);
    record->device = (int16_t)device;
    record->api = api;
    record->context = context;
    return !cursor->failed && record->kind < VT_KIND_COUNT && record->api < VT_API_COUNT;
}

static bool take_checkpoint(struct body_cursor *cursor, struct vt_live_checkpoint *checkpoint)
{
    memset(checkpoint, 0, sizeof *checkpoint);
    checkpoint->next_event = take_u64(cursor);
    take(cursor, checkpoint->usage, sizeof checkpoint->usage);
    take(cursor, &checkpoint->stats, sizeof checkpoint->stats);
    take(cursor, &checkpoint->oom, sizeof checkpoint->oom);
    checkpoint->out_of_memory = take_u32(cursor) != 0;
    uint64_t counts[VT_SPACE_COUNT], total = 0, room = (uint64_t)(cursor->end - cursor->at) / RECORD_BYTES;
    for (int space = 0; space < VT_SPACE_COUNT; space++) {
        counts[space] = take_u64(cursor);
        if (counts[space] > room || (total += counts[space]) > room) /* each, then the sum: no wrap */
            return false;
    }
    if (cursor->failed)
        return false;
    checkpoint->bytes = sizeof *checkpoint;
    for (int space = 0; space < VT_SPACE_COUNT; space++) {
        if (!counts[space])
            continue;
        checkpoint->records[space] = malloc(counts[space] * sizeof **checkpoint->records);
        if (!checkpoint->records[space])
            return false;
        checkpoint->record_count[space] = counts[space];
        checkpoint->bytes += counts[space] * sizeof **checkpoint->records;
        for (size_t r = 0; r < counts[space]; r++)
            if (!take_record(cursor, &checkpoint->records[space][r]))
                return false;
    }
    return true;
}

static bool take_live_index(struct body_cursor *cursor, struct vt_live_index *index, uint64_t event_count)
{
    memset(index, 0, sizeof *index);
    index->interval = take_u64(cursor);
    index->next_due = take_u64(cursor);
    index->budget_bytes = take_u64(cursor);
    index->out_of_memory = take_u32(cursor) != 0;
    size_t count = take_count(cursor, CHECKPOINT_MIN_BYTES);
    if (cursor->failed || !index->interval)
        return false;
    index->checkpoints = calloc(count ? count : 1, sizeof *index->checkpoints);
    if (!index->checkpoints)
        return false;
    index->capacity = count;
    for (size_t i = 0; i < count; i++) {
        struct vt_live_checkpoint *checkpoint = &index->checkpoints[index->count++];
        if (!take_checkpoint(cursor, checkpoint) || checkpoint->next_event > event_count ||
            (i && checkpoint->next_event <= checkpoint[-1].next_event))
            return false;
        index->bytes += checkpoint->bytes;
    }
    return true;
}

/* Whether the blocks and defining chunks are in file order within the trace, the blocks' events
 * one after the other and all of them. */
static bool chunks_in_order(const struct vt_trace_index *index)
{
    uint64_t events = 0, time_ns = 0;
    for (size_t i = 0; i < index->block_count; i++) {
        const struct vt_event_block *block = &index->blocks[i];
        if (block->first_event != events || block->first_time_ns < time_ns ||
            block->chunk_offset >= index->identity.file_bytes ||
            (i && block->chunk_offset <= block[-1].chunk_offset))
            return false;
        events += block->event_count;
        time_ns = block->first_time_ns;
    }
    for (size_t i = 0; i < index->defining.count; i++)
        if (index->defining.chunks[i].offset >= index->identity.file_bytes ||
            (i && index->defining.chunks[i].offset <= index->defining.chunks[i - 1].offset))
            return false;
    return events == index->event_count;
}

#define GROUP_BYTES (8 + 8 + 4 + 4 + 4 + 4 + 8 * VT_GROUP_HANDLES_KEPT)

static bool take_report_tables(struct body_cursor *cursor, struct vt_index_report_tables *report)
{
    memset(report, 0, sizeof *report);
    if (!take_u32(cursor))
        return !cursor->failed;
    struct vt_groups *sites = &report->sites;
    report->device = (int32_t)take_u32(cursor);
    report->oom_failures = take_u64(cursor);
    report->oom_allocations_after_last_failure = take_u64(cursor);
    report->oom_first_event = take_u64(cursor);
    take(cursor, sites->bytes_by_kind, sizeof sites->bytes_by_kind);
    take(cursor, sites->count_by_kind, sizeof sites->count_by_kind);
    sites->incomplete = take_u32(cursor) != 0;
    size_t count = take_count(cursor, GROUP_BYTES);
    if (cursor->failed || (report->device != VT_GROUPS_ALL_DEVICES &&
                           (report->device < 0 || report->device >= VT_MODEL_MAX_DEVICES)))
        return false;
    if (!(sites->groups = calloc(count ? count : 1, sizeof *sites->groups)))
        return false;
    for (size_t i = 0; i < count; i++) {
        struct vt_group *group = &sites->groups[sites->group_count++];
        group->bytes = take_u64(cursor);
        group->count = take_u64(cursor);
        group->stack_id = take_u32(cursor);
        uint32_t api = take_u32(cursor), kind = take_u32(cursor);
        group->handles_kept = take_u32(cursor);
        take(cursor, group->handles, sizeof group->handles);
        if (api >= VT_API_COUNT || kind >= VT_KIND_COUNT || group->handles_kept > VT_GROUP_HANDLES_KEPT)
            return false;
        group->api = (uint16_t)api;
        group->kind = (uint8_t)kind;
    }
    report->present = true;
    return !cursor->failed;
}

static bool take_body(struct body_cursor *cursor, struct vt_trace_index *index)
{
    index->event_count = take_u64(cursor);
    index->duration_ns = take_u64(cursor);
    index->chunk_count = take_u64(cursor);
    index->unknown_record_count = take_u64(cursor);
    index->skipped_bytes = take_u64(cursor);
    index->stopped_at = take_u64(cursor);
    index->stop_reason = take_u32(cursor);
    size_t count = take_count(cursor, 4 * sizeof(uint64_t) + 4 * sizeof(uint32_t));
    if (cursor->failed || index->stop_reason > VT_TRACE_STOP_READ_ERROR ||
        !(index->blocks = calloc(count ? count : 1, sizeof *index->blocks)))
        return false;
    index->block_count = count;
    for (size_t i = 0; i < count; i++) {
        struct vt_event_block *block = &index->blocks[i];
        block->first_event = take_u64(cursor);
        block->chunk_offset = take_u64(cursor);
        block->first_time_ns = take_u64(cursor);
        block->time_before_ns = take_u64(cursor);
        block->event_count = take_u32(cursor);
        block->oom_base = take_u32(cursor);
        block->map_base = take_u32(cursor);
        block->marker_base = take_u32(cursor);
    }
    count = take_count(cursor, 2 * sizeof(uint64_t));
    if (cursor->failed || !(index->defining.chunks = calloc(count ? count : 1, sizeof *index->defining.chunks)))
        return false;
    index->defining.count = index->defining.capacity = count;
    for (size_t i = 0; i < count; i++) {
        index->defining.chunks[i].offset = take_u64(cursor);
        index->defining.chunks[i].time_before_ns = take_u64(cursor);
    }
    count = take_count(cursor, sizeof(uint32_t));
    if (cursor->failed || count > VT_SLOT_COUNT * 1024 ||
        !(index->event_devices = calloc(count ? count : 1, sizeof *index->event_devices)))
        return false;
    index->event_device_count = count;
    for (size_t i = 0; i < count; i++)
        index->event_devices[i] = (int16_t)(uint16_t)take_u32(cursor);
    return !cursor->failed && chunks_in_order(index) &&
           take_live_index(cursor, &index->live_index, index->event_count) &&
           take_report_tables(cursor, &index->report) && cursor->at == cursor->end;
}

/* The index file's bytes, when it is the user's regular file; NULL otherwise. */
static uint8_t *read_index_file(const char *path, size_t *length)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat status;
    uint8_t *bytes = NULL;
    if (fstat(fd, &status) == 0 && S_ISREG(status.st_mode) && status.st_uid == geteuid() &&
        (uint64_t)status.st_size >= sizeof(struct index_header) && (uint64_t)status.st_size <= INDEX_MAX_BYTES &&
        (bytes = malloc((size_t)status.st_size))) {
        size_t done = 0;
        while (done < (size_t)status.st_size) {
            ssize_t got = read(fd, bytes + done, (size_t)status.st_size - done);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                break;
            done += (size_t)got;
        }
        *length = done;
        if (done != (size_t)status.st_size) {
            free(bytes);
            bytes = NULL;
        }
    }
    close(fd);
    return bytes;
}

/* Whether the header is one of ours, whole, describing the trace `now` or its start (the stop
 * reason, in the body, is checked once read). */
static bool header_fits(const struct index_header *header, size_t file_bytes, const struct vt_index_identity *now)
{
    return memcmp(header->magic, INDEX_MAGIC, sizeof header->magic) == 0 && header->version == INDEX_VERSION &&
           header->layout == layout_fingerprint() &&
           header->header_crc == vt_crc32((const uint8_t *)header, offsetof(struct index_header, header_crc)) &&
           header->body_stored_bytes == file_bytes - sizeof *header && header->body_raw_bytes <= INDEX_MAX_BYTES &&
           fit_of(&header->identity, now, VT_TRACE_STOP_NONE) != VT_INDEX_STALE;
}

bool vt_index_parse(struct vt_trace_index *index, const uint8_t *bytes, size_t length,
                    const struct vt_index_identity *now)
{
    memset(index, 0, sizeof *index);
    struct index_header header;
    if (length < sizeof header)
        return false;
    memcpy(&header, bytes, sizeof header);
    const uint8_t *stored = bytes + sizeof header;
    uint8_t *body = NULL;
    bool ok = header_fits(&header, length, now) && vt_crc32(stored, header.body_stored_bytes) == header.body_crc &&
              (body = malloc(header.body_raw_bytes ? header.body_raw_bytes : 1));
    if (ok) {
        size_t raw = ZSTD_decompress(body, header.body_raw_bytes, stored, header.body_stored_bytes);
        index->identity = header.identity;
        struct body_cursor cursor = {body, body + header.body_raw_bytes, false};
        ok = !ZSTD_isError(raw) && raw == header.body_raw_bytes && take_body(&cursor, index) &&
             (index->fit = fit_of(&index->identity, now, index->stop_reason)) != VT_INDEX_STALE;
    }
    free(body);
    if (!ok)
        vt_trace_index_free(index);
    return ok;
}

bool vt_index_read(struct vt_trace_index *index, const char *trace_path)
{
    memset(index, 0, sizeof *index);
    struct stat status;
    if (stat(trace_path, &status) != 0)
        return false;
    struct vt_index_identity now = identity_of(&status);
    char *path = vt_index_path(trace_path);
    size_t length = 0;
    uint8_t *file = path ? read_index_file(path, &length) : NULL;
    free(path);
    bool ok = file && vt_index_parse(index, file, length, &now);
    free(file);
    return ok;
}

bool vt_index_identity_of(int fd, struct vt_index_identity *identity)
{
    struct stat status;
    if (fstat(fd, &status) != 0)
        return false;
    *identity = identity_of(&status);
    return true;
}

void vt_index_defining_chunks_free(struct vt_index_defining_chunks *defining)
{
    free(defining->chunks);
    memset(defining, 0, sizeof *defining);
}

void vt_index_report_tables_free(struct vt_index_report_tables *report)
{
    vt_groups_free(&report->sites);
    memset(report, 0, sizeof *report);
}

void vt_trace_index_free(struct vt_trace_index *index)
{
    vt_index_report_tables_free(&index->report);
    free(index->blocks);
    vt_index_defining_chunks_free(&index->defining);
    free(index->event_devices);
    vt_live_index_free(&index->live_index);
    memset(index, 0, sizeof *index);
}
