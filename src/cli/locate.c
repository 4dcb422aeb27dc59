/* cli/locate.c — decides where libvramtrace.so and the simulated CUDA device directory are.
 * meson compiles in both the build-tree paths and the install paths; the build-tree pair is
 * used when /proc/self/exe lies inside the build tree, so a freshly built vramtrace uses the
 * freshly built shim and an installed one uses the installed shim. */
#define _GNU_SOURCE
#include "locate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool path_is_inside(const char *path, const char *directory)
{
    size_t length = strlen(directory);
    while (length > 1 && directory[length - 1] == '/')
        length--;
    return strncmp(path, directory, length) == 0 && (path[length] == '/' || path[length] == '\0');
}

static bool running_from_build_tree(void)
{
    static int answer = -1;
    if (answer < 0) {
        char executable[PATH_MAX], build_root[PATH_MAX];
        answer = realpath("/proc/self/exe", executable) && realpath(VT_BUILD_ROOT, build_root) &&
                 path_is_inside(executable, build_root);
    }
    return answer;
}

const char *vt_expected_shim_path(void)
{
    const char *override = getenv(VT_ENV_LIBRARY);
    if (override && *override)
        return override;
    return running_from_build_tree() ? VT_BUILD_SHIM_PATH : VT_INSTALL_SHIM_PATH;
}

/* ld.so splits LD_PRELOAD at colons and blanks, so such a path cannot be preloaded. */
static bool fits_in_ld_preload(const char *path)
{
    return strpbrk(path, ": \t\n") == NULL;
}

bool vt_locate_shim(char *path, size_t path_size, char *why, size_t why_size)
{
    const char *override = getenv(VT_ENV_LIBRARY);
    const char *candidate = vt_expected_shim_path();
    char resolved[PATH_MAX];
    struct stat info;
    if (!realpath(candidate, resolved) || stat(resolved, &info) != 0) {
        if (override && *override)
            snprintf(why, why_size, "%s='%s': %s", VT_ENV_LIBRARY, candidate, strerror(errno));
        else
            snprintf(why, why_size,
                     "cannot find libvramtrace.so at '%s' (%s); build or install it, or set %s to its path",
                     candidate, strerror(errno), VT_ENV_LIBRARY);
        return false;
    }
    if (!S_ISREG(info.st_mode) || access(resolved, R_OK) != 0) {
        snprintf(why, why_size, "'%s' is not a readable library file%s", resolved,
                 override && *override ? " (from " VT_ENV_LIBRARY ")" : "");
        return false;
    }
    if (!fits_in_ld_preload(resolved)) {
        snprintf(why, why_size,
                 "'%s' contains a colon or a blank, which LD_PRELOAD cannot hold; move it or set %s",
                 resolved, VT_ENV_LIBRARY);
        return false;
    }
    if (strlen(resolved) >= path_size) {
        snprintf(why, why_size, "the path of libvramtrace.so is too long: '%s'", resolved);
        return false;
    }
    strcpy(path, resolved);
    return true;
}

bool vt_locate_simulated_cuda_dir(char *path, size_t path_size, char *why, size_t why_size)
{
    const char *directory = running_from_build_tree() ? VT_BUILD_SIM_DIR : VT_INSTALL_SIM_DIR;
    struct stat info;
    errno = 0;
    if (stat(directory, &info) != 0 || !S_ISDIR(info.st_mode)) {
        snprintf(why, why_size, "cannot find the simulated CUDA libraries in '%s' (%s); build or install vramtrace",
                 directory, errno ? strerror(errno) : "not a directory");
        return false;
    }
    if (strlen(directory) >= path_size) {
        snprintf(why, why_size, "the simulated CUDA directory path is too long: '%s'", directory);
        return false;
    }
    strcpy(path, directory);
    return true;
}
