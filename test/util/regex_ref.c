/* regex_ref.c — see regex_ref.h. Pattern -> AST -> program for a backtracking VM (explicit
 * stack of alternatives, so long inputs do not recurse deeply). */
#include "test/util/regex_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/unicode.h"

/* ---- character classes ---- */

enum { IT_CP, IT_CAT, IT_SPACE, IT_NSPACE };
typedef struct rr_item {
    int type;
    uint32_t cp;   /* IT_CP */
    uint32_t cats; /* IT_CAT: bit set of UTF8PROC_CATEGORY_* */
} rr_item;

typedef struct rr_class {
    int negated, icase;
    int n;
    rr_item items[16];
} rr_class;

static int ref_is_space(uint32_t c) {
    static const uint32_t ws[] = {0x9,    0xA,    0xB,    0xC,    0xD,    0x20,   0x85,
                                  0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
                                  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028,
                                  0x2029, 0x202F, 0x205F, 0x3000};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        if (ws[i] == c) return 1;
    return 0;
}

/* Simple case fold by way of utf8proc's full case folding: a code point whose folding is a
 * single code point folds to it, others to themselves. */
static uint32_t ref_fold(uint32_t c) {
    utf8proc_int32_t buf[4];
    int last = 0;
    utf8proc_ssize_t k =
        utf8proc_decompose_char((utf8proc_int32_t)c, buf, 4, UTF8PROC_CASEFOLD, &last);
    return k == 1 ? (uint32_t)buf[0] : c;
}

static int class_has(const rr_class *cl, uint32_t c) {
    int in = 0;
    for (int i = 0; i < cl->n && !in; i++) {
        const rr_item *it = &cl->items[i];
        switch (it->type) {
        case IT_CP:
            in = cl->icase ? ref_fold(c) == ref_fold(it->cp) : c == it->cp;
            break;
        case IT_CAT:
            in = (it->cats >> gt_uc_category(c)) & 1;
            break;
        case IT_SPACE:
            in = ref_is_space(c);
            break;
        case IT_NSPACE:
            in = !ref_is_space(c);
            break;
        }
    }
    return in != cl->negated;
}

/* ---- AST ---- */

enum { N_CLASS, N_CAT, N_ALT, N_REP, N_NEGLOOK };
typedef struct rr_node {
    int type;
    int cls;              /* N_CLASS: index into classes */
    int min, max;         /* N_REP; max -1 = unbounded */
    int nkids;            /* N_CAT, N_ALT; N_REP/N_NEGLOOK: 1 */
    struct rr_node **kid; /* malloc'd */
} rr_node;

enum { OP_CLASS, OP_SPLIT, OP_JMP, OP_NEGLOOK, OP_MATCH };
typedef struct rr_inst {
    int op;
    int a, b; /* CLASS: class; SPLIT: preferred, other; JMP: a; NEGLOOK: after sub-program */
} rr_inst;

struct rr_regex {
    rr_class *classes;
    int nclasses, capclasses;
    rr_inst *prog;
    int nprog, capprog;
};

typedef struct parser {
    const char *p;
    rr_regex *re;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void perr(parser *ps, const char *msg) {
    if (!ps->failed) snprintf(ps->err, ps->errlen, "%s at '%.10s'", msg, ps->p);
    ps->failed = 1;
}

static rr_node *node_new(int type) {
    rr_node *n = calloc(1, sizeof *n);
    if (!n) abort();
    n->type = type;
    return n;
}

static void node_add(rr_node *n, rr_node *k) {
    n->kid = realloc(n->kid, (size_t)(n->nkids + 1) * sizeof *n->kid);
    if (!n->kid) abort();
    n->kid[n->nkids++] = k;
}

static void node_free(rr_node *n) {
    if (!n) return;
    for (int i = 0; i < n->nkids; i++) node_free(n->kid[i]);
    free(n->kid);
    free(n);
}

static int class_new(parser *ps, int icase) {
    rr_regex *re = ps->re;
    if (re->nclasses == re->capclasses) {
        re->capclasses = re->capclasses ? 2 * re->capclasses : 16;
        re->classes = realloc(re->classes, (size_t)re->capclasses * sizeof *re->classes);
        if (!re->classes) abort();
    }
    memset(&re->classes[re->nclasses], 0, sizeof re->classes[0]);
    re->classes[re->nclasses].icase = icase;
    return re->nclasses++;
}

static void class_item(parser *ps, int cls, rr_item it) {
    rr_class *cl = &ps->re->classes[cls];
    if (cl->n == 16) {
        perr(ps, "class too large");
        return;
    }
    cl->items[cl->n++] = it;
}

static uint32_t cat_bits(parser *ps, const char *name, size_t len) {
    static const struct {
        const char *name;
        uint32_t bits;
    } T[] = {
        {"L", (1u << UTF8PROC_CATEGORY_LU) | (1u << UTF8PROC_CATEGORY_LL) |
                  (1u << UTF8PROC_CATEGORY_LT) | (1u << UTF8PROC_CATEGORY_LM) |
                  (1u << UTF8PROC_CATEGORY_LO)},
        {"Lu", 1u << UTF8PROC_CATEGORY_LU},
        {"Ll", 1u << UTF8PROC_CATEGORY_LL},
        {"Lt", 1u << UTF8PROC_CATEGORY_LT},
        {"Lm", 1u << UTF8PROC_CATEGORY_LM},
        {"Lo", 1u << UTF8PROC_CATEGORY_LO},
        {"M", (1u << UTF8PROC_CATEGORY_MN) | (1u << UTF8PROC_CATEGORY_MC) |
                  (1u << UTF8PROC_CATEGORY_ME)},
        {"N", (1u << UTF8PROC_CATEGORY_ND) | (1u << UTF8PROC_CATEGORY_NL) |
                  (1u << UTF8PROC_CATEGORY_NO)},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strlen(T[i].name) == len && memcmp(T[i].name, name, len) == 0) return T[i].bits;
    perr(ps, "unknown property");
    return 0;
}

static uint32_t utf8_next(parser *ps) {
    size_t adv;
    uint32_t c = gt_utf8_decode((const uint8_t *)ps->p, strlen(ps->p), &adv);
    ps->p += adv;
    return c;
}

/* An escape after '\' (ps->p points after the backslash), as a class item. */
static rr_item parse_escape(parser *ps) {
    rr_item it = {IT_CP, 0, 0};
    char c = *ps->p++;
    switch (c) {
    case 's':
        it.type = IT_SPACE;
        break;
    case 'S':
        it.type = IT_NSPACE;
        break;
    case 'r':
        it.cp = '\r';
        break;
    case 'n':
        it.cp = '\n';
        break;
    case 't':
        it.cp = '\t';
        break;
    case 'p': {
        if (*ps->p != '{') {
            perr(ps, "expected {");
            break;
        }
        const char *end = strchr(ps->p, '}');
        if (!end) {
            perr(ps, "unterminated \\p{");
            break;
        }
        it.type = IT_CAT;
        it.cats = cat_bits(ps, ps->p + 1, (size_t)(end - ps->p - 1));
        ps->p = end + 1;
        break;
    }
    default:
        if (c == '\0' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9')) {
            perr(ps, "unsupported escape");
            ps->p--;
        } else {
            it.cp = (uint8_t)c;
        }
    }
    return it;
}

static rr_node *parse_alt(parser *ps, int icase);

static rr_node *parse_atom(parser *ps, int icase) {
    if (*ps->p == '(') {
        ps->p++;
        int neg = 0, sub_icase = icase;
        if (strncmp(ps->p, "?i:", 3) == 0) {
            sub_icase = 1;
            ps->p += 3;
        } else if (strncmp(ps->p, "?!", 2) == 0) {
            neg = 1;
            ps->p += 2;
        } else if (strncmp(ps->p, "?:", 2) == 0) {
            ps->p += 2;
        } else if (*ps->p == '?') {
            perr(ps, "unsupported group");
            return NULL;
        }
        rr_node *inner = parse_alt(ps, sub_icase);
        if (*ps->p != ')') {
            perr(ps, "expected )");
            node_free(inner);
            return NULL;
        }
        ps->p++;
        if (!neg) return inner;
        rr_node *n = node_new(N_NEGLOOK);
        node_add(n, inner);
        return n;
    }
    rr_node *n = node_new(N_CLASS);
    n->cls = class_new(ps, icase);
    if (*ps->p == '[') {
        ps->p++;
        if (*ps->p == '^') {
            ps->re->classes[n->cls].negated = 1;
            ps->p++;
        }
        while (*ps->p && *ps->p != ']' && !ps->failed) {
            rr_item it = {IT_CP, 0, 0};
            if (*ps->p == '\\') {
                ps->p++;
                it = parse_escape(ps);
            } else if (*ps->p == '[') {
                perr(ps, "nested class");
            } else {
                it.cp = utf8_next(ps);
            }
            if (*ps->p == '-' && ps->p[1] != ']') perr(ps, "ranges unsupported");
            class_item(ps, n->cls, it);
        }
        if (*ps->p != ']')
            perr(ps, "expected ]");
        else
            ps->p++;
    } else if (*ps->p == '\\') {
        ps->p++;
        class_item(ps, n->cls, parse_escape(ps));
    } else if (*ps->p == '.' || *ps->p == '^' || *ps->p == '$') {
        perr(ps, "unsupported metacharacter");
    } else {
        rr_item it = {IT_CP, utf8_next(ps), 0};
        class_item(ps, n->cls, it);
    }
    return n;
}

static rr_node *parse_repeat(parser *ps, int icase) {
    rr_node *a = parse_atom(ps, icase);
    if (!a) return NULL;
    for (;;) {
        int min, max;
        if (*ps->p == '?')
            min = 0, max = 1, ps->p++;
        else if (*ps->p == '*')
            min = 0, max = -1, ps->p++;
        else if (*ps->p == '+')
            min = 1, max = -1, ps->p++;
        else if (*ps->p == '{') {
            char *e;
            min = (int)strtol(ps->p + 1, &e, 10);
            if (*e != ',') {
                perr(ps, "bad {m,n}");
                return a;
            }
            max = (int)strtol(e + 1, &e, 10);
            if (*e != '}' || max < min || max > 100) {
                perr(ps, "bad {m,n}");
                return a;
            }
            ps->p = e + 1;
        } else
            return a;
        if (*ps->p == '?' || *ps->p == '+') {
            perr(ps, "lazy/possessive quantifiers unsupported");
            return a;
        }
        rr_node *r = node_new(N_REP);
        r->min = min;
        r->max = max;
        node_add(r, a);
        a = r;
    }
}

static rr_node *parse_cat(parser *ps, int icase) {
    rr_node *n = node_new(N_CAT);
    while (*ps->p && *ps->p != '|' && *ps->p != ')' && !ps->failed) {
        rr_node *k = parse_repeat(ps, icase);
        if (k) node_add(n, k);
    }
    return n;
}

static rr_node *parse_alt(parser *ps, int icase) {
    rr_node *n = node_new(N_ALT);
    node_add(n, parse_cat(ps, icase));
    while (*ps->p == '|' && !ps->failed) {
        ps->p++;
        node_add(n, parse_cat(ps, icase));
    }
    return n;
}

/* ---- code generation ---- */

static int emit(rr_regex *re, int op, int a, int b) {
    if (re->nprog == re->capprog) {
        re->capprog = re->capprog ? 2 * re->capprog : 64;
        re->prog = realloc(re->prog, (size_t)re->capprog * sizeof *re->prog);
        if (!re->prog) abort();
    }
    re->prog[re->nprog] = (rr_inst){op, a, b};
    return re->nprog++;
}

static void gen(rr_regex *re, const rr_node *n) {
    switch (n->type) {
    case N_CLASS:
        emit(re, OP_CLASS, n->cls, 0);
        break;
    case N_CAT:
        for (int i = 0; i < n->nkids; i++) gen(re, n->kid[i]);
        break;
    case N_ALT: {
        int jumps[64], nj = 0;
        for (int i = 0; i < n->nkids; i++) {
            if (i + 1 < n->nkids) {
                int s = emit(re, OP_SPLIT, 0, 0);
                re->prog[s].a = re->nprog;
                gen(re, n->kid[i]);
                if (nj < 64) jumps[nj++] = emit(re, OP_JMP, 0, 0);
                re->prog[s].b = re->nprog;
            } else {
                gen(re, n->kid[i]);
            }
        }
        for (int j = 0; j < nj; j++) re->prog[jumps[j]].a = re->nprog;
        break;
    }
    case N_REP: {
        for (int i = 0; i < n->min; i++) gen(re, n->kid[0]);
        if (n->max < 0) { /* L: SPLIT body, out; body; JMP L */
            int s = emit(re, OP_SPLIT, 0, 0);
            re->prog[s].a = re->nprog;
            gen(re, n->kid[0]);
            emit(re, OP_JMP, s, 0);
            re->prog[s].b = re->nprog;
        } else { /* nested optionals: (?:X(?:X)?)? */
            int splits[100], ns = 0;
            for (int i = n->min; i < n->max; i++) {
                int s = emit(re, OP_SPLIT, 0, 0);
                re->prog[s].a = re->nprog;
                splits[ns++] = s;
                gen(re, n->kid[0]);
            }
            for (int i = 0; i < ns; i++) re->prog[splits[i]].b = re->nprog;
        }
        break;
    }
    case N_NEGLOOK: {
        int l = emit(re, OP_NEGLOOK, 0, 0);
        gen(re, n->kid[0]);
        emit(re, OP_MATCH, 0, 0);
        re->prog[l].a = re->nprog;
        break;
    }
    }
}

rr_regex *rr_compile(const char *pattern, char *err, size_t errlen) {
    rr_regex *re = calloc(1, sizeof *re);
    if (!re) return NULL;
    parser ps = {pattern, re, err, errlen, 0};
    rr_node *root = parse_alt(&ps, 0);
    if (!ps.failed && *ps.p) perr(&ps, "unbalanced )");
    if (!ps.failed) {
        gen(re, root);
        emit(re, OP_MATCH, 0, 0);
    }
    node_free(root);
    if (ps.failed) {
        rr_free(re);
        return NULL;
    }
    return re;
}

void rr_free(rr_regex *re) {
    if (!re) return;
    free(re->classes);
    free(re->prog);
    free(re);
}

/* ---- backtracking VM ---- */

typedef struct frame {
    int pc;
    size_t sp;
} frame;

typedef struct vstack {
    frame *f;
    size_t n, cap;
} vstack;

static void push(vstack *st, int pc, size_t sp) {
    if (st->n == st->cap) {
        st->cap = st->cap ? 2 * st->cap : 256;
        st->f = realloc(st->f, st->cap * sizeof *st->f);
        if (!st->f) abort();
    }
    st->f[st->n++] = (frame){pc, sp};
}

/* Runs the program from pc at sp; returns 1 and the end in *end at the first OP_MATCH reached
 * in backtracking order, else 0. */
static int run(const rr_regex *re, const uint8_t *t, size_t len, int pc, size_t sp, size_t *end) {
    vstack st = {NULL, 0, 0};
    size_t base = 0;
    push(&st, pc, sp);
    int found = 0;
    while (st.n > base && !found) {
        frame fr = st.f[--st.n];
        pc = fr.pc;
        sp = fr.sp;
        for (;;) {
            const rr_inst *in = &re->prog[pc];
            if (in->op == OP_MATCH) {
                *end = sp;
                found = 1;
                break;
            }
            if (in->op == OP_JMP) {
                pc = in->a;
            } else if (in->op == OP_SPLIT) {
                push(&st, in->b, sp);
                pc = in->a;
            } else if (in->op == OP_NEGLOOK) {
                size_t e;
                if (run(re, t, len, pc + 1, sp, &e)) break; /* look-ahead matched: fail */
                pc = in->a;
            } else { /* OP_CLASS */
                if (sp >= len) break;
                size_t adv;
                uint32_t c = gt_utf8_decode(t + sp, len - sp, &adv);
                if (!class_has(&re->classes[in->a], c)) break;
                sp += adv;
                pc++;
            }
        }
    }
    free(st.f);
    return found;
}

int rr_search(const rr_regex *re, const uint8_t *text, size_t len, size_t pos, size_t *ms,
              size_t *me) {
    while (pos < len) {
        size_t e;
        if (run(re, text, len, 0, pos, &e)) {
            *ms = pos;
            *me = e;
            return 1;
        }
        size_t adv;
        gt_utf8_decode(text + pos, len - pos, &adv);
        pos += adv;
    }
    return 0;
}

long rr_split(const rr_regex *re, const uint8_t *text, size_t len, size_t *ends, size_t cap) {
    long n = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t ms, me;
        if (!rr_search(re, text, len, pos, &ms, &me)) {
            ms = me = len; /* trailing gap */
        } else if (me == ms) {
            return -1;
        }
        if (ms > pos) {
            if ((size_t)n < cap) ends[n] = ms;
            n++;
        }
        if (me > ms) {
            if ((size_t)n < cap) ends[n] = me;
            n++;
        }
        pos = me;
    }
    return n;
}
