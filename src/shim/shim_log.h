/* shim/shim_log.h — how the shim talks to the user from inside a traced program: one line on
 * stderr, prefixed "vramtrace: ", written with write(2) (no stdio, no allocation), and each kind of
 * internal error said only once. */
#ifndef VT_SHIM_LOG_H
#define VT_SHIM_LOG_H

#include <stdbool.h>

void shim_log(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Says the message the first time *said is false, then sets it. */
void shim_log_once(bool *said, const char *format, ...) __attribute__((format(printf, 2, 3)));

#endif
