/* tokenizer.c — byte-level BPE (GPT-2, o200k/gpt-oss) with Hugging Face tokenizers semantics:
 * building the tables, encoding (added tokens -> pre-tokenizer -> BPE), decoding with lossy
 * UTF-8, and the streaming decoder. Spec: docs/tokenizer.md.
 *
 * Encoding of one text:
 *   1. strict UTF-8 check (error names the byte offset);
 *   2. added tokens are cut out leftmost-longest (pass 0: normalized=false tokens, then pass 1:
 *      normalized=true tokens on the gaps); special ones only with GPTC_TOKENIZE_SPECIAL;
 *   3. every gap is split by the pre-tokenizer stages (gt_pretok_next);
 *   4. every piece goes through BPE on its raw bytes (ignore_merges: a piece that is a vocab
 *      entry is emitted whole; else byte symbols merged lowest (rank, position) first with a
 *      binary heap and a linked list: O(n log n) per piece).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* ---- hashing ------------------------------------------------------------------------------ */
static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static inline uint32_t hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xbf58476d1ce4e5b9ull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0x94d049bb133111ebull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, s, n);
        h = (h ^ v) * 0x94d049bb133111ebull;
        h ^= h >> 29;
    }
    uint32_t r = (uint32_t)mix64(h);
    return r ? r : 1;
}

/* ---- string map --------------------------------------------------------------------------- */
/* Zeroed slots of a hash table that will hold `expect` entries (a power of two, load <= 1/2):
 * sets *mask to the slot count - 1. NULL when out of memory. */
static void *map_slots(size_t expect, size_t slot_size, uint32_t *mask) {
    size_t cap = 16;
    while (cap < expect * 2 + 16) cap <<= 1;
    void *slots = calloc(cap, slot_size);
    if (slots) *mask = (uint32_t)(cap - 1);
    return slots;
}

static int strmap_init(gt_strmap *m, size_t expect) {
    m->slots = map_slots(expect, sizeof *m->slots, &m->mask);
    if (!m->slots) return -1;
    m->count = 0;
    return 0;
}

static inline int strent_eq(const struct gt_strent *e, const char *pool, const void *s,
                            size_t len) {
    if (e->len != len) return 0;
    if (len <= sizeof e->pre) return memcmp(e->pre, s, len) == 0;
    return memcmp(e->pre, s, sizeof e->pre) == 0 && memcmp(pool + e->off, s, len) == 0;
}

static int32_t strmap_find_h(const gt_strmap *m, const char *pool, const void *s, size_t len,
                             uint32_t h) {
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const struct gt_strent *e = &m->slots[i];
        if (e->hash == 0) return -1;
        if (e->hash == h && strent_eq(e, pool, s, len)) return e->id;
    }
}

static int32_t strmap_find(const gt_strmap *m, const char *pool, const void *s, size_t len) {
    if (!m->slots) return -1;
    return strmap_find_h(m, pool, s, len, hash_bytes(s, len));
}

static int strmap_grow(gt_strmap *m) {
    size_t cap = ((size_t)m->mask + 1) * 2;
    struct gt_strent *ns = calloc(cap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i <= m->mask; i++) {
        struct gt_strent e = m->slots[i];
        if (!e.hash) continue;
        size_t j = e.hash & (cap - 1);
        while (ns[j].hash) j = (j + 1) & (cap - 1);
        ns[j] = e;
    }
    free(m->slots);
    m->slots = ns;
    m->mask = (uint32_t)(cap - 1);
    return 0;
}

/* Returns the existing id when the key is already present, else inserts and returns -1;
 * -2 on allocation failure. */
static int32_t strmap_insert(gt_strmap *m, const char *pool, uint32_t off, uint32_t len,
                             int32_t id) {
    if ((size_t)(m->count + 1) * 2 > (size_t)m->mask + 1 && strmap_grow(m)) return -2;
    uint32_t h = hash_bytes(pool + off, len);
    uint32_t i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        struct gt_strent *e = &m->slots[i];
        if (e->hash == 0) break;
        if (e->hash == h && strent_eq(e, pool, pool + off, len)) return e->id;
    }
    m->slots[i] = (struct gt_strent){h, id, off, len, {0}};
    memcpy(m->slots[i].pre, pool + off, len < 8 ? len : 8);
    m->count++;
    return -1;
}

/* ---- merge map ---------------------------------------------------------------------------- */
static inline uint64_t merge_key(int32_t l, int32_t r) {
    return ((uint64_t)(uint32_t)(l + 1) << 32) | (uint32_t)r;
}

static int mergemap_init(gt_mergemap *m, size_t expect) {
    m->slots = map_slots(expect, sizeof *m->slots, &m->mask);
    if (!m->slots) return -1;
    m->count = 0;
    return 0;
}

static inline const struct gt_mergeent *mergemap_find(const gt_mergemap *m, int32_t l, int32_t r) {
    uint64_t k = merge_key(l, r);
    for (uint32_t i = (uint32_t)mix64(k) & m->mask;; i = (i + 1) & m->mask) {
        const struct gt_mergeent *e = &m->slots[i];
        if (e->key == k) return e;
        if (e->key == 0) return NULL;
    }
}

static inline void mergemap_prefetch(const gt_mergemap *m, int32_t l, int32_t r) {
    __builtin_prefetch(&m->slots[(uint32_t)mix64(merge_key(l, r)) & m->mask], 1);
}

static int mergemap_put(gt_mergemap *m, int32_t l, int32_t r, uint32_t rank, int32_t merged) {
    if ((size_t)(m->count + 1) * 2 > (size_t)m->mask + 1) {
        size_t cap = ((size_t)m->mask + 1) * 2;
        struct gt_mergeent *ns = calloc(cap, sizeof *ns);
        if (!ns) return -1;
        for (size_t i = 0; i <= m->mask; i++) {
            if (!m->slots[i].key) continue;
            size_t j = mix64(m->slots[i].key) & (cap - 1);
            while (ns[j].key) j = (j + 1) & (cap - 1);
            ns[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = ns;
        m->mask = (uint32_t)(cap - 1);
    }
    uint64_t k = merge_key(l, r);
    uint32_t i = (uint32_t)mix64(k) & m->mask;
    while (m->slots[i].key && m->slots[i].key != k) i = (i + 1) & m->mask;
    if (!m->slots[i].key) m->count++;
    m->slots[i] = (struct gt_mergeent){k, rank, merged};
    return 0;
}

/* ---- byte-level map (GPT-2 bytes_to_unicode) ---------------------------------------------- */
static int is_printable_byte(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

/* The 68 other bytes, in increasing order (0x00-0x20, 0x7F, 0x80-0xA0, 0xAD), map to
 * U+0100..U+0143. */
uint32_t gt_byte_to_cp(uint8_t b) {
    if (is_printable_byte(b)) return b;
    if (b <= 0x20) return 0x100u + b;
    if (b == 0x7F) return 0x121;
    if (b <= 0xA0) return 0x122u + (b - 0x80u);
    return 0x143; /* 0xAD */
}

int gt_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return is_printable_byte(cp) ? (int)cp : -1;
    if (cp >= 0x144) return -1;
    uint32_t k = cp - 0x100;
    if (k <= 32) return (int)k;
    if (k == 33) return 0x7F;
    if (k <= 66) return (int)(0x80 + (k - 34));
    return 0xAD;
}

gptc_status gt_tok_fail(gptc_error *err, gptc_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = st;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */
/* For a non-ASCII lead byte c: the number of continuation bytes (1..3), or 0 when c cannot
 * start a sequence; *lo..*hi is the allowed range of the first continuation byte (the others
 * are 0x80..0xBF). */
static inline int utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80, *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 1;
    if (c == 0xE0) return *lo = 0xA0, 2;
    if (c == 0xED) return *hi = 0x9F, 2;
    if (c >= 0xE1 && c <= 0xEF) return 2;
    if (c == 0xF0) return *lo = 0x90, 3;
    if (c == 0xF4) return *hi = 0x8F, 3;
    if (c >= 0xF1 && c <= 0xF3) return 3;
    return 0;
}

/* Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when invalid/truncated. */
static inline int utf8_seq(const uint8_t *s, size_t n, size_t i) {
    uint8_t c = s[i];
    if (c < 0x80) return 1;
    uint8_t lo, hi;
    int need = utf8_lead(c, &lo, &hi);
    if (!need) return 0;
    if (n - i <= (size_t)need) return 0;
    for (int j = 1; j <= need; j++) {
        uint8_t d = s[i + j];
        if (d < lo || d > hi) return 0;
        lo = 0x80, hi = 0xBF;
    }
    return need + 1;
}

size_t gt_utf8_check(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= len) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (v & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= len) break;
        int k = utf8_seq(s, len, i);
        if (!k) return i;
        i += (size_t)k;
    }
    return len;
}

/* Decodes one code point from a valid UTF-8 string. */
static inline uint32_t utf8_cp(const uint8_t *s, int k) {
    switch (k) {
    case 1:
        return s[0];
    case 2:
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3:
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

/* Maps a byte-level string to raw bytes in out (capacity >= len). Returns the byte count, or
 * -1 when s is not valid UTF-8 or has a character outside the byte map. */
static long bytelevel_to_raw(const char *s, size_t len, uint8_t *out) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        int k = utf8_seq(u, len, i);
        if (!k) return -1;
        int b = gt_cp_to_byte(utf8_cp(u + i, k));
        if (b < 0) return -1;
        out[o++] = (uint8_t)b;
        i += (size_t)k;
    }
    return (long)o;
}

/* ---- building ----------------------------------------------------------------------------- */
static void set_msg(char *msg, size_t cap, const char *m) {
    if (msg && cap) snprintf(msg, cap, "%s", m);
}

gptc_tokenizer *gt_alloc(int32_t n_vocab, size_t n_merges_hint) {
    if (n_vocab <= 0) return NULL;
    gptc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab;
    t->kind = calloc(n, 1);
    t->flags = calloc(n, 1);
    t->str_off = calloc(n, sizeof(uint32_t));
    t->str_len = calloc(n, sizeof(uint32_t));
    t->piece_off = calloc(n, sizeof(uint32_t));
    t->piece_len = calloc(n, sizeof(uint32_t));
    t->pool_cap = n * 16 + 1024;
    t->pool = malloc(t->pool_cap);
    t->unk_id = -1;
    t->bos = t->eos = t->pad = -1;
    t->merge_cap = n_merges_hint + 1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    if (!t->kind || !t->flags || !t->str_off || !t->str_len || !t->piece_off || !t->piece_len ||
        !t->pool || strmap_init(&t->raw, n) || strmap_init(&t->lit, 16) ||
        strmap_init(&t->added, 64) || mergemap_init(&t->merges, n_merges_hint) ||
        !(t->merge_l = malloc((n_merges_hint + 1) * sizeof(int32_t))) ||
        !(t->merge_r = malloc((n_merges_hint + 1) * sizeof(int32_t)))) {
        gptc_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void gptc_tokenizer_free(gptc_tokenizer *t) {
    if (!t) return;
    free(t->kind);
    free(t->flags);
    free(t->str_off);
    free(t->str_len);
    free(t->piece_off);
    free(t->piece_len);
    free(t->pool);
    free(t->raw.slots);
    free(t->lit.slots);
    free(t->added.slots);
    free(t->merges.slots);
    free(t->merge_l);
    free(t->merge_r);
    free(t->match_ids[0]);
    free(t->match_ids[1]);
    free(t);
}

static int pool_append(gptc_tokenizer *t, const void *s, size_t len, uint32_t *off) {
    if (t->pool_len + len + 1 > t->pool_cap) {
        size_t nc = t->pool_cap * 2;
        while (nc < t->pool_len + len + 1) nc *= 2;
        if (nc > UINT32_MAX) return -1;
        char *np = realloc(t->pool, nc);
        if (!np) return -1;
        t->pool = np;
        t->pool_cap = nc;
    }
    *off = (uint32_t)t->pool_len;
    memcpy(t->pool + t->pool_len, s, len);
    t->pool_len += len;
    t->pool[t->pool_len++] = 0; /* NUL after each string (gptc_tokenizer_find, printing) */
    return 0;
}

gptc_status gt_set_token(gptc_tokenizer *t, int32_t id, const char *s, size_t len, int kind,
                         unsigned flags, char *msg, size_t msg_cap) {
    if (id < 0 || id >= t->n_vocab) {
        set_msg(msg, msg_cap, "token id out of range");
        return GPTC_ERR_FORMAT;
    }
    if (gt_utf8_check((const uint8_t *)s, len) != len) {
        set_msg(msg, msg_cap, "token is not valid UTF-8");
        return GPTC_ERR_FORMAT;
    }
    if (len > UINT32_MAX / 2) {
        set_msg(msg, msg_cap, "token too long");
        return GPTC_ERR_FORMAT;
    }
    if (t->kind[id] != GT_TOK_NONE) {
        /* an added token that is also the vocab entry of the same id (GPT-2's <|endoftext|>) */
        if (t->kind[id] == GT_TOK_NORMAL && kind == GT_TOK_ADDED && t->str_len[id] == len &&
            memcmp(t->pool + t->str_off[id], s, len) == 0) {
            t->kind[id] = GT_TOK_ADDED;
            t->flags[id] |= (uint8_t)(flags | GT_F_INVOCAB);
            if (strmap_insert(&t->added, t->pool, t->str_off[id], (uint32_t)len, id) != -1) {
                set_msg(msg, msg_cap, "duplicate added token");
                return GPTC_ERR_FORMAT;
            }
            return GPTC_OK;
        }
        set_msg(msg, msg_cap, "token id defined twice");
        return GPTC_ERR_FORMAT;
    }
    uint8_t stackbuf[512];
    uint8_t *raw = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!raw) return GPTC_ERR_NOMEM;
    long rl = bytelevel_to_raw(s, len, raw);
    uint32_t soff, poff;
    int rc = pool_append(t, s, len, &soff);
    if (!rc && rl >= 0) rc = pool_append(t, raw, (size_t)rl, &poff);
    if (raw != stackbuf) free(raw);
    if (rc) return GPTC_ERR_NOMEM;
    t->kind[id] = (uint8_t)kind;
    t->flags[id] = (uint8_t)flags;
    t->str_off[id] = soff;
    t->str_len[id] = (uint32_t)len;
    if (rl >= 0) {
        t->flags[id] |= GT_F_MAPPED;
        t->piece_off[id] = poff;
        t->piece_len[id] = (uint32_t)rl;
    } else {
        t->piece_off[id] = soff;
        t->piece_len[id] = (uint32_t)len;
    }
    int32_t dup = -1;
    if (kind == GT_TOK_NORMAL) {
        if (rl >= 0)
            dup = strmap_insert(&t->raw, t->pool, poff, (uint32_t)rl, id);
        else
            dup = strmap_insert(&t->lit, t->pool, soff, (uint32_t)len, id);
    } else if (kind == GT_TOK_ADDED) {
        dup = strmap_insert(&t->added, t->pool, soff, (uint32_t)len, id);
    }
    if (dup == -2) return GPTC_ERR_NOMEM;
    if (dup >= 0) {
        set_msg(msg, msg_cap, "duplicate token string");
        return GPTC_ERR_FORMAT;
    }
    return GPTC_OK;
}

int32_t gt_vocab_lookup(const gptc_tokenizer *t, const char *s, size_t len) {
    return gt_vocab_lookup2(t, s, len, "", 0);
}

int32_t gt_vocab_lookup2(const gptc_tokenizer *t, const char *a, size_t alen, const char *b,
                         size_t blen) {
    size_t len = alen + blen;
    uint8_t stackbuf[1024];
    uint8_t *buf = len <= sizeof stackbuf / 2 ? stackbuf : malloc(len * 2);
    if (!buf) return -1;
    int32_t id = -1;
    long ra = bytelevel_to_raw(a, alen, buf);
    long rb = ra >= 0 ? bytelevel_to_raw(b, blen, buf + ra) : -1;
    if (ra >= 0 && rb >= 0) {
        id = strmap_find(&t->raw, t->pool, buf, (size_t)(ra + rb));
    } else {
        uint8_t *cat = buf + len;
        memcpy(cat, a, alen);
        memcpy(cat + alen, b, blen);
        id = strmap_find(&t->lit, t->pool, cat, len);
    }
    if (buf != stackbuf) free(buf);
    return id;
}

int32_t gt_vocab_concat(const gptc_tokenizer *t, int32_t l, int32_t r) {
    if ((t->flags[l] & t->flags[r] & GT_F_MAPPED) == 0)
        return gt_vocab_lookup2(t, t->pool + t->str_off[l], t->str_len[l], t->pool + t->str_off[r],
                                t->str_len[r]);
    size_t ll = t->piece_len[l], rl = t->piece_len[r];
    char stackbuf[512];
    char *buf = ll + rl <= sizeof stackbuf ? stackbuf : malloc(ll + rl);
    if (!buf) return -1;
    memcpy(buf, t->pool + t->piece_off[l], ll);
    memcpy(buf + ll, t->pool + t->piece_off[r], rl);
    int32_t id = strmap_find(&t->raw, t->pool, buf, ll + rl);
    if (buf != stackbuf) free(buf);
    return id;
}

gptc_status gt_add_merge(gptc_tokenizer *t, int32_t left, int32_t right, int32_t merged) {
    if (t->n_merges == t->merge_cap) {
        size_t nc = t->merge_cap ? t->merge_cap * 2 : 1024;
        int32_t *nl = realloc(t->merge_l, nc * sizeof *nl);
        if (!nl) return GPTC_ERR_NOMEM;
        t->merge_l = nl;
        int32_t *nr = realloc(t->merge_r, nc * sizeof *nr);
        if (!nr) return GPTC_ERR_NOMEM;
        t->merge_r = nr;
        t->merge_cap = nc;
    }
    if (mergemap_put(&t->merges, left, right, t->n_merges, merged)) return GPTC_ERR_NOMEM;
    t->merge_l[t->n_merges] = left;
    t->merge_r[t->n_merges] = right;
    t->n_merges++;
    return GPTC_OK;
}

/* Many merges at once, in rank order. The lookups are done in batches with prefetching: the
 * tables are far bigger than the caches, and loading gpt-oss does ~1.8M random lookups. */
gptc_status gt_add_merges(gptc_tokenizer *t, const gt_merge_src *src, size_t n, size_t *bad,
                          int *which) {
    enum { B = 32 };
    struct item {
        uint32_t off, ra, rb; /* raw a at scratch[off], raw b right after it */
        uint32_t ha, hb, hc;
        int32_t l, r, m;
        int slow, err;
    } it[B];
    size_t cap = 4096;
    uint8_t *scratch = malloc(cap);
    if (!scratch) return GPTC_ERR_NOMEM;
    gptc_status st = GPTC_OK;
    for (size_t base = 0; base < n && st == GPTC_OK; base += B) {
        size_t k = n - base < B ? n - base : B;
        size_t need = 0;
        for (size_t i = 0; i < k; i++) need += src[base + i].alen + src[base + i].blen;
        if (need > cap) {
            while (cap < need) cap *= 2;
            free(scratch);
            scratch = malloc(cap);
            if (!scratch) return GPTC_ERR_NOMEM;
        }
        /* 1: byte-level strings -> raw bytes, hashes, prefetch the slots */
        size_t pos = 0;
        for (size_t i = 0; i < k; i++) {
            const gt_merge_src *m = &src[base + i];
            struct item *x = &it[i];
            x->err = 0;
            x->off = (uint32_t)pos;
            long ra = bytelevel_to_raw(m->a, m->alen, scratch + pos);
            long rb = ra >= 0 ? bytelevel_to_raw(m->b, m->blen, scratch + pos + ra) : -1;
            x->slow = ra < 0 || rb < 0;
            if (x->slow) continue;
            x->ra = (uint32_t)ra, x->rb = (uint32_t)rb;
            pos += (size_t)(ra + rb);
            x->ha = hash_bytes(scratch + x->off, x->ra);
            x->hb = hash_bytes(scratch + x->off + x->ra, x->rb);
            x->hc = hash_bytes(scratch + x->off, x->ra + x->rb);
            __builtin_prefetch(&t->raw.slots[x->ha & t->raw.mask]);
            __builtin_prefetch(&t->raw.slots[x->hb & t->raw.mask]);
            __builtin_prefetch(&t->raw.slots[x->hc & t->raw.mask]);
        }
        /* 2: probe */
        for (size_t i = 0; i < k; i++) {
            const gt_merge_src *m = &src[base + i];
            struct item *x = &it[i];
            if (x->slow) {
                x->l = gt_vocab_lookup(t, m->a, m->alen);
                x->r = gt_vocab_lookup(t, m->b, m->blen);
                x->m = x->l >= 0 && x->r >= 0 ? gt_vocab_concat(t, x->l, x->r) : -1;
            } else {
                const uint8_t *p = scratch + x->off;
                x->l = strmap_find_h(&t->raw, t->pool, p, x->ra, x->ha);
                x->r = strmap_find_h(&t->raw, t->pool, p + x->ra, x->rb, x->hb);
                x->m = strmap_find_h(&t->raw, t->pool, p, x->ra + x->rb, x->hc);
            }
            x->err = x->l < 0 ? 1 : x->r < 0 ? 2 : x->m < 0 ? 3 : 0;
            if (!x->err) mergemap_prefetch(&t->merges, x->l, x->r);
        }
        /* 3: add, in order; stop at the first bad merge */
        for (size_t i = 0; i < k; i++) {
            struct item *x = &it[i];
            if (x->err) {
                *bad = base + i;
                *which = x->err - 1;
                st = GPTC_ERR_FORMAT;
                break;
            }
            if ((st = gt_add_merge(t, x->l, x->r, x->m))) break;
        }
    }
    free(scratch);
    return st;
}

typedef struct match_key {
    uint8_t first;
    uint32_t len;
    int32_t id;
} match_key;
static int cmp_match(const void *pa, const void *pb) {
    const match_key *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

gptc_status gt_finalize(gptc_tokenizer *t, char *msg, size_t msg_cap) {
    (void)msg;
    (void)msg_cap;
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = strmap_find(&t->raw, t->pool, &c, 1);
    }
    /* matchers */
    for (int p = 0; p < 2; p++) {
        free(t->match_ids[p]);
        t->match_ids[p] = NULL;
        t->n_match[p] = 0;
        size_t n = 0;
        for (int32_t id = 0; id < t->n_vocab; id++)
            if (t->kind[id] == GT_TOK_ADDED && t->str_len[id] > 0 &&
                !!(t->flags[id] & GT_F_NORMALIZED) == p)
                n++;
        t->match_ids[p] = malloc((n ? n : 1) * sizeof(int32_t));
        match_key *keys = malloc((n ? n : 1) * sizeof *keys);
        if (!t->match_ids[p] || !keys) {
            free(keys);
            return GPTC_ERR_NOMEM;
        }
        n = 0;
        for (int32_t id = 0; id < t->n_vocab; id++)
            if (t->kind[id] == GT_TOK_ADDED && t->str_len[id] > 0 &&
                !!(t->flags[id] & GT_F_NORMALIZED) == p)
                keys[n++] = (match_key){(uint8_t)t->pool[t->str_off[id]], t->str_len[id], id};
        qsort(keys, n, sizeof *keys, cmp_match);
        for (size_t i = 0; i < n; i++) t->match_ids[p][i] = keys[i].id;
        free(keys);
        t->n_match[p] = (uint32_t)n;
        size_t k = 0;
        for (int b = 0; b <= 256; b++) {
            while (k < n && (uint8_t)t->pool[t->str_off[t->match_ids[p][k]]] < b) k++;
            t->first_idx[p][b] = (uint32_t)k;
        }
        t->first_idx[p][256] = (uint32_t)n;
    }
    /* HF decides "special" by the token string: a vocab entry spelled like a special added
     * token is skipped by skip_special too. */
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->kind[id] != GT_TOK_ADDED || !(t->flags[id] & GT_F_SPECIAL)) continue;
        int32_t v = gt_vocab_lookup(t, t->pool + t->str_off[id], t->str_len[id]);
        if (v >= 0) t->flags[v] |= GT_F_SPECIAL;
    }
    return GPTC_OK;
}

void gt_default_special_ids(gptc_tokenizer *t) {
    int32_t sot = gptc_tokenizer_find(t, "<|startoftext|>");
    int32_t eot = gptc_tokenizer_find(t, "<|endoftext|>");
    int32_t ret = gptc_tokenizer_find(t, "<|return|>");
    if (sot >= 0 && ret >= 0) { /* harmony (gpt-oss), as in the ggml-org GGUF */
        t->bos = sot;
        t->eos = ret;
        t->pad = eot;
    } else if (eot >= 0) { /* GPT-2 */
        t->bos = t->eos = eot;
    }
}

/* ---- public getters ----------------------------------------------------------------------- */
int32_t gptc_tokenizer_n_vocab(const gptc_tokenizer *t) {
    return t ? t->n_vocab : 0;
}
int32_t gptc_tokenizer_bos(const gptc_tokenizer *t) {
    return t ? t->bos : -1;
}
int32_t gptc_tokenizer_eos(const gptc_tokenizer *t) {
    return t ? t->eos : -1;
}
int32_t gptc_tokenizer_pad(const gptc_tokenizer *t) {
    return t ? t->pad : -1;
}
int gptc_tokenizer_add_bos(const gptc_tokenizer *t) {
    return t ? t->add_bos : 0;
}

int32_t gptc_tokenizer_find(const gptc_tokenizer *t, const char *token) {
    if (!t || !token) return -1;
    size_t len = strlen(token);
    int32_t id = strmap_find(&t->added, t->pool, token, len);
    if (id >= 0) return id;
    return gt_vocab_lookup(t, token, len);
}

int gptc_tokenizer_is_special(const gptc_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return 0;
    return !!(t->flags[id] & GT_F_SPECIAL);
}

gptc_status gptc_tokenizer_piece(const gptc_tokenizer *t, int32_t id, const char **bytes,
                                 size_t *len) {
    if (!t || id < 0 || id >= t->n_vocab) {
        if (bytes) *bytes = "";
        if (len) *len = 0;
        return GPTC_ERR_INVALID_ARG;
    }
    if (bytes) *bytes = t->pool + t->piece_off[id];
    if (len)
        *len = (t->kind[id] == GT_TOK_NONE || t->kind[id] == GT_TOK_UNUSED) ? 0 : t->piece_len[id];
    return GPTC_OK;
}

/* ---- encoding ----------------------------------------------------------------------------- */
typedef struct heap_ent {
    uint64_t key; /* rank << 32 | position of the left symbol */
    int32_t l, r, merged;
} heap_ent;

/* Per-call cache of BPE results for repeated pre-tokens (direct-mapped, short pieces only). */
#define CACHE_KEY 22
#define CACHE_IDS 8
typedef struct cache_ent {
    uint32_t hash; /* 0 = empty */
    uint8_t klen, nids;
    char key[CACHE_KEY];
    int32_t ids[CACHE_IDS];
} cache_ent;

typedef struct enc {
    const gptc_tokenizer *t;
    cache_ent *cache; /* NULL for short texts */
    uint32_t cache_mask;
    unsigned flags;
    int32_t *ids;
    size_t n, cap;
    /* BPE workspace, reused across pieces */
    int32_t *sid, *sprev, *snext;
    size_t scap;
    heap_ent *heap;
    size_t hn, hcap;
    int oom;
} enc;

static int push_id(enc *e, int32_t id) {
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 64;
        int32_t *ni = realloc(e->ids, nc * sizeof *ni);
        if (!ni) {
            e->oom = 1;
            return -1;
        }
        e->ids = ni;
        e->cap = nc;
    }
    e->ids[e->n++] = id;
    return 0;
}

static inline void heap_push(enc *e, heap_ent x) {
    if (e->hn == e->hcap) {
        size_t nc = e->hcap ? e->hcap * 2 : 64;
        heap_ent *nh = realloc(e->heap, nc * sizeof *nh);
        if (!nh) {
            e->oom = 1;
            return;
        }
        e->heap = nh;
        e->hcap = nc;
    }
    size_t i = e->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (e->heap[p].key <= x.key) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = x;
}

static inline heap_ent heap_pop(enc *e) {
    heap_ent top = e->heap[0];
    heap_ent x = e->heap[--e->hn];
    size_t n = e->hn, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && e->heap[c + 1].key < e->heap[c].key) c++;
        if (x.key <= e->heap[c].key) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = x;
    return top;
}

static inline void try_pair(enc *e, int32_t pos, int32_t l, int32_t r) {
    const struct gt_mergeent *m = mergemap_find(&e->t->merges, l, r);
    if (m) heap_push(e, (heap_ent){((uint64_t)m->rank << 32) | (uint32_t)pos, l, r, m->merged});
}

static void bpe_merge(enc *e, const uint8_t *s, size_t n);

/* BPE of one pre-token (raw bytes). */
static void bpe_piece(enc *e, const uint8_t *s, size_t n) {
    const gptc_tokenizer *t = e->t;
    if (n == 1 && t->byte_id[s[0]] >= 0) {
        push_id(e, t->byte_id[s[0]]);
        return;
    }
    if (t->ignore_merges) {
        int32_t id = strmap_find(&t->raw, t->pool, s, n);
        if (id >= 0) {
            push_id(e, id);
            return;
        }
    }
    cache_ent *ce = NULL;
    uint32_t h = 0;
    if (e->cache && n <= CACHE_KEY) {
        h = hash_bytes(s, n);
        ce = &e->cache[h & e->cache_mask];
        if (ce->hash == h && ce->klen == n && memcmp(ce->key, s, n) == 0) {
            for (int i = 0; i < ce->nids; i++) push_id(e, ce->ids[i]);
            return;
        }
    }
    size_t first = e->n;
    bpe_merge(e, s, n);
    size_t produced = e->n - first;
    if (ce && !e->oom && produced <= CACHE_IDS) {
        ce->hash = h;
        ce->klen = (uint8_t)n;
        ce->nids = (uint8_t)produced;
        memcpy(ce->key, s, n);
        memcpy(ce->ids, e->ids + first, produced * sizeof(int32_t));
    }
}

/* The merge loop proper. */
static void bpe_merge(enc *e, const uint8_t *s, size_t n) {
    const gptc_tokenizer *t = e->t;
    if (n > e->scap) {
        size_t nc = e->scap ? e->scap : 64;
        while (nc < n) nc *= 2;
        free(e->sid);
        free(e->sprev);
        free(e->snext);
        e->sid = malloc(nc * sizeof(int32_t));
        e->sprev = malloc(nc * sizeof(int32_t));
        e->snext = malloc(nc * sizeof(int32_t));
        if (!e->sid || !e->sprev || !e->snext) {
            e->oom = 1;
            e->scap = 0;
            return;
        }
        e->scap = nc;
    }
    /* initial symbols: one per byte (missing bytes: unk, or dropped like HF without unk) */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[s[i]];
        if (id < 0) {
            if (t->unk_id < 0) continue;
            id = t->unk_id;
            if (t->fuse_unk && m > 0 && e->sid[m - 1] == id) continue;
        }
        e->sid[m++] = id;
    }
    for (size_t i = 0; i < m; i++) {
        e->sprev[i] = (int32_t)i - 1;
        e->snext[i] = i + 1 < m ? (int32_t)i + 1 : -1;
    }
    e->hn = 0;
    for (size_t i = 0; i + 1 < m; i++) try_pair(e, (int32_t)i, e->sid[i], e->sid[i + 1]);
    while (e->hn) {
        heap_ent h = heap_pop(e);
        int32_t pos = (int32_t)(uint32_t)h.key;
        if (e->sid[pos] != h.l) continue; /* merged away or changed */
        int32_t nx = e->snext[pos];
        if (nx < 0 || e->sid[nx] != h.r) continue; /* stale */
        e->sid[pos] = h.merged;
        e->sid[nx] = -1;
        int32_t nn = e->snext[nx];
        e->snext[pos] = nn;
        if (nn >= 0) e->sprev[nn] = pos;
        int32_t pv = e->sprev[pos];
        if (pv >= 0) try_pair(e, pv, e->sid[pv], h.merged);
        if (nn >= 0) try_pair(e, pos, h.merged, e->sid[nn]);
    }
    for (int32_t i = m ? 0 : -1; i >= 0; i = e->snext[i]) push_id(e, e->sid[i]);
}

/* Pre-tokenizer stages, then BPE. */
static void encode_pieces(enc *e, const uint8_t *s, size_t n, int stage) {
    const gptc_tokenizer *t = e->t;
    if (stage >= t->n_stages) {
        bpe_piece(e, s, n);
        return;
    }
    gt_pretok_kind kind = t->stages[stage];
    size_t pos = 0;
    while (pos < n && !e->oom) {
        size_t end = gt_pretok_next(kind, s, n, pos);
        if (end <= pos || end > n) end = n; /* defensive: never loop forever */
        encode_pieces(e, s + pos, end - pos, stage + 1);
        pos = end;
    }
}

/* Unicode White_Space (Rust regex \s, used by HF for lstrip/rstrip). */
static int is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Start of the whitespace run that ends at s[end] (valid UTF-8). */
static size_t ws_run_before(const uint8_t *s, size_t end) {
    while (end > 0) {
        size_t b = end - 1;
        while (b > 0 && (s[b] & 0xC0) == 0x80) b--;
        if (!is_white_space(utf8_cp(s + b, (int)(end - b)))) break;
        end = b;
    }
    return end;
}

/* Length of the whitespace run at the start of s[0..n). */
static size_t ws_run_after(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int k = utf8_seq(s, n, i);
        if (!k || !is_white_space(utf8_cp(s + i, k))) break;
        i += (size_t)k;
    }
    return i;
}

/* Added-token extraction, pass p (0: normalized=false tokens, 1: normalized=true tokens). */
static void encode_added(enc *e, const uint8_t *s, size_t n, int p) {
    const gptc_tokenizer *t = e->t;
    if (n == 0) return;
    if (p == 2) {
        encode_pieces(e, s, n, 0);
        return;
    }
    if (t->n_match[p] == 0) {
        encode_added(e, s, n, p + 1);
        return;
    }
    const int special_on = (e->flags & GPTC_TOKENIZE_SPECIAL) != 0;
    const uint32_t *fi = t->first_idx[p];
    /* HF AddedVocabulary::find_matches: leftmost-longest matches over all the tokens of the
     * pass; a special one is skipped (left in the text) when special tokens are off; lstrip /
     * rstrip widen the match over whitespace, which is dropped with it. */
    size_t start = 0, i = 0;
    while (i < n && !e->oom) {
        uint32_t lo = fi[s[i]], hi = fi[s[i] + 1];
        int32_t hit = -1;
        for (uint32_t k = lo; k < hi; k++) {
            int32_t id = t->match_ids[p][k];
            uint32_t L = t->str_len[id];
            if (L <= n - i && memcmp(t->pool + t->str_off[id], s + i, L) == 0) {
                hit = id;
                break; /* sorted longest first */
            }
        }
        if (hit < 0) {
            i++;
            continue;
        }
        size_t ms = i, me = i + t->str_len[hit];
        i = me; /* the matcher resumes after the match */
        if (!special_on && (t->flags[hit] & GT_F_SPECIAL)) continue;
        if (t->flags[hit] & GT_F_LSTRIP) {
            size_t ns = ws_run_before(s, ms);
            ms = ns > start ? ns : start;
        }
        if (t->flags[hit] & GT_F_RSTRIP) me += ws_run_after(s + me, n - me);
        if (start < ms) encode_added(e, s + start, ms - start, p + 1);
        push_id(e, hit);
        start = me;
    }
    if (start < n) encode_added(e, s + start, n - start, p + 1);
}

gptc_status gptc_tokenize(const gptc_tokenizer *t, const char *text, size_t len, unsigned flags,
                          int32_t **ids, size_t *n_ids, gptc_error *err) {
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!t || !ids || !n_ids || (!text && len))
        return gt_tok_fail(err, GPTC_ERR_INVALID_ARG, "gptc_tokenize: invalid argument");
    if (len > (size_t)INT32_MAX) {
        return gt_tok_fail(err, GPTC_ERR_INVALID_ARG, "text of %zu bytes is too long (max 2 GiB)",
                           len);
    }
    const uint8_t *s = (const uint8_t *)text;
    size_t bad = gt_utf8_check(s, len);
    if (bad != len)
        return gt_tok_fail(err, GPTC_ERR_FORMAT, "invalid UTF-8 at byte offset %zu", bad);
    enc e = {.t = t, .flags = flags};
    e.cap = len / 3 + 16;
    e.ids = malloc(e.cap * sizeof(int32_t));
    if (!e.ids) e.oom = 1;
    if (len >= 2048) { /* cache sized to the text: ~1 entry per 16 bytes, 256..16384 */
        size_t ce = 256;
        while (ce < len / 16 && ce < 16384) ce <<= 1;
        e.cache = calloc(ce, sizeof *e.cache);
        e.cache_mask = e.cache ? (uint32_t)(ce - 1) : 0;
    }
    if (!e.oom) encode_added(&e, s, len, 0);
    free(e.cache);
    free(e.sid);
    free(e.sprev);
    free(e.snext);
    free(e.heap);
    if (e.oom) {
        free(e.ids);
        return gt_tok_fail(err, GPTC_ERR_NOMEM, "out of memory while tokenizing %zu bytes", len);
    }
    *ids = e.ids;
    *n_ids = e.n;
    return GPTC_OK;
}

/* ---- decoding ----------------------------------------------------------------------------- */
/* Lossy UTF-8 like Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one
 * U+FFFD. out needs 3 * n bytes. Unless `final`, an incomplete but so far valid sequence at the
 * end is not consumed (*used < n). Returns the bytes written. */
static size_t utf8_lossy(const uint8_t *s, size_t n, int final, uint8_t *out, size_t *used) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            out[o++] = c;
            i++;
            continue;
        }
        uint8_t lo, hi;
        int need = utf8_lead(c, &lo, &hi);
        int j = 1;
        if (need) {
            for (; j <= need; j++) {
                if (i + (size_t)j >= n) { /* truncated */
                    if (!final) {
                        *used = i;
                        return o;
                    }
                    break;
                }
                uint8_t d = s[i + (size_t)j];
                if (d < lo || d > hi) break;
                lo = 0x80, hi = 0xBF;
            }
        }
        if (need && j > need) {
            memcpy(out + o, s + i, (size_t)need + 1);
            o += (size_t)need + 1;
            i += (size_t)need + 1;
        } else {
            out[o++] = 0xEF, out[o++] = 0xBF, out[o++] = 0xBD; /* U+FFFD */
            i += (size_t)j;
        }
    }
    *used = n;
    return o;
}

static gptc_status bad_id(const gptc_tokenizer *t, int32_t id, gptc_error *err) {
    return gt_tok_fail(err, GPTC_ERR_INVALID_ARG,
                       "token id %ld out of range (vocabulary has %d ids)", (long)id,
                       (int)t->n_vocab);
}

static inline int skip_id(const gptc_tokenizer *t, int32_t id, int skip_special) {
    return t->kind[id] == GT_TOK_NONE || t->kind[id] == GT_TOK_UNUSED ||
           (skip_special && (t->flags[id] & GT_F_SPECIAL));
}

gptc_status gptc_detokenize(const gptc_tokenizer *t, const int32_t *ids, size_t n_ids,
                            int skip_special, char **text, size_t *len, gptc_error *err) {
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!t || !text || (!ids && n_ids))
        return gt_tok_fail(err, GPTC_ERR_INVALID_ARG, "gptc_detokenize: invalid argument");
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) return bad_id(t, ids[i], err);
        if (!skip_id(t, ids[i], skip_special)) total += t->piece_len[ids[i]];
    }
    uint8_t *raw = malloc(total + 1);
    uint8_t *out = malloc(total * 3 + 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        return gt_tok_fail(err, GPTC_ERR_NOMEM, "out of memory decoding %zu ids", n_ids);
    }
    size_t p = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (skip_id(t, ids[i], skip_special)) continue;
        memcpy(raw + p, t->pool + t->piece_off[ids[i]], t->piece_len[ids[i]]);
        p += t->piece_len[ids[i]];
    }
    size_t used;
    size_t o = utf8_lossy(raw, p, 1, out, &used);
    free(raw);
    out[o] = 0;
    *text = (char *)out;
    if (len) *len = o;
    return GPTC_OK;
}

/* ---- streaming decoder -------------------------------------------------------------------- */
struct gptc_decoder {
    const gptc_tokenizer *t;
    int skip_special;
    uint8_t tail[4]; /* incomplete UTF-8 sequence held back (at most 3 bytes) */
    size_t ntail;
    uint8_t *in, *out;
    size_t in_cap, out_cap;
};

gptc_status gptc_decoder_new(const gptc_tokenizer *t, int skip_special, gptc_decoder **out,
                             gptc_error *err) {
    if (out) *out = NULL;
    if (!t || !out)
        return gt_tok_fail(err, GPTC_ERR_INVALID_ARG, "gptc_decoder_new: invalid argument");
    gptc_decoder *d = calloc(1, sizeof *d);
    if (!d) return gt_tok_fail(err, GPTC_ERR_NOMEM, "out of memory");
    d->t = t;
    d->skip_special = skip_special;
    *out = d;
    return GPTC_OK;
}

gptc_status gptc_decoder_push(gptc_decoder *d, int32_t id, const char **out, size_t *len,
                              gptc_error *err) {
    *out = "";
    *len = 0;
    const gptc_tokenizer *t = d->t;
    if (id < 0 || id >= t->n_vocab) return bad_id(t, id, err);
    if (skip_id(t, id, d->skip_special)) return GPTC_OK;
    size_t pl = t->piece_len[id];
    size_t n = d->ntail + pl;
    if (n + 1 > d->in_cap || 3 * n + 1 > d->out_cap) {
        size_t ic = n + 64, oc = 3 * n + 64;
        uint8_t *ni = realloc(d->in, ic);
        if (!ni) goto oom;
        d->in = ni;
        d->in_cap = ic;
        uint8_t *no = realloc(d->out, oc);
        if (!no) goto oom;
        d->out = no;
        d->out_cap = oc;
    }
    memcpy(d->in, d->tail, d->ntail);
    memcpy(d->in + d->ntail, t->pool + t->piece_off[id], pl);
    size_t used;
    size_t o = utf8_lossy(d->in, n, 0, d->out, &used);
    d->ntail = n - used;
    memcpy(d->tail, d->in + used, d->ntail);
    d->out[o] = 0;
    *out = (const char *)d->out;
    *len = o;
    return GPTC_OK;
oom:
    return gt_tok_fail(err, GPTC_ERR_NOMEM, "out of memory");
}

void gptc_decoder_flush(gptc_decoder *d, const char **out, size_t *len) {
    static const char fffd[] = "\xEF\xBF\xBD";
    /* a held tail is always one truncated sequence: from_utf8_lossy gives one U+FFFD for it */
    if (d->ntail) {
        d->ntail = 0;
        *out = fffd;
        *len = 3;
    } else {
        *out = "";
        *len = 0;
    }
}

void gptc_decoder_reset(gptc_decoder *d) {
    if (d) d->ntail = 0;
}

void gptc_decoder_free(gptc_decoder *d) {
    if (!d) return;
    free(d->in);
    free(d->out);
    free(d);
}
