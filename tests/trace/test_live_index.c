/* tests/trace/test_live_index.c — the live-set index (trace/live_index.h) and the replays made while
 * a trace loads (vt_model_load_options replay/visit, vt_report_pass_*): a multi-chunk trace loaded
 * with checkpoints every few events, under budgets that force thinning or keep none, replays to any
 * event or time — forwards, backwards, in any order — exactly as a replay from the first event of
 * the same trace loaded without an index (accounting, live tables record by record, live groups);
 * each checkpoint restores the state a replay from the start reaches there; the index stays within
 * its budget at multiples of its interval (and one at the end of the load); and a report built during the load equals
 * vt_report_build's on a model loaded without an index. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "model_compare.h"
#include "trace/live_index.h"
#include "trace/trace_model.h"
#include "trace/trace_report.h"
#include "trace_builder.h"

static void load_with(struct vt_trace_model *model, const char *path, struct vt_model_load_options *options)
{
    char error[512] = "";
    cr_assert_eq(vt_model_load(model, path, options, error, sizeof error), VT_TRACE_OPENED, "%s", error);
}

static void load_indexed(struct vt_trace_model *model, const char *path, size_t interval, size_t budget_bytes)
{
    struct vt_model_load_options options = {
        .index_live_set = true, .live_index_interval = interval, .live_index_budget_bytes = budget_bytes};
    load_with(model, path, &options);
    cr_assert_not_null(model->live_index);
}

/* The bytes of a checkpoint with `records` live records in all (live_index.c's measure). */
static size_t checkpoint_bytes(size_t records)
{
    return sizeof(struct vt_live_checkpoint) + records * sizeof(struct alloc_record);
}

/* The index's shape: within its budget, checkpoints in order at multiples of its interval, which is
 * the first one doubled once per thinning, but the last, after the trace's last event (`events`). */
static void assert_index_shape(const struct vt_live_index *index, size_t first_interval, size_t budget_bytes,
                               size_t events)
{
    cr_assert_eq(index->budget_bytes, budget_bytes);
    cr_assert_leq(index->bytes, budget_bytes, "%zu bytes over a budget of %zu", index->bytes, budget_bytes);
    cr_assert_eq(index->interval % first_interval, 0);
    size_t doublings = index->interval / first_interval;
    cr_assert_eq(doublings & (doublings - 1), 0, "interval %zu: the first (%zu) doubled", index->interval, first_interval);
    size_t bytes = 0;
    for (size_t i = 0; i < index->count; i++) {
        const struct vt_live_checkpoint *checkpoint = &index->checkpoints[i];
        if (i + 1 == index->count)
            cr_assert_eq(checkpoint->next_event, events, "the last checkpoint: the end of the load");
        else
            cr_assert_eq(checkpoint->next_event % index->interval, 0, "checkpoint %zu at event %zu, interval %zu", i,
                         checkpoint->next_event, index->interval);
        cr_assert_gt(checkpoint->next_event, i ? index->checkpoints[i - 1].next_event : 0);
        size_t records = 0;
        for (int space = 0; space < VT_SPACE_COUNT; space++)
            records += checkpoint->record_count[space];
        cr_assert_eq(checkpoint->bytes, checkpoint_bytes(records));
        bytes += checkpoint->bytes;
    }
    cr_assert_eq(bytes, index->bytes);
}

/* A replay of `indexed` and one of `plain` (the same trace, no index) brought to `target` events
 * (or, with by_time, to time `target`): the same state. */
static void assert_same_replays_to(struct vt_replay *indexed, struct vt_replay *plain, size_t target, bool by_time,
                                   const char *how)
{
    if (by_time) {
        vt_replay_until_time(indexed, target);
        vt_replay_until_time(plain, target);
    } else {
        vt_replay_until_event(indexed, target);
        vt_replay_until_event(plain, target);
    }
    char what[128];
    snprintf(what, sizeof what, "%s to %s %zu", how, by_time ? "time" : "event", target);
    assert_same_replay(indexed, plain, what);
}

/* Replays of `indexed` against replays of `plain` from the first event, to many targets: forwards
 * with one replay each (jumping over checkpoints), backwards with fresh replays, in a pseudo-random
 * order (a replay restarted when the target is behind it), and to times. */
static void assert_replays_exact(const struct vt_trace_model *indexed, const struct vt_trace_model *plain)
{
    size_t events = plain->event_count;
    cr_assert_eq(indexed->event_count, events);
    struct vt_replay a, b;
    vt_replay_start(&a, indexed, true);
    vt_replay_start(&b, plain, true);
    for (size_t target = 0; target <= events + 2; target += 1 + (target * 7919) % 41)
        assert_same_replays_to(&a, &b, target, false, "forwards");
    vt_replay_finish(&a);
    vt_replay_finish(&b);

    for (size_t target = events + 1; target > 0; target = target > 23 ? target - 23 : 0) {
        vt_replay_start(&a, indexed, true);
        vt_replay_start(&b, plain, true);
        assert_same_replays_to(&a, &b, target, false, "backwards, fresh");
        vt_replay_finish(&a);
        vt_replay_finish(&b);
    }

    vt_replay_start(&a, indexed, true);
    vt_replay_start(&b, plain, true);
    size_t target = 17;
    for (unsigned step = 0; step < 150; step++) {
        target = (target * 1103515245u + 12345u) % (events + 3);
        if (target < a.next_event) {
            vt_replay_finish(&a);
            vt_replay_finish(&b);
            vt_replay_start(&a, indexed, true);
            vt_replay_start(&b, plain, true);
        }
        assert_same_replays_to(&a, &b, target, false, "in any order");
    }
    vt_replay_finish(&a);
    vt_replay_finish(&b);

    for (uint64_t time_ns = 0; time_ns <= plain->duration_ns + MS; time_ns += 37 * MS / 10) {
        vt_replay_start(&a, indexed, true);
        vt_replay_start(&b, plain, true);
        assert_same_replays_to(&a, &b, time_ns, true, "fresh");
        vt_replay_finish(&a);
        vt_replay_finish(&b);
    }
}

/* Each checkpoint restored into a fresh replay is the state a replay from the start reaches there. */
static void assert_checkpoints_exact(const struct vt_trace_model *indexed, const struct vt_trace_model *plain)
{
    const struct vt_live_index *index = indexed->live_index;
    struct vt_replay reference;
    vt_replay_start(&reference, plain, true);
    for (size_t i = 0; i < index->count; i++) {
        struct vt_replay restored;
        vt_replay_start(&restored, indexed, true);
        cr_assert(vt_live_checkpoint_restore(&index->checkpoints[i], &restored));
        vt_replay_until_event(&reference, index->checkpoints[i].next_event);
        char what[64];
        snprintf(what, sizeof what, "checkpoint %zu", i);
        assert_same_replay(&restored, &reference, what);
        vt_replay_finish(&restored);
    }
    vt_replay_finish(&reference);
}

Test(live_index, replays_from_checkpoints_equal_replays_from_the_first_event, .timeout = 30)
{
    const char *path = many_chunk_trace("indexed.trace");
    struct vt_trace_model plain;
    load_with(&plain, path, NULL);
    cr_assert_null(plain.live_index);
    cr_assert_gt(plain.event_count, 1000);
    /* the live set grows to about 100 records: a budget of 12 such checkpoints must thin */
    const struct {
        size_t interval, budget_bytes;
        bool thinned;
    } indexes[] = {
        {8, 64u << 20, false},
        {16, 12 * checkpoint_bytes(100), true},
        {8, 5 * checkpoint_bytes(100), true},
    };
    for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++) {
        struct vt_trace_model indexed;
        load_indexed(&indexed, path, indexes[i].interval, indexes[i].budget_bytes);
        const struct vt_live_index *index = indexed.live_index;
        assert_index_shape(index, indexes[i].interval, indexes[i].budget_bytes, plain.event_count);
        cr_assert_gt(index->count, 2, "index %zu keeps checkpoints", i);
        cr_assert_not(index->out_of_memory);
        if (indexes[i].thinned) {
            cr_assert_gt(index->interval, indexes[i].interval, "index %zu thinned: its interval doubled", i);
        } else {
            cr_assert_eq(index->interval, indexes[i].interval);
            size_t at_the_end = plain.event_count % indexes[i].interval != 0;
            cr_assert_eq(index->count, plain.event_count / indexes[i].interval + at_the_end,
                         "one per interval, and one at the end");
        }
        assert_checkpoints_exact(&indexed, &plain);
        assert_replays_exact(&indexed, &plain);
        vt_model_free(&indexed);
    }
    vt_model_free(&plain);
}

Test(live_index, a_budget_smaller_than_one_checkpoint_keeps_none_and_replays_stay_exact, .timeout = 30)
{
    const char *path = many_chunk_trace("unindexed.trace");
    struct vt_trace_model plain, indexed;
    load_with(&plain, path, NULL);
    load_indexed(&indexed, path, 8, checkpoint_bytes(0) - 1);
    const struct vt_live_index *index = indexed.live_index;
    cr_assert_eq(index->count, 0);
    cr_assert_eq(index->bytes, 0);
    cr_assert_null(vt_live_index_before(index, plain.event_count));
    cr_assert_eq(index->interval, 8, "nothing thinned: there was nothing to thin");
    assert_replays_exact(&indexed, &plain);
    vt_model_free(&indexed);
    vt_model_free(&plain);
}

/* A live set that grows past the whole budget (a run that never frees): the checkpoints taken while
 * it was small stay, and no later one is taken, not even at the end. */
Test(live_index, a_live_set_outgrowing_the_budget_keeps_the_earlier_checkpoints, .timeout = 30)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_two_devices_and_four_stacks(&builder, "hoarder", 77);
    for (unsigned i = 0; i < 2000; i++) {
        if (i % 100 == 0) {
            tb_end_chunk(&builder, VT_TRACE_ZSTD);
            tb_begin_chunk(&builder, i * 1000);
        }
        tb_alloc(&builder, i * 1000 + 1, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x10000000 + (uint64_t)i * 0x1000,
                 4096, 1 + i % 4);
    }
    tb_end(&builder, 2000 * 1000);
    const char *path = tb_write(&builder, tb_temp_path("hoarder.trace"));
    struct vt_trace_model plain, indexed;
    load_with(&plain, path, NULL);
    size_t budget = 3 * checkpoint_bytes(0) + checkpoint_bytes(60);
    load_indexed(&indexed, path, 8, budget);
    const struct vt_live_index *index = indexed.live_index;
    cr_assert_gt(index->count, 0, "the early checkpoints stay");
    cr_assert_leq(index->bytes, budget);
    cr_assert_gt(checkpoint_bytes(2000), budget, "the live set at the end is over the budget");
    const struct vt_live_checkpoint *last = &index->checkpoints[index->count - 1];
    cr_assert_lt(last->next_event, plain.event_count, "no checkpoint at the end (the last at event %zu)",
                 last->next_event);
    cr_assert_leq(checkpoint_bytes(last->next_event), budget);
    assert_replays_exact(&indexed, &plain);
    vt_model_free(&indexed);
    vt_model_free(&plain);
}

struct visits {
    size_t count;
    const struct vt_replay *replay;
};

static void count_visit(const struct vt_model_event *event, size_t index, const struct vt_replay *replay, void *context)
{
    struct visits *visits = context;
    cr_assert_not_null(event);
    cr_assert_eq(index, visits->count, "events visited in order");
    cr_assert_eq(replay, visits->replay, "the caller's replay");
    cr_assert_eq(replay->next_event, index + 1, "the event applied before the visit");
    visits->count++;
}

/* The caller's replay applied while loading (with and without the index built from it) ends where
 * vt_replay_all over the loaded model ends, each event visited once, in order. */
Test(live_index, the_callers_replay_while_loading_equals_a_replay_of_the_loaded_model)
{
    const char *path = many_chunk_trace("visited.trace");
    for (int with_index = 0; with_index < 2; with_index++) {
        struct vt_trace_model model, plain;
        struct vt_replay during, after;
        vt_replay_start(&during, &model, true);
        struct visits visits = {0, &during};
        struct vt_model_load_options options = {.replay = &during, .visit = count_visit, .visit_context = &visits,
                                                .index_live_set = with_index, .live_index_interval = 16};
        load_with(&model, path, &options);
        load_with(&plain, path, NULL);
        cr_assert_eq(visits.count, model.event_count);
        vt_replay_start(&after, &plain, true);
        vt_replay_all(&after, NULL, NULL);
        assert_same_replay(&during, &after, with_index ? "while loading, indexed" : "while loading");
        if (with_index) {
            cr_assert_gt(model.live_index->count, 0, "the index is built from the caller's replay");
            assert_checkpoints_exact(&model, &plain);
        } else {
            cr_assert_null(model.live_index);
        }
        vt_replay_finish(&during);
        vt_replay_finish(&after);
        vt_model_free(&model);
        vt_model_free(&plain);
    }
}

/* `vramtrace report`'s way (the whole-run replay made during the load, the index its replays start
 * from) against vt_report_build on a model loaded without an index, for the --device and --at
 * choices of the event store's test, with a default index and a small thinned one. */
Test(live_index, a_report_built_while_loading_equals_one_built_after, .timeout = 30)
{
    const char *path = many_chunk_trace("report.trace");
    struct vt_trace_model plain;
    load_with(&plain, path, NULL);
    const struct vt_report_options choices[] = {
        {.device = VT_GROUPS_ALL_DEVICES},
        {.device = 0},
        {.device = VT_GROUPS_ALL_DEVICES, .at_time = true, .at_ns = 123 * MS + 1},
        {.device = 1, .at_time = true, .at_ns = 400 * MS},
    };
    const size_t intervals[] = {0, 8}, budgets[] = {0, 6 * checkpoint_bytes(100)};
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++)
        for (size_t k = 0; k < 2; k++) {
            struct vt_report built, during;
            cr_assert(vt_report_build(&built, &plain, &choices[i]));
            struct vt_trace_model model;
            struct vt_report_pass pass;
            struct vt_model_load_options options = {.stream_events = false};
            vt_report_pass_start(&pass, &during, &model, &choices[i], &options);
            cr_assert(options.index_live_set);
            options.live_index_interval = intervals[k];
            options.live_index_budget_bytes = budgets[k];
            load_with(&model, path, &options);
            cr_assert(vt_report_pass_finish(&pass));
            cr_assert_not_null(model.live_index);
            if (k)
                cr_assert_gt(model.live_index->count, 0);
            cr_assert(built.oom.failures > 0 || choices[i].device == 1, "the OOMs are on device 0");
            assert_same_reports(&during, &built);
            cr_assert_eq(during.live_time_ns, built.live_time_ns);
            vt_report_free(&during);
            vt_report_free(&built);
            vt_model_free(&model);
        }
    vt_model_free(&plain);

    /* a trace that does not load: the pass is dropped, nothing kept */
    struct vt_trace_model missing;
    struct vt_report report;
    struct vt_report_pass pass;
    struct vt_model_load_options options = {0};
    vt_report_pass_start(&pass, &report, &missing, &choices[0], &options);
    char error[512];
    cr_assert_neq(vt_model_load(&missing, "/nonexistent/report.trace", &options, error, sizeof error), VT_TRACE_OPENED);
    vt_report_pass_drop(&pass);
    cr_assert_eq(report.peak_count, 0);
    cr_assert_null(report.live.groups);
    vt_model_free(&missing);
}
