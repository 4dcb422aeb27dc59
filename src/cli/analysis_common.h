/* cli/analysis_common.h — what the trace analysis commands (timeline, flame, diff, top, dump, merge)
 * share: their command-line parsing, time values, loading a trace with the usual messages, naming
 * frames and printing stacks the same way everywhere, and a table of allocation sites keyed by their symbolized
 * frames (which, unlike stack ids and addresses, match across runs). */
#ifndef VT_CLI_ANALYSIS_COMMON_H
#define VT_CLI_ANALYSIS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace/symbolize.h"
#include "common/text_buffer.h"
#include "trace/trace_model.h"
#include "trace/trace_report.h"
#include "trace/trace_torch.h"

#define VT_CLI_EXIT_UNREADABLE 1
#define VT_CLI_EXIT_USAGE 2

/* ---- command line ---------------------------------------------------------------------------- */

struct vt_cli_option_spec {
    const char *long_name; /* "--device" */
    char short_name;       /* 'o' for -o; 0: none */
    bool takes_value;      /* --name VALUE, --name=VALUE, -x VALUE, -xVALUE */
    int id;                /* the command's own identifier for it */
};

struct vt_cli_parser {
    const char *command;                     /* "timeline": messages say "vramtrace timeline: ..." */
    int argc;
    char **argv;
    int index;                               /* next argument to read (start at 1) */
    bool options_done;                       /* after "--" */
    const struct vt_cli_option_spec *specs;  /* terminated by a NULL long_name */
};

#define VT_CLI_HELP_ID (-1) /* -h and --help: added to every command's options */

void vt_cli_parser_start(struct vt_cli_parser *parser, const char *command, int argc, char **argv,
                         const struct vt_cli_option_spec *specs);
/* The next argument: returns true with *option NULL and *value the argument for a positional
 * argument, or with *option the matched spec (and *value its value, if it takes one). False at
 * the end (*status = -1) or after a usage error was printed (*status = 2). */
bool vt_cli_next_argument(struct vt_cli_parser *parser, const struct vt_cli_option_spec **option, const char **value,
                          int *status);

/* What the trace commands take alike: their TRACE argument(s), --device N (give the spec the id
 * VT_CLI_DEVICE_ID) and -h/--help. */
#define VT_CLI_DEVICE_ID (-2)

struct vt_cli_common_arguments {
    const char *traces[2];
    int trace_count;
    int max_traces; /* 1, or 2 (diff) */
    int device;     /* VT_GROUPS_ALL_DEVICES unless --device */
};

void vt_cli_common_start(struct vt_cli_common_arguments *common, int max_traces);
/* vt_cli_next_argument for a trace command: takes the traces, --device and --help (calling
 * print_help on stdout) itself and returns true only with one of the command's own options. False
 * at the end, after --help (*status 0) or after a usage error (*status 2). */
bool vt_cli_next_own_option(struct vt_cli_parser *parser, struct vt_cli_common_arguments *common,
                            void (*print_help)(FILE *out), const struct vt_cli_option_spec **option, const char **value,
                            int *status);
/* After the arguments (`status` as vt_cli_next_argument left it): -1 when complete, else the exit
 * status (2 with "no trace given: <usage>" when there is no trace). */
int vt_cli_end_of_arguments(const char *command, int status, const struct vt_cli_common_arguments *common,
                            const char *usage);

/* Prints "vramtrace COMMAND: <message>" and "Try 'vramtrace COMMAND --help'." on stderr; returns 2. */
int vt_cli_usage_error(const char *command, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* A duration or a time since the trace started: a number in `bare_unit` ("s" or "ms"), or with a
 * unit: ns, us, ms, s, m (or min), h ("1500ms", "2m", "0.5"). */
bool vt_cli_parse_time(const char *text, const char *bare_unit, uint64_t *nanoseconds);
/* A device ordinal, 0 to VT_MODEL_MAX_DEVICES - 1. */
bool vt_cli_parse_device(const char *text, int *device);

/* ---- loading --------------------------------------------------------------------------------- */

/* The analysis commands (top's follower too) stream a trace's events (trace/event_store.h): memory
 * follows the live set, not the number of events. VRAMTRACE_TEST_EVENT_BLOCKS (for the tests, not
 * a user setting) sets how many decoded blocks are kept (a number from 1), or keeps every event in
 * memory ("all"). Sets options->stream_events and resident_blocks accordingly. */
void vt_cli_choose_event_storage(struct vt_model_load_options *options);
/* Loads a trace, with its live-set index (trace/live_index.h: replays to a time, a peak or the end
 * start from its checkpoints): through the index beside it (TRACE.vtindex, trace/index_file.h) when
 * it fits, else in full, then writing that index (VRAMTRACE_INDEX: auto, read, off; another value
 * ends the command as a usage error); on failure says why ("vramtrace COMMAND: <reader's message>",
 * or that the file is an index) and returns false. With `announce`, prints the truncated-tail warning, and progress on stderr when it
 * is a terminal and loading takes over a second. */
bool vt_cli_load_trace(struct vt_trace_model *model, const char *path, const char *command, bool announce);
/* The index beside the trace at `path` (trace/index_file.h), unless VRAMTRACE_INDEX is off (a value
 * that is not valid ends the command as a usage error); false when there is none that fits. What
 * `top` starts from; vt_cli_load_trace reads it itself. */
bool vt_cli_read_index(struct vt_trace_index *index, const char *path, const char *command);
/* vt_cli_load_trace (announcing), then the --device check: -1 when loaded (free the model),
 * else the exit status (the model is then freed). */
int vt_cli_load_trace_for_device(struct vt_trace_model *model, const char *path, const char *command, int device);
/* The same for a report (`report`, `html`): the report's whole run replayed as the trace loads
 * (vt_report_pass_start, trace/trace_report.h), so in full (the index is written, not read). -1 when loaded: then vt_report_pass_finish (or
 * vt_report_pass_drop), vt_report_free and vt_model_free are the caller's; else the exit status
 * (nothing left to free). */
int vt_cli_load_trace_for_report(struct vt_trace_model *model, struct vt_report *report, struct vt_report_pass *pass,
                                 const char *path, const char *command, const struct vt_report_options *options);
/* Checks that --device names a device the trace knows (VT_GROUPS_ALL_DEVICES always does); else
 * prints a usage error. */
bool vt_cli_device_in_trace(const struct vt_trace_model *model, int device, const char *command);
/* Opens the symbolizer (module warnings to stderr) or says "out of memory". */
struct vt_symbolizer *vt_cli_open_symbolizer(const struct vt_trace_model *model, const char *command);

/* ---- naming -------------------------------------------------------------------------------- */

/* A symbol's name in one word-ish piece: the function, else "module+0xoffset", else "0xFRAME"
 * (`frame`: the recorded frame word it came from). */
const char *vt_cli_symbol_name(const struct vt_symbol *symbol, uint64_t frame, char *out, size_t size);
/* A stack as the reports print it, a line per symbol (inlined calls expanded, numbered in that
 * order): "    #N [0xADDRESS in ]FUNCTION[ FILE:LINE][ (MODULE+0xOFFSET)]", the address with
 * `with_addresses`; or a line saying that no stack was recorded or that the trace lacks it. */
/* Ends writing `out` (stdout, flushed, or a file of ours, closed): 0, or after "vramtrace COMMAND:
 * writing PATH failed: ..." on stderr VT_CLI_EXIT_UNREADABLE. `path` NULL: stdout. */
int vt_cli_finish_output(FILE *out, const char *path, const char *command);

struct vt_json;
/* One frame as `diff` and `merge` write it in JSON: {kind, function, file, line (null when 0),
 * module, module_offset}. */
void vt_cli_json_frame(struct vt_json *json, enum vt_frame_kind kind, const char *function, const char *file,
                       int line, const char *module, uint64_t module_offset);

void vt_cli_print_stack(FILE *out, struct vt_symbolizer *symbolizer, const struct vt_trace_model *model,
                        uint32_t stack_id, bool with_addresses);
/* "device 3", or "host" for -1. */
const char *vt_cli_device_name(int device, char *out, size_t size);
/* The usage slots whose memory (device, host-pinned, managed) was ever in use, devices first then
 * the host, restricted to `device` unless it is VT_GROUPS_ALL_DEVICES; returns how many. */
size_t vt_cli_used_slots(const struct vt_replay *replay, int device, int slots[VT_MODEL_SLOT_COUNT]);

/* ---- allocation sites keyed by text ---------------------------------------------------------- */

/* Bytes and count per site on up to two sides (diff's A and B; flame uses side 0 only). A site
 * remembers the first stack it was seen with, and on which side, to show its frames. */
struct vt_cli_site {
    char *key;
    uint64_t bytes[2], count[2];
    uint32_t stack_id;
    int side;      /* the side whose model stack_id belongs to */
    uint16_t api;
    uint8_t kind;
};

struct vt_cli_site_table {
    struct vt_cli_site *sites;
    size_t count, capacity;
    void *index; /* key -> position */
    bool out_of_memory;
};

/* The key of a group's site: kind, API, then each symbol innermost first (the calls inlined into a
 * frame are symbols of their own) as "function file:line" (the file's last component), "function"
 * or "module+0xoffset", separated by '|'. key->failed when out of memory. */
void vt_cli_site_key(struct vt_text *key, const struct vt_trace_model *model, struct vt_symbolizer *symbolizer,
                     const struct vt_group *group);
/* The key of PyTorch's tensors of one Python line: "function file:line" (the file's last
 * component, so that two runs match), or "(no Python stack)". */
void vt_cli_tensor_line_key(const struct vt_torch_line *line, char *out, size_t size);

/* Adds bytes and count to the site with this key on `side` (creating it). False when out of memory. */
bool vt_cli_site_add(struct vt_cli_site_table *table, const char *key, int side, const struct vt_group *group);
void vt_cli_site_table_free(struct vt_cli_site_table *table);


#endif
