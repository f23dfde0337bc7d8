/* emu.h: internal header of the emulated CUDA device (libcudaemu.a, tests/cudaemu/README.md).
 * What the emulator's files share: the process-wide state (settings from the environment,
 * the seeded random generator, the sticky and last errors), device allocations with tagged
 * pointers, the buffer and overlap checks every API call makes at issue and again at
 * execution, and queued work (streams, events, graph capture). Compiled against the real
 * CUDA 13 headers, so every exported symbol has the real name and signature. Not installed,
 * not included by dln's code. */
#ifndef CUDAEMU_EMU_H
#define CUDAEMU_EMU_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace emu
{

/* ---- settings and diagnostics (emu_core.cpp) ---------------------------------------------- */

struct Settings {
    uint64_t seed; /* CUDAEMU_SEED, or fresh per process */
    bool seed_given;
    bool no_device;          /* CUDAEMU_NO_DEVICE=1 */
    size_t mem_total;        /* CUDAEMU_MEM_BYTES */
    int cc_major, cc_minor;  /* CUDAEMU_CC=9.0 */
    bool svd_random_signs;   /* CUDAEMU_SVD_SIGNS=random (default) | lapack */
    bool gemm_jitter;        /* CUDAEMU_GEMM_JITTER=1 */
    bool threads_mode;       /* CUDAEMU_THREADS=threads (default fibers) */
    int sched;               /* CUDAEMU_SCHED: 0 forward, 1 reverse, 2 random (default) */
    bool verbose;            /* CUDAEMU_VERBOSE=1 */
    bool abort_on_violation; /* CUDAEMU_ABORT=1 */
};
const Settings &settings();

/* The one lock every API call takes (calls may come from several host threads). */
std::recursive_mutex &big_lock();
#define EMU_LOCK std::lock_guard<std::recursive_mutex> emu_guard_(emu::big_lock())

/* One line "cudaemu: <api>: <contract> [seed N]" on stderr; counts violations. */
void violation(const char *api, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line only when CUDAEMU_VERBOSE is set. */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seeded generator (splitmix64), one per process; hash for deterministic choices. */
uint64_t rand_u64();
uint64_t hash_bytes(uint64_t h, const void *p, size_t n);
uint64_t mix64(uint64_t x);

/* The runtime's error state: the last error (cleared by cudaGetLastError) and a sticky
 * error that every later call returns (cudaErrorIllegalAddress, cudaErrorLaunchFailure). */
cudaError_t set_error(cudaError_t e); /* records e as the last error (unless success); returns e */
cudaError_t sticky();                 /* the sticky error, or cudaSuccess */
void set_sticky(cudaError_t e);
cudaError_t peek_last();
cudaError_t take_last();
/* cudaErrorNoDevice when CUDAEMU_NO_DEVICE is set, else the sticky error (recorded). */
cudaError_t entry_check();

/* ---- device memory (emu_core.cpp) ----------------------------------------------------------- */

/* Device pointers carry this bit: non-canonical on x86-64 and AArch64, so a host
 * dereference faults. The emulator strips it when it executes work. */
constexpr uintptr_t TAG = (uintptr_t)1 << 62;
inline bool tagged(const void *p)
{
    return ((uintptr_t)p & TAG) != 0;
}
inline uintptr_t untag(uintptr_t p)
{
    return p & ~TAG;
}
template <typename T> inline T *host_view(T *p)
{
    return (T *)untag((uintptr_t)p);
}

enum AllocKind { DEVICE = 1, PINNED = 2 };
struct Alloc {
    uintptr_t base; /* untagged address */
    size_t size;    /* bytes requested */
    void *map;      /* mapping (with guard page) */
    size_t map_size;
    AllocKind kind;
    uint64_t serial;
};
cudaError_t alloc_mem(AllocKind kind, size_t bytes, void **out); /* tagged for DEVICE */
cudaError_t free_mem(AllocKind kind, void *p, const char *api);
size_t mem_used();
/* The live allocation containing untagged address a (end inclusive when end_ok). */
const Alloc *find_live(uintptr_t a, bool end_ok);
/* Describes what is known of an address that is in no live allocation. */
std::string describe_dead(uintptr_t a);

/* One argument's memory: [p, p + bytes) must lie in one live allocation of the given kind
 * (DEVICE for tagged pointers; host pointers are checked only where they lie in pinned
 * memory). bytes == 0: only the pointer itself must be in (or at the end of) one. */
struct Buf {
    const char *arg;
    const void *p; /* as given (tagged for device memory) */
    size_t bytes;
    bool device; /* must be device memory */
};
/* Checks every buffer; on failure prints a violation naming api and returns false. */
bool check_bufs(const char *api, const std::vector<Buf> &bufs, bool at_execution);

/* A strided column-major block: rows x cols elements of es bytes, leading dim ld. */
struct Mat {
    const void *p;
    long long rows, cols, ld;
    size_t es;
};
size_t mat_bytes(const Mat &m);
/* 1 when the element sets of a and b share a byte. */
bool mats_overlap(const Mat &a, const Mat &b);

/* ---- queued work (emu_stream.cpp) ------------------------------------------------------------ */

/* One unit of queued work: its buffers are re-checked when it executes; run() does it. */
struct Op {
    std::string api;
    std::vector<Buf> bufs;
    std::function<void()> run;
};

/* Called by every API that issues work on a stream. Queues op, or records it into the
 * stream's capture. Returns cudaErrorInvalidResourceHandle for an unknown stream and
 * cudaErrorStreamCaptureInvalidated for a stream whose capture was invalidated. */
cudaError_t enqueue(cudaStream_t s, Op op);
bool stream_valid(cudaStream_t s);
/* Executes every op issued to s so far (with the legacy stream's implicit ordering). */
void sync_stream(cudaStream_t s);
void sync_device();
/* Synchronous copies and the like: what cudaMemcpy's host synchronisation waits for
 * (the legacy stream and blocking streams, not cudaStreamNonBlocking ones). */
void sync_legacy();
/* Is the calling thread prohibited from potentially unsafe calls by an open capture?
 * If so: prints a violation naming api, invalidates that capture, records and returns
 * cudaErrorStreamCaptureUnsupported. Else cudaSuccess. */
cudaError_t capture_forbids(const char *api);
/* Is s capturing (any mode)? */
bool capturing(cudaStream_t s);
/* Invalidates the capture open on s, if any (an error inside a capture sequence). */
void invalidate_capture(cudaStream_t s, const char *why);
/* Runs one op now: re-checks its buffers (a failure is a sticky cudaErrorIllegalAddress). */
void exec_op(Op &op);

/* ---- kernels (emu_launch.cpp) --------------------------------------------------------------- */
void run_kernel_blocks(const char *name, dim3 grid, dim3 block, const std::function<void()> &body);

} // namespace emu

#endif
