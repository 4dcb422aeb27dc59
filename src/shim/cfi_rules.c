/* shim/cfi_rules.c — the CFI row at one code address, as libunwind 1.6 reads it (see cfi_rules.h).
 *
 * What libunwind does, and so what this file does, step by step (libunwind's sources named):
 *   1. the module: the one whose PT_LOAD segment holds the address (dwarf_callback);
 *   2. the FDE: a binary search of .eh_frame_hdr's table (lookup, dwarf_search_unwind_table),
 *      then the FDE's own range must hold the address;
 *   3. the row: the CIE's initial instructions, then the FDE's up to and including the address
 *      (setup_fde, parse_fde, run_cfi_program);
 *   4. the step: CFA from a register, registers from CFA-relative slots (apply_reg_state), and
 *      the fast trace's classification of the row (tdep_stash_frame), or the end of the stack
 *      (unw_step returning 0: return address or rbp undefined).
 * Wherever libunwind would take another path (a search table in another encoding, a linear
 * search, .debug_frame, a signal frame, an expression, an error in the CFA program, an opcode it
 * does not know), the answer is CFI_RULE_UNSUPPORTED. Every read stays inside the module's
 * readable PT_LOAD segments.
 */
#define _GNU_SOURCE
#include "shim/cfi_rules.h"

#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum {
    DW_EH_PE_absptr = 0x00,
    DW_EH_PE_udata2 = 0x02,
    DW_EH_PE_udata4 = 0x03,
    DW_EH_PE_udata8 = 0x04,
    DW_EH_PE_sdata2 = 0x0a,
    DW_EH_PE_sdata4 = 0x0b,
    DW_EH_PE_sdata8 = 0x0c,
    DW_EH_PE_pcrel = 0x10,
    DW_EH_PE_datarel = 0x30,
    DW_EH_PE_funcrel = 0x40,
    DW_EH_PE_omit = 0xff,
    DW_EH_PE_FORMAT_MASK = 0x0f,
    DW_EH_PE_APPL_MASK = 0x70,
};

enum {
    DW_CFA_nop = 0x00,
    DW_CFA_set_loc = 0x01,
    DW_CFA_advance_loc1 = 0x02,
    DW_CFA_advance_loc2 = 0x03,
    DW_CFA_advance_loc4 = 0x04,
    DW_CFA_offset_extended = 0x05,
    DW_CFA_restore_extended = 0x06,
    DW_CFA_undefined = 0x07,
    DW_CFA_same_value = 0x08,
    DW_CFA_register = 0x09,
    DW_CFA_remember_state = 0x0a,
    DW_CFA_restore_state = 0x0b,
    DW_CFA_def_cfa = 0x0c,
    DW_CFA_def_cfa_register = 0x0d,
    DW_CFA_def_cfa_offset = 0x0e,
    DW_CFA_def_cfa_expression = 0x0f,
    DW_CFA_expression = 0x10,
    DW_CFA_offset_extended_sf = 0x11,
    DW_CFA_def_cfa_sf = 0x12,
    DW_CFA_def_cfa_offset_sf = 0x13,
    DW_CFA_val_expression = 0x16,
    DW_CFA_GNU_args_size = 0x2e,
    DW_CFA_GNU_negative_offset_extended = 0x2f,
    DW_CFA_advance_loc = 0x40,
    DW_CFA_offset = 0x80,
    DW_CFA_restore = 0xc0,
};

/* x86-64 DWARF register numbers; libunwind keeps rules for 0..16 and rejects the others. */
enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16, REG_COUNT = 17 };

enum { SEGMENTS_AT_MOST = 16, REMEMBERED_ROWS_AT_MOST = 8 };

/* ---- bounded reads ----------------------------------------------------------------------------- */

struct module_view {
    uintptr_t start[SEGMENTS_AT_MOST], end[SEGMENTS_AT_MOST]; /* readable PT_LOAD segments */
    unsigned count;
};

struct reader {
    uintptr_t pos, end; /* end: the end of the segment (or of the record) being read */
    bool failed;
};

/* A reader at `address`, limited to the readable segment that holds it. */
static struct reader reader_at(const struct module_view *module, uintptr_t address)
{
    for (unsigned i = 0; i < module->count; i++)
        if (address >= module->start[i] && address < module->end[i])
            return (struct reader){.pos = address, .end = module->end[i]};
    return (struct reader){.failed = true};
}

static bool take(struct reader *r, size_t bytes, void *out)
{
    if (r->failed || r->end - r->pos < bytes) {
        r->failed = true;
        memset(out, 0, bytes);
        return false;
    }
    memcpy(out, (const void *)r->pos, bytes);
    r->pos += bytes;
    return true;
}

#define READ_FIXED(name, type)                  \
    static type name(struct reader *r)          \
    {                                           \
        type value;                             \
        take(r, sizeof value, &value);          \
        return value;                           \
    }
READ_FIXED(read_u8, uint8_t)
READ_FIXED(read_u16, uint16_t)
READ_FIXED(read_u32, uint32_t)
READ_FIXED(read_u64, uint64_t)
READ_FIXED(read_s16, int16_t)
READ_FIXED(read_s32, int32_t)
READ_FIXED(read_s64, int64_t)

static uint64_t read_uleb(struct reader *r)
{
    uint64_t value = 0;
    for (unsigned shift = 0; !r->failed; shift += 7) {
        uint8_t byte = read_u8(r);
        if (shift < 64)
            value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            break;
    }
    return value;
}

static int64_t read_sleb(struct reader *r)
{
    uint64_t value = 0;
    unsigned shift = 0;
    uint8_t byte = 0;
    do {
        byte = read_u8(r);
        if (shift < 64)
            value |= (uint64_t)(byte & 0x7f) << shift;
        shift += 7;
    } while ((byte & 0x80) && !r->failed);
    if (shift < 64 && (byte & 0x40))
        value |= ~(uint64_t)0 << shift;
    return (int64_t)value;
}

/* dwarf_read_encoded_pointer for the encodings compilers and linkers use in .eh_frame: absolute
 * or pc-relative, fixed-size. False (and the caller gives up) for any other. A raw 0 stays 0, as
 * libunwind has it. */
static bool read_encoded(struct reader *r, uint8_t encoding, uintptr_t *value)
{
    if (encoding == DW_EH_PE_omit) {
        *value = 0;
        return true;
    }
    uintptr_t field = r->pos;
    uint64_t raw;
    switch (encoding & DW_EH_PE_FORMAT_MASK) {
    case DW_EH_PE_absptr: /* DW_EH_PE_ptr: an address-sized word */
    case DW_EH_PE_udata8:
        raw = read_u64(r);
        break;
    case DW_EH_PE_udata2:
        raw = read_u16(r);
        break;
    case DW_EH_PE_udata4:
        raw = read_u32(r);
        break;
    case DW_EH_PE_sdata2:
        raw = (uint64_t)(int64_t)read_s16(r);
        break;
    case DW_EH_PE_sdata4:
        raw = (uint64_t)(int64_t)read_s32(r);
        break;
    case DW_EH_PE_sdata8:
        raw = (uint64_t)read_s64(r);
        break;
    default:
        return false;
    }
    if (r->failed || (encoding & 0x80)) /* indirect: not used in .eh_frame's own fields */
        return false;
    if (raw == 0) {
        *value = 0;
        return true;
    }
    switch (encoding & DW_EH_PE_APPL_MASK) {
    case DW_EH_PE_absptr:
        *value = (uintptr_t)raw;
        return true;
    case DW_EH_PE_pcrel:
        *value = (uintptr_t)raw + field;
        return true;
    default:
        return false;
    }
}

/* Skips an encoded pointer without applying it (personality and LSDA pointers): libunwind reads
 * them and fails on encodings it does not know, so only those it knows are skipped here (of its
 * formats, the fixed-size ones; the others make the caller give up). */
static bool skip_encoded(struct reader *r, uint8_t encoding)
{
    if (encoding == DW_EH_PE_omit)
        return true;
    static const uint8_t sizes[16] = {[DW_EH_PE_absptr] = 8, [DW_EH_PE_udata2] = 2, [DW_EH_PE_udata4] = 4,
                                      [DW_EH_PE_udata8] = 8, [DW_EH_PE_sdata2] = 2, [DW_EH_PE_sdata4] = 4,
                                      [DW_EH_PE_sdata8] = 8};
    uint8_t application = encoding & DW_EH_PE_APPL_MASK, size = sizes[encoding & DW_EH_PE_FORMAT_MASK];
    bool known_application = application == DW_EH_PE_absptr || application == DW_EH_PE_pcrel ||
                             application == DW_EH_PE_datarel || application == DW_EH_PE_funcrel;
    uint64_t ignored;
    return known_application && size && take(r, size, &ignored);
}

/* Skips a DWARF block (a ULEB128 length, then that many bytes). */
static bool skip_block(struct reader *r)
{
    uint64_t length = read_uleb(r);
    if (r->failed || length > r->end - r->pos)
        return r->failed = true, false;
    r->pos += length;
    return true;
}

/* ---- CIE and FDE ------------------------------------------------------------------------------- */

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint64_t return_address_column;
    uint8_t fde_encoding, lsda_encoding;
    bool sized_augmentation;
    uintptr_t instructions, end;
};

struct fde {
    uintptr_t start, end; /* code range */
    uintptr_t instructions, instructions_end;
};

/* parse_cie, for .eh_frame CIEs; false where libunwind would fail or where the CIE is not one
 * this file follows (a signal frame, an augmentation it does not know). */
static bool parse_cie(const struct module_view *module, uintptr_t address, struct cie *cie)
{
    struct reader r = reader_at(module, address);
    uint32_t length = read_u32(&r);
    if (r.failed || length == 0xffffffffu || length > r.end - r.pos)
        return false; /* 64-bit DWARF: not emitted for x86-64 .eh_frame */
    cie->end = r.pos + length;
    r.end = cie->end;
    if (read_u32(&r) != 0)
        return false; /* a CIE's id is 0 in .eh_frame */
    uint8_t version = read_u8(&r);
    if (version != 1 && version != 3 && version != 4)
        return false;
    char augmentation[5]; /* libunwind keeps the first four characters and ignores the rest */
    size_t length_seen = 0;
    for (uint8_t ch; (ch = read_u8(&r)) != 0 && !r.failed;) {
        if (length_seen == sizeof augmentation - 1)
            return false; /* longer than libunwind reads: not followed here */
        augmentation[length_seen++] = (char)ch;
    }
    augmentation[length_seen] = '\0';
    cie->code_align = read_uleb(&r);
    cie->data_align = read_sleb(&r);
    cie->return_address_column = version == 1 ? read_u8(&r) : read_uleb(&r);
    cie->fde_encoding = DW_EH_PE_udata8; /* address-sized, as libunwind defaults */
    cie->lsda_encoding = DW_EH_PE_omit;
    cie->sized_augmentation = augmentation[0] == 'z';
    uintptr_t augmentation_end = 0;
    if (cie->sized_augmentation) {
        uint64_t size = read_uleb(&r);
        augmentation_end = r.pos + size;
    } else if (augmentation[0] != '\0') {
        return false;
    }
    for (const char *a = augmentation + cie->sized_augmentation; *a && !r.failed; a++) {
        switch (*a) {
        case 'L':
            cie->lsda_encoding = read_u8(&r);
            break;
        case 'R':
            cie->fde_encoding = read_u8(&r);
            break;
        case 'P':
            if (!skip_encoded(&r, read_u8(&r)))
                return false;
            break;
        default: /* 'S' (a signal frame) and anything libunwind would stop parsing at */
            return false;
        }
    }
    if (r.failed || (cie->sized_augmentation && r.pos != augmentation_end))
        return false;
    cie->instructions = r.pos;
    return true;
}

/* dwarf_extract_proc_info_from_fde with the unwind information. */
static bool parse_fde(const struct module_view *module, uintptr_t address, struct cie *cie, struct fde *fde)
{
    struct reader r = reader_at(module, address);
    uint32_t length = read_u32(&r);
    if (r.failed || length == 0 || length == 0xffffffffu || length > r.end - r.pos)
        return false;
    fde->instructions_end = r.pos + length;
    r.end = fde->instructions_end;
    uintptr_t cie_pointer_field = r.pos;
    int32_t cie_offset = read_s32(&r);
    if (r.failed || cie_offset == 0)
        return false; /* a CIE where an FDE was expected */
    if (!parse_cie(module, cie_pointer_field - (uintptr_t)(intptr_t)cie_offset, cie))
        return false;
    uintptr_t start, range;
    if (!read_encoded(&r, cie->fde_encoding, &start) ||
        !read_encoded(&r, cie->fde_encoding & DW_EH_PE_FORMAT_MASK, &range))
        return false;
    fde->start = start;
    fde->end = start + range;
    if (cie->sized_augmentation) {
        uint64_t size = read_uleb(&r);
        if (r.failed || size > r.end - r.pos)
            return false;
        fde->instructions = r.pos + size;
    } else {
        if (!skip_encoded(&r, cie->lsda_encoding))
            return false;
        fde->instructions = r.pos;
    }
    return !r.failed;
}

/* lookup + dwarf_search_unwind_table: the FDE whose range holds `address`, through the binary
 * search table of .eh_frame_hdr (only the encoding libunwind searches; it searches linearly
 * otherwise, and so do we not). */
static bool find_fde(const struct module_view *module, uintptr_t header, uintptr_t address, struct cie *cie,
                     struct fde *fde)
{
    struct reader r = reader_at(module, header);
    uint8_t version = read_u8(&r), frame_pointer_encoding = read_u8(&r), count_encoding = read_u8(&r),
            table_encoding = read_u8(&r);
    if (r.failed || version != 1 || table_encoding != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
        return false;
    uintptr_t ignored, count;
    if (!read_encoded(&r, frame_pointer_encoding, &ignored) || !read_encoded(&r, count_encoding, &count))
        return false;
    struct table_entry {
        int32_t start_offset, fde_offset;
    };
    if (count == 0 || count > (r.end - r.pos) / sizeof(struct table_entry))
        return false;
    const struct table_entry *table = (const struct table_entry *)r.pos;
    int32_t relative = (int32_t)(address - header); /* libunwind truncates it to 32 bits too */
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (relative < table[middle].start_offset)
            high = middle;
        else
            low = middle + 1;
    }
    if (high == 0)
        return false;
    uintptr_t fde_address = header + (uintptr_t)(intptr_t)table[high - 1].fde_offset;
    return parse_fde(module, fde_address, cie, fde) && address >= fde->start && address < fde->end;
}

/* ---- the CFA program --------------------------------------------------------------------------- */

enum where { WHERE_SAME, WHERE_UNDEFINED, WHERE_CFA_RELATIVE, WHERE_OTHER };

struct row {
    uint8_t where[REG_COUNT];
    int64_t offset[REG_COUNT];
    bool cfa_is_register; /* false until def_cfa, or after def_cfa_expression */
    uint64_t cfa_register;
    int64_t cfa_offset;
};

struct program {
    const struct cie *cie;
    struct row row;
    const struct row *initial; /* the CIE's row, for restore; NULL while running the CIE's own program */
    struct row remembered[REMEMBERED_ROWS_AT_MOST];
    unsigned remembered_count;
};

static bool set_rule(struct program *p, uint64_t reg, enum where where, int64_t offset)
{
    if (reg >= REG_COUNT)
        return false;
    p->row.where[reg] = (uint8_t)where;
    p->row.offset[reg] = offset;
    return true;
}

/* run_cfi_program: runs the instructions in [start, end) while the location is at most
 * `target`. False where libunwind's program would fail, and for opcodes whose rules this file
 * does not follow (libunwind skips unknown opcodes without their operands; never trust that). */
static bool run_program(const struct module_view *module, struct program *p, uintptr_t start, uintptr_t end,
                        uintptr_t *location, uintptr_t target)
{
    struct reader r = reader_at(module, start);
    if (r.failed || end > r.end)
        return false;
    r.end = end;
    const struct cie *cie = p->cie;
    while (*location <= target && r.pos < r.end) {
        uint8_t op = read_u8(&r), operand = op & 0x3f;
        uint64_t reg;
        bool ok = true;
        switch (op & 0xc0 ? op & 0xc0 : op) {
        case DW_CFA_advance_loc:
            *location += operand * cie->code_align;
            break;
        case DW_CFA_offset:
            ok = set_rule(p, operand, WHERE_CFA_RELATIVE, (int64_t)read_uleb(&r) * cie->data_align);
            break;
        case DW_CFA_restore:
            if (operand >= REG_COUNT || !p->initial)
                return false;
            p->row.where[operand] = p->initial->where[operand];
            p->row.offset[operand] = p->initial->offset[operand];
            break;
        case DW_CFA_nop:
            break;
        case DW_CFA_set_loc:
            ok = read_encoded(&r, cie->fde_encoding, location);
            break;
        case DW_CFA_advance_loc1:
            *location += read_u8(&r) * cie->code_align;
            break;
        case DW_CFA_advance_loc2:
            *location += read_u16(&r) * cie->code_align;
            break;
        case DW_CFA_advance_loc4:
            *location += read_u32(&r) * cie->code_align;
            break;
        case DW_CFA_offset_extended:
            reg = read_uleb(&r);
            ok = set_rule(p, reg, WHERE_CFA_RELATIVE, (int64_t)read_uleb(&r) * cie->data_align);
            break;
        case DW_CFA_offset_extended_sf:
            reg = read_uleb(&r);
            ok = set_rule(p, reg, WHERE_CFA_RELATIVE, read_sleb(&r) * cie->data_align);
            break;
        case DW_CFA_GNU_negative_offset_extended:
            reg = read_uleb(&r);
            ok = set_rule(p, reg, WHERE_CFA_RELATIVE, -((int64_t)read_uleb(&r) * cie->data_align));
            break;
        case DW_CFA_restore_extended:
            reg = read_uleb(&r);
            if (reg >= REG_COUNT || !p->initial)
                return false;
            p->row.where[reg] = p->initial->where[reg];
            p->row.offset[reg] = p->initial->offset[reg];
            break;
        case DW_CFA_undefined:
            ok = set_rule(p, read_uleb(&r), WHERE_UNDEFINED, 0);
            break;
        case DW_CFA_same_value:
            ok = set_rule(p, read_uleb(&r), WHERE_SAME, 0);
            break;
        case DW_CFA_register: /* kept in another register */
            reg = read_uleb(&r);
            read_uleb(&r);
            ok = set_rule(p, reg, WHERE_OTHER, 0);
            break;
        case DW_CFA_expression:
        case DW_CFA_val_expression:
            reg = read_uleb(&r);
            ok = set_rule(p, reg, WHERE_OTHER, 0) && skip_block(&r);
            break;
        case DW_CFA_remember_state:
            if (p->remembered_count == REMEMBERED_ROWS_AT_MOST)
                return false;
            p->remembered[p->remembered_count++] = p->row;
            break;
        case DW_CFA_restore_state:
            if (p->remembered_count == 0)
                return false;
            p->row = p->remembered[--p->remembered_count];
            break;
        case DW_CFA_def_cfa:
            reg = read_uleb(&r);
            if (reg >= REG_COUNT)
                return false;
            p->row.cfa_is_register = true;
            p->row.cfa_register = reg;
            p->row.cfa_offset = (int64_t)read_uleb(&r); /* not factored */
            break;
        case DW_CFA_def_cfa_sf:
            reg = read_uleb(&r);
            if (reg >= REG_COUNT)
                return false;
            p->row.cfa_is_register = true;
            p->row.cfa_register = reg;
            p->row.cfa_offset = read_sleb(&r) * cie->data_align; /* factored */
            break;
        case DW_CFA_def_cfa_register:
            reg = read_uleb(&r);
            if (reg >= REG_COUNT)
                return false;
            p->row.cfa_is_register = true;
            p->row.cfa_register = reg;
            break;
        case DW_CFA_def_cfa_offset:
            p->row.cfa_offset = (int64_t)read_uleb(&r);
            break;
        case DW_CFA_def_cfa_offset_sf:
            p->row.cfa_offset = read_sleb(&r) * cie->data_align;
            break;
        case DW_CFA_def_cfa_expression:
            p->row.cfa_is_register = false;
            ok = skip_block(&r);
            break;
        case DW_CFA_GNU_args_size:
            read_uleb(&r);
            break;
        default:
            return false;
        }
        if (!ok || r.failed)
            return false;
    }
    return true;
}

/* ---- the rule ---------------------------------------------------------------------------------- */

static const struct cfi_rule unsupported = {.kind = CFI_RULE_UNSUPPORTED};

/* apply_reg_state + unw_step + tdep_stash_frame, for the rows they handle without evaluating an
 * expression or reading a register libunwind's fast trace does not keep. */
static struct cfi_rule classify_row(const struct row *row, uint64_t return_address_column)
{
    if (return_address_column != REG_RA || !row->cfa_is_register ||
        (row->cfa_register != REG_RBP && row->cfa_register != REG_RSP) || row->where[REG_RSP] != WHERE_SAME)
        return unsupported;
    for (unsigned reg = 0; reg < REG_COUNT; reg++)
        if (row->where[reg] == WHERE_OTHER)
            return unsupported; /* evaluated (expression) or copied (register) at every step */
    if (row->where[REG_RA] == WHERE_UNDEFINED)
        return (struct cfi_rule){.kind = CFI_RULE_LAST};
    if (row->where[REG_RA] != WHERE_CFA_RELATIVE || row->offset[REG_RA] != -8)
        return unsupported;
    if (row->where[REG_RBP] == WHERE_UNDEFINED)
        return (struct cfi_rule){.kind = CFI_RULE_LAST};
    if (row->cfa_offset <= -(1 << 28) || row->cfa_offset >= (1 << 28))
        return unsupported;
    struct cfi_rule rule = {
        .kind = CFI_RULE_STANDARD,
        .cfa_offset = (int32_t)row->cfa_offset,
        .flags = row->cfa_register == REG_RBP ? CFI_RULE_CFA_FROM_RBP : 0,
    };
    if (row->where[REG_RBP] == WHERE_CFA_RELATIVE) {
        int64_t offset = row->offset[REG_RBP];
        if (offset <= -(1 << 14) || offset >= (1 << 14) || offset == -1)
            return unsupported;
        rule.flags |= CFI_RULE_RBP_SAVED;
        rule.rbp_offset = (int16_t)offset;
    }
    return rule;
}

static struct cfi_rule rule_at(const struct module_view *module, uintptr_t header, uintptr_t address)
{
    struct cie cie;
    struct fde fde;
    if (!find_fde(module, header, address, &cie, &fde))
        return unsupported;
    /* Every register WHERE_SAME, no CFA yet. (A restore inside the CIE's program would restore
     * libunwind's still-zeroed initial row, "undefined": not followed.) */
    struct program program = {.cie = &cie};
    uintptr_t location = 0;
    if (!run_program(module, &program, cie.instructions, cie.end, &location, UINTPTR_MAX))
        return unsupported;
    struct row initial = program.row;
    program.initial = &initial;
    program.remembered_count = 0;
    location = fde.start;
    if (!run_program(module, &program, fde.instructions, fde.instructions_end, &location, address))
        return unsupported;
    return classify_row(&program.row, cie.return_address_column);
}

/* ---- the module -------------------------------------------------------------------------------- */

struct search {
    uintptr_t address;
    struct cfi_rule rule;
};

/* dl_iterate_phdr callback: the module holding the address. The rule is read here, under the
 * loader's lock, so the module cannot go away meanwhile. */
static int search_module(struct dl_phdr_info *info, size_t size, void *data)
{
    struct search *search = data;
    if (size < offsetof(struct dl_phdr_info, dlpi_phnum) + sizeof info->dlpi_phnum)
        return -1;
    bool holds_address = false;
    uintptr_t header = 0;
    struct module_view module = {.count = 0};
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + segment->p_vaddr;
        if (segment->p_type == PT_LOAD) {
            if (search->address >= start && search->address - start < segment->p_memsz)
                holds_address = true;
            if ((segment->p_flags & PF_R) && module.count < SEGMENTS_AT_MOST) {
                module.start[module.count] = start;
                module.end[module.count++] = start + segment->p_memsz;
            }
        } else if (segment->p_type == PT_GNU_EH_FRAME) {
            header = start;
        }
    }
    if (!holds_address)
        return 0;
    search->rule = header ? rule_at(&module, header, search->address) : unsupported;
    return 1;
}

struct cfi_rule cfi_rule_for_return_address(uintptr_t return_address)
{
    struct search search = {.address = return_address - 1, .rule = unsupported};
    dl_iterate_phdr(search_module, &search);
    return search.rule;
}
