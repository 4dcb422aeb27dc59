/* shim/output_file.h — how the shim creates every file it writes (trace, exit report, OOM report,
 * live-dump snapshots): mode 0600, never through a symbolic link (O_NOFOLLOW), never over an
 * existing file (O_CREAT|O_EXCL). A traced program in a shared directory such as /tmp must not be
 * tricked into overwriting someone else's file through a predictable name (docs/security.md). */
#ifndef VT_SHIM_OUTPUT_FILE_H
#define VT_SHIM_OUTPUT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* How many numbered names (NAME.1.EXT .. NAME.99.EXT) are tried when NAME.EXT is taken. */
#define VT_OUTPUT_FILE_MAX_SUFFIX 99

/* Creates PATH for writing (O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600). When PATH
 * already exists (a file, a directory or a symbolic link, dangling or not) it is left untouched
 * and the first free name among PATH with ".1" .. ".99" inserted before its extension is created
 * instead; one line on stderr names PATH, says it was not touched and where WHAT went. The name
 * actually created goes to ACTUAL (ACTUAL may be PATH itself). Returns the descriptor, or -1 with
 * errno set (nothing was created; the caller says so). */
int output_file_create(const char *path, const char *what, char *actual, size_t actual_size);

/* True when PATH is an existing character device or FIFO (not a symbolic link) owned by the user
 * or by root: output_file_create writes into it instead of creating a file (VRAMTRACE_OUTPUT or
 * VRAMTRACE_REPORT=/dev/null, /dev/full, a FIFO another program reads), and no file is derived
 * next to it (no NAME.report.txt, NAME.oom.txt or NAME.dump-N.txt: the exit report goes to stderr
 * only). A FIFO or device owned by another user is treated as a taken name. */
bool output_file_is_stream(const char *path);

/* The same, as a stdio stream opened "w". */
FILE *output_file_fopen(const char *path, const char *what, char *actual, size_t actual_size);

#endif
