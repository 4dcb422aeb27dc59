/* shim/config.c — turns the VRAMTRACE_* variables into a struct shim_config, using the shared
 * settings table so names and accepted values match `vramtrace run --help`. */
#include "shim/config.h"
#include "shim/output_file.h"

#include "common/options.h"
#include "shim/shim_log.h"

#include <stdlib.h>
#include <string.h>

/* The variable's value when it is set and valid, else NULL (after saying why it was ignored). */
static const char *valid_setting(const char *env_name)
{
    const char *value = getenv(env_name);
    if (!value)
        return NULL;
    char why[256];
    if (vt_option_validate(vt_option_by_env(env_name), value, why, sizeof why))
        return value;
    shim_log("%s; using the default", why);
    return NULL;
}

static unsigned count_setting(const char *env_name, unsigned fallback)
{
    const struct vt_option *option = vt_option_by_env(env_name);
    uint64_t value;
    const char *text = valid_setting(env_name);
    return text && vt_parse_count(text, option->min, option->max, &value) ? (unsigned)value : fallback;
}

static unsigned choice_setting(const char *env_name, unsigned fallback)
{
    unsigned index;
    const char *text = valid_setting(env_name);
    return text && vt_parse_choice(vt_option_by_env(env_name), text, &index) ? index : fallback;
}

static bool flag_setting(const char *env_name)
{
    bool value = false;
    const char *text = valid_setting(env_name);
    return text && vt_parse_flag(text, &value) && value;
}

void config_load(struct shim_config *config, const char *program_name, long pid)
{
    memset(config, 0, sizeof *config);
    config->stack_depth = count_setting(VT_ENV_STACK_DEPTH, VT_DEFAULT_STACK_DEPTH);
    config->python_depth = count_setting(VT_ENV_PYTHON_DEPTH, VT_DEFAULT_PYTHON_DEPTH);
    config->top_groups = count_setting(VT_ENV_TOP, VT_DEFAULT_TOP);
    config->flush_interval_ms = count_setting(VT_ENV_FLUSH_MS, VT_DEFAULT_FLUSH_MS);
    config->quiet = flag_setting(VT_ENV_QUIET);
    const char *limit_text = valid_setting(VT_ENV_LIMIT);
    if (!limit_text || !vt_parse_size(limit_text, &config->limit_bytes))
        config->limit_bytes = 0;
    config->torch_mode = (enum vt_torch_mode)choice_setting(VT_ENV_TORCH, VT_TORCH_AUTO);
    /* read by the Python bootstrap, checked here too: a bad value is said even in a program that
     * never gets to PyTorch (the bootstrap stays silent about it when the shim is there) */
    (void)valid_setting(VT_ENV_TORCH_ENTRIES);
    config->test_inject_code = getenv("VRAMTRACE_TEST_INJECT_CODE");
    const char *unwind_check = getenv("VRAMTRACE_UNWIND_CHECK");
    config->unwind_check = unwind_check && strcmp(unwind_check, "1") == 0;
    const char *slow_writer = getenv("VRAMTRACE_TEST_SLOW_WRITER");
    config->slow_writer_ms = slow_writer ? (unsigned)strtoul(slow_writer, NULL, 10) : 0;
    const char *signal_text = valid_setting(VT_ENV_DUMP_SIGNAL);
    if (!signal_text || !vt_parse_dump_signal(signal_text, &config->dump_signal))
        vt_parse_signal(VT_DEFAULT_DUMP_SIGNAL, &config->dump_signal);

    if (!vt_resolve_output_paths(valid_setting(VT_ENV_OUTPUT), valid_setting(VT_ENV_REPORT), program_name, pid,
                                 config->trace_path, sizeof config->trace_path, config->report_path,
                                 sizeof config->report_path))
        shim_log("%s or %s is too long once expanded; that file is not written", VT_ENV_OUTPUT, VT_ENV_REPORT);
    /* A trace to a character device or FIFO (/dev/null, /dev/full, a pipe another program reads)
     * derives no report file next to it (no /dev/full.report.txt): the exit report goes to stderr. */
    if (!valid_setting(VT_ENV_REPORT) && output_file_is_stream(config->trace_path))
        config->report_path[0] = '\0';
}
