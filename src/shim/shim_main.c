/* shim/shim_main.c — the shim's lifecycle: lazy initialisation on the first hook (or at load),
 * fork handling, and the exit report when the process ends.
 *
 * Exit: the report is built from the recorder's host-side tables only (no CUDA call), from the
 * shim's destructor, which runs after the program's own atexit handlers. A process that ends with
 * _exit() or is killed gets no exit report (see docs/architecture.md).
 * Fork: the child gets a fresh lock and empty tables and stays silent; an exec() in the child
 * loads the shim again from scratch.
 */
#define _GNU_SOURCE
#include "shim/shim_state.h"

#include "shim/config.h"
#include "shim/leak_report.h"
#include "shim/oom_report.h"
#include "shim/real_functions.h"
#include "shim/shim_log.h"

#define UNW_LOCAL_ONLY
#include <errno.h>
#include <libunwind.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__thread int shim_hook_depth __attribute__((tls_model("initial-exec")));

static pthread_once_t initialize_once = PTHREAD_ONCE_INIT;
static struct shim_config config;
static bool exit_report_done;

static void fork_child_handler(void)
{
    recorder_after_fork_in_child();
}

/* The OOM report goes next to the exit report: x.report.txt -> x.oom.txt. */
static void configure_oom_report(void)
{
    struct oom_report_settings oom = {
        .program_name = program_invocation_short_name,
        .pid = (long)getpid(),
        .top_groups = config.top_groups,
        .quiet = config.quiet,
    };
    if (config.report_path[0]) {
        static const char suffix[] = ".report.txt";
        size_t length = strlen(config.report_path), suffix_length = sizeof suffix - 1;
        if (length >= suffix_length && strcmp(config.report_path + length - suffix_length, suffix) == 0)
            length -= suffix_length;
        snprintf(oom.file_path, sizeof oom.file_path, "%.*s.oom.txt", (int)length, config.report_path);
    }
    oom_report_configure(&oom);
}

static void initialize(void)
{
    shim_hook_depth++;
    config_load(&config, program_invocation_short_name, (long)getpid());
    shim_code_range_init();
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    struct recorder_settings settings = {.stack_depth = config.stack_depth};
    recorder_init(&settings);
    configure_oom_report();
    pthread_atfork(NULL, NULL, fork_child_handler);
    shim_hook_depth--;
}

void shim_ensure_initialized(void)
{
    pthread_once(&initialize_once, initialize);
}


__attribute__((constructor)) static void shim_load(void)
{
    shim_ensure_initialized();
}

__attribute__((destructor)) static void shim_unload(void)
{
    if (!recorder_is_enabled() || __atomic_exchange_n(&exit_report_done, true, __ATOMIC_ACQ_REL))
        return;
    shim_hook_depth++;
    recorder_disable();
    oom_report_wait();
    struct leak_report_options options = {
        .program_name = program_invocation_short_name,
        .pid = (long)getpid(),
        .top_groups = config.top_groups,
        .print_to_stderr = !config.quiet,
        .file_path = config.report_path,
    };
    leak_report_write_at_exit(&options);
    shim_hook_depth--;
}
