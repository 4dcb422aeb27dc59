/* tests/programs/next_probe_b.c — the definition of probe_value() that comes after next_probe_a's. */
int probe_value(void)
{
    return 2;
}

/* Referenced by the program so the linker keeps this library in its NEEDED list. */
int next_probe_b_loaded(void)
{
    return 1;
}
