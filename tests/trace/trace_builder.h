/* tests/trace/trace_builder.h — writes synthetic trace files for the trace tests with the shared
 * encoder (common/trace_codec.h): file header, chunks (zstd or stored), any record, and the odd
 * ones a real writer never makes (unknown types, records with extra trailing bytes). Also a
 * trace's file can be cut or have a byte flipped afterwards, or be read back and written again
 * piece by piece (a trace that grows). */
#ifndef VT_TESTS_TRACE_BUILDER_H
#define VT_TESTS_TRACE_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/trace_codec.h"
#include "vramtrace/events.h"

struct trace_builder {
    uint8_t *file;
    size_t length, capacity;
    uint8_t *payload;
    size_t payload_length;
    uint32_t payload_records;
    uint64_t chunk_base_ns;
    struct vt_trace_deltas deltas;
    bool chunk_open;
    size_t last_chunk_offset; /* where the last finished chunk starts */
};

/* Starts a file: its 16-byte header. */
void tb_start(struct trace_builder *builder);
void tb_begin_chunk(struct trace_builder *builder, uint64_t base_time_ns);
/* Appends one record to the open chunk (opens one at time 0 if none is). */
void tb_record(struct trace_builder *builder, const struct vt_trace_record *record);
/* Writes `value` as a varint (LEB128) at out (up to 10 bytes); returns its length. */
size_t tb_varint(uint8_t *out, uint64_t value);
/* Appends a record of any type with the given payload bytes, as is. */
void tb_raw_record(struct trace_builder *builder, uint64_t type, const uint8_t *payload, size_t length);
void tb_end_chunk(struct trace_builder *builder, enum vt_trace_compression compression);
/* Closes an open chunk (zstd), writes the file, frees the builder. Returns the path given. */
const char *tb_write(struct trace_builder *builder, const char *path);
/* A path for a new file in a fresh temporary directory. */
char *tb_temp_path(const char *name);

/* Shorthands for common records. */
void tb_process(struct trace_builder *builder, const char *program, uint64_t pid);
void tb_device(struct trace_builder *builder, uint32_t ordinal, const char *name, uint64_t total_bytes);
void tb_stack(struct trace_builder *builder, uint32_t id, const uint64_t *frames, uint32_t depth);
void tb_alloc(struct trace_builder *builder, uint64_t time_ns, enum vt_api api, enum vt_memory_kind kind, int device,
              uint64_t address, uint64_t size, uint32_t stack_id);
void tb_free(struct trace_builder *builder, uint64_t time_ns, enum vt_api api, enum vt_memory_kind kind, int device,
             uint64_t address, uint64_t size);
void tb_map(struct trace_builder *builder, uint64_t time_ns, uint64_t address, uint64_t size, uint64_t handle,
            int device, uint32_t stack_id);
void tb_oom(struct trace_builder *builder, uint64_t time_ns, enum vt_api api, int device, uint64_t size,
            uint32_t stack_id, uint64_t device_free, uint64_t device_total);
void tb_end(struct trace_builder *builder, uint64_t time_ns);

/* PROCESS `program`/`pid`, DEVICE 0 "GPU zero" (16 GiB), DEVICE 1 "GPU one" (8 GiB) and stacks 1 to
 * 4 of two frames each, {0x401100, 0x401900}, {0x401200, 0x401900}, {0x401300, 0x401a00},
 * {0x401400, 0x401b00}: in no module, they print as "in ??". */
void tb_two_devices_and_four_stacks(struct trace_builder *builder, const char *program, uint64_t pid);

/* File surgery on a written trace. */
void tb_truncate_file(const char *path, size_t length);
void tb_flip_byte(const char *path, size_t offset);
size_t tb_file_size(const char *path);
/* The whole file (malloc'd; its size in *size). */
uint8_t *tb_read_file(const char *path, size_t *size);
/* Appends bytes [from, to) of `source` to the file at `path` (made if missing). */
void tb_append_file(const char *path, const uint8_t *source, size_t from, size_t to);

#endif
