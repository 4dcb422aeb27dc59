/* tests/programs/driver_paths.c — `driver_paths MODE`: allocates through one of the paths by which
 * real libraries reach the CUDA driver (cuda-facts.md §1) and leaks a known amount:
 *   cupy        cuGetProcAddress_v2 via dlsym -> "cuGetProcAddress" -> cuMemAlloc (3020) / cuMemFree; leaks 1 MiB
 *   jax         dlsym(libcuda, "cuMemAlloc_v2") / "cuMemFree_v2" by name; leaks 2 MiB
 *   expandable  PyTorch expandable segments through cudaGetDriverEntryPointByVersion (12000);
 *               leaves one 2 MiB physical handle created and mapped
 *   runtime     plain cudaMalloc; leaks 4 MiB
 */
#include <string.h>

#include "cuda_check.h"
#include "driver_paths.h"

#define MIB ((size_t)1 << 20)
#define PAIRS 10

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "cupy") == 0) {
        leak_through_cupy_path(1 * MIB, PAIRS);
        printf("driver_paths cupy: %d cuMemAlloc/cuMemFree pairs, leaked 1048576 bytes\n", PAIRS);
    } else if (strcmp(mode, "jax") == 0) {
        leak_through_dlsym_path(2 * MIB, PAIRS);
        printf("driver_paths jax: %d cuMemAlloc_v2/cuMemFree_v2 pairs, leaked 2097152 bytes\n", PAIRS);
    } else if (strcmp(mode, "expandable") == 0) {
        size_t leaked = leak_through_expandable_segments(1);
        printf("driver_paths expandable: leaked %zu bytes of physical memory (1 handle mapped)\n", leaked);
    } else if (strcmp(mode, "runtime") == 0) {
        void *leaked;
        CHECK_CUDA(cudaMalloc(&leaked, 4 * MIB));
        printf("driver_paths runtime: leaked 4194304 bytes\n");
    } else {
        fprintf(stderr, "usage: driver_paths cupy|jax|expandable|runtime\n");
        return 2;
    }
    return 0;
}
