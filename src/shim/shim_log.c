/* shim/shim_log.c — one-line messages on stderr for the shim (see shim_log.h). */
#include "shim/shim_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void log_line(const char *format, va_list arguments)
{
    char line[512] = "vramtrace: ";
    size_t prefix = strlen(line);
    int length = vsnprintf(line + prefix, sizeof line - prefix - 1, format, arguments);
    if (length < 0)
        return;
    size_t total = prefix + ((size_t)length < sizeof line - prefix - 1 ? (size_t)length : sizeof line - prefix - 2);
    line[total++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, total);
    (void)ignored;
}

void shim_log(const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    log_line(format, arguments);
    va_end(arguments);
}

void shim_log_once(bool *said, const char *format, ...)
{
    if (__atomic_exchange_n(said, true, __ATOMIC_RELAXED))
        return;
    va_list arguments;
    va_start(arguments, format);
    log_line(format, arguments);
    va_end(arguments);
}
