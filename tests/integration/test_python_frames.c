/* Integration tests: Python frames in stacks. The machine's python3 runs
 * tests/programs/python/python_sites.py under `vramtrace run --simulate`, calling the simulated
 * libcudart's cudaMalloc through ctypes from distinct functions in distinct files, on several
 * threads and on a native thread with no Python state. Each site allocates a size of its own, so
 * its group is found by size; its lines are found by the "# site: NAME" markers in the sources.
 * VT_TEST_PYTHON names another interpreter to run them with (scripts/test-pythons.sh runs them
 * with CPython 3.9 to 3.13 where those are installed). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced_run.h"

#define PYTHON_DIR VT_SOURCE_DIR "/tests/programs/python"
#define SITES_SCRIPT PYTHON_DIR "/python_sites.py"
#define MiB (1ull << 20)

/* The line of `file` (in PYTHON_DIR) that carries "# site: NAME". */
static int site_line(const char *file, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", PYTHON_DIR, file);
    return source_site_line(path, name);
}

/* " in FUNCTION /.../FILE:LINE" for a marked site. */
static char *site_frame(const char *function, const char *file, const char *site)
{
    char *text;
    cr_assert_neq(asprintf(&text, " in %s %s/%s:%d", function, PYTHON_DIR, file, site_line(file, site)), -1);
    return text;
}

/* The interpreter under test: $VT_TEST_PYTHON, else python3. */
static const char *python(void)
{
    const char *chosen = getenv("VT_TEST_PYTHON");
    return chosen && *chosen ? chosen : "python3";
}

/* Its minor version (3.minor): names differ (qualified names from 3.11; comprehensions inlined
 * from 3.12). */
static int python_minor(void)
{
    static int minor = -1;
    if (minor < 0) {
        struct process_result run = run_process(
            (const char *[]){python(), "-c", "import sys; print(sys.version_info[1])", NULL}, NULL, NULL);
        cr_assert_eq(run.exit_code, 0, "%s", run.err);
        minor = atoi(run.out);
        process_result_free(&run);
    }
    return minor;
}

/* A function's name as CPython names it in this version: the qualified name from 3.11, the plain
 * name (after the last dot) before. */
static const char *function_name(const char *qualified)
{
    const char *dot = strrchr(qualified, '.');
    return python_minor() >= 11 || !dot ? qualified : dot + 1;
}

static struct process_result run_scenario(const char *scenario, const char *const extra_options[],
                                          const char *const extra_environment[])
{
    const char *options[8] = {NULL};
    size_t count = 0;
    for (size_t i = 0; extra_options && extra_options[i]; i++)
        options[count++] = extra_options[i];
    const char *environment[8] = {"VT_NATIVE_WORKER=" VT_PROGRAMS_DIR "/libnative_worker.so",
                                  "PYTHONDONTWRITEBYTECODE=1"};
    count = 2;
    for (size_t i = 0; extra_environment && extra_environment[i]; i++)
        environment[count++] = extra_environment[i];
    struct process_result run = traced_run(options, python(), (const char *[]){SITES_SCRIPT, scenario, NULL},
                                           environment, NULL);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    return run;
}

/* The text of the leak group of `bytes`: from its header to the blank line that ends it. */
static char *group_of_size(const char *report, uint64_t bytes)
{
    char header[128];
    snprintf(header, sizeof header, "Leak of %llu byte(s) ", (unsigned long long)bytes);
    const char *start = strstr(report, header);
    cr_assert_not_null(start, "no group of %llu bytes in:\n%s", (unsigned long long)bytes, report);
    const char *end = strstr(start, "\n\n");
    return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

/* Asserts that the frames appear in `group` in this order (innermost first). */
static void assert_in_order(const char *group, const char *const frames[])
{
    const char *at = group;
    for (size_t i = 0; frames[i]; i++) {
        const char *found = strstr(at, frames[i]);
        cr_assert_not_null(found, "'%s' missing (or out of order) in:\n%s", frames[i], group);
        at = found + strlen(frames[i]);
    }
}

static unsigned count_of(const char *text, const char *needle)
{
    unsigned count = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
        count++;
    return count;
}

Test(python_frames, each_python_site_is_named_with_its_file_and_line_after_the_native_frames)
{
    struct process_result run = run_scenario("sites", NULL, NULL);
    char *weights = group_of_size(run.err, 3 * MiB);
    cr_assert(strstr(weights, "in 3 allocation(s)"), "%s", weights);
    assert_in_order(weights, (const char *[]){
                                 "ffi_call", /* native frames first: ctypes reaching cudaMalloc */
                                 site_frame("malloc", "cuda.py", "cuda.malloc"),
                                 /* 3.12+ inlines the comprehension (PEP 709): no frame of its own */
                                 python_minor() >= 12 ? "" : site_frame(function_name("load_weights.<locals>.<listcomp>"),
                                                                        "model_weights.py", "load_weights"),
                                 site_frame("load_weights", "model_weights.py", "load_weights"),
                                 site_frame("sites", "python_sites.py", "sites calls load_weights"),
                                 " in <module> " PYTHON_DIR "/python_sites.py:",
                                 NULL});
    char *batch = group_of_size(run.err, 2 * MiB);
    assert_in_order(batch, (const char *[]){"ffi_call", site_frame("malloc", "cuda.py", "cuda.malloc"),
                                            site_frame("make_batch", "data_batches.py", "make_batch"),
                                            site_frame("sites", "python_sites.py", "sites calls make_batch"), NULL});
    cr_assert_null(strstr(batch, "_PyEval_EvalFrameDefault"), "the interpreter's own frames are left out:\n%s", batch);
    cr_assert(strstr(run.err, "; 2 distinct stack(s)"), "%s", run.err);
    process_result_free(&run);
}

Test(python_frames, the_trace_keeps_python_frames_for_the_cli_report_and_its_json)
{
    char *directory = make_temp_directory();
    char trace[600], output[700];
    snprintf(trace, sizeof trace, "%s/sites.trace", directory);
    snprintf(output, sizeof output, "--output=%s", trace);
    struct process_result run = run_scenario("sites", (const char *[]){output, NULL}, NULL);
    process_result_free(&run);
    struct process_result text = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(text.exit_code, 0, "%s", text.err);
    char *frame = site_frame("load_weights", "model_weights.py", "load_weights");
    char with_marker[1200];
    snprintf(with_marker, sizeof with_marker, "%s [python]\n", frame);
    assert_in_order(group_of_size(text.out, 3 * MiB), (const char *[]){"ffi_call", with_marker, NULL});
    struct process_result json =
        run_process((const char *[]){VT_CLI_PATH, "report", "--format", "json", trace, NULL}, NULL, NULL);
    cr_assert_eq(json.exit_code, 0, "%s", json.err);
    char expected[1200];
    snprintf(expected, sizeof expected,
             "\"address\": null,\n%*s\"kind\": \"python\",\n%*s\"function\": \"load_weights\",\n%*s\"file\": \"%s/model_weights.py\",\n%*s\"line\": %d,",
             16, "", 16, "", 16, "", PYTHON_DIR, 16, "", site_line("model_weights.py", "load_weights"));
    cr_assert(strstr(json.out, expected), "want:\n%s\nin:\n%s", expected, json.out);
    cr_assert(strstr(json.out, "\"kind\": \"native\""), "%s", json.out);
    process_result_free(&text);
    process_result_free(&json);
}

Test(python_frames, threads_get_their_own_python_frames_and_a_native_thread_none)
{
    struct process_result run = run_scenario("threads", NULL, NULL);
    char *workers = group_of_size(run.err, (4 + 5 + 6) * MiB);
    cr_assert(strstr(workers, "in 3 allocation(s)"), "%s", workers);
    assert_in_order(workers, (const char *[]){site_frame("malloc", "cuda.py", "cuda.malloc"),
                                              site_frame("worker", "python_sites.py", "worker"),
                                              python_minor() >= 11 ? " in Thread.run " : " in run ", NULL});
    char *native = group_of_size(run.err, 9 * MiB);
    cr_assert(strstr(native, " in native_worker_thread "), "%s", native);
    cr_assert_null(strstr(native, ".py:"), "a thread without Python state has native frames only:\n%s", native);
    process_result_free(&run);
}

Test(python_frames, generators_coroutines_recursion_and_exceptions)
{
    struct process_result run = run_scenario("shapes", NULL, NULL);
    assert_in_order(group_of_size(run.err, 20 * MiB),
                    (const char *[]){site_frame("batches", "data_batches.py", "batches generator"),
                                     site_frame("shapes", "python_sites.py", "generator consumer"), NULL});
    char *recursion = group_of_size(run.err, 11 * MiB);
    assert_in_order(recursion, (const char *[]){site_frame("recurse", "python_sites.py", "recursion bottom"),
                                                site_frame("shapes", "python_sites.py", "recursion entry"), NULL});
    cr_assert_eq(count_of(recursion, site_frame("recurse", "python_sites.py", "recursion step")), 5, "%s", recursion);
    assert_in_order(group_of_size(run.err, 12 * MiB),
                    (const char *[]){site_frame("coroutine_alloc", "python_sites.py", "coroutine"),
                                     python_minor() >= 11 ? " in BaseEventLoop.run_until_complete "
                                                          : " in run_until_complete ",
                                     NULL});
    assert_in_order(group_of_size(run.err, 13 * MiB),
                    (const char *[]){site_frame("raise_after_alloc", "python_sites.py", "before raise"),
                                     site_frame("shapes", "python_sites.py", "raise call"), NULL});
    assert_in_order(group_of_size(run.err, 14 * MiB),
                    (const char *[]){site_frame("shapes", "python_sites.py", "except handler"), NULL});
    assert_in_order(group_of_size(run.err, 15 * MiB),
                    (const char *[]){site_frame("shapes", "python_sites.py", "finally"), NULL});
    /* 201 nested calls: the innermost 32 Python frames (the default depth) are kept. */
    char *deep = group_of_size(run.err, 16 * MiB);
    cr_assert_eq(count_of(deep, ".py:"), 32, "%s", deep);
    assert_in_order(deep, (const char *[]){site_frame("malloc", "cuda.py", "cuda.malloc"),
                                           site_frame("recurse", "python_sites.py", "recursion bottom"), NULL});
    cr_assert_null(strstr(deep, " in shapes "), "%s", deep);
    process_result_free(&run);
}

Test(python_frames, python_depth_limits_and_turns_off_python_frames)
{
    struct process_result run = run_scenario("shapes", (const char *[]){"--python-depth", "4", NULL}, NULL);
    /* Cut to 4 Python frames, the 6- and 201-deep recursions have one stack (one group) where
     * the interpreter does not recurse in C (3.11+); before 3.11 each Python call is native
     * frames too, so the native depth limit cuts the deep one's libc frames off: two groups. */
    char *deep = strstr(run.err, "Leak of 28311552 byte(s)") ? group_of_size(run.err, (11 + 16) * MiB)
                                                              : group_of_size(run.err, 16 * MiB);
    cr_assert(python_minor() < 11 || strstr(deep, "in 2 allocation(s)"), "%s", deep);
    cr_assert_eq(count_of(deep, ".py:"), 4, "%s", deep);
    process_result_free(&run);

    run = run_scenario("sites", NULL, (const char *[]){"VRAMTRACE_PYTHON_DEPTH=0", NULL});
    cr_assert_null(strstr(run.err, ".py:"), "%s", run.err);
    process_result_free(&run);
}

Test(python_frames, a_code_object_freed_and_its_address_reused_is_never_misattributed)
{
    struct process_result run = run_scenario("reuse", NULL, NULL);
    /* The test means something only if CPython did put a later code object where an earlier one was. */
    bool reused = false;
    for (unsigned index = 0; index < 6 && !reused; index++) {
        char line[64], address[64];
        snprintf(line, sizeof line, "code %u at ", index);
        const char *at = strstr(run.out, line);
        cr_assert_not_null(at, "%s", run.out);
        cr_assert_eq(sscanf(at + strlen(line), "%63s", address), 1);
        reused = count_of(run.out, address) >= 2;
    }
    cr_assert(reused, "no code object address was reused:\n%s", run.out);
    for (unsigned index = 0; index < 6; index++) {
        char frame[64];
        snprintf(frame, sizeof frame, " in allocate generated_%u.py:3 [python]\n", index);
        char *group = group_of_size(run.err, (20 + index) * MiB);
        cr_assert(strstr(group, frame), "want '%s' in:\n%s", frame, group);
        free(group);
    }
    process_result_free(&run);
}

Test(python_frames, the_oom_report_names_the_python_lines_of_the_request_and_of_what_was_live)
{
    char *directory = make_temp_directory();
    char report[600], option[700];
    snprintf(report, sizeof report, "%s/run.report.txt", directory);
    snprintf(option, sizeof option, "--report=%s", report);
    struct process_result run = run_scenario("oom", (const char *[]){"--simulate=1G", option, NULL}, NULL);
    cr_assert(strstr(run.out, "out of memory, as expected"), "%s", run.out);
    char path[700];
    snprintf(path, sizeof path, "%s/run.oom.txt", directory);
    char *oom = read_file_text(path);
    cr_assert_not_null(oom, "%s missing:\n%s", path, run.err);
    const char *failed = strstr(oom, "Failed request made from:\n");
    cr_assert_not_null(failed, "%s", oom);
    assert_in_order(failed, (const char *[]){site_frame("malloc", "cuda.py", "cuda.malloc"),
                                             site_frame(function_name("out_of_memory"), "python_sites.py", "oom request"),
                                             NULL});
    const char *live = strstr(oom, "Live of 104857600 byte(s)");
    cr_assert_not_null(live, "%s", oom);
    assert_in_order(live, (const char *[]){site_frame("load_weights", "model_weights.py", "load_weights"),
                                           site_frame(function_name("out_of_memory"), "python_sites.py", "oom live"),
                                           NULL});
    free(oom);
    process_result_free(&run);
}

Test(python_frames, a_line_table_too_large_to_keep_shows_the_first_line_and_the_trace_goes_on)
{
    char *directory = make_temp_directory();
    char trace[600], output[700];
    snprintf(trace, sizeof trace, "%s/big.trace", directory);
    snprintf(output, sizeof output, "--output=%s", trace);
    struct process_result run = run_scenario("big_table", (const char *[]){output, NULL}, NULL);
    unsigned long table_bytes = 0;
    cr_assert_eq(sscanf(run.out, "line table bytes: %lu", &table_bytes), 1, "%s", run.out);
    cr_assert_gt(table_bytes, 64 << 10, "the test needs a table larger than the shim keeps");
    cr_assert(strstr(group_of_size(run.err, 30 * MiB), " in big big_table.py:1 [python]\n"), "%s", run.err);
    process_result_free(&run);
    struct process_result report = run_process((const char *[]){VT_CLI_PATH, "report", trace, NULL}, NULL, NULL);
    cr_assert_eq(report.exit_code, 0, "%s", report.err);
    char *after = group_of_size(report.out, (31 + 32 + 33 + 34 + 35) * MiB);
    cr_assert(strstr(after, "in 5 allocation(s)"), "every allocation after the big code object is in the trace:\n%s",
              after);
    assert_in_order(after, (const char *[]){site_frame(function_name("big_line_table"), "python_sites.py",
                                                       "after the big table"), NULL});
    process_result_free(&report);
}

Test(python_frames, a_file_name_that_is_not_utf8_still_gives_valid_json)
{
    char *directory = make_temp_directory();
    char odd[700], command[8192], trace[800];
    snprintf(odd, sizeof odd, "%s/dir\xff", directory);
    snprintf(trace, sizeof trace, "%s/odd.trace", directory);
    snprintf(command, sizeof command,
             "mkdir '%s' && cp %s/*.py '%s'/ && VT_NATIVE_WORKER=x '%s' run -q --simulate -o '%s' %s '%s/python_sites.py' sites "
             ">/dev/null && '%s' report --format json '%s' | %s -c 'import json, sys; d = json.load(sys.stdin); "
             "print(json.dumps(d).count(chr(92) + \"ufffd\"))'",
             odd, PYTHON_DIR, odd, VT_CLI_PATH, trace, python(), odd, VT_CLI_PATH, trace, python());
    struct process_result run = run_process((const char *[]){"/bin/sh", "-c", command, NULL}, NULL, NULL);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    cr_assert_gt(atoi(run.out), 0, "frames of the odd directory show U+FFFD:\n%s\n%s", run.out, run.err);
    process_result_free(&run);
}

Test(python_frames, an_unknown_interpreter_that_never_allocates_says_nothing)
{
    const char *environment[] = {"VRAMTRACE_TEST_PYTHON_VERSION=3.99", NULL};
    struct process_result run = traced_run(NULL, python(), (const char *[]){"-c", "pass", NULL}, environment, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_null(strstr(run.err, "not supported"), "%s", run.err);
    process_result_free(&run);
}

Test(python_frames, an_unknown_interpreter_version_gives_native_frames_and_one_message)
{
    struct process_result run = run_scenario("sites", NULL, (const char *[]){"VRAMTRACE_TEST_PYTHON_VERSION=3.99", NULL});
    cr_assert_eq(count_of(run.err, "vramtrace: Python 3.99 is not supported"), 1, "%s", run.err);
    cr_assert_null(strstr(run.err, ".py:"), "%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s)."), "%s", run.err);
    process_result_free(&run);
}
