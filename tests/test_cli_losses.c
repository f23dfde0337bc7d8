/* test_cli_losses.c: `dln train --loss` end to end (suite "cli"; runner and fixtures in
 * tests/test_cli_runner.c). Bad input for each loss keeps the contract of expect_bad (exit 2,
 * nothing on stdout, one "dln: " line naming the culprit) and leaves the directory as it was
 * (no --save directory, no --log file): labels outside [0, 1] for logistic, columns off the
 * simplex for softmax, p < 2, delta <= 0, a parameter without its loss, an unknown loss, and
 * what a loss without a closed-form solver cannot do (dln solve with an active rank bound,
 * --save-solution, lr arora for lp). And a run of each loss on the synthetic problem: its labels the loss's, the summary
 * saying what was fitted and that there is no reference value. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli_runner.h"
#include "test_support.h"

/* Bad input for `dln train ARGS --save out --log log.jsonl`: the contract, nothing written. */
#define BAD_TRAIN(want, ...)                                                                              \
    do {                                                                                                  \
        char before_[4096], after_[4096];                                                                 \
        listing(tdir, before_, sizeof before_);                                                           \
        expect_bad(DLN("train", __VA_ARGS__, "--save", P("out"), "--log", P("log.jsonl")), want);          \
        listing(tdir, after_, sizeof after_);                                                             \
        cr_assert_str_eq(after_, before_, "files changed by a refused run");                              \
    } while (0)

/* Y (3, 6) in Fortran order with the given 18 values. */
static void write_y(const char *name, const double *v) { npy_raw(P(name), "<f8", 1, "(3, 6)", v, 18 * sizeof(double)); }

Test(cli, loss_targets_the_loss_does_not_take)
{
    double labels[18], simplex[18];
    for (int e = 0; e < 18; e++) labels[e] = (e % 3) == 0, simplex[e] = 1.0 / 3.0;
    labels[7] = 1.5; /* a label above 1 */
    write_y("Ylab.npy", labels);
    BAD_TRAIN("[0, 1]", "--x", P("X.npy"), "--y", P("Ylab.npy"), "--loss", "logistic");
    labels[7] = -0.25; /* below 0 */
    write_y("Ylab.npy", labels);
    BAD_TRAIN("Ylab.npy", "--x", P("X.npy"), "--y", P("Ylab.npy"), "--loss", "logistic");
    simplex[4] = 0.5; /* column 1 sums to 1 + 1/6 */
    write_y("Ysim.npy", simplex);
    BAD_TRAIN("sum to 1", "--x", P("X.npy"), "--y", P("Ysim.npy"), "--loss", "softmax");
    simplex[4] = 1.0 / 3.0, simplex[9] = -0.1, simplex[10] = 1.1 / 3.0 + 0.1 / 3.0; /* a negative entry */
    write_y("Ysim.npy", simplex);
    BAD_TRAIN("nonnegative", "--x", P("X.npy"), "--y", P("Ysim.npy"), "--loss", "softmax");
    /* the fixture's Y (values beyond [0, 1]) for the classifiers */
    BAD_TRAIN("--y", "--x", P("X.npy"), "--y", P("Y.npy"), "--loss", "logistic");
    BAD_TRAIN("--y", "--x", P("X.npy"), "--y", P("Y.npy"), "--loss", "softmax");
    /* and the same targets are fine for the regression losses */
    run_ok(DLN("train", "--x", P("X.npy"), "--y", P("Ylab.npy"), "--loss", "huber", "--steps", "5", "--quiet"));
}

Test(cli, loss_parameters_out_of_range_or_without_their_loss)
{
    BAD_TRAIN("--p", SMALL, "--loss", "lp", "--p", "1.5");
    BAD_TRAIN("--p", SMALL, "--loss", "lp", "--p", "65");
    BAD_TRAIN("--p", SMALL, "--loss", "lp", "--p", "nan");
    BAD_TRAIN("--delta", SMALL, "--loss", "huber", "--delta", "0");
    BAD_TRAIN("--delta", SMALL, "--loss", "huber", "--delta", "-1");
    BAD_TRAIN("--loss lp", SMALL, "--p", "4");
    BAD_TRAIN("--loss huber", SMALL, "--loss", "logistic", "--delta", "1");
    BAD_TRAIN("--loss", SMALL, "--loss", "hinge");
    BAD_TRAIN("--grad-tol", SMALL, "--loss", "lp", "--grad-tol", "-1");
    BAD_TRAIN("arora", SMALL, "--loss", "lp", "--lr", "arora");
    BAD_TRAIN("--save-solution", SMALL, "--loss", "logistic", "--save-solution", P("sol"));
    /* the restarts are the other losses' (the square loss's optimum is in closed form) */
    expect_bad(DLN("solve", SMALL, "--rank", "2", "--shallow-restarts", "3"), "--shallow-restarts");
    BAD_TRAIN("--shallow-restarts", SMALL, "--shallow-restarts", "3");
    BAD_TRAIN("--shallow-restarts", SMALL, "--loss", "lp", "--shallow-restarts", "-1");
    BAD_TRAIN("--shallow-restarts", SMALL, "--loss", "lp", "--shallow-restarts", "2.5");
    expect_bad(DLN("solve", SMALL, "--loss", "lp", "--certify"), "certify");
    expect_bad(DLN("solve", SMALL, "--loss", "hinge"), "--loss");
    run_t r = expect_ok(DLN("solve", SMALL, "--loss", "huber", "--quiet"));
    jstr_is(r.out, "optimum_kind", "convex");
    jstr_is(r.out, "objective", "huber");
    run_free(&r);
    /* an active rank bound (--rank, or the shape's narrowest layer): the restarts' best */
    const char *bound[][4] = {{"--rank", "2", NULL, NULL}, {"--depth", "3", "--width", "2"}};
    for (int b = 0; b < 2; b++) {
        r = expect_ok(DLN("solve", SMALL, "--loss", "lp", "--quiet", "--shallow-restarts", "4", (char *)bound[b][0],
                          (char *)bound[b][1], (char *)bound[b][2], (char *)bound[b][3]));
        jstr_is(r.out, "optimum_kind", "best_known");
        cr_expect_eq(jnum(r.out, "rank"), 2.0, "%s", r.out);
        cr_expect(jnum(r.out, "optimum_lower_bound") <= jnum(r.out, "optimum_best_known"), "%s", r.out);
        run_free(&r);
    }
}

Test(cli, every_loss_trains_on_its_synthetic_labels)
{
    const char *losses[] = {"lp", "huber", "logistic", "softmax"};
    for (int k = 0; k < 4; k++) {
        run_t r = expect_ok(DLN("train", SMALL, "--loss", (char *)losses[k], "--steps", "300", "--quiet", "--save-data",
                                P(losses[k])));
        jstr_is(r.out, "objective", losses[k]);
        /* the narrowest layer 4 < min(dx, dy) = 5: the rank-4 restarts' best is the
         * reference; the logistic and softmax labels of 20 samples in 6 dimensions are
         * separable even at rank 4 (every restart unattained: none) */
        json_t *o = jparse(r.out);
        const char *ref = json_string_value(json_object_get(o, "reference"));
        cr_assert(ref, "%s: no reference field", losses[k]);
        if (k >= 2) {
            cr_expect(!strcmp(ref, "none") && json_is_null(json_object_get(o, "gap")) &&
                          json_is_null(json_object_get(o, "optimum")),
                      "%s: separable: no reference value, no gap: %s", losses[k], r.out);
        } else {
            cr_expect(!strcmp(ref, "best known") && fabs(jnum(r.out, "gap") - (jnum(r.out, "loss") - jnum(r.out, "optimum"))) <=
                          1e-12 * jnum(r.out, "loss_init"),
                      "%s: gap from the best-known value: %s", losses[k], r.out);
        }
        cr_expect(json_is_false(json_object_get(o, "compressed")), "%s trains on the full data", losses[k]);
        cr_expect(jnum(r.out, "loss") < jnum(r.out, "loss_init"), "%s: the loss did not fall: %s", losses[k], r.out);
        json_decref(o);
        run_free(&r);
        /* the labels saved are the loss's: 0/1 (logistic), one-hot columns (softmax) */
        char path[4200];
        snprintf(path, sizeof path, "%s/Y.npy", P(losses[k]));
        int rows, cols;
        double *Y;
        dln_error err;
        dln_error_clear(&err);
        cr_assert_eq(dln_npy_read(path, &rows, &cols, &Y, &err), DLN_OK, "%s", err.msg);
        for (int j = 0; j < cols && k >= 2; j++) {
            double s = 0;
            for (int i = 0; i < rows; i++) {
                double y = Y[i + (size_t)j * rows];
                cr_expect(y == 0.0 || y == 1.0, "%s: label %g", losses[k], y);
                s += y;
            }
            if (k == 3) cr_expect_eq(s, 1.0, "softmax: column %d sums to %g", j, s);
        }
        free(Y);
    }
}

/* Every loss on enough samples that its products and its loss evaluation are cut into
 * pieces (src/backends/cpu/gemm_cpu.c, loss_cpu.c): the same summary numbers and the same
 * saved weights, bit for bit, on 1 and 2 threads. */
Test(cli, every_loss_is_the_same_bits_on_one_and_two_threads)
{
    const char *losses[] = {"square", "lp", "huber", "logistic", "softmax"};
    for (int k = 0; k < 5; k++) {
        char dir[2][64];
        run_t r[2];
        for (int t = 0; t < 2; t++) {
            snprintf(dir[t], sizeof dir[t], "%s-%d", losses[k], t + 1);
            r[t] = expect_ok(DLN("train", "--dx", "32", "--dy", "10", "--samples", "8000", "--depth", "3", "--width", "8",
                                 "--full-data", "--loss", (char *)losses[k], "--steps", "60", "--quiet", "--no-certify",
                                 /* the training's bits: no rank-8 reference restarts */
                                 k ? "--shallow-restarts" : "--quiet", k ? "0" : "--quiet", "--threads",
                                 t ? "2" : "1", "--save", P(dir[t])));
        }
        cr_expect_eq(jnum(r[0].out, "loss"), jnum(r[1].out, "loss"), "%s: loss on 1 and 2 threads", losses[k]);
        cr_expect_eq(jnum(r[0].out, "grad_norm"), jnum(r[1].out, "grad_norm"), "%s: |G|", losses[k]);
        for (int i = 1; i <= 3; i++) {
            char a[4200], b[4200];
            snprintf(a, sizeof a, "%s/W%d.npy", P(dir[0]), i);
            snprintf(b, sizeof b, "%s/W%d.npy", P(dir[1]), i);
            int ra, ca, rb, cb;
            double *Wa, *Wb;
            dln_error err;
            dln_error_clear(&err);
            cr_assert_eq(dln_npy_read(a, &ra, &ca, &Wa, &err), DLN_OK, "%s", err.msg);
            cr_assert_eq(dln_npy_read(b, &rb, &cb, &Wb, &err), DLN_OK, "%s", err.msg);
            cr_expect(ra == rb && ca == cb && memcmp(Wa, Wb, sizeof(double) * (size_t)ra * ca) == 0,
                      "%s: W%d differs between 1 and 2 threads", losses[k], i);
            free(Wa), free(Wb);
        }
        run_free(&r[0]), run_free(&r[1]);
    }
}
