/* tests/trace/trace_builder.c — synthetic trace files (see trace_builder.h). */
#define _GNU_SOURCE
#include "trace_builder.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define PAYLOAD_CAPACITY (15u << 20) /* a chunk the reader takes: raw payloads up to 16 MiB */

static void append(struct trace_builder *builder, const void *bytes, size_t length)
{
    if (builder->length + length > builder->capacity) {
        builder->capacity = (builder->length + length) * 2;
        builder->file = realloc(builder->file, builder->capacity);
        cr_assert_not_null(builder->file);
    }
    memcpy(builder->file + builder->length, bytes, length);
    builder->length += length;
}

void tb_start(struct trace_builder *builder)
{
    memset(builder, 0, sizeof *builder);
    builder->payload = malloc(PAYLOAD_CAPACITY);
    cr_assert_not_null(builder->payload);
    uint8_t header[VT_TRACE_FILE_HEADER_BYTES];
    vt_trace_file_header_encode(header);
    append(builder, header, sizeof header);
}

void tb_begin_chunk(struct trace_builder *builder, uint64_t base_time_ns)
{
    cr_assert(!builder->chunk_open, "a chunk is already open");
    builder->chunk_open = true;
    builder->chunk_base_ns = base_time_ns;
    builder->payload_length = 0;
    builder->payload_records = 0;
    vt_trace_deltas_start(&builder->deltas, base_time_ns, VT_TRACE_FORMAT_VERSION);
}

void tb_record(struct trace_builder *builder, const struct vt_trace_record *record)
{
    if (!builder->chunk_open)
        tb_begin_chunk(builder, 0);
    size_t written = vt_trace_encode(builder->payload + builder->payload_length,
                                     PAYLOAD_CAPACITY - builder->payload_length, &builder->deltas, record);
    cr_assert_gt(written, 0, "record of type %u does not fit", record->type);
    builder->payload_length += written;
    builder->payload_records++;
}

size_t tb_varint(uint8_t *out, uint64_t value)
{
    size_t length = 0;
    while (value >= 0x80) {
        out[length++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[length++] = (uint8_t)value;
    return length;
}

void tb_raw_record(struct trace_builder *builder, uint64_t type, const uint8_t *payload, size_t length)
{
    if (!builder->chunk_open)
        tb_begin_chunk(builder, 0);
    cr_assert_lt(builder->payload_length + length + 20, PAYLOAD_CAPACITY);
    uint8_t *at = builder->payload + builder->payload_length;
    at += tb_varint(at, type);
    at += tb_varint(at, length);
    memcpy(at, payload, length);
    builder->payload_length = (size_t)(at + length - builder->payload);
    builder->payload_records++;
}

void tb_end_chunk(struct trace_builder *builder, enum vt_trace_compression compression)
{
    cr_assert(builder->chunk_open);
    builder->chunk_open = false;
    /* version 3: the records go into the file in the column layout, as the shim's writer puts them */
    size_t column_capacity = builder->payload_length + builder->payload_length / 2 + 512;
    uint8_t *columns = malloc(column_capacity);
    cr_assert_not_null(columns);
    size_t raw_length = vt_trace_columns_encode(builder->payload, builder->payload_length, columns, column_capacity);
    cr_assert_gt(raw_length, 0);
    uint8_t *stored = columns;
    size_t stored_length = raw_length;
    uint8_t *compressed = NULL;
    if (compression == VT_TRACE_ZSTD) {
        size_t bound = ZSTD_compressBound(stored_length);
        compressed = malloc(bound);
        stored_length = ZSTD_compress(compressed, bound, columns, raw_length, 3);
        cr_assert(!ZSTD_isError(stored_length));
        stored = compressed;
    }
    struct vt_trace_chunk_header header = {
        .stored_bytes = (uint32_t)stored_length,
        .raw_bytes = (uint32_t)raw_length,
        .crc32 = vt_crc32(stored, stored_length),
        .record_count = builder->payload_records,
        .base_time_ns = builder->chunk_base_ns,
        .compression = (uint8_t)compression,
    };
    uint8_t encoded[VT_TRACE_CHUNK_HEADER_BYTES];
    vt_trace_chunk_header_encode(encoded, &header);
    builder->last_chunk_offset = builder->length;
    append(builder, encoded, sizeof encoded);
    append(builder, stored, stored_length);
    free(compressed);
    free(columns);
}

const char *tb_write(struct trace_builder *builder, const char *path)
{
    if (builder->chunk_open)
        tb_end_chunk(builder, VT_TRACE_ZSTD);
    FILE *file = fopen(path, "wb");
    cr_assert_not_null(file, "cannot write %s", path);
    cr_assert_eq(fwrite(builder->file, 1, builder->length, file), builder->length);
    fclose(file);
    free(builder->file);
    free(builder->payload);
    memset(builder, 0, sizeof *builder);
    return path;
}

char *tb_temp_path(const char *name)
{
    char directory[] = "/tmp/vt-trace-test-XXXXXX";
    cr_assert_not_null(mkdtemp(directory));
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/%s", directory, name) > 0);
    return path;
}

static struct vt_trace_text text(const char *value)
{
    return (struct vt_trace_text){value, (uint32_t)strlen(value)};
}

void tb_process(struct trace_builder *builder, const char *program, uint64_t pid)
{
    struct vt_trace_record record = {.type = VT_RECORD_PROCESS};
    record.process.program = text(program);
    record.process.pid = pid;
    record.process.host = text("testhost");
    record.process.rank = -1;
    record.process.start_realtime_ns = 1700000000ull * 1000000000ull;
    record.process.start_monotonic_ns = 5000000000ull;
    record.process.command_line = text(program);
    record.process.version = text("0.1.0");
    tb_record(builder, &record);
}

void tb_device(struct trace_builder *builder, uint32_t ordinal, const char *name, uint64_t total_bytes)
{
    struct vt_trace_record record = {.type = VT_RECORD_DEVICE};
    record.device.ordinal = ordinal;
    record.device.name = text(name);
    record.device.total_bytes = total_bytes;
    tb_record(builder, &record);
}

void tb_stack(struct trace_builder *builder, uint32_t id, const uint64_t *frames, uint32_t depth)
{
    struct vt_trace_record record = {.type = VT_RECORD_STACK};
    record.stack.id = id;
    record.stack.depth = depth;
    record.stack.frames = (uint64_t *)frames;
    tb_record(builder, &record);
}

void tb_two_devices_and_four_stacks(struct trace_builder *builder, const char *program, uint64_t pid)
{
    static const uint64_t frames[4][2] = {{0x401100, 0x401900}, {0x401200, 0x401900}, {0x401300, 0x401a00},
                                          {0x401400, 0x401b00}};
    tb_process(builder, program, pid);
    tb_device(builder, 0, "GPU zero", 16ull << 30);
    tb_device(builder, 1, "GPU one", 8ull << 30);
    for (uint32_t i = 0; i < 4; i++)
        tb_stack(builder, i + 1, frames[i], 2);
}

static void allocation_record(struct trace_builder *builder, uint32_t type, uint64_t time_ns, enum vt_api api,
                              enum vt_memory_kind kind, int device, uint64_t address, uint64_t size, uint32_t stack_id)
{
    struct vt_trace_record record = {.type = type};
    record.event = (struct vt_trace_event){.timestamp_ns = time_ns, .api = api, .kind = kind, .device = device,
                                           .address = address, .size_bytes = size, .stack_id = stack_id,
                                           .thread_index = 1};
    tb_record(builder, &record);
}

void tb_alloc(struct trace_builder *builder, uint64_t time_ns, enum vt_api api, enum vt_memory_kind kind, int device,
              uint64_t address, uint64_t size, uint32_t stack_id)
{
    allocation_record(builder, VT_RECORD_ALLOC, time_ns, api, kind, device, address, size, stack_id);
}

void tb_free(struct trace_builder *builder, uint64_t time_ns, enum vt_api api, enum vt_memory_kind kind, int device,
             uint64_t address, uint64_t size)
{
    allocation_record(builder, VT_RECORD_FREE, time_ns, api, kind, device, address, size, 0);
}

void tb_map(struct trace_builder *builder, uint64_t time_ns, uint64_t address, uint64_t size, uint64_t handle,
            int device, uint32_t stack_id)
{
    struct vt_trace_record record = {.type = VT_RECORD_MAP};
    record.event = (struct vt_trace_event){.timestamp_ns = time_ns, .address = address, .size_bytes = size,
                                           .handle = handle, .device = device, .stack_id = stack_id,
                                           .thread_index = 1};
    tb_record(builder, &record);
}

void tb_oom(struct trace_builder *builder, uint64_t time_ns, enum vt_api api, int device, uint64_t size,
            uint32_t stack_id, uint64_t device_free, uint64_t device_total)
{
    struct vt_trace_record record = {.type = VT_RECORD_OOM};
    record.event = (struct vt_trace_event){.timestamp_ns = time_ns, .api = api, .kind = VT_KIND_DEVICE,
                                           .device = device, .size_bytes = size, .stack_id = stack_id,
                                           .thread_index = 1, .device_free_bytes = device_free,
                                           .device_total_bytes = device_total};
    tb_record(builder, &record);
}

void tb_end(struct trace_builder *builder, uint64_t time_ns)
{
    struct vt_trace_record record = {.type = VT_RECORD_END};
    record.end.timestamp_ns = time_ns;
    tb_record(builder, &record);
}

void tb_truncate_file(const char *path, size_t length)
{
    cr_assert_eq(truncate(path, (off_t)length), 0);
}

void tb_flip_byte(const char *path, size_t offset)
{
    FILE *file = fopen(path, "r+b");
    cr_assert_not_null(file);
    cr_assert_eq(fseek(file, (long)offset, SEEK_SET), 0);
    int byte = fgetc(file);
    cr_assert_neq(byte, EOF);
    cr_assert_eq(fseek(file, (long)offset, SEEK_SET), 0);
    fputc(byte ^ 0xff, file);
    fclose(file);
}

size_t tb_file_size(const char *path)
{
    struct stat status;
    cr_assert_eq(stat(path, &status), 0);
    return (size_t)status.st_size;
}

uint8_t *tb_read_file(const char *path, size_t *size)
{
    *size = tb_file_size(path);
    uint8_t *bytes = malloc(*size ? *size : 1);
    FILE *file = fopen(path, "rb");
    cr_assert(bytes && file && fread(bytes, 1, *size, file) == *size, "%s", path);
    fclose(file);
    return bytes;
}

void tb_append_file(const char *path, const uint8_t *source, size_t from, size_t to)
{
    FILE *file = fopen(path, "ab");
    cr_assert_not_null(file, "%s", path);
    cr_assert_eq(fwrite(source + from, 1, to - from, file), to - from);
    fclose(file);
}
