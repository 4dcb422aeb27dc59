/* shim/output_file.c — safe creation of the shim's output files (see output_file.h). */
#include "shim/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/shim_log.h"

#define CREATE_FLAGS (O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

/* PATH with ".N" before the extension of its last component ("x.report.txt" -> "x.report.1.txt"),
 * or after it when it has none. False when it does not fit. */
static int numbered_name(const char *path, unsigned number, char *out, size_t out_size)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        dot = name + strlen(name);
    int written = snprintf(out, out_size, "%.*s.%u%s", (int)(dot - path), path, number, dot);
    return written >= 0 && (size_t)written < out_size;
}

bool output_file_is_stream(const char *path)
{
    struct stat status;
    return path && path[0] && lstat(path, &status) == 0 && (S_ISCHR(status.st_mode) || S_ISFIFO(status.st_mode)) &&
           (status.st_uid == geteuid() || status.st_uid == 0);
}

/* An existing character device or FIFO (not through a link) owned by the user or root, named on
 * purpose (/dev/null, /dev/full, a FIFO read by another program): written into, never created.
 * A FIFO nobody reads fails with ENXIO rather than blocking. */
static int open_stream(const char *path)
{
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat status;
    if (fstat(fd, &status) != 0 || !(S_ISCHR(status.st_mode) || S_ISFIFO(status.st_mode)) ||
        !(status.st_uid == geteuid() || status.st_uid == 0)) {
        close(fd);
        errno = EEXIST;
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

int output_file_create(const char *path, const char *what, char *actual, size_t actual_size)
{
    if (output_file_is_stream(path)) {
        int fd = open_stream(path);
        if (fd >= 0 || errno != EEXIST) {
            int saved = errno;
            if (fd >= 0 && actual && actual != path)
                snprintf(actual, actual_size, "%s", path);
            errno = saved;
            return fd;
        }
    }
    int fd = open(path, CREATE_FLAGS, 0600);
    if (fd >= 0 || errno != EEXIST) {
        int saved = errno;
        if (fd >= 0 && actual && actual != path)
            snprintf(actual, actual_size, "%s", path);
        errno = saved;
        return fd;
    }
    char candidate[PATH_MAX];
    for (unsigned number = 1; number <= VT_OUTPUT_FILE_MAX_SUFFIX; number++) {
        if (!numbered_name(path, number, candidate, sizeof candidate))
            break;
        fd = open(candidate, CREATE_FLAGS, 0600);
        if (fd >= 0) {
            shim_log("%s already exists (a file or a symbolic link): it was not touched; the %s is written to %s "
                     "instead", path, what, candidate);
            if (actual)
                snprintf(actual, actual_size, "%s", candidate);
            return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    shim_log("%s already exists (a file or a symbolic link), and so do its numbered names up to .%d: it was not "
             "touched and the %s is not written", path, VT_OUTPUT_FILE_MAX_SUFFIX, what);
    errno = EEXIST;
    return -1;
}

FILE *output_file_fopen(const char *path, const char *what, char *actual, size_t actual_size)
{
    int fd = output_file_create(path, what, actual, actual_size);
    if (fd < 0)
        return NULL;
    FILE *file = fdopen(fd, "w");
    if (!file) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return file;
}
