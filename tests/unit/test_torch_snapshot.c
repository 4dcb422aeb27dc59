/* Unit tests of shim/torch_snapshot.c and common/torch_layer.c: a snapshot blob as the bootstrap
 * builds it (include/vramtrace/shim_api.h) is read into a view whose stacks are the shim's own
 * Python frames; the per-device sums, tensor groups and ownership of CUDA memory follow from it;
 * and a malformed blob — cut at any byte, with an index out of range — is refused, never read
 * past its end. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/python_lines.h"
#include "common/torch_layer.h"
#include "shim/python_codes.h"
#include "shim/recorder.h"
#include "shim/stack_table.h"
#include "shim/torch_snapshot.h"
#include "vramtrace/frames.h"
#include "vramtrace/shim_api.h"

static void start(void)
{
    struct recorder_settings settings = {.stack_depth = 0, .quiet = true};
    recorder_reset(&settings);
    torch_snapshot_reset();
}

TestSuite(torch_snapshot, .init = start);

struct blob {
    uint8_t bytes[4096];
    size_t length;
};

static void put(struct blob *b, const void *data, size_t length)
{
    cr_assert_leq(b->length + length, sizeof b->bytes);
    memcpy(b->bytes + b->length, data, length);
    b->length += length;
}

static void u32(struct blob *b, uint32_t value)
{
    put(b, &value, sizeof value);
}

static void u64(struct blob *b, uint64_t value)
{
    put(b, &value, sizeof value);
}

static void text(struct blob *b, const char *value)
{
    u32(b, (uint32_t)strlen(value));
    put(b, value, strlen(value));
}

enum { MiB = 1 << 20 };

/* One device, two 2 MiB segments: the first holds a 512 KiB tensor from train.py:12 (under a
 * library frame), a free 1 MiB block and another 512 KiB tensor from train.py:20; the second is
 * free. `block_stack` is the second tensor's stack reference (2 is valid). */
static struct blob exit_snapshot(uint32_t block_stack)
{
    struct blob b = {.length = 0};
    put(&b, VRAMTRACE_TORCH_BLOB_MAGIC, 4);
    u32(&b, VRAMTRACE_TORCH_BLOB_VERSION);
    u32(&b, VT_TORCH_AT_EXIT);
    u32(&b, 0);          /* dump number */
    u32(&b, (uint32_t)-1); /* no OOM device */
    u32(&b, VT_TORCH_HISTORY);
    u64(&b, 0);          /* OOM request */
    u64(&b, 1234);       /* cost */
    u32(&b, 4);          /* strings */
    text(&b, "/venv/lib/python3.12/site-packages/torch/nn/modules/linear.py");
    text(&b, "Linear.forward");
    text(&b, "/home/me/train.py");
    text(&b, "train");
    u32(&b, 3);          /* frames: (file, function, line) */
    u32(&b, 0), u32(&b, 1), u32(&b, 125);
    u32(&b, 2), u32(&b, 3), u32(&b, 12);
    u32(&b, 2), u32(&b, 3), u32(&b, 20);
    u32(&b, 3);          /* the frame list: stack 1 = [linear, train:12], stack 2 = [train:20] */
    u32(&b, 0), u32(&b, 1), u32(&b, 2);
    u32(&b, 2);          /* stacks: depths */
    u32(&b, 2), u32(&b, 1);
    u32(&b, 0);          /* OOM stack: none */
    u32(&b, 1);          /* devices */
    u32(&b, 0), u64(&b, 100 * MiB), u64(&b, 1024 * MiB);
    u32(&b, 2);          /* segments: device, flags, address, size, stream, stack */
    u32(&b, 0), u32(&b, 0), u64(&b, 0x10000000), u64(&b, 2 * MiB), u64(&b, 0), u32(&b, 1);
    u32(&b, 0), u32(&b, 0), u64(&b, 0x20000000), u64(&b, 2 * MiB), u64(&b, 0), u32(&b, 0);
    u32(&b, 4);          /* blocks: device, state, address, size, requested, stack */
    u32(&b, 0), u32(&b, VT_TORCH_BLOCK_ACTIVE), u64(&b, 0x10000000), u64(&b, MiB / 2), u64(&b, 500000), u32(&b, 1);
    u32(&b, 0), u32(&b, VT_TORCH_BLOCK_INACTIVE), u64(&b, 0x10080000), u64(&b, MiB), u64(&b, MiB), u32(&b, 0);
    u32(&b, 0), u32(&b, VT_TORCH_BLOCK_ACTIVE), u64(&b, 0x10180000), u64(&b, MiB / 2), u64(&b, MiB / 2),
        u32(&b, block_stack);
    u32(&b, 0), u32(&b, VT_TORCH_BLOCK_INACTIVE), u64(&b, 0x20000000), u64(&b, 2 * MiB), u64(&b, 2 * MiB), u32(&b, 0);
    u32(&b, 1);          /* history: device, action, address, size, stream, time, stack */
    u32(&b, 0), u32(&b, VT_TORCH_ACTION_ALLOC), u64(&b, 0x10180000), u64(&b, MiB / 2), u64(&b, 0), u64(&b, 0),
        u32(&b, 2);
    return b;
}

/* "FUNCTION FILE:LINE" of frame `index` of a stack of the shim's. */
static void frame_text(uint32_t stack_id, unsigned index, char *out, size_t size)
{
    unsigned depth = 0;
    const uintptr_t *frames = stack_frames(stack_id, &depth);
    cr_assert_not_null(frames);
    cr_assert_lt(index, depth);
    cr_assert(vt_frame_is_python(frames[index]));
    const struct python_code *code = python_code_get(vt_python_frame_code(frames[index]));
    cr_assert_not_null(code);
    int line = vt_python_line(code->line_table_format, code->line_table, code->line_table_bytes,
                              (int)code->first_line, vt_python_frame_offset(frames[index]));
    snprintf(out, size, "%s %s:%d", code->function_name, code->file_name, line);
}

Test(torch_snapshot, a_snapshot_becomes_a_view_with_the_shims_python_frames)
{
    struct blob b = exit_snapshot(2);
    cr_assert_eq(torch_snapshot_receive(b.bytes, b.length), 0);
    const struct torch_snapshot *snapshot = torch_snapshot_acquire(VT_TORCH_AT_EXIT);
    cr_assert_not_null(snapshot);
    cr_assert_eq(snapshot->view.segment_count, 2);
    cr_assert_eq(snapshot->view.block_count, 4);
    char frame[512];
    frame_text(snapshot->view.blocks[0].stack_id, 0, frame, sizeof frame);
    cr_assert_str_eq(frame, "Linear.forward /venv/lib/python3.12/site-packages/torch/nn/modules/linear.py:125");
    frame_text(snapshot->view.blocks[0].stack_id, 1, frame, sizeof frame);
    cr_assert_str_eq(frame, "train /home/me/train.py:12");
    frame_text(snapshot->view.blocks[2].stack_id, 0, frame, sizeof frame);
    cr_assert_str_eq(frame, "train /home/me/train.py:20");
    cr_assert_eq(snapshot->view.segments[0].stack_id, snapshot->view.blocks[0].stack_id, "one stack, one id");

    struct vt_torch_device_summary summary[4];
    cr_assert_eq(vt_torch_view_summarize(&snapshot->view, summary, 4), 1);
    cr_assert_eq(summary[0].reserved_bytes, 4 * MiB);
    cr_assert_eq(summary[0].tensor_bytes, MiB);
    cr_assert_eq(summary[0].tensor_count, 2);
    cr_assert_eq(summary[0].tensor_requested_bytes, 500000 + MiB / 2);
    cr_assert_eq(summary[0].cached_free_bytes, 3 * MiB);
    cr_assert_eq(summary[0].largest_free_block, 2 * MiB);
    cr_assert_eq(vt_torch_fragmented_bytes(&summary[0]), MiB);
    cr_assert_eq(summary[0].driver_free_bytes, 100 * MiB);
    cr_assert_eq(summary[0].driver_total_bytes, 1024 * MiB);

    struct vt_torch_groups groups;
    cr_assert(vt_torch_group_tensors(&snapshot->view, VT_TORCH_ALL_DEVICES, &groups));
    cr_assert_eq(groups.group_count, 2, "two stacks");
    cr_assert_eq(groups.bytes, MiB);
    vt_torch_groups_free(&groups);

    /* the CUDA layer: a segment's cudaMalloc is PyTorch's; memory beside it is not */
    cr_assert(vt_torch_view_owns(&snapshot->view, 0, 0x10000000, 2 * MiB));
    cr_assert(vt_torch_view_owns(&snapshot->view, 0, 0x20000000, 2 * MiB));
    cr_assert_not(vt_torch_view_owns(&snapshot->view, 1, 0x10000000, 2 * MiB), "another device's");
    cr_assert_not(vt_torch_view_owns(&snapshot->view, 0, 0x10000000, 3 * MiB), "larger than the segment");
    cr_assert_not(vt_torch_view_owns(&snapshot->view, 0, 0x30000000, 4096));
    cr_assert(vt_torch_view_overlaps(&snapshot->view, 0x0f000000, 0x02000000), "a reservation around a segment");
    cr_assert_not(vt_torch_view_overlaps(&snapshot->view, 0x10200000, 0x100000), "between the segments");
    torch_snapshot_release();
}

Test(torch_snapshot, a_blob_cut_anywhere_is_refused)
{
    struct blob whole = exit_snapshot(2);
    for (size_t length = 0; length < whole.length; length++)
        cr_assert_eq(torch_snapshot_receive(whole.bytes, length), -1, "cut at %zu of %zu", length, whole.length);
    cr_assert_null(torch_snapshot_acquire(VT_TORCH_AT_EXIT), "nothing kept");
    torch_snapshot_release();
    cr_assert_eq(torch_snapshot_receive(NULL, 0), -1);
}

Test(torch_snapshot, a_stack_reference_out_of_range_is_refused)
{
    struct blob b = exit_snapshot(3); /* there are two stacks */
    cr_assert_eq(torch_snapshot_receive(b.bytes, b.length), -1);
    b = exit_snapshot(2);
    memcpy(b.bytes, "XXXX", 4);
    cr_assert_eq(torch_snapshot_receive(b.bytes, b.length), -1, "bad magic");
}

Test(torch_snapshot, files_of_libraries_are_told_from_the_users)
{
    cr_assert(vt_python_file_is_library("/usr/lib/python3.12/site-packages/torch/nn/modules/module.py"));
    cr_assert(vt_python_file_is_library("/opt/venv/lib/python3.12/dist-packages/numpy/core.py"));
    cr_assert(vt_python_file_is_library("/usr/lib/python3.12/threading.py"));
    cr_assert(vt_python_file_is_library("/src/tests/standin_torch/torch/_tensor.py"));
    cr_assert(vt_python_file_is_library("<frozen runpy>"));
    cr_assert_not(vt_python_file_is_library("/home/me/train.py"));
    cr_assert_not(vt_python_file_is_library("/home/me/lib/python/model.py"), "no version directory");
    cr_assert_not(vt_python_file_is_library("train.py"));
}
