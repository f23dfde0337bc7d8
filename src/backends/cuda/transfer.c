/* transfer.c: the CUDA backend's host <-> device transfers, upload and download
 * (declared in cuda_internal.h, placed in the backend table by backend_cuda.c). Host matrices are fp64 with their own leading dimension; device
 * matrices are fp64 or fp32. Data goes through one pinned host staging buffer per backend,
 * kept and grown on demand up to STAGING_CHUNK_BYTES, larger matrices a chunk of whole
 * columns at a time, packed or unpacked (and converted to or from fp32) on the host.
 * Both operations synchronise, so neither may run while a graph capture is open. */
#include <string.h>

#include "backends/cuda/cuda_internal.h"

/* Pinned staging is grown up to this size; larger transfers go in column chunks. */
#define STAGING_CHUNK_BYTES ((size_t)64 << 20)

/* Pinned host staging of at least `bytes`, kept and reused; grown when too small. */
static int ensure_staging(dln_backend *be, size_t bytes)
{
    cuda_impl *c = be->impl;
    if (bytes <= c->staging_bytes) return DLN_OK;
    if (c->staging) {
        void *old = c->staging;
        c->staging = NULL;
        c->staging_bytes = 0;
        CUDA_CHECK(cudaFreeHost(old));
    }
    cudaError_t e = cudaMallocHost(&c->staging, bytes);
    if (e != cudaSuccess) {
        c->staging = NULL;
        (void)cudaGetLastError();
        return dln_fail(be->err, e == cudaErrorMemoryAllocation ? DLN_ENOMEM : DLN_ERUNTIME,
                        "cudaMallocHost of %zu bytes (pinned staging buffer) failed: %s (%s)", bytes,
                        cudaGetErrorName(e), cudaGetErrorString(e));
    }
    c->staging_bytes = bytes;
    return DLN_OK;
}

/* Host fp64 (rows, nc) with leading dim ld <-> packed (rows, nc) in dtype in stage:
 * packs when up is non-NULL, else unpacks into down. */
static void stage_cols(void *stage, const double *up, double *down, int ld, int rows, int nc, dln_dtype dtype)
{
    for (int j = 0; j < nc; j++) {
        size_t h = (size_t)j * (size_t)ld, s = (size_t)j * (size_t)rows;
        if (dtype == DLN_F64 && up) {
            memcpy((double *)stage + s, up + h, sizeof(double) * (size_t)rows);
        } else if (dtype == DLN_F64) {
            memcpy(down + h, (const double *)stage + s, sizeof(double) * (size_t)rows);
        } else {
            float *f = (float *)stage + s;
            for (int i = 0; i < rows; i++) {
                if (up) f[i] = (float)up[h + (size_t)i];
                else down[h + (size_t)i] = f[i];
            }
        }
    }
}

/* Moves m (device, (rows, cols), ld) to or from host fp64 with ld_host, through the
 * pinned staging buffer, a chunk of whole columns at a time; synchronous. Exactly one
 * of up (host source) and down (host destination) is non-NULL. */
static int transfer(dln_backend *be, const dln_mat *m, const double *up, double *down, int ld_host,
                    const char *op)
{
    cuda_impl *c = be->impl;
    DLN_TRY(no_capture(be, op));
    if (m->rows <= 0 || m->cols <= 0) return DLN_OK;
    size_t es = dln_dtype_size(m->dtype), col = (size_t)m->rows * es, dpitch = (size_t)m->ld * es;
    size_t per = col >= STAGING_CHUNK_BYTES ? 1 : STAGING_CHUNK_BYTES / col;
    if (per > (size_t)m->cols) per = (size_t)m->cols;
    DLN_TRY(ensure_staging(be, per * col));
    for (int j0 = 0; j0 < m->cols; j0 += (int)per) {
        int nc = m->cols - j0 < (int)per ? m->cols - j0 : (int)per;
        char *dev = (char *)m->data + (size_t)j0 * dpitch;
        size_t hoff = (size_t)j0 * (size_t)ld_host;
        if (up) {
            stage_cols(c->staging, up + hoff, NULL, ld_host, m->rows, nc, m->dtype);
            CUDA_CHECK(cudaMemcpy2DAsync(dev, dpitch, c->staging, col, col, (size_t)nc,
                                         cudaMemcpyHostToDevice, c->stream));
            CUDA_CHECK(cudaStreamSynchronize(c->stream));
        } else {
            CUDA_CHECK(cudaMemcpy2DAsync(c->staging, col, dev, dpitch, col, (size_t)nc,
                                         cudaMemcpyDeviceToHost, c->stream));
            CUDA_CHECK(cudaStreamSynchronize(c->stream));
            stage_cols(c->staging, NULL, down + hoff, ld_host, m->rows, nc, m->dtype);
        }
    }
    return DLN_OK;
}

int dln_cuda_upload(dln_backend *be, dln_mat *dst, const double *src, int ld_src)
{
    // dst is (rows, cols) in its dtype, src is host fp64 (rows, cols) with ld_src
    return transfer(be, dst, src, NULL, ld_src, "upload");
}

int dln_cuda_download(dln_backend *be, const dln_mat *src, double *dst, int ld_dst)
{
    // src is (rows, cols) in its dtype, dst is host fp64 (rows, cols) with ld_dst
    return transfer(be, src, NULL, dst, ld_dst, "download");
}
