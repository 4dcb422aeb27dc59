/* simulated_cuda/driver_context.c — owns the driver's contexts and streams: one primary context per
 * simulated device (retain, release, reset), the contexts cuCtxCreate makes (cuCtxCreate[_v2, _v3,
 * _v4], cuCtxDestroy[_v2]: destroying one frees the memory it owns), the calling thread's current
 * context, and stream objects. All work is synchronous, so synchronising a context or a stream has
 * nothing to wait for.
 */
#include "sim_driver.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/options.h"

static struct CUctx_st primary_contexts[VT_MAX_SIMULATED_DEVICES];
static pthread_mutex_t context_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread CUcontext current_context; /* the top of this thread's context stack */
/* The contexts below the top (cuCtxPushCurrent / cuCtxPopCurrent); cuCtxSetCurrent replaces the top. */
#define CONTEXT_STACK_DEPTH 16
static __thread CUcontext contexts_below[CONTEXT_STACK_DEPTH];
static __thread int contexts_below_count;

/* The live contexts cuCtxCreate made (under context_lock). A destroyed one leaves the list; its
 * memory is never given back, so a thread that still has it current reads no freed memory. */
static struct CUctx_st *created_contexts;

static bool is_primary_context(CUcontext context)
{
    return context >= primary_contexts && context < primary_contexts + sim_device_count();
}

static bool is_created_context(CUcontext context)
{
    pthread_mutex_lock(&context_lock);
    struct CUctx_st *live = created_contexts;
    while (live && live != context)
        live = live->next;
    pthread_mutex_unlock(&context_lock);
    return live != NULL;
}

/* A context a call may name: a primary one or a live created one. */
static bool is_context(CUcontext context)
{
    return is_primary_context(context) || (context && is_created_context(context));
}

CUcontext sim_created_context_current(void)
{
    return current_context && !is_primary_context(current_context) ? current_context : NULL;
}

int sim_current_device(void)
{
    return current_context ? current_context->device : 0;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sim_device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    pthread_mutex_lock(&context_lock);
    primary_contexts[dev].device = dev;
    primary_contexts[dev].retain_count++;
    pthread_mutex_unlock(&context_lock);
    *pctx = &primary_contexts[dev];
    return CUDA_SUCCESS;
}

/* Active while retained at least once (the real driver: until the last release destroys it). */
CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
    if (!flags || !active)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sim_device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    pthread_mutex_lock(&context_lock);
    *active = primary_contexts[dev].retain_count > 0;
    pthread_mutex_unlock(&context_lock);
    *flags = 0;
    return CUDA_SUCCESS;
}

static CUresult release_primary_context(CUdevice dev)
{
    if (!sim_device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    CUresult result = CUDA_SUCCESS;
    pthread_mutex_lock(&context_lock);
    if (primary_contexts[dev].retain_count > 0)
        primary_contexts[dev].retain_count--;
    else
        result = CUDA_ERROR_INVALID_CONTEXT;
    pthread_mutex_unlock(&context_lock);
    return result;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    return release_primary_context(dev);
}

CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
    return release_primary_context(dev);
}

/* Like the real driver, a reset destroys every allocation the device's context owns; the program
 * sees no cuMemFree for them. */
static CUresult reset_primary_context(CUdevice dev)
{
    if (!sim_device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    sim_free_all_on_device(dev);
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
    return reset_primary_context(dev);
}

CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
    return reset_primary_context(dev);
}

CUresult cuCtxSetCurrent(CUcontext ctx)
{
    if (ctx && !is_context(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    current_context = ctx;
    return CUDA_SUCCESS;
}

static CUresult push_context(CUcontext ctx)
{
    if (!ctx || !is_context(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (contexts_below_count == CONTEXT_STACK_DEPTH)
        return CUDA_ERROR_OUT_OF_MEMORY;
    contexts_below[contexts_below_count++] = current_context;
    current_context = ctx;
    return CUDA_SUCCESS;
}

/* Pops the current context (handed back in *pctx when pctx is not NULL); the one below becomes
 * current. CUDA_ERROR_INVALID_CONTEXT when no context is current. */
static CUresult pop_context(CUcontext *pctx)
{
    if (!current_context)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (pctx)
        *pctx = current_context;
    current_context = contexts_below_count ? contexts_below[--contexts_below_count] : NULL;
    return CUDA_SUCCESS;
}

/* cuCtxDestroy of a created context: leaves the list, frees the memory it owns (CUDA's list:
 * cuMemAlloc, cuMemAllocPitch, cuMemAllocManaged, cuMemAllocHost; sim_free_all_of_context), and is
 * popped when current to this thread. A primary context (or anything else) is
 * CUDA_ERROR_INVALID_CONTEXT here. */
static CUresult destroy_context(CUcontext ctx)
{
    pthread_mutex_lock(&context_lock);
    struct CUctx_st **link = &created_contexts;
    while (*link && *link != ctx)
        link = &(*link)->next;
    bool found = *link != NULL;
    if (found)
        *link = ctx->next;
    pthread_mutex_unlock(&context_lock);
    if (!found)
        return CUDA_ERROR_INVALID_CONTEXT;
    sim_free_all_of_context(ctx);
    if (current_context == ctx)
        pop_context(NULL);
    return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
    return push_context(ctx);
}

CUresult cuCtxPushCurrent(CUcontext ctx)
{
    return push_context(ctx);
}

CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
    return pop_context(pctx);
}

CUresult cuCtxPopCurrent(CUcontext *pctx)
{
    return pop_context(pctx);
}

/* cuCtxCreate: a new context on `dev`, pushed onto this thread's context stack (it becomes
 * current), as the real driver does. The flags and parameters are not modelled. */
static CUresult create_context(CUcontext *pctx, CUdevice dev)
{
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sim_device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    struct CUctx_st *context = calloc(1, sizeof *context);
    if (!context)
        return CUDA_ERROR_OUT_OF_MEMORY;
    context->device = dev;
    pthread_mutex_lock(&context_lock);
    context->next = created_contexts;
    created_contexts = context;
    pthread_mutex_unlock(&context_lock);
    CUresult result = push_context(context);
    if (result != CUDA_SUCCESS) {
        destroy_context(context);
        return result;
    }
    *pctx = context;
    return CUDA_SUCCESS;
}

CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    (void)flags;
    return create_context(pctx, dev);
}

CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    (void)flags;
    return create_context(pctx, dev);
}

CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams, unsigned int flags,
                        CUdevice dev)
{
    (void)paramsArray, (void)numParams, (void)flags;
    return create_context(pctx, dev);
}

CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams, unsigned int flags, CUdevice dev)
{
    (void)ctxCreateParams, (void)flags;
    return create_context(pctx, dev);
}

CUresult cuCtxDestroy_v2(CUcontext ctx)
{
    if (!ctx)
        return CUDA_ERROR_INVALID_VALUE;
    return destroy_context(ctx);
}

CUresult cuCtxDestroy(CUcontext ctx)
{
    return cuCtxDestroy_v2(ctx);
}

CUresult cuCtxGetCurrent(CUcontext *pctx)
{
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = current_context;
    return CUDA_SUCCESS;
}

static CUresult context_device(CUcontext ctx, CUdevice *device)
{
    if (!device)
        return CUDA_ERROR_INVALID_VALUE;
    if (!ctx)
        ctx = current_context;
    if (!ctx || !is_context(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    *device = ctx->device;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice *device)
{
    return context_device(NULL, device);
}

CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx)
{
    return context_device(ctx, device);
}

CUresult cuCtxSynchronize(void)
{
    return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize_v2(CUcontext ctx)
{
    return ctx && !is_context(ctx) ? CUDA_ERROR_INVALID_CONTEXT : CUDA_SUCCESS;
}

/* ---- streams ---------------------------------------------------------------------------- */

static bool is_default_stream(CUstream stream)
{
    return !stream || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD;
}

CUresult sim_stream_device(CUstream stream, int *device)
{
    if (is_default_stream(stream)) {
        *device = sim_current_device();
        return CUDA_SUCCESS;
    }
    if (stream->magic != SIM_STREAM_MAGIC)
        return CUDA_ERROR_INVALID_HANDLE;
    *device = stream->device;
    return CUDA_SUCCESS;
}

/* cuStreamGetDevice (CUDA 12.8): the device of the stream's context; for NULL, CU_STREAM_LEGACY and
 * CU_STREAM_PER_THREAD the current context's device. */
static CUresult stream_get_device(CUstream stream, CUdevice *device)
{
    if (!device)
        return CUDA_ERROR_INVALID_VALUE;
    int found;
    CUresult result = sim_stream_device(stream, &found);
    if (result == CUDA_SUCCESS)
        *device = found;
    return result;
}

CUresult cuStreamGetDevice(CUstream hStream, CUdevice *device)
{
    return stream_get_device(hStream, device);
}

CUresult cuStreamGetDevice_ptsz(CUstream hStream, CUdevice *device)
{
    return stream_get_device(hStream, device);
}

CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
    if (!phStream || (Flags & ~(unsigned int)CU_STREAM_NON_BLOCKING))
        return CUDA_ERROR_INVALID_VALUE;
    struct CUstream_st *stream = malloc(sizeof *stream);
    if (!stream)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *stream = (struct CUstream_st){.magic = SIM_STREAM_MAGIC, .device = sim_current_device(), .flags = Flags};
    *phStream = stream;
    return CUDA_SUCCESS;
}

static CUresult destroy_stream(CUstream stream)
{
    if (is_default_stream(stream) || stream->magic != SIM_STREAM_MAGIC)
        return CUDA_ERROR_INVALID_HANDLE;
    stream->magic = 0;
    free(stream);
    return CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(CUstream hStream)
{
    return destroy_stream(hStream);
}

CUresult cuStreamDestroy(CUstream hStream)
{
    return destroy_stream(hStream);
}

static CUresult synchronize_stream(CUstream stream)
{
    int device;
    return sim_stream_device(stream, &device);
}

CUresult cuStreamSynchronize(CUstream hStream)
{
    return synchronize_stream(hStream);
}

CUresult cuStreamSynchronize_ptsz(CUstream hStream)
{
    return synchronize_stream(hStream);
}
