/* tests/trace/model_compare.c — the multi-chunk trace of the model tests and the comparisons of
 * what two loads of it give (see model_compare.h). */
#include "model_compare.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_builder.h"

static void marker(struct trace_builder *builder, uint64_t time_ns, const char *label)
{
    struct vt_trace_record record = {.type = VT_RECORD_MARKER};
    record.marker.timestamp_ns = time_ns;
    record.marker.kind = VT_MARKER_DUMP;
    record.marker.text = (struct vt_trace_text){label, (uint32_t)strlen(label)};
    tb_record(builder, &record);
}

static void dropped(struct trace_builder *builder, uint64_t time_ns, uint64_t count)
{
    struct vt_trace_record record = {.type = VT_RECORD_DROPPED};
    record.dropped.timestamp_ns = time_ns;
    record.dropped.count = count;
    tb_record(builder, &record);
}

static void free_unknown(struct trace_builder *builder, uint64_t time_ns, uint64_t address)
{
    struct vt_trace_record record = {.type = VT_RECORD_FREE_UNKNOWN};
    record.event = (struct vt_trace_event){.timestamp_ns = time_ns, .api = VT_API_cudaFree, .address = address,
                                           .thread_index = 1};
    tb_record(builder, &record);
}

/* MANY_CHUNKS chunks of churn on devices 0 and 1 (each chunk allocates 20 blocks and frees those of the
 * chunk before but one, which leaks), with the odd events; chunk 7 only defines a stack, and each
 * chunk's base time is a little before the last event of the chunk before (the loader's fix-up). */
const char *many_chunk_trace(const char *name)
{
    struct trace_builder builder;
    tb_start(&builder);
    tb_two_devices_and_four_stacks(&builder, "streamed", 4321);
    uint64_t time_ns = 0;
    for (unsigned chunk = 0; chunk < MANY_CHUNKS; chunk++) {
        tb_end_chunk(&builder, chunk % 3 ? VT_TRACE_ZSTD : VT_TRACE_STORED); /* chunk 0: the definitions' */
        tb_begin_chunk(&builder, time_ns > 3 * MS ? time_ns - 3 * MS : 0);
        if (chunk == 7) {
            static const uint64_t frames[] = {0x402000, 0x402100};
            tb_stack(&builder, 5, frames, 2);
            continue;
        }
        uint64_t back = time_ns > 2 * MS ? time_ns - 2 * MS : 0; /* goes back: fixed up to time_ns */
        tb_alloc(&builder, back, VT_API_cudaMalloc, VT_KIND_DEVICE, 1, 0x90000000 + chunk * 0x1000, MIB, 4);
        for (unsigned i = 0; i < 20; i++) {
            time_ns += MS;
            uint64_t address = 0x10000000 + ((uint64_t)chunk * 32 + i) * 0x100000;
            tb_alloc(&builder, time_ns, VT_API_cudaMalloc, VT_KIND_DEVICE, (int)(i % 2), address,
                     (1 + (chunk * 7 + i) % 5) * MIB, 1 + (chunk + i) % 4);
            if (chunk && i) {
                uint64_t earlier = 0x10000000 + ((uint64_t)(chunk - 1) * 32 + i) * 0x100000;
                unsigned before = chunk - 1 == 7 ? chunk - 2 : chunk - 1; /* chunk 7 allocated nothing */
                earlier = 0x10000000 + ((uint64_t)before * 32 + i) * 0x100000;
                tb_free(&builder, time_ns, VT_API_cudaFree, VT_KIND_DEVICE, (int)(i % 2), earlier,
                        (1 + (before * 7 + i) % 5) * MIB);
            }
        }
        if (chunk % 5 == 2)
            tb_oom(&builder, time_ns, VT_API_cudaMalloc, 0, 64ull << 30, 2, MIB, 16ull << 30);
        if (chunk % 10 == 2) /* a second one in the chunk: its detail counts on */
            tb_oom(&builder, time_ns, VT_API_cudaMalloc, 0, 32ull << 30, 1, 2 * MIB, 16ull << 30);
        if (chunk % 6 == 3)
            tb_map(&builder, time_ns, 0x7f0000000000 + chunk * (2 * MIB), 2 * MIB, 0x1000 + chunk, 0, 3);
        if (chunk % 4 == 1) {
            char label[32];
            snprintf(label, sizeof label, "step %u", chunk);
            marker(&builder, time_ns, label);
        }
        if (chunk == 11)
            dropped(&builder, time_ns, 17);
        if (chunk == 13)
            free_unknown(&builder, time_ns, 0xdead0000);
    }
    tb_end(&builder, time_ns + MS);
    return tb_write(&builder, tb_temp_path(name));
}

void assert_same_event(const struct vt_model_event *a, const struct vt_model_event *b, size_t index)
{
    cr_assert(memcmp(a, b, sizeof *a) == 0, "event %zu differs (type %u / %u, time %llu / %llu)", index, a->type,
              b->type, (unsigned long long)a->time_ns, (unsigned long long)b->time_ns);
}

/* Two groups equal field by field (their thread tallies by content: they hold pointers). */
static void assert_same_group(const struct vt_group *a, const struct vt_group *b, const char *what, size_t index)
{
    cr_assert(a->bytes == b->bytes && a->count == b->count && a->stack_id == b->stack_id && a->api == b->api &&
                  a->kind == b->kind && a->handles_kept == b->handles_kept &&
                  memcmp(a->handles, b->handles, sizeof a->handles) == 0,
              "%s: group %zu", what, index);
    cr_assert_eq(a->threads.count, b->threads.count, "%s: group %zu's threads", what, index);
    cr_assert_eq(a->threads.incomplete, b->threads.incomplete, "%s: group %zu's threads", what, index);
    for (uint32_t i = 0; i < a->threads.count; i++)
        cr_assert(a->threads.shares[i].tid == b->threads.shares[i].tid &&
                      a->threads.shares[i].bytes == b->threads.shares[i].bytes &&
                      a->threads.shares[i].count == b->threads.shares[i].count,
                  "%s: group %zu's thread %u", what, index, i);
}

void assert_same_groups(const struct vt_groups *a, const struct vt_groups *b, const char *what)
{
    cr_assert_eq(a->group_count, b->group_count, "%s", what);
    for (size_t i = 0; i < a->group_count; i++)
        assert_same_group(&a->groups[i], &b->groups[i], what, i);
    cr_assert_eq(a->mapping_count, b->mapping_count, "%s", what);
    cr_assert(memcmp(a->bytes_by_kind, b->bytes_by_kind, sizeof a->bytes_by_kind) == 0, "%s", what);
    cr_assert(memcmp(a->count_by_kind, b->count_by_kind, sizeof a->count_by_kind) == 0, "%s", what);
    cr_assert_eq(a->incomplete, b->incomplete, "%s", what);
}

void assert_same_reports(const struct vt_report *a, const struct vt_report *b)
{
    cr_assert(memcmp(a->usage, b->usage, sizeof a->usage) == 0, "usage");
    cr_assert(memcmp(&a->stats, &b->stats, sizeof a->stats) == 0, "stats");
    cr_assert_eq(a->oom.failures, b->oom.failures);
    cr_assert_eq(a->oom.allocations_after_last_failure, b->oom.allocations_after_last_failure);
    cr_assert_eq(!a->oom.first, !b->oom.first);
    if (a->oom.first) {
        assert_same_event(a->oom.first, b->oom.first, a->oom.first_detail->event_index);
        cr_assert_eq(a->oom.first_detail->event_index, b->oom.first_detail->event_index);
        assert_same_groups(&a->oom.live, &b->oom.live, "live at the first OOM");
    }
    assert_same_groups(&a->live, &b->live, "live set");
    cr_assert_eq(a->peak_count, b->peak_count);
    for (size_t i = 0; i < a->peak_count; i++) {
        cr_assert_eq(a->peaks[i].device, b->peaks[i].device);
        cr_assert(memcmp(&a->peaks[i].usage, &b->peaks[i].usage, sizeof a->peaks[i].usage) == 0);
        assert_same_groups(&a->peaks[i].snapshot, &b->peaks[i].snapshot, "peak snapshot");
    }
    assert_same_groups(&a->sites_by_bytes, &b->sites_by_bytes, "sites by bytes");
    assert_same_groups(&a->sites_by_count, &b->sites_by_count, "sites by count");
}

/* One live table's records, in its iteration order (alloc_table_for_each). */
struct record_list {
    struct alloc_record *records;
    size_t count, capacity;
};

static void list_record(const struct alloc_record *record, void *context)
{
    struct record_list *list = context;
    cr_assert_lt(list->count, list->capacity);
    list->records[list->count++] = *record;
}

static struct record_list live_records(const struct alloc_table *table)
{
    struct record_list list = {calloc(table->live_count + 1, sizeof *list.records), 0, table->live_count};
    cr_assert_not_null(list.records);
    alloc_table_for_each(table, list_record, &list);
    cr_assert_eq(list.count, table->live_count);
    return list;
}

void assert_same_replay(const struct vt_replay *a, const struct vt_replay *b, const char *what)
{
    const struct vt_accounting *x = &a->accounting, *y = &b->accounting;
    cr_assert_eq(a->next_event, b->next_event, "%s: next event", what);
    cr_assert(memcmp(x->usage, y->usage, sizeof x->usage) == 0, "%s: usage", what);
    cr_assert(memcmp(&x->stats, &y->stats, sizeof x->stats) == 0, "%s: stats", what);
    cr_assert(memcmp(&x->oom, &y->oom, sizeof x->oom) == 0, "%s: oom", what);
    cr_assert_eq(x->out_of_memory, y->out_of_memory, "%s: out of memory", what);
    cr_assert_eq(x->track_live, y->track_live, "%s", what);
    for (int space = 0; space < VT_SPACE_COUNT; space++) {
        struct record_list p = live_records(&x->live[space]), q = live_records(&y->live[space]);
        cr_assert_eq(p.count, q.count, "%s: live records of space %d", what, space);
        for (size_t i = 0; i < p.count; i++) {
            const struct alloc_record *r = &p.records[i], *s = &q.records[i]; /* fields, not links */
            cr_assert(r->address == s->address && r->size_bytes == s->size_bytes &&
                          r->timestamp_ns == s->timestamp_ns && r->stack_id == s->stack_id &&
                          r->thread_id == s->thread_id && r->device == s->device && r->kind == s->kind &&
                          r->api == s->api && r->context == s->context && r->backing_handle == s->backing_handle,
                      "%s: space %d, live record %zu (address %#llx / %#llx)", what, space, i,
                      (unsigned long long)r->address, (unsigned long long)s->address);
        }
        free(p.records);
        free(q.records);
    }
    for (int device = VT_GROUPS_ALL_DEVICES; device <= 1; device++) {
        struct vt_groups g, h;
        vt_groups_collect_live(&g, a, device);
        vt_groups_collect_live(&h, b, device);
        char label[160];
        snprintf(label, sizeof label, "%s: live groups of device %d", what, device);
        assert_same_groups(&g, &h, label);
        vt_groups_free(&g);
        vt_groups_free(&h);
    }
}

struct process_result run_cli(const char *setting, const char *const args[])
{
    const char *argv[16] = {VT_CLI_PATH};
    size_t count = 1;
    for (; args[count - 1]; count++)
        argv[count] = args[count - 1];
    argv[count] = NULL;
    const char *const environment[] = {setting, NULL};
    return run_process(argv, environment, NULL);
}
