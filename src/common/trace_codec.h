/* common/trace_codec.h — encoding and decoding of trace records (docs/trace-format.md), shared by
 * the shim's writer and the CLI's reader so that both sides agree byte for byte.
 *
 * A record is: varint type, varint payload length, payload. Integers in payloads are unsigned
 * LEB128 ("varint") or zigzag LEB128 ("svarint"); text is a varint length and the bytes. Times,
 * addresses and streams of event records are deltas from the previous event record of the same
 * chunk (struct vt_trace_deltas), so every chunk decodes on its own.
 */
#ifndef VT_COMMON_TRACE_CODEC_H
#define VT_COMMON_TRACE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vramtrace/trace_format.h"

#define VT_TRACE_MAX_FRAMES 256

struct vt_trace_text {
    const char *bytes; /* not NUL-terminated when decoded: points into the chunk */
    uint32_t length;
};

/* ALLOC, FREE, FREE_UNKNOWN, OOM and MAP: which fields each carries is in trace-format.md. */
struct vt_trace_event {
    uint64_t timestamp_ns; /* since the trace started (PROCESS.start_monotonic_ns) */
    uint64_t address;      /* MAP: start of the mapped range */
    uint64_t size_bytes;
    uint64_t stream;
    uint64_t handle;       /* MAP: the cuMemCreate handle */
    uint64_t device_free_bytes, device_total_bytes; /* OOM; 0 when unknown */
    uint32_t stack_id;     /* 0 = none */
    uint32_t thread_index; /* see VT_RECORD_THREAD */
    int32_t device;        /* -1 = host */
    uint16_t api;          /* enum vt_api */
    uint8_t kind;          /* enum vt_memory_kind */
    uint8_t flags;         /* FREE: enum vt_free_flags (0 when absent) */
};

struct vt_trace_record {
    uint32_t type; /* enum vt_trace_record_type; other values: unknown, skipped */
    union {
        struct {
            struct vt_trace_text program, host, command_line, version;
            uint64_t pid, start_realtime_ns, start_monotonic_ns;
            int64_t rank; /* -1 = none */
        } process;
        struct {
            uint32_t ordinal;
            struct vt_trace_text name;
            uint64_t total_bytes;
        } device;
        struct {
            uint32_t id;
            struct vt_trace_text path;
            uint64_t load_address, size_bytes;
            const uint8_t *build_id;
            uint32_t build_id_length;
        } module;
        struct {
            uint32_t id;
            uint32_t depth;
            uint64_t *frames; /* frame words (vramtrace/frames.h); encode: the caller's; decode:
                                 the decoder's frame buffer */
        } stack;
        struct {
            uint32_t index;
            uint32_t thread_id;
            struct vt_trace_text name; /* its name (comm) when first seen; length 0: unknown */
        } thread;
        struct {
            uint32_t id;
            struct vt_trace_text file_name, function_name;
            uint32_t first_line;
            uint8_t line_table_format; /* enum vt_python_line_table (common/python_lines.h) */
            const uint8_t *line_table;
            uint32_t line_table_bytes;
        } code;
        struct vt_trace_event event;
        struct {
            uint64_t timestamp_ns;
            uint32_t kind; /* enum vt_trace_marker_kind */
            struct vt_trace_text text;
        } marker;
        struct {
            uint64_t timestamp_ns;
        } end;
        struct {
            uint64_t timestamp_ns;
            uint64_t count;
        } dropped;
        struct {
            uint64_t timestamp_ns;
            uint32_t number;      /* 1, 2, ... in the process: the other TORCH_ records name it */
            uint32_t moment;      /* enum vt_torch_moment */
            uint32_t dump_number; /* VT_TORCH_AT_DUMP: the live dump's number */
            uint32_t flags;       /* enum vt_torch_snapshot_flags */
            int32_t oom_device;   /* VT_TORCH_AT_OOM: the failing request's device; -1 otherwise */
            uint32_t oom_stack_id;
            uint64_t oom_requested_bytes;
            uint64_t cost_ns;     /* what taking the snapshot cost the process */
        } torch_snapshot;
        struct {
            uint32_t snapshot;
            int32_t device;
            uint64_t free_bytes, total_bytes; /* the driver's, both 0 when unknown */
        } torch_device;
        struct {
            uint32_t snapshot;
            int32_t device;
            uint64_t address, size_bytes, stream;
            uint32_t flags;    /* enum vt_torch_segment_flags */
            uint32_t stack_id; /* where the segment was allocated; 0 unknown */
        } torch_segment;
        struct {
            uint32_t snapshot;
            int32_t device;
            uint64_t address, size_bytes, requested_bytes;
            uint32_t state;    /* enum vt_torch_block_state */
            uint32_t stack_id; /* where the tensor was allocated; 0 unknown */
        } torch_block;
        struct {
            uint32_t snapshot;
            int32_t device;
            uint32_t action;   /* enum vt_torch_action */
            uint32_t stack_id;
            uint64_t address, size_bytes, stream;
            uint64_t time_ns;  /* since the trace started; 0 unknown */
        } torch_trace;
    };
};

/* Per-chunk context for the delta-coded fields, and the file's format version (how STACK
 * records are coded). */
struct vt_trace_deltas {
    uint64_t last_time_ns;
    uint64_t last_address;
    uint64_t last_stream;
    uint32_t last_stack_id; /* version 3: an ALLOC's stack id is a delta from the previous ALLOC's */
    uint32_t format_version;
};

/* Starts a chunk of a file of `format_version` (the writer: VT_TRACE_FORMAT_VERSION). */
void vt_trace_deltas_start(struct vt_trace_deltas *deltas, uint64_t base_time_ns, uint32_t format_version);

/* Appends `record` at out[0..capacity). Returns the bytes written, or 0 when it does not fit
 * (nothing is written and the deltas are unchanged then). */
size_t vt_trace_encode(uint8_t *out, size_t capacity, struct vt_trace_deltas *deltas,
                       const struct vt_trace_record *record);

enum vt_trace_decode_result {
    VT_DECODE_RECORD = 1,    /* *record filled (type may be one this reader does not know) */
    VT_DECODE_END = 0,       /* no bytes left */
    VT_DECODE_MALFORMED = -1,
};

/* Decodes the record at *cursor and advances it. `frames` receives a STACK record's frames
 * (VT_TRACE_MAX_FRAMES of room). */
enum vt_trace_decode_result vt_trace_decode(const uint8_t **cursor, const uint8_t *end,
                                            struct vt_trace_deltas *deltas, struct vt_trace_record *record,
                                            uint64_t frames[VT_TRACE_MAX_FRAMES]);

/* The chunk header, encoded / decoded (VT_TRACE_CHUNK_HEADER_BYTES bytes). */
struct vt_trace_chunk_header {
    uint32_t stored_bytes, raw_bytes, crc32, record_count;
    uint64_t base_time_ns;
    uint8_t compression;
};

void vt_trace_chunk_header_encode(uint8_t out[VT_TRACE_CHUNK_HEADER_BYTES], const struct vt_trace_chunk_header *header);
/* False when the magic is wrong. */
bool vt_trace_chunk_header_decode(const uint8_t in[VT_TRACE_CHUNK_HEADER_BYTES], struct vt_trace_chunk_header *header);

void vt_trace_file_header_encode(uint8_t out[VT_TRACE_FILE_HEADER_BYTES]);
/* False when the magic is wrong; *version receives the format version. */
bool vt_trace_file_header_decode(const uint8_t in[VT_TRACE_FILE_HEADER_BYTES], uint32_t *version);

/* Version 3: a chunk's payload, decompressed, is in the column layout (docs/trace-format.md,
 * "Column layout"): the writer encodes its records as rows (vt_trace_encode) and turns them into
 * columns before compressing; the reader decodes them (vt_trace_columns_next). Every byte string
 * round-trips. */
#define VT_TRACE_COLUMN_FIELDS 16 /* fields of an ALLOC or FREE record that go to columns */
#define VT_TRACE_COLUMNS_MALFORMED ((size_t)-1)

/* Rows to columns at out[0..capacity). Returns the bytes written, 0 when they do not fit
 * (rows_length + rows_length / 2 + 512 always does). */
size_t vt_trace_columns_encode(const uint8_t *rows, size_t rows_length, uint8_t *out, size_t capacity);

/* Columns back to rows at out[0..capacity). Returns the bytes written, or VT_TRACE_COLUMNS_MALFORMED
 * when the columns are malformed or the rows do not fit (2 * length + 16 bytes always holds well
 * formed columns' rows). */
size_t vt_trace_columns_decode(const uint8_t *in, size_t length, uint8_t *out, size_t capacity);

/* Reading the columns record by record without turning them back into rows (the reader's way):
 * an ALLOC or FREE is decoded straight from its fields' columns. vt_trace_columns_open splits the
 * payload and checks it — false exactly where vt_trace_columns_decode finds it malformed — so a
 * chunk whose columns do not hold gives no record at all. vt_trace_columns_next then gives the
 * records in order as vt_trace_decode gives the rows vt_trace_columns_decode makes of them (the
 * same records, the same VT_DECODE_MALFORMED, VT_DECODE_END after the last); after a
 * VT_DECODE_MALFORMED it gives that again. The payload must stay in place meanwhile. */
#define VT_TRACE_COLUMN_COUNT (2 + 2 * VT_TRACE_COLUMN_FIELDS)
struct vt_trace_columns {
    const uint8_t *at[VT_TRACE_COLUMN_COUNT], *end[VT_TRACE_COLUMN_COUNT];
    bool malformed; /* a record did not decode: next gives VT_DECODE_MALFORMED again */
};
bool vt_trace_columns_open(struct vt_trace_columns *columns, const uint8_t *in, size_t length);
enum vt_trace_decode_result vt_trace_columns_next(struct vt_trace_columns *columns, struct vt_trace_deltas *deltas,
                                                  struct vt_trace_record *record,
                                                  uint64_t frames[VT_TRACE_MAX_FRAMES]);
/* The written ALLOC and FREE records (9 fields, a FREE's flags may be absent) that come next, up
 * to `capacity`, into records[] as vt_trace_columns_next gives them: stops before any other
 * record, which is then vt_trace_columns_next's to give. A malformed one stops the batch (0 when
 * it comes first) and stays for vt_trace_columns_next to report. */
size_t vt_trace_columns_next_events(struct vt_trace_columns *columns, struct vt_trace_deltas *deltas,
                                    struct vt_trace_record *records, size_t capacity);
/* Whether records are left (vt_trace_columns_next would not give VT_DECODE_END at once). */
static inline bool vt_trace_columns_left(const struct vt_trace_columns *columns)
{
    return columns->at[0] < columns->end[0] ||
           columns->at[VT_TRACE_COLUMN_COUNT - 1] < columns->end[VT_TRACE_COLUMN_COUNT - 1];
}

uint32_t vt_crc32(const uint8_t *bytes, size_t length);

#endif
