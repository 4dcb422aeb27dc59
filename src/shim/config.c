/* shim/config.c — turns the VRAMTRACE_* variables into a struct shim_config, using the shared
 * settings table so names and accepted values match `vramtrace run --help`. */
#include "shim/config.h"

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

static bool flag_setting(const char *env_name)
{
    bool value = false;
    const char *text = valid_setting(env_name);
    return text && vt_parse_flag(text, &value) && value;
}

/* Expands a path setting into `out` (left empty for 'none' or when too long, said once). */
static void path_setting(const char *env_name, const char *template_text, const char *program_name, long pid,
                         char *out, size_t out_size)
{
    out[0] = '\0';
    if (strcmp(template_text, "none") == 0)
        return;
    if (!vt_expand_path_template(template_text, program_name, pid, out, out_size)) {
        shim_log("%s is too long once expanded; writing no file for it", env_name);
        out[0] = '\0';
    }
}

void config_load(struct shim_config *config, const char *program_name, long pid)
{
    memset(config, 0, sizeof *config);
    config->stack_depth = count_setting(VT_ENV_STACK_DEPTH, VT_DEFAULT_STACK_DEPTH);
    config->top_groups = count_setting(VT_ENV_TOP, VT_DEFAULT_TOP);
    config->flush_interval_ms = count_setting(VT_ENV_FLUSH_MS, VT_DEFAULT_FLUSH_MS);
    config->quiet = flag_setting(VT_ENV_QUIET);
    const char *signal_text = valid_setting(VT_ENV_DUMP_SIGNAL);
    if (!signal_text || !vt_parse_signal(signal_text, &config->dump_signal))
        vt_parse_signal(VT_DEFAULT_DUMP_SIGNAL, &config->dump_signal);

    const char *output = valid_setting(VT_ENV_OUTPUT);
    path_setting(VT_ENV_OUTPUT, output ? output : VT_DEFAULT_OUTPUT_TEMPLATE, program_name, pid, config->trace_path,
                 sizeof config->trace_path);

    /* The report goes next to the trace unless told otherwise. */
    const char *report = valid_setting(VT_ENV_REPORT);
    if (report) {
        path_setting(VT_ENV_REPORT, report, program_name, pid, config->report_path, sizeof config->report_path);
    } else if (config->trace_path[0]) {
        vt_report_path_for_trace(config->trace_path, config->report_path, sizeof config->report_path);
    } else {
        path_setting(VT_ENV_REPORT, VT_DEFAULT_REPORT_TEMPLATE, program_name, pid, config->report_path,
                     sizeof config->report_path);
    }
}
