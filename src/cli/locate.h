/* cli/locate.h — finds libvramtrace.so and the simulated CUDA libraries for `vramtrace run`:
 * the build tree's copies when this vramtrace runs from inside the build tree, the installed
 * ones otherwise; VRAMTRACE_LIBRARY overrides the library. */
#ifndef VT_CLI_LOCATE_H
#define VT_CLI_LOCATE_H

#include <stdbool.h>
#include <stddef.h>

#define VT_ENV_LIBRARY "VRAMTRACE_LIBRARY"

/* The absolute path of libvramtrace.so to preload. On failure writes why (one line, saying how
 * to fix it) and returns false. */
bool vt_locate_shim(char *path, size_t path_size, char *why, size_t why_size);

/* The directory holding the simulated libcudart.so.13 and libcuda.so.1. */
bool vt_locate_simulated_cuda_dir(char *path, size_t path_size, char *why, size_t why_size);

/* The shim path vt_locate_shim would try first, found or not (for --help). */
const char *vt_expected_shim_path(void);

#endif
