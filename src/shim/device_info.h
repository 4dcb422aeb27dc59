/* shim/device_info.h — the name and total memory of each CUDA device the program allocates on,
 * asked of the driver once per device (from a hook, with the reentry guard held) and recorded in
 * the trace as a DEVICE record and for the reports. */
#ifndef VT_SHIM_DEVICE_INFO_H
#define VT_SHIM_DEVICE_INFO_H

#include <stdbool.h>
#include <stdint.h>

#include "shim/recorder.h"

/* Which devices are described; device_info_describe asks the driver about one. */
extern bool device_info_described[RECORDER_MAX_DEVICES] __attribute__((visibility("hidden")));
void device_info_describe(int device);

/* Called by hooks after a successful allocation on `device` (>= 0); a load and a test after the
 * first time. */
static inline void device_info_note(int device)
{
    if (device >= 0 && device < RECORDER_MAX_DEVICES && !__atomic_load_n(&device_info_described[device], __ATOMIC_ACQUIRE))
        device_info_describe(device);
}

/* The device's name ("" when unknown) and total memory (0 when unknown). */
const char *device_info_name(int device);
uint64_t device_info_total_bytes(int device);

#endif
