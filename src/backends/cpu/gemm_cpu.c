/* gemm_cpu.c: the CPU backend's product of one member, C = alpha op(A) op(B) + beta C: one
 * CBLAS call, or, for the long products of a step on full data, pieces.
 *
 * A step's products on full data are skinny: W_i (d_i x d_{i-1}) times activations of m
 * columns, and weight gradients B_i A_{i-1}^T summed over the m columns. OpenBLAS spreads
 * such a call over its own threads to little effect (the 64 -> 8 -> 8 -> 8 -> 64, m = 4096
 * step took 0.88 ms on one core and on two). So, by the shape alone:
 *   - a reduction over a long k into a small output (m n <= K_SPLIT_OUT, a weight
 *     gradient) is summed from at most K_CHUNKS_MAX fixed chunks of k: each chunk's product
 *     into a temporary on the stack, the temporaries added in chunk order in fp64;
 *   - a product with a small op(A) (m k <= N_SPLIT_MK) and many columns is computed in
 *     pieces of columns, each below DLN_MEMBER_WORK_MAX multiply-adds (OpenBLAS computes
 *     such a call on the calling thread, and a column's value depends on where the pieces
 *     start: OpenBLAS's kernels treat a call's last few columns apart).
 * The pieces are the same whatever the threads, so the result is the same bits with or
 * without them; with the backend's threads (dln_backend_set_threads) the pieces of a network
 * of one member run on them (spread). A batch's members, spread over the threads or too
 * large to be (dln_network_threads_used), compute their pieces in turn: each concurrent
 * OpenBLAS call maps a buffer of its own, and the memory check counts those only for the
 * threads a single run spreads over. */
#include <cblas.h>

#include "backends/cpu/cpu_internal.h"
#include "dln/pool.h"


/* OpenBLAS (0.3.21) computes a product Aᵀ B with a small inner dimension k through its
 * general path, which takes a process-wide lock for its packing buffer on every call:
 * measured here, two threads calling it (4 x 32 x 4) got 1.08x one thread's throughput,
 * against 1.9x for the small-matrix path that a plain A B takes. So a small Aᵀ B is
 * computed as A' B with A' a transposed copy of A on the stack (TN_COPY_MAX elements):
 * the same products summed in the same order, without the lock. */
#define TN_COPY_MAX 4096

static void gemm_plain(int trans_a, int trans_b, double alpha, const dln_mat *A, const dln_mat *B, double beta,
                      dln_mat *C)
{
    // C is (m, n), op(A) is (m, k), op(B) is (k, n)
    int m = C->rows, n = C->cols, k = trans_a ? A->rows : A->cols;
    if (m == 0 || n == 0) return;
    if (trans_a && !trans_b && k > 0 && (size_t)m * (size_t)k <= TN_COPY_MAX) {
        enum CBLAS_TRANSPOSE nt = CblasNoTrans;
        if (C->dtype == DLN_F64) { /* A is (k, m): At (m, k) */
            double At[TN_COPY_MAX];
            const double *a = A->data;
            for (int j = 0; j < k; j++)
                for (int i = 0; i < m; i++) At[i + (size_t)j * m] = a[j + (size_t)i * A->ld];
            cblas_dgemm(CblasColMajor, nt, nt, m, n, k, alpha, At, m, B->data, B->ld, beta, C->data, C->ld);
        } else {
            float At[TN_COPY_MAX];
            const float *a = A->data;
            for (int j = 0; j < k; j++)
                for (int i = 0; i < m; i++) At[i + (size_t)j * m] = a[j + (size_t)i * A->ld];
            cblas_sgemm(CblasColMajor, nt, nt, m, n, k, (float)alpha, At, m, B->data, B->ld, (float)beta, C->data,
                        C->ld);
        }
        return;
    }
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    if (C->dtype == DLN_F64)
        cblas_dgemm(CblasColMajor, ta, tb, m, n, k, alpha, A->data, A->ld, B->data, B->ld, beta,
                    C->data, C->ld);
    else
        cblas_sgemm(CblasColMajor, ta, tb, m, n, k, (float)alpha, A->data, A->ld, B->data, B->ld,
                    (float)beta, C->data, C->ld);
}

#define K_CHUNK_MIN 256  /* a reduction is cut only where each chunk has at least this many terms */
#define K_CHUNKS_MAX 16  /* and into at most this many chunks */
#define K_SPLIT_OUT 1024 /* outputs m n this small: the temporaries, K_CHUNKS_MAX m n, on the stack */
#define N_SPLIT_MK 4096  /* op(A) this small (m k): pieces of at least 56 columns */

/* len rows (along_rows) or columns from the i0-th of M: a view, pointer arithmetic only. */
static dln_mat slice(const dln_mat *M, int along_rows, int i0, int len)
{
    dln_mat v = *M;
    size_t off = along_rows ? (size_t)i0 : (size_t)i0 * (size_t)M->ld;
    v.data = (char *)M->data + off * dln_dtype_size(M->dtype);
    if (along_rows) v.rows = len;
    else v.cols = len;
    return v;
}

typedef struct {
    int trans_a, trans_b, k, chunk, piece;
    double alpha, beta;
    const dln_mat *A, *B, *C;
    void *tmp; /* k chunks: chunk p's product at p m n elements */
} split_job;

/* Chunk p of the reduction (op(A)'s columns, op(B)'s rows): its product into the temporaries. */
static void k_chunk(void *ctx, int p, int worker)
{
    split_job *j = ctx;
    (void)worker;
    int m = j->C->rows, n = j->C->cols, k0 = p * j->chunk, len = j->k - k0 < j->chunk ? j->k - k0 : j->chunk;
    dln_mat a = slice(j->A, j->trans_a, k0, len), b = slice(j->B, !j->trans_b, k0, len);
    dln_mat t = {m, n, m, j->C->dtype, (char *)j->tmp + (size_t)p * m * n * dln_dtype_size(j->C->dtype)};
    gemm_plain(j->trans_a, j->trans_b, 1.0, &a, &b, 0.0, &t);
}

/* Piece p of the columns of C (and of op(B)). */
static void n_piece(void *ctx, int p, int worker)
{
    split_job *j = ctx;
    (void)worker;
    int n0 = p * j->piece, len = j->C->cols - n0 < j->piece ? j->C->cols - n0 : j->piece;
    dln_mat b = slice(j->B, j->trans_b, n0, len), c = slice(j->C, 0, n0, len);
    gemm_plain(j->trans_a, j->trans_b, j->alpha, j->A, &b, j->beta, &c);
}

/* C := alpha sum_p T_p + beta C over the chunks' temporaries, in chunk order, in fp64 (beta 0:
 * C is not read). */
#define SUM_CHUNKS(T)                                                                               \
    do {                                                                                            \
        const T *t = (const T *)tmp;                                                                \
        for (int c = 0; c < n; c++)                                                                 \
            for (int r = 0; r < m; r++) {                                                           \
                double s = 0.0;                                                                     \
                for (int p = 0; p < chunks; p++) s += (double)t[(size_t)p * m * n + r + (size_t)c * m]; \
                T *out = (T *)C->data + r + (size_t)c * C->ld;                                      \
                *out = (T)(beta == 0.0 ? alpha * s : alpha * s + beta * (double)*out);              \
            }                                                                                       \
    } while (0)

int dln_cpu_gemm_one(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, const dln_mat *B,
                     double beta, dln_mat *C, int spread)
{
    // C is (m, n), op(A) is (m, k), op(B) is (k, n)
    int m = C->rows, n = C->cols, k = trans_a ? A->rows : A->cols;
    if (m == 0 || n == 0) return DLN_OK;
    dln_pool *pool = spread ? dln_backend_pool(be) : NULL;
    split_job j = {trans_a, trans_b, k, 0, 0, alpha, beta, A, B, C, NULL};
    if (k >= 2 * K_CHUNK_MIN && (size_t)m * (size_t)n <= K_SPLIT_OUT) {
        int chunks = k / K_CHUNK_MIN < K_CHUNKS_MAX ? k / K_CHUNK_MIN : K_CHUNKS_MAX;
        j.chunk = ((k + chunks - 1) / chunks + 7) / 8 * 8; /* a multiple of 8: whole kernel blocks */
        chunks = (k + j.chunk - 1) / j.chunk;
        double tmp[K_CHUNKS_MAX * K_SPLIT_OUT]; /* fp32 temporaries use the first half */
        j.tmp = tmp;
        dln_pool_for(pool, chunks, k_chunk, &j);
        if (C->dtype == DLN_F64) SUM_CHUNKS(double);
        else SUM_CHUNKS(float);
        return DLN_OK;
    }
    double mk = (double)m * (double)k;
    if (k > 0 && mk <= N_SPLIT_MK && mk * (double)n >= 2.0 * DLN_MEMBER_WORK_MAX) {
        j.piece = (int)((DLN_MEMBER_WORK_MAX - 1.0) / mk) / 8 * 8;
        dln_pool_for(pool, (n + j.piece - 1) / j.piece, n_piece, &j);
        return DLN_OK;
    }
    gemm_plain(trans_a, trans_b, alpha, A, B, beta, C);
    return DLN_OK;
}
