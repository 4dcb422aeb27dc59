/* cli/commands.h — the list of `vramtrace` subcommands. Adding one is a line in
 * VT_CLI_COMMAND_LIST plus a file cmd_NAME.c defining vt_cmd_NAME (and its name in meson.build).
 *
 * Each command gets its own argv: argv[0] is the command's name, the rest are its arguments. It
 * handles its own --help and returns the process exit status (2 for a usage error).
 */
#ifndef VT_CLI_COMMANDS_H
#define VT_CLI_COMMANDS_H

/* X(name, one-line summary shown by `vramtrace --help`) */
#define VT_CLI_COMMAND_LIST(X) \
    X(run, "run a program with its GPU memory allocations traced") \
    X(report, "report what a trace recorded: leaks, peaks with what was live, OOM, top sites") \
    X(timeline, "memory in use over time as Chrome trace JSON (Perfetto UI) or CSV") \
    X(flame, "memory by call stack as folded stacks, for flame graphs") \
    X(diff, "growth of live memory per allocation site: two traces, or two times of one") \
    X(merge, "the traces of a multi-process job side by side: peaks per rank, imbalance, common leaks") \
    X(top, "live view of a trace that is being written: use, peak, top sites") \
    X(dump, "ask a running traced process to write a live snapshot now") \
    X(export, "write a trace in another tool's format: PyTorch's memory_viz snapshot") \
    X(html, "one self-contained HTML page: timeline, live sets by stack, peaks, leaks, OOM")

#define VT_CLI_DECLARE_COMMAND(name, summary) int vt_cmd_##name(int argc, char **argv);
VT_CLI_COMMAND_LIST(VT_CLI_DECLARE_COMMAND)
#undef VT_CLI_DECLARE_COMMAND

#endif
