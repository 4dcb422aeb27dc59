/* vramtrace/trace_format.h — the constants of the trace file format, shared by the writer (in
 * the shim) and the reader (in the CLI). docs/trace-format.md describes the format byte by byte;
 * this header and that document change together.
 *
 * File   = file header, then chunks.
 * Chunk  = chunk header, then a payload (zstd-compressed or stored) of records; from version 3 the
 *          payload holds them in a column layout (one column per field of ALLOC and FREE records),
 *          turned back into records by the reader (vt_trace_columns_decode).
 * Record = varint type, varint payload length, payload — a reader skips types it does not know.
 */
#ifndef VRAMTRACE_TRACE_FORMAT_H
#define VRAMTRACE_TRACE_FORMAT_H

#include <stdint.h>

#define VT_TRACE_MAGIC "VRAMTRCE"          /* 8 bytes, no terminator in the file */
#define VT_TRACE_FORMAT_VERSION 3u        /* 2: frame kinds in STACK, CODE records; 3: column layout,
                                             times written at microsecond resolution */
#define VT_TRACE_OLDEST_READABLE_VERSION 1u
#define VT_TRACE_FILE_HEADER_BYTES 16u     /* magic, u32 version, u32 header size (little-endian) */

#define VT_TRACE_CHUNK_MAGIC 0x4b435456u   /* "VTCK" as a little-endian u32 */
#define VT_TRACE_CHUNK_HEADER_BYTES 32u

enum vt_trace_compression {
    VT_TRACE_STORED = 0,
    VT_TRACE_ZSTD = 1,
};

/* Chunk header, all fields little-endian:
 *   u32 magic, u32 stored_bytes (payload as written), u32 raw_bytes (payload decompressed),
 *   u32 crc32 (of the stored payload, zlib polynomial), u64 base_time_ns, u32 record_count,
 *   u8 compression, u8[3] zero. */

enum vt_trace_record_type {
    VT_RECORD_PROCESS = 1,      /* who: program, pid, host, rank, start times, command line */
    VT_RECORD_DEVICE = 2,       /* a CUDA device: ordinal, name, total memory */
    VT_RECORD_MODULE = 3,       /* a loaded ELF module: id, path, load address, size, build-id */
    VT_RECORD_STACK = 4,        /* an interned stack: id, frames (return addresses, Python frames) */
    VT_RECORD_ALLOC = 5,        /* memory (or address space) obtained */
    VT_RECORD_FREE = 6,         /* a known allocation released */
    VT_RECORD_FREE_UNKNOWN = 7, /* a free of an address never seen allocated */
    VT_RECORD_OOM = 8,          /* an allocation failed with out-of-memory */
    VT_RECORD_MAP = 9,          /* cuMemMap: a physical handle placed at an address range */
    VT_RECORD_MARKER = 10,      /* a point in time worth naming (live dump, ...) */
    VT_RECORD_END = 11,         /* the process ended normally: the trace is complete */
    VT_RECORD_DROPPED = 12,     /* events lost because the writer could not keep up */
    VT_RECORD_THREAD = 13,      /* a thread's kernel id, given a small index used by events */
    VT_RECORD_CODE = 14,        /* a Python code object: id, file, function, first line, line table */
    /* PyTorch's caching allocator, as its snapshot showed it at one moment (docs/pytorch.md): */
    VT_RECORD_TORCH_SNAPSHOT = 15, /* the moment (exit, out-of-memory, live dump); the records below name it */
    VT_RECORD_TORCH_DEVICE = 16,   /* a device's free and total memory as the driver reported them then */
    VT_RECORD_TORCH_SEGMENT = 17,  /* a segment the allocator holds (memory it got from CUDA) */
    VT_RECORD_TORCH_BLOCK = 18,    /* a block of a segment: a tensor's memory, or cached and free */
    VT_RECORD_TORCH_TRACE = 19,    /* an entry of the allocator's history ring */
};

/* FREE.flags (a varint after the stream; absent: 0). The rules that write them are the
 * accounting's (src/common/memory_accounting.h, "virtual memory"). */
enum vt_free_flags {
    VT_FREE_FOLLOWS = 1,      /* not a call: a consequence of the call before it (another mapping of one
                                 cuMemUnmap, a mapping inside a freed reservation, physical memory whose
                                 last mapping went) */
    VT_FREE_STILL_MAPPED = 2, /* a cuMemRelease of a handle that mappings still use: the call, the handle
                                 released, nothing freed; its memory goes with its last mapping */
};

/* TORCH_SNAPSHOT.moment */
enum vt_torch_moment {
    VT_TORCH_AT_EXIT = 1,
    VT_TORCH_AT_OOM = 2,  /* PyTorch's out-of-memory observer */
    VT_TORCH_AT_DUMP = 3, /* a live dump (vramtrace dump) */
};

/* TORCH_SNAPSHOT.flags */
enum vt_torch_snapshot_flags {
    VT_TORCH_HISTORY = 1, /* blocks carry the stacks that allocated them; trace entries follow */
};

/* TORCH_SEGMENT.flags */
enum vt_torch_segment_flags {
    VT_TORCH_SEGMENT_SMALL_POOL = 1, /* PyTorch's small pool (blocks up to 1 MiB) */
    VT_TORCH_SEGMENT_EXPANDABLE = 2, /* expandable_segments: mapped with cuMemMap */
};

/* TORCH_BLOCK.state: PyTorch's block states */
enum vt_torch_block_state {
    VT_TORCH_BLOCK_ACTIVE = 1,       /* "active_allocated": a tensor's */
    VT_TORCH_BLOCK_PENDING_FREE = 2, /* "active_pending_free": freed, waiting for a stream's work */
    VT_TORCH_BLOCK_INACTIVE = 3,     /* "inactive": cached, free */
};

/* TORCH_TRACE.action: the actions of PyTorch's history entries (TraceEntry::Action) */
enum vt_torch_action {
    VT_TORCH_ACTION_OTHER = 0,
    VT_TORCH_ACTION_ALLOC = 1,
    VT_TORCH_ACTION_FREE_REQUESTED = 2,
    VT_TORCH_ACTION_FREE_COMPLETED = 3,
    VT_TORCH_ACTION_SEGMENT_ALLOC = 4,
    VT_TORCH_ACTION_SEGMENT_FREE = 5,
    VT_TORCH_ACTION_SEGMENT_MAP = 6,
    VT_TORCH_ACTION_SEGMENT_UNMAP = 7,
    VT_TORCH_ACTION_SNAPSHOT = 8,
    VT_TORCH_ACTION_OOM = 9,
};

enum vt_trace_marker_kind {
    VT_MARKER_DUMP = 1,         /* vramtrace dump PID: a live snapshot was requested */
    /* Out-of-memory failures have their own record (OOM), not a marker. Kinds a reader does not
     * know are shown as plain markers with their label. */
};

#endif
