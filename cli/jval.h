/* jval.h — a small JSON document model for the prompt renderer: keeps object keys in their
 * order and numbers as written (so 1 and 1.0 stay apart), and writes values the way Python's
 * json.dumps(x, ensure_ascii=False) writes them — the `tojson` filter that Hugging Face
 * transformers gives chat templates. gpt-oss's template writes tool-call arguments, tool
 * results and schema defaults with it, so gptc must produce the same bytes.
 *
 * Parsing follows Python's json.loads where JSON leaves a choice: a repeated object key keeps
 * the last value at the first key's place. Python's rules for writing, followed here: separators ",
 * " and ": "; strings escape " \ \n \r \t \b \f and other control characters as \u00XX, everything
 * else (non-ASCII too) as is; integers (no '.', 'e' or 'E' in the source) keep their digits (-0
 * becomes 0); other numbers are doubles written as repr(float): the shortest digits that read back
 * to the same double, exponent form (1e+16, 1.5e-05) below 1e-4 or from 1e16 on, else with at least
 * one decimal
 * ("100.0"); out-of-range numbers are Infinity / -Infinity. */
#ifndef GPTC_CLI_JVAL_H
#define GPTC_CLI_JVAL_H

#include <stddef.h>

typedef enum jval_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jval_type;

typedef struct jval jval;
struct jval {
    jval_type type;
    int b;        /* JV_BOOL */
    char *s;      /* JV_STR: decoded UTF-8 (NUL-terminated; may hold NULs, see len);
                     JV_NUM: the number as written */
    size_t len;   /* bytes in s */
    jval **items; /* JV_ARR / JV_OBJ values */
    char **keys;  /* JV_OBJ keys (decoded, NUL-terminated) */
    size_t n;     /* items */
};

/* Parses exactly one JSON value (RFC 8259: strict; surrounding whitespace allowed; strings
 * must be valid UTF-8; nesting at most 256 deep). NULL on failure, with a short reason in
 * why (capacity why_n; may be NULL). */
jval *jval_parse(const char *text, size_t len, char *why, size_t why_n);
void jval_free(jval *v);

/* Object member by key (the first one), or NULL. NULL-safe. */
const jval *jval_get(const jval *obj, const char *key);
/* The string, when v is a JV_STR; else NULL. NULL-safe. */
const char *jval_str(const jval *v);
/* Python truthiness: null/false/0/""/[]/{} are false. NULL (absent) is false. */
int jval_truthy(const jval *v);

/* Growable byte buffer the writers append to. */
typedef struct jbuf {
    char *s;
    size_t n, cap;
    int oom;
} jbuf;
void jbuf_add(jbuf *b, const char *s, size_t n);
void jbuf_adds(jbuf *b, const char *s);
void jbuf_free(jbuf *b);

/* json.dumps(v, ensure_ascii=False) */
void jval_dump_py(jbuf *b, const jval *v);
/* json.dumps(s, ensure_ascii=False) of a string */
void jval_dump_py_str(jbuf *b, const char *s, size_t n);
/* str(v) in Python for a scalar (strings as is, True/False/None, numbers as dumped); arrays
 * and objects as jval_dump_py. */
void jval_str_py(jbuf *b, const jval *v);

#endif
