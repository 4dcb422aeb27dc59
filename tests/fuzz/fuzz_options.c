/* tests/fuzz/fuzz_options.c — fuzz harness: the settings a user or an environment hands
 * vramtrace. The first byte picks a VRAMTRACE_* setting; the rest (up to a NUL) is its value,
 * fed to every parser of common/options.c (vt_option_validate and the size, count, flag, signal,
 * dump-signal and choice parsers, the path templates), to the shim's config_load with that
 * variable set, and to the CLI's --at/--from/--to time and --device parsers. */
#include "fuzz_support.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/analysis_common.h"
#include "common/options.h"
#include "shim/config.h"

static size_t option_count(void)
{
    size_t count = 0;
    while (vt_options[count].long_name)
        count++;
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    const struct vt_option *option = &vt_options[data[0] % option_count()];
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    char why[1024];
    uint64_t value;
    bool flag;
    int signal_number;
    unsigned index;
    vt_option_validate(option, text, why, sizeof why);
    vt_parse_size(text, &value);
    vt_parse_count(text, option->min, option->max, &value);
    vt_parse_flag(text, &flag);
    if (vt_parse_signal(text, &signal_number)) {
        char name[64];
        vt_signal_name(signal_number, name, sizeof name);
        vt_signal_can_dump(signal_number);
    }
    vt_parse_dump_signal(text, &signal_number);
    if (option->type == VT_OPTION_CHOICE)
        vt_parse_choice(option, text, &index);

    char trace_path[4096], report_path[4096], base[4096];
    vt_expand_path_template(text, text, 12345, trace_path, sizeof trace_path);
    vt_expand_path_template(text, "program", 1, trace_path, 16);
    vt_report_path_for_trace(text, report_path, sizeof report_path);
    vt_resolve_output_paths(text, text, "program", 42, trace_path, sizeof trace_path, report_path,
                            sizeof report_path);
    vt_snapshot_base(text, text, base, sizeof base);

    if (option->env_name) {
        setenv(option->env_name, text, 1);
        static struct shim_config config;
        config_load(&config, "program", 42);
        unsetenv(option->env_name);
    }

    uint64_t nanoseconds;
    int device;
    vt_cli_parse_time(text, "s", &nanoseconds);
    vt_cli_parse_time(text, "ms", &nanoseconds);
    vt_cli_parse_device(text, &device);
    free(text);
    return 0;
}
