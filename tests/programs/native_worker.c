/* tests/programs/native_worker.c — a library a Python test loads with ctypes: it allocates device
 * memory from a thread it starts itself, a thread that never ran Python (as NCCL's and XLA's
 * threads do), so that allocation must carry native frames only. */
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stddef.h>

struct request {
    size_t bytes;
    int status;
};

static __attribute__((noinline)) void *native_worker_thread(void *argument)
{
    struct request *request = argument;
    void *pointer = NULL;
    request->status = (int)cudaMalloc(&pointer, request->bytes);
    return NULL;
}

int native_worker_malloc(size_t bytes)
{
    struct request request = {bytes, -1};
    pthread_t thread;
    if (pthread_create(&thread, NULL, native_worker_thread, &request) != 0)
        return -1;
    pthread_join(thread, NULL);
    return request.status;
}
