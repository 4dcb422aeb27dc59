/* tests/programs/not_pie.c — a program linked without PIE (like many distributions' python3):
 * its code sits at its link-time addresses and the loader reports it with load address 0. Leaks
 * 1 MiB from grab_weights, so the trace's module map must cover the executable for the frame to
 * be named. */
#include "cuda_check.h"

KEEP_FRAME void grab_weights(void **weights)
{
    CHECK_CUDA(cudaMalloc(weights, (size_t)1 << 20));
}

int main(void)
{
    void *weights;
    grab_weights(&weights);
    printf("not_pie: leaked 1048576 bytes\n");
    return 0;
}
