/* launch.h: the one way the kernels (the .cu files in this folder) launch a kernel. DLN_LAUNCH(kernel, grid, block, shmem,
 * stream, args...) is `kernel<<<grid, block, shmem, stream>>>(args...)` under nvcc; in the
 * emulated build (g++ with tests/cudaemu/cudaemu_kernel.h force-included, which defines
 * DLN_CUDA_EMU) it queues the launch on the emulated device instead. Either way it is a
 * statement with no value: check the launch with cudaGetLastError() afterwards. */
#ifndef DLN_LAUNCH_H
#define DLN_LAUNCH_H

#if defined(__CUDACC__)
#define DLN_LAUNCH(kernel, grid, block, shmem, stream, ...) kernel<<<grid, block, shmem, stream>>>(__VA_ARGS__)
#elif defined(DLN_CUDA_EMU)
#define DLN_LAUNCH(kernel, grid, block, shmem, stream, ...)                                       \
    cudaemu_launch(#kernel, kernel, grid, block, shmem, stream, __VA_ARGS__)
#else
#error "the kernels are compiled by nvcc, or by g++ for the emulated device (tests/cudaemu)"
#endif

#endif
