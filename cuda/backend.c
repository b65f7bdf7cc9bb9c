/* backend.c — the CUDA backend (engine/backend.h; internals in cuda/backend.h): weights uploaded
 * once into one device arena in their GGUF block formats (Q8_0 / MXFP4 split for 16-byte loads,
 * see gtc.h), the memory plan, KV caches (fp32, fp16 or Q8_0), sessions, the decode entry points
 * (a CUDA graph per single-token step, decode_multi) and sampling. The forward pass itself is the
 * architecture's (engine/arch.h forward_cuda: cuda/forward_<arch>.c). */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/backend.h"
#include "cuda/moe_mma.h"
#include "engine/arch.h"
#include "engine/memplan.h"
#include "engine/pool.h"

cu_knobs cu_knob = {4, 17, 128, -1, 0, -1, 0, 0, 0};

_Static_assert(sizeof(gtc_bias) == sizeof(gptc_logit_bias) &&
                   offsetof(gtc_bias, bias) == offsetof(gptc_logit_bias, bias),
               "gtc_bias must have gptc_logit_bias's layout");

static void read_knobs(void) {
    const char *v;
    if ((v = getenv("GPTC_CUDA_MMQ_MAX_T")) && atoi(v) >= 0) cu_knob.mmq_max_t = atoi(v);
    if ((v = getenv("GPTC_CUDA_GEMV_MAX_T")) && atoi(v) > 0) cu_knob.gemv_max_t = atoi(v);
    if ((v = getenv("GPTC_CUDA_MOE_GROUPED_MIN_T")) && atoi(v) > 0)
        cu_knob.moe_grouped_min_t = atoi(v);
    v = getenv("GPTC_CUDA_OFFLOAD_STREAM"); /* read at every load: unset means by cost again */
    cu_knob.offload_stream = v && *v ? (atoi(v) > 0) : -1;
    v = getenv("GPTC_CUDA_PREFILL_EXACT"); /* read at every load, as above */
    cu_knob.prefill_exact = v && atoi(v) > 0;
    v = getenv("GPTC_CUDA_MOE_MMQ_MAX_T");
    cu_knob.moe_mmq_max_t = v && *v && atoi(v) >= 0 ? atoi(v) : -1;
    v = getenv("GPTC_CUDA_GRAPH_BUCKETS");
    cu_knob.graph_buckets = v && atoi(v) > 0;
    v = getenv("GPTC_CUDA_MOE_MMA");
    cu_knob.moe_mma = v && atoi(v) > 0;
    v = getenv("GPTC_CUDA_GEMM_MEMSET");
    cu_knob.gemm_memset = v && atoi(v) > 0;
    (void)gtc_pdl_on(); /* GPTC_CUDA_PDL, kept by the kernel layer: read before any capture */
}

int gt_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

/* ---- weights ------------------------------------------------------------------------------- */
/* Every gt_weight of the model, for dedup of source tensors and the upload. */
static int collect_weights(gptc_model *m, gt_weight **out, int cap) {
    int n = 0;
#define W(x)                                                                                       \
    do {                                                                                           \
        if ((x).data && n < cap) out[n++] = &(x);                                                  \
    } while (0)
    W(m->tok_embd);
    W(m->pos_embd);
    W(m->output_norm);
    W(m->output_norm_b);
    W(m->output);
    for (int l = 0; l < m->hp.n_layer; l++) {
        gt_layer *L = &m->layers[l];
        W(L->attn_norm);
        W(L->attn_norm_b);
        W(L->wq);
        W(L->wk);
        W(L->wv);
        W(L->bq);
        W(L->bk);
        W(L->bv);
        W(L->wo);
        W(L->bo);
        W(L->sinks);
        W(L->ffn_norm);
        W(L->ffn_norm_b);
        W(L->router_w);
        W(L->router_b);
        W(L->gate_exps);
        W(L->up_exps);
        W(L->down_exps);
        W(L->gate_b);
        W(L->up_b);
        W(L->down_b);
        W(L->wqkv);
        W(L->bqkv);
        W(L->ffn_up);
        W(L->ffn_up_b);
        W(L->ffn_down);
        W(L->ffn_down_b);
    }
#undef W
    return n;
}

typedef struct src_ent {
    const gguf_tensor *src;
    size_t off;    /* in the arena */
    int exp_layer; /* the layer whose experts (matrices or biases) own it, else -1 */
} src_ent;

/* The layer whose expert weights (gate/up/down matrices and biases) include w, else -1. */
static int expert_layer(const gptc_model *m, const gt_weight *w) {
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gt_layer *L = &m->layers[l];
        if (w == &L->gate_exps || w == &L->up_exps || w == &L->down_exps || w == &L->gate_b ||
            w == &L->up_b || w == &L->down_b)
            return l;
    }
    return -1;
}

static int64_t tensor_rows(const gguf_tensor *t) {
    return t->ne[1] * t->ne[2] * t->ne[3];
}

static size_t find_src(const src_ent *v, int n, const gguf_tensor *t) {
    for (int i = 0; i < n; i++)
        if (v[i].src == t) return v[i].off;
    return (size_t)-1;
}

/* A view of w whose source tensor's device copy starts at base. */
static gtc_mat make_mat_at(const gt_weight *w, const uint8_t *base) {
    gtc_mat m;
    memset(&m, 0, sizeof m);
    if (!w->data) return m;
    m.type = w->type;
    m.split = gtc_type_split(w->type);
    m.base = base;
    m.n_cols = w->ne[0];
    m.n_rows = w->ne[1];
    m.src_rows = tensor_rows(w->src);
    m.row_bytes = w->row_bytes;
    m.row0 = (int64_t)(w->src_offset / w->row_bytes);
    m.expert_rows = (int64_t)(w->expert_stride / w->row_bytes);
    return m;
}

static gtc_mat make_mat(const cu_model *cm, const gt_weight *w, size_t off) {
    return make_mat_at(w, cm->arena + off);
}

static const float *dev_f32(const cu_model *cm, const gt_weight *w, const src_ent *v, int n) {
    if (!w->data) return NULL;
    return (const float *)(cm->arena + find_src(v, n, w->src) + w->src_offset);
}

/* cm->Lx[l]: layer l's views (cm->L[l]) with its experts' matrices and biases in the stream
 * buffer at base (cm->xl[l]'s layout); 0, or -1 when a source is not in that layout. */
int cu_layer_at(const gptc_model *m, cu_model *cm, int l, const uint8_t *base) {
    const gt_layer *L = &m->layers[l];
    const cu_xlayer *x = &cm->xl[l];
    cu_layer *C = &cm->Lx[l];
    *C = cm->L[l];
    C->host_moe = 0;
    const gt_weight *ws[6] = {&L->gate_exps, &L->up_exps, &L->down_exps,
                              &L->gate_b,    &L->up_b,    &L->down_b};
    const uint8_t *at[6] = {NULL};
    for (int i = 0; i < 6; i++) {
        if (!ws[i]->data) continue;
        int j = 0;
        while (j < x->n && x->t[j] != ws[i]->src) j++;
        if (j >= x->n) return -1;
        at[i] = base + x->off[j];
    }
    C->gate = make_mat_at(&L->gate_exps, at[0]);
    C->up = make_mat_at(&L->up_exps, at[1]);
    C->down = make_mat_at(&L->down_exps, at[2]);
    C->gate_b = at[3] ? (const float *)(at[3] + L->gate_b.src_offset) : NULL;
    C->up_b = at[4] ? (const float *)(at[4] + L->up_b.src_offset) : NULL;
    C->down_b = at[5] ? (const float *)(at[5] + L->down_b.src_offset) : NULL;
    return 0;
}

/* ---- memory plan ------------------------------------------------------------------------------
 */
/* KV cache rows of a sliding-window layer: a ring of window - 1 + B rows holds every key a batch
 * of up to B tokens sees (gtc_rope_store); the full-attention layers keep n_ctx rows. Rows are
 * n_head_kv * head_dim elements of the session's cache type (fp32, fp16 or Q8_0). */
static int kv_ring_rows(const gptc_model *m, int n_ctx, int B) {
    const int W = m->hp.sliding_window;
    if (W <= 0 || (long long)W - 1 + B >= n_ctx) return n_ctx;
    return W - 1 + B;
}

/* The cache element type of a gptc_cache_type (GTC_KV_*): f16 unless asked otherwise. */
static int kv_type_of(gptc_cache_type t) {
    return t == GPTC_CACHE_F32 ? GTC_KV_F32 : t == GPTC_CACHE_Q8_0 ? GTC_KV_Q8_0 : GTC_KV_F16;
}

/* bytes of the K and V caches of a session */
static size_t kv_bytes_for(const gptc_model *m, int n_ctx, int B, int kv_type) {
    cu_sess s;
    s.n_ctx = n_ctx;
    s.ring = kv_ring_rows(m, n_ctx, B);
    s.kv_type = kv_type;
    return 2 * cu_kv_layer_off(m, &s, m->hp.n_layer);
}

static size_t max_dense_elems(const gptc_model *m) {
    size_t mx = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gt_layer *L = &m->layers[l];
        const gt_weight *ws[] = {&L->wq,        &L->wk,      &L->wv,       &L->wo,
                                 &L->wqkv,      &L->ffn_up,  &L->ffn_down, &L->router_w,
                                 &L->gate_exps, &L->up_exps, &L->down_exps};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            if (ws[i]->data && (size_t)(ws[i]->ne[0] * ws[i]->ne[1]) > mx)
                mx = (size_t)(ws[i]->ne[0] * ws[i]->ne[1]);
    }
    for (int l = 0; l < m->hp.n_layer; l++) /* gate and up of one expert side by side */
        if (m->layers[l].gate_exps.data &&
            (size_t)(2 * m->layers[l].gate_exps.ne[0] * m->layers[l].gate_exps.ne[1]) > mx)
            mx = (size_t)(2 * m->layers[l].gate_exps.ne[0] * m->layers[l].gate_exps.ne[1]);
    size_t lm = (size_t)m->hp.n_embd * 4096; /* LM head chunk */
    return mx > lm ? mx : lm;
}

/* Elements of a session's fp16 dequantisation workspace: the largest dense matrix (or LM head
 * chunk) in hi + lo halves (exact path), and at least the gate and up of CU_MOE_DQ_EXPERTS
 * experts (the fast MoE prefill dequantises that many per launch). */
static size_t dq_elems(const gptc_model *m) {
    size_t n = 2 * max_dense_elems(m);
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gt_weight *g = &m->layers[l].gate_exps;
        size_t e = (size_t)CU_MOE_DQ_EXPERTS * 2 * (size_t)(g->ne[0] * g->ne[1]);
        if (g->data && e > n) n = e;
    }
    return n;
}

/* Lays out (or sizes, when base == NULL) the session buffers; returns the bytes. */
static size_t sess_layout(const gptc_model *m, const cu_model *cm, cu_sess *s, int B, int n_ctx,
                          int kv_type, int host_moe, uint8_t *base) {
    const gt_hparams *hp = &m->hp;
    const int ne = hp->n_embd, nq = hp->n_head * hp->head_dim, nkv = hp->n_head_kv * hp->head_dim;
    const int nff = hp->n_ff > 0 ? hp->n_ff : ne, k = hp->n_expert_used > 0 ? hp->n_expert_used : 1;
    const int E = hp->n_expert > 0 ? hp->n_expert : 1;
    int maxw = ne;
    if (nq > maxw) maxw = nq;
    if (nff > maxw) maxw = nff;
    const int qkv_w = nq + 2 * nkv;
    const int kmoe = B * k; /* decode-kernel MoE rows */
    size_t off = 0;
#define TAKE(ptr, type, count)                                                                     \
    do {                                                                                           \
        if (base) (ptr) = (type *)(base + off);                                                    \
        off += CU_ALIGN256(sizeof(type) * (size_t)(count));                                        \
    } while (0)
    cu_sess tmp;
    if (!s) s = &tmp;
    s->B = B;
    s->n_ctx = n_ctx;
    s->qkv_w = qkv_w;
    s->maxw = maxw;
    s->ring = kv_ring_rows(m, n_ctx, B);
    s->kv_type = kv_type;
    size_t kvh = cu_kv_layer_off(m, s, hp->n_layer);
    TAKE(s->kc, uint8_t, kvh);
    TAKE(s->vc, uint8_t, kvh);
    s->kv_bytes = off;
    TAKE(s->x, float, (size_t)B *ne);
    TAKE(s->qkv, float, (size_t)B *qkv_w);
    TAKE(s->attn, float, (size_t)B *nq);
    TAKE(s->ffn, float, (size_t)B *nff);
    gtc_act *acts[2] = {&s->a, &s->b};
    for (int i = 0; i < 2; i++) {
        acts[i]->n = maxw;
        TAKE(acts[i]->f, float, (size_t)B *maxw);
        TAKE(acts[i]->q, int16_t, (size_t)B * maxw);
        TAKE(acts[i]->qi, int16_t, (size_t)B * maxw);
        TAKE(acts[i]->s, float, (size_t)B *maxw / 32 + 1);
        TAKE(acts[i]->qsum, int, (size_t)B *maxw / 32 + 1);
        TAKE(acts[i]->h, uint16_t, (size_t)2 * B * maxw); /* split fp16: hi, lo */
    }
    s->hact.n = nff;
    TAKE(s->hact.f, float, (size_t)kmoe *nff);
    TAKE(s->hact.q, int16_t, (size_t)kmoe * nff);
    TAKE(s->hact.qi, int16_t, (size_t)kmoe * nff);
    TAKE(s->hact.s, float, (size_t)kmoe *nff / 32 + 1);
    TAKE(s->hact.qsum, int, (size_t)kmoe *nff / 32 + 1);
    s->hact.h = NULL;
    size_t pf = gtc_attn_part_floats(B, hp->n_head, n_ctx);
    size_t p1 = gtc_attn_part_floats(1, hp->n_head, n_ctx);
    TAKE(s->part, float, pf > p1 ? pf : p1);
    TAKE(s->logits, float, hp->n_vocab);
    TAKE(s->rlog, float, (size_t)B *E);
    TAKE(s->ids_exp, int32_t, (size_t)B * k);
    TAKE(s->wts, float, (size_t)B *k);
    TAKE(s->perm_tok, int32_t, (size_t)B * k);
    TAKE(s->grp, int32_t, 2 * (size_t)E + 1);
    TAKE(s->perm_w, float, (size_t)B *k);
    TAKE(s->ids_tok, int32_t, B);
    TAKE(s->tickets, unsigned, B);
    TAKE(s->attn_cnt, unsigned, gtc_attn_cnt_count(B, hp->n_head_kv));
    TAKE(s->pos, int32_t, 1);
    TAKE(s->sampled, int32_t, 1);
    s->tmp_elems = (size_t)2 * B * (qkv_w > maxw ? qkv_w : maxw); /* hi + lo products */
    if (s->tmp_elems < (size_t)4 * 4096) s->tmp_elems = 4 * 4096;
    TAKE(s->tmp, float, s->tmp_elems);
    if (B > 1 && hp->n_expert > 0) {
        /* [gate | up (| lo weights)], hi + lo x; tensor-core MoE: gate and up of B*k pairs */
        TAKE(s->g, float, (size_t)B *nff *(k > 4 ? 2 * k : 8));
        TAKE(s->y, float, (size_t)B *ne *(k > 4 ? k : 4)); /* or [B*k][ne] pair outputs */
        /* gathered x / SwiGLU out: hi + lo of one expert's rows (exact path), or the hi rows of
         * every (token, expert) pair of a layer (fast path) */
        const size_t xr = (size_t)B * (k > 2 ? k : 2);
        TAKE(s->xg16, uint16_t, xr * ne);
        TAKE(s->h16, uint16_t, xr * nff);
        TAKE(s->perm_exp, int32_t, (size_t)B * k);
        TAKE(s->perm_inv, int32_t, (size_t)B * k);
        TAKE(s->mtiles, int32_t, 2 * (size_t)GTC_MOE_MMA_MAX_TILES(B * k, E));
    }
    if (B > 1) TAKE(s->dq, uint16_t, cm ? cm->dq_elems : dq_elems(m));
    if (host_moe && hp->n_expert > 0) TAKE(s->moe_out, float, (size_t)B *ne); /* offload sums */
#undef TAKE
    s->ws_bytes = off - s->kv_bytes;
    return off;
}

/* ---- model init / free ------------------------------------------------------------------------
 */
/* Waits for the model's stream. With the expert offload the host thread sleeps on a blocking-sync
 * event (the CPU experts need the cores) instead of spinning in cudaStreamSynchronize; without it
 * this is cudaStreamSynchronize, as ever. */
static cudaError_t cu_sync(const cu_model *cm) {
    if (!cm->sync_ev) return cudaStreamSynchronize(cm->st);
    cudaError_t ce = cudaEventRecord(cm->sync_ev, cm->st);
    return ce != cudaSuccess ? ce : cudaEventSynchronize(cm->sync_ev);
}

static void cu_model_free(gptc_model *m) {
    cu_model *cm = (cu_model *)m->backend_data;
    if (!cm) return;
    cudaSetDevice(cm->dev);
    if (cm->blas) cm->bl->destroy(cm->blas);
    if (cm->sync_ev) cudaEventDestroy(cm->sync_ev);
    if (cm->st) cudaStreamDestroy(cm->st);
    cudaFree(cm->arena);
    cudaFree(cm->inv_freq);
    cudaFree(cm->mw.dev);
    cudaFreeHost(cm->mw.pin);
    free(cm->mw.h_grp);
    free(cm->mw.h_gid);
    free(cm->mw.h_done);
    atomic_fetch_sub_explicit(&m->workspace_bytes, cm->mw.bytes, memory_order_relaxed);
    free(cm->L);
    cu_xfer_free(m);
    free(cm->xl);
    free(cm->Lx);
    if (cm->n_cpu_moe > 0) { /* the expert offload's CPU threads */
        gt_pool_destroy(m->pool);
        m->pool = NULL;
    }
    free(cm);
    m->backend_data = NULL;
    gt_weight *ws[4096];
    int n = collect_weights(m, ws, 4096);
    for (int i = 0; i < n; i++) ws[i]->dev = NULL;
}

static gptc_status upload(cu_model *cm, const src_ent *srcs, int n_src, const gptc_model_params *p,
                          gptc_error *err) {
    const size_t CH = (size_t)64 << 20;
    void *pin[2] = {NULL, NULL};
    uint8_t *stage[2] = {NULL, NULL};
    cudaEvent_t ev[2] = {NULL, NULL};
    gptc_status st = GPTC_OK;
    uint64_t total = 0, done = 0;
    for (int i = 0; i < n_src; i++) total += srcs[i].src->n_bytes;
    for (int i = 0; i < 2; i++) {
        if (cudaHostAlloc(&pin[i], CH, cudaHostAllocDefault) != cudaSuccess ||
            cudaMalloc((void **)&stage[i], CH) != cudaSuccess ||
            cudaEventCreateWithFlags(&ev[i], cudaEventDisableTiming) != cudaSuccess) {
            st = gt_err(err, GPTC_ERR_DEVICE_NOMEM, "CUDA: cannot allocate upload buffers");
            goto out;
        }
    }
    {
        int buf = 0;
        for (int i = 0; i < n_src && st == GPTC_OK; i++) {
            const gguf_tensor *t = srcs[i].src;
            const int64_t rows = tensor_rows(t);
            const size_t rb = t->n_bytes / (size_t)(rows > 0 ? rows : 1);
            const int split = gtc_type_split(t->type);
            int64_t rows_per = rb ? (int64_t)(CH / rb) : 0;
            if (rows_per < 1) {
                st = gt_err(err, GPTC_ERR_UNSUPPORTED, "%.*s: row too large to upload",
                            (int)t->name.len, t->name.ptr);
                break;
            }
            for (int64_t r0 = 0; r0 < rows; r0 += rows_per) {
                int64_t nr = rows - r0 < rows_per ? rows - r0 : rows_per;
                size_t bytes = (size_t)nr * rb;
                if (cudaEventSynchronize(ev[buf]) != cudaSuccess) {
                    st = gt_err(err, GPTC_ERR_DEVICE, "CUDA: upload sync failed");
                    break;
                }
                memcpy(pin[buf], (const uint8_t *)t->data + (size_t)r0 * rb, bytes);
                uint8_t *dst = cm->arena + srcs[i].off;
                cudaError_t ce;
                if (split) {
                    ce = cudaMemcpyAsync(stage[buf], pin[buf], bytes, cudaMemcpyHostToDevice,
                                         cm->st);
                    if (ce == cudaSuccess &&
                        gtc_repack_split(t->type, stage[buf], dst, t->ne[0], rows, r0, nr,
                                         (gtc_stream)cm->st) != 0)
                        ce = cudaErrorUnknown;
                } else {
                    ce = cudaMemcpyAsync(dst + (size_t)r0 * rb, pin[buf], bytes,
                                         cudaMemcpyHostToDevice, cm->st);
                }
                if (ce == cudaSuccess) ce = cudaEventRecord(ev[buf], cm->st);
                if (ce != cudaSuccess) {
                    st = gt_err(err, GPTC_ERR_DEVICE, "CUDA: upload failed: %s",
                                cudaGetErrorString(ce));
                    break;
                }
                buf ^= 1;
                done += bytes;
                if (p && p->progress) p->progress(p->progress_user, done, total);
            }
        }
        if (st == GPTC_OK && cudaStreamSynchronize(cm->st) != cudaSuccess)
            st = gt_err(err, GPTC_ERR_DEVICE, "CUDA: upload failed");
    }
out:
    for (int i = 0; i < 2; i++) {
        if (ev[i]) cudaEventDestroy(ev[i]);
        if (pin[i]) cudaFreeHost(pin[i]);
        if (stage[i]) cudaFree(stage[i]);
    }
    return st;
}

static gptc_status cu_model_init(gptc_model *m, const gptc_model_params *p, gptc_error *err) {
    const gt_hparams *hp = &m->hp;
    int ndev = gt_cuda_device_count();
    int dev = p ? p->device : 0;
    if (ndev <= 0) return gt_err(err, GPTC_ERR_DEVICE, "no CUDA device available");
    if (dev < 0 || dev >= ndev)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "--device %d: only %d CUDA device(s)", dev, ndev);
    CU_TRYC(cudaSetDevice(dev));
    read_knobs();
    if (!m->adapter || !m->adapter->forward_cuda)
        return gt_err(err, GPTC_ERR_UNSUPPORTED, "CUDA backend: no GPU forward pass for '%s'",
                      m->arch_name);
    if (hp->head_dim > 64 || (hp->n_head_kv > 0 && hp->n_head % hp->n_head_kv) || hp->n_embd % 32 ||
        (hp->n_expert > 0 && (hp->n_ff % 32 || hp->n_expert > 256 || hp->n_expert_used > 8)))
        return gt_err(err, GPTC_ERR_UNSUPPORTED,
                      "CUDA backend: unsupported shape (head_dim %d, n_embd %d, n_ff %d, "
                      "experts %d/%d)",
                      hp->head_dim, hp->n_embd, hp->n_ff, hp->n_expert_used, hp->n_expert);

    gt_weight *ws[4096];
    int nw = collect_weights(m, ws, 4096);
    src_ent *srcs = (src_ent *)calloc((size_t)nw + 1, sizeof *srcs);
    if (!srcs) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    int n_src = 0;
    size_t w_all = 0; /* every source tensor on the device (no offload) */
    for (int i = 0; i < nw; i++) {
        if (!gtc_type_supported(ws[i]->type) || !ws[i]->src) {
            free(srcs);
            return gt_err(err, GPTC_ERR_UNSUPPORTED, "CUDA backend: %s: unsupported type %u",
                          ws[i]->name ? ws[i]->name : "?", ws[i]->type);
        }
        if (find_src(srcs, n_src, ws[i]->src) != (size_t)-1) continue;
        srcs[n_src].src = ws[i]->src;
        srcs[n_src].exp_layer = hp->n_expert > 0 ? expert_layer(m, ws[i]) : -1;
        w_all += CU_ALIGN256(ws[i]->src->n_bytes);
        n_src++;
    }
    /* host_at[N]: bytes of the expert weights of layers 0..N-1 (what --n-cpu-moe N keeps in host
     * memory) */
    uint64_t *host_at = (uint64_t *)calloc((size_t)hp->n_layer + 1, sizeof *host_at);
    if (!host_at) {
        free(srcs);
        return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_src; i++)
        if (srcs[i].exp_layer >= 0)
            host_at[srcs[i].exp_layer + 1] += CU_ALIGN256(srcs[i].src->n_bytes);
    for (int l = 0; l < hp->n_layer; l++) host_at[l + 1] += host_at[l];

    /* memory plan: weights + KV cache + workspace for the context the caller will use (one
     * session of n_batch 512 at n_ctx_hint, its sampler included: what cu_session_init then
     * allocates and checks against the budget). The reserve covers what is not planned: the
     * CUDA context's own use, cuBLAS's workspace, graphs, the upload staging. */
    int n_ctx =
        p && p->n_ctx_hint > 0 ? p->n_ctx_hint : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    int B = n_ctx < 512 ? n_ctx : 512; /* the session's default n_batch */
    const int kv_type = kv_type_of(p ? p->cache_type : GPTC_CACHE_DEFAULT);
    size_t kv = kv_bytes_for(m, n_ctx, B, kv_type);
    int n_sample = hp->n_vocab; /* the sampler's vocabulary, as gptc_session_new sets it */
    if (m->tok && gptc_tokenizer_n_vocab(m->tok) > 0 && gptc_tokenizer_n_vocab(m->tok) < n_sample)
        n_sample = (int)gptc_tokenizer_n_vocab(m->tok);
    const size_t smp = gtc_sample_ws_bytes(n_sample) +
                       CU_ALIGN256(sizeof(int32_t) * (size_t)n_ctx) +
                       sizeof(gtc_bias) * GPTC_LOGIT_BIAS_MAX; /* as cu_session_init */
    const size_t ws_dev = sess_layout(m, NULL, NULL, B, n_ctx, kv_type, 0, NULL) - kv + smp;
    const size_t ws_off = sess_layout(m, NULL, NULL, B, n_ctx, kv_type, 1, NULL) - kv + smp;
    size_t reserve = (size_t)320 << 20; /* cuBLAS workspace, graphs, upload staging */
    size_t fr = 0, tot = 0;
    CU_TRYC(cudaMemGetInfo(&fr, &tot));
    const uint64_t room = fr > reserve ? fr - reserve : 0; /* what the device can give */
    uint64_t budget = room;
    if (p && p->vram_budget && p->vram_budget < budget) budget = p->vram_budget;
    /* layers whose experts stay in host memory: --n-cpu-moe N (clamped to the layers, as
     * llama.cpp), or with --vram-budget the smallest N whose plan fits it */
    const int L_n = hp->n_layer;
    const int asked = p ? p->n_cpu_moe : GPTC_CPU_MOE_AUTO;
    if (asked < 0 && asked != GPTC_CPU_MOE_AUTO) {
        free(srcs);
        free(host_at);
        return gt_err(err, GPTC_ERR_INVALID_ARG, "n_cpu_moe %d: must be >= 0", asked);
    }
    /* the offloaded experts' threads: -t, else every core (the thread that waits for the GPU
     * sleeps on an event while the experts run: cu_sync) */
    const int moe_threads = p && p->n_threads > 0 ? p->n_threads : gt_n_cpus();
#define NEED(N) (w_all - host_at[N] + kv + ((N) > 0 ? ws_off : ws_dev))
    int n_cpu = 0, chosen = 0;
    if (hp->n_expert > 0 && asked != GPTC_CPU_MOE_AUTO) {
        n_cpu = asked < L_n ? asked : L_n;
    } else if (hp->n_expert > 0 && p && p->vram_budget) {
        while (n_cpu < L_n && NEED(n_cpu) > budget) n_cpu++;
        chosen = 1;
    }
    size_t wbytes = w_all - host_at[n_cpu], ws_b = n_cpu > 0 ? ws_off : ws_dev;
    size_t need = NEED(n_cpu);
#undef NEED
    if (p && p->verbose) { /* -v: the plan, as every backend prints it (engine/memplan.h) */
        char note[256], how[64];
        int o = 0;
        if (hp->n_expert > 0 && n_cpu > 0)
            o = snprintf(note, sizeof note,
                         "expert offload: the experts of %d of %d layers in host memory, run on %d "
                         "CPU threads%s",
                         n_cpu, L_n, moe_threads,
                         chosen ? ": the fewest that fit --vram-budget" : " (--n-cpu-moe)");
        else if (hp->n_expert > 0)
            o = snprintf(note, sizeof note, "expert offload: none, every expert on the GPU%s",
                         chosen ? " (they fit --vram-budget)" : "");
        else if (asked != GPTC_CPU_MOE_AUTO)
            o = snprintf(note, sizeof note, "--n-cpu-moe has no effect: %s has no experts",
                         m->arch_name);
        if (o < 0 || o >= (int)sizeof note) o = 0;
        snprintf(note + o, sizeof note - (size_t)o, "%sGPU free %.2f of %.2f GiB", o ? "; " : "",
                 fr / 1073741824.0, tot / 1073741824.0);
        snprintf(how, sizeof how, "experts of %d layer%s, %s the GGUF", n_cpu,
                 n_cpu == 1 ? "" : "s", p->no_mmap ? "read from" : "mapped from");
        gt_mem_plan plan = {
            .backend = "cuda",
            .weights_device = wbytes,
            .weights_host = host_at[n_cpu],
            .host_how = n_cpu > 0 ? how : NULL,
            .kv = kv,
            .kv_on_device = 1,
            .n_ctx = n_ctx,
            .n_seq = 1,
            .kv_type = gptc_cache_type_name(p->cache_type ? p->cache_type : GPTC_CACHE_F16),
            .workspace_device = ws_b,
            .workspace_host = n_cpu > 0 ? cu_offload_host_bytes(m, B) : 0,
            .budget = budget,
            .note = note,
        };
        gt_mem_plan_print(stderr, &plan);
    }
    if (need > budget) {
        long long fit = 0; /* largest context whose KV fits next to the weights (bisection) */
        if (budget > wbytes + ws_b) {
            long long lo = 0, hi = hp->n_ctx_train > n_ctx ? hp->n_ctx_train : n_ctx;
            while (lo < hi) {
                long long mid = (lo + hi + 1) / 2;
                if (kv_bytes_for(m, (int)mid, B, kv_type) <= budget - wbytes - ws_b)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            fit = lo;
        }
        free(srcs);
        free(host_at);
        if (chosen && p->vram_budget <= room) /* the budget binds, not the device */
            return gt_err(err, GPTC_ERR_DEVICE_NOMEM,
                          "--vram-budget %.2f GiB is too small even with every layer's experts "
                          "in host memory: that needs %.2f GiB (weights %.2f + KV %.2f for %d "
                          "tokens + workspace %.2f); the smallest budget that works is "
                          "--vram-budget %lluM; largest context that fits %.2f GiB: %lld%s",
                          p->vram_budget / 1073741824.0, need / 1073741824.0, wbytes / 1073741824.0,
                          kv / 1073741824.0, n_ctx, ws_b / 1073741824.0,
                          (unsigned long long)((need + ((uint64_t)1 << 20) - 1) >> 20),
                          p->vram_budget / 1073741824.0, fit,
                          fit < 1 ? " (none: the weights alone do not fit)" : "");
        return gt_err(err, GPTC_ERR_DEVICE_NOMEM,
                      "model does not fit the GPU: needs %.2f GiB (weights %.2f + KV %.2f for "
                      "%d tokens + workspace %.2f%s) but the budget is %.2f GiB (free %.2f GiB); "
                      "largest context that fits: %lld%s%s",
                      need / 1073741824.0, wbytes / 1073741824.0, kv / 1073741824.0, n_ctx,
                      ws_b / 1073741824.0,
                      n_cpu > 0 ? ", experts of some layers in host memory" : "",
                      budget / 1073741824.0, fr / 1073741824.0, fit,
                      fit < 1 ? " (none: the weights alone do not fit)" : "",
                      hp->n_expert > 0 && n_cpu < L_n
                          ? "; --n-cpu-moe N keeps the experts of N layers in host memory"
                          : "");
    }
    const uint64_t host_bytes = host_at[n_cpu];
    free(host_at);
    /* the offloaded layers' expert sources, laid out in the prefill stream buffer */
    cu_xlayer *xl = n_cpu > 0 ? (cu_xlayer *)calloc((size_t)n_cpu, sizeof *xl) : NULL;
    size_t x_bytes = 0;
    if (n_cpu > 0 && !xl) {
        free(srcs);
        return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_src; i++) {
        const int l = srcs[i].exp_layer;
        if (l < 0 || l >= n_cpu || xl[l].n < 0) continue;
        if (xl[l].n == CU_XL_MAX) {
            xl[l].n = -1; /* more sources than expected: this layer is not streamed */
            continue;
        }
        const size_t at =
            xl[l].n ? xl[l].off[xl[l].n - 1] + CU_ALIGN256(xl[l].t[xl[l].n - 1]->n_bytes) : 0;
        xl[l].t[xl[l].n] = srcs[i].src;
        xl[l].off[xl[l].n++] = at;
        if (at + CU_ALIGN256(srcs[i].src->n_bytes) > x_bytes)
            x_bytes = at + CU_ALIGN256(srcs[i].src->n_bytes);
    }
    /* arena offsets of the sources that go up */
    {
        size_t off = 0;
        int k = 0;
        for (int i = 0; i < n_src; i++) {
            if (srcs[i].exp_layer >= 0 && srcs[i].exp_layer < n_cpu) continue;
            srcs[k] = srcs[i];
            srcs[k++].off = off;
            off += CU_ALIGN256(srcs[i].src->n_bytes);
        }
        n_src = k;
    }
    const size_t dqe = dq_elems(m);
    cu_model *cm = (cu_model *)calloc(1, sizeof *cm);
    if (!cm) {
        free(srcs);
        free(xl);
        return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    }
    cm->dev = dev;
    cm->dq_elems = dqe;
    cm->dq_exact = 2 * max_dense_elems(m); /* hi + lo halves of split fp16 weights */
    cm->budget = p ? p->vram_budget : 0;
    cm->n_cpu_moe = n_cpu;
    cm->host_bytes = host_bytes;
    cm->xl = xl;
    cm->x_bytes = x_bytes;
    m->backend_data = cm;
    gptc_status st = GPTC_OK;
#define FAIL(s_)                                                                                   \
    do {                                                                                           \
        st = (s_);                                                                                 \
        goto fail;                                                                                 \
    } while (0)
    if (n_cpu > 0 && !(m->pool = gt_pool_create(moe_threads)))
        FAIL(gt_err(err, GPTC_ERR_NOMEM, "cannot start %d CPU threads for the experts",
                    moe_threads));
    if (cudaStreamCreateWithFlags(&cm->st, cudaStreamNonBlocking) != cudaSuccess)
        FAIL(gt_err(err, GPTC_ERR_DEVICE, "CUDA: cannot create a stream"));
    if (n_cpu > 0 &&
        cudaEventCreateWithFlags(&cm->sync_ev, cudaEventBlockingSync | cudaEventDisableTiming) !=
            cudaSuccess)
        FAIL(gt_err(err, GPTC_ERR_DEVICE, "CUDA: cannot create an event"));
    if (!(cm->bl = cu_blas(err))) FAIL(GPTC_ERR_DEVICE);
    if (cm->bl->create(&cm->blas) != CUBLAS_STATUS_SUCCESS)
        FAIL(gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: cannot create a handle"));
    if (cudaMalloc((void **)&cm->arena, wbytes ? wbytes : 256) != cudaSuccess) {
        cudaGetLastError();
        FAIL(gt_err(err, GPTC_ERR_DEVICE_NOMEM, "CUDA: cannot allocate %.2f GiB for the weights",
                    wbytes / 1073741824.0));
    }
    cm->arena_bytes = wbytes;
    const double t_up = gt_now_ms();
    st = upload(cm, srcs, n_src, p, err);
    if (st != GPTC_OK) goto fail;
    if (n_cpu > 0) { /* the load's rate, clamped: the first guess of the prefill streaming's */
        const double ms = gt_now_ms() - t_up;
        cm->h2d_Bps = ms > 0 ? wbytes / (ms * 1e-3) : 0;
        if (cm->h2d_Bps < 2e9) cm->h2d_Bps = 2e9;
        if (cm->h2d_Bps > 25e9) cm->h2d_Bps = 25e9;
    }
    if (n_cpu > 0) { /* fault the host experts in now (one read per page), not in the first
                      * tokens' forward passes */
        volatile unsigned char sink = 0;
        for (int l = 0; l < n_cpu; l++) {
            const gt_weight *e[] = {&m->layers[l].gate_exps, &m->layers[l].up_exps,
                                    &m->layers[l].down_exps};
            for (int i = 0; i < 3; i++) { /* whole source tensors (gate/up may share one) */
                if (!e[i]->src) continue;
                const unsigned char *d = (const unsigned char *)e[i]->src->data;
                for (uint64_t off = 0; d && off < e[i]->src->n_bytes; off += 4096) sink ^= d[off];
            }
        }
        (void)sink;
    }

    for (int i = 0; i < nw; i++) { /* host-memory experts keep dev = NULL */
        const size_t off = find_src(srcs, n_src, ws[i]->src);
        if (off != (size_t)-1) ws[i]->dev = cm->arena + off + ws[i]->src_offset;
    }
    cm->tok_embd = make_mat(cm, &m->tok_embd, find_src(srcs, n_src, m->tok_embd.src));
    cm->output = make_mat(cm, &m->output, find_src(srcs, n_src, m->output.src));
    cm->has_pos = m->pos_embd.data != NULL;
    if (cm->has_pos)
        cm->pos_embd = make_mat(cm, &m->pos_embd, find_src(srcs, n_src, m->pos_embd.src));
    cm->output_norm = dev_f32(cm, &m->output_norm, srcs, n_src);
    cm->output_norm_b = dev_f32(cm, &m->output_norm_b, srcs, n_src);
    cm->L = (cu_layer *)calloc((size_t)hp->n_layer, sizeof *cm->L);
    if (!cm->L) FAIL(gt_err(err, GPTC_ERR_NOMEM, "out of memory"));
    for (int l = 0; l < hp->n_layer; l++) {
        gt_layer *L = &m->layers[l];
        cu_layer *C = &cm->L[l];
        C->host_moe = l < n_cpu;
/* host-memory experts (C->host_moe) have no device copy: their views stay zero / NULL */
#define ON_DEV(w) (!C->host_moe || expert_layer(m, &L->w) != l)
#define MAT(f, w)                                                                                  \
    if (ON_DEV(w)) C->f = make_mat(cm, &L->w, L->w.data ? find_src(srcs, n_src, L->w.src) : 0)
#define VEC(f, w)                                                                                  \
    if (ON_DEV(w)) C->f = dev_f32(cm, &L->w, srcs, n_src)
        MAT(wq, wq);
        MAT(wk, wk);
        MAT(wv, wv);
        MAT(wo, wo);
        MAT(wqkv, wqkv);
        MAT(router, router_w);
        MAT(gate, gate_exps);
        MAT(up, up_exps);
        MAT(down, down_exps);
        MAT(ffn_up, ffn_up);
        MAT(ffn_down, ffn_down);
        VEC(attn_norm, attn_norm);
        VEC(attn_norm_b, attn_norm_b);
        VEC(bq, bq);
        VEC(bk, bk);
        VEC(bv, bv);
        VEC(bo, bo);
        VEC(bqkv, bqkv);
        VEC(sinks, sinks);
        VEC(ffn_norm, ffn_norm);
        VEC(ffn_norm_b, ffn_norm_b);
        VEC(router_b, router_b);
        VEC(gate_b, gate_b);
        VEC(up_b, up_b);
        VEC(down_b, down_b);
        VEC(ffn_up_b, ffn_up_b);
        VEC(ffn_down_b, ffn_down_b);
#undef MAT
#undef VEC
#undef ON_DEV
        C->gate_bs = L->gate_b.expert_stride / 4;
        C->up_bs = L->up_b.expert_stride / 4;
        C->down_bs = L->down_b.expert_stride / 4;
        if (L->gate_b.data && !C->gate_bs) C->gate_bs = hp->n_ff;
        if (L->up_b.data && !C->up_bs) C->up_bs = hp->n_ff;
        if (L->down_b.data && !C->down_bs) C->down_bs = hp->n_embd;
    }
    if (n_cpu > 0) { /* the views of the offloaded layers' experts in the stream buffer, whose
                      * device address is fixed when it is made (cu_stream_layer: xf->base) */
        cm->Lx = (cu_layer *)calloc((size_t)n_cpu, sizeof *cm->Lx);
        if (!cm->Lx) FAIL(gt_err(err, GPTC_ERR_NOMEM, "out of memory"));
    }
    if (m->rope_inv_freq) {
        int nh = hp->rope_dim / 2;
        if (cudaMalloc((void **)&cm->inv_freq, sizeof(float) * nh) != cudaSuccess ||
            cudaMemcpy(cm->inv_freq, m->rope_inv_freq, sizeof(float) * nh,
                       cudaMemcpyHostToDevice) != cudaSuccess)
            FAIL(gt_err(err, GPTC_ERR_DEVICE, "CUDA: cannot upload the RoPE table"));
        cm->mscale = m->rope_mscale > 0 ? m->rope_mscale : 1.f;
    }
    {
        struct cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
            snprintf(m->device_name, sizeof m->device_name, "%.127s", prop.name);
    }
    free(srcs);
    return GPTC_OK;
fail:
    free(srcs);
    cu_model_free(m);
    cudaGetLastError();
    return st;
#undef FAIL
}

/* ---- sessions ------------------------------------------------------------------------------- */
static void cu_session_free(gptc_session *s) {
    cu_sess *cs = (cu_sess *)s->backend_data;
    if (!cs) return;
    gptc_model *m = s->model;
    for (int b = 0; b < GTC_GRAPH_BUCKETS; b++)
        if (cs->graph[b]) cudaGraphExecDestroy(cs->graph[b]);
    cu_prof_free(cs->prof);
    cudaFree(cs->smp_ws);
    cudaFree(cs->d_hist);
    cudaFreeHost(cs->h_hist);
    cudaFree(cs->d_mask);
    cudaFreeHost(cs->h_mask);
    cudaFree(cs->d_masked);
    cudaFree(cs->blob);
    cudaFreeHost(cs->h_pin);
    cu_offload_free(cs);
    atomic_fetch_sub_explicit(&m->kv_bytes, cs->kv_bytes, memory_order_relaxed);
    atomic_fetch_sub_explicit(&m->workspace_bytes, cs->ws_bytes, memory_order_relaxed);
    free(cs);
    s->backend_data = NULL;
}

static gptc_status cu_session_init(gptc_session *s, gptc_error *err) {
    gptc_model *m = s->model;
    cu_model *cm = (cu_model *)m->backend_data;
    CU_TRYC(cudaSetDevice(cm->dev));
    cu_sess *cs = (cu_sess *)calloc(1, sizeof *cs);
    if (!cs) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    int B = s->n_batch > 0 ? s->n_batch : 512;
    const int kv_type = kv_type_of(s->params.cache_type);
    if (kv_type == GTC_KV_Q8_0 && (m->hp.n_head_kv * m->hp.head_dim) % 32) {
        free(cs);
        return gt_err(err, GPTC_ERR_UNSUPPORTED,
                      "cache type q8_0 needs n_head_kv * head_dim (%d) to be a multiple of 32",
                      m->hp.n_head_kv * m->hp.head_dim);
    }
    const int host = cm->n_cpu_moe > 0;
    size_t bytes = sess_layout(m, cm, NULL, B, s->n_ctx, kv_type, host, NULL);
    if (cm->budget) { /* --vram-budget holds for every session too, not only the load's plan */
        const uint64_t used = cm->arena_bytes + m->kv_bytes + m->workspace_bytes;
        const uint64_t more = bytes + gtc_sample_ws_bytes(s->sampler.n_vocab) +
                              CU_ALIGN256(sizeof(int32_t) * (size_t)s->n_ctx) +
                              sizeof(gtc_bias) * GPTC_LOGIT_BIAS_MAX; /* as allocated below */
        if (used + more > cm->budget) {
            free(cs);
            return gt_err(err, GPTC_ERR_DEVICE_NOMEM,
                          "a session of %d tokens needs %.2f GiB of device memory; with %.2f GiB "
                          "in use that is over the --vram-budget of %.2f GiB",
                          s->n_ctx, more / 1073741824.0, used / 1073741824.0,
                          cm->budget / 1073741824.0);
        }
    }
    if (cudaMalloc(&cs->blob, bytes) != cudaSuccess) {
        cudaGetLastError();
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        free(cs);
        return gt_err(err, GPTC_ERR_DEVICE_NOMEM,
                      "CUDA: cannot allocate %.2f GiB for the KV cache (%d tokens) and "
                      "workspace; %.2f GiB free",
                      bytes / 1073741824.0, s->n_ctx, fr / 1073741824.0);
    }
    sess_layout(m, cm, cs, B, s->n_ctx, kv_type, host, (uint8_t *)cs->blob);
    if (cudaMemset(cs->tickets, 0, sizeof(unsigned) * B) != cudaSuccess ||
        cudaMemset(cs->attn_cnt, 0, sizeof(unsigned) * gtc_attn_cnt_count(B, m->hp.n_head_kv)) !=
            cudaSuccess) {
        cudaFree(cs->blob);
        free(cs);
        return gt_err(err, GPTC_ERR_DEVICE, "CUDA: memset failed");
    }
    const int k = m->hp.n_expert_used > 0 ? m->hp.n_expert_used : 1;
    const size_t nk = (size_t)B * k;
    const size_t nmt = 2 * (size_t)GTC_MOE_MMA_MAX_TILES((int)nk, m->hp.n_expert);
    size_t hb = CU_ALIGN256(sizeof(int32_t) * (B + 1)) + 4 * CU_ALIGN256(sizeof(int32_t) * nk) +
                2 * CU_ALIGN256(sizeof(float) * nk) + CU_ALIGN256(sizeof(float) * m->hp.n_vocab) +
                CU_ALIGN256(sizeof(int32_t) * nmt);
    if (cudaHostAlloc((void **)&cs->h_pin, hb, cudaHostAllocDefault) != cudaSuccess) {
        cudaFree(cs->blob);
        free(cs);
        return gt_err(err, GPTC_ERR_NOMEM, "CUDA: cannot allocate pinned host buffers");
    }
    uint8_t *hp8 = (uint8_t *)cs->h_pin;
    cs->h_tok = (int32_t *)hp8;
    hp8 += CU_ALIGN256(sizeof(int32_t) * (B + 1));
    cs->h_ids = (int32_t *)hp8;
    hp8 += CU_ALIGN256(sizeof(int32_t) * nk);
    cs->h_perm = (int32_t *)hp8;
    hp8 += CU_ALIGN256(sizeof(int32_t) * nk);
    cs->h_pexp = (int32_t *)hp8;
    hp8 += CU_ALIGN256(sizeof(int32_t) * nk);
    cs->h_pinv = (int32_t *)hp8;
    hp8 += CU_ALIGN256(sizeof(int32_t) * nk);
    cs->h_wts = (float *)hp8;
    hp8 += CU_ALIGN256(sizeof(float) * nk);
    cs->h_permw = (float *)hp8;
    hp8 += CU_ALIGN256(sizeof(float) * nk);
    cs->h_logits = (float *)hp8;
    hp8 += CU_ALIGN256(sizeof(float) * m->hp.n_vocab);
    cs->h_mtiles = (int32_t *)hp8;
    /* the device sampler: its workspace and the penalty window */
    cs->smp_ws_bytes = gtc_sample_ws_bytes(s->sampler.n_vocab);
    const size_t hist_bytes = CU_ALIGN256(sizeof(int32_t) * (size_t)s->n_ctx);
    const size_t hb_bytes = hist_bytes + sizeof(gtc_bias) * GPTC_LOGIT_BIAS_MAX;
    if (cudaMalloc(&cs->smp_ws, cs->smp_ws_bytes) != cudaSuccess ||
        cudaMalloc((void **)&cs->d_hist, hb_bytes) != cudaSuccess ||
        cudaHostAlloc((void **)&cs->h_hist, hb_bytes, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        cudaFree(cs->smp_ws);
        cudaFree(cs->d_hist);
        cudaFree(cs->blob);
        cudaFreeHost(cs->h_pin);
        free(cs);
        return gt_err(err, GPTC_ERR_DEVICE_NOMEM, "CUDA: cannot allocate the sampler workspace");
    }
    cs->d_bias = (gtc_bias *)((uint8_t *)cs->d_hist + hist_bytes);
    cs->h_bias = (gtc_bias *)((uint8_t *)cs->h_hist + hist_bytes);
    cs->ws_bytes += cs->smp_ws_bytes + hb_bytes;
    gptc_status ost = cu_offload_init(m, cs, err); /* pinned buffers of the expert offload */
    if (ost != GPTC_OK) {
        cudaFree(cs->smp_ws);
        cudaFree(cs->d_hist);
        cudaFreeHost(cs->h_hist);
        cudaFree(cs->blob);
        cudaFreeHost(cs->h_pin);
        free(cs);
        return ost;
    }
    cs->prof = cu_prof_new();
    s->backend_data = cs;
    atomic_fetch_add_explicit(&m->kv_bytes, cs->kv_bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->workspace_bytes, cs->ws_bytes, memory_order_relaxed);
    return GPTC_OK;
}

/* The forward pass of T tokens (ids in F->ids, position in cs->pos): the architecture's own
 * (engine/arch.h forward_cuda). Leaves the last token's logits in cs->logits; logits_all
 * (host) gets every token's logits. */
static gptc_status forward_T(cu_fw *F, int T, float *logits_all, const gptc_session *s) {
    return F->m->adapter->forward_cuda(F, T, logits_all, s);
}

/* Learned absolute positions (GPT-2) end at the table's last row. */
static gptc_status check_positions(const gptc_model *m, const cu_model *cm, int end,
                                   gptc_error *err) {
    if (cm->has_pos && end > cm->pos_embd.n_rows)
        return gt_err(err, GPTC_ERR_CONTEXT_FULL, "%s has only %lld positions", m->arch_name,
                      (long long)cm->pos_embd.n_rows);
    return GPTC_OK;
}

static gptc_status cu_forward(gptc_session *s, const int32_t *ids, int n, float *logits_all,
                              gptc_error *err) {
    gptc_model *m = s->model;
    cu_model *cm = (cu_model *)m->backend_data;
    cu_sess *cs = (cu_sess *)s->backend_data;
    CU_TRYC(cudaSetDevice(cm->dev));
    cu_fw F = {m, cm, cs, cm->st, err, cs->prof, NULL, (int)s->n_past, cs->ids_tok, NULL, 0};
    int32_t pos = s->n_past;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->hp.n_vocab)
            return gt_err(err, GPTC_ERR_INVALID_ARG, "token id %d out of range", ids[i]);
    CU_TRY(check_positions(m, cm, s->n_past + n, err));
    /* pinned staging for ids + pos (h_ids is pinned, large enough for n_batch ints) */
    if (n > cs->B) return gt_err(err, GPTC_ERR_INVALID_ARG, "batch of %d > n_batch %d", n, cs->B);
    CU_TRYC(cudaStreamSynchronize(cm->st)); /* h_tok may still feed an earlier copy */
    memcpy(cs->h_tok, ids, sizeof(int32_t) * n);
    cs->h_tok[n] = pos;
    CU_TRYC(cudaMemcpyAsync(cs->ids_tok, cs->h_tok, sizeof(int32_t) * n, cudaMemcpyHostToDevice,
                            cm->st));
    CU_TRYC(
        cudaMemcpyAsync(cs->pos, cs->h_tok + n, sizeof(int32_t), cudaMemcpyHostToDevice, cm->st));
    gptc_status st;
    if (n == 1 && !logits_all) F.trace = cu_trace_open(s->n_past);
    if (F.trace) { /* debug trace: uncaptured, synchronous copies between the stages */
        st = forward_T(&F, n, logits_all, s);
        cu_trace_put(&F, "logits", -1, cs->logits, m->hp.n_vocab, 0);
        fclose(F.trace);
        if (st != GPTC_OK) return st;
    } else if (cs->prof) { /* profiling: uncaptured, events between kernels */
        cu_prof_mark(&F, "start");
        st = forward_T(&F, n, logits_all, s);
        cudaStreamSynchronize(cm->st);
        cu_prof_end(&F, n > 1);
        if (st != GPTC_OK) return st;
    } else if (n == 1 && !logits_all && !cs->swa_only) {
        /* one graph per context bucket (GPTC_CUDA_GRAPH_BUCKETS=1): the attention splits the
         * keys up to the bucket's end, not n_ctx's */
        const int b = cu_knob.graph_buckets ? gtc_graph_bucket(cs->n_ctx, pos, &F.max_pos) : 0;
        if (!cs->graph[b]) {
            cudaGraph_t g = NULL;
            CU_TRYC(cudaStreamBeginCapture(cm->st, cudaStreamCaptureModeThreadLocal));
            st = forward_T(&F, 1, NULL, NULL);
            cudaError_t ce = cudaStreamEndCapture(cm->st, &g);
            if (st != GPTC_OK) {
                if (g) cudaGraphDestroy(g);
                return st;
            }
            if (ce != cudaSuccess)
                return gt_err(err, GPTC_ERR_DEVICE, "CUDA: graph capture failed: %s",
                              cudaGetErrorString(ce));
            ce = cudaGraphInstantiate(&cs->graph[b], g, 0);
            cudaGraphDestroy(g);
            if (ce != cudaSuccess) {
                cs->graph[b] = NULL; /* captured again next step */
                return gt_err(err, GPTC_ERR_DEVICE, "CUDA: graph instantiate failed: %s",
                              cudaGetErrorString(ce));
            }
        }
        CU_TRYC(cudaGraphLaunch(cs->graph[b], cm->st));
    } else {
        if (cu_knob.graph_buckets) F.max_pos = pos + n - 1; /* uncaptured: the exact end */
        st = forward_T(&F, n, logits_all, s);
        if (st != GPTC_OK) {
            cudaStreamSynchronize(cm->st);
            cu_offload_check(cs, NULL);
            return st;
        }
    }
    CU_TRYC(cu_sync(cm));
    return cu_offload_check(cs, err); /* a host node's refusal (expert offload) */
}

/* Grows the decode_multi workspace to n tokens. */
static gptc_status multi_reserve(gptc_model *m, cu_model *cm, int n, gptc_error *err) {
    cu_multi *mw = &cm->mw;
    if (mw->cap >= n) return GPTC_OK;
    const gt_hparams *hp = &m->hp;
    int cap = mw->cap ? mw->cap : 8;
    while (cap < n) cap *= 2;
    const int k = hp->n_expert_used > 0 ? hp->n_expert_used : 1;
    const int E = hp->n_expert > 0 ? hp->n_expert : 1;
    const size_t hdr =
        CU_ALIGN256(sizeof(int32_t) * cap) * 2 + CU_ALIGN256(sizeof(void *) * cap) * 2;
    size_t bytes = hdr + CU_ALIGN256(sizeof(float) * (size_t)cap * hp->n_vocab);
    if (hp->n_expert > 0)
        bytes += CU_ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_embd) +
                 2 * CU_ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_ff) +
                 CU_ALIGN256(sizeof(int32_t) * (2 * (size_t)E + 1)) +
                 CU_ALIGN256(sizeof(int32_t) * (size_t)cap * k);
    CU_TRYC(cudaStreamSynchronize(cm->st));
    void *dev = NULL, *pin = NULL;
    if (cudaMalloc(&dev, bytes) != cudaSuccess) {
        cudaGetLastError();
        return gt_err(err, GPTC_ERR_DEVICE_NOMEM,
                      "CUDA: cannot allocate %.1f MiB for decoding %d sequences together",
                      bytes / 1048576.0, n);
    }
    if (cudaHostAlloc(&pin, hdr, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        cudaFree(dev);
        return gt_err(err, GPTC_ERR_NOMEM, "CUDA: cannot allocate pinned host buffers");
    }
    cudaFree(mw->dev);
    cudaFreeHost(mw->pin);
    atomic_fetch_sub_explicit(&m->workspace_bytes, mw->bytes, memory_order_relaxed);
    mw->cap = cap;
    mw->dev = dev;
    mw->pin = pin;
    mw->hdr_bytes = hdr;
    mw->bytes = bytes;
    uint8_t *b = (uint8_t *)dev;
    mw->ids = (int32_t *)b;
    b += CU_ALIGN256(sizeof(int32_t) * cap);
    mw->pos = (int32_t *)b;
    b += CU_ALIGN256(sizeof(int32_t) * cap);
    mw->kc = (void **)b;
    b += CU_ALIGN256(sizeof(void *) * cap);
    mw->vc = (void **)b;
    b += CU_ALIGN256(sizeof(void *) * cap);
    mw->logits = (float *)b;
    b += CU_ALIGN256(sizeof(float) * (size_t)cap * hp->n_vocab);
    if (hp->n_expert > 0) {
        mw->yk = (float *)b;
        b += CU_ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_embd);
        mw->g = (float *)b;
        b += CU_ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_ff);
        mw->u = (float *)b;
        b += CU_ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_ff);
        mw->grp = (int32_t *)b;
        b += CU_ALIGN256(sizeof(int32_t) * (2 * (size_t)E + 1));
        mw->list = (int32_t *)b;
    }
    atomic_fetch_add_explicit(&m->workspace_bytes, bytes, memory_order_relaxed);
    return GPTC_OK;
}

/* One token for each of n sessions in one forward pass: the weights are read once per step
 * for all of them (GEMV rows through every token, MoE grouped by expert); each token attends
 * over its own session's caches at its own position. The activations use the first session's
 * workspace, so the sessions of one pass share its cache layout (n_ctx, n_batch); others go in
 * further passes. */
static gptc_status multi_pass(gptc_session **ss, const int32_t *ids, int n, gptc_error *err) {
    gptc_model *m = ss[0]->model;
    cu_model *cm = (cu_model *)m->backend_data;
    cu_sess *c0 = (cu_sess *)ss[0]->backend_data;
    if (n == 1) return cu_forward(ss[0], ids, 1, NULL, err); /* the captured decode graph */
    CU_TRYC(cudaSetDevice(cm->dev));
    gptc_status st = multi_reserve(m, cm, n, err);
    if (st != GPTC_OK) return st;
    cu_multi *mw = &cm->mw;
    CU_TRYC(cudaStreamSynchronize(cm->st)); /* the pinned header may still feed an earlier copy */
    uint8_t *h = (uint8_t *)mw->pin;
    int32_t *hid = (int32_t *)h, *hpos = (int32_t *)(h + ((uint8_t *)mw->pos - (uint8_t *)mw->dev));
    void **hkc = (void **)(h + ((uint8_t *)mw->kc - (uint8_t *)mw->dev));
    void **hvc = (void **)(h + ((uint8_t *)mw->vc - (uint8_t *)mw->dev));
    for (int i = 0; i < n; i++) {
        const cu_sess *ci = (const cu_sess *)ss[i]->backend_data;
        hid[i] = ids[i];
        hpos[i] = ss[i]->n_past;
        hkc[i] = ci->kc;
        hvc[i] = ci->vc;
    }
    CU_TRYC(cudaMemcpyAsync(mw->dev, mw->pin, mw->hdr_bytes, cudaMemcpyHostToDevice, cm->st));
    gtc_seqs sq = {mw->pos, (void *const *)mw->kc, (void *const *)mw->vc, 0};
    cu_fw F = {m, cm, c0, cm->st, err, c0->prof, NULL, (int)ss[0]->n_past, mw->ids, &sq, 0};
    cu_prof_mark(&F, "start");
    st = forward_T(&F, n, NULL, NULL);
    if (c0->prof) {
        cudaStreamSynchronize(cm->st);
        cu_prof_end(&F, 2);
    }
    if (st == GPTC_OK)
        for (int i = 0; i < n; i++) {
            cu_sess *ci = (cu_sess *)ss[i]->backend_data;
            if (cudaMemcpyAsync(ci->logits, mw->logits + (size_t)i * m->hp.n_vocab,
                                sizeof(float) * m->hp.n_vocab, cudaMemcpyDeviceToDevice,
                                cm->st) != cudaSuccess) {
                st = gt_err(err, GPTC_ERR_DEVICE, "CUDA: logits copy failed: %s",
                            cudaGetErrorString(cudaGetLastError()));
                break;
            }
        }
    cudaError_t ce = cu_sync(cm);
    if (st == GPTC_OK && ce != cudaSuccess)
        st = gt_err(err, GPTC_ERR_DEVICE, "CUDA: decode_multi: %s", cudaGetErrorString(ce));
    gptc_status ost = cu_offload_check(c0, st == GPTC_OK ? err : NULL);
    return st != GPTC_OK ? st : ost;
}

static gptc_status cu_decode_multi(gptc_session **ss, const int32_t *ids, int n, gptc_error *err) {
    if (n <= 0) return GPTC_OK;
    gptc_model *m = ss[0]->model;
    for (int i = 0; i < n; i++)
        CU_TRY(check_positions(m, (const cu_model *)m->backend_data, ss[i]->n_past + 1, err));
    cu_multi *mw = &((cu_model *)m->backend_data)->mw;
    if (n > mw->h_cap) {
        const size_t nn = (size_t)(unsigned)n;
        gptc_session **g = (gptc_session **)realloc(mw->h_grp, sizeof *g * nn);
        if (g) mw->h_grp = g;
        int32_t *gi = (int32_t *)realloc(mw->h_gid, sizeof *gi * nn);
        if (gi) mw->h_gid = gi;
        unsigned char *d = (unsigned char *)realloc(mw->h_done, nn);
        if (d) mw->h_done = d;
        if (!g || !gi || !d) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
        mw->h_cap = n;
    }
    gptc_session **grp = mw->h_grp;
    int32_t *gid = mw->h_gid;
    unsigned char *done = mw->h_done;
    memset(done, 0, (size_t)(unsigned)n);
    gptc_status st = GPTC_OK;
    for (int i = 0; i < n && st == GPTC_OK; i++) {
        if (done[i]) continue;
        const cu_sess *c0 = (const cu_sess *)ss[i]->backend_data;
        int g = 0;
        for (int j = i; j < n && g < c0->B; j++) {
            const cu_sess *cj = (const cu_sess *)ss[j]->backend_data;
            if (done[j] || cj->n_ctx != c0->n_ctx || cj->B != c0->B || cj->ring != c0->ring ||
                cj->kv_type != c0->kv_type || cj->swa_only)
                continue;
            done[j] = 1;
            grp[g] = ss[j];
            gid[g++] = ids[j];
        }
        st = multi_pass(grp, gid, g, err);
    }
    return st;
}

static gptc_status cu_logits(gptc_session *s, float *out, gptc_error *err) {
    cu_sess *cs = (cu_sess *)s->backend_data;
    CU_TRYC(
        cudaMemcpy(out, cs->logits, sizeof(float) * s->model->hp.n_vocab, cudaMemcpyDeviceToHost));
    return GPTC_OK;
}

static gptc_status cu_sample(gptc_session *s, int32_t *id, gptc_error *err) {
    gptc_model *m = s->model;
    cu_model *cm = (cu_model *)m->backend_data;
    cu_sess *cs = (cu_sess *)s->backend_data;
    const gptc_sampler_params *p = &s->sampler.p;
    const float *logits = cs->logits;
    if (s->sampler.allowed) {
        /* the constraint: 4 bytes per 32 tokens go up; the sampler reads a masked copy (refused
         * logits -inf), the logits themselves stay for logits() / log-probabilities */
        const size_t mb = sizeof(uint32_t) * (size_t)((s->sampler.n_vocab + 31) / 32);
        if (!cs->d_mask) {
            if (cudaMalloc((void **)&cs->d_mask, mb) != cudaSuccess ||
                cudaMalloc((void **)&cs->d_masked, sizeof(float) * (size_t)s->sampler.n_vocab) !=
                    cudaSuccess ||
                cudaHostAlloc((void **)&cs->h_mask, mb, cudaHostAllocDefault) != cudaSuccess) {
                cudaGetLastError();
                cudaFree(cs->d_mask);
                cudaFree(cs->d_masked);
                cs->d_mask = NULL;
                cs->d_masked = NULL;
                cs->h_mask = NULL;
                return gt_err(err, GPTC_ERR_DEVICE_NOMEM, "CUDA: cannot allocate the token mask");
            }
        }
        CU_TRYC(cudaStreamSynchronize(cm->st)); /* h_mask may still feed the previous copy */
        memcpy(cs->h_mask, s->sampler.allowed, mb);
        CU_TRYC(cudaMemcpyAsync(cs->d_mask, cs->h_mask, mb, cudaMemcpyHostToDevice, cm->st));
        if (gtc_apply_mask(cs->logits, cs->d_masked, s->sampler.n_vocab, cs->d_mask,
                           (gtc_stream)cm->st) != 0)
            return gt_err(err, GPTC_ERR_DEVICE, "CUDA: mask: %s", gtc_sample_last_error());
        logits = cs->d_masked;
    }
    int greedy = p->temperature <= 0.f && p->repeat_penalty == 1.f && p->presence_penalty == 0.f &&
                 p->frequency_penalty == 0.f && s->sampler.n_bias == 0;
    if (greedy) {
        /* over the ids the sampler may pick (the tokenizer's vocabulary), not padding rows */
        CU_TRYK(gtc_argmax(logits, s->sampler.n_vocab, cs->sampled, (gtc_stream)cm->st), "argmax");
        CU_TRYC(cudaMemcpyAsync(cs->h_tok, cs->sampled, sizeof(int32_t), cudaMemcpyDeviceToHost,
                                cm->st));
        CU_TRYC(cudaStreamSynchronize(cm->st));
        *id = cs->h_tok[0];
        return GPTC_OK;
    }
    /* on the device (cuda/sample.cu, the twin of gt_sampler_sample): the host keeps the RNG
     * and sends the one uniform of this draw; the penalty window goes up; one id comes back */
    const double u = gt_sampler_draw_u(&s->sampler);
    gtc_sample_params q = {p->temperature,
                           p->top_k,
                           p->top_p,
                           p->min_p,
                           p->repeat_penalty,
                           p->presence_penalty,
                           p->frequency_penalty,
                           p->penalty_last_n,
                           s->sampler.pen_cap,
                           cs->d_bias,
                           s->sampler.n_bias};
    const int w = gt_sampler_penalty_window(&s->sampler, s->n_past); /* only those tokens cross */
    CU_TRYC(cudaStreamSynchronize(cm->st)); /* h_hist / h_tok may still feed an earlier copy */
    if (s->sampler.n_bias > 0) {            /* the same layout (gtc_bias = gptc_logit_bias) */
        memcpy(cs->h_bias, s->sampler.bias, sizeof(gtc_bias) * (size_t)s->sampler.n_bias);
        CU_TRYC(cudaMemcpyAsync(cs->d_bias, cs->h_bias,
                                sizeof(gtc_bias) * (size_t)s->sampler.n_bias,
                                cudaMemcpyHostToDevice, cm->st));
    }
    if (w > 0) {
        memcpy(cs->h_hist, s->history + s->n_past - w, sizeof(int32_t) * (size_t)w);
        CU_TRYC(cudaMemcpyAsync(cs->d_hist, cs->h_hist, sizeof(int32_t) * (size_t)w,
                                cudaMemcpyHostToDevice, cm->st));
    }
    if (gtc_sample(logits, s->sampler.n_vocab, &q, cs->d_hist, w, u, cs->smp_ws, cs->smp_ws_bytes,
                   cs->sampled, (gtc_stream)cm->st) != 0)
        return gt_err(err, GPTC_ERR_DEVICE, "CUDA: sample: %s", gtc_sample_last_error());
    CU_TRYC(
        cudaMemcpyAsync(cs->h_tok, cs->sampled, sizeof(int32_t), cudaMemcpyDeviceToHost, cm->st));
    CU_TRYC(cudaStreamSynchronize(cm->st));
    *id = cs->h_tok[0];
    return GPTC_OK;
}

/* Full-length caches: rows >= n are simply overwritten by the next feed. A sliding-window ring
 * (ring rows) still holds the last W - 1 positions before n when the rewind is at most
 * ring - (W - 1) = n_batch tokens; a longer rewind rebuilds the window layers by running positions
 * start..n-1 again (from the session history) with only the window layers storing K/V: the k-th
 * window layer's rows are exact from start + k (W - 1) on (the CPU backend's argument), so
 * start = n - n_swa (W - 1) makes the last W - 1 rows of every window layer exact. */
static gptc_status cu_truncate(gptc_session *s, int n, gptc_error *err) {
    gptc_model *m = s->model;
    cu_sess *cs = (cu_sess *)s->backend_data;
    const int W = m->hp.sliding_window;
    if (cs->ring >= cs->n_ctx || W <= 0) return GPTC_OK;
    const int need = n - (W - 1) > 0 ? n - (W - 1) : 0; /* oldest position the new end sees */
    if (need >= s->n_past - cs->ring) return GPTC_OK;   /* still in the ring */
    int n_swa = 0;
    for (int l = 0; l < m->hp.n_layer; l++) n_swa += m->layers[l].is_swa;
    long long st0 = (long long)n - (long long)n_swa * (W - 1);
    const int start = st0 < 0 ? 0 : (int)st0;
    gptc_status st = GPTC_OK;
    cs->swa_only = 1;
    s->n_past = start;
    while (s->n_past < n && st == GPTC_OK) {
        int c = n - s->n_past < cs->B ? n - s->n_past : cs->B;
        st = cu_forward(s, s->history + s->n_past, c, NULL, err);
        if (st == GPTC_OK) s->n_past += c;
    }
    cs->swa_only = 0;
    if (st != GPTC_OK) s->n_past = 0; /* window rows half rebuilt: drop the whole context */
    return st;
}

/* The generic layer checked that both sessions have the same n_ctx, n_batch and cache type, so
 * their layouts match (sess_layout): the K and V caches are one block of kv_bytes at kc (every
 * layer's rows, ring or full, at the same offsets), and the last logits n_vocab floats. Device to
 * device on the model's stream; the positions and token ids of the next forward are written by
 * that forward, so nothing else carries over. */
static gptc_status cu_copy(gptc_session *dst, const gptc_session *src, gptc_error *err) {
    cu_model *cm = (cu_model *)src->model->backend_data;
    cu_sess *a = (cu_sess *)src->backend_data, *b = (cu_sess *)dst->backend_data;
    if (a->kv_bytes != b->kv_bytes || a->B != b->B || a->ring != b->ring)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_copy: cache layouts differ");
    CU_TRYC(cudaSetDevice(cm->dev));
    CU_TRYC(cudaMemcpyAsync(b->kc, a->kc, a->kv_bytes, cudaMemcpyDeviceToDevice, cm->st));
    CU_TRYC(cudaMemcpyAsync(b->logits, a->logits, sizeof(float) * (size_t)src->model->hp.n_vocab,
                            cudaMemcpyDeviceToDevice, cm->st));
    CU_TRYC(cudaStreamSynchronize(cm->st));
    return GPTC_OK;
}

static gptc_status cu_residency(const gptc_model *m, gptc_residency *r, gptc_error *err) {
    const cu_model *cm = (const cu_model *)m->backend_data;
    memset(r, 0, sizeof *r);
    r->backend = GPTC_BACKEND_CUDA;
    r->weight_bytes_total = m->weight_bytes;
    r->weight_bytes_device = cm ? cm->arena_bytes : 0;
    r->all_weights_resident = cm != NULL && cm->n_cpu_moe == 0;
    r->n_cpu_moe = cm ? cm->n_cpu_moe : 0;
    r->weight_bytes_host = cm ? cm->host_bytes : 0;
    r->kv_bytes = m->kv_bytes;
    r->workspace_bytes = m->workspace_bytes;
    if (cm) {
        size_t fr = 0, tot = 0;
        CU_TRYC(cudaSetDevice(cm->dev));
        CU_TRYC(cudaMemGetInfo(&fr, &tot));
        r->device_free = fr;
        r->device_total = tot;
    }
    return GPTC_OK;
}

static const gt_backend_ops cuda_ops = {
    .name = "cuda",
    .model_init = cu_model_init,
    .model_free = cu_model_free,
    .session_init = cu_session_init,
    .session_free = cu_session_free,
    .forward = cu_forward,
    .sample = cu_sample,
    .logits = cu_logits,
    .decode_multi = cu_decode_multi,
    .truncate = cu_truncate,
    .residency = cu_residency,
    .copy = cu_copy,
};

const gt_backend_ops *gt_cuda_backend(void) {
    return &cuda_ops;
}
