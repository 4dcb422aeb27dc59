/* shim/python_injection.c — owns running Python code in the traced process (python_run_soon, the
 * shim's Python thread and its queue, the pending-call callback) and the PyTorch trigger (the
 * range of libc10_cuda.so, the bootstrap's code); see python_injection.h.
 *
 * How code gets to run (CPython's Python/ceval.c and ceval_gil.[ch], 3.9 to 3.13):
 * Py_AddPendingCall queues a callback for the main thread of the main interpreter and may be
 * called without the GIL from any thread. Up to 3.12 it sets the main thread's eval breaker only
 * when called from the main thread itself; from another thread the call waits until the main
 * thread recomputes the breaker, which it does whenever it takes the GIL back (after a blocking
 * call, or when another thread asked for the GIL). A main thread that runs Python without ever
 * releasing the GIL would run the call only at exit (measured on 3.11): so up to 3.12 the shim's
 * thread then takes the GIL once (PyGILState_Ensure/Release), which makes the main thread drop
 * and take it again within the switch interval (5 ms). 3.13 sets the main thread's breaker
 * directly. The GIL is never asked for before the interpreter is initialised or while it
 * finalizes; a thread that does anyway is ended by CPython inside take_gil, which is why the
 * shim's thread holds none of the shim's locks while it asks.
 */
#define _GNU_SOURCE
#include "shim/python_injection.h"

#include "common/text_buffer.h"
#include "shim/python_frames.h"

#include "shim/real_functions.h"
#include "shim/shim_log.h"

#include <dlfcn.h>
#include <elf.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    QUEUE_SLOTS = 16,          /* requests waiting for the shim's thread (a 17th is dropped, said once) */
    ADD_ATTEMPTS = 20,         /* Py_AddPendingCall with a full queue (32 calls): tried this often... */
    ADD_RETRY_MS = 10,         /* ...this far apart */
};

#define BOOTSTRAP_DIRECTORY "vramtrace-python"
#define TRIGGER_MODULE "libc10_cuda.so"

typedef int pending_call_function(void *argument);
typedef int add_pending_call_function(pending_call_function *function, void *argument);
typedef int gil_ensure_function(void);
typedef void gil_release_function(int state);
typedef int status_function(void);
typedef int run_string_function(const char *code, void *flags);

static struct {
    bool usable;              /* an interpreter whose functions were all found, and the mode is not off */
    bool gil_handoff;         /* up to 3.12: take the GIL once after adding a call */
    bool quiet;
    enum vt_torch_mode mode;
    add_pending_call_function *add_pending_call;
    gil_ensure_function *gil_ensure;
    gil_release_function *gil_release;
    status_function *is_initialized, *is_finalizing;
    run_string_function *run_string;
    char *trigger_wrapped;    /* what the trigger runs, wrapped (wrap_code) at start-up: the bootstrap's
                                 activation, or the tests' code */
} python;

static bool forked_child;
bool python_injection_watching;

/* The shim's thread and its queue. */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_wake = PTHREAD_COND_INITIALIZER;
static char *queue[QUEUE_SLOTS];
static unsigned queue_first, queue_count;
static bool thread_started, said_queue_full, said_pending_full, said_no_thread;

/* libc10_cuda.so's address range, once found; the loader's count of loaded modules at the last
 * search (a search is made again only when it has grown). */
static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t trigger_start, trigger_end;
static unsigned long long modules_added_at_scan = ~0ull;

/* ---- Python source text --------------------------------------------------------------------- */

/* `bytes` as a Python bytes literal: printable ASCII as itself, everything else (quotes,
 * backslashes, line ends, bytes of other encodings) as \xNN. Whatever the bytes, the literal is
 * one token that evaluates to exactly them. */
static void text_add_bytes_literal(struct vt_text *text, const char *bytes, size_t length)
{
    static const char hex[] = "0123456789abcdef";
    vt_text_append(text, "b'");
    for (size_t i = 0; i < length; i++) {
        unsigned char byte = (unsigned char)bytes[i];
        if (byte >= 0x20 && byte < 0x7f && byte != '\'' && byte != '\\') {
            vt_text_append_bytes(text, (const char *)&byte, 1);
        } else {
            char escaped[4] = {'\\', 'x', hex[byte >> 4], hex[byte & 15]};
            vt_text_append_bytes(text, escaped, sizeof escaped);
        }
    }
    vt_text_append(text, "'");
}

/* What the main thread runs for `code`: the code compiled and executed in a namespace of its
 * own, so that neither its names nor the wrapper's reach the program's __main__ (the wrapper runs
 * there, binds no name, and reaches builtins through __import__); no exception gets out. A
 * KeyboardInterrupt that arrived while the code ran goes back to the main thread. */
static char *wrap_code(const char *code)
{
    struct vt_text text = {0};
    vt_text_append(&text, "try:\n"
                    "    __import__('builtins').exec(__import__('builtins').compile(");
    text_add_bytes_literal(&text, code, strlen(code));
    vt_text_append(&text, ", '<vramtrace>', 'exec', 0, True), {'__name__': '__vramtrace__'})\n"
                    "except KeyboardInterrupt:\n"
                    "    try:\n"
                    "        __import__('_thread').interrupt_main()\n"
                    "    except BaseException:\n"
                    "        pass\n"
                    "except BaseException:\n");
    if (python.quiet)
        vt_text_append(&text, "    pass\n");
    else
        vt_text_append(&text, "    try:\n"
                        "        __import__('sys').stderr.write('vramtrace: Python code run by vramtrace failed (%r); "
                        "the program goes on\\n' % (__import__('sys').exc_info()[1],))\n"
                        "    except BaseException:\n"
                        "        pass\n");
    if (text.failed) {
        vt_text_free(&text);
        return NULL;
    }
    return text.text;
}

/* The trigger's code: the bootstrap imported from `directory` (put first on sys.path for the
 * import only) and activated, unless sitecustomize has loaded it already. */
static char *bootstrap_code(const char *directory)
{
    struct vt_text text = {0};
    vt_text_append(&text, "import sys\n"
                    "if 'vramtrace_bootstrap' not in sys.modules:\n"
                    "    import os\n"
                    "    directory = os.fsdecode(");
    text_add_bytes_literal(&text, directory, strlen(directory));
    vt_text_append(&text, ")\n"
                    "    sys.path.insert(0, directory)\n"
                    "    try:\n"
                    "        import vramtrace_bootstrap\n"
                    "    except Exception as error:\n"
                    "        vramtrace_bootstrap = None\n");
    if (!python.quiet)
        vt_text_append(&text, "        sys.stderr.write('vramtrace: PyTorch integration off (%s: %s); CUDA-level tracing "
                        "goes on\\n' % (type(error).__name__, error))\n");
    vt_text_append(&text, "    finally:\n"
                    "        if directory in sys.path:\n"
                    "            sys.path.remove(directory)\n"
                    "    if vramtrace_bootstrap is not None:\n"
                    "        vramtrace_bootstrap.activate(injected=True)\n");
    if (text.failed) {
        vt_text_free(&text);
        return NULL;
    }
    return text.text;
}

/* ---- the interpreter ------------------------------------------------------------------------ */

static void *python_symbol(const char *name)
{
    return shim_real_dlsym(RTLD_DEFAULT, name);
}

/* Initialised and not finalizing: the only state in which the shim asks anything of it. */
static bool interpreter_running(void)
{
    return python.is_initialized() && !python.is_finalizing();
}

/* The pending call, on the interpreter's main thread with the GIL held. It always returns 0: a
 * failure returned here would surface as an exception in the program. */
static int run_pending_code(void *argument)
{
    char *code = argument;
    if (!python.is_finalizing())
        python.run_string(code, NULL); /* the wrapper catches everything; nothing stays set */
    free(code);
    return 0;
}

/* On the shim's thread: hands one wrapped code to the interpreter. */
static void hand_to_interpreter(char *code)
{
    if (!interpreter_running()) {
        free(code);
        return;
    }
    int added = -1;
    for (int attempt = 0; attempt < ADD_ATTEMPTS && interpreter_running(); attempt++) {
        added = python.add_pending_call(run_pending_code, code);
        if (added == 0)
            break;
        struct timespec pause = {0, ADD_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (added != 0) {
        free(code);
        if (!python.quiet)
            shim_log_once(&said_pending_full, "the Python interpreter's queue of pending calls stayed full for %d ms; "
                          "vramtrace's Python code was not run", ADD_ATTEMPTS * ADD_RETRY_MS);
        return;
    }
    /* Up to 3.12: the main thread notices the call only once it takes the GIL again. */
    if (python.gil_handoff && interpreter_running()) {
        int state = python.gil_ensure();
        python.gil_release(state);
    }
}

static void *python_thread_main(void *unused)
{
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&queue_lock);
        while (queue_count == 0)
            pthread_cond_wait(&queue_wake, &queue_lock);
        char *code = queue[queue_first];
        queue_first = (queue_first + 1) % QUEUE_SLOTS;
        queue_count--;
        pthread_mutex_unlock(&queue_lock);
        hand_to_interpreter(code); /* no lock held: it may wait for the GIL */
    }
    return NULL;
}

/* Under queue_lock: the shim's thread, started the first time (every signal blocked, detached). */
static bool ensure_thread(void)
{
    if (thread_started)
        return true;
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int failed = pthread_create(&thread, &attributes, python_thread_main, NULL);
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (failed) {
        if (!python.quiet)
            shim_log_once(&said_no_thread, "cannot start a thread (%s); vramtrace runs no Python code in this process",
                          strerror(failed));
        return false;
    }
    thread_started = true;
    return true;
}

/* Hands `wrapped` (wrap_code's, owned from here on) to the shim's thread. */
static void queue_wrapped(char *wrapped)
{
    if (!wrapped)
        return;
    pthread_mutex_lock(&queue_lock);
    bool queued = false;
    if (queue_count < QUEUE_SLOTS && ensure_thread()) {
        queue[(queue_first + queue_count) % QUEUE_SLOTS] = wrapped;
        queue_count++;
        queued = true;
        pthread_cond_signal(&queue_wake);
    } else if (queue_count >= QUEUE_SLOTS && !python.quiet) {
        shim_log_once(&said_queue_full, "%d requests to run Python code are waiting already; this one is dropped",
                      QUEUE_SLOTS);
    }
    pthread_mutex_unlock(&queue_lock);
    if (!queued)
        free(wrapped);
}

void python_run_soon(const char *code)
{
    if (!python.usable || __atomic_load_n(&forked_child, __ATOMIC_ACQUIRE) || !code)
        return;
    queue_wrapped(wrap_code(code));
}

/* ---- the trigger ---------------------------------------------------------------------------- */

struct module_scan {
    unsigned long long added;
    bool unchanged;
    uintptr_t start, end;
};

static bool is_trigger_module(const char *path)
{
    if (!path)
        return false;
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    size_t length = sizeof TRIGGER_MODULE - 1;
    return strncmp(name, TRIGGER_MODULE, length) == 0 && (name[length] == '\0' || name[length] == '.');
}

static int scan_module(struct dl_phdr_info *info, size_t size, void *data)
{
    struct module_scan *scan = data;
    if (scan->added == ~0ull) { /* the first module: the loader's count of modules ever loaded */
        scan->added = size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof info->dlpi_adds ? info->dlpi_adds : 0;
        if (scan->added && scan->added == modules_added_at_scan) {
            scan->unchanged = true;
            return 1;
        }
    }
    if (!is_trigger_module(info->dlpi_name))
        return 0;
    uintptr_t low = UINTPTR_MAX, high = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + header->p_vaddr;
        low = start < low ? start : low;
        high = start + header->p_memsz > high ? start + header->p_memsz : high;
    }
    if (high > low) {
        scan->start = low;
        scan->end = high;
        return 1;
    }
    return 0;
}

/* libc10_cuda.so's range once it is loaded; searched again only after modules were loaded. */
static bool find_trigger_module(uintptr_t *start, uintptr_t *end)
{
    if (__atomic_load_n(&trigger_end, __ATOMIC_ACQUIRE) == 0) {
        pthread_mutex_lock(&scan_lock);
        if (!trigger_end) {
            struct module_scan scan = {.added = ~0ull};
            dl_iterate_phdr(scan_module, &scan);
            if (!scan.unchanged)
                modules_added_at_scan = scan.added;
            if (scan.end) {
                trigger_start = scan.start;
                __atomic_store_n(&trigger_end, scan.end, __ATOMIC_RELEASE);
            }
        }
        pthread_mutex_unlock(&scan_lock);
    }
    *start = trigger_start;
    *end = __atomic_load_n(&trigger_end, __ATOMIC_ACQUIRE);
    return *end != 0;
}

void python_injection_check_stack(const uintptr_t *frames, unsigned depth)
{
    uintptr_t start, end;
    if (depth == 0 || !find_trigger_module(&start, &end))
        return;
    for (unsigned i = 0; i < depth; i++) {
        if (frames[i] - 1 < start || frames[i] - 1 >= end)
            continue;
        /* The first such stack, of whichever thread gets here first. */
        if (__atomic_exchange_n(&python_injection_watching, false, __ATOMIC_ACQ_REL) && python.usable &&
            !__atomic_load_n(&forked_child, __ATOMIC_ACQUIRE)) {
            /* Inside a hook: the code was built and wrapped at start-up, so nothing is formatted
             * here; only the shim's thread is started (once) if it is not running yet. */
            queue_wrapped(python.trigger_wrapped);
            python.trigger_wrapped = NULL;
        }
        return;
    }
}

/* ---- start-up, dumps, fork ------------------------------------------------------------------ */

/* <directory of libvramtrace.so>/vramtrace-python, absolute (the program may change directory). */
static bool bootstrap_directory(char *out, size_t size)
{
    Dl_info info;
    char resolved[PATH_MAX];
    if (!dladdr((void *)python_injection_init, &info) || !info.dli_fname || !realpath(info.dli_fname, resolved))
        return false;
    int written = snprintf(out, size, "%s/" BOOTSTRAP_DIRECTORY, dirname(resolved));
    return written > 0 && (size_t)written < size;
}

void python_injection_init(const struct python_injection_settings *settings)
{
    python.mode = settings->torch_mode;
    python.quiet = settings->quiet;
    if (python.mode == VT_TORCH_OFF || forked_child)
        return; /* the shim never touches Python */
    python.add_pending_call = (add_pending_call_function *)python_symbol("Py_AddPendingCall");
    python.gil_ensure = (gil_ensure_function *)python_symbol("PyGILState_Ensure");
    python.gil_release = (gil_release_function *)python_symbol("PyGILState_Release");
    python.is_initialized = (status_function *)python_symbol("Py_IsInitialized");
    python.is_finalizing = (status_function *)python_symbol("Py_IsFinalizing"); /* 3.13 */
    if (!python.is_finalizing)
        python.is_finalizing = (status_function *)python_symbol("_Py_IsFinalizing"); /* up to 3.12 */
    python.run_string = (run_string_function *)python_symbol("PyRun_SimpleStringFlags");
    if (!python.add_pending_call)
        return; /* no interpreter in this process */
    unsigned major, minor = python_interpreter_version(&major);
    bool complete = python.gil_ensure && python.gil_release && python.is_initialized && python.is_finalizing &&
                    python.run_string;
    if (major != 3 || !complete) {
        if (python.mode == VT_TORCH_ON && !python.quiet)
            shim_log("VRAMTRACE_TORCH=on: Python %u.%u%s; the PyTorch integration cannot be activated by the shim",
                     major, minor, complete ? " is not supported" : " lacks a function the shim needs");
        return;
    }
    python.gil_handoff = minor < 13;
    python.usable = true;

    if (settings->test_inject_code) {
        python.trigger_wrapped = wrap_code(settings->test_inject_code);
    } else {
        char directory[PATH_MAX];
        char *code = bootstrap_directory(directory, sizeof directory) ? bootstrap_code(directory) : NULL;
        python.trigger_wrapped = code ? wrap_code(code) : NULL;
        free(code);
    }
    if (!python.trigger_wrapped)
        return;
    if (settings->stack_depth == 0) {
        if (python.mode == VT_TORCH_ON && !python.quiet)
            shim_log("VRAMTRACE_TORCH=on with VRAMTRACE_STACK_DEPTH=0: without native frames the shim cannot see "
                     "PyTorch's allocator; only 'vramtrace run' (its sitecustomize) activates the PyTorch integration");
        return;
    }
    __atomic_store_n(&python_injection_watching, true, __ATOMIC_RELEASE);
}

void python_injection_live_dump(unsigned dump_number)
{
    char code[160];
    snprintf(code, sizeof code,
             "import sys\n"
             "bootstrap = sys.modules.get('vramtrace_bootstrap')\n"
             "if bootstrap is not None:\n"
             "    bootstrap.dump(%u)\n",
             dump_number);
    python_run_soon(code);
}

int python_injection_torch_mode(void)
{
    return __atomic_load_n(&forked_child, __ATOMIC_ACQUIRE) ? VT_TORCH_OFF : (int)python.mode;
}

void python_injection_after_fork_in_child(void)
{
    __atomic_store_n(&forked_child, true, __ATOMIC_RELEASE);
    __atomic_store_n(&python_injection_watching, false, __ATOMIC_RELEASE);
    /* The parent's thread is not in the child; its queue may have been changing at the fork:
     * forget it, free nothing. */
    pthread_mutex_init(&queue_lock, NULL);
    pthread_cond_init(&queue_wake, NULL);
    pthread_mutex_init(&scan_lock, NULL);
    queue_count = 0;
    thread_started = false;
}
