/* common/memory_accounting.h — the one accounting of memory use, shared by the shim's recorder
 * (the exit report) and the CLI's replay of a trace (every analysis command), so that both count
 * the same things the same way. It owns:
 *   - what counts as memory use (device, pinned host and managed memory; address reservations and
 *     mapped ranges are placement, never use) and the zero-byte rule (a successful request that
 *     allocated nothing is a call, never an allocation or a live record);
 *   - the usage slots (slot 0 the host and any ordinal outside 0..VT_MAX_DEVICES - 1, slot d + 1
 *     device d) and, per slot and kind, the running bytes, live count and peak, with when the peak
 *     was first reached (a time and an opaque event number, both the caller's);
 *   - the live tables by key space (pointers, cuMemCreate handles, reservations, mappings: the API
 *     of an allocation or free says which) and their rules: an allocation at a key that is still
 *     live retires the stale record first (its free went by a path nobody saw); a free of a key
 *     that is not live is an unknown free; a reset frees what its context owns (a device reset
 *     the device's device and managed memory, a cuCtxDestroy the destroyed context's memory);
 *     cuMemCreate memory is freed once released and unmapped ("virtual memory" below);
 *     what cannot be stored (out of memory) is not counted either, so the counters are always the
 *     sum of the live records;
 *   - the call counts, allocation and free counts and the out-of-memory counters.
 *
 * The recorder applies each hook's event (under its lock: nothing here locks); the replay applies
 * each trace record. Times are the caller's (the recorder's are monotonic clock readings, the
 * replay's are since the trace's start); the event number is the replay's event index (the
 * recorder passes 0). The hot path (an allocation, a free) is inline: the recorder runs it on
 * every CUDA call. Its functions take where the event comes from, a constant at each call:
 * VT_FROM_HOOKS (the recorder: kinds and APIs are valid, the live tables always kept, so nothing
 * is tested) or VT_FROM_TRACE (the replay: kinds and APIs read from a file are checked, and the
 * live tables are used only when track_live). Without live tables (the replay's fast mode) frees
 * are applied with the record the caller passes in, and nothing is matched by key.
 */
#ifndef VT_COMMON_MEMORY_ACCOUNTING_H
#define VT_COMMON_MEMORY_ACCOUNTING_H

#include <stdbool.h>
#include <stdint.h>

#include "common/alloc_table.h"
#include "vramtrace/events.h"

#define VT_MAX_DEVICES 64
/* Usage slots: slot 0 is the host (pinned memory not tied to a device), slot d + 1 device d. */
#define VT_SLOT_COUNT (VT_MAX_DEVICES + 1)

/* Ordinals outside 0..VT_MAX_DEVICES - 1 (and -1, the host) fall in slot 0. */
static inline int vt_slot_of_device(int device)
{
    return device >= 0 && device < VT_MAX_DEVICES ? device + 1 : 0;
}

static inline int vt_device_of_slot(int slot)
{
    return slot - 1; /* -1: host */
}

/* Whether a kind counts as memory in use (device, host-pinned, managed): address space and mapped
 * ranges are placement, never use; an unknown kind is neither. */
static inline bool vt_kind_is_memory_use(unsigned kind)
{
    return kind == VT_KIND_DEVICE || kind == VT_KIND_HOST_PINNED || kind == VT_KIND_MANAGED;
}

/* Whether a successful allocation allocated nothing: a zero-byte request (cudaMalloc(ptr, 0)
 * succeeds with NULL) or a null result. It is a call (calls by API, zero_byte_requests when of
 * memory), never an allocation, a site, a live allocation or a leak. */
static inline bool vt_allocated_nothing(uint64_t address, uint64_t size_bytes)
{
    return address == 0 || size_bytes == 0;
}

/* Whether a successful allocation is an allocation of memory: counted in `allocations`, a site, a
 * recovery after an out-of-memory failure. */
static inline bool vt_allocated_memory(unsigned kind, uint64_t address, uint64_t size_bytes)
{
    return vt_kind_is_memory_use(kind) && !vt_allocated_nothing(address, size_bytes);
}

enum vt_key_space {
    VT_SPACE_POINTERS,         /* device, managed and pinned pointers: one address space */
    VT_SPACE_PHYSICAL_HANDLES, /* cuMemCreate / cuMemRelease */
    VT_SPACE_RESERVATIONS,     /* cuMemAddressReserve / cuMemAddressFree */
    VT_SPACE_MAPPINGS,         /* cuMemMap / cuMemUnmap */
    VT_SPACE_COUNT
};

static inline enum vt_key_space vt_key_space_of_api(unsigned api)
{
    switch (api) {
    case VT_API_cuMemCreate:
    case VT_API_cuMemRelease:
        return VT_SPACE_PHYSICAL_HANDLES;
    case VT_API_cuMemAddressReserve:
    case VT_API_cuMemAddressFree:
        return VT_SPACE_RESERVATIONS;
    case VT_API_cuMemMap:
    case VT_API_cuMemUnmap:
        return VT_SPACE_MAPPINGS;
    default:
        return VT_SPACE_POINTERS;
    }
}

/* The key space of a freed record: its API's, except that the VMM frees also remove what follows
 * from them (a cuMemUnmap or cuMemAddressFree frees mappings and physical memory, see "virtual
 * memory" below): there the freed record's kind says which table it was in. */
static inline enum vt_key_space vt_key_space_of_freed(unsigned api, unsigned kind)
{
    enum vt_key_space space = vt_key_space_of_api(api);
    if (space == VT_SPACE_POINTERS)
        return space;
    if (kind == VT_KIND_MAPPED_RANGE)
        return VT_SPACE_MAPPINGS;
    return kind == VT_KIND_ADDRESS_SPACE ? VT_SPACE_RESERVATIONS : VT_SPACE_PHYSICAL_HANDLES;
}

struct vt_usage_counter {
    uint64_t current_bytes;
    uint64_t live_count;
    uint64_t peak_bytes;
    uint64_t peak_time_ns; /* when peak_bytes was first reached (the caller's clock) */
    uint64_t peak_event;   /* the event that reached it (the replay's event index; the recorder's 0) */
};

struct vt_slot_usage {
    struct vt_usage_counter by_kind[VT_KIND_COUNT];
    struct vt_usage_counter in_use; /* the kinds that are memory use, together */
};

struct vt_accounting_stats {
    uint64_t calls_by_api[VT_API_COUNT];
    /* of memory (not of address space or mappings, which only count calls) */
    uint64_t allocations, frees, unknown_frees, failed_out_of_memory;
    uint64_t zero_byte_requests; /* successful requests that allocated nothing: calls, not allocations */
};

struct vt_accounting_oom {
    uint64_t failures;
    uint64_t allocations_after_last_failure; /* > 0: the program recovered (e.g. PyTorch freed its cache) */
    uint64_t first_event, last_event;        /* the failures' event numbers, valid when failures > 0 */
};

struct vt_accounting {
    struct vt_slot_usage usage[VT_SLOT_COUNT];
    struct vt_accounting_stats stats;
    struct vt_accounting_oom oom;
    /* alloc_record: address = the key; timestamp_ns, stack_id, thread_id, api, backing_handle are
     * the caller's and only kept */
    struct alloc_table live[VT_SPACE_COUNT];
    bool track_live;    /* live tables kept (the recorder always; the replay for live sets and exact frees) */
    bool out_of_memory; /* a live table could not grow: a record is missing (and not counted) */
};

enum vt_event_source {
    VT_FROM_HOOKS, /* the recorder: valid kinds and APIs, track_live always */
    VT_FROM_TRACE, /* the replay: any kind and API a file holds; live tables when track_live */
};

static inline bool vt_accounting_has_tables(const struct vt_accounting *accounting, enum vt_event_source source)
{
    return source == VT_FROM_HOOKS || accounting->track_live;
}

/* Empty counters and tables. Also after fork(): forgets the tables without freeing anything. */
void vt_accounting_start(struct vt_accounting *accounting, bool track_live);
/* Gives back the tables' memory and starts again (same track_live). */
void vt_accounting_clear(struct vt_accounting *accounting);

/* ---- counters (inline: the recorder's hot path) ---------------------------------------------- */

static inline void vt_usage_counter_add(struct vt_usage_counter *counter, uint64_t bytes, uint64_t time_ns,
                                        uint64_t event)
{
    counter->current_bytes += bytes;
    counter->live_count++;
    if (counter->current_bytes > counter->peak_bytes) {
        counter->peak_bytes = counter->current_bytes;
        counter->peak_time_ns = time_ns;
        counter->peak_event = event;
    }
}

static inline void vt_usage_counter_subtract(struct vt_usage_counter *counter, uint64_t bytes)
{
    counter->current_bytes -= bytes < counter->current_bytes ? bytes : counter->current_bytes;
    if (counter->live_count)
        counter->live_count--;
}

/* `record` became live at record->timestamp_ns (event `event`): its slot's counters grow. */
static inline void vt_accounting_add(struct vt_accounting *accounting, const struct alloc_record *record,
                                     uint64_t event, enum vt_event_source source)
{
    if (source == VT_FROM_TRACE && record->kind >= VT_KIND_COUNT)
        return;
    struct vt_slot_usage *usage = &accounting->usage[vt_slot_of_device(record->device)];
    vt_usage_counter_add(&usage->by_kind[record->kind], record->size_bytes, record->timestamp_ns, event);
    if (vt_kind_is_memory_use(record->kind))
        vt_usage_counter_add(&usage->in_use, record->size_bytes, record->timestamp_ns, event);
}

/* `record` is no longer live. */
static inline void vt_accounting_subtract(struct vt_accounting *accounting, const struct alloc_record *record,
                                          enum vt_event_source source)
{
    if (source == VT_FROM_TRACE && record->kind >= VT_KIND_COUNT)
        return;
    struct vt_slot_usage *usage = &accounting->usage[vt_slot_of_device(record->device)];
    vt_usage_counter_subtract(&usage->by_kind[record->kind], record->size_bytes);
    if (vt_kind_is_memory_use(record->kind))
        vt_usage_counter_subtract(&usage->in_use, record->size_bytes);
}

static inline void vt_accounting_count_call(struct vt_accounting *accounting, unsigned api,
                                            enum vt_event_source source)
{
    if (source == VT_FROM_HOOKS || api < VT_API_COUNT)
        accounting->stats.calls_by_api[api]++;
}

/* ---- events ---------------------------------------------------------------------------------- */

/* (The rare path of an insertion: a stale record at the key, or out of memory.) The rare paths
 * below are out of line and check what they are given, wherever it comes from. */
bool vt_accounting_replace_stale(struct vt_accounting *accounting, struct alloc_table *table,
                                 const struct alloc_record *record);

/* A successful allocation through record->api (an ALLOC; a cuMemMap goes through
 * vt_accounting_map): the call is counted; unless it allocated nothing, `record` becomes live under
 * its key (record->address) in the key space of its API, replacing a stale record there, and is
 * counted (returns true). (always_inline: as a call of its own, the recorder's calls cost more than
 * the work.) */
static inline __attribute__((always_inline)) bool vt_accounting_allocation(struct vt_accounting *accounting,
                                                                          const struct alloc_record *record,
                                                                          uint64_t event, enum vt_event_source source)
{
    vt_accounting_count_call(accounting, record->api, source);
    bool nothing = vt_allocated_nothing(record->address, record->size_bytes);
    if (vt_kind_is_memory_use(record->kind)) {
        if (nothing) {
            accounting->stats.zero_byte_requests++;
        } else {
            accounting->stats.allocations++;
            if (accounting->oom.failures)
                accounting->oom.allocations_after_last_failure++;
        }
    }
    if (nothing)
        return false;
    if (vt_accounting_has_tables(accounting, source)) {
        struct alloc_table *table = &accounting->live[vt_key_space_of_api(record->api)];
        if (__builtin_expect(!alloc_table_insert(table, record), 0) &&
            !vt_accounting_replace_stale(accounting, table, record))
            return false; /* not stored, so not counted */
    }
    vt_accounting_add(accounting, record, event, source);
    return true;
}

/* The live record at `key` in `space` is freed (the call is the caller's to count). Returns true
 * with it in *removed; false, counted as an unknown free, when nothing is live there. Without
 * live tables *removed must hold the freed record already (the trace's FREE carries it). */
static inline bool vt_accounting_remove(struct vt_accounting *accounting, enum vt_key_space space, uint64_t key,
                                        struct alloc_record *removed, enum vt_event_source source)
{
    if (vt_accounting_has_tables(accounting, source) && !alloc_table_remove(&accounting->live[space], key, removed)) {
        accounting->stats.unknown_frees++;
        return false;
    }
    vt_accounting_subtract(accounting, removed, source);
    if (vt_kind_is_memory_use(removed->kind))
        accounting->stats.frees++;
    return true;
}

/* A free of `key` through `api` (its call counted): vt_accounting_remove in the API's key space. */
static inline bool vt_accounting_free(struct vt_accounting *accounting, unsigned api, uint64_t key,
                                      struct alloc_record *removed, enum vt_event_source source)
{
    vt_accounting_count_call(accounting, api, source);
    return vt_accounting_remove(accounting, vt_key_space_of_api(api), key, removed, source);
}

/* A free the caller knows to be of nothing live (the trace's FREE_UNKNOWN): a call, an unknown free. */
void vt_accounting_unknown_free(struct vt_accounting *accounting, unsigned api);

/* A reset through `api` (vt_api_is_reset): one call; what the reset's context owned is freed,
 * oldest first, and shown to `removed` (may be NULL) after its removal. `context` 0: a device
 * reset (cudaDeviceReset, cuDevicePrimaryCtxReset) of `device`'s primary context, which owns every
 * device and managed allocation of that device that no created context owns (alloc_record.context
 * 0); else a cuCtxDestroy of the created context numbered `context`, which owns the records that
 * carry its number (any kind, any device). Without live tables nothing is known to free (the replay
 * applies the trace's FREE records instead). */
void vt_accounting_reset(struct vt_accounting *accounting, unsigned api, int device, unsigned context,
                         void (*removed)(const struct alloc_record *record, void *context), void *removed_context);

/* ---- virtual memory (cuMemCreate, cuMemMap, cuMemUnmap, cuMemRelease, cuMemAddressFree) ----------
 * CUDA's rules (docs/architecture.md, "Virtual memory", with the sources): physical memory from
 * cuMemCreate is in use from its creation until its handle is released *and* no mapping uses it
 * (cuMemRelease of a mapped handle frees nothing yet: the last cuMemUnmap does); one cuMemUnmap
 * removes every mapping inside its range; a cuMemAddressFree removes the reservation (CUDA refuses
 * it while a mapping is inside; should a driver not, those mappings go with it). A physical record keeps the count of its live mappings and whether it was
 * released (alloc_record.physical).
 *
 * The recorder decides with the functions below, which show each record they remove, with its
 * VT_FREE_* flags, to `removed` (the trace's FREE records). The replay follows those records with
 * vt_accounting_apply_free, so both reach the same figures without deciding twice. */

typedef void vt_accounting_removed_fn(const struct alloc_record *record, unsigned flags, void *context);

/* A successful cuMemMap (`record`: kind VT_KIND_MAPPED_RANGE, backing_handle the handle): as
 * vt_accounting_allocation, and the handle's physical record counts one more mapping. */
void vt_accounting_map(struct vt_accounting *accounting, const struct alloc_record *record, uint64_t event,
                       enum vt_event_source source);

/* cuMemRelease of `handle` (the recorder's; its call counted). Returns false, an unknown free, when
 * the handle is not live; else true with the physical record in *released and *flags 0 when it was
 * freed, VT_FREE_STILL_MAPPED when mappings keep it in use. */
bool vt_accounting_release(struct vt_accounting *accounting, uint64_t handle, struct alloc_record *released,
                           unsigned *flags);

/* cuMemUnmap(address, size) or cuMemAddressFree(address, size) through `api` (the recorder's; one
 * call): an address free first removes the reservation at `address` (flags 0; its own size bounds
 * the range); then every mapping that starts inside the range is removed, and after each, its
 * physical memory when that was released and this was its last mapping. The first record shown
 * has flags 0 (the call), the others VT_FREE_FOLLOWS. Returns false, an unknown free, when nothing
 * was removed. */
bool vt_accounting_unmap(struct vt_accounting *accounting, unsigned api, uint64_t address, uint64_t size,
                         vt_accounting_removed_fn *removed, void *context);

/* The replay's FREE record of `key` through `api` with its VT_FREE_* flags; *removed holds the
 * record's kind, device and size (and is the freed record on return, with live tables). A reset's
 * FREE and a VT_FREE_FOLLOWS are not calls; a VT_FREE_STILL_MAPPED is the call of a release that
 * freed nothing (the handle marked released). Returns whether something was removed. */
bool vt_accounting_apply_free(struct vt_accounting *accounting, unsigned api, unsigned flags, uint64_t key,
                              struct alloc_record *removed);

/* An allocation through `api` failed with out-of-memory (event `event`): a call, a failure.
 * Returns true for the first one. */
bool vt_accounting_out_of_memory(struct vt_accounting *accounting, unsigned api, uint64_t event);

#endif
