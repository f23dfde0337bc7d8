/* dln_error.h: error codes and the error record that every fallible call fills.
 * No global state: the caller owns the dln_error and passes it down. */
#ifndef DLN_ERROR_H
#define DLN_ERROR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    DLN_OK = 0,
    DLN_EINPUT = 2,    /* bad input: files, options, shapes, values (exit status 2) */
    DLN_ERUNTIME = 3,  /* a library or device failure while running */
    DLN_ENOMEM = 4,    /* out of host or device memory */
} dln_status;

typedef struct dln_error {
    int code;
    char msg[512];
} dln_error;

/* Records the first failure only (later ones keep the root cause) and returns code. */
int dln_fail(dln_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dln_error_clear(dln_error *err);

/* Propagate a non-zero status to the caller. */
#define DLN_TRY(expr)              \
    do {                           \
        int dln_try_rc_ = (expr);  \
        if (dln_try_rc_) return dln_try_rc_; \
    } while (0)

#endif
