/* tests/programs/hold_and_wait.c — `hold_and_wait SECONDS`: allocates 3 x 1 MiB from hold_buffers,
 * says "holding" on stdout (flushed), sleeps SECONDS (so a test can ask for a live dump, or kill it),
 * then frees one buffer and exits 0 (2 MiB leaked). */
#include <unistd.h>

#include "cuda_check.h"

KEEP_FRAME void hold_buffers(void **buffers, int count)
{
    for (int i = 0; i < count; i++)
        CHECK_CUDA(cudaMalloc(&buffers[i], (size_t)1 << 20));
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 5;
    void *buffers[3];
    hold_buffers(buffers, 3);
    printf("holding\n");
    fflush(stdout);
    for (int i = 0; i < seconds * 10; i++)
        usleep(100000);
    CHECK_CUDA(cudaFree(buffers[0]));
    printf("done\n");
    return 0;
}
