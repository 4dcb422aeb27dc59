/* shim/native_unwind.c — the fast native stack walk (see native_unwind.h).
 *
 * The walk is libunwind 1.6's fast trace (x86_64 tdep_trace) with a cheaper cache: for each
 * frame, the rule of its return address (cfi_rules.c) gives the caller's CFA from rsp or rbp, the
 * return address at CFA - 8 and, when saved, rbp at a CFA-relative slot; the walk ends where
 * libunwind's ends (a LAST rule, a return address below 0x4000, `size` frames). It reads exactly
 * the stack words libunwind's fast trace reads. A rule it does not follow (CFI_RULE_UNSUPPORTED,
 * or a return address too high to be a cache key) makes it give up, and the caller lets libunwind
 * unwind the whole stack.
 *
 * The cache maps return addresses to rules, for every thread: one 64-bit word per slot (the
 * address above, the rule's index in an append-only array of distinct rules below), written
 * under a lock, read without one. A word is read atomically, so a reader sees an entry whole or
 * not at all. Tables grow by replacement; replaced tables stay mapped for readers still in them.
 *
 * dlclose: a rule belongs to the code at an address, and another library loaded where an
 * unloaded one was must not find the old rules. Every walk first reads the loader's count of
 * unloaded modules (dl_iterate_phdr's dlpi_subs); when it has grown, the table is emptied before
 * anything is read from it. A walk's frames are all in modules loaded before it started, so an
 * entry it can find (and any entry it adds) belongs to a module loaded at that time.
 */
#define _GNU_SOURCE
#include "shim/native_unwind.h"

#include "shim/cfi_rules.h"
#include "shim/real_functions.h"
#include "shim/shim_log.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

enum {
    RULE_INDEX_BITS = 17,   /* distinct rules at most 2^17 - 1 (index 0: none) */
    FIRST_TABLE_BITS = 12,  /* 4096 slots, 32 KiB */
    LAST_TABLE_BITS = 22,   /* 4 Mi slots, 32 MiB: 2 Mi return addresses */
    RULE_LOOKUP_BITS = 18,  /* the index of distinct rules (under the lock only) */
    LOWEST_RETURN_ADDRESS = 0x4000, /* libunwind's fast trace stops below it */
};
#define RULE_INDEX_MASK ((UINT64_C(1) << RULE_INDEX_BITS) - 1)
#define RULES_AT_MOST ((size_t)RULE_INDEX_MASK)
#define KEY_LIMIT ((uintptr_t)1 << (64 - RULE_INDEX_BITS)) /* return addresses below 2^47 */

struct rule_table {
    unsigned bits;
    size_t used;
    uint64_t slots[]; /* 0: empty; else return_address << RULE_INDEX_BITS | rule index */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rule_table *current_table;    /* read anywhere; replaced under the lock */
static struct cfi_rule *rules;              /* [1 .. rule_count], never changed once published */
static uint32_t rule_count;                 /* under the lock */
static uint32_t *rule_lookup;               /* distinct rules -> index; under the lock */
static unsigned long long unloads_emptied;  /* modules unloaded when the table was last emptied */

static inline size_t home_slot(uintptr_t return_address, unsigned bits) /* (as cached_rule probes) */
{
    return (size_t)((return_address * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - bits));
}

static void *map_zeroed(size_t bytes)
{
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return memory == MAP_FAILED ? NULL : memory;
}

_Static_assert(sizeof(struct cfi_rule) == sizeof(uint64_t), "a rule is one word, without padding");

static uint64_t rule_bits(struct cfi_rule rule)
{
    uint64_t bits;
    memcpy(&bits, &rule, sizeof bits);
    return bits;
}

/* ---- the cache, written under the lock ------------------------------------------------------ */

/* Under the lock: the index of `rule` in `rules`, appending it when new; 0 when full. */
static uint32_t rule_index(struct cfi_rule rule)
{
    if (!rules)
        __atomic_store_n(&rules, map_zeroed((RULES_AT_MOST + 1) * sizeof *rules), __ATOMIC_RELEASE);
    if (!rule_lookup)
        rule_lookup = map_zeroed(sizeof *rule_lookup << RULE_LOOKUP_BITS);
    if (!rules || !rule_lookup)
        return 0; /* out of memory (a mapping that succeeded is kept for the next try) */
    uint64_t key = rule_bits(rule);
    size_t mask = ((size_t)1 << RULE_LOOKUP_BITS) - 1;
    for (size_t i = home_slot((uintptr_t)key, RULE_LOOKUP_BITS);; i = (i + 1) & mask) {
        uint32_t index = rule_lookup[i];
        if (index == 0) {
            if (rule_count == RULES_AT_MOST)
                return 0;
            rules[++rule_count] = rule;
            rule_lookup[i] = rule_count;
            return rule_count;
        }
        if (rule_bits(rules[index]) == key)
            return index;
    }
}

static void table_put(struct rule_table *table, uint64_t entry)
{
    uintptr_t return_address = (uintptr_t)(entry >> RULE_INDEX_BITS);
    size_t mask = ((size_t)1 << table->bits) - 1;
    for (size_t i = home_slot(return_address, table->bits);; i = (i + 1) & mask) {
        uint64_t slot = table->slots[i];
        if (slot >> RULE_INDEX_BITS == return_address)
            return;
        if (slot == 0) {
            __atomic_store_n(&table->slots[i], entry, __ATOMIC_RELEASE);
            table->used++;
            return;
        }
    }
}

/* Under the lock: a table with room for one more entry (at most half full), or NULL. */
static struct rule_table *table_with_room(void)
{
    struct rule_table *table = current_table;
    if (table && (table->used + 1) * 2 <= ((size_t)1 << table->bits))
        return table;
    if (table && table->bits >= LAST_TABLE_BITS)
        return NULL; /* full: later return addresses are looked up each time */
    unsigned bits = table ? table->bits + 2 : FIRST_TABLE_BITS;
    struct rule_table *grown = map_zeroed(sizeof *grown + (sizeof grown->slots[0] << bits));
    if (!grown)
        return NULL;
    grown->bits = bits;
    if (table)
        for (size_t i = 0; i < ((size_t)1 << table->bits); i++)
            if (table->slots[i])
                table_put(grown, table->slots[i]);
    /* The old table stays mapped: walks that started before may still read it. */
    __atomic_store_n(&current_table, grown, __ATOMIC_RELEASE);
    return grown;
}

static void remember_rule(uintptr_t return_address, struct cfi_rule rule)
{
    if (return_address >= KEY_LIMIT)
        return;
    pthread_mutex_lock(&table_lock);
    uint32_t index = rule_index(rule);
    struct rule_table *table = index ? table_with_room() : NULL;
    if (table)
        table_put(table, (uint64_t)return_address << RULE_INDEX_BITS | index);
    pthread_mutex_unlock(&table_lock);
}

/* ---- modules unloaded --------------------------------------------------------------------------- */

static int read_unload_count(struct dl_phdr_info *info, size_t size, void *data)
{
    unsigned long long *unloads = data;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        *unloads = info->dlpi_subs;
    return 1; /* the first module says it */
}

/* The table for a walk starting now, emptied first if a module was unloaded since it was last
 * emptied; NULL (no entry yet) is a table where every lookup misses. False when the loader does
 * not count unloads (then the cache cannot be trusted). */
static bool table_for_walk(const struct rule_table **table)
{
    unsigned long long unloads = ~0ull;
    dl_iterate_phdr(read_unload_count, &unloads);
    if (unloads == ~0ull)
        return false;
    if (unloads > __atomic_load_n(&unloads_emptied, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&table_lock);
        if (unloads > unloads_emptied) {
            struct rule_table *emptied = current_table;
            if (emptied) {
                for (size_t i = 0; i < ((size_t)1 << emptied->bits); i++)
                    __atomic_store_n(&emptied->slots[i], 0, __ATOMIC_RELAXED);
                emptied->used = 0;
            }
            __atomic_store_n(&unloads_emptied, unloads, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&table_lock);
    }
    *table = __atomic_load_n(&current_table, __ATOMIC_ACQUIRE);
    return true;
}

/* ---- the walk ----------------------------------------------------------------------------------- */

/* libunwind's dynamic unwind information (_U_dyn_register) overrides .eh_frame for the addresses
 * it covers; while any is registered, libunwind does every stack. */
static const unw_dyn_info_list_t *dynamic_info_list(void)
{
    static const unw_dyn_info_list_t *list;
    static bool known;
    if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
        unw_word_t address = 0;
        unw_accessors_t *accessors = unw_get_accessors(unw_local_addr_space);
        if (accessors && accessors->get_dyn_info_list_addr &&
            accessors->get_dyn_info_list_addr(unw_local_addr_space, &address, NULL) == 0)
            __atomic_store_n(&list, (const unw_dyn_info_list_t *)address, __ATOMIC_RELAXED);
        __atomic_store_n(&known, true, __ATOMIC_RELEASE);
    }
    return list;
}

/* A table's geometry, read once per walk. */
struct table_view {
    const uint64_t *slots;
    const struct cfi_rule *rules;
    size_t mask;
    unsigned shift;
};

/* A return address seen for the first time (in this table): its rule, read and remembered. */
static __attribute__((noinline)) struct cfi_rule learn_rule(uintptr_t return_address)
{
    struct cfi_rule rule = cfi_rule_for_return_address(return_address);
    remember_rule(return_address, rule);
    return rule;
}

struct frame_state {
    uintptr_t rip, rsp, rbp;
};

enum step_result { STEP_TAKEN, STEP_END, STEP_UNSUPPORTED, STEP_UNKNOWN };

static inline bool cached_rule(const struct table_view *view, uintptr_t return_address, struct cfi_rule *rule)
{
    size_t i = (size_t)((return_address * UINT64_C(0x9e3779b97f4a7c15)) >> view->shift);
    for (;;) {
        uint64_t slot = __atomic_load_n(&view->slots[i], __ATOMIC_ACQUIRE);
        if (slot >> RULE_INDEX_BITS == return_address) {
            *rule = view->rules[slot & RULE_INDEX_MASK];
            return true;
        }
        if (slot == 0)
            return false;
        i = (i + 1) & view->mask;
    }
}

/* One frame up from *frame with `rule`, as tdep_trace steps. STEP_END where libunwind's fast
 * trace ends the stack. */
static inline enum step_result apply_rule(struct cfi_rule rule, struct frame_state *frame)
{
    if (rule.kind != CFI_RULE_STANDARD)
        return rule.kind == CFI_RULE_LAST ? STEP_END : STEP_UNSUPPORTED;
    uintptr_t cfa = (rule.flags & CFI_RULE_CFA_FROM_RBP ? frame->rbp : frame->rsp) + (intptr_t)rule.cfa_offset;
    frame->rip = *(const uintptr_t *)(cfa - 8);
    if (rule.flags & CFI_RULE_RBP_SAVED)
        frame->rbp = *(const uintptr_t *)(cfa + (intptr_t)rule.rbp_offset);
    frame->rsp = cfa;
    return frame->rip < LOWEST_RETURN_ADDRESS ? STEP_END : STEP_TAKEN;
}

/* The hot loop: steps with cached rules, storing return addresses at *next until `end`. Stops
 * with STEP_UNKNOWN at a return address not in the table (*frame is then at that frame). It calls
 * nothing, so the walk's state stays in registers. */
static __attribute__((noinline)) enum step_result walk_cached(const struct table_view *view_pointer,
                                                              struct frame_state *frame_pointer, void ***next_pointer,
                                                              void **end)
{
    const struct table_view view = *view_pointer;
    struct frame_state frame = *frame_pointer;
    void **next = *next_pointer;
    enum step_result result = STEP_TAKEN;
    while (next < end) {
        struct cfi_rule rule;
        if (!cached_rule(&view, frame.rip, &rule)) {
            result = STEP_UNKNOWN;
            break;
        }
        if ((result = apply_rule(rule, &frame)) != STEP_TAKEN)
            break;
        *next++ = (void *)frame.rip;
    }
    *frame_pointer = frame;
    *next_pointer = next;
    return result;
}

/* A walk's view of the current table (empty before the first rule is remembered). */
static struct table_view current_view(const struct rule_table *table)
{
    static const uint64_t no_slots[2];
    if (!table)
        return (struct table_view){no_slots, NULL, 1, 63};
    return (struct table_view){table->slots, __atomic_load_n(&rules, __ATOMIC_ACQUIRE), /* published before the table */
                               ((size_t)1 << table->bits) - 1, 64 - table->bits};
}

/* One frame up from *frame: its rule cached, or learnt now (and the view refreshed, as the table
 * may have grown). */
static enum step_result step(struct table_view *view, struct frame_state *frame)
{
    struct cfi_rule rule;
    if (!cached_rule(view, frame->rip, &rule)) {
        rule = learn_rule(frame->rip);
        *view = current_view(__atomic_load_n(&current_table, __ATOMIC_ACQUIRE));
    }
    return apply_rule(rule, frame);
}

/* Steps up from `frame`, storing each caller's return address in out[0..], until `size` are
 * stored, the stack ends, or `wanted_after_shim` (when not 0) follow the first run of the shim's
 * own frames. Returns the number stored, or -1 at a frame it cannot take. */
static int walk(struct table_view view, struct frame_state frame, void **out, int size, unsigned wanted_after_shim)
{
    enum step_result result = STEP_TAKEN;
    void **next = out, **end = out + size;
    if (wanted_after_shim) {
        /* Up to the first frame after the first run of the shim's own (a few frames). */
        bool shim_seen = false;
        while (next < end && (result = step(&view, &frame)) == STEP_TAKEN) {
            *next++ = (void *)frame.rip;
            bool in_shim = address_in_shim(frame.rip);
            if (shim_seen && !in_shim) {
                if ((ptrdiff_t)wanted_after_shim - 1 < end - next)
                    end = next + wanted_after_shim - 1;
                break;
            }
            shim_seen |= in_shim;
        }
    }
    while (result == STEP_TAKEN && next < end) {
        result = walk_cached(&view, &frame, &next, end);
        if (result == STEP_UNKNOWN && (result = step(&view, &frame)) == STEP_TAKEN)
            *next++ = (void *)frame.rip;
    }
    return result == STEP_UNSUPPORTED ? -1 : (int)(next - out);
}

struct walk_start {
    uintptr_t rip, rsp, rbp;
};

#if defined(__x86_64__)
/* The caller's state just after this call returns, as libunwind's getcontext_trace saves it: the
 * return address, the stack pointer above it, rbp. */
void native_unwind_start(struct walk_start *start) __attribute__((visibility("hidden")));
__asm__(".text\n"
        ".globl native_unwind_start\n"
        ".hidden native_unwind_start\n"
        ".type native_unwind_start, @function\n"
        "native_unwind_start:\n"
        "    .cfi_startproc\n"
        "    movq (%rsp), %rax\n"
        "    movq %rax, 0(%rdi)\n"
        "    leaq 8(%rsp), %rax\n"
        "    movq %rax, 8(%rdi)\n"
        "    movq %rbp, 16(%rdi)\n"
        "    ret\n"
        "    .cfi_endproc\n"
        ".size native_unwind_start, . - native_unwind_start\n");
#endif

__attribute__((noinline)) int native_backtrace(void **buffer, int size, unsigned wanted_after_shim)
{
#if defined(__x86_64__)
    const unw_dyn_info_list_t *dynamic = dynamic_info_list();
    const struct rule_table *table;
    if (!dynamic || __atomic_load_n(&dynamic->first, __ATOMIC_RELAXED) || !table_for_walk(&table))
        return -1;
    struct table_view view = current_view(table);
    struct walk_start start;
    native_unwind_start(&start);
    return walk(view, (struct frame_state){start.rip, start.rsp, start.rbp}, buffer, size, wanted_after_shim);
#else
    (void)buffer, (void)size, (void)wanted_after_shim;
    return -1;
#endif
}

/* ---- check mode --------------------------------------------------------------------------------- */

enum { DIFFERENCE_FRAMES_SHOWN = 6 };

static bool checking;
static unsigned long long checked, checked_fast, differed;
static struct {
    bool kept;
    unsigned fast_depth, reference_depth;
    uintptr_t fast[DIFFERENCE_FRAMES_SHOWN], reference[DIFFERENCE_FRAMES_SHOWN];
} first_difference;
static bool first_difference_taken;

void native_unwind_init(bool check)
{
    checking = check;
}

bool native_unwind_checking(void)
{
    return checking;
}

void native_unwind_check_count(bool fast_used, bool same, const uintptr_t *fast, unsigned fast_depth,
                               const uintptr_t *reference, unsigned reference_depth)
{
    __atomic_add_fetch(&checked, 1, __ATOMIC_RELAXED);
    if (fast_used)
        __atomic_add_fetch(&checked_fast, 1, __ATOMIC_RELAXED);
    if (same)
        return;
    __atomic_add_fetch(&differed, 1, __ATOMIC_RELAXED);
    if (__atomic_exchange_n(&first_difference_taken, true, __ATOMIC_ACQ_REL))
        return;
    first_difference.fast_depth = fast_depth;
    first_difference.reference_depth = reference_depth;
    for (unsigned i = 0; i < DIFFERENCE_FRAMES_SHOWN; i++) {
        first_difference.fast[i] = i < fast_depth ? fast[i] : 0;
        first_difference.reference[i] = i < reference_depth ? reference[i] : 0;
    }
    __atomic_store_n(&first_difference.kept, true, __ATOMIC_RELEASE);
}

static void format_frames(char *text, size_t size, const uintptr_t *frames, unsigned depth)
{
    size_t used = 0;
    text[0] = '\0';
    for (unsigned i = 0; i < depth && i < DIFFERENCE_FRAMES_SHOWN && used < size; i++) {
        int written = snprintf(text + used, size - used, "%s%#lx", i ? " " : "", (unsigned long)frames[i]);
        if (written < 0)
            break;
        used += (size_t)written;
    }
}

void native_unwind_check_report(void)
{
    unsigned long long total = __atomic_load_n(&checked, __ATOMIC_RELAXED);
    if (!checking || total == 0)
        return;
    shim_log("unwind check: %llu stack(s) captured both ways, %llu by the fast walk; %llu differed", total,
             __atomic_load_n(&checked_fast, __ATOMIC_RELAXED), __atomic_load_n(&differed, __ATOMIC_RELAXED));
    if (__atomic_load_n(&first_difference.kept, __ATOMIC_ACQUIRE)) {
        char fast[160], reference[160];
        format_frames(fast, sizeof fast, first_difference.fast, first_difference.fast_depth);
        format_frames(reference, sizeof reference, first_difference.reference, first_difference.reference_depth);
        shim_log("unwind check: first difference: fast walk %u frame(s) [%s], libunwind %u frame(s) [%s]",
                 first_difference.fast_depth, fast, first_difference.reference_depth, reference);
    }
}
