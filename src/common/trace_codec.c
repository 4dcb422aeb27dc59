/* common/trace_codec.c — trace records to bytes and back (see trace_codec.h). No allocation, no
 * I/O: the shim calls the encoder under its recorder lock. */
#include "common/trace_codec.h"

#include "vramtrace/events.h"
#include "vramtrace/frames.h"

#include <pthread.h>
#include <string.h>

/* --- primitives -------------------------------------------------------------------------------- */

struct writer {
    uint8_t *at, *end;
    bool overflow;
};

static void put_byte(struct writer *w, uint8_t byte)
{
    if (w->at < w->end)
        *w->at++ = byte;
    else
        w->overflow = true;
}

static void put_varint(struct writer *w, uint64_t value)
{
    while (value >= 0x80) {
        put_byte(w, (uint8_t)(value | 0x80));
        value >>= 7;
    }
    put_byte(w, (uint8_t)value);
}

static void put_svarint(struct writer *w, int64_t value)
{
    put_varint(w, ((uint64_t)value << 1) ^ (uint64_t)(value >> 63));
}

static void put_bytes(struct writer *w, const void *bytes, uint32_t length)
{
    put_varint(w, length);
    if ((size_t)(w->end - w->at) < length) {
        w->overflow = true;
        return;
    }
    if (length) /* empty text or table: bytes may be NULL, and memcpy from NULL is undefined */
        memcpy(w->at, bytes, length);
    w->at += length;
}

static void put_text(struct writer *w, struct vt_trace_text text)
{
    put_bytes(w, text.bytes ? text.bytes : "", text.bytes ? text.length : 0);
}

struct reader {
    const uint8_t *at, *end;
    bool malformed;
};

/* The decoder's hot path: inline, with a fast path for the common 1-byte varint. */
static inline uint64_t get_varint(struct reader *r)
{
    if (r->at < r->end && !(*r->at & 0x80))
        return *r->at++;
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->at >= r->end) {
            r->malformed = true;
            return 0;
        }
        uint8_t byte = *r->at++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return value;
    }
    r->malformed = true;
    return 0;
}

static inline int64_t get_svarint(struct reader *r)
{
    uint64_t encoded = get_varint(r);
    return (int64_t)(encoded >> 1) ^ -(int64_t)(encoded & 1);
}

/* A 32-bit count, id or enum value: a larger one is malformed. */
static uint32_t get_u32(struct reader *r)
{
    uint64_t value = get_varint(r);
    if (value > UINT32_MAX)
        r->malformed = true;
    return (uint32_t)value;
}

/* A device ordinal (-1: none or the host): one outside int32_t is malformed. */
static int32_t get_device(struct reader *r)
{
    int64_t value = get_svarint(r);
    if (value < INT32_MIN || value > INT32_MAX)
        r->malformed = true;
    return (int32_t)value;
}

static const uint8_t *get_bytes(struct reader *r, uint32_t *length)
{
    uint64_t size = get_varint(r);
    if (size > (uint64_t)(r->end - r->at)) {
        r->malformed = true;
        *length = 0;
        return NULL;
    }
    const uint8_t *bytes = r->at;
    r->at += size;
    *length = (uint32_t)size;
    return bytes;
}

static struct vt_trace_text get_text(struct reader *r)
{
    struct vt_trace_text text;
    text.bytes = (const char *)get_bytes(r, &text.length);
    return text;
}

/* --- deltas ------------------------------------------------------------------------------------ */

void vt_trace_deltas_start(struct vt_trace_deltas *deltas, uint64_t base_time_ns, uint32_t format_version)
{
    deltas->format_version = format_version;
    deltas->last_time_ns = base_time_ns;
    deltas->last_address = 0;
    deltas->last_stream = 0;
    deltas->last_stack_id = 0;
}

/* An ALLOC's stack id: version 3 codes it as an svarint delta from the previous ALLOC's of the chunk
 * (starting at 0), so that a loop's call sites, interned in the order they first ran, cost what a
 * repeated pattern costs; earlier versions as a plain varint. */
static void put_alloc_stack(struct writer *w, struct vt_trace_deltas *d, uint32_t stack_id)
{
    if (d->format_version < 3) {
        put_varint(w, stack_id);
        return;
    }
    put_svarint(w, (int64_t)stack_id - (int64_t)d->last_stack_id);
    d->last_stack_id = stack_id;
}

/* Version 3's stack id after `delta`; one outside 32 bits is malformed. */
static inline uint32_t apply_stack_delta(struct vt_trace_deltas *d, int64_t delta, bool *malformed)
{
    int64_t last = d->last_stack_id;
    if (delta < -last || delta > (int64_t)UINT32_MAX - last) /* compared first: the sum may not fit */
        *malformed = true;
    d->last_stack_id = (uint32_t)((uint64_t)last + (uint64_t)delta);
    return d->last_stack_id;
}

static uint32_t get_alloc_stack(struct reader *r, struct vt_trace_deltas *d)
{
    if (d->format_version < 3)
        return (uint32_t)get_varint(r);
    return apply_stack_delta(d, get_svarint(r), &r->malformed);
}

static void put_time(struct writer *w, struct vt_trace_deltas *d, uint64_t timestamp_ns)
{
    /* Events from several threads can reach the buffer slightly out of order: clamp. */
    uint64_t delta = timestamp_ns > d->last_time_ns ? timestamp_ns - d->last_time_ns : 0;
    put_varint(w, delta);
    d->last_time_ns += delta;
}

static uint64_t get_time(struct reader *r, struct vt_trace_deltas *d)
{
    d->last_time_ns += get_varint(r);
    return d->last_time_ns;
}

static void put_address(struct writer *w, struct vt_trace_deltas *d, uint64_t address)
{
    put_svarint(w, (int64_t)(address - d->last_address));
    d->last_address = address;
}

static uint64_t get_address(struct reader *r, struct vt_trace_deltas *d)
{
    d->last_address += (uint64_t)get_svarint(r);
    return d->last_address;
}

static void put_stream(struct writer *w, struct vt_trace_deltas *d, uint64_t stream)
{
    put_svarint(w, (int64_t)(stream - d->last_stream));
    d->last_stream = stream;
}

static uint64_t get_stream(struct reader *r, struct vt_trace_deltas *d)
{
    d->last_stream += (uint64_t)get_svarint(r);
    return d->last_stream;
}

/* --- stacks ------------------------------------------------------------------------------------ */

/* Version 2: one varint per frame, its low bit the kind. Native (0): the rest is the zigzag delta
 * from the previous native frame of the stack (native frames are below 2^62). Python (1): the rest
 * is the code id, and a varint byte offset follows. Version 1 had native frames only: each a
 * zigzag delta from the previous frame. */
static void put_frames(struct writer *w, const uint64_t *frames, uint32_t depth)
{
    uint64_t previous_native = 0;
    for (uint32_t i = 0; i < depth; i++) {
        uint64_t frame = frames[i];
        if (vt_frame_is_python(frame)) {
            put_varint(w, (uint64_t)vt_python_frame_code(frame) << 1 | 1);
            put_varint(w, vt_python_frame_offset(frame));
            continue;
        }
        int64_t delta = (int64_t)(frame - previous_native);
        put_varint(w, (((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63)) << 1);
        previous_native = frame;
    }
}

static void get_frames(struct reader *r, uint64_t *frames, uint32_t depth, uint32_t format_version)
{
    uint64_t previous_native = 0;
    for (uint32_t i = 0; i < depth; i++) {
        if (format_version < 2) {
            frames[i] = previous_native += (uint64_t)get_svarint(r);
            continue;
        }
        uint64_t head = get_varint(r);
        if (head & 1) {
            uint64_t code_id = head >> 1, offset = get_varint(r);
            if (code_id == 0 || code_id > 0x7fffffffu || offset > UINT32_MAX)
                r->malformed = true;
            frames[i] = vt_python_frame((uint32_t)code_id, (uint32_t)offset);
            continue;
        }
        uint64_t zigzag = head >> 1;
        frames[i] = previous_native += (uint64_t)((int64_t)(zigzag >> 1) ^ -(int64_t)(zigzag & 1));
    }
}

/* --- records ----------------------------------------------------------------------------------- */

static void encode_payload(struct writer *w, struct vt_trace_deltas *d, const struct vt_trace_record *record)
{
    const struct vt_trace_event *e = &record->event;
    switch (record->type) {
    case VT_RECORD_PROCESS:
        put_text(w, record->process.program);
        put_varint(w, record->process.pid);
        put_text(w, record->process.host);
        put_svarint(w, record->process.rank);
        put_varint(w, record->process.start_realtime_ns);
        put_varint(w, record->process.start_monotonic_ns);
        put_text(w, record->process.command_line);
        put_text(w, record->process.version);
        break;
    case VT_RECORD_DEVICE:
        put_varint(w, record->device.ordinal);
        put_text(w, record->device.name);
        put_varint(w, record->device.total_bytes);
        break;
    case VT_RECORD_MODULE:
        put_varint(w, record->module.id);
        put_text(w, record->module.path);
        put_varint(w, record->module.load_address);
        put_varint(w, record->module.size_bytes);
        put_bytes(w, record->module.build_id, record->module.build_id_length);
        break;
    case VT_RECORD_STACK:
        put_varint(w, record->stack.id);
        put_varint(w, record->stack.depth);
        put_frames(w, record->stack.frames, record->stack.depth);
        break;
    case VT_RECORD_CODE:
        put_varint(w, record->code.id);
        put_text(w, record->code.file_name);
        put_text(w, record->code.function_name);
        put_varint(w, record->code.first_line);
        put_varint(w, record->code.line_table_format);
        put_bytes(w, record->code.line_table, record->code.line_table_bytes);
        break;
    case VT_RECORD_THREAD:
        put_varint(w, record->thread.index);
        put_varint(w, record->thread.thread_id);
        if (record->thread.name.length) /* appended: absent means unknown */
            put_text(w, record->thread.name);
        break;
    case VT_RECORD_ALLOC:
    case VT_RECORD_FREE: /* the same fields, but a free carries no stack */
        put_time(w, d, e->timestamp_ns);
        put_varint(w, e->api);
        put_varint(w, e->kind);
        put_svarint(w, e->device);
        put_address(w, d, e->address);
        put_varint(w, e->size_bytes);
        if (record->type == VT_RECORD_ALLOC)
            put_alloc_stack(w, d, e->stack_id);
        put_varint(w, e->thread_index);
        put_stream(w, d, e->stream);
        if (record->type == VT_RECORD_FREE && e->flags) /* appended: absent means 0 */
            put_varint(w, e->flags);
        break;
    case VT_RECORD_FREE_UNKNOWN:
        put_time(w, d, e->timestamp_ns);
        put_varint(w, e->api);
        put_address(w, d, e->address);
        put_varint(w, e->thread_index);
        break;
    case VT_RECORD_OOM:
        put_time(w, d, e->timestamp_ns);
        put_varint(w, e->api);
        put_varint(w, e->kind);
        put_svarint(w, e->device);
        put_varint(w, e->size_bytes);
        put_varint(w, e->stack_id);
        put_varint(w, e->thread_index);
        put_varint(w, e->device_free_bytes);
        put_varint(w, e->device_total_bytes);
        break;
    case VT_RECORD_MAP:
        put_time(w, d, e->timestamp_ns);
        put_address(w, d, e->address);
        put_varint(w, e->size_bytes);
        put_varint(w, e->handle);
        put_svarint(w, e->device);
        put_varint(w, e->stack_id);
        put_varint(w, e->thread_index);
        break;
    case VT_RECORD_MARKER:
        put_time(w, d, record->marker.timestamp_ns);
        put_varint(w, record->marker.kind);
        put_text(w, record->marker.text);
        break;
    case VT_RECORD_END:
        put_time(w, d, record->end.timestamp_ns);
        break;
    case VT_RECORD_DROPPED:
        put_time(w, d, record->dropped.timestamp_ns);
        put_varint(w, record->dropped.count);
        break;
    case VT_RECORD_TORCH_SNAPSHOT:
        put_time(w, d, record->torch_snapshot.timestamp_ns);
        put_varint(w, record->torch_snapshot.number);
        put_varint(w, record->torch_snapshot.moment);
        put_varint(w, record->torch_snapshot.dump_number);
        put_varint(w, record->torch_snapshot.flags);
        put_svarint(w, record->torch_snapshot.oom_device);
        put_varint(w, record->torch_snapshot.oom_requested_bytes);
        put_varint(w, record->torch_snapshot.oom_stack_id);
        put_varint(w, record->torch_snapshot.cost_ns);
        break;
    case VT_RECORD_TORCH_DEVICE:
        put_varint(w, record->torch_device.snapshot);
        put_svarint(w, record->torch_device.device);
        put_varint(w, record->torch_device.free_bytes);
        put_varint(w, record->torch_device.total_bytes);
        break;
    case VT_RECORD_TORCH_SEGMENT:
        put_varint(w, record->torch_segment.snapshot);
        put_svarint(w, record->torch_segment.device);
        put_varint(w, record->torch_segment.address);
        put_varint(w, record->torch_segment.size_bytes);
        put_varint(w, record->torch_segment.stream);
        put_varint(w, record->torch_segment.flags);
        put_varint(w, record->torch_segment.stack_id);
        break;
    case VT_RECORD_TORCH_BLOCK:
        put_varint(w, record->torch_block.snapshot);
        put_svarint(w, record->torch_block.device);
        put_varint(w, record->torch_block.address);
        put_varint(w, record->torch_block.size_bytes);
        put_varint(w, record->torch_block.requested_bytes);
        put_varint(w, record->torch_block.state);
        put_varint(w, record->torch_block.stack_id);
        break;
    case VT_RECORD_TORCH_TRACE:
        put_varint(w, record->torch_trace.snapshot);
        put_svarint(w, record->torch_trace.device);
        put_varint(w, record->torch_trace.action);
        put_varint(w, record->torch_trace.address);
        put_varint(w, record->torch_trace.size_bytes);
        put_varint(w, record->torch_trace.stream);
        put_varint(w, record->torch_trace.time_ns);
        put_varint(w, record->torch_trace.stack_id);
        break;
    }
}

size_t vt_trace_encode(uint8_t *out, size_t capacity, struct vt_trace_deltas *deltas,
                       const struct vt_trace_record *record)
{
    /* The payload goes 2 bytes in (room for the type and a short length) and moves if its length
     * needs more bytes; deltas are committed only when the whole record fits. */
    enum { PREFIX_ROOM = 2 };
    if (capacity < PREFIX_ROOM + 1)
        return 0;
    struct vt_trace_deltas trial = *deltas;
    struct writer payload = {out + PREFIX_ROOM, out + capacity, false};
    encode_payload(&payload, &trial, record);
    if (payload.overflow)
        return 0;
    size_t payload_length = (size_t)(payload.at - (out + PREFIX_ROOM));
    uint8_t prefix[20];
    struct writer head = {prefix, prefix + sizeof prefix, false};
    put_varint(&head, record->type);
    put_varint(&head, payload_length);
    size_t prefix_length = (size_t)(head.at - prefix);
    if (prefix_length + payload_length > capacity)
        return 0;
    memmove(out + prefix_length, out + PREFIX_ROOM, payload_length);
    memcpy(out, prefix, prefix_length);
    *deltas = trial;
    return prefix_length + payload_length;
}

static void decode_payload(struct reader *r, struct vt_trace_deltas *d, struct vt_trace_record *record,
                           uint64_t frames[VT_TRACE_MAX_FRAMES])
{
    struct vt_trace_event *e = &record->event;
    switch (record->type) {
    case VT_RECORD_PROCESS:
        record->process.program = get_text(r);
        record->process.pid = get_varint(r);
        record->process.host = get_text(r);
        record->process.rank = get_svarint(r);
        record->process.start_realtime_ns = get_varint(r);
        record->process.start_monotonic_ns = get_varint(r);
        record->process.command_line = get_text(r);
        record->process.version = get_text(r);
        break;
    case VT_RECORD_DEVICE:
        record->device.ordinal = (uint32_t)get_varint(r);
        record->device.name = get_text(r);
        record->device.total_bytes = get_varint(r);
        break;
    case VT_RECORD_MODULE:
        record->module.id = (uint32_t)get_varint(r);
        record->module.path = get_text(r);
        record->module.load_address = get_varint(r);
        record->module.size_bytes = get_varint(r);
        record->module.build_id = get_bytes(r, &record->module.build_id_length);
        break;
    case VT_RECORD_STACK: {
        record->stack.id = (uint32_t)get_varint(r);
        uint64_t depth = get_varint(r);
        if (depth > VT_TRACE_MAX_FRAMES) {
            r->malformed = true;
            break;
        }
        record->stack.depth = (uint32_t)depth;
        record->stack.frames = frames;
        get_frames(r, frames, record->stack.depth, d->format_version);
        break;
    }
    case VT_RECORD_CODE:
        record->code.id = (uint32_t)get_varint(r);
        record->code.file_name = get_text(r);
        record->code.function_name = get_text(r);
        record->code.first_line = (uint32_t)get_varint(r);
        record->code.line_table_format = (uint8_t)get_varint(r);
        record->code.line_table = get_bytes(r, &record->code.line_table_bytes);
        break;
    case VT_RECORD_THREAD:
        record->thread.index = (uint32_t)get_varint(r);
        record->thread.thread_id = (uint32_t)get_varint(r);
        if (r->at < r->end) /* absent in older traces, or when unknown */
            record->thread.name = get_text(r);
        break;
    case VT_RECORD_ALLOC:
    case VT_RECORD_FREE:
        e->timestamp_ns = get_time(r, d);
        e->api = (uint16_t)get_varint(r);
        e->kind = (uint8_t)get_varint(r);
        e->device = (int32_t)get_svarint(r);
        e->address = get_address(r, d);
        e->size_bytes = get_varint(r);
        if (record->type == VT_RECORD_ALLOC)
            e->stack_id = get_alloc_stack(r, d);
        e->thread_index = (uint32_t)get_varint(r);
        e->stream = get_stream(r, d);
        if (record->type == VT_RECORD_FREE && r->at < r->end) /* absent before vramtrace 0.3 */
            e->flags = (uint8_t)get_varint(r);
        break;
    case VT_RECORD_FREE_UNKNOWN:
        e->timestamp_ns = get_time(r, d);
        e->api = (uint16_t)get_varint(r);
        e->address = get_address(r, d);
        e->thread_index = (uint32_t)get_varint(r);
        break;
    case VT_RECORD_OOM:
        e->timestamp_ns = get_time(r, d);
        e->api = (uint16_t)get_varint(r);
        e->kind = (uint8_t)get_varint(r);
        e->device = (int32_t)get_svarint(r);
        e->size_bytes = get_varint(r);
        e->stack_id = (uint32_t)get_varint(r);
        e->thread_index = (uint32_t)get_varint(r);
        e->device_free_bytes = get_varint(r);
        e->device_total_bytes = get_varint(r);
        break;
    case VT_RECORD_MAP:
        e->timestamp_ns = get_time(r, d);
        e->address = get_address(r, d);
        e->size_bytes = get_varint(r);
        e->handle = get_varint(r);
        e->device = (int32_t)get_svarint(r);
        e->stack_id = (uint32_t)get_varint(r);
        e->thread_index = (uint32_t)get_varint(r);
        e->kind = VT_KIND_MAPPED_RANGE;
        e->api = VT_API_cuMemMap;
        break;
    case VT_RECORD_MARKER:
        record->marker.timestamp_ns = get_time(r, d);
        record->marker.kind = (uint32_t)get_varint(r);
        record->marker.text = get_text(r);
        break;
    case VT_RECORD_END:
        record->end.timestamp_ns = get_time(r, d);
        break;
    case VT_RECORD_DROPPED:
        record->dropped.timestamp_ns = get_time(r, d);
        record->dropped.count = get_varint(r);
        break;
    case VT_RECORD_TORCH_SNAPSHOT:
        record->torch_snapshot.timestamp_ns = get_time(r, d);
        record->torch_snapshot.number = get_u32(r);
        record->torch_snapshot.moment = get_u32(r);
        record->torch_snapshot.dump_number = get_u32(r);
        record->torch_snapshot.flags = get_u32(r);
        record->torch_snapshot.oom_device = get_device(r);
        record->torch_snapshot.oom_requested_bytes = get_varint(r);
        record->torch_snapshot.oom_stack_id = get_u32(r);
        record->torch_snapshot.cost_ns = get_varint(r);
        break;
    case VT_RECORD_TORCH_DEVICE:
        record->torch_device.snapshot = get_u32(r);
        record->torch_device.device = get_device(r);
        record->torch_device.free_bytes = get_varint(r);
        record->torch_device.total_bytes = get_varint(r);
        break;
    case VT_RECORD_TORCH_SEGMENT:
        record->torch_segment.snapshot = get_u32(r);
        record->torch_segment.device = get_device(r);
        record->torch_segment.address = get_varint(r);
        record->torch_segment.size_bytes = get_varint(r);
        record->torch_segment.stream = get_varint(r);
        record->torch_segment.flags = get_u32(r);
        record->torch_segment.stack_id = get_u32(r);
        break;
    case VT_RECORD_TORCH_BLOCK:
        record->torch_block.snapshot = get_u32(r);
        record->torch_block.device = get_device(r);
        record->torch_block.address = get_varint(r);
        record->torch_block.size_bytes = get_varint(r);
        record->torch_block.requested_bytes = get_varint(r);
        record->torch_block.state = get_u32(r);
        record->torch_block.stack_id = get_u32(r);
        break;
    case VT_RECORD_TORCH_TRACE:
        record->torch_trace.snapshot = get_u32(r);
        record->torch_trace.device = get_device(r);
        record->torch_trace.action = get_u32(r);
        record->torch_trace.address = get_varint(r);
        record->torch_trace.size_bytes = get_varint(r);
        record->torch_trace.stream = get_varint(r);
        record->torch_trace.time_ns = get_varint(r);
        record->torch_trace.stack_id = get_u32(r);
        break;
    default:
        break; /* unknown type: the caller skips it */
    }
}

/* The rest of a row whose type `head` read: its payload's length, then the payload. `head` is
 * stepped over the row when it decodes. */
static enum vt_trace_decode_result decode_row_after_type(struct reader *head, uint64_t type,
                                                         struct vt_trace_deltas *deltas, struct vt_trace_record *record,
                                                         uint64_t frames[VT_TRACE_MAX_FRAMES])
{
    uint64_t length = get_varint(head);
    if (head->malformed || length > (uint64_t)(head->end - head->at))
        return VT_DECODE_MALFORMED;
    memset(record, 0, sizeof *record);
    record->type = (uint32_t)type;
    /* A known record may carry fields added by a later format version after ours: ignored. */
    struct reader payload = {head->at, head->at + length, false};
    decode_payload(&payload, deltas, record, frames);
    if (payload.malformed)
        return VT_DECODE_MALFORMED;
    head->at += length;
    return VT_DECODE_RECORD;
}

enum vt_trace_decode_result vt_trace_decode(const uint8_t **cursor, const uint8_t *end,
                                            struct vt_trace_deltas *deltas, struct vt_trace_record *record,
                                            uint64_t frames[VT_TRACE_MAX_FRAMES])
{
    if (*cursor >= end)
        return VT_DECODE_END;
    struct reader head = {*cursor, end, false};
    uint64_t type = get_varint(&head);
    enum vt_trace_decode_result result = decode_row_after_type(&head, type, deltas, record, frames);
    if (result == VT_DECODE_RECORD)
        *cursor = head.at;
    return result;
}

/* --- headers and checksum ---------------------------------------------------------------------- */

static void put_le32(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(value >> (8 * i));
}

static uint32_t get_le32(const uint8_t *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
}

void vt_trace_chunk_header_encode(uint8_t out[VT_TRACE_CHUNK_HEADER_BYTES], const struct vt_trace_chunk_header *header)
{
    memset(out, 0, VT_TRACE_CHUNK_HEADER_BYTES);
    put_le32(out, VT_TRACE_CHUNK_MAGIC);
    put_le32(out + 4, header->stored_bytes);
    put_le32(out + 8, header->raw_bytes);
    put_le32(out + 12, header->crc32);
    put_le32(out + 16, (uint32_t)header->base_time_ns);
    put_le32(out + 20, (uint32_t)(header->base_time_ns >> 32));
    put_le32(out + 24, header->record_count);
    out[28] = header->compression;
}

bool vt_trace_chunk_header_decode(const uint8_t in[VT_TRACE_CHUNK_HEADER_BYTES], struct vt_trace_chunk_header *header)
{
    if (get_le32(in) != VT_TRACE_CHUNK_MAGIC)
        return false;
    header->stored_bytes = get_le32(in + 4);
    header->raw_bytes = get_le32(in + 8);
    header->crc32 = get_le32(in + 12);
    header->base_time_ns = (uint64_t)get_le32(in + 16) | (uint64_t)get_le32(in + 20) << 32;
    header->record_count = get_le32(in + 24);
    header->compression = in[28];
    return true;
}

void vt_trace_file_header_encode(uint8_t out[VT_TRACE_FILE_HEADER_BYTES])
{
    memcpy(out, VT_TRACE_MAGIC, 8);
    put_le32(out + 8, VT_TRACE_FORMAT_VERSION);
    put_le32(out + 12, VT_TRACE_FILE_HEADER_BYTES);
}

bool vt_trace_file_header_decode(const uint8_t in[VT_TRACE_FILE_HEADER_BYTES], uint32_t *version)
{
    if (memcmp(in, VT_TRACE_MAGIC, 8) != 0)
        return false;
    *version = get_le32(in + 8);
    return true;
}

/* CRC-32 (zlib's), slice-by-8: crc_table[k][b] is the CRC of byte b followed by k zero bytes, so
 * that eight bytes fold in with eight lookups and no dependency between them. Built once
 * (pthread_once: the shim's writer thread and a thread writing its OOM may come first together). */
static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void build_crc_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t value = i;
        for (int bit = 0; bit < 8; bit++)
            value = value & 1 ? 0xedb88320u ^ (value >> 1) : value >> 1;
        crc_table[0][i] = value;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc_table[k][i] = crc_table[0][crc_table[k - 1][i] & 0xff] ^ (crc_table[k - 1][i] >> 8);
}

uint32_t vt_crc32(const uint8_t *bytes, size_t length)
{
    pthread_once(&crc_table_once, build_crc_table);
    const uint32_t(*table)[256] = crc_table;
    uint32_t crc = 0xffffffffu;
    for (; length >= 8; bytes += 8, length -= 8) {
        uint32_t low = crc ^ get_le32(bytes), high = get_le32(bytes + 4);
        crc = table[7][low & 0xff] ^ table[6][(low >> 8) & 0xff] ^ table[5][(low >> 16) & 0xff] ^
              table[4][low >> 24] ^ table[3][high & 0xff] ^ table[2][(high >> 8) & 0xff] ^
              table[1][(high >> 16) & 0xff] ^ table[0][high >> 24];
    }
    for (; length; bytes++, length--)
        crc = table[0][(crc ^ *bytes) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

/* --- version 3: the column layout of a chunk's payload ----------------------------------------- */

/* Columns: 0 the records (ALLOC and FREE as type and field count), 1..16 the fields of ALLOC
 * records (field i in column 1 + i), 17..32 those of FREE records, 33 a verbatim tail (row bytes
 * that do not parse as records: never the writer's; kept so that any row payload round-trips). */
enum {
    COLUMN_RECORDS = 0,
    COLUMN_ALLOC_FIELDS = 1,
    COLUMN_FREE_FIELDS = 1 + VT_TRACE_COLUMN_FIELDS,
    COLUMN_TAIL = 1 + 2 * VT_TRACE_COLUMN_FIELDS,
    COLUMN_COUNT = VT_TRACE_COLUMN_COUNT,
    FIELDS_VERBATIM = 127, /* in the records column after an ALLOC or FREE type: length, payload */
};

/* Length of the varint at in[0..available), 0 when it does not end there or is longer than 10. */
static size_t varint_length(const uint8_t *in, size_t available)
{
    for (size_t i = 0; i < available && i < 10; i++)
        if (!(in[i] & 0x80))
            return i + 1;
    return 0;
}

static size_t write_varint_at(uint8_t *out, uint64_t value)
{
    size_t length = 0;
    while (value >= 0x80) {
        out[length++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[length++] = (uint8_t)value;
    return length;
}

/* One pass over the rows: with `out` NULL it only counts each column's bytes into `lengths`;
 * otherwise it writes each column at out + offsets[column] (advancing the offsets). */
static void columns_pass(const uint8_t *rows, size_t rows_length, size_t lengths[COLUMN_COUNT], uint8_t *out,
                         size_t offsets[COLUMN_COUNT])
{
    size_t at = 0;
#define EMIT(column, bytes, count)                                                                     \
    do {                                                                                               \
        if (out)                                                                                       \
            memcpy(out + offsets[column], (bytes), (count)), offsets[column] += (count);               \
        else                                                                                           \
            lengths[column] += (count);                                                                \
    } while (0)
    while (at < rows_length) {
        struct reader head = {rows + at, rows + rows_length, false};
        uint64_t type = get_varint(&head);
        size_t type_length = (size_t)(head.at - (rows + at)); /* as written: maybe overlong */
        uint64_t length = get_varint(&head);
        if (head.malformed || length > (uint64_t)(head.end - head.at))
            break;
        const uint8_t *payload = head.at;
        size_t prefix_length = (size_t)(payload - (rows + at));
        if (type == VT_RECORD_ALLOC || type == VT_RECORD_FREE) {
            /* the payload as varints, if it is exactly that and at most 16 of them */
            size_t fields = 0, offset = 0;
            while (offset < length && fields <= VT_TRACE_COLUMN_FIELDS) {
                size_t field_length = varint_length(payload + offset, (size_t)length - offset);
                if (!field_length)
                    break;
                offset += field_length;
                fields++;
            }
            if (offset == length && fields <= VT_TRACE_COLUMN_FIELDS) {
                uint8_t count = (uint8_t)fields;
                EMIT(COLUMN_RECORDS, rows + at, type_length);
                EMIT(COLUMN_RECORDS, &count, 1);
                int first = type == VT_RECORD_ALLOC ? COLUMN_ALLOC_FIELDS : COLUMN_FREE_FIELDS;
                offset = 0;
                for (size_t i = 0; i < fields; i++) {
                    size_t field_length = varint_length(payload + offset, (size_t)length - offset);
                    EMIT(first + (int)i, payload + offset, field_length);
                    offset += field_length;
                }
            } else {
                uint8_t verbatim = FIELDS_VERBATIM;
                EMIT(COLUMN_RECORDS, rows + at, type_length);
                EMIT(COLUMN_RECORDS, &verbatim, 1);
                EMIT(COLUMN_RECORDS, rows + at + type_length, prefix_length - type_length + (size_t)length);
            }
        } else {
            EMIT(COLUMN_RECORDS, rows + at, prefix_length + (size_t)length);
        }
        at += prefix_length + (size_t)length;
    }
    if (at < rows_length)
        EMIT(COLUMN_TAIL, rows + at, rows_length - at);
#undef EMIT
}

size_t vt_trace_columns_encode(const uint8_t *rows, size_t rows_length, uint8_t *out, size_t capacity)
{
    size_t lengths[COLUMN_COUNT] = {0}, offsets[COLUMN_COUNT];
    columns_pass(rows, rows_length, lengths, NULL, NULL);
    uint8_t header[1 + 10 * COLUMN_COUNT];
    size_t header_length = write_varint_at(header, COLUMN_COUNT), total = 0;
    for (int c = 0; c < COLUMN_COUNT; c++) {
        header_length += write_varint_at(header + header_length, lengths[c]);
        total += lengths[c];
    }
    if (header_length + total > capacity)
        return 0;
    memcpy(out, header, header_length);
    size_t offset = header_length;
    for (int c = 0; c < COLUMN_COUNT; c++) {
        offsets[c] = offset;
        offset += lengths[c];
    }
    columns_pass(rows, rows_length, lengths, out, offsets);
    return header_length + total;
}

/* The columns of a payload, from its header: false when the header is malformed or the lengths
 * do not add up to the payload. */
static bool split_columns(const uint8_t *in, size_t length, struct vt_trace_columns *columns)
{
    struct reader header = {in, in + length, false};
    if (get_varint(&header) != COLUMN_COUNT || header.malformed)
        return false;
    uint64_t lengths[COLUMN_COUNT];
    for (int c = 0; c < COLUMN_COUNT; c++)
        lengths[c] = get_varint(&header);
    if (header.malformed)
        return false;
    const uint8_t *at = header.at;
    for (int c = 0; c < COLUMN_COUNT; c++) {
        if (lengths[c] > (uint64_t)(in + length - at))
            return false;
        columns->at[c] = at;
        columns->end[c] = at += lengths[c];
    }
    return at == in + length;
}

size_t vt_trace_columns_decode(const uint8_t *in, size_t length, uint8_t *out, size_t capacity)
{
    struct vt_trace_columns split;
    if (!split_columns(in, length, &split))
        return VT_TRACE_COLUMNS_MALFORMED;
    struct reader column[COLUMN_COUNT];
    for (int c = 0; c < COLUMN_COUNT; c++)
        column[c] = (struct reader){split.at[c], split.end[c], false};
    size_t written = 0;
    struct reader *records = &column[COLUMN_RECORDS];
    while (records->at < records->end) {
        const uint8_t *type_start = records->at;
        uint64_t type = get_varint(records);
        if (records->malformed)
            return VT_TRACE_COLUMNS_MALFORMED;
        size_t type_length = (size_t)(records->at - type_start);
        const uint8_t *verbatim = type_start;
        size_t verbatim_length;
        if (type == VT_RECORD_ALLOC || type == VT_RECORD_FREE) {
            uint64_t fields = get_varint(records);
            if (records->malformed)
                return VT_TRACE_COLUMNS_MALFORMED;
            if (fields <= VT_TRACE_COLUMN_FIELDS) {
                int first = type == VT_RECORD_ALLOC ? COLUMN_ALLOC_FIELDS : COLUMN_FREE_FIELDS;
                size_t field_lengths[VT_TRACE_COLUMN_FIELDS], payload_length = 0;
                for (uint64_t i = 0; i < fields; i++) {
                    struct reader *field = &column[first + (int)i];
                    field_lengths[i] = varint_length(field->at, (size_t)(field->end - field->at));
                    if (!field_lengths[i])
                        return VT_TRACE_COLUMNS_MALFORMED;
                    payload_length += field_lengths[i];
                }
                if (capacity - written < type_length + 10 + payload_length)
                    return VT_TRACE_COLUMNS_MALFORMED;
                memcpy(out + written, type_start, type_length);
                written += type_length;
                written += write_varint_at(out + written, payload_length);
                for (uint64_t i = 0; i < fields; i++) {
                    struct reader *field = &column[first + (int)i];
                    memcpy(out + written, field->at, field_lengths[i]);
                    written += field_lengths[i];
                    field->at += field_lengths[i];
                }
                continue;
            }
            if (fields != FIELDS_VERBATIM)
                return VT_TRACE_COLUMNS_MALFORMED;
            /* type as written, then the row's length and payload */
            if (capacity - written < type_length)
                return VT_TRACE_COLUMNS_MALFORMED;
            memcpy(out + written, type_start, type_length);
            written += type_length;
            verbatim = records->at;
            type_length = 0;
        }
        uint64_t payload_length = get_varint(records);
        if (records->malformed || payload_length > (uint64_t)(records->end - records->at))
            return VT_TRACE_COLUMNS_MALFORMED;
        records->at += payload_length;
        verbatim_length = (size_t)(records->at - verbatim);
        if (capacity - written < verbatim_length)
            return VT_TRACE_COLUMNS_MALFORMED;
        memcpy(out + written, verbatim, verbatim_length);
        written += verbatim_length;
    }
    for (int c = COLUMN_ALLOC_FIELDS; c < COLUMN_TAIL; c++)
        if (column[c].at != column[c].end)
            return VT_TRACE_COLUMNS_MALFORMED;
    size_t tail = (size_t)(column[COLUMN_TAIL].end - column[COLUMN_TAIL].at);
    if (capacity - written < tail)
        return VT_TRACE_COLUMNS_MALFORMED;
    memcpy(out + written, column[COLUMN_TAIL].at, tail);
    return written + tail;
}

/* Whether the column's bytes are exactly `count` varints of at most 10 bytes each (as varint_length
 * reads them one after the other): `count` bytes end one (no 0x80 bit), the last byte does, and no
 * 10 bytes in a row go on (0x80). Eight bytes at a time. */
static bool column_holds_varints(const uint8_t *at, const uint8_t *end, size_t count)
{
    size_t length = (size_t)(end - at);
    if (!length || (end[-1] & 0x80))
        return !length && !count;
    const uint64_t high_bits = 0x8080808080808080u;
    size_t ends = 0, going_on = 0; /* varints ended; bytes in a row that go on, so far */
    size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        memcpy(&word, at + i, 8);
        uint64_t ending = ~word & high_bits; /* the bytes that end a varint (little-endian order) */
        if (!ending) {
            going_on += 8;
            if (going_on >= 10)
                return false;
            continue;
        }
        ends += ((ending >> 7) * 0x0101010101010101u) >> 56;
        if (going_on + (size_t)__builtin_ctzll(ending) / 8 >= 10)
            return false;
        going_on = (size_t)__builtin_clzll(ending) / 8; /* the bytes after the word's last end */
    }
    for (; i < length; i++) {
        if (!(at[i] & 0x80)) {
            ends++;
            going_on = 0;
        } else if (++going_on >= 10) {
            return false;
        }
    }
    return ends == count;
}

/* A varint of a checked column (column_holds_varints): no bounds to check. */
static inline uint64_t take_checked_varint(const uint8_t **at)
{
    uint8_t byte = *(*at)++;
    if (!(byte & 0x80))
        return byte;
    uint64_t value = byte & 0x7f;
    for (unsigned shift = 7;; shift += 7) {
        byte = *(*at)++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return value;
    }
}

bool vt_trace_columns_open(struct vt_trace_columns *columns, const uint8_t *in, size_t length)
{
    columns->malformed = false;
    if (!split_columns(in, length, columns))
        return false;
    /* the records column as vt_trace_columns_decode reads it; records by type and field count */
    size_t with_fields[2][VT_TRACE_COLUMN_FIELDS + 1] = {{0}};
    struct reader records = {columns->at[COLUMN_RECORDS], columns->end[COLUMN_RECORDS], false};
    while (records.at < records.end) {
        uint64_t type = get_varint(&records);
        if (records.malformed)
            return false;
        if (type == VT_RECORD_ALLOC || type == VT_RECORD_FREE) {
            uint64_t fields = get_varint(&records);
            if (records.malformed)
                return false;
            if (fields <= VT_TRACE_COLUMN_FIELDS) {
                with_fields[type == VT_RECORD_FREE][fields]++;
                continue;
            }
            if (fields != FIELDS_VERBATIM)
                return false;
        }
        uint64_t payload_length = get_varint(&records);
        if (records.malformed || payload_length > (uint64_t)(records.end - records.at))
            return false;
        records.at += payload_length;
    }
    /* field i of a type is in the records with more than i fields: a column holds that many */
    for (int free = 0; free < 2; free++) {
        size_t more = 0;
        for (int i = VT_TRACE_COLUMN_FIELDS - 1; i >= 0; i--) {
            more += with_fields[free][i + 1];
            int column = (free ? COLUMN_FREE_FIELDS : COLUMN_ALLOC_FIELDS) + i;
            if (!column_holds_varints(columns->at[column], columns->end[column], more))
                return false;
        }
    }
    return true;
}

/* The fields of an ALLOC or FREE record, one after the other from their columns, as decode_payload
 * reads them from a row's payload: past the record's last field, `missing` (malformed). */
struct record_fields {
    struct vt_trace_columns *columns;
    int first;
    unsigned count, next;
    bool missing;
};

static inline uint64_t next_field(struct record_fields *fields)
{
    if (fields->next >= fields->count) {
        fields->missing = true;
        return 0;
    }
    return take_checked_varint(&fields->columns->at[fields->first + (int)fields->next++]);
}

static inline int64_t next_signed_field(struct record_fields *fields)
{
    uint64_t encoded = next_field(fields);
    return (int64_t)(encoded >> 1) ^ -(int64_t)(encoded & 1);
}

/* An ALLOC or FREE record from its fields' columns: decode_payload's reading of the row. */
static enum vt_trace_decode_result decode_event_fields(struct record_fields *fields, uint32_t type,
                                                       struct vt_trace_deltas *d, struct vt_trace_record *record)
{
    struct vt_trace_event *e = &record->event;
    *e = (struct vt_trace_event){0};
    bool malformed = false;
    e->timestamp_ns = d->last_time_ns += next_field(fields);
    e->api = (uint16_t)next_field(fields);
    e->kind = (uint8_t)next_field(fields);
    e->device = (int32_t)next_signed_field(fields);
    e->address = d->last_address += (uint64_t)next_signed_field(fields);
    e->size_bytes = next_field(fields);
    if (type == VT_RECORD_ALLOC)
        e->stack_id = apply_stack_delta(d, next_signed_field(fields), &malformed);
    e->thread_index = (uint32_t)next_field(fields);
    e->stream = d->last_stream += (uint64_t)next_signed_field(fields);
    if (type == VT_RECORD_FREE && fields->next < fields->count) /* absent before vramtrace 0.3 */
        e->flags = (uint8_t)next_field(fields);
    while (fields->next < fields->count) /* fields of a later format version: ignored */
        next_field(fields);
    if (malformed || fields->missing)
        return VT_DECODE_MALFORMED;
    record->type = type;
    return VT_DECODE_RECORD;
}

/* The same for what the writer writes, an ALLOC of 9 fields or a FREE of 8 or 9 (the flags last):
 * the fields taken in one go. */
static inline void decode_written_event(const uint8_t **at, uint32_t type, unsigned count,
                                        struct vt_trace_deltas *d, struct vt_trace_record *record, bool *malformed)
{
    uint64_t field[9];
#pragma GCC unroll 8
    for (unsigned i = 0; i < 8; i++)
        field[i] = take_checked_varint(&at[i]);
    field[8] = count == 9 ? take_checked_varint(&at[8]) : 0;
    bool alloc = type == VT_RECORD_ALLOC;
#define SIGNED(value) ((int64_t)((value) >> 1) ^ -(int64_t)((value) & 1))
    record->type = type;
    record->event = (struct vt_trace_event){
        .timestamp_ns = d->last_time_ns += field[0],
        .api = (uint16_t)field[1],
        .kind = (uint8_t)field[2],
        .device = (int32_t)SIGNED(field[3]),
        .address = d->last_address += (uint64_t)SIGNED(field[4]),
        .size_bytes = field[5],
        .stack_id = alloc ? apply_stack_delta(d, SIGNED(field[6]), malformed) : 0,
        .thread_index = (uint32_t)field[alloc ? 7 : 6],
        .stream = d->last_stream += (uint64_t)SIGNED(field[alloc ? 8 : 7]),
        .flags = alloc ? 0 : (uint8_t)field[8],
    };
#undef SIGNED
}

size_t vt_trace_columns_next_events(struct vt_trace_columns *columns, struct vt_trace_deltas *deltas,
                                    struct vt_trace_record *records, size_t capacity)
{
    if (columns->malformed)
        return 0;
    size_t count = 0;
    const uint8_t *record_at = columns->at[COLUMN_RECORDS];
    while (count < capacity && record_at < columns->end[COLUMN_RECORDS]) {
        const uint8_t *after = record_at; /* the column was checked whole by vt_trace_columns_open */
        uint64_t type = take_checked_varint(&after);
        if (type != VT_RECORD_ALLOC && type != VT_RECORD_FREE)
            break;
        uint64_t fields = take_checked_varint(&after);
        if (fields != 9 && (fields != 8 || type != VT_RECORD_FREE))
            break;
        bool malformed = false;
        int first = type == VT_RECORD_ALLOC ? COLUMN_ALLOC_FIELDS : COLUMN_FREE_FIELDS;
        decode_written_event(&columns->at[first], (uint32_t)type, (unsigned)fields, deltas, &records[count], &malformed);
        if (malformed) { /* its fields are taken: vt_trace_columns_next reports it, reading nothing */
            columns->malformed = true;
            break;
        }
        record_at = after;
        count++;
    }
    columns->at[COLUMN_RECORDS] = record_at;
    return count;
}

/* vt_trace_columns_next without its guard: after a malformed record its field columns may be
 * stepped over already and the records column not, so that record must not be read again. */
static enum vt_trace_decode_result next_of_columns(struct vt_trace_columns *columns, struct vt_trace_deltas *deltas,
                                                   struct vt_trace_record *record,
                                                   uint64_t frames[VT_TRACE_MAX_FRAMES])
{
    if (vt_trace_columns_next_events(columns, deltas, record, 1)) /* what the writer writes */
        return VT_DECODE_RECORD;
    if (columns->malformed)
        return VT_DECODE_MALFORMED;
    if (columns->at[COLUMN_RECORDS] >= columns->end[COLUMN_RECORDS]) /* the tail: rows */
        return vt_trace_decode(&columns->at[COLUMN_TAIL], columns->end[COLUMN_TAIL], deltas, record, frames);
    /* vt_trace_columns_open read the whole records column: its varints need no bounds */
    struct reader records = {columns->at[COLUMN_RECORDS], columns->end[COLUMN_RECORDS], false};
    uint64_t type = take_checked_varint(&records.at);
    if (type != VT_RECORD_ALLOC && type != VT_RECORD_FREE) /* a row as it was written */
        return vt_trace_decode(&columns->at[COLUMN_RECORDS], columns->end[COLUMN_RECORDS], deltas, record, frames);
    uint64_t count = take_checked_varint(&records.at);
    enum vt_trace_decode_result result;
    if (count <= VT_TRACE_COLUMN_FIELDS) {
        struct record_fields fields = {
            columns, type == VT_RECORD_ALLOC ? COLUMN_ALLOC_FIELDS : COLUMN_FREE_FIELDS, (unsigned)count, 0, false};
        result = decode_event_fields(&fields, (uint32_t)type, deltas, record);
    } else { /* FIELDS_VERBATIM (open checked it): the row's length and payload follow */
        result = decode_row_after_type(&records, type, deltas, record, frames);
    }
    if (result == VT_DECODE_RECORD)
        columns->at[COLUMN_RECORDS] = records.at;
    return result;
}

enum vt_trace_decode_result vt_trace_columns_next(struct vt_trace_columns *columns, struct vt_trace_deltas *deltas,
                                                  struct vt_trace_record *record,
                                                  uint64_t frames[VT_TRACE_MAX_FRAMES])
{
    if (columns->malformed) /* the reading stops at a malformed record: nothing is read twice */
        return VT_DECODE_MALFORMED;
    enum vt_trace_decode_result result = next_of_columns(columns, deltas, record, frames);
    columns->malformed = result == VT_DECODE_MALFORMED;
    return result;
}
