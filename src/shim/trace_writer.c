/* shim/trace_writer.c — the trace file and its writer thread (see trace_writer.h).
 *
 * Appends happen under the recorder's lock and this file's chunk_lock (always in that order). The
 * writer thread takes chunk_lock only to swap chunks; compression and I/O happen without any lock.
 * When every chunk is waiting for the writer, an append waits for one (wait_for_free_chunk: it
 * sleeps on chunk_freed, which gives chunk_lock back) as long as the writer makes progress; the
 * writer takes no lock a waiting hook holds, except the recorder's in the live-dump handler, and
 * while it waits for that one nobody waits for it. Only a writer stalled for TRACE_STALL_BUDGET_MS
 * (an output nobody reads) drops events.
 * Module records are the writer's own: it scans the loaded modules (dl_iterate_phdr) before each
 * flush when the set has changed, and writes them in a chunk of their own.
 */
#define _GNU_SOURCE
#include "shim/trace_writer.h"

#include "common/options.h"
#include "shim/output_file.h"
#include "shim/shim_log.h"
#include "shim/thread_names.h"
#include "vramtrace/events.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

enum {
    TRACE_CHUNK_BYTES = 1 << 20,
    TRACE_CHUNKS_IN_MEMORY = 48, /* 48 MiB of raw events waiting at most: the recorder stays under 64 MiB */
    TRACE_SLOW_WRITER_CHUNKS = 2, /* under VRAMTRACE_TEST_SLOW_WRITER: the bound, and chunks of 64 KiB */
    TRACE_SLOW_WRITER_CHUNK_BYTES = 64 << 10,
    TRACE_STALL_BUDGET_MS = 2000, /* a writer that wrote nothing for this long is stalled: events are dropped */
    TRACE_HANDLER_WAIT_MS = 10000, /* how long a live dump (symbolizing: seconds) may keep hooks waiting */
    TRACE_ZSTD_LEVEL = 3,
    TRACE_EXIT_WAIT_SECONDS = 10,
};

enum writer_request { REQUEST_FLUSH = 1, REQUEST_DUMP = 2, REQUEST_EXIT = 4 };

struct raw_chunk {
    struct raw_chunk *next;
    size_t used;
    uint64_t base_time_ns;
    uint32_t record_count;
    struct vt_trace_deltas deltas;
    uint8_t bytes[TRACE_CHUNK_BYTES];
};

static struct trace_writer_settings settings;
static bool enabled, forked_child;

/* Chunks: guarded by chunk_lock. */
static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct raw_chunk *current_chunk, *full_head, *full_tail, *spare_chunks;
static unsigned chunks_in_memory, chunk_bound = TRACE_CHUNKS_IN_MEMORY;
static size_t chunk_capacity = TRACE_CHUNK_BYTES; /* bytes of a chunk's records */
static uint64_t events_dropped, drops_reported, last_time_ns;
static uint64_t records_queued; /* in chunks handed to the writer and not yet written */
/* Waiting for a chunk: the writer counts the chunks it has written (its progress) and signals
 * chunk_freed after each; `stalled_at` is the count at which it was found stalled (no waiting
 * again until it moves). A live dump in progress (writer_in_handler) counts as progress for up to
 * TRACE_HANDLER_WAIT_MS; no waiting while the dump waits for the recorder's lock
 * (writer_wants_recorder_lock: the waiting thread may hold it), but for the END record at exit
 * (`appending_end`: its thread holds no lock the writer needs), nor after trace_writer_finish
 * appended that. */
static pthread_cond_t chunk_freed;
static uint64_t chunks_written, stalled_at = UINT64_MAX;
static bool writer_in_handler, writer_wants_recorder_lock, finishing;
static uint32_t threads_announced;
static __thread bool appending_end __attribute__((tls_model("initial-exec")));

static __thread uint32_t this_thread_index __attribute__((tls_model("initial-exec")));

/* Writer thread state. */
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static pthread_t writer_thread;
static bool writer_running;
static int wake_fd = -1;
static unsigned pending_requests, dumps_requested;
static void (*dump_handler)(unsigned dump_number);
static int trace_fd = -1;
static uint64_t bytes_written;
/* Flush rounds, for trace_writer_flush_and_wait: the writer numbers each round before it takes the
 * chunks (rounds_begun) and publishes it under flush_wait_lock once they are written (rounds_done). */
static uint64_t rounds_begun, rounds_done;
static pthread_mutex_t flush_wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flush_wait_signal;
static pthread_once_t flush_wait_once = PTHREAD_ONCE_INIT;
static ZSTD_CCtx *compressor;
static uint8_t *compressed_buffer;
static size_t compressed_capacity;
static uint8_t *column_buffer; /* a chunk's records in the column layout (version 3), then compressed */
static size_t column_capacity;

/* A condition variable on the monotonic clock (deadlines immune to clock changes). */
static void monotonic_condition_init(pthread_cond_t *condition)
{
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(condition, &attributes);
    pthread_condattr_destroy(&attributes);
}

/* Now plus `milliseconds` on `clock`: a deadline for the timed waits. */
static struct timespec deadline_on(clockid_t clock, unsigned milliseconds)
{
    struct timespec deadline;
    clock_gettime(clock, &deadline);
    deadline.tv_sec += milliseconds / 1000;
    deadline.tv_nsec += (long)(milliseconds % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

void trace_writer_configure(const struct trace_writer_settings *new_settings)
{
    settings = *new_settings;
    enabled = settings.path[0] != '\0';
    if (settings.slow_writer_ms) {
        chunk_bound = TRACE_SLOW_WRITER_CHUNKS;
        chunk_capacity = TRACE_SLOW_WRITER_CHUNK_BYTES;
    }
    monotonic_condition_init(&chunk_freed);
}

bool trace_writer_enabled(void)
{
    return __atomic_load_n(&enabled, __ATOMIC_ACQUIRE);
}

const char *trace_writer_path(void)
{
    return settings.path;
}

uint64_t trace_writer_bytes_written(void)
{
    return __atomic_load_n(&bytes_written, __ATOMIC_RELAXED);
}

static char write_error[160];
static bool write_failed;

static void remember_write_error(int error)
{
    if (__atomic_load_n(&write_failed, __ATOMIC_ACQUIRE))
        return;
    snprintf(write_error, sizeof write_error, "%s", strerror(error));
    __atomic_store_n(&write_failed, true, __ATOMIC_RELEASE);
}

const char *trace_writer_error(void)
{
    return __atomic_load_n(&write_failed, __ATOMIC_ACQUIRE) ? write_error : NULL;
}

uint64_t trace_writer_events_dropped(void)
{
    return __atomic_load_n(&events_dropped, __ATOMIC_RELAXED);
}

/* --- appending (hook side) --------------------------------------------------------------------- */

static void wake_writer(unsigned request)
{
    __atomic_fetch_or(&pending_requests, request, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (wake_fd >= 0) {
        ssize_t ignored = write(wake_fd, &one, sizeof one);
        (void)ignored;
    }
}

/* Under chunk_lock: a fresh chunk starting at `base_time_ns`, or NULL at the memory bound. */
static struct raw_chunk *take_chunk(uint64_t base_time_ns)
{
    struct raw_chunk *chunk = spare_chunks;
    if (chunk) {
        spare_chunks = chunk->next;
    } else {
        if (chunks_in_memory >= chunk_bound)
            return NULL;
        chunk = mmap(NULL, sizeof *chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk == MAP_FAILED)
            return NULL;
        chunks_in_memory++;
    }
    chunk->next = NULL;
    chunk->used = 0;
    chunk->record_count = 0;
    chunk->base_time_ns = base_time_ns;
    vt_trace_deltas_start(&chunk->deltas, base_time_ns, VT_TRACE_FORMAT_VERSION);
    return chunk;
}

/* Under chunk_lock: hands the current chunk to the writer. */
static void retire_current_chunk(void)
{
    if (!current_chunk)
        return;
    if (current_chunk->record_count == 0) {
        current_chunk->next = spare_chunks;
        spare_chunks = current_chunk;
    } else {
        records_queued += current_chunk->record_count;
        if (full_tail)
            full_tail->next = current_chunk;
        else
            full_head = current_chunk;
        full_tail = current_chunk;
    }
    current_chunk = NULL;
}

/* The time field of an event record; NULL for a definition, which carries no time. */
static uint64_t *record_time_field(struct vt_trace_record *record)
{
    switch (record->type) {
    case VT_RECORD_ALLOC:
    case VT_RECORD_FREE:
    case VT_RECORD_FREE_UNKNOWN:
    case VT_RECORD_OOM:
    case VT_RECORD_MAP:
        return &record->event.timestamp_ns;
    case VT_RECORD_MARKER:
        return &record->marker.timestamp_ns;
    case VT_RECORD_TORCH_SNAPSHOT:
        return &record->torch_snapshot.timestamp_ns;
    case VT_RECORD_END:
        return &record->end.timestamp_ns;
    case VT_RECORD_DROPPED:
        return &record->dropped.timestamp_ns;
    default:
        return NULL;
    }
}

/* Under chunk_lock, every chunk waiting for the writer: whether this thread may wait for one. Not
 * the writer itself (the live-dump handler appends), not while the writer waits for the recorder's
 * lock (which the waiting hook holds; the END record's thread holds none), not at exit once the END
 * record is in, not once the writer is gone, and not again while it stays stalled. */
static bool may_wait_for_writer(void)
{
    return trace_writer_enabled() && __atomic_load_n(&writer_running, __ATOMIC_ACQUIRE) && !finishing &&
           (!writer_wants_recorder_lock || appending_end) && chunks_written != stalled_at &&
           !pthread_equal(pthread_self(), writer_thread);
}

bool trace_writer_recorder_lock_wanted(bool wanted)
{
    if (!__atomic_load_n(&writer_running, __ATOMIC_ACQUIRE) || !pthread_equal(pthread_self(), writer_thread))
        return false;
    pthread_mutex_lock(&chunk_lock);
    writer_wants_recorder_lock = wanted;
    if (wanted)
        pthread_cond_broadcast(&chunk_freed); /* a waiting hook drops its event and gives the lock back */
    pthread_mutex_unlock(&chunk_lock);
    return true;
}

/* Under chunk_lock, when take_chunk found none: waits (chunk_lock given back while asleep) until the
 * writer hands a chunk back. As long as it writes a chunk every TRACE_STALL_BUDGET_MS, the wait
 * goes on; false when it may not wait, or when the writer wrote nothing for that long: then it is
 * stalled, and the events are dropped without waiting until it writes again. */
static bool wait_for_free_chunk(void)
{
    if (!may_wait_for_writer())
        return false;
    wake_writer(REQUEST_FLUSH);
    uint64_t progress = chunks_written;
    struct timespec deadline = deadline_on(CLOCK_MONOTONIC, TRACE_STALL_BUDGET_MS);
    unsigned handler_waited_ms = 0;
    while (!spare_chunks && chunks_in_memory >= chunk_bound) {
        if (!may_wait_for_writer())
            return false;
        if (pthread_cond_timedwait(&chunk_freed, &chunk_lock, &deadline) != ETIMEDOUT)
            continue;
        bool dumping = writer_in_handler && handler_waited_ms < TRACE_HANDLER_WAIT_MS;
        handler_waited_ms += writer_in_handler ? TRACE_STALL_BUDGET_MS : 0;
        if (chunks_written == progress && !dumping) {
            static bool said;
            __atomic_store_n(&stalled_at, progress, __ATOMIC_RELEASE);
            shim_log_once(&said, "the trace writer wrote nothing for %d ms (is anything reading %s?); events are "
                                 "being dropped, counted in the trace and in the exit report",
                          TRACE_STALL_BUDGET_MS, settings.path);
            return false;
        }
        progress = chunks_written;
        deadline = deadline_on(CLOCK_MONOTONIC, TRACE_STALL_BUDGET_MS);
    }
    return true;
}

/* Under chunk_lock: the chunk to append to, waiting for the writer when the bound is reached; NULL
 * when the record must be dropped. */
static struct raw_chunk *writable_chunk(void)
{
    if (!current_chunk && !(current_chunk = take_chunk(last_time_ns)) && wait_for_free_chunk())
        current_chunk = take_chunk(last_time_ns);
    return current_chunk;
}

/* Times go into the trace at microsecond resolution (docs/trace-format.md, version 3): rounded down,
 * their deltas are multiples of 1000 ns, a handful of values that compress to almost nothing where
 * nanosecond jitter would cost a byte or more per event. The order of the records is the order of
 * the events, whatever their times. */
static uint64_t to_microseconds(uint64_t time_ns)
{
    return time_ns - time_ns % 1000;
}

/* Under chunk_lock. Returns false when the record had to be dropped. */
static bool append_locked(const struct vt_trace_record *original)
{
    struct vt_trace_record rounded = *original;
    const struct vt_trace_record *record = &rounded;
    uint64_t *time_field = record_time_field(&rounded);
    if (time_field)
        *time_field = to_microseconds(*time_field);
    uint64_t time_ns = time_field ? *time_field : last_time_ns; /* definitions carry no time */
    if (time_ns > last_time_ns)
        last_time_ns = time_ns;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!writable_chunk())
            return false;
        size_t written = vt_trace_encode(current_chunk->bytes + current_chunk->used,
                                         chunk_capacity - current_chunk->used, &current_chunk->deltas, record);
        if (written) {
            current_chunk->used += written;
            current_chunk->record_count++;
            return true;
        }
        retire_current_chunk(); /* full: the writer takes it, the record goes into a new one */
        wake_writer(REQUEST_FLUSH);
    }
    return false;
}

static void report_drops_locked(void)
{
    if (events_dropped == drops_reported)
        return;
    struct vt_trace_record dropped = {.type = VT_RECORD_DROPPED};
    dropped.dropped.timestamp_ns = last_time_ns;
    dropped.dropped.count = events_dropped - drops_reported;
    if (append_locked(&dropped))
        drops_reported = events_dropped;
}

bool trace_writer_append(const struct vt_trace_record *record)
{
    if (!trace_writer_enabled())
        return false;
    pthread_mutex_lock(&chunk_lock);
    report_drops_locked();
    bool appended = append_locked(record);
    if (!appended) {
        static bool said;
        __atomic_add_fetch(&events_dropped, 1, __ATOMIC_RELAXED);
        shim_log_once(&said, "the trace writer cannot take the events (%s is not written to); events are "
                             "being dropped, counted in the trace and in the exit report",
                      settings.path);
    }
    pthread_mutex_unlock(&chunk_lock);
    return appended;
}

uint32_t trace_writer_thread_index(void)
{
    if (this_thread_index)
        return this_thread_index;
    uint32_t index = threads_announced + 1; /* the recorder's lock serialises this */
    struct vt_trace_record thread = {.type = VT_RECORD_THREAD};
    thread.thread.index = index;
    thread.thread.thread_id = (uint32_t)gettid();
    const char *name = thread_names_current();
    thread.thread.name = (struct vt_trace_text){name, (uint32_t)strlen(name)};
    if (!trace_writer_append(&thread))
        return 0;
    threads_announced = index;
    this_thread_index = index;
    return index;
}

/* --- the writer thread ------------------------------------------------------------------------- */

static bool write_fully(const struct iovec *parts, int count)
{
    struct iovec remaining[2];
    memcpy(remaining, parts, (size_t)count * sizeof *parts);
    struct iovec *at = remaining;
    while (count > 0) {
        ssize_t written = writev(trace_fd, at, count);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        __atomic_add_fetch(&bytes_written, (uint64_t)written, __ATOMIC_RELAXED);
        while (count > 0 && (size_t)written >= at->iov_len) {
            written -= (ssize_t)at->iov_len;
            at++;
            count--;
        }
        if (count > 0) {
            at->iov_base = (uint8_t *)at->iov_base + written;
            at->iov_len -= (size_t)written;
        }
    }
    return true;
}

static void stop_tracing_after_write_error(void)
{
    static bool said;
    int error = errno;
    remember_write_error(error);
    shim_log_once(&said, "cannot write the trace to %s: %s; tracing stops here (the exit report is still made)",
                  settings.path, strerror(error));
    pthread_mutex_lock(&chunk_lock);
    __atomic_store_n(&enabled, false, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&chunk_freed); /* nobody waits for this writer any more */
    pthread_mutex_unlock(&chunk_lock);
}

/* Compresses (or stores) one payload and writes it as a chunk. */
static void write_chunk(const uint8_t *payload, size_t length, uint64_t base_time_ns, uint32_t record_count)
{
    if (trace_fd < 0 || length == 0)
        return;
    /* Version 3: the rows the encoder wrote become columns (one per field of ALLOC and FREE), where
     * zstd finds each field's repetitions (docs/trace-format.md, "Column layout"). */
    length = vt_trace_columns_encode(payload, length, column_buffer, column_capacity);
    if (length == 0) { /* cannot happen: column_capacity holds any chunk's columns */
        errno = EOVERFLOW;
        stop_tracing_after_write_error();
        return;
    }
    payload = column_buffer;
    struct vt_trace_chunk_header header = {
        .raw_bytes = (uint32_t)length,
        .base_time_ns = base_time_ns,
        .record_count = record_count,
        .compression = VT_TRACE_STORED,
    };
    const uint8_t *stored = payload;
    size_t stored_length = length;
    if (compressor) {
        size_t compressed = ZSTD_compressCCtx(compressor, compressed_buffer, compressed_capacity, payload, length,
                                              TRACE_ZSTD_LEVEL);
        if (!ZSTD_isError(compressed) && compressed < length) {
            stored = compressed_buffer;
            stored_length = compressed;
            header.compression = VT_TRACE_ZSTD;
        }
    }
    header.stored_bytes = (uint32_t)stored_length;
    header.crc32 = vt_crc32(stored, stored_length);
    uint8_t encoded_header[VT_TRACE_CHUNK_HEADER_BYTES];
    vt_trace_chunk_header_encode(encoded_header, &header);
    struct iovec parts[2] = {{encoded_header, sizeof encoded_header}, {(void *)stored, stored_length}};
    if (!write_fully(parts, 2))
        stop_tracing_after_write_error();
}

/* Records built by the writer itself (process, modules) go through a private chunk, written after
 * the module scan: large enough that the scan (inside dl_iterate_phdr, which holds the loader's
 * lock) does no I/O unless a process loads thousands of libraries at once. */
struct private_chunk {
    uint8_t bytes[1 << 20];
    size_t used;
    uint32_t records;
    struct vt_trace_deltas deltas;
};

static void private_append(struct private_chunk *chunk, const struct vt_trace_record *record)
{
    size_t written = vt_trace_encode(chunk->bytes + chunk->used, sizeof chunk->bytes - chunk->used, &chunk->deltas, record);
    if (!written) {
        write_chunk(chunk->bytes, chunk->used, 0, chunk->records);
        chunk->used = chunk->records = 0;
        vt_trace_deltas_start(&chunk->deltas, 0, VT_TRACE_FORMAT_VERSION);
        written = vt_trace_encode(chunk->bytes, sizeof chunk->bytes, &chunk->deltas, record);
    }
    chunk->used += written;
    chunk->records += written ? 1 : 0;
}

static void private_flush(struct private_chunk *chunk)
{
    write_chunk(chunk->bytes, chunk->used, 0, chunk->records);
    chunk->used = chunk->records = 0;
    vt_trace_deltas_start(&chunk->deltas, 0, VT_TRACE_FORMAT_VERSION);
}

static struct vt_trace_text text_of(const char *string)
{
    return (struct vt_trace_text){string, (uint32_t)strlen(string)};
}

static void write_process_record(struct private_chunk *chunk)
{
    char host[256] = "", command_line[4096] = "";
    gethostname(host, sizeof host - 1);
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t length = read(fd, command_line, sizeof command_line - 1);
        close(fd);
        for (ssize_t i = 0; i < length - 1; i++)
            if (command_line[i] == '\0')
                command_line[i] = ' ';
        command_line[length > 0 ? length : 0] = '\0';
    }
    struct timespec realtime, monotonic;
    clock_gettime(CLOCK_REALTIME, &realtime);
    clock_gettime(CLOCK_MONOTONIC, &monotonic);
    uint64_t now_monotonic = (uint64_t)monotonic.tv_sec * 1000000000u + (uint64_t)monotonic.tv_nsec;
    uint64_t now_realtime = (uint64_t)realtime.tv_sec * 1000000000u + (uint64_t)realtime.tv_nsec;
    struct vt_trace_record process = {.type = VT_RECORD_PROCESS};
    process.process.program = text_of(settings.program_name);
    process.process.pid = (uint64_t)settings.pid;
    process.process.host = text_of(host);
    process.process.rank = vt_process_rank();
    process.process.start_monotonic_ns = settings.start_monotonic_ns;
    process.process.start_realtime_ns = now_realtime - (now_monotonic - settings.start_monotonic_ns);
    process.process.command_line = text_of(command_line);
    process.process.version = text_of(VT_VERSION);
    private_append(chunk, &process);
}

/* --- module map -------------------------------------------------------------------------------- */

struct known_module {
    uint64_t load_address;
    char path[PATH_MAX];
};

static struct known_module *known_modules;
static size_t known_module_count, known_module_capacity;
static unsigned long long last_adds = ~0ULL, last_subs = ~0ULL;

static bool module_known(uint64_t load_address, const char *path)
{
    for (size_t i = 0; i < known_module_count; i++)
        if (known_modules[i].load_address == load_address && strcmp(known_modules[i].path, path) == 0)
            return true;
    return false;
}

static void remember_module(uint64_t load_address, const char *path)
{
    if (known_module_count == known_module_capacity) {
        size_t capacity = known_module_capacity ? known_module_capacity * 2 : 64;
        struct known_module *grown = realloc(known_modules, capacity * sizeof *grown);
        if (!grown)
            return;
        known_modules = grown;
        known_module_capacity = capacity;
    }
    known_modules[known_module_count].load_address = load_address;
    snprintf(known_modules[known_module_count].path, PATH_MAX, "%s", path);
    known_module_count++;
}

static void find_build_id(const struct dl_phdr_info *info, struct vt_trace_record *module)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_NOTE)
            continue;
        const uint8_t *note = (const uint8_t *)(info->dlpi_addr + segment->p_vaddr);
        const uint8_t *end = note + segment->p_memsz;
        while (note + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *header = (const ElfW(Nhdr) *)note;
            const uint8_t *name = note + sizeof *header;
            const uint8_t *descriptor = name + ((header->n_namesz + 3) & ~3u);
            if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                descriptor + header->n_descsz <= end) {
                module->module.build_id = descriptor;
                module->module.build_id_length = header->n_descsz;
                return;
            }
            note = descriptor + ((header->n_descsz + 3) & ~3u);
        }
    }
}

struct module_scan {
    struct private_chunk *chunk;
    bool first;
    bool unchanged;
    unsigned index; /* dl_iterate_phdr reports the main program first */
};

static int scan_module(struct dl_phdr_info *info, size_t size, void *data)
{
    struct module_scan *scan = data;
    if (scan->first) {
        scan->first = false;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs && info->dlpi_adds == last_adds &&
            info->dlpi_subs == last_subs) {
            scan->unchanged = true;
            return 1;
        }
        last_adds = info->dlpi_adds;
        last_subs = info->dlpi_subs;
    }
    char path[PATH_MAX];
    bool main_program = scan->index++ == 0;
    if (info->dlpi_name && info->dlpi_name[0]) {
        snprintf(path, sizeof path, "%s", info->dlpi_name);
    } else {
        /* The main program has no name here (and, when it is not position-independent, a load
         * address of 0: its segments sit at their link-time addresses). */
        ssize_t length = main_program ? readlink("/proc/self/exe", path, sizeof path - 1) : -1;
        if (length <= 0)
            return 0; /* an unnamed object that is not the program */
        path[length] = '\0';
    }
    if (module_known(info->dlpi_addr, path))
        return 0;
    uint64_t image_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD && info->dlpi_phdr[i].p_vaddr + info->dlpi_phdr[i].p_memsz > image_end)
            image_end = info->dlpi_phdr[i].p_vaddr + info->dlpi_phdr[i].p_memsz;
    struct vt_trace_record module = {.type = VT_RECORD_MODULE};
    module.module.id = (uint32_t)known_module_count + 1;
    module.module.path = text_of(path);
    module.module.load_address = info->dlpi_addr;
    module.module.size_bytes = image_end;
    find_build_id(info, &module);
    private_append(scan->chunk, &module);
    remember_module(info->dlpi_addr, path);
    return 0;
}

static void write_new_modules(struct private_chunk *chunk)
{
    struct module_scan scan = {.chunk = chunk, .first = true};
    dl_iterate_phdr(scan_module, &scan);
    private_flush(chunk);
}

/* --- flushing ---------------------------------------------------------------------------------- */

static void flush_events(void)
{
    pthread_mutex_lock(&chunk_lock);
    retire_current_chunk();
    struct raw_chunk *chunks = full_head;
    full_head = full_tail = NULL;
    pthread_mutex_unlock(&chunk_lock);
    while (chunks) {
        struct raw_chunk *next = chunks->next;
        if (settings.slow_writer_ms)
            nanosleep(&(struct timespec){settings.slow_writer_ms / 1000, (long)(settings.slow_writer_ms % 1000) * 1000000L},
                      NULL);
        write_chunk(chunks->bytes, chunks->used, chunks->base_time_ns, chunks->record_count);
        pthread_mutex_lock(&chunk_lock);
        chunks->next = spare_chunks;
        spare_chunks = chunks;
        records_queued -= chunks->record_count;
        __atomic_add_fetch(&chunks_written, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&chunk_freed);
        pthread_mutex_unlock(&chunk_lock);
        chunks = next;
    }
}

static bool open_trace_file(void)
{
    trace_fd = output_file_create(settings.path, "trace", settings.path, sizeof settings.path);
    if (trace_fd < 0) {
        int error = errno;
        shim_log("cannot write the trace to %s: %s (set %s to a writable path, or 'none'); no trace is written",
                 settings.path, strerror(error), VT_ENV_OUTPUT);
        remember_write_error(error);
        __atomic_store_n(&enabled, false, __ATOMIC_RELEASE);
        return false;
    }
    uint8_t header[VT_TRACE_FILE_HEADER_BYTES];
    vt_trace_file_header_encode(header);
    struct iovec part = {header, sizeof header};
    if (!write_fully(&part, 1)) {
        stop_tracing_after_write_error();
        return false;
    }
    column_capacity = TRACE_CHUNK_BYTES + TRACE_CHUNK_BYTES / 2 + 512; /* vt_trace_columns_encode's bound */
    column_buffer = malloc(column_capacity);
    if (!column_buffer) {
        int error = errno;
        shim_log("cannot write the trace to %s: %s; tracing is off", settings.path, strerror(error));
        remember_write_error(error);
        __atomic_store_n(&enabled, false, __ATOMIC_RELEASE);
        return false;
    }
    compressor = ZSTD_createCCtx();
    compressed_capacity = ZSTD_compressBound(column_capacity);
    compressed_buffer = malloc(compressed_capacity);
    if (!compressed_buffer && compressor) {
        ZSTD_freeCCtx(compressor);
        compressor = NULL;
    }
    return true;
}

/* The live dump, on this thread. The chunks are written first (its marker then finds one), and
 * hooks keep waiting while it runs (it takes seconds when it symbolizes), except while it waits for
 * the recorder's lock (trace_writer_recorder_lock_wanted). */
static void run_dump_handler(bool file_open)
{
    if (file_open)
        flush_events();
    pthread_mutex_lock(&chunk_lock);
    writer_in_handler = true;
    pthread_mutex_unlock(&chunk_lock);
    dump_handler(__atomic_load_n(&dumps_requested, __ATOMIC_ACQUIRE));
    pthread_mutex_lock(&chunk_lock);
    writer_in_handler = false;
    pthread_mutex_unlock(&chunk_lock);
}

static void *writer_main(void *unused)
{
    (void)unused;
    static struct private_chunk own_records;
    vt_trace_deltas_start(&own_records.deltas, 0, VT_TRACE_FORMAT_VERSION);
    bool file_open = trace_writer_enabled() && open_trace_file();
    if (file_open) {
        write_process_record(&own_records);
        write_new_modules(&own_records);
    }
    for (;;) {
        struct pollfd wait = {.fd = wake_fd, .events = POLLIN};
        poll(&wait, 1, (int)settings.flush_interval_ms);
        uint64_t drained;
        if (wait.revents & POLLIN) {
            ssize_t ignored = read(wake_fd, &drained, sizeof drained);
            (void)ignored;
        }
        unsigned requests = __atomic_exchange_n(&pending_requests, 0, __ATOMIC_ACQ_REL);
        if ((requests & REQUEST_DUMP) && dump_handler)
            run_dump_handler(file_open);
        uint64_t round = __atomic_add_fetch(&rounds_begun, 1, __ATOMIC_ACQ_REL);
        if (file_open) {
            write_new_modules(&own_records);
            flush_events();
        }
        pthread_mutex_lock(&flush_wait_lock);
        rounds_done = round;
        pthread_cond_broadcast(&flush_wait_signal);
        pthread_mutex_unlock(&flush_wait_lock);
        if (requests & REQUEST_EXIT)
            break;
    }
    if (trace_fd >= 0 && close(trace_fd) != 0 && errno != EINTR)
        remember_write_error(errno);
    trace_fd = -1;
    return NULL;
}

static void start_writer(void)
{
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd < 0) {
        shim_log("internal error: cannot create the trace writer's wake-up descriptor (%s); no trace is written",
                 strerror(errno));
        __atomic_store_n(&enabled, false, __ATOMIC_RELEASE);
        return;
    }
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    int failed = pthread_create(&writer_thread, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (failed) {
        shim_log("internal error: cannot start the trace writer thread (%s); no trace is written and no live "
                 "dump can be made", strerror(failed));
        __atomic_store_n(&enabled, false, __ATOMIC_RELEASE);
        return;
    }
    __atomic_store_n(&writer_running, true, __ATOMIC_RELEASE);
}

bool trace_writer_started;

void trace_writer_start(void)
{
    /* The thread also serves live dumps, so it runs when there is no trace file too. */
    if ((trace_writer_enabled() || dump_handler) && !forked_child) {
        pthread_once(&start_once, start_writer);
        __atomic_store_n(&trace_writer_started, true, __ATOMIC_RELEASE);
    }
}

void trace_writer_request_flush(void)
{
    wake_writer(REQUEST_FLUSH);
}

static void init_flush_wait(void)
{
    monotonic_condition_init(&flush_wait_signal);
}

bool trace_writer_flush_and_wait(unsigned timeout_ms)
{
    pthread_once(&flush_wait_once, init_flush_wait);
    if (!trace_writer_enabled() || forked_child || !__atomic_load_n(&writer_running, __ATOMIC_ACQUIRE) ||
        pthread_equal(pthread_self(), writer_thread))
        return false;
    /* Every round numbered after this read takes the chunks after the caller's records were
     * appended (the writer numbers a round before it takes them), so round `begun + 1` holds them. */
    uint64_t wanted = __atomic_load_n(&rounds_begun, __ATOMIC_ACQUIRE) + 1;
    wake_writer(REQUEST_FLUSH);
    struct timespec deadline = deadline_on(CLOCK_MONOTONIC, timeout_ms);
    bool done = true;
    pthread_mutex_lock(&flush_wait_lock);
    while (rounds_done < wanted)
        if (pthread_cond_timedwait(&flush_wait_signal, &flush_wait_lock, &deadline) == ETIMEDOUT) {
            done = rounds_done >= wanted;
            break;
        }
    pthread_mutex_unlock(&flush_wait_lock);
    return done;
}

void trace_writer_set_dump_handler(void (*dump)(unsigned dump_number))
{
    dump_handler = dump;
}

void trace_writer_request_dump(void)
{
    __atomic_add_fetch(&dumps_requested, 1, __ATOMIC_ACQ_REL);
    wake_writer(REQUEST_DUMP);
}

/* At exit, the writer not joined: what it was given but did not write is lost too. */
static void count_unwritten_records(void)
{
    struct timespec deadline = deadline_on(CLOCK_REALTIME, 1000);
    if (pthread_mutex_timedlock(&chunk_lock, &deadline) != 0)
        return;
    uint64_t unwritten = records_queued + (current_chunk ? current_chunk->record_count : 0);
    __atomic_add_fetch(&events_dropped, unwritten, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&chunk_lock);
}

/* Joins the writer: waits while it writes, at most TRACE_EXIT_WAIT_SECONDS in all, and gives up
 * once it wrote nothing for TRACE_STALL_BUDGET_MS (at once when it is still where the END record
 * found it stalled). */
static bool join_writer(void)
{
    struct timespec limit = deadline_on(CLOCK_REALTIME, TRACE_EXIT_WAIT_SECONDS * 1000);
    uint64_t progress = __atomic_load_n(&stalled_at, __ATOMIC_ACQUIRE);
    for (;;) {
        uint64_t written = __atomic_load_n(&chunks_written, __ATOMIC_ACQUIRE);
        struct timespec deadline = deadline_on(CLOCK_REALTIME, TRACE_STALL_BUDGET_MS);
        if (written == progress || deadline_on(CLOCK_REALTIME, 0).tv_sec >= limit.tv_sec)
            return false;
        progress = written;
        if (deadline.tv_sec > limit.tv_sec)
            deadline = limit;
        if (pthread_timedjoin_np(writer_thread, NULL, &deadline) == 0)
            return true;
    }
}

void trace_writer_finish(void)
{
    if (!__atomic_load_n(&writer_running, __ATOMIC_ACQUIRE) || forked_child)
        return;
    struct timespec now, lock_deadline = deadline_on(CLOCK_REALTIME, 2000);
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* The END record only if the chunks are free (not held by this thread, interrupted by a signal
     * handler that called exit): a trace without it just reads as cut short. It waits for a chunk
     * like any event (the exit path holds no lock the writer needs), and gives a writer found
     * stalled one more budget: an output read again late still gets the DROPPED and END records. */
    if (pthread_mutex_timedlock(&chunk_lock, &lock_deadline) == 0) {
        __atomic_store_n(&stalled_at, UINT64_MAX, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&chunk_lock);
        struct vt_trace_record end = {.type = VT_RECORD_END};
        end.end.timestamp_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec - settings.start_monotonic_ns;
        appending_end = true; /* it (and the DROPPED count before it) may wait while a dump waits */
        trace_writer_append(&end);
        appending_end = false;
        pthread_mutex_lock(&chunk_lock);
        finishing = true; /* from here on, nothing waits for the writer */
        pthread_cond_broadcast(&chunk_freed);
        pthread_mutex_unlock(&chunk_lock);
    } else {
        __atomic_store_n(&finishing, true, __ATOMIC_RELEASE);
    }
    wake_writer(REQUEST_EXIT);
    if (!join_writer()) {
        shim_log("the trace writer did not finish (it wrote nothing for %d ms, or ran %d s); %s lacks its last events",
                 TRACE_STALL_BUDGET_MS, TRACE_EXIT_WAIT_SECONDS, settings.path);
        count_unwritten_records();
    }
    __atomic_store_n(&writer_running, false, __ATOMIC_RELEASE);
}

void trace_writer_after_fork_in_child(void)
{
    forked_child = true;
    __atomic_store_n(&enabled, false, __ATOMIC_RELEASE);
    pthread_mutex_init(&chunk_lock, NULL);
    pthread_mutex_init(&flush_wait_lock, NULL);
    monotonic_condition_init(&chunk_freed); /* a parent's thread may have been waiting on it */
    /* The chunks may have been changing at the fork: forget them, free nothing. */
    current_chunk = full_head = full_tail = spare_chunks = NULL;
    /* The child's copies of the parent's descriptors: closing them leaves the parent's alone, and
     * a dump signal sent to the child no longer wakes the parent's writer. */
    if (trace_fd >= 0)
        close(trace_fd);
    trace_fd = -1;
    if (wake_fd >= 0)
        close(wake_fd);
    wake_fd = -1;
    __atomic_store_n(&writer_running, false, __ATOMIC_RELEASE);
}
