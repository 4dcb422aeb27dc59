/* shim/real_functions.h — finding the real CUDA functions the shim's exported wrappers stand in
 * for, and knowing which code is the shim's own.
 *
 * REAL_FUNCTION(name) yields a pointer of the declared type of `name` (from the CUDA headers) to
 * the real implementation, resolved on first use and cached; NULL when no loaded library has it.
 */
#ifndef VT_SHIM_REAL_FUNCTIONS_H
#define VT_SHIM_REAL_FUNCTIONS_H

#include <stdbool.h>
#include <stdint.h>

/* The next definition of `name` after the shim: dlsym(RTLD_NEXT), or, when the defining library
 * was dlopen()ed with RTLD_LOCAL (as Python loads PyTorch), the first loaded library other than
 * the shim that defines it. Never returns one of the shim's own functions. */
void *real_function_lookup(const char *name);

/* glibc's own dlsym. The shim exports a dlsym of its own (dlsym_trampoline.S); the shim's code
 * always calls this one instead. Resolved with dlvsym(RTLD_NEXT, ...), never through dlsym. */
/* The lookup path a sanitizer's runtime reaches before it is initialised: ASan (and TSan) find the
 * functions they intercept with dlsym(RTLD_NEXT, ...) during their start-up, which is the shim's
 * dlsym (dlsym_trampoline.S) when the shim is preloaded. Instrumented code there would touch shadow
 * memory that does not exist yet, so these functions are built without instrumentation
 * (docs/reliability.md, "Sanitizers"). Without a sanitizer the attribute changes nothing. */
#define SHIM_BEFORE_SANITIZERS __attribute__((no_sanitize("address", "undefined", "thread")))

extern void *(*shim_real_dlsym_function)(void *handle, const char *symbol) __attribute__((visibility("hidden")));
SHIM_BEFORE_SANITIZERS void real_dlsym_resolve(void);
SHIM_BEFORE_SANITIZERS void *shim_real_dlsym(void *handle, const char *symbol);

/* Records the shim's code range (done on first need; idempotent). */
void shim_code_range_init(void);

/* The shim's executable segment, [shim_code_start, shim_code_end); both 0 until known. */
extern uintptr_t shim_code_start __attribute__((visibility("hidden")));
extern uintptr_t shim_code_end __attribute__((visibility("hidden")));

/* True for addresses inside the shim's own code. Inline: stack capture asks it for every frame. */
static inline bool address_in_shim(uintptr_t address)
{
    if (__builtin_expect(__atomic_load_n(&shim_code_end, __ATOMIC_ACQUIRE) == 0, 0))
        shim_code_range_init();
    return address >= shim_code_start && address < shim_code_end;
}

#define REAL_FUNCTION(name)                                                                  \
    ({                                                                                       \
        static __typeof__(name) *real_##name;                                                \
        __typeof__(name) *found = __atomic_load_n(&real_##name, __ATOMIC_ACQUIRE);           \
        if (!found) {                                                                        \
            found = (__typeof__(name) *)real_function_lookup(#name);                         \
            __atomic_store_n(&real_##name, found, __ATOMIC_RELEASE);                         \
        }                                                                                    \
        found;                                                                               \
    })

#endif
