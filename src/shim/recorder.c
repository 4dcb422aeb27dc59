/* shim/recorder.c — the recorder's state and its one lock (see recorder.h): what each hook's event
 * does to the accounting (common/memory_accounting.h, the same as the CLI's replay), the trace
 * records it writes, the stacks and Python code objects it interns, and the out-of-memory events. */
#define _GNU_SOURCE
#include "shim/recorder.h"

#include "shim/event_clock.h"
#include "shim/python_codes.h"
#include "shim/python_injection.h"
#include "shim/shim_lock.h"
#include "shim/stack_table.h"
#include "shim/thread_names.h"
#include "shim/trace_writer.h"
#include "vramtrace/frames.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct shim_lock recorder_lock;
static struct vt_accounting accounting = {.track_live = true}; /* live tables, usage, counts */
static struct oom_event first_oom, last_oom;
static struct recorder_settings settings;
static uint64_t start_ns;
static struct event_clock event_clock; /* read under the lock: event times follow the trace's order */
static uint32_t stacks_in_trace; /* stacks already written to the trace (ids 1..stacks_in_trace) */
static uint32_t codes_in_trace;  /* Python code objects already written (ids 1..codes_in_trace) */
bool recorder_enabled;
uint64_t recorder_limit_bytes;
static uint64_t limit_reserved[RECORDER_SLOT_COUNT]; /* under the lock: bytes reserved by calls in flight */
bool recorder_contexts_created;
/* Under the lock: the live contexts created with cuCtxCreate; context number n (alloc_record.context)
 * is created_contexts[n - 1]; a handle of 0 is a free entry. */
static struct created_context {
    uint64_t handle; /* the CUcontext */
    int device;
} created_contexts[RECORDER_CREATED_CONTEXTS];

static __thread uint32_t cached_thread_id __attribute__((tls_model("initial-exec")));

uint64_t recorder_now_ns(void)
{
    return event_clock_monotonic_ns();
}

uint32_t recorder_thread_id(void)
{
    if (!cached_thread_id) { /* the thread's first event: note its name too, once */
        cached_thread_id = (uint32_t)syscall(SYS_gettid);
        thread_names_note(cached_thread_id);
    }
    return cached_thread_id;
}

/* --- the trace: every change to the tables becomes a record, in the order of the changes -------- */

/* Under the lock: CODE records for Python code objects interned since the last event. */
static bool trace_new_codes(void)
{
    while (codes_in_trace < python_code_count()) {
        const struct python_code *code = python_code_get(codes_in_trace + 1);
        struct vt_trace_record record = {.type = VT_RECORD_CODE};
        record.code.id = codes_in_trace + 1;
        record.code.file_name = (struct vt_trace_text){code->file_name, (uint32_t)strlen(code->file_name)};
        record.code.function_name = (struct vt_trace_text){code->function_name, (uint32_t)strlen(code->function_name)};
        record.code.first_line = code->first_line;
        record.code.line_table_format = code->line_table_format;
        record.code.line_table = code->line_table;
        record.code.line_table_bytes = code->line_table_bytes;
        if (!trace_writer_append(&record))
            return false;
        codes_in_trace++;
    }
    return true;
}

/* Under the lock: STACK records for stacks interned since the last event (a stack whose record
 * could not be written is tried again at the next event), after the code objects they name. */
static bool trace_new_stacks(void)
{
    if (!trace_new_codes())
        return false;
    while (stacks_in_trace < stack_count()) {
        unsigned depth = 0;
        const uintptr_t *frames = stack_frames(stacks_in_trace + 1, &depth);
        struct vt_trace_record stack = {.type = VT_RECORD_STACK};
        stack.stack.id = stacks_in_trace + 1;
        stack.stack.depth = depth;
        stack.stack.frames = (uint64_t *)frames;
        if (!trace_writer_append(&stack))
            return false; /* dropped: written again before the next event */
        stacks_in_trace++;
    }
    return true;
}

/* Under the lock: one event record for `record` (an ALLOC, FREE or MAP of it; `flags` a FREE's). */
static __attribute__((noinline)) void write_trace_event(enum vt_trace_record_type type,
                                                        const struct alloc_record *record, uint64_t stream,
                                                        unsigned flags)
{
    if (!trace_new_stacks())
        return; /* an event whose stack is not in the trace is not written either */
    struct vt_trace_record event = {.type = type};
    event.event = (struct vt_trace_event){
        .timestamp_ns = record->timestamp_ns - start_ns,
        .address = record->address,
        .size_bytes = record->size_bytes,
        .stream = stream,
        .handle = record->backing_handle,
        .stack_id = record->stack_id,
        .thread_index = trace_writer_thread_index(),
        .device = record->device,
        .api = record->api,
        .kind = record->kind,
        .flags = (uint8_t)flags,
    };
    trace_writer_append(&event);
}

/* (Without a trace, one call and a test: the record is built out of line.) */
static inline void trace_event(enum vt_trace_record_type type, const struct alloc_record *record, uint64_t stream)
{
    if (trace_writer_enabled())
        write_trace_event(type, record, stream, 0);
}

/* Set under the lock when the exit report begins (recorder_stop_within): from then on no event is
 * recorded, so that the accounting the report reads and the trace, which ends with it, hold the
 * same events (a hook already past its enabled check, in its real CUDA call, would otherwise record
 * into the accounting after the trace's END). */
static bool recording_stopped;

/* Takes the recorder's lock for an event: false, the lock not held, once recording stopped. */
static inline __attribute__((always_inline)) bool take_lock_for_event(void)
{
    shim_lock_take(&recorder_lock);
    if (__builtin_expect(!recording_stopped, 1))
        return true;
    shim_lock_give(&recorder_lock);
    return false;
}

/* For the readers of the tables and the work outside the hooks: a live dump reads them on the trace
 * writer's thread, and a hook holding this lock may be waiting for that writer; the writer has it
 * stop waiting while it waits for the lock (nothing to do on any other thread). */
static void take_as_reader(void)
{
    bool told = trace_writer_recorder_lock_wanted(true);
    shim_lock_take(&recorder_lock);
    if (told)
        trace_writer_recorder_lock_wanted(false);
}

/* --- records from outside the hooks (PyTorch's snapshots, shim/torch_snapshot.c) ------------------ */

void recorder_run_locked(void (*work)(void *context), void *context)
{
    take_as_reader();
    work(context);
    shim_lock_give(&recorder_lock);
}

uint64_t recorder_append_records(struct vt_trace_record *records, size_t count, uint64_t *timestamp_ns)
{
    shim_lock_take(&recorder_lock);
    uint64_t now_ns = event_clock_now_ns(&event_clock) - start_ns;
    if (timestamp_ns)
        *timestamp_ns = now_ns;
    size_t appended = 0;
    if (trace_writer_enabled() && trace_new_stacks())
        while (appended < count && trace_writer_append(&records[appended]))
            appended++;
    shim_lock_give(&recorder_lock);
    return now_ns;
}

/* CPython is freeing a code object (called from its deallocation, with the GIL held). */
static void forget_python_code(uintptr_t code)
{
    shim_lock_take(&recorder_lock);
    python_codes_forget(code);
    shim_lock_give(&recorder_lock);
}

void recorder_init(const struct recorder_settings *new_settings)
{
    settings = *new_settings;
    recorder_limit_bytes = settings.limit_bytes;
    python_frames_init(settings.python_depth, settings.quiet, forget_python_code);
    start_ns = recorder_now_ns();
    event_clock = (struct event_clock){.last_ns = start_ns};
    __atomic_store_n(&recorder_enabled, true, __ATOMIC_RELEASE);
}

unsigned recorder_stack_depth(void)
{
    return settings.stack_depth;
}

void recorder_disable(void)
{
    __atomic_store_n(&recorder_enabled, false, __ATOMIC_RELEASE);
}

void recorder_capture_stack(struct event_stack *stack)
{
    stack_capture(&stack->native, settings.stack_depth);
    python_frames_capture(&stack->python);
}

/* Under the lock: the id of the event's stack, native and Python frames merged. */
static __attribute__((noinline)) uint32_t intern_merged_stack(const struct event_stack *stack)
{
    uintptr_t merged[VT_TRACE_MAX_FRAMES];
    unsigned depth = python_frames_merge(stack->native.frames, stack->native.depth, &stack->python,
                                         python_code_intern, merged, VT_TRACE_MAX_FRAMES);
    return stack_intern(merged, depth);
}

/* (Without Python frames, no merge buffer on the stack: the merge is out of line.) */
static inline uint32_t intern_event_stack(const struct event_stack *stack)
{
    if (stack->python.depth == 0)
        return stack_intern(stack->native.frames, stack->native.depth);
    return intern_merged_stack(stack);
}

/* --- the simulated limit (recorder.h) ------------------------------------------------------------ */

/* Under the lock. */
static void drop_reservation(int device, uint64_t bytes)
{
    uint64_t *reserved = &limit_reserved[vt_slot_of_device(device)];
    *reserved -= bytes < *reserved ? bytes : *reserved;
}

bool recorder_limit_reserve(int device, uint64_t size_bytes, uint64_t *in_use_bytes)
{
    int slot = vt_slot_of_device(device);
    shim_lock_take(&recorder_lock);
    uint64_t used = accounting.usage[slot].in_use.current_bytes + limit_reserved[slot];
    bool fits = used <= recorder_limit_bytes && size_bytes <= recorder_limit_bytes - used;
    if (fits)
        limit_reserved[slot] += size_bytes;
    shim_lock_give(&recorder_lock);
    *in_use_bytes = used;
    return fits;
}

void recorder_limit_release(int device, uint64_t size_bytes)
{
    shim_lock_take(&recorder_lock);
    drop_reservation(device, size_bytes);
    shim_lock_give(&recorder_lock);
}

/* --- contexts created with cuCtxCreate (recorder.h) ------------------------------------------------ */

/* Under the lock: the number of the created context `handle` (alloc_record.context), 0 when it is
 * none (a primary context, no context, or one created when the table was full). */
static unsigned created_context_number(uint64_t handle)
{
    if (!handle)
        return 0;
    for (unsigned i = 0; i < RECORDER_CREATED_CONTEXTS; i++)
        if (created_contexts[i].handle == handle)
            return i + 1;
    return 0;
}

void recorder_record_context_created(uint64_t handle, int device)
{
    if (!handle)
        return;
    shim_lock_take(&recorder_lock);
    if (!created_context_number(handle)) {
        for (unsigned i = 0; i < RECORDER_CREATED_CONTEXTS; i++) {
            if (created_contexts[i].handle == 0) {
                created_contexts[i] = (struct created_context){handle, device};
                break;
            }
        }
    }
    __atomic_store_n(&recorder_contexts_created, true, __ATOMIC_RELEASE);
    shim_lock_give(&recorder_lock);
}

/* record_alloc's work. `watching` (a constant at each use) adds what the PyTorch trigger needs:
 * whether the event's stack is new, and, when it is, its frames shown to the trigger once the
 * lock is given back (python_injection.h). */
static inline __attribute__((always_inline)) void record_alloc_as(bool watching, enum vt_api api,
                                                                 enum vt_memory_kind kind, int device,
                                                                 uint64_t address, uint64_t size_bytes,
                                                                 uint64_t stream, const struct event_stack *stack,
                                                                 const uintptr_t *frames, unsigned depth,
                                                                 const struct recorder_alloc_extra *extra)
{
    trace_writer_ensure_started();
    struct alloc_record record = {
        .address = address,
        .size_bytes = size_bytes,
        .thread_id = recorder_thread_id(),
        .device = (int16_t)device,
        .kind = (uint8_t)kind,
        .api = (uint16_t)api,
    };
    if (!take_lock_for_event())
        return;
    record.timestamp_ns = event_clock_now_ns(&event_clock);
    size_t stacks_before = watching ? stack_count() : 0;
    record.stack_id = stack ? intern_event_stack(stack) : stack_intern(frames, depth);
    bool new_stack = watching && record.stack_id > stacks_before;
    /* the call, the zero-byte rule, the live record (a stale one at its key retired), the counters */
    if (extra) { /* (a constant: NULL but in recorder_record_alloc_with) */
        drop_reservation(extra->reserved_device, extra->reserved_bytes);
        record.context = created_context_number(extra->context);
    }
    vt_accounting_allocation(&accounting, &record, 0, VT_FROM_HOOKS);
    trace_event(VT_RECORD_ALLOC, &record, stream);
    shim_lock_give(&recorder_lock);
    if (new_stack)
        python_injection_check_stack(stack ? stack->native.frames : frames, stack ? stack->native.depth : depth);
}

static __attribute__((noinline)) void record_alloc_watching(enum vt_api api, enum vt_memory_kind kind, int device,
                                                            uint64_t address, uint64_t size_bytes, uint64_t stream,
                                                            const struct event_stack *stack, const uintptr_t *frames,
                                                            unsigned depth)
{
    record_alloc_as(true, api, kind, device, address, size_bytes, stream, stack, frames, depth, NULL);
}

/* (Once the PyTorch trigger has fired, or where it is not armed, it costs a load and a test.) */
static inline __attribute__((always_inline)) void record_alloc(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                                uint64_t size_bytes, uint64_t stream, const struct event_stack *stack,
                                const uintptr_t *frames, unsigned depth)
{
    if (__builtin_expect(python_injection_is_watching(), 0))
        record_alloc_watching(api, kind, device, address, size_bytes, stream, stack, frames, depth);
    else
        record_alloc_as(false, api, kind, device, address, size_bytes, stream, stack, frames, depth, NULL);
}

void recorder_record_alloc(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                           uint64_t size_bytes, uint64_t stream)
{
    struct event_stack stack;
    recorder_capture_stack(&stack);
    record_alloc(api, kind, device, address, size_bytes, stream, &stack, NULL, 0);
}

void recorder_record_alloc_with(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                                uint64_t size_bytes, uint64_t stream, const struct recorder_alloc_extra *extra)
{
    struct event_stack stack;
    recorder_capture_stack(&stack);
    if (python_injection_is_watching())
        record_alloc_as(true, api, kind, device, address, size_bytes, stream, &stack, NULL, 0, extra);
    else
        record_alloc_as(false, api, kind, device, address, size_bytes, stream, &stack, NULL, 0, extra);
}

void recorder_record_alloc_with_stack(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                                      uint64_t size_bytes, uint64_t stream, const uintptr_t *frames,
                                      unsigned depth)
{
    record_alloc(api, kind, device, address, size_bytes, stream, NULL, frames, depth);
}

void recorder_record_mapping(uint64_t address, uint64_t size_bytes, uint64_t handle)
{
    trace_writer_ensure_started();
    struct alloc_record record = {
        .address = address,
        .size_bytes = size_bytes,
        .thread_id = recorder_thread_id(),
        .device = 0,
        .kind = VT_KIND_MAPPED_RANGE,
        .api = VT_API_cuMemMap,
        .backing_handle = handle,
    };
    if (!take_lock_for_event())
        return;
    record.timestamp_ns = event_clock_now_ns(&event_clock);
    const struct alloc_record *physical = alloc_table_find(&accounting.live[VT_SPACE_PHYSICAL_HANDLES], handle);
    if (physical) {
        record.device = physical->device;
        record.stack_id = physical->stack_id;
    }
    vt_accounting_map(&accounting, &record, 0, VT_FROM_HOOKS);
    trace_event(VT_RECORD_MAP, &record, 0);
    shim_lock_give(&recorder_lock);
}

void recorder_record_free(enum vt_api api, uint64_t address, uint64_t stream)
{
    trace_writer_ensure_started();
    struct alloc_record removed;
    if (!take_lock_for_event())
        return;
    uint64_t now_ns = event_clock_now_ns(&event_clock);
    if (vt_accounting_free(&accounting, api, address, &removed, VT_FROM_HOOKS)) {
        removed.api = (uint16_t)api;
        removed.timestamp_ns = now_ns;
        trace_event(VT_RECORD_FREE, &removed, stream);
    } else {
        struct alloc_record unknown = {.address = address, .timestamp_ns = now_ns, .api = (uint16_t)api};
        trace_event(VT_RECORD_FREE_UNKNOWN, &unknown, stream);
    }
    shim_lock_give(&recorder_lock);
}

/* Under the lock: the FREE record of `removed` by the call `call` (its API and time). */
static void trace_free_by(const struct alloc_record *call, const struct alloc_record *removed, unsigned flags)
{
    if (!trace_writer_enabled())
        return;
    struct alloc_record freed = *removed;
    freed.api = call->api;
    freed.timestamp_ns = call->timestamp_ns;
    write_trace_event(VT_RECORD_FREE, &freed, 0, flags);
}

/* Under the lock: the FREE_UNKNOWN record of the call `call` at its address. */
static void trace_unknown_free(const struct alloc_record *call)
{
    trace_event(VT_RECORD_FREE_UNKNOWN, call, 0);
}

void recorder_record_release(uint64_t handle)
{
    trace_writer_ensure_started();
    if (!take_lock_for_event())
        return;
    struct alloc_record call = {.address = handle, .timestamp_ns = event_clock_now_ns(&event_clock),
                                .api = VT_API_cuMemRelease};
    struct alloc_record released;
    unsigned flags;
    if (vt_accounting_release(&accounting, handle, &released, &flags))
        trace_free_by(&call, &released, flags);
    else
        trace_unknown_free(&call);
    shim_lock_give(&recorder_lock);
}

/* Under the lock (vt_accounting_unmap's `removed`): the FREE record of a mapping, reservation or
 * physical memory an unmap or address free removed. */
static void trace_unmapped(const struct alloc_record *removed, unsigned flags, void *context)
{
    trace_free_by(context, removed, flags);
}

void recorder_record_unmap(enum vt_api api, uint64_t address, uint64_t size_bytes)
{
    trace_writer_ensure_started();
    if (!take_lock_for_event())
        return;
    struct alloc_record call = {.address = address, .timestamp_ns = event_clock_now_ns(&event_clock),
                                .api = (uint16_t)api};
    if (!vt_accounting_unmap(&accounting, api, address, size_bytes, trace_unmapped, &call))
        trace_unknown_free(&call);
    shim_lock_give(&recorder_lock);
}

/* Under the lock: the FREE record of an allocation a reset freed. */
static void trace_reset_free(const struct alloc_record *freed, void *context)
{
    trace_free_by(context, freed, 0);
}

/* Under the lock: a reset through `api` of `device`'s primary context (`context` 0) or of the
 * created context numbered `context` (vt_accounting_reset): the call's record, then a FREE record
 * per allocation freed. */
static void record_reset(enum vt_api api, int device, unsigned context)
{
    struct alloc_record call = {.timestamp_ns = event_clock_now_ns(&event_clock), .device = (int16_t)device,
                                .api = (uint16_t)api};
    trace_unknown_free(&call); /* the call itself (vt_api_is_reset) */
    vt_accounting_reset(&accounting, api, device, context, trace_reset_free, &call);
}

void recorder_record_device_reset(enum vt_api api, int device)
{
    trace_writer_ensure_started();
    if (!take_lock_for_event())
        return;
    record_reset(api, device, 0);
    shim_lock_give(&recorder_lock);
}

void recorder_record_context_destroy(enum vt_api api, uint64_t handle)
{
    trace_writer_ensure_started();
    if (!take_lock_for_event())
        return;
    unsigned number = created_context_number(handle);
    if (number) {
        record_reset(api, created_contexts[number - 1].device, number);
        created_contexts[number - 1] = (struct created_context){0, 0}; /* its records are gone with it */
    } else { /* a primary context, or one the hooks did not see created: the call, nothing freed */
        struct alloc_record call = {.timestamp_ns = event_clock_now_ns(&event_clock),
                                    .device = RECORDER_DEVICE_HOST, .api = (uint16_t)api};
        trace_unknown_free(&call);
        vt_accounting_count_call(&accounting, api, VT_FROM_HOOKS);
    }
    shim_lock_give(&recorder_lock);
}

bool recorder_record_out_of_memory(const struct oom_event *event, const struct event_stack *stack)
{
    trace_writer_ensure_started();
    struct oom_event stored = *event;
    stored.thread_id = recorder_thread_id();
    if (!take_lock_for_event())
        return false;
    stored.timestamp_ns = event_clock_now_ns(&event_clock);
    stored.stack_id = intern_event_stack(stack);
    bool first = vt_accounting_out_of_memory(&accounting, stored.api, 0);
    if (first)
        first_oom = stored;
    last_oom = stored;
    if (trace_writer_enabled() && trace_new_stacks()) {
        struct vt_trace_record failure = {.type = VT_RECORD_OOM};
        failure.event = (struct vt_trace_event){
            .timestamp_ns = stored.timestamp_ns - start_ns,
            .size_bytes = stored.size_bytes,
            .device_free_bytes = stored.device_free_bytes,
            .device_total_bytes = stored.device_total_bytes,
            .stack_id = stored.stack_id,
            .thread_index = trace_writer_thread_index(),
            .device = stored.device,
            .api = stored.api,
            .kind = stored.kind,
        };
        trace_writer_append(&failure);
    }
    shim_lock_give(&recorder_lock);
    return first;
}

void recorder_visit_live(void (*visit)(const struct alloc_record *record, void *context), void *context)
{
    take_as_reader();
    for (int space = 0; space < VT_SPACE_COUNT; space++)
        alloc_table_for_each(&accounting.live[space], visit, context);
    shim_lock_give(&recorder_lock);
}

void recorder_read_usage(struct vt_slot_usage usage[RECORDER_SLOT_COUNT])
{
    take_as_reader();
    memcpy(usage, accounting.usage, sizeof accounting.usage);
    shim_lock_give(&recorder_lock);
}

void recorder_read_stats(struct recorder_stats *out)
{
    take_as_reader();
    out->events = accounting.stats;
    out->stack_count = stack_count();
    shim_lock_give(&recorder_lock);
}

void recorder_read_oom(struct oom_state *out)
{
    take_as_reader();
    *out = (struct oom_state){accounting.oom.failures, accounting.oom.allocations_after_last_failure, first_oom,
                             last_oom};
    shim_lock_give(&recorder_lock);
}

bool recorder_stop_within(unsigned timeout_ms)
{
    if (!shim_lock_take_within(&recorder_lock, timeout_ms))
        return false;
    recording_stopped = true;
    shim_lock_give(&recorder_lock);
    return true;
}

uint64_t recorder_start_ns(void)
{
    return start_ns;
}

static void clear_counters(void)
{
    memset(limit_reserved, 0, sizeof limit_reserved);
    memset(created_contexts, 0, sizeof created_contexts);
    __atomic_store_n(&recorder_contexts_created, false, __ATOMIC_RELEASE);
    first_oom = last_oom = (struct oom_event){0};
    stacks_in_trace = 0;
    codes_in_trace = 0;
}

void recorder_after_fork_in_child(void)
{
    /* Another thread of the parent may have been changing the tables at the fork: forget them
     * without freeing anything (the child records nothing anyway). */
    recorder_lock = (struct shim_lock){0};
    recorder_disable();
    vt_accounting_start(&accounting, true);
    stack_table_forget();
    python_codes_forget_all();
    clear_counters();
}

void recorder_reset(const struct recorder_settings *new_settings)
{
    shim_lock_take(&recorder_lock);
    vt_accounting_clear(&accounting);
    stack_table_reset();
    python_codes_reset();
    clear_counters();
    shim_lock_give(&recorder_lock);
    recorder_init(new_settings);
}
