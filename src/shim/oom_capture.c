/* shim/oom_capture.c — the hook side of out-of-memory handling (see oom_capture.h). */
#include "shim/oom_capture.h"

#include <cuda.h>
#include <stdbool.h>

#include "shim/oom_report.h"
#include "shim/real_functions.h"
#include "shim/recorder.h"
#include "shim/trace_writer.h"

/* The failing device's free and total memory (issue 9), asked of the real driver with the reentry
 * guard held and no recorder lock, and without changing anything the program can see:
 *   - the current context is on the failing device (the common case): cuMemGetInfo_v2;
 *   - another device whose primary context is active (the runtime's, after any cudaSetDevice and
 *     use of it): that context is retained (a count, no creation), pushed onto this thread's
 *     context stack, asked, popped (the caller's context is current again, exactly as it was) and
 *     released;
 *   - otherwise (no active primary context: retaining would create one, hundreds of MiB and a
 *     side effect the program never asked for) both stay 0, "unknown": the reports then leave the
 *     free/total clause out rather than print another device's figures, and the device's total is
 *     still in its DEVICE record. */
static bool current_context_memory(struct oom_event *event)
{
    __typeof__(cuMemGetInfo_v2) *get_info = REAL_FUNCTION(cuMemGetInfo_v2);
    size_t free_bytes = 0, total_bytes = 0;
    if (!get_info || get_info(&free_bytes, &total_bytes) != CUDA_SUCCESS)
        return false;
    event->device_free_bytes = free_bytes;
    event->device_total_bytes = total_bytes;
    return true;
}

static void query_device_memory(struct oom_event *event)
{
    if (event->device < 0)
        return;
    __typeof__(cuCtxGetDevice) *get_context_device = REAL_FUNCTION(cuCtxGetDevice);
    CUdevice current;
    if (get_context_device && get_context_device(&current) == CUDA_SUCCESS && current == event->device) {
        current_context_memory(event);
        return;
    }
    __typeof__(cuDeviceGet) *get_device = REAL_FUNCTION(cuDeviceGet);
    __typeof__(cuDevicePrimaryCtxGetState) *get_state = REAL_FUNCTION(cuDevicePrimaryCtxGetState);
    __typeof__(cuDevicePrimaryCtxRetain) *retain = REAL_FUNCTION(cuDevicePrimaryCtxRetain);
    __typeof__(cuDevicePrimaryCtxRelease_v2) *release = REAL_FUNCTION(cuDevicePrimaryCtxRelease_v2);
    __typeof__(cuCtxPushCurrent_v2) *push = REAL_FUNCTION(cuCtxPushCurrent_v2);
    __typeof__(cuCtxPopCurrent_v2) *pop = REAL_FUNCTION(cuCtxPopCurrent_v2);
    if (!get_device || !get_state || !retain || !release || !push || !pop)
        return;
    CUdevice device;
    unsigned int flags;
    int active = 0;
    if (get_device(&device, event->device) != CUDA_SUCCESS || get_state(device, &flags, &active) != CUDA_SUCCESS ||
        !active)
        return;
    CUcontext context;
    if (retain(&context, device) != CUDA_SUCCESS)
        return;
    if (push(context) == CUDA_SUCCESS) {
        current_context_memory(event);
        CUcontext popped;
        pop(&popped);
    }
    release(device);
}

enum { OOM_FLUSH_WAIT_MS = 2000 };

/* Records the failure `event` (its free/total filled in) and, at the first one, starts the report. */
static void capture(struct oom_event *event)
{
    struct event_stack stack;
    recorder_capture_stack(&stack);
    if (recorder_record_out_of_memory(event, &stack)) {
        oom_report_start(event->device);
        /* The first failure is on disk, with everything before it, before the failing call returns:
         * a program that abort()s right after it still leaves the trace's OOM (issue 9, point 7).
         * Bounded: a stalled output costs this call at most OOM_FLUSH_WAIT_MS. */
        trace_writer_flush_and_wait(OOM_FLUSH_WAIT_MS);
    } else {
        trace_writer_request_flush(); /* later failures: flushed soon, not waited for */
    }
}

void oom_capture(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t size_bytes)
{
    struct oom_event event = {
        .size_bytes = size_bytes,
        .device = (int16_t)device,
        .kind = (uint8_t)kind,
        .api = (uint16_t)api,
    };
    query_device_memory(&event);
    capture(&event);
}

void oom_capture_at_limit(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t size_bytes,
                          uint64_t in_use_bytes)
{
    uint64_t limit = recorder_limit_bytes;
    struct oom_event event = {
        .size_bytes = size_bytes,
        .device_free_bytes = in_use_bytes < limit ? limit - in_use_bytes : 0,
        .device_total_bytes = limit,
        .device = (int16_t)device,
        .kind = (uint8_t)kind,
        .api = (uint16_t)api,
        .simulated_limit_bytes = limit,
    };
    capture(&event);
}
