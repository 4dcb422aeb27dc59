/* shim/real_functions.c — resolves the real functions behind the shim's wrappers and remembers
 * the address range of the shim's own code (to trim the shim's frames from stacks, and so a
 * wrapper is never mistaken for the real function). */
#define _GNU_SOURCE
#include "shim/real_functions.h"

#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

uintptr_t shim_code_start, shim_code_end;

void *(*shim_real_dlsym_function)(void *handle, const char *symbol);

SHIM_BEFORE_SANITIZERS void real_dlsym_resolve(void)
{
    static const char *const versions[] = {"GLIBC_2.34", "GLIBC_2.2.5"};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        void *found = dlvsym(RTLD_NEXT, "dlsym", versions[i]);
        if (found) {
            __atomic_store_n(&shim_real_dlsym_function, (void *(*)(void *, const char *))found, __ATOMIC_RELEASE);
            return;
        }
    }
}

SHIM_BEFORE_SANITIZERS void *shim_real_dlsym(void *handle, const char *symbol)
{
    void *(*real)(void *, const char *) = __atomic_load_n(&shim_real_dlsym_function, __ATOMIC_ACQUIRE);
    if (!real) {
        real_dlsym_resolve();
        real = __atomic_load_n(&shim_real_dlsym_function, __ATOMIC_ACQUIRE);
    }
    return real ? real(handle, symbol) : NULL;
}

struct code_range_search {
    uintptr_t base;
    uintptr_t start, end;
};

static int find_executable_segment(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct code_range_search *search = data;
    if (info->dlpi_addr != search->base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type == PT_LOAD && (segment->p_flags & PF_X)) {
            search->start = info->dlpi_addr + segment->p_vaddr;
            search->end = search->start + segment->p_memsz;
            return 1;
        }
    }
    return 0;
}

void shim_code_range_init(void)
{
    Dl_info self;
    if (!dladdr((void *)&shim_code_range_init, &self))
        return;
    /* dladdr gives the ELF header's address; dl_iterate_phdr reports the load bias. For a shared
     * library linked at address 0 the two are the same. */
    struct code_range_search search = {.base = (uintptr_t)self.dli_fbase};
    dl_iterate_phdr(find_executable_segment, &search);
    __atomic_store_n(&shim_code_start, search.start, __ATOMIC_RELEASE);
    __atomic_store_n(&shim_code_end, search.end, __ATOMIC_RELEASE);
}

/* The names of the loaded libraries, copied out of dl_iterate_phdr: dlopen() must not be called
 * from inside its callback, which holds the loader's write lock (another thread in dlopen holds
 * the loader lock and waits for that one: a deadlock). */
struct library_names {
    char (*names)[PATH_MAX];
    size_t count, capacity;
};

static int collect_library_name(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct library_names *libraries = data;
    if (!info->dlpi_name || !info->dlpi_name[0] || libraries->count == libraries->capacity)
        return 0;
    snprintf(libraries->names[libraries->count++], PATH_MAX, "%s", info->dlpi_name);
    return 0;
}

static void *find_symbol_in_loaded_libraries(const char *name)
{
    enum { LIBRARIES_AT_MOST = 1024 };
    /* mmap, not malloc: freeing a block this large would raise glibc's mmap threshold and change
     * how the traced program's own later allocations are placed. Only touched pages cost memory. */
    size_t bytes = LIBRARIES_AT_MOST * sizeof(char[PATH_MAX]);
    void *names = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (names == MAP_FAILED)
        return NULL;
    struct library_names libraries = {.names = names, .capacity = LIBRARIES_AT_MOST};
    dl_iterate_phdr(collect_library_name, &libraries);
    void *found = NULL;
    for (size_t i = 0; i < libraries.count && !found; i++) {
        void *handle = dlopen(libraries.names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!handle)
            continue;
        void *candidate = shim_real_dlsym(handle, name);
        dlclose(handle);
        if (candidate && !address_in_shim((uintptr_t)candidate))
            found = candidate;
    }
    munmap(names, bytes);
    return found;
}

void *real_function_lookup(const char *name)
{
    void *next = shim_real_dlsym(RTLD_NEXT, name);
    if (next && !address_in_shim((uintptr_t)next))
        return next;
    return find_symbol_in_loaded_libraries(name);
}
