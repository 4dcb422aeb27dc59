/* vramtrace/events.h — the vocabulary shared by the recorder (inside the traced process) and the
 * CLI: kinds of memory, the allocation APIs that are intercepted, and what an event says.
 *
 * The numeric values are part of the trace format: append new entries at the end, never reorder.
 */
#ifndef VRAMTRACE_EVENTS_H
#define VRAMTRACE_EVENTS_H

#include <stdint.h>

/* Which memory an allocation uses. Reports and counters are kept per device and per kind. */
enum vt_memory_kind {
    VT_KIND_DEVICE = 0,        /* GPU memory: cudaMalloc, cuMemAlloc, pools, VMM physical memory */
    VT_KIND_HOST_PINNED = 1,   /* page-locked host memory: cudaHostAlloc, cuMemHostAlloc */
    VT_KIND_MANAGED = 2,       /* unified memory: cudaMallocManaged, cuMemAllocManaged */
    VT_KIND_ADDRESS_SPACE = 3, /* reserved virtual address ranges: recorded, never counted as use */
    VT_KIND_MAPPED_RANGE = 4,  /* where physical memory (cuMemCreate) is mapped: placement, not use */
    VT_KIND_COUNT
};

/* Every intercepted entry point. X(name, layer) with layer R = runtime, D = driver. */
#define VT_API_LIST(X)                 \
    X(cudaMalloc, R)                   \
    X(cudaFree, R)                     \
    X(cudaMallocAsync, R)              \
    X(cudaFreeAsync, R)                \
    X(cudaMallocHost, R)               \
    X(cudaHostAlloc, R)                \
    X(cudaFreeHost, R)                 \
    X(cudaMallocManaged, R)            \
    X(cudaMallocPitch, R)              \
    X(cudaMallocFromPoolAsync, R)      \
    X(cuMemAlloc, D)                   \
    X(cuMemAllocPitch, D)              \
    X(cuMemFree, D)                    \
    X(cuMemAllocAsync, D)              \
    X(cuMemAllocFromPoolAsync, D)      \
    X(cuMemFreeAsync, D)               \
    X(cuMemAllocManaged, D)            \
    X(cuMemHostAlloc, D)               \
    X(cuMemAllocHost, D)               \
    X(cuMemFreeHost, D)                \
    X(cuMemCreate, D)                  \
    X(cuMemRelease, D)                 \
    X(cuMemMap, D)                     \
    X(cuMemUnmap, D)                   \
    X(cuMemAddressReserve, D)          \
    X(cuMemAddressFree, D)             \
    X(cudaDeviceReset, R)              \
    X(cuDevicePrimaryCtxReset, D)      \
    X(cuCtxDestroy, D)

enum vt_api {
#define VT_API_ENUM(name, layer) VT_API_##name,
    VT_API_LIST(VT_API_ENUM)
#undef VT_API_ENUM
    VT_API_COUNT
};

/* A reset frees what a context owns without a free call per allocation: a device reset
 * (cudaDeviceReset, cuDevicePrimaryCtxReset[_v2]) the device and managed memory of its device's
 * primary context, a cuCtxDestroy of a context created with cuCtxCreate that context's memory
 * (docs/architecture.md, "Device resets"). In the trace it is one FREE_UNKNOWN record of address 0
 * (the call, on the reset device; not a free of an unknown address), then one FREE record per
 * allocation freed, all with the reset's API and time. The call is counted once, at that first
 * record. */
static inline int vt_api_is_reset(unsigned api)
{
    return api == VT_API_cudaDeviceReset || api == VT_API_cuDevicePrimaryCtxReset || api == VT_API_cuCtxDestroy;
}

/* What happened. */
enum vt_event_op {
    VT_OP_ALLOC = 0,        /* memory (or address space) was obtained */
    VT_OP_FREE = 1,         /* a known allocation was released */
    VT_OP_FREE_UNKNOWN = 2, /* a free of an address the recorder never saw allocated */
    VT_OP_OOM = 3,          /* an allocation failed with out-of-memory */
    VT_OP_COUNT
};

/* One intercepted call, as the recorder stores it and the trace (later) carries it. */
struct vt_event {
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC */
    uint64_t address;
    uint64_t size_bytes;
    uint64_t stream;       /* 0 = legacy default stream or not stream-ordered */
    uint32_t stack_id;     /* 0 = no stack captured */
    uint32_t thread_id;    /* kernel thread id */
    int16_t device;        /* CUDA ordinal, -1 for host memory not tied to a device */
    uint8_t kind;          /* enum vt_memory_kind */
    uint8_t op;            /* enum vt_event_op */
    uint16_t api;          /* enum vt_api */
    uint16_t reserved;
    int32_t result;        /* CUDA status the call returned */
};

const char *vt_api_name(enum vt_api api);
const char *vt_memory_kind_name(enum vt_memory_kind kind);

#endif
