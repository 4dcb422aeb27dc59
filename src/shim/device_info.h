/* shim/device_info.h — the name and total memory of each CUDA device the program allocates on,
 * asked of the driver once per device (from a hook, with the reentry guard held) and recorded in
 * the trace as a DEVICE record and for the reports. */
#ifndef VT_SHIM_DEVICE_INFO_H
#define VT_SHIM_DEVICE_INFO_H

#include <stdint.h>

/* Called by hooks after a successful allocation on `device` (>= 0); cheap after the first time. */
void device_info_note(int device);

/* The device's name ("" when unknown) and total memory (0 when unknown). */
const char *device_info_name(int device);
uint64_t device_info_total_bytes(int device);

#endif
