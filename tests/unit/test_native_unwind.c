/* Unit tests of shim/native_unwind.c and shim/cfi_rules.c: the fast native walk returns exactly
 * the stack libunwind returns, through frames of every shape the rules describe (the hand-written
 * ones of unwind_shapes.S, C compiled with and without frame pointers, libc's and the loader's
 * code calling back), gives up where libunwind must do the stack (expressions, registers, signal
 * frames), is safe from many threads, and forgets the rules of an unloaded library.
 *
 * In this test program the "shim" (address_in_shim) is the test executable itself. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <search.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "shim/cfi_rules.h"
#include "shim/native_unwind.h"
#include "shim/real_functions.h"

#define KEEP_FRAME __attribute__((noinline, noclone))
#define NOT_A_TAIL_CALL() __asm__ volatile("" ::: "memory")

enum { MAX_FRAMES = 256 };

typedef void callback_fn(void *context);
void shape_rsp_frame(callback_fn *callback, void *context);
void shape_rbp_frame(callback_fn *callback, void *context);
void shape_clobbered_rbp(callback_fn *callback, void *context);
void shape_big_frame(callback_fn *callback, void *context);
void shape_remember_restore(callback_fn *callback, void *context);
void shape_cfa_expression(callback_fn *callback, void *context);
void shape_register_rule(callback_fn *callback, void *context);
void shape_undefined_return(callback_fn *callback, void *context);

/* ---- comparing the two walks ------------------------------------------------------------------- */

struct comparison {
    int fast_count, reference_count;
    bool same;
    void *fast[MAX_FRAMES], *reference[MAX_FRAMES];
};

/* Both walks from this one function: their first frames are this function's two call sites, the
 * rest must be identical. */
static KEEP_FRAME void compare_walks(struct comparison *result)
{
    result->fast_count = native_backtrace(result->fast, MAX_FRAMES, 0);
    result->reference_count = unw_backtrace(result->reference, MAX_FRAMES);
    result->same = result->fast_count == result->reference_count && result->fast_count > 1 &&
                   memcmp(result->fast + 1, result->reference + 1, (size_t)(result->fast_count - 1) * sizeof(void *)) == 0;
    NOT_A_TAIL_CALL();
}

static void assert_same_stack(const struct comparison *result, const char *where)
{
    cr_assert_geq(result->fast_count, 0, "%s: the fast walk gave up", where);
    cr_assert(result->same, "%s: fast walk %d frame(s), libunwind %d", where, result->fast_count,
              result->reference_count);
}

/* ---- frames of C code ---------------------------------------------------------------------------- */

static KEEP_FRAME void recurse(int levels, struct comparison *result)
{
    if (levels == 0)
        compare_walks(result);
    else
        recurse(levels - 1, result);
    NOT_A_TAIL_CALL();
}

__attribute__((optimize("no-omit-frame-pointer"))) static KEEP_FRAME void recurse_with_frame_pointer(
    int levels, struct comparison *result)
{
    if (levels == 0)
        compare_walks(result);
    else
        recurse_with_frame_pointer(levels - 1, result);
    NOT_A_TAIL_CALL();
}

/* A variable-length array: GCC keeps a frame pointer here even when optimising. */
static KEEP_FRAME void with_variable_array(int length, struct comparison *result)
{
    volatile char array[length];
    array[0] = 1;
    compare_walks(result);
    array[length - 1] = array[0];
}

Test(native_unwind, same_stack_as_libunwind_through_c_frames)
{
    static struct comparison result;
    recurse(40, &result);
    assert_same_stack(&result, "frameless recursion");
    cr_assert_gt(result.fast_count, 40);
    recurse_with_frame_pointer(40, &result);
    assert_same_stack(&result, "frame pointer recursion");
    with_variable_array(300, &result);
    assert_same_stack(&result, "variable-length array");
}

Test(native_unwind, stops_where_asked_and_where_libunwind_stops)
{
    void *frames[MAX_FRAMES], *reference[MAX_FRAMES];
    int all = unw_backtrace(reference, MAX_FRAMES);
    cr_assert_gt(all, 3);
    cr_assert_eq(native_backtrace(frames, 2, 0), 2, "a full buffer ends the walk");
    cr_assert_eq(native_backtrace(frames, MAX_FRAMES, 0), all, "the same end of stack as libunwind");
}

/* With wanted_after_shim, the walk stops once that many frames follow the first run of the
 * shim's own (here: of the test executable's). */
Test(native_unwind, stops_after_the_frames_wanted_past_the_shim)
{
    void *frames[MAX_FRAMES], *reference[MAX_FRAMES];
    int all = unw_backtrace(reference, MAX_FRAMES);
    int past = 0;
    while (past < all && !address_in_shim((uintptr_t)reference[past]))
        past++;
    while (past < all && address_in_shim((uintptr_t)reference[past]))
        past++;
    cr_assert_lt(past + 1, all, "the test runner's frames follow the test's");
    cr_assert_eq(native_backtrace(frames, MAX_FRAMES, 1), past + 1);
    cr_assert_eq(native_backtrace(frames, past, 1), past, "the buffer's size still bounds it");
}

/* ---- hand-written frames ------------------------------------------------------------------------ */

struct shape_visit {
    struct cfi_rule rule; /* the rule of the return address into the shape */
    struct comparison walks;
};

static KEEP_FRAME void visit_shape(void *context)
{
    struct shape_visit *visit = context;
    visit->rule = cfi_rule_for_return_address((uintptr_t)__builtin_return_address(0));
    compare_walks(&visit->walks);
    NOT_A_TAIL_CALL();
}

static void assert_standard(const struct cfi_rule *rule, int32_t cfa_offset, uint8_t flags, int16_t rbp_offset,
                            const char *shape)
{
    cr_assert_eq(rule->kind, CFI_RULE_STANDARD, "%s", shape);
    cr_assert_eq(rule->cfa_offset, cfa_offset, "%s", shape);
    cr_assert_eq(rule->flags, flags, "%s", shape);
    if (flags & CFI_RULE_RBP_SAVED)
        cr_assert_eq(rule->rbp_offset, rbp_offset, "%s", shape);
}

Test(native_unwind, rules_of_standard_frames)
{
    static struct shape_visit visit;
    shape_rsp_frame(visit_shape, &visit);
    assert_standard(&visit.rule, 32, 0, 0, "rsp frame");
    assert_same_stack(&visit.walks, "rsp frame");

    shape_rbp_frame(visit_shape, &visit);
    assert_standard(&visit.rule, 16, CFI_RULE_CFA_FROM_RBP | CFI_RULE_RBP_SAVED, -16, "rbp frame");
    assert_same_stack(&visit.walks, "rbp frame");

    shape_big_frame(visit_shape, &visit);
    assert_standard(&visit.rule, 0x10010, 0, 0, "64 KiB frame");
    assert_same_stack(&visit.walks, "64 KiB frame");

    shape_remember_restore(visit_shape, &visit);
    assert_standard(&visit.rule, 16, 0, 0, "after restore_state");
    assert_same_stack(&visit.walks, "after restore_state");
}

/* Through a frame that overwrote rbp into one that needs it: rbp must come from the stack. */
static KEEP_FRAME void clobber_then_visit(void *context)
{
    shape_clobbered_rbp(visit_shape, context);
    NOT_A_TAIL_CALL();
}

Test(native_unwind, saved_rbp_is_restored_for_the_frame_pointer_frame_above)
{
    static struct shape_visit visit;
    shape_rbp_frame(clobber_then_visit, &visit);
    assert_standard(&visit.rule, 16, CFI_RULE_RBP_SAVED, -16, "clobbered rbp");
    assert_same_stack(&visit.walks, "frame pointer frame above a clobbered rbp");
}

Test(native_unwind, gives_up_where_libunwind_must_do_the_stack)
{
    static struct shape_visit visit;
    shape_cfa_expression(visit_shape, &visit);
    cr_assert_eq(visit.rule.kind, CFI_RULE_UNSUPPORTED, "a CFA expression");
    cr_assert_eq(visit.walks.fast_count, -1);

    shape_register_rule(visit_shape, &visit);
    cr_assert_eq(visit.rule.kind, CFI_RULE_UNSUPPORTED, "rbp kept in a register");
    cr_assert_eq(visit.walks.fast_count, -1);
}

Test(native_unwind, ends_where_the_return_address_is_undefined)
{
    static struct shape_visit visit;
    shape_undefined_return(visit_shape, &visit);
    cr_assert_eq(visit.rule.kind, CFI_RULE_LAST);
    assert_same_stack(&visit.walks, "undefined return address");
    /* compare_walks's call site, visit_shape's, the shape's: nothing beyond */
    cr_assert_eq(visit.walks.fast_count, 3, "the shape's frame is the last one");
}

/* ---- libc's and the loader's code calling back ---------------------------------------------------- */

static struct comparison in_callback;

static int compare_in_qsort(const void *left, const void *right)
{
    static bool done;
    if (!done) {
        done = true;
        compare_walks(&in_callback);
    }
    return *(const int *)left - *(const int *)right;
}

static int compare_in_phdr_callback(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info, (void)size, (void)data;
    compare_walks(&in_callback);
    return 1;
}

static void compare_in_once(void)
{
    compare_walks(&in_callback);
}

Test(native_unwind, same_stack_through_libc_and_the_loader)
{
    int numbers[64];
    for (int i = 0; i < 64; i++)
        numbers[i] = (i * 37) % 64;
    qsort(numbers, 64, sizeof numbers[0], compare_in_qsort);
    assert_same_stack(&in_callback, "qsort's comparison function");
    dl_iterate_phdr(compare_in_phdr_callback, NULL);
    assert_same_stack(&in_callback, "dl_iterate_phdr's callback");
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, compare_in_once);
    assert_same_stack(&in_callback, "pthread_once's function");
}

static struct comparison in_handler;

static void compare_in_handler(int signal_number)
{
    (void)signal_number;
    compare_walks(&in_handler);
}

/* A signal frame: libunwind does the stack (the fast walk does not cross it), the result is its. */
Test(native_unwind, gives_up_at_a_signal_frame)
{
    struct sigaction action = {.sa_handler = compare_in_handler}, previous;
    sigemptyset(&action.sa_mask);
    cr_assert_eq(sigaction(SIGUSR2, &action, &previous), 0);
    raise(SIGUSR2);
    sigaction(SIGUSR2, &previous, NULL);
    cr_assert_eq(in_handler.fast_count, -1);
    cr_assert_gt(in_handler.reference_count, 3);
}

/* ---- threads ------------------------------------------------------------------------------------------ */

enum { THREADS = 4, WALKS_PER_THREAD = 2000 };

static void *walk_many_times(void *seed_pointer)
{
    unsigned seed = (unsigned)(uintptr_t)seed_pointer;
    struct comparison *result = malloc(sizeof *result);
    long differences = 0;
    for (int i = 0; i < WALKS_PER_THREAD; i++) {
        int levels = (int)(rand_r(&seed) % 60);
        if (i % 2)
            recurse(levels, result);
        else
            recurse_with_frame_pointer(levels, result);
        differences += !result->same || result->fast_count < 0;
    }
    free(result);
    return (void *)differences;
}

Test(native_unwind, same_stacks_from_many_threads_at_once)
{
    pthread_t threads[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, walk_many_times, (void *)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++) {
        void *differences;
        pthread_join(threads[i], &differences);
        cr_assert_eq((long)differences, 0, "thread %d: %ld walk(s) differed from libunwind's", i, (long)differences);
    }
}

/* ---- dlclose ------------------------------------------------------------------------------------------ */

/* libunwind's slow path with its caches flushed: the reference that does not remember the
 * unloaded library either (its fast trace's cache would). */
static int fresh_libunwind_backtrace(void **frames, int size)
{
    unw_flush_cache(unw_local_addr_space, 0, 0);
    unw_context_t context;
    unw_cursor_t cursor;
    unw_getcontext(&context);
    unw_init_local(&cursor, &context);
    int count = 0;
    while (count < size && unw_step(&cursor) > 0) {
        unw_word_t ip;
        unw_get_reg(&cursor, UNW_REG_IP, &ip);
        frames[count++] = (void *)ip;
    }
    return count;
}

struct probe_visit {
    int fast_count, reference_count;
    void *fast[8], *reference[8];
};

static KEEP_FRAME void visit_probe(void *context)
{
    struct probe_visit *visit = context;
    visit->fast_count = native_backtrace(visit->fast, 8, 0);
    visit->reference_count = fresh_libunwind_backtrace(visit->reference, 8);
    NOT_A_TAIL_CALL();
}

typedef void probe_call_fn(callback_fn *callback, void *context);

static void *probe_through(const char *library, void **where)
{
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(handle, "%s: %s", library, dlerror());
    probe_call_fn *probe_call = (probe_call_fn *)dlsym(handle, "probe_call");
    cr_assert_not_null(probe_call);
    *where = (void *)probe_call;
    return handle;
}

static void assert_probe_walk(const struct probe_visit *visit, const char *library)
{
    cr_assert_geq(visit->fast_count, 3, "%s: the fast walk gave up", library);
    cr_assert_eq(visit->reference_count, 8);
    /* frame 0 is each walk's own call site in visit_probe; then probe_call, then its caller */
    cr_assert_arr_eq(visit->fast + 1, visit->reference + 1, 2 * sizeof(void *), "%s", library);
}

Test(native_unwind, forgets_the_rules_of_an_unloaded_library)
{
    struct probe_visit visit;
    void *first_address, *second_address;
    void *first = probe_through(VT_UNWIND_PROBE_A, &first_address);
    ((probe_call_fn *)first_address)(visit_probe, &visit);
    assert_probe_walk(&visit, "probe A");
    void *return_address_a = visit.fast[1];
    dlclose(first);

    void *second = probe_through(VT_UNWIND_PROBE_B, &second_address);
    if (second_address != first_address) {
        dlclose(second);
        cr_skip_test("the second library was not loaded where the first one was");
    }
    ((probe_call_fn *)second_address)(visit_probe, &visit);
    cr_assert_eq(visit.fast[1], return_address_a, "the same return address, in another library");
    assert_probe_walk(&visit, "probe B, loaded where probe A was");
    dlclose(second);
}
