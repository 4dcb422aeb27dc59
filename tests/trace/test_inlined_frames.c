/* tests/trace/test_inlined_frames.c — calls the compiler inlined are frames of their own, in every
 * report: tests/programs/inlined_leak (C++, -O2) leaks through make_activation → Trainer::step →
 * main, the first two inlined into main. The exit report (the shim's symbolizer), `vramtrace
 * report` in text and JSON (the CLI's), `flame` and `top` must show the three functions innermost
 * first, each with its own file:line (the program's `SITE:` lines), the inlined ones at the same
 * address as main's frame. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_helpers.h"
#include "traced_run.h"

#define PROGRAM VT_PROGRAMS_DIR "/inlined_leak"
#define SOURCE VT_PROGRAMS_SOURCE_DIR "/inlined_leak.cpp"
#define GROUP_HEADER "Leak of 1048576 byte(s) (1.00 MiB) in 1 allocation(s) of device memory, cudaMalloc, allocated from:"

struct expected_frame {
    const char *function; /* as the reports name it */
    const char *mark;     /* the SITE: mark of its line in the source */
    const char *kind;     /* in the JSON */
    int line;
};

static struct expected_frame expected[] = {
    {"make_activation", "SITE: make_activation */", "inlined", 0},
    {"Trainer::step()", "SITE: Trainer::step */", "inlined", 0},
    {"main", "SITE: main */", "native", 0},
};
#define EXPECTED_COUNT (sizeof expected / sizeof expected[0])

static char source_path[PATH_MAX];

/* The lines of the SITE: marks, and the source's path as the reports print it (resolved). */
static void find_sites(void)
{
    cr_assert_not_null(realpath(SOURCE, source_path), "%s", SOURCE);
    char *text = read_file_text(source_path);
    cr_assert_not_null(text);
    for (size_t i = 0; i < EXPECTED_COUNT; i++) {
        const char *mark = strstr(text, expected[i].mark);
        cr_assert_not_null(mark, "%s lacks '%s'", SOURCE, expected[i].mark);
        expected[i].line = 1;
        for (const char *c = text; c < mark; c++)
            expected[i].line += *c == '\n';
    }
    free(text);
}

TestSuite(inlined_frames, .init = find_sites);

struct traced {
    char *trace_path;
    struct process_result run; /* run.err: the exit report */
};

static struct traced run_traced(void)
{
    struct traced traced;
    char *directory = make_temp_directory();
    cr_assert(asprintf(&traced.trace_path, "%s/inlined.trace", directory) > 0);
    const char *options[] = {"-o", traced.trace_path, NULL};
    traced.run = traced_run(options, PROGRAM, NULL, NULL, directory);
    cr_assert_eq(traced.run.exit_code, 0, "%s", traced.run.err);
    free(directory);
    return traced;
}

static struct process_result cli(const char *const args[])
{
    const char *argv[16] = {VT_CLI_PATH};
    size_t count = 1;
    for (; args[count - 1]; count++)
        argv[count] = args[count - 1];
    argv[count] = NULL;
    struct process_result result = run_process(argv, NULL, NULL);
    cr_assert_eq(result.exit_code, 0, "%s", result.err);
    return result;
}

/* The group's frames #0..#2 (under its thread line), one per expected function in order, all at one
 * address: "    #N 0xADDRESS in FUNCTION SOURCE:LINE (inlined_leak+0xOFFSET)". */
static void assert_frames(const char *report)
{
    char *block = text_block(report, GROUP_HEADER);
    const char *line = strchr(block, '\n');
    cr_assert(line && strncmp(line, "\n  thread ", 10) == 0, "no thread line:\n%s", block);
    line = strchr(line + 1, '\n');
    char address[64] = "";
    for (size_t i = 0; i < EXPECTED_COUNT; i++) {
        cr_assert_not_null(line, "frame #%zu missing:\n%s", i, block);
        line++;
        char prefix[32], located[PATH_MAX + 300];
        snprintf(prefix, sizeof prefix, "    #%zu 0x", i);
        cr_assert(strncmp(line, prefix, strlen(prefix)) == 0, "frame #%zu:\n%s", i, block);
        char this_address[64];
        snprintf(this_address, sizeof this_address, "%.*s", (int)strcspn(line + strlen(prefix) - 2, " "),
                 line + strlen(prefix) - 2);
        if (i == 0)
            snprintf(address, sizeof address, "%s", this_address);
        cr_assert_str_eq(this_address, address, "inlined calls are at their function's address:\n%s", block);
        snprintf(located, sizeof located, " in %s %s:%d (inlined_leak+0x", expected[i].function, source_path,
                 expected[i].line);
        const char *end = strchr(line, '\n');
        cr_assert(strstr(line, located) && strstr(line, located) < end, "frame #%zu should read '...%s...':\n%s", i,
                  located, block);
        line = end;
    }
    free(block);
}

Test(inlined_frames, exit_report_and_text_report_expand_inlined_calls)
{
    struct traced traced = run_traced();
    assert_frames(traced.run.err);
    struct process_result report = cli((const char *[]){"report", traced.trace_path, NULL});
    assert_frames(report.out);
    char *from_exit = text_block(traced.run.err, GROUP_HEADER), *from_trace = text_block(report.out, GROUP_HEADER);
    cr_assert_str_eq(from_trace, from_exit, "the CLI symbolizes as the shim did");
    free(from_exit);
    free(from_trace);
    process_result_free(&report);
    process_result_free(&traced.run);
    free(traced.trace_path);
}

Test(inlined_frames, json_frames_have_kinds)
{
    struct traced traced = run_traced();
    struct process_result report = cli((const char *[]){"report", "--format=json", traced.trace_path, NULL});
    char *value = json_value(report.out, "[(f['kind'], f['function'], f['file'], f['line']) for f in "
                                         "d['live']['kinds'][0]['groups'][0]['frames'][:3]], "
                                         "len({f['address'] for f in d['live']['kinds'][0]['groups'][0]['frames'][:3]})");
    char expect[4 * PATH_MAX];
    snprintf(expect, sizeof expect, "([('%s', '%s', '%s', %d), ('%s', '%s', '%s', %d), ('%s', '%s', '%s', %d)], 1)",
             expected[0].kind, expected[0].function, source_path, expected[0].line, expected[1].kind,
             expected[1].function, source_path, expected[1].line, expected[2].kind, expected[2].function, source_path,
             expected[2].line);
    cr_assert_str_eq(value, expect);
    free(value);
    value = json_value(report.out, "[f['kind'] for f in d['live']['kinds'][0]['groups'][0]['frames'][3:]]");
    cr_assert(strncmp(value, "['native'", 9) == 0 && !strstr(value, "inlined"), "the C runtime's frames: %s", value);
    free(value);
    process_result_free(&report);
    process_result_free(&traced.run);
    free(traced.trace_path);
}

Test(inlined_frames, flame_and_top_name_every_inlined_call)
{
    struct traced traced = run_traced();
    struct process_result flame = cli((const char *[]){"flame", traced.trace_path, NULL});
    cr_assert(strstr(flame.out, ";main;Trainer::step();make_activation;cudaMalloc 1048576\n"),
              "outermost first, the inlined calls between main and the API:\n%s", flame.out);
    struct process_result top = cli((const char *[]){"top", "--once", traced.trace_path, NULL});
    cr_assert(strstr(top.out, "make_activation < Trainer::step() < main < __libc_start_call_main"),
              "innermost first:\n%s", top.out);
    process_result_free(&flame);
    process_result_free(&top);
    process_result_free(&traced.run);
    free(traced.trace_path);
}
