/* cpu_backend.c — the CPU backend: weights stay in the mmap, f32 KV caches on the heap, the
 * forward passes of engine/forward_*.c on a thread pool, host sampling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arch.h"
#include "engine/backend.h"
#include "engine/cpu.h"
#include "engine/memplan.h"
#include "engine/ops.h"
#include "engine/pool.h"

void gt_kv_make_room(gt_kv_layer *kv, int T, size_t row) {
    if (kv->count + T > kv->cap) {
        int keep = kv->count < kv->keep ? kv->count : kv->keep;
        int drop = kv->count - keep;
        memmove(kv->k, kv->k + (size_t)drop * row, (size_t)keep * row * sizeof(float));
        memmove(kv->v, kv->v + (size_t)drop * row, (size_t)keep * row * sizeof(float));
        kv->base += drop;
        kv->count = keep;
    }
    kv->count += T; /* fits: cap >= keep + n_batch, or cap = n_ctx >= n_past + T */
}

int gt_batch_out_rows(const gt_batch *b, int *out) {
    int n = 0;
    for (int t = 0; t < b->T; t++)
        if (b->logits_all || t == b->T - 1 || b->sess[t + 1] != b->sess[t]) out[n++] = t;
    return n;
}

int gt_batch_cancelled(const gt_batch *b) {
    for (int t = 0; t < b->T; t++)
        if ((t == 0 || b->sess[t] != b->sess[t - 1]) && gt_session_cancelled(b->sess[t])) return 1;
    return 0;
}

void gt_batch_kv_append(const gt_batch *b, int il, const float *k, const float *v, size_t row) {
    for (int t0 = 0; t0 < b->T;) {
        int t1 = t0 + 1;
        while (t1 < b->T && b->sess[t1] == b->sess[t0]) t1++;
        gt_kv_layer *kv = &gt_cpu(b->sess[t0])->kv[il];
        gt_kv_make_room(kv, t1 - t0, row);
        for (int t = t0; t < t1; t++) {
            memcpy(gt_kv_k(kv, b->pos[t], row), k + (size_t)t * row, row * sizeof(float));
            memcpy(gt_kv_v(kv, b->pos[t], row), v + (size_t)t * row, row * sizeof(float));
        }
        t0 = t1;
    }
}

void gt_batch_lm_head(const gt_batch *b, const gt_weight *W, const float *h, const int *out,
                      int n_out, float *chunk) {
    gt_pool *pool = b->sess[0]->model->pool;
    const size_t V = (size_t)W->ne[1], E = (size_t)W->ne[0];
    if (b->logits_all) { /* out[i] == i for every row */
        op_matmul(b->logits_all, h, n_out, W, -1, NULL, pool);
        for (int t = 0; t < b->T; t++)
            if (t == b->T - 1 || b->sess[t + 1] != b->sess[t])
                memcpy(gt_cpu(b->sess[t])->logits, b->logits_all + (size_t)t * V,
                       V * sizeof(float));
        return;
    }
    for (int i0 = 0; i0 < n_out; i0 += GT_LOGITS_CHUNK) {
        int nc = n_out - i0 < GT_LOGITS_CHUNK ? n_out - i0 : GT_LOGITS_CHUNK;
        if (nc == 1) {
            op_matmul(gt_cpu(b->sess[out[i0]])->logits, h + (size_t)i0 * E, 1, W, -1, NULL, pool);
            continue;
        }
        op_matmul(chunk, h + (size_t)i0 * E, nc, W, -1, NULL, pool);
        for (int i = 0; i < nc; i++)
            memcpy(gt_cpu(b->sess[out[i0 + i]])->logits, chunk + (size_t)i * V, V * sizeof(float));
    }
}

static size_t kv_row(const gptc_model *m) {
    return (size_t)m->hp.n_head_kv * m->hp.head_dim;
}

/* Rows of layer il's KV cache for a session of n_ctx tokens fed n_batch at a time, and the rows
 * it keeps when full (gt_kv_layer). */
static int kv_layer_cap(const gptc_model *m, int il, int n_ctx, int n_batch, int *keep_out) {
    int cap = n_ctx, keep = cap;
    if (m->layers[il].is_swa && m->hp.sliding_window > 0) {
        /* rewind slack: truncating by up to max(n_batch, min(1024, n_ctx / 4)) tokens keeps
         * every row the window needs */
        int slack = n_ctx / 4 < 1024 ? n_ctx / 4 : 1024;
        if (slack < n_batch) slack = n_batch;
        long long k = (long long)m->hp.sliding_window - 1 + slack;
        if (k + n_batch < cap) {
            cap = (int)(k + n_batch);
            keep = (int)k;
        }
    }
    if (keep_out) *keep_out = keep;
    return cap;
}

/* Bytes of one session's KV cache (f32 K and V rows of every layer). */
static uint64_t kv_session_bytes(const gptc_model *m, int n_ctx, int n_batch) {
    uint64_t total = 0;
    for (int il = 0; il < m->hp.n_layer; il++)
        total +=
            (uint64_t)kv_layer_cap(m, il, n_ctx, n_batch, NULL) * kv_row(m) * 2 * sizeof(float);
    return total;
}

/* -v: what the weights, the KV caches and the scratch of the sessions the caller announced
 * (n_ctx_hint, n_seq_hint) take in host memory. */
static void cpu_print_plan(const gptc_model *m, const gptc_model_params *p) {
    int train = m->hp.n_ctx_train;
    int n_ctx = p->n_ctx_hint > 0 ? p->n_ctx_hint : GT_DEFAULT_N_CTX;
    if (n_ctx > train) n_ctx = train;
    int n_batch = GT_DEFAULT_N_BATCH < n_ctx ? GT_DEFAULT_N_BATCH : n_ctx;
    int n_seq = p->n_seq_hint > 0 ? p->n_seq_hint : 1;
    int n_files = gguf_shards_count(m->shards);
    char how[128];
    snprintf(how, sizeof how, "%s %d file%s%s", p->no_mmap ? "read from" : "mapped from", n_files,
             n_files == 1 ? "" : "s", p->mlock ? ", locked (--mlock)" : "");
    gt_mem_plan plan = {
        .backend = "cpu",
        .weights_host = m->weight_bytes,
        .host_how = how,
        .kv = kv_session_bytes(m, n_ctx, n_batch) * (uint64_t)n_seq,
        .n_ctx = n_ctx,
        .n_seq = n_seq,
        .kv_type = "f32",
        /* forward scratch + attention scores per thread + the logits of each session */
        .workspace_host = m->adapter->cpu_scratch_bytes(m, n_batch, 0) +
                          (uint64_t)n_ctx * sizeof(float) * (uint64_t)m->n_threads +
                          (uint64_t)m->hp.n_vocab * sizeof(float) * (uint64_t)n_seq,
    };
    gt_mem_plan_print(stderr, &plan);
}

static gptc_status cpu_model_init(gptc_model *m, const gptc_model_params *p, gptc_error *err) {
    if (p && p->verbose) cpu_print_plan(m, p);
    if (p && p->verbose && p->n_cpu_moe != GPTC_CPU_MOE_AUTO) /* --n-cpu-moe / --cpu-moe */
        fprintf(stderr,
                "cpu: expert offload (--n-cpu-moe / --cpu-moe) has no effect on the CPU backend: "
                "every weight is in host memory already\n");
    gt_cpu_model *cm = calloc(1, sizeof(*cm));
    if (!cm) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&cm->lock, NULL);
    m->backend_data = cm;
    m->pool = gt_pool_create(m->n_threads);
    if (!m->pool) return gt_err(err, GPTC_ERR_NOMEM, "cannot start %d CPU threads", m->n_threads);
    snprintf(m->device_name, sizeof(m->device_name), "CPU (%d threads)", m->n_threads);
    return GPTC_OK;
}

static void cpu_model_free(gptc_model *m) {
    gt_pool_destroy(m->pool);
    m->pool = NULL;
    gt_cpu_model *cm = m->backend_data;
    if (cm) {
        pthread_mutex_destroy(&cm->lock);
        free(cm->mem);
        free(cm->pos);
        free(cm->sess);
        free(cm);
        m->backend_data = NULL;
    }
}

/* Grows the model's forward scratch to n_batch rows (under cm->lock). */
static int grow_scratch(gptc_model *m, int n_batch) {
    gt_cpu_model *cm = m->backend_data;
    if (n_batch <= cm->rows) return 0;
    size_t bytes = m->adapter->cpu_scratch_bytes(m, n_batch, 0);
    void *mem = NULL;
    int *pos = malloc((size_t)n_batch * sizeof(int));
    gptc_session **sess = malloc((size_t)n_batch * sizeof(gptc_session *));
    if (!pos || !sess || posix_memalign(&mem, 64, bytes ? bytes : 64) != 0) {
        free(pos);
        free(sess);
        return -1;
    }
    free(cm->mem);
    free(cm->pos);
    free(cm->sess);
    atomic_fetch_add(&m->workspace_bytes, (uint64_t)bytes - cm->bytes);
    cm->mem = mem;
    cm->bytes = bytes;
    cm->pos = pos;
    cm->sess = sess;
    cm->rows = n_batch;
    return 0;
}

static void cpu_session_free(gptc_session *s) {
    gptc_model *m = s->model;
    gt_cpu_state *cs = gt_cpu(s);
    if (!cs) return;
    if (cs->kv) {
        for (int il = 0; il < m->hp.n_layer; il++) {
            free(cs->kv[il].k);
            free(cs->kv[il].v);
        }
        free(cs->kv);
    }
    atomic_fetch_sub(&m->kv_bytes, cs->kv_bytes);
    free(cs->logits);
    free(cs);
    s->backend_data = NULL;
}

static gptc_status cpu_session_init(gptc_session *s, gptc_error *err) {
    gptc_model *m = s->model;
    const gt_hparams *hp = &m->hp;
    const size_t row = kv_row(m);
    gt_cpu_state *cs = calloc(1, sizeof(*cs));
    if (!cs) goto oom;
    s->backend_data = cs;
    cs->kv = calloc((size_t)hp->n_layer, sizeof(gt_kv_layer));
    cs->logits = calloc((size_t)hp->n_vocab, sizeof(float));
    if (!cs->kv || !cs->logits) goto oom;
    uint64_t kv_total = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        gt_kv_layer *kv = &gt_cpu(s)->kv[il];
        int cap = kv_layer_cap(m, il, s->n_ctx, s->n_batch, &kv->keep);
        kv->cap = cap;
        kv->k = malloc((size_t)cap * row * sizeof(float));
        kv->v = malloc((size_t)cap * row * sizeof(float));
        if (!kv->k || !kv->v) goto oom;
        kv_total += (uint64_t)cap * row * 2 * sizeof(float);
    }
    gt_cpu_model *cm = m->backend_data;
    pthread_mutex_lock(&cm->lock);
    int rc = grow_scratch(m, s->n_batch);
    pthread_mutex_unlock(&cm->lock);
    if (rc != 0) goto oom;
    /* attention scores: n_ctx floats per thread */
    if (gt_pool_reserve(m->pool, (size_t)s->n_ctx * sizeof(float)) != 0) goto oom;
    cs->kv_bytes = kv_total;
    atomic_fetch_add(&m->kv_bytes, kv_total);
    return GPTC_OK;
oom:
    cpu_session_free(s);
    return gt_err(err, GPTC_ERR_NOMEM,
                  "out of memory allocating the KV cache for a context of %d tokens", s->n_ctx);
}

/* A failed/interrupted earlier forward may have reserved rows: rewind a cache to n_past. */
static gptc_status kv_rewind(gptc_session *s, gptc_error *err) {
    for (int il = 0; il < s->model->hp.n_layer; il++) {
        gt_kv_layer *kv = &gt_cpu(s)->kv[il];
        if (kv->base > s->n_past)
            return gt_err(err, GPTC_ERR_INVALID_ARG, "internal: KV cache ahead of the context");
        kv->count = s->n_past - kv->base;
    }
    return GPTC_OK;
}

/* swa_only: rebuild the window layers' caches only (truncate); full layers keep their rows */
static gptc_status cpu_forward_locked(gptc_session *s, const int32_t *ids, int n, float *logits_all,
                                      int swa_only, gptc_error *err) {
    gptc_status st = kv_rewind(s, err);
    if (st != GPTC_OK) return st;
    gt_cpu_model *cm = s->model->backend_data;
    for (int t = 0; t < n; t++) {
        cm->pos[t] = s->n_past + t;
        cm->sess[t] = s;
    }
    gt_batch b = {.T = n,
                  .ids = ids,
                  .sess = cm->sess,
                  .pos = cm->pos,
                  .logits_all = logits_all,
                  .swa_only = swa_only,
                  .scratch = cm->mem,
                  .scratch_bytes = cm->bytes};
    return s->model->adapter->forward_cpu(&b, err);
}

static gptc_status cpu_forward(gptc_session *s, const int32_t *ids, int n, float *logits_all,
                               gptc_error *err) {
    gt_cpu_model *cm = s->model->backend_data;
    pthread_mutex_lock(&cm->lock);
    gptc_status st = cpu_forward_locked(s, ids, n, logits_all, 0, err);
    pthread_mutex_unlock(&cm->lock);
    return st;
}

/* One token for each of n sessions, batched up to the scratch's row count per pass (the weights
 * are read once per pass instead of once per session). */
static gptc_status cpu_decode_multi(gptc_session **ss, const int32_t *ids, int n, gptc_error *err) {
    gt_cpu_model *cm = ss[0]->model->backend_data;
    pthread_mutex_lock(&cm->lock);
    gptc_status st = GPTC_OK;
    for (int i = 0; i < n && st == GPTC_OK; i++) st = kv_rewind(ss[i], err);
    for (int i0 = 0; i0 < n && st == GPTC_OK;) {
        int c = n - i0 < cm->rows ? n - i0 : cm->rows;
        for (int i = 0; i < c; i++) cm->pos[i] = ss[i0 + i]->n_past;
        gt_batch b = {.T = c,
                      .ids = ids + i0,
                      .sess = ss + i0,
                      .pos = cm->pos,
                      .logits_all = NULL,
                      .scratch = cm->mem,
                      .scratch_bytes = cm->bytes};
        st = ss[i0]->model->adapter->forward_cpu(&b, err);
        i0 += c;
    }
    pthread_mutex_unlock(&cm->lock);
    return st;
}

static gptc_status cpu_sample(gptc_session *s, int32_t *id, gptc_error *err) {
    (void)err;
    *id = gt_sampler_sample(&s->sampler, gt_cpu(s)->logits, s->history, s->n_past);
    return GPTC_OK;
}

static gptc_status cpu_logits(gptc_session *s, float *out, gptc_error *err) {
    (void)err;
    memcpy(out, gt_cpu(s)->logits, (size_t)s->model->hp.n_vocab * sizeof(float));
    return GPTC_OK;
}

static gptc_status cpu_truncate(gptc_session *s, int n, gptc_error *err) {
    gptc_model *m = s->model;
    const int W = m->hp.sliding_window;
    int refeed = 0, n_swa = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        gt_kv_layer *kv = &gt_cpu(s)->kv[il];
        int swa = W > 0 && m->layers[il].is_swa;
        n_swa += swa;
        int lo = swa ? n - (W - 1) : 0;
        if (lo < 0) lo = 0;
        if (lo < kv->base) refeed = 1;
    }
    if (!refeed) {
        for (int il = 0; il < m->hp.n_layer; il++)
            gt_cpu(s)->kv[il].count = n - gt_cpu(s)->kv[il].base;
        return GPTC_OK;
    }
    /* A window layer dropped rows that the new end still sees. Full-attention caches are intact,
     * so only the window caches are rebuilt, by running positions start..n-1 again without
     * touching the full layers' rows. The k-th window layer's K/V at position i is exact once
     * i >= start + k (W-1) (each window layer below it must have seen a complete window), so
     * start = n - n_swa (W-1) makes the last W-1 rows of every window layer exact. */
    long long st0 = (long long)n - (long long)n_swa * (W - 1);
    int start = st0 < 0 ? 0 : (int)st0;
    for (int il = 0; il < m->hp.n_layer; il++)
        if (m->layers[il].is_swa) {
            gt_cpu(s)->kv[il].base = start;
            gt_cpu(s)->kv[il].count = 0;
        }
    s->n_past = start;
    gt_cpu_model *cm = m->backend_data;
    gptc_status st = GPTC_OK;
    pthread_mutex_lock(&cm->lock);
    while (s->n_past < n && st == GPTC_OK) {
        int c = n - s->n_past;
        if (c > cm->rows) c = cm->rows;
        st = cpu_forward_locked(s, s->history + s->n_past, c, NULL, 1, err);
        if (st == GPTC_OK) s->n_past += c;
    }
    pthread_mutex_unlock(&cm->lock);
    if (st != GPTC_OK) { /* the window caches are half rebuilt: drop the whole context */
        for (int il = 0; il < m->hp.n_layer; il++) {
            gt_cpu(s)->kv[il].base = 0;
            gt_cpu(s)->kv[il].count = 0;
        }
        s->n_past = 0;
        return st;
    }
    for (int il = 0; il < m->hp.n_layer; il++) gt_cpu(s)->kv[il].count = n - gt_cpu(s)->kv[il].base;
    return GPTC_OK;
}

/* Same n_ctx and n_batch: every layer has the same capacity, so rows copy one to one. */
static gptc_status cpu_copy(gptc_session *dst, const gptc_session *src, gptc_error *err) {
    (void)err;
    gptc_model *m = src->model;
    const size_t row = kv_row(m);
    gt_cpu_model *cm = m->backend_data;
    pthread_mutex_lock(&cm->lock); /* src's caches are not written meanwhile */
    for (int il = 0; il < m->hp.n_layer; il++) {
        const gt_kv_layer *a = &gt_cpu(src)->kv[il];
        gt_kv_layer *b = &gt_cpu(dst)->kv[il];
        int count = src->n_past - a->base; /* rows an interrupted forward reserved are not kept */
        if (count < 0) count = 0;
        memcpy(b->k, a->k, (size_t)count * row * sizeof(float));
        memcpy(b->v, a->v, (size_t)count * row * sizeof(float));
        b->base = a->base;
        b->count = count;
    }
    memcpy(gt_cpu(dst)->logits, gt_cpu(src)->logits, (size_t)m->hp.n_vocab * sizeof(float));
    pthread_mutex_unlock(&cm->lock);
    return GPTC_OK;
}

static gptc_status cpu_residency(const gptc_model *m, gptc_residency *r, gptc_error *err) {
    (void)err;
    memset(r, 0, sizeof(*r));
    r->backend = GPTC_BACKEND_CPU;
    r->weight_bytes_total = m->weight_bytes;
    r->kv_bytes = atomic_load(&((gptc_model *)m)->kv_bytes);
    r->workspace_bytes = atomic_load(&((gptc_model *)m)->workspace_bytes);
    return GPTC_OK;
}

static const gt_backend_ops cpu_ops = {
    .name = "cpu",
    .model_init = cpu_model_init,
    .model_free = cpu_model_free,
    .session_init = cpu_session_init,
    .session_free = cpu_session_free,
    .forward = cpu_forward,
    .sample = cpu_sample,
    .logits = cpu_logits,
    .decode_multi = cpu_decode_multi,
    .truncate = cpu_truncate,
    .residency = cpu_residency,
    .copy = cpu_copy,
};

const gt_backend_ops *gt_cpu_backend(void) {
    return &cpu_ops;
}
