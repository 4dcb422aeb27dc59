/* shim/hook_registry.c — the table of wrapped functions and the idempotent wrapping rules (see
 * hook_registry.h). The wrappers themselves live in hooks_runtime.c, hooks_driver.c and
 * hooks_lookup.c. */
#define _GNU_SOURCE
#include "shim/hook_registry.h"

#include "shim/hooks.h"
#include "shim/real_functions.h"
#include "shim/shim_log.h"

#include <cuda.h>
#include <string.h>

struct hooked_function {
    const char *symbol;
    const char *lookup_name;
    int first_version, version_limit;
    enum hook_stream_variant stream;
    void *wrapper;
};

void *hook_real_functions[HOOK_COUNT];

static struct hooked_function hooked_functions[HOOK_COUNT] = {
#define HOOK_ENTRY(id, symbol, lookup_name, first_version, version_limit, stream, type, api) \
    [HOOK_##id] = {symbol, lookup_name, first_version, version_limit, stream, (void *)shim_wrapper_##id},
    SHIM_HOOK_LIST(HOOK_ENTRY)
#undef HOOK_ENTRY
};

/* Remembers `real` for `hook` unless it is one of the shim's own functions or one is known. */
static void remember_real(struct hooked_function *hook, void *real)
{
    if (!real || address_in_shim((uintptr_t)real))
        return;
    void *expected = NULL;
    __atomic_compare_exchange_n(&hook_real_functions[hook - hooked_functions], &expected, real, false,
                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

void *hook_real_find(enum hook_id id)
{
    remember_real(&hooked_functions[id], real_function_lookup(hooked_functions[id].symbol));
    return __atomic_load_n(&hook_real_functions[id], __ATOMIC_ACQUIRE);
}

/* Also on the sanitizers' start-up path (dlsym(RTLD_DEFAULT, ...)): see real_functions.h. */
SHIM_BEFORE_SANITIZERS static struct hooked_function *hook_by_symbol(const char *symbol)
{
    if (!symbol || symbol[0] != 'c' || symbol[1] != 'u')
        return NULL;
    for (int id = 0; id < HOOK_COUNT; id++)
        if (strcmp(hooked_functions[id].symbol, symbol) == 0)
            return &hooked_functions[id];
    return NULL;
}

SHIM_BEFORE_SANITIZERS int hook_symbol_is_wrapped(const char *symbol)
{
    return hook_by_symbol(symbol) != NULL;
}

void *hook_wrap_symbol(const char *symbol, void *real)
{
    struct hooked_function *hook = hook_by_symbol(symbol);
    if (!hook || !real)
        return real;
    if (address_in_shim((uintptr_t)real))
        return real; /* already a wrapper: never wrap twice */
    remember_real(hook, real);
    return hook->wrapper;
}

static bool stream_variant_matches(enum hook_stream_variant variant, uint64_t flags)
{
    bool per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    return variant == HOOK_NOT_STREAM_ORDERED || (variant == HOOK_PER_THREAD_STREAM) == per_thread;
}

void *hook_wrap_driver_entry(const char *lookup_name, int version, uint64_t flags, void *real)
{
    if (!lookup_name || !real || address_in_shim((uintptr_t)real))
        return real;
    for (int id = 0; id < HOOK_COUNT; id++) {
        struct hooked_function *hook = &hooked_functions[id];
        if (!hook->lookup_name || strcmp(hook->lookup_name, lookup_name) != 0)
            continue;
        if (version < hook->first_version || version >= hook->version_limit)
            continue;
        if (!stream_variant_matches(hook->stream, flags))
            continue;
        remember_real(hook, real);
        /* Should the driver hand out a different function for the same ABI than the one we
         * remembered first, calls still reach a real implementation of that ABI. */
        return hook->wrapper;
    }
    return real;
}

void hook_report_missing(enum hook_id id)
{
    static bool said;
    shim_log_once(&said, "internal error: the real %s was not found in any loaded library; the call fails",
                  hooked_functions[id].symbol);
}
