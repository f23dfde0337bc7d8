/* test_backend_ops.c: every backend operation on every backend and dtype against a host
 * reference: one table of operations (ops_checks.h lists the checks and their
 * tolerances), run as one parametrised test per (backend, dtype, operation). The CUDA
 * cases skip where no device is usable (and run on the emulated device in CI). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>

#include "ops_checks.h"

typedef struct {
    const char *name;
    void (*check)(oc_ctx *c);
} op_case;

static const op_case op_table[] = {
    {"alloc", oc_alloc},         {"upload/download", oc_transfer}, {"copy", oc_copy},
    {"transpose", oc_transpose}, {"gemm", oc_gemm},                {"gemm tf32", oc_gemm_tf32},
    {"axpby", oc_axpby},         {"sumsq", oc_sumsq},              {"gesvd", oc_gesvd},
    {"graph capture", oc_graph}, {"batched gemm, axpby, sumsq", oc_batched},
    {"geqrf, ormqr", oc_qr},     {"triu", oc_triu},              {"batched gemm tf32", oc_batched_tf32},
    {"loss gradient, hessian", oc_loss},
};
#define N_OPS (sizeof op_table / sizeof op_table[0])

typedef struct {
    int backend; /* index into ts_backend_kinds */
    int dtype;
    int op;      /* index into op_table */
} op_param;

ParameterizedTestParameters(backend_ops, every_op_on_every_backend_and_dtype)
{
    static op_param params[TS_BACKENDS * 2 * N_OPS];
    size_t n = 0;
    for (int b = 0; b < TS_BACKENDS; b++)
        for (int t = 0; t < 2; t++)
            for (size_t o = 0; o < N_OPS; o++) params[n++] = (op_param){b, t, (int)o};
    return cr_make_param_array(op_param, params, n);
}

ParameterizedTest(op_param *p, backend_ops, every_op_on_every_backend_and_dtype)
{
    oc_ctx c;
    oc_open(&c, ts_backend_kinds[p->backend], (dln_dtype)p->dtype);
    cr_log_info("%s: %s", c.label, op_table[p->op].name);
    op_table[p->op].check(&c);
    oc_close(&c);
}
