/* shim/oom_capture.h — what a hook does when an allocation fails with out-of-memory: record the
 * failure (request, device, stack, the device's free/total memory) and, at the first one, freeze
 * what was live on that device and hand it to the OOM report (oom_report.c) to be written by a
 * worker thread, outside the hook. Later failures are only counted. A request refused by --limit is
 * captured the same way, marked as simulated. */
#ifndef VT_SHIM_OOM_CAPTURE_H
#define VT_SHIM_OOM_CAPTURE_H

#include <stdint.h>

#include "vramtrace/events.h"

/* Called from a hook, with the reentry guard held, after the real call failed with
 * cudaErrorMemoryAllocation / CUDA_ERROR_OUT_OF_MEMORY. */
void oom_capture(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t size_bytes);

/* The same for a request the shim refused itself under --limit (the real function was not called):
 * `in_use_bytes` was the device's use plus reservations then. The device's free and total memory
 * recorded (in the trace's OOM record too) are the simulated device's: the limit minus that use,
 * and the limit. */
void oom_capture_at_limit(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t size_bytes,
                          uint64_t in_use_bytes);

#endif
