/* emu_launch.cpp: kernel launches on the emulated device. A launch is checked against the
 * device's limits (block <= 1024 threads, 1024 x 1024 x 64, grid 2^31-1 x 65535 x 65535, no
 * zero dimension, dynamic shared memory <= 48 KiB): a bad configuration is recorded for
 * cudaGetLastError, as the runtime does, and nothing is queued. At execution the pointer
 * arguments must lie in live device memory (else a sticky cudaErrorIllegalAddress). Blocks run
 * one at a time (so __shared__ can be block-wide static storage, poisoned with 0xFF before
 * each block), in forward, reverse or seeded random order (CUDAEMU_SCHED), and a block's
 * threads run either as fibers (default: x86-64 context switch, threads resumed in the same
 * order after each __syncthreads) or as a pool of pthreads meeting at a barrier
 * (CUDAEMU_THREADS=threads, the mode ThreadSanitizer can see). A __syncthreads that not every
 * thread of the block reaches (one exited, or waits at another one) is a launch failure. */
#include "emu.h"

#include "cudaemu_kernel.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <numeric>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define ASAN_START(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define ASAN_FINISH(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define ASAN_START(save, bottom, size) ((void)0)
#define ASAN_FINISH(save, bottom, size) ((void)0)
#endif

thread_local const cudaemu_ctx *cudaemu_cur = nullptr;

extern "C" char __start_cudaemu_shared[] __attribute__((weak));
extern "C" char __stop_cudaemu_shared[] __attribute__((weak));

using namespace emu;

namespace
{

enum State { READY, WAITING, DONE };
const int MAX_THREADS = 1024;

/* What the running block reports back: the first barrier error, if any. */
struct BlockResult {
    bool failed = false;
    char what[300] = "";
};

__attribute__((format(printf, 2, 3))) void block_fail(BlockResult *r, const char *fmt, ...)
{
    if (r->failed) return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->what, sizeof r->what, fmt, ap);
    va_end(ap);
}

/* ---- fibers ---------------------------------------------------------------------------------- */

struct Fiber {
    void *sp;
    char *stack_lo;
    size_t stack_size;
    State state;
    const char *file;
    int line;
    cudaemu_ctx ctx;
    void *fake; /* AddressSanitizer's fake stack while switched out */
};

Fiber fibers[MAX_THREADS];
char *stack_region = nullptr;
void *sched_sp = nullptr;
const std::function<void()> *fiber_body = nullptr;
[[maybe_unused]] const void *sched_bottom = nullptr;
[[maybe_unused]] size_t sched_size = 0;

} // namespace

#if !defined(__x86_64__)
#error "the emulator's fibers switch stacks with x86-64 code; use CUDAEMU_THREADS=threads builds elsewhere"
#endif

extern "C" void cudaemu_swap(void **save_sp, void *new_sp);
extern "C" void cudaemu_trampoline(void);
/* Saves the callee-saved registers, MXCSR and the x87 control word on the current stack,
 * stores the stack pointer in *save_sp, switches to new_sp and restores the same from there. */
asm(R"(
    .text
    .globl cudaemu_swap
    .type cudaemu_swap, @function
cudaemu_swap:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    stmxcsr 8(%rsp)
    fnstcw (%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr 8(%rsp)
    fldcw (%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cudaemu_swap, .-cudaemu_swap
    .globl cudaemu_trampoline
    .type cudaemu_trampoline, @function
cudaemu_trampoline:
    movq %rbx, %rdi
    call cudaemu_fiber_main
    ud2
    .size cudaemu_trampoline, .-cudaemu_trampoline
)");

extern "C" void cudaemu_fiber_main(Fiber *f)
{
    ASAN_FINISH(nullptr, &sched_bottom, &sched_size);
    cudaemu_cur = &f->ctx;
    (*fiber_body)();
    f->state = DONE;
    ASAN_START(nullptr, sched_bottom, sched_size); /* this fiber's frames are gone for good */
    cudaemu_swap(&f->sp, sched_sp);
    __builtin_unreachable();
}

namespace
{

size_t stack_bytes()
{
#if defined(__SANITIZE_ADDRESS__)
    return (size_t)256 << 10;
#else
    return (size_t)64 << 10;
#endif
}

void fibers_init()
{
    if (stack_region) return;
    size_t each = stack_bytes() + 4096, total = each * MAX_THREADS;
    void *m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        perror("cudaemu: mmap of the fiber stacks");
        abort();
    }
    stack_region = (char *)m;
    for (int i = 0; i < MAX_THREADS; i++) {
        mprotect(stack_region + i * each, 4096, PROT_NONE); /* overflow guard below each stack */
        fibers[i].stack_lo = stack_region + i * each + 4096;
        fibers[i].stack_size = stack_bytes();
    }
}

void fiber_start(Fiber *f)
{
    uintptr_t top = ((uintptr_t)(f->stack_lo + f->stack_size)) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 88); /* layout of cudaemu_swap's saved frame */
    sp[0] = 0x037f;                        /* x87 control word */
    sp[1] = 0x1f80;                        /* MXCSR */
    for (int r = 2; r <= 7; r++)
        sp[r] = 0;                  /* r15 r14 r13 r12 rbx rbp */
    sp[6] = (uint64_t)(uintptr_t)f; /* rbx: the trampoline's argument */
    sp[8] = (uint64_t)(uintptr_t)cudaemu_trampoline;
    f->sp = sp;
    f->state = READY;
    f->fake = nullptr;
}

void order(std::vector<int> &v, int n)
{
    v.resize(n);
    std::iota(v.begin(), v.end(), 0);
    if (settings().sched == 1) std::reverse(v.begin(), v.end());
    if (settings().sched == 2)
        for (int i = n - 1; i > 0; i--)
            std::swap(v[i], v[rand_u64() % (uint64_t)(i + 1)]);
}

void run_block_fibers(int nthreads, const std::function<void()> &body, BlockResult *res)
{
    fibers_init();
    fiber_body = &body;
    std::vector<int> seq;
    for (int i = 0; i < nthreads; i++)
        fiber_start(&fibers[i]);
    for (;;) {
        order(seq, nthreads);
        for (int i : seq) {
            Fiber *f = &fibers[i];
            if (f->state != READY) continue;
            [[maybe_unused]] void *fake = nullptr;
            ASAN_START(&fake, f->stack_lo, f->stack_size);
            cudaemu_swap(&sched_sp, f->sp);
            ASAN_FINISH(fake, nullptr, nullptr);
        }
        int waiting = 0, done = 0, first = -1;
        for (int i = 0; i < nthreads; i++) {
            if (fibers[i].state == WAITING && first < 0) first = i;
            waiting += fibers[i].state == WAITING;
            done += fibers[i].state == DONE;
        }
        if (!waiting) return;
        const Fiber &w = fibers[first];
        if (done) {
            block_fail(res,
                       "__syncthreads at %s:%d is waited at by %d threads while %d threads of the block have exited",
                       w.file, w.line, waiting, done);
            return;
        }
        for (int i = 0; i < nthreads; i++)
            if (fibers[i].line != w.line || strcmp(fibers[i].file, w.file) != 0) {
                block_fail(res, "divergent __syncthreads: thread %d waits at %s:%d, thread %d at %s:%d", first, w.file,
                           w.line, i, fibers[i].file, fibers[i].line);
                return;
            }
        for (int i = 0; i < nthreads; i++)
            fibers[i].state = READY;
    }
}

void fiber_sync(const char *file, int line)
{
    Fiber *f = (Fiber *)((const char *)cudaemu_cur - offsetof(Fiber, ctx));
    f->state = WAITING;
    f->file = file;
    f->line = line;
    ASAN_START(&f->fake, sched_bottom, sched_size);
    cudaemu_swap(&f->sp, sched_sp);
    ASAN_FINISH(f->fake, &sched_bottom, &sched_size);
    cudaemu_cur = &f->ctx;
}

/* ---- a pool of threads with a barrier ------------------------------------------------------------ */

struct Pool {
    std::mutex m;
    std::condition_variable start_cv, done_cv, bar_cv;
    std::vector<std::thread> workers;
    cudaemu_ctx ctx[MAX_THREADS];
    uint64_t gen = 0, bar_gen = 0;
    int n = 0, finished = 0, exited = 0, arrived = 0;
    const char *bar_file = nullptr;
    int bar_line = 0;
    const std::function<void()> *body = nullptr;
    BlockResult *res = nullptr;
};
Pool *pool = nullptr;
pid_t pool_pid = 0; /* a pool inherited through fork() has no threads in the child */
thread_local bool in_pool = false;

void pool_worker(int idx)
{
    in_pool = true;
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(pool->m);
    for (;;) {
        pool->start_cv.wait(lk, [&] { return pool->gen != seen; });
        seen = pool->gen;
        if (idx >= pool->n) continue;
        const std::function<void()> *body = pool->body;
        lk.unlock();
        cudaemu_cur = &pool->ctx[idx];
        (*body)();
        lk.lock();
        pool->exited++;
        if (pool->arrived > 0) { /* others wait at a barrier this thread will never reach */
            block_fail(pool->res,
                       "__syncthreads at %s:%d is waited at by %d threads while %d threads of the block have exited",
                       pool->bar_file, pool->bar_line, pool->arrived, pool->exited);
        }
        if (pool->arrived > 0 && pool->arrived >= pool->n - pool->exited) {
            pool->arrived = 0;
            pool->bar_gen++;
            pool->bar_cv.notify_all();
        }
        if (++pool->finished == pool->n) pool->done_cv.notify_all();
    }
}

void run_block_threads(int nthreads, const std::function<void()> &body, BlockResult *res)
{
    if (!pool || pool_pid != getpid()) { /* lives for the process: its workers never exit */
        pool = new Pool;
        pool_pid = getpid();
    }
    std::unique_lock<std::mutex> lk(pool->m);
    while ((int)pool->workers.size() < nthreads) {
        pool->workers.emplace_back(pool_worker, (int)pool->workers.size());
        pool->workers.back().detach();
    }
    for (int i = 0; i < nthreads; i++)
        pool->ctx[i] = fibers[i].ctx;
    pool->n = nthreads;
    pool->finished = pool->exited = pool->arrived = 0;
    pool->body = &body;
    pool->res = res;
    pool->gen++;
    pool->start_cv.notify_all();
    pool->done_cv.wait(lk, [&] { return pool->finished == nthreads; });
}

void pool_sync(const char *file, int line)
{
    std::unique_lock<std::mutex> lk(pool->m);
    if (pool->exited > 0)
        block_fail(pool->res,
                   "__syncthreads at %s:%d is waited at by %d threads while %d threads of the block have exited", file,
                   line, pool->arrived + 1, pool->exited);
    if (pool->arrived == 0) {
        pool->bar_file = file;
        pool->bar_line = line;
    } else if (pool->bar_line != line || strcmp(pool->bar_file, file) != 0) {
        block_fail(pool->res, "divergent __syncthreads: threads wait at %s:%d and at %s:%d", pool->bar_file,
                   pool->bar_line, file, line);
    }
    uint64_t g = pool->bar_gen;
    if (++pool->arrived >= pool->n - pool->exited) {
        pool->arrived = 0;
        pool->bar_gen++;
        pool->bar_cv.notify_all();
        return;
    }
    pool->bar_cv.wait(lk, [&] { return pool->bar_gen != g; });
}

} // namespace

void cudaemu_syncthreads(const char *file, int line)
{
    if (in_pool)
        pool_sync(file, line);
    else
        fiber_sync(file, line);
}

namespace emu
{

void run_kernel_blocks(const char *name, dim3 grid, dim3 block, const std::function<void()> &body)
{
    int nthreads = (int)(block.x * block.y * block.z);
    long long nblocks = (long long)grid.x * grid.y * grid.z;
    size_t shared = __start_cudaemu_shared ? (size_t)(__stop_cudaemu_shared - __start_cudaemu_shared) : 0;
    std::vector<long long> blocks((size_t)nblocks);
    std::iota(blocks.begin(), blocks.end(), 0LL);
    if (settings().sched == 1) std::reverse(blocks.begin(), blocks.end());
    if (settings().sched == 2)
        for (long long i = nblocks - 1; i > 0; i--)
            std::swap(blocks[i], blocks[rand_u64() % (uint64_t)(i + 1)]);
    BlockResult res;
    for (long long b : blocks) {
        uint3 bid{(unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y),
                  (unsigned)(b / ((long long)grid.x * grid.y))};
        for (int t = 0; t < nthreads; t++)
            fibers[t].ctx = cudaemu_ctx{
                {(unsigned)(t % block.x), (unsigned)(t / block.x % block.y), (unsigned)(t / (block.x * block.y))},
                bid,
                block,
                grid};
        if (shared) memset(__start_cudaemu_shared, 0xFF, shared); /* shared memory starts as garbage */
        if (settings().threads_mode)
            run_block_threads(nthreads, body, &res);
        else
            run_block_fibers(nthreads, body, &res);
        if (res.failed) {
            violation(name, "block (%u,%u,%u): %s", bid.x, bid.y, bid.z, res.what);
            set_sticky(cudaErrorLaunchFailure);
            return;
        }
    }
}

} // namespace emu

cudaError_t cudaemu_detail::launch(const char *name, dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
                                   std::vector<const void *> pointers, std::function<std::function<void()>()> prepare)
{
    EMU_LOCK;
    if (cudaError_t e = entry_check()) return e;
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z || threads > 1024 || block.x > 1024 ||
        block.y > 1024 || block.z > 64 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 ||
        shmem > 48 * 1024) {
        violation(name,
                  "invalid launch configuration: grid (%u,%u,%u), block (%u,%u,%u), %zu bytes of dynamic shared memory",
                  grid.x, grid.y, grid.z, block.x, block.y, block.z, shmem);
        if (capturing(stream)) invalidate_capture(stream, name);
        return set_error(cudaErrorInvalidConfiguration);
    }
    if (!stream_valid(stream)) {
        violation(name, "stream %p is not a live stream", (void *)stream);
        return set_error(cudaErrorInvalidResourceHandle);
    }
    Op op;
    op.api = std::string("kernel ") + name;
    static const char *const argn[] = {"pointer argument 1", "pointer argument 2", "pointer argument 3",
                                       "pointer argument 4", "pointer argument 5", "pointer argument 6",
                                       "pointer argument 7", "pointer argument 8"};
    for (size_t i = 0; i < pointers.size(); i++)
        if (pointers[i]) op.bufs.push_back(Buf{argn[i < 8 ? i : 7], pointers[i], 0, true});
    std::string label = name;
    op.run = [label, grid, block, prepare] {
        std::function<void()> body = prepare();
        run_kernel_blocks(label.c_str(), grid, block, body);
    };
    return set_error(enqueue(stream, std::move(op)));
}
