/* common/format.h — human-readable numbers for reports, and the sentences every report shares. */
#ifndef VT_COMMON_FORMAT_H
#define VT_COMMON_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* "0 B", "512 B", "1.0 KiB", "64.0 MiB", "1.50 GiB"... (powers of 1024). Returns out. */
const char *vt_format_bytes(uint64_t bytes, char *out, size_t out_size);

/* What the exit report and every command say of a trace that lost events (DROPPED records):
 * "N event(s) were lost from the trace (its writer could not write them in time); leak and peak figures
 * read from it may be overstated or understated". Returns out. */
const char *vt_format_lost_events(uint64_t count, char *out, size_t out_size);

#endif
