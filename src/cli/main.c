/* main.c: the `dln` program's entry point: dispatches to a command, and turns every
 * failure into one `dln: ` line on stderr with exit status 2 (bad input) or 1 (a
 * library or device failure while running). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: dln <command> [options]\n\n"
               "Deep linear networks: gradient descent against the shallow rank-constrained optimum\n"
               "(Lu & Kawaguchi 2017).\n\n"
               "Commands:\n"
               "  train     train a deep linear network by gradient descent (default experiment\n"
               "            with no options); prints a JSON summary\n"
               "  solve     the shallow optimum L* in closed form; prints a JSON summary\n"
               "  hessian   the Hessian's extreme eigenvalues at saved weights (Lanczos); prints\n"
               "            a JSON summary\n"
               "  info      version, compiled-in backends and devices found\n\n"
               "`dln <command> --help` lists every option with its default.\n"
               "Exit status: 0 success, 2 bad input, 1 failure while running.\n");
}

static int info(void)
{
    char devices[512];
    dln_devices_describe(devices, sizeof devices);
    dln_json j;
    dln_json_init(&j);
    dln_json_object(&j, NULL);
    dln_json_str(&j, "version", DLN_VERSION);
    dln_json_str(&j, "backends", dln_backends_compiled());
    dln_json_str(&j, "devices", devices);
    dln_json_end_object(&j);
    dln_json_newline(&j);
    const char *text = dln_json_text(&j);
    int rc = text && fputs(text, stdout) != EOF && fflush(stdout) == 0 ? 0 : 1;
    if (rc) fprintf(stderr, "dln: cannot write the description to standard output\n");
    dln_json_free(&j);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "dln: no command given (commands: train, solve, hessian, info; see dln --help)\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "info")) {
        if (argc > 2) {
            fprintf(stderr, "dln: %s takes no options, got '%s' (see dln --help)\n", cmd, argv[2]);
            return 2;
        }
        return info();
    }
    if (strcmp(cmd, "train") && strcmp(cmd, "solve") && strcmp(cmd, "hessian")) {
        fprintf(stderr, "dln: unknown command '%s' (commands: train, solve, hessian, info; see dln --help)\n", cmd);
        return 2;
    }
    dln_error err;
    dln_error_clear(&err);
    cli_opts o;
    int rc = cli_parse(cmd, argc - 1, argv + 1, &o, &err);
    if (rc == -1) {
        cli_opts_free(&o);
        return 0;
    }
    if (!rc) rc = cli_run(cmd, &o, &err);
    cli_opts_free(&o);
    if (rc) {
        fprintf(stderr, "dln: %s\n", err.msg[0] ? err.msg : "unknown failure");
        return rc == DLN_EINPUT ? 2 : 1;
    }
    return 0;
}
