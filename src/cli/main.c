/* cli/main.c — `vramtrace` entry point: picks the subcommand from the table in commands.h and
 * answers `vramtrace --help`, `vramtrace help [COMMAND]` and `vramtrace --version`. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct cli_command cli_commands[] = {
#define VT_CLI_COMMAND_ENTRY(name, summary) {#name, vt_cmd_##name, summary},
    VT_CLI_COMMAND_LIST(VT_CLI_COMMAND_ENTRY)
#undef VT_CLI_COMMAND_ENTRY
};
#define CLI_COMMAND_COUNT (sizeof cli_commands / sizeof cli_commands[0])

static void print_usage(FILE *stream)
{
    fprintf(stream,
            "Usage: vramtrace COMMAND [ARGS...]\n"
            "\n"
            "Traces the GPU memory allocations of unmodified CUDA programs: which call stacks\n"
            "allocate, the peak, and what is never freed.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < CLI_COMMAND_COUNT; i++)
        fprintf(stream, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(stream, "  %-10s %s\n", "help", "show this help, or a command's: vramtrace help COMMAND");
    fprintf(stream,
            "\n"
            "Options:\n"
            "  -h, --help   show this help\n"
            "  --version    show the version\n"
            "\n"
            "Run 'vramtrace COMMAND --help' for a command's options, e.g. 'vramtrace run --help'.\n");
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < CLI_COMMAND_COUNT; i++)
        if (strcmp(cli_commands[i].name, name) == 0)
            return &cli_commands[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "vramtrace: unknown command '%s'\nTry 'vramtrace --help'.\n", name);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const char *first = argv[1];
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        printf("vramtrace %s\n", VT_VERSION);
        return 0;
    }
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0 ||
        (strcmp(first, "help") == 0 && argc == 2)) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(first, "help") == 0) {
        const struct cli_command *command = find_command(argv[2]);
        if (!command)
            return unknown_command(argv[2]);
        char *help_argv[] = {argv[2], "--help", NULL};
        return command->run(2, help_argv);
    }
    if (first[0] == '-') {
        fprintf(stderr, "vramtrace: unknown option '%s'\nTry 'vramtrace --help'.\n", first);
        return 2;
    }
    const struct cli_command *command = find_command(first);
    if (!command)
        return unknown_command(first);
    return command->run(argc - 1, argv + 1);
}
