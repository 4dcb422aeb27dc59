/* tests/programs/c10_user.c — `c10_user LIBC10_CUDA`: a C program without Python that allocates
 * through the stand-in's libc10_cuda.so (dlopen()ed from the path given), as a libtorch C++
 * program allocates through PyTorch's. The shim's PyTorch trigger sees the allocator's frames, but
 * with no interpreter in the process it must do nothing: no message, no thread of its own. Prints
 * "allocated" and, after a pause, the number of threads in the process. */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

static int count_threads(void)
{
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks)
        return -1;
    int count = 0;
    for (struct dirent *entry; (entry = readdir(tasks));)
        count += entry->d_name[0] != '.';
    closedir(tasks);
    return count;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        fprintf(stderr, "c10_user: %s\n", dlerror());
        return 1;
    }
    int (*c10_malloc)(int, size_t, void **) = (int (*)(int, size_t, void **))dlsym(library, "c10_cuda_malloc");
    int (*c10_free)(int, void *) = (int (*)(int, void *))dlsym(library, "c10_cuda_free");
    void *segment = NULL, *second = NULL;
    if (!c10_malloc || !c10_free || c10_malloc(0, (size_t)2 << 20, &segment) != 0 ||
        c10_malloc(0, (size_t)20 << 20, &second) != 0) {
        fprintf(stderr, "c10_user: allocation failed\n");
        return 1;
    }
    printf("allocated\n");
    usleep(200000);
    printf("threads: %d\n", count_threads());
    c10_free(0, second);
    c10_free(0, segment);
    return 0;
}
