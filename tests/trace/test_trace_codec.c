/* tests/trace/test_trace_codec.c — the shared record codec (common/trace_codec.c): every record
 * type survives encode + decode, varint edge values, deltas across records, a record with extra
 * trailing bytes (a later format version) still decodes, and an unknown type is skipped. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "common/trace_codec.h"
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
    cr_assert(memcmp(got.bytes, want.bytes, want.length) == 0, "'%.*s' != '%.*s'", (int)got.length, got.bytes,
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
 * more than 16 fields, a FREE with its flags, an unknown type, and a tail that is no record. */
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
