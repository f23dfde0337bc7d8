/* backend_registry.c: the one file that knows which backends are compiled in, and
 * how `auto` chooses between them. */
#include <stdio.h>
#include <string.h>

#include "dln_backend.h"

const char *dln_backends_compiled(void)
{
#ifdef DLN_HAVE_CUDA
    return "cpu,cuda";
#else
    return "cpu";
#endif
}

int dln_cuda_available(void)
{
#ifdef DLN_HAVE_CUDA
    return dln_backend_cuda_device_count() > 0;
#else
    return 0;
#endif
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
    if (note) *note = NULL;
    switch (kind) {
    case DLN_BACKEND_CPU:
        return dln_backend_cpu_create(err, out);
    case DLN_BACKEND_CUDA:
#ifdef DLN_HAVE_CUDA
        if (!dln_cuda_available())
            return dln_fail(err, DLN_EINPUT,
                            "--backend cuda: no CUDA device found (use --backend cpu or auto)");
        return dln_backend_cuda_create(err, out);
#else
        return dln_fail(err, DLN_EINPUT,
                        "--backend cuda: this dln was built without CUDA (nvcc not found at "
                        "build time); use --backend cpu");
#endif
    case DLN_BACKEND_AUTO:
    default:
#ifdef DLN_HAVE_CUDA
        if (dln_cuda_available()) return dln_backend_cuda_create(err, out);
        if (note) *note = "no CUDA device found: running on the CPU backend";
#else
        if (note) *note = "built without CUDA: running on the CPU backend";
#endif
        return dln_backend_cpu_create(err, out);
    }
}

void dln_backend_destroy(dln_backend *be)
{
    if (be) be->ops->destroy(be);
}
