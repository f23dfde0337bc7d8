/* emu_runtime.cpp: the CUDA runtime entry points of the emulated device other than streams,
 * events and graphs (emu_stream.cpp) and kernel launches (emu_launch.cpp): the device and its
 * properties (a plausible Hopper-class device whose name says it is emulated, memory limited
 * by CUDAEMU_MEM_BYTES, or no device at all with CUDAEMU_NO_DEVICE=1), memory allocation,
 * copies and memsets with their documented host synchronisation, and error names. */
#include "emu.h"

#include <cstdio>
#include <cstring>

using namespace emu;

static const char EMU_NAME[] = "dln emulated device (not a GPU)";

/* ---- errors ----------------------------------------------------------------------------------- */

static const struct {
    cudaError_t e;
    const char *name, *text;
} error_table[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidPitchValue, "cudaErrorInvalidPitchValue", "invalid pitch argument"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction", "invalid device function"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorIllegalState, "cudaErrorIllegalState", "the operation cannot be performed in the present state"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorIllegalInstruction, "cudaErrorIllegalInstruction", "an illegal instruction was encountered"},
    {cudaErrorMisalignedAddress, "cudaErrorMisalignedAddress", "misaligned address"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureInvalidated, "cudaErrorStreamCaptureInvalidated",
     "operation failed due to a previous error during capture"},
    {cudaErrorStreamCaptureImplicit, "cudaErrorStreamCaptureImplicit",
     "operation would make the legacy stream depend on a capturing blocking stream"},
    {cudaErrorCapturedEvent, "cudaErrorCapturedEvent",
     "operation not permitted on an event last recorded in a capturing stream"},
    {cudaErrorStreamCaptureWrongThread, "cudaErrorStreamCaptureWrongThread",
     "attempt to terminate a thread-local capture sequence from another thread"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

extern "C" const char *cudaGetErrorName(cudaError_t e)
{
    for (const auto &r : error_table)
        if (r.e == e) return r.name;
    return "unrecognized error code";
}

extern "C" const char *cudaGetErrorString(cudaError_t e)
{
    for (const auto &r : error_table)
        if (r.e == e) return r.text;
    return "unrecognized error code";
}

extern "C" cudaError_t cudaGetLastError(void)
{
    EMU_LOCK;
    return take_last();
}

extern "C" cudaError_t cudaPeekAtLastError(void)
{
    EMU_LOCK;
    return peek_last();
}

/* ---- the device -------------------------------------------------------------------------------- */

extern "C" cudaError_t cudaGetDeviceCount(int *count)
{
    EMU_LOCK;
    if (!count) return set_error(cudaErrorInvalidValue);
    *count = settings().no_device ? 0 : 1;
    return settings().no_device ? set_error(cudaErrorNoDevice) : cudaSuccess;
}

static cudaError_t device_arg(const char *api, int dev)
{
    if (cudaError_t e = entry_check()) return e;
    if (dev == 0) return cudaSuccess;
    violation(api, "device %d does not exist (the emulator has one device, 0)", dev);
    return set_error(cudaErrorInvalidDevice);
}

extern "C" cudaError_t cudaGetDevice(int *dev)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!dev) return set_error(cudaErrorInvalidValue);
    *dev = 0;
    return cudaSuccess;
}

extern "C" cudaError_t cudaSetDevice(int dev)
{
    EMU_LOCK;
    return device_arg("cudaSetDevice", dev);
}

extern "C" cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int dev)
{
    EMU_LOCK;
    if (cudaError_t e = device_arg("cudaDeviceGetAttribute", dev)) return e;
    if (!value) return set_error(cudaErrorInvalidValue);
    const Settings &s = settings();
    switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = s.cc_major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = s.cc_minor; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxBlockDimX:
    case cudaDevAttrMaxBlockDimY: *value = 1024; break;
    case cudaDevAttrMaxBlockDimZ: *value = 64; break;
    case cudaDevAttrMaxGridDimX: *value = 0x7fffffff; break;
    case cudaDevAttrMaxGridDimY:
    case cudaDevAttrMaxGridDimZ: *value = 65535; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 << 10; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    default:
        violation("cudaDeviceGetAttribute", "attribute %d is not emulated", (int)attr);
        return set_error(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

extern "C" cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int dev)
{
    EMU_LOCK;
    if (cudaError_t e = device_arg("cudaGetDeviceProperties", dev)) return e;
    if (!p) return set_error(cudaErrorInvalidValue);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", EMU_NAME);
    p->totalGlobalMem = settings().mem_total;
    p->sharedMemPerBlock = 48 << 10;
    p->sharedMemPerBlockOptin = 227 << 10;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->memPitch = (size_t)1 << 31;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->totalConstMem = 64 << 10;
    p->major = settings().cc_major;
    p->minor = settings().cc_minor;
    p->multiProcessorCount = 132;
    p->unifiedAddressing = 1;
    p->concurrentKernels = 1;
    p->asyncEngineCount = 2;
    p->maxThreadsPerMultiProcessor = 2048;
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!free_b || !total_b) return set_error(cudaErrorInvalidValue);
    *total_b = settings().mem_total;
    *free_b = settings().mem_total - mem_used();
    return cudaSuccess;
}

/* ---- memory -------------------------------------------------------------------------------------- */

extern "C" cudaError_t cudaMalloc(void **p, size_t bytes)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!p) return set_error(cudaErrorInvalidValue);
    *p = nullptr;
    if (cudaError_t e = capture_forbids("cudaMalloc")) return e;
    return set_error(alloc_mem(DEVICE, bytes, p)); /* running out is not a violation */
}

extern "C" cudaError_t cudaMallocHost(void **p, size_t bytes)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (!p) return set_error(cudaErrorInvalidValue);
    *p = nullptr;
    if (cudaError_t e = capture_forbids("cudaMallocHost")) return e;
    return set_error(alloc_mem(PINNED, bytes, p));
}

/* cudaFree only *may* synchronise (Runtime API, cudaFree): freeing memory that queued work
 * still uses is reported here, and that work then faults when it executes. */
static void warn_if_queued(const char *api, void *p);

extern "C" cudaError_t cudaFree(void *p)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (cudaError_t e = capture_forbids("cudaFree")) return e;
    warn_if_queued("cudaFree", p);
    return set_error(free_mem(DEVICE, p, "cudaFree"));
}

extern "C" cudaError_t cudaFreeHost(void *p)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    if (cudaError_t e = capture_forbids("cudaFreeHost")) return e;
    warn_if_queued("cudaFreeHost", p);
    return set_error(free_mem(PINNED, p, "cudaFreeHost"));
}

/* ---- copies ----------------------------------------------------------------------------------------- */

/* Resolves cudaMemcpyDefault and checks that each side is the memory the kind names. */
static cudaError_t copy_kind(const char *api, const void *dst, const void *src, cudaMemcpyKind *kind)
{
    if (*kind == cudaMemcpyDefault)
        *kind = tagged(src) ? (tagged(dst) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
                            : (tagged(dst) ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
    bool want_dst = *kind == cudaMemcpyHostToDevice || *kind == cudaMemcpyDeviceToDevice;
    bool want_src = *kind == cudaMemcpyDeviceToHost || *kind == cudaMemcpyDeviceToDevice;
    if (*kind < cudaMemcpyHostToHost || *kind > cudaMemcpyDeviceToDevice) {
        violation(api, "copy kind %d is not a cudaMemcpyKind", (int)*kind);
        return cudaErrorInvalidMemcpyDirection;
    }
    if ((dst && tagged(dst) != want_dst) || (src && tagged(src) != want_src)) {
        violation(api, "the pointers do not match the copy kind %d (dst %s, src %s)", (int)*kind,
                  tagged(dst) ? "device" : "host", tagged(src) ? "device" : "host");
        return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}

/* Is p pinned (page-locked) host memory? */
static bool pinned(const void *p)
{
    const Alloc *a = find_live((uintptr_t)p, false);
    return a && a->kind == PINNED;
}

/* The op copying height rows of width bytes between pitched buffers. */
static Op copy_op(const char *api, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                  size_t height, cudaMemcpyKind kind)
{
    size_t extent_d = height ? (height - 1) * dpitch + width : 0, extent_s = height ? (height - 1) * spitch + width : 0;
    bool dd = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool sd = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    return Op{api, {{"dst", dst, extent_d, dd}, {"src", src, extent_s, sd}}, [=] {
                  char *d = (char *)untag((uintptr_t)dst);
                  const char *s = (const char *)untag((uintptr_t)src);
                  for (size_t r = 0; r < height; r++)
                      memmove(d + r * dpitch, s + r * spitch, width);
              }};
}

/* Common path of the four copy entry points: checks, then executes now (synchronous
 * host <-> device copies wait for the legacy stream first) or queues on `stream`. */
static cudaError_t do_copy(const char *api, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                           size_t height, cudaMemcpyKind kind, bool async, cudaStream_t stream)
{
    if (cudaError_t e = entry_check()) return e;
    if (!async)
        if (cudaError_t e = capture_forbids(api)) return e;
    if (cudaError_t e = copy_kind(api, dst, src, &kind)) return set_error(e);
    if (width > dpitch || width > spitch) {
        violation(api, "width %zu exceeds a pitch (dpitch %zu, spitch %zu)", width, dpitch, spitch);
        return set_error(cudaErrorInvalidPitchValue);
    }
    if (width == 0 || height == 0) return cudaSuccess;
    Op op = copy_op(api, dst, dpitch, src, spitch, width, height, kind);
    if (!check_bufs(api, op.bufs, false)) return set_error(cudaErrorInvalidValue);
    bool host_side = kind != cudaMemcpyDeviceToDevice;
    if (async) {
        if (!stream_valid(stream)) {
            violation(api, "stream %p is not a live stream", (void *)stream);
            return set_error(cudaErrorInvalidResourceHandle);
        }
        if (capturing(stream) && host_side &&
            ((kind != cudaMemcpyHostToDevice && !pinned(dst)) || (kind != cudaMemcpyDeviceToHost && !pinned(src)))) {
            violation(api, "a copy with pageable host memory cannot be captured; the capture is invalidated");
            invalidate_capture(stream, api);
            return set_error(cudaErrorStreamCaptureUnsupported);
        }
        return set_error(enqueue(stream, std::move(op)));
    }
    if (kind == cudaMemcpyDeviceToDevice) return set_error(enqueue(nullptr, std::move(op))); /* no host sync */
    sync_legacy();
    if (sticky()) return set_error(sticky());
    exec_op(op);
    return sticky() ? set_error(sticky()) : cudaSuccess;
}

extern "C" cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
    EMU_LOCK;
    return do_copy("cudaMemcpy", dst, n, src, n, n, 1, kind, false, nullptr);
}

extern "C" cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind, cudaStream_t s)
{
    EMU_LOCK;
    return do_copy("cudaMemcpyAsync", dst, n, src, n, n, 1, kind, true, s);
}

extern "C" cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                    size_t height, enum cudaMemcpyKind kind)
{
    EMU_LOCK;
    return do_copy("cudaMemcpy2D", dst, dpitch, src, spitch, width, height, kind, false, nullptr);
}

extern "C" cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                         size_t height, enum cudaMemcpyKind kind, cudaStream_t s)
{
    EMU_LOCK;
    return do_copy("cudaMemcpy2DAsync", dst, dpitch, src, spitch, width, height, kind, true, s);
}

static cudaError_t do_memset(const char *api, void *p, int value, size_t n, cudaStream_t s)
{
    if (cudaError_t e = entry_check()) return e;
    Op op{api, {{"devPtr", p, n, true}}, [=] { memset(host_view((char *)p), value, n); }};
    if (n == 0) return cudaSuccess;
    if (!check_bufs(api, op.bufs, false)) return set_error(cudaErrorInvalidValue);
    return set_error(enqueue(s, std::move(op)));
}

extern "C" cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t s)
{
    EMU_LOCK;
    return do_memset("cudaMemsetAsync", p, value, n, s);
}

/* Device memory: asynchronous with respect to the host, on the legacy stream. */
extern "C" cudaError_t cudaMemset(void *p, int value, size_t n)
{
    EMU_LOCK;
    return do_memset("cudaMemset", p, value, n, nullptr);
}

namespace emu
{
bool queued_uses(uintptr_t lo, uintptr_t hi, std::string *api); /* emu_stream.cpp */
}

static void warn_if_queued(const char *api, void *p)
{
    const Alloc *a = p ? find_live(untag((uintptr_t)p), false) : nullptr;
    std::string user;
    if (a && a->base == untag((uintptr_t)p) && queued_uses(a->base, a->base + a->size, &user))
        violation(api, "%p is still used by queued work (%s) that has not executed: cudaFree only may synchronise", p,
                  user.c_str());
}
