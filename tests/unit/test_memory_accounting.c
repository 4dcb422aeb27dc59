/* Unit tests of common/memory_accounting.[ch]: the one accounting of the recorder and the replay
 * (peaks, key reuse, unknown frees, device resets, zero-byte requests, kinds that are not memory
 * use, usage slots, out-of-memory counters, CUDA's virtual-memory rules), from hooks and from a
 * trace. */
#include <criterion/criterion.h>

#include "common/memory_accounting.h"
#include "vramtrace/trace_format.h"

static struct vt_accounting accounting;

static void start_tracked(void)
{
    vt_accounting_start(&accounting, true);
}

static void finish(void)
{
    vt_accounting_clear(&accounting);
}

TestSuite(memory_accounting, .init = start_tracked, .fini = finish);

static struct alloc_record record(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                                  uint64_t size, uint64_t time_ns)
{
    return (struct alloc_record){.address = address, .size_bytes = size, .timestamp_ns = time_ns,
                                 .device = (int16_t)device, .kind = (uint8_t)kind, .api = (uint16_t)api};
}

static void allocate(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address, uint64_t size,
                     uint64_t time_ns, uint64_t event)
{
    struct alloc_record allocated = record(api, kind, device, address, size, time_ns);
    vt_accounting_allocation(&accounting, &allocated, event, VT_FROM_HOOKS);
}

static bool free_key(enum vt_api api, uint64_t key)
{
    struct alloc_record removed;
    return vt_accounting_free(&accounting, api, key, &removed, VT_FROM_HOOKS);
}

static const struct vt_slot_usage *usage_of(int device)
{
    return &accounting.usage[vt_slot_of_device(device)];
}

Test(memory_accounting, peaks_keep_their_first_time_and_event)
{
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 10, 1);
    allocate(VT_API_cudaMallocManaged, VT_KIND_MANAGED, 0, 0x2000, 200, 20, 2);
    cr_assert(free_key(VT_API_cudaFree, 0x2000));
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x3000, 200, 40, 4); /* back to 300: not a new peak */
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x4000, 1, 50, 5);   /* 301: the peak */

    const struct vt_usage_counter *in_use = &usage_of(0)->in_use;
    cr_assert_eq(in_use->current_bytes, 301);
    cr_assert_eq(in_use->live_count, 3);
    cr_assert_eq(in_use->peak_bytes, 301);
    cr_assert_eq(in_use->peak_time_ns, 50);
    cr_assert_eq(in_use->peak_event, 5);
    const struct vt_usage_counter *managed = &usage_of(0)->by_kind[VT_KIND_MANAGED];
    cr_assert_eq(managed->current_bytes, 0);
    cr_assert_eq(managed->peak_bytes, 200);
    cr_assert_eq(managed->peak_event, 2);
    const struct vt_usage_counter *device = &usage_of(0)->by_kind[VT_KIND_DEVICE];
    cr_assert_eq(device->peak_bytes, 301);
    cr_assert_eq(device->peak_time_ns, 50);
    cr_assert_eq(accounting.stats.allocations, 4);
    cr_assert_eq(accounting.stats.frees, 1);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cudaMalloc], 3);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cudaFree], 1);
}

Test(memory_accounting, a_reused_key_retires_the_stale_record)
{
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 10, 1);
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 1, 0x1000, 30, 20, 2); /* its free went unseen */

    cr_assert_eq(usage_of(0)->in_use.current_bytes, 0, "the stale record is no longer counted");
    cr_assert_eq(usage_of(0)->in_use.live_count, 0);
    cr_assert_eq(usage_of(0)->in_use.peak_bytes, 100);
    cr_assert_eq(usage_of(1)->in_use.current_bytes, 30);
    cr_assert_eq(accounting.live[VT_SPACE_POINTERS].live_count, 1);
    cr_assert_eq(accounting.stats.allocations, 2);
    cr_assert_eq(accounting.stats.frees, 0, "a stale record is not a free");

    struct alloc_record removed;
    cr_assert(vt_accounting_free(&accounting, VT_API_cudaFree, 0x1000, &removed, VT_FROM_HOOKS));
    cr_assert_eq(removed.device, 1);
    cr_assert_eq(removed.size_bytes, 30);
    cr_assert_eq(usage_of(1)->in_use.current_bytes, 0);
}

Test(memory_accounting, an_unknown_free_changes_no_counter)
{
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 10, 1);
    cr_assert_not(free_key(VT_API_cudaFree, 0x9000));
    cr_assert_not(free_key(VT_API_cuMemRelease, 0x1000), "a handle is not a pointer: other key space");

    cr_assert_eq(accounting.stats.unknown_frees, 2);
    cr_assert_eq(accounting.stats.frees, 0);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cudaFree], 1);
    cr_assert_eq(usage_of(0)->in_use.current_bytes, 100);

    vt_accounting_unknown_free(&accounting, VT_API_cuMemFree);
    cr_assert_eq(accounting.stats.unknown_frees, 3);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cuMemFree], 1);
}

struct reset_seen {
    uint64_t addresses[8];
    unsigned count;
};

static void seen_by_reset(const struct alloc_record *freed, void *context)
{
    struct reset_seen *seen = context;
    seen->addresses[seen->count++] = freed->address;
}

Test(memory_accounting, a_device_reset_frees_that_devices_device_and_managed_memory)
{
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 10, 1);
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 1, 0x2000, 200, 20, 2);
    allocate(VT_API_cudaMallocManaged, VT_KIND_MANAGED, 0, 0x3000, 300, 30, 3);
    allocate(VT_API_cudaHostAlloc, VT_KIND_HOST_PINNED, -1, 0x4000, 400, 40, 4);
    allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0, 0x77, 500, 50, 5);

    struct reset_seen seen = {.count = 0};
    vt_accounting_reset(&accounting, VT_API_cudaDeviceReset, 0, 0, seen_by_reset, &seen);

    cr_assert_eq(seen.count, 2);
    cr_assert_eq(seen.addresses[0], 0x1000, "oldest first");
    cr_assert_eq(seen.addresses[1], 0x3000);
    cr_assert_eq(usage_of(0)->in_use.current_bytes, 500, "the cuMemCreate handle is not a pointer");
    cr_assert_eq(usage_of(1)->in_use.current_bytes, 200);
    cr_assert_eq(usage_of(-1)->in_use.current_bytes, 400);
    cr_assert_eq(accounting.stats.frees, 2);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cudaDeviceReset], 1);
    cr_assert_eq(accounting.live[VT_SPACE_POINTERS].live_count, 2);
    cr_assert_eq(accounting.live[VT_SPACE_PHYSICAL_HANDLES].live_count, 1);
}

/* An allocation made while a context created with cuCtxCreate was current (alloc_record.context). */
static void allocate_in_context(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address,
                                uint64_t size, unsigned context)
{
    struct alloc_record allocated = record(api, kind, device, address, size, 10);
    allocated.context = (uint16_t)context;
    vt_accounting_allocation(&accounting, &allocated, 0, VT_FROM_HOOKS);
}

Test(memory_accounting, a_context_destroy_frees_that_contexts_memory_only)
{
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 10, 1);      /* the primary context's */
    allocate_in_context(VT_API_cuMemAlloc, VT_KIND_DEVICE, 0, 0x2000, 200, 1);
    allocate_in_context(VT_API_cuMemAllocHost, VT_KIND_HOST_PINNED, -1, 0x3000, 300, 1);
    allocate_in_context(VT_API_cuMemAlloc, VT_KIND_DEVICE, 0, 0x4000, 400, 2); /* another created one */

    struct reset_seen seen = {.count = 0};
    vt_accounting_reset(&accounting, VT_API_cuCtxDestroy, 0, 1, seen_by_reset, &seen);

    cr_assert_eq(seen.count, 2);
    cr_assert_eq(seen.addresses[0], 0x2000);
    cr_assert_eq(seen.addresses[1], 0x3000, "pinned memory of the context goes with it");
    cr_assert_eq(usage_of(0)->in_use.current_bytes, 500);
    cr_assert_eq(usage_of(-1)->in_use.current_bytes, 0);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cuCtxDestroy], 1);

    seen.count = 0;
    vt_accounting_reset(&accounting, VT_API_cudaDeviceReset, 0, 0, seen_by_reset, &seen);
    cr_assert_eq(seen.count, 1, "a device reset leaves a created context's memory");
    cr_assert_eq(seen.addresses[0], 0x1000);
    cr_assert_eq(usage_of(0)->in_use.current_bytes, 400);
}

Test(memory_accounting, a_zero_byte_request_is_a_call_only)
{
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0, 0, 10, 1);      /* cudaMalloc(ptr, 0) */
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 0, 20, 2); /* a size of zero */
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0, 64, 30, 3);     /* a null result */
    allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0, 0, 40, 4);

    cr_assert_eq(accounting.stats.zero_byte_requests, 3, "of memory only");
    cr_assert_eq(accounting.stats.allocations, 0);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cudaMalloc], 3);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cuMemAddressReserve], 1);
    for (int space = 0; space < VT_SPACE_COUNT; space++)
        cr_assert_eq(accounting.live[space].live_count, 0);
    cr_assert_eq(usage_of(0)->by_kind[VT_KIND_DEVICE].live_count, 0);
    cr_assert_eq(usage_of(0)->in_use.peak_bytes, 0);
}

Test(memory_accounting, reservations_and_mappings_are_not_memory_use)
{
    allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x100000, 1 << 20, 10, 1);
    allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0, 0x42, 1 << 16, 20, 2);
    allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, 0, 0x100000, 1 << 16, 30, 3);

    const struct vt_slot_usage *gpu = usage_of(0);
    cr_assert_eq(gpu->in_use.current_bytes, 1 << 16, "only the physical memory");
    cr_assert_eq(gpu->by_kind[VT_KIND_ADDRESS_SPACE].current_bytes, 1 << 20);
    cr_assert_eq(gpu->by_kind[VT_KIND_MAPPED_RANGE].current_bytes, 1 << 16);
    cr_assert_eq(accounting.stats.allocations, 1);
    cr_assert_eq(accounting.live[VT_SPACE_RESERVATIONS].live_count, 1);
    cr_assert_eq(accounting.live[VT_SPACE_PHYSICAL_HANDLES].live_count, 1);
    cr_assert_eq(accounting.live[VT_SPACE_MAPPINGS].live_count, 1, "the same address as the reservation");

    cr_assert(free_key(VT_API_cuMemUnmap, 0x100000));
    cr_assert(free_key(VT_API_cuMemAddressFree, 0x100000));
    cr_assert(free_key(VT_API_cuMemRelease, 0x42));
    cr_assert_eq(accounting.stats.frees, 1, "unmapping and freeing address space are not frees of memory");
    cr_assert_eq(gpu->in_use.current_bytes, 0);
    cr_assert_eq(gpu->by_kind[VT_KIND_ADDRESS_SPACE].peak_bytes, 1 << 20);
}

Test(memory_accounting, devices_beyond_the_maximum_fall_in_the_host_slot)
{
    cr_assert_eq(vt_slot_of_device(-1), 0);
    cr_assert_eq(vt_slot_of_device(0), 1);
    cr_assert_eq(vt_slot_of_device(VT_MAX_DEVICES - 1), VT_MAX_DEVICES);
    cr_assert_eq(vt_slot_of_device(VT_MAX_DEVICES), 0);
    cr_assert_eq(vt_slot_of_device(-7), 0);
    cr_assert_eq(vt_device_of_slot(0), -1);

    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, VT_MAX_DEVICES + 3, 0x1000, 100, 10, 1);
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, VT_MAX_DEVICES - 1, 0x2000, 50, 20, 2);
    cr_assert_eq(accounting.usage[0].by_kind[VT_KIND_DEVICE].current_bytes, 100);
    cr_assert_eq(accounting.usage[VT_MAX_DEVICES].in_use.current_bytes, 50);
    cr_assert(free_key(VT_API_cudaFree, 0x1000));
    cr_assert_eq(accounting.usage[0].in_use.current_bytes, 0);
}

Test(memory_accounting, out_of_memory_failures_and_recovery)
{
    cr_assert(vt_accounting_out_of_memory(&accounting, VT_API_cudaMalloc, 3));
    cr_assert_not(vt_accounting_out_of_memory(&accounting, VT_API_cudaMalloc, 4));
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0, 0, 10, 5); /* a zero-byte request is no recovery */
    cr_assert_eq(accounting.oom.allocations_after_last_failure, 0);
    allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x100000, 4096, 10, 6);
    cr_assert_eq(accounting.oom.allocations_after_last_failure, 0, "nor is address space");
    allocate(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 10, 20, 7);

    cr_assert_eq(accounting.oom.failures, 2);
    cr_assert_eq(accounting.oom.first_event, 3);
    cr_assert_eq(accounting.oom.last_event, 4);
    cr_assert_eq(accounting.oom.allocations_after_last_failure, 1);
    cr_assert_eq(accounting.stats.failed_out_of_memory, 2);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cudaMalloc], 4);
}

/* From a trace without live tables: a FREE is applied with the record it carries; unknown kinds and
 * APIs (a file can hold anything) count nothing. */
Test(memory_accounting, from_a_trace_without_live_tables)
{
    vt_accounting_clear(&accounting);
    vt_accounting_start(&accounting, false);
    struct alloc_record allocated = record(VT_API_cudaMalloc, VT_KIND_DEVICE, 2, 0x1000, 100, 10);
    vt_accounting_allocation(&accounting, &allocated, 1, VT_FROM_TRACE);
    struct alloc_record strange = record(VT_API_COUNT + 5, VT_KIND_COUNT + 1, 2, 0x2000, 7, 20);
    vt_accounting_allocation(&accounting, &strange, 2, VT_FROM_TRACE);
    cr_assert_eq(accounting.live[VT_SPACE_POINTERS].live_count, 0);
    cr_assert_eq(usage_of(2)->in_use.current_bytes, 100);
    cr_assert_eq(accounting.stats.allocations, 1);

    struct alloc_record carried = {.device = 2, .kind = VT_KIND_DEVICE, .size_bytes = 100};
    cr_assert(vt_accounting_free(&accounting, VT_API_cudaFree, 0x1000, &carried, VT_FROM_TRACE));
    cr_assert_eq(usage_of(2)->in_use.current_bytes, 0);
    cr_assert_eq(usage_of(2)->in_use.peak_event, 1);
    cr_assert_eq(accounting.stats.frees, 1);
}

/* The same events from hooks and from a trace (with live tables) give the same accounting. */
Test(memory_accounting, hooks_and_trace_agree)
{
    static struct vt_accounting from_trace;
    vt_accounting_start(&from_trace, true);
    struct alloc_record events[] = {
        record(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 10),
        record(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 50, 20), /* reused key */
        record(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0, 0, 30),       /* zero bytes */
        record(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x100000, 4096, 40),
        record(VT_API_cudaHostAlloc, VT_KIND_HOST_PINNED, -1, 0x5000, 10, 50),
    };
    for (size_t i = 0; i < sizeof events / sizeof *events; i++) {
        vt_accounting_allocation(&accounting, &events[i], i, VT_FROM_HOOKS);
        vt_accounting_allocation(&from_trace, &events[i], i, VT_FROM_TRACE);
    }
    struct alloc_record removed;
    vt_accounting_free(&accounting, VT_API_cudaFree, 0x5000, &removed, VT_FROM_HOOKS);
    vt_accounting_free(&from_trace, VT_API_cudaFree, 0x5000, &removed, VT_FROM_TRACE);
    cr_assert_eq(memcmp(accounting.usage, from_trace.usage, sizeof accounting.usage), 0);
    cr_assert_eq(memcmp(&accounting.stats, &from_trace.stats, sizeof accounting.stats), 0);
    vt_accounting_clear(&from_trace);
}

/* ---- virtual memory: the recorder's decisions, and the replay of the FREE records they write ---- */

/* Every VMM event goes to the recorder's accounting (`accounting`, from hooks) and, as the trace
 * would carry it, to a replay with live tables and one without: all three must agree. */
static struct vt_accounting replayed, fast;

static void start_vmm(void)
{
    vt_accounting_start(&accounting, true);
    vt_accounting_start(&replayed, true);
    vt_accounting_start(&fast, false);
}

static void finish_vmm(void)
{
    vt_accounting_clear(&accounting);
    vt_accounting_clear(&replayed);
    vt_accounting_clear(&fast);
}

TestSuite(vmm_accounting, .init = start_vmm, .fini = finish_vmm);

#define MiB (1u << 20)
#define BASE 0x7f0000000000ull

struct written_free {
    struct alloc_record record; /* kind, device, size and key of the FREE */
    unsigned flags;
};
static struct written_free written[16];
static size_t written_count;

static void vmm_allocate(enum vt_api api, enum vt_memory_kind kind, uint64_t key, uint64_t size, uint64_t handle)
{
    struct alloc_record allocated = record(api, kind, 0, key, size, 10);
    allocated.backing_handle = handle;
    if (api == VT_API_cuMemMap) {
        vt_accounting_map(&accounting, &allocated, 0, VT_FROM_HOOKS);
        vt_accounting_map(&replayed, &allocated, 0, VT_FROM_TRACE);
        vt_accounting_map(&fast, &allocated, 0, VT_FROM_TRACE);
    } else {
        vt_accounting_allocation(&accounting, &allocated, 0, VT_FROM_HOOKS);
        vt_accounting_allocation(&replayed, &allocated, 0, VT_FROM_TRACE);
        vt_accounting_allocation(&fast, &allocated, 0, VT_FROM_TRACE);
    }
}

static void write_free(const struct alloc_record *removed, unsigned flags, void *context)
{
    (void)context;
    cr_assert_lt(written_count, sizeof written / sizeof *written);
    written[written_count++] = (struct written_free){*removed, flags};
}

/* The trace's FREE records since the last call, applied to both replays. */
static void replay_written(unsigned api)
{
    for (size_t i = 0; i < written_count; i++)
        for (int side = 0; side < 2; side++) {
            struct alloc_record carried = written[i].record;
            vt_accounting_apply_free(side ? &fast : &replayed, api, written[i].flags, written[i].record.address,
                                     &carried);
        }
    if (written_count == 0) { /* the FREE_UNKNOWN */
        vt_accounting_unknown_free(&replayed, api);
        vt_accounting_unknown_free(&fast, api);
    }
}

static unsigned release(uint64_t handle)
{
    struct alloc_record released;
    unsigned flags = 0;
    written_count = 0;
    if (vt_accounting_release(&accounting, handle, &released, &flags))
        write_free(&released, flags, NULL);
    replay_written(VT_API_cuMemRelease);
    return flags;
}

static size_t unmap(enum vt_api api, uint64_t address, uint64_t size)
{
    written_count = 0;
    bool removed = vt_accounting_unmap(&accounting, api, address, size, write_free, NULL);
    cr_assert_eq(removed, written_count > 0);
    replay_written(api);
    return written_count;
}

static void assert_written(size_t index, enum vt_memory_kind kind, uint64_t key, unsigned flags)
{
    cr_assert_eq(written[index].record.kind, kind, "record %zu", index);
    cr_assert_eq(written[index].record.address, key, "record %zu", index);
    cr_assert_eq(written[index].flags, flags, "record %zu", index);
}

static void assert_replays_agree(void)
{
    cr_assert_eq(memcmp(accounting.usage, replayed.usage, sizeof accounting.usage), 0);
    cr_assert_eq(memcmp(&accounting.stats, &replayed.stats, sizeof accounting.stats), 0);
    cr_assert_eq(memcmp(accounting.usage, fast.usage, sizeof accounting.usage), 0);
    cr_assert_eq(memcmp(&accounting.stats, &fast.stats, sizeof accounting.stats), 0, "without live tables too");
    for (int space = 0; space < VT_SPACE_COUNT; space++)
        cr_assert_eq(accounting.live[space].live_count, replayed.live[space].live_count, "space %d", space);
}

static uint64_t in_use(void)
{
    return usage_of(0)->in_use.current_bytes;
}

Test(vmm_accounting, a_release_before_the_unmap_keeps_the_bytes_in_use_until_the_unmap)
{
    vmm_allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, BASE, 4 * MiB, 0);
    vmm_allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0x42, MiB, 0);
    vmm_allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, BASE, MiB, 0x42);

    cr_assert_eq(release(0x42), VT_FREE_STILL_MAPPED, "the handle is released, its memory still mapped");
    cr_assert_eq(in_use(), MiB, "CUDA frees it with its last mapping");
    cr_assert_eq(accounting.stats.frees, 0);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cuMemRelease], 1);
    assert_replays_agree();

    cr_assert_eq(unmap(VT_API_cuMemUnmap, BASE, MiB), 2);
    assert_written(0, VT_KIND_MAPPED_RANGE, BASE, 0);
    assert_written(1, VT_KIND_DEVICE, 0x42, VT_FREE_FOLLOWS);
    cr_assert_eq(in_use(), 0);
    cr_assert_eq(usage_of(0)->in_use.peak_bytes, MiB);
    cr_assert_eq(accounting.stats.frees, 1);
    cr_assert_eq(accounting.live[VT_SPACE_PHYSICAL_HANDLES].live_count, 0);
    cr_assert_eq(accounting.live[VT_SPACE_MAPPINGS].live_count, 0);
    assert_replays_agree();
}

Test(vmm_accounting, an_unmap_before_the_release_leaves_the_release_to_free)
{
    vmm_allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, BASE, 4 * MiB, 0);
    vmm_allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0x42, MiB, 0);
    vmm_allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, BASE, MiB, 0x42);
    cr_assert_eq(unmap(VT_API_cuMemUnmap, BASE, MiB), 1, "not released: the memory stays");
    cr_assert_eq(in_use(), MiB);
    cr_assert_eq(release(0x42), 0);
    assert_written(0, VT_KIND_DEVICE, 0x42, 0);
    cr_assert_eq(in_use(), 0);
    cr_assert_eq(release(0x42), 0, "twice: an unknown free");
    cr_assert_eq(written_count, 0);
    cr_assert_eq(accounting.stats.unknown_frees, 1);
    assert_replays_agree();
}

Test(vmm_accounting, one_unmap_removes_every_mapping_inside_its_range)
{
    vmm_allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, BASE, 4 * MiB, 0);
    vmm_allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0x42, MiB, 0);
    vmm_allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0x43, 2 * MiB, 0);
    vmm_allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, BASE, MiB, 0x42);
    vmm_allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, BASE + MiB, 2 * MiB, 0x43);
    cr_assert_eq(release(0x42), VT_FREE_STILL_MAPPED);
    cr_assert_eq(release(0x43), VT_FREE_STILL_MAPPED);
    cr_assert_eq(in_use(), 3 * MiB);

    cr_assert_eq(unmap(VT_API_cuMemUnmap, BASE, 3 * MiB), 4);
    assert_written(0, VT_KIND_MAPPED_RANGE, BASE, 0);
    assert_written(1, VT_KIND_DEVICE, 0x42, VT_FREE_FOLLOWS);
    assert_written(2, VT_KIND_MAPPED_RANGE, BASE + MiB, VT_FREE_FOLLOWS);
    assert_written(3, VT_KIND_DEVICE, 0x43, VT_FREE_FOLLOWS);
    cr_assert_eq(in_use(), 0);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cuMemUnmap], 1, "one call");
    cr_assert_eq(accounting.stats.frees, 2);
    cr_assert_eq(accounting.stats.unknown_frees, 0);
    cr_assert_eq(usage_of(0)->by_kind[VT_KIND_MAPPED_RANGE].current_bytes, 0);
    assert_replays_agree();

    cr_assert_eq(unmap(VT_API_cuMemUnmap, BASE, 3 * MiB), 0, "nothing mapped there any more");
    cr_assert_eq(accounting.stats.unknown_frees, 1);
    assert_replays_agree();
}

Test(vmm_accounting, a_handle_mapped_twice_goes_with_its_last_mapping)
{
    vmm_allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, BASE, 4 * MiB, 0);
    vmm_allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0x42, MiB, 0);
    vmm_allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, BASE, MiB, 0x42);
    vmm_allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, BASE + 2 * MiB, MiB, 0x42);
    cr_assert_eq(release(0x42), VT_FREE_STILL_MAPPED);
    cr_assert_eq(unmap(VT_API_cuMemUnmap, BASE, MiB), 1);
    cr_assert_eq(in_use(), MiB, "still mapped once");
    cr_assert_eq(unmap(VT_API_cuMemUnmap, BASE + 2 * MiB, MiB), 2);
    cr_assert_eq(in_use(), 0);
    assert_replays_agree();
}

Test(vmm_accounting, an_address_free_removes_the_mappings_inside_it)
{
    vmm_allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, BASE, 4 * MiB, 0);
    vmm_allocate(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, BASE + 8 * MiB, 4 * MiB, 0);
    vmm_allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0x42, MiB, 0);
    vmm_allocate(VT_API_cuMemCreate, VT_KIND_DEVICE, 0x43, MiB, 0);
    vmm_allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, BASE + MiB, MiB, 0x42);
    vmm_allocate(VT_API_cuMemMap, VT_KIND_MAPPED_RANGE, BASE + 8 * MiB, MiB, 0x43); /* the other reservation */
    cr_assert_eq(release(0x42), VT_FREE_STILL_MAPPED);

    cr_assert_eq(unmap(VT_API_cuMemAddressFree, BASE, 4 * MiB), 3);
    assert_written(0, VT_KIND_ADDRESS_SPACE, BASE, 0);
    assert_written(1, VT_KIND_MAPPED_RANGE, BASE + MiB, VT_FREE_FOLLOWS);
    assert_written(2, VT_KIND_DEVICE, 0x42, VT_FREE_FOLLOWS);
    cr_assert_eq(in_use(), MiB, "0x43: not released, and mapped elsewhere");
    cr_assert_eq(accounting.live[VT_SPACE_MAPPINGS].live_count, 1);
    cr_assert_eq(accounting.stats.calls_by_api[VT_API_cuMemAddressFree], 1);
    assert_replays_agree();
}
