/* tests/programs/next_probe_a.c — a library that looks itself up with dlsym(RTLD_NEXT, ...), as
 * interposing libraries do: it must get the next definition after *itself* (next_probe_b's), even
 * when dlsym is interposed by the tracer. */
#define _GNU_SOURCE
#include <dlfcn.h>

int probe_value(void)
{
    return 1;
}

int next_probe_value(void)
{
    int (*next)(void) = (int (*)(void))dlsym(RTLD_NEXT, "probe_value");
    return next ? next() : -1;
}
