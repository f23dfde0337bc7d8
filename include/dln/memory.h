/* dln/memory.h: what a run will allocate, and what this process may allocate, checked
 * before anything large is allocated. The estimate is the one place that adds up every
 * allocation of a run, phase by phase (data, initial weights with their scratch, the
 * shallow solver, training), from the byte counts of the layers that allocate:
 * dln_synth_scratch_bytes, dln_init_scratch_bytes, dln_shallow_bytes, dln_network_bytes,
 * dln_gesvd_work_bytes, dln_batch_bytes. On a backend without device memory (the CPU) backend memory is
 * host memory and both are counted together. */
#ifndef DLN_MEMORY_H
#define DLN_MEMORY_H

#include "dln/model.h"
#include "dln/trainer.h"

/* A run to estimate: the data sizes, where the data come from, and (train only) the
 * network and how it is trained. */
typedef struct {
    int dx, dy, m;
    int synthetic;          /* generated: the teacher's scratch is counted */
    int teacher_rank;       /* of the synthetic teacher */
    int data_from_files;    /* read from .npy files: the reader's scratch is counted */
    const dln_shape *shape; /* NULL: `solve` only (no weights, no training) */
    int init;               /* a dln_init_kind, or -1 for weights loaded from files */
    const dln_train_opts *train; /* momentum, line search, data mode, dtype (NULL: defaults) */
    int solver_route;       /* a dln_solver_route (0: AUTO, as the solver chooses) */
    int batch;              /* members trained at once by dln_train_batch (0: one run, dln_train) */
    int batch_threads;      /* the backend's threads for a training run (dln_backend_threads; 0:
                               1): each maps a stack and an OpenBLAS buffer (it computes pieces
                               of long products) and, where a batch's members are spread over
                               them, a network for the sharpness rule's products */
} dln_run_plan;

typedef struct {
    double host;        /* peak bytes of host memory (backend memory included when is_host) */
    double backend;     /* peak bytes of device memory (0 when the backend is host memory) */
    const char *phase;  /* the phase of the host peak: "data", "initial weights", "solver", "training" */
    double resident;    /* dln_memory_check: what the process held when checked (not in host) */
} dln_mem_estimate;

/* Bytes that no byte count covers, added to every host estimate: what libraries touch
 * after the check (OpenBLAS's per-thread buffers, LAPACK's internal workspaces, and the
 * pages the CUDA libraries touch when the process exits: about 75 MB measured on Debian
 * 12 with CUDA 13). */
#define DLN_MEM_SLACK (96.0 * 1048576.0)
/* What each thread a training run starts maps beside the estimate: its 8 MiB stack and OpenBLAS's
 * per-thread GEMM buffer (a 135,266,304-byte mapping with this machine's OpenBLAS 0.3.21). */
#define DLN_MEM_THREAD_BYTES (137.0 * 1048576.0)
/* And where a thread of a single run computes pieces of its products (its OpenBLAS calls
 * malloc), glibc's arena for that thread: 64 MiB of address space reserved. */
#define DLN_MEM_ARENA_BYTES (64.0 * 1048576.0)

/* backend_is_host: the backend has no device memory (DLN_CAP_DEVICE_MEMORY unset). */
void dln_memory_estimate(const dln_run_plan *p, int backend_is_host, dln_mem_estimate *out);

typedef struct {
    double physical;      /* bytes of RAM */
    double cgroup;        /* the cgroup's memory limit (INFINITY: none) */
    double address_space; /* RLIMIT_AS (INFINITY: none) */
    double resident;      /* what this process holds now: resident set */
    double mapped;        /* and address space */
} dln_mem_limits;

void dln_memory_limits(dln_mem_limits *out);
/* The tightest memory limit of the cgroup named in proc_cgroup (/proc/self/cgroup format),
 * whose hierarchies are mounted as mountinfo (/proc/self/mountinfo format) says, with
 * root put in front of every mount point ("" on a live system; a directory in tests):
 * memory.max (v2) or memory.limit_in_bytes (v1) of the cgroup and of each parent.
 * INFINITY when there is none or nothing can be read. */
double dln_cgroup_memory_limit(const char *proc_cgroup, const char *mountinfo, const char *root);

/* Refuses (DLN_EINPUT, with the numbers) a run whose estimate does not fit: host bytes
 * plus what the process holds now against the smaller of physical memory and the cgroup
 * limit, and against RLIMIT_AS beside the address space already mapped; the device part
 * against the backend's free memory. be may be NULL (host only). The estimate goes to *est
 * when est is not NULL. */
int dln_memory_check(const dln_run_plan *p, dln_backend *be, dln_mem_estimate *est, dln_error *err);

#endif
