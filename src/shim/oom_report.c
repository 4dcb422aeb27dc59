/* shim/oom_report.c — the first-OOM report and its writer thread (see oom_report.h). */
#define _GNU_SOURCE
#include "shim/oom_report.h"

#include "common/format.h"
#include "shim/live_groups.h"
#include "shim/recorder.h"
#include "shim/output_file.h"
#include "shim/shim_log.h"
#include "shim/symbolizer.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct oom_report_settings settings;
static struct live_groups frozen_live_set;
static struct oom_state frozen_oom;
static int frozen_device;
static pthread_t writer_thread;
static bool writer_started, report_written;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_signal = PTHREAD_COND_INITIALIZER;
static bool writer_done;

void oom_report_configure(const struct oom_report_settings *new_settings)
{
    settings = *new_settings;
}

static double seconds_since_start(uint64_t timestamp_ns)
{
    uint64_t start = recorder_start_ns();
    return timestamp_ns > start ? (double)(timestamp_ns - start) / 1e9 : 0.0;
}

void oom_report_render(FILE *out)
{
    const struct oom_event *failure = &frozen_oom.first;
    char human[32], free_human[32], total_human[32];
    struct symbolizer *symbolizer = symbolizer_open();
    fprintf(out, "=================================================================\n");
    fprintf(out, "vramtrace: OUT OF MEMORY in %s (pid %ld) at %.3f s\n", settings.program_name, settings.pid,
            seconds_since_start(failure->timestamp_ns));
    fprintf(out, "%s of %llu byte(s) (%s) failed on %s %d", vt_api_name(failure->api),
            (unsigned long long)failure->size_bytes, vt_format_bytes(failure->size_bytes, human, sizeof human),
            failure->device < 0 ? "host" : "device", failure->device);
    if (failure->simulated_limit_bytes)
        fprintf(out, ": simulated limit of %s on device %d (--limit); %s of it free",
                vt_format_bytes(failure->simulated_limit_bytes, total_human, sizeof total_human), failure->device,
                vt_format_bytes(failure->device_free_bytes, free_human, sizeof free_human));
    else if (failure->device_total_bytes)
        fprintf(out, "; the device had %s free of %s",
                vt_format_bytes(failure->device_free_bytes, free_human, sizeof free_human),
                vt_format_bytes(failure->device_total_bytes, total_human, sizeof total_human));
    fprintf(out, ".\nFailed request made from:\n");
    render_stack(out, symbolizer, failure->stack_id);
    uint64_t live_bytes = 0, live_count = 0;
    for (int kind = 0; kind < VT_KIND_COUNT; kind++)
        if (kind != VT_KIND_ADDRESS_SPACE && kind != VT_KIND_MAPPED_RANGE) {
            live_bytes += frozen_live_set.bytes_by_kind[kind];
            live_count += frozen_live_set.count_by_kind[kind];
        }
    fprintf(out, "\nLive on %s %d when it failed: %llu byte(s) (%s) in %llu allocation(s)\n\n",
            frozen_device < 0 ? "host" : "device", frozen_device, (unsigned long long)live_bytes,
            vt_format_bytes(live_bytes, human, sizeof human), (unsigned long long)live_count);
    for (int kind = 0; kind < VT_KIND_COUNT; kind++)
        if (kind != VT_KIND_ADDRESS_SPACE && kind != VT_KIND_MAPPED_RANGE)
            live_groups_render_kind(out, symbolizer, &frozen_live_set, kind, "Live", settings.top_groups);
    if (frozen_live_set.incomplete)
        fprintf(out, "(out of memory while grouping: some allocations are missing above)\n");
    fprintf(out, "Later out-of-memory failures are counted in the exit report.\n");
    symbolizer_close(symbolizer);
}

static void write_report(void)
{
    FILE *file = settings.file_path[0]
        ? output_file_fopen(settings.file_path, "OOM report", settings.file_path, sizeof settings.file_path) : NULL;
    if (file) {
        oom_report_render(file);
        bool failed = fflush(file) != 0 || ferror(file);
        int error = errno;
        if (fclose(file) != 0 && !failed) {
            failed = true;
            error = errno;
        }
        if (failed) {
            shim_log("out of memory: %s failed on device %d; could not fully write the OOM report to %s: %s; "
                     "printing it here", vt_api_name(frozen_oom.first.api), frozen_oom.first.device,
                     settings.file_path, strerror(error));
            oom_report_render(stderr);
            fflush(stderr);
            return;
        }
        report_written = true;
        if (!settings.quiet)
            shim_log("out of memory: %s failed on device %d; OOM report written to %s",
                     vt_api_name(frozen_oom.first.api), frozen_oom.first.device, settings.file_path);
        return;
    }
    if (settings.file_path[0])
        shim_log("could not write the OOM report to %s: %s; printing it here", settings.file_path, strerror(errno));
    if (!settings.quiet) {
        oom_report_render(stderr);
        fflush(stderr);
    }
}

static void *writer_main(void *unused)
{
    (void)unused;
    write_report();
    live_groups_free(&frozen_live_set);
    pthread_mutex_lock(&done_lock);
    writer_done = true;
    pthread_cond_broadcast(&done_signal);
    pthread_mutex_unlock(&done_lock);
    return NULL;
}

void oom_report_start(int device)
{
    frozen_device = device;
    recorder_read_oom(&frozen_oom);
    live_groups_collect(&frozen_live_set, device);
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    writer_started = pthread_create(&writer_thread, NULL, writer_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (writer_started)
        pthread_detach(writer_thread);
    else
        shim_log("internal error: cannot start the OOM report writer; the exit report still counts the failure");
}

void oom_report_wait(void)
{
    if (!writer_started)
        return;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&done_lock);
    while (!writer_done)
        if (pthread_cond_timedwait(&done_signal, &done_lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&done_lock);
}

void oom_report_append(const char *what, void (*render)(FILE *out, unsigned top, void *context), void *context)
{
    oom_report_wait();
    FILE *file = NULL;
    if (report_written) {
        /* the file the worker created (O_EXCL, 0600): appended to, never through a link */
        int fd = open(settings.file_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        file = fd >= 0 ? fdopen(fd, "a") : NULL;
        if (!file && fd >= 0)
            close(fd);
    } else if (!writer_started && settings.file_path[0]) {
        /* no CUDA call failed (PyTorch refused on its own, e.g. past its memory fraction) */
        file = output_file_fopen(settings.file_path, "OOM report", settings.file_path, sizeof settings.file_path);
        if (file) {
            fprintf(file, "=================================================================\n");
            fprintf(file, "vramtrace: OUT OF MEMORY in %s (pid %ld) at %.3f s: PyTorch's allocator refused a request "
                          "(no CUDA call failed)\n", settings.program_name, settings.pid,
                    seconds_since_start(recorder_now_ns()));
        }
    }
    if (file) {
        fputc('\n', file);
        render(file, settings.top_groups, context);
        bool failed = fflush(file) != 0 || ferror(file);
        if (fclose(file) != 0 || failed)
            shim_log("could not fully write %s to the OOM report %s: %s", what, settings.file_path, strerror(errno));
        else {
            report_written = true;
            if (!settings.quiet)
                shim_log("%s added to the OOM report %s", what, settings.file_path);
        }
        return;
    }
    if (settings.file_path[0] && errno != EEXIST)
        shim_log("could not add %s to the OOM report %s: %s; printing it here", what, settings.file_path,
                 strerror(errno));
    if (!settings.quiet) {
        render(stderr, settings.top_groups, context);
        fflush(stderr);
    }
}

const char *oom_report_path(void)
{
    return report_written ? settings.file_path : NULL;
}
