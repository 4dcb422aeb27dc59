/* tests/fuzz/fuzz_index.c — fuzz harness: a load through a fuzzed index beside a trace
 * (trace/index_file.h). The input is a trace and an index's body: a u16 (little-endian) length L,
 * L bytes of trace (its chunks' CRCs made right, fuzz_support.h), and the rest the index's
 * uncompressed body, which the harness wraps into a whole index file for the trace as it is
 * (vt_index_encode: header and CRCs right), so that mutations reach the body's checks and the load
 * through it rather than stopping at a CRC. An index that parses is loaded through (falling back to a
 * full load when the trace does not read as it says) and, when every block it registered decodes to
 * at least its events (an index that lies about an event-only chunk's count stops the command with
 * "cannot read the chunk again", by design: trace_model.h), replayed to the end, to times, and
 * reported, and with a report's tables in the index, a report made from them. The seeds
 * (tests/fuzz/corpus/index) are the trace corpus's traces with their real index bodies, three with
 * a report's tables. */
#include "fuzz_support.h"

#include "trace/event_store.h"
#include "trace/index_file.h"
#include "trace/trace_model.h"
#include "trace/trace_report.h"

/* Whether each block's chunk holds at least the events the block says. */
static bool blocks_decode(const struct vt_trace_model *model)
{
    struct vt_trace_reader reader;
    if (!vt_trace_reader_duplicate(&reader, &model->store->reader))
        return false;
    bool ok = true;
    struct vt_trace_record record;
    for (size_t i = 0; ok && i < model->store->block_count; i++) {
        const struct vt_event_block *block = &model->store->blocks[i];
        uint64_t events = 0;
        ok = vt_trace_reader_read_chunk_at(&reader, block->chunk_offset);
        while (ok && events < block->event_count && vt_trace_reader_next_in_chunk(&reader, &record))
            events += vt_record_is_event(record.type);
        ok = ok && events >= block->event_count;
    }
    vt_trace_reader_close(&reader);
    return ok;
}

/* A report's whole run from the index's tables (when they fit: else over the model), then its
 * moments, as `vramtrace report` does with an index that holds them. */
static void report_from_tables(const struct vt_trace_model *model, struct vt_index_report_tables *tables)
{
    struct vt_report report;
    struct vt_report_pass pass;
    struct vt_report_options options = {.device = tables->device};
    vt_report_pass_start(&pass, &report, model, &options, NULL);
    if (!model->loaded_from_index || !vt_report_pass_take(&pass, tables))
        vt_report_pass_run(&pass);
    vt_report_pass_finish(&pass);
    vt_report_free(&report);
}

static void analyze(const struct vt_trace_model *model)
{
    struct vt_report report;
    struct vt_report_options options = {.device = VT_GROUPS_ALL_DEVICES};
    if (vt_report_build(&report, model, &options))
        vt_report_free(&report);
    options.at_time = true;
    options.at_ns = model->duration_ns / 3;
    if (vt_report_build(&report, model, &options))
        vt_report_free(&report);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t trace_length = (size_t)data[0] | (size_t)data[1] << 8;
    if (trace_length > size - 2)
        trace_length = size - 2;
    uint8_t *trace = fuzz_trace_with_good_crcs(data + 2, trace_length);
    char path[64];
    int fd = trace ? fuzz_memory_file(trace, trace_length, path, sizeof path) : -1;
    free(trace);
    if (fd < 0)
        return 0;
    struct vt_index_identity now;
    uint8_t *bytes = NULL;
    size_t length;
    struct vt_trace_index index;
    if (vt_index_identity_of(fd, &now) &&
        vt_index_encode(data + 2 + trace_length, size - 2 - trace_length, &now, &bytes, &length) &&
        vt_index_parse(&index, bytes, length, &now)) {
        struct vt_model_load_options options = {.stream_events = true, .index_live_set = true, .index = &index};
        struct vt_trace_model model;
        char error[256];
        if (vt_model_load(&model, path, &options, error, sizeof error) == VT_TRACE_OPENED && blocks_decode(&model)) {
            analyze(&model);
            if (index.report.present)
                report_from_tables(&model, &index.report);
        }
        vt_model_free(&model);
        vt_trace_index_free(&index);
    }
    free(bytes);
    close(fd);
    return 0;
}
