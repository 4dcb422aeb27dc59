/* shim/recorder.h — what the hooks tell and the reports read: the live-allocation tables, the
 * per-device / per-kind current and peak bytes, event counts, out-of-memory state, and stacks.
 * What counts, and how, is common/memory_accounting.h's (the CLI's replay applies the same rules
 * to the trace); the recorder holds one accounting under its lock, with the stacks and the trace.
 *
 * Hooks call recorder_record_*() after a successful allocation and before the real free. Stack
 * capture happens outside the recorder's lock; the tables are updated under it, and each event's
 * time is read there too (shim/event_clock.h), so times follow the order of the events in the
 * tables and the trace. Nothing here calls into CUDA or does I/O.
 *
 * Live records are kept in four tables, by what their key is: pointers (device, managed and pinned
 * host memory share one address space), physical handles (cuMemCreate), reserved address ranges
 * (cuMemAddressReserve) and mapped ranges (cuMemMap). The API of a free says which table it is in.
 * Peak times (vt_usage_counter.peak_time_ns) are recorder_now_ns() readings; peak_event is 0.
 */
#ifndef VT_SHIM_RECORDER_H
#define VT_SHIM_RECORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/alloc_table.h"
#include "common/memory_accounting.h"
#include "common/trace_codec.h"
#include "shim/python_frames.h"
#include "shim/stack_table.h"
#include "vramtrace/events.h"

#define RECORDER_MAX_DEVICES VT_MAX_DEVICES
/* Usage slots (struct vt_slot_usage): slot 0 is the host (pinned memory), slot d + 1 is CUDA device d. */
#define RECORDER_SLOT_COUNT VT_SLOT_COUNT
#define RECORDER_DEVICE_HOST (-1)

struct recorder_stats {
    struct vt_accounting_stats events; /* calls, allocations, frees, ... (memory_accounting.h) */
    uint64_t stack_count;
};

/* One allocation that failed with out-of-memory. */
struct oom_event {
    uint64_t timestamp_ns;
    uint64_t size_bytes;
    uint64_t device_free_bytes, device_total_bytes; /* from cuMemGetInfo; both 0 when unknown */
    uint32_t stack_id;
    uint32_t thread_id;
    int16_t device;
    uint8_t kind;
    uint16_t api;
    uint64_t simulated_limit_bytes; /* > 0: refused by --limit (the free/total are then the limit's) */
};

struct oom_state {
    uint64_t failures;
    uint64_t allocations_after_last_failure; /* > 0: the program recovered (e.g. PyTorch freed its cache) */
    struct oom_event first, last;            /* valid when failures > 0 */
};

struct recorder_settings {
    unsigned stack_depth;  /* native frames per stack */
    unsigned python_depth; /* Python frames per stack (0: none) */
    bool quiet;            /* no message about an unsupported interpreter */
    uint64_t limit_bytes;  /* --limit: the simulated size of every device; 0 = none */
};

/* What a hook captures of its caller, outside the recorder's lock: native frames and Python
 * frames, merged into one stack under the lock (python_frames_merge). */
struct event_stack {
    struct captured_stack native;
    struct python_stack python;
};

/* Captures the calling thread's stack with the recorder's settings. */
void recorder_capture_stack(struct event_stack *stack);

void recorder_init(const struct recorder_settings *settings);
unsigned recorder_stack_depth(void);

/* Stops recording (after the exit report); later hooks pass straight through. */
void recorder_disable(void);
extern bool recorder_enabled __attribute__((visibility("hidden")));
static inline bool recorder_is_enabled(void) /* (inline: every hook asks) */
{
    return __atomic_load_n(&recorder_enabled, __ATOMIC_ACQUIRE);
}

/* --limit (docs/architecture.md, "Simulated limit"): each device's tracked physical use (its slot's
 * in_use: device and managed memory, cuMemCreate memory) plus the bytes reserved by allocations in
 * flight never goes above recorder_limit_bytes. An allocating hook reserves its request before the
 * real call (recorder_limit_reserve: checked and counted under the recorder's lock, so concurrent
 * threads cannot pass the limit together), then either records the allocation with the
 * reservation (recorder_record_alloc_with: the reservation becomes the accounting's, in one
 * step under the lock) or gives the reservation back (recorder_limit_release). Frees need nothing:
 * they lower in_use. 0 = no limit; set once at initialisation, before any hook records. */
extern uint64_t recorder_limit_bytes __attribute__((visibility("hidden")));
static inline bool recorder_limit_is_set(void) /* (inline: every allocating hook asks) */
{
    return __builtin_expect(recorder_limit_bytes != 0, 0);
}
/* Whether `device` is one whose use the limit bounds (a CUDA ordinal with a usage slot of its own). */
static inline bool recorder_limit_applies(int device)
{
    return device >= 0 && device < RECORDER_MAX_DEVICES;
}
/* Reserves `size_bytes` on `device` (recorder_limit_applies). False when in_use + reservations +
 * size_bytes would exceed the limit; *in_use_bytes then holds in_use + reservations. */
bool recorder_limit_reserve(int device, uint64_t size_bytes, uint64_t *in_use_bytes);
/* Gives back a reservation whose call allocated nothing. */
void recorder_limit_release(int device, uint64_t size_bytes);

/* Contexts created with cuCtxCreate (docs/architecture.md, "Device resets"): cuCtxDestroy of one
 * frees the memory it owns. Until the first is created (most programs: the runtime and PyTorch
 * use primary contexts only) the allocating hooks ask nothing more; from then on they ask the
 * driver for the current context at each allocation of a kind a context owns, and the recorder
 * notes it with the record (alloc_record.context: the context's number in a table of at most
 * RECORDER_CREATED_CONTEXTS live ones; a context created while that is full is not tracked and
 * its memory stays live in the accounting after its destruction, as before). */
#define RECORDER_CREATED_CONTEXTS 256
extern bool recorder_contexts_created __attribute__((visibility("hidden")));
static inline bool recorder_contexts_exist(void) /* (inline: every allocating hook asks) */
{
    return __builtin_expect(__atomic_load_n(&recorder_contexts_created, __ATOMIC_RELAXED), 0);
}
/* A successful cuCtxCreate of `handle` (a CUcontext) on `device`. */
void recorder_record_context_created(uint64_t handle, int device);
/* cuCtxDestroy of `handle` through `api`: for a context created through the hooks, a reset of it
 * (every live record it owns freed, one FREE record each, after the call's record); for any other
 * (a primary context) the call only. */
void recorder_record_context_destroy(enum vt_api api, uint64_t handle);

/* What an allocation brings on the rare path: a reservation under --limit (reserved_bytes 0: none)
 * and the current context when created contexts exist (0: none known). */
struct recorder_alloc_extra {
    int reserved_device;
    uint64_t reserved_bytes;
    uint64_t context; /* a CUcontext */
};
/* recorder_record_alloc with `extra`: the reservation of `reserved_bytes` on `reserved_device` is
 * dropped as the allocation is counted (on its own device, which for a pool allocation may differ
 * from the one reserved on), and the record is owned by `context` when that is a created one. */
void recorder_record_alloc_with(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                                uint64_t size_bytes, uint64_t stream, const struct recorder_alloc_extra *extra);

void recorder_record_alloc(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                           uint64_t size_bytes, uint64_t stream);
/* The same with a stack the caller captured (the unit tests pass made-up frames). */
void recorder_record_alloc_with_stack(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                                      uint64_t size_bytes, uint64_t stream, const uintptr_t *frames,
                                      unsigned depth);
/* cuMemMap: `handle` (a cuMemCreate handle) now backs [address, address + size_bytes). */
void recorder_record_mapping(uint64_t address, uint64_t size_bytes, uint64_t handle);
/* A free of `address` (or handle) through `api`; unknown ones are counted, never fatal. */
void recorder_record_free(enum vt_api api, uint64_t address, uint64_t stream);
/* cuMemRelease of `handle`: its memory is freed now, or with its last mapping (the accounting's
 * rule, common/memory_accounting.h "virtual memory"). */
void recorder_record_release(uint64_t handle);
/* cuMemUnmap or cuMemAddressFree (`api`) of [address, address + size_bytes): every mapping inside
 * is removed (and the reservation at `address`, for an address free), and the physical memory
 * whose last mapping went, when released; one FREE record each. */
void recorder_record_unmap(enum vt_api api, uint64_t address, uint64_t size_bytes);
/* A reset of `device` (cudaDeviceReset, cuDevicePrimaryCtxReset) through `api`: every live device
 * and managed allocation of that device's primary context (none a created context owns) is freed,
 * one FREE record each. */
void recorder_record_device_reset(enum vt_api api, int device);
/* Stores an out-of-memory failure (its timestamp_ns, stack_id and thread_id are filled in here).
 * Returns true for the first one of the process. */
bool recorder_record_out_of_memory(const struct oom_event *event, const struct event_stack *stack);

/* For code outside the hooks (shim/torch_snapshot.c): runs work(context) under the recorder's
 * lock, where stacks and code ids may be interned (stack_intern, python_code_add_named). */
void recorder_run_locked(void (*work)(void *context), void *context);
/* Under the lock: reads the time (since the trace started, from the event clock) into
 * *timestamp_ns — a field of one of `records`, or NULL — then writes the stacks and codes not yet
 * in the trace, then `records` in order. Returns that time. */
uint64_t recorder_append_records(struct vt_trace_record *records, size_t count, uint64_t *timestamp_ns);

/* Readers for the reports. They take the recorder's lock for their duration; `visit` must not
 * call back into the recorder. */
void recorder_visit_live(void (*visit)(const struct alloc_record *record, void *context), void *context);
void recorder_read_usage(struct vt_slot_usage usage[RECORDER_SLOT_COUNT]);
void recorder_read_stats(struct recorder_stats *stats);
void recorder_read_oom(struct oom_state *oom);
uint64_t recorder_start_ns(void);
uint64_t recorder_now_ns(void);
uint32_t recorder_thread_id(void);

/* At exit: waits up to timeout_ms for the recorder's lock to be free, then stops recording: the
 * events of hooks still running are left out of the accounting, as they are out of the trace that
 * ends with the exit report. False when the lock is not free in time (e.g. exit() was called from a
 * signal handler that interrupted a hook on this very thread): the exit report must then be
 * skipped rather than wait forever. */
bool recorder_stop_within(unsigned timeout_ms);

/* For a forked child: fresh lock, empty tables, recording off (see docs/architecture.md). */
void recorder_after_fork_in_child(void);

/* Drops everything and starts again with new settings (the unit tests use it). */
void recorder_reset(const struct recorder_settings *settings);

#endif
