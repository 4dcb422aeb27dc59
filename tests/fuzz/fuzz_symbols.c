/* tests/fuzz/fuzz_symbols.c — fuzz harness: the bytes are an ELF file that a trace names as a
 * loaded module (MODULE record, no build id, so the symbolizer trusts the path). The harness
 * writes a small trace in memory whose stack has return addresses spread over the module, loads
 * it and symbolizes every frame: libdw's ELF and DWARF reading plus common/module_symbols.c
 * (symbol tables, inlined calls, line tables, demangling) over hostile input. */
#include "fuzz_support.h"

#include <string.h>

#include "common/trace_codec.h"
#include "trace/symbolize.h"
#include "trace/trace_model.h"

#define LOAD_ADDRESS 0x10000000u
#define MODULE_BYTES 0x01000000u

static size_t append_record(uint8_t *out, size_t capacity, size_t used, struct vt_trace_deltas *deltas,
                            const struct vt_trace_record *record)
{
    return used + vt_trace_encode(out + used, capacity - used, deltas, record);
}

/* The trace: file header, one stored chunk of MODULE, STACK and ALLOC records. */
static size_t build_trace(uint8_t *out, size_t capacity, const char *module_path, const uint8_t *data, size_t size)
{
    uint8_t payload[8192];
    size_t used = 0;
    struct vt_trace_deltas deltas;
    vt_trace_deltas_start(&deltas, 0, VT_TRACE_FORMAT_VERSION);

    struct vt_trace_record record = {.type = VT_RECORD_MODULE};
    record.module.id = 1;
    record.module.path = (struct vt_trace_text){module_path, (uint32_t)strlen(module_path)};
    record.module.load_address = LOAD_ADDRESS;
    record.module.size_bytes = MODULE_BYTES;
    used = append_record(payload, sizeof payload, used, &deltas, &record);

    /* Offsets across the file's size, and a few taken from the file itself (its entry point,
     * section addresses), which is where symbols lie. */
    uint64_t frames[64];
    uint32_t depth = 0;
    for (uint32_t i = 0; i < 32; i++)
        frames[depth++] = LOAD_ADDRESS + 1 + (size ? (uint64_t)size * i / 32 : i * 64u);
    for (size_t at = 24; at + 4 <= size && depth < 64; at += 61) {
        uint32_t word;
        memcpy(&word, data + at, sizeof word);
        frames[depth++] = LOAD_ADDRESS + (word % MODULE_BYTES);
    }
    record = (struct vt_trace_record){.type = VT_RECORD_STACK};
    record.stack.id = 1;
    record.stack.depth = depth;
    record.stack.frames = frames;
    used = append_record(payload, sizeof payload, used, &deltas, &record);

    record = (struct vt_trace_record){.type = VT_RECORD_ALLOC};
    record.event.timestamp_ns = 1;
    record.event.address = 0x7f0000000000u;
    record.event.size_bytes = 4096;
    record.event.stack_id = 1;
    used = append_record(payload, sizeof payload, used, &deltas, &record);

    struct vt_trace_chunk_header header = {
        .stored_bytes = (uint32_t)used,
        .raw_bytes = (uint32_t)used,
        .crc32 = vt_crc32(payload, used),
        .record_count = 3,
        .base_time_ns = 0,
        .compression = VT_TRACE_STORED,
    };
    if (capacity < VT_TRACE_FILE_HEADER_BYTES + VT_TRACE_CHUNK_HEADER_BYTES + used)
        return 0;
    vt_trace_file_header_encode(out);
    vt_trace_chunk_header_encode(out + VT_TRACE_FILE_HEADER_BYTES, &header);
    memcpy(out + VT_TRACE_FILE_HEADER_BYTES + VT_TRACE_CHUNK_HEADER_BYTES, payload, used);
    return VT_TRACE_FILE_HEADER_BYTES + VT_TRACE_CHUNK_HEADER_BYTES + used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char module_path[64], trace_path[64], error[4096 + 256];
    int module_fd = fuzz_memory_file(data, size, module_path, sizeof module_path);
    if (module_fd < 0)
        return 0;
    static uint8_t trace[16384];
    size_t trace_size = build_trace(trace, sizeof trace, module_path, data, size);
    int trace_fd = trace_size ? fuzz_memory_file(trace, trace_size, trace_path, sizeof trace_path) : -1;
    if (trace_fd >= 0) {
        struct vt_trace_model model;
        struct vt_model_load_options options = {.progress = NULL};
        if (vt_model_load(&model, trace_path, &options, error, sizeof error) == VT_TRACE_OPENED) {
            struct vt_symbolizer *symbolizer = vt_symbolizer_open(&model, NULL);
            unsigned depth = 0;
            const uint64_t *frames = vt_model_stack_frames(&model, 1, &depth);
            for (unsigned i = 0; symbolizer && frames && i < depth; i++)
                for (const struct vt_symbol *symbol = vt_symbolize(symbolizer, frames[i]); symbol; symbol = symbol->caller)
                    (void)strlen(symbol->function);
            if (symbolizer)
                vt_symbolizer_close(symbolizer);
        }
        vt_model_free(&model);
        close(trace_fd);
    }
    close(module_fd);
    return 0;
}
