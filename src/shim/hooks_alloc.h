/* shim/hooks_alloc.h — the one definition of an allocating wrapper, DEFINE_ALLOC_WRAPPER, which
 * hooks_runtime.c and hooks_driver.c use for every function that obtains memory (device, managed,
 * pinned host, cuMemCreate physical memory), so that what every allocation does is written once:
 *
 *   1. pass straight through when nested or not recording (hook_begin);
 *   2. under --limit only (one predictable branch otherwise): find the device the memory will
 *      belong to and reserve the request against the limit (recorder_limit_reserve); a request that
 *      does not fit is refused with the API's own out-of-memory error, the real function not called
 *      (the runtime's last error set as a real failure sets it);
 *   3. call the real function;
 *   4. settle (alloc_call_finish): a success is recorded on the memory's device, the reservation
 *      committed with it in one step, and, once contexts were created with cuCtxCreate (one
 *      predictable branch otherwise), with the context that owns it (alloc_owned_by_context); an
 *      out-of-memory failure (real or refused) is captured as one (oom_capture); any other error
 *      records nothing; a reservation not committed is given back.
 *
 * Which device memory belongs to (docs/architecture.md): the host for pinned memory; the device a
 * cuMemCreate names; the stream's device for stream-ordered calls; for pool allocations the memory's
 * own device (known after the call: the reservation is on the stream's device and moves to the
 * memory's device as it is committed); else the current device (runtime) or context's (driver).
 */
#ifndef VT_SHIM_HOOKS_ALLOC_H
#define VT_SHIM_HOOKS_ALLOC_H

#include <limits.h>
#include <stdint.h>

#include "shim/device_info.h"
#include "shim/hook_registry.h"
#include "shim/hooks.h"
#include "shim/oom_capture.h"
#include "shim/real_functions.h"
#include "shim/shim_log.h"
#include "shim/shim_state.h"

/* The two layers: what their calls return, and how the current device is asked. */
#define ALLOC_LAYER_RUNTIME_STATUS cudaError_t
#define ALLOC_LAYER_RUNTIME_SUCCESS cudaSuccess
#define ALLOC_LAYER_RUNTIME_OUT_OF_MEMORY cudaErrorMemoryAllocation
#define ALLOC_LAYER_RUNTIME_MISSING cudaErrorInitializationError
#define ALLOC_LAYER_RUNTIME_CURRENT_DEVICE runtime_current_device
#define ALLOC_LAYER_RUNTIME_REFUSED runtime_set_last_error_out_of_memory
#define ALLOC_LAYER_RUNTIME_NO_GPU(status) ((status) == cudaErrorInsufficientDriver || (status) == cudaErrorNoDevice)
#define ALLOC_LAYER_DRIVER_STATUS CUresult
#define ALLOC_LAYER_DRIVER_SUCCESS CUDA_SUCCESS
#define ALLOC_LAYER_DRIVER_OUT_OF_MEMORY CUDA_ERROR_OUT_OF_MEMORY
#define ALLOC_LAYER_DRIVER_MISSING CUDA_ERROR_NOT_INITIALIZED
#define ALLOC_LAYER_DRIVER_CURRENT_DEVICE driver_current_device
#define ALLOC_LAYER_DRIVER_REFUSED driver_refused /* the driver keeps no last error */
#define ALLOC_LAYER_DRIVER_NO_GPU(status) ((status) == CUDA_ERROR_NO_DEVICE)

/* An allocation failed because this machine has no usable driver or GPU: a program that then
 * gives up would end with nothing from vramtrace to say why; say it once, and what to do. */
static __attribute__((noinline, cold, unused)) void alloc_no_gpu(enum vt_api api, int status)
{
    static bool said;
    shim_log_once(&said, "%s failed with error %d: this machine has no usable NVIDIA driver or GPU; to run the "
                         "program on vramtrace's simulated device instead: vramtrace run --simulate PROGRAM "
                         "(docs/simulated-device.md)", vt_api_name(api), status);
}

/* The runtime's current device (0 when it cannot say). */
static inline int runtime_current_device(void)
{
    int device = 0;
    __typeof__(cudaGetDevice) *get_device = REAL_FUNCTION(cudaGetDevice);
    if (!get_device || get_device(&device) != cudaSuccess)
        return 0;
    return device;
}

/* The current context's device (0 when there is none). */
static inline int driver_current_device(void)
{
    CUdevice device = 0;
    __typeof__(cuCtxGetDevice) *get_device = REAL_FUNCTION(cuCtxGetDevice);
    if (!get_device || get_device(&device) != CUDA_SUCCESS)
        return 0;
    return device;
}

/* A runtime call refused under --limit leaves the runtime's last error as a real failure does:
 * cudaGetLastError() returns cudaErrorMemoryAllocation once, then cudaSuccess. The shim cannot set
 * it but by a real failure: a cudaMalloc of SIZE_MAX, which fails at once without touching the
 * context (measured on an H200: cudaErrorMemoryAllocation, the last error set once, the next
 * cudaMalloc succeeds). Made with the reentry guard held, so it is no event. */
static __attribute__((noinline, unused)) void runtime_set_last_error_out_of_memory(void)
{
    __typeof__(cudaMalloc) *real_malloc = (__typeof__(cudaMalloc) *)hook_real(HOOK_cudaMalloc);
    __typeof__(cudaFree) *real_free = (__typeof__(cudaFree) *)hook_real(HOOK_cudaFree);
    void *never = NULL;
    if (real_malloc && real_malloc(&never, SIZE_MAX) == cudaSuccess && never && real_free)
        real_free(never);
}

static inline void driver_refused(void)
{
}

/* The current context (0 when there is none). */
static inline uint64_t driver_current_context(void)
{
    CUcontext context = NULL;
    __typeof__(cuCtxGetCurrent) *get_current = REAL_FUNCTION(cuCtxGetCurrent);
    if (!get_current || get_current(&context) != CUDA_SUCCESS)
        return 0;
    return (uint64_t)(uintptr_t)context;
}

/* Whether memory obtained through `api` belongs to the context current at the call, so that
 * cuCtxDestroy of that context frees it: CUDA's list for cuCtxDestroy (cuMemAlloc, cuMemAllocHost,
 * cuMemAllocManaged, cuMemAllocPitch; not cuMemCreate, cuMemAllocAsync, cuMemAllocFromPoolAsync)
 * and the runtime's equivalents (docs/architecture.md, "Device resets"). */
static inline bool alloc_owned_by_context(enum vt_api api)
{
    switch (api) {
    case VT_API_cuMemAlloc:
    case VT_API_cuMemAllocPitch:
    case VT_API_cuMemAllocManaged:
    case VT_API_cuMemAllocHost:
    case VT_API_cudaMalloc:
    case VT_API_cudaMallocPitch:
    case VT_API_cudaMallocManaged:
    case VT_API_cudaMallocHost:
        return true;
    default:
        return false;
    }
}

/* Where the memory belongs (above): the host for pinned memory whatever the owner. */
enum alloc_owner {
    OWNER_CURRENT, /* the current device */
    OWNER_STREAM,  /* the stream's device */
    OWNER_POOL,    /* the memory's own device (the stream's when nothing was allocated) */
    OWNER_GIVEN,   /* the device the wrapper names before the call (cuMemCreate's location) */
};

#define ALLOC_DEVICE_LATER INT_MIN /* not asked yet */

struct alloc_call {
    enum vt_api api;
    enum vt_memory_kind kind;
    enum alloc_owner owner;
    uintptr_t stream;
    int device;              /* ALLOC_DEVICE_LATER until asked (OWNER_GIVEN: given) */
    uint64_t reserved_bytes; /* reserved against --limit on `device`; 0: none */
    uint64_t in_use_bytes;   /* when refused: the device's use plus reservations then */
};

enum alloc_outcome { ALLOC_SUCCEEDED, ALLOC_OUT_OF_MEMORY, ALLOC_REFUSED_AT_LIMIT, ALLOC_OTHER_ERROR };

static inline __attribute__((always_inline)) int alloc_call_device(struct alloc_call *call,
                                                                  int (*current_device)(void))
{
    if (call->device != ALLOC_DEVICE_LATER)
        return call->device;
    if (call->kind == VT_KIND_HOST_PINNED)
        call->device = RECORDER_DEVICE_HOST;
    else if (call->owner == OWNER_CURRENT)
        call->device = current_device();
    else
        call->device = device_info_stream_device(call->stream, current_device);
    return call->device;
}

/* Step 2 (under --limit): false when `request_bytes` does not fit on the memory's device. Pinned
 * host memory, devices without a slot of their own and zero-byte requests are never limited. */
static __attribute__((noinline, unused)) bool alloc_limit_reserve(struct alloc_call *call, uint64_t request_bytes,
                                                              int (*current_device)(void))
{
    int device = alloc_call_device(call, current_device);
    if (request_bytes == 0 || !recorder_limit_applies(device))
        return true;
    if (!recorder_limit_reserve(device, request_bytes, &call->in_use_bytes))
        return false;
    call->reserved_bytes = request_bytes;
    return true;
}

/* Step 4's rare path (out of line, its arguments as recorder_record_alloc's were: the common path
 * keeps its registers): a success with a reservation under --limit, or once contexts were created
 * with cuCtxCreate (recorder.h), when the context current now is asked for, for the kinds a context
 * owns. */
static __attribute__((noinline, unused)) void alloc_record_rare(enum vt_api api, enum vt_memory_kind kind, int device,
                                                                uint64_t address, uint64_t size_bytes, uintptr_t stream,
                                                                int reserved_device, uint64_t reserved_bytes)
{
    struct recorder_alloc_extra extra = {reserved_device, reserved_bytes, 0};
    if (recorder_contexts_exist() && alloc_owned_by_context(api))
        extra.context = driver_current_context();
    recorder_record_alloc_with(api, kind, device, address, size_bytes, stream, &extra);
}

/* Step 4. `address` is the result (a pointer, or a cuMemCreate handle) when the call succeeded;
 * `size_bytes` what was obtained (or requested, when it failed). */
static inline __attribute__((always_inline)) void alloc_call_finish(struct alloc_call *call, enum alloc_outcome outcome,
                                                                   uint64_t address, uint64_t size_bytes,
                                                                   int (*current_device)(void))
{
    if (outcome == ALLOC_OTHER_ERROR) { /* allocates nothing, and is not out of memory */
        if (call->reserved_bytes)
            recorder_limit_release(call->device, call->reserved_bytes);
        return;
    }
    int device = alloc_call_device(call, current_device);
    if (call->owner == OWNER_POOL && outcome == ALLOC_SUCCEEDED)
        device = device_info_pointer_device(address, device);
    device_info_note(device);
    if (outcome == ALLOC_SUCCEEDED) {
        if (__builtin_expect(call->reserved_bytes != 0, 0) || recorder_contexts_exist()) {
            alloc_record_rare(call->api, call->kind, device, address, size_bytes, call->stream, call->device,
                              call->reserved_bytes);
        } else {
            recorder_record_alloc(call->api, call->kind, device, address, size_bytes, call->stream);
        }
    } else if (outcome == ALLOC_REFUSED_AT_LIMIT) {
        oom_capture_at_limit(call->api, call->kind, device, size_bytes, call->in_use_bytes);
    } else {
        if (call->reserved_bytes)
            recorder_limit_release(call->device, call->reserved_bytes);
        oom_capture(call->api, call->kind, device, size_bytes);
    }
}

/* The result of a call that stores it through `pointer` (may be NULL), as a key. */
#define ALLOC_RESULT(pointer) ((pointer) ? (uint64_t)(uintptr_t) * (pointer) : 0)

/* Defines shim_wrapper_<id>, exported as `exported`, for an allocating function of `layer` (RUNTIME
 * or DRIVER): `params` and `args` its parameter list and the same names as arguments; `kind` the
 * memory it records (under HOOK_API(id), the API SHIM_HOOK_LIST names); `owner` and `device`
 * (ALLOC_DEVICE_LATER, or the device for OWNER_GIVEN) where the memory belongs; `stream` its stream (0 when not stream-ordered); `request` the bytes
 * asked for, known before the call; `address` the result, read after a success; `size` the bytes
 * obtained, read after the call (`status` is the call's status). */
#define DEFINE_ALLOC_WRAPPER(layer, id, exported, kind, owner, device, stream, params, args, request, address, size) \
    ALLOC_LAYER_##layer##_STATUS shim_wrapper_##id params                                                         \
    {                                                                                                             \
        REAL_OR_RETURN(id, ALLOC_LAYER_##layer##_MISSING);                                                        \
        if (!hook_begin())                                                                                        \
            return real args;                                                                                     \
        struct alloc_call call = {HOOK_API(id), kind, owner, (uintptr_t)(stream), device, 0, 0};                  \
        ALLOC_LAYER_##layer##_STATUS status;                                                                      \
        enum alloc_outcome outcome;                                                                               \
        if (recorder_limit_is_set() &&                                                                            \
            !alloc_limit_reserve(&call, (request), ALLOC_LAYER_##layer##_CURRENT_DEVICE)) {                       \
            status = ALLOC_LAYER_##layer##_OUT_OF_MEMORY;                                                         \
            outcome = ALLOC_REFUSED_AT_LIMIT;                                                                     \
            ALLOC_LAYER_##layer##_REFUSED();                                                                      \
        } else {                                                                                                  \
            status = real args;                                                                                   \
            outcome = status == ALLOC_LAYER_##layer##_SUCCESS         ? ALLOC_SUCCEEDED                           \
                      : status == ALLOC_LAYER_##layer##_OUT_OF_MEMORY ? ALLOC_OUT_OF_MEMORY                       \
                                                                      : ALLOC_OTHER_ERROR;                        \
            if (__builtin_expect(ALLOC_LAYER_##layer##_NO_GPU(status), 0))                                        \
                alloc_no_gpu(call.api, (int)status);                                                              \
        }                                                                                                         \
        alloc_call_finish(&call, outcome, outcome == ALLOC_SUCCEEDED ? (uint64_t)(address) : 0, (size),          \
                          ALLOC_LAYER_##layer##_CURRENT_DEVICE);                                                  \
        hook_end();                                                                                               \
        return status;                                                                                            \
    }                                                                                                             \
    SHIM_EXPORT(id, exported)

#endif
