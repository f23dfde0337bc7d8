/* summary.c: every record an experiment gives, built once here for both front ends (the
 * program prints it, the Python package parses it): a member's summary (the problem, the
 * run and its verdict, the Hessian at the end, the shallow solution, the memory estimate,
 * the note on why it stopped), the summaries of `dln solve` and `dln hessian`, and a trace
 * line per observation. Numbers are written with %.17g (they read back to the same double);
 * non-finite ones as null, or as NaN / Infinity where the caller asks for JSON's common
 * extension (dln_json literals). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run/experiment_internal.h"

static const char *precision_name(const dln_experiment *e)
{
    return e->o.train.dtype == DLN_F64 ? "fp64" : e->o.math == DLN_MATH_TF32 ? "tf32" : "fp32";
}

static void put_nums(dln_json *j, const char *key, const double *v, int n)
{
    if (!v || n <= 0) return;
    dln_json_array(j, key);
    for (int i = 0; i < n; i++) dln_json_num(j, NULL, v[i]);
    dln_json_end_array(j);
}

static void put_problem(dln_json *j, const dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    dln_json_str(j, "backend", dln_backend_name(e->be));
    dln_json_str(j, "precision", precision_name(e));
    if (o->matrix) {
        dln_json_str(j, "data", o->entries_path || o->sensing_path ? "files" : o->entries || o->sensing_A ? "arrays"
                                                                                                      : "synthetic");
        dln_json_str(j, "objective", dln_objective_name(e->obj));
        dln_exp_put_matrix_problem(j, e);
        return;
    }
    dln_json_str(j, "data", o->X ? "arrays" : o->x_path ? "files" : "synthetic");
    dln_json_int(j, "dx", e->d.dx);
    dln_json_int(j, "dy", e->d.dy);
    dln_json_int(j, "samples", e->d.m);
    dln_json_str(j, "objective", dln_objective_name(e->obj));
    if (e->obj && dln_objective_params_of(e->obj)->p != 0) dln_json_num(j, "p", dln_objective_params_of(e->obj)->p);
    if (e->obj && dln_objective_params_of(e->obj)->delta != 0)
        dln_json_num(j, "delta", dln_objective_params_of(e->obj)->delta);
    if (!o->x_path && !o->X) {
        dln_json_int(j, "teacher_rank", o->synth.teacher_rank);
        dln_json_num(j, "noise", o->synth.noise);
        dln_json_int(j, "data_seed", (long)o->synth.seed);
    }
}

static void put_shape(dln_json *j, const dln_shape *s)
{
    dln_json_int(j, "depth", s->depth);
    dln_json_ints(j, "widths", s->dims + 1, s->depth - 1);
    dln_json_int(j, "narrowest", dln_shape_narrowest(s));
}

static const char *stop_name(dln_stop_reason s)
{
    static const char *const names[] = {"converged", "step_limit", "diverged", "no_decrease", "observer", "grad_tol",
                                        "loss_tol", "flow_end"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

static void put_run(dln_json *j, const dln_experiment *e, long b)
{
    const dln_member_spec *m = &e->spec[b];
    const dln_train_result *r = &e->res[b];
    const dln_train_opts *t = &e->o.train;
    int started = e->o.load_dir || e->o.weights;
    put_shape(j, &e->s);
    dln_json_str(j, "init", e->o.load_dir ? "loaded" : e->o.weights ? "given" : dln_init_name(m->init));
    dln_json_num(j, "init_scale", started ? NAN : m->init_scale);
    dln_json_int(j, "seed", (long)m->seed);
    dln_json_num(j, "lr", r->lr);
    dln_json_bool(j, "lr_auto", m->lr <= 0);
    dln_json_str(j, "lr_rule", t->flow > 0 ? "flow" : m->lr > 0 ? "given" : m->lr_rule == DLN_LR_ARORA ? "arora" : "sharpness");
    dln_json_num(j, "lr_init", r->lr_init);
    dln_json_num(j, "sharpness_init", r->sharpness_init);
    dln_json_num(j, "sharpness", r->sharpness);
    dln_json_num(j, "lr_lambda", r->lr * r->sharpness);
    dln_json_int(j, "lr_changes", r->lr_changes);
    dln_json_int(j, "lr_capped", r->lr_capped);
    dln_json_num(j, "momentum", m->momentum);
    dln_json_bool(j, "line_search", t->line_search);
    if (t->flow > 0) {
        dln_json_num(j, "flow", t->flow);
        dln_json_num(j, "flow_rtol", t->flow_rtol > 0 ? t->flow_rtol : DLN_FLOW_RTOL);
        dln_json_int(j, "flow_rejected", r->flow_rejected);
        dln_json_int(j, "flow_evaluations", r->flow_evaluations);
    }
    dln_json_bool(j, "compressed", r->compressed);
    dln_json_int(j, "max_steps", t->steps);
    dln_json_num(j, "tol", t->tol);
    dln_json_num(j, "loss", r->loss);
    dln_json_num(j, "loss_init", r->loss_init);
    dln_json_num(j, "gap", r->gap);
    dln_json_num(j, "rel_gap", r->rel_gap);
    dln_json_num(j, "grad_norm", r->grad_norm);
    dln_json_int(j, "steps", r->steps);
    dln_json_num(j, "time", r->time);
    dln_json_bool(j, "converged", r->converged);
    dln_json_bool(j, "diverged", r->diverged);
    dln_json_str(j, "stop", stop_name(r->stop));
    dln_json_str(j, "verdict", dln_verdict_name(r->verdict));
    if (r->verdict == DLN_VERDICT_CRITICAL) dln_json_int(j, "verdict_rank", r->verdict_rank);
    if (r->verdict_skipped) {
        dln_json_int(j, "verdict_rank", r->verdict_rank);
        dln_json_ints(j, "verdict_modes_swapped", (int[]){r->verdict_skipped, r->verdict_added}, 2);
    }
    dln_json_num(j, "grad_rel", r->grad_rel);
    if (r->verdict == DLN_VERDICT_DECREASING) dln_json_num(j, "steps_to_tol", r->steps_to_tol);
    dln_json_num(j, "seconds", r->seconds);
}

/* theta_min below -tol max|theta| (0 when the Hessian is zero). */
static int negative_curvature(const dln_lanczos_result *r)
{
    double scale = fmax(fabs(r->lambda_max), fabs(r->lambda_min));
    return r->lambda_min < -r->tol * scale;
}

/* The Hessian fields (with "saddle" for a run whose verdict is a critical point). */
static void put_hessian(dln_json *j, const dln_hessian_report *h, int verdict)
{
    dln_json_num(j, "lambda_max", h->r.lambda_max);
    dln_json_num(j, "lambda_min", h->r.lambda_min);
    dln_json_int(j, "negative_count", h->r.negative_count);
    dln_json_bool(j, "negative_curvature", negative_curvature(&h->r));
    dln_json_num(j, "lambda_max_residual", h->r.residual_max);
    dln_json_num(j, "lambda_min_residual", h->r.residual_min);
    dln_json_int(j, "hessian_iterations", h->r.iterations);
    dln_json_int(j, "hessian_params", h->params);
    dln_json_num(j, "hessian_seconds", h->seconds);
    /* a critical point above the optimum: strict (a descent direction of the curvature) or
     * degenerate (no negative eigenvalue found: escaping needs higher-order terms) */
    if (verdict == DLN_VERDICT_CRITICAL || verdict == DLN_VERDICT_STATIONARY)
        dln_json_str(j, "saddle", negative_curvature(&h->r) ? "strict" : "degenerate");
}

/* Another loss: the convex problem's solve (no rank bound), and with an active bound the
 * rank-k restarts: the convex value the lower bound, the best certified value the optimum. */
static void put_other_reference(dln_json *j, const dln_experiment *e)
{
    const dln_convex_result *cx = &e->cx;
    const dln_rank_k_result *rk = &e->rk;
    int k = e->other_rank, active = dln_exp_rank_bound_active(e, k);
    dln_json_str(j, "solver", active ? "rank-k restarts" : "newton-cg");
    if (active) dln_json_int(j, "rank", k);
    if (!active) {
        /* unattained: the infimum 0 (separable), or a positive one at infinity (escaped: unknown,
         * below solver_value) */
        dln_json_num(j, "optimum", cx->escaped ? NAN : cx->unattained ? 0.0 : cx->value);
        dln_json_str(j, "optimum_kind", cx->unattained ? "unattained" : "convex");
    } else {
        int known = e->rank_k_solved && rk->certified > 0;
        dln_json_num(j, "optimum", known ? rk->best : NAN);
        dln_json_str(j, "optimum_kind", known ? "best_known" : "none");
        dln_json_num(j, "optimum_lower_bound", cx->unattained ? 0.0 : cx->value);
        dln_json_num(j, "optimum_best_known", known ? rk->best : NAN);
        dln_json_int(j, "shallow_restarts", e->o.shallow_restarts);
        if (e->rank_k_solved) {
            dln_json_array(j, "shallow_local_minima");
            for (int i = 0; i < rk->n_minima; i++) {
                dln_json_object(j, NULL);
                dln_json_num(j, "value", rk->minima[i].value);
                dln_json_int(j, "count", rk->minima[i].count);
                dln_json_end_object(j);
            }
            dln_json_end_array(j);
            dln_json_num(j, "shallow_minima_group_tol", DLN_MINIMA_GROUP_TOL);
            dln_json_int(j, "shallow_certified", rk->certified);
            dln_json_int(j, "shallow_saddles", rk->saddles);
            dln_json_int(j, "shallow_unconverged", rk->unconverged);
            dln_json_int(j, "shallow_unattained", rk->unattained);
            dln_json_int(j, "shallow_evaluations", rk->evaluations);
            dln_json_int(j, "shallow_hessian_products", rk->hessian_products);
        }
    }
    dln_json_num(j, "solver_value", cx->value);
    dln_json_num(j, "zero_loss", cx->zero_value);
    dln_json_num(j, "solver_grad_norm", cx->grad_norm);
    dln_json_num(j, "solver_rel_grad_norm", cx->grad_norm0 > 0 ? cx->grad_norm / cx->grad_norm0 : 0.0);
    dln_json_int(j, "solver_iterations", cx->iterations);
    dln_json_int(j, "solver_hessian_products", cx->hessian_products);
    dln_json_bool(j, "solver_converged", cx->converged);
    dln_json_str(j, "reference", !active ? (cx->unattained ? "unattained" : "convex")
                                         : e->rank_k_solved && rk->certified > 0 ? "best known" : "none");
}

/* A member's certificate (reference.c): its product's rank and gradient, the local minimum
 * the shallow local solve reached from it, and the answer. */
static void put_certificate(dln_json *j, const dln_member_certificate *c)
{
    if (!c || !c->done) return; /* not asked, not cheap, or diverged */
    dln_json_bool(j, "shallow_local_min", c->local_min);
    dln_json_str(j, "shallow_verdict", c->verdict);
    dln_json_int(j, "product_rank", c->check.at.product_rank);
    dln_json_num(j, "product_grad_rel", c->check.at.grad_rel);
    dln_json_num(j, "certify_moved", c->check.moved);
    dln_json_num(j, "certify_value", c->check.end.value);
    dln_json_num(j, "certify_grad_rel", c->check.end.grad_rel);
    dln_json_bool(j, "certify_on_manifold", c->check.end.on_manifold);
    dln_json_num(j, "certify_hess_min", c->check.end.hess_min);
    dln_json_num(j, "certify_hess_max", c->check.end.hess_max);
    dln_json_int(j, "certify_tangent_dim", c->check.end.tangent_dim);
}

/* What the loss is measured against: the shallow solution (the square loss), or no reference
 * value (optimum null) with the zero prediction's loss. */
static void put_shallow(dln_json *j, const dln_experiment *e, unsigned flags)
{
    const dln_shallow *sh = &e->sh;
    if (e->convex_solved) {
        put_other_reference(j, e);
        return;
    }
    if (!e->solved) {
        dln_json_num(j, "optimum", NAN);
        dln_json_num(j, "zero_loss", e->ref.zero_loss);
        dln_json_str(j, "reference", dln_reference_kind_name(e->ref.kind));
        return;
    }
    dln_json_str(j, "solver", dln_solver_route_name(sh->route));
    dln_json_int(j, "rank", sh->k);
    dln_json_num(j, "optimum", sh->optimum);
    put_nums(j, "optimum_by_rank", sh->optimum_by_rank, sh->n_ranks);
    dln_json_num(j, "lstsq", sh->lstsq);
    dln_json_num(j, "zero_loss", sh->y_half);
    dln_json_str(j, "reference", dln_reference_kind_name(DLN_REFERENCE_CLOSED_FORM));
    dln_json_int(j, "rank_x", sh->rank_x);
    dln_json_int(j, "rank_y", sh->rank_y);
    dln_json_num(j, "rank_tol_x", sh->tol_x);
    dln_json_num(j, "rank_tol_y", sh->tol_y);
    dln_json_num(j, "cond_x", sh->cond_x);
    dln_json_num(j, "sigma_k", sh->sigma_k);
    dln_json_num(j, "sigma_k1", sh->sigma_k1);
    dln_json_num(j, "sigma_gap", sh->sigma_k - sh->sigma_k1);
    dln_json_bool(j, "constrained", sh->constrained);
    dln_json_bool(j, "hypotheses", sh->hypotheses);
    if (flags & DLN_SUMMARY_SPECTRA) {
        put_nums(j, "singular_values_x", sh->sx, sh->dx < sh->m ? sh->dx : sh->m);
        put_nums(j, "singular_values_m", sh->sm, sh->n_ranks - 1);
    }
}

static void put_memory(dln_json *j, const dln_mem_estimate *est)
{
    dln_json_num(j, "memory_estimate", est->resident + est->host);
    dln_json_num(j, "memory_backend", est->backend);
    dln_json_str(j, "memory_phase", est->phase);
}

void dln_exp_member_note(const dln_experiment *e, long b, char *buf, size_t n)
{
    const dln_train_result *r = &e->res[b];
    dln_train_opts t = dln_exp_member_opts(e, &e->spec[b]);
    dln_train_describe(r, &t, buf, n);
    if (!e->have_h || (r->verdict != DLN_VERDICT_CRITICAL && r->verdict != DLN_VERDICT_STATIONARY)) return;
    size_t used = strlen(buf);
    const dln_lanczos_result *h = &e->h.r;
    if (negative_curvature(h))
        snprintf(buf + used, n - used, "; a strict saddle: lambda_min %.3g < 0 (its eigenvector is a descent "
                 "direction: save it and start again from the weights perturbed along it)", h->lambda_min);
    else
        snprintf(buf + used, n - used, "; a degenerate saddle: no negative curvature found (lambda_min %.3g; a "
                 "random perturbation of the weights may escape it)", h->lambda_min);
}

int dln_experiment_summary(const dln_experiment *e, long member, unsigned flags, dln_json *j)
{
    if (!e->ran || member < 0 || member >= e->members)
        return dln_fail(e->err, DLN_EINPUT, "no summary of member %ld (run the experiment first)", member);
    const dln_experiment_opts *o = &e->o;
    dln_json_object(j, NULL);
    if (o->command == DLN_EXPERIMENT_SOLVE) {
        dln_json_str(j, "command", "solve");
        put_problem(j, e);
        put_shallow(j, e, flags);
        dln_exp_put_matrix_baseline(j, e);
        put_memory(j, &e->est);
        dln_json_num(j, "seconds", e->seconds);
    } else if (o->command == DLN_EXPERIMENT_HESSIAN) {
        dln_json_str(j, "command", "hessian");
        put_problem(j, e);
        put_shape(j, &e->s);
        dln_json_num(j, "loss", e->h.loss);
        double gap = dln_reference_has_value(&e->ref) ? e->h.loss - e->ref.optimum : NAN;
        dln_json_num(j, "gap", gap);
        dln_json_num(j, "rel_gap", gap / e->ref.zero_loss);
        dln_json_num(j, "grad_norm", e->h.grad_norm);
        put_hessian(j, &e->h, -1);
        put_shallow(j, e, flags);
        put_certificate(j, e->cert);
        put_memory(j, &e->est);
    } else {
        char note[DLN_TRAIN_NOTE_MAX + 512];
        const dln_train_result *r = &e->res[member];
        dln_json_str(j, "command", "train");
        if (flags & DLN_SUMMARY_MEMBER) dln_json_int(j, "member", member);
        put_problem(j, e);
        put_run(j, e, member);
        dln_exp_put_matrix_member(j, e, member);
        if (e->have_h) put_hessian(j, &e->h, r->verdict);
        dln_json_num(j, "solve_seconds", e->solve_seconds);
        dln_json_num(j, "balancedness_init", e->bal0[member]);
        dln_json_num(j, "balancedness", r->diverged ? NAN : e->bal[member]);
        put_shallow(j, e, flags);
        dln_exp_put_matrix_baseline(j, e);
        put_certificate(j, e->cert ? &e->cert[member] : NULL);
        put_memory(j, &e->est);
        dln_exp_member_note(e, member, note, sizeof note);
        dln_json_str(j, "note", note);
    }
    dln_json_end_object(j);
    dln_json_newline(j);
    return dln_json_text(j) ? DLN_OK : dln_fail(e->err, DLN_ENOMEM, "out of memory writing the summary");
}

int dln_trace_due(const dln_observation *obs, int every, long last)
{
    int due = (every > 0 && obs->step % every == 0) || obs->final || isfinite(obs->sharpness);
    return due && obs->step != last;
}

void dln_trace_line(dln_json *j, long member, const dln_observation *obs)
{
    dln_json_object(j, NULL);
    if (member >= 0) dln_json_int(j, "member", member);
    dln_json_int(j, "step", obs->step);
    dln_json_num(j, "loss", obs->loss);
    dln_json_num(j, "gap", obs->gap);
    dln_json_num(j, "rel_gap", obs->rel_gap);
    dln_json_num(j, "grad_norm", obs->grad_norm);
    dln_json_num(j, "lr", obs->lr);
    dln_json_num(j, "time", obs->time);
    double lambda = isfinite(obs->sharpness) ? obs->sharpness : obs->sharpness_est; /* measured here, or the rule's */
    if (isfinite(lambda)) {
        dln_json_num(j, "lambda_max", lambda);
        dln_json_num(j, "lr_lambda", obs->lr * lambda);
        dln_json_num(j, "two_over_lr", 2.0 / obs->lr); /* the edge of stability: lambda_max against 2 / lr */
        put_nums(j, "lambda_top", obs->sharpness_top, obs->n_sharpness_top);
    }
    put_nums(j, "product_sv", obs->product_sv, obs->n_product_sv);
    if (obs->product_sv || isfinite(obs->nuclear_norm)) dln_json_num(j, "effective_rank", obs->effective_rank);
    if (isfinite(obs->nuclear_norm)) dln_json_num(j, "nuclear_norm", obs->nuclear_norm);
    if (isfinite(obs->test_error)) dln_json_num(j, "test_error", obs->test_error);
    put_nums(j, "mode_strength", obs->mode_strength, obs->n_modes);
    put_nums(j, "target_sv", obs->target_sv, obs->n_modes);
    put_nums(j, "layer_norms", obs->layer_norms, obs->n_layers);
    if (isfinite(obs->balancedness)) dln_json_num(j, "balancedness", obs->balancedness);
    if (isfinite(obs->flow_distance)) { /* --compare-flow: gradient descent against the flow at the same time */
        dln_json_num(j, "flow_distance", obs->flow_distance);
        dln_json_num(j, "flow_distance_rel", obs->flow_distance / obs->flow_weight_norm);
    }
    dln_json_num(j, "seconds", obs->seconds);
    dln_json_end_object(j);
    dln_json_newline(j);
}
