/* tests/programs/lookup_rules.c — prints which library each lookup of a driver function hands
 * out (the basename of its module), so a test can check that the tracer wraps exactly the
 * versions and variants it implements and passes everything else through:
 *   cuGetProcAddress at several versions and flags, cudaGetDriverEntryPointByVersion (twice: the
 *   same pointer both times), dlsym of exported names, a failed dlsym (dlerror still set), and a
 *   library's own dlsym(RTLD_NEXT) (next_probe_a finds next_probe_b's probe_value).
 * Then it allocates once through a pointer handed out twice, to show one call is one event. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

#include <cuda.h>

#include "cuda_check.h"

int next_probe_value(void);   /* next_probe_a.c */
int next_probe_b_loaded(void); /* next_probe_b.c, loaded after next_probe_a */

static const char *module_of(const void *function)
{
    Dl_info info;
    if (!function || !dladdr(function, &info) || !info.dli_fname)
        return "(none)";
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

static __typeof__(cuGetProcAddress_v2) *get_proc;

static void *show_proc(const char *name, int version, cuuint64_t flags, const char *label)
{
    void *function = NULL;
    CUdriverProcAddressQueryResult status;
    CUresult result = get_proc(name, &function, version, flags, &status);
    printf("cuGetProcAddress %s@%d%s: %s\n", name, version, label, result == CUDA_SUCCESS ? module_of(function) : "(error)");
    return function;
}

int main(void)
{
    void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!driver)
        return 1;
    get_proc = (__typeof__(get_proc))dlsym(driver, "cuGetProcAddress_v2");
    printf("dlsym cuGetProcAddress_v2: %s\n", module_of((void *)get_proc));
    printf("dlsym cuMemAlloc_v2: %s\n", module_of(dlsym(driver, "cuMemAlloc_v2")));
    printf("dlsym cuMemAlloc (legacy 32-bit): %s\n", module_of(dlsym(driver, "cuMemAlloc")));
    printf("dlsym cuMemGetInfo_v2 (not wrapped): %s\n", module_of(dlsym(driver, "cuMemGetInfo_v2")));
    void *missing = dlsym(driver, "cuNoSuchFunction");
    printf("dlsym cuNoSuchFunction: %s, dlerror %s\n", missing ? "found" : "NULL", dlerror() ? "set" : "unset");
    printf("dlsym(RTLD_NEXT) from a library: probe_value %d (next_probe_b loaded: %d)\n", next_probe_value(),
           next_probe_b_loaded());

    show_proc("cuMemAlloc", 3020, CU_GET_PROC_ADDRESS_DEFAULT, "");
    show_proc("cuMemAlloc", 3010, CU_GET_PROC_ADDRESS_DEFAULT, " (legacy ABI)");
    show_proc("cuMemAlloc", 14000, CU_GET_PROC_ADDRESS_DEFAULT, " (newer than the tracer)");
    show_proc("cuMemAllocAsync", 12000, CU_GET_PROC_ADDRESS_DEFAULT, "");
    void *per_thread = show_proc("cuMemAllocAsync", 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, " per-thread");
    show_proc("cuMemGetInfo", 12000, CU_GET_PROC_ADDRESS_DEFAULT, " (not wrapped)");
    void *handed_get_proc = show_proc("cuGetProcAddress", 12000, CU_GET_PROC_ADDRESS_DEFAULT, "");
    show_proc("cuGetProcAddress", 11030, CU_GET_PROC_ADDRESS_DEFAULT, " (4 arguments)");

    /* The runtime asks through the pointer it was handed; so does cudaGetDriverEntryPointByVersion. */
    void *through_handed = NULL;
    CUdriverProcAddressQueryResult status;
    CHECK_CU(((__typeof__(cuGetProcAddress_v2) *)handed_get_proc)("cuMemAlloc", &through_handed, 3020, 0, &status));
    printf("handed-out cuGetProcAddress cuMemAlloc@3020: %s\n", module_of(through_handed));
    void *first = NULL, *second = NULL;
    enum cudaDriverEntryPointQueryResult found;
    CHECK_CUDA(cudaGetDriverEntryPointByVersion("cuMemCreate", &first, 12000, cudaEnableDefault, &found));
    CHECK_CUDA(cudaGetDriverEntryPointByVersion("cuMemCreate", &second, 12000, cudaEnableDefault, &found));
    printf("cudaGetDriverEntryPointByVersion cuMemCreate@12000: %s, same pointer twice: %s\n", module_of(first),
           first == second ? "yes" : "no");

    /* One allocation through the per-thread variant: one event, API cuMemAllocAsync. */
    CHECK_CUDA(cudaFree(NULL));
    CUdeviceptr address;
    CHECK_CU(((__typeof__(cuMemAllocAsync) *)per_thread)(&address, 4096, 0));
    printf("allocated 4096 bytes through the per-thread cuMemAllocAsync (kept)\n");
    return 0;
}
