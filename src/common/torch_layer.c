/* common/torch_layer.c — the PyTorch layer of the accounting (see torch_layer.h). Runs outside
 * any hook (a report, the CLI): it may allocate. */
#include "common/torch_layer.h"

#include "common/format.h"
#include "vramtrace/events.h"
#include "vramtrace/frames.h"

#include <stdlib.h>
#include <string.h>

static int compare_segments(const void *a, const void *b)
{
    const struct vt_torch_segment *x = a, *y = b;
    if (x->address != y->address)
        return x->address < y->address ? -1 : 1;
    return x->device < y->device ? -1 : x->device > y->device;
}

void vt_torch_view_prepare(struct vt_torch_view *view)
{
    if (view->segment_count > 1)
        qsort(view->segments, view->segment_count, sizeof *view->segments, compare_segments);
}

/* The number of segments that start at or before `address`. */
static size_t segments_up_to(const struct vt_torch_view *view, uint64_t address)
{
    size_t low = 0, high = view->segment_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (view->segments[middle].address <= address)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

bool vt_torch_view_overlaps(const struct vt_torch_view *view, uint64_t address, uint64_t size_bytes)
{
    if (size_bytes == 0)
        return false;
    size_t before = segments_up_to(view, address);
    if (before > 0) {
        const struct vt_torch_segment *segment = &view->segments[before - 1];
        if (address - segment->address < segment->size_bytes)
            return true;
    }
    return before < view->segment_count && view->segments[before].address - address < size_bytes;
}

bool vt_torch_view_owns(const struct vt_torch_view *view, int device, uint64_t address, uint64_t size_bytes)
{
    /* The last segment starting at or before `address` (segments do not overlap: under UVA one
     * address space holds every device's memory). */
    size_t before = segments_up_to(view, address);
    if (before == 0)
        return false;
    const struct vt_torch_segment *segment = &view->segments[before - 1];
    uint64_t offset = address - segment->address;
    return segment->device == device && offset < segment->size_bytes &&
           size_bytes <= segment->size_bytes - offset;
}

void vt_torch_handles_note(struct vt_torch_handles *handles, const struct vt_torch_view *view,
                           const struct alloc_record *record)
{
    if (record->kind != VT_KIND_MAPPED_RANGE || !vt_torch_view_owns(view, record->device, record->address, record->size_bytes))
        return;
    if (handles->count == handles->capacity) {
        size_t capacity = handles->capacity ? handles->capacity * 2 : 64;
        uint64_t *grown = realloc(handles->handles, capacity * sizeof *grown);
        if (!grown) {
            handles->incomplete = true;
            return;
        }
        handles->handles = grown;
        handles->capacity = capacity;
    }
    handles->handles[handles->count++] = record->backing_handle;
}

static int compare_handles(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void vt_torch_handles_sort(struct vt_torch_handles *handles)
{
    if (handles->count > 1)
        qsort(handles->handles, handles->count, sizeof *handles->handles, compare_handles);
}

void vt_torch_handles_free(struct vt_torch_handles *handles)
{
    free(handles->handles);
    memset(handles, 0, sizeof *handles);
}

bool vt_torch_view_holds(const struct vt_torch_view *view, const struct vt_torch_handles *handles,
                         const struct alloc_record *record)
{
    switch (record->kind) {
    case VT_KIND_DEVICE:
        if (record->api == VT_API_cuMemCreate)
            return handles->count && bsearch(&record->address, handles->handles, handles->count,
                                             sizeof record->address, compare_handles) != NULL;
        return vt_torch_view_owns(view, record->device, record->address, record->size_bytes);
    case VT_KIND_ADDRESS_SPACE: /* an expandable segment's reservation */
        return vt_torch_view_overlaps(view, record->address, record->size_bytes);
    case VT_KIND_MAPPED_RANGE:
        return vt_torch_view_owns(view, record->device, record->address, record->size_bytes);
    default:
        return false;
    }
}

/* The summary slot of `device` in out[0..*count), added in device order when new. */
static struct vt_torch_device_summary *summary_of(struct vt_torch_device_summary *out, size_t capacity,
                                                 size_t *count, int32_t device)
{
    size_t at = 0;
    while (at < *count && at < capacity && out[at].device < device)
        at++;
    if (at < *count && at < capacity && out[at].device == device)
        return &out[at];
    (*count)++;
    if (at >= capacity)
        return NULL;
    size_t kept = *count < capacity ? *count : capacity;
    memmove(&out[at + 1], &out[at], (kept - at - 1) * sizeof *out);
    out[at] = (struct vt_torch_device_summary){.device = device};
    return &out[at];
}

size_t vt_torch_view_summarize(const struct vt_torch_view *view, struct vt_torch_device_summary *out,
                               size_t capacity)
{
    size_t count = 0;
    for (size_t i = 0; i < view->segment_count; i++) {
        struct vt_torch_device_summary *summary = summary_of(out, capacity, &count, view->segments[i].device);
        if (summary) {
            summary->reserved_bytes += view->segments[i].size_bytes;
            summary->segment_count++;
        }
    }
    for (size_t i = 0; i < view->block_count; i++) {
        const struct vt_torch_block *block = &view->blocks[i];
        struct vt_torch_device_summary *summary = summary_of(out, capacity, &count, block->device);
        if (!summary)
            continue;
        if (vt_torch_block_is_tensor(block->state)) {
            summary->tensor_bytes += block->size_bytes;
            summary->tensor_requested_bytes += block->requested_bytes;
            summary->tensor_count++;
        } else {
            summary->cached_free_bytes += block->size_bytes;
            summary->cached_free_blocks++;
            if (block->size_bytes > summary->largest_free_block)
                summary->largest_free_block = block->size_bytes;
        }
    }
    for (size_t i = 0; i < view->device_count; i++) {
        struct vt_torch_device_summary *summary = summary_of(out, capacity, &count, view->devices[i].device);
        if (summary) {
            summary->driver_free_bytes = view->devices[i].free_bytes;
            summary->driver_total_bytes = view->devices[i].total_bytes;
        }
    }
    return count;
}

void vt_torch_print_summary(FILE *out, const struct vt_torch_device_summary *summary, const char *when)
{
    char reserved[32], tensors[32], cached[32], largest[32], fragmented[32];
    fprintf(out, "PyTorch's caching allocator on device %d %s: %s reserved in %llu segment(s) = %s in %llu tensor(s) "
                 "+ %s cached and free in %llu block(s) (largest free block %s; %s fragmented)\n",
            summary->device, when, vt_format_bytes(summary->reserved_bytes, reserved, sizeof reserved),
            (unsigned long long)summary->segment_count,
            vt_format_bytes(summary->tensor_bytes, tensors, sizeof tensors), (unsigned long long)summary->tensor_count,
            vt_format_bytes(summary->cached_free_bytes, cached, sizeof cached),
            (unsigned long long)summary->cached_free_blocks,
            vt_format_bytes(summary->largest_free_block, largest, sizeof largest),
            vt_format_bytes(vt_torch_fragmented_bytes(summary), fragmented, sizeof fragmented));
}

static int compare_by_key(const void *a, const void *b)
{
    const struct vt_torch_group *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static int compare_largest_first(const void *a, const void *b)
{
    const struct vt_torch_group *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return compare_by_key(a, b);
}

bool vt_torch_group_tensors(const struct vt_torch_view *view, int device, struct vt_torch_groups *groups)
{
    memset(groups, 0, sizeof *groups);
    struct vt_torch_group *all = malloc((view->block_count ? view->block_count : 1) * sizeof *all);
    if (!all)
        return false;
    size_t count = 0;
    for (size_t i = 0; i < view->block_count; i++) {
        const struct vt_torch_block *block = &view->blocks[i];
        if (!vt_torch_block_is_tensor(block->state) || (device != VT_TORCH_ALL_DEVICES && block->device != device))
            continue;
        all[count++] = (struct vt_torch_group){block->stack_id, block->device, block->size_bytes,
                                               block->requested_bytes, 1};
        groups->bytes += block->size_bytes;
        groups->count++;
    }
    qsort(all, count, sizeof *all, compare_by_key);
    size_t merged = 0;
    for (size_t i = 0; i < count; i++) {
        if (merged > 0 && compare_by_key(&all[merged - 1], &all[i]) == 0) {
            all[merged - 1].bytes += all[i].bytes;
            all[merged - 1].requested_bytes += all[i].requested_bytes;
            all[merged - 1].count++;
        } else {
            all[merged++] = all[i];
        }
    }
    qsort(all, merged, sizeof *all, compare_largest_first);
    groups->groups = all;
    groups->group_count = merged;
    return true;
}

void vt_torch_groups_free(struct vt_torch_groups *groups)
{
    free(groups->groups);
    memset(groups, 0, sizeof *groups);
}

void vt_torch_print_group_head(FILE *out, const char *title, const struct vt_torch_group *group)
{
    char human[32], requested[32];
    fprintf(out, "%s of %llu byte(s) (%s; %s requested) in %llu tensor(s) on device %d", title,
            (unsigned long long)group->bytes, vt_format_bytes(group->bytes, human, sizeof human),
            vt_format_bytes(group->requested_bytes, requested, sizeof requested), (unsigned long long)group->count,
            group->device);
}

void vt_torch_print_rest(FILE *out, uint64_t groups, uint64_t bytes, uint64_t count)
{
    char human[32];
    fprintf(out, "... and %llu more group(s): %llu byte(s) (%s) in %llu tensor(s)", (unsigned long long)groups,
            (unsigned long long)bytes, vt_format_bytes(bytes, human, sizeof human), (unsigned long long)count);
}

bool vt_python_file_is_library(const char *file_name)
{
    if (file_name[0] == '<')
        return true; /* <frozen runpy>, <string>, <stdin> */
    static const char *const library_parts[] = {"/site-packages/", "/dist-packages/", "/torch/"};
    for (size_t i = 0; i < sizeof library_parts / sizeof *library_parts; i++)
        if (strstr(file_name, library_parts[i]))
            return true;
    /* the standard library: .../lib/python3.12/x.py, but not .../lib/python3.12/site-packages (above) */
    for (const char *lib = strstr(file_name, "/lib/python"); lib; lib = strstr(lib + 1, "/lib/python")) {
        const char *version = lib + strlen("/lib/python");
        if (*version >= '0' && *version <= '9' && strchr(version, '/'))
            return true;
    }
    return false;
}

long vt_python_user_frame(const uint64_t *frames, unsigned depth,
                          const char *(*file_of)(uint64_t frame, void *context), void *context)
{
    long chosen = -1;
    for (unsigned i = 0; frames && i < depth; i++) {
        if (!vt_frame_is_python(frames[i]))
            continue;
        const char *file_name = file_of(frames[i], context);
        if (!file_name)
            continue;
        bool library = vt_python_file_is_library(file_name);
        if (chosen < 0 || !library)
            chosen = (long)i;
        if (!library)
            break;
    }
    return chosen;
}
