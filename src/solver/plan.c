/* plan.c: how the shallow solver will run, before it runs: the route (AUTO: QR when
 * m >= dx), for the QR route its blocks of rows of X^T, the working set in backend memory
 * that dln_shallow_solve_opts checks against the backend's free memory, and the list of
 * factorisations (dln_shallow_plan, dln_shallow_plan_route) that bench/solve times bare.
 *
 * QR route blocks (docs/maths.md section 2): the first block holds min(m, dx + b) rows of
 * X^T, each later block b more rows under the dx rows of R. On a backend with device
 * memory b is as large as fits (one block, a single geqrf of all of X^T, when X^T fits);
 * in host memory it is HOST_BLOCK_ROWS(dx), which keeps each block's panels in cache (bench/
 * solve measures the choice) and the working set far below the data. */
#include <stdlib.h>

#include "solver/shallow_internal.h"

/* Host-memory block rows for dx inputs: 8 dx, at least 2048 (bench/results, docs/benchmarks.md). */
#define HOST_BLOCK_ROWS(dx) ((dx) >= 256 ? 8 * (dx) : 2048)
/* Columns of X and Y staged per upload: about 2^21 values, at least 256. */
#define STAGE_VALUES (1 << 21)
/* A device working set may use this fraction of the free memory. */
#define DEVICE_FRACTION 0.9

/* How gesvd (rows >= cols) sees an operand of shape (rows, cols): transposed when wide. */
static dln_svd_call svd_call(dln_svd_operand what, int rows, int cols, int vectors)
{
    int wide = rows < cols;
    dln_svd_call c = {what, wide, wide ? cols : rows, wide ? rows : cols, vectors, DLN_OP_GESVD};
    return c;
}

void dln_shallow_plan(int dx, int dy, int m, int r, dln_svd_call plan[DLN_SOLVER_SVDS])
{
    /* X with vectors: its transpose X^T (m, dx) when that is tall (m >= dx), else X (dx, m) */
    dln_svd_call x = {DLN_SVD_OF_X, m >= dx, m >= dx ? m : dx, m >= dx ? dx : m, 1, DLN_OP_GESVD};
    plan[0] = x;
    plan[1] = svd_call(DLN_SVD_OF_M, dy, r, 0);
    plan[2] = svd_call(DLN_SVD_OF_Y, dy, m, 0);
}

static dln_solver_route resolve(dln_solver_route route, int dx, int m)
{
    if (route == DLN_SOLVER_AUTO) return m >= dx ? DLN_SOLVER_QR : DLN_SOLVER_SVD;
    return route;
}

int dln_shallow_plan_route(dln_solver_route route, int dx, int dy, int m, int r,
                           dln_svd_call plan[DLN_SOLVER_MAX_CALLS])
{
    if (resolve(route, dx, m) != DLN_SOLVER_QR) {
        dln_shallow_plan(dx, dy, m, r, plan);
        return DLN_SOLVER_SVDS;
    }
    int n = 0, e = m - dx, re = dy < e ? dy : e;
    plan[n++] = (dln_svd_call){DLN_SVD_OF_X, 1, m, dx, 0, DLN_OP_GEQRF};
    plan[n++] = (dln_svd_call){DLN_SVD_OF_Y, 1, m, dy, 0, DLN_OP_ORMQR};
    if (e > 0) plan[n++] = (dln_svd_call){DLN_SVD_OF_E, 0, e, dy, 0, DLN_OP_GEQRF};
    plan[n++] = svd_call(DLN_SVD_OF_R, dx, dx, 1);
    plan[n++] = svd_call(DLN_SVD_OF_M, dy, r, 0);
    plan[n++] = svd_call(DLN_SVD_OF_F, dx + re, dy, 0);
    return n;
}

/* Backend bytes of the SVD route: X, Y, X^T, U, VT, M, P and the scratch copy of Y^T. */
static double svd_bytes(double dx, double dy, double m)
{
    double n = dx < m ? dx : m;
    return 8.0 * (2 * dx * m + 2 * dy * m + 2 * m * n + n * n + dy * n);
}

/* Backend bytes of the QR route with first-block rows `rows` and `chunk` staged columns:
 * A (rows, dx), B (rows + dy, dy), tau, R of E (dy, dy), the staging (dx + dy, chunk),
 * U and V^T of R, W (dx, dy), M (dy, <= dx), the scratch of the small SVDs, and an
 * allowance for the workspaces of geqrf, ormqr (64 columns' worth) and gesvd (dx^2). */
static double qr_bytes(double dx, double dy, double rows, double chunk)
{
    double mats = rows * dx + (rows + dy) * dy + (dx > dy ? dx : dy) + dy * dy + (dx + dy) * chunk + 2 * dx * dx +
                  2 * dx * dy + (dx + dy) * dy + 2;
    double work = dx * dx + 64.0 * (dx + dy + rows / 64.0);
    return 8.0 * (mats + work);
}

static void qr_layout(int dx, int dy, int m, long long b, dln_shallow_layout *out)
{
    long long first = (long long)dx + b < m ? (long long)dx + b : m;
    long long chunk = STAGE_VALUES / ((long long)dx + dy);
    if (chunk < 256) chunk = 256;
    if (chunk > first) chunk = first;
    out->route = DLN_SOLVER_QR;
    out->block_rows = (int)(b < m ? b : m);
    out->blocks = 1 + (int)((m - first + b - 1) / b);
    out->chunk = (int)chunk;
    out->bytes = qr_bytes(dx, dy, (double)first, (double)chunk);
}

double dln_sh_qr_bytes(int dx, int dy, int m)
{
    dln_shallow_layout lay;
    qr_layout(dx, dy, m, HOST_BLOCK_ROWS(dx), &lay);
    return lay.bytes;
}

int dln_shallow_plan_memory(dln_backend *be, int dx, int dy, int m, const dln_shallow_opts *o,
                            dln_shallow_layout *out, dln_error *err)
{
    size_t free_b = 0, total_b = 0;
    DLN_TRY(dln_backend_mem_info(be, &free_b, &total_b));
    dln_solver_route route = resolve(o->route, dx, m);
    if (route != DLN_SOLVER_SVD && route != DLN_SOLVER_QR)
        return dln_fail(err, DLN_EINPUT, "unknown solver route %d", (int)o->route);
    if (route == DLN_SOLVER_QR && m < dx)
        return dln_fail(err, DLN_EINPUT,
                        "the QR route factors X^T, which needs at least as many samples as inputs (m = %d < dx = %d); "
                        "the SVD route handles wide X",
                        m, dx);
    if (o->block_rows < 0) return dln_fail(err, DLN_EINPUT, "block rows must be >= 0 (got %d)", o->block_rows);
    if (route == DLN_SOLVER_SVD) {
        *out = (dln_shallow_layout){DLN_SOLVER_SVD, 0, 0, 0, svd_bytes(dx, dy, m)};
    } else if (o->block_rows > 0) {
        qr_layout(dx, dy, m, o->block_rows, out);
    } else if (!total_b) {
        qr_layout(dx, dy, m, HOST_BLOCK_ROWS(dx), out);
    } else {
        /* device memory: one block if it fits, else the largest block that does */
        double room = DEVICE_FRACTION * (double)free_b;
        long long lo = 1, hi = m;
        qr_layout(dx, dy, m, hi, out);
        if (out->bytes > room) {
            while (lo < hi) {
                long long mid = lo + (hi - lo + 1) / 2;
                qr_layout(dx, dy, m, mid, out);
                if (out->bytes <= room) lo = mid;
                else hi = mid - 1;
            }
            qr_layout(dx, dy, m, lo, out);
        }
    }
    if (total_b && out->bytes > (double)free_b)
        return dln_fail(err, DLN_EINPUT, "the shallow solver needs %.0f bytes on the %s backend but only %zu are free",
                        out->bytes, dln_backend_name(be), free_b);
    return DLN_OK;
}
