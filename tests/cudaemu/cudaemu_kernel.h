/* cudaemu_kernel.h: forced-include header (g++ -include) that lets the kernels (kernels/, .cu)
 * compile as plain C++ for the emulated device (tests/cudaemu/README.md). It defines the CUDA keywords
 * (__global__, __device__, __host__, __forceinline__, __launch_bounds__ vanish; __shared__
 * becomes block-wide static storage in the section "cudaemu_shared", which the emulator fills
 * with 0xFF before every block), the built-in indices (threadIdx, blockIdx, blockDim, gridDim:
 * the emulated thread's own), __syncthreads (a barrier that also checks every thread reaches
 * the same one) and cudaemu_launch, which kernels/launch.h's DLN_LAUNCH expands to: it converts
 * the arguments to the kernel's parameter types as a <<<>>> launch does, keeps them by value,
 * and queues the launch on the stream; launch errors are reported through cudaGetLastError. */
#ifndef CUDAEMU_KERNEL_H
#define CUDAEMU_KERNEL_H

#ifndef __cplusplus
#error "cudaemu_kernel.h is for kernels compiled as C++ (g++ -x c++)"
#endif
#ifdef __CUDACC__
#error "cudaemu_kernel.h is for the emulated build; nvcc builds the real kernels"
#endif

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define DLN_CUDA_EMU 1

#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __host__
#define __host__
#undef __forceinline__
#define __forceinline__ inline
#undef __launch_bounds__
#define __launch_bounds__(...)
#undef __shared__
#define __shared__ __attribute__((section("cudaemu_shared"))) static

/* The running emulated thread (one per fiber or per pool thread). */
struct cudaemu_ctx {
    uint3 tid, bid;
    dim3 bdim, gdim;
};
extern thread_local const cudaemu_ctx *cudaemu_cur;
#define threadIdx (cudaemu_cur->tid)
#define blockIdx (cudaemu_cur->bid)
#define blockDim (cudaemu_cur->bdim)
#define gridDim (cudaemu_cur->gdim)

void cudaemu_syncthreads(const char *file, int line);
#define __syncthreads() cudaemu_syncthreads(__FILE__, __LINE__)

namespace cudaemu_detail
{
/* Checks the configuration (errors go to cudaGetLastError) and queues the launch; at
 * execution the pointer arguments are checked against live device memory, then prepare()
 * returns the per-thread body with the pointers untagged. */
cudaError_t launch(const char *name, dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
                   std::vector<const void *> pointers, std::function<std::function<void()>()> prepare);

template <typename T> T untag_arg(T v)
{
    if constexpr (std::is_pointer_v<T>)
        return (T)((uintptr_t)v & ~((uintptr_t)1 << 62));
    else
        return v;
}
} // namespace cudaemu_detail

template <typename... P, typename... A>
void cudaemu_launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
                    A &&...args)
{
    static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
    using Params = std::tuple<std::decay_t<P>...>;
    Params params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
    std::vector<const void *> pointers;
    std::apply(
        [&](const auto &...v) {
            (
                [&] {
                    if constexpr (std::is_pointer_v<std::decay_t<decltype(v)>>) pointers.push_back((const void *)v);
                }(),
                ...);
        },
        params);
    cudaemu_detail::launch(name, grid, block, shmem, stream, std::move(pointers), [kernel, params] {
        Params host = std::apply([](auto... v) { return Params(cudaemu_detail::untag_arg(v)...); }, params);
        return std::function<void()>([kernel, host] { std::apply(kernel, host); });
    });
}

#endif
