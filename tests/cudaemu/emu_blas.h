/* emu_blas.h: what the two files of the emulated cuBLAS share (emu_blas.cpp: handles and modes;
 * emu_blas_gemm.cpp: gemm, GemmEx, strided-batched GEMMs, geam): the handle's state, the live
 * handle check, argument-error helpers and the scalar arguments of the pointer modes. */
#ifndef CUDAEMU_EMU_BLAS_H
#define CUDAEMU_EMU_BLAS_H

#include "emu.h"

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasPointerMode_t pmode = CUBLAS_POINTER_MODE_HOST;
    cublasAtomicsMode_t amode = CUBLAS_ATOMICS_NOT_ALLOWED;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
    void *ws = nullptr; /* user workspace (device), when set */
    size_t ws_bytes = 0;
    bool ws_user = false;
};

namespace emu
{
/* Is h a live handle? Else a violation naming api. */
bool blas_live(const char *api, cublasHandle_t h);
} // namespace emu

#define HANDLE(api)                                                                                                    \
    EMU_LOCK;                                                                                                          \
    if (!emu::blas_live(api, h)) return CUBLAS_STATUS_NOT_INITIALIZED

#define BAD(api, ...)                                                                                                  \
    do {                                                                                                               \
        emu::violation(api, __VA_ARGS__);                                                                              \
        return CUBLAS_STATUS_INVALID_VALUE;                                                                            \
    } while (0)

/* ---- scalars and argument helpers ----------------------------------------------------------- */

namespace emu
{

/* A scalar argument: by value in host pointer mode (read now), else a device address
 * read when the work executes. */
template <typename T> struct Scalar {
    T value;
    const T *dev;
    T get() const { return dev ? *host_view(dev) : value; }
    bool known_zero() const { return !dev && value == T(0); }
};

template <typename T>
inline bool scalar(const char *api, const char *name, cublasHandle_t h, const void *p, Scalar<T> *s,
                   std::vector<Buf> *bufs)
{
    if (!p) {
        violation(api, "%s is NULL", name);
        return false;
    }
    if (h->pmode == CUBLAS_POINTER_MODE_HOST) {
        if (tagged(p)) {
            violation(api, "%s = %p is device memory but the pointer mode is CUBLAS_POINTER_MODE_HOST", name, p);
            return false;
        }
        *s = Scalar<T>{*(const T *)p, nullptr};
        return true;
    }
    *s = Scalar<T>{T(0), (const T *)p};
    bufs->push_back(Buf{name, p, sizeof(T), true});
    return true;
}

inline bool op_ok(cublasOperation_t t)
{
    return t == CUBLAS_OP_N || t == CUBLAS_OP_T || t == CUBLAS_OP_C;
}
inline int imax1(long long a)
{
    return a > 1 ? (int)a : 1;
}

} // namespace emu

#endif
