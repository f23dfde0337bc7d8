/* emu_blas.cpp: the emulated cuBLAS's handle and its settings, checked as the cuBLAS guide
 * documents them: life cycle (cublasDestroy synchronises the device; neither call inside a
 * capture), stream (which resets the workspace to the default pool), workspace (256-byte aligned
 * device memory in one live allocation), pointer, atomics and math modes, status names and
 * strings. The computing calls are in emu_blas_gemm.cpp. */
#include "emu_blas.h"

#include <set>

using namespace emu;

static std::set<cublasHandle_t> handles;

bool emu::blas_live(const char *api, cublasHandle_t h)
{
    if (handles.count(h)) return true;
    violation(api, "handle %p is not a live cuBLAS handle (never created, or destroyed)", (void *)h);
    return false;
}

extern "C" cublasStatus_t cublasCreate_v2(cublasHandle_t *out)
{
    EMU_LOCK;
    if (!out) return CUBLAS_STATUS_INVALID_VALUE;
    *out = nullptr;
    if (entry_check() != cudaSuccess) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (capture_forbids("cublasCreate")) return CUBLAS_STATUS_NOT_INITIALIZED;
    cublasHandle_t h = new cublasContext;
    handles.insert(h);
    *out = h;
    return CUBLAS_STATUS_SUCCESS;
}

/* cublasDestroy implicitly calls cudaDeviceSynchronize (cuBLAS guide, cublasDestroy). */
extern "C" cublasStatus_t cublasDestroy_v2(cublasHandle_t h)
{
    HANDLE("cublasDestroy");
    if (capture_forbids("cublasDestroy")) return CUBLAS_STATUS_INTERNAL_ERROR;
    sync_device();
    handles.erase(h);
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

/* Also resets the workspace to the default pool (cuBLAS guide, cublasSetStream). */
extern "C" cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s)
{
    HANDLE("cublasSetStream");
    if (!stream_valid(s)) BAD("cublasSetStream", "stream %p is not a live stream", (void *)s);
    h->stream = s;
    h->ws = nullptr;
    h->ws_bytes = 0;
    h->ws_user = false;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetStream_v2(cublasHandle_t h, cudaStream_t *s)
{
    HANDLE("cublasGetStream");
    if (!s) return CUBLAS_STATUS_INVALID_VALUE;
    *s = h->stream;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void *ws, size_t bytes)
{
    HANDLE("cublasSetWorkspace");
    if (ws && ((uintptr_t)untag((uintptr_t)ws) % 256))
        BAD("cublasSetWorkspace", "workspace %p is not aligned to 256 bytes", ws);
    if (bytes && !check_bufs("cublasSetWorkspace", {{"workspace", ws, bytes, true}}, false))
        return CUBLAS_STATUS_INVALID_VALUE;
    h->ws = ws;
    h->ws_bytes = bytes;
    h->ws_user = true;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t h, cublasPointerMode_t mode)
{
    HANDLE("cublasSetPointerMode");
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE)
        BAD("cublasSetPointerMode", "mode %d is not a cublasPointerMode_t", (int)mode);
    h->pmode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetPointerMode_v2(cublasHandle_t h, cublasPointerMode_t *mode)
{
    HANDLE("cublasGetPointerMode");
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = h->pmode;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetAtomicsMode(cublasHandle_t h, cublasAtomicsMode_t mode)
{
    HANDLE("cublasSetAtomicsMode");
    if (mode != CUBLAS_ATOMICS_NOT_ALLOWED && mode != CUBLAS_ATOMICS_ALLOWED)
        BAD("cublasSetAtomicsMode", "mode %d is not a cublasAtomicsMode_t", (int)mode);
    h->amode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode)
{
    HANDLE("cublasSetMathMode");
    unsigned base = (unsigned)mode & 0xf, flags = (unsigned)mode & ~0xfu;
    if (base > CUBLAS_TF32_TENSOR_OP_MATH || (flags & ~(unsigned)CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION))
        BAD("cublasSetMathMode", "mode %#x is not a cublasMath_t", (unsigned)mode);
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *mode)
{
    HANDLE("cublasGetMathMode");
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = h->math;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" const char *cublasGetStatusName(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

extern "C" const char *cublasGetStatusString(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "error detected trying to check the license";
    }
    return "unknown error";
}
