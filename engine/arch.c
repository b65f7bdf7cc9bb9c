/* arch.c — the table of architecture adapters and the helpers they share (arch.h). */
#include "engine/arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/quant.h"

static const gt_arch_adapter *const adapters[] = {&gt_arch_gpt_oss, &gt_arch_gpt2};

const gt_arch_adapter *gt_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
        if (strcmp(adapters[i]->name, name) == 0) return adapters[i];
    return NULL;
}

gptc_status gt_err(gptc_error *err, gptc_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = st;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return st;
}

double gt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- weight mapping --------------------------------------------------------------------- */
typedef struct name_node {
    struct name_node *next;
    char s[];
} name_node;

static const char *arena_str(gptc_model *m, const char *s) {
    size_t n = strlen(s);
    name_node *nd = malloc(sizeof(*nd) + n + 1);
    if (!nd) return NULL;
    memcpy(nd->s, s, n + 1);
    nd->next = m->name_arena;
    m->name_arena = nd;
    return nd->s;
}

void gt_name_arena_free(gptc_model *m) {
    name_node *nd = m->name_arena;
    while (nd) {
        name_node *nx = nd->next;
        free(nd);
        nd = nx;
    }
    m->name_arena = NULL;
}

static void fmt_shape(char *buf, size_t cap, int n_dims, const int64_t *ne) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < n_dims && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static const char *type_name(uint32_t t) {
    const ggml_type_info *ti = ggml_type_get(t);
    return ti ? ti->name : "unknown";
}

gptc_status gt_map_weight(gptc_model *m, gt_weight *w, const char *name, int kind, int n_dims,
                          const int64_t *ne, int required, gptc_error *err) {
    memset(w, 0, sizeof(*w));
    const gguf_tensor *t = gguf_shards_find_tensor(m->shards, name);
    if (!t) {
        if (!required) return GPTC_OK;
        return gt_err(err, GPTC_ERR_FORMAT, "%s: missing tensor %s", m->path, name);
    }
    /* shape: compare all 4 dims (absent dims are 1) */
    int64_t want[4] = {1, 1, 1, 1};
    for (int i = 0; i < n_dims; i++) want[i] = ne[i];
    int t_dims = (int)t->n_dims;
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        int64_t got = i < t_dims ? t->ne[i] : 1;
        if (got != want[i]) ok = 0;
    }
    if (!ok) {
        char a[96], b[96];
        fmt_shape(a, sizeof(a), n_dims, want);
        int show = t_dims > n_dims ? t_dims : n_dims;
        int64_t got[4] = {1, 1, 1, 1};
        for (int i = 0; i < t_dims && i < 4; i++) got[i] = t->ne[i];
        fmt_shape(b, sizeof(b), show, got);
        return gt_err(err, GPTC_ERR_FORMAT, "%s: %s: expected shape %s, got %s", m->path, name, a,
                      b);
    }
    if (kind == GT_W_F32) {
        if (t->type != GGML_TYPE_F32)
            return gt_err(err, GPTC_ERR_UNSUPPORTED, "%s: %s: expected type F32, got %s", m->path,
                          name, type_name(t->type));
    } else {
        if (!quant_supported(t->type))
            return gt_err(err, GPTC_ERR_UNSUPPORTED,
                          "%s: %s: type %s is not supported for a weight matrix", m->path, name,
                          type_name(t->type));
    }
    size_t rb = quant_row_size(t->type, want[0]);
    if (rb == 0)
        return gt_err(err, GPTC_ERR_FORMAT,
                      "%s: %s: row length %lld is not a multiple of the %s block size", m->path,
                      name, (long long)want[0], type_name(t->type));
    w->type = t->type;
    memcpy(w->ne, want, sizeof(want));
    w->row_bytes = rb;
    w->expert_stride = want[2] > 1 ? rb * (size_t)want[1] : 0;
    w->data = t->data;
    w->src = t;
    w->src_offset = 0;
    w->name = arena_str(m, name);
    if (!w->name) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    return GPTC_OK;
}

gptc_status gt_map_layer_weight(gptc_model *m, gt_weight *w, int il, const char *suffix, int kind,
                                int n_dims, const int64_t *ne, gptc_error *err) {
    char nm[128];
    snprintf(nm, sizeof(nm), "blk.%d.%s", il, suffix);
    return gt_map_weight(m, w, nm, kind, n_dims, ne, 1, err);
}

gptc_status gt_map_token_embd(gptc_model *m, gptc_error *err) {
    gt_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    const gguf_tensor *te = gguf_shards_find_tensor(m->shards, "token_embd.weight");
    if (!te) return gt_err(err, GPTC_ERR_FORMAT, "%s: missing tensor token_embd.weight", m->path);
    if (te->n_dims != 2 || te->ne[1] < 1 || te->ne[1] > (1 << 30))
        return gt_err(err, GPTC_ERR_FORMAT,
                      "%s: token_embd.weight: expected 2 dimensions [%lld, n_vocab]", m->path,
                      (long long)E);
    hp->n_vocab = (int)te->ne[1];
    return gt_map_weight(m, &m->tok_embd, "token_embd.weight", GT_W_MATRIX, 2,
                         (int64_t[]){E, hp->n_vocab}, 1, err);
}

gptc_status gt_alloc_layers(gptc_model *m, gptc_error *err) {
    m->layers = calloc((size_t)m->hp.n_layer, sizeof(gt_layer));
    if (!m->layers) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    return GPTC_OK;
}

/* ---- metadata ----------------------------------------------------------------------------- */
static void meta_key(const gptc_model *m, const char *suffix, char *key, size_t cap) {
    snprintf(key, cap, "%s.%s", m->arch_name, suffix);
}

/* Shared by gt_meta_u32/f32: fills key; when the key is absent sets *absent and returns OK, or
 * the "missing key" error when required. */
static gptc_status meta_lookup(const gptc_model *m, const char *suffix, int required, char *key,
                               size_t cap, int *absent, gptc_error *err) {
    meta_key(m, suffix, key, cap);
    *absent = !gguf_has(m->gguf, key);
    if (*absent && required)
        return gt_err(err, GPTC_ERR_FORMAT, "%s: missing key %s", m->path, key);
    return GPTC_OK;
}

/* Prefixes a reader error with the model path (unless the reader already named the file). */
static gptc_status meta_err(const gptc_model *m, gptc_status st, gptc_error *err) {
    if (st != GPTC_OK && err && strncmp(err->msg, m->path, strlen(m->path))) {
        char tmp[GPTC_ERROR_MSG_MAX];
        snprintf(tmp, sizeof(tmp), "%s", err->msg);
        gt_err(err, st, "%s: %s", m->path, tmp);
    }
    return st;
}

gptc_status gt_meta_u32(const gptc_model *m, const char *suffix, int required, uint32_t def,
                        uint32_t *out, gptc_error *err) {
    char key[160];
    int absent;
    GT_TRY(meta_lookup(m, suffix, required, key, sizeof(key), &absent, err));
    if (absent) {
        *out = def;
        return GPTC_OK;
    }
    return meta_err(m, gguf_get_u32(m->gguf, key, out, err), err);
}

gptc_status gt_meta_f32(const gptc_model *m, const char *suffix, int required, float def,
                        float *out, gptc_error *err) {
    char key[160];
    int absent;
    GT_TRY(meta_lookup(m, suffix, required, key, sizeof(key), &absent, err));
    if (absent) {
        *out = def;
        return GPTC_OK;
    }
    return meta_err(m, gguf_get_f32(m->gguf, key, out, err), err);
}

gptc_status gt_load_common_hparams(gptc_model *m, gptc_error *err) {
    gt_hparams *hp = &m->hp;
    uint32_t u;
    GT_TRY(gt_meta_u32(m, "block_count", 1, 0, &u, err));
    hp->n_layer = (int)u;
    GT_TRY(gt_meta_u32(m, "context_length", 1, 0, &u, err));
    hp->n_ctx_train = (int)u;
    GT_TRY(gt_meta_u32(m, "embedding_length", 1, 0, &u, err));
    hp->n_embd = (int)u;
    return GPTC_OK;
}
