/* Unit tests of shim/recorder.c: per-device, per-kind current and peak bytes, event counts. */
#include <criterion/criterion.h>

#include "shim/recorder.h"

static void start_recorder(void)
{
    struct recorder_settings settings = {.stack_depth = 0};
    recorder_reset(&settings);
}

TestSuite(recorder, .init = start_recorder);

static struct vt_slot_usage usage[RECORDER_SLOT_COUNT];

static const struct vt_usage_counter *device_counter(int device, enum vt_memory_kind kind)
{
    recorder_read_usage(usage);
    return &usage[device + 1].by_kind[kind];
}

Test(recorder, current_and_peak_per_device_and_kind)
{
    recorder_record_alloc(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 0);
    recorder_record_alloc(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x2000, 200, 0);
    recorder_record_alloc(VT_API_cudaMalloc, VT_KIND_DEVICE, 1, 0x3000, 1000, 0);
    recorder_record_free(VT_API_cudaFree, 0x2000, 0);
    recorder_record_alloc(VT_API_cudaMallocManaged, VT_KIND_MANAGED, 0, 0x4000, 50, 0);
    recorder_record_alloc(VT_API_cudaHostAlloc, VT_KIND_HOST_PINNED, RECORDER_DEVICE_HOST, 0x5000, 4096, 0);

    cr_assert_eq(device_counter(0, VT_KIND_DEVICE)->current_bytes, 100);
    cr_assert_eq(device_counter(0, VT_KIND_DEVICE)->peak_bytes, 300);
    cr_assert_eq(device_counter(0, VT_KIND_MANAGED)->current_bytes, 50);
    cr_assert_eq(device_counter(1, VT_KIND_DEVICE)->peak_bytes, 1000);
    cr_assert_eq(device_counter(RECORDER_DEVICE_HOST, VT_KIND_HOST_PINNED)->current_bytes, 4096);
    recorder_read_usage(usage);
    cr_assert_eq(usage[1].in_use.current_bytes, 150, "device 0 in use = device + managed");
    cr_assert_eq(usage[1].in_use.peak_bytes, 300);

    struct recorder_stats stats;
    recorder_read_stats(&stats);
    cr_assert_eq(stats.events.allocations, 5);
    cr_assert_eq(stats.events.frees, 1);
    cr_assert_eq(stats.events.calls_by_api[VT_API_cudaMalloc], 3);
    cr_assert_eq(stats.events.calls_by_api[VT_API_cudaFree], 1);
}

Test(recorder, unknown_free_is_counted_not_fatal)
{
    recorder_record_free(VT_API_cudaFree, 0xdead000, 0);
    struct recorder_stats stats;
    recorder_read_stats(&stats);
    cr_assert_eq(stats.events.unknown_frees, 1);
    cr_assert_eq(stats.events.frees, 0);
    cr_assert_eq(device_counter(0, VT_KIND_DEVICE)->current_bytes, 0);
}

Test(recorder, reused_address_replaces_stale_record)
{
    recorder_record_alloc(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 0);
    recorder_record_alloc(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 40, 0);
    cr_assert_eq(device_counter(0, VT_KIND_DEVICE)->current_bytes, 40);
    cr_assert_eq(device_counter(0, VT_KIND_DEVICE)->live_count, 1);
}

Test(recorder, address_space_is_not_memory_use)
{
    recorder_record_alloc(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x10000000, 1ULL << 36, 0);
    recorder_read_usage(usage);
    cr_assert_eq(usage[1].in_use.current_bytes, 0);
    cr_assert_eq(usage[1].by_kind[VT_KIND_ADDRESS_SPACE].current_bytes, 1ULL << 36);
}

Test(recorder, disabled_after_disable)
{
    cr_assert(recorder_is_enabled());
    recorder_disable();
    cr_assert_not(recorder_is_enabled());
}

/* --limit: reservations and the accounting together never pass the limit, and agree. */
static void start_limited(uint64_t limit)
{
    struct recorder_settings settings = {.stack_depth = 0, .limit_bytes = limit};
    recorder_reset(&settings);
}

/* An allocation committed under a reservation of `reserved` bytes on device 0. */
static void record_reserved(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address, uint64_t size,
                            uint64_t stream, uint64_t reserved)
{
    recorder_record_alloc_with(api, kind, device, address, size, stream, &(struct recorder_alloc_extra){0, reserved, 0});
}

/* An allocation while the context `context` was current. */
static void record_in_context(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t address, uint64_t size,
                              uint64_t context)
{
    recorder_record_alloc_with(api, kind, device, address, size, 0, &(struct recorder_alloc_extra){0, 0, context});
}

Test(recorder, context_destroy_frees_what_the_created_context_owns)
{
    cr_assert_not(recorder_contexts_exist(), "no context created yet");
    recorder_record_alloc(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 100, 0);
    recorder_record_context_created(0xc0, 0);
    cr_assert(recorder_contexts_exist());
    record_in_context(VT_API_cuMemAlloc, VT_KIND_DEVICE, 0, 0x2000, 200, 0xc0);
    record_in_context(VT_API_cuMemAllocHost, VT_KIND_HOST_PINNED, RECORDER_DEVICE_HOST, 0x3000, 300, 0xc0);
    record_in_context(VT_API_cuMemAlloc, VT_KIND_DEVICE, 0, 0x4000, 400, 0xd0); /* not a created context */

    recorder_record_context_destroy(VT_API_cuCtxDestroy, 0xd0); /* the call only */
    cr_assert_eq(device_counter(0, VT_KIND_DEVICE)->current_bytes, 700);
    recorder_record_context_destroy(VT_API_cuCtxDestroy, 0xc0);
    cr_assert_eq(device_counter(0, VT_KIND_DEVICE)->current_bytes, 500);
    cr_assert_eq(device_counter(0, VT_KIND_DEVICE)->peak_bytes, 700);
    cr_assert_eq(device_counter(RECORDER_DEVICE_HOST, VT_KIND_HOST_PINNED)->current_bytes, 0);
    recorder_record_context_destroy(VT_API_cuCtxDestroy, 0xc0); /* destroyed already: the call only */

    struct recorder_stats stats;
    recorder_read_stats(&stats);
    cr_assert_eq(stats.events.frees, 2);
    cr_assert_eq(stats.events.unknown_frees, 0);
    cr_assert_eq(stats.events.calls_by_api[VT_API_cuCtxDestroy], 3);
}

Test(recorder, limit_reserve_commit_and_roll_back)
{
    start_limited(1000);
    uint64_t in_use = 0;
    cr_assert(recorder_limit_is_set());
    cr_assert(recorder_limit_reserve(0, 600, &in_use));
    cr_assert_not(recorder_limit_reserve(0, 401, &in_use), "600 reserved + 401 > 1000");
    cr_assert_eq(in_use, 600, "in use plus reservations");
    cr_assert(recorder_limit_reserve(1, 1000, &in_use), "each device has its own limit");
    recorder_limit_release(1, 1000);
    /* committed: counted once, by the accounting */
    record_reserved(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 600, 0, 600);
    cr_assert_not(recorder_limit_reserve(0, 401, &in_use));
    cr_assert_eq(in_use, 600);
    /* rolled back: nothing left reserved */
    cr_assert(recorder_limit_reserve(0, 400, &in_use));
    recorder_limit_release(0, 400);
    /* managed memory counts too; pinned host memory is not the device's */
    cr_assert(recorder_limit_reserve(0, 300, &in_use));
    record_reserved(VT_API_cudaMallocManaged, VT_KIND_MANAGED, 0, 0x2000, 300, 0, 300);
    recorder_record_alloc(VT_API_cudaHostAlloc, VT_KIND_HOST_PINNED, RECORDER_DEVICE_HOST, 0x3000, 5000, 0);
    cr_assert_not(recorder_limit_reserve(0, 101, &in_use));
    cr_assert_eq(in_use, 900);
    /* frees give the limit back */
    recorder_record_free(VT_API_cudaFree, 0x1000, 0);
    cr_assert(recorder_limit_reserve(0, 700, &in_use));
    recorder_limit_release(0, 700);
    /* a zero-byte result under a reservation leaves nothing reserved and nothing counted */
    cr_assert(recorder_limit_reserve(0, 700, &in_use));
    record_reserved(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0, 700, 0, 700);
    cr_assert(recorder_limit_reserve(0, 700, &in_use));
    cr_assert_eq(in_use, 300);
    recorder_limit_release(0, 700);
    /* a stale record retired at a reused key is no longer counted */
    cr_assert(recorder_limit_reserve(0, 100, &in_use));
    record_reserved(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x2000, 100, 0, 100);
    cr_assert(recorder_limit_reserve(0, 900, &in_use), "the managed 300 at 0x2000 was retired");
    recorder_limit_release(0, 900);
    /* a pool allocation reserved on the stream's device and counted on the memory's own */
    cr_assert(recorder_limit_reserve(0, 500, &in_use));
    record_reserved(VT_API_cudaMallocFromPoolAsync, VT_KIND_DEVICE, 1, 0x4000, 500, 0, 500);
    cr_assert(recorder_limit_reserve(0, 900, &in_use));
    cr_assert_eq(in_use, 100);
    cr_assert_not(recorder_limit_reserve(1, 501, &in_use));
    cr_assert_eq(in_use, 500);
}

Test(recorder, no_limit_by_default)
{
    cr_assert_not(recorder_limit_is_set());
}
