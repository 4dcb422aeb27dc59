/* cli/cmd_run.c — `vramtrace run [OPTIONS] [--] PROGRAM [ARGS...]`: turns the options of the
 * vt_options[] table into VRAMTRACE_* variables, preloads libvramtrace.so (and with --simulate
 * puts the simulated CUDA libraries first in LD_LIBRARY_PATH), then runs PROGRAM and exits the
 * way it did. Prints nothing itself on success: the shim prints the report. */
#define _GNU_SOURCE
#include "child_process.h"
#include "commands.h"
#include "common/options.h"
#include "locate.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WHO "vramtrace run"
#define USAGE_ERROR 2
#define HELP_TEXT_COLUMN 25
#define HELP_WIDTH 79

static int usage_error(const char *format, const char *detail)
{
    fprintf(stderr, WHO ": ");
    fprintf(stderr, format, detail);
    fprintf(stderr, "\nTry 'vramtrace run --help'.\n");
    return USAGE_ERROR;
}

/* ---- after the program ---- */

/* When the program died by a signal (killed, crashed, interrupted), its exit report was not
 * printed: say where its trace is, which holds everything up to its last flush. The path is the
 * one the shim chose (vt_resolve_output_paths with the program's name and pid); nothing is said
 * when no trace file is there (VRAMTRACE_OUTPUT=none, the shim not loaded, no allocation made). */
static void say_where_the_trace_is(long pid, int wait_status, void *context)
{
    if (!WIFSIGNALED(wait_status))
        return;
    const char *program = context, *slash = strrchr(program, '/');
    char trace[PATH_MAX], report[PATH_MAX];
    vt_resolve_output_paths(getenv(VT_ENV_OUTPUT), getenv(VT_ENV_REPORT), slash ? slash + 1 : program, pid, trace,
                            sizeof trace, report, sizeof report);
    struct stat info;
    if (!trace[0] || stat(trace, &info) != 0 || !S_ISREG(info.st_mode))
        return;
    int signal_number = WTERMSIG(wait_status);
    fprintf(stderr, WHO ": %s (pid %ld) ended by signal %d (SIG%s): no exit report; its trace holds everything up "
                    "to its last flush: vramtrace report %s\n",
            program, pid, signal_number, sigabbrev_np(signal_number) ? sigabbrev_np(signal_number) : "?", trace);
}

/* ---- --help, generated from vt_options[] ---- */

/* Prints text word-wrapped between column `indent` and HELP_WIDTH; the first line continues
 * from column `column`. NO_BREAK joins two words that must stay on one line. */
#define NO_BREAK "\x01"

static void print_wrapped(FILE *stream, const char *text, int indent, int column)
{
    const char *word = text;
    while (*word) {
        while (*word == ' ')
            word++;
        size_t length = strcspn(word, " ");
        if (length == 0)
            break;
        if (column > indent && column + 1 + (int)length > HELP_WIDTH) {
            fprintf(stream, "\n%*s", indent, "");
            column = indent;
        } else if (column > indent) {
            fputc(' ', stream);
            column++;
        }
        for (size_t i = 0; i < length; i++)
            fputc(word[i] == NO_BREAK[0] ? ' ' : word[i], stream);
        column += (int)length;
        word += length;
    }
    fputc('\n', stream);
}

static void print_option_help(FILE *stream, const struct vt_option *option)
{
    char form[96];
    int used = 0;
    if (option->short_name)
        used = snprintf(form, sizeof form, "-%c, ", option->short_name);
    switch (option->type) {
    case VT_OPTION_FLAG:
        snprintf(form + used, sizeof form - used, "--%s", option->long_name);
        break;
    case VT_OPTION_OPTIONAL_SIZE:
        snprintf(form + used, sizeof form - used, "--%s[=%s]", option->long_name, option->metavar);
        break;
    default:
        snprintf(form + used, sizeof form - used, "--%s %s", option->long_name, option->metavar);
        break;
    }
    int column = fprintf(stream, "  %s", form);
    if (column + 2 > HELP_TEXT_COLUMN) {
        fprintf(stream, "\n%*s", HELP_TEXT_COLUMN, "");
    } else {
        fprintf(stream, "%*s", HELP_TEXT_COLUMN - column, "");
    }
    print_wrapped(stream, option->help, HELP_TEXT_COLUMN, HELP_TEXT_COLUMN);

    char variable[160];
    if (option->type == VT_OPTION_FLAG)
        snprintf(variable, sizeof variable, "[sets %s=1; default:" NO_BREAK "%s]", option->env_name,
                 option->default_text);
    else if (option->type == VT_OPTION_OPTIONAL_SIZE)
        snprintf(variable, sizeof variable, "[sets %s; --%s alone" NO_BREAK "means" NO_BREAK "%s]", option->env_name,
                 option->long_name, option->default_text);
    else
        snprintf(variable, sizeof variable, "[sets %s; default:" NO_BREAK "%s]", option->env_name,
                 option->default_text);
    fprintf(stream, "%*s", HELP_TEXT_COLUMN, "");
    print_wrapped(stream, variable, HELP_TEXT_COLUMN, HELP_TEXT_COLUMN);
}

static void print_run_help(FILE *stream)
{
    fprintf(stream,
            "Usage: vramtrace run [OPTIONS] [--] PROGRAM [ARGS...]\n"
            "\n");
    print_wrapped(stream,
                  "Runs PROGRAM with libvramtrace.so preloaded. Every GPU memory allocation and free "
                  "it makes through the CUDA runtime or driver API is recorded with its call stack; "
                  "when PROGRAM exits, a report of peak usage and of memory never freed is printed on "
                  "stderr and written to a file. PROGRAM's own output, exit status and signals pass "
                  "through unchanged. The '--' is needed only when PROGRAM starts with '-'.",
                  0, 0);
    fprintf(stream, "\n");
    print_wrapped(stream,
                  "Options (each sets the VRAMTRACE_* variable shown for PROGRAM; without the option, "
                  "that variable's value in the environment applies, else the default):",
                  0, 0);
    for (const struct vt_option *option = vt_options; option->long_name; option++)
        print_option_help(stream, option);
    fprintf(stream, "  -h, --help%*sshow this help\n", HELP_TEXT_COLUMN - 12, "");
    fprintf(stream, "\n");
    print_wrapped(stream,
                  "Values go as '--name VALUE' or '--name=VALUE' ('--simulate=SIZE' only). SIZE is "
                  "bytes or a number with K, M, G or T (powers of 1024), e.g. 512M or 1.5G. "
                  "--simulate runs PROGRAM on a simulated CUDA device instead of a GPU, by putting "
                  "vramtrace's stand-in libcudart.so.13 and libcuda.so.1 first in LD_LIBRARY_PATH.",
                  0, 0);

    const char *shim = vt_expected_shim_path();
    fprintf(stream,
            "\n"
            "Environment:\n"
            "  %-*s",
            HELP_TEXT_COLUMN - 2, VT_ENV_LIBRARY);
    print_wrapped(stream, "preload this libvramtrace.so instead of the one that belongs to this vramtrace",
                  HELP_TEXT_COLUMN, HELP_TEXT_COLUMN);
    fprintf(stream, "\nWithout this command:\n  ");
    print_wrapped(stream,
                  "'vramtrace run' only sets environment variables, so preloading the library "
                  "yourself works the same, with the variables above for settings:",
                  2, 2);
    fprintf(stream,
            "    LD_PRELOAD=%s VRAMTRACE_TOP=20 PROGRAM [ARGS...]\n"
            "\n"
            "Examples:\n"
            "  vramtrace run ./train --epochs 1\n"
            "  vramtrace run --top 20 --report 'leaks.%%h.%%p.txt' -- python3 train.py\n"
            "  vramtrace run --simulate=8G --stack-depth 64 ./examples/leaky\n"
            "  vramtrace run -q --report=none ./bench        # trace only, no report\n",
            shim[0] == '/' ? shim : "/abs/path/libvramtrace.so");
}

/* ---- option parsing ---- */

static const struct vt_option *option_by_long_name(const char *name, size_t length)
{
    for (const struct vt_option *option = vt_options; option->long_name; option++)
        if (strlen(option->long_name) == length && strncmp(option->long_name, name, length) == 0)
            return option;
    return NULL;
}

static const struct vt_option *option_by_short_name(char name)
{
    for (const struct vt_option *option = vt_options; option->long_name; option++)
        if (option->short_name && option->short_name == name)
            return option;
    return NULL;
}

/* Validates and exports one option's value; `spelled` is how the user wrote the option. */
static bool apply_option(const struct vt_option *option, const char *value, const char *spelled)
{
    char why[512];
    if (!vt_option_validate(option, value, why, sizeof why)) {
        fprintf(stderr, WHO ": bad value for %s: %s\nTry 'vramtrace run --help'.\n", spelled, why);
        return false;
    }
    setenv(option->env_name, value, 1);
    return true;
}

/* --name, --name=VALUE or --name VALUE at argv[*index]; advances *index past what it used. */
static bool parse_long_option(int argc, char **argv, int *index)
{
    const char *argument = argv[*index];
    const char *name = argument + 2;
    const char *equals = strchr(name, '=');
    size_t name_length = equals ? (size_t)(equals - name) : strlen(name);
    const struct vt_option *option = option_by_long_name(name, name_length);
    char spelled[128];
    snprintf(spelled, sizeof spelled, "--%.*s", (int)name_length, name);
    if (!option) {
        usage_error("unknown option '%s'", spelled);
        return false;
    }
    (*index)++;
    if (equals)
        return apply_option(option, equals + 1, spelled);
    switch (option->type) {
    case VT_OPTION_FLAG:
        return apply_option(option, "1", spelled);
    case VT_OPTION_OPTIONAL_SIZE:
        return apply_option(option, option->default_text, spelled);
    default:
        if (*index >= argc) {
            char message[192];
            snprintf(message, sizeof message, "option '%s' needs a value (%s)", spelled, option->metavar);
            usage_error("%s", message);
            return false;
        }
        return apply_option(option, argv[(*index)++], spelled);
    }
}

/* -q, -qX..., -x VALUE or -xVALUE at argv[*index]. */
static bool parse_short_options(int argc, char **argv, int *index)
{
    const char *letters = argv[(*index)++] + 1;
    for (; *letters; letters++) {
        const struct vt_option *option = option_by_short_name(*letters);
        char spelled[3] = {'-', *letters, '\0'};
        if (!option) {
            usage_error("unknown option '%s'", spelled);
            return false;
        }
        if (option->type == VT_OPTION_FLAG) {
            if (!apply_option(option, "1", spelled))
                return false;
            continue;
        }
        if (letters[1])
            return apply_option(option, letters + 1, spelled);
        if (option->type == VT_OPTION_OPTIONAL_SIZE)
            return apply_option(option, option->default_text, spelled);
        if (*index >= argc) {
            char message[192];
            snprintf(message, sizeof message, "option '%s' needs a value (%s)", spelled, option->metavar);
            usage_error("%s", message);
            return false;
        }
        return apply_option(option, argv[(*index)++], spelled);
    }
    return true;
}

/* Settings inherited from the environment are checked too (those from the command line are in
 * the environment by now and already valid): a typo there would otherwise only show up as a
 * warning from the shim, if at all. */
static bool environment_settings_valid(void)
{
    for (const struct vt_option *option = vt_options; option->long_name; option++) {
        const char *value = getenv(option->env_name);
        if (!value)
            continue;
        char why[512];
        if (!vt_option_validate(option, value, why, sizeof why)) {
            fprintf(stderr, WHO ": %s (set in the environment)\n", why);
            return false;
        }
    }
    return true;
}

/* Sets variable to "first:old value", or to first alone when it was unset or empty. */
static void prepend_to_path_list(const char *variable, const char *first)
{
    const char *old = getenv(variable);
    if (!old || !*old) {
        setenv(variable, first, 1);
        return;
    }
    size_t size = strlen(first) + 1 + strlen(old) + 1;
    char *combined = malloc(size);
    if (!combined) {
        perror(WHO);
        exit(USAGE_ERROR);
    }
    snprintf(combined, size, "%s:%s", first, old);
    setenv(variable, combined, 1);
    free(combined);
}

/* Python programs import vramtrace's sitecustomize (src/python/) first, which activates the PyTorch
 * integration: its directory, beside the shim, goes first on PYTHONPATH unless VRAMTRACE_TORCH is
 * off or a shim without it is used. */
static void add_python_bootstrap(const char *shim_path)
{
    unsigned mode;
    if (vt_parse_choice(vt_option_by_env(VT_ENV_TORCH), getenv(VT_ENV_TORCH), &mode) && mode == VT_TORCH_OFF)
        return; /* (any case: the shim reads it so too) */
    char directory[PATH_MAX + 32];
    snprintf(directory, sizeof directory, "%s", shim_path);
    char *slash = strrchr(directory, '/');
    if (!slash)
        return;
    snprintf(slash, sizeof directory - (size_t)(slash - directory), "/vramtrace-python");
    char marker[PATH_MAX + 64];
    snprintf(marker, sizeof marker, "%s/sitecustomize.py", directory);
    if (access(marker, R_OK) == 0)
        prepend_to_path_list("PYTHONPATH", directory);
}

int vt_cmd_run(int argc, char **argv)
{
    int index = 1;
    while (index < argc) {
        const char *argument = argv[index];
        if (strcmp(argument, "--") == 0) {
            index++;
            break;
        }
        if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
            print_run_help(stdout);
            return 0;
        }
        if (argument[0] != '-' || argument[1] == '\0')
            break; /* PROGRAM: everything from here on is its command line */
        bool parsed = argument[1] == '-' ? parse_long_option(argc, argv, &index)
                                         : parse_short_options(argc, argv, &index);
        if (!parsed)
            return USAGE_ERROR;
    }
    if (index >= argc)
        return usage_error("%s", "no program to run given (usage: vramtrace run [OPTIONS] [--] PROGRAM [ARGS...])");
    if (!environment_settings_valid())
        return USAGE_ERROR;

    char path[PATH_MAX], why[PATH_MAX + 256];
    if (!vt_locate_shim(path, sizeof path, why, sizeof why)) {
        fprintf(stderr, WHO ": %s\n", why);
        return USAGE_ERROR;
    }
    prepend_to_path_list("LD_PRELOAD", path);
    add_python_bootstrap(path);

    const char *simulate = getenv(VT_ENV_SIMULATE);
    if (simulate && *simulate) {
        if (!vt_locate_simulated_cuda_dir(path, sizeof path, why, sizeof why)) {
            fprintf(stderr, WHO ": %s\n", why);
            return USAGE_ERROR;
        }
        prepend_to_path_list("LD_LIBRARY_PATH", path);
    }
    int dump_signal;
    const char *dump_signal_text = getenv(VT_ENV_DUMP_SIGNAL);
    if (vt_parse_dump_signal(dump_signal_text ? dump_signal_text : VT_DEFAULT_DUMP_SIGNAL, &dump_signal))
        vt_relay_also(dump_signal);
    vt_at_child_end(say_where_the_trace_is, argv[index]);
    return vt_run_child(argv + index, WHO);
}
