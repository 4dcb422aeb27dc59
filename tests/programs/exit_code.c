/* tests/programs/exit_code.c — `exit_code CODE`: leaks 1 MiB through cudaMalloc, writes one line to
 * stdout and one to stderr, and exits with CODE (to check that a tracer keeps a program's exit
 * status and output).
 */
#include <stdlib.h>

#include "cuda_check.h"

int main(int argc, char **argv)
{
    int code = argc > 1 ? atoi(argv[1]) : 0;
    void *leaked;
    CHECK_CUDA(cudaMalloc(&leaked, (size_t)1 << 20));
    printf("stdout line\n");
    fprintf(stderr, "stderr line\n");
    fflush(NULL);
    return code;
}
