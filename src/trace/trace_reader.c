/* trace/trace_reader.c — file header, chunks and records of a trace (see trace_reader.h). */
#define _GNU_SOURCE
#include "trace/trace_reader.h"

#include "common/reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* A chunk's raw payload larger than this is taken as damage, not as data: the writer's chunks hold
 * at most 1 MiB of records (src/shim/trace_writer.c). */
#define MAX_CHUNK_RAW_BYTES (16u << 20)

/* Reads exactly `length` bytes at `offset`; false on a short read or an error (errno set). */
static bool read_at(int fd, void *buffer, size_t length, uint64_t offset)
{
    uint8_t *at = buffer;
    while (length) {
        ssize_t got = pread(fd, at, length, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = 0;
            return false;
        }
        at += got;
        length -= (size_t)got;
        offset += (uint64_t)got;
    }
    return true;
}

static uint32_t little_endian_u32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 | (uint32_t)bytes[3] << 24;
}

enum vt_trace_open_result vt_trace_reader_open(struct vt_trace_reader *reader, const char *path, char *error,
                                               size_t error_size)
{
    memset(reader, 0, sizeof *reader);
    reader->fd = -1;
    /* O_NONBLOCK: opening a FIFO with no writer must not hang (it is refused below) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat status;
    if (fd < 0 || fstat(fd, &status) != 0) {
        snprintf(error, error_size, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return VT_TRACE_CANNOT_OPEN;
    }
    if (S_ISDIR(status.st_mode)) {
        snprintf(error, error_size, "cannot open %s: %s", path, strerror(EISDIR));
        close(fd);
        return VT_TRACE_CANNOT_OPEN;
    }
    if (!S_ISREG(status.st_mode)) {
        snprintf(error, error_size, "cannot read %s: not a regular file (a trace is read from a file)", path);
        close(fd);
        return VT_TRACE_CANNOT_OPEN;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    uint8_t header[VT_TRACE_FILE_HEADER_BYTES];
    uint32_t version = 0;
    errno = 0;
    bool header_read = read_at(fd, header, sizeof header, 0);
    if (!header_read && errno) {
        snprintf(error, error_size, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return VT_TRACE_CANNOT_OPEN;
    }
    if (!header_read || !vt_trace_file_header_decode(header, &version)) {
        snprintf(error, error_size, "%s is not a vramtrace trace (no VRAMTRCE header)", path);
        close(fd);
        return VT_TRACE_NOT_A_TRACE;
    }
    if (version < VT_TRACE_OLDEST_READABLE_VERSION || version > VT_TRACE_FORMAT_VERSION) {
        snprintf(error, error_size, "%s: unsupported trace format version %u (this vramtrace reads versions %u to %u)",
                 path, version, VT_TRACE_OLDEST_READABLE_VERSION, VT_TRACE_FORMAT_VERSION);
        close(fd);
        return VT_TRACE_UNSUPPORTED_VERSION;
    }
    uint32_t header_bytes = little_endian_u32(header + 12);
    if (header_bytes < VT_TRACE_FILE_HEADER_BYTES) {
        snprintf(error, error_size, "%s is not a vramtrace trace (header size %u)", path, header_bytes);
        close(fd);
        return VT_TRACE_NOT_A_TRACE;
    }
    reader->fd = fd;
    reader->version = version;
    reader->file_bytes = (uint64_t)status.st_size;
    reader->next_offset = header_bytes;
    return VT_TRACE_OPENED;
}

/* No current chunk. */
static void drop_chunk(struct vt_trace_reader *reader)
{
    reader->cursor = reader->payload_end = NULL;
    reader->columnar = false;
}

static bool stop(struct vt_trace_reader *reader, enum vt_trace_stop_reason reason)
{
    reader->stop_reason = reason;
    reader->skipped_bytes = reader->file_bytes - reader->chunk_offset;
    drop_chunk(reader);
    reader->next_offset = reader->file_bytes;
    return false;
}

static bool ensure_capacity(uint8_t **buffer, size_t *capacity, size_t needed)
{
    if (needed <= *capacity)
        return true;
    size_t grown = *capacity ? *capacity : 64 * 1024;
    while (grown < needed)
        grown *= 2;
    uint8_t *bigger = realloc(*buffer, grown);
    if (!bigger)
        return false;
    *buffer = bigger;
    *capacity = grown;
    return true;
}

/* Puts the chunk's payload, decompressed, in reader->raw (or points at reader->stored). The raw
 * size the header declares is checked against the zstd frame's own content size and bounded, and
 * the output buffer grows only as decompressed bytes actually arrive: memory follows what the
 * stored bytes really hold, not what the header claims. */
static bool unpack_payload(struct vt_trace_reader *reader)
{
    const struct vt_trace_chunk_header *chunk = &reader->chunk;
    const uint8_t *payload = reader->stored;
    if (chunk->compression == VT_TRACE_ZSTD) {
        if (chunk->raw_bytes > MAX_CHUNK_RAW_BYTES)
            return false;
        unsigned long long content = ZSTD_getFrameContentSize(reader->stored, chunk->stored_bytes);
        if (content == ZSTD_CONTENTSIZE_ERROR ||
            (content != ZSTD_CONTENTSIZE_UNKNOWN && content != chunk->raw_bytes))
            return false;
        if (!reader->zstd) {
            /* one context for the whole trace; its window is bounded like a chunk's raw size, so a
             * frame cannot make the decoder allocate more than that either */
            reader->zstd = ZSTD_createDCtx();
            if (!reader->zstd)
                return false;
            ZSTD_DCtx_setParameter(reader->zstd, ZSTD_d_windowLogMax, 24);
        }
        ZSTD_DCtx *context = reader->zstd;
        ZSTD_DCtx_reset(context, ZSTD_reset_session_only);
        ZSTD_inBuffer in = {reader->stored, chunk->stored_bytes, 0};
        size_t produced = 0;
        bool ok = false;
        for (;;) {
            /* room for what is left, up to 1 MiB more at a time (and one byte to see overruns) */
            size_t want = chunk->raw_bytes - produced + 1;
            if (want > (1u << 20))
                want = 1u << 20;
            if (!ensure_capacity(&reader->raw, &reader->raw_capacity, produced + want))
                break;
            ZSTD_outBuffer out = {reader->raw, produced + want, produced};
            size_t left = ZSTD_decompressStream(context, &out, &in);
            produced = out.pos;
            if (ZSTD_isError(left) || produced > chunk->raw_bytes)
                break;
            if (left == 0) { /* the frame ends: it must be all of the stored bytes and exactly raw bytes */
                ok = in.pos == in.size && produced == chunk->raw_bytes;
                break;
            }
            if (in.pos == in.size && out.pos < out.size)
                break; /* the stored bytes end inside the frame */
        }
        if (!ok)
            return false;
        payload = reader->raw;
    } else if (chunk->compression != VT_TRACE_STORED || chunk->raw_bytes != chunk->stored_bytes) {
        return false;
    }
    size_t length = chunk->raw_bytes;
    if (reader->version >= 3) { /* the column layout, read record by record */
        struct vt_trace_columns *columns = &reader->columns;
        if (!vt_trace_columns_open(columns, payload, length))
            return false;
        return reader->columnar = true;
    }
    reader->cursor = payload;
    reader->payload_end = payload + length;
    return true;
}

/* Whether the current chunk has records left. */
static bool chunk_records_left(const struct vt_trace_reader *reader)
{
    if (reader->columnar)
        return vt_trace_columns_left(&reader->columns);
    return reader->cursor && reader->cursor < reader->payload_end;
}

bool vt_trace_reader_next_chunk(struct vt_trace_reader *reader)
{
    drop_chunk(reader);
    if (reader->stop_reason != VT_TRACE_STOP_NONE || reader->next_offset >= reader->file_bytes)
        return false;
    reader->chunk_offset = reader->next_offset;
    uint64_t left = reader->file_bytes - reader->chunk_offset;
    uint8_t header[VT_TRACE_CHUNK_HEADER_BYTES];
    if (left < sizeof header)
        return stop(reader, VT_TRACE_STOP_CUT_SHORT);
    if (!read_at(reader->fd, header, sizeof header, reader->chunk_offset))
        return stop(reader, errno ? VT_TRACE_STOP_READ_ERROR : VT_TRACE_STOP_CUT_SHORT);
    if (!vt_trace_chunk_header_decode(header, &reader->chunk))
        return stop(reader, VT_TRACE_STOP_BAD_CHUNK);
    uint32_t stored_bytes = reader->chunk.stored_bytes;
    if (stored_bytes > left - sizeof header)
        return stop(reader, VT_TRACE_STOP_CUT_SHORT);
    if (!ensure_capacity(&reader->stored, &reader->stored_capacity, stored_bytes ? stored_bytes : 1))
        return stop(reader, VT_TRACE_STOP_READ_ERROR);
    if (!read_at(reader->fd, reader->stored, stored_bytes, reader->chunk_offset + sizeof header))
        return stop(reader, errno ? VT_TRACE_STOP_READ_ERROR : VT_TRACE_STOP_CUT_SHORT);
    if (vt_crc32(reader->stored, stored_bytes) != reader->chunk.crc32)
        return stop(reader, VT_TRACE_STOP_BAD_CRC);
    if (!unpack_payload(reader))
        return stop(reader, VT_TRACE_STOP_BAD_CHUNK);
    vt_trace_deltas_start(&reader->deltas, reader->chunk.base_time_ns, reader->version);
    reader->next_offset = reader->chunk_offset + sizeof header + stored_bytes;
    reader->chunk_count++;
    return true;
}

static bool known_record_type(uint32_t type)
{
    return type >= VT_RECORD_PROCESS && type <= VT_RECORD_TORCH_TRACE;
}

bool vt_trace_reader_read_chunk_at(struct vt_trace_reader *reader, uint64_t offset)
{
    reader->stop_reason = VT_TRACE_STOP_NONE;
    reader->skipped_bytes = 0;
    reader->next_offset = offset;
    uint64_t chunks = reader->chunk_count;
    bool read = vt_trace_reader_next_chunk(reader);
    reader->chunk_count = chunks; /* a chunk read again is no new chunk */
    return read;
}

void vt_trace_reader_continue_at(struct vt_trace_reader *reader, uint64_t offset, uint64_t chunk_count)
{
    drop_chunk(reader);
    reader->stop_reason = VT_TRACE_STOP_NONE;
    reader->skipped_bytes = 0;
    reader->next_offset = offset;
    reader->chunk_count = chunk_count;
}

size_t vt_trace_reader_next_records_in_chunk(struct vt_trace_reader *reader, struct vt_trace_record *records,
                                             size_t capacity)
{
    size_t count = 0;
    while (count < capacity && chunk_records_left(reader)) {
        if (reader->columnar) { /* the ALLOCs and FREEs in a run, without a call each */
            size_t events =
                vt_trace_columns_next_events(&reader->columns, &reader->deltas, records + count, capacity - count);
            reader->record_count += events;
            count += events;
            if (events)
                continue;
        }
        struct vt_trace_record *record = &records[count];
        enum vt_trace_decode_result result =
            reader->columnar
                ? vt_trace_columns_next(&reader->columns, &reader->deltas, record, reader->frames)
                : vt_trace_decode(&reader->cursor, reader->payload_end, &reader->deltas, record, reader->frames);
        if (result == VT_DECODE_MALFORMED) {
            stop(reader, VT_TRACE_STOP_MALFORMED);
            break;
        }
        if (result != VT_DECODE_RECORD)
            continue;
        if (!known_record_type(record->type)) {
            reader->unknown_record_count++;
            continue;
        }
        reader->record_count++;
        count++;
        if (record->type == VT_RECORD_END)
            reader->end_seen = true;
        if (record->type != VT_RECORD_ALLOC && record->type != VT_RECORD_FREE)
            break; /* its pointers may point into the reader's frames, for the next call to reuse */
    }
    return count;
}

bool vt_trace_reader_next_in_chunk(struct vt_trace_reader *reader, struct vt_trace_record *record)
{
    return vt_trace_reader_next_records_in_chunk(reader, record, 1) == 1;
}

/* ---- reading ahead ----------------------------------------------------------------------------- */

/* Slots in a ring: the thread reads, checks, decompresses and decodes chunks into the free ones
 * while the caller takes the records of the oldest full one. The caller wakes the thread once half
 * the slots are free again, or when it is about to wait for one: a wake-up of the other core, dear
 * on a VM, every other chunk instead of every chunk. */
#define READ_AHEAD_SLOTS 4

/* The bytes a slot's decoded records may take. A chunk the writer wrote (1 MiB of records at most)
 * decodes to a few MiB; one of tiny records (up to MAX_CHUNK_RAW_BYTES, compressing to almost
 * nothing) could decode to gigabytes: past this the caller reads that chunk alone, as reading
 * alone takes it, record by record. */
#define READ_AHEAD_SLOT_BYTES ((size_t)16 << 20)

/* An ALLOC or FREE decoded ahead, in what the record's event needs of it (56 bytes, where a
 * vt_trace_record takes 104: what the caller's core reads from the thread's). */
struct decoded_event {
    uint64_t timestamp_ns, address, size_bytes, stream;
    uint32_t stack_id, thread_index;
    int32_t device;
    uint16_t api;
    uint8_t kind, flags, type;
};

/* Any other record decoded ahead, after `events_before` of the chunk's ALLOC and FREE records; a
 * STACK's frames are in the slot's `frames` from `frames_at` (its pointer set once the chunk is
 * decoded: the array may move while it grows). */
struct decoded_other {
    struct vt_trace_record record;
    size_t events_before, frames_at;
};

struct read_chunk {
    /* the slot's chunk read by vt_trace_reader_next_chunk and decoded record by record with
     * vt_trace_reader_next_records_in_chunk, on the thread; its counts, deltas and stop are the
     * chunk's */
    struct vt_trace_reader reader;
    uint64_t after_chunk; /* where the next chunk starts (the reader's next_offset before decoding) */
    bool loaded;    /* a chunk was read; else the trace ends there (reader.stop_reason: why) */
    bool undecoded; /* not loaded: read, but out of memory or of READ_AHEAD_SLOT_BYTES to hold its
                       records (the caller reads it again alone) */
    bool full;      /* read, the caller's until it moves on */
    /* its records, in order: the ALLOCs and FREEs, the others among them */
    struct decoded_event *events;
    size_t event_count, event_capacity, events_taken;
    struct decoded_other *others;
    size_t other_count, other_capacity, others_taken;
    uint64_t *frames;
    size_t frame_count, frame_capacity;
};

struct vt_trace_read_ahead {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool quit;
    uint64_t first_offset;
    unsigned taking; /* the slot the caller takes records from (once full), in turn */
    bool holding;    /* the caller is on that slot */
    unsigned freed_unsaid; /* slots the caller gave back without waking the thread */
    struct read_chunk slots[READ_AHEAD_SLOTS];
};

/* Under the lock, until the slot is full (`full` true) or empty (false), or the read ahead quits. */
static void wait_for_slot(struct vt_trace_read_ahead *ahead, const struct read_chunk *slot, bool full)
{
    while (slot->full != full && !ahead->quit)
        pthread_cond_wait(&ahead->changed, &ahead->lock);
}

static bool hold_record(struct read_chunk *slot, const struct vt_trace_record *record)
{
    if (record->type == VT_RECORD_ALLOC || record->type == VT_RECORD_FREE) {
        if (!vt_reserve_one(&slot->events, &slot->event_capacity, slot->event_count, sizeof *slot->events))
            return false;
        const struct vt_trace_event *e = &record->event;
        slot->events[slot->event_count++] = (struct decoded_event){
            e->timestamp_ns, e->address, e->size_bytes, e->stream, e->stack_id,
            e->thread_index, e->device, e->api, e->kind, e->flags, (uint8_t)record->type};
        return true;
    }
    if (!vt_reserve_one(&slot->others, &slot->other_capacity, slot->other_count, sizeof *slot->others))
        return false;
    struct decoded_other *other = &slot->others[slot->other_count++];
    *other = (struct decoded_other){*record, slot->event_count, slot->frame_count};
    if (record->type == VT_RECORD_STACK && record->stack.depth) {
        if (!vt_reserve(&slot->frames, &slot->frame_capacity, slot->frame_count, record->stack.depth,
                        sizeof *slot->frames))
            return false;
        memcpy(slot->frames + slot->frame_count, record->stack.frames, record->stack.depth * sizeof *slot->frames);
        slot->frame_count += record->stack.depth;
    }
    return true;
}

static size_t held_bytes(const struct read_chunk *slot)
{
    return slot->event_count * sizeof *slot->events + slot->other_count * sizeof *slot->others +
           slot->frame_count * sizeof *slot->frames;
}

/* Gives back a slot's arrays (after a chunk it could not hold: they may be large). */
static void free_held(struct read_chunk *slot)
{
    free(slot->events);
    free(slot->others);
    free(slot->frames);
    slot->events = NULL;
    slot->others = NULL;
    slot->frames = NULL;
    slot->event_capacity = slot->other_capacity = slot->frame_capacity = 0;
}

/* On the thread: the records of the slot's chunk, decoded into its arrays (to a malformed record,
 * which stops the slot's reader as reading alone stops there); false when out of memory or past
 * READ_AHEAD_SLOT_BYTES. */
static bool decode_ahead(struct read_chunk *slot)
{
    slot->event_count = slot->events_taken = slot->other_count = slot->others_taken = slot->frame_count = 0;
    struct vt_trace_record batch[64];
    size_t count;
    while ((count = vt_trace_reader_next_records_in_chunk(&slot->reader, batch, sizeof batch / sizeof *batch))) {
        for (size_t i = 0; i < count; i++)
            if (!hold_record(slot, &batch[i]))
                return false;
        if (held_bytes(slot) > READ_AHEAD_SLOT_BYTES)
            return false;
    }
    for (size_t i = 0; i < slot->other_count; i++) /* (an empty stack's frames: none copied) */
        if (slot->others[i].record.type == VT_RECORD_STACK && slot->others[i].record.stack.depth)
            slot->others[i].record.stack.frames = slot->frames + slot->others[i].frames_at;
    return true;
}

/* On the caller's core: up to `capacity` records of the slot, in order, as
 * vt_trace_reader_next_records_in_chunk gives them (a batch ends after any record but an ALLOC or
 * FREE); 0 at the chunk's end. */
static size_t take_decoded(struct read_chunk *slot, struct vt_trace_record *records, size_t capacity)
{
    size_t count = 0;
    size_t next_other = slot->others_taken < slot->other_count ? slot->others[slot->others_taken].events_before
                                                                : slot->event_count;
    for (; count < capacity && slot->events_taken < next_other; count++) {
        const struct decoded_event *e = &slot->events[slot->events_taken++];
        records[count].type = e->type;
        records[count].event = (struct vt_trace_event){
            .timestamp_ns = e->timestamp_ns,
            .address = e->address,
            .size_bytes = e->size_bytes,
            .stream = e->stream,
            .stack_id = e->stack_id,
            .thread_index = e->thread_index,
            .device = e->device,
            .api = e->api,
            .kind = e->kind,
            .flags = e->flags,
        };
    }
    if (count < capacity && slot->events_taken == next_other && slot->others_taken < slot->other_count)
        records[count++] = slot->others[slot->others_taken++].record;
    return count;
}

static void *read_ahead_main(void *argument)
{
    struct vt_trace_read_ahead *ahead = argument;
    uint64_t offset = ahead->first_offset;
    for (unsigned turn = 0;; turn = (turn + 1) % READ_AHEAD_SLOTS) {
        struct read_chunk *slot = &ahead->slots[turn];
        pthread_mutex_lock(&ahead->lock);
        wait_for_slot(ahead, slot, false);
        bool quit = ahead->quit;
        pthread_mutex_unlock(&ahead->lock);
        if (quit)
            return NULL;
        struct vt_trace_reader *reader = &slot->reader;
        reader->next_offset = offset;
        reader->unknown_record_count = reader->record_count = 0;
        slot->loaded = vt_trace_reader_next_chunk(reader);
        offset = slot->after_chunk = reader->next_offset;
        slot->undecoded = slot->loaded && !decode_ahead(slot);
        if (slot->undecoded) {
            slot->loaded = false;
            free_held(slot);
        }
        pthread_mutex_lock(&ahead->lock);
        slot->full = true;
        pthread_cond_broadcast(&ahead->changed);
        pthread_mutex_unlock(&ahead->lock);
        if (!slot->loaded)
            return NULL;
    }
}

bool vt_trace_reader_read_ahead(struct vt_trace_reader *reader)
{
    if (reader->read_ahead || chunk_records_left(reader) || reader->stop_reason != VT_TRACE_STOP_NONE)
        return false;
    struct vt_trace_read_ahead *ahead = calloc(1, sizeof *ahead);
    if (!ahead)
        return false;
    for (int i = 0; i < READ_AHEAD_SLOTS; i++) {
        struct vt_trace_reader *slot_reader = &ahead->slots[i].reader;
        slot_reader->fd = reader->fd; /* pread: the slots share it; the caller's to close */
        slot_reader->version = reader->version;
        slot_reader->file_bytes = reader->file_bytes;
    }
    ahead->first_offset = reader->next_offset;
    pthread_mutex_init(&ahead->lock, NULL);
    pthread_cond_init(&ahead->changed, NULL);
    if (pthread_create(&ahead->thread, NULL, read_ahead_main, ahead) != 0) {
        pthread_mutex_destroy(&ahead->lock);
        pthread_cond_destroy(&ahead->changed);
        free(ahead);
        return false;
    }
    reader->read_ahead = ahead;
    return true;
}

/* Stops the thread and forgets the slots. */
static void end_read_ahead(struct vt_trace_reader *reader)
{
    struct vt_trace_read_ahead *ahead = reader->read_ahead;
    if (!ahead)
        return;
    pthread_mutex_lock(&ahead->lock);
    ahead->quit = true;
    pthread_cond_broadcast(&ahead->changed);
    pthread_mutex_unlock(&ahead->lock);
    pthread_join(ahead->thread, NULL);
    for (int i = 0; i < READ_AHEAD_SLOTS; i++) {
        struct read_chunk *slot = &ahead->slots[i];
        slot->reader.fd = -1;
        vt_trace_reader_close(&slot->reader);
        free_held(slot);
    }
    pthread_mutex_destroy(&ahead->lock);
    pthread_cond_destroy(&ahead->changed);
    free(ahead);
    reader->read_ahead = NULL;
}

/* The next slot, once read: the reader then stands at its chunk, as vt_trace_reader_next_chunk
 * leaves it. False when the trace ends there (the reader stopped as it would have). */
static bool take_next_slot(struct vt_trace_reader *reader, struct read_chunk **taken)
{
    struct vt_trace_read_ahead *ahead = reader->read_ahead;
    pthread_mutex_lock(&ahead->lock);
    if (ahead->holding) { /* done with the last one: the thread's to fill again */
        ahead->slots[ahead->taking].full = false;
        ahead->taking = (ahead->taking + 1) % READ_AHEAD_SLOTS;
        ahead->freed_unsaid++;
    }
    struct read_chunk *slot = &ahead->slots[ahead->taking];
    if (ahead->freed_unsaid && (ahead->freed_unsaid >= READ_AHEAD_SLOTS / 2 || !slot->full)) {
        pthread_cond_broadcast(&ahead->changed);
        ahead->freed_unsaid = 0;
    }
    wait_for_slot(ahead, slot, true);
    ahead->holding = true;
    pthread_mutex_unlock(&ahead->lock);
    const struct vt_trace_reader *read = &slot->reader;
    if (!slot->loaded) {
        /* the end of the file (the reader stays at the last chunk, as vt_trace_reader_next_chunk
         * leaves it), or a chunk that does not read: the reader reads it again itself, to stop there
         * exactly as reading alone does (and one the thread could not hold, to read it alone) */
        reader->next_offset =
            read->stop_reason == VT_TRACE_STOP_NONE && !slot->undecoded ? read->next_offset : read->chunk_offset;
        end_read_ahead(reader);
        return false;
    }
    reader->chunk_offset = read->chunk_offset;
    reader->next_offset = slot->after_chunk;
    reader->chunk = read->chunk;
    reader->chunk_count++;
    *taken = slot;
    return true;
}

/* vt_trace_reader_next_records over the chunks the thread reads. */
static size_t next_records_read_ahead(struct vt_trace_reader *reader, struct vt_trace_record *records,
                                      size_t capacity)
{
    struct vt_trace_read_ahead *ahead = reader->read_ahead;
    struct read_chunk *slot = ahead->holding ? &ahead->slots[ahead->taking] : NULL;
    for (;;) {
        if (slot) {
            struct vt_trace_reader *chunk = &slot->reader;
            size_t count = take_decoded(slot, records, capacity);
            if (count) {
                reader->record_count += count;
                reader->end_seen |= records[count - 1].type == VT_RECORD_END; /* an END ends a batch */
                return count;
            }
            /* as reading alone leaves them after the chunk (the unknown records counted in the
             * chunk's reader as it skipped them: the thread set its count to 0 before) */
            reader->unknown_record_count += chunk->unknown_record_count;
            reader->deltas = chunk->deltas;
            if (chunk->stop_reason != VT_TRACE_STOP_NONE) { /* a record of it did not decode */
                enum vt_trace_stop_reason reason = chunk->stop_reason;
                end_read_ahead(reader);
                stop(reader, reason);
                return 0;
            }
        }
        if (!take_next_slot(reader, &slot)) /* the thread is done: on alone from next_offset */
            return vt_trace_reader_next_records(reader, records, capacity);
    }
}

size_t vt_trace_reader_next_records(struct vt_trace_reader *reader, struct vt_trace_record *records, size_t capacity)
{
    if (!capacity)
        return 0;
    if (reader->read_ahead)
        return next_records_read_ahead(reader, records, capacity);
    for (;;) {
        while (!chunk_records_left(reader))
            if (reader->stop_reason != VT_TRACE_STOP_NONE || !vt_trace_reader_next_chunk(reader))
                return 0; /* (stopped at a malformed record after the last batch's) */
        size_t count = vt_trace_reader_next_records_in_chunk(reader, records, capacity);
        if (count || reader->stop_reason != VT_TRACE_STOP_NONE)
            return count;
    }
}

bool vt_trace_reader_next(struct vt_trace_reader *reader, struct vt_trace_record *record)
{
    return vt_trace_reader_next_records(reader, record, 1) == 1;
}

bool vt_trace_reader_resume(struct vt_trace_reader *reader)
{
    struct stat status;
    if (reader->fd < 0 || fstat(reader->fd, &status) != 0)
        return false;
    if (reader->stop_reason == VT_TRACE_STOP_MALFORMED)
        return true; /* records of that chunk were returned already: it cannot be read again */
    if (reader->stop_reason != VT_TRACE_STOP_NONE) {
        /* stop() left chunk_offset at the start of the chunk where reading stopped */
        reader->next_offset = reader->chunk_offset;
        reader->stop_reason = VT_TRACE_STOP_NONE;
        reader->skipped_bytes = 0;
    }
    if ((uint64_t)status.st_size > reader->file_bytes)
        reader->file_bytes = (uint64_t)status.st_size;
    return true;
}

bool vt_trace_reader_duplicate(struct vt_trace_reader *copy, const struct vt_trace_reader *reader)
{
    memset(copy, 0, sizeof *copy);
    copy->fd = fcntl(reader->fd, F_DUPFD_CLOEXEC, 0);
    copy->version = reader->version;
    copy->file_bytes = reader->file_bytes;
    return copy->fd >= 0;
}

void vt_trace_reader_close(struct vt_trace_reader *reader)
{
    end_read_ahead(reader);
    if (reader->fd >= 0)
        close(reader->fd);
    free(reader->stored);
    free(reader->raw);
    ZSTD_freeDCtx(reader->zstd);
    memset(reader, 0, sizeof *reader);
    reader->fd = -1;
}

void vt_trace_reader_warn_tail(const struct vt_trace_reader *reader, const char *path, FILE *out)
{
    if (reader->stop_reason == VT_TRACE_STOP_NONE)
        return;
    const char *what = "an incomplete chunk (the process was killed or is still writing)";
    if (reader->stop_reason == VT_TRACE_STOP_BAD_CRC)
        what = "a damaged chunk (its checksum does not match)";
    else if (reader->stop_reason == VT_TRACE_STOP_BAD_CHUNK || reader->stop_reason == VT_TRACE_STOP_MALFORMED)
        what = "a damaged chunk (it does not decode)";
    else if (reader->stop_reason == VT_TRACE_STOP_READ_ERROR)
        what = "a chunk that could not be read";
    fprintf(out, "vramtrace: warning: %s: the trace ends with %llu bytes of %s from offset %llu; reporting what precedes it\n",
            path, (unsigned long long)reader->skipped_bytes, what, (unsigned long long)reader->chunk_offset);
}
