/* common/format.c — human-readable numbers for reports (see format.h). */
#include "common/format.h"

#include <stdio.h>

const char *vt_format_bytes(uint64_t bytes, char *out, size_t out_size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(out, out_size, "%llu B", (unsigned long long)bytes);
        return out;
    }
    double value = (double)bytes;
    unsigned unit = 0;
    while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024.0;
        unit++;
    }
    snprintf(out, out_size, value < 10.0 ? "%.2f %s" : "%.1f %s", value, units[unit]);
    return out;
}

const char *vt_format_lost_events(uint64_t count, char *out, size_t out_size)
{
    snprintf(out, out_size,
             "%llu event(s) were lost from the trace (its writer could not write them in time); leak and peak figures "
             "read from it may be overstated or understated",
             (unsigned long long)count);
    return out;
}
