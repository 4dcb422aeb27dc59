/* shim/real_functions.c — resolves the real functions behind the shim's wrappers and remembers
 * the address range of the shim's own code (to trim the shim's frames from stacks, and so a
 * wrapper is never mistaken for the real function). */
#define _GNU_SOURCE
#include "shim/real_functions.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <string.h>

static uintptr_t shim_code_start, shim_code_end;

void *(*shim_real_dlsym_function)(void *handle, const char *symbol);

void real_dlsym_resolve(void)
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

void *shim_real_dlsym(void *handle, const char *symbol)
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

bool address_in_shim(uintptr_t address)
{
    if (__atomic_load_n(&shim_code_end, __ATOMIC_ACQUIRE) == 0)
        shim_code_range_init();
    return address >= shim_code_start && address < shim_code_end;
}

struct symbol_search {
    const char *name;
    void *found;
};

static int find_symbol_in_loaded_library(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct symbol_search *search = data;
    if (!info->dlpi_name || !info->dlpi_name[0])
        return 0;
    void *handle = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
    if (!handle)
        return 0;
    void *candidate = shim_real_dlsym(handle, search->name);
    dlclose(handle);
    if (candidate && !address_in_shim((uintptr_t)candidate)) {
        search->found = candidate;
        return 1;
    }
    return 0;
}

void *real_function_lookup(const char *name)
{
    void *next = shim_real_dlsym(RTLD_NEXT, name);
    if (next && !address_in_shim((uintptr_t)next))
        return next;
    struct symbol_search search = {.name = name};
    dl_iterate_phdr(find_symbol_in_loaded_library, &search);
    return search.found;
}
