/* jval.c — see jval.h. */
#include "cli/jval.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer -----------------------------------------------------------------------------------
 */

void jbuf_add(jbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

void jbuf_adds(jbuf *b, const char *s) {
    jbuf_add(b, s, strlen(s));
}

void jbuf_free(jbuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- parser -----------------------------------------------------------------------------------
 */

typedef struct jp {
    const char *s, *end;
    int depth;
    const char *why;
} jp;

#define JP_MAX_DEPTH 256

static void ws(jp *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static jval *jv_new(jval_type t) {
    jval *v = calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

void jval_free(jval *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        jval_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
    free(v);
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(jbuf *b, unsigned cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    jbuf_add(b, u, n);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0. */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end) {
    unsigned c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else
        return 0;
    if ((size_t)(end - s) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* Parses a string at p->s (on the opening quote) into b. */
static int parse_str(jp *p, jbuf *b) {
    p->s++;
    for (;;) {
        if (p->s >= p->end) return p->why = "unterminated string", -1;
        unsigned char c = (unsigned char)*p->s;
        if (c == '"') {
            p->s++;
            jbuf_add(b, "", 0);
            return b->oom ? (p->why = "out of memory", -1) : 0;
        }
        if (c == 0) return p->why = "NUL byte in a string", -1;
        if (c < 0x20) return p->why = "control character in a string", -1;
        if (c == '\\') {
            if (p->end - p->s < 2) return p->why = "bad escape", -1;
            char e = p->s[1];
            p->s += 2;
            const char *m = strchr("\"\\/bfnrt", e);
            if (e && m) {
                static const char rep[] = "\"\\/\b\f\n\r\t";
                jbuf_add(b, &rep[m - "\"\\/bfnrt"], 1);
                continue;
            }
            if (e != 'u' || p->end - p->s < 4) return p->why = "bad escape", -1;
            unsigned cp, lo;
            if (hex4(p->s, &cp)) return p->why = "bad \\u escape", -1;
            p->s += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return p->why = "lone surrogate", -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u' || hex4(p->s + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return p->why = "lone surrogate", -1;
                p->s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(b, cp);
            continue;
        }
        size_t n = utf8_seq((const unsigned char *)p->s, (const unsigned char *)p->end);
        if (!n) return p->why = "invalid UTF-8 in a string", -1;
        jbuf_add(b, p->s, n);
        p->s += n;
    }
}

static jval *parse_value(jp *p);

static int push_item(jval *v, jval *item, char *key) {
    if ((v->n & (v->n - 1)) == 0) { /* grow at powers of two */
        size_t nc = v->n ? v->n * 2 : 4;
        jval **ni = realloc(v->items, nc * sizeof *ni);
        if (!ni) return -1;
        v->items = ni;
        if (v->type == JV_OBJ) {
            char **nk = realloc(v->keys, nc * sizeof *nk);
            if (!nk) return -1;
            v->keys = nk;
        }
    }
    v->items[v->n] = item;
    if (v->type == JV_OBJ) v->keys[v->n] = key;
    v->n++;
    return 0;
}

/* Python's dict semantics for repeated keys: the last value, at the first key's place.
 * A hash table over the keys keeps this linear. -1 when out of memory. */
static int dedup_keys(jval *v) {
    if (v->n < 2) return 0;
    size_t cap = 4;
    while (cap < v->n * 2) cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot); /* index + 1, 0 = empty */
    if (!slot) return -1;
    memset(slot, 0, cap * sizeof *slot);
    size_t out = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t h = 1469598103934665603ull;
        for (const unsigned char *k = (const unsigned char *)v->keys[i]; *k; k++)
            h = (h ^ *k) * 1099511628211ull;
        size_t at = (size_t)h & (cap - 1);
        for (;;) {
            if (!slot[at]) {
                v->keys[out] = v->keys[i];
                v->items[out] = v->items[i];
                slot[at] = ++out;
                break;
            }
            size_t j = slot[at] - 1;
            if (!strcmp(v->keys[j], v->keys[i])) { /* repeated: new value, first place */
                jval_free(v->items[j]);
                v->items[j] = v->items[i];
                free(v->keys[i]);
                break;
            }
            at = (at + 1) & (cap - 1);
        }
    }
    v->n = out;
    free(slot);
    return 0;
}

static jval *parse_container(jp *p, int obj) {
    if (++p->depth > JP_MAX_DEPTH) return p->why = "nested too deep", NULL;
    jval *v = jv_new(obj ? JV_OBJ : JV_ARR);
    if (!v) return p->why = "out of memory", NULL;
    p->s++;
    ws(p);
    if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
        p->s++;
        p->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        ws(p);
        if (obj) {
            if (p->s >= p->end || *p->s != '"') {
                p->why = "expected a key";
                goto fail;
            }
            jbuf kb = {0};
            if (parse_str(p, &kb)) {
                jbuf_free(&kb);
                goto fail;
            }
            key = kb.s;
            ws(p);
            if (p->s >= p->end || *p->s != ':') {
                free(key);
                p->why = "expected ':'";
                goto fail;
            }
            p->s++;
        }
        jval *item = parse_value(p);
        if (!item || push_item(v, item, key)) {
            if (item) p->why = "out of memory";
            jval_free(item);
            free(key);
            goto fail;
        }
        ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
            p->s++;
            p->depth--;
            if (obj && dedup_keys(v)) {
                p->why = "out of memory";
                goto fail;
            }
            return v;
        }
        p->why = obj ? "expected ',' or '}'" : "expected ',' or ']'";
        goto fail;
    }
fail:
    jval_free(v);
    return NULL;
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

static jval *parse_value(jp *p) {
    ws(p);
    if (p->s >= p->end) return p->why = "unexpected end", NULL;
    char c = *p->s;
    if (c == '{' || c == '[') return parse_container(p, c == '{');
    if (c == '"') {
        jbuf b = {0};
        if (parse_str(p, &b)) {
            jbuf_free(&b);
            return NULL;
        }
        jval *v = jv_new(JV_STR);
        if (!v) {
            jbuf_free(&b);
            return p->why = "out of memory", NULL;
        }
        v->s = b.s;
        v->len = b.n;
        return v;
    }
    static const struct {
        const char *w;
        jval_type t;
        int b;
    } words[] = {{"null", JV_NULL, 0}, {"true", JV_BOOL, 1}, {"false", JV_BOOL, 0}};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i].w);
        if ((size_t)(p->end - p->s) >= n && !memcmp(p->s, words[i].w, n)) {
            p->s += n;
            jval *v = jv_new(words[i].t);
            if (!v) return p->why = "out of memory", NULL;
            v->b = words[i].b;
            return v;
        }
    }
    const char *st = p->s;
    if (p->s < p->end && *p->s == '-') p->s++;
    if (p->s >= p->end || !is_digit(*p->s)) return p->why = "unexpected character", NULL;
    if (*p->s == '0')
        p->s++;
    else
        while (p->s < p->end && is_digit(*p->s)) p->s++;
    if (p->s < p->end && *p->s == '.') {
        p->s++;
        if (p->s >= p->end || !is_digit(*p->s)) return p->why = "bad number", NULL;
        while (p->s < p->end && is_digit(*p->s)) p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-')) p->s++;
        if (p->s >= p->end || !is_digit(*p->s)) return p->why = "bad number", NULL;
        while (p->s < p->end && is_digit(*p->s)) p->s++;
    }
    jval *v = jv_new(JV_NUM);
    if (!v || !(v->s = strndup(st, (size_t)(p->s - st)))) {
        free(v);
        return p->why = "out of memory", NULL;
    }
    v->len = (size_t)(p->s - st);
    return v;
}

jval *jval_parse(const char *text, size_t len, char *why, size_t why_n) {
    jp p = {text, text + len, 0, NULL};
    jval *v = parse_value(&p);
    if (v) {
        ws(&p);
        if (p.s != p.end) {
            jval_free(v);
            v = NULL;
            p.why = "extra text after the value";
        }
    }
    if (!v && why && why_n) snprintf(why, why_n, "%s at byte %zu", p.why, (size_t)(p.s - text));
    return v;
}

/* ---- access -----------------------------------------------------------------------------------
 */

const jval *jval_get(const jval *obj, const char *key) {
    if (!obj || obj->type != JV_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return obj->items[i];
    return NULL;
}

const char *jval_str(const jval *v) {
    return v && v->type == JV_STR ? v->s : NULL;
}

int jval_truthy(const jval *v) {
    if (!v) return 0;
    switch (v->type) {
    case JV_NULL:
        return 0;
    case JV_BOOL:
        return v->b;
    case JV_NUM:
        return strtod(v->s, NULL) != 0;
    case JV_STR:
        return v->len > 0;
    case JV_ARR:
    case JV_OBJ:
        return v->n > 0;
    }
    return 0;
}

/* ---- Python-style writers -------------------------------------------------------------------- */

void jval_dump_py_str(jbuf *b, const char *s, size_t n) {
    jbuf_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (!esc) continue;
        jbuf_add(b, s + run, i - run);
        jbuf_adds(b, esc);
        run = i + 1;
    }
    jbuf_add(b, s + run, n - run);
    jbuf_add(b, "\"", 1);
}

/* repr(float(lexeme)) */
static void dump_float(jbuf *b, const char *lex) {
    double x = strtod(lex, NULL);
    if (isinf(x)) {
        jbuf_adds(b, x < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (x == 0) {
        jbuf_adds(b, signbit(x) ? "-0.0" : "0.0");
        return;
    }
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e: [-]d[.ddd]e±XX */
    const char *q = e;
    int neg = *q == '-';
    if (neg) q++;
    char digits[24];
    int nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int exp10 = atoi(q + 1);
    char out[64];
    int k = 0;
    if (neg) out[k++] = '-';
    if (exp10 < -4 || exp10 >= 16) {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            memcpy(out + k, digits + 1, (size_t)nd - 1);
            k += nd - 1;
        }
        k += snprintf(out + k, sizeof out - (size_t)k, "e%c%02d", exp10 < 0 ? '-' : '+',
                      exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 >= 0) {
        for (int i = 0; i <= exp10; i++) out[k++] = i < nd ? digits[i] : '0';
        out[k++] = '.';
        if (nd > exp10 + 1) {
            memcpy(out + k, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
            k += nd - exp10 - 1;
        } else
            out[k++] = '0';
    } else {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = 0; i < -exp10 - 1; i++) out[k++] = '0';
        memcpy(out + k, digits, (size_t)nd);
        k += nd;
    }
    jbuf_add(b, out, (size_t)k);
}

static void dump_num(jbuf *b, const jval *v) {
    if (strpbrk(v->s, ".eE")) {
        dump_float(b, v->s);
        return;
    }
    const char *d = v->s;
    if (!strcmp(d, "-0")) d = "0";
    jbuf_adds(b, d);
}

void jval_dump_py(jbuf *b, const jval *v) {
    switch (v->type) {
    case JV_NULL:
        jbuf_adds(b, "null");
        return;
    case JV_BOOL:
        jbuf_adds(b, v->b ? "true" : "false");
        return;
    case JV_NUM:
        dump_num(b, v);
        return;
    case JV_STR:
        jval_dump_py_str(b, v->s, v->len);
        return;
    case JV_ARR:
    case JV_OBJ:
        jbuf_adds(b, v->type == JV_ARR ? "[" : "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) jbuf_adds(b, ", ");
            if (v->type == JV_OBJ) {
                jval_dump_py_str(b, v->keys[i], strlen(v->keys[i]));
                jbuf_adds(b, ": ");
            }
            jval_dump_py(b, v->items[i]);
        }
        jbuf_adds(b, v->type == JV_ARR ? "]" : "}");
        return;
    }
}

void jval_str_py(jbuf *b, const jval *v) {
    switch (v->type) {
    case JV_NULL:
        jbuf_adds(b, "None");
        return;
    case JV_BOOL:
        jbuf_adds(b, v->b ? "True" : "False");
        return;
    case JV_STR:
        jbuf_add(b, v->s, v->len);
        return;
    default:
        jval_dump_py(b, v);
    }
}
