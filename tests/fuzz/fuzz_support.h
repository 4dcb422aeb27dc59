/* tests/fuzz/fuzz_support.h — what the fuzz harnesses share: the libFuzzer entry point's
 * declaration, and bytes turned into a file the trace reader can open (an anonymous memfd named
 * through /proc/self/fd, so a harness never writes to the file system). */
#ifndef VT_TESTS_FUZZ_SUPPORT_H
#define VT_TESTS_FUZZ_SUPPORT_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A regular file holding data[0..size) and its /proc/self/fd path; returns the fd (close it when
 * done), or -1. */
static inline int fuzz_memory_file(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("vramtrace-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t written = 0;
    while (written < size) {
        ssize_t n = write(fd, data + written, size - written);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        written += (size_t)n;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
