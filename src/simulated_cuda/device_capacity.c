/* simulated_cuda/device_capacity.c — owns the simulated devices' configuration (how many devices,
 * how much memory each has, from VRAMTRACE_SIMULATE_DEVICES and VRAMTRACE_SIMULATE) and the
 * per-device count of bytes in use that makes allocations beyond the capacity fail with
 * CUDA_ERROR_OUT_OF_MEMORY.
 */
#include "sim_driver.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/options.h"

static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static int configured_devices = 1;
static uint64_t configured_capacity = VT_DEFAULT_SIMULATE_BYTES;
static _Atomic uint64_t used_bytes[VT_MAX_SIMULATED_DEVICES];

/* The variable's value when it is set to something valid; NULL when it is unset or empty (the
 * default applies), or invalid, in which case one line on stderr says so. */
static const char *valid_setting(const char *env_name)
{
    const char *value = getenv(env_name);
    if (!value || !*value)
        return NULL;
    const struct vt_option *option = vt_option_by_env(env_name);
    char why[256];
    if (vt_option_validate(option, value, why, sizeof why))
        return value;
    fprintf(stderr, "vramtrace (simulated device): %s; using the default %s\n", why, option->default_text);
    return NULL;
}

static void read_config(void)
{
    const char *text = valid_setting(VT_ENV_SIMULATE);
    uint64_t value;
    if (text && vt_parse_size(text, &value))
        configured_capacity = value;
    text = valid_setting(VT_ENV_SIMULATE_DEVICES);
    if (text && vt_parse_count(text, 1, VT_MAX_SIMULATED_DEVICES, &value))
        configured_devices = (int)value;
}

int sim_device_count(void)
{
    pthread_once(&config_once, read_config);
    return configured_devices;
}

bool sim_device_valid(CUdevice device)
{
    return device >= 0 && device < sim_device_count();
}

uint64_t sim_device_capacity(void)
{
    pthread_once(&config_once, read_config);
    return configured_capacity;
}

uint64_t sim_device_used(int device)
{
    return atomic_load_explicit(&used_bytes[device], memory_order_relaxed);
}

CUresult sim_capacity_reserve(int device, uint64_t bytes)
{
    if (!sim_device_valid(device))
        return CUDA_ERROR_INVALID_DEVICE;
    uint64_t capacity = configured_capacity;
    uint64_t used = atomic_load_explicit(&used_bytes[device], memory_order_relaxed);
    do {
        if (bytes > capacity - used)
            return CUDA_ERROR_OUT_OF_MEMORY;
    } while (!atomic_compare_exchange_weak_explicit(&used_bytes[device], &used, used + bytes,
                                                    memory_order_relaxed, memory_order_relaxed));
    return CUDA_SUCCESS;
}

void sim_capacity_release(int device, uint64_t bytes)
{
    atomic_fetch_sub_explicit(&used_bytes[device], bytes, memory_order_relaxed);
}
