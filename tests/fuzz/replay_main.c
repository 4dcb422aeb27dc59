/* tests/fuzz/replay_main.c — a main() for the fuzz harnesses without libFuzzer: each argument is
 * a file, or a directory whose files are, fed once to LLVMFuzzerTestOneInput. The meson test
 * `fuzz_regressions` builds every harness with it (gcc, or with the sanitizers of the build) and
 * replays the seed corpora and tests/fuzz/regressions/, so every input a fuzzer ever found
 * stays a test even where clang is missing. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_support.h"

static int replay_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    size_t capacity = 4096, size = 0;
    unsigned char *data = malloc(capacity);
    size_t n;
    while (data && (n = fread(data + size, 1, capacity - size, file)) > 0) {
        size += n;
        if (size == capacity) {
            unsigned char *bigger = realloc(data, capacity * 2);
            if (!bigger) {
                free(data);
                data = NULL;
                break;
            }
            data = bigger;
            capacity *= 2;
        }
    }
    fclose(file);
    if (!data) {
        fprintf(stderr, "out of memory reading %s\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int replay(const char *path, unsigned *count)
{
    struct stat status;
    if (stat(path, &status) != 0) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    if (!S_ISDIR(status.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    struct dirent **entries;
    int entry_count = scandir(path, &entries, NULL, alphasort);
    if (entry_count < 0) {
        fprintf(stderr, "cannot list %s\n", path);
        return 1;
    }
    int failures = 0;
    for (int i = 0; i < entry_count; i++) {
        if (entries[i]->d_name[0] != '.') {
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, entries[i]->d_name);
            failures += replay(child, count);
        }
        free(entries[i]);
    }
    free(entries);
    return failures;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    int failures = 0;
    for (int i = 1; i < argc; i++)
        failures += replay(argv[i], &count);
    fprintf(stderr, "%s: %u input(s) replayed\n", argv[0], count);
    return failures ? 1 : 0;
}
