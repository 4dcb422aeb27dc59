/* tests/programs/fork_child.c — the parent leaks 1 MiB through cudaMalloc, then forks; the child
 * allocates 2 MiB (on a real GPU CUDA refuses to work in a forked child, and the child ignores the
 * result) and ends with exit(), running its destructors. The parent waits and exits 0. A tracer
 * must report the parent's 1 MiB only, and the child must neither print a report nor touch the
 * parent's files. */
#include <sys/wait.h>
#include <unistd.h>

#include "cuda_check.h"

int main(void)
{
    void *parent_buffer;
    CHECK_CUDA(cudaMalloc(&parent_buffer, (size_t)1 << 20));
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        void *child_buffer;
        (void)cudaMalloc(&child_buffer, (size_t)2 << 20);
        exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("fork_child: child exited with %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
