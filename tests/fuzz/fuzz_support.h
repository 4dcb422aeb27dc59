/* tests/fuzz/fuzz_support.h — what the fuzz harnesses share: the libFuzzer entry point's
 * declaration, and bytes turned into a file the trace reader can open (an anonymous memfd named
 * through /proc/self/fd, so a harness never writes to the file system). */
#ifndef VT_TESTS_FUZZ_SUPPORT_H
#define VT_TESTS_FUZZ_SUPPORT_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* A copy of a trace with each chunk's CRC made right (chunk headers that lie within the bytes,
 * payloads clipped to them): a mutation then reaches the records instead of stopping at "a damaged
 * chunk" almost every time. One input in 16 (size % 16 == 15) keeps its CRCs, so the damaged-chunk
 * path stays fuzzed. Free the result; NULL when out of memory. */
uint32_t vt_crc32(const uint8_t *bytes, size_t length);
static inline uint8_t *fuzz_trace_with_good_crcs(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return NULL;
    if (size)
        memcpy(copy, data, size);
    if (size % 16 == 15)
        return copy;
    size_t at = 16; /* VT_TRACE_FILE_HEADER_BYTES */
    while (at + 32 <= size) {
        uint32_t magic = (uint32_t)copy[at] | (uint32_t)copy[at + 1] << 8 | (uint32_t)copy[at + 2] << 16 |
                         (uint32_t)copy[at + 3] << 24;
        if (magic != 0x4b435456u) /* VT_TRACE_CHUNK_MAGIC */
            break;
        size_t stored = (size_t)copy[at + 4] | (size_t)copy[at + 5] << 8 | (size_t)copy[at + 6] << 16 |
                        (size_t)copy[at + 7] << 24;
        size_t payload = at + 32;
        size_t length = stored <= size - payload ? stored : size - payload;
        uint32_t crc = vt_crc32(copy + payload, length);
        for (int i = 0; i < 4; i++)
            copy[at + 12 + i] = (uint8_t)(crc >> (8 * i));
        at = payload + length;
    }
    return copy;
}

#endif
