/* vocab.c — the token trie of a tokenizer's vocabulary (grammar.h), built once per tokenizer and
 * shared by every matcher of it. */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

static const gptc_token_trie *g_sort_trie; /* qsort has no context argument in C11 */

/* symbols of token id: a special token is one symbol above every byte */
static int tok_cmp(const void *pa, const void *pb) {
    const gptc_token_trie *t = g_sort_trie;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    int sa = t->special[a], sb = t->special[b];
    if (sa != sb) return sa - sb; /* bytes before special symbols */
    if (sa) return a < b ? -1 : a > b;
    const uint8_t *x = t->blob + t->off[a], *y = t->blob + t->off[b];
    uint32_t la = t->off[a + 1] - t->off[a], lb = t->off[b + 1] - t->off[b];
    uint32_t l = la < lb ? la : lb;
    int c = memcmp(x, y, l);
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

void gptc_token_trie_free(gptc_token_trie *t) {
    if (!t) return;
    free(t->sym);
    free(t->end);
    free(t->tok_lo);
    free(t->tok_n);
    free(t->toks);
    free(t->blob);
    free(t->off);
    free(t->special);
    free(t);
}

gptc_status gptc_token_trie_new(const gptc_tokenizer *tok, gptc_token_trie **out, gptc_error *err) {
    if (!out || !tok)
        return gr_err(err, GPTC_ERR_INVALID_ARG, "gptc_token_trie_new: NULL argument");
    *out = NULL;
    gptc_token_trie *t = calloc(1, sizeof *t);
    if (!t) return gr_err(err, GPTC_ERR_NOMEM, "out of memory building the token trie");
    int nv = gptc_tokenizer_n_vocab(tok);
    t->n_vocab = nv;
    t->off = calloc((size_t)nv + 1, sizeof *t->off);
    t->special = calloc((size_t)nv + 1, 1);
    int32_t *ids = malloc(((size_t)nv + 1) * sizeof *ids);
    size_t total = 0;
    if (!t->off || !t->special || !ids) goto nomem;
    for (int i = 0; i < nv; i++) {
        const char *b;
        size_t l = 0;
        if (gptc_tokenizer_piece(tok, i, &b, &l) != GPTC_OK) l = 0;
        if (gptc_tokenizer_is_special(tok, i)) l = 0;
        total += l;
    }
    t->blob = malloc(total + 1);
    if (!t->blob) goto nomem;
    size_t pos = 0;
    int n_ids = 0;
    for (int i = 0; i < nv; i++) {
        const char *b;
        size_t l = 0;
        t->off[i] = (uint32_t)pos;
        int ok = gptc_tokenizer_piece(tok, i, &b, &l) == GPTC_OK;
        if (gptc_tokenizer_is_special(tok, i)) {
            t->special[i] = 1;
            ids[n_ids++] = i;
            continue;
        }
        if (!ok || !l) continue; /* no text: never allowed */
        memcpy(t->blob + pos, b, l);
        pos += l;
        if ((int)l > t->max_len) t->max_len = (int)l;
        ids[n_ids++] = i;
    }
    t->off[nv] = (uint32_t)pos;
    g_sort_trie = t;
    qsort(ids, (size_t)n_ids, sizeof *ids, tok_cmp);
    /* nodes: at most 1 + total symbols */
    size_t cap = 1 + total + (size_t)n_ids;
    t->sym = malloc(cap * sizeof *t->sym);
    t->end = malloc(cap * sizeof *t->end);
    t->tok_lo = malloc(cap * sizeof *t->tok_lo);
    t->tok_n = calloc(cap, sizeof *t->tok_n);
    t->toks = ids;
    ids = NULL;
    int32_t *path = malloc(((size_t)t->max_len + 3) * sizeof *path);
    if (!t->sym || !t->end || !t->tok_lo || !t->tok_n || !path) {
        free(path);
        goto nomem;
    }
    int nn = 1, depth = 0; /* path[0] = root; path[d] = node at depth d */
    t->sym[0] = 0;
    t->tok_lo[0] = 0;
    path[0] = 0;
    int32_t prev = -1;
    for (int k = 0; k < n_ids; k++) {
        int32_t id = t->toks[k];
        uint32_t syms_buf[1];
        const uint8_t *bytes = t->blob + t->off[id];
        int len = t->special[id] ? 1 : (int)(t->off[id + 1] - t->off[id]);
        syms_buf[0] = GR_SYM_TOKEN + (uint32_t)id;
#define SYM(i) (t->special[id] ? syms_buf[0] : (uint32_t)bytes[i])
        /* common prefix with the previous token's path */
        int common = 0;
        if (prev >= 0) {
            while (common < depth && common < len && t->sym[path[common + 1]] == SYM(common))
                common++;
        }
        while (depth > common) t->end[path[depth--]] = nn;
        for (int i = common; i < len; i++) {
            t->sym[nn] = SYM(i);
            t->tok_lo[nn] = 0;
            t->tok_n[nn] = 0;
            path[++depth] = nn++;
        }
#undef SYM
        int node = path[depth];
        if (t->tok_n[node] == 0) t->tok_lo[node] = k;
        t->tok_n[node]++;
        prev = id;
    }
    while (depth > 0) t->end[path[depth--]] = nn;
    t->end[0] = nn;
    t->n_nodes = nn;
    free(path);
    *out = t;
    return GPTC_OK;
nomem:
    free(ids);
    gptc_token_trie_free(t);
    return gr_err(err, GPTC_ERR_NOMEM, "out of memory building the token trie");
}

int gptc_token_trie_n_vocab(const gptc_token_trie *t) {
    return t ? t->n_vocab : 0;
}
