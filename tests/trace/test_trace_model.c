/* tests/trace/test_trace_model.c — loading and replaying synthetic traces: peaks per device and
 * kind with their time and event, the live set at a time and at a peak, the key spaces (a
 * cuMemCreate handle and a pointer with the same value are different allocations), reserved
 * address space and mapped ranges never counted as use, key reuse, the replay callback, the
 * allocation sites, out-of-memory state, a truncated trace, and a trace followed while it grows
 * (vt_model_follow_*, its events in memory or streamed: the same model as a one-shot load at every
 * size). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace_model.h"
#include "trace/trace_report.h"
#include "trace_builder.h"

#define MIB (1ull << 20)
#define MS (1000000ull)

enum { STACK_BUILD_A = 1, STACK_BUILD_B = 2, STACK_AFTER = 3, STACK_MANAGED = 4 };

static void load(struct vt_trace_model *model, const char *path)
{
    char error[512] = "";
    cr_assert_eq(vt_model_load(model, path, NULL, error, sizeof error), VT_TRACE_OPENED, "%s", error);
}

/* device 0: A 10 MiB (t=100 ms), B 20 MiB (t=200 ms) -> peak 30 MiB; B freed (300 ms); C 5 MiB
 * (400 ms). device 1: 7 MiB managed at 150 ms, freed at 250 ms. host: 1 MiB pinned 50..60 ms.
 * 1 GiB of address space reserved on device 0 at 10 ms and never released. */
static const char *peak_trace(void)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_two_devices_and_four_stacks(&builder, "peaky", 1234);
    tb_alloc(&builder, 10 * MS, VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x7e0000000000, 1ull << 30, 0);
    tb_alloc(&builder, 50 * MS, VT_API_cudaMallocHost, VT_KIND_HOST_PINNED, -1, 0x600000, MIB, 0);
    tb_free(&builder, 60 * MS, VT_API_cudaFreeHost, VT_KIND_HOST_PINNED, -1, 0x600000, MIB);
    tb_alloc(&builder, 100 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xA000000, 10 * MIB, STACK_BUILD_A);
    tb_alloc(&builder, 150 * MS, VT_API_cudaMallocManaged, VT_KIND_MANAGED, 1, 0xD000000, 7 * MIB, STACK_MANAGED);
    tb_end_chunk(&builder, VT_TRACE_ZSTD);
    tb_begin_chunk(&builder, 200 * MS);
    tb_alloc(&builder, 200 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xB000000, 20 * MIB, STACK_BUILD_B);
    tb_free(&builder, 250 * MS, VT_API_cudaFree, VT_KIND_MANAGED, 1, 0xD000000, 7 * MIB);
    tb_free(&builder, 300 * MS, VT_API_cudaFree, VT_KIND_DEVICE, 0, 0xB000000, 20 * MIB);
    tb_alloc(&builder, 400 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xC000000, 5 * MIB, STACK_AFTER);
    tb_end(&builder, 500 * MS);
    return tb_write(&builder, tb_temp_path("peak.trace"));
}

Test(model, load_keeps_definitions_and_compact_events)
{
    struct vt_trace_model model;
    load(&model, peak_trace());
    cr_assert(model.process.present);
    cr_assert_str_eq(model.process.program, "peaky");
    cr_assert_eq(model.process.pid, 1234);
    cr_assert_eq(model.device_count, 2);
    cr_assert_str_eq(vt_model_find_device(&model, 1)->name, "GPU one");
    cr_assert_eq(model.stack_count, 4);
    unsigned depth;
    const uint64_t *frames = vt_model_stack_frames(&model, STACK_AFTER, &depth);
    cr_assert_eq(depth, 2);
    cr_assert_eq(frames[0], 0x401300);
    cr_assert_null(vt_model_stack_frames(&model, 0, &depth));
    cr_assert_null(vt_model_stack_frames(&model, 77, &depth));
    cr_assert_eq(model.event_count, 10);
    cr_assert_eq(sizeof model.events[0], 40);
    cr_assert(model.complete);
    cr_assert_eq(model.duration_ns, 500 * MS);
    cr_assert_eq(model.events[5].type, VT_RECORD_ALLOC);
    cr_assert_eq(model.events[5].size_bytes, 20 * MIB);
    cr_assert_eq(vt_model_events_until(&model, 200 * MS), 6);
    cr_assert_eq(vt_model_events_until(&model, 199 * MS), 5);
    cr_assert_eq(vt_model_events_until(&model, 0), 0);
    cr_assert(vt_model_has_device(&model, 1));
    cr_assert_not(vt_model_has_device(&model, 2));
    vt_model_free(&model);
}

static void assert_peaks_of_peak_trace(const struct vt_replay *replay)
{
    const struct vt_slot_usage *gpu0 = vt_replay_usage(replay, 0), *gpu1 = vt_replay_usage(replay, 1);
    const struct vt_slot_usage *host = vt_replay_usage(replay, -1);
    cr_assert_eq(gpu0->in_use.peak_bytes, 30 * MIB);
    cr_assert_eq(gpu0->in_use.peak_time_ns, 200 * MS);
    cr_assert_eq(gpu0->in_use.peak_event, 5);
    cr_assert_eq(gpu0->in_use.current_bytes, 15 * MIB);
    cr_assert_eq(gpu0->in_use.live_count, 2);
    cr_assert_eq(gpu0->by_kind[VT_KIND_DEVICE].peak_bytes, 30 * MIB);
    cr_assert_eq(gpu0->by_kind[VT_KIND_ADDRESS_SPACE].current_bytes, 1ull << 30, "recorded...");
    cr_assert_eq(gpu0->by_kind[VT_KIND_ADDRESS_SPACE].peak_bytes, 1ull << 30);
    cr_assert_eq(gpu1->in_use.peak_bytes, 7 * MIB);
    cr_assert_eq(gpu1->in_use.peak_time_ns, 150 * MS);
    cr_assert_eq(gpu1->by_kind[VT_KIND_MANAGED].peak_bytes, 7 * MIB);
    cr_assert_eq(gpu1->in_use.current_bytes, 0);
    cr_assert_eq(host->in_use.peak_bytes, MIB);
    cr_assert_eq(host->by_kind[VT_KIND_HOST_PINNED].peak_time_ns, 50 * MS);
    cr_assert_eq(host->in_use.current_bytes, 0);
    cr_assert_eq(replay->accounting.stats.allocations, 5, "reservations are calls, not allocations");
    cr_assert_eq(replay->accounting.stats.frees, 3);
    cr_assert_eq(replay->accounting.stats.calls_by_api[VT_API_cudaMalloc], 3);
    cr_assert_eq(replay->accounting.stats.calls_by_api[VT_API_cuMemAddressReserve], 1);
}

Test(model, peaks_per_device_and_kind_with_and_without_live_tables)
{
    struct vt_trace_model model;
    load(&model, peak_trace());
    for (int track = 0; track < 2; track++) {
        struct vt_replay replay;
        vt_replay_start(&replay, &model, track);
        vt_replay_all(&replay, NULL, NULL);
        assert_peaks_of_peak_trace(&replay);
        vt_replay_finish(&replay);
    }
    vt_model_free(&model);
}

static const struct vt_group *find_group(const struct vt_groups *groups, uint32_t stack_id)
{
    for (size_t i = 0; i < groups->group_count; i++)
        if (groups->groups[i].stack_id == stack_id)
            return &groups->groups[i];
    return NULL;
}

Test(model, live_set_at_a_time_and_at_the_peak)
{
    struct vt_trace_model model;
    load(&model, peak_trace());

    struct vt_replay replay;
    vt_replay_start(&replay, &model, true);
    vt_replay_until_time(&replay, 250 * MS);
    cr_assert_eq(replay.next_event, 7, "the free at exactly 250 ms is applied");
    struct vt_groups groups;
    vt_groups_collect_live(&groups, &replay, VT_GROUPS_ALL_DEVICES);
    cr_assert_eq(groups.group_count, 3, "A, B and the reservation");
    cr_assert_eq(groups.bytes_by_kind[VT_KIND_DEVICE], 30 * MIB);
    cr_assert_eq(groups.count_by_kind[VT_KIND_DEVICE], 2);
    cr_assert_eq(groups.bytes_by_kind[VT_KIND_MANAGED], 0);
    cr_assert_eq(groups.bytes_by_kind[VT_KIND_ADDRESS_SPACE], 1ull << 30);
    cr_assert_eq(groups.groups[0].stack_id, STACK_BUILD_B, "largest first");
    cr_assert_eq(groups.groups[1].stack_id, STACK_BUILD_A);
    cr_assert_eq(groups.groups[2].kind, VT_KIND_ADDRESS_SPACE, "sorted by kind first");
    vt_groups_free(&groups);
    vt_groups_collect_live(&groups, &replay, 1);
    cr_assert_eq(groups.group_count, 0, "device 1's managed buffer was freed at 250 ms");
    vt_groups_free(&groups);
    vt_replay_finish(&replay);

    /* the peak snapshot of device 0: exactly A and B */
    vt_replay_start(&replay, &model, true);
    vt_replay_all(&replay, NULL, NULL);
    size_t peak_event = vt_replay_usage(&replay, 0)->in_use.peak_event;
    vt_replay_finish(&replay);
    vt_replay_start(&replay, &model, true);
    vt_replay_until_event(&replay, peak_event + 1);
    vt_groups_collect_live(&groups, &replay, 0);
    cr_assert_eq(groups.bytes_by_kind[VT_KIND_DEVICE], 30 * MIB);
    cr_assert_eq(find_group(&groups, STACK_BUILD_A)->bytes, 10 * MIB);
    cr_assert_eq(find_group(&groups, STACK_BUILD_B)->bytes, 20 * MIB);
    cr_assert_null(find_group(&groups, STACK_AFTER));
    vt_groups_free(&groups);
    vt_replay_finish(&replay);

    /* and at the end: A and C */
    vt_replay_start(&replay, &model, true);
    vt_replay_all(&replay, NULL, NULL);
    vt_groups_collect_live(&groups, &replay, 0);
    cr_assert_eq(groups.bytes_by_kind[VT_KIND_DEVICE], 15 * MIB);
    cr_assert_not_null(find_group(&groups, STACK_AFTER));
    cr_assert_null(find_group(&groups, STACK_BUILD_B));
    cr_assert_not(groups.incomplete);
    vt_groups_free(&groups);
    vt_replay_finish(&replay);
    vt_model_free(&model);
}

struct running_bytes {
    uint64_t in_use[16];
    size_t count;
};

static void record_running_bytes(const struct vt_model_event *event, size_t index, const struct vt_replay *replay,
                                 void *context)
{
    struct running_bytes *seen = context;
    cr_assert_eq(index, seen->count);
    cr_assert_eq(event, &replay->model->events[index]);
    seen->in_use[seen->count++] = vt_replay_usage(replay, 0)->in_use.current_bytes;
}

Test(model, replay_callback_sees_running_bytes_after_each_event)
{
    struct vt_trace_model model;
    load(&model, peak_trace());
    struct vt_replay replay;
    vt_replay_start(&replay, &model, false);
    struct running_bytes seen = {0};
    vt_replay_all(&replay, record_running_bytes, &seen);
    const uint64_t expected[] = {0, 0, 0, 10 * MIB, 10 * MIB, 30 * MIB, 30 * MIB, 10 * MIB, 15 * MIB, 15 * MIB};
    cr_assert_eq(seen.count, 10);
    for (size_t i = 0; i < seen.count; i++)
        cr_assert_eq(seen.in_use[i], expected[i], "after event %zu", i);
    vt_replay_finish(&replay);
    vt_model_free(&model);
}

/* A cuMemCreate handle and a cudaMalloc pointer with the same numeric value 0x1000 are two
 * allocations: cuMemRelease frees the handle only; the handle's mapping is placement only. */
Test(model, handle_and_pointer_key_spaces_are_separate)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_alloc(&builder, 10, VT_API_cuMemCreate, VT_KIND_DEVICE, 0, 0x1000, 2 * MIB, 0);
    tb_alloc(&builder, 20, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 4 * MIB, 0);
    tb_alloc(&builder, 30, VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x1000, 64 * MIB, 0);
    tb_map(&builder, 40, 0x1000, 2 * MIB, 0x1000, 0, 0);
    tb_free(&builder, 50, VT_API_cuMemUnmap, VT_KIND_MAPPED_RANGE, 0, 0x1000, 2 * MIB);
    tb_free(&builder, 60, VT_API_cuMemRelease, VT_KIND_DEVICE, 0, 0x1000, 2 * MIB);
    tb_end(&builder, 70);
    struct vt_trace_model model;
    load(&model, tb_write(&builder, tb_temp_path("spaces.trace")));

    struct vt_replay replay;
    vt_replay_start(&replay, &model, true);
    vt_replay_until_event(&replay, 4);
    const struct vt_slot_usage *gpu = vt_replay_usage(&replay, 0);
    cr_assert_eq(gpu->in_use.current_bytes, 6 * MIB, "handle + pointer; not the reservation nor the mapping");
    cr_assert_eq(gpu->by_kind[VT_KIND_MAPPED_RANGE].current_bytes, 2 * MIB);
    cr_assert_eq(gpu->by_kind[VT_KIND_ADDRESS_SPACE].current_bytes, 64 * MIB);
    struct vt_groups groups;
    vt_groups_collect_live(&groups, &replay, 0);
    cr_assert_eq(groups.count_by_kind[VT_KIND_DEVICE], 2);
    cr_assert_eq(groups.mapping_count, 1);
    cr_assert_eq(groups.mappings[0].handle, 0x1000);
    const struct vt_group *physical = NULL;
    for (size_t i = 0; i < groups.group_count; i++)
        if (groups.groups[i].api == VT_API_cuMemCreate)
            physical = &groups.groups[i];
    cr_assert_not_null(physical);
    cr_assert_eq(physical->handles_kept, 1);
    cr_assert_eq(physical->handles[0], 0x1000);
    vt_groups_free(&groups);

    vt_replay_all(&replay, NULL, NULL);
    cr_assert_eq(gpu->in_use.current_bytes, 4 * MIB, "the pointer outlives the released handle");
    cr_assert_eq(gpu->in_use.peak_bytes, 6 * MIB);
    cr_assert_eq(gpu->by_kind[VT_KIND_MAPPED_RANGE].current_bytes, 0);
    cr_assert_eq(replay.accounting.stats.unknown_frees, 0);
    cr_assert_eq(replay.accounting.stats.frees, 1, "the unmap is not a free of memory");
    vt_groups_collect_live(&groups, &replay, VT_GROUPS_ALL_DEVICES);
    cr_assert_eq(groups.group_count, 2, "the pointer and the reservation");
    cr_assert_eq(groups.groups[0].api, VT_API_cudaMalloc);
    cr_assert_eq(groups.groups[1].api, VT_API_cuMemAddressReserve);
    cr_assert_eq(groups.mapping_count, 0);
    vt_groups_free(&groups);
    vt_replay_finish(&replay);
    vt_model_free(&model);
}

Test(model, reserved_address_space_is_never_use)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_alloc(&builder, 10, VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x7e0000000000, 1ull << 40, 0);
    tb_alloc(&builder, 20, VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x7f0000000000, 1ull << 40, 0);
    tb_free(&builder, 30, VT_API_cuMemAddressFree, VT_KIND_ADDRESS_SPACE, 0, 0x7e0000000000, 1ull << 40);
    struct vt_trace_model model;
    load(&model, tb_write(&builder, tb_temp_path("reserve.trace")));
    struct vt_replay replay;
    vt_replay_start(&replay, &model, true);
    vt_replay_all(&replay, NULL, NULL);
    const struct vt_slot_usage *gpu = vt_replay_usage(&replay, 0);
    cr_assert_eq(gpu->in_use.peak_bytes, 0);
    cr_assert_eq(gpu->in_use.current_bytes, 0);
    cr_assert_eq(gpu->by_kind[VT_KIND_ADDRESS_SPACE].peak_bytes, 2ull << 40);
    cr_assert_eq(gpu->by_kind[VT_KIND_ADDRESS_SPACE].current_bytes, 1ull << 40);
    cr_assert_eq(replay.accounting.stats.allocations, 0);
    cr_assert_eq(replay.accounting.stats.frees, 0);
    cr_assert_not(model.complete, "no END record");
    vt_replay_finish(&replay);
    vt_model_free(&model);
}

Test(model, key_reuse_without_a_free_replaces_the_stale_record)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_alloc(&builder, 10, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x5000, 8 * MIB, 0);
    tb_alloc(&builder, 20, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x5000, 3 * MIB, 0);
    tb_alloc(&builder, 30, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0, 1 * MIB, 0); /* a null result */
    struct vt_trace_record unknown = {.type = VT_RECORD_FREE_UNKNOWN};
    unknown.event = (struct vt_trace_event){.timestamp_ns = 40, .api = VT_API_cudaFree, .address = 0x9999};
    tb_record(&builder, &unknown);
    struct vt_trace_model model;
    load(&model, tb_write(&builder, tb_temp_path("reuse.trace")));
    struct vt_replay replay;
    vt_replay_start(&replay, &model, true);
    vt_replay_all(&replay, NULL, NULL);
    const struct vt_slot_usage *gpu = vt_replay_usage(&replay, 0);
    cr_assert_eq(gpu->in_use.current_bytes, 3 * MIB);
    cr_assert_eq(gpu->in_use.live_count, 1);
    cr_assert_eq(gpu->in_use.peak_bytes, 8 * MIB);
    cr_assert_eq(replay.accounting.live[VT_SPACE_POINTERS].live_count, 1);
    cr_assert_eq(replay.accounting.stats.allocations, 2, "a null result allocated nothing: a call, not an allocation");
    cr_assert_eq(replay.accounting.stats.zero_byte_requests, 1);
    cr_assert_eq(replay.accounting.stats.calls_by_api[VT_API_cudaMalloc], 3);
    cr_assert_eq(replay.accounting.stats.unknown_frees, 1);
    vt_replay_finish(&replay);
    vt_model_free(&model);
}

Test(model, allocation_sites_by_bytes_and_by_count)
{
    struct trace_builder builder;
    tb_start(&builder);
    for (int i = 0; i < 5; i++) { /* stack 1: 5 x 1 MiB; stack 2: 1 x 8 MiB; stack 1 managed: 2 x 1 MiB */
        tb_alloc(&builder, 10 + i, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, MIB, 1);
        tb_free(&builder, 10 + i, VT_API_cudaFree, VT_KIND_DEVICE, 0, 0x1000, MIB);
    }
    tb_alloc(&builder, 20, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x2000, 8 * MIB, 2);
    tb_alloc(&builder, 21, VT_API_cudaMallocManaged, VT_KIND_MANAGED, 0, 0x3000, MIB, 1);
    tb_alloc(&builder, 22, VT_API_cudaMallocManaged, VT_KIND_MANAGED, 0, 0x4000, MIB, 1);
    tb_alloc(&builder, 23, VT_API_cudaMalloc, VT_KIND_DEVICE, 1, 0x5000, 64 * MIB, 2);
    tb_alloc(&builder, 24, VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x6000, 1ull << 30, 3);
    struct vt_trace_model model;
    load(&model, tb_write(&builder, tb_temp_path("sites.trace")));

    struct vt_groups sites;
    vt_groups_collect_sites(&sites, &model, 0, VT_GROUPS_BY_BYTES);
    cr_assert_eq(sites.group_count, 3, "reservations are not allocation sites; device 1 filtered out");
    cr_assert_eq(sites.groups[0].stack_id, 2);
    cr_assert_eq(sites.groups[0].bytes, 8 * MIB);
    cr_assert_eq(sites.groups[1].stack_id, 1);
    cr_assert_eq(sites.groups[1].count, 5);
    cr_assert_eq(sites.groups[2].kind, VT_KIND_MANAGED);
    cr_assert_eq(sites.groups[2].count, 2);
    cr_assert_eq(sites.bytes_by_kind[VT_KIND_DEVICE], 13 * MIB);
    vt_groups_free(&sites);

    vt_groups_collect_sites(&sites, &model, 0, VT_GROUPS_BY_COUNT);
    cr_assert_eq(sites.groups[0].stack_id, 1);
    cr_assert_eq(sites.groups[0].kind, VT_KIND_DEVICE);
    cr_assert_eq(sites.groups[1].kind, VT_KIND_MANAGED, "2 allocations: before the 8 MiB site's 1");
    cr_assert_eq(sites.groups[2].stack_id, 2);
    vt_groups_free(&sites);

    vt_groups_collect_sites(&sites, &model, VT_GROUPS_ALL_DEVICES, VT_GROUPS_BY_BYTES);
    cr_assert_eq(sites.groups[0].stack_id, 2);
    cr_assert_eq(sites.groups[0].bytes, 72 * MIB);
    cr_assert_eq(sites.groups[0].count, 2);
    vt_groups_free(&sites);
    vt_model_free(&model);
}

Test(model, out_of_memory_failures_and_recovery)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_alloc(&builder, 10, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 15ull << 30, 1);
    tb_oom(&builder, 20, VT_API_cudaMalloc, 0, 4ull << 30, 2, 1ull << 30, 16ull << 30);
    tb_oom(&builder, 30, VT_API_cudaMalloc, 0, 2ull << 30, 2, 1ull << 30, 16ull << 30);
    tb_free(&builder, 40, VT_API_cudaFree, VT_KIND_DEVICE, 0, 0x1000, 15ull << 30);
    tb_alloc(&builder, 50, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x2000, 2ull << 30, 2);
    tb_alloc(&builder, 60, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x3000, 1ull << 30, 2);
    tb_alloc(&builder, 70, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0, 0, 2); /* zero bytes: no recovery */
    struct vt_trace_model model;
    load(&model, tb_write(&builder, tb_temp_path("oom.trace")));
    cr_assert_eq(model.oom_count, 2);
    struct vt_replay replay;
    vt_replay_start(&replay, &model, false);
    vt_replay_all(&replay, NULL, NULL);
    cr_assert_eq(replay.accounting.oom.failures, 2);
    cr_assert_eq(replay.accounting.oom.first_event, 1);
    cr_assert_eq(replay.accounting.oom.last_event, 2);
    cr_assert_eq(replay.accounting.oom.allocations_after_last_failure, 2);
    const struct vt_model_event *first = &model.events[replay.accounting.oom.first_event];
    cr_assert_eq(first->size_bytes, 4ull << 30);
    cr_assert_eq(first->stack_id, 2);
    cr_assert_eq(model.ooms[first->detail].device_free_bytes, 1ull << 30);
    cr_assert_eq(model.ooms[first->detail].device_total_bytes, 16ull << 30);
    cr_assert_eq(replay.accounting.stats.failed_out_of_memory, 2);
    cr_assert_eq(replay.accounting.stats.calls_by_api[VT_API_cudaMalloc], 6);
    cr_assert_eq(replay.accounting.stats.zero_byte_requests, 1);
    vt_replay_finish(&replay);

    struct vt_report report; /* the report's per-device count follows the same rule */
    struct vt_report_options options = {.device = VT_GROUPS_ALL_DEVICES};
    cr_assert(vt_report_build(&report, &model, &options));
    cr_assert_eq(report.oom.failures, 2);
    cr_assert_eq(report.oom.allocations_after_last_failure, 2);
    vt_report_free(&report);
    vt_model_free(&model);
}

Test(model, truncated_trace_loads_what_precedes_the_cut)
{
    const char *path = peak_trace();
    struct vt_trace_reader reader;
    char error[256];
    cr_assert_eq(vt_trace_reader_open(&reader, path, error, sizeof error), VT_TRACE_OPENED);
    cr_assert(vt_trace_reader_next_chunk(&reader));
    uint64_t second_chunk = reader.next_offset;
    vt_trace_reader_close(&reader);
    tb_truncate_file(path, second_chunk + 40);

    struct vt_trace_model model;
    load(&model, path);
    cr_assert_eq(model.event_count, 5, "the first chunk's events");
    cr_assert_not(model.complete);
    cr_assert_eq(model.stop_reason, VT_TRACE_STOP_CUT_SHORT);
    cr_assert_eq(model.skipped_bytes, 40);
    struct vt_replay replay;
    vt_replay_start(&replay, &model, true);
    vt_replay_all(&replay, NULL, NULL);
    cr_assert_eq(vt_replay_usage(&replay, 0)->in_use.peak_bytes, 10 * MIB);
    vt_replay_finish(&replay);
    vt_model_free(&model);
}

/* A trace of format version 2 (row-coded chunk payloads, times in nanoseconds), written by the code
 * of 2026-12-02 before version 3's column layout: examples/leaky on the simulated device. It must
 * give the figures the version 1 trace of the same program gives. */
Test(model, a_version_2_trace_still_reads)
{
    struct vt_trace_model model;
    char error[512];
    cr_assert_eq(vt_model_load(&model, VT_SOURCE_DIR "/tests/trace/data/leaky-v2.trace", NULL, error, sizeof error),
                 VT_TRACE_OPENED, "%s", error);
    cr_assert(model.complete);
    cr_assert_eq(model.event_count, 809);
    cr_assert_eq(model.stack_count, 6);
    struct vt_replay replay;
    vt_replay_start(&replay, &model, true);
    vt_replay_all(&replay, NULL, NULL);
    const struct vt_slot_usage *device = vt_replay_usage(&replay, 0);
    cr_assert_eq(device->by_kind[VT_KIND_DEVICE].current_bytes, 5242880);
    cr_assert_eq(device->by_kind[VT_KIND_DEVICE].live_count, 4);
    cr_assert_eq(device->in_use.peak_bytes, 70254592);
    vt_replay_finish(&replay);
    /* the fast replay (no live tables) uses FREE sizes: the same figures */
    vt_replay_start(&replay, &model, false);
    vt_replay_all(&replay, NULL, NULL);
    device = vt_replay_usage(&replay, 0);
    cr_assert_eq(device->by_kind[VT_KIND_DEVICE].current_bytes, 5242880);
    cr_assert_eq(device->in_use.peak_bytes, 70254592);
    vt_replay_finish(&replay);
    vt_model_free(&model);
}

/* A trace of format version 1 (native frames only, no CODE records), written by vramtrace 0.1.0
 * before Python frames existed: examples/leaky on the simulated device. It must read as it did. */
Test(model, a_version_1_trace_still_reads)
{
    struct vt_trace_model model;
    char error[512];
    cr_assert_eq(vt_model_load(&model, VT_SOURCE_DIR "/tests/trace/data/leaky-v1.trace", NULL, error, sizeof error),
                 VT_TRACE_OPENED, "%s", error);
    cr_assert(model.complete);
    cr_assert_eq(model.event_count, 809);
    cr_assert_eq(model.stack_count, 6);
    cr_assert_eq(model.code_slots, 0, "a version 1 trace has no code objects");
    struct vt_replay replay;
    vt_replay_start(&replay, &model, true);
    vt_replay_all(&replay, NULL, NULL);
    const struct vt_slot_usage *device = vt_replay_usage(&replay, 0);
    cr_assert_eq(device->by_kind[VT_KIND_DEVICE].current_bytes, 5242880);
    cr_assert_eq(device->by_kind[VT_KIND_DEVICE].live_count, 4);
    cr_assert_eq(device->in_use.peak_bytes, 70254592);
    for (uint32_t id = 1; id <= 6; id++) {
        unsigned depth = 0;
        const uint64_t *frames = vt_model_stack_frames(&model, id, &depth);
        cr_assert_not_null(frames);
        cr_assert_gt(depth, 2);
        for (unsigned i = 0; i < depth; i++)
            cr_assert(frames[i] > 0x1000 && frames[i] < (UINT64_C(1) << 47), "stack %u frame %u: %#lx", id, i,
                      (unsigned long)frames[i]);
    }
    vt_replay_finish(&replay);
    vt_model_free(&model);
}

/* A trace followed while it grows one byte at a time (every chunk cut short at every byte, the
 * header too), its events in memory or streamed (one decoded block kept): after each update the
 * followed model holds what a one-shot load of the same bytes holds, the replay goes on across
 * updates, and the end is the whole trace's model. */
static void follow_a_growing_trace(const struct vt_model_load_options *options)
{
    const char *whole = peak_trace();
    size_t size;
    uint8_t *bytes = tb_read_file(whole, &size);
    char *growing = tb_temp_path("growing.trace"), *prefix = tb_temp_path("prefix.trace");
    tb_append_file(growing, bytes, 0, VT_TRACE_FILE_HEADER_BYTES);

    struct vt_model_follower follower;
    char error[256];
    cr_assert_eq(vt_model_follow_open(&follower, growing, options, error, sizeof error), VT_TRACE_OPENED, "%s",
                 error);
    struct vt_replay replay;
    vt_replay_start(&replay, &follower.model, true);
    for (size_t length = VT_TRACE_FILE_HEADER_BYTES; length <= size; length++) {
        if (length > VT_TRACE_FILE_HEADER_BYTES)
            tb_append_file(growing, bytes, length - 1, length);
        cr_assert(vt_model_follow_update(&follower));
        vt_replay_all(&replay, NULL, NULL);
        unlink(prefix);
        tb_append_file(prefix, bytes, 0, length);
        struct vt_trace_model once;
        load(&once, prefix);
        const struct vt_trace_model *followed = &follower.model;
        cr_assert_eq(followed->event_count, once.event_count, "at %zu bytes", length);
        cr_assert_eq(followed->stack_count, once.stack_count, "at %zu bytes", length);
        cr_assert_eq(followed->device_count, once.device_count, "at %zu bytes", length);
        cr_assert_eq(followed->complete, once.complete, "at %zu bytes", length);
        cr_assert_eq(followed->skipped_bytes, once.skipped_bytes, "at %zu bytes", length);
        cr_assert_eq(followed->process.present, once.process.present, "at %zu bytes", length);
        cr_assert_eq(!followed->store, !options, "at %zu bytes", length);
        for (size_t i = 0; i < once.event_count; i++)
            cr_assert(memcmp(vt_model_event_at(followed, i), &once.events[i], sizeof once.events[i]) == 0,
                      "at %zu bytes: event %zu", length, i);
        vt_model_free(&once);
    }
    cr_assert(follower.model.complete);
    assert_peaks_of_peak_trace(&replay);
    vt_replay_finish(&replay);
    vt_model_follow_close(&follower);
    free(prefix);
    free(growing);
    free(bytes);
}

Test(model, following_a_growing_trace_equals_loading_it_at_every_size)
{
    follow_a_growing_trace(NULL);
}

Test(model, following_a_growing_trace_streamed_equals_loading_it_at_every_size)
{
    const struct vt_model_load_options streamed = {.stream_events = true, .resident_blocks = 1};
    follow_a_growing_trace(&streamed);
}

/* A THREAD record the shim writes once per thread, repeated (a damaged or hostile trace holds
 * millions in a few KB): the repeats of a thread index's first record add no entry, so a flood of
 * one record costs nothing; a record that differs from that first one (another name) is kept. The
 * lookups: by index the first entry, by thread id the last one kept. */
Test(model, repeated_thread_records_add_no_entries)
{
    struct trace_builder builder;
    tb_start(&builder);
    struct vt_trace_record thread = {.type = VT_RECORD_THREAD};
    thread.thread.index = 1;
    thread.thread.thread_id = 4242;
    thread.thread.name = (struct vt_trace_text){"trainer", 7};
    for (int chunk = 0; chunk < 3; chunk++) {
        tb_begin_chunk(&builder, 0);
        for (int i = 0; i < 100000; i++)
            tb_record(&builder, &thread);
        tb_end_chunk(&builder, VT_TRACE_ZSTD);
    }
    struct vt_trace_record renamed = thread;
    renamed.thread.name = (struct vt_trace_text){"loader", 6};
    tb_record(&builder, &renamed);
    tb_record(&builder, &thread);
    struct vt_trace_record second = thread;
    second.thread.index = 2;
    second.thread.thread_id = 4343;
    second.thread.name = (struct vt_trace_text){NULL, 0};
    tb_record(&builder, &second);
    tb_record(&builder, &second);
    tb_end(&builder, 10 * MS);
    struct vt_trace_model model;
    load(&model, tb_write(&builder, tb_temp_path("repeated-threads.trace")));
    cr_assert_eq(model.thread_count, 3, "%zu entries", model.thread_count);
    const struct vt_model_thread *first = vt_model_find_thread(&model, 1);
    cr_assert(first && first->thread_id == 4242 && strcmp(first->name, "trainer") == 0);
    cr_assert_str_eq(vt_model_thread_name(4242, &model), "loader"); /* the last for that id */
    const struct vt_model_thread *other = vt_model_find_thread(&model, 2);
    cr_assert(other && other->thread_id == 4343 && other->name == NULL);
    vt_model_free(&model);
}
