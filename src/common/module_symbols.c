/* common/module_symbols.c — a module's symbol index and a call site's source frames, inlined
 * calls included (see module_symbols.h). */
#define _GNU_SOURCE
#include "common/module_symbols.h"

#include <dwarf.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <uthash.h>

/* A function symbol, its addresses as offsets from the module's start (modules span less than
 * 4 GiB); end == start for a symbol without size (an assembler label). 16 bytes: the index of a
 * 150,000-symbol library is 2.4 MB, and touching fresh memory is most of what building it costs. */
struct symbol_entry {
    uint32_t start, end;
    uint32_t furthest_end; /* the furthest end of this symbol and of those sorted before it */
    uint32_t symbol;       /* its index in the module's symbol table << 2 | its binding's rank */
};

/* The found symbol of an address. */
struct found_symbol {
    const char *name;
    Dwarf_Addr start;
};

/* One address range of a function DIE that has code. */
struct function_range {
    Dwarf_Addr low, high;
    Dwarf_Die die;
};

/* A compilation unit's functions, sorted by address; built on the unit's first lookup. */
struct unit_functions {
    UT_hash_handle hh;
    Dwarf_Off unit_offset;
    struct function_range *ranges;
    size_t count;
};

/* A string derived once from one of libdw's (demangled name, absolute path), keyed by the
 * address of libdw's string, which stays put while the module lives. */
struct derived_string {
    UT_hash_handle hh;
    const char *source;
    char *text;
};

struct vt_module_symbols {
    const struct vt_symbol_tools *tools;
    Dwfl_Module *module;
    bool indexed;
    Dwarf_Addr base;              /* the module's start: symbol_entry offsets count from here */
    struct symbol_entry *symbols; /* sorted by start, then preference; mmap()ed */
    size_t symbol_count, symbols_mapped;
    struct unit_functions *units;
    struct derived_string *names, *paths;
};

struct vt_module_symbols *vt_module_symbols_new(const struct vt_symbol_tools *tools, Dwfl_Module *module)
{
    struct vt_module_symbols *symbols = calloc(1, sizeof *symbols);
    if (symbols) {
        symbols->tools = tools;
        symbols->module = module;
    }
    return symbols;
}

static void free_derived(struct derived_string **table)
{
    struct derived_string *entry, *next;
    HASH_ITER(hh, *table, entry, next) {
        HASH_DEL(*table, entry);
        free(entry->text);
        free(entry);
    }
}

void vt_module_symbols_free(struct vt_module_symbols *symbols)
{
    if (!symbols)
        return;
    struct unit_functions *unit, *next;
    HASH_ITER(hh, symbols->units, unit, next) {
        HASH_DEL(symbols->units, unit);
        free(unit->ranges);
        free(unit);
    }
    free_derived(&symbols->names);
    free_derived(&symbols->paths);
    if (symbols->symbols)
        munmap(symbols->symbols, symbols->symbols_mapped);
    free(symbols);
}

/* `text` (malloc'd, or NULL when out of memory) remembered as derived from `source`. */
static const char *remember(struct derived_string **table, const char *source, char *text)
{
    struct derived_string *entry = text ? malloc(sizeof *entry) : NULL;
    if (!entry) {
        free(text);
        return NULL;
    }
    entry->source = source;
    entry->text = text;
    HASH_ADD_PTR(*table, source, entry);
    if (!entry->hh.tbl) { /* out of memory growing the table */
        free(text);
        free(entry);
        return NULL;
    }
    return text;
}

static const char *find_derived(struct derived_string *table, const char *source)
{
    struct derived_string *entry;
    HASH_FIND_PTR(table, &source, entry);
    return entry ? entry->text : NULL;
}

/* ---- the symbol table, read once --------------------------------------------------------------- */

static unsigned binding_rank(const GElf_Sym *symbol)
{
    switch (GELF_ST_BIND(symbol->st_info)) {
    case STB_GLOBAL:
        return 3;
    case STB_WEAK:
        return 2;
    case STB_LOCAL:
        return 1;
    default:
        return 0;
    }
}

/* At one address, the preferred first: global before weak before local, then the smaller
 * (libdwfl's preference). */
static bool preferred(const struct symbol_entry *a, const struct symbol_entry *b)
{
    if ((a->symbol & 3) != (b->symbol & 3))
        return (a->symbol & 3) > (b->symbol & 3);
    return a->end - a->start < b->end - b->start;
}

/* Sorts by address, the preferred first at one address: a radix sort on the address (a byte per
 * pass, as many passes as the highest offset needs), then each run of one address by preference.
 * qsort's callback per comparison cost 1,200 instructions per symbol on a 150,000-symbol library;
 * this costs about 40. `scratch` holds `count` entries. */
static void sort_symbols(struct symbol_entry *entries, struct symbol_entry *scratch, size_t count)
{
    uint32_t highest = 0;
    for (size_t i = 0; i < count; i++)
        if (entries[i].start > highest)
            highest = entries[i].start;
    struct symbol_entry *from = entries, *to = scratch;
    for (unsigned shift = 0; shift < 32 && (highest >> shift) != 0; shift += 8) {
        size_t position[256] = {0};
        for (size_t i = 0; i < count; i++)
            position[(from[i].start >> shift) & 0xff]++;
        for (size_t digit = 0, total = 0; digit < 256; digit++) {
            size_t here = position[digit];
            position[digit] = total;
            total += here;
        }
        for (size_t i = 0; i < count; i++)
            to[position[(from[i].start >> shift) & 0xff]++] = from[i];
        struct symbol_entry *swap = from;
        from = to;
        to = swap;
    }
    if (from != entries)
        memcpy(entries, from, count * sizeof *entries);
    for (size_t i = 1; i < count; i++) /* insertion sort within each address: runs are short */
        for (size_t j = i; j > 0 && entries[j].start == entries[j - 1].start && preferred(&entries[j], &entries[j - 1]);
             j--) {
            struct symbol_entry swap = entries[j];
            entries[j] = entries[j - 1];
            entries[j - 1] = swap;
        }
}

/* Fresh memory, its pages populated at once (faulting them in one by one cost more than reading
 * the symbols), and from mmap() so that freeing it leaves the program's malloc settings alone
 * (glibc raises its mmap threshold when an mmap()ed block is freed). NULL when out of memory. */
static void *populated_memory(size_t bytes)
{
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return memory == MAP_FAILED ? NULL : memory;
}

/* The index's entry for symbol `index` of the module's table, when it is a named function-like
 * symbol (function, ifunc, label) of an allocated section and lies in the module's first 4 GiB. */
static bool index_entry(int index, const GElf_Sym *symbol, bool named, bool allocated, Dwarf_Addr value,
                        Dwarf_Addr module_start, struct symbol_entry *entry)
{
    int type = GELF_ST_TYPE(symbol->st_info);
    if (!named || !allocated || (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE) ||
        value < module_start || value - module_start + symbol->st_size > UINT32_MAX)
        return false;
    uint32_t start = (uint32_t)(value - module_start);
    *entry = (struct symbol_entry){start, start + (uint32_t)symbol->st_size, 0, (uint32_t)index << 2 | binding_rank(symbol)};
    return true;
}

/* The symbols through libdwfl, one call each (about 280 instructions a symbol). */
static size_t read_symbols_through_libdwfl(const struct vt_libdw *dw, Dwfl_Module *module, int count,
                                           Dwarf_Addr module_start, struct symbol_entry *entries)
{
    size_t kept = 0;
    for (int i = 0; i < count; i++) {
        GElf_Sym symbol;
        GElf_Addr value;
        GElf_Word section;
        Elf *elf;
        Dwarf_Addr bias;
        const char *name = dw->dwfl_module_getsym_info(module, i, &symbol, &value, &section, &elf, &bias);
        /* section is (GElf_Word)-1 for a section that is not allocated */
        bool allocated = section != SHN_UNDEF && section < SHN_LORESERVE;
        kept += index_entry(i, &symbol, name && name[0], allocated, value, module_start, &entries[kept]);
    }
    return kept;
}

/* The symbols straight from the table libdwfl chose (about 15 instructions a symbol), when that
 * table is one section of a 64-bit file whose entries are libdwfl's indexes (no auxiliary table),
 * without extended section numbers, and a probe symbol reads as libdwfl reads it; else -1. */
static long read_symbols_directly(const struct vt_libdw *dw, Dwfl_Module *module, int count, Dwarf_Addr module_start,
                                  struct symbol_entry *entries)
{
    GElf_Sym probe;
    GElf_Addr probe_value;
    GElf_Word probe_section;
    Elf *elf, *first_elf;
    Dwarf_Addr bias, first_bias;
    size_t section_count;
    if (count < 2 ||
        !dw->dwfl_module_getsym_info(module, count - 1, &probe, &probe_value, &probe_section, &elf, &bias) ||
        !dw->dwfl_module_getsym_info(module, 1, &(GElf_Sym){0}, &(GElf_Addr){0}, &(GElf_Word){0}, &first_elf,
                                     &first_bias) ||
        first_elf != elf || dw->gelf_getclass(elf) != ELFCLASS64 || dw->elf_getshdrnum(elf, &section_count) != 0 ||
        section_count == 0)
        return -1;
    bool *allocated = calloc(section_count, sizeof *allocated);
    if (!allocated)
        return -1;
    Elf_Scn *table = NULL;
    GElf_Shdr table_header = {0};
    bool extended = false;
    size_t index = 0;
    for (Elf_Scn *section = NULL; (section = dw->elf_nextscn(elf, section)) != NULL;) {
        GElf_Shdr header;
        if (++index >= section_count || !dw->gelf_getshdr(section, &header)) {
            extended = true; /* not the section list we counted: give up */
            break;
        }
        allocated[index] = (header.sh_flags & SHF_ALLOC) != 0;
        extended |= header.sh_type == SHT_SYMTAB_SHNDX;
        bool whole_table = header.sh_entsize == sizeof(Elf64_Sym) && header.sh_size / sizeof(Elf64_Sym) == (GElf_Xword)count;
        /* .symtab when there is one, as libdwfl prefers it */
        if (whole_table && (header.sh_type == SHT_SYMTAB || (header.sh_type == SHT_DYNSYM && !table))) {
            table = section;
            table_header = header;
        }
    }
    Elf_Data *data = table && !extended ? dw->elf_getdata(table, NULL) : NULL;
    Elf_Scn *strings_section = data ? dw->elf_getscn(elf, table_header.sh_link) : NULL;
    Elf_Data *strings = strings_section ? dw->elf_getdata(strings_section, NULL) : NULL;
    const GElf_Sym *raw = data && data->d_size >= (size_t)count * sizeof(Elf64_Sym) ? data->d_buf : NULL;
    const GElf_Sym *last = raw ? &raw[count - 1] : NULL;
    if (!strings || !last || last->st_name != probe.st_name || last->st_info != probe.st_info ||
        last->st_value != probe.st_value ||
        (probe_section != SHN_UNDEF && probe_section < SHN_LORESERVE && probe_value != probe.st_value + bias)) {
        free(allocated);
        return -1;
    }
    const char *names = strings->d_buf;
    size_t kept = 0;
    for (int i = 0; i < count; i++) {
        const GElf_Sym *symbol = &raw[i];
        bool named = symbol->st_name != 0 && symbol->st_name < strings->d_size && names[symbol->st_name] != '\0';
        bool in_allocated_section = symbol->st_shndx != SHN_UNDEF && symbol->st_shndx < SHN_LORESERVE &&
                                    symbol->st_shndx < section_count && allocated[symbol->st_shndx];
        kept += index_entry(i, symbol, named, in_allocated_section, symbol->st_value + bias, module_start, &entries[kept]);
    }
    free(allocated);
    return (long)kept;
}

/* Function-like symbols of allocated sections, sorted. */
static void build_index(struct vt_module_symbols *symbols)
{
    const struct vt_libdw *dw = symbols->tools->dw;
    symbols->indexed = true;
    int count = dw->dwfl_module_getsymtab(symbols->module);
    Dwarf_Addr module_start = 0;
    if (count <= 0 || !dw->dwfl_module_info(symbols->module, NULL, &module_start, NULL, NULL, NULL, NULL, NULL))
        return;
    size_t bytes = (size_t)count * sizeof(struct symbol_entry);
    struct symbol_entry *entries = populated_memory(bytes), *scratch = populated_memory(bytes);
    if (!entries || !scratch) {
        if (entries)
            munmap(entries, bytes);
        if (scratch)
            munmap(scratch, bytes);
        return;
    }
    long direct = read_symbols_directly(dw, symbols->module, count, module_start, entries);
    size_t kept = direct >= 0 ? (size_t)direct : read_symbols_through_libdwfl(dw, symbols->module, count, module_start, entries);
    sort_symbols(entries, scratch, kept);
    munmap(scratch, bytes);
    for (size_t i = 0; i < kept; i++)
        entries[i].furthest_end = i > 0 && entries[i - 1].furthest_end > entries[i].end ? entries[i - 1].furthest_end
                                                                                        : entries[i].end;
    symbols->base = module_start;
    symbols->symbols = entries;
    symbols->symbols_mapped = bytes;
    symbols->symbol_count = kept;
}

static bool same_section(const struct vt_module_symbols *symbols, Dwarf_Addr a, Dwarf_Addr b)
{
    const struct vt_libdw *dw = symbols->tools->dw;
    Dwarf_Addr bias;
    Elf_Scn *section_a = dw->dwfl_module_address_section(symbols->module, &a, &bias);
    return section_a && section_a == dw->dwfl_module_address_section(symbols->module, &b, &bias);
}

/* The entry of `offset`'s symbol: the sized symbol that holds it and starts closest to it (the
 * preferred one among those starting there); else the closest label below it that no sized symbol
 * lies between, in the same section; else NULL. */
static const struct symbol_entry *find_entry(const struct vt_module_symbols *symbols, uint32_t offset)
{
    const struct symbol_entry *entries = symbols->symbols;
    size_t low = 0, high = symbols->symbol_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (entries[middle].start <= offset)
            low = middle + 1;
        else
            high = middle;
    }
    if (low == 0)
        return NULL;
    size_t last = low - 1; /* the last symbol starting at or below offset */
    const struct symbol_entry *best = NULL;
    for (size_t i = last + 1; i-- > 0 && entries[i].furthest_end > offset;) {
        if (best && entries[i].start != best->start)
            break;
        if (entries[i].end > offset)
            best = &entries[i]; /* walking down: the last one kept is the preferred */
    }
    if (best)
        return best;
    uint32_t floor = entries[last].furthest_end; /* no sized symbol below reaches past this */
    for (size_t i = last + 1; i-- > 0 && entries[i].start >= floor;) {
        if (best && entries[i].start != best->start)
            break;
        if (entries[i].end == entries[i].start)
            best = &entries[i];
    }
    return best && same_section(symbols, symbols->base + best->start, symbols->base + offset) ? best : NULL;
}

/* The symbol of `address`; false when none. */
static bool find_symbol(struct vt_module_symbols *symbols, Dwarf_Addr address, struct found_symbol *found)
{
    if (!symbols->indexed)
        build_index(symbols);
    if (address < symbols->base || address - symbols->base > UINT32_MAX)
        return false;
    const struct symbol_entry *entry = find_entry(symbols, (uint32_t)(address - symbols->base));
    if (!entry)
        return false;
    GElf_Sym symbol;
    GElf_Addr value;
    GElf_Word section;
    Elf *elf;
    Dwarf_Addr bias;
    found->name = symbols->tools->dw->dwfl_module_getsym_info(symbols->module, (int)(entry->symbol >> 2), &symbol,
                                                               &value, &section, &elf, &bias);
    found->start = symbols->base + entry->start;
    return found->name != NULL;
}

/* ---- names and paths ---------------------------------------------------------------------------- */

static const char *demangled(struct vt_module_symbols *symbols, const char *name)
{
    vt_demangle_function *demangle = symbols->tools->demangle;
    if (!name || !demangle || name[0] != '_' || name[1] != 'Z')
        return name;
    const char *known = find_derived(symbols->names, name);
    if (known)
        return known;
    int status = -1;
    char *text = demangle(name, NULL, NULL, &status);
    if (status != 0) {
        free(text);
        return name;
    }
    const char *kept = remember(&symbols->names, name, text);
    return kept ? kept : name;
}

/* libdw's file name made absolute with the unit's DW_AT_comp_dir when relative, and resolved
 * (symbolic links, "..") when the file exists here. */
static const char *absolute_path(struct vt_module_symbols *symbols, Dwarf_Die *unit, const char *file)
{
    const char *known = find_derived(symbols->paths, file);
    if (known)
        return known;
    const struct vt_libdw *dw = symbols->tools->dw;
    char joined[PATH_MAX * 2];
    Dwarf_Attribute comp_dir;
    const char *directory = file[0] == '/' ? NULL : dw->dwarf_formstring(dw->dwarf_attr(unit, DW_AT_comp_dir, &comp_dir));
    if (directory)
        snprintf(joined, sizeof joined, "%s/%s", directory, file);
    else
        snprintf(joined, sizeof joined, "%s", file);
    char resolved[PATH_MAX];
    return remember(&symbols->paths, file, strdup(realpath(joined, resolved) ? resolved : joined));
}

/* A function DIE's name: its linkage name demangled (C++: "Trainer::step()"), else DW_AT_name,
 * from the abstract origin for an inlined call. */
static const char *die_name(struct vt_module_symbols *symbols, Dwarf_Die *die)
{
    const struct vt_libdw *dw = symbols->tools->dw;
    Dwarf_Attribute attribute;
    const char *linkage = dw->dwarf_formstring(dw->dwarf_attr_integrate(die, DW_AT_linkage_name, &attribute));
    if (!linkage)
        linkage = dw->dwarf_formstring(dw->dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attribute));
    return linkage ? demangled(symbols, linkage) : dw->dwarf_diename(die);
}

/* ---- functions and inlined calls in DWARF ------------------------------------------------------- */

struct range_list {
    struct function_range *ranges;
    size_t count, capacity;
    bool failed;
};

static void add_function(const struct vt_libdw *dw, struct range_list *list, Dwarf_Die *function)
{
    Dwarf_Addr base, low, high;
    for (ptrdiff_t offset = 0; (offset = dw->dwarf_ranges(function, offset, &base, &low, &high)) > 0;) {
        if (list->count == list->capacity) {
            size_t capacity = list->capacity ? list->capacity * 2 : 64;
            struct function_range *grown = realloc(list->ranges, capacity * sizeof *grown);
            if (!grown) {
                list->failed = true;
                return;
            }
            list->ranges = grown;
            list->capacity = capacity;
        }
        list->ranges[list->count++] = (struct function_range){low, high, *function};
    }
}

/* The functions with code among `parent`'s children, and in namespaces (where C++ compilers put
 * the definitions of namespace members). */
static void collect_functions(const struct vt_libdw *dw, Dwarf_Die *parent, struct range_list *list, unsigned nesting)
{
    Dwarf_Die child;
    if (dw->dwarf_child(parent, &child) != 0)
        return;
    do {
        int tag = dw->dwarf_tag(&child);
        if (tag == DW_TAG_subprogram)
            add_function(dw, list, &child);
        else if ((tag == DW_TAG_namespace || tag == DW_TAG_module) && nesting < 64)
            collect_functions(dw, &child, list, nesting + 1);
    } while (!list->failed && dw->dwarf_siblingof(&child, &child) == 0);
}

static int by_low(const void *left, const void *right)
{
    const struct function_range *a = left, *b = right;
    return (a->low > b->low) - (a->low < b->low);
}

static struct unit_functions *unit_functions(struct vt_module_symbols *symbols, Dwarf_Die *unit)
{
    const struct vt_libdw *dw = symbols->tools->dw;
    Dwarf_Off offset = dw->dwarf_dieoffset(unit);
    struct unit_functions *functions;
    HASH_FIND(hh, symbols->units, &offset, sizeof offset, functions);
    if (functions)
        return functions;
    struct range_list list = {0};
    collect_functions(dw, unit, &list, 0);
    functions = calloc(1, sizeof *functions);
    if (!functions || list.failed) {
        free(functions);
        free(list.ranges);
        return NULL;
    }
    if (list.count > 1) /* a unit without ranges has none to sort, and ranges may be NULL */
        qsort(list.ranges, list.count, sizeof *list.ranges, by_low);
    functions->unit_offset = offset;
    functions->ranges = list.ranges;
    functions->count = list.count;
    HASH_ADD(hh, symbols->units, unit_offset, sizeof functions->unit_offset, functions);
    if (!functions->hh.tbl) {
        free(functions->ranges);
        free(functions);
        return NULL;
    }
    return functions;
}

static const struct function_range *find_function(const struct unit_functions *functions, Dwarf_Addr pc)
{
    size_t low = 0, high = functions->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (functions->ranges[middle].low <= pc)
            low = middle + 1;
        else
            high = middle;
    }
    return low > 0 && pc < functions->ranges[low - 1].high ? &functions->ranges[low - 1] : NULL;
}

static bool is_code_scope(int tag)
{
    return tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block || tag == DW_TAG_try_block ||
           tag == DW_TAG_catch_block || tag == DW_TAG_with_stmt;
}

/* The function DIE holding `pc` (a DWARF address), then the inlined calls inside it that hold
 * `pc`, outermost first, into `chain`; returns how many (0: no function DIE holds it). */
static unsigned scope_chain(struct vt_module_symbols *symbols, Dwarf_Die *unit, Dwarf_Addr pc,
                            Dwarf_Die chain[VT_SOURCE_FRAMES_MAX])
{
    const struct vt_libdw *dw = symbols->tools->dw;
    const struct unit_functions *functions = unit_functions(symbols, unit);
    const struct function_range *function = functions ? find_function(functions, pc) : NULL;
    if (!function)
        return 0;
    unsigned depth = 0;
    Dwarf_Die scope = function->die;
    chain[depth++] = scope;
    while (depth < VT_SOURCE_FRAMES_MAX) {
        Dwarf_Die child;
        bool inside = false;
        if (dw->dwarf_child(&scope, &child) != 0)
            break;
        do {
            int tag = dw->dwarf_tag(&child);
            if (is_code_scope(tag) && dw->dwarf_haspc(&child, pc) > 0) {
                inside = true;
                scope = child;
                if (tag == DW_TAG_inlined_subroutine)
                    chain[depth++] = child;
            }
        } while (!inside && dw->dwarf_siblingof(&child, &child) == 0);
        if (!inside)
            break;
    }
    return depth;
}

/* file:line of the call that `inlined` (a DW_TAG_inlined_subroutine) stands for. */
static void call_location(struct vt_module_symbols *symbols, Dwarf_Die *inlined, struct vt_source_frame *frame)
{
    const struct vt_libdw *dw = symbols->tools->dw;
    Dwarf_Attribute attribute;
    Dwarf_Word file_index, line;
    Dwarf_Die unit;
    Dwarf_Files *files;
    if (dw->dwarf_formudata(dw->dwarf_attr(inlined, DW_AT_call_file, &attribute), &file_index) != 0 ||
        dw->dwarf_formudata(dw->dwarf_attr(inlined, DW_AT_call_line, &attribute), &line) != 0 || line == 0 ||
        line > INT_MAX || !dw->dwarf_diecu(inlined, &unit, NULL, NULL) ||
        dw->dwarf_getsrcfiles(&unit, &files, NULL) != 0)
        return;
    const char *file = dw->dwarf_filesrc(files, file_index, NULL, NULL);
    frame->file = file ? absolute_path(symbols, &unit, file) : NULL;
    frame->line = frame->file ? (int)line : 0;
}

/* file:line of `call_site` from the line table, when the line found does not start before the
 * function (else it is the nearest line of unrelated code, e.g. for _start). */
static void line_location(struct vt_module_symbols *symbols, Dwarf_Die *unit, Dwarf_Addr call_site,
                          Dwarf_Addr function_start, struct vt_source_frame *frame)
{
    const struct vt_libdw *dw = symbols->tools->dw;
    Dwfl_Line *line = dw->dwfl_module_getsrc(symbols->module, call_site);
    Dwarf_Addr line_start = 0;
    int line_number = 0;
    const char *file = line ? dw->dwfl_lineinfo(line, &line_start, &line_number, NULL, NULL, NULL) : NULL;
    if (!file || line_number <= 0 || line_start < function_start)
        return;
    frame->file = absolute_path(symbols, unit, file);
    frame->line = frame->file ? line_number : 0;
}

static bool is_startup_function(const char *name)
{
    static const char *const startup[] = {"_start", "__libc_start_main", "__libc_start_call_main",
                                          "start_thread", "clone", "clone3"};
    size_t length = strcspn(name, "@"); /* "__libc_start_main@@GLIBC_2.34" */
    for (size_t i = 0; i < sizeof startup / sizeof startup[0]; i++)
        if (strlen(startup[i]) == length && memcmp(startup[i], name, length) == 0)
            return true;
    return false;
}

unsigned vt_module_symbolize(struct vt_module_symbols *symbols, Dwarf_Addr call_site,
                             struct vt_source_frame frames[VT_SOURCE_FRAMES_MAX])
{
    const struct vt_libdw *dw = symbols->tools->dw;
    struct found_symbol symbol;
    bool named = find_symbol(symbols, call_site, &symbol);
    const char *name = named ? demangled(symbols, symbol.name) : NULL;
    frames[0] = (struct vt_source_frame){.function = name};
    if (named && is_startup_function(symbol.name))
        return 1;
    Dwarf_Addr bias;
    Dwarf_Die *unit = dw->dwfl_module_addrdie(symbols->module, call_site, &bias);
    if (!unit)
        return 1;
    Dwarf_Die chain[VT_SOURCE_FRAMES_MAX];
    unsigned depth = scope_chain(symbols, unit, call_site - bias, chain);
    unsigned count = depth ? depth : 1;
    /* frames[k] is chain[depth - 1 - k]: the innermost inlined call first, the function last */
    for (unsigned k = 0; k + 1 < count; k++)
        frames[k] = (struct vt_source_frame){.function = die_name(symbols, &chain[depth - 1 - k]), .inlined = true};
    frames[count - 1] = (struct vt_source_frame){.function = name ? name : depth ? die_name(symbols, &chain[0]) : NULL};
    line_location(symbols, unit, call_site, named ? symbol.start : 0, &frames[0]);
    for (unsigned k = 1; k < count; k++)
        call_location(symbols, &chain[depth - k], &frames[k]);
    return count;
}
