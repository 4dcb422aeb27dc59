/* shim/python_codes.c — code objects to ids (see python_codes.h).
 *
 * Live code objects are found by address in an open-addressing table (linear probing, deletion
 * by backward shift, so forgetting leaves no tombstones) in mmap()ed memory; the codes themselves
 * are copied into an arena and reached by id through blocks of pointers that never move, like
 * stacks (stack_table.c). Nothing here calls malloc or into Python: strings and line tables are
 * read from the code object's memory with the layout python_frames.c chose.
 */
#define _GNU_SOURCE
#include "shim/python_codes.h"

#include "common/arena.h"
#include "shim/python_frames.h"

#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

enum {
    IDS_PER_BLOCK = 4096,
    ID_BLOCKS = 4096,           /* room for 16 million code objects */
    MAX_TEXT_BYTES = 4096,      /* longer names are cut */
    MAX_LINE_TABLE_BYTES = 64 << 10, /* a larger table is left out (the frame shows the first line):
                                        a CODE record must fit in a trace chunk with room to spare */
    FIRST_TABLE_SLOTS = 1024,
};

struct live_code {
    uintptr_t code; /* 0: empty slot */
    uint32_t id;
};

static struct live_code *live_codes; /* FIRST_TABLE_SLOTS << k slots, mmap()ed */
static size_t live_slots, live_count;
static const struct python_code **codes_by_id[ID_BLOCKS];
static size_t codes_stored; /* written under the recorder's lock, read anywhere */
static struct arena code_arena;

static inline size_t slot_of(uintptr_t code, size_t slots)
{
    uint64_t hash = (uint64_t)code * 0x9e3779b97f4a7c15u;
    return (size_t)(hash >> 32) & (slots - 1);
}

static struct live_code *map_table(size_t slots)
{
    void *mapped = mmap(NULL, slots * sizeof(struct live_code), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    return mapped == MAP_FAILED ? NULL : mapped;
}

/* Keeps the table at most half full. False when no memory can be had. */
static bool make_room(void)
{
    if (live_codes && (live_count + 1) * 2 <= live_slots)
        return true;
    size_t slots = live_codes ? live_slots * 2 : FIRST_TABLE_SLOTS;
    struct live_code *grown = map_table(slots);
    if (!grown)
        return false;
    for (size_t i = 0; i < live_slots; i++) {
        if (!live_codes[i].code)
            continue;
        size_t slot = slot_of(live_codes[i].code, slots);
        while (grown[slot].code)
            slot = (slot + 1) & (slots - 1);
        grown[slot] = live_codes[i];
    }
    if (live_codes)
        munmap(live_codes, live_slots * sizeof *live_codes);
    live_codes = grown;
    live_slots = slots;
    return true;
}

/* ---- reading a code object ------------------------------------------------------------------- */

static void put_utf8(char *out, size_t *length, uint32_t character)
{
    if (character < 0x80) {
        out[(*length)++] = (char)character;
    } else if (character < 0x800) {
        out[(*length)++] = (char)(0xc0 | character >> 6);
        out[(*length)++] = (char)(0x80 | (character & 63));
    } else if (character < 0x10000) {
        out[(*length)++] = (char)(0xe0 | character >> 12);
        out[(*length)++] = (char)(0x80 | ((character >> 6) & 63));
        out[(*length)++] = (char)(0x80 | (character & 63));
    } else {
        out[(*length)++] = (char)(0xf0 | character >> 18);
        out[(*length)++] = (char)(0x80 | ((character >> 12) & 63));
        out[(*length)++] = (char)(0x80 | ((character >> 6) & 63));
        out[(*length)++] = (char)(0x80 | (character & 63));
    }
}

/* A copy of the str object at `object` in UTF-8, or "?" when it is not a compact string. The
 * state bits (Include/cpython/unicodeobject.h, 3.9 to 3.13): interned:2, kind:3, compact:1,
 * ascii:1; the characters follow the header (ASCII) or the compact header (other kinds). */
static const char *copy_text(uintptr_t object, const struct python_code_layout *layout)
{
    enum { LENGTH_OFFSET = 16, STATE_OFFSET = 32 };
    if (!python_frames_is_str(object))
        return "?";
    size_t characters = *(const size_t *)(object + LENGTH_OFFSET);
    uint32_t state = *(const uint32_t *)(object + STATE_OFFSET);
    unsigned kind = (state >> 2) & 7;
    bool compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (!compact || (kind != 1 && kind != 2 && kind != 4))
        return "?";
    if (characters > MAX_TEXT_BYTES / 4)
        characters = MAX_TEXT_BYTES / 4;
    char *out = arena_alloc(&code_arena, characters * 4 + 1);
    if (!out)
        return "?";
    uintptr_t data = object + (ascii ? layout->ascii_header_bytes : layout->compact_header_bytes);
    size_t length = 0;
    for (size_t i = 0; i < characters; i++) {
        uint32_t character = kind == 1   ? ((const uint8_t *)data)[i]
                             : kind == 2 ? ((const uint16_t *)data)[i]
                                         : ((const uint32_t *)data)[i];
        bool representable = character && (character < 0xd800 || character > 0xdfff) && character < 0x110000;
        put_utf8(out, &length, representable ? character : 0xfffd); /* lone surrogates (undecodable bytes of a path): U+FFFD */
    }
    out[length] = '\0';
    return out;
}

/* A copy of the bytes object at `object`; *bytes is 0 when there is none. */
static const uint8_t *copy_bytes(uintptr_t object, uint32_t *bytes)
{
    enum { SIZE_OFFSET = 16, DATA_OFFSET = 32 };
    *bytes = 0;
    if (!python_frames_is_bytes(object))
        return NULL;
    size_t size = *(const size_t *)(object + SIZE_OFFSET);
    if (size > MAX_LINE_TABLE_BYTES)
        return NULL;
    uint8_t *out = arena_alloc(&code_arena, size ? size : 1);
    if (!out)
        return NULL;
    memcpy(out, (const void *)(object + DATA_OFFSET), size);
    *bytes = (uint32_t)size;
    return out;
}

static struct python_code *read_code(uintptr_t object)
{
    const struct python_code_layout *layout = python_frames_code_layout();
    if (!layout)
        return NULL;
    struct python_code *code = arena_alloc(&code_arena, sizeof *code);
    if (!code)
        return NULL;
    code->file_name = copy_text(*(const uintptr_t *)(object + layout->filename), layout);
    code->function_name =
        copy_text(*(const uintptr_t *)(object + (layout->qualname ? layout->qualname : layout->name)), layout);
    code->first_line = (uint32_t)*(const int *)(object + layout->first_line);
    code->line_table_format = (uint8_t)layout->line_table_format;
    code->line_table = copy_bytes(*(const uintptr_t *)(object + layout->line_table), &code->line_table_bytes);
    if (!code->line_table)
        code->line_table_format = VT_LINE_TABLE_NONE; /* too large or unreadable: frames show the first line */
    return code;
}

/* ---- the table --------------------------------------------------------------------------------- */

static const struct python_code **id_slot(size_t index)
{
    size_t block = index / IDS_PER_BLOCK;
    if (block >= ID_BLOCKS)
        return NULL;
    if (!codes_by_id[block]) {
        const struct python_code **fresh = arena_alloc(&code_arena, IDS_PER_BLOCK * sizeof *fresh);
        if (!fresh)
            return NULL;
        __atomic_store_n(&codes_by_id[block], fresh, __ATOMIC_RELEASE);
    }
    return &codes_by_id[block][index % IDS_PER_BLOCK];
}

uint32_t python_code_intern(uintptr_t code)
{
    if (!code || !make_room())
        return 0;
    size_t slot = slot_of(code, live_slots);
    while (live_codes[slot].code) {
        if (live_codes[slot].code == code)
            return live_codes[slot].id;
        slot = (slot + 1) & (live_slots - 1);
    }
    const struct python_code **by_id = id_slot(codes_stored);
    struct python_code *stored = by_id ? read_code(code) : NULL;
    if (!stored)
        return 0;
    *by_id = stored;
    uint32_t id = (uint32_t)codes_stored + 1;
    live_codes[slot] = (struct live_code){code, id};
    live_count++;
    __atomic_store_n(&codes_stored, codes_stored + 1, __ATOMIC_RELEASE);
    return id;
}

static const char *copy_name(const char *text, size_t length)
{
    if (length > MAX_TEXT_BYTES)
        length = MAX_TEXT_BYTES;
    char *out = arena_alloc(&code_arena, length + 1);
    if (out) {
        memcpy(out, text, length);
        out[length] = 0;
    }
    return out;
}

uint32_t python_code_add_named(const char *file_name, size_t file_name_length, const char *function_name,
                               size_t function_name_length)
{
    const struct python_code **by_id = id_slot(codes_stored);
    struct python_code *stored = by_id ? arena_alloc(&code_arena, sizeof *stored) : NULL;
    if (!stored)
        return 0;
    *stored = (struct python_code){
        .file_name = copy_name(file_name, file_name_length),
        .function_name = copy_name(function_name, function_name_length),
        .line_table_format = VT_LINE_TABLE_LINE_NUMBERS,
    };
    if (!stored->file_name || !stored->function_name)
        return 0;
    *by_id = stored;
    __atomic_store_n(&codes_stored, codes_stored + 1, __ATOMIC_RELEASE);
    return (uint32_t)codes_stored;
}

void python_codes_forget(uintptr_t code)
{
    if (!live_codes)
        return;
    size_t mask = live_slots - 1, slot = slot_of(code, live_slots);
    while (live_codes[slot].code && live_codes[slot].code != code)
        slot = (slot + 1) & mask;
    if (!live_codes[slot].code)
        return; /* never seen in a stack */
    /* Backward-shift deletion: move later members of the run into the hole when their home slot
     * allows, so lookups never need tombstones. */
    size_t hole = slot;
    for (size_t next = (hole + 1) & mask; live_codes[next].code; next = (next + 1) & mask) {
        size_t home = slot_of(live_codes[next].code, live_slots);
        bool movable = hole <= next ? (home <= hole || home > next) : (home <= hole && home > next);
        if (movable) {
            live_codes[hole] = live_codes[next];
            hole = next;
        }
    }
    live_codes[hole] = (struct live_code){0, 0};
    live_count--;
}

const struct python_code *python_code_get(uint32_t id)
{
    if (id == 0 || id > __atomic_load_n(&codes_stored, __ATOMIC_ACQUIRE))
        return NULL;
    const struct python_code **block = __atomic_load_n(&codes_by_id[(id - 1) / IDS_PER_BLOCK], __ATOMIC_ACQUIRE);
    return block[(id - 1) % IDS_PER_BLOCK];
}

size_t python_code_count(void)
{
    return __atomic_load_n(&codes_stored, __ATOMIC_ACQUIRE);
}

void python_codes_forget_all(void)
{
    live_codes = NULL;
    live_slots = live_count = 0;
    memset(codes_by_id, 0, sizeof codes_by_id);
    memset(&code_arena, 0, sizeof code_arena);
    __atomic_store_n(&codes_stored, 0, __ATOMIC_RELEASE);
}

void python_codes_reset(void)
{
    if (live_codes)
        munmap(live_codes, live_slots * sizeof *live_codes);
    arena_release(&code_arena);
    python_codes_forget_all();
}
