/* shim/python_frames.c — reading the calling thread's Python frames (see python_frames.h).
 *
 * Layouts are per minor version, from CPython's own headers (Include/cpython/pystate.h,
 * Include/internal/pycore_frame.h, Include/cpython/code.h, Include/cpython/unicodeobject.h) for
 * x86-64 Linux release builds with the GIL; tools/python-layouts/probe.sh prints them from CPython
 * source trees (checked for 3.9.20, 3.10.15, 3.11.10, 3.12.6 and 3.13.15; scripts/test-pythons.sh
 * runs the tests with interpreters of each version). 3.13 also publishes its
 * offsets in _PyRuntime.debug_offsets: they are compared with the table before it is trusted.
 * Every code object read is checked to be one (its type is &PyCode_Type) before it is used, so a
 * layout that does not match stops the walk instead of following garbage.
 */
#define _GNU_SOURCE
#include "shim/python_frames.h"

#include "shim/real_functions.h"
#include "shim/shim_log.h"
#include "vramtrace/frames.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum frame_model {
    FRAME_OBJECTS,      /* 3.9, 3.10: PyFrameObject chain from tstate->frame, f_lasti */
    INTERPRETER_FRAMES, /* 3.11+: _PyInterpreterFrame chain, an instruction pointer */
};

enum instruction_field {
    LASTI_BYTES,       /* 3.9: int f_lasti, in bytes */
    LASTI_CODE_UNITS,  /* 3.10: int f_lasti, in 2-byte code units */
    INSTRUCTION_POINTER, /* 3.11+: pointer into the code object's co_code_adaptive */
};

enum evaluation_marker {
    EVERY_FRAME,       /* 3.9, 3.10: one evaluation-loop call per Python frame */
    IS_ENTRY_FIELD,    /* 3.11: the first frame of a call has is_entry set */
    CSTACK_FRAME,      /* 3.12+: a frame owned by the C stack sits below each call's frames */
};

struct python_layout {
    unsigned minor; /* 3.minor */
    enum frame_model model;
    enum instruction_field instruction;
    enum evaluation_marker marker;
    /* thread state: the current frame is at tstate + thread_frame, or, when thread_cframe is set,
     * at *(tstate + thread_cframe) + cframe_current_frame */
    unsigned thread_frame, thread_cframe, cframe_current_frame;
    /* frames */
    unsigned frame_code, frame_previous, frame_instruction, frame_owner, frame_is_entry;
    int owner_generator, owner_cstack; /* -1: no such owner */
    /* code objects */
    unsigned code_adaptive, code_first_traceable;
    struct python_code_layout code;
};

#define NO_FIELD 0u

static const struct python_layout layouts[] = {
    {
        .minor = 9, .model = FRAME_OBJECTS, .instruction = LASTI_BYTES, .marker = EVERY_FRAME,
        .thread_frame = 24,
        .frame_code = 32, .frame_previous = 24, .frame_instruction = 104,
        .owner_generator = -1, .owner_cstack = -1,
        .code = {.filename = 104, .name = 112, .qualname = NO_FIELD, .first_line = 40, .line_table = 120,
                 .line_table_format = VT_LINE_TABLE_LNOTAB, .ascii_header_bytes = 48, .compact_header_bytes = 72},
    },
    {
        .minor = 10, .model = FRAME_OBJECTS, .instruction = LASTI_CODE_UNITS, .marker = EVERY_FRAME,
        .thread_frame = 24,
        .frame_code = 32, .frame_previous = 24, .frame_instruction = 96,
        .owner_generator = -1, .owner_cstack = -1,
        .code = {.filename = 104, .name = 112, .qualname = NO_FIELD, .first_line = 40, .line_table = 120,
                 .line_table_format = VT_LINE_TABLE_LINETABLE, .ascii_header_bytes = 48, .compact_header_bytes = 72},
    },
    {
        .minor = 11, .model = INTERPRETER_FRAMES, .instruction = INSTRUCTION_POINTER, .marker = IS_ENTRY_FIELD,
        .thread_cframe = 56, .cframe_current_frame = 8,
        .frame_code = 32, .frame_previous = 48, .frame_instruction = 56, .frame_owner = 69, .frame_is_entry = 68,
        .owner_generator = 1, .owner_cstack = -1,
        .code_adaptive = 184, .code_first_traceable = 168,
        .code = {.filename = 112, .name = 120, .qualname = 128, .first_line = 72, .line_table = 136,
                 .line_table_format = VT_LINE_TABLE_LOCATIONS, .ascii_header_bytes = 48, .compact_header_bytes = 72},
    },
    {
        .minor = 12, .model = INTERPRETER_FRAMES, .instruction = INSTRUCTION_POINTER, .marker = CSTACK_FRAME,
        .thread_cframe = 56, .cframe_current_frame = 0, /* 3.12's _PyCFrame lost 3.11's use_tracing */
        .frame_code = 0, .frame_previous = 8, .frame_instruction = 56, .frame_owner = 70,
        .owner_generator = 1, .owner_cstack = 3,
        .code_adaptive = 192, .code_first_traceable = 176,
        .code = {.filename = 112, .name = 120, .qualname = 128, .first_line = 68, .line_table = 136,
                 .line_table_format = VT_LINE_TABLE_LOCATIONS, .ascii_header_bytes = 40, .compact_header_bytes = 56},
    },
    {
        .minor = 13, .model = INTERPRETER_FRAMES, .instruction = INSTRUCTION_POINTER, .marker = CSTACK_FRAME,
        .thread_frame = 72,
        .frame_code = 0, .frame_previous = 8, .frame_instruction = 56, .frame_owner = 70,
        .owner_generator = 1, .owner_cstack = 3,
        .code_adaptive = 200, .code_first_traceable = 184,
        .code = {.filename = 112, .name = 120, .qualname = 128, .first_line = 68, .line_table = 136,
                 .line_table_format = VT_LINE_TABLE_LOCATIONS, .ascii_header_bytes = 40, .compact_header_bytes = 56},
    },
};

enum { MAX_FRAMES_WALKED = 100000 }; /* a chain longer than this is taken as a cycle */

typedef void *get_thread_state_function(void);
typedef void destructor_function(void *object);
typedef int is_finalizing_function(void);

static struct {
    bool probed;
    const struct python_layout *layout; /* NULL: no interpreter, unsupported, or off */
    unsigned max_depth;
    bool quiet;
    get_thread_state_function *get_thread_state;
    is_finalizing_function *is_finalizing;
    uintptr_t code_type;                       /* &PyCode_Type */
    uintptr_t unicode_type, bytes_type;        /* &PyUnicode_Type, &PyBytes_Type */
    char unsupported[200];                     /* said once at the first capture when not empty */
    bool said_unsupported;
    uintptr_t eval_start, eval_end;            /* _PyEval_EvalFrameDefault */
    uintptr_t interpreter_start, interpreter_end; /* the module that holds it */
    void (*code_freed)(uintptr_t code);
    destructor_function *original_code_dealloc;
} python;

static inline uintptr_t read_word(uintptr_t address)
{
    return *(const uintptr_t *)address;
}

static inline int read_int(uintptr_t address)
{
    return *(const int *)address;
}

static inline uint8_t read_byte(uintptr_t address)
{
    return *(const uint8_t *)address;
}

/* ---- finding the interpreter -------------------------------------------------------------------- */

static void *python_symbol(const char *name)
{
    return shim_real_dlsym(RTLD_DEFAULT, name);
}

unsigned python_interpreter_version(unsigned *major)
{
    *major = 0;
    const unsigned long *version_hex = python_symbol("Py_Version"); /* 3.11+ */
    if (version_hex) {
        *major = (unsigned)(*version_hex >> 24) & 0xff;
        return (unsigned)(*version_hex >> 16) & 0xff;
    }
    const char *(*get_version)(void) = (const char *(*)(void))python_symbol("Py_GetVersion");
    unsigned minor = 0;
    if (get_version && sscanf(get_version(), "%u.%u", major, &minor) == 2)
        return minor;
    return 0;
}

/* The interpreter's version as python_interpreter_version says, or the one
 * VRAMTRACE_TEST_PYTHON_VERSION ("3.N") pretends, for the tests of the unsupported case. */
static unsigned interpreter_minor(unsigned *major)
{
    const char *pretend = getenv("VRAMTRACE_TEST_PYTHON_VERSION");
    unsigned pretend_major, pretend_minor;
    if (pretend && sscanf(pretend, "%u.%u", &pretend_major, &pretend_minor) == 2) {
        *major = pretend_major;
        return pretend_minor;
    }
    return python_interpreter_version(major);
}

struct module_search {
    uintptr_t address, start, end;
};

static int find_module_of(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct module_search *search = data;
    uintptr_t low = UINTPTR_MAX, high = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + header->p_vaddr;
        if (start < low)
            low = start;
        if (start + header->p_memsz > high)
            high = start + header->p_memsz;
    }
    if (search->address >= low && search->address < high) {
        search->start = low;
        search->end = high;
        return 1;
    }
    return 0;
}

/* 3.13: the runtime publishes its offsets in _PyRuntime.debug_offsets (_Py_DebugOffsets, at the
 * start of _PyRuntime, Include/internal/pycore_runtime.h): the table is used only when they agree
 * with it. The positions below are those of its uint64 fields in 3.13 (cookie "xdebugpy" at 0,
 * free_threaded at 16, ...), as CPython 3.13.15's headers give them. */
static bool debug_offsets_agree(const struct python_layout *layout)
{
    if (layout->minor != 13)
        return true;
    const uint8_t *runtime = python_symbol("_PyRuntime");
    if (!runtime || memcmp(runtime, "xdebugpy", 8) != 0)
        return false;
    const struct {
        unsigned position;
        unsigned expected;
    } checks[] = {
        {16, 0}, /* free_threaded: other layouts */
        {184, layout->thread_frame},
        {232, layout->frame_previous},
        {240, layout->frame_code},
        {248, layout->frame_instruction},
        {264, layout->frame_owner},
        {280, layout->code.filename},
        {296, layout->code.qualname},
        {304, layout->code.line_table},
        {312, layout->code.first_line},
        {344, layout->code_adaptive},
        {560, layout->code.ascii_header_bytes},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        uint64_t published;
        memcpy(&published, runtime + checks[i].position, sizeof published);
        if (published != checks[i].expected)
            return false;
    }
    return true;
}

static const char *build_unsupported_reason(void)
{
    if (python_symbol("_Py_NegativeRefcount"))
        return "a debug build of Python";
    if (python_symbol("_Py_ForgetReference"))
        return "a build of Python with Py_TRACE_REFS (other object headers)";
    if (python_symbol("_Py_DecRefShared"))
        return "a free-threaded build of Python";
    return NULL;
}

static void code_dealloc_watch(void *code)
{
    python.code_freed((uintptr_t)code);
    python.original_code_dealloc(code);
}

/* Every code object CPython frees passes here first, so its address can be reused by another code
 * object without being taken for the old one (python_codes.c forgets it). tp_dealloc is at the same
 * offset in every version: after PyObject_VAR_HEAD, tp_name, tp_basicsize and tp_itemsize. */
static void watch_code_objects(void)
{
    enum { TP_DEALLOC_OFFSET = 48 };
    destructor_function **slot = (destructor_function **)(python.code_type + TP_DEALLOC_OFFSET);
    if (!python.code_freed || *slot == code_dealloc_watch)
        return;
    python.original_code_dealloc = *slot;
    __atomic_store_n(slot, code_dealloc_watch, __ATOMIC_RELEASE);
}

/* Whether the type at `type` is named "code" (tp_name, right after PyObject_VAR_HEAD): a last
 * check that the object layout is the one the table assumes before the shim writes tp_dealloc. */
static bool code_type_is_named_code(uintptr_t type)
{
    enum { TP_NAME_OFFSET = 24 };
    const char *name = (const char *)read_word(type + TP_NAME_OFFSET);
    return name && strcmp(name, "code") == 0;
}

/* python3, python3.12, libpython3.12.so.1.0 ... */
static bool module_is_python(const char *path)
{
    if (!path)
        return false;
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    return strncmp(name, "python", 6) == 0 || strncmp(name, "libpython", 9) == 0;
}

static void probe_interpreter(void)
{
    python.probed = true;
    python.get_thread_state = (get_thread_state_function *)python_symbol("PyGILState_GetThisThreadState");
    if (!python.get_thread_state || python.max_depth == 0)
        return; /* no interpreter in this process, or Python frames are off */
    unsigned major = 0, minor = interpreter_minor(&major);
    const struct python_layout *layout = NULL;
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (major == 3 && layouts[i].minor == minor)
            layout = &layouts[i];
    const char *build_problem = layout ? build_unsupported_reason() : NULL;
    if (!build_problem && layout && !debug_offsets_agree(layout))
        build_problem = "an interpreter whose frame layout differs from the one known for its version";
    python.code_type = (uintptr_t)python_symbol("PyCode_Type");
    python.unicode_type = (uintptr_t)python_symbol("PyUnicode_Type");
    python.bytes_type = (uintptr_t)python_symbol("PyBytes_Type");
    void *eval = python_symbol("_PyEval_EvalFrameDefault");
    if (!build_problem && layout && python.code_type && !code_type_is_named_code(python.code_type))
        build_problem = "an interpreter whose type objects differ from the release build's";
    if (!layout || build_problem || !python.code_type || !eval) {
        /* Said at the first allocation (python_frames_capture), not now: a Python process that
         * never allocates GPU memory prints nothing. */
        snprintf(python.unsupported, sizeof python.unsupported,
                 "Python %u.%u%s%s: stacks show native frames only (Python frames are read for CPython 3.9 to "
                 "3.13 release builds)",
                 major, minor, build_problem ? " is " : " is not supported", build_problem ? build_problem : "");
        return;
    }
    Dl_info info;
    ElfW(Sym) *symbol = NULL;
    if (dladdr1(eval, &info, (void **)&symbol, RTLD_DL_SYMENT) && symbol) {
        python.eval_start = (uintptr_t)eval;
        python.eval_end = (uintptr_t)eval + symbol->st_size;
    }
    /* The interpreter's own machinery is left out of merged stacks only when it is a module of its
     * own (python3.X, libpython3.X.so): an application that links Python statically (Blender) keeps
     * its frames, only the evaluation loop's are replaced. */
    struct module_search search = {.address = (uintptr_t)eval};
    if (dl_iterate_phdr(find_module_of, &search) && module_is_python(info.dli_fname)) {
        python.interpreter_start = search.start;
        python.interpreter_end = search.end;
    }
    python.is_finalizing = (is_finalizing_function *)python_symbol(minor >= 13 ? "Py_IsFinalizing" : "_Py_IsFinalizing");
    watch_code_objects();
    __atomic_store_n(&python.layout, layout, __ATOMIC_RELEASE);
}

void python_frames_init(unsigned max_depth, bool quiet, void (*code_freed)(uintptr_t code))
{
    python.max_depth = max_depth > PYTHON_MAX_DEPTH ? PYTHON_MAX_DEPTH : max_depth;
    python.quiet = quiet;
    python.code_freed = code_freed;
    probe_interpreter();
}

void python_frames_reset(void)
{
    python.probed = false;
    python.layout = NULL;
    python.unsupported[0] = '\0';
    python.said_unsupported = false;
}

bool python_frames_is_str(uintptr_t object)
{
    return object && python.unicode_type && read_word(object + sizeof(uintptr_t)) == python.unicode_type;
}

bool python_frames_is_bytes(uintptr_t object)
{
    return object && python.bytes_type && read_word(object + sizeof(uintptr_t)) == python.bytes_type;
}

const struct python_code_layout *python_frames_code_layout(void)
{
    const struct python_layout *layout = __atomic_load_n(&python.layout, __ATOMIC_ACQUIRE);
    return layout ? &layout->code : NULL;
}

/* ---- walking the frames ------------------------------------------------------------------------ */

static uintptr_t current_frame(const struct python_layout *layout, uintptr_t thread_state)
{
    if (layout->thread_cframe) {
        uintptr_t cframe = read_word(thread_state + layout->thread_cframe);
        return cframe ? read_word(cframe + layout->cframe_current_frame) : 0;
    }
    return read_word(thread_state + layout->thread_frame);
}

static inline bool is_code_object(uintptr_t object)
{
    return object && read_word(object + sizeof(uintptr_t)) == python.code_type;
}

/* The byte offset of the instruction `frame` executes; UINT32_MAX when it has not started. */
static uint32_t instruction_offset(const struct python_layout *layout, uintptr_t frame, uintptr_t code)
{
    switch (layout->instruction) {
    case LASTI_BYTES: {
        int lasti = read_int(frame + layout->frame_instruction);
        return lasti < 0 ? UINT32_MAX : (uint32_t)lasti;
    }
    case LASTI_CODE_UNITS: {
        int lasti = read_int(frame + layout->frame_instruction);
        return lasti < 0 ? UINT32_MAX : (uint32_t)lasti * 2;
    }
    case INSTRUCTION_POINTER:
    default: {
        uintptr_t instruction = read_word(frame + layout->frame_instruction);
        uintptr_t first = code + layout->code_adaptive;
        return instruction < first ? UINT32_MAX : (uint32_t)(instruction - first);
    }
    }
}

/* 3.11+: a frame whose code has not reached its first traceable instruction (its arguments are
 * being set up) is not a frame yet, as _PyFrame_IsIncomplete says; generators' frames always are. */
static bool frame_is_incomplete(const struct python_layout *layout, uintptr_t frame, uintptr_t code)
{
    if (layout->model != INTERPRETER_FRAMES)
        return false;
    if ((int)read_byte(frame + layout->frame_owner) == layout->owner_generator)
        return false;
    uintptr_t instruction = read_word(frame + layout->frame_instruction);
    int first_traceable = read_int(code + layout->code_first_traceable);
    return instruction < code + layout->code_adaptive + (uintptr_t)first_traceable * 2;
}

/* The current frame of a thread did not hold a code object where the table says: say so once and
 * stop reading Python frames (a build whose layout differs from its version's release build). */
static void layout_mismatch(const struct python_layout *layout)
{
    if (!__atomic_exchange_n(&python.layout, NULL, __ATOMIC_ACQ_REL))
        return;
    if (!python.quiet)
        shim_log("Python 3.%u: a thread's frames do not have the layout known for this version; stacks show native "
                 "frames only from now on", layout->minor);
}

/* python_frames_capture's work, in a process with an interpreter (out of line: a process without
 * one pays a load and a test). */
static __attribute__((noinline)) void capture_frames(const struct python_layout *layout, struct python_stack *stack)
{
    uintptr_t thread_state = (uintptr_t)python.get_thread_state();
    if (!thread_state || (python.is_finalizing && python.is_finalizing()))
        return; /* a thread without Python, or an interpreter tearing its threads down */
    uintptr_t frame = current_frame(layout, thread_state);
    for (unsigned walked = 0; frame && walked < MAX_FRAMES_WALKED && stack->depth < python.max_depth; walked++) {
        uintptr_t next = read_word(frame + layout->frame_previous);
        if (layout->marker == CSTACK_FRAME && (int)read_byte(frame + layout->frame_owner) == layout->owner_cstack) {
            if (stack->depth)
                stack->frames[stack->depth - 1].ends_evaluation = true;
            frame = next;
            continue;
        }
        uintptr_t code = read_word(frame + layout->frame_code);
        if (!is_code_object(code)) {
            if (walked == 0)
                layout_mismatch(layout); /* the thread's current frame is not one: the table is wrong */
            break; /* not a frame this layout describes: stop rather than follow garbage */
        }
        if (!frame_is_incomplete(layout, frame, code)) {
            struct python_raw_frame *out = &stack->frames[stack->depth++];
            out->code = code;
            out->byte_offset = instruction_offset(layout, frame, code);
            out->ends_evaluation = layout->marker == EVERY_FRAME ||
                                   (layout->marker == IS_ENTRY_FIELD && read_byte(frame + layout->frame_is_entry));
        }
        frame = next;
    }
    if (stack->depth)
        stack->frames[stack->depth - 1].ends_evaluation = true;
    /* A thread that released the GIL can race the interpreter's finalization, which frees other
     * threads' states: what was read while it began is not trusted (the read itself is a known
     * limit, docs/architecture.md). */
    if (python.is_finalizing && python.is_finalizing())
        stack->depth = 0;
}

/* The message of an interpreter whose frames are not read, once, at the first allocation. */
static __attribute__((noinline)) void say_unsupported(void)
{
    if (!python.quiet && !__atomic_exchange_n(&python.said_unsupported, true, __ATOMIC_ACQ_REL))
        shim_log("%s", python.unsupported);
}

void python_frames_capture(struct python_stack *stack)
{
    stack->depth = 0;
    const struct python_layout *layout = __atomic_load_n(&python.layout, __ATOMIC_ACQUIRE);
    if (layout)
        capture_frames(layout, stack);
    else if (python.unsupported[0] && !python.said_unsupported)
        say_unsupported();
}

/* ---- merging --------------------------------------------------------------------------------- */

static inline bool in_evaluation_loop(uintptr_t return_address)
{
    return return_address - 1 >= python.eval_start && return_address - 1 < python.eval_end;
}

static inline bool in_interpreter(uintptr_t return_address)
{
    return return_address - 1 >= python.interpreter_start && return_address - 1 < python.interpreter_end;
}

unsigned python_frames_merge(const uintptr_t *native, unsigned native_depth, const struct python_stack *python_stack,
                             uint32_t (*code_id)(uintptr_t code), uintptr_t *out, unsigned capacity)
{
    unsigned depth = 0, next_python = 0;
    bool with_python = python_stack->depth > 0;
    for (unsigned i = 0; i < native_depth && depth < capacity; i++) {
        uintptr_t address = native[i];
        if (with_python && in_evaluation_loop(address)) {
            /* the Python frames this call of the evaluation loop was running */
            while (next_python < python_stack->depth && depth < capacity) {
                const struct python_raw_frame *frame = &python_stack->frames[next_python++];
                uint32_t id = code_id(frame->code);
                if (id)
                    out[depth++] = vt_python_frame(id, frame->byte_offset);
                if (frame->ends_evaluation)
                    break;
            }
            continue;
        }
        if (with_python && in_interpreter(address))
            continue; /* the interpreter's own machinery between Python frames */
        if (address >= (UINT64_C(1) << 62))
            continue; /* not a user-space return address (a broken unwind): never taken for a Python frame */
        out[depth++] = address;
    }
    while (next_python < python_stack->depth && depth < capacity) {
        uint32_t id = code_id(python_stack->frames[next_python].code);
        if (id)
            out[depth++] = vt_python_frame(id, python_stack->frames[next_python].byte_offset);
        next_python++;
    }
    return depth;
}
