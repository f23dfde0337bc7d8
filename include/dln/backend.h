/* dln/backend.h: backends as opaque handles. A backend is where every matrix of a run
 * lives and where every matrix operation (dln/ops.h) runs: the CPU backend (OpenBLAS +
 * LAPACKE, the reference) and the CUDA backend (cuBLAS + cuSOLVER). What a backend can
 * do is asked with dln_backend_supports, never by comparing names. The same API is
 * compiled whatever backends are built in; asking for one that is not is DLN_EINPUT. */
#ifndef DLN_BACKEND_H
#define DLN_BACKEND_H

#include <stddef.h>

#include "dln/error.h"
#include "dln/pool.h"

typedef struct dln_backend dln_backend;

typedef enum { DLN_BACKEND_AUTO = 0, DLN_BACKEND_CPU = 1, DLN_BACKEND_CUDA = 2 } dln_backend_kind;

/* Math modes for GEMMs of fp32 matrices: exact fp32, or TF32 tensor cores. */
typedef enum { DLN_MATH_DEFAULT = 0, DLN_MATH_TF32 = 1 } dln_math_mode;

typedef enum {
    DLN_CAP_GRAPHS = 1,        /* operations can be captured into a graph and replayed */
    DLN_CAP_TF32 = 2,          /* DLN_MATH_TF32 is available for fp32 GEMMs */
    DLN_CAP_DEVICE_MEMORY = 4, /* matrices live in device memory that dln_backend_mem_info reports */
    DLN_CAP_ASYNC = 8,         /* work is queued: reading a result waits for the device */
    DLN_CAP_THREADS = 16,      /* host threads may issue operations on distinct matrices at once,
                                  and a batch's members are spread over dln_backend_set_threads */
} dln_capability;

/* Creates a backend that records its failures in *err (which must outlive it). AUTO
 * picks CUDA when compiled in and a device is present; *note (static text, or NULL)
 * then says what it chose and why. */
int dln_backend_create(dln_backend_kind kind, dln_error *err, dln_backend **out, const char **note);
void dln_backend_destroy(dln_backend *be);
const char *dln_backend_name(const dln_backend *be);
/* The error record the backend was created with (its operations report into it). */
dln_error *dln_backend_error(dln_backend *be);
/* 1 when the backend has every capability in caps (an OR of dln_capability), else 0. */
int dln_backend_supports(const dln_backend *be, unsigned caps);
/* TF32 needs DLN_CAP_TF32 (DLN_EINPUT otherwise). */
int dln_backend_set_math(dln_backend *be, dln_math_mode mode);
/* Host threads over which a batch's members are computed (dln/batch.h, dln_train_batch),
 * and the pieces of a member's long products (the CPU backend's skinny GEMMs on full data:
 * src/backends/cpu/gemm_cpu.c): 0 = one per CPU this process may run on, 1 = none started
 * (the default). Backends without DLN_CAP_THREADS keep 1 (a device computes the members).
 * Each member, and each piece, is computed by one thread with the same operations in the
 * same order, so results do not depend on the count. DLN_EINPUT below 0 or above 1024,
 * DLN_ERUNTIME when threads cannot start. */
int dln_backend_set_threads(dln_backend *be, int threads);
/* The largest member operation (GEMM multiply-adds) spread over those threads. OpenBLAS runs
 * a GEMM that small on the calling thread (its GEMM_MULTITHREAD_THRESHOLD 4 x
 * SMP_THRESHOLD_MIN 65536); a larger one it spreads over its own threads, and members on
 * threads of ours would only compete with them (and each would need its own OpenBLAS
 * buffer): a batch of larger members runs on one. */
#define DLN_MEMBER_WORK_MAX 262144.0
int dln_backend_threads(const dln_backend *be);
/* Items of member work (a chunk of members' step, a member's step-size work) that the
 * started threads, not the calling one, have run since the threads were set: 0 means the
 * batch ran on the caller alone. */
long dln_backend_thread_work(const dln_backend *be);
/* The threads dln_backend_set_threads started (NULL when it runs none): what a network
 * issues its chunks of members on, and what the trainer spreads the members' step-size
 * work over, each thread through a handle of its own. */
dln_pool *dln_backend_pool(dln_backend *be);
/* A handle on the same backend (same context and memory) whose operations record their
 * failures in *err and use no threads: what one of the pool's threads issues its work
 * through, so that its failures never touch the caller's record. Freed by
 * dln_backend_worker_free (the backend itself stays). */
int dln_backend_worker(dln_backend *be, dln_error *err, dln_backend **out);
void dln_backend_worker_free(dln_backend *worker);
/* Free and total bytes of the backend's memory (0, 0 when it has no device memory). */
int dln_backend_mem_info(dln_backend *be, size_t *free_bytes, size_t *total_bytes);

/* Comma-separated names of the backends compiled in, e.g. "cpu,cuda". */
const char *dln_backends_compiled(void);
/* 1 when a backend of this kind can be created in this process (CPU: always). */
int dln_backend_available(dln_backend_kind kind);
/* A one-line description of the devices found, or "none (...)" saying why. */
void dln_devices_describe(char *buf, size_t n);

#endif
