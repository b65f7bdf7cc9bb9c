/* schema.c — JSON Schema -> GBNF (the subset OpenAI's structured outputs accept, and more).
 *
 * Supported: type (one or a list): object, array, string, number, integer, boolean, null;
 * properties, required, additionalProperties (false, true or a schema; absent = false, as
 * OpenAI's strict mode and llama.cpp do), items, minItems, maxItems, minLength, maxLength,
 * pattern (a regular-expression subset: literals, escapes \d \w \s \D \W \S, classes, groups,
 * alternation, * + ? {m,n}, ^ $, .), format (date, time, date-time, uuid, email, ipv4,
 * hostname), enum, const, anyOf, oneOf, allOf of one schema, $ref into the document (#,
 * #/$defs/..., #/definitions/..., any JSON pointer) including recursion, minimum / maximum /
 * exclusiveMinimum of integers at 0 or 1. Annotations (title, description, default, examples,
 * $schema, $id, $comment, ...) are ignored. Anything else is refused with the keyword and where it
 * is: "unsupported JSON Schema keyword 'not' at #/properties/a".
 *
 * Output layout (compact JSON, one optional space after separators):
 *   object: "{" required properties in order, then the optional ones, then extra keys "}" */
#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) {
    sb_add(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

typedef struct refname {
    char *ref;
    char name[32];
} refname;

typedef struct conv {
    cJSON *doc;
    sbuf out;    /* the rules */
    int n_rules; /* counter for names */
    refname *refs;
    int n_refs, cap_refs;
    int depth;
    int failed;
    gptc_error *err;
    unsigned used; /* primitive rules needed */
} conv;

enum {
    U_SPACE = 1,
    U_CHAR = 2,
    U_STRING = 4,
    U_NUMBER = 8,
    U_INTEGER = 16,
    U_BOOL = 32,
    U_NULL = 64,
    U_VALUE = 128,
    U_OBJECT = 256,
    U_ARRAY = 512,
    U_DATE = 1024,
    U_TIME = 2048,
    U_SCHAR = 4096
};

static void cerr(conv *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cerr(conv *c, const char *path, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = 1;
    char msg[380];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gr_err(c->err, GPTC_ERR_UNSUPPORTED, "JSON Schema: %s at %s", msg, path[0] ? path : "#");
}

/* A new rule name r<N>. */
static void new_name(conv *c, char name[32]) {
    snprintf(name, 32, "r%d", ++c->n_rules);
}

/* Appends a GBNF string literal for the UTF-8 bytes s[0..n). */
static void gbnf_lit(sbuf *b, const char *s, size_t n) {
    sb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"')
            sb_puts(b, "\\\"");
        else if (ch == '\\')
            sb_puts(b, "\\\\");
        else if (ch == '\n')
            sb_puts(b, "\\n");
        else if (ch == '\r')
            sb_puts(b, "\\r");
        else if (ch == '\t')
            sb_puts(b, "\\t");
        else if (ch < 0x20 || ch == 0x7f)
            sb_printf(b, "\\x%02X", ch);
        else
            sb_add(b, (const char *)&ch, 1);
    }
    sb_puts(b, "\"");
}

/* The compact JSON text of a value as a GBNF literal followed by space. */
static void json_lit(conv *c, sbuf *b, const cJSON *v) {
    char *txt = cJSON_PrintUnformatted(v);
    if (!txt) {
        c->failed = 1;
        gr_err(c->err, GPTC_ERR_NOMEM, "out of memory converting the JSON Schema");
        return;
    }
    gbnf_lit(b, txt, strlen(txt));
    sb_puts(b, " space");
    c->used |= U_SPACE;
    free(txt);
}

static void gen(conv *c, const cJSON *s, const char *path, char out[32]);

static void add_rule(conv *c, const char *name, const char *body) {
    sb_printf(&c->out, "%s ::= ", name);
    sb_puts(&c->out, body);
    sb_puts(&c->out, "\n");
}

/* ---- regular expressions (pattern) -> GBNF inside a JSON string ---------------------------- */
typedef struct rx {
    const char *p, *end, *start;
    conv *c;
    const char *path;
} rx;

typedef struct crange {
    uint32_t lo, hi;
} crange;

static int rx_utf8(rx *r, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)r->p;
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : 4;
    if (r->end - r->p < n) return -1;
    uint32_t v = n == 1 ? s[0] : n == 2 ? (s[0] & 0x1F) : n == 3 ? (s[0] & 0x0F) : (s[0] & 0x07);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return -1;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n > 1 && v < 0x80)) return -1;
    r->p += n;
    *cp = v;
    return 0;
}

static int cr_cmp(const void *a, const void *b) {
    const crange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Emits the class (ranges, negated or not) as GBNF that matches its characters written inside a
 * JSON string: the class minus '"', '\' and controls as [...], plus the escaped forms of '"' and
 * '\' when the class has them. */
static void emit_rx_class(sbuf *b, crange *rg, int n, int neg) {
    qsort(rg, (size_t)n, sizeof *rg, cr_cmp);
    crange set[300];
    int m = 0;
    for (int i = 0; i < n && m < 299; i++) {
        if (m && rg[i].lo <= set[m - 1].hi + 1) {
            if (rg[i].hi > set[m - 1].hi) set[m - 1].hi = rg[i].hi;
        } else
            set[m++] = rg[i];
    }
    crange fin[310];
    int k = 0;
    if (neg) {
        uint32_t next = 0;
        for (int i = 0; i < m; i++) {
            if (set[i].lo > next) fin[k++] = (crange){next, set[i].lo - 1};
            next = set[i].hi + 1;
        }
        if (next <= 0x10FFFF) fin[k++] = (crange){next, 0x10FFFF};
    } else {
        memcpy(fin, set, (size_t)m * sizeof *fin);
        k = m;
    }
    int has_q = 0, has_bs = 0;
    sbuf cls = {0}, ctl = {0}; /* ctl: controls and DEL, written as \u00XX escapes */
    for (int i = 0; i < k; i++) {
        uint32_t lo = fin[i].lo, hi = fin[i].hi;
        for (uint32_t c = lo; c <= hi && c < 0x20; c++) {
            sb_printf(&ctl, " | \"\\\\u%04x\"", c);
            if (c >= 8 && c <= 13 && c != 11) sb_printf(&ctl, " | \"\\\\%c\"", "btn?fr"[c - 8]);
        }
        if (lo <= 0x7F && hi >= 0x7F) sb_printf(&ctl, " | \"\\\\u007f\"");
        if (lo <= '"' && hi >= '"') has_q = 1;
        if (lo <= '\\' && hi >= '\\') has_bs = 1;
        /* cut out 0x00-0x1F, '"', '\', 0x7F */
        static const crange holes[4] = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}, {0x7F, 0x7F}};
        uint32_t a = lo;
        for (int h = 0; h < 4 && a <= hi; h++) {
            if (holes[h].hi < a) continue;
            if (holes[h].lo > hi) break;
            if (holes[h].lo > a) sb_printf(&cls, "\\U%08X-\\U%08X", a, holes[h].lo - 1);
            a = holes[h].hi + 1;
        }
        if (a <= hi) sb_printf(&cls, "\\U%08X-\\U%08X", a, hi);
    }
    int alts = (cls.n > 0) + has_q + has_bs + (ctl.n > 0) * 2;
    if (alts > 1) sb_puts(b, "(");
    int first = 1;
    if (cls.n) {
        sb_puts(b, "[");
        sb_add(b, cls.s, cls.n);
        sb_puts(b, "]");
        first = 0;
    }
    if (has_q) {
        sb_puts(b, first ? "\"\\\\\\\"\"" : " | \"\\\\\\\"\"");
        first = 0;
    }
    if (has_bs) {
        sb_puts(b, first ? "\"\\\\\\\\\"" : " | \"\\\\\\\\\"");
        first = 0;
    }
    if (ctl.n) sb_add(b, ctl.s + (first ? 3 : 0), ctl.n - (first ? 3 : 0)); /* skip " | " */
    if (alts > 1) sb_puts(b, ")");
    free(cls.s);
    free(ctl.s);
}

static void rx_fail(rx *r, const char *what) {
    cerr(r->c, r->path, "pattern: %s at offset %d", what, (int)(r->p - r->start));
}

/* adds the ranges of an escape (\d \w \s or a literal) to rg; returns count added */
static int rx_escape_ranges(rx *r, crange *rg, int *neg_class) {
    if (r->p >= r->end) {
        rx_fail(r, "dangling '\\'");
        return -1;
    }
    char e = *r->p++;
    *neg_class = 0;
    switch (e) {
    case 'D':
    case 'W':
    case 'S':
        *neg_class = 1;
        /* fall through */
    case 'd':
    case 'w':
    case 's':
        if (e == 'd' || e == 'D') {
            rg[0] = (crange){'0', '9'};
            return 1;
        }
        if (e == 'w' || e == 'W') {
            rg[0] = (crange){'0', '9'};
            rg[1] = (crange){'A', 'Z'};
            rg[2] = (crange){'a', 'z'};
            rg[3] = (crange){'_', '_'};
            return 4;
        }
        rg[0] = (crange){' ', ' '};
        rg[1] = (crange){'\t', '\r'};
        return 2;
    case 'n':
        rg[0] = (crange){'\n', '\n'};
        return 1;
    case 't':
        rg[0] = (crange){'\t', '\t'};
        return 1;
    case 'r':
        rg[0] = (crange){'\r', '\r'};
        return 1;
    default:
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
            char msg[40];
            snprintf(msg, sizeof msg, "unsupported escape '\\%c'", e);
            rx_fail(r, msg);
            return -1;
        }
        rg[0] = (crange){(unsigned char)e, (unsigned char)e};
        return 1;
    }
}

static void rx_alt(rx *r, sbuf *b, int depth);

static void rx_atom(rx *r, sbuf *b, int depth) {
    char ch = *r->p;
    crange rg[128];
    if (ch == '(') {
        r->p++;
        if (r->end - r->p >= 2 && r->p[0] == '?' && r->p[1] == ':')
            r->p += 2;
        else if (r->p < r->end && *r->p == '?') {
            rx_fail(r, "unsupported group syntax '(?'");
            return;
        }
        sb_puts(b, "(");
        rx_alt(r, b, depth + 1);
        if (r->c->failed) return;
        if (r->p >= r->end || *r->p != ')') {
            rx_fail(r, "unclosed '('");
            return;
        }
        r->p++;
        sb_puts(b, ")");
    } else if (ch == '[') {
        r->p++;
        int neg = 0, n = 0;
        if (r->p < r->end && *r->p == '^') {
            neg = 1;
            r->p++;
        }
        int first = 1;
        while (r->p < r->end && (*r->p != ']' || first) && n < 120) {
            first = 0;
            uint32_t lo;
            if (*r->p == '\\') {
                r->p++;
                int ng;
                int k = rx_escape_ranges(r, rg + n, &ng);
                if (k < 0) return;
                if (ng) {
                    rx_fail(r, "negated escapes inside [...] are not supported");
                    return;
                }
                if (k > 1 || r->p >= r->end || *r->p != '-') {
                    n += k;
                    continue;
                }
                lo = rg[n].lo;
            } else if (rx_utf8(r, &lo)) {
                rx_fail(r, "bad UTF-8");
                return;
            }
            uint32_t hi = lo;
            if (r->end - r->p >= 2 && *r->p == '-' && r->p[1] != ']') {
                r->p++;
                if (*r->p == '\\') {
                    r->p++;
                    int ng;
                    crange t[4];
                    if (rx_escape_ranges(r, t, &ng) != 1 || ng) {
                        rx_fail(r, "bad range end");
                        return;
                    }
                    hi = t[0].lo;
                } else if (rx_utf8(r, &hi)) {
                    rx_fail(r, "bad UTF-8");
                    return;
                }
                if (hi < lo) {
                    rx_fail(r, "reversed range");
                    return;
                }
            }
            rg[n++] = (crange){lo, hi};
        }
        if (r->p >= r->end || *r->p != ']') {
            rx_fail(r, "unclosed '['");
            return;
        }
        r->p++;
        if (!n && !neg) {
            rx_fail(r, "empty class");
            return;
        }
        emit_rx_class(b, rg, n, neg);
    } else if (ch == '.') {
        r->p++;
        rg[0] = (crange){'\n', '\n'};
        emit_rx_class(b, rg, 1, 1);
    } else if (ch == '\\') {
        r->p++;
        int neg;
        int k = rx_escape_ranges(r, rg, &neg);
        if (k < 0) return;
        emit_rx_class(b, rg, k, neg);
    } else if (ch == '*' || ch == '+' || ch == '?' || ch == '{' || ch == ')' || ch == '|') {
        rx_fail(r, "unexpected character");
    } else {
        uint32_t cp;
        if (rx_utf8(r, &cp)) {
            rx_fail(r, "bad UTF-8");
            return;
        }
        rg[0] = (crange){cp, cp};
        emit_rx_class(b, rg, 1, 0);
    }
}

static void rx_seq(rx *r, sbuf *b, int depth) {
    if (depth > 50) {
        rx_fail(r, "nested too deeply");
        return;
    }
    while (r->p < r->end && *r->p != '|' && *r->p != ')' && !r->c->failed) {
        if (*r->p == '$' && r->p + 1 == r->end) break;
        if (*r->p == '^' || *r->p == '$') {
            rx_fail(r, "anchors are only supported at the start and the end");
            return;
        }
        sb_puts(b, " ");
        rx_atom(r, b, depth);
        if (r->c->failed) return;
        if (r->p < r->end && (*r->p == '*' || *r->p == '+' || *r->p == '?')) {
            sb_add(b, r->p, 1);
            r->p++;
        } else if (r->p < r->end && *r->p == '{') {
            const char *q = r->p;
            while (q < r->end && *q != '}') q++;
            if (q >= r->end) {
                rx_fail(r, "unclosed '{'");
                return;
            }
            /* {m}, {m,}, {m,n} or {,n}: numbers up to 1000, m <= n */
            long mn = -1, mx = -1;
            int commas = 0;
            for (const char *t = r->p + 1; t < q; t++) {
                if (*t == ',') {
                    commas++;
                    continue;
                }
                if (*t < '0' || *t > '9' || commas > 1) {
                    rx_fail(r, "bad {m,n}");
                    return;
                }
                long *v = commas ? &mx : &mn;
                *v = (*v < 0 ? 0 : *v) * 10 + (*t - '0');
                if (*v > 1000) {
                    rx_fail(r, "repetition count above 1000");
                    return;
                }
            }
            if (commas > 1 || (mn < 0 && mx < 0) || (mn < 0 && !commas) ||
                (mn >= 0 && mx >= 0 && mx < mn)) {
                rx_fail(r, "bad {m,n}");
                return;
            }
            sb_add(b, r->p, (size_t)(q - r->p + 1));
            r->p = q + 1;
        }
        if (r->p < r->end && (*r->p == '?' || *r->p == '+')) {
            rx_fail(r, "lazy and possessive quantifiers are not supported");
            return;
        }
    }
}

static void rx_alt(rx *r, sbuf *b, int depth) {
    rx_seq(r, b, depth);
    while (!r->c->failed && r->p < r->end && *r->p == '|') {
        r->p++;
        sb_puts(b, " |");
        rx_seq(r, b, depth);
    }
}

static void gen_pattern(conv *c, const char *pat, const char *path, sbuf *body) {
    rx r = {pat, pat + strlen(pat), pat, c, path};
    int anchored_start = 0, anchored_end = 0;
    if (r.p < r.end && *r.p == '^') {
        anchored_start = 1;
        r.p++;
    }
    size_t L = strlen(pat);
    if (L > 0 && pat[L - 1] == '$' && (L < 2 || pat[L - 2] != '\\')) anchored_end = 1;
    c->used |= U_CHAR | U_SPACE;
    sb_puts(body, "\"\\\"\"");
    if (!anchored_start) sb_puts(body, " char*");
    sb_puts(body, " (");
    rx_alt(&r, body, 0);
    if (!c->failed && r.p < r.end && !(anchored_end && r.p + 1 == r.end))
        rx_fail(&r, "unexpected ')'");
    sb_puts(body, " )");
    if (!anchored_end) sb_puts(body, " char*");
    sb_puts(body, " \"\\\"\" space");
}

/* ---- schemas ------------------------------------------------------------------------------ */
static const char *const IGNORED[] = {"title",
                                      "description",
                                      "default",
                                      "examples",
                                      "$schema",
                                      "$id",
                                      "$comment",
                                      "deprecated",
                                      "readOnly",
                                      "writeOnly",
                                      "$defs",
                                      "definitions",
                                      "strict",
                                      "name",
                                      "$anchor",
                                      "contentEncoding",
                                      "contentMediaType",
                                      NULL};
static const char *const KNOWN[] = {"type",      "properties", "required", "additionalProperties",
                                    "items",     "minItems",   "maxItems", "minLength",
                                    "maxLength", "pattern",    "format",   "enum",
                                    "const",     "anyOf",      "oneOf",    "allOf",
                                    "$ref",      "minimum",    "maximum",  "exclusiveMinimum",
                                    NULL};

static int in_list(const char *k, const char *const *l) {
    for (; *l; l++)
        if (!strcmp(k, *l)) return 1;
    return 0;
}

static const cJSON *resolve_ref(conv *c, const char *ref, const char *path) {
    if (ref[0] != '#') {
        cerr(c, path, "only references into the same document (\"#...\") are supported, not '%s'",
             ref);
        return NULL;
    }
    const cJSON *cur = c->doc;
    const char *p = ref + 1;
    if (*p && *p != '/') {
        cerr(c, path, "bad $ref '%s'", ref);
        return NULL;
    }
    while (*p == '/') {
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/' && n < sizeof tok - 1) {
            if (p[0] == '~' && p[1] == '0') {
                tok[n++] = '~';
                p += 2;
            } else if (p[0] == '~' && p[1] == '1') {
                tok[n++] = '/';
                p += 2;
            } else
                tok[n++] = *p++;
        }
        tok[n] = 0;
        if (cJSON_IsArray(cur)) {
            char *e;
            long i = strtol(tok, &e, 10);
            cur = *e ? NULL : cJSON_GetArrayItem(cur, (int)i);
        } else
            cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, tok) : NULL;
        if (!cur) {
            cerr(c, path, "$ref '%s' points at nothing", ref);
            return NULL;
        }
    }
    return cur;
}

static void gen_ref(conv *c, const char *ref, const char *path, char out[32]) {
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, ref)) {
            strcpy(out, c->refs[i].name);
            return;
        }
    const cJSON *target = resolve_ref(c, ref, path);
    if (!target) return;
    if (c->n_refs == c->cap_refs) {
        int nc = c->cap_refs ? c->cap_refs * 2 : 16;
        refname *nr = realloc(c->refs, (size_t)nc * sizeof *nr);
        if (!nr) {
            c->failed = 1;
            gr_err(c->err, GPTC_ERR_NOMEM, "out of memory converting the JSON Schema");
            return;
        }
        c->refs = nr;
        c->cap_refs = nc;
    }
    refname *rn = &c->refs[c->n_refs];
    rn->ref = strdup(ref);
    if (!rn->ref) {
        c->failed = 1;
        return;
    }
    new_name(c, rn->name);
    c->n_refs++;
    char name[32];
    strcpy(name, rn->name);
    strcpy(out, name);
    /* name now known: recursion through this $ref refers to it */
    char inner[32] = {0};
    gen(c, target, ref, inner);
    if (c->failed) return;
    char body[40];
    snprintf(body, sizeof body, "%s", inner);
    add_rule(c, name, body);
}

static int get_int(conv *c, const cJSON *s, const char *key, const char *path, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    if (!v) return def;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 100000 ||
        v->valuedouble != (double)(int)v->valuedouble) {
        cerr(c, path, "'%s' must be a non-negative integer up to 100000", key);
        return def;
    }
    return (int)v->valuedouble;
}

static void path_join(char *dst, size_t n, const char *path, const char *a, const char *b) {
    snprintf(dst, n, "%s/%s%s%s", path, a, b ? "/" : "", b ? b : "");
}

static void gen_string(conv *c, const cJSON *s, const char *path, sbuf *body) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(s, "format");
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    int minl = get_int(c, s, "minLength", path, 0);
    int maxl = get_int(c, s, "maxLength", path, -1);
    c->used |= U_SPACE;
    if (pat) {
        if (!cJSON_IsString(pat)) return cerr(c, path, "'pattern' must be a string");
        if (fmt) return cerr(c, path, "'pattern' together with 'format' is not supported");
        if (cJSON_GetObjectItemCaseSensitive(s, "minLength") ||
            cJSON_GetObjectItemCaseSensitive(s, "maxLength"))
            return cerr(c, path, "'pattern' together with minLength/maxLength is not supported");
        gen_pattern(c, pat->valuestring, path, body);
        return;
    }
    if (fmt) {
        if (!cJSON_IsString(fmt)) return cerr(c, path, "'format' must be a string");
        const char *f = fmt->valuestring;
        const char *g = NULL;
        if (!strcmp(f, "date")) {
            c->used |= U_DATE;
            g = "\"\\\"\" date \"\\\"\" space";
        } else if (!strcmp(f, "time")) {
            c->used |= U_TIME;
            g = "\"\\\"\" time \"\\\"\" space";
        } else if (!strcmp(f, "date-time")) {
            c->used |= U_DATE | U_TIME;
            g = "\"\\\"\" date \"T\" time \"\\\"\" space";
        } else if (!strcmp(f, "uuid")) {
            g = "\"\\\"\" [0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" "
                "[0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{12} \"\\\"\" space";
        } else if (!strcmp(f, "email")) {
            g = "\"\\\"\" [a-zA-Z0-9_+-]+ (\".\" [a-zA-Z0-9_+-]+)* \"@\" [a-zA-Z0-9] "
                "[a-zA-Z0-9-]{0,20} (\".\" [a-zA-Z0-9] [a-zA-Z0-9-]{0,20})* \".\" [a-zA-Z]{2,6} "
                "\"\\\"\" space";
        } else if (!strcmp(f, "ipv4")) {
            g = "\"\\\"\" (octet \".\"){3} octet \"\\\"\" space";
        } else if (!strcmp(f, "hostname")) {
            g = "\"\\\"\" [a-zA-Z0-9] [a-zA-Z0-9-]{0,20} (\".\" [a-zA-Z0-9] [a-zA-Z0-9-]{0,20})* "
                "\"\\\"\" space";
        } else
            return cerr(c, path, "unsupported string format '%s'", f);
        if (!strcmp(f, "ipv4")) {
            /* the octet rule is emitted once */
            if (!(c->used & (1u << 20))) {
                add_rule(c, "octet",
                         "\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | "
                         "[0-9]");
                c->used |= 1u << 20;
            }
        }
        sb_puts(body, g);
        return;
    }
    c->used |= U_CHAR;
    if (maxl >= 0 && maxl < minl) return cerr(c, path, "maxLength is below minLength");
    if (minl == 0 && maxl < 0)
        sb_puts(body, "\"\\\"\" char* \"\\\"\" space");
    else if (maxl < 0)
        sb_printf(body, "\"\\\"\" char{%d,} \"\\\"\" space", minl);
    else
        sb_printf(body, "\"\\\"\" char{%d,%d} \"\\\"\" space", minl, maxl);
}

static void gen_integer(conv *c, const cJSON *s, const char *path, sbuf *body) {
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(s, "minimum");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(s, "maximum");
    const cJSON *xmn = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum");
    c->used |= U_SPACE;
    if (mx) return cerr(c, path, "unsupported JSON Schema keyword 'maximum'");
    double lo = -1;
    if (mn) {
        if (!cJSON_IsNumber(mn)) return cerr(c, path, "'minimum' must be a number");
        lo = mn->valuedouble;
    }
    if (xmn) {
        if (!cJSON_IsNumber(xmn)) return cerr(c, path, "'exclusiveMinimum' must be a number");
        lo = xmn->valuedouble + 1;
    }
    if ((mn || xmn) && lo != 0 && lo != 1)
        return cerr(c, path,
                    "unsupported JSON Schema keyword '%s' (only 0 or 1 as the lower bound)",
                    xmn ? "exclusiveMinimum" : "minimum");
    if (lo == 0)
        sb_puts(body, "(\"0\" | [1-9] [0-9]{0,15}) space");
    else if (lo == 1)
        sb_puts(body, "[1-9] [0-9]{0,15} space");
    else {
        c->used |= U_INTEGER;
        sb_puts(body, "integer");
    }
}

static void gen_object(conv *c, const cJSON *s, const char *path, sbuf *body) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    char sub[600];
    c->used |= U_SPACE | U_STRING;
    if (props && !cJSON_IsObject(props)) return cerr(c, path, "'properties' must be an object");
    if (req && !cJSON_IsArray(req)) return cerr(c, path, "'required' must be an array");
    const cJSON *r;
    cJSON_ArrayForEach(r, req) {
        if (!cJSON_IsString(r)) return cerr(c, path, "'required' must list strings");
        if (!cJSON_GetObjectItemCaseSensitive(props, r->valuestring))
            return cerr(c, path, "required property '%s' is not in 'properties'", r->valuestring);
    }
    int n = cJSON_GetArraySize(props);
    /* key-value rules, required first */
    char(*kv)[32] = calloc((size_t)n + 1, sizeof *kv);
    int *isreq = calloc((size_t)n + 1, sizeof *isreq);
    const cJSON **order = calloc((size_t)n + 1, sizeof *order);
    if (!kv || !isreq || !order) {
        free(kv);
        free(isreq);
        free(order);
        c->failed = 1;
        gr_err(c->err, GPTC_ERR_NOMEM, "out of memory converting the JSON Schema");
        return;
    }
    int k = 0;
    for (int pass = 0; pass < 2; pass++) {
        const cJSON *p;
        cJSON_ArrayForEach(p, props) {
            int rq = 0;
            cJSON_ArrayForEach(r, req) rq |= !strcmp(r->valuestring, p->string);
            if (rq != (pass == 0)) continue;
            isreq[k] = rq;
            order[k++] = p;
        }
    }
    for (int i = 0; i < n && !c->failed; i++) {
        const cJSON *p = order[i];
        path_join(sub, sizeof sub, path, "properties", p->string);
        char vname[32] = {0};
        gen(c, p, sub, vname);
        if (c->failed) break;
        new_name(c, kv[i]);
        sbuf b = {0};
        char *key =
            cJSON_PrintUnformatted(&(cJSON){.type = cJSON_String, .valuestring = p->string});
        if (!key) {
            c->failed = 1;
            break;
        }
        gbnf_lit(&b, key, strlen(key));
        free(key);
        sb_printf(&b, " space \":\" space %s", vname);
        if (b.oom)
            c->failed = 1;
        else
            add_rule(c, kv[i], b.s);
        free(b.s);
    }
    /* additional properties */
    char extra[32] = {0};
    if (!c->failed && addl && !cJSON_IsFalse(addl)) {
        char vname[32] = {0};
        if (cJSON_IsTrue(addl)) {
            c->used |= U_VALUE;
            strcpy(vname, "value");
        } else {
            path_join(sub, sizeof sub, path, "additionalProperties", NULL);
            gen(c, addl, sub, vname);
        }
        if (!c->failed) {
            new_name(c, extra);
            char b[100];
            snprintf(b, sizeof b, "string \":\" space %s", vname);
            add_rule(c, extra, b);
        }
    }
    if (!c->failed) {
        int nreq = 0;
        for (int i = 0; i < n; i++) nreq += isreq[i];
        sb_puts(body, "\"{\" space");
        if (nreq) {
            for (int i = 0; i < n; i++) {
                if (i == 0)
                    sb_printf(body, " %s", kv[i]);
                else if (isreq[i])
                    sb_printf(body, " \",\" space %s", kv[i]);
                else
                    sb_printf(body, " (\",\" space %s)?", kv[i]);
            }
            if (extra[0]) sb_printf(body, " (\",\" space %s)*", extra);
        } else if (n || extra[0]) {
            /* no required keys: any one first, then later ones optionally */
            sb_puts(body, " (");
            for (int i = 0; i < n; i++) {
                sb_printf(body, "%s %s", i ? " |" : "", kv[i]);
                for (int j = i + 1; j < n; j++) sb_printf(body, " (\",\" space %s)?", kv[j]);
                if (extra[0]) sb_printf(body, " (\",\" space %s)*", extra);
            }
            if (extra[0]) sb_printf(body, "%s %s (\",\" space %s)*", n ? " |" : "", extra, extra);
            sb_puts(body, " )?");
        }
        sb_puts(body, " \"}\" space");
    }
    free(kv);
    free(isreq);
    free(order);
}

static void gen_array(conv *c, const cJSON *s, const char *path, sbuf *body) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    int mn = get_int(c, s, "minItems", path, 0);
    int mx = get_int(c, s, "maxItems", path, -1);
    if (c->failed) return;
    if (mx >= 0 && mx < mn) return cerr(c, path, "maxItems is below minItems");
    if (mx > 1000 || mn > 1000)
        return cerr(c, path, "minItems/maxItems above 1000 are not supported");
    char iname[32] = {0};
    c->used |= U_SPACE;
    if (!items || cJSON_IsTrue(items)) {
        c->used |= U_VALUE;
        strcpy(iname, "value");
    } else {
        if (cJSON_IsArray(items))
            return cerr(c, path, "unsupported JSON Schema keyword 'items' as an array (tuple)");
        char sub[600];
        path_join(sub, sizeof sub, path, "items", NULL);
        gen(c, items, sub, iname);
        if (c->failed) return;
    }
    sb_puts(body, "\"[\" space");
    if (mx == 0) {
    } else if (mn == 0) {
        if (mx < 0)
            sb_printf(body, " (%s (\",\" space %s)*)?", iname, iname);
        else
            sb_printf(body, " (%s (\",\" space %s){0,%d})?", iname, iname, mx - 1);
    } else {
        if (mx < 0)
            sb_printf(body, " %s (\",\" space %s){%d,}", iname, iname, mn - 1);
        else
            sb_printf(body, " %s (\",\" space %s){%d,%d}", iname, iname, mn - 1, mx - 1);
    }
    sb_puts(body, " \"]\" space");
}

static void gen_typed(conv *c, const cJSON *s, const char *type, const char *path, sbuf *body) {
    if (!strcmp(type, "object"))
        gen_object(c, s, path, body);
    else if (!strcmp(type, "array"))
        gen_array(c, s, path, body);
    else if (!strcmp(type, "string"))
        gen_string(c, s, path, body);
    else if (!strcmp(type, "integer"))
        gen_integer(c, s, path, body);
    else if (!strcmp(type, "number")) {
        if (cJSON_GetObjectItemCaseSensitive(s, "minimum") ||
            cJSON_GetObjectItemCaseSensitive(s, "maximum") ||
            cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum"))
            return cerr(c, path, "unsupported JSON Schema keyword 'minimum'/'maximum' on a number");
        c->used |= U_NUMBER | U_SPACE;
        sb_puts(body, "number");
    } else if (!strcmp(type, "boolean")) {
        c->used |= U_BOOL | U_SPACE;
        sb_puts(body, "boolean");
    } else if (!strcmp(type, "null")) {
        c->used |= U_NULL | U_SPACE;
        sb_puts(body, "null");
    } else
        cerr(c, path, "unknown type '%s'", type);
}

/* Generates the rule for schema s; its name into out. */
static void gen(conv *c, const cJSON *s, const char *path, char out[32]) {
    if (c->failed) return;
    if (++c->depth > 64) {
        cerr(c, path, "schema nested too deeply");
        return;
    }
    char sub[600];
    sbuf body = {0};
    if (cJSON_IsTrue(s)) {
        c->used |= U_VALUE;
        strcpy(out, "value");
        c->depth--;
        return;
    }
    if (!cJSON_IsObject(s)) {
        cerr(c, path,
             cJSON_IsFalse(s) ? "the schema 'false' matches nothing"
                              : "a schema must be an object or a boolean");
        c->depth--;
        return;
    }
    const cJSON *kw;
    cJSON_ArrayForEach(kw, s) {
        if (!in_list(kw->string, KNOWN) && !in_list(kw->string, IGNORED)) {
            cerr(c, path, "unsupported JSON Schema keyword '%s'", kw->string);
            c->depth--;
            return;
        }
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    const cJSON *cnst = cJSON_GetObjectItemCaseSensitive(s, "const");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    const cJSON *any = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
    if (!any) any = cJSON_GetObjectItemCaseSensitive(s, "oneOf");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (ref) {
        if (!cJSON_IsString(ref)) {
            cerr(c, path, "'$ref' must be a string");
        } else
            gen_ref(c, ref->valuestring, path, out);
        c->depth--;
        return;
    }
    if (all) {
        if (!cJSON_IsArray(all) || cJSON_GetArraySize(all) != 1) {
            cerr(c, path, "unsupported JSON Schema keyword 'allOf' (only with one schema)");
        } else {
            path_join(sub, sizeof sub, path, "allOf", "0");
            gen(c, cJSON_GetArrayItem(all, 0), sub, out);
        }
        c->depth--;
        return;
    }
    if (cnst) {
        json_lit(c, &body, cnst);
    } else if (en) {
        if (!cJSON_IsArray(en) || !cJSON_GetArraySize(en))
            cerr(c, path, "'enum' must be a non-empty array");
        const cJSON *e;
        int i = 0;
        cJSON_ArrayForEach(e, en) {
            if (i++) sb_puts(&body, " | ");
            json_lit(c, &body, e);
        }
        if (i > 1) {
            sbuf w = {0};
            sb_puts(&w, "(");
            sb_add(&w, body.s, body.n);
            sb_puts(&w, ")");
            free(body.s);
            body = w;
        }
    } else if (any) {
        if (!cJSON_IsArray(any) || !cJSON_GetArraySize(any))
            cerr(c, path, "'anyOf' must be a non-empty array");
        const cJSON *e;
        int i = 0;
        sb_puts(&body, "(");
        cJSON_ArrayForEach(e, any) {
            char nm[32] = {0}, idx[16];
            snprintf(idx, sizeof idx, "%d", i);
            path_join(sub, sizeof sub, path, "anyOf", idx);
            gen(c, e, sub, nm);
            if (c->failed) break;
            sb_printf(&body, "%s%s", i++ ? " | " : "", nm);
        }
        sb_puts(&body, ")");
    } else if (cJSON_IsArray(type)) {
        const cJSON *t;
        int i = 0;
        sb_puts(&body, "(");
        cJSON_ArrayForEach(t, type) {
            if (!cJSON_IsString(t)) {
                cerr(c, path, "'type' must list strings");
                break;
            }
            sb_puts(&body, i++ ? " | (" : "(");
            gen_typed(c, s, t->valuestring, path, &body);
            sb_puts(&body, ")");
        }
        sb_puts(&body, ")");
        if (!i) cerr(c, path, "'type' is an empty list");
    } else if (type) {
        if (!cJSON_IsString(type))
            cerr(c, path, "'type' must be a string or a list");
        else
            gen_typed(c, s, type->valuestring, path, &body);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "properties")) {
        gen_object(c, s, path, &body);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "items")) {
        gen_array(c, s, path, &body);
    } else {
        c->used |= U_VALUE;
        sb_puts(&body, "value");
    }
    if (body.oom) {
        c->failed = 1;
        gr_err(c->err, GPTC_ERR_NOMEM, "out of memory converting the JSON Schema");
    }
    if (!c->failed) {
        new_name(c, out);
        add_rule(c, out, body.s ? body.s : "\"\"");
    }
    free(body.s);
    c->depth--;
}

static const char PRIMS[] =
    "value ::= object | array | string | number | boolean | null\n"
    "object ::= \"{\" space ( string \":\" space value ( \",\" space string \":\" space value )* "
    ")? \"}\" space\n"
    "array ::= \"[\" space ( value ( \",\" space value )* )? \"]\" space\n"
    "string ::= \"\\\"\" char* \"\\\"\" space\n"
    "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )\n"
    "number ::= integer-part ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,4} )? space\n"
    "integer ::= integer-part space\n"
    "integer-part ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} )\n"
    "boolean ::= ( \"true\" | \"false\" ) space\n"
    "null ::= \"null\" space\n"
    "space ::= \" \"?\n"
    "date ::= [0-9]{4} \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | "
    "\"3\" [01] ) | ( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" ) | \"02-\" "
    "( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) )\n"
    "time ::= ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} "
    ")? ( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )\n";

/* Offset of the first byte that is not strict UTF-8 (len when all is valid). */
static size_t utf8_invalid_at(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        int n = c < 0x80             ? 1
                : (c & 0xE0) == 0xC0 ? 2
                : (c & 0xF0) == 0xE0 ? 3
                : (c & 0xF8) == 0xF0 ? 4
                                     : 0;
        if (!n || i + (size_t)n > len) return i;
        uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
        for (int k = 1; k < n; k++) {
            if ((u[i + k] & 0xC0) != 0x80) return i;
            v = (v << 6) | (u[i + k] & 0x3F);
        }
        static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (v < minv[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return i;
        i += (size_t)n;
    }
    return len;
}

gptc_status gptc_json_schema_to_gbnf(const char *json, size_t len, char **gbnf, gptc_error *err) {
    if (!gbnf || (!json && len))
        return gr_err(err, GPTC_ERR_INVALID_ARG, "gptc_json_schema_to_gbnf: NULL argument");
    *gbnf = NULL;
    size_t bad = utf8_invalid_at(json, len);
    if (bad < len)
        return gr_err(err, GPTC_ERR_FORMAT, "JSON Schema: invalid UTF-8 at byte %zu", bad);
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!doc) {
        size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        /* cJSON points at the last character when the text stops early */
        size_t last = len;
        while (last > 0 && strchr(" \t\r\n", json[last - 1])) last--;
        const int early = off + 1 >= last;
        if (early) off = last;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (json[i] == '\n') {
                line++;
                col = 1;
            } else
                col++;
        }
        return gr_err(err, GPTC_ERR_FORMAT, "JSON Schema: invalid JSON at line %d, column %d%s",
                      line, col, early ? " (the text ends too early)" : "");
    }
    /* nothing but whitespace may follow */
    for (const char *p = end; p && p < json + len; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            cJSON_Delete(doc);
            return gr_err(err, GPTC_ERR_FORMAT, "JSON Schema: extra text after the JSON value");
        }
    conv C;
    memset(&C, 0, sizeof C);
    C.doc = doc;
    C.err = err;
    char root[32] = {0};
    /* "#" refers to the whole document: register it first so recursion through "#" works */
    gen_ref(&C, "#", "", root);
    if (!C.failed) {
        add_rule(&C, "root", root);
        sb_puts(&C.out, PRIMS);
    }
    if (C.out.oom && !C.failed) {
        C.failed = 1;
        gr_err(err, GPTC_ERR_NOMEM, "out of memory converting the JSON Schema");
    }
    for (int i = 0; i < C.n_refs; i++) free(C.refs[i].ref);
    free(C.refs);
    cJSON_Delete(doc);
    if (C.failed) {
        free(C.out.s);
        return err ? err->status : GPTC_ERR_UNSUPPORTED;
    }
    *gbnf = C.out.s;
    return GPTC_OK;
}

gptc_status gptc_grammar_from_json_schema(const char *json, size_t len, gptc_grammar **out,
                                          gptc_error *err) {
    if (!out) return gr_err(err, GPTC_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    char *g = NULL;
    gptc_status st = gptc_json_schema_to_gbnf(json, len, &g, err);
    if (st != GPTC_OK) return st;
    st = gr_parse(g, strlen(g), NULL, NULL, out, err);
    if (st != GPTC_OK && err) {
        char m[GPTC_ERROR_MSG_MAX];
        snprintf(m, sizeof m, "JSON Schema: the generated grammar: %.440s", err->msg);
        memcpy(err->msg, m, sizeof m);
    }
    free(g);
    return st;
}

gptc_status gptc_grammar_json_object(gptc_grammar **out, gptc_error *err) {
    static const char s[] = "{\"type\":\"object\",\"additionalProperties\":true}";
    return gptc_grammar_from_json_schema(s, sizeof s - 1, out, err);
}
