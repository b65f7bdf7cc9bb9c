/* gbnf.c — the GBNF parser and compiler (llama.cpp's --grammar syntax, see grammar.h).
 *
 * Syntax: `name ::= alternatives` per rule (names of letters, digits, '-' and '_'); alternatives
 * separated by '|'; a sequence of "literal" strings, [character classes] (ranges a-z, negation
 * [^...], escapes \n \r \t \\ \" \] \[ \- \xHH \uHHHH \UHHHHHHHH), rule references, (groups),
 * '.' (any character), token ids <[123]>; postfix * + ? {m} {m,} {m,n} {,n}; '#' comments to the
 * end of the line. A newline ends a rule except inside parentheses or after '|'. `root` is the
 * start rule. Repetitions are rewritten into right-recursive helper rules; character classes into
 * alternatives of UTF-8 byte sequences (surrogates excluded). Left recursion is refused (the
 * matcher would expand it forever), as llama.cpp does. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

gptc_status gr_err(gptc_error *err, gptc_status st, const char *fmt, ...) {
    if (err) {
        char raw[GPTC_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        /* one line: controls from the user's text (a key, a format name) are escaped */
        size_t o = 0;
        for (const unsigned char *c = (const unsigned char *)raw; *c && o + 5 < sizeof err->msg;
             c++) {
            if (*c < 0x20 || *c == 0x7f)
                o += (size_t)snprintf(err->msg + o, sizeof err->msg - o, "\\x%02X", *c);
            else
                err->msg[o++] = (char)*c;
        }
        err->msg[o] = 0;
        err->status = st;
    }
    return st;
}

typedef struct ivec {
    int32_t *v;
    int n, cap;
} ivec;

static int iv_push(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        int nc = a->cap ? a->cap * 2 : 16;
        int32_t *nv = realloc(a->v, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 0;
}

/* body encoding: 0 = end of an alternative; (t << 2) | 1 = term t; (r << 2) | 2 = rule r */
#define ENC_TERM(t) (((t) << 2) | 1)
#define ENC_REF(r) (((r) << 2) | 2)

typedef struct brule {
    char *name;
    ivec body;
    int defined;
    long ref_off; /* offset of the first reference (for "undefined rule") */
    const char *ref_src;
} brule;

#define MAX_DEPTH 200
#define MAX_REPEAT 10000
#define MAX_RULES 1000000

typedef struct parser {
    const char *src, *pos, *end;
    const char *prefix;
    brule *rules;
    int n_rules, cap_rules;
    gr_term *terms;
    int n_terms, cap_terms;
    int32_t *range_term; /* [256 * 256] term index of byte range lo..hi, or -1 */
    int cur_rule;        /* rule being defined (names helpers) */
    int n_helper;
    int depth;
    int failed;
    gptc_error *err;
} parser;

static void perr(parser *p, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr(parser *p, const char *at, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    int line = 1, col = 1;
    for (const char *c = p->src; c < at && c < p->end; c++) {
        if (*c == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)*c & 0xC0) != 0x80)
            col++;
    }
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gr_err(p->err, GPTC_ERR_FORMAT, "line %d, column %d: %s", line, col, msg);
}

static void oom(parser *p) {
    if (!p->failed) gr_err(p->err, GPTC_ERR_NOMEM, "out of memory compiling the grammar");
    p->failed = 1;
}

static int new_rule(parser *p, const char *name, size_t nlen) {
    if (p->n_rules >= MAX_RULES) {
        perr(p, p->pos, "too many rules");
        return -1;
    }
    if (p->n_rules == p->cap_rules) {
        int nc = p->cap_rules ? p->cap_rules * 2 : 64;
        brule *nr = realloc(p->rules, (size_t)nc * sizeof *nr);
        if (!nr) return oom(p), -1;
        p->rules = nr;
        p->cap_rules = nc;
    }
    brule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(nlen + 1);
    if (!r->name) return oom(p), -1;
    memcpy(r->name, name, nlen);
    r->name[nlen] = 0;
    r->ref_off = -1;
    return p->n_rules++;
}

/* The rule of a (prefixed) name, created undefined when new. */
static int rule_id(parser *p, const char *name, size_t nlen) {
    char buf[300];
    size_t pl = p->prefix ? strlen(p->prefix) : 0;
    if (nlen + pl >= sizeof buf) {
        perr(p, name, "rule name too long");
        return -1;
    }
    if (pl) memcpy(buf, p->prefix, pl);
    memcpy(buf + pl, name, nlen);
    buf[pl + nlen] = 0;
    for (int i = 0; i < p->n_rules; i++)
        if (!strcmp(p->rules[i].name, buf)) return i;
    return new_rule(p, buf, pl + nlen);
}

static int helper_rule(parser *p) {
    char buf[320];
    const char *base = p->cur_rule >= 0 ? p->rules[p->cur_rule].name : "rule";
    int n = snprintf(buf, sizeof buf, "%s_%d", base, ++p->n_helper);
    int r = new_rule(p, buf, (size_t)n);
    if (r >= 0) p->rules[r].defined = 1;
    return r;
}

static int add_term(parser *p, const gr_term *t) {
    if (p->n_terms == p->cap_terms) {
        int nc = p->cap_terms ? p->cap_terms * 2 : 64;
        gr_term *nt = realloc(p->terms, (size_t)nc * sizeof *nt);
        if (!nt) return oom(p), -1;
        p->terms = nt;
        p->cap_terms = nc;
    }
    p->terms[p->n_terms] = *t;
    return p->n_terms++;
}

static int range_term(parser *p, int lo, int hi) {
    int key = lo * 256 + hi;
    if (p->range_term[key] >= 0) return p->range_term[key];
    gr_term t;
    memset(&t, 0, sizeof t);
    t.tok_lo = 1;
    t.tok_hi = 0;
    for (int b = lo; b <= hi; b++) t.bits[b >> 5] |= 1u << (b & 31);
    int id = add_term(p, &t);
    if (id >= 0) p->range_term[key] = id;
    return id;
}

static void emit(parser *p, ivec *out, int32_t x) {
    if (iv_push(out, x)) oom(p);
}

static void skip_space(parser *p, int newline_ok) {
    while (p->pos < p->end) {
        char c = *p->pos;
        if (c == '#') {
            while (p->pos < p->end && *p->pos != '\n' && *p->pos != '\r') p->pos++;
        } else if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
            p->pos++;
        } else
            break;
    }
}

static int is_name_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One code point (escape or raw UTF-8) at p->pos; -1 on error. */
static int32_t decode_char(parser *p) {
    const char *at = p->pos;
    if (p->pos >= p->end) {
        perr(p, at, "unexpected end of grammar");
        return -1;
    }
    unsigned char c = (unsigned char)*p->pos;
    if (c == '\\') {
        p->pos++;
        if (p->pos >= p->end) {
            perr(p, at, "unexpected end of grammar after '\\'");
            return -1;
        }
        char e = *p->pos++;
        int nd = 0;
        switch (e) {
        case 'x':
            nd = 2;
            break;
        case 'u':
            nd = 4;
            break;
        case 'U':
            nd = 8;
            break;
        case 't':
            return '\t';
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
            return (unsigned char)e;
        default:
            perr(p, at, "unknown escape '\\%c'", e);
            return -1;
        }
        uint32_t v = 0;
        for (int i = 0; i < nd; i++) {
            int h = p->pos < p->end ? hexval(*p->pos) : -1;
            if (h < 0) {
                perr(p, at, "expected %d hex digits after '\\%c'", nd, e);
                return -1;
            }
            v = v * 16 + (uint32_t)h;
            p->pos++;
        }
        if (v > 0x10FFFF) {
            perr(p, at, "code point U+%X is beyond U+10FFFF", v);
            return -1;
        }
        return (int32_t)v;
    }
    int n = c < 0x80             ? 1
            : (c & 0xE0) == 0xC0 ? 2
            : (c & 0xF0) == 0xE0 ? 3
            : (c & 0xF8) == 0xF0 ? 4
                                 : 0;
    if (!n || p->end - p->pos < n) {
        perr(p, at, "invalid UTF-8 in the grammar");
        return -1;
    }
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; i++) {
        unsigned char cc = (unsigned char)p->pos[i];
        if ((cc & 0xC0) != 0x80) {
            perr(p, at, "invalid UTF-8 in the grammar");
            return -1;
        }
        v = (v << 6) | (cc & 0x3F);
    }
    static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < minv[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        perr(p, at, "invalid UTF-8 in the grammar");
        return -1;
    }
    p->pos += n;
    return (int32_t)v;
}

static int utf8_encode(uint32_t cp, unsigned char *b) {
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- character classes -> UTF-8 byte sequences ------------------------------------------------
 * The classic split (as in Go's regexp and Rust's regex-syntax): a code point range is cut at the
 * encoding-length boundaries and where its low continuation bits are not aligned, until every
 * piece is a product of per-byte ranges. */
typedef struct cprange {
    uint32_t lo, hi;
} cprange;

static void utf8_split(parser *p, ivec *alts, uint32_t lo, uint32_t hi, int depth) {
    if (p->failed || lo > hi || depth > 64) return;
    static const uint32_t lim[3] = {0x7F, 0x7FF, 0xFFFF};
    for (int i = 0; i < 3; i++)
        if (lo <= lim[i] && hi > lim[i]) {
            utf8_split(p, alts, lo, lim[i], depth + 1);
            utf8_split(p, alts, lim[i] + 1, hi, depth + 1);
            return;
        }
    unsigned char a[4], b[4];
    int n = utf8_encode(lo, a);
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if (lo & m) {
                utf8_split(p, alts, lo, lo | m, depth + 1);
                utf8_split(p, alts, (lo | m) + 1, hi, depth + 1);
                return;
            }
            if ((hi & m) != m) {
                utf8_split(p, alts, lo, (hi & ~m) - 1, depth + 1);
                utf8_split(p, alts, hi & ~m, hi, depth + 1);
                return;
            }
        }
    }
    utf8_encode(hi, b);
    for (int i = 0; i < n; i++) {
        int t = range_term(p, a[i], b[i]);
        if (t < 0) return;
        emit(p, alts, ENC_TERM(t));
    }
    emit(p, alts, 0);
}

static int cpr_cmp(const void *x, const void *y) {
    const cprange *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Emits the class (ranges may overlap, unsorted) into out as one term or a helper rule. */
static void emit_class(parser *p, ivec *out, cprange *r, int n, int neg) {
    if (n > 1) qsort(r, (size_t)n, sizeof *r, cpr_cmp); /* r is NULL for an empty class */
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m && r[i].lo <= r[m - 1].hi + 1) {
            if (r[i].hi > r[m - 1].hi) r[m - 1].hi = r[i].hi;
        } else
            r[m++] = r[i];
    }
    cprange set[260];
    int ns = 0;
    cprange *src = r;
    int nsrc = m;
    cprange *comp = NULL;
    if (neg) {
        comp = malloc(((size_t)m + 1) * sizeof *comp);
        if (!comp) return oom(p);
        int k = 0;
        uint32_t next = 0;
        for (int i = 0; i < m; i++) {
            if (r[i].lo > next) comp[k++] = (cprange){next, r[i].lo - 1};
            next = r[i].hi + 1;
        }
        if (next <= 0x10FFFF) comp[k++] = (cprange){next, 0x10FFFF};
        src = comp;
        nsrc = k;
    }
    /* drop the surrogates */
    ivec alts = {0};
    gr_term ascii;
    memset(&ascii, 0, sizeof ascii);
    ascii.tok_lo = 1;
    ascii.tok_hi = 0;
    int has_ascii = 0, has_multi = 0;
    for (int i = 0; i < nsrc; i++) {
        cprange pieces[2] = {src[i], {1, 0}};
        if (src[i].lo <= 0xDFFF && src[i].hi >= 0xD800) {
            pieces[0] = (cprange){src[i].lo, 0xD7FF};
            pieces[1] = (cprange){0xE000, src[i].hi};
            if (src[i].lo >= 0xD800) pieces[0] = (cprange){1, 0};
            if (src[i].hi <= 0xDFFF) pieces[1] = (cprange){1, 0};
        }
        for (int k = 0; k < 2; k++) {
            uint32_t lo = pieces[k].lo, hi = pieces[k].hi;
            if (lo > hi) continue;
            for (uint32_t c = lo; c <= hi && c < 0x80; c++) {
                ascii.bits[c >> 5] |= 1u << (c & 31);
                has_ascii = 1;
            }
            if (hi >= 0x80) {
                has_multi = 1;
                if (ns < (int)(sizeof set / sizeof set[0]))
                    set[ns++] = (cprange){lo < 0x80 ? 0x80 : lo, hi};
                else
                    utf8_split(p, &alts, lo < 0x80 ? 0x80 : lo, hi, 0);
            }
        }
    }
    free(comp);
    for (int i = 0; i < ns; i++) utf8_split(p, &alts, set[i].lo, set[i].hi, 0);
    if (p->failed) {
        free(alts.v);
        return;
    }
    if (!has_ascii && !has_multi) {
        free(alts.v);
        perr(p, p->pos, "empty character class (matches nothing)");
        return;
    }
    if (!has_multi) {
        free(alts.v);
        int t = add_term(p, &ascii);
        if (t >= 0) emit(p, out, ENC_TERM(t));
        return;
    }
    int rr = helper_rule(p);
    if (rr < 0) {
        free(alts.v);
        return;
    }
    ivec body = {0};
    if (has_ascii) {
        int t = add_term(p, &ascii);
        if (t < 0) {
            free(alts.v);
            return;
        }
        emit(p, &body, ENC_TERM(t));
        emit(p, &body, 0);
    }
    for (int i = 0; i < alts.n; i++) emit(p, &body, alts.v[i]);
    free(alts.v);
    p->rules[rr].body = body;
    emit(p, out, ENC_REF(rr));
}

static void parse_class(parser *p, ivec *out) {
    const char *at = p->pos;
    p->pos++; /* '[' */
    int neg = 0;
    if (p->pos < p->end && *p->pos == '^') {
        neg = 1;
        p->pos++;
    }
    cprange *r = NULL;
    int n = 0, cap = 0;
    while (!p->failed) {
        if (p->pos >= p->end) {
            perr(p, at, "unterminated character class");
            break;
        }
        if (*p->pos == ']') {
            p->pos++;
            break;
        }
        int32_t lo = decode_char(p);
        if (lo < 0) break;
        int32_t hi = lo;
        if (p->end - p->pos >= 2 && *p->pos == '-' && p->pos[1] != ']') {
            const char *dash = p->pos;
            p->pos++;
            hi = decode_char(p);
            if (hi < 0) break;
            if (hi < lo) {
                perr(p, dash, "character range is reversed (U+%04X-U+%04X)", (unsigned)lo,
                     (unsigned)hi);
                break;
            }
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            cprange *nr = realloc(r, (size_t)cap * sizeof *nr);
            if (!nr) {
                oom(p);
                break;
            }
            r = nr;
        }
        r[n++] = (cprange){(uint32_t)lo, (uint32_t)hi};
    }
    if (!p->failed) {
        if (!n && !neg)
            perr(p, at, "empty character class (matches nothing)");
        else
            emit_class(p, out, r, n, neg);
    }
    free(r);
}

static void parse_alternates(parser *p, ivec *out, int nested);

/* x{min,max} (max < 0: unbounded) of the symbol at out[last..n) */
static void repeat(parser *p, ivec *out, int last, int min, int max) {
    int32_t item;
    if (out->n - last == 1) {
        item = out->v[last];
    } else {
        int r = helper_rule(p);
        if (r < 0) return;
        ivec body = {0};
        for (int i = last; i < out->n; i++) emit(p, &body, out->v[i]);
        emit(p, &body, 0);
        p->rules[r].body = body;
        item = ENC_REF(r);
    }
    out->n = last;
    for (int i = 0; i < min; i++) emit(p, out, item);
    if (max < 0) {
        int r = helper_rule(p);
        if (r < 0) return;
        ivec body = {0};
        emit(p, &body, item);
        emit(p, &body, ENC_REF(r));
        emit(p, &body, 0);
        emit(p, &body, 0);
        p->rules[r].body = body;
        emit(p, out, ENC_REF(r));
    } else if (max > min) {
        int prev = -1;
        for (int k = 0; k < max - min && !p->failed; k++) {
            int r = helper_rule(p);
            if (r < 0) return;
            ivec body = {0};
            emit(p, &body, item);
            if (prev >= 0) emit(p, &body, ENC_REF(prev));
            emit(p, &body, 0);
            emit(p, &body, 0);
            p->rules[r].body = body;
            prev = r;
        }
        if (prev >= 0) emit(p, out, ENC_REF(prev));
    }
}

/* digits at pos (values above cap read as cap + 1) */
static int parse_int_cap(parser *p, int *v, long cap) {
    if (p->pos >= p->end || !isdigit((unsigned char)*p->pos)) return 0;
    long x = 0;
    while (p->pos < p->end && isdigit((unsigned char)*p->pos)) {
        x = x * 10 + (*p->pos - '0');
        if (x > cap) x = cap + 1;
        p->pos++;
    }
    *v = (int)x;
    return 1;
}

static int parse_int(parser *p, int *v) {
    return parse_int_cap(p, v, MAX_REPEAT);
}

static void parse_sequence(parser *p, ivec *out, int nested) {
    int last = -1;
    /* the simple quantifier (*, + or ?) just applied to item `q_item`: the same one again
     * changes nothing (x++ is x+, x** is x*, x?? is x?), so "x++++..." does not nest one helper
     * rule per '+' (nested one-or-more loops make the matcher's state sets grow exponentially;
     * the gbnf fuzzer found such a grammar). Other stacks (x+?, x?+) are built as written. */
    int q_item = -1;
    char q_op = 0;
    while (p->pos < p->end && !p->failed) {
        const char *at = p->pos;
        char c = *p->pos;
        if (c == '"') {
            last = out->n;
            p->pos++;
            for (;;) {
                if (p->pos >= p->end) {
                    perr(p, at, "unterminated string literal");
                    return;
                }
                if (*p->pos == '"') {
                    p->pos++;
                    break;
                }
                int32_t cp = decode_char(p);
                if (cp < 0) return;
                unsigned char b[4];
                int nb = utf8_encode((uint32_t)cp, b);
                for (int i = 0; i < nb; i++) {
                    int t = range_term(p, b[i], b[i]);
                    if (t < 0) return;
                    emit(p, out, ENC_TERM(t));
                }
            }
            if (out->n == last) last = -1; /* "" is nothing */
        } else if (c == '[') {
            last = out->n;
            parse_class(p, out);
        } else if (c == '.') {
            last = out->n;
            p->pos++;
            cprange all = {0, 0x10FFFF};
            emit_class(p, out, &all, 1, 0);
        } else if (c == '(') {
            last = out->n;
            if (++p->depth > MAX_DEPTH) {
                perr(p, at, "groups nested too deeply");
                return;
            }
            p->pos++;
            skip_space(p, 1);
            ivec sub = {0};
            parse_alternates(p, &sub, 1);
            p->depth--;
            if (!p->failed && (p->pos >= p->end || *p->pos != ')')) perr(p, at, "unclosed '('");
            if (p->failed) {
                free(sub.v);
                return;
            }
            p->pos++;
            int r = helper_rule(p);
            if (r < 0) {
                free(sub.v);
                return;
            }
            p->rules[r].body = sub;
            emit(p, out, ENC_REF(r));
        } else if (c == '<') {
            last = out->n;
            if (p->end - p->pos < 2 || p->pos[1] != '[') {
                perr(p, at, "token names like <|end|> are not supported: write the id, <[200007]>");
                return;
            }
            p->pos += 2;
            int id;
            if (!parse_int_cap(p, &id, 1 << 30) || id > (1 << 30) || p->end - p->pos < 2 ||
                p->pos[0] != ']' || p->pos[1] != '>') {
                perr(p, at, "expected a token id: <[123]>");
                return;
            }
            p->pos += 2;
            gr_term t;
            memset(&t, 0, sizeof t);
            t.tok_lo = t.tok_hi = id;
            int ti = add_term(p, &t);
            if (ti < 0) return;
            emit(p, out, ENC_TERM(ti));
        } else if (c == '!') {
            perr(p, at, "negated tokens (!<...>) are not supported");
            return;
        } else if (is_name_char(c)) {
            last = out->n;
            const char *s = p->pos;
            while (p->pos < p->end && is_name_char(*p->pos)) p->pos++;
            int r = rule_id(p, s, (size_t)(p->pos - s));
            if (r < 0) return;
            if (p->rules[r].ref_off < 0) {
                p->rules[r].ref_off = s - p->src;
            }
            emit(p, out, ENC_REF(r));
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last < 0) {
                perr(p, at, "'%c' must follow an item", c);
                return;
            }
            int min = 0, max = -1;
            p->pos++;
            if (c == '+')
                min = 1;
            else if (c == '?')
                max = 1;
            else if (c == '{') {
                skip_space(p, nested);
                int have_min = parse_int(p, &min);
                skip_space(p, nested);
                if (p->pos < p->end && *p->pos == ',') {
                    p->pos++;
                    skip_space(p, nested);
                    if (!parse_int(p, &max)) max = -1;
                    skip_space(p, nested);
                } else {
                    if (!have_min) {
                        perr(p, at, "expected a number in {m,n}");
                        return;
                    }
                    max = min;
                }
                if (p->pos >= p->end || *p->pos != '}') {
                    perr(p, at, "expected '}' closing {m,n}");
                    return;
                }
                p->pos++;
                if (min > MAX_REPEAT || max > MAX_REPEAT) {
                    perr(p, at, "repetition count above %d", MAX_REPEAT);
                    return;
                }
                if (max >= 0 && max < min) {
                    perr(p, at, "repetition {%d,%d}: the maximum is below the minimum", min, max);
                    return;
                }
            }
            const int simple = c != '{';
            if (!simple || q_item != last || q_op != c) {
                repeat(p, out, last, min, max);
                q_op = simple ? c : 0;
                q_item = last;
            } /* else the same quantifier again: no change */
        } else
            break;
        skip_space(p, nested);
    }
}

static void parse_alternates(parser *p, ivec *out, int nested) {
    parse_sequence(p, out, nested);
    while (!p->failed && p->pos < p->end && *p->pos == '|') {
        emit(p, out, 0);
        p->pos++;
        skip_space(p, 1);
        parse_sequence(p, out, nested);
    }
    emit(p, out, 0);
}

static void parse_rules(parser *p) {
    skip_space(p, 1);
    while (p->pos < p->end && !p->failed) {
        const char *at = p->pos;
        if (!is_name_char(*p->pos)) {
            perr(p, at, "expected a rule name");
            return;
        }
        while (p->pos < p->end && is_name_char(*p->pos)) p->pos++;
        int r = rule_id(p, at, (size_t)(p->pos - at));
        if (r < 0) return;
        if (p->rules[r].defined) {
            perr(p, at, "rule '%.*s' is defined twice", (int)(p->pos - at), at);
            return;
        }
        p->rules[r].defined = 1;
        skip_space(p, 0);
        if (p->end - p->pos < 3 || memcmp(p->pos, "::=", 3)) {
            perr(p, p->pos, "expected '::=' after the rule name");
            return;
        }
        p->pos += 3;
        skip_space(p, 1);
        p->cur_rule = r;
        p->n_helper = 0;
        ivec body = {0};
        parse_alternates(p, &body, 0);
        p->rules[r].body = body;
        if (p->failed) return;
        if (p->pos < p->end && *p->pos != '\n' && *p->pos != '\r') {
            perr(p, p->pos, "unexpected '%c' (expected a newline or the end of the rule)", *p->pos);
            return;
        }
        skip_space(p, 1);
    }
}

/* ---- checks and flattening ------------------------------------------------------------------ */
static int check_left_recursion(parser *p, gptc_error *err) {
    int n = p->n_rules;
    char *nullable = calloc((size_t)n + 1, 1);
    char *color = calloc((size_t)n + 1, 1);
    int32_t *stack = malloc(((size_t)n + 1) * 2 * sizeof(int32_t));
    if (!nullable || !color || !stack) {
        free(nullable);
        free(color);
        free(stack);
        return gr_err(err, GPTC_ERR_NOMEM, "out of memory checking the grammar"), -1;
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int r = 0; r < n; r++) {
            if (nullable[r]) continue;
            ivec *b = &p->rules[r].body;
            int ok = 1;
            for (int i = 0; i < b->n; i++) {
                int32_t x = b->v[i];
                if (x == 0) {
                    if (ok) {
                        nullable[r] = 1;
                        changed = 1;
                        break;
                    }
                    ok = 1;
                } else if ((x & 3) == 1 || !nullable[x >> 2])
                    ok = 0;
            }
        }
    }
    /* iterative DFS over "r can start with s" edges */
    int rc = 0;
    for (int s0 = 0; s0 < n && !rc; s0++) {
        if (color[s0]) continue;
        int sp = 0;
        stack[sp++] = s0;
        stack[sp++] = 0;
        color[s0] = 1;
        while (sp && !rc) {
            int r = stack[sp - 2];
            int i = stack[sp - 1];
            ivec *b = &p->rules[r].body;
            /* find the next left-reachable ref at index >= i */
            int found = -1;
            int prefix_ok = 1;
            /* recompute prefix nullability for index i: walk from the alternative start */
            int alt_start = i;
            while (alt_start > 0 && b->v[alt_start - 1] != 0) alt_start--;
            for (int k = alt_start; k < i; k++) {
                int32_t x = b->v[k];
                if ((x & 3) == 1 || !nullable[x >> 2]) prefix_ok = 0;
            }
            for (; i < b->n; i++) {
                int32_t x = b->v[i];
                if (x == 0) {
                    prefix_ok = 1;
                    continue;
                }
                if (!prefix_ok) continue;
                if ((x & 3) == 2) {
                    found = i;
                    if (!nullable[x >> 2]) prefix_ok = 0;
                    break;
                }
                prefix_ok = 0;
            }
            if (found < 0) {
                color[r] = 2;
                sp -= 2;
                continue;
            }
            stack[sp - 1] = found + 1;
            int s = b->v[found] >> 2;
            if (color[s] == 1) {
                rc = -1;
                gr_err(err, GPTC_ERR_FORMAT,
                       "rule '%s' is left-recursive (it can reach itself before matching a "
                       "character)",
                       p->rules[s].name);
            } else if (!color[s]) {
                color[s] = 1;
                stack[sp++] = s;
                stack[sp++] = 0;
            }
        }
    }
    free(nullable);
    free(color);
    free(stack);
    return rc;
}

static void free_parser(parser *p) {
    for (int i = 0; i < p->n_rules; i++) {
        free(p->rules[i].name);
        free(p->rules[i].body.v);
    }
    free(p->rules);
    free(p->terms);
    free(p->range_term);
}

static void run_parse(parser *p, const char *src, size_t len, const char *prefix) {
    p->src = src;
    p->pos = src;
    p->end = src + len;
    p->prefix = prefix;
    p->cur_rule = -1;
    parse_rules(p);
    if (p->failed) return;
    for (int i = 0; i < p->n_rules; i++)
        if (!p->rules[i].defined && p->rules[i].ref_src == NULL && p->rules[i].ref_off >= 0)
            p->rules[i].ref_src = src;
}

gptc_status gr_parse(const char *src, size_t len, const char *prefix_src, const char *prefix,
                     gptc_grammar **out, gptc_error *err) {
    if (!prefix_src) {
        gr_part part = {src, len, NULL};
        return gr_parse_parts(&part, 1, 0, out, err);
    }
    gr_part parts[2] = {{prefix_src, strlen(prefix_src), NULL}, {src, len, prefix}};
    return gr_parse_parts(parts, 2, 1, out, err);
}

gptc_status gr_parse_parts(const gr_part *parts, int n_parts, int keep, gptc_grammar **out,
                           gptc_error *err) {
    *out = NULL;
    const char *src = parts[keep].src;
    size_t len = parts[keep].len;
    parser P, *p = &P;
    memset(p, 0, sizeof *p);
    p->err = err;
    p->range_term = malloc(256 * 256 * sizeof(int32_t));
    if (!p->range_term) return gr_err(err, GPTC_ERR_NOMEM, "out of memory compiling the grammar");
    memset(p->range_term, 0xff, 256 * 256 * sizeof(int32_t));
    int root = -1;
    for (int k = 0; k < n_parts && !p->failed; k++) {
        run_parse(p, parts[k].src, parts[k].len, parts[k].prefix);
        if (k == 0 && !p->failed) {
            for (int i = 0; i < p->n_rules; i++)
                if (!strcmp(p->rules[i].name, "root")) root = i;
            if (root < 0 || !p->rules[root].defined) {
                free_parser(p);
                return gr_err(err, GPTC_ERR_FORMAT, "the grammar has no 'root' rule");
            }
        }
    }
    if (!p->failed)
        for (int i = 0; i < p->n_rules; i++)
            if (!p->rules[i].defined) {
                /* position of the first reference; the name as that part wrote it (a part is
                 * (pointer, length), not NUL-terminated: the API takes such buffers) */
                const char *s = p->rules[i].ref_src ? p->rules[i].ref_src : src;
                size_t slen = 0, pl = 0;
                for (int k = 0; k < n_parts; k++)
                    if (parts[k].src == s) {
                        slen = parts[k].len;
                        pl = parts[k].prefix ? strlen(parts[k].prefix) : 0;
                    }
                p->src = s;
                p->end = s + slen;
                perr(p, s + (p->rules[i].ref_off >= 0 ? p->rules[i].ref_off : 0),
                     "undefined rule '%s'", p->rules[i].name + pl);
                break;
            }
    if (p->failed) {
        free_parser(p);
        return err ? err->status : GPTC_ERR_FORMAT;
    }
    if (check_left_recursion(p, err)) {
        free_parser(p);
        return err ? err->status : GPTC_ERR_FORMAT;
    }
    gptc_grammar *g = calloc(1, sizeof *g);
    size_t n_el = 0, n_alt = 0;
    for (int r = 0; r < p->n_rules; r++)
        for (int i = 0; i < p->rules[r].body.n; i++) {
            n_el++;
            if (p->rules[r].body.v[i] == 0) n_alt++;
        }
    if (g) {
        g->el = malloc((n_el + 1) * sizeof *g->el);
        g->alt = malloc((n_alt + 1) * sizeof *g->alt);
        g->rule_alt = malloc(((size_t)p->n_rules + 1) * sizeof *g->rule_alt);
        g->src = malloc(len + 1);
    }
    if (!g || !g->el || !g->alt || !g->rule_alt || !g->src) {
        if (g) {
            free(g->el);
            free(g->alt);
            free(g->rule_alt);
            free(g->src);
            free(g);
        }
        free_parser(p);
        return gr_err(err, GPTC_ERR_NOMEM, "out of memory compiling the grammar");
    }
    memcpy(g->src, src, len);
    g->src[len] = 0;
    int ne = 0, na = 0;
    for (int r = 0; r < p->n_rules; r++) {
        g->rule_alt[r] = na;
        ivec *b = &p->rules[r].body;
        int start = 1;
        for (int i = 0; i < b->n; i++) {
            if (start) g->alt[na++] = ne;
            int32_t x = b->v[i];
            start = x == 0;
            g->el[ne].kind = x == 0 ? GR_END : (x & 3) == 1 ? GR_TERM : GR_REF;
            g->el[ne].val = x >> 2;
            ne++;
        }
    }
    g->rule_alt[p->n_rules] = na;
    g->el[ne].kind = GR_END; /* sentinel */
    g->el[ne].val = 0;
    g->n_el = ne;
    g->n_rules = p->n_rules;
    g->terms = p->terms;
    g->n_terms = p->n_terms;
    g->root = root;
    p->terms = NULL;
    free_parser(p);
    *out = g;
    return GPTC_OK;
}

void gptc_grammar_free(gptc_grammar *g) {
    if (!g) return;
    free(g->el);
    free(g->alt);
    free(g->rule_alt);
    free(g->terms);
    free(g->src);
    free(g);
}

gptc_status gptc_grammar_parse(const char *gbnf, size_t len, gptc_grammar **out, gptc_error *err) {
    if (!out || (!gbnf && len)) return gr_err(err, GPTC_ERR_INVALID_ARG, "NULL argument");
    return gr_parse(gbnf ? gbnf : "", len, NULL, NULL, out, err);
}

const char *gptc_grammar_source(const gptc_grammar *g) {
    return g ? g->src : NULL;
}
