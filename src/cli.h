/* cli.h: the command-line program's shared pieces (internal): parsed options, the
 * problem set-up both commands share, and the JSON summary writer. */
#ifndef DLN_CLI_H
#define DLN_CLI_H

#include <stddef.h>

#include "dln.h"

typedef struct {
    /* problem */
    const char *x_path, *y_path;
    int dx, dy, samples, teacher_rank;
    double noise;
    uint64_t seed, data_seed;
    int data_seed_set, synth_set;
    /* network */
    int depth, width, depth_set, width_set;
    int *widths, n_widths, widths_set;
    const char *load_dir, *save_dir;
    dln_init_kind init;
    double init_scale;
    int init_scale_set;
    /* solver */
    int rank;
    double rank_tol;
    /* trainer */
    dln_train_opts train;
    int check_every_set;
    const char *log_path;
    int quiet;
    /* execution */
    dln_backend_kind backend;
    dln_dtype dtype;
    dln_math_mode math;
    const char *precision;
} cli_opts;

/* Parses argv for `command` ("train" or "solve"); prints help and returns -1 on --help. */
int cli_parse(const char *command, int argc, char **argv, cli_opts *o, dln_error *err);
void cli_opts_free(cli_opts *o);
void cli_print_help(const char *command);

int cli_solve(cli_opts *o, dln_error *err);
int cli_train(cli_opts *o, dln_error *err);

/* A JSON object built in memory and printed in one write. */
typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} json_out;

void json_begin(json_out *j);
void json_str(json_out *j, const char *key, const char *v);
void json_num(json_out *j, const char *key, double v);
void json_int(json_out *j, const char *key, long v);
void json_bool(json_out *j, const char *key, int v);
void json_ints(json_out *j, const char *key, const int *v, int n);
/* Closes the object; returns the text (owned by j) or NULL when out of memory. */
const char *json_end(json_out *j);
void json_free(json_out *j);

#endif
