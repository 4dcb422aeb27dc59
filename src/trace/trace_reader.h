/* trace/trace_reader.h — reading a trace file (docs/trace-format.md): the file header, then chunk
 * after chunk (CRC checked, zstd-decompressed), then record after record.
 *
 * Works on a trace that is still being written: the file's size when it was opened is where the
 * reader stops (vt_trace_reader_resume then takes in what was appended since). At the first chunk that is cut short, fails its CRC or does not decode, the reader
 * stops and counts the bytes it skipped (`skipped_bytes`): everything before that point is good.
 * Records of types this reader does not know are skipped (and counted).
 */
#ifndef VT_TRACE_TRACE_READER_H
#define VT_TRACE_TRACE_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/trace_codec.h"

enum vt_trace_open_result {
    VT_TRACE_OPENED = 0,
    VT_TRACE_CANNOT_OPEN,         /* open/read failed: see errno in the message */
    VT_TRACE_NOT_A_TRACE,         /* wrong magic, or shorter than a file header */
    VT_TRACE_UNSUPPORTED_VERSION, /* a format version this reader does not read */
};

/* Why the reader stopped before the end of the file (VT_TRACE_STOP_NONE: it reached the end). */
enum vt_trace_stop_reason {
    VT_TRACE_STOP_NONE = 0,
    VT_TRACE_STOP_CUT_SHORT,   /* a chunk header or payload goes past the end of the file */
    VT_TRACE_STOP_BAD_CRC,     /* the payload's CRC does not match */
    VT_TRACE_STOP_BAD_CHUNK,   /* bad chunk magic, unknown compression, or it does not decompress */
    VT_TRACE_STOP_MALFORMED,   /* a record inside a good chunk does not decode */
    VT_TRACE_STOP_READ_ERROR,  /* read(2) failed */
};

struct vt_trace_reader {
    int fd;
    uint32_t version;
    uint64_t file_bytes;   /* the file's size when opened: the reader reads no further */
    uint64_t next_offset;  /* where the next chunk starts */

    /* the current chunk */
    struct vt_trace_chunk_header chunk;
    uint64_t chunk_offset;
    uint8_t *stored, *raw;
    size_t stored_capacity, raw_capacity;
    void *zstd;            /* the ZSTD_DCtx, made at the first zstd chunk */
    bool columnar;         /* version 3: the records are read from the payload's columns */
    struct vt_trace_columns columns;
    const uint8_t *cursor, *payload_end; /* earlier versions: the records' rows */
    struct vt_trace_deltas deltas;
    uint64_t frames[VT_TRACE_MAX_FRAMES]; /* a STACK record's frames point here */

    struct vt_trace_read_ahead *read_ahead; /* vt_trace_reader_read_ahead's thread; NULL: none */

    /* what was seen so far */
    uint64_t chunk_count, record_count, unknown_record_count;
    bool end_seen;                          /* an END record: the process ended normally */
    enum vt_trace_stop_reason stop_reason;
    uint64_t skipped_bytes;                 /* from the chunk where reading stopped to the end */
};

/* Opens `path` and checks its file header. On failure writes a one-line reason (without a
 * trailing newline, naming the path) to error[0..error_size) and leaves nothing open. */
enum vt_trace_open_result vt_trace_reader_open(struct vt_trace_reader *reader, const char *path, char *error,
                                               size_t error_size);

/* Loads the next chunk (the records of the current one not yet read are dropped). False at the
 * end of the trace: the end of the file, or a stop (stop_reason, skipped_bytes). */
bool vt_trace_reader_next_chunk(struct vt_trace_reader *reader);

/* The next record of the trace, across chunks; unknown types are skipped. False at the end of
 * the trace. Text, build-id and frame pointers stay valid until the next call. */
bool vt_trace_reader_next(struct vt_trace_reader *reader, struct vt_trace_record *record);

/* The next records of the trace, up to `capacity`, into records[]: the records
 * vt_trace_reader_next would give one by one, all of one chunk; a batch ends after any record but
 * an ALLOC or FREE (its pointers stay valid until the next call). 0 at the end of the trace (and
 * for a capacity of 0). */
size_t vt_trace_reader_next_records(struct vt_trace_reader *reader, struct vt_trace_record *records,
                                    size_t capacity);

/* From the next vt_trace_reader_next(_records) on, a thread of the reader's own reads, checks,
 * decompresses and decodes the chunks after the one whose records the caller takes (the same
 * records and stops). For a reader at a chunk's boundary that only vt_trace_reader_next(_records)
 * then reads, until it returns false or vt_trace_reader_close; not with vt_trace_reader_resume.
 * False when it cannot start (the reader then reads on by itself). */
bool vt_trace_reader_read_ahead(struct vt_trace_reader *reader);

/* The next record of the current chunk only (unknown types skipped); false at its end or when a
 * record does not decode (stop_reason then says so). */
bool vt_trace_reader_next_in_chunk(struct vt_trace_reader *reader, struct vt_trace_record *record);
/* The same, up to `capacity` records of the current chunk, as vt_trace_reader_next_records (0: at
 * its end, or stopped at a record that does not decode). */
size_t vt_trace_reader_next_records_in_chunk(struct vt_trace_reader *reader, struct vt_trace_record *records,
                                             size_t capacity);

/* Reads the chunk at `offset` (where an earlier read found one) again, whatever the reader read
 * before, to decode it alone with vt_trace_reader_next_in_chunk; false when it no longer reads
 * (stop_reason says why). The chunk count is left as it was. */
bool vt_trace_reader_read_chunk_at(struct vt_trace_reader *reader, uint64_t offset);

/* Drops the current chunk and reads on from the chunk at `offset`, as if `chunk_count` chunks had
 * been read before it (a load that took those from elsewhere: the trace's index). */
void vt_trace_reader_continue_at(struct vt_trace_reader *reader, uint64_t offset, uint64_t chunk_count);

/* Follows a trace that is still being written: takes in what was appended since the reader
 * stopped (the file's size now becomes the limit) and, when it stopped at a chunk that was cut
 * short or did not check out (a writer in the middle of a write), reads that chunk again from its
 * start. The definitions and records already returned are not returned again. A reader stopped
 * inside a chunk (a malformed record) stays stopped. False when the file cannot be examined. */
bool vt_trace_reader_resume(struct vt_trace_reader *reader);

/* A second reader of the file `reader` reads (its file descriptor duplicated; the same format
 * version and size limit), at no chunk yet: it reads chunks again (vt_trace_reader_read_chunk_at)
 * while `reader` goes on. False when the descriptor cannot be duplicated (errno says why; `copy`
 * then holds nothing to close). */
bool vt_trace_reader_duplicate(struct vt_trace_reader *copy, const struct vt_trace_reader *reader);

void vt_trace_reader_close(struct vt_trace_reader *reader);

/* The one warning line a command prints when the reader stopped early (nothing otherwise):
 *   vramtrace: warning: PATH: the trace ends with N bytes of an incomplete chunk (...) from offset O; ...
 * (O: where the chunk at which reading stopped starts, reader->chunk_offset) */
void vt_trace_reader_warn_tail(const struct vt_trace_reader *reader, const char *path, FILE *out);

#endif
