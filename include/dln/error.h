/* dln/error.h: status codes and the error record every fallible call fills.
 * No global state: the caller owns the dln_error and passes it down; the first failure
 * recorded wins, so the message names the root cause. Messages describe the failure in
 * the library's terms (never a command-line flag); a program may add its own context. */
#ifndef DLN_ERROR_H
#define DLN_ERROR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    DLN_OK = 0,
    DLN_EINPUT = 2,   /* bad input: files, options, shapes, values */
    DLN_ERUNTIME = 3, /* a library or device failure while running */
    DLN_ENOMEM = 4,   /* out of host or device memory */
} dln_status;

typedef struct dln_error {
    int code;
    char msg[512];
} dln_error;

/* Records the first failure only (later ones keep the root cause) and returns code. */
int dln_fail(dln_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void dln_error_clear(dln_error *err);
/* Puts "<prefix>" in front of the recorded message (a caller adding its own context,
 * e.g. the command-line flag that named the failing path). No-op when nothing failed. */
void dln_error_prefix(dln_error *err, const char *prefix);

/* Propagate a non-zero status to the caller. */
#define DLN_TRY(expr)                             \
    do {                                          \
        int dln_try_rc_ = (expr);                 \
        if (dln_try_rc_) return dln_try_rc_;      \
    } while (0)

#endif
