/* Integration tests: the PyTorch integration's activation (src/python/sitecustomize.py and
 * vramtrace_bootstrap.py, put first on PYTHONPATH by `vramtrace run`) on the stand-in torch
 * (tests/standin_torch) and the simulated device: PyTorch's own snapshot beside the trace at exit
 * and at the first out-of-memory, nothing done before PyTorch initialises CUDA, the user's own
 * sitecustomize still run, every failure caught, forked children silent and spawned ones traced. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "traced_run.h"

#define JOBS VT_SOURCE_DIR "/tests/programs/python/torch_jobs.py"

/* Runs torch_jobs.py SCENARIO in `directory` with the trace to job.%p.trace there. */
static struct process_result run_job(const char *directory, const char *scenario, const char *const options[],
                                     const char *const environment_extra[])
{
    const char *all_options[8] = {"--output=job.%p.trace"};
    size_t count = 1;
    for (size_t i = 0; options && options[i]; i++)
        all_options[count++] = options[i];
    char python_path[2048];
    const char *inherited = getenv("VT_TEST_PYTHONPATH");
    snprintf(python_path, sizeof python_path, "PYTHONPATH=%s%s%s", VT_STANDIN_TORCH_DIR, inherited ? ":" : "",
             inherited ? inherited : "");
    const char *environment[10] = {python_path, "VT_LIBC10_CUDA=" VT_LIBC10_CUDA_PATH, "PYTHONDONTWRITEBYTECODE=1"};
    count = 3;
    for (size_t i = 0; environment_extra && environment_extra[i]; i++)
        environment[count++] = environment_extra[i];
    struct process_result run =
        traced_run(all_options, "python3", (const char *[]){JOBS, scenario, "--report-bootstrap", NULL}, environment,
                   directory);
    cr_assert_eq(run.exit_code, 0, "stdout:\n%s\nstderr:\n%s", run.out, run.err);
    return run;
}

/* The output of a python3 one-liner run in `directory` (stdout), asserting it succeeds. */
static char *python_output(const char *directory, const char *code)
{
    struct process_result run = run_process((const char *[]){"python3", "-c", code, NULL}, NULL, directory);
    cr_assert_eq(run.exit_code, 0, "%s\n%s", code, run.err);
    char *out = strdup(run.out);
    process_result_free(&run);
    return out;
}

static char *files_matching(const char *directory, const char *pattern)
{
    char code[512];
    snprintf(code, sizeof code, "import glob; print(' '.join(sorted(glob.glob('%s'))))", pattern);
    return python_output(directory, code);
}

Test(torch_bootstrap, a_training_job_gets_pytorchs_own_snapshot_at_exit_with_its_python_lines)
{
    char *directory = make_temp_directory();
    struct process_result run = run_job(directory, "keep_losses", NULL, NULL);
    cr_assert(strstr(run.out, "bootstrap loaded: True"), "%s", run.out);
    cr_assert(strstr(run.err, "vramtrace: PyTorch memory snapshot at exit written to job."), "%s", run.err);
    char *pickles = files_matching(directory, "job.*.torch.pickle");
    cr_assert_neq(strcmp(pickles, "\n"), 0, "no snapshot in %s:\n%s", directory, run.err);
    char code[1024];
    snprintf(code, sizeof code,
             "import glob, pickle; s = pickle.load(open(glob.glob('job.*.torch.pickle')[0], 'rb'));"
             "print(sorted(s)); print(len(s['segments']) > 0);"
             "print(any(f['filename'].endswith('torch_jobs.py') and f['line'] == %d"
             "          for e in s['device_traces'][0] for f in e['frames']))",
             source_site_line(JOBS, "batch"));
    char *summary = python_output(directory, code);
    cr_assert_str_eq(summary, "['allocator_settings', 'device_traces', 'external_annotations', 'segments']\nTrue\nTrue\n",
                     "%s", summary);
    free(summary);
    process_result_free(&run);
}

Test(torch_bootstrap, the_first_out_of_memory_writes_a_snapshot_with_the_failure)
{
    char *directory = make_temp_directory();
    struct process_result run = run_job(directory, "out_of_memory", (const char *[]){"--simulate=1G", NULL}, NULL);
    cr_assert(strstr(run.out, "torch: out of memory, as expected"), "%s", run.out);
    cr_assert(strstr(run.err, "vramtrace: PyTorch memory snapshot at the out-of-memory on device 0"), "%s", run.err);
    char *summary = python_output(directory,
                                  "import glob, pickle; s = pickle.load(open(glob.glob('job.*.torch-oom.pickle')[0], 'rb'));"
                                  "print([e['action'] for e in s['device_traces'][0]][-1])");
    cr_assert_str_eq(summary, "oom\n", "the snapshot is taken at the failure: %s", summary);
    free(summary);
    process_result_free(&run);
}

/* PyTorch's symbolization asks hasattr(torch, "_inductor"), which imports the compiler (seconds in
 * the real torch) in a job that never compiled: the snapshots must leave it alone... */
Test(torch_bootstrap, snapshots_do_not_import_the_compiler_of_a_job_that_never_compiled)
{
    char *directory = make_temp_directory();
    struct process_result run = run_job(directory, "never_compiles", (const char *[]){"--simulate=1G", NULL}, NULL);
    cr_assert(strstr(run.err, "vramtrace: PyTorch memory snapshot at the out-of-memory on device 0"), "%s", run.err);
    cr_assert(strstr(run.err, "vramtrace: PyTorch memory snapshot at exit written to job."), "%s", run.err);
    cr_assert(strstr(run.out, "at exit: torch._inductor not imported; torch's attribute: NoneType"), "%s", run.out);
    process_result_free(&run);
}

/* ...and a job that did import it keeps it, in place. */
Test(torch_bootstrap, snapshots_leave_an_imported_compiler_in_place)
{
    char *directory = make_temp_directory();
    struct process_result run = run_job(directory, "compiles", NULL, NULL);
    cr_assert(strstr(run.out, "compiler: torch._inductor"), "%s", run.out);
    cr_assert(strstr(run.err, "vramtrace: PyTorch memory snapshot at exit written to job."), "%s", run.err);
    cr_assert(strstr(run.out, "at exit: torch._inductor imported; torch's attribute: module"), "%s", run.out);
    process_result_free(&run);
}

Test(torch_bootstrap, torch_imported_without_cuda_gets_nothing_from_vramtrace)
{
    char *directory = make_temp_directory();
    struct process_result run = run_job(directory, "cpu_only", NULL, NULL);
    cr_assert(strstr(run.out, "cuda calls: 0; initialized: False"), "%s", run.out);
    cr_assert_null(strstr(run.err, "PyTorch"), "%s", run.err);
    cr_assert_str_eq(files_matching(directory, "*.pickle"), "\n");
    process_result_free(&run);
}

Test(torch_bootstrap, the_users_own_sitecustomize_still_runs)
{
    char *directory = make_temp_directory();
    char user_directory[600], file[700];
    snprintf(user_directory, sizeof user_directory, "%s/user", directory);
    cr_assert_eq(mkdir(user_directory, 0755), 0);
    snprintf(file, sizeof file, "%s/sitecustomize.py", user_directory);
    FILE *out = fopen(file, "w");
    cr_assert_not_null(out);
    fputs("import sys\nprint('user sitecustomize ran', file=sys.stderr)\nUSER_VALUE = 42\n", out);
    fclose(out);
    char inherited[700];
    snprintf(inherited, sizeof inherited, "VT_TEST_PYTHONPATH=%s", user_directory);
    setenv("VT_TEST_PYTHONPATH", user_directory, 1);
    struct process_result run = run_job(directory, "keep_losses", NULL, NULL);
    unsetenv("VT_TEST_PYTHONPATH");
    cr_assert(strstr(run.err, "user sitecustomize ran"), "%s", run.err);
    cr_assert(strstr(run.err, "PyTorch memory snapshot at exit written"), "%s", run.err);
    process_result_free(&run);
}

Test(torch_bootstrap, a_changed_torch_api_is_said_once_and_the_program_goes_on)
{
    char *directory = make_temp_directory();
    struct process_result run = run_job(directory, "changed_api", NULL, NULL);
    cr_assert(strstr(run.out, "changed api: done"), "%s", run.out);
    const char *message = "vramtrace: PyTorch's memory history is not available (this torch's _record_memory_history "
                          "takes other arguments)";
    cr_assert(strstr(run.err, message), "%s", run.err);
    cr_assert_null(strstr(strstr(run.err, message) + 1, message), "said once:\n%s", run.err);
    cr_assert(strstr(run.err, "SUMMARY: vramtrace:"), "CUDA-level tracing goes on:\n%s", run.err);
    process_result_free(&run);
}

Test(torch_bootstrap, the_async_backend_has_no_history_and_nothing_raises)
{
    char *directory = make_temp_directory();
    struct process_result run =
        run_job(directory, "keep_losses", NULL, (const char *[]){"PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync", NULL});
    cr_assert(strstr(run.err, "vramtrace: PyTorch's memory history is not available"), "%s", run.err);
    cr_assert(strstr(run.err, "cudaMallocAsync="), "its per-tensor CUDA calls are traced:\n%s", run.err);
    cr_assert_str_eq(files_matching(directory, "*.pickle"), "\n");
    process_result_free(&run);
}

Test(torch_bootstrap, torch_off_never_touches_python)
{
    char *directory = make_temp_directory();
    struct process_result run = run_job(directory, "keep_losses", NULL, (const char *[]){"VRAMTRACE_TORCH=off", NULL});
    cr_assert(strstr(run.out, "bootstrap loaded: False"), "%s", run.out);
    cr_assert_str_eq(files_matching(directory, "*.pickle"), "\n");
    process_result_free(&run);
}

Test(torch_bootstrap, a_forked_child_is_silent_and_a_spawned_child_is_traced)
{
    char *directory = make_temp_directory();
    struct process_result run = run_job(directory, "forked", NULL, NULL);
    cr_assert(strstr(run.out, "forked: done"), "%s", run.out);
    char *pickles = files_matching(directory, "job.*.torch.pickle");
    cr_assert_eq(strchr(pickles, ' '), NULL, "one snapshot, the parent's: %s", pickles);
    process_result_free(&run);

    char *spawn_directory = make_temp_directory();
    run = run_job(spawn_directory, "spawned", NULL, NULL);
    cr_assert(strstr(run.out, "spawned: child exit code 0"), "%s", run.out);
    pickles = files_matching(spawn_directory, "job.*.torch.pickle");
    cr_assert(strchr(pickles, ' ') && !strchr(strchr(pickles, ' ') + 1, ' '), "parent and child each: %s", pickles);
    process_result_free(&run);
}
