/* tests/trace/test_trace_reader.c — reading trace files: chunks zstd-compressed and stored, all
 * records seen in order; a file cut in its last chunk, a chunk with a bad CRC, a malformed record
 * and a cut file header; wrong magic, unsupported version, missing file. Reading ahead
 * (vt_trace_reader_read_ahead) gives the same records and final state as reading alone on good and
 * damaged traces, in batches too, and a reader closed early stops its thread; a chunk of millions of
 * tiny records is not held decoded ahead. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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

/* ---- reading ahead ------------------------------------------------------------------------------ */

#define READ_AHEAD_CHUNKS 24

/* READ_AHEAD_CHUNKS chunks, zstd and stored in turn with a few of each in a row, after a chunk of
 * definitions: ALLOCs and FREEs (some with flags), a STACK, a MARKER, records of an unknown type, a
 * chunk of unknown records only and an empty chunk; END in the last. offsets[i] receives where chunk
 * i starts, offsets[chunks] the file's size; the record of chunk `malformed_chunk` (when below
 * READ_AHEAD_CHUNKS) after its third is an ALLOC cut short. */
static const char *read_ahead_trace(const char *name, size_t *offsets, unsigned malformed_chunk)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_begin_chunk(&builder, 0);
    tb_two_devices_and_four_stacks(&builder, "ahead", 99);
    tb_end_chunk(&builder, VT_TRACE_ZSTD);
    offsets[0] = builder.last_chunk_offset;
    uint64_t time_ns = 1000;
    for (unsigned chunk = 1; chunk < READ_AHEAD_CHUNKS; chunk++) {
        tb_begin_chunk(&builder, time_ns);
        const uint8_t unknown_payload[] = {7, 7};
        if (chunk == 5) { /* only records this reader does not know */
            tb_raw_record(&builder, 99, unknown_payload, sizeof unknown_payload);
            tb_raw_record(&builder, 300, unknown_payload, 1);
        } else if (chunk != 9) { /* chunk 9: empty */
            for (unsigned i = 0; i < 30 + chunk; i++) {
                time_ns += 100 + i;
                uint64_t address = 0x10000000 + (uint64_t)(chunk * 64 + i) * 0x1000;
                tb_alloc(&builder, time_ns, VT_API_cudaMalloc, VT_KIND_DEVICE, (int)(i % 2), address, 4096 * (i + 1),
                         1 + i % 4);
                if (i % 3 == 0) {
                    struct vt_trace_record freed = {.type = VT_RECORD_FREE};
                    freed.event = (struct vt_trace_event){.timestamp_ns = time_ns + 1, .api = VT_API_cudaFree,
                                                          .kind = VT_KIND_DEVICE, .device = (int32_t)(i % 2),
                                                          .address = address, .size_bytes = 4096 * (i + 1),
                                                          .thread_index = i % 3, .flags = (uint8_t)(i % 2)};
                    tb_record(&builder, &freed);
                }
                if (i == 3 && chunk == malformed_chunk) {
                    const uint8_t cut_alloc[] = {0x01}; /* its time, and nothing after it */
                    tb_raw_record(&builder, VT_RECORD_ALLOC, cut_alloc, sizeof cut_alloc);
                }
                if (i == 7)
                    tb_raw_record(&builder, 99, unknown_payload, sizeof unknown_payload);
            }
            const uint64_t frames[] = {0x400000 + chunk, 0x500000};
            tb_stack(&builder, 10 + chunk, frames, 2);
            struct vt_trace_record marker = {.type = VT_RECORD_MARKER};
            marker.marker.timestamp_ns = time_ns;
            marker.marker.text = (struct vt_trace_text){"mark", 4};
            tb_record(&builder, &marker);
        }
        if (chunk + 1 == READ_AHEAD_CHUNKS)
            tb_end(&builder, time_ns + 10);
        tb_end_chunk(&builder, chunk % 5 < 3 ? VT_TRACE_ZSTD : VT_TRACE_STORED);
        offsets[chunk] = builder.last_chunk_offset;
    }
    offsets[READ_AHEAD_CHUNKS] = builder.length;
    return tb_write(&builder, tb_temp_path(name));
}

/* Two records, one read ahead and one not, are the same: type, and the fields each type carries
 * here. */
static void assert_same_read(const struct vt_trace_record *ahead, const struct vt_trace_record *alone, size_t index)
{
    cr_assert_eq(ahead->type, alone->type, "record %zu", index);
    switch (alone->type) {
    case VT_RECORD_ALLOC: case VT_RECORD_FREE:
        cr_assert(memcmp(&ahead->event, &alone->event, sizeof alone->event) == 0, "record %zu's event", index);
        break;
    case VT_RECORD_STACK:
        cr_assert_eq(ahead->stack.id, alone->stack.id, "record %zu", index);
        cr_assert_eq(ahead->stack.depth, alone->stack.depth, "record %zu", index);
        cr_assert(memcmp(ahead->stack.frames, alone->stack.frames, alone->stack.depth * sizeof(uint64_t)) == 0,
                  "record %zu's frames", index);
        break;
    case VT_RECORD_MARKER:
        cr_assert_eq(ahead->marker.timestamp_ns, alone->marker.timestamp_ns, "record %zu", index);
        cr_assert_eq(ahead->marker.text.length, alone->marker.text.length, "record %zu", index);
        cr_assert(memcmp(ahead->marker.text.bytes, alone->marker.text.bytes, alone->marker.text.length) == 0);
        break;
    case VT_RECORD_END:
        cr_assert_eq(ahead->end.timestamp_ns, alone->end.timestamp_ns, "record %zu", index);
        break;
    default:
        break;
    }
}

/* Reads the trace at `path` twice side by side: reading ahead or not, in batches of `batch`
 * records (vt_trace_reader_next_records), and alone record by record: the same records, then the
 * same final state, stopped for `reason`. Returns the records read. */
static size_t assert_reads_the_same(const char *path, const char *what, enum vt_trace_stop_reason reason,
                                    bool read_ahead, size_t batch)
{
    struct vt_trace_reader ahead, alone;
    open_ok(&ahead, path);
    open_ok(&alone, path);
    if (read_ahead) {
        cr_assert(vt_trace_reader_read_ahead(&ahead), "%s: the read ahead starts", what);
        cr_assert_not(vt_trace_reader_read_ahead(&ahead), "%s: only once", what);
    }
    struct vt_trace_record batched[64], from_alone;
    cr_assert_leq(batch, 64);
    size_t count = 0, in_batch = 0, taken = 0;
    for (;; count++) {
        if (taken == in_batch) {
            in_batch = vt_trace_reader_next_records(&ahead, batched, batch);
            cr_assert_leq(in_batch, batch, "%s", what);
            taken = 0;
        }
        bool more_ahead = taken < in_batch;
        bool more_alone = vt_trace_reader_next(&alone, &from_alone);
        cr_assert_eq(more_ahead, more_alone, "%s (batch %zu): record %zu", what, batch, count);
        if (!more_alone)
            break;
        assert_same_read(&batched[taken++], &from_alone, count);
    }
    cr_assert_eq(vt_trace_reader_next_records(&ahead, batched, batch), 0, "%s: still at the end", what);
    cr_assert_eq(ahead.stop_reason, alone.stop_reason, "%s", what);
    cr_assert_eq(alone.stop_reason, reason, "%s: the damage meant", what);
    cr_assert_eq(ahead.skipped_bytes, alone.skipped_bytes, "%s", what);
    cr_assert_eq(ahead.chunk_offset, alone.chunk_offset, "%s: chunk offset %llu / %llu", what,
                 (unsigned long long)ahead.chunk_offset, (unsigned long long)alone.chunk_offset);
    cr_assert_eq(ahead.chunk_count, alone.chunk_count, "%s", what);
    cr_assert_eq(ahead.record_count, alone.record_count, "%s", what);
    cr_assert_eq(ahead.unknown_record_count, alone.unknown_record_count, "%s", what);
    cr_assert_eq(ahead.end_seen, alone.end_seen, "%s", what);
    cr_assert_eq(ahead.next_offset, alone.next_offset, "%s", what);
    /* the chunk header where the reading stopped, and the deltas of the last record */
    const struct vt_trace_chunk_header *a = &ahead.chunk, *b = &alone.chunk;
    cr_assert(a->stored_bytes == b->stored_bytes && a->raw_bytes == b->raw_bytes && a->crc32 == b->crc32 &&
                  a->record_count == b->record_count && a->base_time_ns == b->base_time_ns &&
                  a->compression == b->compression,
              "%s: chunk header (raw %u / %u)", what, a->raw_bytes, b->raw_bytes);
    cr_assert(memcmp(&ahead.deltas, &alone.deltas, sizeof ahead.deltas) == 0, "%s: deltas", what);
    cr_assert_null(ahead.read_ahead, "%s: the thread is done at the end", what);
    vt_trace_reader_close(&ahead);
    vt_trace_reader_close(&alone);
    return count;
}

/* The same with and without reading ahead, one record at a time and in batches of 5 and 64;
 * returns the records read. */
static size_t assert_read_ahead_reads_the_same(const char *path, const char *what, enum vt_trace_stop_reason reason)
{
    static const size_t batches[] = {1, 5, 64};
    size_t count = assert_reads_the_same(path, what, reason, true, 1);
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
        cr_assert_eq(assert_reads_the_same(path, what, reason, true, batches[b]), count, "%s", what);
        cr_assert_eq(assert_reads_the_same(path, what, reason, false, batches[b]), count, "%s", what);
    }
    return count;
}

Test(reader, reading_ahead_reads_a_good_trace_as_reading_alone)
{
    size_t offsets[READ_AHEAD_CHUNKS + 1];
    const char *path = read_ahead_trace("ahead.trace", offsets, READ_AHEAD_CHUNKS);
    size_t count = assert_read_ahead_reads_the_same(path, "good", VT_TRACE_STOP_NONE);
    cr_assert_gt(count, 700);
    struct vt_trace_reader reader;
    open_ok(&reader, path);
    cr_assert(vt_trace_reader_read_ahead(&reader));
    uint32_t types[2048];
    cr_assert_eq(read_all(&reader, types, 2048), count);
    cr_assert_eq(reader.chunk_count, READ_AHEAD_CHUNKS);
    cr_assert_eq(reader.chunk_offset, offsets[READ_AHEAD_CHUNKS - 1], "the last chunk's");
    cr_assert(reader.end_seen);
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_NONE);
    cr_assert_eq(reader.unknown_record_count, 2 + (READ_AHEAD_CHUNKS - 3));
    vt_trace_reader_close(&reader);
    /* a trace of one chunk, and one of none */
    struct trace_builder builder;
    tb_start(&builder);
    tb_alloc(&builder, 10, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 4096, 0);
    assert_read_ahead_reads_the_same(tb_write(&builder, tb_temp_path("one.trace")), "one chunk", VT_TRACE_STOP_NONE);
    tb_start(&builder);
    assert_read_ahead_reads_the_same(tb_write(&builder, tb_temp_path("none.trace")), "no chunk", VT_TRACE_STOP_NONE);
}

Test(reader, reading_ahead_stops_where_reading_alone_stops_on_damaged_traces)
{
    size_t offsets[READ_AHEAD_CHUNKS + 1];
    char what[128];
    read_ahead_trace("offsets.trace", offsets, READ_AHEAD_CHUNKS); /* the same bytes each time */
    /* cut: inside a chunk header and inside payloads, early, in the middle and in the last chunk */
    const unsigned cut_chunks[] = {0, 1, 2, 9, 12, 13, READ_AHEAD_CHUNKS - 1};
    for (size_t i = 0; i < sizeof cut_chunks / sizeof cut_chunks[0]; i++) {
        unsigned chunk = cut_chunks[i];
        for (size_t c = 0; c < 3; c++) {
            const char *path = read_ahead_trace("cut.trace", offsets, READ_AHEAD_CHUNKS);
            size_t cut = c == 0 ? offsets[chunk] + 10
                         : c == 1 ? offsets[chunk] + (offsets[chunk + 1] - offsets[chunk]) / 2
                                  : offsets[chunk + 1] - 1;
            tb_truncate_file(path, cut);
            snprintf(what, sizeof what, "cut at %zu in chunk %u", cut, chunk);
            assert_read_ahead_reads_the_same(path, what, VT_TRACE_STOP_CUT_SHORT);
        }
    }
    /* a payload byte flipped (bad CRC), the chunk magic or the compression damaged (bad chunk) */
    const unsigned damaged_chunks[] = {0, 1, 4, 5, 9, 10, READ_AHEAD_CHUNKS - 1};
    for (size_t i = 0; i < sizeof damaged_chunks / sizeof damaged_chunks[0]; i++) {
        unsigned chunk = damaged_chunks[i];
        const size_t places[] = {VT_TRACE_CHUNK_HEADER_BYTES + 2, 0, 28};
        const char *names[] = {"a payload byte", "the magic", "the compression"};
        for (size_t p = 0; p < 3; p++) {
            const char *path = read_ahead_trace("damaged.trace", offsets, READ_AHEAD_CHUNKS);
            if (offsets[chunk] + places[p] >= offsets[chunk + 1])
                continue; /* the empty chunk has no payload byte */
            tb_flip_byte(path, offsets[chunk] + places[p]);
            snprintf(what, sizeof what, "%s of chunk %u flipped", names[p], chunk);
            assert_read_ahead_reads_the_same(path, what, p == 0 ? VT_TRACE_STOP_BAD_CRC : VT_TRACE_STOP_BAD_CHUNK);
        }
    }
    /* a record that does not decode in a good chunk */
    const unsigned malformed_chunks[] = {1, 2, 6, 11, READ_AHEAD_CHUNKS - 1};
    for (size_t i = 0; i < sizeof malformed_chunks / sizeof malformed_chunks[0]; i++) {
        const char *path = read_ahead_trace("malformed.trace", offsets, malformed_chunks[i]);
        snprintf(what, sizeof what, "a malformed record in chunk %u", malformed_chunks[i]);
        assert_read_ahead_reads_the_same(path, what, VT_TRACE_STOP_MALFORMED);
        struct vt_trace_reader reader;
        open_ok(&reader, path);
        cr_assert(vt_trace_reader_read_ahead(&reader));
        uint32_t types[2048];
        read_all(&reader, types, 2048);
        cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_MALFORMED, "%s", what);
        cr_assert_eq(reader.chunk_offset, offsets[malformed_chunks[i]], "%s", what);
        vt_trace_reader_close(&reader);
    }
}

/* A caller that stops early closes the reader: the thread (maybe waiting for a free slot, maybe
 * reading) is stopped and joined, its buffers freed (the ASan suite sees leaks). Read ahead only
 * starts at a chunk's boundary: mid-chunk the reader reads on alone. */
Test(reader, closing_a_reader_that_reads_ahead_before_the_end_stops_its_thread, .timeout = 10)
{
    size_t offsets[READ_AHEAD_CHUNKS + 1];
    const char *path = read_ahead_trace("early.trace", offsets, READ_AHEAD_CHUNKS);
    const size_t stops[] = {0, 1, 3, 40, 100, 500};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        struct vt_trace_reader reader;
        open_ok(&reader, path);
        cr_assert(vt_trace_reader_read_ahead(&reader));
        struct vt_trace_record record;
        for (size_t r = 0; r < stops[i]; r++)
            cr_assert(vt_trace_reader_next(&reader, &record));
        if (stops[i] == 1)
            usleep(20000); /* the thread has filled both slots and waits */
        vt_trace_reader_close(&reader);
        cr_assert_null(reader.read_ahead);
        cr_assert_eq(reader.fd, -1);
    }
    struct vt_trace_reader reader, alone;
    open_ok(&reader, path);
    open_ok(&alone, path);
    struct vt_trace_record record, expected;
    cr_assert(vt_trace_reader_next(&reader, &record));
    cr_assert(vt_trace_reader_next(&alone, &expected));
    cr_assert_not(vt_trace_reader_read_ahead(&reader), "inside a chunk: no read ahead");
    cr_assert_null(reader.read_ahead);
    for (size_t count = 1; vt_trace_reader_next(&alone, &expected); count++) {
        cr_assert(vt_trace_reader_next(&reader, &record));
        assert_same_read(&record, &expected, count);
    }
    cr_assert_not(vt_trace_reader_next(&reader, &record));
    cr_assert_eq(reader.record_count, alone.record_count);
    vt_trace_reader_close(&reader);
    vt_trace_reader_close(&alone);
}

/* A chunk of millions of tiny records (what a damaged or hostile file can hold: up to 16 MiB of
 * records compressing to a few KB) is not held decoded ahead whole (about 240 MB a chunk here):
 * past READ_AHEAD_SLOT_BYTES the caller reads it alone. The same records as reading alone, and the
 * test's peak memory far below that (not measured under ASan, whose quarantine keeps what is
 * freed). */
Test(reader, a_chunk_of_millions_of_tiny_records_is_not_held_decoded_ahead, .timeout = 120)
{
    enum { TINY_CHUNKS = 2, TINY_RECORDS = 2000000 };
    struct trace_builder builder;
    tb_start(&builder);
    struct vt_trace_record thread = {.type = VT_RECORD_THREAD};
    thread.thread.index = 1;
    thread.thread.thread_id = 7;
    for (int chunk = 0; chunk < TINY_CHUNKS; chunk++) {
        tb_begin_chunk(&builder, 0);
        for (unsigned i = 0; i < TINY_RECORDS; i++)
            tb_record(&builder, &thread);
        tb_end_chunk(&builder, VT_TRACE_ZSTD);
    }
    const char *path = tb_write(&builder, tb_temp_path("tiny.trace"));
    cr_assert_eq(assert_reads_the_same(path, "tiny records", VT_TRACE_STOP_NONE, true, 64),
                 (size_t)TINY_CHUNKS * TINY_RECORDS);
#ifndef __SANITIZE_ADDRESS__
    struct rusage usage;
    cr_assert_eq(getrusage(RUSAGE_SELF, &usage), 0);
    cr_assert_lt(usage.ru_maxrss, 200 * 1024, "peak RSS %ld KiB", usage.ru_maxrss);
#endif
}
