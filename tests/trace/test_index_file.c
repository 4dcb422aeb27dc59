/* tests/trace/test_index_file.c — the index beside a trace (trace/index_file.h): a load through the
 * index reads only the chunks holding definitions, yet gives the model a full load gives (events
 * byte for byte, definitions, counts, where and why reading stopped), the same replays to any event
 * or time and the same reports, on whole, cut and damaged traces; a trace grown since it was indexed
 * (cut short then, or not) loads its start through the index and reads on, as a full load; an index
 * of another file or of one changed in place, or that does not read whole (any byte damaged, cut
 * short) is not used; `top`'s follower starts from the index (whole or grown since); a report
 * through the index takes its whole run from the tables a report
 * wrote there, when they are of its --device;
 * a link named like the index is neither read nor followed when writing; and the commands print the
 * same with VRAMTRACE_INDEX off, writing the index, reading it, and read-only, refusing a value that
 * is not valid; merge skips an index among its traces, the other commands say what it is. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_compare.h"
#include "run_process.h"
#include "trace/event_store.h"
#include "trace/index_file.h"
#include "trace/live_index.h"
#include "trace/trace_model.h"
#include "trace/trace_report.h"
#include "trace_builder.h"

/* A streamed load with the live-set index, noting the defining chunks in `defining` (may be NULL)
 * or loading through `index` (may be NULL). */
static void load(struct vt_trace_model *model, const char *path, struct vt_index_defining_chunks *defining,
                 struct vt_trace_index *index)
{
    struct vt_model_load_options options = {.stream_events = true,
                                            .resident_blocks = 1,
                                            .index_live_set = true,
                                            .live_index_interval = 16,
                                            .index = index,
                                            .defining_chunks = defining};
    char error[512] = "";
    cr_assert_eq(vt_model_load(model, path, &options, error, sizeof error), VT_TRACE_OPENED, "%s", error);
}

/* Loads `path` in full, writes its index; the full load is left in `full`. */
static void load_and_write_index(struct vt_trace_model *full, const char *path)
{
    char *index_path = vt_index_path(path);
    unlink(index_path);
    free(index_path);
    struct vt_index_defining_chunks defining = {0};
    load(full, path, &defining, NULL);
    cr_assert_not(full->loaded_from_index);
    cr_assert(vt_index_write(full, &defining, NULL), "the index is written (%s)", strerror(errno));
    vt_index_defining_chunks_free(&defining);
}

/* The same definitions and counts (and, with `same_checkpoints`, the live-set checkpoints at the
 * same events: a load that read on past its index keeps one at the index's end too). */
static void assert_same_model(const struct vt_trace_model *a, const struct vt_trace_model *b, bool same_checkpoints)
{
    cr_assert_eq(a->event_count, b->event_count);
    for (size_t i = 0; i < a->event_count; i++) {
        struct vt_model_event copy = *vt_model_event_at(a, i);
        assert_same_event(&copy, vt_model_event_at(b, i), i);
    }
    cr_assert_eq(a->store->block_count, b->store->block_count);
    for (size_t i = 0; i < a->store->block_count; i++) {
        const struct vt_event_block *x = &a->store->blocks[i], *y = &b->store->blocks[i];
        cr_assert(x->first_event == y->first_event && x->chunk_offset == y->chunk_offset &&
                      x->first_time_ns == y->first_time_ns && x->time_before_ns == y->time_before_ns &&
                      x->event_count == y->event_count && x->oom_base == y->oom_base && x->map_base == y->map_base &&
                      x->marker_base == y->marker_base,
                  "block %zu", i);
    }
    cr_assert_eq(a->stack_count, b->stack_count);
    cr_assert_eq(a->frame_count, b->frame_count);
    cr_assert(memcmp(a->frames, b->frames, a->frame_count * sizeof *a->frames) == 0);
    cr_assert_eq(a->thread_count, b->thread_count);
    cr_assert_eq(a->device_count, b->device_count);
    cr_assert_eq(a->module_count, b->module_count);
    cr_assert_eq(a->oom_count, b->oom_count);
    for (size_t i = 0; i < a->oom_count; i++)
        cr_assert(a->ooms[i].device_free_bytes == b->ooms[i].device_free_bytes &&
                      a->ooms[i].device_total_bytes == b->ooms[i].device_total_bytes &&
                      a->ooms[i].thread_index == b->ooms[i].thread_index &&
                      a->ooms[i].event_index == b->ooms[i].event_index,
                  "oom %zu", i);
    cr_assert_eq(a->map_count, b->map_count);
    for (size_t i = 0; i < a->map_count; i++)
        cr_assert(a->maps[i].handle == b->maps[i].handle && a->maps[i].thread_index == b->maps[i].thread_index &&
                      a->maps[i].event_index == b->maps[i].event_index,
                  "map %zu", i);
    cr_assert_eq(a->marker_count, b->marker_count);
    for (size_t i = 0; i < a->marker_count; i++) {
        cr_assert_str_eq(a->markers[i].label, b->markers[i].label);
        cr_assert_eq(a->markers[i].event_index, b->markers[i].event_index);
    }
    cr_assert_eq(a->torch_snapshot_count, b->torch_snapshot_count);
    cr_assert_eq(a->event_device_count, b->event_device_count);
    cr_assert(memcmp(a->event_devices, b->event_devices, a->event_device_count * sizeof *a->event_devices) == 0);
    cr_assert_eq(a->dropped_events, b->dropped_events);
    cr_assert_eq(a->duration_ns, b->duration_ns);
    cr_assert_eq(a->complete, b->complete);
    cr_assert_eq(a->file_bytes, b->file_bytes);
    cr_assert_eq(a->chunk_count, b->chunk_count);
    cr_assert_eq(a->unknown_record_count, b->unknown_record_count);
    cr_assert_eq(a->stop_reason, b->stop_reason);
    cr_assert_eq(a->skipped_bytes, b->skipped_bytes);
    cr_assert_eq(a->stopped_at, b->stopped_at);
    if (!same_checkpoints)
        return;
    cr_assert_eq(a->live_index->count, b->live_index->count);
    for (size_t i = 0; i < a->live_index->count; i++)
        cr_assert_eq(a->live_index->checkpoints[i].next_event, b->live_index->checkpoints[i].next_event);
}

/* Replays of both to every few events and times, and reports: the same. */
static void assert_same_analysis(const struct vt_trace_model *full, const struct vt_trace_model *indexed)
{
    for (size_t target = 0; target <= full->event_count; target += 7) {
        struct vt_replay a, b;
        vt_replay_start(&a, full, true);
        vt_replay_start(&b, indexed, true);
        vt_replay_until_event(&a, target);
        vt_replay_until_event(&b, target);
        assert_same_replay(&a, &b, "to an event");
        vt_replay_finish(&a);
        vt_replay_finish(&b);
    }
    for (uint64_t time_ns = 0; time_ns <= full->duration_ns + MS; time_ns += 37 * MS / 10) {
        struct vt_report a, b;
        struct vt_report_options options = {.device = VT_GROUPS_ALL_DEVICES, .at_time = true, .at_ns = time_ns};
        cr_assert(vt_report_build(&a, full, &options));
        cr_assert(vt_report_build(&b, indexed, &options));
        assert_same_reports(&a, &b);
        vt_report_free(&a);
        vt_report_free(&b);
    }
    struct vt_report a, b;
    struct vt_report_options options = {.device = 1};
    cr_assert(vt_report_build(&a, full, &options));
    cr_assert(vt_report_build(&b, indexed, &options));
    assert_same_reports(&a, &b);
    vt_report_free(&a);
    vt_report_free(&b);
}

/* Writes the index of `path`, loads through it: only the defining chunks read, the same model. */
static void assert_index_gives_the_full_load(const char *path)
{
    struct vt_trace_model full, indexed;
    load_and_write_index(&full, path);
    struct vt_trace_index index;
    cr_assert(vt_index_read(&index, path), "the index reads back");
    cr_assert_eq(index.fit, VT_INDEX_CURRENT);
    load(&indexed, path, NULL, &index);
    vt_trace_index_free(&index);
    cr_assert(indexed.loaded_from_index);
    cr_assert_lt(indexed.chunks_decoded, full.chunks_decoded, "%llu of %llu chunks decoded",
                 (unsigned long long)indexed.chunks_decoded, (unsigned long long)full.chunks_decoded);
    assert_same_model(&full, &indexed, true);
    assert_same_analysis(&full, &indexed);
    vt_model_free(&indexed);
    vt_model_free(&full);
}

Test(index_file, a_load_through_the_index_reads_the_defining_chunks_only_and_gives_the_full_load, .timeout = 120)
{
    char *path = (char *)many_chunk_trace("whole.trace");
    assert_index_gives_the_full_load(path);
    free(path);
}

/* The chunks' offsets of the many-chunk trace at `path`. */
static size_t chunk_offsets(const char *path, uint64_t *offsets, size_t capacity)
{
    struct vt_trace_reader reader;
    char error[256];
    cr_assert_eq(vt_trace_reader_open(&reader, path, error, sizeof error), VT_TRACE_OPENED);
    size_t count = 0;
    while (count < capacity && vt_trace_reader_next_chunk(&reader))
        offsets[count++] = reader.chunk_offset;
    vt_trace_reader_close(&reader);
    return count;
}

Test(index_file, cut_and_damaged_traces_load_through_the_index_as_in_full, .timeout = 120)
{
    const char *whole = many_chunk_trace("source.trace");
    uint64_t offsets[MANY_CHUNKS + 2];
    size_t chunks = chunk_offsets(whole, offsets, MANY_CHUNKS + 2);
    cr_assert_geq(chunks, MANY_CHUNKS);
    size_t size;
    uint8_t *bytes = tb_read_file(whole, &size);
    const size_t at_chunk[] = {chunks / 2, chunks - 3};
    for (size_t i = 0; i < 2; i++) {
        char *cut = tb_temp_path("cut.trace"), *damaged = tb_temp_path("damaged.trace");
        tb_append_file(cut, bytes, 0, offsets[at_chunk[i]] + 40); /* into a chunk: cut short */
        tb_append_file(damaged, bytes, 0, size);
        tb_flip_byte(damaged, offsets[at_chunk[i]] + 60); /* a payload byte: a bad CRC */
        assert_index_gives_the_full_load(cut);
        assert_index_gives_the_full_load(damaged);
        free(cut);
        free(damaged);
    }
    free(bytes);
    free((char *)whole);
}

/* A report of `path` for `options` made as `vramtrace report` makes it with the index beside the
 * trace: a first one in full (its pass while loading), writing the index with its tables; then a
 * second through the index, its whole run taken from those tables: both the same as
 * vt_report_build's over a full load. */
static void assert_report_from_tables(const char *path, const struct vt_report_options *options)
{
    char *index_path = vt_index_path(path);
    unlink(index_path);
    free(index_path);
    struct vt_trace_model full, indexed;
    struct vt_report expected, first, second;
    load(&full, path, NULL, NULL);
    cr_assert(vt_report_build(&expected, &full, options));

    struct vt_report_pass pass;
    struct vt_index_defining_chunks defining = {0};
    struct vt_model_load_options load_options = {.stream_events = true, .defining_chunks = &defining};
    vt_report_pass_start(&pass, &first, &indexed, options, &load_options);
    char error[256];
    cr_assert_eq(vt_model_load(&indexed, path, &load_options, error, sizeof error), VT_TRACE_OPENED, "%s", error);
    struct vt_index_report_tables tables;
    cr_assert(vt_report_pass_tables(&pass, &tables));
    cr_assert(vt_index_write(&indexed, &defining, &tables));
    vt_index_report_tables_free(&tables);
    vt_index_defining_chunks_free(&defining);
    cr_assert(vt_report_pass_finish(&pass));
    assert_same_reports(&expected, &first);
    vt_report_free(&first);
    vt_model_free(&indexed);

    struct vt_trace_index index;
    cr_assert(vt_index_read(&index, path));
    cr_assert(index.report.present);
    cr_assert_eq(index.report.device, options->device);
    load(&indexed, path, NULL, &index);
    cr_assert(indexed.loaded_from_index);
    vt_report_pass_start(&pass, &second, &indexed, options, NULL);
    cr_assert(vt_report_pass_take(&pass, &index.report), "the tables fit");
    cr_assert(vt_report_pass_finish(&pass));
    assert_same_reports(&expected, &second);
    cr_assert_eq(second.oom.failures, expected.oom.failures);
    vt_report_free(&second);
    vt_trace_index_free(&index);
    vt_model_free(&indexed);
    vt_report_free(&expected);
    vt_model_free(&full);
}

Test(index_file, a_report_through_the_index_takes_its_whole_run_from_the_tables_a_report_wrote, .timeout = 120)
{
    char *path = (char *)many_chunk_trace("report-tables.trace");
    const struct vt_report_options choices[] = {
        {.device = VT_GROUPS_ALL_DEVICES},
        {.device = VT_GROUPS_ALL_DEVICES, .at_time = true, .at_ns = 123 * MS},
        {.device = 0},
        {.device = 1, .at_time = true, .at_ns = 300 * MS},
    };
    for (size_t i = 0; i < sizeof choices / sizeof *choices; i++)
        assert_report_from_tables(path, &choices[i]);

    /* tables of another --device, or of no report: not taken */
    struct vt_trace_model indexed;
    struct vt_trace_index index;
    cr_assert(vt_index_read(&index, path));
    load(&indexed, path, NULL, &index);
    struct vt_report report;
    struct vt_report_pass pass;
    struct vt_report_options other = {.device = 0};
    vt_report_pass_start(&pass, &report, &indexed, &other, NULL);
    cr_assert_not(vt_report_pass_take(&pass, &index.report), "tables of device 1 for a report of device 0");
    vt_report_pass_drop(&pass);
    vt_trace_index_free(&index);
    vt_model_free(&indexed);
    free(path);
}

/* A follower (`top`'s) opened through the index of `path`, then updated: the model a full load of
 * the file gives, whose replays start from the index's checkpoints. */
static void assert_follower_starts_from_the_index(const char *path, const struct vt_trace_model *full)
{
    struct vt_trace_index index;
    cr_assert(vt_index_read(&index, path));
    struct vt_model_load_options options = {.stream_events = true, .index_live_set = true, .index = &index};
    struct vt_model_follower follower;
    char error[256] = "";
    cr_assert_eq(vt_model_follow_open(&follower, path, &options, error, sizeof error), VT_TRACE_OPENED, "%s", error);
    vt_trace_index_free(&index);
    cr_assert(follower.model.loaded_from_index);
    cr_assert(vt_model_follow_update(&follower));
    assert_same_model(full, &follower.model, false);
    assert_same_analysis(full, &follower.model);
    vt_model_follow_close(&follower);
}

Test(index_file, a_follower_starts_from_the_index_and_reads_on, .timeout = 120)
{
    const char *source = many_chunk_trace("follow-source.trace");
    uint64_t offsets[MANY_CHUNKS + 2];
    size_t chunks = chunk_offsets(source, offsets, MANY_CHUNKS + 2);
    size_t size;
    uint8_t *bytes = tb_read_file(source, &size);
    struct vt_trace_model full;
    load(&full, source, NULL, NULL);
    /* the whole trace indexed; then indexed at a chunk's end and in a chunk, grown since */
    struct vt_trace_model start;
    load_and_write_index(&start, source);
    vt_model_free(&start);
    assert_follower_starts_from_the_index(source, &full);
    /* loop chunks 18 and 19 hold events only: the first prefix ends after them */
    const size_t indexed_bytes[] = {offsets[21], offsets[chunks / 2] + 50};
    for (size_t i = 0; i < 2; i++) {
        char *path = tb_temp_path("followed.trace");
        tb_append_file(path, bytes, 0, indexed_bytes[i]);
        load_and_write_index(&start, path);
        assert_follower_starts_from_the_index(path, &start); /* as indexed: its end after event chunks */
        vt_model_free(&start);
        tb_append_file(path, bytes, indexed_bytes[i], size);
        assert_follower_starts_from_the_index(path, &full);
        free(path);
    }
    vt_model_free(&full);
    free(bytes);
    free((char *)source);
}

/* Whether the index of `path` reads back. */
static bool index_reads(const char *path)
{
    struct vt_trace_index index;
    bool read = vt_index_read(&index, path);
    vt_trace_index_free(&index);
    return read;
}

Test(index_file, an_index_that_no_longer_describes_the_trace_is_not_used, .timeout = 60)
{
    const char *path = many_chunk_trace("changing.trace");
    struct vt_trace_model full;
    load_and_write_index(&full, path);
    vt_model_free(&full);
    cr_assert(index_reads(path));

    /* read, then the trace changes before the load: the load reads it in full */
    struct vt_trace_index index;
    cr_assert(vt_index_read(&index, path));
    struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1000000000, .tv_nsec = 1}};
    cr_assert_eq(utimensat(AT_FDCWD, path, times, 0), 0);
    struct vt_trace_model model;
    load(&model, path, NULL, &index);
    vt_trace_index_free(&index);
    cr_assert_not(model.loaded_from_index);
    cr_assert_eq(model.chunks_decoded, model.chunk_count);
    vt_model_free(&model);
    cr_assert_not(index_reads(path), "touched: stale");

    /* another file under the trace's name: stale */
    load_and_write_index(&full, path);
    vt_model_free(&full);
    cr_assert(index_reads(path));
    size_t size;
    uint8_t *bytes = tb_read_file(path, &size);
    char *other = tb_temp_path("other.trace");
    tb_append_file(other, bytes, 0, size);
    tb_append_file(other, bytes, 8, 64); /* and longer: not taken for a grown trace */
    cr_assert_eq(rename(other, path), 0);
    cr_assert_not(index_reads(path), "another file: stale");
    free(other);
    free(bytes);
    free((char *)path);
}

/* A full load of `path` and one through its index, written when the file was `indexed_bytes` long
 * (the file has grown since): the same model, the replays and reports the same. */
static void assert_grown_trace_reads_on(const char *path, const struct vt_trace_model *full)
{
    struct vt_trace_index index;
    cr_assert(vt_index_read(&index, path), "an index of the trace's start reads");
    cr_assert_eq(index.fit, VT_INDEX_PREFIX);
    struct vt_index_defining_chunks defining = {0};
    struct vt_trace_model grown;
    load(&grown, path, &defining, &index);
    vt_trace_index_free(&index);
    cr_assert(grown.loaded_from_index);
    cr_assert(grown.read_past_index);
    cr_assert_lt(grown.chunks_decoded, full->chunks_decoded);
    assert_same_model(full, &grown, false);
    assert_same_analysis(full, &grown);
    /* the index written again now describes the whole file */
    cr_assert(vt_index_write(&grown, &defining, NULL));
    vt_index_defining_chunks_free(&defining);
    vt_model_free(&grown);
    cr_assert(vt_index_read(&index, path));
    load(&grown, path, NULL, &index);
    vt_trace_index_free(&index);
    cr_assert(grown.loaded_from_index);
    cr_assert_not(grown.read_past_index);
    assert_same_model(full, &grown, false);
    vt_model_free(&grown);
}

Test(index_file, a_grown_trace_loads_its_indexed_start_and_reads_on_from_there, .timeout = 120)
{
    const char *source = many_chunk_trace("grown-source.trace");
    uint64_t offsets[MANY_CHUNKS + 2];
    size_t chunks = chunk_offsets(source, offsets, MANY_CHUNKS + 2);
    size_t size;
    uint8_t *bytes = tb_read_file(source, &size);
    /* indexed at a chunk's end, in the middle of a chunk (a writer's write cut short), after the
     * defining-only chunk */
    const size_t indexed_bytes[] = {offsets[chunks / 3], offsets[chunks / 2] + 50, offsets[8], offsets[chunks - 1]};
    struct vt_trace_model full;
    load(&full, source, NULL, NULL);
    for (size_t i = 0; i < sizeof indexed_bytes / sizeof *indexed_bytes; i++) {
        char *path = tb_temp_path("grown.trace");
        tb_append_file(path, bytes, 0, indexed_bytes[i]);
        struct vt_trace_model start;
        load_and_write_index(&start, path);
        vt_model_free(&start);
        tb_append_file(path, bytes, indexed_bytes[i], size); /* the same file, grown */
        assert_grown_trace_reads_on(path, &full);
        free(path);
    }
    vt_model_free(&full);
    free(bytes);
    free((char *)source);
}

Test(index_file, an_index_damaged_anywhere_or_cut_short_is_not_read, .timeout = 120)
{
    const char *path = many_chunk_trace("damaged-index.trace");
    struct vt_trace_model full;
    load_and_write_index(&full, path);
    vt_model_free(&full);
    char *index_path = vt_index_path(path);
    size_t size;
    uint8_t *good = tb_read_file(index_path, &size);
    cr_assert_gt(size, 100);
    for (size_t offset = 0; offset < size; offset += 1 + offset / 16) {
        unlink(index_path);
        tb_append_file(index_path, good, 0, size);
        tb_flip_byte(index_path, offset);
        cr_assert_not(index_reads(path), "a byte flipped at %zu of %zu", offset, size);
    }
    for (size_t length = 0; length < size; length += 1 + length / 8) {
        unlink(index_path);
        tb_append_file(index_path, good, 0, length);
        cr_assert_not(index_reads(path), "cut to %zu of %zu bytes", length, size);
    }
    unlink(index_path);
    tb_append_file(index_path, good, 0, size);
    cr_assert(index_reads(path));
    free(good);
    free(index_path);
    free((char *)path);
}

Test(index_file, a_link_named_like_the_index_is_neither_read_nor_followed, .timeout = 60)
{
    const char *path = many_chunk_trace("linked.trace");
    struct vt_trace_model full;
    load_and_write_index(&full, path);
    char *index_path = vt_index_path(path), *elsewhere = tb_temp_path("elsewhere.vtindex");
    cr_assert_eq(rename(index_path, elsewhere), 0);
    cr_assert_eq(symlink(elsewhere, index_path), 0);
    cr_assert_not(index_reads(path), "a link to a good index is not read");

    /* writing replaces the link; the file it pointed to stays as it was */
    size_t before_size, after_size;
    uint8_t *before = tb_read_file(elsewhere, &before_size);
    struct vt_index_defining_chunks defining = {0};
    vt_model_free(&full);
    load(&full, path, &defining, NULL);
    cr_assert(vt_index_write(&full, &defining, NULL));
    vt_index_defining_chunks_free(&defining);
    vt_model_free(&full);
    struct stat status;
    cr_assert_eq(lstat(index_path, &status), 0);
    cr_assert(S_ISREG(status.st_mode), "the link was replaced by the index");
    uint8_t *after = tb_read_file(elsewhere, &after_size);
    cr_assert_eq(before_size, after_size);
    cr_assert(memcmp(before, after, before_size) == 0);
    cr_assert(index_reads(path));
    free(before);
    free(after);
    free(index_path);
    free(elsewhere);
    free((char *)path);
}

/* `vramtrace ARGS...` with VRAMTRACE_INDEX=`mode` (NULL: not set). */
static struct process_result run_command(const char *mode, const char *const args[])
{
    char setting[64];
    snprintf(setting, sizeof setting, "VRAMTRACE_INDEX=%s", mode ? mode : "");
    return run_cli(mode ? setting : "VRAMTRACE_INDEX", args);
}

static bool exists(const char *path)
{
    struct stat status;
    return lstat(path, &status) == 0;
}

Test(index_file, commands_print_the_same_without_the_index_writing_it_and_reading_it, .timeout = 180)
{
    const char *a = many_chunk_trace("cli-a.trace");
    const char *b = many_chunk_trace("cli-b.trace");
    char *index_a = vt_index_path(a), *index_b = vt_index_path(b);
    const char *const commands[][12] = {
        {"report", a, NULL},
        {"report", "--format", "json", "--at", "0.2", a, NULL},
        {"timeline", "--csv", a, NULL},
        {"flame", a, NULL},
        {"flame", "--peak", a, NULL},
        {"flame", "--at", "0.3", "--device", "1", a, NULL},
        {"report", "--device", "1", a, NULL},
        {"report", "--at", "0.3", "--format", "json", a, NULL},
        {"diff", a, b, NULL},
        {"diff", a, "--from", "0.1", "--to", "0.5", NULL},
        {"merge", "--format", "json", a, b, NULL},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        unlink(index_a);
        unlink(index_b);
        struct process_result off = run_command("off", commands[i]);
        cr_assert_not(exists(index_a), "%s: off writes no index", commands[i][0]);
        struct process_result read_none = run_command("read", commands[i]);
        cr_assert_not(exists(index_a), "%s: read writes no index", commands[i][0]);
        struct process_result writing = run_command(NULL, commands[i]);
        cr_assert(exists(index_a), "%s: the default writes the index", commands[i][0]);
        struct process_result reading = run_command("auto", commands[i]);
        struct process_result read_only = run_command("read", commands[i]);
        const struct process_result *runs[] = {&read_none, &writing, &reading, &read_only};
        for (size_t r = 0; r < 4; r++) {
            cr_assert_eq(runs[r]->exit_code, off.exit_code, "%s %s (run %zu)", commands[i][0], commands[i][1], r);
            cr_assert_str_eq(runs[r]->out, off.out, "%s %s (run %zu)", commands[i][0], commands[i][1], r);
            cr_assert_str_eq(runs[r]->err, off.err, "%s %s (run %zu)", commands[i][0], commands[i][1], r);
        }
        cr_assert_gt(strlen(off.out), 0, "%s", commands[i][0]);
        process_result_free(&off);
        process_result_free(&read_none);
        process_result_free(&writing);
        process_result_free(&reading);
        process_result_free(&read_only);
    }
    const char *const report[] = {"report", a, NULL};
    struct process_result bad = run_command("sometimes", report);
    cr_assert_eq(bad.exit_code, 2);
    cr_assert_str_eq(bad.out, "");
    cr_assert(strstr(bad.err, "VRAMTRACE_INDEX='sometimes' is not valid; accepted: auto (the default), read, off"),
              "%s", bad.err);
    process_result_free(&bad);

    /* top starts from the index the commands above left */
    cr_assert(exists(index_a));
    const char *const top_once[] = {"top", "--once", a, NULL};
    struct process_result top_off = run_command("off", top_once), top_indexed = run_command(NULL, top_once);
    cr_assert_eq(top_indexed.exit_code, top_off.exit_code);
    cr_assert_gt(strlen(top_off.out), 0);
    cr_assert_str_eq(top_indexed.out, top_off.out);
    cr_assert_str_eq(top_indexed.err, top_off.err);
    process_result_free(&top_off);
    process_result_free(&top_indexed);

    /* the index given as a trace: merge skips it (a glob gives it), the others say what it is */
    const char *const merge_with_index[] = {"merge", a, index_a, NULL};
    const char *const merge_alone[] = {"merge", a, NULL};
    struct process_result skipping = run_command(NULL, merge_with_index), alone = run_command(NULL, merge_alone);
    cr_assert_eq(skipping.exit_code, 0, "%s", skipping.err);
    cr_assert_str_eq(skipping.out, alone.out);
    cr_assert(strstr(skipping.err, "skipping") && strstr(skipping.err, "the index of a trace, not a trace"), "%s",
              skipping.err);
    const char *const report_of_index[] = {"report", index_a, NULL};
    struct process_result named = run_command(NULL, report_of_index);
    cr_assert_eq(named.exit_code, 1);
    cr_assert(strstr(named.err, "is the index of a trace (written beside it), not a trace"), "%s", named.err);
    process_result_free(&skipping);
    process_result_free(&alone);
    process_result_free(&named);

    /* a FIFO among merge's traces is no index: not opened to look (it would wait for a writer) */
    char *fifo = tb_temp_path("fifo.trace");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    const char *const merge_with_fifo[] = {"merge", a, fifo, NULL};
    struct process_result refused = run_command(NULL, merge_with_fifo);
    cr_assert_eq(refused.exit_code, 1, "%s", refused.err);
    cr_assert(strstr(refused.err, "not a regular file"), "%s", refused.err);
    process_result_free(&refused);
    unlink(fifo);
    free(fifo);
    free(index_a);
    free(index_b);
    free((char *)a);
    free((char *)b);
}
