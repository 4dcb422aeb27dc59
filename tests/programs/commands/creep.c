/* tests/programs/commands/creep.c — `creep STEPS`: memory that creeps up a little every step, the
 * case `vramtrace diff` is for. Each step:
 *   leak_a_little():  1 MiB through cudaMalloc, never freed
 *   steady_work():    frees the two buffers of the previous step and holds two new ones
 *                     (4 MiB and 512 KiB, cudaMalloc): the same live memory after every step
 * then sleeps 30 ms. At exit it frees steady_work's buffers: STEPS MiB leaked in STEPS allocations.
 */
#include <unistd.h>

#include "cuda_check.h"

#define MIB ((size_t)1 << 20)
#define MAX_STEPS 1000
#define STEP_PAUSE_US 30000

KEEP_FRAME void *leak_a_little(void)
{
    void *buffer = NULL;
    CHECK_CUDA(cudaMalloc(&buffer, MIB));
    return buffer;
}

KEEP_FRAME void steady_work(void *held[2])
{
    for (int i = 0; i < 2; i++)
        if (held[i])
            CHECK_CUDA(cudaFree(held[i]));
    CHECK_CUDA(cudaMalloc(&held[0], 4 * MIB));
    CHECK_CUDA(cudaMalloc(&held[1], MIB / 2));
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 3;
    if (steps < 1 || steps > MAX_STEPS) {
        fprintf(stderr, "usage: creep STEPS (1 to %d)\n", MAX_STEPS);
        return 2;
    }
    static void *leaked[MAX_STEPS];
    void *held[2] = {NULL, NULL};
    for (int step = 0; step < steps; step++) {
        leaked[step] = leak_a_little();
        steady_work(held);
        usleep(STEP_PAUSE_US);
    }
    CHECK_CUDA(cudaFree(held[0]));
    CHECK_CUDA(cudaFree(held[1]));
    printf("creep: %d step(s), %d MiB leaked from leak_a_little\n", steps, leaked[steps - 1] ? steps : 0);
    return 0;
}
