/* tests/fuzz/fuzz_commands.c — fuzz harness: every analysis command over a fuzzed trace, in
 * process (each vt_cmd_* returns its exit status, nothing exits). The first byte picks the
 * command line, the rest is the trace file. Where fuzz_trace stops at the model, this reaches the
 * renderings (text, JSON, CSV, folded, speedscope, pickle) and the symbolizer, which opens the
 * modules the trace names (module maps and ELF files are untrusted input too). Run it with
 * -close_fd_mask=3 (scripts/fuzz.sh does): the commands' output is not the point. */
#include "fuzz_support.h"

#include <string.h>

#include "cli/commands.h"

#define TRACE "\1" /* replaced by the trace's path */

static const char *const command_lines[][8] = {
    {"report", TRACE},
    {"report", TRACE, "--format", "json"},
    {"report", TRACE, "--at", "1ms", "--top", "1"},
    {"report", TRACE, "--device", "0", "--format", "json", "--at", "0.5"},
    {"timeline", TRACE},
    {"timeline", TRACE, "--csv", "--interval", "1us"},
    {"flame", TRACE},
    {"flame", TRACE, "--peak", "--format", "speedscope"},
    {"flame", TRACE, "--allocated"},
    {"flame", TRACE, "--at", "2ms", "--device", "1"},
    {"diff", TRACE, TRACE},
    {"diff", TRACE, "--from", "0", "--to", "1ms", "--format", "json"},
    {"export", TRACE, "-o", "/dev/null"},
    {"top", TRACE, "--once"},
};
#define COMMAND_LINE_COUNT (sizeof command_lines / sizeof command_lines[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *const *line = command_lines[data[0] % COMMAND_LINE_COUNT];
    char path[64];
    uint8_t *trace = fuzz_trace_with_good_crcs(data + 1, size - 1);
    int fd = trace ? fuzz_memory_file(trace, size - 1, path, sizeof path) : -1;
    free(trace);
    if (fd < 0)
        return 0;
    char *argv[9];
    int argc = 0;
    for (; argc < 8 && line[argc]; argc++)
        argv[argc] = strcmp(line[argc], TRACE) == 0 ? path : (char *)line[argc];
    argv[argc] = NULL;
    if (strcmp(argv[0], "report") == 0)
        vt_cmd_report(argc, argv);
    else if (strcmp(argv[0], "timeline") == 0)
        vt_cmd_timeline(argc, argv);
    else if (strcmp(argv[0], "flame") == 0)
        vt_cmd_flame(argc, argv);
    else if (strcmp(argv[0], "diff") == 0)
        vt_cmd_diff(argc, argv);
    else if (strcmp(argv[0], "export") == 0)
        vt_cmd_export(argc, argv);
    else if (strcmp(argv[0], "top") == 0)
        vt_cmd_top(argc, argv);
    fflush(stdout);
    close(fd);
    return 0;
}
