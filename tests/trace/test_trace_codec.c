/* tests/trace/test_trace_codec.c — the shared record codec (common/trace_codec.c): every record
 * type survives encode + decode, varint edge values, deltas across records, a record with extra
 * trailing bytes (a later format version) still decodes, and an unknown type is skipped. Version 3's
 * column layout: rows round-trip through it, damage is refused, and reading the columns record by
 * record (vt_trace_columns_open/next) agrees with decoding them back to rows, on valid payloads and
 * on many deterministic mutations of them (the differential test). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/trace_codec.h"
#include "trace_builder.h"
#include "vramtrace/frames.h"
#include "vramtrace/events.h"
#include "vramtrace/trace_format.h"

static struct vt_trace_text text(const char *value)
{
    return (struct vt_trace_text){value, (uint32_t)strlen(value)};
}

static void assert_text(struct vt_trace_text got, struct vt_trace_text want)
{
    cr_assert_eq(got.length, want.length);
    cr_assert(!want.length || memcmp(got.bytes, want.bytes, want.length) == 0, "'%.*s' != '%.*s'", (int)got.length, got.bytes,
              (int)want.length, want.bytes);
}

/* Encodes `records` in one buffer (one chunk), then decodes them back in order into `decoded`. */
static void round_trip(const struct vt_trace_record *records, size_t count, struct vt_trace_record *decoded,
                       uint64_t frames[][VT_TRACE_MAX_FRAMES])
{
    static uint8_t buffer[1 << 16];
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 1000, VT_TRACE_FORMAT_VERSION);
    size_t length = 0;
    for (size_t i = 0; i < count; i++) {
        size_t written = vt_trace_encode(buffer + length, sizeof buffer - length, &deltas, &records[i]);
        cr_assert_gt(written, 0, "record %zu did not encode", i);
        length += written;
    }
    /* version 3: through the column layout and back, byte for byte */
    static uint8_t columns[(1 << 16) * 2], rows[(1 << 16) * 4];
    size_t column_length = vt_trace_columns_encode(buffer, length, columns, sizeof columns);
    cr_assert_gt(column_length, 0);
    cr_assert_eq(vt_trace_columns_decode(columns, column_length, rows, sizeof rows), length);
    cr_assert(memcmp(rows, buffer, length) == 0);
    vt_trace_deltas_start(&deltas, 1000, VT_TRACE_FORMAT_VERSION);
    const uint8_t *cursor = buffer;
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(vt_trace_decode(&cursor, buffer + length, &deltas, &decoded[i], frames[i]), VT_DECODE_RECORD,
                     "record %zu", i);
    cr_assert_eq(vt_trace_decode(&cursor, buffer + length, &deltas, &decoded[0], frames[0]), VT_DECODE_END);
}

static void assert_same_event(const struct vt_trace_event *got, const struct vt_trace_event *want)
{
    cr_assert_eq(got->timestamp_ns, want->timestamp_ns);
    cr_assert_eq(got->address, want->address);
    cr_assert_eq(got->size_bytes, want->size_bytes);
    cr_assert_eq(got->stream, want->stream);
    cr_assert_eq(got->handle, want->handle);
    cr_assert_eq(got->device_free_bytes, want->device_free_bytes);
    cr_assert_eq(got->device_total_bytes, want->device_total_bytes);
    cr_assert_eq(got->stack_id, want->stack_id);
    cr_assert_eq(got->thread_index, want->thread_index);
    cr_assert_eq(got->device, want->device);
    cr_assert_eq(got->api, want->api);
    cr_assert_eq(got->kind, want->kind);
    cr_assert_eq(got->flags, want->flags);
}

Test(codec, every_record_type_round_trips)
{
    static const uint8_t build_id[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};
    static uint64_t stack_frames[] = {0x555555554000 + 0x1234, 0x7ffff7a00000, 0x555555554000 + 0x1000, 0};
    struct vt_trace_record records[13];
    memset(records, 0, sizeof records);
    records[0].type = VT_RECORD_PROCESS;
    records[0].process.program = text("train");
    records[0].process.pid = 4242;
    records[0].process.host = text("node-17");
    records[0].process.rank = 3;
    records[0].process.start_realtime_ns = 1712345678123456789ull;
    records[0].process.start_monotonic_ns = 987654321012ull;
    records[0].process.command_line = text("python3 train.py --epochs 1");
    records[0].process.version = text("0.1.0");
    records[1].type = VT_RECORD_DEVICE;
    records[1].device.ordinal = 7;
    records[1].device.name = text("NVIDIA H100 80GB HBM3");
    records[1].device.total_bytes = 85045231616ull;
    records[2].type = VT_RECORD_MODULE;
    records[2].module.id = 2;
    records[2].module.path = text("/usr/lib/x86_64-linux-gnu/libcuda.so.1");
    records[2].module.load_address = 0x7ffff7a00000;
    records[2].module.size_bytes = 0x2000000;
    records[2].module.build_id = build_id;
    records[2].module.build_id_length = sizeof build_id;
    records[3].type = VT_RECORD_STACK;
    records[3].stack.id = 9;
    records[3].stack.depth = 4;
    records[3].stack.frames = stack_frames;
    records[4].type = VT_RECORD_THREAD;
    records[4].thread.index = 2;
    records[4].thread.thread_id = 123456;
    records[4].thread.name = text("pt_main_thread");
    records[5].type = VT_RECORD_ALLOC;
    records[5].event = (struct vt_trace_event){.timestamp_ns = 2000, .api = VT_API_cudaMallocAsync, .kind = VT_KIND_DEVICE,
                                               .device = 1, .address = 0x7f0000200000, .size_bytes = 2 << 20,
                                               .stack_id = 9, .thread_index = 2, .stream = 0x5555deadbeef};
    records[6].type = VT_RECORD_FREE;
    records[6].event = (struct vt_trace_event){.timestamp_ns = 2500, .api = VT_API_cudaFreeAsync, .kind = VT_KIND_DEVICE,
                                               .device = 1, .address = 0x7f0000100000, .size_bytes = 4096,
                                               .thread_index = 2, .stream = 0x1000};
    records[7].type = VT_RECORD_FREE_UNKNOWN;
    records[7].event = (struct vt_trace_event){.timestamp_ns = 2500, .api = VT_API_cuMemFree, .address = 0x1234,
                                               .thread_index = 1};
    records[8].type = VT_RECORD_OOM;
    records[8].event = (struct vt_trace_event){.timestamp_ns = 9000, .api = VT_API_cudaMalloc, .kind = VT_KIND_DEVICE,
                                               .device = 0, .size_bytes = 1ull << 40, .stack_id = 9, .thread_index = 1,
                                               .device_free_bytes = 1 << 30, .device_total_bytes = 80ull << 30};
    records[9].type = VT_RECORD_MAP;
    records[9].event = (struct vt_trace_event){.timestamp_ns = 9100, .api = VT_API_cuMemMap, .kind = VT_KIND_MAPPED_RANGE,
                                               .address = 0x7e0000000000, .size_bytes = 2 << 20, .handle = 0x42,
                                               .device = 0, .stack_id = 9, .thread_index = 1};
    records[10].type = VT_RECORD_MARKER;
    records[10].marker.timestamp_ns = 9200;
    records[10].marker.kind = VT_MARKER_DUMP;
    records[10].marker.text = text("live dump");
    records[11].type = VT_RECORD_DROPPED;
    records[11].dropped.timestamp_ns = 9300;
    records[11].dropped.count = 17;
    records[12].type = VT_RECORD_END;
    records[12].end.timestamp_ns = 10000;

    struct vt_trace_record decoded[13];
    static uint64_t frames[13][VT_TRACE_MAX_FRAMES];
    round_trip(records, 13, decoded, frames);

    for (int i = 0; i < 13; i++)
        cr_assert_eq(decoded[i].type, records[i].type, "record %d", i);
    assert_text(decoded[0].process.program, records[0].process.program);
    cr_assert_eq(decoded[0].process.pid, 4242);
    assert_text(decoded[0].process.host, records[0].process.host);
    cr_assert_eq(decoded[0].process.rank, 3);
    cr_assert_eq(decoded[0].process.start_realtime_ns, 1712345678123456789ull);
    cr_assert_eq(decoded[0].process.start_monotonic_ns, 987654321012ull);
    assert_text(decoded[0].process.command_line, records[0].process.command_line);
    assert_text(decoded[0].process.version, records[0].process.version);
    cr_assert_eq(decoded[1].device.ordinal, 7);
    assert_text(decoded[1].device.name, records[1].device.name);
    cr_assert_eq(decoded[1].device.total_bytes, 85045231616ull);
    cr_assert_eq(decoded[2].module.id, 2);
    assert_text(decoded[2].module.path, records[2].module.path);
    cr_assert_eq(decoded[2].module.load_address, 0x7ffff7a00000);
    cr_assert_eq(decoded[2].module.size_bytes, 0x2000000);
    cr_assert_eq(decoded[2].module.build_id_length, sizeof build_id);
    cr_assert(memcmp(decoded[2].module.build_id, build_id, sizeof build_id) == 0);
    cr_assert_eq(decoded[3].stack.id, 9);
    cr_assert_eq(decoded[3].stack.depth, 4);
    cr_assert(memcmp(decoded[3].stack.frames, stack_frames, sizeof stack_frames) == 0);
    cr_assert_eq(decoded[4].thread.index, 2);
    cr_assert_eq(decoded[4].thread.thread_id, 123456);
    assert_text(decoded[4].thread.name, records[4].thread.name);
    for (int i = 5; i <= 8; i++)
        assert_same_event(&decoded[i].event, &records[i].event);
    assert_same_event(&decoded[9].event, &records[9].event); /* MAP: kind and api implied */
    cr_assert_eq(decoded[10].marker.timestamp_ns, 9200);
    cr_assert_eq(decoded[10].marker.kind, VT_MARKER_DUMP);
    assert_text(decoded[10].marker.text, records[10].marker.text);
    cr_assert_eq(decoded[11].dropped.timestamp_ns, 9300);
    cr_assert_eq(decoded[11].dropped.count, 17);
    cr_assert_eq(decoded[12].end.timestamp_ns, 10000);
}

/* An ALLOC carrying `value` in its varint and svarint fields decodes to the same values. */
static void assert_alloc_values_survive(uint64_t value, int32_t device, int64_t rank)
{
    struct vt_trace_record records[3] = {{.type = VT_RECORD_ALLOC}, {.type = VT_RECORD_ALLOC}, {.type = VT_RECORD_PROCESS}};
    records[0].event = (struct vt_trace_event){.timestamp_ns = 1000 + (value >> 1), .address = value, .size_bytes = value,
                                               .stream = value, .device = device, .stack_id = (uint32_t)value,
                                               .thread_index = (uint32_t)(value >> 32)};
    /* the next address and stream lie below the first: negative deltas */
    records[1].event = (struct vt_trace_event){.timestamp_ns = 1000 + (value >> 1), .address = value / 3,
                                               .size_bytes = ~value, .stream = 0, .device = -device};
    records[2].process.rank = rank;
    records[2].process.start_realtime_ns = value;
    struct vt_trace_record decoded[3];
    static uint64_t frames[3][VT_TRACE_MAX_FRAMES];
    round_trip(records, 3, decoded, frames);
    for (int i = 0; i < 2; i++)
        assert_same_event(&decoded[i].event, &records[i].event);
    cr_assert_eq(decoded[2].process.rank, rank);
    cr_assert_eq(decoded[2].process.start_realtime_ns, value);
}

Test(codec, varint_and_svarint_edge_values)
{
    const uint64_t values[] = {0, 1, 127, 128, 16383, 16384, (1ull << 32) - 1, 1ull << 32, 1ull << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        assert_alloc_values_survive(values[i], (int32_t)(i % 3) - 1, i % 2 ? -1 : INT64_MIN + (int64_t)i);
    assert_alloc_values_survive(5, INT16_MAX, INT64_MAX);
    assert_alloc_values_survive(5, -1, -64);
    assert_alloc_values_survive(5, -1, -65);
}

/* The exact bytes of a DROPPED record: varint type 12, length, time delta, count. */
Test(codec, varint_bytes_are_leb128)
{
    struct {
        uint64_t count;
        uint8_t bytes[16];
        size_t length;
    } cases[] = {
        {0, {0x0c, 0x02, 0x05, 0x00}, 4},
        {127, {0x0c, 0x02, 0x05, 0x7f}, 4},
        {128, {0x0c, 0x03, 0x05, 0x80, 0x01}, 5},
        {1ull << 63, {0x0c, 0x0b, 0x05, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 13},
        {UINT64_MAX, {0x0c, 0x0b, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 13},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vt_trace_record record = {.type = VT_RECORD_DROPPED};
        record.dropped.timestamp_ns = 105;
        record.dropped.count = cases[i].count;
        struct vt_trace_deltas deltas;
        vt_trace_deltas_start(&deltas, 100, VT_TRACE_FORMAT_VERSION);
        uint8_t out[32];
        size_t written = vt_trace_encode(out, sizeof out, &deltas, &record);
        cr_assert_eq(written, cases[i].length, "count %llu", (unsigned long long)cases[i].count);
        cr_assert(memcmp(out, cases[i].bytes, written) == 0, "count %llu", (unsigned long long)cases[i].count);
    }
    /* svarint: device -1 is zigzag 1, device 1 is 2; address 0 after 64 is delta -64 = 127 */
    struct vt_trace_record record = {.type = VT_RECORD_FREE_UNKNOWN};
    record.event = (struct vt_trace_event){.timestamp_ns = 100, .api = VT_API_cudaFree, .address = 0, .thread_index = 3};
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 100, VT_TRACE_FORMAT_VERSION);
    deltas.last_address = 64;
    uint8_t out[16];
    cr_assert_eq(vt_trace_encode(out, sizeof out, &deltas, &record), 6);
    const uint8_t expected[] = {0x07, 0x04, 0x00, 0x01, 0x7f, 0x03};
    cr_assert(memcmp(out, expected, sizeof expected) == 0);
}

Test(codec, a_record_that_does_not_fit_writes_nothing)
{
    struct vt_trace_record record = {.type = VT_RECORD_DEVICE};
    record.device.name = text("a long device name that needs room");
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    uint8_t out[10];
    cr_assert_eq(vt_trace_encode(out, sizeof out, &deltas, &record), 0);
}

Test(codec, extra_trailing_bytes_of_a_later_version_are_ignored)
{
    /* an ALLOC whose payload carries two more fields than version 1 knows, then an END */
    uint8_t buffer[64];
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    struct vt_trace_record alloc = {.type = VT_RECORD_ALLOC};
    alloc.event = (struct vt_trace_event){.timestamp_ns = 10, .api = VT_API_cudaMalloc, .address = 0x1000,
                                          .size_bytes = 4096, .stack_id = 2, .thread_index = 1, .stream = 7};
    size_t length = vt_trace_encode(buffer, sizeof buffer, &deltas, &alloc);
    cr_assert_gt(length, 2);
    cr_assert_lt(buffer[1], 120, "one-byte length");
    buffer[1] += 2;                 /* the payload grows by two bytes */
    buffer[length++] = 0x2a;        /* a new varint field */
    buffer[length++] = 0x01;        /* and another */
    struct vt_trace_record end = {.type = VT_RECORD_END};
    end.end.timestamp_ns = 30;
    length += vt_trace_encode(buffer + length, sizeof buffer - length, &deltas, &end);

    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    const uint8_t *cursor = buffer;
    struct vt_trace_record decoded;
    uint64_t frames[VT_TRACE_MAX_FRAMES];
    cr_assert_eq(vt_trace_decode(&cursor, buffer + length, &deltas, &decoded, frames), VT_DECODE_RECORD);
    cr_assert_eq(decoded.type, VT_RECORD_ALLOC);
    assert_same_event(&decoded.event, &alloc.event);
    cr_assert_eq(vt_trace_decode(&cursor, buffer + length, &deltas, &decoded, frames), VT_DECODE_RECORD);
    cr_assert_eq(decoded.type, VT_RECORD_END);
    cr_assert_eq(decoded.end.timestamp_ns, 30);
}

/* A THREAD's name is appended: written only when known, so a THREAD without it, as every trace
 * before names has, decodes with an empty name (unknown). */
Test(codec, thread_names_are_appended_and_absent_means_unknown)
{
    struct vt_trace_record records[2] = {{.type = VT_RECORD_THREAD}, {.type = VT_RECORD_THREAD}};
    records[0].thread.index = 1;
    records[0].thread.thread_id = 4711;
    records[0].thread.name = text("loader-a");
    records[1].thread.index = 2;
    records[1].thread.thread_id = 4712;
    struct vt_trace_record decoded[2];
    static uint64_t frames[2][VT_TRACE_MAX_FRAMES];
    round_trip(records, 2, decoded, frames);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(decoded[i].thread.index, records[i].thread.index);
        cr_assert_eq(decoded[i].thread.thread_id, records[i].thread.thread_id);
    }
    assert_text(decoded[0].thread.name, records[0].thread.name);
    cr_assert_eq(decoded[1].thread.name.length, 0);

    uint8_t named[64], unnamed[64];
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    records[1].thread.index = 1;
    records[1].thread.thread_id = 4711;
    size_t plain = vt_trace_encode(unnamed, sizeof unnamed, &deltas, &records[1]);
    cr_assert_eq(vt_trace_encode(named, sizeof named, &deltas, &records[0]), plain + 1 + strlen("loader-a"),
                 "a length and the name, only when known");
    cr_assert_eq(memcmp(named + 2, unnamed + 2, plain - 2), 0, "the fields before are unchanged");
}

/* FREE's flags (VMM frees that follow a call, a release of a mapped handle) are appended: written
 * only when not 0, so a FREE without them, as every trace before them has, decodes with flags 0. */
Test(codec, free_flags_are_appended_and_absent_means_zero)
{
    struct vt_trace_record records[3] = {{.type = VT_RECORD_FREE}, {.type = VT_RECORD_FREE}, {.type = VT_RECORD_FREE}};
    records[0].event = (struct vt_trace_event){.timestamp_ns = 2000, .api = VT_API_cuMemUnmap, .kind = VT_KIND_MAPPED_RANGE,
                                               .address = 0x200000, .size_bytes = 2 << 20, .thread_index = 1};
    records[1].event = records[0].event;
    records[1].event.address = 0x400000;
    records[1].event.flags = VT_FREE_FOLLOWS;
    records[2].event = (struct vt_trace_event){.timestamp_ns = 2100, .api = VT_API_cuMemRelease, .kind = VT_KIND_DEVICE,
                                               .address = 0x42, .size_bytes = 2 << 20, .thread_index = 1,
                                               .flags = VT_FREE_STILL_MAPPED};
    struct vt_trace_record decoded[3];
    static uint64_t frames[3][VT_TRACE_MAX_FRAMES];
    round_trip(records, 3, decoded, frames);
    for (int i = 0; i < 3; i++) {
        assert_same_event(&decoded[i].event, &records[i].event);
        cr_assert_eq(decoded[i].event.flags, records[i].event.flags, "record %d", i);
    }

    uint8_t with_flags[64], without[64];
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    size_t plain = vt_trace_encode(without, sizeof without, &deltas, &records[0]);
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    records[0].event.flags = VT_FREE_FOLLOWS;
    cr_assert_eq(vt_trace_encode(with_flags, sizeof with_flags, &deltas, &records[0]), plain + 1,
                 "one byte more, and only when set");
    cr_assert_eq(memcmp(with_flags + 2, without + 2, plain - 2), 0, "the fields before are unchanged");
}

Test(codec, unknown_record_type_is_skipped_whole)
{
    const uint8_t buffer[] = {
        0xc8, 0x01, 0x04, 0xff, 0xff, 0xff, 0x7f, /* type 200, 4 bytes of payload it cannot read */
        0x0b, 0x01, 0x05,                         /* END at +5 */
    };
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 100, VT_TRACE_FORMAT_VERSION);
    const uint8_t *cursor = buffer;
    struct vt_trace_record decoded;
    uint64_t frames[VT_TRACE_MAX_FRAMES];
    cr_assert_eq(vt_trace_decode(&cursor, buffer + sizeof buffer, &deltas, &decoded, frames), VT_DECODE_RECORD);
    cr_assert_eq(decoded.type, 200);
    cr_assert_eq(cursor, buffer + 7);
    cr_assert_eq(vt_trace_decode(&cursor, buffer + sizeof buffer, &deltas, &decoded, frames), VT_DECODE_RECORD);
    cr_assert_eq(decoded.type, VT_RECORD_END);
    cr_assert_eq(decoded.end.timestamp_ns, 105);
}

Test(codec, truncated_record_is_malformed)
{
    const uint8_t buffer[] = {0x05, 0x09, 0x01, 0x00}; /* an ALLOC claiming 9 bytes, 2 present */
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    const uint8_t *cursor = buffer;
    struct vt_trace_record decoded;
    uint64_t frames[VT_TRACE_MAX_FRAMES];
    cr_assert_eq(vt_trace_decode(&cursor, buffer + sizeof buffer, &deltas, &decoded, frames), VT_DECODE_MALFORMED);
    cr_assert_eq(cursor, buffer, "the cursor does not move");
}

Test(codec, chunk_and_file_headers_round_trip)
{
    struct vt_trace_chunk_header header = {.stored_bytes = 1234, .raw_bytes = 5678, .crc32 = 0xcafebabe,
                                           .record_count = 99, .base_time_ns = 0x123456789abcdefull,
                                           .compression = VT_TRACE_ZSTD};
    uint8_t bytes[VT_TRACE_CHUNK_HEADER_BYTES];
    vt_trace_chunk_header_encode(bytes, &header);
    cr_assert(memcmp(bytes, "VTCK", 4) == 0);
    struct vt_trace_chunk_header decoded;
    cr_assert(vt_trace_chunk_header_decode(bytes, &decoded));
    cr_assert_eq(decoded.stored_bytes, 1234);
    cr_assert_eq(decoded.raw_bytes, 5678);
    cr_assert_eq(decoded.crc32, 0xcafebabe);
    cr_assert_eq(decoded.record_count, 99);
    cr_assert_eq(decoded.base_time_ns, 0x123456789abcdefull);
    cr_assert_eq(decoded.compression, VT_TRACE_ZSTD);
    bytes[0] = 'X';
    cr_assert_not(vt_trace_chunk_header_decode(bytes, &decoded));

    uint8_t file_header[VT_TRACE_FILE_HEADER_BYTES];
    vt_trace_file_header_encode(file_header);
    uint32_t version = 0;
    cr_assert(vt_trace_file_header_decode(file_header, &version));
    cr_assert_eq(version, VT_TRACE_FORMAT_VERSION);
    /* zlib's CRC-32 of "123456789" */
    cr_assert_eq(vt_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
}

Test(codec, version_2_stacks_mix_native_and_python_frames_and_code_records_round_trip)
{
    uint64_t stack_frames[] = {0x7f0000001234, 0x7f0000000100, vt_python_frame(1, 0x9a), vt_python_frame(0x7fffffff, 0),
                               vt_python_frame(2, UINT32_MAX), 0x55550000aaaa, 0x7f0000009999};
    static const uint8_t table[] = {0x80, 0x81, 0x82};
    struct vt_trace_record records[2] = {{.type = VT_RECORD_CODE}, {.type = VT_RECORD_STACK}};
    records[0].code.id = 7;
    records[0].code.file_name = (struct vt_trace_text){"/x/train.py", 11};
    records[0].code.function_name = (struct vt_trace_text){"Trainer.step", 12};
    records[0].code.first_line = 41;
    records[0].code.line_table_format = 3;
    records[0].code.line_table = table;
    records[0].code.line_table_bytes = sizeof table;
    records[1].stack.id = 3;
    records[1].stack.depth = sizeof stack_frames / sizeof stack_frames[0];
    records[1].stack.frames = stack_frames;
    struct vt_trace_record decoded[2];
    static uint64_t frames[2][VT_TRACE_MAX_FRAMES];
    round_trip(records, 2, decoded, frames);
    cr_assert_eq(decoded[0].code.id, 7);
    assert_text(decoded[0].code.file_name, records[0].code.file_name);
    assert_text(decoded[0].code.function_name, records[0].code.function_name);
    cr_assert_eq(decoded[0].code.first_line, 41);
    cr_assert_eq(decoded[0].code.line_table_format, 3);
    cr_assert_eq(decoded[0].code.line_table_bytes, sizeof table);
    cr_assert(memcmp(decoded[0].code.line_table, table, sizeof table) == 0);
    cr_assert_eq(decoded[1].stack.depth, records[1].stack.depth);
    for (unsigned i = 0; i < records[1].stack.depth; i++)
        cr_assert_eq(decoded[1].stack.frames[i], stack_frames[i], "frame %u", i);
}

Test(codec, version_1_stacks_decode_as_native_deltas)
{
    /* STACK id 1, depth 2: zigzag deltas 0x1000 then -0x10 (as vramtrace 0.1.0 wrote them). */
    const uint8_t payload[] = {VT_RECORD_STACK, 5, 1, 2, 0x80, 0x40, 0x1f};
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, 1);
    const uint8_t *cursor = payload;
    struct vt_trace_record record;
    static uint64_t frames[VT_TRACE_MAX_FRAMES];
    cr_assert_eq(vt_trace_decode(&cursor, payload + sizeof payload, &deltas, &record, frames), VT_DECODE_RECORD);
    cr_assert_eq(record.stack.depth, 2);
    cr_assert_eq(frames[0], 0x1000);
    cr_assert_eq(frames[1], 0x1000 - 0x10);
}

/* ---- version 3: the column layout ------------------------------------------------------------- */

static size_t rows_of(const uint8_t *columns, size_t length, uint8_t *rows, size_t capacity)
{
    return vt_trace_columns_decode(columns, length, rows, capacity);
}

/* Any row bytes round-trip: records of every kind, an ALLOC whose payload is not varints, one with
 * more than 16 fields, a FREE with its flags, an unknown type, types written as overlong varints,
 * and a tail that is no record. */
Test(codec, column_layout_round_trips_any_rows)
{
    uint8_t rows[512];
    size_t length = 0;
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    struct vt_trace_record alloc = {.type = VT_RECORD_ALLOC,
                                    .event = {.timestamp_ns = 5000, .address = 0x7f0000001000, .size_bytes = 4096,
                                              .stack_id = 7, .thread_index = 1, .api = 1}};
    struct vt_trace_record freed = {.type = VT_RECORD_FREE,
                                    .event = {.timestamp_ns = 6000, .address = 0x7f0000001000, .size_bytes = 4096,
                                              .thread_index = 1, .api = 2, .flags = VT_FREE_FOLLOWS}};
    length += vt_trace_encode(rows + length, sizeof rows - length, &deltas, &alloc);
    length += vt_trace_encode(rows + length, sizeof rows - length, &deltas, &freed);
    const uint8_t odd[] = {VT_RECORD_ALLOC, 3, 0x80, 0x80, 0x80};            /* a varint that does not end */
    memcpy(rows + length, odd, sizeof odd), length += sizeof odd;
    rows[length++] = VT_RECORD_FREE, rows[length++] = 17;                     /* 17 one-byte fields */
    for (int i = 0; i < 17; i++)
        rows[length++] = (uint8_t)i;
    const uint8_t unknown[] = {99, 2, 0xaa, 0xbb};
    memcpy(rows + length, unknown, sizeof unknown), length += sizeof unknown;
    length += vt_trace_encode(rows + length, sizeof rows - length, &deltas, &alloc);
    /* types written in more bytes than they need (overlong varints): an ALLOC of 9 one-byte fields, a
     * FREE whose payload is no varints */
    const uint8_t overlong_types[] = {VT_RECORD_ALLOC | 0x80, 0x80, 0, 9, 1, 1, 1, 0, 0, 1, 0, 0, 0,
                                      VT_RECORD_FREE | 0x80, 0, 2, 0x80, 0x80};
    memcpy(rows + length, overlong_types, sizeof overlong_types), length += sizeof overlong_types;
    const uint8_t tail[] = {VT_RECORD_ALLOC, 50, 1}; /* a length past the end: not a record */
    memcpy(rows + length, tail, sizeof tail), length += sizeof tail;

    uint8_t columns[1024], back[2048];
    size_t column_length = vt_trace_columns_encode(rows, length, columns, sizeof columns);
    cr_assert_gt(column_length, 0);
    cr_assert_eq(rows_of(columns, column_length, back, sizeof back), length);
    cr_assert(memcmp(back, rows, length) == 0);
    cr_assert_eq(vt_trace_columns_encode(rows, length, columns, column_length - 1), 0, "does not fit: nothing");
    /* no rows at all: 34 empty columns */
    column_length = vt_trace_columns_encode(rows, 0, columns, sizeof columns);
    cr_assert_eq(column_length, 35);
    cr_assert_eq(rows_of(columns, column_length, back, sizeof back), 0);
}

/* Columns that do not parse are damage (VT_TRACE_COLUMNS_MALFORMED), never read past their bytes. */
Test(codec, malformed_column_layouts_are_refused)
{
    uint8_t rows[64], columns[256], back[512];
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    struct vt_trace_record alloc = {.type = VT_RECORD_ALLOC,
                                    .event = {.timestamp_ns = 5000, .address = 0x1000, .size_bytes = 300, .api = 1}};
    size_t length = vt_trace_encode(rows, sizeof rows, &deltas, &alloc);
    size_t column_length = vt_trace_columns_encode(rows, length, columns, sizeof columns);
    cr_assert_eq(rows_of(columns, column_length, back, sizeof back), length);
    uint8_t bad[256];

    memcpy(bad, columns, column_length);
    bad[0] = 33; /* column count */
    cr_assert_eq(rows_of(bad, column_length, back, sizeof back), VT_TRACE_COLUMNS_MALFORMED);
    cr_assert_eq(rows_of(columns, column_length - 1, back, sizeof back), VT_TRACE_COLUMNS_MALFORMED, "cut short");
    memcpy(bad, columns, column_length);
    bad[column_length] = 0;
    cr_assert_eq(rows_of(bad, column_length + 1, back, sizeof back), VT_TRACE_COLUMNS_MALFORMED, "bytes left over");
    cr_assert_eq(rows_of(columns, 0, back, sizeof back), VT_TRACE_COLUMNS_MALFORMED, "empty");
    /* column 0 starts after the count and 34 one-byte lengths: its ALLOC's field count */
    size_t records = 35;
    cr_assert_eq(columns[records], VT_RECORD_ALLOC);
    memcpy(bad, columns, column_length);
    bad[records + 1] = 16; /* more fields than the columns hold */
    cr_assert_eq(rows_of(bad, column_length, back, sizeof back), VT_TRACE_COLUMNS_MALFORMED);
    memcpy(bad, columns, column_length);
    bad[records + 1] = (uint8_t)(columns[records + 1] - 1); /* a field left in its column */
    cr_assert_eq(rows_of(bad, column_length, back, sizeof back), VT_TRACE_COLUMNS_MALFORMED);
    memcpy(bad, columns, column_length);
    bad[records + 1] = 40; /* neither a field count nor 127 */
    cr_assert_eq(rows_of(bad, column_length, back, sizeof back), VT_TRACE_COLUMNS_MALFORMED);
    cr_assert_eq(rows_of(columns, column_length, back, length - 1), VT_TRACE_COLUMNS_MALFORMED, "no room");
    /* every byte string of a few bytes: refused or rows within the capacity, nothing else */
    for (unsigned seed = 1; seed < 20000; seed++) {
        uint8_t noise[48] = {0};
        unsigned state = seed;
        memcpy(noise, columns, column_length < sizeof noise ? column_length : sizeof noise);
        for (int k = 0; k < 3; k++) {
            state = state * 1103515245u + 12345u;
            noise[(state >> 8) % sizeof noise] = (uint8_t)(state >> 16);
        }
        size_t got = rows_of(noise, sizeof noise, back, sizeof back);
        cr_assert(got == VT_TRACE_COLUMNS_MALFORMED || got <= sizeof back);
    }
}

/* Version 3 codes an ALLOC's stack id as a delta from the previous ALLOC's of the chunk; version 2
 * as the id itself. Both decode to the ids, and a delta that leaves 0..2^32-1 is malformed. */
Test(codec, version_3_alloc_stack_ids_are_deltas)
{
    uint32_t ids[] = {1000, 3, 4294967295u, 0, 7};
    for (uint32_t version = 2; version <= 3; version++) {
        uint8_t buffer[256];
        size_t length = 0;
        struct vt_trace_deltas deltas;
        vt_trace_deltas_start(&deltas, 0, version);
        for (size_t i = 0; i < 5; i++) {
            struct vt_trace_record alloc = {.type = VT_RECORD_ALLOC, .event = {.stack_id = ids[i], .size_bytes = 1}};
            length += vt_trace_encode(buffer + length, sizeof buffer - length, &deltas, &alloc);
        }
        vt_trace_deltas_start(&deltas, 0, version);
        const uint8_t *cursor = buffer;
        struct vt_trace_record record;
        uint64_t frames[VT_TRACE_MAX_FRAMES];
        for (size_t i = 0; i < 5; i++) {
            cr_assert_eq(vt_trace_decode(&cursor, buffer + length, &deltas, &record, frames), VT_DECODE_RECORD);
            cr_assert_eq(record.event.stack_id, ids[i], "version %u, record %zu", version, i);
        }
    }
    /* time 0, API, kind, device, address, size, stack delta -1 from 0, thread, stream */
    const uint8_t below_zero[] = {VT_RECORD_ALLOC, 9, 0, 1, 0, 0, 0, 1, 1, 0, 0};
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, 3);
    const uint8_t *cursor = below_zero;
    struct vt_trace_record record;
    uint64_t frames[VT_TRACE_MAX_FRAMES];
    cr_assert_eq(vt_trace_decode(&cursor, below_zero + sizeof below_zero, &deltas, &record, frames), VT_DECODE_MALFORMED);
    vt_trace_deltas_start(&deltas, 0, 2);
    cursor = below_zero;
    cr_assert_eq(vt_trace_decode(&cursor, below_zero + sizeof below_zero, &deltas, &record, frames), VT_DECODE_RECORD);
    cr_assert_eq(record.event.stack_id, 1, "version 2: the id itself");
}

/* A CODE record whose line table was too large to keep (NULL, 0 bytes) and empty texts with no
 * bytes at all: the encoder copies nothing from NULL (the ASan+UBSan suite caught a memcpy from NULL
 * with size 0 here, docs/reliability.md), and the record decodes with empty fields. */
Test(codec, empty_texts_and_tables_with_no_bytes_round_trip)
{
    struct vt_trace_record records[1] = {{.type = VT_RECORD_CODE}};
    records[0].code.id = 9;
    records[0].code.file_name = (struct vt_trace_text){NULL, 0};
    records[0].code.function_name = (struct vt_trace_text){NULL, 0};
    records[0].code.first_line = 1;
    records[0].code.line_table = NULL;
    records[0].code.line_table_bytes = 0;
    struct vt_trace_record decoded[1];
    static uint64_t frames[1][VT_TRACE_MAX_FRAMES];
    round_trip(records, 1, decoded, frames);
    cr_assert_eq(decoded[0].code.id, 9);
    cr_assert_eq(decoded[0].code.file_name.length, 0);
    cr_assert_eq(decoded[0].code.function_name.length, 0);
    cr_assert_eq(decoded[0].code.line_table_bytes, 0);
    cr_assert_eq(decoded[0].code.first_line, 1);
}

/* ---- version 3: reading the columns in place agrees with decoding them to rows ------------------ */

/* A deterministic pseudo-random sequence (xorshift64*). */
struct random_bytes {
    uint64_t state;
};

static uint64_t next_random(struct random_bytes *random)
{
    random->state ^= random->state >> 12;
    random->state ^= random->state << 25;
    random->state ^= random->state >> 27;
    return random->state * 2685821657736338717ull;
}

static uint64_t random_below(struct random_bytes *random, uint64_t bound)
{
    return next_random(random) % bound;
}

/* Small values mostly, any 64-bit value now and then: varints of every length. */
static uint64_t random_value(struct random_bytes *random)
{
    return next_random(random) >> random_below(random, 64);
}

/* Appends a row of `type` with `payload` as it is; returns its bytes. */
static size_t raw_row(uint8_t *out, uint64_t type, const uint8_t *payload, size_t length)
{
    size_t written = tb_varint(out, type);
    written += tb_varint(out + written, length);
    memcpy(out + written, payload, length);
    return written + length;
}

/* Appends `record` encoded, then `extra` more one-varint fields at the end of its payload (a later
 * format version's fields). */
static size_t row_with_extra_fields(uint8_t *out, struct vt_trace_deltas *deltas, const struct vt_trace_record *record,
                                    unsigned extra, struct random_bytes *random)
{
    uint8_t encoded[512], payload[600];
    size_t length = vt_trace_encode(encoded, sizeof encoded, deltas, record);
    cr_assert_gt(length, 0);
    const uint8_t *at = encoded + 1; /* the types used here are one byte */
    uint64_t payload_length = 0;
    for (unsigned shift = 0;; shift += 7) {
        payload_length |= (uint64_t)(*at & 0x7f) << shift;
        if (!(*at++ & 0x80))
            break;
    }
    memcpy(payload, at, payload_length);
    for (unsigned i = 0; i < extra; i++)
        payload_length += tb_varint(payload + payload_length, random_value(random));
    return raw_row(out, record->type, payload, payload_length);
}

static struct vt_trace_event random_event(struct random_bytes *random)
{
    return (struct vt_trace_event){
        .timestamp_ns = 1000 + random_below(random, 1u << 30),
        .address = random_below(random, 3) ? 0x7f0000000000 + random_below(random, 1u << 24) * 256 : random_value(random),
        .size_bytes = random_value(random),
        .stream = random_below(random, 4) ? random_below(random, 3) : random_value(random),
        .handle = random_value(random),
        .device_free_bytes = random_value(random),
        .device_total_bytes = random_value(random),
        .stack_id = random_below(random, 3) ? (uint32_t)random_below(random, 40) : (uint32_t)next_random(random),
        .thread_index = (uint32_t)random_below(random, 6),
        .device = (int32_t)random_below(random, 5) - 1,
        .api = (uint16_t)random_below(random, 40),
        .kind = (uint8_t)random_below(random, 8),
    };
}

/* Rows of `count` varied records: ALLOC, FREE with and without flags, OOM, MAP, MARKER, STACK (native
 * and Python frames), THREAD with and without a name, FREE_UNKNOWN, END, DROPPED, unknown types, ALLOC
 * and FREE rows with fields of a later version, now and then an ALLOC whose payload is no varints.
 * Returns their bytes. */
static size_t varied_rows(struct random_bytes *random, size_t count, uint8_t *rows, size_t capacity)
{
    static const char *const texts[] = {"", "step", "a longer marker text"};
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 1000, VT_TRACE_FORMAT_VERSION);
    size_t length = 0;
    for (size_t i = 0; i < count; i++) {
        cr_assert_lt(length + 1024, capacity);
        struct vt_trace_record record = {.type = VT_RECORD_ALLOC, .event = random_event(random)};
        uint64_t frames[8];
        unsigned choice = (unsigned)random_below(random, 20);
        switch (choice) {
        case 0: case 1: case 2: case 3: case 4: /* ALLOC, the writer's mainstay */
            break;
        case 5: case 6: case 7:
            record.type = VT_RECORD_FREE;
            record.event.stack_id = 0;
            record.event.flags = choice == 7 ? (uint8_t)(1 + random_below(random, 255)) : 0;
            break;
        case 8:
            record.type = VT_RECORD_OOM;
            break;
        case 9:
            record.type = VT_RECORD_MAP;
            break;
        case 10:
            record.type = VT_RECORD_MARKER;
            record.marker.timestamp_ns = 1000 + random_below(random, 1u << 30);
            record.marker.kind = (uint32_t)random_below(random, 3);
            record.marker.text = text(texts[random_below(random, 3)]);
            break;
        case 11: {
            record.type = VT_RECORD_STACK;
            record.stack.id = (uint32_t)random_below(random, 1000);
            record.stack.depth = (uint32_t)random_below(random, 8);
            for (uint32_t f = 0; f < record.stack.depth; f++)
                frames[f] = random_below(random, 3) ? 0x400000 + random_below(random, 1u << 20)
                                                    : vt_python_frame(1 + (uint32_t)random_below(random, 50),
                                                                      (uint32_t)random_below(random, 300));
            record.stack.frames = frames;
            break;
        }
        case 12:
            record.type = VT_RECORD_THREAD;
            record.thread.index = (uint32_t)random_below(random, 6);
            record.thread.thread_id = (uint32_t)next_random(random);
            record.thread.name = random_below(random, 2) ? text("worker") : (struct vt_trace_text){NULL, 0};
            break;
        case 13: {
            static const uint32_t types[] = {VT_RECORD_FREE_UNKNOWN, VT_RECORD_END, VT_RECORD_DROPPED};
            record.type = types[random_below(random, 3)];
            record.end.timestamp_ns = 1000 + random_below(random, 1u << 30);
            if (record.type == VT_RECORD_DROPPED) {
                record.dropped.timestamp_ns = record.end.timestamp_ns;
                record.dropped.count = random_value(random);
            }
            break;
        }
        case 14: { /* a type this reader does not know, one or two bytes of it */
            static const uint64_t types[] = {30, 99, 127, 200, 1000};
            uint8_t payload[6];
            size_t payload_length = (size_t)random_below(random, sizeof payload + 1);
            for (size_t b = 0; b < payload_length; b++)
                payload[b] = (uint8_t)next_random(random);
            length += raw_row(rows + length, types[random_below(random, 5)], payload, payload_length);
            continue;
        }
        case 15: case 16: /* an ALLOC or FREE with fields of a later version: up to 16 fields, or more */
            if (choice == 16) {
                record.type = VT_RECORD_FREE;
                record.event.flags = (uint8_t)random_below(random, 3);
                if (!record.event.flags)
                    record.event.flags = 1; /* the flags are there, then the extra fields */
            }
            length += row_with_extra_fields(rows + length, &deltas, &record, 1 + (unsigned)random_below(random, 10), random);
            continue;
        case 17: { /* an ALLOC whose payload is not varints: kept verbatim, malformed as a row */
            const uint8_t payload[] = {1, 2, 0x80};
            length += raw_row(rows + length, VT_RECORD_ALLOC, payload, (size_t)random_below(random, 2) + 2);
            continue;
        }
        default: /* a FREE written by the writer, the flags absent */
            record.type = VT_RECORD_FREE;
            record.event.stack_id = 0;
            break;
        }
        size_t written = vt_trace_encode(rows + length, capacity - length, &deltas, &record);
        cr_assert_gt(written, 0);
        length += written;
    }
    return length;
}

/* A record read from the columns equals the one decoded from the rows: its type, and its fields as
 * far as they are cheap to compare (every one for events, the frames of a STACK). */
static void assert_same_record(const struct vt_trace_record *got, const struct vt_trace_record *want, const char *what,
                               size_t index)
{
    cr_assert_eq(got->type, want->type, "%s: record %zu", what, index);
    switch (want->type) {
    case VT_RECORD_ALLOC: case VT_RECORD_FREE: case VT_RECORD_FREE_UNKNOWN: case VT_RECORD_OOM: case VT_RECORD_MAP:
        cr_assert(memcmp(&got->event, &want->event, sizeof want->event) == 0, "%s: record %zu's event", what, index);
        break;
    case VT_RECORD_STACK:
        cr_assert_eq(got->stack.id, want->stack.id, "%s: record %zu", what, index);
        cr_assert_eq(got->stack.depth, want->stack.depth, "%s: record %zu", what, index);
        cr_assert(memcmp(got->stack.frames, want->stack.frames, want->stack.depth * sizeof(uint64_t)) == 0,
                  "%s: record %zu's frames", what, index);
        break;
    case VT_RECORD_MARKER:
        cr_assert_eq(got->marker.timestamp_ns, want->marker.timestamp_ns, "%s: record %zu", what, index);
        cr_assert_eq(got->marker.kind, want->marker.kind, "%s: record %zu", what, index);
        assert_text(got->marker.text, want->marker.text);
        break;
    case VT_RECORD_THREAD:
        cr_assert_eq(got->thread.index, want->thread.index, "%s: record %zu", what, index);
        cr_assert_eq(got->thread.thread_id, want->thread.thread_id, "%s: record %zu", what, index);
        assert_text(got->thread.name, want->thread.name);
        break;
    case VT_RECORD_END:
        cr_assert_eq(got->end.timestamp_ns, want->end.timestamp_ns, "%s: record %zu", what, index);
        break;
    case VT_RECORD_DROPPED:
        cr_assert_eq(got->dropped.count, want->dropped.count, "%s: record %zu", what, index);
        break;
    default:
        break;
    }
}

/* The contract of vt_trace_columns_open/next on `payload`: open refuses exactly what
 * vt_trace_columns_decode finds malformed; then next gives what vt_trace_decode gives of the rows,
 * result by result and record by record, deltas included, until the end or the first malformed
 * record. Returns whether the payload opened. */
static bool assert_columns_read_as_rows(const uint8_t *payload, size_t length, const char *what)
{
    static uint8_t rows[1 << 17];
    size_t capacity = 2 * length + 16; /* holds well formed columns' rows, as documented */
    cr_assert_leq(capacity, sizeof rows);
    size_t rows_length = vt_trace_columns_decode(payload, length, rows, capacity);
    struct vt_trace_columns columns;
    bool opened = vt_trace_columns_open(&columns, payload, length);
    cr_assert_eq(opened, rows_length != VT_TRACE_COLUMNS_MALFORMED, "%s: open says %d, decode %s", what, opened,
                 rows_length == VT_TRACE_COLUMNS_MALFORMED ? "malformed" : "rows");
    if (!opened)
        return false;
    struct vt_trace_deltas from_columns, from_rows;
    vt_trace_deltas_start(&from_columns, 777, VT_TRACE_FORMAT_VERSION);
    vt_trace_deltas_start(&from_rows, 777, VT_TRACE_FORMAT_VERSION);
    static uint64_t column_frames[VT_TRACE_MAX_FRAMES], row_frames[VT_TRACE_MAX_FRAMES];
    const uint8_t *cursor = rows;
    for (size_t index = 0;; index++) {
        struct vt_trace_record got, want;
        bool left = vt_trace_columns_left(&columns);
        enum vt_trace_decode_result got_result = vt_trace_columns_next(&columns, &from_columns, &got, column_frames);
        enum vt_trace_decode_result want_result =
            vt_trace_decode(&cursor, rows + rows_length, &from_rows, &want, row_frames);
        cr_assert_eq(got_result, want_result, "%s: record %zu", what, index);
        cr_assert_eq(left, want_result != VT_DECODE_END, "%s: record %zu: records left", what, index);
        if (want_result == VT_DECODE_MALFORMED) /* asked again, it stays malformed (nothing read twice) */
            for (int again = 0; again < 2; again++)
                cr_assert_eq(vt_trace_columns_next(&columns, &from_columns, &got, column_frames), VT_DECODE_MALFORMED,
                             "%s: record %zu asked again", what, index);
        if (want_result != VT_DECODE_RECORD)
            break;
        assert_same_record(&got, &want, what, index);
        cr_assert(from_columns.last_time_ns == from_rows.last_time_ns &&
                      from_columns.last_address == from_rows.last_address &&
                      from_columns.last_stream == from_rows.last_stream &&
                      from_columns.last_stack_id == from_rows.last_stack_id,
                  "%s: record %zu: deltas", what, index);
    }
    return true;
}

/* The same payload read as the reader reads it: runs of ALLOCs and FREEs in batches of at most
 * `batch` (vt_trace_columns_next_events), any other record, and a malformed one, one by one
 * (vt_trace_columns_next). The same records, deltas and end as reading record by record. */
static void assert_event_batches_read_as_records(const uint8_t *payload, size_t length, size_t batch, const char *what)
{
    struct vt_trace_columns by_batch, by_record;
    if (!vt_trace_columns_open(&by_batch, payload, length))
        return;
    cr_assert(vt_trace_columns_open(&by_record, payload, length));
    struct vt_trace_deltas batch_deltas, record_deltas;
    vt_trace_deltas_start(&batch_deltas, 777, VT_TRACE_FORMAT_VERSION);
    vt_trace_deltas_start(&record_deltas, 777, VT_TRACE_FORMAT_VERSION);
    static uint64_t batch_frames[VT_TRACE_MAX_FRAMES], record_frames[VT_TRACE_MAX_FRAMES];
    struct vt_trace_record batched[8];
    cr_assert_leq(batch, 8);
    for (size_t index = 0;;) {
        size_t count = vt_trace_columns_next_events(&by_batch, &batch_deltas, batched, batch);
        cr_assert_leq(count, batch, "%s", what);
        enum vt_trace_decode_result batch_result = VT_DECODE_RECORD;
        if (!count) { /* not a written ALLOC or FREE next: one record */
            batch_result = vt_trace_columns_next(&by_batch, &batch_deltas, &batched[0], batch_frames);
            count = batch_result == VT_DECODE_RECORD;
        }
        for (size_t i = 0; i < count; i++, index++) {
            struct vt_trace_record want;
            cr_assert_eq(vt_trace_columns_next(&by_record, &record_deltas, &want, record_frames), VT_DECODE_RECORD,
                         "%s: record %zu", what, index);
            assert_same_record(&batched[i], &want, what, index);
        }
        if (batch_result != VT_DECODE_RECORD) {
            struct vt_trace_record want;
            cr_assert_eq(vt_trace_columns_next(&by_record, &record_deltas, &want, record_frames), batch_result,
                         "%s: record %zu: how it ends", what, index);
            if (batch_result == VT_DECODE_MALFORMED) /* and stays so, for a batch as well */
                cr_assert_eq(vt_trace_columns_next_events(&by_batch, &batch_deltas, batched, batch), 0, "%s", what);
            break;
        }
        if (by_batch.malformed) /* the batch stopped at a malformed record, its fields taken already */
            continue;
        cr_assert(batch_deltas.last_time_ns == record_deltas.last_time_ns &&
                      batch_deltas.last_address == record_deltas.last_address &&
                      batch_deltas.last_stream == record_deltas.last_stream &&
                      batch_deltas.last_stack_id == record_deltas.last_stack_id,
                  "%s: record %zu: deltas", what, index);
    }
}

/* ---- a column payload taken apart, to damage it on purpose ---- */

#define COLUMN_BYTES 8192
enum { RECORDS_COLUMN = 0, ALLOC_FIELDS = 1, FREE_FIELDS = 1 + VT_TRACE_COLUMN_FIELDS };

struct column_set {
    uint8_t bytes[VT_TRACE_COLUMN_COUNT][COLUMN_BYTES];
    size_t length[VT_TRACE_COLUMN_COUNT];
};

static void split_payload(const uint8_t *payload, size_t length, struct column_set *set)
{
    struct vt_trace_columns columns;
    cr_assert(vt_trace_columns_open(&columns, payload, length), "a valid payload to start from");
    for (int c = 0; c < VT_TRACE_COLUMN_COUNT; c++) {
        set->length[c] = (size_t)(columns.end[c] - columns.at[c]);
        cr_assert_lt(set->length[c], COLUMN_BYTES - 64);
        memcpy(set->bytes[c], columns.at[c], set->length[c]);
    }
}

/* The payload of the columns, header and all; returns its length. */
static size_t join_payload(const struct column_set *set, uint8_t *payload, size_t capacity)
{
    size_t length = tb_varint(payload, VT_TRACE_COLUMN_COUNT);
    for (int c = 0; c < VT_TRACE_COLUMN_COUNT; c++)
        length += tb_varint(payload + length, set->length[c]);
    for (int c = 0; c < VT_TRACE_COLUMN_COUNT; c++) {
        cr_assert_leq(length + set->length[c], capacity);
        memcpy(payload + length, set->bytes[c], set->length[c]);
        length += set->length[c];
    }
    return length;
}

static void column_splice(struct column_set *set, int column, size_t at, size_t removed, const uint8_t *inserted,
                          size_t inserted_length)
{
    uint8_t *bytes = set->bytes[column];
    cr_assert_leq(at + removed, set->length[column]);
    cr_assert_lt(set->length[column] - removed + inserted_length, COLUMN_BYTES);
    memmove(bytes + at + inserted_length, bytes + at + removed, set->length[column] - at - removed);
    if (inserted_length) /* nothing inserted: `inserted` may be NULL */
        memcpy(bytes + at, inserted, inserted_length);
    set->length[column] = set->length[column] - removed + inserted_length;
}

/* Where varint `index` of a field column starts, and its length (the column holds varints). */
static size_t varint_at(const struct column_set *set, int column, size_t index, size_t *length)
{
    size_t at = 0;
    for (size_t i = 0;; i++) {
        size_t end = at;
        while (set->bytes[column][end] & 0x80)
            end++;
        if (i == index) {
            *length = end + 1 - at;
            return at;
        }
        at = end + 1;
    }
}

/* An ALLOC or FREE of the records column whose fields are in columns. */
struct column_record {
    size_t count_at; /* where its field count is in the records column */
    unsigned fields;
    int first_column;
    size_t field_index[VT_TRACE_COLUMN_FIELDS]; /* its varint's index in each field column */
};

/* The ALLOC and FREE records whose fields are in columns, in order; returns how many. */
static size_t column_records(const struct column_set *set, struct column_record *found, size_t capacity)
{
    size_t count = 0, taken[2][VT_TRACE_COLUMN_FIELDS] = {{0}};
    const uint8_t *at = set->bytes[RECORDS_COLUMN], *end = at + set->length[RECORDS_COLUMN];
    while (at < end) {
        uint8_t type = *at++; /* the rows made here have one-byte types and counts below 128 */
        if ((type == VT_RECORD_ALLOC || type == VT_RECORD_FREE) && *at <= VT_TRACE_COLUMN_FIELDS) {
            bool is_free = type == VT_RECORD_FREE;
            struct column_record *record = &found[count++];
            cr_assert_leq(count, capacity);
            record->count_at = (size_t)(at - set->bytes[RECORDS_COLUMN]);
            record->fields = *at++;
            record->first_column = is_free ? FREE_FIELDS : ALLOC_FIELDS;
            for (unsigned i = 0; i < VT_TRACE_COLUMN_FIELDS; i++)
                record->field_index[i] = taken[is_free][i];
            for (unsigned i = 0; i < record->fields; i++)
                taken[is_free][i]++;
            continue;
        }
        if (type == VT_RECORD_ALLOC || type == VT_RECORD_FREE)
            at++; /* FIELDS_VERBATIM */
        if (type >= 0x80)
            at++; /* a two-byte unknown type */
        uint64_t payload_length = 0;
        for (unsigned shift = 0;; shift += 7) {
            payload_length |= (uint64_t)(*at & 0x7f) << shift;
            if (!(*at++ & 0x80))
                break;
        }
        at += payload_length;
    }
    return count;
}

/* Gives the record `fields` fields, its columns kept consistent (fields dropped from their columns,
 * or new ones put in theirs): a payload that still opens. */
static void set_field_count(struct column_set *set, const struct column_record *record, unsigned fields,
                            struct random_bytes *random)
{
    for (unsigned i = fields; i < record->fields; i++) {
        size_t length, at = varint_at(set, record->first_column + (int)i, record->field_index[i], &length);
        column_splice(set, record->first_column + (int)i, at, length, NULL, 0);
    }
    for (unsigned i = record->fields; i < fields; i++) {
        size_t at = 0, length;
        if (record->field_index[i])
            at = varint_at(set, record->first_column + (int)i, record->field_index[i] - 1, &length) + length;
        uint8_t value[10];
        column_splice(set, record->first_column + (int)i, at, 0, value, tb_varint(value, random_value(random)));
    }
    set->bytes[RECORDS_COLUMN][record->count_at] = (uint8_t)fields;
}

/* Takes the record's fields out of their columns into the records column, as a verbatim row. */
static void make_verbatim(struct column_set *set, const struct column_record *record)
{
    uint8_t row[2 + 10 * VT_TRACE_COLUMN_FIELDS];
    size_t payload_length = 0;
    for (unsigned i = 0; i < record->fields; i++) {
        size_t length, at = varint_at(set, record->first_column + (int)i, record->field_index[i], &length);
        memcpy(row + 2 + payload_length, set->bytes[record->first_column + (int)i] + at, length);
        payload_length += length;
        column_splice(set, record->first_column + (int)i, at, length, NULL, 0);
    }
    cr_assert_lt(payload_length, 128);
    row[0] = 127; /* FIELDS_VERBATIM */
    row[1] = (uint8_t)payload_length;
    column_splice(set, RECORDS_COLUMN, record->count_at, 1, row, 2 + payload_length);
}

/* Rewrites varint `index` of the column as `length` bytes: the same value in more bytes (its last
 * byte ending it), whatever `length` says (an 11-byte one is too long). */
static void stretch_varint(struct column_set *set, int column, size_t index, size_t length)
{
    size_t old_length, at = varint_at(set, column, index, &old_length);
    if (length < old_length)
        length = old_length;
    uint8_t stretched[16];
    memcpy(stretched, set->bytes[column] + at, old_length);
    for (size_t i = old_length; i < length; i++)
        stretched[i] = 0;
    for (size_t i = 0; i + 1 < length; i++)
        stretched[i] |= 0x80;
    column_splice(set, column, at, old_length, stretched, length);
}

/* How many varints a field column holds. */
static size_t varint_count(const struct column_set *set, int column)
{
    size_t count = 0;
    for (size_t i = 0; i < set->length[column]; i++)
        count += !(set->bytes[column][i] & 0x80);
    return count;
}

/* One deterministic damage of the columns of `payload`: the bytes (flip, insert, delete) or the
 * structure (field counts with and without their columns, verbatim rows, overlong varints and types,
 * column lengths that do not match). Returns the new payload's length. */
static size_t mutate(const uint8_t *payload, size_t length, struct random_bytes *random, uint8_t *out, size_t capacity,
                     const char **what)
{
    static struct column_set set;
    static struct column_record records[512];
    split_payload(payload, length, &set);
    size_t record_count = column_records(&set, records, 512);
    const struct column_record *record = record_count ? &records[random_below(random, record_count)] : NULL;
    unsigned kind = (unsigned)random_below(random, 12);
    switch (kind) {
    case 0: case 1: case 2: { /* bytes anywhere, header included */
        size_t joined = join_payload(&set, out, capacity);
        size_t at = (size_t)random_below(random, joined + (kind == 1));
        if (kind == 0 && joined) {
            *what = "a byte flipped";
            out[at] ^= (uint8_t)(1 + random_below(random, 255));
        } else if (kind == 1) {
            *what = "a byte inserted";
            memmove(out + at + 1, out + at, joined - at);
            out[at] = (uint8_t)next_random(random);
            joined++;
        } else if (joined) {
            *what = "a byte deleted";
            memmove(out + at, out + at + 1, joined - at - 1);
            joined--;
        }
        return joined;
    }
    case 3: /* a byte of one column flipped, the header right */
    case 4: { /* a field column's varint stretched to 10, 11 or more bytes (0x80 bits) */
        int column = (int)random_below(random, VT_TRACE_COLUMN_COUNT);
        if (kind == 3 && set.length[column]) {
            *what = "a column byte flipped";
            set.bytes[column][random_below(random, set.length[column])] ^= (uint8_t)(1 << random_below(random, 8));
        } else if (kind == 4) {
            column = 1 + (int)random_below(random, 2 * VT_TRACE_COLUMN_FIELDS);
            size_t count = varint_count(&set, column);
            if (count) {
                *what = "an overlong field varint";
                stretch_varint(&set, column, (size_t)random_below(random, count), 9 + (size_t)random_below(random, 4));
            }
        }
        break;
    }
    case 5: case 6: /* field counts with their columns kept right: 8 for an ALLOC, 7 for a FREE, ... */
        if (record) {
            static const unsigned counts[] = {0, 1, 7, 8, 9, 10, 12, 16};
            *what = "a field count with its columns";
            set_field_count(&set, record, counts[random_below(random, 8)], random);
        }
        break;
    case 7: /* a field count alone: the columns no longer match, most of the time */
        if (record) {
            static const unsigned counts[] = {7, 8, 9, 12, 16, 17, 40, 126, 127, 128};
            *what = "a field count alone";
            set.bytes[RECORDS_COLUMN][record->count_at] = (uint8_t)counts[random_below(random, 10)];
        }
        break;
    case 8: /* a record turned into a verbatim row (FIELDS_VERBATIM 127), its bytes maybe damaged */
        if (record) {
            *what = "a verbatim row";
            make_verbatim(&set, record);
            if (random_below(random, 2))
                set.bytes[RECORDS_COLUMN][record->count_at + 2 + random_below(random, 3)] ^= 0x81;
        }
        break;
    case 9: /* a record's type written in two bytes (an overlong varint: the same type) */
        if (record) {
            *what = "an overlong type";
            uint8_t type[2] = {(uint8_t)(set.bytes[RECORDS_COLUMN][record->count_at - 1] | 0x80), 0};
            column_splice(&set, RECORDS_COLUMN, record->count_at - 1, 1, type, 2);
        }
        break;
    case 10: { /* column lengths that do not match their columns: a byte moved between two */
        int from = (int)random_below(random, VT_TRACE_COLUMN_COUNT), to = (int)random_below(random, VT_TRACE_COLUMN_COUNT);
        if (!set.length[from] || from == to)
            break;
        *what = "wrong column lengths";
        static uint8_t body[1 << 16];
        size_t body_length = 0;
        for (int c = 0; c < VT_TRACE_COLUMN_COUNT; c++) {
            memcpy(body + body_length, set.bytes[c], set.length[c]);
            body_length += set.length[c];
        }
        set.length[from]--; /* the header only: the bytes stay where they are */
        set.length[to]++;
        size_t header = tb_varint(out, VT_TRACE_COLUMN_COUNT);
        for (int c = 0; c < VT_TRACE_COLUMN_COUNT; c++)
            header += tb_varint(out + header, set.length[c]);
        cr_assert_leq(header + body_length, capacity);
        memcpy(out + header, body, body_length);
        return header + body_length;
    }
    default: /* a field column cut or lengthened by a varint: the counts no longer add up */
    {
        int column = 1 + (int)random_below(random, 2 * VT_TRACE_COLUMN_FIELDS);
        *what = "a varint more or less in a field column";
        size_t count = varint_count(&set, column);
        if (count && random_below(random, 2)) {
            size_t varint_length, at = varint_at(&set, column, (size_t)random_below(random, count), &varint_length);
            column_splice(&set, column, at, varint_length, NULL, 0);
        } else {
            const uint8_t one = 3;
            column_splice(&set, column, 0, 0, &one, 1);
        }
        break;
    }
    }
    return join_payload(&set, out, capacity);
}

Test(codec, columns_read_in_place_agree_with_their_rows_under_damage)
{
    static uint8_t rows[1 << 15], payload[1 << 16], mutated[1 << 16];
    struct random_bytes random = {0x9e3779b97f4a7c15ull};
    size_t opened = 0, refused = 0, mutations = 0;
    for (unsigned base = 0; base < 200; base++) {
        size_t count = base < 4 ? base : 1 + (size_t)random_below(&random, 60);
        size_t rows_length = varied_rows(&random, count, rows, sizeof rows);
        size_t length = vt_trace_columns_encode(rows, rows_length, payload, sizeof payload);
        cr_assert_gt(length, 0);
        cr_assert(assert_columns_read_as_rows(payload, length, "as encoded"), "base %u opens", base);
        for (size_t batch = 1; batch <= 8; batch++)
            assert_event_batches_read_as_records(payload, length, batch, "as encoded, in batches");
        for (unsigned m = 0; m < 60; m++) {
            const char *what = "unchanged";
            size_t mutated_length = mutate(payload, length, &random, mutated, sizeof mutated, &what);
            char label[96];
            snprintf(label, sizeof label, "base %u, mutation %u (%s)", base, m, what);
            assert_event_batches_read_as_records(mutated, mutated_length, 1 + m % 8, label);
            if (assert_columns_read_as_rows(mutated, mutated_length, label))
                opened++;
            else
                refused++;
            mutations++;
        }
    }
    /* both outcomes are exercised, many times over */
    cr_assert_gt(opened, mutations / 5, "%zu of %zu opened", opened, mutations);
    cr_assert_gt(refused, mutations / 5, "%zu of %zu refused", refused, mutations);
}

/* column_holds_varints, through vt_trace_columns_open: it checks a field column 8 bytes at a time.
 * Eight ALLOCs' time column is rewritten with `before` one-byte varints, a varint stretched to
 * `length` bytes, then one stretched to `second` bytes, then one-byte ones: every alignment of the
 * long ones to the 8-byte words. One of 10 bytes is taken (the same value), 11 or more refused, as
 * vt_trace_columns_decode does; a column that ends inside a varint is refused too. */
Test(codec, overlong_field_varints_are_refused_from_11_bytes_at_any_alignment)
{
    enum { ALLOCS = 24 };
    uint8_t rows[2048], payload[4096], damaged[4096];
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    size_t rows_length = 0;
    for (unsigned i = 0; i < ALLOCS; i++) {
        struct vt_trace_record alloc = {.type = VT_RECORD_ALLOC,
                                        .event = {.timestamp_ns = 10 * i, .address = 0x1000 * i, .size_bytes = 64}};
        rows_length += vt_trace_encode(rows + rows_length, sizeof rows - rows_length, &deltas, &alloc);
    }
    size_t length = vt_trace_columns_encode(rows, rows_length, payload, sizeof payload);
    static struct column_set set, stretched;
    split_payload(payload, length, &set);
    cr_assert_eq(varint_count(&set, ALLOC_FIELDS), ALLOCS);
    cr_assert_eq(set.length[ALLOC_FIELDS], ALLOCS, "time deltas of one byte each");
    static const size_t seconds[] = {1, 9, 10, 11};
    for (size_t before = 0; before + 2 <= ALLOCS - 4; before++)
        for (size_t length_first = 1; length_first <= 13; length_first++)
            for (size_t s = 0; s < sizeof seconds / sizeof seconds[0]; s++) {
                stretched = set;
                stretch_varint(&stretched, ALLOC_FIELDS, before, length_first);
                stretch_varint(&stretched, ALLOC_FIELDS, before + 1, seconds[s]);
                size_t damaged_length = join_payload(&stretched, damaged, sizeof damaged);
                char label[96];
                snprintf(label, sizeof label, "%zu before, then %zu and %zu bytes", before, length_first, seconds[s]);
                bool taken = length_first <= 10 && seconds[s] <= 10;
                cr_assert_eq(assert_columns_read_as_rows(damaged, damaged_length, label), taken, "%s", label);
            }
    /* the column's last byte goes on (0x80): refused, however the varints before it line up */
    for (size_t cut = 1; cut <= 12; cut++) {
        stretched = set;
        stretch_varint(&stretched, ALLOC_FIELDS, ALLOCS - 1, cut + 1);
        stretched.length[ALLOC_FIELDS]--; /* the ending byte gone */
        size_t damaged_length = join_payload(&stretched, damaged, sizeof damaged);
        cr_assert_not(assert_columns_read_as_rows(damaged, damaged_length, "ends inside a varint"), "cut %zu", cut);
    }
}

/* An ALLOC whose stack id goes out of 32 bits, by -1 from 0 and by nearly 2^63 from 5 (a sum that
 * would overflow int64_t: compared before it is made): malformed, from its row and from its
 * columns, whose reading then gives it again when asked again (its fields are read already, its
 * record is not: nothing is read past them). */
Test(codec, stack_deltas_out_of_32_bits_are_malformed_and_stay_so)
{
    static const uint8_t below_zero[] = {1, 9, 0, 1, 1, 0, 2, 5, 1, 0, 0}; /* type 5's payload: stack delta -1 */
    uint8_t rows[128], payload[512];
    size_t rows_length = raw_row(rows, VT_RECORD_ALLOC, below_zero + 2, sizeof below_zero - 2);
    size_t length = vt_trace_columns_encode(rows, rows_length, payload, sizeof payload);
    cr_assert_gt(length, 0);
    cr_assert(assert_columns_read_as_rows(payload, length, "stack delta -1"));
    /* stack 5, then a delta of 2^63 - 1 (svarint fe ff ff ff ff ff ff ff ff 01) */
    uint8_t first[] = {1, 1, 1, 0, 2, 5, 10, 0, 0};
    uint8_t second[32] = {1, 1, 1, 0, 2, 5};
    size_t second_length = 6;
    second_length += tb_varint(second + second_length, UINT64_MAX - 1); /* zigzag of INT64_MAX */
    second[second_length++] = 0;
    second[second_length++] = 0;
    rows_length = raw_row(rows, VT_RECORD_ALLOC, first, sizeof first);
    rows_length += raw_row(rows + rows_length, VT_RECORD_ALLOC, second, second_length);
    length = vt_trace_columns_encode(rows, rows_length, payload, sizeof payload);
    cr_assert_gt(length, 0);
    cr_assert(assert_columns_read_as_rows(payload, length, "stack delta 2^63 - 1"));
    /* in one batch: the first ALLOC, then the batch stops; the second is malformed and stays so */
    struct vt_trace_columns columns;
    cr_assert(vt_trace_columns_open(&columns, payload, length));
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);
    struct vt_trace_record batch[4];
    cr_assert_eq(vt_trace_columns_next_events(&columns, &deltas, batch, 4), 1);
    cr_assert_eq(batch[0].event.stack_id, 5);
    cr_assert_eq(vt_trace_columns_next_events(&columns, &deltas, batch, 4), 0);
    static uint64_t frames[VT_TRACE_MAX_FRAMES];
    cr_assert_eq(vt_trace_columns_next(&columns, &deltas, &batch[0], frames), VT_DECODE_MALFORMED);
    for (size_t batch_size = 1; batch_size <= 8; batch_size++)
        assert_event_batches_read_as_records(payload, length, batch_size, "stack delta 2^63 - 1, in batches");
}
