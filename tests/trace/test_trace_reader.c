/* tests/trace/test_trace_reader.c — reading trace files: chunks zstd-compressed and stored, all
 * records seen in order; a file cut in its last chunk, a chunk with a bad CRC, a malformed record
 * and a cut file header; wrong magic, unsupported version, missing file. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "trace/trace_reader.h"
#include "trace_builder.h"

/* A trace of 3 chunks: definitions (zstd), 2 ALLOCs + a record of unknown type (stored),
 * a FREE + END (zstd). *third_chunk receives where the last chunk starts. */
static const char *three_chunk_trace(size_t *third_chunk)
{
    static const uint64_t frames[] = {0x401000, 0x402000};
    struct trace_builder builder;
    tb_start(&builder);
    tb_begin_chunk(&builder, 0);
    tb_process(&builder, "three", 77);
    tb_device(&builder, 0, "Simulated GPU", 16ull << 30);
    tb_stack(&builder, 1, frames, 2);
    tb_end_chunk(&builder, VT_TRACE_ZSTD);
    tb_begin_chunk(&builder, 1000);
    tb_alloc(&builder, 1500, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x7000000, 1 << 20, 1);
    const uint8_t unknown_payload[] = {1, 2, 3};
    tb_raw_record(&builder, 99, unknown_payload, sizeof unknown_payload);
    tb_alloc(&builder, 1700, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x7100000, 2 << 20, 1);
    tb_end_chunk(&builder, VT_TRACE_STORED);
    tb_begin_chunk(&builder, 2000);
    tb_free(&builder, 2100, VT_API_cudaFree, VT_KIND_DEVICE, 0, 0x7000000, 1 << 20);
    tb_end(&builder, 3000);
    tb_end_chunk(&builder, VT_TRACE_ZSTD);
    *third_chunk = builder.last_chunk_offset;
    return tb_write(&builder, tb_temp_path("three.trace"));
}

static void open_ok(struct vt_trace_reader *reader, const char *path)
{
    char error[512] = "";
    cr_assert_eq(vt_trace_reader_open(reader, path, error, sizeof error), VT_TRACE_OPENED, "%s", error);
}

/* Reads every record; returns how many, and their types in order. */
static size_t read_all(struct vt_trace_reader *reader, uint32_t *types, size_t capacity)
{
    struct vt_trace_record record;
    size_t count = 0;
    while (vt_trace_reader_next(reader, &record)) {
        cr_assert_lt(count, capacity);
        types[count++] = record.type;
    }
    return count;
}

Test(reader, three_chunks_compressed_and_stored_all_records_seen)
{
    size_t third;
    const char *path = three_chunk_trace(&third);
    struct vt_trace_reader reader;
    open_ok(&reader, path);
    struct vt_trace_record record;
    uint32_t types[16];
    uint64_t times[16] = {0}, addresses[16] = {0};
    size_t count = 0;
    while (vt_trace_reader_next(&reader, &record)) {
        types[count] = record.type;
        if (record.type == VT_RECORD_ALLOC || record.type == VT_RECORD_FREE) {
            times[count] = record.event.timestamp_ns;
            addresses[count] = record.event.address;
        }
        if (record.type == VT_RECORD_STACK)
            cr_assert_eq(record.stack.frames[1], 0x402000);
        count++;
    }
    const uint32_t expected[] = {VT_RECORD_PROCESS, VT_RECORD_DEVICE, VT_RECORD_STACK, VT_RECORD_ALLOC,
                                 VT_RECORD_ALLOC,   VT_RECORD_FREE,   VT_RECORD_END};
    cr_assert_eq(count, 7);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(types[i], expected[i], "record %zu", i);
    cr_assert_eq(times[3], 1500);
    cr_assert_eq(times[4], 1700);
    cr_assert_eq(times[5], 2100, "deltas restart at each chunk's base time");
    cr_assert_eq(addresses[4], 0x7100000);
    cr_assert_eq(addresses[5], 0x7000000, "addresses restart at 0 in each chunk");
    cr_assert_eq(reader.chunk_count, 3);
    cr_assert_eq(reader.record_count, 7);
    cr_assert_eq(reader.unknown_record_count, 1);
    cr_assert(reader.end_seen);
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_NONE);
    cr_assert_eq(reader.skipped_bytes, 0);
    vt_trace_reader_close(&reader);
}

Test(reader, cut_in_the_last_chunk_reports_earlier_chunks_and_skipped_bytes)
{
    size_t third;
    const char *path = three_chunk_trace(&third);
    size_t size = tb_file_size(path);
    size_t cut = third + (size - third) / 2;
    tb_truncate_file(path, cut);
    struct vt_trace_reader reader;
    open_ok(&reader, path);
    uint32_t types[16];
    cr_assert_eq(read_all(&reader, types, 16), 5, "process, device, stack, 2 allocs");
    cr_assert_eq(types[4], VT_RECORD_ALLOC);
    cr_assert_not(reader.end_seen);
    cr_assert_eq(reader.chunk_count, 2);
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_CUT_SHORT);
    cr_assert_eq(reader.skipped_bytes, cut - third);

    char *warning = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&warning, &length);
    vt_trace_reader_warn_tail(&reader, path, out);
    fclose(out);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "vramtrace: warning: %s: the trace ends with %zu bytes of an incomplete chunk (the process was killed "
             "or is still writing) from offset %zu; reporting what precedes it\n",
             path, cut - third, third);
    cr_assert_str_eq(warning, expected);
    free(warning);
    vt_trace_reader_close(&reader);
}

Test(reader, cut_inside_a_chunk_header)
{
    size_t third;
    const char *path = three_chunk_trace(&third);
    tb_truncate_file(path, third + 10);
    struct vt_trace_reader reader;
    open_ok(&reader, path);
    uint32_t types[16];
    cr_assert_eq(read_all(&reader, types, 16), 5);
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_CUT_SHORT);
    cr_assert_eq(reader.skipped_bytes, 10);
    vt_trace_reader_close(&reader);
}

Test(reader, bad_crc_stops_at_that_chunk)
{
    size_t third;
    const char *path = three_chunk_trace(&third);
    size_t size = tb_file_size(path);
    tb_flip_byte(path, third + VT_TRACE_CHUNK_HEADER_BYTES + 1); /* in the last chunk's payload */
    struct vt_trace_reader reader;
    open_ok(&reader, path);
    uint32_t types[16];
    cr_assert_eq(read_all(&reader, types, 16), 5);
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_BAD_CRC);
    cr_assert_eq(reader.skipped_bytes, size - third);
    cr_assert_not(reader.end_seen);
    vt_trace_reader_close(&reader);
}

Test(reader, bad_crc_in_the_first_chunk_leaves_nothing)
{
    size_t third;
    const char *path = three_chunk_trace(&third);
    size_t size = tb_file_size(path);
    tb_flip_byte(path, VT_TRACE_FILE_HEADER_BYTES + 12); /* the first chunk's CRC field */
    struct vt_trace_reader reader;
    open_ok(&reader, path);
    uint32_t types[16];
    cr_assert_eq(read_all(&reader, types, 16), 0);
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_BAD_CRC);
    cr_assert_eq(reader.skipped_bytes, size - VT_TRACE_FILE_HEADER_BYTES);
    vt_trace_reader_close(&reader);
}

Test(reader, malformed_record_in_a_good_chunk_stops_there)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_alloc(&builder, 10, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 4096, 0);
    const uint8_t cut_alloc[] = {0x01}; /* an ALLOC whose payload ends after its time */
    tb_raw_record(&builder, VT_RECORD_ALLOC, cut_alloc, sizeof cut_alloc);
    tb_end(&builder, 20);
    const char *path = tb_write(&builder, tb_temp_path("malformed.trace"));
    struct vt_trace_reader reader;
    open_ok(&reader, path);
    uint32_t types[16];
    cr_assert_eq(read_all(&reader, types, 16), 1);
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_MALFORMED);
    cr_assert_eq(reader.skipped_bytes, tb_file_size(path) - VT_TRACE_FILE_HEADER_BYTES);
    vt_trace_reader_close(&reader);
}

Test(reader, header_only_trace_is_empty_and_not_truncated)
{
    struct trace_builder builder;
    tb_start(&builder);
    const char *path = tb_write(&builder, tb_temp_path("empty.trace"));
    struct vt_trace_reader reader;
    open_ok(&reader, path);
    struct vt_trace_record record;
    cr_assert_not(vt_trace_reader_next(&reader, &record));
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_NONE);
    cr_assert_eq(reader.chunk_count, 0);
    vt_trace_reader_close(&reader);
}

static void assert_open_fails(const char *path, enum vt_trace_open_result want, const char *message)
{
    struct vt_trace_reader reader;
    char error[512] = "";
    cr_assert_eq(vt_trace_reader_open(&reader, path, error, sizeof error), want, "%s", error);
    cr_assert_str_eq(error, message);
}

Test(reader, wrong_magic_version_or_missing_file_is_a_clear_error)
{
    size_t third;
    char message[1024];
    const char *path = three_chunk_trace(&third);
    tb_flip_byte(path, 0);
    snprintf(message, sizeof message, "%s is not a vramtrace trace (no VRAMTRCE header)", path);
    assert_open_fails(path, VT_TRACE_NOT_A_TRACE, message);

    path = three_chunk_trace(&third);
    tb_flip_byte(path, 8); /* version 3 -> 0xfc */
    snprintf(message, sizeof message, "%s: unsupported trace format version 252 (this vramtrace reads versions 1 to 3)", path);
    assert_open_fails(path, VT_TRACE_UNSUPPORTED_VERSION, message);

    path = three_chunk_trace(&third);
    tb_truncate_file(path, 7);
    snprintf(message, sizeof message, "%s is not a vramtrace trace (no VRAMTRCE header)", path);
    assert_open_fails(path, VT_TRACE_NOT_A_TRACE, message);

    snprintf(message, sizeof message, "cannot open /nonexistent/t.trace: %s", strerror(ENOENT));
    assert_open_fails("/nonexistent/t.trace", VT_TRACE_CANNOT_OPEN, message);
}
