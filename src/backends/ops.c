/* ops.c: the public matrix operations (dln/ops.h) and backend queries (dln/backend.h).
 * Each operation checks its arguments once, here, then calls the backend's table, so
 * every backend sees only well-formed calls and refuses nothing the others accept. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend_table.h"
#include "backends/mat_checks.h"

const char *dln_backend_name(const dln_backend *be) { return be->ops->name; }

dln_error *dln_backend_error(dln_backend *be) { return be->err; }

int dln_backend_supports(const dln_backend *be, unsigned caps) { return (be->ops->caps & caps) == caps; }

int dln_backend_set_math(dln_backend *be, dln_math_mode mode)
{
    if (mode != DLN_MATH_DEFAULT && mode != DLN_MATH_TF32)
        return dln_fail(be->err, DLN_EINPUT, "unknown math mode %d", (int)mode);
    if (mode == DLN_MATH_TF32 && !dln_backend_supports(be, DLN_CAP_TF32))
        return dln_fail(be->err, DLN_EINPUT, "TF32 GEMMs are not available on the %s backend", be->ops->name);
    be->math_mode = mode;
    return DLN_OK;
}

#define MAX_THREADS 1024

int dln_backend_set_threads(dln_backend *be, int threads)
{
    if (threads < 0 || threads > MAX_THREADS)
        return dln_fail(be->err, DLN_EINPUT, "threads must be 0 (one per CPU) to %d, got %d", MAX_THREADS, threads);
    if (threads == 0) threads = dln_pool_cpus_available();
    if (!dln_backend_supports(be, DLN_CAP_THREADS)) threads = 1;
    if (dln_pool_threads(be->pool) == threads) return DLN_OK;
    dln_pool_destroy(be->pool);
    be->pool = NULL;
    int e = threads > 1 ? dln_pool_create(threads, &be->pool) : 0;
    if (e) return dln_fail(be->err, DLN_ERUNTIME, "could not start %d threads: %s", threads, strerror(e));
    return DLN_OK;
}

int dln_backend_threads(const dln_backend *be) { return dln_pool_threads(be->pool); }

long dln_backend_thread_work(const dln_backend *be) { return dln_pool_items_on_workers(be->pool); }

dln_pool *dln_backend_pool(dln_backend *be) { return be->pool; }

int dln_backend_worker(dln_backend *be, dln_error *err, dln_backend **out)
{
    *out = NULL;
    dln_backend *w = malloc(sizeof *w);
    if (!w) return dln_fail(err, DLN_ENOMEM, "out of host memory for a thread's backend handle");
    *w = *be;
    w->err = err, w->pool = NULL;
    *out = w;
    return DLN_OK;
}

void dln_backend_worker_free(dln_backend *worker) { free(worker); }

int dln_backend_mem_info(dln_backend *be, size_t *free_bytes, size_t *total_bytes)
{
    *free_bytes = 0;
    *total_bytes = 0;
    return be->ops->mem_info(be, free_bytes, total_bytes);
}

int dln_mat_alloc(dln_backend *be, dln_mat *m, int rows, int cols, dln_dtype dtype)
{
    memset(m, 0, sizeof *m);
    if (rows < 0 || cols < 0 || (dtype != DLN_F64 && dtype != DLN_F32))
        return dln_fail(be->err, DLN_ERUNTIME, "alloc: bad shape or dtype (%d x %d, dtype %d)", rows, cols, (int)dtype);
    return be->ops->alloc(be, m, rows, cols, dtype);
}

void dln_mat_free(dln_backend *be, dln_mat *m)
{
    if (m && m->data) be->ops->free(be, m);
    if (m) memset(m, 0, sizeof *m);
}

/* A host block (rows, cols) with leading dim ld_host next to a backend matrix. */
static int check_transfer(dln_backend *be, const char *op, const dln_mat *m, const void *host, int ld_host)
{
    DLN_TRY(dln_check_mat(be->err, op, "the matrix", m));
    if (m->rows > 0 && m->cols > 0 && (!host || ld_host < m->rows))
        return dln_fail(be->err, DLN_ERUNTIME, "%s: host block %s (leading dim %d, rows %d)", op,
                        host ? "too short" : "missing", ld_host, m->rows);
    return DLN_OK;
}

int dln_upload(dln_backend *be, dln_mat *dst, const double *src, int ld_src)
{
    DLN_TRY(check_transfer(be, "upload", dst, src, ld_src));
    return be->ops->upload(be, dst, src, ld_src);
}

int dln_download(dln_backend *be, const dln_mat *src, double *dst, int ld_dst)
{
    DLN_TRY(check_transfer(be, "download", src, dst, ld_dst));
    return be->ops->download(be, src, dst, ld_dst);
}

int dln_copy(dln_backend *be, dln_mat *dst, const dln_mat *src)
{
    DLN_TRY(dln_check_same(be->err, "copy", dst, src));
    DLN_TRY(dln_check_disjoint(be->err, "copy", dst, src));
    return be->ops->copy(be, dst, src);
}

int dln_transpose(dln_backend *be, dln_mat *dst, const dln_mat *src)
{
    // src is (r, c), dst is (c, r)
    DLN_TRY(dln_check_mat(be->err, "transpose", "dst", dst));
    DLN_TRY(dln_check_mat(be->err, "transpose", "src", src));
    if (dst->rows != src->cols || dst->cols != src->rows || dst->dtype != src->dtype)
        return dln_fail(be->err, DLN_ERUNTIME, "transpose: shape or dtype mismatch (%d x %d %s from %d x %d %s)",
                        dst->rows, dst->cols, dln_dtype_name(dst->dtype), src->rows, src->cols,
                        dln_dtype_name(src->dtype));
    DLN_TRY(dln_check_disjoint(be->err, "transpose", dst, src));
    return be->ops->transpose(be, dst, src);
}

int dln_gemm(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, const dln_mat *B,
             double beta, dln_mat *C)
{
    int k;
    DLN_TRY(dln_check_gemm(be->err, trans_a, trans_b, A, B, C, &k));
    return be->ops->gemm(be, trans_a != 0, trans_b != 0, alpha, A, 0, B, 0, beta, C, 0, 1);
}

int dln_axpby(dln_backend *be, double alpha, const dln_mat *X, double beta, dln_mat *Y)
{
    DLN_TRY(dln_check_same(be->err, "axpby", X, Y));
    if (X->data != Y->data) DLN_TRY(dln_check_disjoint(be->err, "axpby", Y, X));
    return be->ops->axpby(be, alpha, NULL, X, 0, beta, NULL, Y, 0, 1);
}

int dln_sumsq(dln_backend *be, const dln_mat *X, dln_mat *out, int index, int accumulate)
{
    DLN_TRY(dln_check_mat(be->err, "sumsq", "X", X));
    DLN_TRY(dln_check_mat(be->err, "sumsq", "the result column", out));
    if (out->dtype != DLN_F64 || out->cols != 1 || index < 0 || index >= out->rows)
        return dln_fail(be->err, DLN_ERUNTIME, "sumsq: result %d of an %s %d x %d result column (fp64 n x 1 needed)",
                        index, dln_dtype_name(out->dtype), out->rows, out->cols);
    return be->ops->sumsq(be, X, 0, 1, out, index, accumulate != 0);
}

int dln_synchronize(dln_backend *be) { return be->ops->synchronize(be); }

/* An output's members must not overlap each other (stride below the member's span). */
static int check_output_stride(dln_backend *be, const char *op, const dln_mat *m, size_t stride, int count)
{
    size_t span = m->rows > 0 && m->cols > 0 ? ((size_t)m->cols - 1) * (size_t)m->ld + (size_t)m->rows : 0;
    if (count > 1 && span > 0 && stride < span)
        return dln_fail(be->err, DLN_ERUNTIME, "%s: output stride %zu below a member's extent %zu", op, stride, span);
    return DLN_OK;
}

/* A column of count fp64 per-member factors, or NULL. */
static int check_factors(dln_backend *be, const char *op, const dln_mat *v, int count)
{
    if (!v) return DLN_OK;
    DLN_TRY(dln_check_mat(be->err, op, "the factor column", v));
    if (v->dtype != DLN_F64 || v->cols != 1 || v->rows < count)
        return dln_fail(be->err, DLN_ERUNTIME, "%s: factors must be an fp64 column of %d values", op, count);
    return DLN_OK;
}

/* A loss the backends know, with a parameter in its range. */
static int check_loss(dln_backend *be, const char *op, const dln_loss *l)
{
    if (!l) return dln_fail(be->err, DLN_ERUNTIME, "%s: no loss", op);
    int ok = l->kind == DLN_LOSS_LOGISTIC || l->kind == DLN_LOSS_SOFTMAX || l->kind == DLN_LOSS_MASKED ||
             (l->kind == DLN_LOSS_LP && l->param >= 2 && isfinite(l->param)) ||
             (l->kind == DLN_LOSS_HUBER && l->param > 0 && isfinite(l->param));
    return ok ? DLN_OK : dln_fail(be->err, DLN_ERUNTIME, "%s: loss %d with parameter %g", op, (int)l->kind, l->param);
}

/* out is an fp64 column holding results index .. index + count - 1 (or NULL). */
static int check_results(dln_backend *be, const char *op, const dln_mat *out, int index, int count)
{
    if (!out) return DLN_OK;
    DLN_TRY(dln_check_mat(be->err, op, "the result column", out));
    if (out->dtype != DLN_F64 || out->cols != 1 || index < 0 || index + count > out->rows)
        return dln_fail(be->err, DLN_ERUNTIME, "%s: results %d..%d of an %s %d x %d result column", op, index,
                        index + count - 1, dln_dtype_name(out->dtype), out->rows, out->cols);
    return DLN_OK;
}

int dln_gemm_batched(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, size_t stride_a,
                     const dln_mat *B, size_t stride_b, double beta, dln_mat *C, size_t stride_c, int count)
{
    int k;
    if (count < 1) return dln_fail(be->err, DLN_ERUNTIME, "gemm_batched: count %d < 1", count);
    DLN_TRY(dln_check_gemm(be->err, trans_a, trans_b, A, B, C, &k));
    DLN_TRY(check_output_stride(be, "gemm_batched", C, stride_c, count));
    return be->ops->gemm(be, trans_a != 0, trans_b != 0, alpha, A, stride_a, B, stride_b, beta, C, stride_c, count);
}

int dln_axpby_batched(dln_backend *be, double alpha, const dln_mat *av, const dln_mat *X, size_t stride_x,
                      double beta, const dln_mat *cv, dln_mat *Y, size_t stride_y, int count)
{
    if (count < 1) return dln_fail(be->err, DLN_ERUNTIME, "axpby_batched: count %d < 1", count);
    DLN_TRY(dln_check_same(be->err, "axpby_batched", X, Y));
    DLN_TRY(check_output_stride(be, "axpby_batched", Y, stride_y, count));
    DLN_TRY(check_factors(be, "axpby_batched", av, count));
    DLN_TRY(check_factors(be, "axpby_batched", cv, count));
    return be->ops->axpby(be, alpha, av, X, stride_x, beta, cv, Y, stride_y, count);
}

int dln_sumsq_batched(dln_backend *be, const dln_mat *X, size_t stride_x, int count, dln_mat *out, int index,
                      int accumulate)
{
    if (count < 1) return dln_fail(be->err, DLN_ERUNTIME, "sumsq_batched: count %d < 1", count);
    DLN_TRY(dln_check_mat(be->err, "sumsq_batched", "X", X));
    DLN_TRY(check_results(be, "sumsq_batched", out, index, count));
    return be->ops->sumsq(be, X, stride_x, count, out, index, accumulate != 0);
}

int dln_loss_gradient_batched(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, dln_mat *Z,
                              size_t stride_z, int count, dln_mat *out, int index)
{
    const char *op = "loss_gradient_batched";
    if (count < 1) return dln_fail(be->err, DLN_ERUNTIME, "%s: count %d < 1", op, count);
    DLN_TRY(check_loss(be, op, loss));
    DLN_TRY(dln_check_same(be->err, op, Y, Z));
    DLN_TRY(dln_check_disjoint(be->err, op, Z, Y));
    DLN_TRY(check_output_stride(be, op, Z, stride_z, count));
    DLN_TRY(check_results(be, op, out, index, count));
    return be->ops->loss_gradient(be, loss, Y, stride_y, Z, stride_z, count, out, index);
}

int dln_loss_hessian_batched(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y,
                             const dln_mat *Z, size_t stride_z, dln_mat *D, size_t stride_d, int count)
{
    const char *op = "loss_hessian_batched";
    if (count < 1) return dln_fail(be->err, DLN_ERUNTIME, "%s: count %d < 1", op, count);
    DLN_TRY(check_loss(be, op, loss));
    DLN_TRY(dln_check_same(be->err, op, Y, Z));
    DLN_TRY(dln_check_same(be->err, op, Z, D));
    DLN_TRY(dln_check_disjoint(be->err, op, D, Y));
    DLN_TRY(dln_check_disjoint(be->err, op, D, Z));
    DLN_TRY(check_output_stride(be, op, D, stride_d, count));
    return be->ops->loss_hessian(be, loss, Y, stride_y, Z, stride_z, D, stride_d, count);
}

double dln_gesvd_work_bytes(int rows, int cols)
{
    /* dgesvd's optimal workspace is n^2 + 3n + 2n nb (m >> n: QR first) or 3n + (m + n) nb
     * (m close to n), with block size nb <= 64 and 5n for the bidiagonal SVD. */
    double m = rows > cols ? rows : cols, n = rows > cols ? cols : rows;
    return 8.0 * (n * n + 64.0 * ((m < 2 * n ? m : 2 * n) + n) + 8 * n + 64);
}

int dln_gesvd(dln_backend *be, dln_mat *A, double *s, dln_mat *U, dln_mat *VT)
{
    // A is (m, n) with m >= n; U is (m, n), VT is (n, n)
    DLN_TRY(dln_check_mat(be->err, "gesvd", "A", A));
    int m = A->rows, n = A->cols;
    if (A->dtype != DLN_F64 || m < n)
        return dln_fail(be->err, DLN_ERUNTIME, "gesvd: needs an fp64 matrix with rows >= cols (got %s %d x %d)",
                        dln_dtype_name(A->dtype), m, n);
    if (!s && n > 0) return dln_fail(be->err, DLN_ERUNTIME, "gesvd: no room for the singular values");
    if (U) DLN_TRY(dln_check_mat(be->err, "gesvd", "U", U));
    if (VT) DLN_TRY(dln_check_mat(be->err, "gesvd", "VT", VT));
    if ((U && (U->rows != m || U->cols != n || U->dtype != DLN_F64)) ||
        (VT && (VT->rows != n || VT->cols != n || VT->dtype != DLN_F64)))
        return dln_fail(be->err, DLN_ERUNTIME, "gesvd: U must be fp64 %d x %d and VT fp64 %d x %d", m, n, n, n);
    if (U) DLN_TRY(dln_check_disjoint(be->err, "gesvd", U, A));
    if (VT) DLN_TRY(dln_check_disjoint(be->err, "gesvd", VT, A));
    return be->ops->gesvd(be, A, s, U, VT);
}

/* tau: an fp64 column of at least k values, not overlapping A. */
static int check_tau(dln_backend *be, const char *op, const dln_mat *tau, int k, const dln_mat *A)
{
    DLN_TRY(dln_check_mat(be->err, op, "tau", tau));
    if (tau->dtype != DLN_F64 || tau->cols != 1 || tau->rows < k)
        return dln_fail(be->err, DLN_ERUNTIME, "%s: tau must be an fp64 column of at least %d values (got %s %d x %d)",
                        op, k, dln_dtype_name(tau->dtype), tau->rows, tau->cols);
    return dln_check_disjoint(be->err, op, tau, A);
}

int dln_geqrf(dln_backend *be, dln_mat *A, dln_mat *tau)
{
    // A is (m, n), any shape; tau holds k = min(m, n) scalars
    DLN_TRY(dln_check_mat(be->err, "geqrf", "A", A));
    if (A->dtype != DLN_F64)
        return dln_fail(be->err, DLN_ERUNTIME, "geqrf: needs an fp64 matrix (got %s)", dln_dtype_name(A->dtype));
    DLN_TRY(check_tau(be, "geqrf", tau, A->rows < A->cols ? A->rows : A->cols, A));
    return be->ops->geqrf(be, A, tau);
}

int dln_ormqr(dln_backend *be, int trans, const dln_mat *A, const dln_mat *tau, dln_mat *C)
{
    // Q (m, m) from the k = min(m, na) reflectors in A (m, na) and tau; C is (m, n)
    DLN_TRY(dln_check_mat(be->err, "ormqr", "A", A));
    DLN_TRY(dln_check_mat(be->err, "ormqr", "C", C));
    if (A->dtype != DLN_F64 || C->dtype != DLN_F64 || C->rows != A->rows)
        return dln_fail(be->err, DLN_ERUNTIME, "ormqr: needs fp64 A and C with as many rows (A %s %d x %d, C %s %d x %d)",
                        dln_dtype_name(A->dtype), A->rows, A->cols, dln_dtype_name(C->dtype), C->rows, C->cols);
    DLN_TRY(check_tau(be, "ormqr", tau, A->rows < A->cols ? A->rows : A->cols, A));
    DLN_TRY(dln_check_disjoint(be->err, "ormqr", C, A));
    DLN_TRY(dln_check_disjoint(be->err, "ormqr", C, tau));
    return be->ops->ormqr(be, trans != 0, A, tau, C);
}

int dln_triu(dln_backend *be, dln_mat *A)
{
    DLN_TRY(dln_check_mat(be->err, "triu", "A", A));
    return be->ops->triu(be, A);
}

static int need_graphs(dln_backend *be, const char *op)
{
    if (!dln_backend_supports(be, DLN_CAP_GRAPHS))
        return dln_fail(be->err, DLN_ERUNTIME, "%s: the %s backend has no graphs", op, be->ops->name);
    return DLN_OK;
}

int dln_capture_begin(dln_backend *be)
{
    DLN_TRY(need_graphs(be, "capture_begin"));
    return be->ops->capture_begin(be);
}

int dln_capture_end(dln_backend *be, dln_graph **g)
{
    *g = NULL;
    DLN_TRY(need_graphs(be, "capture_end"));
    return be->ops->capture_end(be, g);
}

int dln_graph_launch(dln_backend *be, dln_graph *g)
{
    DLN_TRY(need_graphs(be, "graph_launch"));
    if (!g) return dln_fail(be->err, DLN_ERUNTIME, "graph_launch: no graph");
    return be->ops->graph_launch(be, g);
}

void dln_graph_destroy(dln_backend *be, dln_graph *g)
{
    if (g && be->ops->graph_destroy) be->ops->graph_destroy(be, g);
}
