/* common/format.h — human-readable numbers for reports. */
#ifndef VT_COMMON_FORMAT_H
#define VT_COMMON_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* "0 B", "512 B", "1.0 KiB", "64.0 MiB", "1.50 GiB"... (powers of 1024). Returns out. */
const char *vt_format_bytes(uint64_t bytes, char *out, size_t out_size);

#endif
