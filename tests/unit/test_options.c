/* tests/unit/test_options.c — unit tests of src/common/options.c: the size, count and flag
 * parsers, the report path template, and vt_option_validate's messages. */
#define _GNU_SOURCE
#include "common/options.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t parsed_size(const char *text)
{
    uint64_t bytes = 0xdeadbeef;
    cr_assert(vt_parse_size(text, &bytes), "'%s' should parse as a size", text);
    return bytes;
}

static void assert_size(const char *text, uint64_t expected)
{
    uint64_t bytes = parsed_size(text);
    cr_assert_eq(bytes, expected, "'%s' parsed as %llu, expected %llu", text, (unsigned long long)bytes,
                 (unsigned long long)expected);
}

static void assert_not_size(const char *text)
{
    uint64_t bytes = 12345;
    cr_assert_not(vt_parse_size(text, &bytes), "'%s' should not parse as a size", text ? text : "(null)");
    cr_assert_eq(bytes, 12345, "a failed parse must not write the result");
}

Test(size, plain_bytes)
{
    assert_size("0", 0);
    assert_size("1", 1);
    assert_size("4096", 4096);
    assert_size("1B", 1);
    assert_size("18446744073709551615", UINT64_MAX);
}

Test(size, suffixes_are_powers_of_1024)
{
    assert_size("1K", 1024);
    assert_size("3M", 3ULL << 20);
    assert_size("16G", 16ULL << 30);
    assert_size("2T", 2ULL << 40);
}

Test(size, suffix_spellings_and_case)
{
    const char *const kilo[] = {"1K", "1k", "1KB", "1kb", "1KiB", "1kib"};
    for (size_t i = 0; i < sizeof kilo / sizeof kilo[0]; i++)
        assert_size(kilo[i], 1024);
    assert_size("1MiB", 1ULL << 20);
    assert_size("1gb", 1ULL << 30);
    assert_size("1TiB", 1ULL << 40);
    assert_size("512b", 512);
}

Test(size, fractions)
{
    assert_size("1.5G", 3ULL << 29);
    assert_size("0.5K", 512);
    assert_size("2.25M", 9ULL << 18);
    assert_size("0.0G", 0);
    assert_size("1.5", 2); /* rounded to the nearest byte */
}

Test(size, overflow_is_rejected)
{
    assert_not_size("18446744073709551616");
    assert_not_size("99999999999999999999999999");
    assert_not_size("16777216T"); /* 2^64 */
    assert_not_size("17179869184G");
    assert_not_size("16777216.0T");
    assert_not_size("20000000.5T");
    assert_size("16777215T", 16777215ULL << 40);
}

Test(size, large_fractions_stay_exact)
{
    /* Above 2^63 the result no longer fits a signed 64-bit integer but is still valid. */
    assert_size("8388608.5T", (1ULL << 63) + (1ULL << 39));
    assert_size("16777215.5T", (16777215ULL << 40) + (1ULL << 39));
}

Test(size, garbage_is_rejected)
{
    const char *const garbage[] = {
        "", "G", "12Q", "-1", "+1", " 1", "1 ", "1 G", "1.", ".5", "1.5.5", "1..5", "abc",
        "1GG", "1KM", "0x10", "1e3", "1,5G", "1G!", "\xd9\xa3",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        assert_not_size(garbage[i]);
    assert_not_size(NULL);
}

Test(count, range_and_syntax)
{
    uint64_t value = 0;
    cr_assert(vt_parse_count("0", 0, 128, &value));
    cr_assert_eq(value, 0);
    cr_assert(vt_parse_count("128", 0, 128, &value));
    cr_assert_eq(value, 128);
    cr_assert(vt_parse_count("007", 0, 128, &value));
    cr_assert_eq(value, 7);
    value = 99;
    const char *const invalid[] = {"", "129", "-1", "+1", " 1", "1 ", "1x", "1.0", "0x1", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        cr_assert_not(vt_parse_count(invalid[i], 0, 128, &value), "'%s' accepted", invalid[i]);
    cr_assert_not(vt_parse_count("0", 1, 10, &value));
    cr_assert_not(vt_parse_count(NULL, 0, 10, &value));
    cr_assert_eq(value, 99);
}

Test(flag, accepted_spellings)
{
    const char *const yes[] = {"1", "true", "TRUE", "yes", "Yes", "on", "ON"};
    const char *const no[] = {"0", "false", "False", "no", "NO", "off", "Off", ""};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        bool value = false;
        cr_assert(vt_parse_flag(yes[i], &value), "'%s' rejected", yes[i]);
        cr_assert(value, "'%s' is not true", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        bool value = true;
        cr_assert(vt_parse_flag(no[i], &value), "'%s' rejected", no[i]);
        cr_assert_not(value, "'%s' is not false", no[i]);
    }
}

Test(flag, garbage_is_rejected)
{
    const char *const garbage[] = {"maybe", "2", "y", "n", "t", "yess", " 1", "-1"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        bool value = true;
        cr_assert_not(vt_parse_flag(garbage[i], &value), "'%s' accepted", garbage[i]);
    }
    bool value;
    cr_assert_not(vt_parse_flag(NULL, &value));
}

static void clear_rank_variables(void)
{
    unsetenv("RANK");
    unsetenv("LOCAL_RANK");
    unsetenv("SLURM_PROCID");
    unsetenv("OMPI_COMM_WORLD_RANK");
}

static void assert_expands(const char *template_text, const char *program, long pid, const char *expected)
{
    char out[512];
    cr_assert(vt_expand_path_template(template_text, program, pid, out, sizeof out), "'%s' did not expand",
              template_text);
    cr_assert_str_eq(out, expected);
}

Test(path_template, placeholders)
{
    clear_rank_variables();
    assert_expands("report.txt", "prog", 1, "report.txt");
    assert_expands("%p", "prog", 4242, "4242");
    assert_expands("%n", "trainer", 1, "trainer");
    assert_expands("%r", "prog", 1, "0");
    assert_expands("100%%", "prog", 1, "100%");
    assert_expands("%%p", "prog", 7, "%p");
    assert_expands("vramtrace.%n.%p.report.txt", "leaky", 123, "vramtrace.leaky.123.report.txt");
    char host[256] = "";
    cr_assert(gethostname(host, sizeof host) == 0);
    char expected[300];
    snprintf(expected, sizeof expected, "/tmp/%s-x", host);
    assert_expands("/tmp/%h-x", "prog", 1, expected);
}

Test(path_template, program_name_fallback_and_unknown_placeholders)
{
    assert_expands("%n.txt", NULL, 1, "program.txt");
    assert_expands("%n.txt", "", 1, "program.txt");
    assert_expands("%x%q", "prog", 1, "%x%q");
    assert_expands("end%", "prog", 1, "end%");
}

Test(path_template, rank_from_the_environment)
{
    clear_rank_variables();
    setenv("SLURM_PROCID", "5", 1);
    assert_expands("r%r", "prog", 1, "r5");
    setenv("RANK", "3", 1);
    assert_expands("r%r", "prog", 1, "r3"); /* RANK wins */
    setenv("RANK", "not-a-number", 1);
    assert_expands("r%r", "prog", 1, "r5");
    clear_rank_variables();
}

Test(path_template, too_long_is_rejected)
{
    char out[8];
    cr_assert_not(vt_expand_path_template("12345678", "prog", 1, out, sizeof out));
    cr_assert(vt_expand_path_template("1234567", "prog", 1, out, sizeof out));
    cr_assert_str_eq(out, "1234567");
    cr_assert_not(vt_expand_path_template("%p%p", "prog", 123456, out, sizeof out));
    cr_assert_not(vt_expand_path_template("x", "prog", 1, out, 0));
}

static const struct vt_option *option_named(const char *env_name)
{
    const struct vt_option *option = vt_option_by_env(env_name);
    cr_assert(option, "%s is not in the table", env_name);
    return option;
}

Test(validate, every_default_is_valid)
{
    for (const struct vt_option *option = vt_options; option->long_name; option++) {
        char why[256] = "";
        cr_assert(strncmp(option->env_name, "VRAMTRACE_", 10) == 0, "%s", option->env_name);
        cr_assert(option->help && *option->help, "--%s has no help", option->long_name);
        cr_assert(vt_option_validate(option, option->default_text, why, sizeof why),
                  "default of --%s rejected: %s", option->long_name, why);
        cr_assert_eq(vt_option_by_env(option->env_name), option);
    }
    cr_assert_null(vt_option_by_env("VRAMTRACE_NO_SUCH_SETTING"));
}

static void assert_invalid(const char *env_name, const char *value, const char *expected_fragment)
{
    char why[512] = "";
    cr_assert_not(vt_option_validate(option_named(env_name), value, why, sizeof why), "%s='%s' accepted", env_name,
                  value);
    cr_assert(strstr(why, env_name), "message does not name %s: %s", env_name, why);
    cr_assert(strstr(why, expected_fragment), "message lacks \"%s\": %s", expected_fragment, why);
}

Test(validate, messages_name_the_variable_and_the_accepted_values)
{
    assert_invalid(VT_ENV_SIMULATE, "12Q", "K, M, G or T");
    assert_invalid(VT_ENV_SIMULATE, "12Q", "'12Q'");
    assert_invalid(VT_ENV_SIMULATE, "0", "not a valid size");
    assert_invalid(VT_ENV_TOP, "abc", "from 1 to 1000000");
    assert_invalid(VT_ENV_TOP, "0", "'0'");
    assert_invalid(VT_ENV_STACK_DEPTH, "129", "from 0 to 128");
    assert_invalid(VT_ENV_SIMULATE_DEVICES, "17", "from 1 to 16");
    assert_invalid(VT_ENV_QUIET, "maybe", "yes, no");
    assert_invalid(VT_ENV_REPORT, "", "empty");
    assert_invalid(VT_ENV_TORCH, "maybe", "'maybe' is not valid; accepted: off, auto, on");
    assert_invalid(VT_ENV_TORCH, "", "accepted: off, auto, on");
}

Test(validate, choices_give_their_index_in_any_case)
{
    const struct vt_option *torch = option_named(VT_ENV_TORCH);
    unsigned index = 99;
    cr_assert(vt_parse_choice(torch, "off", &index));
    cr_assert_eq(index, VT_TORCH_OFF);
    cr_assert(vt_parse_choice(torch, "Auto", &index));
    cr_assert_eq(index, VT_TORCH_AUTO);
    cr_assert(vt_parse_choice(torch, "ON", &index));
    cr_assert_eq(index, VT_TORCH_ON);
    cr_assert_not(vt_parse_choice(torch, "o", &index));
    cr_assert_not(vt_parse_choice(torch, NULL, &index));
    cr_assert_not(vt_parse_choice(option_named(VT_ENV_TOP), "auto", &index)); /* not a choice */
}

Test(validate, good_values)
{
    char why[256];
    cr_assert(vt_option_validate(option_named(VT_ENV_SIMULATE), "1.5G", why, sizeof why));
    cr_assert(vt_option_validate(option_named(VT_ENV_STACK_DEPTH), "0", why, sizeof why));
    cr_assert(vt_option_validate(option_named(VT_ENV_QUIET), "yes", why, sizeof why));
    cr_assert(vt_option_validate(option_named(VT_ENV_REPORT), "none", why, sizeof why));
    cr_assert(vt_option_validate(option_named(VT_ENV_REPORT), "out.%p.txt", why, sizeof why));
}

Test(validate, message_is_truncated_safely)
{
    char why[16];
    memset(why, 'x', sizeof why);
    cr_assert_not(vt_option_validate(option_named(VT_ENV_TOP), "abc", why, sizeof why));
    cr_assert(memchr(why, '\0', sizeof why), "message not terminated");
}

/* Issue 9, point 10: only signals safe to take over can be the dump signal. */
Test(options, dump_signal_accepts_only_user_and_real_time_signals)
{
    int number = 0;
    cr_assert(vt_parse_dump_signal("USR1", &number) && number == SIGUSR1);
    cr_assert(vt_parse_dump_signal("SIGUSR2", &number) && number == SIGUSR2);
    cr_assert(vt_parse_dump_signal("RTMIN+7", &number) && number == SIGRTMIN + 7);
    cr_assert(vt_parse_dump_signal("SIGRTMAX", &number) && number == SIGRTMAX);
    cr_assert(vt_parse_dump_signal("RTMAX-1", &number) && number == SIGRTMAX - 1);
    const char *const refused[] = {"SEGV", "11", "TERM", "9", "19", "KILL", "STOP", "INT", "HUP", "ABRT", "BUS",
                                   "CHLD", "PIPE", "SIGXFSZ", "0", "65", "RTMIN+99"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        number = -1;
        cr_assert(!vt_parse_dump_signal(refused[i], &number), "%s accepted", refused[i]);
        cr_assert_eq(number, -1, "%s: output written on refusal", refused[i]);
    }
    char why[512];
    cr_assert(!vt_option_validate(vt_option_by_env(VT_ENV_DUMP_SIGNAL), "11", why, sizeof why));
    cr_assert(strstr(why, "VRAMTRACE_DUMP_SIGNAL='11' is SIGSEGV, which cannot be the dump signal"), "%s", why);
    char name[32];
    vt_signal_name(SIGRTMIN + 7, name, sizeof name);
    cr_assert_str_eq(name, "SIGRTMIN+7");
}
