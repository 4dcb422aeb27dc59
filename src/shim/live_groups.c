/* shim/live_groups.c — grouping and printing live allocations (see live_groups.h). Runs in the
 * report paths only (exit, OOM worker): it may allocate and do I/O. */
#define _GNU_SOURCE
#include "shim/live_groups.h"

#include "common/format.h"
#include "common/alloc_table.h"
#include "shim/recorder.h"
#include "shim/stack_table.h"
#include "shim/symbolizer.h"
#include "shim/thread_names.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct group_key {
    uint32_t stack_id;
    uint16_t api;
    uint8_t kind;
    uint8_t padding;
};

struct group_entry {
    UT_hash_handle hh;
    struct group_key key;
    struct live_group group;
};

struct collection {
    int device;
    const struct vt_torch_view *torch;     /* leave PyTorch's segments out (NULL: none) */
    struct vt_torch_handles torch_handles; /* cuMemCreate handles mapped inside them */
    struct group_entry *entries;
    struct live_groups *groups;
    size_t mapping_capacity;
};

static void keep_mapping(struct collection *collection, const struct alloc_record *record)
{
    struct live_groups *groups = collection->groups;
    if (groups->mapping_count == collection->mapping_capacity) {
        size_t capacity = collection->mapping_capacity ? collection->mapping_capacity * 2 : 64;
        struct mapped_range *grown = realloc(groups->mappings, capacity * sizeof *grown);
        if (!grown) {
            groups->incomplete = true;
            return;
        }
        groups->mappings = grown;
        collection->mapping_capacity = capacity;
    }
    groups->mappings[groups->mapping_count++] =
        (struct mapped_range){record->backing_handle, record->address, record->size_bytes};
}

/* First pass: the physical handles PyTorch's expandable segments map. */
static void note_torch_handle(const struct alloc_record *record, void *context)
{
    struct collection *collection = context;
    vt_torch_handles_note(&collection->torch_handles, collection->torch, record);
}

static void add_record(const struct alloc_record *record, void *context)
{
    struct collection *collection = context;
    if (collection->device != LIVE_GROUPS_ALL_DEVICES && record->device != collection->device)
        return;
    if (collection->torch && vt_torch_view_holds(collection->torch, &collection->torch_handles, record)) {
        if (record->kind == VT_KIND_DEVICE) {
            collection->groups->torch_bytes += record->size_bytes;
            collection->groups->torch_count++;
        }
        return;
    }
    if (record->kind == VT_KIND_MAPPED_RANGE) {
        keep_mapping(collection, record);
        return;
    }
    struct group_key key = {.stack_id = record->stack_id, .api = record->api, .kind = record->kind};
    struct group_entry *entry;
    HASH_FIND(hh, collection->entries, &key, sizeof key, entry);
    if (!entry) {
        entry = calloc(1, sizeof *entry);
        if (!entry) {
            collection->groups->incomplete = true;
            return;
        }
        entry->key = key;
        entry->group.stack_id = key.stack_id;
        entry->group.api = key.api;
        entry->group.kind = key.kind;
        HASH_ADD(hh, collection->entries, key, sizeof key, entry);
        if (!entry->hh.tbl) { /* out of memory growing the table */
            free(entry);
            collection->groups->incomplete = true;
            return;
        }
    }
    entry->group.bytes += record->size_bytes;
    entry->group.count++;
    if (record->api == VT_API_cuMemCreate && entry->group.handles_kept < LIVE_GROUP_HANDLES_KEPT)
        entry->group.handles[entry->group.handles_kept++] = record->address;
    vt_thread_tally_add(&entry->group.threads, record->thread_id, record->size_bytes);
    collection->groups->incomplete |= entry->group.threads.incomplete;
    collection->groups->bytes_by_kind[record->kind] += record->size_bytes;
    collection->groups->count_by_kind[record->kind]++;
}

static int by_kind_then_largest(const void *left, const void *right)
{
    const struct live_group *a = left, *b = right;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->stack_id < b->stack_id ? -1 : a->stack_id > b->stack_id;
}

void live_groups_collect(struct live_groups *groups, int device)
{
    live_groups_collect_outside_torch(groups, device, NULL);
}

void live_groups_collect_outside_torch(struct live_groups *groups, int device, const struct vt_torch_view *torch)
{
    memset(groups, 0, sizeof *groups);
    struct collection collection = {.device = device, .torch = torch, .groups = groups};
    if (torch) {
        recorder_visit_live(note_torch_handle, &collection);
        vt_torch_handles_sort(&collection.torch_handles);
        groups->incomplete |= collection.torch_handles.incomplete;
    }
    recorder_visit_live(add_record, &collection);
    vt_torch_handles_free(&collection.torch_handles);
    size_t count = HASH_COUNT(collection.entries);
    groups->groups = calloc(count ? count : 1, sizeof *groups->groups);
    struct group_entry *entry, *next;
    HASH_ITER(hh, collection.entries, entry, next) {
        vt_thread_tally_sort(&entry->group.threads);
        if (groups->groups)
            groups->groups[groups->group_count++] = entry->group;
        else
            vt_thread_tally_free(&entry->group.threads);
        HASH_DEL(collection.entries, entry);
        free(entry);
    }
    if (!groups->groups)
        groups->incomplete = true;
    else
        qsort(groups->groups, groups->group_count, sizeof *groups->groups, by_kind_then_largest);
}

void live_groups_free(struct live_groups *groups)
{
    for (size_t i = 0; i < groups->group_count; i++)
        vt_thread_tally_free(&groups->groups[i].threads);
    free(groups->groups);
    free(groups->mappings);
    memset(groups, 0, sizeof *groups);
}

static const char *module_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void render_stack(FILE *out, struct symbolizer *symbolizer, uint32_t stack_id)
{
    unsigned depth = 0;
    const uintptr_t *frames = stack_frames(stack_id, &depth);
    if (!frames) {
        fprintf(out, "    (no stack recorded: VRAMTRACE_STACK_DEPTH=0)\n");
        return;
    }
    unsigned number = 0;
    for (unsigned i = 0; i < depth; i++) {
        struct symbolized_frame expanded[SYMBOLIZER_FRAMES_MAX];
        unsigned count = symbolizer_lookup(symbolizer, frames[i], expanded, SYMBOLIZER_FRAMES_MAX);
        for (unsigned k = 0; k < count && k < SYMBOLIZER_FRAMES_MAX; k++) {
            const struct symbolized_frame *frame = &expanded[k];
            if (frame->kind == VT_FRAME_PYTHON) /* a Python frame has no address */
                fprintf(out, "    #%u in %s", number++, frame->function);
            else
                fprintf(out, "    #%u 0x%012lx in %s", number++, (unsigned long)frames[i], frame->function);
            if (frame->source_file)
                fprintf(out, " %s:%d", frame->source_file, frame->source_line);
            if (frame->module_path)
                fprintf(out, " (%s+0x%lx)", module_basename(frame->module_path), (unsigned long)frame->module_offset);
            fputs(frame->kind == VT_FRAME_PYTHON ? " [python]\n" : "\n", out);
        }
    }
}

static void render_mappings(FILE *out, const struct live_groups *groups, const struct live_group *group)
{
    unsigned shown = 0;
    for (unsigned h = 0; h < group->handles_kept; h++)
        for (size_t m = 0; m < groups->mapping_count; m++) {
            const struct mapped_range *range = &groups->mappings[m];
            if (range->handle != group->handles[h])
                continue;
            fprintf(out, "%s0x%llx-0x%llx", shown++ ? ", " : "  mapped at ", (unsigned long long)range->address,
                    (unsigned long long)(range->address + range->size_bytes));
        }
    if (shown)
        fprintf(out, "%s\n", group->count > group->handles_kept ? ", ..." : "");
}

void live_groups_render_kind(FILE *out, struct symbolizer *symbolizer, const struct live_groups *groups,
                             enum vt_memory_kind kind, const char *title, unsigned top)
{
    char human[32], threads[160];
    unsigned shown = 0;
    uint64_t hidden_bytes = 0, hidden_count = 0, hidden_groups = 0;
    for (size_t i = 0; i < groups->group_count; i++) {
        const struct live_group *group = &groups->groups[i];
        if (group->kind != kind)
            continue;
        if (shown == top) {
            hidden_bytes += group->bytes;
            hidden_count += group->count;
            hidden_groups++;
            continue;
        }
        shown++;
        fprintf(out, "%s of %llu byte(s) (%s) in %llu allocation(s) of %s memory, %s, allocated from:\n", title,
                (unsigned long long)group->bytes, vt_format_bytes(group->bytes, human, sizeof human),
                (unsigned long long)group->count, vt_memory_kind_name(kind), vt_api_name(group->api));
        if (vt_thread_tally_known(&group->threads))
            fprintf(out, "  %s\n", vt_format_threads(&group->threads, thread_names_find, NULL, threads, sizeof threads));
        render_mappings(out, groups, group);
        render_stack(out, symbolizer, group->stack_id);
        fputc('\n', out);
    }
    if (hidden_groups)
        fprintf(out, "... and %llu more group(s): %llu byte(s) in %llu allocation(s) (VRAMTRACE_TOP=%u shows %u per kind)\n\n",
                (unsigned long long)hidden_groups, (unsigned long long)hidden_bytes,
                (unsigned long long)hidden_count, top, top);
}
