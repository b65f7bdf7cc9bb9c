/* matcher.c — advancing a compiled grammar over bytes and tokens, and the token mask.
 *
 * State: the set of pushdown stacks of llama.cpp's grammar sampler, each a chain of interned
 * nodes (element position, parent node): equal stacks are equal node ids and share their tails,
 * so a set of stacks is a sorted array of ids, interned too (a state id). Every stack of a state
 * has a terminal on top (or is the empty stack: the grammar may end here). Advancing a state over
 * one byte is memoised per state (next[256]), so walking the token trie costs one table lookup
 * per trie node once a state has been seen.
 *
 * Mask: the trie is walked with the state, pruning every subtree whose prefix the grammar
 * refuses. To reuse walks across steps, the stacks are cut at their deepest common node X (below
 * every top): the part above X is re-interned on a wildcard node W and the walk is done on that
 * truncated state T, which depends only on the grammar positions near the top (e.g. "inside a
 * JSON string" is the same T at every depth and key). Where the walk pops into W, the token is
 * accepted and its trie node is recorded as dependent: its subtree continues in the real stack
 * X. A per-T cache keeps the accepted bits and the dependent nodes; each step copies the bits
 * and walks only the dependent subtrees from the real expansion of X. */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

#define NODE_EMPTY 0
#define NODE_WILD 1
#define MAX_ENTRIES 256
/* Bounds on the interned tables of one matcher: a very ambiguous grammar can make the sets of
 * stacks grow without end (memory, and the int indices). Past a bound the matcher fails
 * (gptc_matcher_failure says why) instead of growing. Typical JSON Schema grammars over the
 * 201,088-token vocabulary stay far below (KEEP_STATES, 200,000, is where a reset already starts
 * afresh). GPTC_MATCHER_MAX_STATES lowers the state bound (tests). */
#define MAX_STATES (1 << 20)
#define MAX_NODES (1 << 24)
#define MAX_SPOOL (1 << 26)
#define FAIL_NOMEM 1
#define FAIL_LIMIT 2
#define DEAD (-1)
#define UNKNOWN (-2)

typedef struct ivec32 {
    int32_t *v;
    int n, cap;
} ivec32;

static int iv32_push(ivec32 *a, int32_t x) {
    if (a->n == a->cap) {
        int nc = a->cap ? a->cap * 2 : 64;
        int32_t *nv = realloc(a->v, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 0;
}

typedef struct gr_state {
    int32_t off, n; /* stacks at spool[off .. off + n), sorted */
    int32_t *next;  /* [256] memoised byte transitions, or NULL */
    int32_t core;   /* the state without the wildcard (DEAD when it was only W) */
    int32_t entry;  /* mask cache entry, -1 none */
    uint8_t has_wild, complete, has_tok;
} gr_state;

typedef struct gr_entry {
    uint32_t *bits;
    int32_t *deps;
    int n_deps, cap_deps;
} gr_entry;

struct gptc_matcher {
    const gptc_grammar *g;
    const gptc_token_trie *t;
    int n_words;
    /* nodes */
    int32_t *npos, *npar, *ndepth;
    uint32_t *stamp;
    int n_nodes, cap_nodes;
    int32_t *nhash; /* open addressing, -1 empty */
    int nhash_cap;
    uint32_t gen;
    /* states */
    gr_state *st;
    int n_st, cap_st;
    int32_t *spool;
    int n_spool, cap_spool;
    int32_t *shash;
    int shash_cap;
    /* mask cache */
    gr_entry ent[MAX_ENTRIES];
    int n_ent;
    /* scratch */
    ivec32 tmp, tmp2;
    int failed;     /* FAIL_NOMEM or FAIL_LIMIT */
    int max_states; /* MAX_STATES, or lower from GPTC_MATCHER_MAX_STATES */
    /* the sequence */
    int32_t init, cur;
    int ended;
    int32_t *end_ids;
    int n_end;
};

static uint32_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* ---- nodes ---------------------------------------------------------------------------------- */
static int node_rehash(gptc_matcher *m, int cap) {
    int32_t *h = malloc((size_t)cap * sizeof *h);
    if (!h) return -1;
    memset(h, 0xff, (size_t)cap * sizeof *h);
    for (int i = 2; i < m->n_nodes; i++) {
        uint32_t k = mix(((uint64_t)(uint32_t)m->npos[i] << 32) | (uint32_t)m->npar[i]) & (cap - 1);
        while (h[k] >= 0) k = (k + 1) & (cap - 1);
        h[k] = i;
    }
    free(m->nhash);
    m->nhash = h;
    m->nhash_cap = cap;
    return 0;
}

static int32_t intern(gptc_matcher *m, int32_t pos, int32_t par) {
    if (m->failed) return NODE_EMPTY;
    uint32_t k = mix(((uint64_t)(uint32_t)pos << 32) | (uint32_t)par) & (m->nhash_cap - 1);
    for (;;) {
        int32_t i = m->nhash[k];
        if (i < 0) break;
        if (m->npos[i] == pos && m->npar[i] == par) return i;
        k = (k + 1) & (m->nhash_cap - 1);
    }
    if (m->n_nodes == m->cap_nodes) {
        if (m->cap_nodes >= MAX_NODES) {
            m->failed = FAIL_LIMIT;
            return NODE_EMPTY;
        }
        int nc = m->cap_nodes * 2;
        int32_t *a = realloc(m->npos, (size_t)nc * sizeof *a);
        if (a) m->npos = a;
        int32_t *b = realloc(m->npar, (size_t)nc * sizeof *b);
        if (b) m->npar = b;
        int32_t *c = realloc(m->ndepth, (size_t)nc * sizeof *c);
        if (c) m->ndepth = c;
        uint32_t *d = realloc(m->stamp, (size_t)nc * sizeof *d);
        if (d) m->stamp = d;
        if (!a || !b || !c || !d) {
            m->failed = 1;
            return NODE_EMPTY;
        }
        memset(m->stamp + m->cap_nodes, 0, (size_t)(nc - m->cap_nodes) * sizeof *d);
        m->cap_nodes = nc;
    }
    int32_t id = m->n_nodes++;
    m->npos[id] = pos;
    m->npar[id] = par;
    m->ndepth[id] = m->ndepth[par] + 1;
    m->stamp[id] = 0;
    m->nhash[k] = id;
    if ((int64_t)m->n_nodes * 2 > m->nhash_cap && node_rehash(m, m->nhash_cap * 2)) m->failed = 1;
    return id;
}

/* The stacks a node stands for once every rule reference on top is expanded, into m->tmp
 * (each node once per generation m->gen). */
static void expand(gptc_matcher *m, int32_t node) {
    if (m->failed || m->stamp[node] == m->gen) return;
    m->stamp[node] = m->gen;
    if (node <= NODE_WILD) {
        if (iv32_push(&m->tmp, node)) m->failed = 1;
        return;
    }
    const gptc_grammar *g = m->g;
    int32_t pos = m->npos[node];
    const gr_elem *e = &g->el[pos];
    if (e->kind == GR_TERM) {
        if (iv32_push(&m->tmp, node)) m->failed = 1;
        return;
    }
    int32_t par = m->npar[node];
    int32_t rest = g->el[pos + 1].kind == GR_END ? par : intern(m, pos + 1, par);
    for (int a = g->rule_alt[e->val]; a < g->rule_alt[e->val + 1]; a++) {
        int32_t s = g->alt[a];
        if (g->el[s].kind == GR_END)
            expand(m, rest);
        else
            expand(m, intern(m, s, rest));
    }
}

/* ---- states ---------------------------------------------------------------------------------- */
static int i32_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t hash_list(const int32_t *v, int n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)v[i]) * 0x100000001b3ull + (h >> 29);
    return mix(h);
}

static int state_rehash(gptc_matcher *m, int cap) {
    int32_t *h = malloc((size_t)cap * sizeof *h);
    if (!h) return -1;
    memset(h, 0xff, (size_t)cap * sizeof *h);
    for (int i = 0; i < m->n_st; i++) {
        uint32_t k = hash_list(m->spool + m->st[i].off, m->st[i].n) & (cap - 1);
        while (h[k] >= 0) k = (k + 1) & (cap - 1);
        h[k] = i;
    }
    free(m->shash);
    m->shash = h;
    m->shash_cap = cap;
    return 0;
}

static int32_t make_state(gptc_matcher *m, int32_t *v, int n);

/* Interns the sorted-unique set v[0..n) (v may be m->tmp's buffer: it is copied first). */
static int32_t make_state(gptc_matcher *m, int32_t *v, int n) {
    if (m->failed) return DEAD;
    if (n == 0) return DEAD;
    qsort(v, (size_t)n, sizeof *v, i32_cmp);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!k || v[k - 1] != v[i]) v[k++] = v[i];
    n = k;
    uint32_t h = hash_list(v, n) & (m->shash_cap - 1);
    for (;;) {
        int32_t i = m->shash[h];
        if (i < 0) break;
        if (m->st[i].n == n && !memcmp(m->spool + m->st[i].off, v, (size_t)n * sizeof *v)) return i;
        h = (h + 1) & (m->shash_cap - 1);
    }
    if (n > MAX_SPOOL - m->n_spool || m->n_st >= m->max_states) return m->failed = FAIL_LIMIT, DEAD;
    if (m->n_spool + n > m->cap_spool) {
        int nc = m->cap_spool * 2;
        while (nc < m->n_spool + n) nc *= 2; /* <= 2 MAX_SPOOL: no overflow */
        int32_t *ns = realloc(m->spool, (size_t)nc * sizeof *ns);
        if (!ns) return m->failed = 1, DEAD;
        m->spool = ns;
        m->cap_spool = nc;
    }
    if (m->n_st == m->cap_st) {
        int nc = m->cap_st * 2;
        gr_state *ns = realloc(m->st, (size_t)nc * sizeof *ns);
        if (!ns) return m->failed = 1, DEAD;
        m->st = ns;
        m->cap_st = nc;
    }
    int32_t id = m->n_st++;
    gr_state *s = &m->st[id];
    memset(s, 0, sizeof *s);
    s->off = m->n_spool;
    s->n = n;
    s->entry = -1;
    s->core = id;
    memcpy(m->spool + m->n_spool, v, (size_t)n * sizeof *v);
    m->n_spool += n;
    m->shash[h] = id;
    int has_wild = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] == NODE_EMPTY) s->complete = 1;
        if (v[i] == NODE_WILD) has_wild = 1;
        if (v[i] > NODE_WILD) {
            const gr_term *t = &m->g->terms[m->g->el[m->npos[v[i]]].val];
            if (t->tok_lo <= t->tok_hi) s->has_tok = 1;
        }
    }
    s->has_wild = (uint8_t)has_wild;
    if ((int64_t)m->n_st * 2 > m->shash_cap && state_rehash(m, m->shash_cap * 2)) m->failed = 1;
    if (has_wild) {
        /* the core: the same set without W (computed after the insert: v is ours no more) */
        int32_t buf[64];
        int32_t *c = n - 1 <= 64 ? buf : malloc((size_t)n * sizeof *c);
        if (!c) return m->failed = 1, DEAD;
        int nc = 0;
        for (int i = 0; i < n; i++)
            if (m->spool[m->st[id].off + i] != NODE_WILD) c[nc++] = m->spool[m->st[id].off + i];
        int32_t core = nc ? make_state(m, c, nc) : DEAD;
        if (c != buf) free(c);
        m->st[id].core = core;
    }
    return id;
}

static int32_t finish_tmp(gptc_matcher *m) {
    return make_state(m, m->tmp.v, m->tmp.n);
}

/* The state after symbol sym (a byte or GR_SYM_TOKEN + id) from state s, DEAD when refused. */
static int32_t advance(gptc_matcher *m, int32_t s, uint32_t sym) {
    const gptc_grammar *g = m->g;
    m->gen++;
    m->tmp.n = 0;
    int n = m->st[s].n, off = m->st[s].off;
    for (int i = 0; i < n; i++) {
        int32_t node = m->spool[off + i];
        if (node <= NODE_WILD) continue;
        int32_t pos = m->npos[node];
        if (!gr_term_has(&g->terms[g->el[pos].val], sym)) continue;
        int32_t par = m->npar[node];
        int32_t next = g->el[pos + 1].kind == GR_END ? par : intern(m, pos + 1, par);
        expand(m, next);
    }
    if (m->failed || !m->tmp.n) return DEAD;
    return finish_tmp(m);
}

static int32_t trans(gptc_matcher *m, int32_t s, uint32_t b) {
    if (!m->st[s].next) {
        int32_t *nx = malloc(256 * sizeof *nx);
        if (!nx) return m->failed = 1, DEAD;
        for (int i = 0; i < 256; i++) nx[i] = UNKNOWN;
        m->st[s].next = nx;
    }
    int32_t v = m->st[s].next[b];
    if (v != UNKNOWN) return v;
    v = advance(m, s, b);
    m->st[s].next[b] = v;
    return v;
}

/* ---- the mask ------------------------------------------------------------------------------- */
static void set_tokens(const gptc_token_trie *t, int node, uint32_t *bits) {
    for (int k = t->tok_lo[node], e = k + t->tok_n[node]; k < e; k++) {
        int32_t id = t->toks[k];
        bits[id >> 5] |= 1u << (id & 31);
    }
}

/* Walks the children of trie node `node` from state s: accepted tokens into bits; with ent,
 * nodes where the walk popped into the wildcard (and that have children) into ent->deps. */
static void walk(gptc_matcher *m, int node, int32_t s, uint32_t *bits, gr_entry *ent) {
    const gptc_token_trie *t = m->t;
    const int end = t->end[node];
    for (int c = node + 1; c < end; c = t->end[c]) {
        uint32_t sym = t->sym[c];
        int32_t ns;
        if (sym >= GR_SYM_TOKEN) {
            if (!m->st[s].has_tok) break; /* special tokens come last */
            ns = advance(m, s, sym);
        } else
            ns = trans(m, s, sym);
        if (ns < 0) continue;
        set_tokens(t, c, bits);
        if (t->end[c] == c + 1) continue; /* a leaf */
        if (m->st[ns].has_wild && ent) {
            if (ent->n_deps == ent->cap_deps) {
                int nc = ent->cap_deps ? ent->cap_deps * 2 : 64;
                int32_t *nd = realloc(ent->deps, (size_t)nc * sizeof *nd);
                if (!nd) {
                    m->failed = 1;
                    return;
                }
                ent->deps = nd;
                ent->cap_deps = nc;
            }
            ent->deps[ent->n_deps++] = c;
        }
        int32_t core = m->st[ns].core;
        if (core >= 0) walk(m, c, core, bits, ent);
    }
}

static void drop_entries(gptc_matcher *m) {
    for (int i = 0; i < m->n_ent; i++) {
        free(m->ent[i].bits);
        free(m->ent[i].deps);
    }
    m->n_ent = 0;
    for (int i = 0; i < m->n_st; i++) m->st[i].entry = -1;
}

static int32_t lca(const gptc_matcher *m, int32_t a, int32_t b) {
    while (m->ndepth[a] > m->ndepth[b]) a = m->npar[a];
    while (m->ndepth[b] > m->ndepth[a]) b = m->npar[b];
    while (a != b) {
        a = m->npar[a];
        b = m->npar[b];
    }
    return a;
}

/* The truncated state of s (see the top) and its cut node (NODE_EMPTY: not truncated). */
static int32_t truncate_state(gptc_matcher *m, int32_t s, int32_t *cut) {
    int n = m->st[s].n, off = m->st[s].off;
    *cut = NODE_EMPTY;
    if (m->spool[off] == NODE_EMPTY) return s; /* complete: keep it whole */
    int32_t x = m->npar[m->spool[off]];
    for (int i = 1; i < n && x != NODE_EMPTY; i++) x = lca(m, x, m->npar[m->spool[off + i]]);
    if (x == NODE_EMPTY) return s;
    m->tmp2.n = 0;
    for (int i = 0; i < n; i++) {
        int32_t node = m->spool[m->st[s].off + i];
        int32_t path[64];
        int np = 0;
        for (int32_t y = node; y != x; y = m->npar[y]) {
            if (np == 64) return s; /* very deep: not truncated */
            path[np++] = m->npos[y];
        }
        int32_t r = NODE_WILD;
        for (int k = np - 1; k >= 0; k--) r = intern(m, path[k], r);
        if (iv32_push(&m->tmp2, r)) return m->failed = 1, s;
    }
    *cut = x;
    int32_t tid = make_state(m, m->tmp2.v, m->tmp2.n);
    return tid < 0 ? s : tid;
}

static gr_entry *get_entry(gptc_matcher *m, int32_t ts) {
    if (m->st[ts].entry >= 0) return &m->ent[m->st[ts].entry];
    if (m->n_ent == MAX_ENTRIES) drop_entries(m);
    gr_entry *e = &m->ent[m->n_ent];
    memset(e, 0, sizeof *e);
    e->bits = calloc((size_t)m->n_words, sizeof *e->bits);
    if (!e->bits) return m->failed = 1, NULL;
    walk(m, 0, ts, e->bits, e);
    m->st[ts].entry = m->n_ent++;
    return e;
}

/* ---- public API ------------------------------------------------------------------------------ */
/* The interning tables and caches (all but the grammar, the end tokens and the scratch). */
static void tables_free(gptc_matcher *m) {
    drop_entries(m);
    for (int i = 0; i < m->n_st; i++) free(m->st[i].next);
    free(m->npos);
    free(m->npar);
    free(m->ndepth);
    free(m->stamp);
    free(m->nhash);
    free(m->st);
    free(m->spool);
    free(m->shash);
    m->npos = m->npar = m->ndepth = m->nhash = m->spool = m->shash = NULL;
    m->stamp = NULL;
    m->st = NULL;
    m->n_st = m->n_nodes = m->n_spool = 0;
}

/* Fresh tables and the start state; -1 when out of memory. */
static int tables_init(gptc_matcher *m) {
    const gptc_grammar *g = m->g;
    m->failed = 0;
    m->cap_nodes = 1024;
    m->npos = malloc(1024 * sizeof *m->npos);
    m->npar = malloc(1024 * sizeof *m->npar);
    m->ndepth = malloc(1024 * sizeof *m->ndepth);
    m->stamp = calloc(1024, sizeof *m->stamp);
    m->nhash_cap = 4096;
    m->nhash = malloc(4096 * sizeof *m->nhash);
    m->cap_st = 256;
    m->st = malloc(256 * sizeof *m->st);
    m->cap_spool = 1024;
    m->spool = malloc(1024 * sizeof *m->spool);
    m->shash_cap = 1024;
    m->shash = malloc(1024 * sizeof *m->shash);
    if (!m->npos || !m->npar || !m->ndepth || !m->stamp || !m->nhash || !m->st || !m->spool ||
        !m->shash)
        return m->failed = 1, -1;
    memset(m->nhash, 0xff, 4096 * sizeof *m->nhash);
    memset(m->shash, 0xff, 1024 * sizeof *m->shash);
    m->npos[0] = -1, m->npar[0] = 0, m->ndepth[0] = 0; /* the empty stack */
    m->npos[1] = -1, m->npar[1] = 0, m->ndepth[1] = 0; /* the wildcard */
    m->n_nodes = 2;
    m->gen = 1;
    /* the start state: every alternative of root */
    m->gen++;
    m->tmp.n = 0;
    for (int a = g->rule_alt[g->root]; a < g->rule_alt[g->root + 1]; a++) {
        int32_t s = g->alt[a];
        expand(m, g->el[s].kind == GR_END ? NODE_EMPTY : intern(m, s, NODE_EMPTY));
    }
    m->init = finish_tmp(m);
    if (m->failed || m->init < 0) return m->failed = m->failed ? m->failed : FAIL_NOMEM, -1;
    m->cur = m->init;
    return 0;
}

void gptc_matcher_free(gptc_matcher *m) {
    if (!m) return;
    tables_free(m);
    free(m->tmp.v);
    free(m->tmp2.v);
    free(m->end_ids);
    free(m);
}

static const char *failure_text(int limit) {
    return limit ? "the grammar is too ambiguous to follow: its parser states passed the matcher's "
                   "bound"
                 : "out of memory in the grammar matcher";
}

const char *gptc_matcher_failure(const gptc_matcher *m) {
    return !m || !m->failed ? NULL : failure_text(m->failed == FAIL_LIMIT);
}

gptc_status gptc_matcher_new(const gptc_grammar *g, const gptc_token_trie *t, gptc_matcher **out,
                             gptc_error *err) {
    if (!out || !g || !t)
        return gr_err(err, GPTC_ERR_INVALID_ARG, "gptc_matcher_new: NULL argument");
    *out = NULL;
    gptc_matcher *m = calloc(1, sizeof *m);
    if (!m) return gr_err(err, GPTC_ERR_NOMEM, "out of memory");
    m->g = g;
    m->t = t;
    m->n_words = (t->n_vocab + 31) / 32;
    const char *ms = getenv("GPTC_MATCHER_MAX_STATES");
    const int lim = ms ? atoi(ms) : 0;
    m->max_states = lim > 0 && lim < MAX_STATES ? lim : MAX_STATES;
    if (tables_init(m)) {
        const int limit = m->failed == FAIL_LIMIT;
        gptc_matcher_free(m);
        return gr_err(err, GPTC_ERR_NOMEM, "%s", failure_text(limit));
    }
    *out = m;
    return GPTC_OK;
}

/* Above these, a reset starts the tables afresh (a long batch reusing one matcher would otherwise
 * keep every state it ever saw; the caches refill in a few steps). */
#define KEEP_STATES 200000
#define KEEP_NODES 2000000

void gptc_matcher_reset(gptc_matcher *m) {
    if (!m) return;
    m->ended = 0;
    if (m->n_st > KEEP_STATES || m->n_nodes > KEEP_NODES || m->failed) {
        tables_free(m);
        tables_init(m);
        return;
    }
    m->cur = m->init;
}

gptc_status gptc_matcher_set_end_tokens(gptc_matcher *m, const int32_t *ids, int n,
                                        gptc_error *err) {
    int32_t *v = n > 0 ? malloc((size_t)n * sizeof *v) : NULL;
    if (n > 0 && !v) return gr_err(err, GPTC_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < m->t->n_vocab) v[k++] = ids[i];
    free(m->end_ids);
    m->end_ids = v;
    m->n_end = k;
    return GPTC_OK;
}

int gptc_matcher_is_complete(const gptc_matcher *m) {
    return m && (m->ended || m->st[m->cur].complete);
}

int gptc_matcher_is_ended(const gptc_matcher *m) {
    return m && m->ended;
}

/* the empty mask (no token allowed): its count, 0 */
static int mask_none(uint32_t *bits, int nw) {
    memset(bits, 0, (size_t)nw * sizeof *bits);
    return 0;
}

int gptc_matcher_mask(gptc_matcher *m, uint32_t *bits) {
    if (!m || !bits) return 0;
    const int nw = m->n_words;
    if (m->ended || m->failed) return mask_none(bits, nw);
    int32_t cut;
    int32_t ts = truncate_state(m, m->cur, &cut);
    gr_entry *e = m->failed ? NULL : get_entry(m, ts);
    if (!e) return mask_none(bits, nw);
    memcpy(bits, e->bits, (size_t)nw * sizeof *bits);
    if (e->n_deps && cut != NODE_EMPTY) {
        m->gen++;
        m->tmp.n = 0;
        expand(m, cut);
        int32_t es = finish_tmp(m);
        /* the entry may move when walks create states: re-read it by index */
        int ei = m->st[ts].entry;
        for (int i = 0; es >= 0 && ei >= 0 && i < m->ent[ei].n_deps; i++)
            walk(m, m->ent[ei].deps[i], es, bits, NULL);
    }
    /* a walk that stopped part way: no token (gptc_matcher_failure says why) */
    if (m->failed) return mask_none(bits, nw);
    const int complete = m->st[m->cur].complete;
    for (int i = 0; i < m->n_end; i++) {
        int32_t id = m->end_ids[i];
        if (complete)
            bits[id >> 5] |= 1u << (id & 31);
        else
            bits[id >> 5] &= ~(1u << (id & 31));
    }
    int cnt = 0;
    for (int i = 0; i < nw; i++) cnt += __builtin_popcount(bits[i]);
    return cnt;
}

/* the state after the token's symbols, DEAD when refused */
static int32_t after_token(gptc_matcher *m, int32_t s, int32_t id) {
    const gptc_token_trie *t = m->t;
    if (t->special[id]) return advance(m, s, GR_SYM_TOKEN + (uint32_t)id);
    uint32_t a = t->off[id], b = t->off[id + 1];
    if (a == b) return DEAD;
    /* memoised where the state has its table already; no new tables for one-off paths */
    for (uint32_t i = a; i < b && s >= 0; i++)
        s = m->st[s].next ? trans(m, s, t->blob[i]) : advance(m, s, t->blob[i]);
    return s;
}

int gptc_matcher_accept_token(gptc_matcher *m, int32_t id) {
    if (!m || m->ended || m->failed || id < 0 || id >= m->t->n_vocab) return 0;
    int32_t s = after_token(m, m->cur, id);
    if (s >= 0) {
        m->cur = s;
        return 1;
    }
    if (m->st[m->cur].complete)
        for (int i = 0; i < m->n_end; i++)
            if (m->end_ids[i] == id) {
                m->ended = 1;
                return 1;
            }
    return 0;
}

int gptc_matcher_accept_bytes(gptc_matcher *m, const char *text, size_t len) {
    if (!m || m->ended || m->failed) return 0;
    int32_t s = m->cur;
    for (size_t i = 0; i < len && s >= 0; i++) s = trans(m, s, (unsigned char)text[i]);
    if (s < 0) return 0;
    m->cur = s;
    return 1;
}

int gptc_matcher_n_words(const gptc_matcher *m) {
    return m ? m->n_words : 0;
}

int32_t gr_matcher_state(const gptc_matcher *m) {
    return m->cur;
}

void gr_matcher_set_state(gptc_matcher *m, int32_t state) {
    if (state >= 0 && state < m->n_st) m->cur = state;
    m->ended = 0;
}
