/* Tests of `vramtrace diff` on tests/programs/commands/creep, which leaks 1 MiB from leak_a_little
 * at every step while steady_work holds the same 4.5 MiB after every step: between two moments of
 * one run, and between a run of 2 steps and one of 5, exactly the leak_a_little site grows (by 1
 * MiB and one allocation per step) and steady_work's sites do not. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_helpers.h"
#include "json_check.h"
#include "trace/trace_model.h"

#define CREEP VT_PROGRAMS_DIR "/commands/creep"
#define MIB 1048576u

/* Times just before the leaks of steps `first + 1` and `last + 1` (counted from 1): steps `first`
 * and `last` are then complete (their steady_work ended before the pause that precedes the next
 * leak, whatever the machine's load), so the leak holds `first` and `last` MiB, steady_work its two
 * buffers. (Halfway between two leaks was not always after steady_work on a loaded machine.) */
static void times_between_steps(const char *trace, unsigned first, unsigned last, char from[32], char to[32])
{
    struct vt_trace_model model;
    char error[512];
    cr_assert_eq(vt_model_load(&model, trace, NULL, error, sizeof error), VT_TRACE_OPENED, "%s", error);
    uint64_t leak_times[16];
    unsigned leaks = 0;
    for (size_t i = 0; i < model.event_count && leaks < 16; i++)
        if (model.events[i].type == VT_RECORD_ALLOC && model.events[i].size_bytes == MIB)
            leak_times[leaks++] = model.events[i].time_ns;
    vt_model_free(&model);
    cr_assert_gt(leaks, last, "%u leaks in the trace", leaks);
    snprintf(from, 32, "%" PRIu64 "ns", leak_times[first] - 1);
    snprintf(to, 32, "%" PRIu64 "ns", leak_times[last] - 1);
}

static struct json_value *parse(const char *text)
{
    char error[256];
    struct json_value *document = json_parse(text, error, sizeof error);
    cr_assert_not_null(document, "not valid JSON: %s\n%s", error, text);
    return document;
}

static const struct json_value *site_of(const struct json_value *document, size_t index)
{
    const struct json_value *sites = json_member(document, "sites");
    cr_assert(sites && sites->type == JSON_ARRAY && sites->count > index);
    return &sites->items[index];
}

static const char *innermost_function(const struct json_value *site)
{
    const struct json_value *frames = json_member(site, "frames");
    cr_assert(frames && frames->type == JSON_ARRAY && frames->count > 0);
    return json_member_string(&frames->items[0], "function");
}

Test(diff, two_moments_of_one_run_show_exactly_the_growth_of_the_leaking_site)
{
    char *trace = make_trace(CREEP, (const char *const[]){"5", NULL}, NULL, "creep", NULL);
    char from[32], to[32];
    times_between_steps(trace, 1, 4, from, to);
    const char *args[] = {"diff", trace, "--from", from, "--to", to, "--format", "json", NULL};
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    struct json_value *document = parse(run.out);
    cr_assert_str_eq(json_member_string(document, "format"), "vramtrace-diff");
    const struct json_value *growth = json_member(document, "growth");
    cr_assert_eq(json_member_number(growth, "bytes"), 3.0 * MIB);
    cr_assert_eq(json_member_number(growth, "count"), 3);
    cr_assert_eq(json_member_number(json_member(document, "a"), "bytes"), 1 * MIB + 4 * MIB + MIB / 2);
    cr_assert_eq(json_member_number(json_member(document, "b"), "bytes"), 4 * MIB + 4 * MIB + MIB / 2);
    cr_assert_eq(json_member_number(document, "site_count"), 3);

    const struct json_value *leak = site_of(document, 0);
    cr_assert_str_eq(innermost_function(leak), "leak_a_little");
    cr_assert_str_eq(json_member_string(leak, "api"), "cudaMalloc");
    cr_assert_str_eq(json_member_string(leak, "kind"), "device");
    cr_assert_eq(json_member_number(leak, "growth_bytes"), 3.0 * MIB);
    cr_assert_eq(json_member_number(leak, "growth_count"), 3);
    cr_assert_eq(json_member_number(leak, "a_bytes"), 1.0 * MIB);
    cr_assert_eq(json_member_number(leak, "b_bytes"), 4.0 * MIB);
    for (size_t i = 1; i < 3; i++) {
        const struct json_value *steady = site_of(document, i);
        cr_assert_str_eq(innermost_function(steady), "steady_work");
        cr_assert_eq(json_member_number(steady, "growth_bytes"), 0);
        cr_assert_eq(json_member_number(steady, "growth_count"), 0);
        cr_assert_eq(json_member_number(steady, "a_bytes"), i == 1 ? 4.0 * MIB : MIB / 2.0);
    }
    json_free(document);
    process_result_free(&run);

    const char *text_args[] = {"diff", "--from", from, "--to", to, trace, NULL};
    struct process_result text = run_cli(text_args);
    cr_assert_eq(text.exit_code, 0, "%s", text.err);
    cr_assert(strstr(text.out, "Total: 5767168 byte(s) (5.50 MiB) in 3 allocation(s) -> 8912896 byte(s) (8.50 MiB) in "
                               "6 allocation(s): +3145728 byte(s) (+3.00 MiB), +3 allocation(s)\n"),
              "%s", text.out);
    const char *first = strstr(text.out, "+3145728 byte(s) (+3.00 MiB), +3 allocation(s) (1048576 -> 4194304 byte(s), "
                                         "1 -> 4 allocation(s)) of device memory, cudaMalloc, allocated from:\n    #0 "
                                         "leak_a_little ");
    cr_assert_not_null(first, "%s", text.out);
    cr_assert_lt(first, strstr(text.out, "steady_work"), "largest growth first");
    process_result_free(&text);
    free(trace);
}

Test(diff, two_runs_match_their_sites_by_symbolized_frames)
{
    char *two = make_trace(CREEP, (const char *const[]){"2", NULL}, NULL, "creep2", NULL);
    char *five = make_trace(CREEP, (const char *const[]){"5", NULL}, NULL, "creep5", NULL);
    const char *args[] = {"diff", two, five, "--format=json", NULL};
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    struct json_value *document = parse(run.out);
    cr_assert_eq(json_member_number(document, "site_count"), 1, "steady_work frees everything at exit:\n%s", run.out);
    const struct json_value *leak = site_of(document, 0);
    cr_assert_str_eq(innermost_function(leak), "leak_a_little");
    cr_assert_eq(json_member_number(leak, "a_bytes"), 2.0 * MIB, "one site in both runs, though addresses differ");
    cr_assert_eq(json_member_number(leak, "b_bytes"), 5.0 * MIB);
    cr_assert_eq(json_member_number(leak, "growth_count"), 3);
    cr_assert_str_eq(json_member_string(json_member(document, "a"), "at"), "end");
    json_free(document);
    process_result_free(&run);

    const char *reversed[] = {"diff", five, two, "--top", "0", NULL};
    struct process_result shrink = run_cli(reversed);
    cr_assert_eq(shrink.exit_code, 0, "%s", shrink.err);
    cr_assert(strstr(shrink.out, ": -3145728 byte(s) (-3.00 MiB), -3 allocation(s)\n"), "%s", shrink.out);
    cr_assert(strstr(shrink.out, "... and 1 more site(s)"), "--top 0 shows totals only:\n%s", shrink.out);
    cr_assert_null(strstr(shrink.out, "leak_a_little"), "%s", shrink.out);
    process_result_free(&shrink);
    free(two);
    free(five);
}

Test(diff, usage_errors)
{
    char *trace = make_trace(CREEP, (const char *const[]){"1", NULL}, NULL, "creep", NULL);
    const char *no_moments[] = {"diff", trace, NULL};
    const char *backwards[] = {"diff", trace, "--from", "2s", "--to", "1s", NULL};
    const char *three[] = {"diff", trace, trace, trace, NULL};
    const char *bad_time[] = {"diff", trace, "--to", "soon", NULL};
    const char *bad_format[] = {"diff", trace, trace, "--format", "xml", NULL};
    const char *const *cases[] = {no_moments, backwards, three, bad_time, bad_format};
    const char *messages[] = {"needs --from and/or --to", "--from is after --to", "at most two traces",
                              "--to 'soon' is not a time", "--format 'xml' is not valid"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct process_result run = run_cli(cases[i]);
        cr_assert_eq(run.exit_code, 2, "case %zu: %s", i, run.err);
        cr_assert(strstr(run.err, messages[i]), "case %zu: %s", i, run.err);
        cr_assert(strstr(run.err, "Try 'vramtrace diff --help'."), "%s", run.err);
        process_result_free(&run);
    }
    free(trace);
}
