/* matrixopts.c: the options of matrix completion and sensing (dln train, solve, hessian):
 * the observations from files (--entries; --sensing with --b; --test-entries) or the
 * synthetic problem (--complete, --sense with --rows --cols --target-rank --observed and
 * the shared --noise, --data-seed), the shape --rows --cols, and the nuclear-norm baseline
 * (--nuclear, --no-nuclear). options.c splices CLI_MATRIX_OPTIONS into its tables and hands
 * every code from CLI_MATRIX_FIRST on to cli_matrix_option; cli_matrix_check refuses what
 * does not go with a matrix problem. The problems themselves are the library's
 * (dln/matrix.h). */
#include <string.h>

#include "cli.h"

const char *const cli_matrix_help =
    "Matrix completion and sensing (the product W_H...W_1 is the rows x cols matrix itself;\n"
    "docs/maths.md 9):\n"
    "  --entries FILE      observed entries, a (k, 3) .npy of (row, col, value), 0-based; loss\n"
    "                      1/2 sum (R_ij - v)^2 over them (needs --rows and --cols)\n"
    "  --sensing FILE      measurement matrices, a (k, rows*cols) .npy: row l reshaped to\n"
    "                      (rows, cols) in C order is A_l; loss 1/2 sum (<A_l, R> - b_l)^2\n"
    "  --b FILE            the measurements b, a (k,) .npy (with --sensing)\n"
    "  --test-entries FILE held-out entries (n, 3) for the test error (with --entries/--sensing)\n"
    "  --complete, --sense the synthetic problem: a rank --target-rank matrix scaled to\n"
    "                      ||R*||_F = sqrt(rows cols), --observed entries drawn uniformly\n"
    "                      without replacement (or Gaussian measurements), plus --noise\n"
    "                      (default 0); the held-out entries are the unobserved ones (all\n"
    "                      entries for sensing)\n"
    "  --rows R, --cols C  the matrix's shape                         (default 100 x 100)\n"
    "  --target-rank N     the synthetic target's rank                (default 5)\n"
    "  --observed K        observed entries or measurements            (default 2000)\n"
    "  --nuclear, --no-nuclear  the nuclear-norm minimisation baseline (ADMM) in the summary\n"
    "                      (default: when rows x cols <= 65536)\n"
    "  Summaries and traces carry test_error, effective_rank, nuclear_norm; --save-data DIR\n"
    "  writes the synthetic problem's entries.npy (or A.npy, b.npy), test_entries.npy and\n"
    "  target.npy.\n\n";

void cli_matrix_defaults(cli_opts *o)
{
    o->rows = o->cols = 100;
    o->target_rank = 5;
    o->observed = 2000;
    o->nuclear = -1;
}

int cli_matrix_option(int c, const char *a, cli_opts *o, dln_error *err)
{
    double v;
    switch (c - CLI_MATRIX_FIRST) {
    case 0: o->entries_path = a; return DLN_OK;
    case 1: o->sensing_path = a; return DLN_OK;
    case 2: o->b_path = a; return DLN_OK;
    case 3: o->test_path = a; return DLN_OK;
    case 4: o->matrix_synth_kind = DLN_MATRIX_COMPLETION, o->n_matrix_synth++; return DLN_OK;
    case 5: o->matrix_synth_kind = DLN_MATRIX_SENSING, o->n_matrix_synth++; return DLN_OK;
    case 6: case 7: case 8: case 9: {
        static const char *const names[] = {"rows", "cols", "target-rank", "observed"};
        int *dst[] = {&o->rows, &o->cols, &o->target_rank, &o->observed};
        int k = c - CLI_MATRIX_FIRST - 6;
        DLN_TRY(cli_parse_double(names[k], a, 1, DLN_MAX_DIM, &v, err));
        if (v != (int)v) return dln_fail(err, DLN_EINPUT, "--%s: expected a whole number, got '%s'", names[k], a);
        *dst[k] = (int)v;
        if (k < 2) o->shape_set = 1;
        else o->matrix_synth_set = 1;
        return DLN_OK;
    }
    case 10: o->nuclear = 1; return DLN_OK;
    case 11: o->nuclear = 0; return DLN_OK;
    default: return dln_fail(err, DLN_EINPUT, "internal: unknown option code %d", c);
    }
}

int cli_matrix_check(cli_opts *o, dln_error *err)
{
    int files = !!o->entries_path + !!o->sensing_path, synth = o->n_matrix_synth;
    if (files + synth == 0) {
        if (o->b_path || o->test_path || o->shape_set || o->matrix_synth_set || o->nuclear >= 0)
            return dln_fail(err, DLN_EINPUT, "--b/--test-entries/--rows/--cols/--target-rank/--observed/--nuclear "
                            "describe a matrix problem: give --entries, --sensing, --complete or --sense");
        return DLN_OK;
    }
    if (files + synth > 1)
        return dln_fail(err, DLN_EINPUT, "--entries, --sensing, --complete and --sense each give the problem: give one");
    o->matrix = files ? (o->entries_path ? DLN_MATRIX_COMPLETION : DLN_MATRIX_SENSING) : o->matrix_synth_kind;
    if (o->x_path || o->synth_set)
        return dln_fail(err, DLN_EINPUT, "a matrix problem has no X and Y: drop --x/--y/--dx/--dy/--samples/"
                        "--teacher-rank");
    if (!!o->sensing_path != !!o->b_path)
        return dln_fail(err, DLN_EINPUT, "--sensing and --b go together: give both");
    if (files && !o->shape_set)
        return dln_fail(err, DLN_EINPUT, "--%s: give the matrix's shape with --rows and --cols",
                        o->entries_path ? "entries" : "sensing");
    if (files && (o->matrix_synth_set || o->noise_set || o->data_seed_set))
        return dln_fail(err, DLN_EINPUT, "--target-rank/--observed/--noise/--data-seed describe the synthetic problem "
                        "(--complete, --sense), not observations from files");
    if (synth && o->test_path)
        return dln_fail(err, DLN_EINPUT, "--test-entries: the synthetic problem's held-out entries are its unobserved "
                        "ones");
    if (strcmp(o->loss, "square") || o->loss_p_set || o->loss_delta_set)
        return dln_fail(err, DLN_EINPUT, "--loss: a matrix problem's loss is the square loss on its observations");
    if (o->train.data_mode == DLN_DATA_COMPRESSED)
        return dln_fail(err, DLN_EINPUT, "--compressed: a matrix problem has no compression (its loss is not the "
                        "square loss on X, Y)");
    if (o->dyn.data_dir && files)
        return dln_fail(err, DLN_EINPUT, "--save-data: these observations are files already");
    if (!o->noise_set) o->noise = 0.0;
    return DLN_OK;
}

void cli_matrix_opts(const cli_opts *o, dln_experiment_opts *x)
{
    x->matrix = o->matrix;
    if (!o->matrix) return;
    x->rows = o->rows, x->cols = o->cols;
    x->entries_path = o->entries_path, x->sensing_path = o->sensing_path, x->b_path = o->b_path;
    x->test_path = o->test_path;
    x->matrix_synth = (dln_matrix_synth_opts){o->matrix, o->rows, o->cols, o->target_rank, o->observed, o->noise,
                                              o->data_seed};
    x->nuclear = o->nuclear;
}
