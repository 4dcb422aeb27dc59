/* Unit tests of shim/leak_report.c: grouping by stack, order, symbolized frames, SUMMARY line;
 * and that the exit is cheap: nothing is symbolized (libdw is not even loaded) when no report is
 * written or when the report shows no stack. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/leak_report.h"
#include "shim/recorder.h"

/* Made-up call sites: return addresses inside these functions. */
__attribute__((noinline, used)) void allocate_weights_site(void) { __asm__ volatile("nop; nop; nop; nop"); }
__attribute__((noinline, used)) void allocate_batch_site(void) { __asm__ volatile("nop; nop; nop; nop"); }

static void start_recorder(void)
{
    struct recorder_settings settings = {.stack_depth = 0};
    recorder_reset(&settings);
}

TestSuite(leak_report, .init = start_recorder);

static char *render(unsigned top_groups)
{
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    struct leak_report_options options = {.program_name = "unit", .pid = 42, .top_groups = top_groups};
    leak_report_render(out, &options);
    leak_report_render_summary(out);
    fclose(out);
    return text;
}

static void record_leaks(void)
{
    uintptr_t weights[] = {(uintptr_t)allocate_weights_site + 2};
    uintptr_t batch[] = {(uintptr_t)allocate_batch_site + 2};
    for (int i = 0; i < 3; i++)
        recorder_record_alloc_with_stack(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000 * (i + 1), 1 << 20, 0, weights, 1);
    recorder_record_alloc_with_stack(VT_API_cudaMallocAsync, VT_KIND_DEVICE, 0, 0x9000, 2 << 20, 0, batch, 1);
    recorder_record_alloc_with_stack(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0xa000, 64 << 20, 0, batch, 1);
    recorder_record_free(VT_API_cudaFree, 0xa000, 0);
}

Test(leak_report, groups_by_stack_largest_first_with_summary)
{
    record_leaks();
    char *text = render(10);
    cr_assert(strstr(text, "Device memory: 5242880 byte(s) (5.00 MiB) leaked in 4 allocation(s)"), "%s", text);
    char *weights = strstr(text, "Leak of 3145728 byte(s) (3.00 MiB) in 3 allocation(s) of device memory, cudaMalloc");
    char *batch = strstr(text, "Leak of 2097152 byte(s) (2.00 MiB) in 1 allocation(s) of device memory, cudaMallocAsync");
    cr_assert(weights && batch && weights < batch, "largest group first:\n%s", text);
    cr_assert(strstr(weights, "in allocate_weights_site"), "symbolized frame missing:\n%s", text);
    cr_assert(strstr(batch, "in allocate_batch_site"), "%s", text);
    cr_assert(strstr(text, "test_leak_report.c:"), "file:line from debug info missing:\n%s", text);
    cr_assert(strstr(text, "Host-pinned memory: no leaks"), "%s", text);
    cr_assert(strstr(text, "  device 0: 72351744 byte(s) (69.0 MiB)"), "peak = 64 MiB + 5 MiB live:\n%s", text);
    const char *last_line = strstr(text, "SUMMARY:");
    cr_assert_str_eq(last_line, "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s).\n");
    free(text);
}

Test(leak_report, top_limits_groups_and_says_what_is_hidden)
{
    record_leaks();
    char *text = render(1);
    cr_assert_eq(strstr(text, "cudaMallocAsync, allocated from") , NULL, "%s", text);
    cr_assert(strstr(text, "... and 1 more group(s): 2097152 byte(s) in 1 allocation(s)"), "%s", text);
    free(text);
}

Test(leak_report, nothing_leaked)
{
    recorder_record_alloc(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 10, 0);
    recorder_record_free(VT_API_cudaFree, 0x1000, 0);
    char *text = render(10);
    cr_assert(strstr(text, "Device memory: no leaks"), "%s", text);
    cr_assert(strstr(text, "(no stack recorded") == NULL);
    cr_assert(strstr(text, "SUMMARY: vramtrace: 0 byte(s) leaked in 0 allocation(s).\n"), "%s", text);
    free(text);
}

Test(leak_report, reserved_address_space_is_listed_but_not_summed)
{
    recorder_record_alloc(VT_API_cuMemAddressReserve, VT_KIND_ADDRESS_SPACE, 0, 0x100000, 1 << 30, 0);
    char *text = render(10);
    cr_assert(strstr(text, "Reserved address space: 1073741824 byte(s) (1.00 GiB) still reserved (not memory use)"), "%s", text);
    cr_assert(strstr(text, "SUMMARY: vramtrace: 0 byte(s) leaked in 0 allocation(s).\n"), "%s", text);
    free(text);
}

/* Whether the symbolizer has loaded libdw into this process (each test runs in its own). */
static bool libdw_loaded(void)
{
    void *handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (handle)
        dlclose(handle);
    return handle != NULL;
}

Test(leak_report, nothing_is_symbolized_when_no_report_is_written)
{
    cr_assert(!libdw_loaded(), "precondition: this test process has not loaded libdw");
    record_leaks();
    struct leak_report_options options = {.program_name = "unit", .pid = 42, .top_groups = 10, .file_path = ""};
    leak_report_write_at_exit(&options); /* VRAMTRACE_QUIET=1 VRAMTRACE_REPORT=none */
    cr_assert(!libdw_loaded(), "no report written, yet the stacks were symbolized");

    /* A fresh name in a fresh directory: the shim never writes over an existing file (docs/security.md). */
    char directory[] = "/tmp/vt-leak-report-XXXXXX";
    cr_assert_not_null(mkdtemp(directory));
    char path[sizeof directory + 16];
    snprintf(path, sizeof path, "%s/report.txt", directory);
    options.file_path = path;
    leak_report_write_at_exit(&options);
    cr_assert(libdw_loaded(), "the report written symbolizes its stacks");
    char *text = NULL;
    size_t length = 0;
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file);
    cr_assert_gt(getdelim(&text, &length, '\0', file), 0);
    fclose(file);
    unlink(path);
    rmdir(directory);
    cr_assert(strstr(text, "in allocate_weights_site"), "%s", text);
    free(text);
}

Test(leak_report, a_report_without_leaks_symbolizes_nothing)
{
    cr_assert(!libdw_loaded(), "precondition: this test process has not loaded libdw");
    uintptr_t site[] = {(uintptr_t)allocate_weights_site + 2};
    recorder_record_alloc_with_stack(VT_API_cudaMalloc, VT_KIND_DEVICE, 0, 0x1000, 1 << 20, 0, site, 1);
    recorder_record_free(VT_API_cudaFree, 0x1000, 0);
    char *text = render(10);
    cr_assert(strstr(text, "Device memory: no leaks"), "%s", text);
    cr_assert(!libdw_loaded(), "no stack in the report, yet libdw was loaded");
    free(text);
}
