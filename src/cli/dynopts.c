/* dynopts.c: the options of the loss-landscape tools: `dln train --hessian`,
 * --save-direction, --save-solution, --save-data, --perturb, --perturb-dir, --observe,
 * --sharpness-every, --flow, --flow-rtol, and the `dln hessian` command's help. options.c splices CLI_DYN_TRAIN_OPTIONS and
 * CLI_DYN_SOLVE_OPTIONS into its tables and hands every code from CLI_DYN_FIRST on to
 * cli_dyn_option; cli_dyn_check refuses the combinations that make no sense. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *const cli_dyn_train_help =
    "Landscape:\n"
    "  --hessian           the Hessian's extreme eigenvalues at the final weights (Lanczos on\n"
    "                      exact Hessian-vector products): lambda_max, lambda_min, negative_count\n"
    "                      in the summary, and for a saddle verdict whether it is strict\n"
    "  --hessian-iters N   Lanczos steps, at most the parameter count (default 100 for\n"
    "                      --hessian, 20 for --sharpness-every)\n"
    "  --save-direction DIR  with --hessian: the unit eigenvector of lambda_min as W1.npy..WH.npy\n"
    "  --save-solution DIR the shallow optimum R* (dy, dx) as DIR/R.npy\n"
    "  --save-data DIR     the synthetic X and Y as DIR/X.npy and DIR/Y.npy\n"
    "  --perturb S         with --load: start from W + S v, v a unit direction (all layers\n"
    "                      together): --perturb-dir's, else a random one from --seed\n"
    "  --perturb-dir DIR   the direction v as W1.npy..WH.npy (e.g. from --save-direction)\n"
    "  --observe           with --log: add product_sv, effective_rank, mode_strength,\n"
    "                      target_sv, layer_norms and balancedness to every trace line\n"
    "                      (cost: docs/maths.md, section 8)\n"
    "  --sharpness-every K with --log: lambda_max of the Hessian (Lanczos, --hessian-iters\n"
    "                      steps, default 20) on the trace every K steps, for any --lr;\n"
    "                      batches too; two_over_lr beside it (the edge of stability)\n"
    "  --sharpness-rtol R  with --sharpness-every: Lanczos until lambda_max's residual bound\n"
    "                      is within R of it (its relative error; up to 1000 products)\n"
    "  --sharpness-k K     with --sharpness-every: the top K eigenvalues too (lambda_top;\n"
    "                      with --sharpness-rtol each to that accuracy)\n"
    "  --compare-flow      with --log: flow_distance = ||W - W_flow(t)|| (and _rel) on every\n"
    "                      trace line: the gradient flow from the same start integrated to the\n"
    "                      line's flow time t = sum of the steps (--flow-rtol, default 1e-8)\n\n"
    "Gradient flow (docs/maths.md 10):\n"
    "  --flow T            follow dW/dt = -grad L(W) to time T instead of gradient descent:\n"
    "                      Dormand-Prince 5(4) steps of each member's own adaptive size (a\n"
    "                      `step` is an accepted one; `time` is flow time; stop reason\n"
    "                      flow_end); not with --lr, --momentum or --line-search\n"
    "  --flow-rtol R       the flow's relative tolerance per step, 0 < R < 1   (default 1e-8)\n\n";

const char *const cli_dyn_solve_help =
    "Output:\n"
    "  --save-solution DIR the optimum R* (dy, dx) for the rank bound as DIR/R.npy\n"
    "  --save-data DIR     the synthetic X and Y as DIR/X.npy and DIR/Y.npy\n\n";

void cli_hessian_help(const char *problem_help, const char *exec_help)
{
    (void)exec_help;
    printf("usage: dln hessian --load DIR [options]\n\n"
           "The extreme eigenvalues of the Hessian of 1/2 ||W_H...W_1 X - Y||^2 at the weights in\n"
           "DIR (W1.npy..WH.npy), by Lanczos with full reorthogonalisation on exact Hessian-vector\n"
           "products (fp64). Prints one JSON object: lambda_max (the sharpness), lambda_min,\n"
           "negative_count (Ritz values below -1e-8 max|theta| whose residual is below that too),\n"
           "the loss and gradient there and the shallow optimum.\n\n%s%s"
           "Hessian:\n"
           "  --load DIR          the weights (required)\n"
           "  --hessian-iters N   Lanczos steps, at most the parameter count  (default 100)\n"
           "  --save-direction DIR  the unit eigenvector of lambda_min as DIR/W1.npy..WH.npy\n"
           "                      (atomic as train --save; usable with --load and --perturb-dir)\n"
           "  --save-data DIR     the synthetic X and Y as DIR/X.npy and DIR/Y.npy\n"
           "  --quiet             no note on stderr about the backend chosen\n\n"
           "Execution:\n"
           "  --backend B         cpu, cuda or auto (cuda when a device is present) (default auto)\n"
           "  --help              this text\n",
           problem_help, cli_matrix_help);
}

void cli_dyn_defaults(cli_dyn *d)
{
    memset(d, 0, sizeof *d); /* hessian_iters 0: the library's defaults */
}

/* Decimal only, as options.c takes numbers: a sign or a digit or '.' first (no blanks), no hex. */
static int decimal_start(const char *a)
{
    return (*a >= '0' && *a <= '9') || *a == '+' || *a == '-' || *a == '.' ? !strpbrk(a, "xX") : 0;
}

int cli_dyn_option(int c, const char *a, cli_opts *o, dln_error *err)
{
    cli_dyn *d = &o->dyn;
    char *end = NULL;
    switch (c - CLI_DYN_FIRST) {
    case 0: d->hessian = 1; return DLN_OK;
    case 1: {
        long v = strtol(a, &end, 10);
        if (!decimal_start(a) || *end || v < 1 || v > 100000)
            return dln_fail(err, DLN_EINPUT, "--hessian-iters: expected an integer in [1, 100000], got '%s'", a);
        d->hessian_iters = (int)v;
        return DLN_OK;
    }
    case 2: d->direction_dir = a; return DLN_OK;
    case 3: d->solution_dir = a; return DLN_OK;
    case 4: d->data_dir = a; return DLN_OK;
    case 5: {
        double v = strtod(a, &end);
        if (!decimal_start(a) || *end || !(v >= -1e100 && v <= 1e100))
            return dln_fail(err, DLN_EINPUT, "--perturb: expected a number, got '%s'", a);
        d->perturb = v;
        d->perturb_set = 1;
        return DLN_OK;
    }
    case 6: d->perturb_dir = a; return DLN_OK;
    case 7: d->observe = 1; return DLN_OK;
    case 8: {
        long v = strtol(a, &end, 10);
        if (!decimal_start(a) || *end || v < 1 || v > (1L << 30))
            return dln_fail(err, DLN_EINPUT, "--sharpness-every: expected an integer in [1, %ld], got '%s'", 1L << 30,
                            a);
        d->sharpness_every = (int)v;
        return DLN_OK;
    }
    case 12: d->compare_flow = 1; return DLN_OK;
    case 13: {
        long v = strtol(a, &end, 10);
        if (!decimal_start(a) || *end || v < 1 || v > 1000)
            return dln_fail(err, DLN_EINPUT, "--sharpness-k: expected an integer in [1, 1000], got '%s'", a);
        d->sharpness_k = (int)v;
        return DLN_OK;
    }
    case 11: {
        double v = strtod(a, &end);
        if (!decimal_start(a) || *end || !(v > 0 && v < 1))
            return dln_fail(err, DLN_EINPUT, "--sharpness-rtol: expected a number in (0, 1), got '%s'", a);
        d->sharpness_rtol = v;
        return DLN_OK;
    }
    case 9: case 10: {
        double v = strtod(a, &end);
        int rtol = c - CLI_DYN_FIRST == 10;
        if (!decimal_start(a) || *end || !(rtol ? v > 0 && v < 1 : v > 0 && v <= 1e100))
            return dln_fail(err, DLN_EINPUT, "--%s: expected a number %s, got '%s'", rtol ? "flow-rtol" : "flow",
                            rtol ? "in (0, 1)" : "> 0", a);
        *(rtol ? &d->flow_rtol : &d->flow) = v;
        return DLN_OK;
    }
    default: return dln_fail(err, DLN_EINPUT, "internal: unknown option code %d", c);
    }
}

int cli_dyn_check(const char *command, cli_opts *o, dln_error *err)
{
    cli_dyn *d = &o->dyn;
    int hessian_cmd = !strcmp(command, "hessian");
    if (hessian_cmd && !o->load_dir) return dln_fail(err, DLN_EINPUT, "hessian: --load DIR is required (the weights)");
    if (d->direction_dir && !hessian_cmd && !d->hessian)
        return dln_fail(err, DLN_EINPUT, "--save-direction needs --hessian (it saves the eigenvector of lambda_min)");
    if (d->data_dir && o->x_path)
        return dln_fail(err, DLN_EINPUT, "--save-data writes the synthetic problem; with --x/--y the data are files already");
    if (d->perturb_dir && !d->perturb_set) return dln_fail(err, DLN_EINPUT, "--perturb-dir needs --perturb S");
    if (d->perturb_set && !o->load_dir)
        return dln_fail(err, DLN_EINPUT, "--perturb moves loaded weights: give --load DIR (or use --init-scale)");
    if (d->observe && !o->log_path) return dln_fail(err, DLN_EINPUT, "--observe writes to the trace: give --log FILE");
    if (d->sharpness_every && !o->log_path)
        return dln_fail(err, DLN_EINPUT, "--sharpness-every writes to the trace: give --log FILE");
    o->train.sharpness_every = d->sharpness_every;
    if (d->sharpness_rtol > 0 && !d->sharpness_every)
        return dln_fail(err, DLN_EINPUT, "--sharpness-rtol is the accuracy of --sharpness-every's lambda_max: give both");
    o->train.sharpness_rtol = d->sharpness_rtol;
    if (d->sharpness_k > 0 && !d->sharpness_every)
        return dln_fail(err, DLN_EINPUT, "--sharpness-k adds the top eigenvalues to --sharpness-every's: give both");
    o->train.sharpness_k = d->sharpness_k;
    if (d->compare_flow && !o->log_path)
        return dln_fail(err, DLN_EINPUT, "--compare-flow writes to the trace: give --log FILE");
    if (d->compare_flow && d->flow > 0)
        return dln_fail(err, DLN_EINPUT, "--compare-flow compares gradient descent with the flow: not with --flow");
    if (d->flow_rtol > 0 && !(d->flow > 0) && !d->compare_flow)
        return dln_fail(err, DLN_EINPUT, "--flow-rtol needs --flow T or --compare-flow");
    if (d->flow > 0 && (o->n_lrs > 0 || o->n_moms > 0 || o->train.line_search))
        return dln_fail(err, DLN_EINPUT, "--flow follows the gradient flow with steps of its own: drop --lr, "
                        "--momentum and --line-search");
    o->train.flow = d->flow, o->train.flow_rtol = d->flow_rtol;
    if (!hessian_cmd && strcmp(command, "solve") && cli_members(o) > 1 &&
        (d->hessian || d->direction_dir || d->solution_dir || d->data_dir || d->perturb_set || d->observe))
        return dln_fail(err, DLN_EINPUT, "--hessian, --save-direction, --save-solution, --save-data, --perturb and "
                        "--observe are for a single run: not with lists (--seeds, comma-separated values)");
    /* the output directories must be distinct from each other and from --save and --load */
    const char *outs[] = {d->direction_dir, d->solution_dir, d->data_dir, o->save_dir};
    const char *names[] = {"--save-direction", "--save-solution", "--save-data", "--save"};
    for (int i = 0; i < 4; i++)
        for (int k = i + 1; outs[i] && k < 4; k++)
            if (outs[k] && !strcmp(outs[i], outs[k]))
                return dln_fail(err, DLN_EINPUT, "%s and %s name the same directory %s", names[i], names[k], outs[i]);
    for (int i = 0; i < 4; i++)
        if (outs[i] && o->load_dir && !strcmp(outs[i], o->load_dir) && i < 3)
            return dln_fail(err, DLN_EINPUT, "%s %s: is the --load directory", names[i], outs[i]);
    return DLN_OK;
}
