/* batch.c: `dln train` with lists (--seeds; comma-separated --init, --init-scale, --lr,
 * --momentum): the members are the product of the lists, trained on the same data and
 * shape by dln_train_batch, at most --batch-size at once (fewer when the memory check says
 * so; the rest follow in later batches of this process). The data are read and the shallow
 * problem solved once. Each member's summary is the line its single run prints (the same
 * fields, from its own options), with a `member` field; its trace lines carry `member`;
 * --save DIR stages its weights as DIR/<member>. As for a single run, every summary is
 * printed before the log and the weights are committed, so a run that fails before then
 * leaves the user's files as they were. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

long cli_members(const cli_opts *o)
{
    long n = 1;
    int c[] = {o->n_seeds, o->n_inits, o->n_scales, o->n_lrs, o->n_moms};
    for (int i = 0; i < 5; i++) n *= c[i] > 1 ? c[i] : 1;
    return n;
}

/* member b = ((((init * n_scales + scale) * n_lrs + lr) * n_moms + mom) * n_seeds + seed) */
void cli_member_opts(const cli_opts *o, long b, cli_opts *m)
{
    *m = *o;
    long k = b;
    if (o->n_seeds) m->seed = o->seeds[k % o->n_seeds], k /= o->n_seeds;
    if (o->n_moms) m->train.momentum = o->moms[k % o->n_moms], k /= o->n_moms;
    if (o->n_lrs) m->train.lr = o->lrs[k % o->n_lrs], m->train.lr_rule = o->lr_rules[k % o->n_lrs], k /= o->n_lrs;
    if (o->n_scales) m->init_scale = o->scales[k % o->n_scales], k /= o->n_scales;
    if (o->n_inits) m->init = o->inits[k % o->n_inits];
}

/* Everything a batch run holds, released in one place. */
typedef struct {
    dln_data d;
    dln_shape s;
    dln_backend *be;
    dln_shallow sh;
    cli_outfile log;
    dln_mem_estimate est;
    double **loaded;             /* --load: the weights every member starts from */
    dln_staged_weights **staged; /* [members]: staged saves, committed at the end */
    char **lines;                /* [members]: the summary lines */
    long members;
    int batch;                   /* members trained at once */
    int made_save_dir;           /* this run created the --save directory */
    double solve_sec;
} batch_state;

/* DIR/<b> in buf. */
static void member_dir(const char *dir, long b, char *buf, size_t n)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    snprintf(buf, n, "%.*s/%ld", (int)len, dir, b);
}

/* --save DIR: DIR absent (its parent writable) or a directory; every DIR/<b> absent or a
 * set of weights that can be replaced. */
static int check_save(const cli_opts *o, long members, dln_error *err)
{
    struct stat sb;
    int rc = DLN_OK;
    if (stat(o->save_dir, &sb) != 0) {
        if (errno != ENOENT) return dln_fail(err, DLN_EINPUT, "--save %s: %s", o->save_dir, strerror(errno));
        rc = dln_weights_check_dir(o->save_dir, err);
    } else if (!S_ISDIR(sb.st_mode)) {
        return dln_fail(err, DLN_EINPUT, "--save %s: exists and is not a directory", o->save_dir);
    }
    char path[4096];
    for (long b = 0; !rc && S_ISDIR(sb.st_mode) && b < members; b++) {
        member_dir(o->save_dir, b, path, sizeof path);
        rc = dln_weights_check_dir(path, err);
    }
    if (rc) dln_error_prefix(err, "--save ");
    return rc;
}

/* Outputs, backend, sizes and memory checked; data read, shallow problem solved, log open. */
static int prepare(cli_opts *o, batch_state *st, const char **note, dln_error *err)
{
    o->train.dtype = o->dtype;
    st->members = cli_members(o);
    DLN_TRY(cli_check_outputs(o, 1, err));
    if (o->save_dir) DLN_TRY(check_save(o, st->members, err));
    DLN_TRY(cli_get_backend(o, err, &st->be, note));
    if (dln_backend_set_threads(st->be, o->threads)) { /* threads that cannot start: one */
        if (err->code != DLN_ERUNTIME) return err->code;
        if (!o->quiet) fprintf(stderr, "dln: note: %s; the members run on one thread\n", err->msg);
        dln_error_clear(err);
    }
    int dx, dy, m;
    DLN_TRY(cli_data_dims(o, &dx, &dy, &m, err));
    if (m) { /* sizes known from the headers: check before reading the data */
        DLN_TRY(cli_make_shape(o, dx, dy, &st->s, err));
        DLN_TRY(cli_check_batch_memory(o, &st->s, dx, dy, m, st->members, st->be, &st->batch, &st->est, err));
    }
    DLN_TRY(cli_get_data(o, &st->d, err));
    if (!m) { /* read from a pipe: checked now */
        DLN_TRY(cli_make_shape(o, st->d.dx, st->d.dy, &st->s, err));
        DLN_TRY(cli_check_batch_memory(o, &st->s, st->d.dx, st->d.dy, st->d.m, st->members, st->be, &st->batch,
                                       &st->est, err));
    }
    long asked = o->batch_size > 0 && o->batch_size < st->members ? o->batch_size : st->members;
    if (st->batch < asked && !o->quiet)
        fprintf(stderr, "dln: note: %d members train at a time (more do not fit in memory)\n", st->batch);
    if (o->load_dir) DLN_TRY(cli_get_weights(o, &st->d, &st->s, &st->loaded, err));
    st->staged = calloc((size_t)st->members, sizeof *st->staged);
    st->lines = calloc((size_t)st->members, sizeof *st->lines);
    if (!st->staged || !st->lines) return dln_fail(err, DLN_ENOMEM, "out of memory for %ld members", st->members);
    if (o->log_path) DLN_TRY(cli_outfile_open(&st->log, o->log_path, "--log", err));
    double t0 = dln_clock_seconds();
    dln_shallow_opts so = {dln_shape_narrowest(&st->s), o->rank_tol, 1, o->solver, 0};
    DLN_TRY(dln_shallow_solve_opts(st->be, &st->d, &so, &st->sh, err));
    st->solve_sec = dln_clock_seconds() - t0;
    if (o->save_dir && mkdir(o->save_dir, 0777) == 0) st->made_save_dir = 1;
    else if (o->save_dir && errno != EEXIST)
        return dln_fail(err, DLN_ERUNTIME, "--save %s: cannot create the directory: %s", o->save_dir, strerror(errno));
    return DLN_OK;
}

/* Member b's weights: a copy of the loaded ones, or its initialiser's. */
static int member_weights(const cli_opts *m, const batch_state *st, double ***W, dln_error *err)
{
    if (!st->loaded) return dln_init_weights(&st->s, m->init, m->init_scale, m->seed, W, err);
    DLN_TRY(dln_weights_alloc(&st->s, W, err));
    for (int i = 0; i < st->s.depth; i++)
        memcpy((*W)[i], st->loaded[i], sizeof(double) * (size_t)st->s.dims[i + 1] * (size_t)st->s.dims[i]);
    return DLN_OK;
}

/* After training: member b's note, staged weights and summary line, as its single run. */
static int finish_member(const cli_opts *m, batch_state *st, long b, double **W, const dln_train_result *r,
                         double bal0, dln_error *err)
{
    char why[CLI_NOTE_MAX] = "", path[4096];
    cli_stop_note(r, &m->train, why, sizeof why);
    if (r->diverged) fprintf(stderr, "dln: member %ld: %s%s\n", b, why, m->save_dir ? " (weights not saved)" : "");
    if (m->save_dir && !r->diverged) {
        member_dir(m->save_dir, b, path, sizeof path);
        if (dln_weights_stage(path, &st->s, W, &st->staged[b], err)) {
            dln_error_prefix(err, "--save ");
            return err->code;
        }
    }
    dln_json j;
    dln_json_init(&j);
    dln_json_object(&j, NULL);
    dln_json_str(&j, "command", "train");
    dln_json_int(&j, "member", b);
    cli_put_problem(&j, m, &st->d, st->be);
    cli_put_run(&j, m, &st->s, r);
    dln_json_num(&j, "solve_seconds", st->solve_sec);
    dln_json_num(&j, "balancedness_init", bal0);
    dln_json_num(&j, "balancedness", r->diverged ? NAN : cli_balancedness(&st->s, W));
    cli_put_shallow(&j, &st->sh);
    cli_put_memory(&j, &st->est);
    dln_json_str(&j, "note", why);
    dln_json_end_object(&j);
    dln_json_newline(&j);
    const char *text = dln_json_text(&j);
    st->lines[b] = text ? strdup(text) : NULL;
    dln_json_free(&j);
    return st->lines[b] ? DLN_OK : dln_fail(err, DLN_ENOMEM, "out of memory writing the summaries");
}

/* Members first .. first + count - 1, trained together. */
static int train_batch(const cli_opts *o, batch_state *st, long first, int count, dln_error *err)
{
    double ***W = calloc((size_t)count, sizeof *W), *bal0 = calloc((size_t)count, sizeof(double));
    cli_opts *mo = calloc((size_t)count, sizeof *mo);
    dln_train_opts *to = calloc((size_t)count, sizeof *to);
    dln_train_result *res = calloc((size_t)count, sizeof *res);
    cli_observer *ob = calloc((size_t)count, sizeof *ob);
    int rc = !W || !bal0 || !mo || !to || !res || !ob ? dln_fail(err, DLN_ENOMEM, "out of memory") : DLN_OK, made = 0;
    for (int b = 0; !rc && b < count; b++, made++) {
        cli_member_opts(o, first + b, &mo[b]);
        rc = member_weights(&mo[b], st, &W[b], err);
        if (rc) break;
        bal0[b] = cli_balancedness(&st->s, W[b]);
        cli_observer_init(&ob[b], o->log_path ? &st->log : NULL, o->log_every, 0, o->train.steps);
        ob[b].member = first + b;
        to[b] = mo[b].train;
        to[b].observer = cli_observe;
        to[b].observer_ctx = &ob[b];
        to[b].observe_every = o->log_path ? o->log_every : 0;
    }
    dln_fit fit;
    dln_reference ref = {0};
    if (!rc) rc = dln_shallow_problem(&st->sh, &st->d, &fit, &ref, err);
    if (!rc) rc = dln_train(st->be, &fit, &ref, &st->s, count, W, to, res, err);
    dln_reference_free(&ref);
    for (int b = 0; !rc && b < count; b++) rc = finish_member(&mo[b], st, first + b, W[b], &res[b], bal0[b], err);
    for (int b = 0; ob && b < made; b++) cli_observer_free(&ob[b]);
    for (int b = 0; W && b < count; b++) dln_weights_free(st->s.depth, W[b]);
    free(W), free(bal0), free(mo), free(to), free(res), free(ob);
    return rc;
}

/* The backend note once, then every summary line. */
static int emit(const cli_opts *o, const batch_state *st, const char *note, dln_error *err)
{
    if (note && !o->quiet) fprintf(stderr, "dln: note: %s\n", note);
    for (long b = 0; b < st->members; b++)
        if (fputs(st->lines[b], stdout) == EOF) break;
    if (fflush(stdout) != 0 || ferror(stdout))
        return dln_fail(err, DLN_ERUNTIME, "cannot write the summaries to standard output: %s", strerror(errno));
    return DLN_OK;
}

int cli_train_batch(cli_opts *o, dln_error *err)
{
    batch_state st;
    memset(&st, 0, sizeof st);
    st.log.fd = -1;
    const char *note = NULL;
    int rc = prepare(o, &st, &note, err);
    for (long first = 0; !rc && first < st.members; first += st.batch)
        rc = train_batch(o, &st, first, (int)(st.members - first < st.batch ? st.members - first : st.batch), err);
    if (!rc) rc = emit(o, &st, note, err);
    if (!rc) rc = cli_outfile_commit(&st.log, "--log", err);
    for (long b = 0; !rc && b < st.members; b++) {
        if (!st.staged[b]) continue;
        rc = dln_weights_commit(st.staged[b], 0, err);
        st.staged[b] = NULL;
        if (rc) dln_error_prefix(err, "--save ");
    }
    if (rc) {
        cli_outfile_abort(&st.log);
        for (long b = 0; st.staged && b < st.members; b++) dln_weights_abort(st.staged[b]);
        if (st.made_save_dir) rmdir(o->save_dir); /* only when still empty */
    }
    for (long b = 0; st.lines && b < st.members; b++) free(st.lines[b]);
    free(st.lines), free(st.staged);
    dln_weights_free(st.s.depth, st.loaded);
    dln_shallow_free(&st.sh);
    dln_backend_destroy(st.be);
    dln_shape_free(&st.s);
    dln_data_free(&st.d);
    return rc;
}
