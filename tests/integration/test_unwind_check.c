/* Integration tests: the shim's fast stack walk against libunwind on the test programs. With
 * VRAMTRACE_UNWIND_CHECK=1 the shim captures every stack both ways (the fast walk, and libunwind's
 * unw_backtrace alone) and says at exit how many it compared, how many the fast walk gave, and
 * how many differed. Every program here must show no difference, with most stacks from the fast
 * walk, at the default depth and at 128 frames (which reaches the bottom of every stack). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "traced_run.h"

#define PROGRAM(name) VT_PROGRAMS_DIR "/" name
#define EXAMPLE(name) VT_EXAMPLES_DIR "/" name


struct check_counts {
    uint64_t compared, fast, differed;
};

/* `vramtrace run --simulate=SIMULATE --report=none --quiet -- program arguments...` */
static struct check_counts run_checked(const char *simulate, const char *program, const char *const arguments[],
                                       const char *depth)
{
    char simulate_option[64];
    snprintf(simulate_option, sizeof simulate_option, "--simulate=%s", simulate);
    const char *options[] = {simulate_option, "--report=none", "--quiet", NULL};
    char depth_setting[64];
    snprintf(depth_setting, sizeof depth_setting, "VRAMTRACE_STACK_DEPTH=%s", depth);
    const char *environment[] = {"VRAMTRACE_UNWIND_CHECK=1", depth_setting, NULL};
    struct process_result run = traced_run(options, program, arguments, environment, NULL);
    cr_assert_eq(run.exit_code, 0, "%s: %s", program, run.err);
    const char *line = strstr(run.err, "vramtrace: unwind check: ");
    cr_assert_not_null(line, "%s printed no unwind check line:\n%s", program, run.err);
    struct check_counts counts;
    cr_assert_eq(sscanf(line, "vramtrace: unwind check: %lu stack(s) captured both ways, %lu by the fast walk; %lu differed",
                        &counts.compared, &counts.fast, &counts.differed),
                 3, "%s", line);
    cr_assert_eq(counts.differed, 0, "%s at depth %s: %s", program, depth, line);
    process_result_free(&run);
    return counts;
}

static void assert_checked_on(const char *simulate, const char *program, const char *const arguments[],
                              uint64_t at_least)
{
    static const char *const depths[] = {"32", "128"};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        struct check_counts counts = run_checked(simulate, program, arguments, depths[i]);
        cr_assert_geq(counts.compared, at_least, "%s at depth %s", program, depths[i]);
        cr_assert_eq(counts.fast, counts.compared, "%s at depth %s: the fast walk gave up on %lu stack(s)", program,
                     depths[i], counts.compared - counts.fast);
    }
}

static void assert_checked(const char *program, const char *const arguments[], uint64_t at_least)
{
    assert_checked_on("16G", program, arguments, at_least);
}

Test(unwind_check, eight_threads_ten_thousand_pairs)
{
    const char *arguments[] = {"8", "10000", NULL};
    assert_checked(PROGRAM("thread_stress"), arguments, 80000);
}

Test(unwind_check, every_runtime_function)
{
    const char *arguments[] = {"200", NULL};
    assert_checked(PROGRAM("alloc_counts"), arguments, 1000);
}

Test(unwind_check, driver_paths_and_lookups)
{
    static const char *const modes[] = {"cupy", "jax", "expandable", "runtime"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const char *arguments[] = {modes[i], NULL};
        assert_checked(PROGRAM("driver_paths"), arguments, 1);
    }
    assert_checked(PROGRAM("lookup_rules"), NULL, 1);
}

Test(unwind_check, sixteen_threads_mixing_paths)
{
    const char *arguments[] = {"16", "1000", NULL};
    assert_checked(PROGRAM("mixed_stress"), arguments, 16000);
}

Test(unwind_check, examples_out_of_memory_and_a_non_pie_program)
{
    assert_checked(EXAMPLE("leaky"), NULL, 10);
    assert_checked(EXAMPLE("leak_paths"), NULL, 10);
    const char *too_much[] = {"4294967296", NULL};
    assert_checked_on("1G", PROGRAM("oom"), too_much, 1);
    assert_checked_on("1G", PROGRAM("oom_retry"), NULL, 3);
    assert_checked(PROGRAM("not_pie"), NULL, 1);
}
