/* error.c: filling the caller-owned dln_error record (first failure wins). */
#include <stdio.h>
#include <string.h>

#include "dln/error.h"

int dln_fail(dln_error *err, int code, const char *fmt, ...)
{
    if (err && err->code == DLN_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void dln_error_clear(dln_error *err)
{
    err->code = DLN_OK;
    err->msg[0] = '\0';
}

void dln_error_prefix(dln_error *err, const char *prefix)
{
    if (!err || err->code == DLN_OK || !prefix) return;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s%s", prefix, old);
}
