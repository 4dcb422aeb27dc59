/* tests/programs/rank_job.c — a multi-process job on the simulated device, for `vramtrace merge`
 * and `vramtrace dump` of a supervisor (tests/commands/test_merge.c).
 *
 *   rank_job --launch N [--hold SECONDS]   the launcher: starts N ranks as torchrun does (this
 *                                          program again, with RANK, LOCAL_RANK and WORLD_SIZE
 *                                          set), waits for them, exits 0 when they all did; it
 *                                          makes no CUDA call itself
 *   rank_job [--hold SECONDS]              one rank (RANK, LOCAL_RANK, WORLD_SIZE from the
 *                                          environment)
 *
 * Each rank selects device LOCAL_RANK, then:
 *   common_leak:   2 MiB, never freed (the same call site on every rank)
 *   rank 1 only:   rank_one_leak: 3 MiB, never freed; rank_one_spike: 64 MiB allocated and freed
 *                  (the planted imbalance: its peak is 2 + 3 + 64 = 69 MiB)
 *   every rank:    step: 4 MiB allocated and freed (the peak of the other ranks: 2 + 4 = 6 MiB)
 * With --hold it then prints "rank R holding" (flushed) and sleeps SECONDS before exiting, so a
 * test can ask for live dumps. Output: "rank R of W on device D done".
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cuda_check.h"

#define MIB ((size_t)1 << 20)

KEEP_FRAME void *common_leak(void)
{
    void *pointer;
    CHECK_CUDA(cudaMalloc(&pointer, 2 * MIB));
    return pointer;
}

KEEP_FRAME void *rank_one_leak(void)
{
    void *pointer;
    CHECK_CUDA(cudaMalloc(&pointer, 3 * MIB));
    return pointer;
}

KEEP_FRAME void rank_one_spike(void)
{
    void *pointer;
    CHECK_CUDA(cudaMalloc(&pointer, 64 * MIB));
    CHECK_CUDA(cudaFree(pointer));
}

KEEP_FRAME void step(void)
{
    void *pointer;
    CHECK_CUDA(cudaMalloc(&pointer, 4 * MIB));
    CHECK_CUDA(cudaFree(pointer));
}

static int environment_number(const char *name)
{
    const char *value = getenv(name);
    if (!value) {
        fprintf(stderr, "rank_job: %s is not set (start ranks with rank_job --launch N)\n", name);
        exit(2);
    }
    return atoi(value);
}

static int launch(char *self, int ranks, char **rank_arguments)
{
    pid_t pids[64];
    if (ranks < 1 || ranks > 64) {
        fprintf(stderr, "rank_job: --launch takes 1 to 64 ranks\n");
        return 2;
    }
    for (int rank = 0; rank < ranks; rank++) {
        char text[16];
        pids[rank] = fork();
        if (pids[rank] < 0) {
            perror("rank_job: fork");
            return 1;
        }
        if (pids[rank] == 0) {
            snprintf(text, sizeof text, "%d", rank);
            setenv("RANK", text, 1);
            setenv("LOCAL_RANK", text, 1);
            snprintf(text, sizeof text, "%d", ranks);
            setenv("WORLD_SIZE", text, 1);
            rank_arguments[0] = self;
            execv("/proc/self/exe", rank_arguments);
            perror("rank_job: exec");
            _exit(127);
        }
    }
    int failed = 0;
    for (int rank = 0; rank < ranks; rank++) {
        int status;
        if (waitpid(pids[rank], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
    }
    if (failed)
        fprintf(stderr, "rank_job: %d rank(s) failed\n", failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--launch") == 0)
        return launch(argv[0], atoi(argv[2]), argv + 2); /* the ranks get argv[3...] */
    int hold = argc > 2 && strcmp(argv[1], "--hold") == 0 ? atoi(argv[2]) : 0;
    int rank = environment_number("RANK"), local_rank = environment_number("LOCAL_RANK");
    int world_size = environment_number("WORLD_SIZE");
    CHECK_CUDA(cudaSetDevice(local_rank));
    void *leaked = common_leak();
    void *rank_one = rank == 1 ? rank_one_leak() : NULL;
    if (rank == 1)
        rank_one_spike();
    step();
    if (hold) {
        printf("rank %d holding\n", rank);
        fflush(stdout);
        for (int i = 0; i < hold * 10; i++)
            usleep(100000);
    }
    printf("rank %d of %d on device %d done\n", rank, world_size, local_rank);
    (void)leaked;
    (void)rank_one;
    return 0;
}
