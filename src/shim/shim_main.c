/* shim/shim_main.c — the shim's lifecycle: lazy initialisation on the first hook (or at load),
 * fork handling, and the exit report when the process ends.
 *
 * Exit: the report is built from the recorder's host-side tables only (no CUDA call), from the
 * shim's destructor, which runs after the program's own atexit handlers. A process that ends with
 * _exit() or is killed gets no exit report (see docs/architecture.md).
 * Fork: the child gets a fresh lock and empty tables and stays silent; an exec() in the child
 * loads the shim again from scratch.
 * Live dump: VRAMTRACE_DUMP_SIGNAL (default SIGRTMIN+7) wakes the trace writer thread, which writes
 * a marker to the trace and the live allocations to a file, and asks the Python bootstrap (when
 * it is active) for PyTorch's snapshot; the handler itself does nothing else.
 * Exports for code in the traced process (include/vramtrace/shim_api.h): the base name of the
 * report files, and the PyTorch integration's mode.
 */
#define _GNU_SOURCE
#include "shim/shim_state.h"

#include "common/options.h"
#include "shim/config.h"
#include "shim/leak_report.h"
#include "shim/native_unwind.h"
#include "shim/oom_report.h"
#include "shim/output_file.h"
#include "shim/python_injection.h"
#include "shim/real_functions.h"
#include "shim/shim_log.h"
#include "shim/symbolizer.h"
#include "shim/torch_snapshot.h"
#include "shim/trace_writer.h"
#include "vramtrace/shim_api.h"

#define UNW_LOCAL_ONLY
#include <errno.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__thread int shim_hook_depth __attribute__((tls_model("initial-exec")));

static pthread_once_t initialize_once = PTHREAD_ONCE_INIT;
bool shim_initialized; /* set when initialize() is done */
static struct shim_config config;
static bool exit_report_done;
static bool forked_child; /* this process is a forked child: it stays silent */

static void fork_child_handler(void)
{
    __atomic_store_n(&forked_child, true, __ATOMIC_RELEASE);
    recorder_after_fork_in_child();
    trace_writer_after_fork_in_child();
    python_injection_after_fork_in_child();
}

static void configure_trace(void)
{
    struct trace_writer_settings trace = {
        .flush_interval_ms = config.flush_interval_ms,
        .program_name = program_invocation_short_name,
        .pid = (long)getpid(),
        .start_monotonic_ns = recorder_start_ns(),
        .slow_writer_ms = config.slow_writer_ms,
    };
    snprintf(trace.path, sizeof trace.path, "%s", config.trace_path);
    trace_writer_configure(&trace);
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
    if (config.report_path[0] && !output_file_is_stream(config.report_path)) {
        static const char suffix[] = ".report.txt";
        size_t length = strlen(config.report_path), suffix_length = sizeof suffix - 1;
        if (length >= suffix_length && strcmp(config.report_path + length - suffix_length, suffix) == 0)
            length -= suffix_length;
        int written = snprintf(oom.file_path, sizeof oom.file_path, "%.*s.oom.txt", (int)length, config.report_path);
        if (written < 0 || (size_t)written >= sizeof oom.file_path) {
            shim_log("the OOM report's path (%s without .report.txt, + .oom.txt) is too long; it will go to stderr",
                     config.report_path);
            oom.file_path[0] = '\0';
        }
    }
    oom_report_configure(&oom);
}

/* The base name of the files derived from the trace or the report (NAME.dump-N.txt...): none next
 * to a character device or FIFO. */
static void derived_base(char *base, size_t size)
{
    const char *trace = output_file_is_stream(config.trace_path) ? "" : config.trace_path;
    const char *report = output_file_is_stream(config.report_path) ? "" : config.report_path;
    vt_snapshot_base(trace, report, base, size);
}

/* --- live dump: the signal handler only wakes the writer thread, which does the work ----------- */

static void dump_signal_handler(int signal_number)
{
    (void)signal_number;
    trace_writer_request_dump();
}

/* On the writer thread: a marker in the trace, and the live allocations to NAME.dump-N.txt. */
static void write_live_snapshot(unsigned dump_number)
{
    struct vt_trace_record marker = {.type = VT_RECORD_MARKER};
    char label[64];
    snprintf(label, sizeof label, "live dump %u", dump_number);
    marker.marker.timestamp_ns = recorder_now_ns() - recorder_start_ns();
    marker.marker.kind = VT_MARKER_DUMP;
    marker.marker.text = (struct vt_trace_text){label, (uint32_t)strlen(label)};
    trace_writer_append(&marker);
    python_injection_live_dump(dump_number); /* PyTorch's snapshot, by the bootstrap, on the main thread */

    char base[PATH_MAX], path[PATH_MAX + 32];
    derived_base(base, sizeof base);
    if (!base[0])
        return; /* neither a trace nor a report file: nowhere to write */
    snprintf(path, sizeof path, "%s.dump-%u.txt", base, dump_number);
    struct leak_report_options options = {
        .program_name = program_invocation_short_name,
        .pid = (long)getpid(),
        .top_groups = config.top_groups,
        .file_path = path,
        .live_snapshot = dump_number,
    };
    leak_report_write_live_snapshot(&options);
}

/* Installs the live-dump handler unless the program already handles that signal. */
static void install_dump_signal(void)
{
    struct sigaction existing;
    if (sigaction(config.dump_signal, NULL, &existing) != 0)
        return;
    if (existing.sa_handler != SIG_DFL || (existing.sa_flags & SA_SIGINFO)) {
        shim_log("signal %d (VRAMTRACE_DUMP_SIGNAL) is already used by the program; live dumps are off "
                 "(choose another signal with VRAMTRACE_DUMP_SIGNAL)", config.dump_signal);
        return;
    }
    struct sigaction action = {.sa_handler = dump_signal_handler, .sa_flags = SA_RESTART};
    sigemptyset(&action.sa_mask);
    sigaction(config.dump_signal, &action, NULL);
    trace_writer_set_dump_handler(write_live_snapshot);
}

static void initialize(void)
{
    shim_hook_depth++;
    config_load(&config, program_invocation_short_name, (long)getpid());
    shim_code_range_init();
    native_unwind_init(config.unwind_check);
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    struct recorder_settings settings = {
        .stack_depth = config.stack_depth,
        .python_depth = config.python_depth,
        .quiet = config.quiet,
        .limit_bytes = config.limit_bytes,
    };
    recorder_init(&settings);
    configure_trace();
    configure_oom_report();
    symbolizer_set_quiet(config.quiet);
    struct python_injection_settings injection = {
        .torch_mode = config.torch_mode,
        .stack_depth = config.stack_depth,
        .quiet = config.quiet,
        .test_inject_code = config.test_inject_code,
    };
    python_injection_init(&injection);
    install_dump_signal();
    pthread_atfork(NULL, NULL, fork_child_handler);
    shim_hook_depth--;
    __atomic_store_n(&shim_initialized, true, __ATOMIC_RELEASE);
}

void shim_initialize_once(void)
{
    pthread_once(&initialize_once, initialize);
}


/* --- exports for code in the traced process (vramtrace/shim_api.h) ------------------------------ */

int vramtrace_output_base(char *out, size_t size)
{
    if (!out || size == 0)
        return -1;
    out[0] = '\0';
    shim_ensure_initialized();
    if (__atomic_load_n(&forked_child, __ATOMIC_ACQUIRE))
        return -1; /* it writes nothing */
    char base[PATH_MAX];
    derived_base(base, sizeof base);
    size_t length = strlen(base);
    if (length == 0 || length >= size)
        return -1;
    memcpy(out, base, length + 1);
    return 0;
}

int vramtrace_torch_mode(void)
{
    shim_ensure_initialized();
    return python_injection_torch_mode();
}

int vramtrace_torch_snapshot(const void *blob, size_t length)
{
    shim_ensure_initialized();
    if (__atomic_load_n(&forked_child, __ATOMIC_ACQUIRE) || !recorder_is_enabled())
        return -1;
    return torch_snapshot_receive(blob, length);
}

__attribute__((constructor)) static void shim_load(void)
{
    shim_ensure_initialized();
}

/* The shim's own writes at exit must never raise a signal in the program: a file size limit
 * (ulimit -f: SIGXFSZ) or a closed pipe or FIFO (SIGPIPE) make the write fail with EFBIG or EPIPE
 * instead, and the exit report says what could not be written. Blocked around the writes, then
 * restored; a signal our writes raised (not pending before) is taken off again with sigtimedwait. */
struct output_signals {
    sigset_t previous;
    bool pending_before[2];
};

static const int output_signal_numbers[2] = {SIGXFSZ, SIGPIPE};

static void block_output_signals(struct output_signals *saved)
{
    sigset_t block, pending;
    sigemptyset(&block);
    for (int i = 0; i < 2; i++)
        sigaddset(&block, output_signal_numbers[i]);
    pthread_sigmask(SIG_BLOCK, &block, &saved->previous);
    sigpending(&pending);
    for (int i = 0; i < 2; i++)
        saved->pending_before[i] = sigismember(&pending, output_signal_numbers[i]) == 1;
}

static void restore_output_signals(struct output_signals *saved)
{
    sigset_t pending;
    sigpending(&pending);
    for (int i = 0; i < 2; i++) {
        if (saved->pending_before[i] || sigismember(&pending, output_signal_numbers[i]) != 1)
            continue;
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, output_signal_numbers[i]);
        struct timespec none = {0, 0};
        int saved_errno = errno;
        while (sigtimedwait(&only, NULL, &none) < 0 && errno == EINTR) {
        }
        errno = saved_errno;
    }
    pthread_sigmask(SIG_SETMASK, &saved->previous, NULL);
}

__attribute__((destructor)) static void shim_unload(void)
{
    if (!recorder_is_enabled() || __atomic_exchange_n(&exit_report_done, true, __ATOMIC_ACQ_REL))
        return;
    shim_hook_depth++;
    recorder_disable();
    struct output_signals signals;
    block_output_signals(&signals);
    if (!recorder_stop_within(2000)) {
        shim_log("exit report skipped: the process exited from inside a CUDA allocation call (a signal handler?)");
        restore_output_signals(&signals);
        shim_hook_depth--;
        return;
    }
    oom_report_wait();
    trace_writer_finish();
    struct leak_report_options options = {
        .program_name = program_invocation_short_name,
        .pid = (long)getpid(),
        .top_groups = config.top_groups,
        .print_to_stderr = !config.quiet,
        .file_path = config.report_path,
        .trace_path = trace_writer_bytes_written() ? trace_writer_path() : NULL,
        .trace_error = trace_writer_error(),
        .trace_bytes = trace_writer_bytes_written(),
        .trace_events_lost = trace_writer_events_dropped(),
    };
    leak_report_write_at_exit(&options);
    native_unwind_check_report();
    restore_output_signals(&signals);
    shim_hook_depth--;
}
