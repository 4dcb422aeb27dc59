/* trace/trace_report.h — what `vramtrace report` shows, computed from a loaded trace: usage per
 * device and kind over the run, the live set at the end (the leaks) or at a chosen time, each
 * device's peak with exactly the allocations live at that moment, the out-of-memory state, the
 * allocation sites, and the call counts. src/cli/report_render.h renders it (text, JSON, HTML). */
#ifndef VT_TRACE_TRACE_REPORT_H
#define VT_TRACE_TRACE_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "trace/index_file.h"
#include "trace/trace_model.h"
#include "trace/trace_torch.h"

struct vt_report_options {
    int device;     /* VT_GROUPS_ALL_DEVICES, or only this device */
    bool at_time;   /* the live set at at_ns instead of at the end of the trace */
    uint64_t at_ns;
};

struct vt_report_peak {
    int device;                 /* -1: host (pinned memory not tied to a device) */
    struct vt_slot_usage usage; /* its counters over the whole run (peaks by kind, end values) */
    struct vt_groups snapshot;  /* exactly the allocations live on it when it peaked */
};

struct vt_report_oom {
    uint64_t failures;
    const struct vt_model_event *first;     /* NULL when no failure; else &first_event */
    struct vt_model_event first_event;      /* a copy: a streamed model's events come and go */
    const struct vt_model_oom *first_detail; /* its event_index: the failure's event */
    uint64_t allocations_after_last_failure; /* > 0: the program recovered */
    struct vt_groups live; /* live on the first failure's device when it failed (the OOM report's) */
};

/* The PyTorch layer of a device at the report's moment (its snapshot, docs/pytorch.md). */
struct vt_report_torch_device {
    struct vt_torch_device_summary summary;
    struct vt_groups outside;  /* the CUDA memory live then outside PyTorch's segments, by stack */
    uint64_t cuda_live_bytes;  /* the process's CUDA memory in use on the device then */
};

struct vt_report_torch {
    const struct vt_model_torch_snapshot *snapshot; /* NULL: no tensor layer at that moment */
    bool leaked;                       /* the exit snapshot: tensors still allocated are leaks */
    struct vt_report_torch_device *devices; /* in device order, those --device shows */
    size_t device_count;
    struct vt_torch_groups tensors;    /* tensors by stack, of --device */
};

/* PyTorch's view of its first out-of-memory (the OOM snapshot). */
struct vt_report_torch_oom {
    const struct vt_model_torch_snapshot *snapshot; /* NULL: none */
    struct vt_torch_device_summary summary;         /* of the failing device */
    struct vt_torch_groups tensors;                 /* live on it, largest first */
};

struct vt_report {
    const struct vt_trace_model *model;
    struct vt_report_options options;
    struct vt_slot_usage usage[VT_MODEL_SLOT_COUNT]; /* over the whole run */
    struct vt_accounting_stats stats;
    struct vt_report_oom oom;
    struct vt_groups live;    /* at the end of the trace (what leaked), or at options.at_ns; with a
                                 tensor layer then, outside PyTorch's segments (torch.snapshot) */
    uint64_t live_time_ns;
    struct vt_report_peak *peaks; /* devices by ordinal, then the host; only those that held memory */
    size_t peak_count;
    struct vt_groups sites_by_bytes, sites_by_count;
    struct vt_report_torch torch;
    struct vt_report_torch_oom torch_oom;
};

/* False only when out of memory. */
bool vt_report_build(struct vt_report *report, const struct vt_trace_model *model,
                     const struct vt_report_options *options);

/* The same with the whole-run replay made while the trace loads, in the loading pass over the file
 * (what `vramtrace report` does): vt_report_pass_start with the model about to be loaded sets the
 * load options' replay, visitor and live-set index; then vt_model_load with those options; then
 * vt_report_pass_finish (vt_report_build's result; the pass is done with either way), or, when the
 * trace did not load, vt_report_pass_drop (the report is then empty). */
struct vt_report_pass {
    struct vt_report *report;
    struct vt_replay replay;
    struct vt_site_collector *sites;
    /* the whole run's tables taken from the index beside the trace instead (vt_report_pass_take) */
    struct vt_index_report_tables tables;
};
void vt_report_pass_start(struct vt_report_pass *pass, struct vt_report *report, const struct vt_trace_model *model,
                          const struct vt_report_options *options, struct vt_model_load_options *load_options);
/* Sets the load options' replay, visitor and live-set index for the pass (what vt_report_pass_start
 * does with load options). */
void vt_report_pass_load_options(struct vt_report_pass *pass, struct vt_model_load_options *load_options);
/* When the model was loaded without the pass's replay: either the whole run now, over the loaded
 * model (vt_report_pass_run: as vt_report_build), or its tables from the index beside the trace,
 * loaded through it and describing it as it is (vt_report_pass_take: `tables`, for the report's
 * --device, moved into the pass; the end of the run then restored from the index's last
 * checkpoint). False (nothing taken) when the tables do not fit the model. */
void vt_report_pass_run(struct vt_report_pass *pass);
bool vt_report_pass_take(struct vt_report_pass *pass, struct vt_index_report_tables *tables);
/* The tables of the pass so far (a copy: the pass goes on), for the index: false when out of memory. */
bool vt_report_pass_tables(const struct vt_report_pass *pass, struct vt_index_report_tables *tables);
bool vt_report_pass_finish(struct vt_report_pass *pass);
void vt_report_pass_drop(struct vt_report_pass *pass);
void vt_report_free(struct vt_report *report);

/* The SUMMARY line's numbers: the live set's memory (outside PyTorch's segments when there is a
 * tensor layer) plus PyTorch's tensors then — at exit, exactly what the shim's SUMMARY counts. */
void vt_report_summary(const struct vt_report *report, uint64_t *bytes, uint64_t *count);

/* A live set's bytes and count over the kinds that are memory use (leaked memory). */
void vt_report_memory_totals(const struct vt_groups *groups, uint64_t *bytes, uint64_t *count);

/* The driver's used memory on a device of the PyTorch layer, and how much of it lies beyond the
 * process's CUDA allocations (contexts, other processes); false when the driver's view is unknown. */
bool vt_report_driver_beyond(const struct vt_report_torch_device *device, uint64_t *used, uint64_t *beyond);

/* Whether usage slot `slot` is shown under the report's --device choice. */
bool vt_report_shows_slot(const struct vt_report *report, int slot);

#endif
