/* problem.c: the square loss's training problem from the shallow solution
 * (dln_shallow_problem): the fit (the data, and the exact compression (C, M) with its
 * constant c0 = lstsq when the solve kept it) and the closed-form reference (L*, the
 * compressed problem's own optimum 1/2 sum_{i>k} sigma_i(M)^2, 1/2 ||Y||^2, the rank path,
 * the scale sigma_1(X) ||Y|| of the gradient), with what the step-size rules and the
 * observables use: ||R_ls||_2 by power iteration, the first mode a small start learns, and
 * the target's modes M = U S V^T (host LAPACK; M is dy x r). */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/diagnostics.h"
#include "dln/solver.h"

/* M = U S V^T by LAPACKE_dgesvd into the reference's mode arrays. */
static int target_modes(const dln_shallow *sh, dln_reference *ref, dln_error *err)
{
    int dy = sh->dy, r = sh->r, n = dy < r ? dy : r;
    double *A = malloc(sizeof(double) * (size_t)dy * r), *sup = malloc(sizeof(double) * (size_t)(n + 1));
    ref->mode_U = malloc(sizeof(double) * (size_t)dy * n), ref->mode_VT = malloc(sizeof(double) * (size_t)n * r);
    ref->mode_sv = malloc(sizeof(double) * (size_t)n);
    int rc = !A || !sup || !ref->mode_U || !ref->mode_VT || !ref->mode_sv
                 ? dln_fail(err, DLN_ENOMEM, "out of host memory for the target's modes")
                 : DLN_OK;
    if (!rc) {
        memcpy(A, sh->M, sizeof(double) * (size_t)dy * r);
        lapack_int info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', dy, r, A, dy, ref->mode_sv, ref->mode_U, dy,
                                         ref->mode_VT, n, sup);
        if (info) rc = dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesvd of the target failed (info %d)", (int)info);
    }
    if (!rc) ref->n_modes = n, ref->r = r, ref->C = sh->C;
    free(A), free(sup);
    return rc;
}

int dln_shallow_problem(const dln_shallow *sh, const dln_data *d, dln_fit *fit, dln_reference *ref, dln_error *err)
{
    memset(fit, 0, sizeof *fit);
    fit->dx = d->dx, fit->dy = d->dy, fit->m = d->m, fit->X = d->X, fit->Y = d->Y;
    fit->r = sh->r, fit->C = sh->C, fit->M = sh->M, fit->offset = sh->lstsq;
    dln_reference_none(ref, sh->y_half);
    ref->kind = DLN_REFERENCE_CLOSED_FORM;
    ref->optimum = sh->optimum;
    ref->optimum_compressed = sh->tail;
    ref->rank_bound = sh->k;
    ref->by_rank = sh->optimum_by_rank, ref->n_ranks = sh->n_ranks;
    ref->target_sv = sh->sm;
    ref->input_norm = sh->sx[0];
    ref->grad_scale = sh->sx[0] * sqrt(2.0 * sh->y_half);
    ref->lstsq_norm = 0.0;
    if (!sh->C || !sh->M) return DLN_OK; /* without the compressed pair: no step-size hints, no modes */
    ref->lstsq_norm = dln_spectral_norm(sh->dy, sh->r, sh->M, 0, sh->sx, DLN_NORM_ITERS);
    double *R1 = malloc(sizeof(double) * (size_t)sh->dy * (size_t)sh->dx);
    int learnt = 0, rc = R1 ? dln_shallow_first_mode(sh, R1, &learnt, err)
                            : dln_fail(err, DLN_ENOMEM, "out of host memory for the first mode");
    if (!rc && learnt) ref->first_mode = R1;
    else free(R1);
    if (!rc) rc = target_modes(sh, ref, err);
    if (rc) dln_reference_free(ref);
    return rc;
}
