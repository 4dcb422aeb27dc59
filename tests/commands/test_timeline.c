/* Tests of `vramtrace timeline`: the output is valid Chrome trace event JSON (parsed strictly here,
 * every event with its required keys), each counter track's timestamps never go back, its largest
 * sample is exactly the peak of the exit report and its last one the bytes live at the end; the
 * interval coalesces samples but keeps the peak; the out-of-memory failure of oom_retry and a live
 * dump are instant events; --csv has the same samples. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_helpers.h"
#include "common/options.h"
#include "json_check.h"

#define MIB 1048576.0
#define LEAKY_LEAKED_BYTES 5242880.0

/* Parses a timeline and checks the Chrome trace event format: the JSON Object Format's keys, and
 * name, ph, ts, pid and tid on every event (args.bytes on counters, s on instants). */
static struct json_value *parse_timeline(const char *text)
{
    char error[256];
    struct json_value *document = json_parse(text, error, sizeof error);
    cr_assert_not_null(document, "not valid JSON: %s\n%s", error, text);
    cr_assert_eq(document->type, JSON_OBJECT);
    const struct json_value *events = json_member(document, "traceEvents");
    cr_assert(events && events->type == JSON_ARRAY && events->count > 0);
    cr_assert_str_eq(json_member_string(document, "displayTimeUnit"), "ms");
    cr_assert_eq(json_member(document, "otherData")->type, JSON_OBJECT);
    for (size_t i = 0; i < events->count; i++) {
        const struct json_value *event = &events->items[i];
        cr_assert_eq(event->type, JSON_OBJECT, "event %zu", i);
        const char *phase = json_member_string(event, "ph");
        cr_assert(json_member_string(event, "name") && phase, "event %zu lacks name or ph", i);
        cr_assert(!isnan(json_member_number(event, "ts")) && json_member_number(event, "ts") >= 0, "event %zu: ts", i);
        cr_assert(!isnan(json_member_number(event, "pid")) && !isnan(json_member_number(event, "tid")), "event %zu", i);
        cr_assert(strcmp(phase, "C") == 0 || strcmp(phase, "i") == 0 || strcmp(phase, "M") == 0, "phase %s", phase);
        if (strcmp(phase, "C") == 0)
            cr_assert(!isnan(json_member_number(json_member(event, "args"), "bytes")), "counter %zu lacks args.bytes",
                      i);
        if (strcmp(phase, "i") == 0)
            cr_assert_str_eq(json_member_string(event, "s"), "g");
        if (strcmp(phase, "M") == 0)
            cr_assert(json_member_string(json_member(event, "args"), "name"));
    }
    return document;
}

struct track_summary {
    size_t samples;
    double max_bytes, last_bytes, max_time_us, last_time_us;
};

/* The samples of counter `name`, checking that their timestamps never go back. */
static struct track_summary summarize_track(const struct json_value *document, const char *name)
{
    const struct json_value *events = json_member(document, "traceEvents");
    struct track_summary summary = {0, -1, -1, 0, 0};
    double previous_ts = -1;
    for (size_t i = 0; i < events->count; i++) {
        const struct json_value *event = &events->items[i];
        if (strcmp(json_member_string(event, "ph"), "C") != 0 || strcmp(json_member_string(event, "name"), name) != 0)
            continue;
        double ts = json_member_number(event, "ts"), bytes = json_member_number(json_member(event, "args"), "bytes");
        cr_assert_geq(ts, previous_ts, "track %s goes back in time at %f", name, ts);
        previous_ts = ts;
        summary.samples++;
        summary.last_bytes = bytes;
        summary.last_time_us = ts;
        if (bytes > summary.max_bytes) {
            summary.max_bytes = bytes;
            summary.max_time_us = ts;
        }
    }
    return summary;
}

/* The first instant event whose name contains `needle`, or NULL. */
static const struct json_value *find_instant(const struct json_value *document, const char *needle)
{
    const struct json_value *events = json_member(document, "traceEvents");
    for (size_t i = 0; i < events->count; i++)
        if (strcmp(json_member_string(&events->items[i], "ph"), "i") == 0 &&
            strstr(json_member_string(&events->items[i], "name"), needle))
            return &events->items[i];
    return NULL;
}

Test(timeline, leaky_is_valid_chrome_json_whose_counter_peaks_at_the_report_peak)
{
    char *report;
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", &report);
    uint64_t peak = report_device0_peak(report);
    cr_assert_eq(peak, 70254592u, "the reference peak of leaky: 64 MiB + 3 MiB of weights + a 3 MiB pair");

    const char *args[] = {"timeline", "--interval", "0", trace, NULL};
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    struct json_value *document = parse_timeline(run.out);
    struct track_summary device = summarize_track(document, "device 0: device memory");
    cr_assert_eq(device.max_bytes, (double)peak);
    cr_assert_eq(device.last_bytes, LEAKY_LEAKED_BYTES, "the end of the track is what leaked");
    cr_assert_geq(device.samples, 800, "every change is a sample with --interval 0 (%zu)", device.samples);
    struct track_summary pinned = summarize_track(document, "host: host-pinned memory");
    cr_assert_eq(pinned.max_bytes, MIB);
    cr_assert_eq(pinned.last_bytes, 0);

    const struct json_value *peak_event = find_instant(document, "peak of device 0");
    cr_assert_not_null(peak_event);
    cr_assert_eq(json_member_number(json_member(peak_event, "args"), "bytes"), (double)peak);
    cr_assert_eq(json_member_number(peak_event, "ts"), device.max_time_us, "the peak instant is at the peak sample");
    const struct json_value *end = find_instant(document, "end of trace");
    cr_assert_not_null(end);
    cr_assert_eq(device.last_time_us, json_member_number(end, "ts"), "memory held to the end is drawn to the end");
    cr_assert_eq(pinned.last_time_us, json_member_number(end, "ts"));
    const struct json_value *other = json_member(document, "otherData");
    cr_assert_str_eq(json_member_string(other, "program"), "leaky");
    const struct json_value *events = json_member(document, "traceEvents");
    cr_assert_str_eq(json_member_string(json_member(&events->items[0], "args"), "name"), "leaky",
                     "the process's name alone: the viewer shows its pid beside it");
    json_free(document);
    process_result_free(&run);
    free(report);
    free(trace);
}

Test(timeline, the_interval_coalesces_samples_but_keeps_the_exact_peak)
{
    char *report;
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", &report);
    const char *args[] = {"timeline", "--interval=10s", trace, NULL}; /* longer than the whole run */
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    struct json_value *document = parse_timeline(run.out);
    struct track_summary device = summarize_track(document, "device 0: device memory");
    cr_assert_leq(device.samples, 3, "one interval: at most its last value, the peak and the end of the trace (%zu)",
                  device.samples);
    cr_assert_eq(device.max_bytes, (double)report_device0_peak(report));
    cr_assert_eq(device.last_bytes, LEAKY_LEAKED_BYTES);

    /* the default, 1 ms of trace time: fewer samples than changes, same peak and end */
    const char *default_args[] = {"timeline", trace, NULL};
    struct process_result coarse = run_cli(default_args);
    struct json_value *coarse_document = parse_timeline(coarse.out);
    struct track_summary coarse_device = summarize_track(coarse_document, "device 0: device memory");
    cr_assert_lt(coarse_device.samples, 100);
    cr_assert_eq(coarse_device.max_bytes, device.max_bytes);
    cr_assert_eq(coarse_device.last_bytes, LEAKY_LEAKED_BYTES);
    json_free(coarse_document);
    process_result_free(&coarse);
    json_free(document);
    process_result_free(&run);
    free(report);
    free(trace);
}

Test(timeline, the_out_of_memory_failure_of_oom_retry_is_an_instant_event)
{
    char *report;
    char *trace = make_trace(VT_PROGRAMS_DIR "/oom_retry", NULL, "--simulate=1G", "oom_retry", &report);
    const char *args[] = {"timeline", trace, NULL};
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    struct json_value *document = parse_timeline(run.out);
    const struct json_value *oom = find_instant(document, "out of memory");
    cr_assert_not_null(oom, "%s", run.out);
    const struct json_value *oom_args = json_member(oom, "args");
    cr_assert_eq(json_member_number(oom_args, "requested_bytes"), 800 * MIB);
    cr_assert_str_eq(json_member_string(oom_args, "api"), "cudaMalloc");
    cr_assert_eq(json_member_number(oom_args, "device"), 0);
    struct track_summary device = summarize_track(document, "device 0: device memory");
    cr_assert_eq(device.max_bytes, (double)report_device0_peak(report));
    cr_assert_eq(device.max_bytes, 800 * MIB, "the retry's 800 MiB is the peak");
    cr_assert_eq(device.last_bytes, 0);
    json_free(document);
    process_result_free(&run);
    free(report);
    free(trace);
}

Test(timeline, a_live_dump_is_an_instant_event)
{
    char *directory, *trace;
    pid_t pid = start_hold_and_wait("1", &directory, &trace);
    int dump_signal;
    cr_assert(vt_parse_signal(VT_DEFAULT_DUMP_SIGNAL, &dump_signal));
    cr_assert_eq(kill(pid, dump_signal), 0);
    wait_for_success(pid);
    const char *args[] = {"timeline", trace, NULL};
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    struct json_value *document = parse_timeline(run.out);
    const struct json_value *dump = find_instant(document, "live dump 1");
    cr_assert_not_null(dump, "%s", run.out);
    cr_assert_str_eq(json_member_string(json_member(dump, "args"), "marker"), "live dump");
    struct track_summary device = summarize_track(document, "device 0: device memory");
    cr_assert_eq(device.max_bytes, 3 * MIB);
    cr_assert_eq(device.last_bytes, 2 * MIB);
    json_free(document);
    process_result_free(&run);
    free(trace);
    free(directory);
}

Test(timeline, csv_has_the_same_samples_and_output_goes_to_a_file)
{
    char *report;
    char *trace = make_trace(VT_EXAMPLES_DIR "/leaky", NULL, NULL, "leaky", &report);
    char output[600];
    snprintf(output, sizeof output, "%s.csv", trace);
    const char *args[] = {"timeline", "--csv", "-o", output, "--device", "0", trace, NULL};
    struct process_result run = run_cli(args);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_str_eq(run.out, "", "with -o nothing goes to stdout");
    char *csv = read_file_text(output);
    cr_assert_not_null(csv);
    cr_assert_eq(strncmp(csv, "time_s,device,kind,bytes\n", 25), 0, "%s", csv);
    uint64_t max_bytes = 0, last_bytes = 0;
    size_t rows = 0;
    double previous_time = -1;
    for (char *line = strchr(csv, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        double time_s;
        char device[16], kind[32];
        unsigned long long bytes;
        cr_assert_eq(sscanf(line, "%lf,%15[^,],%31[^,],%llu", &time_s, device, kind, &bytes), 4, "row: %s", line);
        cr_assert_str_eq(device, "0", "--device 0 keeps the host's pinned memory out");
        cr_assert_str_eq(kind, "device");
        cr_assert_geq(time_s, previous_time);
        previous_time = time_s;
        max_bytes = bytes > max_bytes ? bytes : max_bytes;
        last_bytes = bytes;
        rows++;
    }
    cr_assert_gt(rows, 1);
    cr_assert_eq(max_bytes, report_device0_peak(report));
    cr_assert_eq(last_bytes, (uint64_t)LEAKY_LEAKED_BYTES);
    free(csv);
    process_result_free(&run);
    free(report);
    free(trace);
}
