/* cli_json.c: the one-line JSON summary, built in memory so that it is printed whole
 * or not at all. Non-finite numbers become null. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void put(json_out *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(json_out *j, const char *fmt, ...)
{
    if (j->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            j->failed = 1;
            return;
        }
        if ((size_t)n < j->cap - j->len) {
            j->len += (size_t)n;
            return;
        }
        size_t cap = 2 * j->cap + (size_t)n + 64;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->failed = 1;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
}

static void key(json_out *j, const char *k) { put(j, "%s\"%s\":", j->len > 1 ? "," : "", k); }

void json_begin(json_out *j)
{
    memset(j, 0, sizeof *j);
    j->buf = malloc(256);
    j->cap = j->buf ? 256 : 0;
    j->failed = !j->buf;
    if (j->buf) j->buf[0] = '\0';
    put(j, "{");
}

void json_str(json_out *j, const char *k, const char *v)
{
    key(j, k);
    put(j, "\"");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') put(j, "\\%c", *p);
        else if (*p < 0x20) put(j, "\\u%04x", *p);
        else put(j, "%c", *p);
    }
    put(j, "\"");
}

void json_num(json_out *j, const char *k, double v)
{
    key(j, k);
    if (isfinite(v)) put(j, "%.17g", v);
    else put(j, "null");
}

void json_int(json_out *j, const char *k, long v)
{
    key(j, k);
    put(j, "%ld", v);
}

void json_bool(json_out *j, const char *k, int v)
{
    key(j, k);
    put(j, "%s", v ? "true" : "false");
}

void json_ints(json_out *j, const char *k, const int *v, int n)
{
    key(j, k);
    put(j, "[");
    for (int i = 0; i < n; i++) put(j, "%s%d", i ? "," : "", v[i]);
    put(j, "]");
}

const char *json_end(json_out *j)
{
    put(j, "}\n");
    return j->failed ? NULL : j->buf;
}

void json_free(json_out *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}
