/* shim/oom_capture.c — the hook side of out-of-memory handling (see oom_capture.h). */
#include "shim/oom_capture.h"

#include <cuda.h>

#include "shim/oom_report.h"
#include "shim/real_functions.h"
#include "shim/recorder.h"
#include "shim/trace_writer.h"

/* The device's free and total memory from the driver (the current context's device). Safe here:
 * the hook holds the reentry guard and no recorder lock. */
static void query_device_memory(struct oom_event *event)
{
    if (event->device < 0)
        return;
    __typeof__(cuMemGetInfo_v2) *get_info = REAL_FUNCTION(cuMemGetInfo_v2);
    size_t free_bytes = 0, total_bytes = 0;
    if (get_info && get_info(&free_bytes, &total_bytes) == CUDA_SUCCESS) {
        event->device_free_bytes = free_bytes;
        event->device_total_bytes = total_bytes;
    }
}

void oom_capture(enum vt_api api, enum vt_memory_kind kind, int device, uint64_t size_bytes)
{
    struct event_stack stack;
    recorder_capture_stack(&stack);
    struct oom_event event = {
        .size_bytes = size_bytes,
        .device = (int16_t)device,
        .kind = (uint8_t)kind,
        .api = (uint16_t)api,
    };
    query_device_memory(&event);
    if (recorder_record_out_of_memory(&event, &stack))
        oom_report_start(device);
    trace_writer_request_flush(); /* the failure reaches the disk now, in case the program dies of it */
}
