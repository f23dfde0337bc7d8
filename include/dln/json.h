/* dln/json.h: the one JSON writer of the project (the command-line summary and trace,
 * the benchmark result files). Text is built in memory, so that a caller writes a whole
 * document or line at once or nothing; non-finite numbers become null, strings are
 * escaped, nesting is tracked so commas are placed by the writer. Out of memory makes
 * dln_json_text return NULL. */
#ifndef DLN_JSON_H
#define DLN_JSON_H

#include <stddef.h>

#define DLN_JSON_MAX_DEPTH 32

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
    int depth;                        /* open objects and arrays */
    int literals;                     /* non-finite numbers as NaN, Infinity, -Infinity (JSON's common
                                         extension, which Python's json reads) instead of null */
    int count[DLN_JSON_MAX_DEPTH];    /* members written at each level */
} dln_json;

void dln_json_init(dln_json *j);
/* Empties the text (keeps the memory) for the next document or line. */
void dln_json_reset(dln_json *j);
void dln_json_free(dln_json *j);

/* key is the member name inside an object; NULL at the top level and inside arrays. */
void dln_json_object(dln_json *j, const char *key);
void dln_json_end_object(dln_json *j);
void dln_json_array(dln_json *j, const char *key);
void dln_json_end_array(dln_json *j);
void dln_json_str(dln_json *j, const char *key, const char *v);
void dln_json_num(dln_json *j, const char *key, double v); /* %.17g; null (or a literal) when not finite */
void dln_json_int(dln_json *j, const char *key, long v);
void dln_json_bool(dln_json *j, const char *key, int v);
void dln_json_ints(dln_json *j, const char *key, const int *v, int n);
/* A newline after a complete top-level value (for JSON lines). */
void dln_json_newline(dln_json *j);
/* The text so far, or NULL when the writer ran out of memory or nesting is unbalanced
 * past DLN_JSON_MAX_DEPTH. */
const char *dln_json_text(const dln_json *j);

#endif
