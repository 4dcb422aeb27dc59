/* tests/programs/thread_stress.c — `thread_stress THREADS PAIRS [KEPT]`: THREADS threads each make
 * PAIRS cudaMalloc/cudaFree pairs of 256 * (1 + i % 16) bytes, all freed, and, spread among them,
 * KEPT allocations of 4096 bytes never freed (0 by default). Prints the bytes allocated.
 */
#include <pthread.h>
#include <stdlib.h>

#include "cuda_check.h"

#define MAX_THREADS 1024

static long pairs_per_thread, kept_per_thread;

static void *allocate_and_free(void *unused)
{
    (void)unused;
    long kept = 0;
    for (long i = 0; i < pairs_per_thread; i++) {
        void *buffer;
        CHECK_CUDA(cudaMalloc(&buffer, 256 * (size_t)(1 + i % 16)));
        if (kept < kept_per_thread && i % (pairs_per_thread / kept_per_thread) == 0) {
            void *leaked;
            CHECK_CUDA(cudaMalloc(&leaked, 4096));
            kept++;
        }
        CHECK_CUDA(cudaFree(buffer));
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: thread_stress THREADS PAIRS [KEPT]\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    pairs_per_thread = atol(argv[2]);
    kept_per_thread = argc == 4 ? atol(argv[3]) : 0;
    if (threads < 1 || threads > MAX_THREADS || pairs_per_thread < 0 || kept_per_thread < 0 ||
        kept_per_thread > pairs_per_thread) {
        fprintf(stderr, "thread_stress: THREADS must be 1 to %d, PAIRS not negative, KEPT 0 to PAIRS\n", MAX_THREADS);
        return 2;
    }
    pthread_t workers[MAX_THREADS];
    for (int t = 0; t < threads; t++)
        if (pthread_create(&workers[t], NULL, allocate_and_free, NULL) != 0) {
            fprintf(stderr, "thread_stress: pthread_create failed\n");
            return 1;
        }
    for (int t = 0; t < threads; t++)
        pthread_join(workers[t], NULL);

    unsigned long long bytes_per_thread = 0;
    for (long i = 0; i < pairs_per_thread; i++)
        bytes_per_thread += 256 * (unsigned long long)(1 + i % 16);
    printf("thread_stress: %d threads x %ld pairs, %llu bytes allocated and freed, %ld allocation(s) kept\n", threads,
           pairs_per_thread, bytes_per_thread * (unsigned long long)threads, kept_per_thread * threads);
    return 0;
}
