/* json.c: the JSON writer (dln/json.h). Each value is preceded by a comma when its level
 * already has members, and by "key": inside objects. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dln/json.h"

static void put(dln_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(dln_json *j, const char *fmt, ...)
{
    if (j->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(j->buf ? j->buf + j->len : NULL, j->buf ? j->cap - j->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            j->failed = 1;
            return;
        }
        if (j->buf && (size_t)n < j->cap - j->len) {
            j->len += (size_t)n;
            return;
        }
        size_t cap = 2 * j->cap + (size_t)n + 256;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->failed = 1;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
}

void dln_json_init(dln_json *j) { memset(j, 0, sizeof *j); }

void dln_json_reset(dln_json *j)
{
    j->len = 0;
    j->depth = 0;
    j->failed = 0;
    j->count[0] = 0;
    if (j->buf) j->buf[0] = '\0';
}

void dln_json_free(dln_json *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

static void escaped(dln_json *j, const char *s)
{
    put(j, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') put(j, "\\%c", *p);
        else if (*p < 0x20) put(j, "\\u%04x", *p);
        else put(j, "%c", *p);
    }
    put(j, "\"");
}

/* The separator and key before a value at the current level. */
static void member(dln_json *j, const char *key)
{
    if (j->count[j->depth]++ > 0) put(j, ",");
    if (key) {
        escaped(j, key);
        put(j, ":");
    }
}

static void open_level(dln_json *j, const char *key, char c)
{
    member(j, key);
    put(j, "%c", c);
    if (j->depth + 1 >= DLN_JSON_MAX_DEPTH) {
        j->failed = 1;
        return;
    }
    j->count[++j->depth] = 0;
}

static void close_level(dln_json *j, char c)
{
    put(j, "%c", c);
    if (j->depth > 0) j->depth--;
    else j->failed = 1;
}

void dln_json_object(dln_json *j, const char *key) { open_level(j, key, '{'); }
void dln_json_end_object(dln_json *j) { close_level(j, '}'); }
void dln_json_array(dln_json *j, const char *key) { open_level(j, key, '['); }
void dln_json_end_array(dln_json *j) { close_level(j, ']'); }

void dln_json_str(dln_json *j, const char *key, const char *v)
{
    member(j, key);
    if (v) escaped(j, v);
    else put(j, "null");
}

void dln_json_num(dln_json *j, const char *key, double v)
{
    member(j, key);
    if (isfinite(v)) put(j, "%.17g", v);
    else if (j->literals) put(j, "%s", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    else put(j, "null");
}

void dln_json_int(dln_json *j, const char *key, long v)
{
    member(j, key);
    put(j, "%ld", v);
}

void dln_json_bool(dln_json *j, const char *key, int v)
{
    member(j, key);
    put(j, "%s", v ? "true" : "false");
}

void dln_json_ints(dln_json *j, const char *key, const int *v, int n)
{
    dln_json_array(j, key);
    for (int i = 0; i < n; i++) dln_json_int(j, NULL, v[i]);
    dln_json_end_array(j);
}

void dln_json_newline(dln_json *j)
{
    put(j, "\n");
    if (j->depth == 0) j->count[0] = 0;
}

const char *dln_json_text(const dln_json *j)
{
    if (j->failed || j->depth != 0) return NULL;
    return j->buf ? j->buf : "";
}
