/* tests/trace/test_event_store.c — streamed events (trace/event_store.h) are exact: a trace of many
 * chunks (times that go back across chunks, OOM, MAP, MARKER, DROPPED and FREE_UNKNOWN events, a
 * chunk of definitions only) loaded with one or two decoded blocks kept gives the very events,
 * event counts up to a time, replays, report contents and command outputs (report, timeline,
 * flame, diff, merge, top, export) of the same trace with every event in memory; followed while it
 * grows (vt_model_follow_*, `vramtrace top`), it gives after each update what a load of the file
 * as it is then gives, and a replay going on across the updates what a replay from the start does. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_process.h"
#include "trace/event_store.h"
#include "trace/trace_model.h"
#include "trace/trace_report.h"
#include "model_compare.h"
#include "trace_builder.h"

static void load(struct vt_trace_model *model, const char *path, bool stream, size_t blocks)
{
    char error[512] = "";
    struct vt_model_load_options options = {.stream_events = stream, .resident_blocks = blocks};
    cr_assert_eq(vt_model_load(model, path, &options, error, sizeof error), VT_TRACE_OPENED, "%s", error);
}

Test(event_store, streamed_events_equal_the_resident_ones_in_any_order)
{
    const char *path = many_chunk_trace("events.trace");
    for (size_t blocks = 1; blocks <= 2; blocks++) {
        struct vt_trace_model resident, streamed;
        load(&resident, path, false, 0);
        load(&streamed, path, true, blocks);
        cr_assert_null(streamed.events);
        cr_assert_not_null(streamed.store);
        cr_assert_eq(streamed.store->block_count, MANY_CHUNKS - 1, "one block per chunk with events");
        cr_assert_eq(streamed.event_count, resident.event_count);
        cr_assert_gt(resident.event_count, 30 * 20);
        cr_assert_eq(streamed.duration_ns, resident.duration_ns);
        cr_assert_eq(streamed.dropped_events, 17);
        cr_assert_eq(streamed.complete, resident.complete);
        cr_assert_eq(streamed.oom_count, resident.oom_count);
        cr_assert_eq(streamed.map_count, resident.map_count);
        cr_assert_eq(streamed.marker_count, resident.marker_count);
        for (size_t i = 0; i < resident.oom_count; i++)
            cr_assert_eq(streamed.ooms[i].event_index, resident.ooms[i].event_index);
        for (size_t i = 0; i < resident.event_count; i++)
            assert_same_event(vt_model_event_at(&streamed, i), &resident.events[i], i);
        for (size_t i = resident.event_count; i-- > 0;)
            assert_same_event(vt_model_event_at(&streamed, i), &resident.events[i], i);
        for (size_t step = 0, i = 0; step < 5000; step++, i = (i * 7919 + 13) % resident.event_count)
            assert_same_event(vt_model_event_at(&streamed, i), &resident.events[i], i);
        cr_assert_leq(streamed.store->resident_count, blocks);
        for (uint64_t t = 0; t <= resident.duration_ns + MS; t += MS / 4)
            cr_assert_eq(vt_model_events_until(&streamed, t), vt_model_events_until(&resident, t), "at %llu ns",
                         (unsigned long long)t);
        for (int device = -2; device <= 3; device++)
            cr_assert_eq(vt_model_has_device(&streamed, device), vt_model_has_device(&resident, device));
        vt_model_free(&streamed);
        vt_model_free(&resident);
    }
}

Test(event_store, replays_and_reports_equal_those_with_every_event_in_memory)
{
    const char *path = many_chunk_trace("report.trace");
    struct vt_trace_model resident, streamed;
    load(&resident, path, false, 0);
    load(&streamed, path, true, 1);
    const struct vt_report_options choices[] = {
        {.device = VT_GROUPS_ALL_DEVICES},
        {.device = 0},
        {.device = VT_GROUPS_ALL_DEVICES, .at_time = true, .at_ns = 123 * MS + 1},
        {.device = 1, .at_time = true, .at_ns = 400 * MS},
    };
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
        struct vt_report a, b;
        cr_assert(vt_report_build(&a, &resident, &choices[i]));
        cr_assert(vt_report_build(&b, &streamed, &choices[i]));
        cr_assert(a.oom.failures > 0 || choices[i].device == 1, "the OOMs are on device 0");
        assert_same_reports(&a, &b);
        vt_report_free(&a);
        vt_report_free(&b);
    }
    /* two replays of one streamed model at once, at different places */
    struct vt_replay whole, half, reference;
    vt_replay_start(&whole, &streamed, true);
    vt_replay_start(&half, &streamed, true);
    vt_replay_start(&reference, &resident, true);
    const struct vt_model_event *event;
    while ((event = vt_replay_step(&whole))) {
        const struct vt_model_event *expected = vt_replay_step(&reference);
        assert_same_event(event, expected, whole.next_event - 1);
        if (whole.next_event % 2)
            vt_replay_step(&half);
    }
    cr_assert_null(vt_replay_step(&reference));
    cr_assert(memcmp(whole.accounting.usage, reference.accounting.usage, sizeof whole.accounting.usage) == 0);
    vt_replay_until_time(&half, streamed.duration_ns);
    cr_assert(memcmp(half.accounting.usage, reference.accounting.usage, sizeof half.accounting.usage) == 0);
    vt_replay_finish(&whole);
    vt_replay_finish(&half);
    vt_replay_finish(&reference);
    vt_model_free(&streamed);
    vt_model_free(&resident);
}

/* Where the chunks of the trace at `path` start, then where the last one ends (the file's size);
 * returns how many offsets. */
static size_t chunk_bounds(const char *path, uint64_t *offsets, size_t capacity)
{
    struct vt_trace_reader reader;
    char error[512] = "";
    cr_assert_eq(vt_trace_reader_open(&reader, path, error, sizeof error), VT_TRACE_OPENED, "%s", error);
    size_t count = 0;
    while (vt_trace_reader_next_chunk(&reader)) {
        cr_assert_lt(count + 1, capacity);
        offsets[count++] = reader.chunk_offset;
    }
    cr_assert_eq(reader.stop_reason, VT_TRACE_STOP_NONE);
    offsets[count++] = reader.next_offset;
    vt_trace_reader_close(&reader);
    return count;
}

/* The follower's model (streamed, `replay` going on across its updates) against loads of the same
 * bytes: `resident` (every event in memory, replayed here from the start) and `streamed` (its
 * blocks are the follower's, field by field). */
static void assert_follower_is_the_load(const struct vt_model_follower *follower, const struct vt_replay *replay,
                                        const struct vt_trace_model *resident, const struct vt_trace_model *streamed,
                                        size_t length)
{
    const struct vt_trace_model *model = &follower->model;
    cr_assert_null(model->events, "at %zu bytes", length);
    cr_assert_leq(model->store->resident_count, 1, "at %zu bytes", length);
    cr_assert_eq(model->event_count, resident->event_count, "at %zu bytes", length);
    cr_assert_eq(model->duration_ns, resident->duration_ns, "at %zu bytes", length);
    cr_assert_eq(model->complete, resident->complete, "at %zu bytes", length);
    cr_assert_eq(model->skipped_bytes, resident->skipped_bytes, "at %zu bytes", length);
    cr_assert_eq(model->dropped_events, resident->dropped_events, "at %zu bytes", length);
    cr_assert_eq(model->stack_count, resident->stack_count, "at %zu bytes", length);
    cr_assert_eq(model->oom_count, resident->oom_count, "at %zu bytes", length);
    cr_assert_eq(model->map_count, resident->map_count, "at %zu bytes", length);
    cr_assert_eq(model->marker_count, resident->marker_count, "at %zu bytes", length);
    for (size_t i = 0; i < resident->oom_count; i++)
        cr_assert_eq(model->ooms[i].event_index, resident->ooms[i].event_index, "at %zu bytes", length);
    for (size_t i = 0; i < resident->marker_count; i++)
        cr_assert_str_eq(model->markers[i].label, resident->markers[i].label, "at %zu bytes", length);

    cr_assert_eq(model->store->block_count, streamed->store->block_count, "at %zu bytes", length);
    for (size_t i = 0; i < streamed->store->block_count; i++) {
        const struct vt_event_block *a = &model->store->blocks[i], *b = &streamed->store->blocks[i];
        cr_assert(a->first_event == b->first_event && a->chunk_offset == b->chunk_offset &&
                      a->first_time_ns == b->first_time_ns && a->time_before_ns == b->time_before_ns &&
                      a->event_count == b->event_count && a->oom_base == b->oom_base && a->map_base == b->map_base &&
                      a->marker_base == b->marker_base,
                  "at %zu bytes: block %zu", length, i);
    }
    for (size_t i = 0; i < resident->event_count; i++)
        assert_same_event(vt_model_event_at(model, i), &resident->events[i], i);
    for (uint64_t t = 0; t <= resident->duration_ns + MS; t += MS / 2)
        cr_assert_eq(vt_model_events_until(model, t), vt_model_events_until(resident, t), "at %zu bytes, %llu ns",
                     length, (unsigned long long)t);

    struct vt_replay reference;
    vt_replay_start(&reference, resident, true);
    vt_replay_all(&reference, NULL, NULL);
    cr_assert_eq(replay->next_event, reference.next_event, "at %zu bytes", length);
    cr_assert(memcmp(replay->accounting.usage, reference.accounting.usage, sizeof reference.accounting.usage) == 0,
              "at %zu bytes", length);
    cr_assert(memcmp(&replay->accounting.stats, &reference.accounting.stats, sizeof reference.accounting.stats) == 0,
              "at %zu bytes", length);
    cr_assert(memcmp(&replay->accounting.oom, &reference.accounting.oom, sizeof reference.accounting.oom) == 0,
              "at %zu bytes", length);
    for (int device = VT_GROUPS_ALL_DEVICES; device <= 1; device++) {
        struct vt_groups a, b;
        vt_groups_collect_live(&a, replay, device);
        vt_groups_collect_live(&b, &reference, device);
        assert_same_groups(&a, &b, "live set of the follower's replay");
        vt_groups_free(&a);
        vt_groups_free(&b);
    }
    vt_replay_finish(&reference);
}

/* `vramtrace top`'s follower streams its events: a trace followed while it grows chunk by chunk
 * (each chunk appended in two halves, so every update but the first reads a chunk cut short again)
 * with one decoded block kept gives, after each update, the very model, events, event counts up to
 * a time and blocks of a load of the same bytes, and its replay, going on across updates with the
 * new events only, the accounting and live set of a replay of that load from the start. */
Test(event_store, a_followed_trace_is_streamed_and_equals_a_load_after_each_update)
{
    const char *whole = many_chunk_trace("followed.trace");
    size_t size;
    uint8_t *bytes = tb_read_file(whole, &size);
    uint64_t bounds[MANY_CHUNKS + 8];
    size_t bound_count = chunk_bounds(whole, bounds, sizeof bounds / sizeof bounds[0]);
    cr_assert_eq(bounds[bound_count - 1], size);
    cr_assert_geq(bound_count, MANY_CHUNKS + 1);
    char *growing = tb_temp_path("growing.trace"), *prefix = tb_temp_path("prefix.trace");
    tb_append_file(growing, bytes, 0, bounds[0]); /* the file header */

    struct vt_model_follower follower;
    struct vt_model_load_options options = {.stream_events = true, .resident_blocks = 1};
    char error[512] = "";
    cr_assert_eq(vt_model_follow_open(&follower, growing, &options, error, sizeof error), VT_TRACE_OPENED, "%s",
                 error);
    struct vt_replay replay;
    vt_replay_start(&replay, &follower.model, true);
    size_t written = bounds[0];
    for (size_t chunk = 0; chunk + 1 < bound_count; chunk++) {
        size_t half = bounds[chunk] + (bounds[chunk + 1] - bounds[chunk]) / 2;
        const size_t lengths[] = {half, bounds[chunk + 1]};
        for (size_t part = 0; part < 2; part++) {
            tb_append_file(growing, bytes, written, lengths[part]);
            written = lengths[part];
            cr_assert(vt_model_follow_update(&follower));
            vt_replay_all(&replay, NULL, NULL);
            unlink(prefix);
            tb_append_file(prefix, bytes, 0, written);
            struct vt_trace_model resident, streamed;
            load(&resident, prefix, false, 0);
            load(&streamed, prefix, true, 1);
            assert_follower_is_the_load(&follower, &replay, &resident, &streamed, written);
            vt_model_free(&streamed);
            vt_model_free(&resident);
        }
    }
    cr_assert(follower.model.complete);
    cr_assert_eq(follower.model.store->block_count, MANY_CHUNKS - 1, "one block per chunk with events");
    vt_replay_finish(&replay);
    vt_model_follow_close(&follower);
    free(prefix);
    free(growing);
    free(bytes);
}

/* `vramtrace ARGS...` with VRAMTRACE_TEST_EVENT_BLOCKS=`blocks`. */
static struct process_result run_command(const char *blocks, const char *const args[])
{
    char setting[64];
    snprintf(setting, sizeof setting, "VRAMTRACE_TEST_EVENT_BLOCKS=%s", blocks);
    return run_cli(setting, args);
}

Test(event_store, commands_print_the_same_with_one_block_as_with_every_event_in_memory, .timeout = 120)
{
    const char *a = many_chunk_trace("a.trace");
    const char *b = many_chunk_trace("b.trace");
    char *directory = make_temp_directory();
    char pickle_all[512], pickle_one[512];
    snprintf(pickle_all, sizeof pickle_all, "%s/all.pickle", directory);
    snprintf(pickle_one, sizeof pickle_one, "%s/one.pickle", directory);
    const char *const commands[][12] = {
        {"report", a, NULL},
        {"report", "--format", "json", a, NULL},
        {"report", "--at", "0.2", "--device", "1", a, NULL},
        {"timeline", a, NULL},
        {"timeline", "--csv", a, NULL},
        {"flame", a, NULL},
        {"diff", a, b, NULL},
        {"diff", a, "--from", "0.1", "--to", "0.5", NULL},
        {"merge", a, b, NULL},
        {"top", "--once", a, NULL},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        struct process_result all = run_command("all", commands[i]);
        struct process_result one = run_command("1", commands[i]);
        cr_assert_eq(all.exit_code, 0, "%s: %s", commands[i][0], all.err);
        cr_assert_eq(one.exit_code, all.exit_code, "%s", commands[i][0]);
        cr_assert_gt(strlen(all.out), 0, "%s", commands[i][0]);
        cr_assert_str_eq(one.out, all.out, "%s %s", commands[i][0], commands[i][1]);
        cr_assert_str_eq(one.err, all.err, "%s", commands[i][0]);
        process_result_free(&all);
        process_result_free(&one);
    }
    const char *const export_all[] = {"export", "--memory-viz", a, "-o", pickle_all, NULL};
    const char *const export_one[] = {"export", "--memory-viz", a, "-o", pickle_one, NULL};
    struct process_result all = run_command("all", export_all);
    struct process_result one = run_command("1", export_one);
    cr_assert_eq(all.exit_code, 0, "export: %s", all.err);
    cr_assert_eq(one.exit_code, 0, "export: %s", one.err);
    char *bytes_all = read_file_text(pickle_all), *bytes_one = read_file_text(pickle_one);
    cr_assert_not_null(bytes_all);
    cr_assert_not_null(bytes_one);
    cr_assert_eq(tb_file_size(pickle_all), tb_file_size(pickle_one));
    FILE *x = fopen(pickle_all, "rb"), *y = fopen(pickle_one, "rb");
    int c, d;
    do {
        c = fgetc(x);
        d = fgetc(y);
        cr_assert_eq(c, d, "the pickles differ");
    } while (c != EOF);
    fclose(x);
    fclose(y);
    free(bytes_all);
    free(bytes_one);
    process_result_free(&all);
    process_result_free(&one);
    free(directory);
}
