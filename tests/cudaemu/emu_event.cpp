/* emu_event.cpp: events on the emulated device. cudaEventRecord queues a marker on the
 * stream; the event completes when the marker executes (at a synchronisation point), and its
 * time is the host's clock then (meaningless as a GPU timing). Synchronising runs the stream
 * up to the marker; a query reports cudaErrorNotReady while the marker is queued (and lets the
 * queued work run, so that polling ends); elapsed time needs both events completed and timing
 * enabled; an event recorded in a capturing stream cannot be waited for (cudaErrorCapturedEvent). */
#include "emu.h"

#include <chrono>
#include <set>

struct CUstream_st;

struct EventState {
    bool recorded = false, done = false, captured = false;
    uint64_t gen = 0, seq = 0;
    CUstream_st *stream = nullptr;
    double t_ms = 0;
};
struct CUevent_st {
    unsigned flags;
    std::shared_ptr<EventState> st;
};
namespace emu
{
CUstream_st *resolve(cudaStream_t s); /* emu_stream.cpp */
void run_upto(CUstream_st *st, uint64_t seq);
bool stream_alive(const CUstream_st *st);
cudaError_t enqueue_seq(cudaStream_t s, Op op, uint64_t *seq);
static std::set<cudaEvent_t> events;
static double now_ms()
{
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

} // namespace emu

using namespace emu;

/* ---- events ----------------------------------------------------------------------------------------- */

extern "C" cudaError_t cudaEventCreateWithFlags(cudaEvent_t *ev, unsigned int flags)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    unsigned known = cudaEventBlockingSync | cudaEventDisableTiming | cudaEventInterprocess;
    if (!ev || (flags & ~known) || ((flags & cudaEventInterprocess) && !(flags & cudaEventDisableTiming)))
        return set_error(cudaErrorInvalidValue);
    cudaEvent_t x = new CUevent_st{flags, std::make_shared<EventState>()};
    events.insert(x);
    *ev = x;
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventCreate(cudaEvent_t *ev)
{
    return cudaEventCreateWithFlags(ev, 0);
}

static cudaError_t event_check(const char *api, cudaEvent_t ev)
{
    if (events.count(ev)) return cudaSuccess;
    violation(api, "%p is not a live event (never created, or destroyed)", (void *)ev);
    return set_error(cudaErrorInvalidResourceHandle);
}

extern "C" cudaError_t cudaEventRecord(cudaEvent_t ev, cudaStream_t s)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (cudaError_t e = event_check("cudaEventRecord", ev)) return e;
    std::shared_ptr<EventState> st = ev->st;
    uint64_t gen = ++st->gen;
    Op op{"cudaEventRecord", {}, [st, gen] {
              if (st->gen != gen) return;
              st->done = true;
              st->t_ms = now_ms();
          }};
    bool cap = capturing(s);
    uint64_t seq = 0;
    if (cudaError_t e = enqueue_seq(s, std::move(op), &seq)) return set_error(e);
    st->recorded = true;
    st->captured = cap;
    st->done = false;
    st->seq = seq;
    st->stream = resolve(s);
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t ev)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (cudaError_t e = event_check("cudaEventSynchronize", ev)) return e;
    EventState &st = *ev->st;
    if (st.captured) {
        violation("cudaEventSynchronize", "event %p was last recorded in a capturing stream", (void *)ev);
        return set_error(cudaErrorCapturedEvent);
    }
    if (st.recorded && !st.done && stream_alive(st.stream)) run_upto(st.stream, st.seq);
    return sticky() ? set_error(sticky()) : cudaSuccess;
}

extern "C" cudaError_t cudaEventQuery(cudaEvent_t ev)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (cudaError_t e = event_check("cudaEventQuery", ev)) return e;
    EventState &st = *ev->st;
    if (st.captured) return set_error(cudaErrorCapturedEvent);
    if (!st.recorded || st.done) return cudaSuccess;
    if (stream_alive(st.stream)) run_upto(st.stream, st.seq); /* progress */
    return cudaErrorNotReady;
}

extern "C" cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (cudaError_t e = event_check("cudaEventElapsedTime", start)) return e;
    if (cudaError_t e = event_check("cudaEventElapsedTime", end)) return e;
    if (!ms) return set_error(cudaErrorInvalidValue);
    const EventState &a = *start->st, &b = *end->st;
    if ((start->flags | end->flags) & cudaEventDisableTiming) {
        violation("cudaEventElapsedTime", "an event was created with cudaEventDisableTiming");
        return set_error(cudaErrorInvalidResourceHandle);
    }
    if (!a.recorded || !b.recorded) {
        violation("cudaEventElapsedTime", "an event was never recorded");
        return set_error(cudaErrorInvalidResourceHandle);
    }
    if (a.captured || b.captured) return set_error(cudaErrorCapturedEvent);
    if (!a.done || !b.done) return set_error(cudaErrorNotReady);
    *ms = (float)(b.t_ms - a.t_ms);
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventDestroy(cudaEvent_t ev)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (cudaError_t e = event_check("cudaEventDestroy", ev)) return e;
    events.erase(ev);
    delete ev; /* a queued record keeps its state */
    return cudaSuccess;
}
