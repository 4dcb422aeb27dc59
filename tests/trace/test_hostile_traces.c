/* tests/trace/test_hostile_traces.c — the CLI on hostile traces (issue 9, point 11): ids, counts
 * and sizes read from a trace are untrusted. A tiny trace whose ALLOC names stack id 2^32 - 16, a
 * STACK or CODE record with a huge id, or a chunk whose header declares a huge raw size must not
 * make `report`, `flame`, `diff`, `top` or `timeline` allocate in proportion to those values: each
 * command runs under RLIMIT_AS (512 MiB) with a time limit, and must finish with a correct report
 * or a clear warning naming the offset. A FIFO with no writer is refused at once. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/python_lines.h"
#include "trace/trace_model.h"
#include "trace_builder.h"
#include "vramtrace/frames.h"

#define MIB (1ull << 20)
#define MS (1000000ull)
#define MEMORY_LIMIT (512ull << 20)
#define TIME_LIMIT_S 20

struct bounded_run {
    int exit_code;       /* -1: killed by a signal (the time limit, or out of memory) */
    long max_rss_kib;
    char *out, *err;
};

static char *slurp(const char *path)
{
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file);
    char *text = NULL;
    size_t length = 0;
    FILE *memory = open_memstream(&text, &length);
    char buffer[4096];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, file)) > 0)
        fwrite(buffer, 1, got, memory);
    fclose(memory);
    fclose(file);
    return text;
}

/* `vramtrace COMMAND ARGS...` under RLIMIT_AS = 512 MiB, killed after TIME_LIMIT_S seconds. */
static struct bounded_run run_bounded(const char *const args[])
{
    char *out_path = tb_temp_path("out.txt"), *err_path = tb_temp_path("err.txt");
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0) {
        struct rlimit limit = {MEMORY_LIMIT, MEMORY_LIMIT};
#ifndef __SANITIZE_ADDRESS__
        /* Not under AddressSanitizer, which reserves terabytes of address space for its shadow
         * memory: there the run looks for memory errors, the normal suite checks the bound. */
        setrlimit(RLIMIT_AS, &limit);
#else
        (void)limit;
#endif
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (out < 0 || err < 0 || in < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        const char *argv[16] = {VT_CLI_PATH};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(VT_CLI_PATH, (char *const *)argv);
        _exit(127);
    }
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    int status = 0;
    struct rusage usage;
    for (;;) {
        pid_t done = wait4(child, &status, WNOHANG, &usage);
        cr_assert_neq(done, -1);
        if (done == child)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - started.tv_sec > TIME_LIMIT_S) {
            kill(child, SIGKILL);
            wait4(child, &status, 0, &usage);
            cr_assert_fail("vramtrace %s %s did not finish within %d s", args[0], args[1], TIME_LIMIT_S);
        }
        usleep(10000);
    }
    struct bounded_run run = {
        .exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1,
        .max_rss_kib = usage.ru_maxrss,
        .out = slurp(out_path),
        .err = slurp(err_path),
    };
    free(out_path);
    free(err_path);
    return run;
}

/* Runs report, report --json, flame, diff (the trace against itself), top and timeline on `path`:
 * each must exit 0 within the limits, with bounded memory; returns flame's output. */
static char *every_command_ok(const char *path)
{
    const char *const commands[][5] = {
        {"report", path, NULL}, {"report", "--format=json", path, NULL}, {"diff", path, path, NULL},
        {"top", path, NULL},    {"timeline", path, NULL},         {"flame", path, NULL},
    };
    char *flame = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        struct bounded_run run = run_bounded(commands[i]);
        cr_assert_eq(run.exit_code, 0, "vramtrace %s: exit %d, stderr:\n%s\nstdout:\n%s", commands[i][0], run.exit_code, run.err, run.out);
        cr_assert_lt(run.max_rss_kib, 256 * 1024, "vramtrace %s used %ld KiB", commands[i][0], run.max_rss_kib);
        free(run.err);
        if (i + 1 == sizeof commands / sizeof commands[0])
            flame = run.out;
        else
            free(run.out);
    }
    return flame;
}

static void small_trace_start(struct trace_builder *builder)
{
    tb_start(builder);
    tb_two_devices_and_four_stacks(builder, "hostile", 77);
    tb_alloc(builder, 100 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xA000000, 10 * MIB, 1);
}

Test(hostile_traces, alloc_naming_a_huge_stack_id)
{
    struct trace_builder builder;
    small_trace_start(&builder);
    tb_alloc(&builder, 200 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xB000000, 3 * MIB, 0xFFFFFFF0u);
    tb_alloc(&builder, 250 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xC000000, 2 * MIB, 0xFFFFFFFFu);
    tb_end(&builder, 300 * MS);
    const char *path = tb_write(&builder, tb_temp_path("huge-alloc-stack.trace"));
    char *flame = every_command_ok(path);
    cr_assert(strstr(flame, "[stack 4294967280 not in the trace]"), "flame:\n%s", flame);
    cr_assert(strstr(flame, "[stack 4294967295 not in the trace]"), "flame:\n%s", flame);
    free(flame);
}

Test(hostile_traces, stack_with_a_huge_id)
{
    struct trace_builder builder;
    small_trace_start(&builder);
    const uint64_t frames[] = {0x405500, 0x405900};
    tb_stack(&builder, 0xFFFFFFFEu, frames, 2);
    tb_stack(&builder, 1u << 25, frames, 2);
    tb_alloc(&builder, 200 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xB000000, 3 * MIB, 0xFFFFFFFEu);
    tb_end(&builder, 300 * MS);
    const char *path = tb_write(&builder, tb_temp_path("huge-stack-id.trace"));
    char *flame = every_command_ok(path);
    /* the stack is found by its id: its frames print (in no module: "??") */
    cr_assert_null(strstr(flame, "not in the trace"), "flame:\n%s", flame);
    free(flame);
}

Test(hostile_traces, code_with_a_huge_id)
{
    struct trace_builder builder;
    small_trace_start(&builder);
    static const uint8_t line_table[] = {0};
    const uint32_t ids[] = {(1u << 26) - 1, 0x7FFFFFFFu, 0xFFFFFFFFu};
    for (size_t i = 0; i < 3; i++) {
        struct vt_trace_record code = {.type = VT_RECORD_CODE};
        code.code.id = ids[i];
        code.code.file_name = (struct vt_trace_text){"train.py", 8};
        code.code.function_name = (struct vt_trace_text){"step", 4};
        code.code.first_line = 10;
        code.code.line_table = line_table;
        code.code.line_table_bytes = 0;
        tb_record(&builder, &code);
    }
    const uint64_t frames[] = {vt_python_frame(0x7FFFFFFFu, 0), 0x401900};
    tb_stack(&builder, 9, frames, 2);
    tb_alloc(&builder, 200 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xB000000, 3 * MIB, 9);
    tb_end(&builder, 300 * MS);
    const char *path = tb_write(&builder, tb_temp_path("huge-code-id.trace"));
    char *flame = every_command_ok(path);
    cr_assert(strstr(flame, "step"), "the code object is found by its id; flame:\n%s", flame);
    free(flame);
}

static void set_u32(const char *path, size_t offset, uint32_t value)
{
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    uint8_t bytes[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16), (uint8_t)(value >> 24)};
    cr_assert_eq(pwrite(fd, bytes, 4, (off_t)offset), 4);
    close(fd);
}

/* The last chunk's header declares `raw_bytes` (its CRC covers the stored bytes only, so it still
 * matches): the reader must refuse the chunk without allocating that much, and report the rest. */
static void chunk_declaring_raw_bytes(uint32_t raw_bytes, enum vt_trace_compression compression)
{
    struct trace_builder builder;
    small_trace_start(&builder);
    tb_end_chunk(&builder, VT_TRACE_ZSTD);
    tb_begin_chunk(&builder, 200 * MS);
    tb_alloc(&builder, 200 * MS, VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xB000000, 3 * MIB, 2);
    tb_end(&builder, 300 * MS);
    tb_end_chunk(&builder, compression);
    size_t last_chunk = builder.last_chunk_offset;
    const char *path = tb_write(&builder, tb_temp_path("huge-raw.trace"));
    set_u32(path, last_chunk + 8, raw_bytes);
    char expected[128];
    snprintf(expected, sizeof expected, "a damaged chunk (it does not decode) from offset %zu;", last_chunk);
    const char *const commands[][4] = {{"report", path, NULL}, {"flame", path, NULL}, {"diff", path, path, NULL}};
    for (size_t i = 0; i < 3; i++) {
        struct bounded_run run = run_bounded(commands[i]);
        cr_assert_eq(run.exit_code, 0, "vramtrace %s: exit %d, stderr:\n%s\nstdout:\n%s", commands[i][0], run.exit_code, run.err, run.out);
        cr_assert_lt(run.max_rss_kib, 256 * 1024, "vramtrace %s used %ld KiB", commands[i][0], run.max_rss_kib);
        cr_assert(strstr(run.err, expected), "expected \"%s\" in:\n%s", expected, run.err);
        if (i == 0)
            cr_assert(strstr(run.out, "10.0 MiB") || strstr(run.out, "10485760"), "report:\n%s", run.out);
        free(run.out);
        free(run.err);
    }
}

Test(hostile_traces, chunk_declaring_a_gibibyte_of_raw_bytes)
{
    chunk_declaring_raw_bytes(1u << 30, VT_TRACE_ZSTD);
}

Test(hostile_traces, chunk_declaring_more_than_its_zstd_frame_holds)
{
    chunk_declaring_raw_bytes(8u << 20, VT_TRACE_ZSTD);
}

Test(hostile_traces, stored_chunk_declaring_a_huge_raw_size)
{
    chunk_declaring_raw_bytes(0xFFFFFFF0u, VT_TRACE_STORED);
}

Test(hostile_traces, fifo_without_a_writer_is_refused_at_once)
{
    char *path = tb_temp_path("trace.fifo");
    cr_assert_eq(mkfifo(path, 0600), 0);
    struct bounded_run run = run_bounded((const char *const[]){"report", path, NULL});
    cr_assert_eq(run.exit_code, 1, "stderr:\n%s", run.err);
    cr_assert(strstr(run.err, "not a regular file"), "stderr:\n%s", run.err);
    free(run.out);
    free(run.err);
    free(path);
}

/* PyTorch's records (TORCH_*) name their snapshot by number: any 32-bit number works through a map,
 * a record naming a snapshot that no TORCH_SNAPSHOT defined is ignored, and the first definition of
 * a number stands. The CUDA allocation inside the snapshot's segment is its cache, not a leak. */
Test(hostile_traces, torch_records_naming_unknown_or_huge_snapshots)
{
    struct trace_builder builder;
    small_trace_start(&builder); /* 10 MiB at 0xA000000 on device 0 */
    struct vt_trace_record snapshot = {.type = VT_RECORD_TORCH_SNAPSHOT};
    snapshot.torch_snapshot.timestamp_ns = 200 * MS;
    snapshot.torch_snapshot.number = 0xFFFFFFFFu;
    snapshot.torch_snapshot.moment = VT_TORCH_AT_EXIT;
    snapshot.torch_snapshot.oom_device = -1;
    tb_record(&builder, &snapshot);
    snapshot.torch_snapshot.moment = VT_TORCH_AT_DUMP; /* the same number again: ignored */
    tb_record(&builder, &snapshot);
    struct vt_trace_record segment = {.type = VT_RECORD_TORCH_SEGMENT};
    segment.torch_segment.snapshot = 0xFFFFFFFFu;
    segment.torch_segment.address = 0xA000000;
    segment.torch_segment.size_bytes = 10 * MIB;
    tb_record(&builder, &segment);
    struct vt_trace_record block = {.type = VT_RECORD_TORCH_BLOCK};
    block.torch_block.snapshot = 0xFFFFFFFFu;
    block.torch_block.address = 0xA000000;
    block.torch_block.size_bytes = 1 * MIB;
    block.torch_block.state = VT_TORCH_BLOCK_ACTIVE;
    block.torch_block.stack_id = 0xFFFFFFF0u; /* not in the trace */
    tb_record(&builder, &block);
    for (uint32_t unknown = 1; unknown <= 1000; unknown++) { /* none of them defined */
        block.torch_block.snapshot = unknown;
        tb_record(&builder, &block);
        struct vt_trace_record entry = {.type = VT_RECORD_TORCH_TRACE};
        entry.torch_trace.snapshot = unknown;
        entry.torch_trace.action = VT_TORCH_ACTION_ALLOC;
        entry.torch_trace.size_bytes = 1 * MIB;
        tb_record(&builder, &entry);
    }
    tb_end(&builder, 300 * MS);
    const char *path = tb_write(&builder, tb_temp_path("torch-snapshots.trace"));
    char *flame = every_command_ok(path);
    cr_assert(strstr(flame, "[stack 4294967280 not in the trace];torch_tensor 1048576"), "flame:\n%s", flame);
    cr_assert_null(strstr(flame, "cudaMalloc 10485760"), "the segment is PyTorch's cache:\n%s", flame);
    free(flame);

    struct vt_trace_model model;
    char error[512];
    cr_assert_eq(vt_model_load(&model, path, NULL, error, sizeof error), VT_TRACE_OPENED, "%s", error);
    cr_assert_eq(model.torch_snapshot_count, 1);
    cr_assert_eq(model.torch_snapshots[0].moment, VT_TORCH_AT_EXIT);
    cr_assert_eq(model.torch_snapshots[0].view.segment_count, 1);
    cr_assert_eq(model.torch_snapshots[0].view.block_count, 1);
    cr_assert_eq(model.torch_snapshots[0].history_count, 0);
    vt_model_free(&model);
}
