/* Integration tests: zero-byte requests (issue 9, point 6). cudaMalloc(ptr, 0) and the other
 * runtime allocators succeed with NULL and allocate nothing: they are counted as calls (by API, and
 * as zero-byte requests), never as allocations, allocation sites or leaks — in the exit report and
 * in `vramtrace report` (text and JSON) alike. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define ZERO_BYTES VT_PROGRAMS_DIR "/zero_bytes"
#define CALLS_LINE "Calls: 1 allocation(s), 0 free(s), 0 free(s) of unknown addresses, 0 failed out of memory"
#define ZERO_LINE "Zero-byte requests: 5 (they succeed and allocate nothing: counted by API, not as allocations)\n"
#define BY_API_LINE "Calls by API: cudaMalloc=3 cudaMallocAsync=1 cudaMallocHost=1 cudaMallocManaged=1\n"
#define SUMMARY_LINE "SUMMARY: vramtrace: 1048576 byte(s) leaked in 1 allocation(s).\n"

static struct process_result run_traced(const char *trace)
{
    static char trace_option[700];
    snprintf(trace_option, sizeof trace_option, "--output=%s", trace);
    const char *options[] = {trace_option, "--report=none", NULL};
    struct process_result run = traced_run(options, ZERO_BYTES, NULL, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_str_eq(run.out, "done\n", "every zero-byte request returned NULL:\n%s", run.out);
    return run;
}

Test(zero_bytes, exit_report_counts_calls_not_allocations)
{
    char *directory = make_temp_directory();
    char trace[600];
    snprintf(trace, sizeof trace, "%s/z.trace", directory);
    struct process_result run = run_traced(trace);
    cr_assert(strstr(run.err, CALLS_LINE), "%s", run.err);
    cr_assert(strstr(run.err, ZERO_LINE), "%s", run.err);
    cr_assert(strstr(run.err, BY_API_LINE), "%s", run.err);
    cr_assert(strstr(run.err, SUMMARY_LINE), "%s", run.err);
    cr_assert_null(strstr(run.err, "Leak of 0 byte(s)"), "no 0-byte leak group:\n%s", run.err);
    cr_assert_eq(count_occurrences(run.err, "Leak of "), 1, "%s", run.err);
    process_result_free(&run);
}

Test(zero_bytes, cli_report_has_no_zero_byte_sites)
{
    char *directory = make_temp_directory();
    char trace[600];
    snprintf(trace, sizeof trace, "%s/z.trace", directory);
    struct process_result run = run_traced(trace);
    process_result_free(&run);

    struct process_result text = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(text.exit_code, 0, "%s", text.err);
    cr_assert(strstr(text.out, CALLS_LINE), "%s", text.out);
    cr_assert(strstr(text.out, ZERO_LINE), "%s", text.out);
    cr_assert(strstr(text.out, BY_API_LINE), "%s", text.out);
    cr_assert_null(strstr(text.out, "Leak of 0 byte(s)"), "%s", text.out);
    cr_assert_null(strstr(text.out, " 0 byte(s) in "), "no 0-byte site:\n%s", text.out);

    struct process_result json =
        run_process((const char *[]){VT_CLI_PATH, "report", "--format", "json", trace, NULL}, NULL, NULL);
    cr_assert_eq(json.exit_code, 0, "%s", json.err);
    const char *sites = strstr(json.out, "\"top_sites\"");
    cr_assert_not_null(sites, "%s", json.out);
    const char *calls = strstr(sites, "\"calls\"");
    cr_assert_not_null(calls, "%s", json.out);
    size_t sites_length = (size_t)(calls - sites);
    char *sites_text = strndup(sites, sites_length);
    cr_assert_null(strstr(sites_text, "\"bytes\": 0,"), "a 0-byte site in top_sites:\n%s", sites_text);
    cr_assert_eq(count_occurrences(sites_text, "\"bytes\": 1048576,"), 2, "one site by bytes and by count:\n%s",
                 sites_text);
    cr_assert_eq(count_occurrences(sites_text, "\"stack_id\""), 2, "only the real site:\n%s", sites_text);
    cr_assert(strstr(calls, "\"allocations\": 1,"), "%s", calls);
    cr_assert(strstr(calls, "\"zero_byte_requests\": 5,"), "%s", calls);
    cr_assert(strstr(calls, "\"cudaMalloc\": 3"), "%s", calls);
    free(sites_text);
    process_result_free(&text);
    process_result_free(&json);
}
