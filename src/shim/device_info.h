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

/* Which device owns stream-ordered memory (issue 9). Both ask the real driver and are called from
 * hooks with the reentry guard held, never under the recorder's lock; each replaces the one
 * current-device query a hook made before, so they cost no extra driver call.
 *
 * device_info_stream_device: the device of `stream` (cuStreamGetDevice, CUDA 12.8); for the
 * default streams (0, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD, which are cudaStreamLegacy and
 * cudaStreamPerThread too) it returns `current()` without asking; `current()` too when the driver
 * has no cuStreamGetDevice or does not answer.
 *
 * device_info_pointer_device: the device an allocation starting at `address` lives on
 * (cuPointerGetAttribute(CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)); `fallback` when the driver does not
 * answer. Used for pool allocations: CUDA has no query for a pool's device, and the memory's own
 * device is the truth whatever pool handed it out. */
int device_info_stream_device(uintptr_t stream, int (*current)(void));
int device_info_pointer_device(uint64_t address, int fallback);

/* The device's name ("" when unknown) and total memory (0 when unknown). */
const char *device_info_name(int device);
uint64_t device_info_total_bytes(int device);

#endif
