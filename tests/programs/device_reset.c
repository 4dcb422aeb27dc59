/* tests/programs/device_reset.c — a reset frees everything of its device (issue 9, point 4). Needs
 * two devices. Holds 16 MiB of device memory and 1 MiB of managed memory on device 0 and 8 MiB on
 * device 1, resets device 0, then allocates 2 MiB on device 0 and leaks what is left:
 *   `device_reset runtime`: the reset is cudaDeviceReset (device 0 current);
 *   `device_reset driver`: the reset is cuDevicePrimaryCtxReset_v2(0), looked up with
 *     cuGetProcAddress, while device 1 is current.
 */
#include <cudaTypedefs.h>
#include <stdbool.h>
#include <string.h>

#include "cuda_check.h"

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "runtime") != 0 && strcmp(argv[1], "driver") != 0)) {
        fprintf(stderr, "usage: device_reset runtime|driver\n");
        return 2;
    }
    bool driver = strcmp(argv[1], "driver") == 0;
    void *device0, *managed0, *device1, *after;
    CHECK_CUDA(cudaSetDevice(0));
    CHECK_CUDA(cudaMalloc(&device0, 16 << 20));
    CHECK_CUDA(cudaMallocManaged(&managed0, 1 << 20, cudaMemAttachGlobal));
    CHECK_CUDA(cudaSetDevice(1));
    CHECK_CUDA(cudaMalloc(&device1, 8 << 20));
    if (driver) {
        PFN_cuDevicePrimaryCtxReset_v11000 reset = NULL;
        enum cudaDriverEntryPointQueryResult found;
        CHECK_CUDA(cudaGetDriverEntryPointByVersion("cuDevicePrimaryCtxReset", (void **)&reset, 11000,
                                                    cudaEnableDefault, &found));
        if (!reset || reset(0) != CUDA_SUCCESS) {
            fprintf(stderr, "device_reset: cuDevicePrimaryCtxReset failed\n");
            return 1;
        }
        CHECK_CUDA(cudaSetDevice(0));
    } else {
        CHECK_CUDA(cudaSetDevice(0));
        CHECK_CUDA(cudaDeviceReset());
    }
    CHECK_CUDA(cudaMalloc(&after, 2 << 20));
    printf("device_reset: done\n");
    return 0;
}
