/* tests/programs/fork_storm.c — `fork_storm WORKERS THREADS [exit-now]`: THREADS threads make
 * cudaMalloc/cudaFree pairs of 1 KiB (one every 20 us or so) while the main thread starts WORKERS children
 * one after another, as a data loader starts its workers: a third of them fork and exit, a third
 * fork and exec /bin/true, a third are started with posix_spawn (/bin/true). Every child must end
 * with status 0 within 20 s (an alarm ends the program otherwise). Then the threads stop and the
 * program keeps one 4 KiB allocation (leaked on purpose) and prints "children ok N" and "pairs P".
 * With "exit-now" the main thread calls exit(0) while the threads are still allocating (no join).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cuda_check.h"

#define MAX_THREADS 64

extern char **environ;

static atomic_bool stop;
static atomic_long pairs;

static void *allocate_and_free(void *unused)
{
    (void)unused;
    while (!atomic_load(&stop)) {
        void *buffer;
        CHECK_CUDA(cudaMalloc(&buffer, 1024));
        CHECK_CUDA(cudaFree(buffer));
        atomic_fetch_add(&pairs, 1);
        usleep(20); /* a steady stream of events, not a flood: the forks are what is tested */
    }
    return NULL;
}

/* Starts worker `index` its way; returns its pid, or -1. */
static pid_t start_worker(int index)
{
    char *const true_argv[] = {"/bin/true", NULL};
    pid_t pid;
    switch (index % 3) {
    case 0: /* fork, touch some memory, exit: a data-loader worker that never uses CUDA */
        pid = fork();
        if (pid == 0) {
            char *scratch = malloc(1 << 16);
            if (scratch)
                memset(scratch, index, 1 << 16);
            free(scratch);
            _exit(0);
        }
        return pid;
    case 1: /* fork and exec */
        pid = fork();
        if (pid == 0) {
            execv(true_argv[0], true_argv);
            _exit(127);
        }
        return pid;
    default: /* posix_spawn */
        return posix_spawn(&pid, true_argv[0], NULL, NULL, true_argv, environ) == 0 ? pid : -1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fork_storm WORKERS THREADS [exit-now]\n");
        return 2;
    }
    int workers = atoi(argv[1]), threads = atoi(argv[2]);
    bool exit_now = argc > 3 && strcmp(argv[3], "exit-now") == 0;
    if (workers < 0 || threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "fork_storm: WORKERS >= 0, 1 <= THREADS <= %d\n", MAX_THREADS);
        return 2;
    }
    alarm(60); /* a child that hangs (a lock held at fork) ends the run instead of the test */
    pthread_t thread[MAX_THREADS];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&thread[i], NULL, allocate_and_free, NULL) != 0) {
            fprintf(stderr, "fork_storm: pthread_create failed\n");
            return 1;
        }
    int ok = 0;
    for (int i = 0; i < workers; i++) {
        pid_t pid = start_worker(i);
        int status;
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            ok++;
        else
            fprintf(stderr, "fork_storm: worker %d (pid %d) did not end well\n", i, (int)pid);
    }
    printf("children ok %d\n", ok);
    fflush(stdout);
    void *kept;
    CHECK_CUDA(cudaMalloc(&kept, 4096));
    if (exit_now)
        exit(ok == workers ? 0 : 1); /* the threads are still allocating */
    atomic_store(&stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(thread[i], NULL);
    printf("pairs %ld\n", atomic_load(&pairs));
    return ok == workers ? 0 : 1;
}
