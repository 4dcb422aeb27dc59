/* cli/locate.c — decides where libvramtrace.so and the simulated CUDA device directory are.
 * meson compiles in where they lie within a build tree and where they are installed; a vramtrace
 * running from a build tree (wherever that tree now is) uses the shim of that tree, an installed
 * one the shim installed with it: found from the executable's own place (<prefix>/<bindir>), so an
 * installed tree that was moved or copied (meson install --destdir) still works, else at the
 * paths compiled in. */
#define _GNU_SOURCE
#include "locate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The root of the build tree this executable lies in (it may have been moved or copied to
 * another machine since it was built), or NULL for an installed vramtrace: the executable sits at
 * <root>/VT_BUILD_CLI_RELATIVE and the shim at <root>/VT_BUILD_SHIM_RELATIVE. */
static const char *build_tree_root(void)
{
    static char root[PATH_MAX];
    static int known = -1;
    if (known < 0) {
        known = 0;
        char executable[PATH_MAX], shim[PATH_MAX * 2];
        const char *suffix = "/" VT_BUILD_CLI_RELATIVE;
        size_t length = realpath("/proc/self/exe", executable) ? strlen(executable) : 0;
        if (length > strlen(suffix) && strcmp(executable + length - strlen(suffix), suffix) == 0) {
            snprintf(root, sizeof root, "%.*s", (int)(length - strlen(suffix)), executable);
            snprintf(shim, sizeof shim, "%s/%s", root, VT_BUILD_SHIM_RELATIVE);
            known = access(shim, F_OK) == 0;
        }
    }
    return known ? root : NULL;
}

static const char *build_tree_path(const char *relative)
{
    static char path[2][PATH_MAX * 2];
    static int next;
    char *slot = path[next++ % 2];
    snprintf(slot, sizeof path[0], "%s/%s", build_tree_root(), relative);
    return slot;
}

/* The prefix of the installed tree this executable lies in, when it sits at <prefix>/<bindir>/
 * with bindir relative (meson's default) and <prefix>/<libdir>/libvramtrace.so exists; NULL
 * otherwise (the compiled-in paths are used). */
static const char *install_prefix(void)
{
    static char prefix[PATH_MAX];
    static int known = -1;
    if (known < 0) {
        known = 0;
        char executable[PATH_MAX], shim[PATH_MAX * 2];
        const char *bindir = VT_INSTALL_BINDIR, *libdir = VT_INSTALL_LIBDIR;
        char suffix[PATH_MAX];
        snprintf(suffix, sizeof suffix, "/%s/vramtrace", bindir);
        size_t length = realpath("/proc/self/exe", executable) ? strlen(executable) : 0;
        if (bindir[0] != '/' && libdir[0] != '/' && length > strlen(suffix) &&
            strcmp(executable + length - strlen(suffix), suffix) == 0) {
            snprintf(prefix, sizeof prefix, "%.*s", (int)(length - strlen(suffix)), executable);
            snprintf(shim, sizeof shim, "%s/%s/libvramtrace.so", prefix, libdir);
            known = access(shim, F_OK) == 0;
        }
    }
    return known ? prefix : NULL;
}

/* An installed file: under this tree's prefix when it has one, else at the compiled-in path. */
static const char *installed_path(const char *below_libdir, const char *compiled_in)
{
    static char path[2][PATH_MAX * 2];
    static int next;
    if (!install_prefix())
        return compiled_in;
    char *slot = path[next++ % 2];
    snprintf(slot, sizeof path[0], "%s/%s/%s", install_prefix(), VT_INSTALL_LIBDIR, below_libdir);
    return slot;
}

const char *vt_expected_shim_path(void)
{
    const char *override = getenv(VT_ENV_LIBRARY);
    if (override && *override)
        return override;
    return build_tree_root() ? build_tree_path(VT_BUILD_SHIM_RELATIVE)
                             : installed_path("libvramtrace.so", VT_INSTALL_SHIM_PATH);
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
    const char *directory = build_tree_root() ? build_tree_path(VT_BUILD_SIM_RELATIVE)
                                              : installed_path("vramtrace/simulated_cuda", VT_INSTALL_SIM_DIR);
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
