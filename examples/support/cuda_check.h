/* examples/support/cuda_check.h — shared by the example and test programs: checking CUDA return
 * codes (print what failed and where, exit 1) and keeping a function visible in backtraces.
 */
#ifndef VT_EXAMPLES_CUDA_CHECK_H
#define VT_EXAMPLES_CUDA_CHECK_H

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

/* A function that must show up as its own frame in a backtrace, whose body is compiled as written:
 * never inlined, cloned or specialised for its callers' constants (callers
 * also avoid tail calls to it, and the programs build with -fno-optimize-sibling-calls). */
#if defined(__clang__)
#define KEEP_FRAME __attribute__((noinline))
#else
#define KEEP_FRAME __attribute__((noipa)) /* no inlining, cloning or constants propagated in */
#endif

static inline void check_runtime(cudaError_t result, const char *call, const char *file, int line)
{
    if (result == cudaSuccess)
        return;
    fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", file, line, call, cudaGetErrorName(result),
            cudaGetErrorString(result));
    exit(1);
}

static inline void check_driver(CUresult result, const char *call, const char *file, int line)
{
    if (result == CUDA_SUCCESS)
        return;
    fprintf(stderr, "%s:%d: %s failed: CUresult %d\n", file, line, call, (int)result);
    exit(1);
}

/* CHECK_CUDA(cudaMalloc(&p, n)); CHECK_CU(cuMemFree(p)); */
#define CHECK_CUDA(call) check_runtime((call), #call, __FILE__, __LINE__)
#define CHECK_CU(call) check_driver((call), #call, __FILE__, __LINE__)

#endif
