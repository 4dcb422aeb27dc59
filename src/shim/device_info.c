/* shim/device_info.c — device names and sizes (see device_info.h). */
#include "shim/device_info.h"

#include <cuda.h>
#include <stdbool.h>
#include <string.h>

#include "shim/real_functions.h"
#include "shim/recorder.h"
#include "shim/trace_writer.h"

struct device_description {
    char name[128];
    uint64_t total_bytes;
};

bool device_info_described[RECORDER_MAX_DEVICES]; /* set once devices[i] is filled */
static struct device_description devices[RECORDER_MAX_DEVICES];

/* True when the driver answered (then the description is filled). */
static bool describe(int ordinal, struct device_description *description)
{
    __typeof__(cuDeviceGet) *get_device = REAL_FUNCTION(cuDeviceGet);
    __typeof__(cuDeviceGetName) *get_name = REAL_FUNCTION(cuDeviceGetName);
    __typeof__(cuDeviceTotalMem_v2) *get_total = REAL_FUNCTION(cuDeviceTotalMem_v2);
    CUdevice device;
    if (!get_device || get_device(&device, ordinal) != CUDA_SUCCESS)
        return false;
    if (!get_name || get_name(description->name, sizeof description->name - 1, device) != CUDA_SUCCESS)
        description->name[0] = '\0';
    size_t total = 0;
    if (get_total && get_total(&total, device) == CUDA_SUCCESS)
        description->total_bytes = total;
    return true;
}

int device_info_stream_device(uintptr_t stream, int (*current)(void))
{
    if (stream == 0 || stream == (uintptr_t)CU_STREAM_LEGACY || stream == (uintptr_t)CU_STREAM_PER_THREAD)
        return current();
    __typeof__(cuStreamGetDevice) *get_device = REAL_FUNCTION(cuStreamGetDevice);
    CUdevice device;
    if (!get_device || get_device((CUstream)stream, &device) != CUDA_SUCCESS || device < 0)
        return current();
    return device;
}

int device_info_pointer_device(uint64_t address, int fallback)
{
    __typeof__(cuPointerGetAttribute) *get_attribute = REAL_FUNCTION(cuPointerGetAttribute);
    int device;
    if (!address || !get_attribute ||
        get_attribute(&device, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, (CUdeviceptr)address) != CUDA_SUCCESS || device < 0)
        return fallback;
    return device;
}

/* The first allocation on a device: the driver asked, the trace told. Each thread describes the
 * device into its own copy; the first to claim the device publishes its copy, then sets
 * device_info_described (release), so a reader never sees a name being written (TSan found two
 * threads writing devices[i].name while a third read it). A device the driver cannot describe
 * (no context yet) is asked again next time. */
void device_info_describe(int device)
{
    static bool claimed[RECORDER_MAX_DEVICES];
    struct device_description described = {0};
    if (!describe(device, &described) || __atomic_exchange_n(&claimed[device], true, __ATOMIC_ACQ_REL))
        return;
    struct device_description *description = &devices[device];
    *description = described;
    __atomic_store_n(&device_info_described[device], true, __ATOMIC_RELEASE);
    struct vt_trace_record record = {.type = VT_RECORD_DEVICE};
    record.device.ordinal = (uint32_t)device;
    record.device.name = (struct vt_trace_text){description->name, (uint32_t)strlen(description->name)};
    record.device.total_bytes = description->total_bytes;
    trace_writer_append(&record);
}

const char *device_info_name(int device)
{
    if (device < 0 || device >= RECORDER_MAX_DEVICES || !__atomic_load_n(&device_info_described[device], __ATOMIC_ACQUIRE))
        return "";
    return devices[device].name;
}

uint64_t device_info_total_bytes(int device)
{
    if (device < 0 || device >= RECORDER_MAX_DEVICES || !__atomic_load_n(&device_info_described[device], __ATOMIC_ACQUIRE))
        return 0;
    return devices[device].total_bytes;
}
