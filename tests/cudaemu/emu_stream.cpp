/* emu_stream.cpp: queued work on the emulated device. Every operation issued to a stream
 * (copies, memsets, kernels, cuBLAS and cuSOLVER calls) is queued and executed only at a
 * synchronisation point: stream, event or device synchronisation, a synchronous copy (which
 * waits for the legacy stream and the blocking streams, never for cudaStreamNonBlocking
 * ones), or stream destruction. So a missing synchronisation reads stale data. Also here:
 * events, stream capture (records instead of queueing; a prohibited call invalidates the
 * capture) and graphs (instantiated copies of the recorded work, replayed on launch). */
#include "emu.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>
#include <thread>

struct Capture {
    cudaStream_t stream;
    std::vector<emu::Op> ops;
    bool invalid = false;
    std::thread::id owner;
    cudaStreamCaptureMode mode;
};

struct QOp {
    uint64_t seq;
    emu::Op op;
};

struct CUstream_st {
    unsigned flags = 0;
    bool legacy = false;
    std::deque<QOp> q;
    Capture *cap = nullptr;
};

struct CUgraph_st {
    std::vector<emu::Op> ops;
};
struct CUgraphExec_st {
    std::shared_ptr<std::vector<emu::Op>> ops;
};

namespace emu
{

static CUstream_st legacy_stream = [] {
    CUstream_st s;
    s.legacy = true;
    return s;
}();
static std::set<CUstream_st *> streams; /* created, not destroyed */
static std::set<cudaGraph_t> graphs;
static std::set<cudaGraphExec_t> execs;
static uint64_t issued = 0;

CUstream_st *resolve(cudaStream_t s)
{
    if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return &legacy_stream;
    return streams.count(s) ? s : nullptr;
}

bool stream_valid(cudaStream_t s)
{
    return resolve(s) != nullptr;
}
bool stream_alive(const CUstream_st *st)
{
    return st->legacy || streams.count(const_cast<CUstream_st *>(st));
}
bool capturing(cudaStream_t s)
{
    CUstream_st *st = resolve(s);
    return st && st->cap;
}

static bool blocking(const CUstream_st *st)
{
    return !st->legacy && !(st->flags & cudaStreamNonBlocking);
}

void exec_op(Op &op)
{
    if (sticky() != cudaSuccess) return; /* the context is lost: nothing more executes */
    if (!check_bufs(op.api.c_str(), op.bufs, true)) {
        set_sticky(cudaErrorIllegalAddress);
        return;
    }
    op.run();
}

/* Executes the ops of st issued up to seq, each after the work it implicitly waits for:
 * the legacy stream waits for the blocking streams and they wait for it. */
void run_upto(CUstream_st *st, uint64_t seq)
{
    while (!st->q.empty() && st->q.front().seq <= seq) {
        QOp o = std::move(st->q.front());
        st->q.pop_front();
        if (st->legacy) {
            for (CUstream_st *b : streams)
                if (blocking(b)) run_upto(b, o.seq - 1);
        } else if (blocking(st)) {
            run_upto(&legacy_stream, o.seq - 1);
        }
        exec_op(o.op);
    }
}

void sync_stream(cudaStream_t s)
{
    CUstream_st *st = resolve(s);
    if (st) run_upto(st, UINT64_MAX);
}

void sync_legacy()
{
    for (CUstream_st *b : streams)
        if (blocking(b)) run_upto(b, issued);
    run_upto(&legacy_stream, issued);
}

void sync_device()
{
    for (;;) { /* everything, in issue order across streams */
        CUstream_st *next = legacy_stream.q.empty() ? nullptr : &legacy_stream;
        for (CUstream_st *b : streams)
            if (!b->q.empty() && (!next || b->q.front().seq < next->q.front().seq)) next = b;
        if (!next) return;
        run_upto(next, next->q.front().seq);
    }
}

static std::vector<Capture *> open_captures()
{
    std::vector<Capture *> v;
    for (CUstream_st *b : streams)
        if (b->cap) v.push_back(b->cap);
    return v;
}

static void invalidate(Capture *c, const char *why)
{
    if (!c->invalid) note("capture on stream %p invalidated: %s", (void *)c->stream, why);
    c->invalid = true;
}

void invalidate_capture(cudaStream_t s, const char *why)
{
    CUstream_st *st = resolve(s);
    if (st && st->cap) invalidate(st->cap, why);
}

cudaError_t capture_forbids(const char *api)
{
    bool hit = false;
    for (Capture *c : open_captures()) {
        bool mine = c->owner == std::this_thread::get_id();
        if ((mine && c->mode != cudaStreamCaptureModeRelaxed) || c->mode == cudaStreamCaptureModeGlobal) {
            if (!hit)
                violation(api,
                          "potentially unsafe call while stream %p is capturing (%s mode): prohibited; the capture is "
                          "invalidated",
                          (void *)c->stream, c->mode == cudaStreamCaptureModeGlobal ? "global" : "thread-local");
            invalidate(c, api);
            hit = true;
        }
    }
    return hit ? set_error(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}

cudaError_t enqueue_seq(cudaStream_t s, Op op, uint64_t *seq)
{
    CUstream_st *st = resolve(s);
    if (!st) {
        violation(op.api.c_str(), "stream %p is not a live stream (never created, or destroyed)", (void *)s);
        return cudaErrorInvalidResourceHandle;
    }
    if (st->cap) {
        if (st->cap->invalid) return cudaErrorStreamCaptureInvalidated;
        st->cap->ops.push_back(std::move(op));
        if (seq) *seq = 0;
        return cudaSuccess;
    }
    if (st->legacy) {
        for (Capture *c : open_captures()) {
            if (!blocking(resolve(c->stream))) continue;
            violation(
                op.api.c_str(),
                "work on the legacy stream while blocking stream %p is capturing: an implicit dependency on a capture",
                (void *)c->stream);
            invalidate(c, op.api.c_str());
            return cudaErrorStreamCaptureImplicit;
        }
    }
    st->q.push_back(QOp{++issued, std::move(op)});
    if (seq) *seq = issued;
    return cudaSuccess;
}

cudaError_t enqueue(cudaStream_t s, Op op)
{
    return enqueue_seq(s, std::move(op), nullptr);
}

} // namespace emu

using namespace emu;

/* ---- streams ------------------------------------------------------------------------------------ */

extern "C" cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!s || (flags & ~cudaStreamNonBlocking)) return set_error(cudaErrorInvalidValue);
    CUstream_st *st = new CUstream_st;
    st->flags = flags;
    streams.insert(st);
    *s = st;
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamCreate(cudaStream_t *s)
{
    return cudaStreamCreateWithFlags(s, 0);
}

extern "C" cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    CUstream_st *st = s ? resolve(s) : nullptr;
    if (!st || st->legacy) {
        violation("cudaStreamDestroy", "%p is not a stream this process created (or it was destroyed)", (void *)s);
        return set_error(cudaErrorInvalidResourceHandle);
    }
    if (st->cap) {
        violation("cudaStreamDestroy", "stream %p is capturing: end the capture first", (void *)s);
        invalidate(st->cap, "cudaStreamDestroy");
        return set_error(cudaErrorStreamCaptureUnsupported);
    }
    run_upto(st, UINT64_MAX); /* its work completes, then its resources go */
    streams.erase(st);
    delete st;
    return sticky() ? set_error(sticky()) : cudaSuccess;
}

/* Synchronising with a capturing stream is prohibited, and so is the legacy stream's
 * implicit synchronisation with a capturing blocking stream. */
static cudaError_t sync_check(const char *api, CUstream_st *st)
{
    if (st->cap) {
        violation(api, "stream %p is capturing: synchronising with it is prohibited; the capture is invalidated",
                  (void *)st);
        invalidate(st->cap, api);
        return set_error(cudaErrorStreamCaptureUnsupported);
    }
    if (st->legacy)
        for (Capture *c : open_captures())
            if (blocking(resolve(c->stream))) {
                violation(api, "the legacy stream would wait for capturing stream %p; the capture is invalidated",
                          (void *)c->stream);
                invalidate(c, api);
                return set_error(cudaErrorStreamCaptureImplicit);
            }
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    CUstream_st *st = resolve(s);
    if (!st) {
        violation("cudaStreamSynchronize", "stream %p is not a live stream", (void *)s);
        return set_error(cudaErrorInvalidResourceHandle);
    }
    if (cudaError_t e = sync_check("cudaStreamSynchronize", st)) return e;
    run_upto(st, UINT64_MAX);
    return sticky() ? set_error(sticky()) : cudaSuccess;
}

/* Not ready while work is queued; the query lets that work run, so polling terminates. */
extern "C" cudaError_t cudaStreamQuery(cudaStream_t s)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    CUstream_st *st = resolve(s);
    if (!st) return set_error(cudaErrorInvalidResourceHandle);
    if (cudaError_t e = sync_check("cudaStreamQuery", st)) return e;
    bool pending = !st->q.empty();
    run_upto(st, UINT64_MAX);
    if (sticky()) return set_error(sticky());
    return pending ? cudaErrorNotReady : cudaSuccess;
}

extern "C" cudaError_t cudaDeviceSynchronize(void)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (cudaError_t e = capture_forbids("cudaDeviceSynchronize")) return e;
    sync_device();
    return sticky() ? set_error(sticky()) : cudaSuccess;
}

/* ---- capture and graphs ---------------------------------------------------------------------------- */

extern "C" cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    CUstream_st *st = resolve(s);
    if (!st || st->legacy || mode < cudaStreamCaptureModeGlobal || mode > cudaStreamCaptureModeRelaxed) {
        violation("cudaStreamBeginCapture",
                  "stream %p: capture needs a created stream (not the legacy stream) and a valid mode", (void *)s);
        return set_error(cudaErrorInvalidValue);
    }
    if (st->cap) {
        violation("cudaStreamBeginCapture", "stream %p is already capturing", (void *)s);
        return set_error(cudaErrorIllegalState);
    }
    st->cap = new Capture{s, {}, false, std::this_thread::get_id(), mode};
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    CUstream_st *st = resolve(s);
    if (!graph) return set_error(cudaErrorInvalidValue);
    *graph = nullptr;
    if (!st || !st->cap) {
        violation("cudaStreamEndCapture", "stream %p is not capturing", (void *)s);
        return set_error(cudaErrorIllegalState);
    }
    Capture *c = st->cap;
    if (c->mode != cudaStreamCaptureModeRelaxed && c->owner != std::this_thread::get_id()) {
        violation("cudaStreamEndCapture", "the capture on %p was begun by another thread", (void *)s);
        return set_error(cudaErrorStreamCaptureWrongThread);
    }
    st->cap = nullptr;
    bool invalid = c->invalid;
    if (!invalid) {
        cudaGraph_t g = new CUgraph_st;
        g->ops = std::move(c->ops);
        graphs.insert(g);
        *graph = g;
    }
    delete c;
    return invalid ? set_error(cudaErrorStreamCaptureInvalidated) : cudaSuccess;
}

extern "C" cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus *status)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    CUstream_st *st = resolve(s);
    if (!st || !status) return set_error(cudaErrorInvalidValue);
    *status = !st->cap           ? cudaStreamCaptureStatusNone
              : st->cap->invalid ? cudaStreamCaptureStatusInvalidated
                                 : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!exec || !graphs.count(graph) || (flags & ~0xfull)) {
        violation("cudaGraphInstantiate", "graph %p is not a live graph, or flags %#llx are invalid", (void *)graph,
                  flags);
        return set_error(cudaErrorInvalidValue);
    }
    cudaGraphExec_t x = new CUgraphExec_st;
    x->ops = std::make_shared<std::vector<Op>>(graph->ops);
    execs.insert(x);
    *exec = x;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!execs.count(exec)) {
        violation("cudaGraphLaunch", "%p is not a live graph exec (never instantiated, or destroyed)", (void *)exec);
        return set_error(cudaErrorInvalidValue);
    }
    std::shared_ptr<std::vector<Op>> ops = exec->ops; /* stays alive if the exec is destroyed */
    Op op{"cudaGraphLaunch", {}, [ops] {
              for (Op &o : *ops)
                  exec_op(o);
          }};
    return set_error(enqueue(s, std::move(op)));
}

extern "C" cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!execs.erase(exec)) {
        violation("cudaGraphExecDestroy", "%p is not a live graph exec", (void *)exec);
        return set_error(cudaErrorInvalidValue);
    }
    delete exec; /* a queued launch keeps the recorded work */
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!graphs.erase(graph)) {
        violation("cudaGraphDestroy", "%p is not a live graph", (void *)graph);
        return set_error(cudaErrorInvalidValue);
    }
    delete graph;
    return cudaSuccess;
}

namespace emu
{
/* Does queued (not yet executed, not captured) work name memory in [lo, hi)? */
bool queued_uses(uintptr_t lo, uintptr_t hi, std::string *api)
{
    auto scan = [&](const CUstream_st *st) {
        for (const QOp &q : st->q)
            for (const Buf &b : q.op.bufs) {
                uintptr_t a = untag((uintptr_t)b.p);
                if (b.p && a < hi && a + (b.bytes ? b.bytes : 1) > lo) {
                    *api = q.op.api;
                    return true;
                }
            }
        return false;
    };
    if (scan(&legacy_stream)) return true;
    for (const CUstream_st *s : streams)
        if (scan(s)) return true;
    return false;
}
} // namespace emu
