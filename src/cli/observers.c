/* observers.c: the observers of `dln train`: the JSONL trace (--log: one line per
 * --log-every steps, one at every --sharpness-every step and one for the final state, with a
 * `member` field in a batch, chosen and built by the library's dln_trace_due and
 * dln_trace_line, each in one write(2) kept within a page of the file
 * outfile.c opened, so a killed run leaves whole lines) and the live progress line on a
 * terminal. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define PROGRESS_INTERVAL 0.25 /* seconds between progress updates */

void cli_observer_init(cli_observer *ob, cli_outfile *log, int log_every, int progress, long steps)
{
    memset(ob, 0, sizeof *ob);
    ob->log = log;
    ob->log_every = log_every > 0 ? log_every : 1;
    ob->last_logged = -1;
    ob->member = -1;
    ob->progress = progress;
    ob->steps = steps;
    ob->last_progress = -INFINITY;
    dln_json_init(&ob->line);
}

void cli_observer_free(cli_observer *ob) { dln_json_free(&ob->line); }

static void trace_line(cli_observer *ob, const dln_observation *obs)
{
    dln_json *j = &ob->line;
    dln_json_reset(j);
    dln_trace_line(j, ob->member, obs);
    const char *text = dln_json_text(j);
    if (!text) ob->log->write_errno = ENOMEM;
    else (void)cli_outfile_write(ob->log, text, strlen(text)); /* a failure is kept for the commit */
    ob->last_logged = obs->step;
}

int cli_observe(void *ctx, long member, const dln_observation *obs)
{
    cli_observer *ob = (cli_observer *)ctx + member;
    if (ob->log && dln_trace_due(obs, ob->log_every, ob->last_logged)) trace_line(ob, obs);
    if (ob->progress) {
        if (obs->final) {
            fprintf(stderr, "\r\033[K");
        } else if (obs->seconds - ob->last_progress > PROGRESS_INTERVAL) {
            fprintf(stderr, "\r\033[Kdln: step %ld/%ld  loss %.6e  rel_gap %.3e  %.1fs", obs->step, ob->steps,
                    obs->loss, obs->rel_gap, obs->seconds);
            ob->last_progress = obs->seconds;
        }
    }
    return 0;
}
