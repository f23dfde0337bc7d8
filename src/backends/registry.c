/* registry.c: the one file that knows which backends are compiled in (DLN_HAVE_CUDA is
 * set by the Makefile when nvcc is found), how `auto` chooses between them, and the
 * device queries. Everything else reaches a backend through its table. */
#include <stdio.h>

#include "backends/backend_table.h"
#include "dln/pool.h"

const char *dln_backends_compiled(void)
{
#ifdef DLN_HAVE_CUDA
    return "cpu,cuda";
#else
    return "cpu";
#endif
}

int dln_backend_available(dln_backend_kind kind)
{
    switch (kind) {
    case DLN_BACKEND_CPU:
    case DLN_BACKEND_AUTO:
        return 1;
    case DLN_BACKEND_CUDA:
#ifdef DLN_HAVE_CUDA
        return dln_backend_cuda_device_count() > 0;
#else
        return 0;
#endif
    default:
        return 0;
    }
}

void dln_devices_describe(char *buf, size_t n)
{
#ifdef DLN_HAVE_CUDA
    dln_backend_cuda_describe(buf, n);
#else
    snprintf(buf, n, "none (built without CUDA)");
#endif
}

int dln_backend_create(dln_backend_kind kind, dln_error *err, dln_backend **out, const char **note)
{
    *out = NULL;
    if (note) *note = NULL;
    switch (kind) {
    case DLN_BACKEND_CPU:
        return dln_backend_cpu_create(err, out);
    case DLN_BACKEND_CUDA:
#ifdef DLN_HAVE_CUDA
        if (!dln_backend_available(DLN_BACKEND_CUDA))
            return dln_fail(err, DLN_EINPUT, "cuda: no CUDA device found (the cpu backend is available)");
        return dln_backend_cuda_create(err, out);
#else
        return dln_fail(err, DLN_EINPUT,
                        "cuda: this dln was built without CUDA (nvcc was not found at build time); the cpu "
                        "backend is available");
#endif
    case DLN_BACKEND_AUTO:
#ifdef DLN_HAVE_CUDA
        if (dln_backend_available(DLN_BACKEND_CUDA)) return dln_backend_cuda_create(err, out);
        if (note) *note = "no CUDA device found: running on the CPU backend";
#else
        if (note) *note = "built without CUDA: running on the CPU backend";
#endif
        return dln_backend_cpu_create(err, out);
    default:
        return dln_fail(err, DLN_EINPUT, "unknown backend kind %d", (int)kind);
    }
}

void dln_backend_destroy(dln_backend *be)
{
    if (!be) return;
    dln_pool_destroy(be->pool); /* its threads stopped before the backend goes */
    be->pool = NULL;
    be->ops->destroy(be);
}
