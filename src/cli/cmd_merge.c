/* cli/cmd_merge.c — `vramtrace merge TRACE...`: the traces of a multi-process job (one per rank,
 * e.g. torchrun's) side by side. Per rank (rank, host, pid) and device: the peak and when, the end
 * state, the out-of-memory failures; the imbalance of the peak across ranks; and the allocation
 * sites still live at the end (the leaks) on every rank versus on some, matched across traces by
 * their symbolized frames (analysis_common's site keys), with PyTorch's tensors by Python line where
 * a trace has the tensor layer (its exit snapshot).
 *
 * It streams: each trace is loaded, replayed, summarized and freed before the next is loaded, so its
 * memory is one trace plus the summaries (a few numbers per rank and device, and per leaking site
 * its frames and a byte and count per rank), whatever the number of traces. */
#define _GNU_SOURCE
#include "analysis_common.h"
#include "trace/index_file.h"
#include "commands.h"
#include "common/format.h"
#include "common/options.h"
#include "trace/json_writer.h"
#include "trace/trace_torch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define COMMAND "merge"
#define MERGE_JSON_VERSION 1
#define MAX_TOP 1000000
#define TENSOR_KEY_PREFIX "tensor|"

enum merge_option { OPTION_TOP, OPTION_FORMAT };

static const struct vt_cli_option_spec merge_options[] = {
    {"--top", 0, true, OPTION_TOP},
    {"--format", 0, true, OPTION_FORMAT},
    {NULL, 0, false, 0},
};

struct merge_settings {
    const char **traces;
    size_t trace_count;
    bool json;
    unsigned top;
};

/* ---- what is kept of each trace ---------------------------------------------------------------- */

struct merge_device {
    int device; /* -1: host (pinned memory not tied to a device) */
    uint64_t peak_bytes, peak_time_ns, end_bytes, end_count;
};

struct merge_rank {
    const char *path;
    int64_t recorded_rank; /* the PROCESS record's; -1: none */
    int64_t rank;          /* shown: the recorded one, else the trace's place among those given */
    char *host, *program;
    uint64_t pid;
    bool complete;
    uint64_t duration_ns;
    struct merge_device devices[VT_MODEL_SLOT_COUNT]; /* devices by ordinal, then the host */
    size_t device_count;
    uint64_t oom_failures, oom_first_time_ns, oom_first_bytes;
    int oom_first_device;
    uint64_t leak_bytes, leak_count; /* the sites below, together */
    bool torch;                      /* its leaks include PyTorch's tensors (an exit snapshot) */
};

/* One frame of a site, copied out of the symbolizer (whose trace is freed before the output). */
struct merge_frame {
    char *function, *file, *module;
    int line;
    uint64_t module_offset;
    enum vt_frame_kind kind;
};

/* An allocation site live at the end of one trace or more. */
struct merge_site {
    char *key;
    bool tensor;          /* PyTorch's tensors of one Python line (`where`), else CUDA memory */
    char *where;          /* tensors: "function file:line" */
    uint8_t kind;
    uint16_t api;
    char *stack_text;     /* as vt_cli_print_stack prints it, from the first trace that had it */
    struct merge_frame *frames;
    size_t frame_count;
    uint64_t *bytes, *count; /* per trace, in the order given */
    size_t rank_count;       /* traces where it is live */
    uint64_t total_bytes, total_count;
    UT_hash_handle hh;
};

struct merge {
    struct merge_rank *ranks; /* in the order given */
    size_t rank_count;
    struct merge_site *sites; /* key -> site */
    bool ranks_from_order;    /* a trace has no rank: they are numbered by their place */
    bool out_of_memory;
};

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: vramtrace merge TRACE... [OPTIONS]\n"
            "\n"
            "Puts the traces of a multi-process job side by side (one per rank, e.g. torchrun's\n"
            "'vramtrace run -o job.%%r.trace torchrun ...', then 'vramtrace merge job.*.trace'):\n"
            "  - per rank (its rank, host and pid) and device: the peak of memory in use and when, the\n"
            "    memory still in use at the end, the out-of-memory failures;\n"
            "  - the imbalance across ranks: the largest and the smallest peak, which ranks, their ratio;\n"
            "  - the allocation sites still live at the end (the leaks) on every rank, then those on\n"
            "    some ranks only (with which), largest first, with their frames. Sites match across\n"
            "    traces by their symbolized frames (function and source line). Where a trace has\n"
            "    PyTorch's tensor layer (docs/pytorch.md), its tensors count per Python line and its\n"
            "    CUDA sites leave out the memory PyTorch's segments hold.\n"
            "Ranks come from each trace (RANK, LOCAL_RANK, SLURM_PROCID or OMPI_COMM_WORLD_RANK); a\n"
            "trace without one is numbered by its place among the traces given. The traces are read\n"
            "one at a time: memory does not grow with their number.\n"
            "\n"
            "Options:\n"
            "  --top N              sites shown in each list (default %u; 0: none)\n"
            "  --format text|json   output format (default text; JSON: docs/report-json.md)\n"
            "  -h, --help           show this help\n"
            "\n"
            "Exit status: 0 merged, 1 a trace cannot be read, 2 usage error.\n"
            "\n"
            "Examples:\n"
            "  vramtrace merge job.*.trace\n"
            "  vramtrace merge --format json --top 0 job.*.trace\n",
            VT_DEFAULT_TOP);
}

static int parse_arguments(int argc, char **argv, struct merge_settings *settings)
{
    *settings = (struct merge_settings){.top = VT_DEFAULT_TOP};
    settings->traces = calloc((size_t)argc, sizeof *settings->traces);
    if (!settings->traces) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory\n");
        return VT_CLI_EXIT_UNREADABLE;
    }
    struct vt_cli_parser parser;
    vt_cli_parser_start(&parser, COMMAND, argc, argv, merge_options);
    const struct vt_cli_option_spec *option;
    const char *value;
    int status;
    uint64_t number;
    while (vt_cli_next_argument(&parser, &option, &value, &status)) {
        if (!option) {
            if (vt_index_file_is_one(value)) /* TRACE.vtindex beside TRACE, as a glob gives it */
                fprintf(stderr, "vramtrace " COMMAND ": skipping %s: the index of a trace, not a trace\n", value);
            else
                settings->traces[settings->trace_count++] = value;
            continue;
        }
        switch (option->id) {
        case VT_CLI_HELP_ID:
            print_help(stdout);
            return 0;
        case OPTION_TOP:
            if (!vt_parse_count(value, 0, MAX_TOP, &number))
                return vt_cli_usage_error(COMMAND, "--top '%s' is not valid; accepted: a whole number from 0 to %d",
                                          value, MAX_TOP);
            settings->top = (unsigned)number;
            break;
        case OPTION_FORMAT:
            if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
                return vt_cli_usage_error(COMMAND, "--format '%s' is not valid; accepted: text, json", value);
            settings->json = strcmp(value, "json") == 0;
            break;
        }
    }
    if (status >= 0)
        return status;
    if (settings->trace_count == 0)
        return vt_cli_usage_error(COMMAND, "no trace given: vramtrace merge TRACE... (one per rank)");
    return -1;
}

/* ---- summarizing one trace --------------------------------------------------------------------- */

static char *copy_text(struct merge *merge, const char *text)
{
    if (!text)
        return NULL;
    char *copy = strdup(text);
    if (!copy)
        merge->out_of_memory = true;
    return copy;
}

/* The site's frames, kept as text and as copied symbols. */
static void keep_frames(struct merge *merge, struct merge_site *site, const struct vt_trace_model *model,
                        struct vt_symbolizer *symbolizer, uint32_t stack_id)
{
    size_t length = 0;
    FILE *text = open_memstream(&site->stack_text, &length);
    if (!text) {
        merge->out_of_memory = true;
        return;
    }
    vt_cli_print_stack(text, symbolizer, model, stack_id, false);
    fclose(text);
    unsigned depth = 0;
    const uint64_t *frames = vt_model_stack_frames(model, stack_id, &depth);
    size_t capacity = 0;
    for (unsigned i = 0; i < depth; i++)
        for (const struct vt_symbol *symbol = vt_symbolize(symbolizer, frames[i]); symbol; symbol = symbol->caller) {
            if (site->frame_count == capacity) {
                capacity = capacity ? 2 * capacity : 8;
                struct merge_frame *grown = realloc(site->frames, capacity * sizeof *grown);
                if (!grown) {
                    merge->out_of_memory = true;
                    return;
                }
                site->frames = grown;
            }
            site->frames[site->frame_count++] = (struct merge_frame){
                .function = copy_text(merge, symbol->function), .file = copy_text(merge, symbol->source_file),
                .module = copy_text(merge, symbol->module_path), .line = symbol->source_line,
                .module_offset = symbol->module_offset, .kind = symbol->kind};
        }
}

/* The site of `key` (created, with its frames from this trace, when new); NULL when out of memory. */
static struct merge_site *find_site(struct merge *merge, const char *key, const struct vt_trace_model *model,
                                    struct vt_symbolizer *symbolizer, uint32_t stack_id)
{
    struct merge_site *site = NULL;
    HASH_FIND_STR(merge->sites, key, site);
    if (site)
        return site;
    site = calloc(1, sizeof *site);
    if (site) {
        site->key = strdup(key);
        site->bytes = calloc(merge->rank_count, sizeof *site->bytes);
        site->count = calloc(merge->rank_count, sizeof *site->count);
    }
    if (!site || !site->key || !site->bytes || !site->count) {
        if (site) {
            free(site->key);
            free(site->bytes);
            free(site->count);
        }
        free(site);
        merge->out_of_memory = true;
        return NULL;
    }
    keep_frames(merge, site, model, symbolizer, stack_id);
    HASH_ADD_KEYPTR(hh, merge->sites, site->key, strlen(site->key), site);
    return site;
}

static void add_to_site(struct merge_rank *rank, struct merge_site *site, size_t index, uint64_t bytes,
                        uint64_t count)
{
    if (!site->count[index])
        site->rank_count++;
    site->bytes[index] += bytes;
    site->count[index] += count;
    site->total_bytes += bytes;
    site->total_count += count;
    rank->leak_bytes += bytes;
    rank->leak_count += count;
}

/* The CUDA memory live at the end, outside PyTorch's segments when there is a tensor layer. */
static void add_cuda_leaks(struct merge *merge, size_t index, const struct vt_replay *replay,
                           const struct vt_model_torch_snapshot *torch, struct vt_symbolizer *symbolizer)
{
    struct vt_groups groups;
    vt_groups_collect_live_outside_torch(&groups, replay, VT_GROUPS_ALL_DEVICES, torch ? &torch->view : NULL);
    merge->out_of_memory |= groups.incomplete;
    struct vt_text key = {0};
    for (size_t i = 0; !merge->out_of_memory && i < groups.group_count; i++) {
        const struct vt_group *group = &groups.groups[i];
        if (!vt_kind_is_memory_use(group->kind))
            continue;
        vt_cli_site_key(&key, replay->model, symbolizer, group);
        struct merge_site *site = key.failed ? NULL : find_site(merge, key.text, replay->model, symbolizer, group->stack_id);
        if (!site) {
            merge->out_of_memory = true;
            break;
        }
        site->kind = group->kind;
        site->api = group->api;
        add_to_site(&merge->ranks[index], site, index, group->bytes, group->count);
    }
    vt_text_free(&key);
    vt_groups_free(&groups);
}

/* PyTorch's tensors still allocated at exit, by Python line. */
static void add_tensor_leaks(struct merge *merge, size_t index, const struct vt_trace_model *model,
                             const struct vt_model_torch_snapshot *torch, struct vt_symbolizer *symbolizer)
{
    struct vt_torch_lines lines;
    if (!vt_torch_lines_collect(model, torch, VT_TORCH_ALL_DEVICES, &lines)) {
        merge->out_of_memory = true;
        return;
    }
    char key[1300];
    for (size_t i = 0; !merge->out_of_memory && i < lines.line_count; i++) {
        const struct vt_torch_line *line = &lines.lines[i];
        strcpy(key, TENSOR_KEY_PREFIX);
        vt_cli_tensor_line_key(line, key + strlen(TENSOR_KEY_PREFIX), sizeof key - strlen(TENSOR_KEY_PREFIX));
        struct merge_site *site = find_site(merge, key, model, symbolizer, line->stack_id);
        if (!site)
            break;
        if (!site->where) {
            site->tensor = true;
            site->where = copy_text(merge, key + strlen(TENSOR_KEY_PREFIX));
        }
        add_to_site(&merge->ranks[index], site, index, line->bytes, line->count);
    }
    vt_torch_lines_free(&lines);
}

static void summarize_usage(struct merge_rank *rank, const struct vt_replay *replay)
{
    int slots[VT_MODEL_SLOT_COUNT];
    size_t count = vt_cli_used_slots(replay, VT_GROUPS_ALL_DEVICES, slots);
    for (size_t i = 0; i < count; i++) {
        const struct vt_usage_counter *in_use = &replay->accounting.usage[slots[i]].in_use;
        rank->devices[rank->device_count++] = (struct merge_device){
            .device = slots[i] - 1, .peak_bytes = in_use->peak_bytes, .peak_time_ns = in_use->peak_time_ns,
            .end_bytes = in_use->current_bytes, .end_count = in_use->live_count};
    }
    const struct vt_accounting_oom *oom = &replay->accounting.oom;
    rank->oom_failures = oom->failures;
    if (oom->failures && oom->first_event < replay->model->event_count) {
        const struct vt_model_event *first = vt_model_event_at(replay->model, oom->first_event);
        rank->oom_first_time_ns = first->time_ns;
        rank->oom_first_device = first->device;
        rank->oom_first_bytes = first->size_bytes;
    }
}

/* Loads trace `index`, keeps its summary, frees it. False when it cannot be read (said). */
static bool summarize_trace(struct merge *merge, size_t index)
{
    struct merge_rank *rank = &merge->ranks[index];
    struct vt_trace_model model;
    if (!vt_cli_load_trace(&model, rank->path, COMMAND, true))
        return false;
    const struct vt_model_process *process = &model.process;
    rank->recorded_rank = process->present ? process->rank : -1;
    rank->host = copy_text(merge, process->host ? process->host : "?");
    rank->program = copy_text(merge, process->program ? process->program : "?");
    rank->pid = process->pid;
    rank->complete = model.complete;
    rank->duration_ns = model.duration_ns;
    struct vt_symbolizer *symbolizer = vt_cli_open_symbolizer(&model, COMMAND);
    if (!symbolizer) {
        vt_model_free(&model);
        return false;
    }
    struct vt_replay replay;
    vt_replay_start(&replay, &model, true);
    vt_replay_all(&replay, NULL, NULL);
    summarize_usage(rank, &replay);
    const struct vt_model_torch_snapshot *torch = vt_torch_exit_snapshot(&model);
    rank->torch = torch != NULL;
    add_cuda_leaks(merge, index, &replay, torch, symbolizer);
    if (torch)
        add_tensor_leaks(merge, index, &model, torch, symbolizer);
    vt_replay_finish(&replay);
    vt_symbolizer_close(symbolizer);
    vt_model_free(&model);
    if (merge->out_of_memory)
        fprintf(stderr, "vramtrace " COMMAND ": out of memory while summarizing %s\n", rank->path);
    return !merge->out_of_memory;
}

/* The shown ranks: the recorded ones when every trace has one, else each without one numbered by
 * its place among the traces. */
static void number_ranks(struct merge *merge)
{
    for (size_t i = 0; i < merge->rank_count; i++) {
        struct merge_rank *rank = &merge->ranks[i];
        merge->ranks_from_order |= rank->recorded_rank < 0;
        rank->rank = rank->recorded_rank >= 0 ? rank->recorded_rank : (int64_t)i;
    }
}

/* ---- ordering ------------------------------------------------------------------------------------ */

/* Trace positions by rank, then by the order given (`context`: the merge). */
static int by_rank(const void *a, const void *b, void *context)
{
    const struct merge *merge = context;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int64_t rx = merge->ranks[x].rank, ry = merge->ranks[y].rank;
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int by_total(const void *a, const void *b)
{
    const struct merge_site *x = *(struct merge_site *const *)a, *y = *(struct merge_site *const *)b;
    if (x->total_bytes != y->total_bytes)
        return x->total_bytes > y->total_bytes ? -1 : 1;
    if (x->total_count != y->total_count)
        return x->total_count > y->total_count ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* The largest and the smallest peak among ranks (rank_count 0: none had one). */
struct merge_extremes {
    size_t rank_count;
    size_t max_index, min_index; /* trace positions */
    struct merge_device max_device, min_device;
};

/* What the renderings show, in their order. */
struct merge_view {
    size_t *order;                  /* trace positions by rank */
    struct merge_site **common;     /* live on every trace, largest first */
    size_t common_count;
    struct merge_site **some;       /* live on some, largest first */
    size_t some_count;
    struct merge_extremes imbalance; /* of each rank's largest device peak */
    /* of each device ordinal that two ranks or more used (ranks of several nodes) */
    struct merge_extremes by_device[VT_MODEL_MAX_DEVICES];
};

/* A rank's peak on `device`, or with VT_GROUPS_ALL_DEVICES its largest device peak; false when it
 * used no such device. */
static bool device_peak(const struct merge_rank *rank, int device, struct merge_device *peak)
{
    bool found = false;
    for (size_t i = 0; i < rank->device_count; i++) {
        const struct merge_device *used = &rank->devices[i];
        bool wanted = device == VT_GROUPS_ALL_DEVICES ? used->device >= 0 : used->device == device;
        if (wanted && (!found || used->peak_bytes > peak->peak_bytes)) {
            *peak = *used;
            found = true;
        }
    }
    return found;
}

/* The extremes of the ranks' device_peak(device), the first rank (in rank order) winning ties. */
static void find_extremes(const struct merge *merge, const size_t *order, int device, struct merge_extremes *extremes)
{
    *extremes = (struct merge_extremes){0};
    for (size_t position = 0; position < merge->rank_count; position++) {
        size_t i = order[position];
        struct merge_device peak;
        if (!device_peak(&merge->ranks[i], device, &peak))
            continue;
        if (!extremes->rank_count || peak.peak_bytes > extremes->max_device.peak_bytes) {
            extremes->max_index = i;
            extremes->max_device = peak;
        }
        if (!extremes->rank_count || peak.peak_bytes < extremes->min_device.peak_bytes) {
            extremes->min_index = i;
            extremes->min_device = peak;
        }
        extremes->rank_count++;
    }
}

static bool build_view(const struct merge *merge, struct merge_view *view)
{
    *view = (struct merge_view){0};
    size_t site_count = HASH_COUNT(merge->sites);
    view->order = calloc(merge->rank_count, sizeof *view->order);
    view->common = calloc(site_count + 1, sizeof *view->common);
    view->some = calloc(site_count + 1, sizeof *view->some);
    if (!view->order || !view->common || !view->some)
        return false;
    for (size_t i = 0; i < merge->rank_count; i++)
        view->order[i] = i;
    qsort_r(view->order, merge->rank_count, sizeof *view->order, by_rank, (void *)merge);
    for (const struct merge_site *site = merge->sites; site; site = site->hh.next) {
        struct merge_site *entry = (struct merge_site *)site;
        if (site->rank_count == merge->rank_count)
            view->common[view->common_count++] = entry;
        else
            view->some[view->some_count++] = entry;
    }
    qsort(view->common, view->common_count, sizeof *view->common, by_total);
    qsort(view->some, view->some_count, sizeof *view->some, by_total);
    find_extremes(merge, view->order, VT_GROUPS_ALL_DEVICES, &view->imbalance);
    for (int device = 0; device < VT_MODEL_MAX_DEVICES; device++)
        find_extremes(merge, view->order, device, &view->by_device[device]);
    return true;
}

static void free_view(struct merge_view *view)
{
    free(view->order);
    free(view->common);
    free(view->some);
}

/* ---- text ---------------------------------------------------------------------------------------- */

static void print_rank_rows(FILE *out, const struct merge *merge, const struct merge_view *view)
{
    int host_width = 4;
    for (size_t i = 0; i < merge->rank_count; i++)
        if ((int)strlen(merge->ranks[i].host) > host_width)
            host_width = (int)strlen(merge->ranks[i].host);
    fprintf(out, "%6s  %-*s  %8s  %-9s  %14s %-12s  %14s  %14s %-12s  %10s  %s\n", "rank", host_width, "host", "pid",
            "device", "peak bytes", "", "peak at (s)", "end bytes", "", "end allocs", "OOMs");
    char human[32], human2[32], device[32], shown[40], peak_human[40], end_human[40];
    for (size_t position = 0; position < merge->rank_count; position++) {
        const struct merge_rank *rank = &merge->ranks[view->order[position]];
        snprintf(shown, sizeof shown, "%" PRId64 "%s", rank->rank, rank->recorded_rank < 0 ? "*" : "");
        if (rank->device_count == 0)
            fprintf(out, "%6s  %-*s  %8" PRIu64 "  %-9s  %14s %-12s  %14s  %14s %-12s  %10s  %" PRIu64 "\n", shown,
                    host_width, rank->host, rank->pid, "-", "0", "", "-", "0", "", "0", rank->oom_failures);
        for (size_t d = 0; d < rank->device_count; d++) {
            const struct merge_device *used = &rank->devices[d];
            snprintf(peak_human, sizeof peak_human, "(%s)", vt_format_bytes(used->peak_bytes, human, sizeof human));
            snprintf(end_human, sizeof end_human, "(%s)", vt_format_bytes(used->end_bytes, human2, sizeof human2));
            fprintf(out, "%6s  %-*s  %8" PRIu64 "  %-9s  %14" PRIu64 " %-12s  %14.9f  %14" PRIu64 " %-12s  %10" PRIu64
                         "  %" PRIu64 "\n",
                    shown, host_width, rank->host, rank->pid, vt_cli_device_name(used->device, device, sizeof device),
                    used->peak_bytes, peak_human, (double)used->peak_time_ns / 1e9, used->end_bytes, end_human,
                    used->end_count, rank->oom_failures);
        }
    }
    if (merge->ranks_from_order)
        fprintf(out, "* the trace has no rank (no RANK, LOCAL_RANK, SLURM_PROCID or OMPI_COMM_WORLD_RANK): numbered by "
                     "its place among the traces given\n");
    for (size_t position = 1; position < merge->rank_count; position++)
        if (merge->ranks[view->order[position]].rank == merge->ranks[view->order[position - 1]].rank &&
            (position < 2 || merge->ranks[view->order[position - 2]].rank != merge->ranks[view->order[position]].rank))
            fprintf(out, "note: rank %" PRId64 " appears in several traces\n",
                    merge->ranks[view->order[position]].rank);
    for (size_t i = 0; i < merge->rank_count; i++)
        if (!merge->ranks[i].complete)
            fprintf(out, "note: %s has no end record (the process was still running, or was killed)\n",
                    merge->ranks[i].path);
}

static void print_extreme(FILE *out, const char *label, const struct merge_rank *rank,
                          const struct merge_device *peak)
{
    char human[32], device[32];
    fprintf(out, "  %s rank %" PRId64 ", %" PRIu64 " byte(s) (%s) on %s at %.6f s\n", label, rank->rank,
            peak->peak_bytes, vt_format_bytes(peak->peak_bytes, human, sizeof human),
            vt_cli_device_name(peak->device, device, sizeof device), (double)peak->peak_time_ns / 1e9);
}

static void print_extremes(FILE *out, const struct merge *merge, const struct merge_extremes *extremes)
{
    print_extreme(out, "largest: ", &merge->ranks[extremes->max_index], &extremes->max_device);
    print_extreme(out, "smallest:", &merge->ranks[extremes->min_index], &extremes->min_device);
    fprintf(out, "  largest / smallest: %.2f\n",
            (double)extremes->max_device.peak_bytes / (double)extremes->min_device.peak_bytes);
}

static void print_imbalance(FILE *out, const struct merge *merge, const struct merge_view *view)
{
    if (!view->imbalance.rank_count) {
        fprintf(out, "\nImbalance: no rank used device memory.\n");
        return;
    }
    fprintf(out, "\nImbalance of the peak across ranks (each rank's largest device peak, %zu rank(s)):\n",
            view->imbalance.rank_count);
    print_extremes(out, merge, &view->imbalance);
    for (int device = 0; device < VT_MODEL_MAX_DEVICES; device++)
        if (view->by_device[device].rank_count > 1) {
            fprintf(out, "Of device %d, used by %zu ranks:\n", device, view->by_device[device].rank_count);
            print_extremes(out, merge, &view->by_device[device]);
        }
}

static void print_ooms(FILE *out, const struct merge *merge, const struct merge_view *view)
{
    size_t failing = 0;
    for (size_t i = 0; i < merge->rank_count; i++)
        failing += merge->ranks[i].oom_failures > 0;
    if (!failing) {
        fprintf(out, "\nOut of memory: no failure on any rank.\n");
        return;
    }
    fprintf(out, "\nOut of memory on %zu of %zu rank(s):\n", failing, merge->rank_count);
    char device[32];
    for (size_t position = 0; position < merge->rank_count; position++) {
        const struct merge_rank *rank = &merge->ranks[view->order[position]];
        if (rank->oom_failures)
            fprintf(out, "  rank %" PRId64 ": %" PRIu64 " failure(s), the first at %.6f s on %s (a request of %" PRIu64
                         " byte(s))\n",
                    rank->rank, rank->oom_failures, (double)rank->oom_first_time_ns / 1e9,
                    vt_cli_device_name(rank->oom_first_device, device, sizeof device), rank->oom_first_bytes);
    }
}

/* "0: 2097152 byte(s) in 1, 1: ..." for the ranks where the site is live. */
static void print_per_rank(FILE *out, const struct merge *merge, const struct merge_view *view,
                           const struct merge_site *site)
{
    const char *separator = "";
    for (size_t position = 0; position < merge->rank_count; position++) {
        size_t i = view->order[position];
        if (!site->count[i])
            continue;
        fprintf(out, "%s%" PRId64 ": %" PRIu64 " byte(s) in %" PRIu64, separator, merge->ranks[i].rank, site->bytes[i],
                site->count[i]);
        separator = ", ";
    }
}

static void print_what(FILE *out, const struct merge_site *site)
{
    if (site->tensor)
        fprintf(out, "of PyTorch's tensors at %s", site->where);
    else
        fprintf(out, "of %s memory, %s", vt_memory_kind_name(site->kind), vt_api_name(site->api));
}

static void print_sites(FILE *out, const struct merge *merge, const struct merge_view *view, bool common,
                        unsigned top)
{
    struct merge_site *const *sites = common ? view->common : view->some;
    size_t count = common ? view->common_count : view->some_count;
    char human[32];
    if (common)
        fprintf(out, "\nLeaks (live at the end) common to all %zu rank(s): %zu site(s)%s\n", merge->rank_count, count,
                count ? ", largest first:" : ".");
    else
        fprintf(out, "\nLeaks on some ranks only: %zu site(s)%s\n", count, count ? ", largest first:" : ".");
    size_t shown = count < top ? count : top;
    for (size_t s = 0; s < shown; s++) {
        const struct merge_site *site = sites[s];
        fputc('\n', out);
        bool equal = true;
        size_t first = view->order[0];
        for (size_t i = 0; i < merge->rank_count && common; i++)
            equal &= site->bytes[i] == site->bytes[first] && site->count[i] == site->count[first];
        const char *unit = site->tensor ? "tensor(s)" : "allocation(s)";
        if (common && equal) {
            fprintf(out, "%" PRIu64 " byte(s) (%s) in %" PRIu64 " %s on each rank, ", site->bytes[first],
                    vt_format_bytes(site->bytes[first], human, sizeof human), site->count[first], unit);
        } else {
            fprintf(out, "%" PRIu64 " byte(s) (%s) in %" PRIu64 " %s in all, ", site->total_bytes,
                    vt_format_bytes(site->total_bytes, human, sizeof human), site->total_count, unit);
            if (!common) {
                fputs("on some ranks: ", out);
                const char *separator = "";
                for (size_t position = 0; position < merge->rank_count; position++)
                    if (site->count[view->order[position]]) {
                        fprintf(out, "%s%" PRId64, separator, merge->ranks[view->order[position]].rank);
                        separator = ", ";
                    }
                fputs(" (", out);
            } else {
                fputs("per rank (", out);
            }
            print_per_rank(out, merge, view, site);
            fputs("), ", out);
        }
        print_what(out, site);
        fputs(", allocated from:\n", out);
        fputs(site->stack_text ? site->stack_text : "", out);
    }
    if (shown < count) {
        uint64_t bytes = 0;
        for (size_t s = shown; s < count; s++)
            bytes += sites[s]->total_bytes;
        fprintf(out, "\n... and %zu more site(s): %" PRIu64 " byte(s) (%s) in all (--top %u shows %u)\n", count - shown,
                bytes, vt_format_bytes(bytes, human, sizeof human), top, top);
    }
}

static void render_text(FILE *out, const struct merge *merge, const struct merge_view *view, unsigned top)
{
    fprintf(out, "vramtrace merge: %zu trace(s)\n\n", merge->rank_count);
    print_rank_rows(out, merge, view);
    print_imbalance(out, merge, view);
    print_ooms(out, merge, view);
    print_sites(out, merge, view, true, top);
    print_sites(out, merge, view, false, top);
}

/* ---- JSON ---------------------------------------------------------------------------------------- */

/* A time as the report's JSON gives it: NAME_ns and NAME_s. */
static void json_time(struct vt_json *json, const char *name, uint64_t nanoseconds)
{
    char key[64];
    snprintf(key, sizeof key, "%s_ns", name);
    vt_json_uint(json, key, nanoseconds);
    snprintf(key, sizeof key, "%s_s", name);
    vt_json_seconds(json, key, nanoseconds);
}

static void json_device_or_host(struct vt_json *json, const char *key, int device)
{
    if (device < 0)
        vt_json_null(json, key);
    else
        vt_json_int(json, key, device);
}

static void json_rank(struct vt_json *json, const struct merge_rank *rank)
{
    vt_json_object_begin(json, NULL);
    vt_json_int(json, "rank", rank->rank);
    if (rank->recorded_rank < 0)
        vt_json_null(json, "recorded_rank");
    else
        vt_json_int(json, "recorded_rank", rank->recorded_rank);
    vt_json_string(json, "trace", rank->path);
    vt_json_string(json, "host", rank->host);
    vt_json_uint(json, "pid", rank->pid);
    vt_json_string(json, "program", rank->program);
    vt_json_bool(json, "complete", rank->complete);
    json_time(json, "duration", rank->duration_ns);
    vt_json_array_begin(json, "devices");
    for (size_t d = 0; d < rank->device_count; d++) {
        const struct merge_device *used = &rank->devices[d];
        vt_json_object_begin(json, NULL);
        json_device_or_host(json, "device", used->device);
        vt_json_uint(json, "peak_bytes", used->peak_bytes);
        json_time(json, "peak_time", used->peak_time_ns);
        vt_json_uint(json, "end_bytes", used->end_bytes);
        vt_json_uint(json, "end_count", used->end_count);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
    vt_json_object_begin(json, "oom");
    vt_json_uint(json, "failures", rank->oom_failures);
    if (rank->oom_failures) {
        json_time(json, "first_time", rank->oom_first_time_ns);
        json_device_or_host(json, "first_device", rank->oom_first_device);
        vt_json_uint(json, "first_requested_bytes", rank->oom_first_bytes);
    } else {
        vt_json_null(json, "first_time_ns");
        vt_json_null(json, "first_time_s");
        vt_json_null(json, "first_device");
        vt_json_null(json, "first_requested_bytes");
    }
    vt_json_object_end(json);
    vt_json_uint(json, "leak_bytes", rank->leak_bytes);
    vt_json_uint(json, "leak_count", rank->leak_count);
    vt_json_bool(json, "torch", rank->torch);
    vt_json_object_end(json);
}

static void json_extreme(struct vt_json *json, const char *key, const struct merge_rank *rank,
                         const struct merge_device *device)
{
    vt_json_object_begin(json, key);
    vt_json_int(json, "rank", rank->rank);
    vt_json_int(json, "device", device->device);
    vt_json_uint(json, "peak_bytes", device->peak_bytes);
    json_time(json, "peak_time", device->peak_time_ns);
    vt_json_object_end(json);
}

/* An imbalance: of `device`, or (VT_GROUPS_ALL_DEVICES) of each rank's largest device peak. */
static void json_extremes(struct vt_json *json, const char *key, const struct merge *merge,
                          const struct merge_extremes *extremes, int device)
{
    vt_json_object_begin(json, key);
    if (device != VT_GROUPS_ALL_DEVICES)
        vt_json_int(json, "device", device);
    vt_json_uint(json, "rank_count", extremes->rank_count);
    json_extreme(json, "largest", &merge->ranks[extremes->max_index], &extremes->max_device);
    json_extreme(json, "smallest", &merge->ranks[extremes->min_index], &extremes->min_device);
    vt_json_object_end(json);
}

static void json_site(struct vt_json *json, const struct merge *merge, const struct merge_view *view,
                      const struct merge_site *site)
{
    vt_json_object_begin(json, NULL);
    vt_json_string(json, "layer", site->tensor ? "torch" : "cuda");
    if (site->tensor) {
        vt_json_string(json, "line", site->where);
    } else {
        vt_json_string(json, "kind", vt_memory_kind_name(site->kind));
        vt_json_string(json, "api", vt_api_name(site->api));
    }
    vt_json_uint(json, "bytes", site->total_bytes);
    vt_json_uint(json, "count", site->total_count);
    vt_json_array_begin(json, "ranks");
    for (size_t position = 0; position < merge->rank_count; position++) {
        size_t i = view->order[position];
        if (!site->count[i])
            continue;
        vt_json_object_begin(json, NULL);
        vt_json_int(json, "rank", merge->ranks[i].rank);
        vt_json_uint(json, "bytes", site->bytes[i]);
        vt_json_uint(json, "count", site->count[i]);
        vt_json_object_end(json);
    }
    vt_json_array_end(json);
    vt_json_array_begin(json, "frames");
    for (size_t f = 0; f < site->frame_count; f++) {
        const struct merge_frame *frame = &site->frames[f];
        vt_cli_json_frame(json, frame->kind, frame->function, frame->file, frame->line, frame->module,
                          frame->module_offset);
    }
    vt_json_array_end(json);
    vt_json_object_end(json);
}

static void json_sites(struct vt_json *json, const char *key, const struct merge *merge,
                       const struct merge_view *view, struct merge_site *const *sites, size_t count, unsigned top)
{
    char count_key[64];
    snprintf(count_key, sizeof count_key, "%s_count", key);
    vt_json_uint(json, count_key, count);
    vt_json_array_begin(json, key);
    for (size_t s = 0; s < count && s < top; s++)
        json_site(json, merge, view, sites[s]);
    vt_json_array_end(json);
}

static void render_json(FILE *out, const struct merge *merge, const struct merge_view *view, unsigned top)
{
    struct vt_json json;
    vt_json_start(&json, out);
    vt_json_object_begin(&json, NULL);
    vt_json_string(&json, "format", "vramtrace-merge");
    vt_json_uint(&json, "version", MERGE_JSON_VERSION);
    vt_json_uint(&json, "trace_count", merge->rank_count);
    vt_json_bool(&json, "ranks_from_order", merge->ranks_from_order);
    vt_json_array_begin(&json, "ranks");
    for (size_t position = 0; position < merge->rank_count; position++)
        json_rank(&json, &merge->ranks[view->order[position]]);
    vt_json_array_end(&json);
    if (view->imbalance.rank_count)
        json_extremes(&json, "imbalance", merge, &view->imbalance, VT_GROUPS_ALL_DEVICES);
    else
        vt_json_null(&json, "imbalance");
    vt_json_array_begin(&json, "imbalance_by_device");
    for (int device = 0; device < VT_MODEL_MAX_DEVICES; device++)
        if (view->by_device[device].rank_count > 1)
            json_extremes(&json, NULL, merge, &view->by_device[device], device);
    vt_json_array_end(&json);
    json_sites(&json, "common_sites", merge, view, view->common, view->common_count, top);
    json_sites(&json, "some_sites", merge, view, view->some, view->some_count, top);
    vt_json_object_end(&json);
    vt_json_finish(&json);
}

/* ---- the command ------------------------------------------------------------------------------ */

static void free_merge(struct merge *merge)
{
    struct merge_site *site, *next;
    HASH_ITER(hh, merge->sites, site, next)
    {
        HASH_DEL(merge->sites, site);
        for (size_t f = 0; f < site->frame_count; f++) {
            free(site->frames[f].function);
            free(site->frames[f].file);
            free(site->frames[f].module);
        }
        free(site->frames);
        free(site->stack_text);
        free(site->where);
        free(site->bytes);
        free(site->count);
        free(site->key);
        free(site);
    }
    for (size_t i = 0; i < merge->rank_count; i++) {
        free(merge->ranks[i].host);
        free(merge->ranks[i].program);
    }
    free(merge->ranks);
}

int vt_cmd_merge(int argc, char **argv)
{
    struct merge_settings settings;
    int status = parse_arguments(argc, argv, &settings);
    if (status >= 0) {
        free(settings.traces);
        return status;
    }
    struct merge merge = {.rank_count = settings.trace_count};
    merge.ranks = calloc(settings.trace_count, sizeof *merge.ranks);
    status = VT_CLI_EXIT_UNREADABLE;
    if (!merge.ranks) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < settings.trace_count; i++)
        merge.ranks[i] = (struct merge_rank){.path = settings.traces[i], .recorded_rank = -1};
    for (size_t i = 0; i < settings.trace_count; i++)
        if (!summarize_trace(&merge, i))
            goto done;
    number_ranks(&merge);
    struct merge_view view;
    if (!build_view(&merge, &view)) {
        fprintf(stderr, "vramtrace " COMMAND ": out of memory\n");
    } else {
        if (settings.json)
            render_json(stdout, &merge, &view, settings.top);
        else
            render_text(stdout, &merge, &view, settings.top);
        fflush(stdout);
        status = 0;
    }
    free_view(&view);
done:
    free_merge(&merge);
    free(settings.traces);
    return status;
}
