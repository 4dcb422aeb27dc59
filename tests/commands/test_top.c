/* Tests of `vramtrace top`: one frame of a finished trace (examples/leaky: in use at the end, the
 * peak, the top sites), the live view of a trace still being written (hold_and_wait: 3 MiB in use
 * while it holds, then the frame of its END record with 2 MiB, and top exits by itself). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command_helpers.h"

Test(top, once_shows_use_peak_and_top_sites_of_a_finished_trace)
{
    char *report;
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", &report);
    const char *args[] = {"top", "--once", "--top", "1", trace, NULL};
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert(strstr(run.out, "vramtrace top: leaky (pid "), "%s", run.out);
    cr_assert(strstr(run.out, "the process ended (the trace is complete)"), "%s", run.out);
    char *device = line_containing(run.out, "device 0 (");
    cr_assert_not_null(device, "%s", run.out);
    cr_assert(strstr(device, ": in use 5242880 byte(s) (5.00 MiB) in 4 allocation(s); peak 70254592 byte(s)"), "%s",
              device);
    char *site = line_containing(run.out, " load_weights < main");
    cr_assert(site && strstr(site, " 3145728 ") && strstr(site, " cudaMalloc "), "%s", run.out);
    cr_assert_null(strstr(run.out, "prefetch_batch"), "--top 1:\n%s", run.out);
    cr_assert(strstr(run.out, "... and 1 more site(s)"), "%s", run.out);
    cr_assert_null(strstr(run.out, "\033["), "no screen clearing when stdout is not a terminal");
    free(site);
    free(device);
    process_result_free(&run);

    /* without --once, a complete trace gets one frame and top exits */
    const char *loop[] = {"timeout", "10", VT_CLI_PATH, "top", trace, NULL};
    struct process_result looped = run_process(loop, NULL, NULL);
    cr_assert_eq(looped.exit_code, 0, "%s", looped.err);
    cr_assert_eq(count_occurrences(looped.out, "vramtrace top: leaky"), 1, "%s", looped.out);
    process_result_free(&looped);
    free(report);
    free(trace);
}

Test(top, follows_a_trace_that_is_being_written_until_its_end)
{
    char *directory, *trace;
    pid_t pid = start_hold_and_wait("1", &directory, &trace);
    usleep(300000); /* the writer flushes at least every 100 ms */

    const char *once[] = {"top", "--once", trace, NULL};
    struct process_result now = run_cli(once);
    cr_assert_eq(now.exit_code, 0, "%s", now.err);
    cr_assert(strstr(now.out, "no END record yet"), "%s", now.out);
    cr_assert(strstr(now.out, ": in use 3145728 byte(s) (3.00 MiB) in 3 allocation(s)"), "%s", now.out);
    cr_assert(strstr(now.out, " hold_buffers < main"), "%s", now.out);
    process_result_free(&now);

    const char *follow[] = {"timeout", "10", VT_CLI_PATH, "top", "--interval", "100ms", trace, NULL};
    struct process_result followed = run_process(follow, NULL, NULL);
    wait_for_success(pid);
    cr_assert_eq(followed.exit_code, 0, "top must end by itself at the END record: %s", followed.err);
    cr_assert_geq(count_occurrences(followed.out, "vramtrace top: hold_and_wait"), 2, "%s", followed.out);
    const char *last = strstr(followed.out, "the process ended (the trace is complete)");
    cr_assert_not_null(last, "%s", followed.out);
    cr_assert_null(strstr(last + 1, "vramtrace top:"), "the END frame is the last one");
    cr_assert(strstr(last, ": in use 2097152 byte(s) (2.00 MiB) in 2 allocation(s); peak 3145728 byte(s)"), "%s", last);
    process_result_free(&followed);
    free(trace);
    free(directory);
}
