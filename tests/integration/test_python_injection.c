/* Integration tests: the shim runs Python code in the traced process (src/shim/python_injection.c).
 * The machine's python3 runs tests/programs/python/torch_injection.py with -I (no PYTHONPATH, no
 * sitecustomize: only the shim can activate anything) under `vramtrace run --simulate`; the script
 * imports the stand-in torch (tests/standin_torch), whose CUDA calls come from a library named
 * libc10_cuda.so like PyTorch's, so the shim's trigger fires at its first allocation. The code run
 * is the test's (VRAMTRACE_TEST_INJECT_CODE: it appends "PID MAIN-THREAD?" to a file and counts its
 * runs), or, without it, the bootstrap found next to the shim. VT_TEST_PYTHON names another
 * interpreter to run them with. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "traced_run.h"

#define SCRIPT VT_SOURCE_DIR "/tests/programs/python/torch_injection.py"

static const char *python(void)
{
    const char *chosen = getenv("VT_TEST_PYTHON");
    return chosen && *chosen ? chosen : "python3";
}

/* VRAMTRACE_TEST_INJECT_CODE=... for code that records each of its runs in `record_path`. */
static char *inject_code_setting(const char *record_path)
{
    char *setting;
    cr_assert_neq(asprintf(&setting,
                           "VRAMTRACE_TEST_INJECT_CODE=import os, sys, threading\n"
                           "open('%s', 'a').write('%%d %%s\\n' %% (os.getpid(), "
                           "threading.current_thread() is threading.main_thread()))\n"
                           "sys.vramtrace_test_ran = getattr(sys, 'vramtrace_test_ran', 0) + 1\n"
                           "injected_name = 1\n",
                           record_path),
                  -1);
    return setting;
}

/* torch_injection.py SCENARIO under `vramtrace run --simulate [options]` with python -I, in
 * `directory`, with the stand-in's library and `extra_environment` (NULL-terminated, may be NULL). */
static struct process_result run_scenario(const char *scenario, const char *const options[],
                                          const char *const extra_environment[], const char *directory)
{
    const char *environment[8] = {"VT_LIBC10_CUDA=" VT_LIBC10_CUDA_PATH};
    size_t count = 1;
    for (size_t i = 0; extra_environment && extra_environment[i]; i++)
        environment[count++] = extra_environment[i];
    return traced_run(options, python(), (const char *[]){"-I", "-B", SCRIPT, scenario, VT_STANDIN_TORCH_DIR, NULL},
                      environment, directory);
}

static void assert_contains(const char *text, const char *expected, const struct process_result *run)
{
    cr_assert(strstr(text, expected), "'%s' missing; stdout:\n%s\nstderr:\n%s", expected, run->out, run->err);
}

static char *path_in(const char *directory, const char *name)
{
    char *path;
    cr_assert_neq(asprintf(&path, "%s/%s", directory, name), -1);
    return path;
}

Test(python_injection, python_isolated_mode_gets_the_code_run_once_on_the_main_thread)
{
    char *directory = make_temp_directory();
    char *record = path_in(directory, "runs.txt");
    struct process_result run = run_scenario("inject", (const char *[]){"-q", "--report=none", NULL},
                                             (const char *[]){inject_code_setting(record), NULL}, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    assert_contains(run.out, "runs before the first tensor: 0\n", &run);
    /* the main thread waits in pure Python (never releasing the GIL): the shim's thread takes the
     * GIL once to make it look at its pending calls (up to 3.12) */
    assert_contains(run.out, "ran while the main thread kept the GIL: True", &run);
    assert_contains(run.out, "runs: 1\n", &run);
    assert_contains(run.out, "__main__ untouched: True\n", &run);
    cr_assert_eq(run.err[0], '\0', "stderr:\n%s", run.err);
    char *runs = read_file_text(record);
    cr_assert_not_null(runs, "the code never ran");
    cr_assert_eq(count_occurrences(runs, "\n"), 1, "%s", runs);
    cr_assert(strstr(runs, " True\n"), "not on the main thread: %s", runs);
}

Test(python_injection, torch_off_runs_nothing)
{
    char *directory = make_temp_directory();
    char *record = path_in(directory, "runs.txt");
    struct process_result run = run_scenario("wait", (const char *[]){"-q", "--report=none", "--torch=off", NULL},
                                             (const char *[]){inject_code_setting(record), NULL}, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    assert_contains(run.out, "runs: 0\n", &run);
    cr_assert_null(read_file_text(record), "the code ran with --torch=off"); /* not at exit either */
}

Test(python_injection, a_program_without_python_gets_nothing)
{
    char *directory = make_temp_directory();
    char *record = path_in(directory, "runs.txt");
    char *code = inject_code_setting(record);
    int threads[2];
    const char *modes[2] = {"VRAMTRACE_TORCH=on", "VRAMTRACE_TORCH=off"};
    for (int i = 0; i < 2; i++) {
        struct process_result run =
            traced_run((const char *[]){"-q", "--report=none", NULL}, VT_PROGRAMS_DIR "/c10_user",
                       (const char *[]){VT_LIBC10_CUDA_PATH, NULL}, (const char *[]){code, modes[i], NULL}, directory);
        cr_assert_eq(run.exit_code, 0, "%s: stdout:\n%s\nstderr:\n%s", modes[i], run.out, run.err);
        cr_assert_eq(run.err[0], '\0', "%s: stderr:\n%s", modes[i], run.err);
        threads[i] = (int)number_after(run.out, "threads: ");
    }
    cr_assert_eq(threads[0], threads[1], "a thread of the shim's own was started without Python (%d vs %d)",
                 threads[0], threads[1]);
    cr_assert_null(read_file_text(record));
}

Test(python_injection, a_forked_child_gets_nothing_and_its_parent_gets_the_code_once)
{
    char *directory = make_temp_directory();
    char *record = path_in(directory, "runs.txt");
    struct process_result run = run_scenario("fork", (const char *[]){"-q", "--report=none", NULL},
                                             (const char *[]){inject_code_setting(record), NULL}, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    assert_contains(run.out, "child runs: 0\n", &run);
    assert_contains(run.out, "child exit status: 0\n", &run);
    assert_contains(run.out, "parent ran: True, runs: 1, pid ", &run);
    char *runs = read_file_text(record);
    cr_assert_not_null(runs, "the code never ran in the parent");
    char expected[64];
    snprintf(expected, sizeof expected, "%llu True\n", (unsigned long long)number_after(run.out, ", pid "));
    cr_assert_str_eq(runs, expected, "the child ran it, or the parent more than once");
}

Test(python_injection, each_live_dump_calls_the_active_bootstrap_and_the_exports_answer)
{
    char *directory = make_temp_directory();
    char *trace = path_in(directory, "job.trace");
    char *output = path_in(directory, "job");
    const char *modes[2][2] = {{"--torch=auto", "1"}, {"--torch=on", "2"}};
    for (int i = 0; i < 2; i++) {
        struct process_result run =
            run_scenario("dump", (const char *[]){"-q", "-o", trace, modes[i][0], NULL}, NULL, directory);
        cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
        for (int number = 1; number <= 2; number++) {
            char expected[1024];
            snprintf(expected, sizeof expected, "dump %d: output base 0 %s; torch mode %s\n", number, output,
                     modes[i][1]);
            assert_contains(run.out, expected, &run);
        }
        /* loaded already (as sitecustomize would have): the trigger does not activate it again */
        assert_contains(run.out, "activations: 0\n", &run);
        char *snapshot = read_file_text(path_in(directory, "job.dump-2.txt"));
        cr_assert(snapshot && strstr(snapshot, "live snapshot 2"), "%s", snapshot ? snapshot : "no job.dump-2.txt");
    }
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out, "cannot copy %s", from);
    char buffer[65536];
    for (size_t length; (length = fread(buffer, 1, sizeof buffer, in)) > 0;)
        cr_assert_eq(fwrite(buffer, 1, length, out), length);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

/* The bootstrap's directory is found from the shim's own path and reaches Python as it is, whatever
 * its bytes: the shim is copied into a directory whose name has a quote, a double quote, a
 * backslash and a byte that is not UTF-8, next to a stand-in vramtrace-python/vramtrace_bootstrap.py. */
Test(python_injection, the_bootstrap_next_to_the_shim_is_imported_and_activated)
{
    char *directory = make_temp_directory();
    char *library_directory = path_in(directory, "lib'q\"b\\\xffx");
    cr_assert_eq(mkdir(library_directory, 0755), 0);
    char *library = path_in(library_directory, "libvramtrace.so");
    copy_file(VT_SHIM_PATH, library);
    char *python_directory = path_in(library_directory, "vramtrace-python");
    cr_assert_eq(mkdir(python_directory, 0755), 0);
    char *bootstrap = path_in(python_directory, "vramtrace_bootstrap.py");
    FILE *file = fopen(bootstrap, "w");
    cr_assert_not_null(file);
    fputs("calls = []\n\ndef activate(injected=False):\n    calls.append(injected)\n", file);
    fclose(file);
    char *library_setting = NULL;
    cr_assert_neq(asprintf(&library_setting, "VRAMTRACE_LIBRARY=%s", library), -1);

    struct process_result run = run_scenario("bootstrap", (const char *[]){"-q", "--report=none", NULL},
                                             (const char *[]){library_setting, NULL}, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    assert_contains(run.out, "bootstrap calls: [True]\n", &run);
    char expected[2048] = "bootstrap file: ";
    for (const unsigned char *byte = (const unsigned char *)bootstrap; *byte; byte++)
        snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%02x", *byte);
    assert_contains(run.out, expected, &run);
    assert_contains(run.out, "sys.path left as it was: True\n", &run);
    cr_assert_eq(run.err[0], '\0', "stderr:\n%s", run.err);
}

Test(python_injection, an_exception_in_the_code_never_reaches_the_program)
{
    static const char *const codes[] = {"VRAMTRACE_TEST_INJECT_CODE=raise ValueError('boom')",
                                        "VRAMTRACE_TEST_INJECT_CODE=raise SystemExit(3)"};
    static const char *const messages[] = {"ValueError('boom')", "SystemExit(3)"};
    char *directory = make_temp_directory();
    for (int i = 0; i < 2; i++) {
        struct process_result run =
            run_scenario("fails", (const char *[]){"--report=none", NULL}, (const char *[]){codes[i], NULL}, directory);
        cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
        assert_contains(run.out, "the program went on\n", &run);
        char expected[256];
        snprintf(expected, sizeof expected, "vramtrace: Python code run by vramtrace failed (%s); the program goes on\n",
                 messages[i]);
        assert_contains(run.err, expected, &run);
        cr_assert_eq(count_occurrences(run.err, "Python code run by vramtrace"), 1, "%s", run.err);
    }
    /* quiet: not a word */
    struct process_result run = run_scenario("fails", (const char *[]){"-q", "--report=none", NULL},
                                             (const char *[]){codes[0], NULL}, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    cr_assert_eq(run.err[0], '\0', "stderr:\n%s", run.err);
}

Test(python_injection, the_bootstrap_injected_inside_a_lazy_call_callback_does_not_deadlock, .timeout = 30)
{
    char *directory = make_temp_directory();
    struct process_result run = run_scenario("lazy_callback", NULL, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    assert_contains(run.out, "history on: True", &run);
    assert_contains(run.err, "PyTorch memory snapshot at exit written", &run);
    process_result_free(&run);
}

Test(python_injection, a_bad_torch_mode_is_named_with_the_accepted_values)
{
    struct process_result run = run_process((const char *[]){VT_CLI_PATH, "run", "--torch", "maybe", "--", "true", NULL},
                                            NULL, NULL);
    cr_assert_eq(run.exit_code, 2, "%s", run.err);
    cr_assert(strstr(run.err, "VRAMTRACE_TORCH='maybe' is not valid; accepted: off, auto, on"), "%s", run.err);
}
