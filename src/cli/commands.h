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
    X(report, "report what a trace recorded: leaks, peaks with what was live, OOM, top sites")

#define VT_CLI_DECLARE_COMMAND(name, summary) int vt_cmd_##name(int argc, char **argv);
VT_CLI_COMMAND_LIST(VT_CLI_DECLARE_COMMAND)
#undef VT_CLI_DECLARE_COMMAND

#endif
