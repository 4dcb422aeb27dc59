/* Integration tests: the shim's output files are created safely (issue 9, point 15; docs/security.md):
 * mode 0600, never through a symbolic link, never over an existing file, and a taken name is said
 * once on stderr with the name actually written. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "traced_run.h"

#define LEAKY VT_EXAMPLES_DIR "/leaky"
#define VICTIM_TEXT "the victim's own content\n"

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file, "cannot create %s", path);
    fputs(text, file);
    fclose(file);
}

static struct process_result run_leaky(const char *directory, const char *report_path, const char *trace_path)
{
    static char report_option[700], trace_option[700];
    snprintf(report_option, sizeof report_option, "--report=%s", report_path);
    snprintf(trace_option, sizeof trace_option, "--output=%s", trace_path ? trace_path : "none");
    const char *options[] = {report_option, trace_option, NULL};
    return traced_run(options, LEAKY, NULL, NULL, directory);
}

static mode_t permission_bits(const char *path)
{
    struct stat status;
    cr_assert_eq(lstat(path, &status), 0, "%s missing", path);
    cr_assert(S_ISREG(status.st_mode), "%s is not a regular file", path);
    return status.st_mode & 07777;
}

Test(safe_files, symlink_at_report_path_leaves_victim_untouched)
{
    char *directory = make_temp_directory();
    char victim[600], report[600], numbered[600];
    snprintf(victim, sizeof victim, "%s/victim.txt", directory);
    snprintf(report, sizeof report, "%s/leaky.report.txt", directory);
    snprintf(numbered, sizeof numbered, "%s/leaky.report.1.txt", directory);
    write_text(victim, VICTIM_TEXT);
    cr_assert_eq(symlink(victim, report), 0);

    struct process_result run = run_leaky(directory, report, NULL);
    cr_assert_eq(run.exit_code, 0, "the program is not broken:\n%s", run.err);

    char *victim_text = read_file_text(victim);
    cr_assert_str_eq(victim_text, VICTIM_TEXT, "the symlink's target was written through");
    struct stat status;
    cr_assert_eq(lstat(report, &status), 0);
    cr_assert(S_ISLNK(status.st_mode), "the symlink itself is left in place");

    char expected[1500];
    snprintf(expected, sizeof expected, "vramtrace: %s already exists (a file or a symbolic link): it was not touched; "
             "the report is written to %s instead\n", report, numbered);
    cr_assert(strstr(run.err, expected), "expected:\n%s\nin:\n%s", expected, run.err);
    cr_assert_eq(count_occurrences(run.err, "already exists"), 1, "said once:\n%s", run.err);
    char *written = read_file_text(numbered);
    cr_assert_not_null(written, "%s not written", numbered);
    cr_assert(strstr(written, "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s).\n"));
    char note[700];
    snprintf(note, sizeof note, "Report written to %s\n", numbered);
    cr_assert(strstr(run.err, note), "%s", run.err);
    cr_assert_eq(permission_bits(numbered), 0600);
    free(written);
    free(victim_text);
    process_result_free(&run);
}

Test(safe_files, dangling_symlink_is_not_followed)
{
    char *directory = make_temp_directory();
    char target[600], report[600];
    snprintf(target, sizeof target, "%s/created-through-the-link.txt", directory);
    snprintf(report, sizeof report, "%s/leaky.report.txt", directory);
    cr_assert_eq(symlink(target, report), 0);

    struct process_result run = run_leaky(directory, report, NULL);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_neq(access(target, F_OK), 0, "a file was created through the dangling symlink");
    cr_assert(strstr(run.err, report), "the message names %s:\n%s", report, run.err);
    process_result_free(&run);
}

Test(safe_files, existing_files_are_not_overwritten)
{
    char *directory = make_temp_directory();
    char report[600], trace[600], numbered_report[600], numbered_trace[600];
    snprintf(report, sizeof report, "%s/run.report.txt", directory);
    snprintf(trace, sizeof trace, "%s/run.vramtrace", directory);
    snprintf(numbered_report, sizeof numbered_report, "%s/run.report.1.txt", directory);
    snprintf(numbered_trace, sizeof numbered_trace, "%s/run.1.vramtrace", directory);
    write_text(report, VICTIM_TEXT);
    write_text(trace, VICTIM_TEXT);

    struct process_result run = run_leaky(directory, report, trace);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    char *report_text = read_file_text(report), *trace_text = read_file_text(trace);
    cr_assert_str_eq(report_text, VICTIM_TEXT, "the existing report was overwritten");
    cr_assert_str_eq(trace_text, VICTIM_TEXT, "the existing trace was overwritten");
    cr_assert_eq(count_occurrences(run.err, "already exists"), 2, "one message per file:\n%s", run.err);
    cr_assert(strstr(run.err, "the trace is written to"), "%s", run.err);
    char note[1500];
    snprintf(note, sizeof note, "Trace written to %s (vramtrace report %s)\n", numbered_trace, numbered_trace);
    cr_assert(strstr(run.err, note), "expected:\n%s\nin:\n%s", note, run.err);
    cr_assert_eq(access(numbered_report, R_OK), 0, "%s", run.err);
    cr_assert_eq(access(numbered_trace, R_OK), 0, "%s", run.err);

    /* A second run into the same names takes the next numbers. */
    struct process_result again = run_leaky(directory, report, trace);
    cr_assert_eq(again.exit_code, 0, "%s", again.err);
    char second[600];
    snprintf(second, sizeof second, "%s/run.report.2.txt", directory);
    cr_assert_eq(access(second, R_OK), 0, "%s", again.err);
    free(report_text);
    free(trace_text);
    process_result_free(&run);
    process_result_free(&again);
}

Test(safe_files, created_files_are_mode_0600)
{
    char *directory = make_temp_directory();
    char report[600], trace[600];
    snprintf(report, sizeof report, "%s/fresh.report.txt", directory);
    snprintf(trace, sizeof trace, "%s/fresh.vramtrace", directory);
    mode_t old_mask = umask(0); /* the most permissive umask: the mode must come from the shim itself */
    struct process_result run = run_leaky(directory, report, trace);
    umask(old_mask);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_null(strstr(run.err, "already exists"), "%s", run.err);
    cr_assert_eq(permission_bits(report), 0600, "report mode %o", permission_bits(report));
    cr_assert_eq(permission_bits(trace), 0600, "trace mode %o", permission_bits(trace));
    process_result_free(&run);
}
