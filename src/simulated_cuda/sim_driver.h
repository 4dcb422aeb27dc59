/* simulated_cuda/sim_driver.h — the internal interface shared by the files of the stand-in driver
 * (libcuda.so.1): device configuration and capacity accounting, contexts and streams, the table of
 * live allocations and the allocation helpers the entry points are built from.
 *
 * Every driver file includes this header first. It compiles cuda.h with __CUDA_API_VERSION_INTERNAL,
 * as NVIDIA's own driver is built, so the header declares every ABI version of each entry point
 * (cuMemAlloc = the 32-bit legacy function, cuMemAlloc_v2 = the 64-bit one, cuMemAllocAsync and
 * cuMemAllocAsync_ptsz, the 4-argument cuGetProcAddress next to cuGetProcAddress_v2, ...) and the
 * compiler checks each definition against NVIDIA's declaration.
 */
#ifndef VT_SIM_DRIVER_H
#define VT_SIM_DRIVER_H

#ifdef CUDA_VERSION
#error "include simulated_cuda/sim_driver.h before cuda.h"
#endif
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#define SIM_DRIVER_VERSION 13000
/* Granularity of the virtual-memory family and of mappings (what an H100 reports). */
#define SIM_VMM_GRANULARITY (2ULL << 20)

/* ---- configuration and capacity (device_capacity.c) ---------------------------------------- */

/* Number of simulated devices (VRAMTRACE_SIMULATE_DEVICES, read once). */
int sim_device_count(void);
bool sim_device_valid(CUdevice device);
/* Bytes of memory per device (VRAMTRACE_SIMULATE, read once). */
uint64_t sim_device_capacity(void);
uint64_t sim_device_used(int device);
/* Counts `bytes` against `device`; CUDA_ERROR_OUT_OF_MEMORY when they do not fit. */
CUresult sim_capacity_reserve(int device, uint64_t bytes);
void sim_capacity_release(int device, uint64_t bytes);

/* ---- contexts and streams (driver_context.c) --------------------------------------------- */

/* One primary context per device, and the contexts cuCtxCreate made (until cuCtxDestroy). */
struct CUctx_st {
    int device;
    int retain_count;         /* primary contexts; guarded by the context lock in driver_context.c */
    struct CUctx_st *next;    /* created contexts: the list of live ones (same lock) */
};

#define SIM_STREAM_MAGIC 0x5354524dU /* "STRM" */
struct CUstream_st {
    uint32_t magic;
    int device;
    unsigned int flags;
};

/* The device of this thread's current context; device 0 when no context is current (the
 * simulation is lenient here: the real driver would answer CUDA_ERROR_INVALID_CONTEXT). */
int sim_current_device(void);
/* This thread's current context when it is one cuCtxCreate made, else NULL: the owner of the
 * memory cuMemAlloc, cuMemAllocPitch, cuMemAllocManaged and cuMemAllocHost obtain now. */
CUcontext sim_created_context_current(void);
/* The device a stream belongs to; NULL, CU_STREAM_LEGACY and CU_STREAM_PER_THREAD mean the
 * current device. CUDA_ERROR_INVALID_HANDLE for something that is not a live stream. */
CUresult sim_stream_device(CUstream stream, int *device);

/* ---- live allocations (allocation_table.c) ----------------------------------------------- */

enum sim_memory_kind {
    SIM_MEMORY_DEVICE = 1 << 0,      /* cuMemAlloc, cuMemAllocPitch, stream-ordered allocations */
    SIM_MEMORY_MANAGED = 1 << 1,     /* cuMemAllocManaged */
    SIM_MEMORY_HOST_PINNED = 1 << 2, /* cuMemHostAlloc, cuMemAllocHost: not counted against a device */
};

struct sim_allocation {
    uint64_t address;
    uint64_t size; /* bytes requested: what is counted against the device */
    int device;    /* -1 for host-pinned memory */
    enum sim_memory_kind kind;
    CUcontext owner; /* the created context whose cuCtxDestroy frees it; NULL: none (primary) */
    UT_hash_handle hh;
};

void sim_allocations_add(struct sim_allocation *allocation);
/* Removes and returns the allocation at `address` when its kind is one of `kinds` (a mask);
 * NULL (and the table unchanged) when there is none. */
struct sim_allocation *sim_allocations_take(uint64_t address, unsigned int kinds);
/* The device (-1 for host-pinned) and kind of the allocation that starts at `address`; false when
 * there is none. */
bool sim_allocations_lookup(uint64_t address, int *device, enum sim_memory_kind *kind);
/* Removes every allocation of `kinds` owned by `owner` and hands each to `release`: with `owner`
 * NULL those on `device` that no created context owns, else the context's own (any device). */
void sim_allocations_take_all(int device, CUcontext owner, unsigned int kinds,
                              void (*release)(struct sim_allocation *));

/* ---- allocation helpers (driver_memory.c) ------------------------------------------------ */

/* Obtains `bytes` of (lazily committed) host memory standing in for memory of `kind`, counts it
 * against `device` unless it is host-pinned, and records it as `owner`'s (NULL: no created
 * context's). */
CUresult sim_allocate(enum sim_memory_kind kind, int device, CUcontext owner, size_t bytes, CUdeviceptr *address);
/* Frees an allocation made by sim_allocate whose kind is one of `kinds`; 0 is a no-op success,
 * any other address that is not such a live allocation CUDA_ERROR_INVALID_VALUE. */
CUresult sim_free(CUdeviceptr address, unsigned int kinds);
/* Frees every device and managed allocation on `device` that no created context owns (primary
 * context reset). */
void sim_free_all_on_device(int device);
/* Frees every allocation `context` (a created one) owns (cuCtxDestroy). */
void sim_free_all_of_context(CUcontext context);

#endif
