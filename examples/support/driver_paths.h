/* examples/support/driver_paths.h — shared by examples/leak_paths.c and tests/programs/driver_paths.c:
 * reach the CUDA driver's allocator the ways real libraries do (cuda-facts.md §1) and leave a
 * known amount of memory allocated through each path.
 */
#ifndef VT_EXAMPLES_DRIVER_PATHS_H
#define VT_EXAMPLES_DRIVER_PATHS_H

#include <stddef.h>

/* CuPy's way: dlopen("libcuda.so.1"), dlsym "cuGetProcAddress_v2", ask it for "cuGetProcAddress"
 * (version 12000) and look up cuInit, the primary context calls, cuMemAlloc (3020) and cuMemFree
 * through the pointer it hands out. Makes `pairs` balanced cuMemAlloc/cuMemFree pairs, then leaks
 * one cuMemAlloc of `leaked_bytes`. */
void leak_through_cupy_path(size_t leaked_bytes, int pairs);

/* JAX/XLA's way: dlsym(handle, "cuMemAlloc_v2") and "cuMemFree_v2" (and the context calls) by
 * name. Same pairs, then leaks one cuMemAlloc_v2 of `leaked_bytes`. */
void leak_through_dlsym_path(size_t leaked_bytes, int pairs);

/* PyTorch's expandable segments: the VMM functions from cudaGetDriverEntryPointByVersion(..., 12000),
 * cuMemCreate first with a fabric handle type (which may fail) and then without it,
 * cuMemAddressReserve of 64 GiB, cuMemMap + cuMemSetAccess per 2 MiB chunk, a chunk mapped and then
 * unmapped and released again, and a second segment reserved, used and freed entirely. Leaves
 * `leaked_chunks` chunks of 2 MiB created and mapped; returns the physical bytes leaked. */
size_t leak_through_expandable_segments(int leaked_chunks);

#define EXPANDABLE_CHUNK_BYTES ((size_t)2 << 20)
#define EXPANDABLE_RESERVATION_BYTES ((size_t)64 << 30)

#endif
