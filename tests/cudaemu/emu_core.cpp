/* emu_core.cpp: the emulated device's process-wide state: settings read once from the
 * environment (README.md lists them), the seeded random generator, diagnostics, the runtime's
 * last and sticky errors, and device memory. Device memory is host memory mapped with a
 * PROT_NONE guard page right after it, filled with 0xFF bytes (NaN in fp32 and fp64) and
 * handed out with the TAG bit set; freed blocks stay PROT_NONE in a quarantine so that a
 * stale pointer faults, and their records stay so that a late use is named. Every buffer an
 * API call names is checked here against the live allocations. */
#include "emu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>

namespace emu
{

/* ---- settings ----------------------------------------------------------------------------- */

static const char *env(const char *name)
{
    return getenv(name);
}

static bool env_flag(const char *name)
{
    const char *v = env(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* "123", "64M", "16G": bytes (0 when absent or malformed). */
static size_t env_bytes(const char *name)
{
    const char *v = env(name);
    if (!v || !*v) return 0;
    char *end = nullptr;
    unsigned long long n = strtoull(v, &end, 10);
    switch (end && *end ? *end : 0) {
    case 'k':
    case 'K': n <<= 10; break;
    case 'm':
    case 'M': n <<= 20; break;
    case 'g':
    case 'G': n <<= 30; break;
    case 0: break;
    default: fprintf(stderr, "cudaemu: %s=%s is not a byte count (digits, optional K/M/G)\n", name, v); abort();
    }
    return (size_t)n;
}

static Settings read_settings()
{
    Settings s{};
    const char *seed = env("CUDAEMU_SEED");
    if (seed && *seed) {
        s.seed = strtoull(seed, nullptr, 10);
        s.seed_given = true;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s.seed = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 12)) % 1000000007ull;
    }
    s.no_device = env_flag("CUDAEMU_NO_DEVICE");
    s.mem_total = env_bytes("CUDAEMU_MEM_BYTES");
    if (!s.mem_total) s.mem_total = (size_t)16 << 30;
    s.cc_major = 9;
    s.cc_minor = 0;
    if (const char *cc = env("CUDAEMU_CC")) {
        if (sscanf(cc, "%d.%d", &s.cc_major, &s.cc_minor) != 2 || s.cc_major < 5) {
            fprintf(stderr, "cudaemu: CUDAEMU_CC=%s: expected MAJOR.MINOR, e.g. 9.0\n", cc);
            abort();
        }
    }
    const char *signs = env("CUDAEMU_SVD_SIGNS");
    s.svd_random_signs = !(signs && strcmp(signs, "lapack") == 0);
    s.gemm_jitter = env_flag("CUDAEMU_GEMM_JITTER");
    const char *mode = env("CUDAEMU_THREADS");
    s.threads_mode = mode && strcmp(mode, "threads") == 0;
#if defined(__SANITIZE_THREAD__)
    s.threads_mode = true; /* fibers are invisible to ThreadSanitizer */
#endif
    const char *sched = env("CUDAEMU_SCHED");
    s.sched = !sched ? 2 : !strcmp(sched, "forward") ? 0 : !strcmp(sched, "reverse") ? 1 : 2;
    s.verbose = env_flag("CUDAEMU_VERBOSE");
    s.abort_on_violation = env_flag("CUDAEMU_ABORT");
    if (s.verbose)
        fprintf(stderr, "cudaemu: pid %d seed %llu%s (replay with CUDAEMU_SEED=%llu)\n", (int)getpid(),
                (unsigned long long)s.seed, s.seed_given ? " (from CUDAEMU_SEED)" : "", (unsigned long long)s.seed);
    return s;
}

const Settings &settings()
{
    static const Settings s = read_settings();
    return s;
}

std::recursive_mutex &big_lock()
{
    static std::recursive_mutex m;
    return m;
}

void violation(const char *api, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cudaemu: %s: %s [CUDAEMU_SEED=%llu]\n", api, msg, (unsigned long long)settings().seed);
    fflush(stderr);
    if (settings().abort_on_violation) abort();
}

void note(const char *fmt, ...)
{
    if (!settings().verbose) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("cudaemu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- random numbers ------------------------------------------------------------------------ */

uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t rand_u64()
{
    static uint64_t state = 0;
    static bool seeded = false;
    if (!seeded) {
        state = settings().seed * 0x2545f4914f6cdd1dull + 1;
        seeded = true;
    }
    state += 0x9e3779b97f4a7c15ull;
    return mix64(state);
}

uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return mix64(h);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static thread_local cudaError_t last_error = cudaSuccess;
static cudaError_t sticky_error = cudaSuccess;

cudaError_t set_error(cudaError_t e)
{
    if (e != cudaSuccess) last_error = e;
    return e;
}
cudaError_t sticky()
{
    return sticky_error;
}
void set_sticky(cudaError_t e)
{
    if (sticky_error == cudaSuccess) sticky_error = e;
    last_error = e;
}
cudaError_t peek_last()
{
    return sticky_error != cudaSuccess ? sticky_error : last_error;
}
cudaError_t take_last()
{
    cudaError_t e = peek_last();
    last_error = cudaSuccess;
    return e;
}
cudaError_t entry_check()
{
    if (settings().no_device) return set_error(cudaErrorNoDevice);
    if (sticky_error != cudaSuccess) return set_error(sticky_error);
    return cudaSuccess;
}

/* ---- memory ------------------------------------------------------------------------------------ */

static std::map<uintptr_t, Alloc> live; /* by base */
static std::deque<Alloc> freed;         /* quarantined, newest last */
static size_t quarantine_bytes = 0, used_bytes = 0;
static uint64_t serials = 0;
static const size_t QUARANTINE_MAX = (size_t)8 << 30; /* address space only */

static size_t page()
{
    return (size_t)sysconf(_SC_PAGESIZE);
}
static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

cudaError_t alloc_mem(AllocKind kind, size_t bytes, void **out)
{
    *out = nullptr;
    if (bytes == 0) return cudaSuccess;
    if (kind == DEVICE && bytes > settings().mem_total - used_bytes) return cudaErrorMemoryAllocation;
    size_t pg = page(), body = round_up(bytes, pg);
    if (body < bytes || body > ((size_t)1 << 46)) return cudaErrorMemoryAllocation;
    size_t len = body + pg;
    void *map = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) return cudaErrorMemoryAllocation;
    char *guard = (char *)map + body;
    if (mprotect(guard, pg, PROT_NONE) != 0) {
        munmap(map, len);
        return cudaErrorMemoryAllocation;
    }
    size_t span = round_up(bytes, 256); /* 256-byte aligned start, end within 255 bytes of the guard */
    char *start = guard - span;
    memset(start, 0xFF, span);
    Alloc a{(uintptr_t)start, bytes, map, len, kind, ++serials};
    live[a.base] = a;
    if (kind == DEVICE) used_bytes += bytes;
    *out = kind == DEVICE ? (void *)(a.base | TAG) : (void *)a.base;
    return cudaSuccess;
}

static void quarantine(const Alloc &a)
{
    madvise(a.map, a.map_size, MADV_DONTNEED);
    mprotect(a.map, a.map_size, PROT_NONE);
    freed.push_back(a);
    quarantine_bytes += a.map_size;
    while (freed.size() > 1 && (quarantine_bytes > QUARANTINE_MAX || freed.size() > 8192)) {
        munmap(freed.front().map, freed.front().map_size);
        quarantine_bytes -= freed.front().map_size;
        freed.pop_front();
    }
}

static const char *kind_name(AllocKind k)
{
    return k == DEVICE ? "device" : "pinned host";
}

cudaError_t free_mem(AllocKind kind, void *p, const char *api)
{
    if (!p) return cudaSuccess;
    if (kind == DEVICE && !tagged(p)) {
        violation(api, "%p is not a device pointer (a host pointer, or one stripped of its tag)", p);
        return cudaErrorInvalidValue;
    }
    if (kind == PINNED && tagged(p)) {
        violation(api, "%p is a device pointer (cudaMalloc'd memory is freed by cudaFree)", p);
        return cudaErrorInvalidValue;
    }
    uintptr_t a = untag((uintptr_t)p);
    auto it = live.find(a);
    if (it == live.end() || it->second.kind != kind) {
        const Alloc *in = find_live(a, false);
        if (in && in->kind == kind)
            violation(api, "%p is %zu bytes into a %zu-byte allocation, not its start", p, (size_t)(a - in->base),
                      in->size);
        else
            violation(api, "%p: %s", p, describe_dead(a).c_str());
        return cudaErrorInvalidValue;
    }
    Alloc rec = it->second;
    live.erase(it);
    if (kind == DEVICE) used_bytes -= rec.size;
    quarantine(rec);
    return cudaSuccess;
}

size_t mem_used()
{
    return used_bytes;
}

const Alloc *find_live(uintptr_t a, bool end_ok)
{
    auto it = live.upper_bound(a);
    if (it == live.begin()) return nullptr;
    --it;
    const Alloc &r = it->second;
    if (a < r.base + r.size || (end_ok && a == r.base + r.size)) return &r;
    return nullptr;
}

std::string describe_dead(uintptr_t a)
{
    char buf[200];
    for (auto it = freed.rbegin(); it != freed.rend(); ++it) {
        if (a >= it->base && a <= it->base + it->size) {
            snprintf(buf, sizeof buf, "use after free: it lies in a %zu-byte %s allocation (#%llu) already freed",
                     it->size, kind_name(it->kind), (unsigned long long)it->serial);
            return buf;
        }
    }
    auto it = live.upper_bound(a); /* just past the end of a live one? */
    if (it != live.begin()) {
        --it;
        if (a - (it->second.base + it->second.size) < ((size_t)1 << 20)) {
            snprintf(buf, sizeof buf, "%zu bytes past the end of a %zu-byte %s allocation (#%llu)",
                     (size_t)(a - (it->second.base + it->second.size)), it->second.size, kind_name(it->second.kind),
                     (unsigned long long)it->second.serial);
            return buf;
        }
    }
    return "not in any live allocation (never allocated, or freed long ago)";
}

bool check_bufs(const char *api, const std::vector<Buf> &bufs, bool at_execution)
{
    const char *when = at_execution ? " (found when the queued work executed)" : "";
    for (const Buf &b : bufs) {
        if (!b.p) {
            if (b.bytes == 0) continue;
            violation(api, "%s is NULL but %zu bytes of it are needed%s", b.arg, b.bytes, when);
            return false;
        }
        uintptr_t a = untag((uintptr_t)b.p);
        if (b.device && !tagged(b.p)) {
            violation(api, "%s = %p is not device memory (a host pointer where the API needs device memory)%s", b.arg,
                      b.p, when);
            return false;
        }
        if (!b.device && tagged(b.p)) {
            violation(api, "%s = %p is device memory where the API needs host memory%s", b.arg, b.p, when);
            return false;
        }
        const Alloc *r = find_live(a, b.bytes == 0);
        if (!r) {
            if (!b.device) continue; /* pageable host memory: not tracked */
            violation(api, "%s = %p: %s%s", b.arg, b.p, describe_dead(a).c_str(), when);
            return false;
        }
        if (b.device != (r->kind == DEVICE)) {
            violation(api, "%s = %p lies in %s memory%s", b.arg, b.p, kind_name(r->kind), when);
            return false;
        }
        if (a + b.bytes > r->base + r->size) {
            violation(api,
                      "%s = %p needs %zu bytes but only %zu remain in its %zu-byte allocation (#%llu): %zu bytes past "
                      "the end%s",
                      b.arg, b.p, b.bytes, (size_t)(r->base + r->size - a), r->size, (unsigned long long)r->serial,
                      (size_t)(a + b.bytes - (r->base + r->size)), when);
            return false;
        }
    }
    return true;
}

size_t mat_bytes(const Mat &m)
{
    if (m.rows <= 0 || m.cols <= 0) return 0;
    return m.es * (size_t)((m.cols - 1) * m.ld + m.rows);
}

bool mats_overlap(const Mat &a, const Mat &b)
{
    size_t na = mat_bytes(a), nb = mat_bytes(b);
    if (!na || !nb) return false;
    uintptr_t pa = untag((uintptr_t)a.p), pb = untag((uintptr_t)b.p);
    if (pa + na <= pb || pb + nb <= pa) return false; /* disjoint extents */
    /* column j of a is [pa + j lda es, + rows es); test it against b's columns near it */
    long long Lb = b.ld * (long long)b.es, wb = b.rows * (long long)b.es, wa = a.rows * (long long)a.es;
    for (long long j = 0; j < a.cols; j++) {
        long long lo = (long long)(pa - pb) + j * a.ld * (long long)a.es, hi = lo + wa; /* relative to pb */
        long long k0 = lo - wb < 0 ? 0 : (lo - wb) / Lb, k1 = hi <= 0 ? -1 : (hi - 1) / Lb;
        for (long long k = k0 < 0 ? 0 : k0; k <= k1 && k < b.cols; k++)
            if (k * Lb < hi && k * Lb + wb > lo) return true;
    }
    return false;
}

} // namespace emu
