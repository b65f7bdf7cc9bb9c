/* backend.cu — the CUDA backend (engine/backend.h): weights uploaded once into one device arena
 * in their GGUF block formats (Q8_0 / MXFP4 split for 16-byte loads, see gtc.h), fp32 KV caches,
 * and the forward passes of gpt-oss and GPT-2 built from the kernels of kernels.cu.
 *
 *   decode (1 token)   : GEMV kernels (dp2a on int16 activations), MoE on the device (router,
 *                        top-k, fused gate/up + clamped SwiGLU, down + weighted sum into x),
 *                        flash-decoding attention; the whole step is one CUDA graph replayed per
 *                        token (token id and position live in device memory).
 *   prefill (n tokens) : weights dequantised to f16 tiles + cuBLAS GEMMs (tensor cores, fp32
 *                        accumulate); MoE grouped by expert (one host sync per layer for the
 *                        routing counts); attention over the prompt by the same kernel.
 *                        Batches of 2..mmq_max_t tokens: the int8 tensor-core kernels below.
 *   decode_multi       : one token of each of N sessions in one forward (cu_decode_multi):
 *                        per-token positions and K/V caches, Q8_0 / MXFP4 products on int8
 *                        tensor cores (gtc_mmq), MoE grouped by expert on the device.
 *   sampling           : on the device (cuda/sample.cu); one int crosses per token.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The engine headers are C11; these shims let C++ read the same structs (same layout). */
#define _Atomic volatile
typedef volatile int atomic_int;
#define atomic_load_explicit(p, o) (*(p))
#define memory_order_relaxed 0
extern "C" {
#include "engine/backend.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/session.h"
}
#undef _Atomic

#include "cuda/gtc.h"

#define ALIGN256(x) (((x) + 255) & ~(size_t)255)
static_assert(sizeof(gtc_bias) == sizeof(gptc_logit_bias) &&
                  offsetof(gtc_bias, bias) == offsetof(gptc_logit_bias, bias),
              "gtc_bias must have gptc_logit_bias's layout");

/* ---- per-model device state ------------------------------------------------------------- */
typedef struct cu_layer {
    gtc_mat wq, wk, wv, wo, wqkv, router, gate, up, down, ffn_up, ffn_down;
    const float *attn_norm, *attn_norm_b, *bq, *bk, *bv, *bo, *bqkv, *sinks, *ffn_norm,
        *ffn_norm_b, *router_b, *gate_b, *up_b, *down_b, *ffn_up_b, *ffn_down_b;
    int64_t gate_bs, up_bs, down_bs; /* bias strides (floats) between experts */
} cu_layer;

/* Workspace of gptc_decode_multi (several sessions, one token each), grown on demand; the
 * other activations live in the first session's workspace. hdr = ids, positions and the
 * sessions' cache pointers, filled in pinned memory and sent in one copy. */
typedef struct cu_multi {
    int cap;
    void *dev, *pin;
    size_t hdr_bytes, bytes;
    int32_t *ids, *pos; /* [cap] */
    float **kc, **vc;   /* [cap] */
    float *logits;      /* [cap][n_vocab] */
    float *yk;          /* [cap * k][n_embd] */
    float *g, *u;       /* [cap * k][n_ff] gate / up products */
    int32_t *grp, *list;
    /* host scratch of cu_decode_multi's grouping (grown, never shrunk) */
    gptc_session **h_grp;
    int32_t *h_gid;
    unsigned char *h_done;
    int h_cap;
} cu_multi;

typedef struct cu_model {
    int dev;
    cudaStream_t st;
    cublasHandle_t blas;
    uint8_t *arena;
    size_t arena_bytes;
    gtc_mat tok_embd, pos_embd, output;
    int has_pos;
    const float *output_norm, *output_norm_b;
    cu_layer *L;
    float *inv_freq;
    float mscale;
    size_t dq_elems; /* f16 dequant workspace elements per session */
    cu_multi mw;
} cu_model;

typedef struct cu_sess {
    int B, n_ctx, qkv_w, maxw;
    int ring;       /* rows of a sliding-window layer's cache (n_ctx: no ring) */
    int swa_only;   /* truncate's rebuild: store K/V of the window layers only */
    float *kc, *vc; /* fp32 caches, layer after layer: [n_ctx or ring][n_kv][hd] (kv_layer_off) */
    size_t kv_bytes, ws_bytes;
    float *x, *qkv, *attn, *ffn, *tmp, *logits, *part, *rlog, *wts, *g, *y;
    gtc_act a, b, hact;
    int32_t *ids_tok, *ids_exp, *perm_tok, *pos, *sampled, *grp;
    unsigned *tickets; /* router top-k: per-token block counters (kept zero between calls) */
    float *perm_w;
    uint16_t *dq, *xg16, *h16;
    size_t tmp_elems;
    void *h_pin; /* pinned host staging */
    int32_t *h_tok, *h_ids, *h_perm;
    float *h_wts, *h_permw, *h_logits;
    void *smp_ws; /* gtc_sample workspace (its own cudaMalloc) */
    size_t smp_ws_bytes;
    int32_t *d_hist, *h_hist; /* [n_ctx] penalty window: device copy, pinned staging */
    gtc_bias *d_bias, *h_bias; /* [GPTC_LOGIT_BIAS_MAX] logit biases (after the window) */
    cudaGraphExec_t graph;
    int graph_ok;
    struct cu_prof *prof;
    void *blob; /* one cudaMalloc for everything above */
} cu_sess;

static gptc_status cerr(gptc_error *err, const char *what)
{
    return gt_err(err, GPTC_ERR_DEVICE, "CUDA: %s: %s", what, gtc_last_error());
}
#define TRYK(call, what)                                                                        \
    do {                                                                                        \
        if ((call) != 0) return cerr(err, what);                                                \
    } while (0)
#define TRYC(call)                                                                              \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess)                                                                  \
            return gt_err(err, GPTC_ERR_DEVICE, "CUDA: %s: %s", #call, cudaGetErrorString(e_)); \
    } while (0)

/* Batches of at most gemv_max_t tokens use the GEMV kernels (one weight pass per token);
 * larger ones the dequantise + cuBLAS path. MoE batches of at least moe_grouped_min_t tokens
 * are grouped by expert (cuBLAS), smaller ones use the decode kernels. Batches of 2..mmq_max_t
 * tokens (and every gptc_decode_multi step) use the int8 tensor-core kernels (gtc_mmq) for
 * Q8_0 / MXFP4 weights instead, MoE grouped by expert on the device. Debug/tuning knobs:
 * GPTC_CUDA_GEMV_MAX_T, GPTC_CUDA_MOE_GROUPED_MIN_T, GPTC_CUDA_MMQ_MAX_T. */
static int gemv_max_t = 4, moe_grouped_min_t = 17, mmq_max_t = 128;
static void read_knobs(void)
{
    const char *v;
    if ((v = getenv("GPTC_CUDA_MMQ_MAX_T")) && atoi(v) >= 0) mmq_max_t = atoi(v);
    if ((v = getenv("GPTC_CUDA_GEMV_MAX_T")) && atoi(v) > 0) gemv_max_t = atoi(v);
    if ((v = getenv("GPTC_CUDA_MOE_GROUPED_MIN_T")) && atoi(v) > 0) moe_grouped_min_t = atoi(v);
}

/* ---- profiler (GPTC_CUDA_PROFILE=1): events between the kernels of each forward, summed per
 * kernel class; decode runs uncaptured then. Printed to stderr when the session is freed. ----- */
#define PROF_MAX 16384
#define PROF_CLS 48
typedef struct cu_prof {
    cudaEvent_t ev[PROF_MAX];
    const char *nm[PROF_MAX];
    int n;
    const char *cls[3][PROF_CLS]; /* modes: decode, prefill, decode_multi */
    double ms[3][PROF_CLS];
    long cnt[3][PROF_CLS];
    int ncls[3], n_fw[3];
    double fw_ms[3];
} cu_prof;

static cu_prof *prof_new(void)
{
    const char *v = getenv("GPTC_CUDA_PROFILE");
    if (!v || !*v || *v == '0') return NULL;
    cu_prof *p = (cu_prof *)calloc(1, sizeof *p);
    if (!p) return NULL;
    for (int i = 0; i < PROF_MAX; i++)
        if (cudaEventCreate(&p->ev[i]) != cudaSuccess) {
            for (int j = 0; j < i; j++) cudaEventDestroy(p->ev[j]);
            free(p);
            return NULL;
        }
    return p;
}

static void prof_free(cu_prof *p)
{
    if (!p) return;
    static const char *const mode_name[3] = {"decode", "prefill", "decode_multi"};
    for (int m = 0; m < 3; m++) {
        if (!p->n_fw[m]) continue;
        fprintf(stderr, "cuda profile: %s: %d forwards, %.3f ms each\n", mode_name[m],
                p->n_fw[m], p->fw_ms[m] / p->n_fw[m]);
        for (int c = 0; c < p->ncls[m]; c++)
            fprintf(stderr, "  %-16s %9.3f ms %5.1f%% %7.1f launches/forward\n", p->cls[m][c],
                    p->ms[m][c] / p->n_fw[m], 100.0 * p->ms[m][c] / p->fw_ms[m],
                    (double)p->cnt[m][c] / p->n_fw[m]);
    }
    for (int i = 0; i < PROF_MAX; i++) cudaEventDestroy(p->ev[i]);
    free(p);
}

extern "C" int gt_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

/* ---- weights ------------------------------------------------------------------------------- */
/* Every gt_weight of the model, for dedup of source tensors and the upload. */
static int collect_weights(gptc_model *m, gt_weight **out, int cap)
{
    int n = 0;
#define W(x)                                                                                    \
    do {                                                                                        \
        if ((x).data && n < cap) out[n++] = &(x);                                               \
    } while (0)
    W(m->tok_embd);
    W(m->pos_embd);
    W(m->output_norm);
    W(m->output_norm_b);
    W(m->output);
    for (int l = 0; l < m->hp.n_layer; l++) {
        gt_layer *L = &m->layers[l];
        W(L->attn_norm); W(L->attn_norm_b); W(L->wq); W(L->wk); W(L->wv); W(L->bq); W(L->bk);
        W(L->bv); W(L->wo); W(L->bo); W(L->sinks); W(L->ffn_norm); W(L->ffn_norm_b);
        W(L->router_w); W(L->router_b); W(L->gate_exps); W(L->up_exps); W(L->down_exps);
        W(L->gate_b); W(L->up_b); W(L->down_b); W(L->wqkv); W(L->bqkv); W(L->ffn_up);
        W(L->ffn_up_b); W(L->ffn_down); W(L->ffn_down_b);
    }
#undef W
    return n;
}

typedef struct src_ent {
    const gguf_tensor *src;
    size_t off; /* in the arena */
} src_ent;

static int64_t tensor_rows(const gguf_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

static size_t find_src(const src_ent *v, int n, const gguf_tensor *t)
{
    for (int i = 0; i < n; i++)
        if (v[i].src == t) return v[i].off;
    return (size_t)-1;
}

static gtc_mat make_mat(const cu_model *cm, const gt_weight *w, size_t off)
{
    gtc_mat m;
    memset(&m, 0, sizeof m);
    if (!w->data) return m;
    m.type = w->type;
    m.split = gtc_type_split(w->type);
    m.base = cm->arena + off;
    m.n_cols = w->ne[0];
    m.n_rows = w->ne[1];
    m.src_rows = tensor_rows(w->src);
    m.row_bytes = w->row_bytes;
    m.row0 = (int64_t)(w->src_offset / w->row_bytes);
    m.expert_rows = (int64_t)(w->expert_stride / w->row_bytes);
    return m;
}

static const float *dev_f32(const cu_model *cm, const gt_weight *w, const src_ent *v, int n)
{
    if (!w->data) return NULL;
    return (const float *)(cm->arena + find_src(v, n, w->src) + w->src_offset);
}

/* ---- memory plan ------------------------------------------------------------------------------ */
/* KV cache rows of a sliding-window layer: a ring of window - 1 + B rows holds every key a batch
 * of up to B tokens sees (gtc_rope_store); the full-attention layers keep n_ctx rows. The caches
 * are fp32 (see gtc_rope_store in gtc.h for why not f16), so the rings keep gpt-oss-20b's KV at
 * 8192 tokens to 414 MiB (f16 full-length caches: 384 MiB). */
static int kv_ring_rows(const gptc_model *m, int n_ctx, int B)
{
    const int W = m->hp.sliding_window;
    if (W <= 0 || (long long)W - 1 + B >= n_ctx) return n_ctx;
    return W - 1 + B;
}

/* floats before layer l's K (or V) cache */
static size_t kv_layer_off(const gptc_model *m, int n_ctx, int ring, int l)
{
    size_t rows = 0;
    for (int i = 0; i < l; i++) rows += m->layers[i].is_swa ? (size_t)ring : (size_t)n_ctx;
    return rows * (size_t)m->hp.n_head_kv * m->hp.head_dim;
}

static size_t kv_bytes_for(const gptc_model *m, int n_ctx, int B)
{
    return kv_layer_off(m, n_ctx, kv_ring_rows(m, n_ctx, B), m->hp.n_layer) * 2 * sizeof(float);
}

static size_t max_dense_elems(const gptc_model *m)
{
    size_t mx = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gt_layer *L = &m->layers[l];
        const gt_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->wqkv, &L->ffn_up,
                                 &L->ffn_down, &L->router_w, &L->gate_exps, &L->up_exps,
                                 &L->down_exps};
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

/* Lays out (or sizes, when base == NULL) the session buffers; returns the bytes. */
static size_t sess_layout(const gptc_model *m, const cu_model *cm, cu_sess *s, int B, int n_ctx,
                          uint8_t *base)
{
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
#define TAKE(ptr, type, count)                                                                  \
    do {                                                                                        \
        if (base) (ptr) = (type *)(base + off);                                                 \
        off += ALIGN256(sizeof(type) * (size_t)(count));                                        \
    } while (0)
    cu_sess tmp;
    if (!s) s = &tmp;
    s->B = B;
    s->n_ctx = n_ctx;
    s->qkv_w = qkv_w;
    s->maxw = maxw;
    s->ring = kv_ring_rows(m, n_ctx, B);
    size_t kvh = kv_layer_off(m, n_ctx, s->ring, hp->n_layer);
    TAKE(s->kc, float, kvh);
    TAKE(s->vc, float, kvh);
    s->kv_bytes = off;
    TAKE(s->x, float, (size_t)B * ne);
    TAKE(s->qkv, float, (size_t)B * qkv_w);
    TAKE(s->attn, float, (size_t)B * nq);
    TAKE(s->ffn, float, (size_t)B * nff);
    gtc_act *acts[2] = {&s->a, &s->b};
    for (int i = 0; i < 2; i++) {
        acts[i]->n = maxw;
        TAKE(acts[i]->f, float, (size_t)B * maxw);
        TAKE(acts[i]->q, int16_t, (size_t)B * maxw);
        TAKE(acts[i]->qi, int16_t, (size_t)B * maxw);
        TAKE(acts[i]->s, float, (size_t)B * maxw / 32 + 1);
        TAKE(acts[i]->h, uint16_t, (size_t)2 * B * maxw); /* split fp16: hi, lo */
    }
    s->hact.n = nff;
    TAKE(s->hact.f, float, (size_t)kmoe * nff);
    TAKE(s->hact.q, int16_t, (size_t)kmoe * nff);
    TAKE(s->hact.qi, int16_t, (size_t)kmoe * nff);
    TAKE(s->hact.s, float, (size_t)kmoe * nff / 32 + 1);
    s->hact.h = NULL;
    size_t pf = gtc_attn_part_floats(B, hp->n_head, n_ctx);
    size_t p1 = gtc_attn_part_floats(1, hp->n_head, n_ctx);
    TAKE(s->part, float, pf > p1 ? pf : p1);
    TAKE(s->logits, float, hp->n_vocab);
    TAKE(s->rlog, float, (size_t)B * E);
    TAKE(s->ids_exp, int32_t, (size_t)B * k);
    TAKE(s->wts, float, (size_t)B * k);
    TAKE(s->perm_tok, int32_t, (size_t)B * k);
    TAKE(s->grp, int32_t, 2 * (size_t)E + 1);
    TAKE(s->perm_w, float, (size_t)B * k);
    TAKE(s->ids_tok, int32_t, B);
    TAKE(s->tickets, unsigned, B);
    TAKE(s->pos, int32_t, 1);
    TAKE(s->sampled, int32_t, 1);
    s->tmp_elems = (size_t)2 * B * (qkv_w > maxw ? qkv_w : maxw); /* hi + lo products */
    if (s->tmp_elems < (size_t)4 * 4096) s->tmp_elems = 4 * 4096;
    TAKE(s->tmp, float, s->tmp_elems);
    if (B > 1 && hp->n_expert > 0) {
        /* [gate | up (| lo weights)], hi + lo x; tensor-core MoE: gate and up of B*k pairs */
        TAKE(s->g, float, (size_t)B * nff * (k > 4 ? 2 * k : 8));
        TAKE(s->y, float, (size_t)B * ne * (k > 4 ? k : 4)); /* or [B*k][ne] pair outputs */
        TAKE(s->xg16, uint16_t, (size_t)2 * B * ne);
        TAKE(s->h16, uint16_t, (size_t)2 * B * nff);
    }
    if (B > 1) TAKE(s->dq, uint16_t, cm ? cm->dq_elems : 2 * max_dense_elems(m));
#undef TAKE
    s->ws_bytes = off - s->kv_bytes;
    return off;
}

/* ---- model init / free ------------------------------------------------------------------------ */
static void cu_model_free(gptc_model *m)
{
    cu_model *cm = (cu_model *)m->backend_data;
    if (!cm) return;
    cudaSetDevice(cm->dev);
    if (cm->blas) cublasDestroy(cm->blas);
    if (cm->st) cudaStreamDestroy(cm->st);
    cudaFree(cm->arena);
    cudaFree(cm->inv_freq);
    cudaFree(cm->mw.dev);
    cudaFreeHost(cm->mw.pin);
    free(cm->mw.h_grp);
    free(cm->mw.h_gid);
    free(cm->mw.h_done);
    __atomic_fetch_sub((uint64_t *)&m->workspace_bytes, cm->mw.bytes, __ATOMIC_RELAXED);
    free(cm->L);
    free(cm);
    m->backend_data = NULL;
    gt_weight *ws[4096];
    int n = collect_weights(m, ws, 4096);
    for (int i = 0; i < n; i++) ws[i]->dev = NULL;
}

static gptc_status upload(cu_model *cm, const src_ent *srcs, int n_src,
                          const gptc_model_params *p, gptc_error *err)
{
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

static gptc_status cu_model_init(gptc_model *m, const gptc_model_params *p, gptc_error *err)
{
    const gt_hparams *hp = &m->hp;
    int ndev = gt_cuda_device_count();
    int dev = p ? p->device : 0;
    if (ndev <= 0) return gt_err(err, GPTC_ERR_DEVICE, "no CUDA device available");
    if (dev < 0 || dev >= ndev)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "--device %d: only %d CUDA device(s)", dev, ndev);
    TRYC(cudaSetDevice(dev));
    read_knobs();
    if (hp->head_dim > 64 || (hp->n_head_kv > 0 && hp->n_head % hp->n_head_kv) ||
        hp->n_embd % 32 || (hp->n_expert > 0 && (hp->n_ff % 32 || hp->n_expert > 256 ||
                                                  hp->n_expert_used > 8)))
        return gt_err(err, GPTC_ERR_UNSUPPORTED,
                      "CUDA backend: unsupported shape (head_dim %d, n_embd %d, n_ff %d, "
                      "experts %d/%d)",
                      hp->head_dim, hp->n_embd, hp->n_ff, hp->n_expert_used, hp->n_expert);

    gt_weight *ws[4096];
    int nw = collect_weights(m, ws, 4096);
    src_ent *srcs = (src_ent *)calloc((size_t)nw + 1, sizeof *srcs);
    if (!srcs) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    int n_src = 0;
    size_t wbytes = 0;
    for (int i = 0; i < nw; i++) {
        if (!gtc_type_supported(ws[i]->type) || !ws[i]->src) {
            free(srcs);
            return gt_err(err, GPTC_ERR_UNSUPPORTED, "CUDA backend: %s: unsupported type %u",
                          ws[i]->name ? ws[i]->name : "?", ws[i]->type);
        }
        if (find_src(srcs, n_src, ws[i]->src) != (size_t)-1) continue;
        srcs[n_src].src = ws[i]->src;
        srcs[n_src].off = wbytes;
        wbytes += ALIGN256(ws[i]->src->n_bytes);
        n_src++;
    }

    /* memory plan: weights + KV cache + workspace for the context the caller will use */
    int n_ctx = p && p->n_ctx_hint > 0 ? p->n_ctx_hint : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    int B = 512;
    size_t dqe = max_dense_elems(m);
    size_t sess = sess_layout(m, NULL, NULL, B, n_ctx, NULL);
    size_t kv = kv_bytes_for(m, n_ctx, B);
    size_t ws_b = sess - kv + (size_t)dqe * 0; /* dq included in sess_layout */
    size_t reserve = (size_t)320 << 20;         /* cuBLAS workspace, graphs, upload staging */
    size_t fr = 0, tot = 0;
    TRYC(cudaMemGetInfo(&fr, &tot));
    uint64_t budget = fr > reserve ? fr - reserve : 0;
    if (p && p->vram_budget && p->vram_budget < budget) budget = p->vram_budget;
    size_t need = wbytes + kv + ws_b;
    if (p && p->verbose)
        fprintf(stderr,
                "cuda: memory plan: weights %.2f GiB + KV %.2f GiB (%d ctx, f32) + workspace "
                "%.2f GiB = %.2f GiB; budget %.2f GiB (free %.2f of %.2f GiB)\n",
                wbytes / 1073741824.0, kv / 1073741824.0, n_ctx, ws_b / 1073741824.0,
                need / 1073741824.0, budget / 1073741824.0, fr / 1073741824.0,
                tot / 1073741824.0);
    if (need > budget) {
        long long fit = 0; /* largest context whose KV fits next to the weights (bisection) */
        if (budget > wbytes + ws_b) {
            long long lo = 0, hi = hp->n_ctx_train > n_ctx ? hp->n_ctx_train : n_ctx;
            while (lo < hi) {
                long long mid = (lo + hi + 1) / 2;
                if (kv_bytes_for(m, (int)mid, B) <= budget - wbytes - ws_b) lo = mid;
                else hi = mid - 1;
            }
            fit = lo;
        }
        free(srcs);
        return gt_err(err, GPTC_ERR_DEVICE_NOMEM,
                      "model does not fit the GPU: needs %.2f GiB (weights %.2f + KV %.2f for "
                      "%d tokens + workspace %.2f) but the budget is %.2f GiB (free %.2f GiB); "
                      "largest context that fits: %lld%s",
                      need / 1073741824.0, wbytes / 1073741824.0, kv / 1073741824.0, n_ctx,
                      ws_b / 1073741824.0, budget / 1073741824.0, fr / 1073741824.0, fit,
                      fit < 1 ? " (none: the weights alone do not fit)" : "");
    }

    cu_model *cm = (cu_model *)calloc(1, sizeof *cm);
    if (!cm) {
        free(srcs);
        return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    }
    cm->dev = dev;
    cm->dq_elems = 2 * dqe; /* hi + lo halves of split fp16 weights */
    m->backend_data = cm;
    gptc_status st = GPTC_OK;
#define FAIL(s_)                                                                                \
    do {                                                                                        \
        st = (s_);                                                                              \
        goto fail;                                                                              \
    } while (0)
    if (cudaStreamCreateWithFlags(&cm->st, cudaStreamNonBlocking) != cudaSuccess)
        FAIL(gt_err(err, GPTC_ERR_DEVICE, "CUDA: cannot create a stream"));
    if (cublasCreate(&cm->blas) != CUBLAS_STATUS_SUCCESS)
        FAIL(gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: cannot create a handle"));
    if (cudaMalloc((void **)&cm->arena, wbytes ? wbytes : 256) != cudaSuccess) {
        cudaGetLastError();
        FAIL(gt_err(err, GPTC_ERR_DEVICE_NOMEM,
                    "CUDA: cannot allocate %.2f GiB for the weights", wbytes / 1073741824.0));
    }
    cm->arena_bytes = wbytes;
    st = upload(cm, srcs, n_src, p, err);
    if (st != GPTC_OK) goto fail;

    for (int i = 0; i < nw; i++)
        ws[i]->dev = cm->arena + find_src(srcs, n_src, ws[i]->src) + ws[i]->src_offset;
    cm->tok_embd = make_mat(cm, &m->tok_embd, find_src(srcs, n_src, m->tok_embd.src));
    cm->output = make_mat(cm, &m->output, find_src(srcs, n_src, m->output.src));
    cm->has_pos = m->pos_embd.data != NULL;
    if (cm->has_pos) cm->pos_embd = make_mat(cm, &m->pos_embd, find_src(srcs, n_src, m->pos_embd.src));
    cm->output_norm = dev_f32(cm, &m->output_norm, srcs, n_src);
    cm->output_norm_b = dev_f32(cm, &m->output_norm_b, srcs, n_src);
    cm->L = (cu_layer *)calloc((size_t)hp->n_layer, sizeof *cm->L);
    if (!cm->L) FAIL(gt_err(err, GPTC_ERR_NOMEM, "out of memory"));
    for (int l = 0; l < hp->n_layer; l++) {
        gt_layer *L = &m->layers[l];
        cu_layer *C = &cm->L[l];
#define MAT(f, w) C->f = make_mat(cm, &L->w, L->w.data ? find_src(srcs, n_src, L->w.src) : 0)
#define VEC(f, w) C->f = dev_f32(cm, &L->w, srcs, n_src)
        MAT(wq, wq); MAT(wk, wk); MAT(wv, wv); MAT(wo, wo); MAT(wqkv, wqkv);
        MAT(router, router_w); MAT(gate, gate_exps); MAT(up, up_exps); MAT(down, down_exps);
        MAT(ffn_up, ffn_up); MAT(ffn_down, ffn_down);
        VEC(attn_norm, attn_norm); VEC(attn_norm_b, attn_norm_b); VEC(bq, bq); VEC(bk, bk);
        VEC(bv, bv); VEC(bo, bo); VEC(bqkv, bqkv); VEC(sinks, sinks); VEC(ffn_norm, ffn_norm);
        VEC(ffn_norm_b, ffn_norm_b); VEC(router_b, router_b); VEC(gate_b, gate_b);
        VEC(up_b, up_b); VEC(down_b, down_b); VEC(ffn_up_b, ffn_up_b);
        VEC(ffn_down_b, ffn_down_b);
#undef MAT
#undef VEC
        C->gate_bs = L->gate_b.expert_stride / 4;
        C->up_bs = L->up_b.expert_stride / 4;
        C->down_bs = L->down_b.expert_stride / 4;
        if (L->gate_b.data && !C->gate_bs) C->gate_bs = hp->n_ff;
        if (L->up_b.data && !C->up_bs) C->up_bs = hp->n_ff;
        if (L->down_b.data && !C->down_bs) C->down_bs = hp->n_embd;
    }
    if (m->arch == GT_ARCH_GPT_OSS && m->rope_inv_freq) {
        int nh = hp->rope_dim / 2;
        if (cudaMalloc((void **)&cm->inv_freq, sizeof(float) * nh) != cudaSuccess ||
            cudaMemcpy(cm->inv_freq, m->rope_inv_freq, sizeof(float) * nh,
                       cudaMemcpyHostToDevice) != cudaSuccess)
            FAIL(gt_err(err, GPTC_ERR_DEVICE, "CUDA: cannot upload the RoPE table"));
        cm->mscale = m->rope_mscale > 0 ? m->rope_mscale : 1.f;
    }
    {
        cudaDeviceProp prop;
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
static void cu_session_free(gptc_session *s)
{
    cu_sess *cs = (cu_sess *)s->backend_data;
    if (!cs) return;
    gptc_model *m = s->model;
    if (cs->graph) cudaGraphExecDestroy(cs->graph);
    prof_free(cs->prof);
    cudaFree(cs->smp_ws);
    cudaFree(cs->d_hist);
    cudaFreeHost(cs->h_hist);
    cudaFree(cs->blob);
    cudaFreeHost(cs->h_pin);
    __atomic_fetch_sub((uint64_t *)&m->kv_bytes, cs->kv_bytes, __ATOMIC_RELAXED);
    __atomic_fetch_sub((uint64_t *)&m->workspace_bytes, cs->ws_bytes, __ATOMIC_RELAXED);
    free(cs);
    s->backend_data = NULL;
}

static gptc_status cu_session_init(gptc_session *s, gptc_error *err)
{
    gptc_model *m = s->model;
    cu_model *cm = (cu_model *)m->backend_data;
    TRYC(cudaSetDevice(cm->dev));
    cu_sess *cs = (cu_sess *)calloc(1, sizeof *cs);
    if (!cs) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    int B = s->n_batch > 0 ? s->n_batch : 512;
    size_t bytes = sess_layout(m, cm, NULL, B, s->n_ctx, NULL);
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
    sess_layout(m, cm, cs, B, s->n_ctx, (uint8_t *)cs->blob);
    if (cudaMemset(cs->tickets, 0, sizeof(unsigned) * B) != cudaSuccess) {
        cudaFree(cs->blob);
        free(cs);
        return gt_err(err, GPTC_ERR_DEVICE, "CUDA: memset failed");
    }
    const int k = m->hp.n_expert_used > 0 ? m->hp.n_expert_used : 1;
    const size_t nk = (size_t)B * k;
    size_t hb = ALIGN256(sizeof(int32_t) * (B + 1)) + 2 * ALIGN256(sizeof(int32_t) * nk) +
                2 * ALIGN256(sizeof(float) * nk) + ALIGN256(sizeof(float) * m->hp.n_vocab);
    if (cudaHostAlloc((void **)&cs->h_pin, hb, cudaHostAllocDefault) != cudaSuccess) {
        cudaFree(cs->blob);
        free(cs);
        return gt_err(err, GPTC_ERR_NOMEM, "CUDA: cannot allocate pinned host buffers");
    }
    uint8_t *hp8 = (uint8_t *)cs->h_pin;
    cs->h_tok = (int32_t *)hp8;
    hp8 += ALIGN256(sizeof(int32_t) * (B + 1));
    cs->h_ids = (int32_t *)hp8;
    hp8 += ALIGN256(sizeof(int32_t) * nk);
    cs->h_perm = (int32_t *)hp8;
    hp8 += ALIGN256(sizeof(int32_t) * nk);
    cs->h_wts = (float *)hp8;
    hp8 += ALIGN256(sizeof(float) * nk);
    cs->h_permw = (float *)hp8;
    hp8 += ALIGN256(sizeof(float) * nk);
    cs->h_logits = (float *)hp8;
    /* the device sampler: its workspace and the penalty window */
    cs->smp_ws_bytes = gtc_sample_ws_bytes(s->sampler.n_vocab);
    const size_t hist_bytes = ALIGN256(sizeof(int32_t) * (size_t)s->n_ctx);
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
    cs->prof = prof_new();
    s->backend_data = cs;
    __atomic_fetch_add((uint64_t *)&m->kv_bytes, cs->kv_bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add((uint64_t *)&m->workspace_bytes, cs->ws_bytes, __ATOMIC_RELAXED);
    return GPTC_OK;
}

/* ---- building blocks -------------------------------------------------------------------------- */
typedef struct fw {
    gptc_model *m;
    cu_model *cm;
    cu_sess *cs;
    cudaStream_t st;
    gptc_error *err;
    cu_prof *prof;
    FILE *trace; /* GPTC_CUDA_TRACE: this forward's stages are written here (debug) */
    int pos;
    const int32_t *ids;  /* device token ids of this forward */
    const gtc_seqs *sq;  /* decode_multi: per-token positions and caches (else NULL) */
} fw;

/* Debug trace (GPTC_CUDA_TRACE=<file>, GPTC_CUDA_TRACE_POS=<p>[,<p>...]): a single-token forward
 * at one of those positions runs uncaptured and appends "name layer pos n v0 v1 ..." lines for
 * every stage (attn, x_attn, router, experts, x_moe, logits) to the file; test/cuda/trace_oss.c
 * compares them with an fp32 CPU forward. */
static FILE *trace_open(int pos)
{
    const char *f = getenv("GPTC_CUDA_TRACE"), *ps = getenv("GPTC_CUDA_TRACE_POS");
    if (!f || !*f || !ps) return NULL;
    for (const char *c = ps; *c;) {
        char *e;
        long v = strtol(c, &e, 10);
        if (e == c) break;
        if (v == pos) return fopen(f, "a");
        c = *e == ',' ? e + 1 : e;
        if (!*e) break;
    }
    return NULL;
}

static void trace_put(fw *F, const char *name, int l, const void *dev, int n, int ints)
{
    if (!F->trace || n <= 0) return;
    float *h = (float *)malloc(sizeof(float) * (size_t)n);
    if (!h) return;
    if (cudaStreamSynchronize(F->st) == cudaSuccess &&
        cudaMemcpy(h, dev, sizeof(float) * (size_t)n, cudaMemcpyDeviceToHost) == cudaSuccess) {
        fprintf(F->trace, "%s %d %d %d", name, l, F->pos, n);
        for (int i = 0; i < n; i++)
            fprintf(F->trace, " %.9g", ints ? (double)((const int32_t *)h)[i] : (double)h[i]);
        fprintf(F->trace, "\n");
    }
    free(h);
}

static void prof_mark(fw *F, const char *nm)
{
    cu_prof *p = F->prof;
    if (!p || p->n >= PROF_MAX) return;
    cudaEventRecord(p->ev[p->n], F->st);
    p->nm[p->n++] = nm;
}

static void prof_end(fw *F, int mode)
{
    cu_prof *p = F->prof;
    if (!p || p->n < 1) return;
    cudaEventSynchronize(p->ev[p->n - 1]);
    for (int i = 1; i < p->n; i++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, p->ev[i - 1], p->ev[i]);
        int c = 0;
        while (c < p->ncls[mode] && strcmp(p->cls[mode][c], p->nm[i])) c++;
        if (c == p->ncls[mode]) {
            if (c == PROF_CLS) continue;
            p->cls[mode][c] = p->nm[i];
            p->ncls[mode]++;
        }
        p->ms[mode][c] += ms;
        p->cnt[mode][c]++;
        p->fw_ms[mode] += ms;
    }
    p->n_fw[mode]++;
    p->n = 0;
}

/* like TRYK, then a profiler mark named `what` */
#define TRYF(call, what)                                                                        \
    do {                                                                                        \
        if ((call) != 0) return cerr(err, what);                                                \
        prof_mark(F, what);                                                                     \
    } while (0)

static gtc_act act_view(const gtc_act *a, int n)
{
    gtc_act r = *a;
    r.n = n;
    return r;
}

/* 1 when the fp16 copy of a weight type is not exact (the GEMM then also multiplies the lo
 * half): MXFP4 (doubled E2M1 x power of two) and F16 are exact in fp16. */
static int wsplit(uint32_t type) { return !(type == 39 /* MXFP4 */ || type == 1 /* F16 */); }

/* 1 when this T-token product goes to the tensor-core kernels (gtc_mmq). */
static int use_mmq(const fw *F, int T, const gtc_mat *W, const gtc_act *x)
{
    return T > 1 && (F->sq || T <= mmq_max_t) && gtc_mmq_supported(W, x);
}

/* out[t][r] (stride ldo) = (add ? out : 0) + act(W x_t + bias) for T tokens. */
static gptc_status linear(fw *F, const gtc_mat *W, const gtc_act *x, int T, float *out, int ldo,
                          const float *bias, int add, int act, const char *nm)
{
    gptc_error *err = F->err;
    if (use_mmq(F, T, W, x)) { /* several sessions or a small batch: tensor cores */
        gtc_gemv_seg sg = {*W, bias, out, add, act, ldo};
        TRYF(gtc_mmq(&sg, 1, x, T, (gtc_stream)F->st), "mmq");
        return GPTC_OK;
    }
    if (T <= gemv_max_t || W->n_rows <= 256 || F->sq) { /* decode, small batches, router */
        gtc_gemv_seg sg = {*W, bias, out, add, act, ldo};
        TRYF(gtc_gemv(&sg, 1, x, T, (gtc_stream)F->st), nm);
        return GPTC_OK;
    }
    cu_sess *cs = F->cs;
    const int64_t rows = W->n_rows, cols = W->n_cols;
    const int ws = wsplit(W->type), wm = ws ? 2 : 1;
    int64_t chunk = (int64_t)(F->cm->dq_elems / (size_t)(cols * wm));
    int64_t tchunk = (int64_t)(cs->tmp_elems / (size_t)(2 * T * wm));
    if (tchunk < chunk) chunk = tchunk;
    if (chunk > rows) chunk = rows;
    if (chunk < 1) return gt_err(err, GPTC_ERR_DEVICE, "CUDA: workspace too small");
    cublasSetStream(F->cm->blas, F->st);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        const int M = (int)(nr * wm); /* A = [W hi rows; W lo rows] */
        TRYF(gtc_dequant_f16(W, 0, r0, nr, cs->dq, ws ? cs->dq + (size_t)nr * cols : NULL,
                             (gtc_stream)F->st),
             "dequant");
        const float one = 1.f, zero = 0.f;
        cublasStatus_t bs = cublasGemmEx(F->cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, M, 2 * T,
                                         (int)cols, &one, cs->dq, CUDA_R_16F, (int)cols, x->h,
                                         CUDA_R_16F, x->n, &zero, cs->tmp, CUDA_R_32F, M,
                                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (bs != CUBLAS_STATUS_SUCCESS)
            return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
        prof_mark(F, "cublas_gemm");
        TRYF(gtc_epilogue(out + r0, ldo, cs->tmp, M, T, (int)nr, bias ? bias + r0 : NULL, add, act,
                          1 | (ws ? 2 : 0), (gtc_stream)F->st),
             "epilogue");
    }
    return GPTC_OK;
}

/* Attention block input a (normed), T tokens; writes x += o-proj. */
static gptc_status attention_block(fw *F, int l, int T)
{
    gptc_model *m = F->m;
    const gt_hparams *hp = &m->hp;
    cu_model *cm = F->cm;
    cu_sess *cs = F->cs;
    cu_layer *C = &cm->L[l];
    gptc_error *err = F->err;
    const int nq = hp->n_head * hp->head_dim, nkv = hp->n_head_kv * hp->head_dim;
    const int qw = cs->qkv_w;
    gtc_act a = act_view(&cs->a, hp->n_embd);
    gptc_status st;
    if (m->arch == GT_ARCH_GPT2) {
        if ((st = linear(F, &C->wqkv, &a, T, cs->qkv, qw, C->bqkv, 0, 0, "gemv_qkv")) != GPTC_OK) return st;
    } else if (use_mmq(F, T, &C->wq, &a) && use_mmq(F, T, &C->wk, &a) &&
               use_mmq(F, T, &C->wv, &a)) {
        gtc_gemv_seg sg[3] = {{C->wq, C->bq, cs->qkv, 0, 0, qw},
                              {C->wk, C->bk, cs->qkv + nq, 0, 0, qw},
                              {C->wv, C->bv, cs->qkv + nq + nkv, 0, 0, qw}};
        TRYF(gtc_mmq(sg, 3, &a, T, (gtc_stream)F->st), "mmq");
    } else if (T <= gemv_max_t || F->sq) {
        gtc_gemv_seg sg[3] = {{C->wq, C->bq, cs->qkv, 0, 0, qw},
                              {C->wk, C->bk, cs->qkv + nq, 0, 0, qw},
                              {C->wv, C->bv, cs->qkv + nq + nkv, 0, 0, qw}};
        TRYF(gtc_gemv(sg, 3, &a, T, (gtc_stream)F->st), "gemv_qkv");
    } else {
        if ((st = linear(F, &C->wq, &a, T, cs->qkv, qw, C->bq, 0, 0, "gemv_qkv")) != GPTC_OK) return st;
        if ((st = linear(F, &C->wk, &a, T, cs->qkv + nq, qw, C->bk, 0, 0, "gemv_qkv")) != GPTC_OK) return st;
        if ((st = linear(F, &C->wv, &a, T, cs->qkv + nq + nkv, qw, C->bv, 0, 0, "gemv_qkv")) != GPTC_OK)
            return st;
    }
    const size_t lay = kv_layer_off(m, cs->n_ctx, cs->ring, l);
    float *kc = cs->kc + lay, *vc = cs->vc + lay;
    const int swa = m->layers[l].is_swa && hp->sliding_window > 0;
    const int ring = swa && cs->ring < cs->n_ctx ? cs->ring : 0;
    const int store = swa || !cs->swa_only; /* the rebuild leaves the full layers' rows alone */
    const float *inv_freq = m->arch == GT_ARCH_GPT_OSS ? cm->inv_freq : NULL;
    int window = swa ? hp->sliding_window : 0;
    const int max_pos = cs->n_ctx - 1; /* sets the split count: fixed, so graphs replay */
    gtc_act b = act_view(&cs->b, nq);
    const int fused = hp->head_dim == 64 && (T <= gemv_max_t || F->sq); /* b's int16 copy too */
    const float scale = 1.f / sqrtf((float)hp->head_dim);
    if (F->sq) { /* several sessions: each token its own position and caches */
        gtc_seqs sq = *F->sq;
        sq.layer_off = lay;
        TRYF(gtc_rope_store_seqs(cs->qkv, cs->qkv + nq, cs->qkv + nq + nkv, qw, T, hp->n_head,
                                 hp->n_head_kv, hp->head_dim, inv_freq, cm->mscale, &sq, ring,
                                 (gtc_stream)F->st),
             "rope");
        TRYF(gtc_attention_seqs(cs->qkv, qw, T, hp->n_head, hp->n_head_kv, hp->head_dim, &sq, ring,
                                max_pos, window, C->sinks, scale, cs->part,
                                fused ? b.f : cs->attn, fused ? &b : NULL, (gtc_stream)F->st),
             "attention");
    } else {
        TRYF(gtc_rope_store(cs->qkv, cs->qkv + nq, cs->qkv + nq + nkv, qw, T, hp->n_head,
                            hp->n_head_kv, hp->head_dim, inv_freq, cm->mscale, cs->pos,
                            store ? kc : NULL, store ? vc : NULL, ring, (gtc_stream)F->st),
             "rope");
        TRYF(gtc_attention(cs->qkv, qw, T, hp->n_head, hp->n_head_kv, hp->head_dim, kc, vc, ring,
                           cs->pos, max_pos, window, C->sinks, scale, cs->part,
                           fused ? b.f : cs->attn, fused ? &b : NULL, (gtc_stream)F->st),
             "attention");
    }
    if (!fused)
        TRYF(gtc_prep_act(cs->attn, T, nq, GTC_NORM_NONE, NULL, NULL, 0.f, &b, (gtc_stream)F->st),
             "prep");
    return linear(F, &C->wo, &b, T, cs->x, hp->n_embd, C->bo, 1, 0, "gemv_attn_out");
}

static gptc_status moe_block(fw *F, int l, int T)
{
    gptc_model *m = F->m;
    const gt_hparams *hp = &m->hp;
    cu_sess *cs = F->cs;
    cu_layer *C = &F->cm->L[l];
    gptc_error *err = F->err;
    const int k = hp->n_expert_used, E = hp->n_expert, ne = hp->n_embd, nff = hp->n_ff;
    gtc_act a = act_view(&cs->a, ne);
    TRYF(gtc_router_topk(&C->router, C->router_b, &a, T, k, cs->rlog, cs->tickets, cs->ids_exp,
                         cs->wts, (gtc_stream)F->st),
         "router_topk");
    const float alpha = hp->swiglu_alpha, limit = hp->swiglu_limit;
    const int mmq = use_mmq(F, T, &C->gate, &a) && use_mmq(F, T, &C->up, &a) &&
                    use_mmq(F, T, &C->down, &cs->hact);
    if (F->sq || mmq) {
        /* grouped by expert on the device (no host sync), each expert's weights read once per
         * 8 of its tokens; buffers: the multi workspace, or the session's prefill ones */
        cu_multi *mw = &F->cm->mw;
        int32_t *grp = F->sq ? mw->grp : cs->grp, *list = F->sq ? mw->list : cs->perm_tok;
        float *gb = F->sq ? mw->g : cs->g, *ub = F->sq ? mw->u : cs->g + (size_t)T * k * nff;
        float *yk = F->sq ? mw->yk : cs->y;
        TRYF(gtc_moe_group(cs->ids_exp, T, k, E, grp, list, (gtc_stream)F->st), "moe_group");
        if (mmq) { /* tensor cores (Q8_0 / MXFP4); other types: the grouped GEMV kernels */
            TRYF(gtc_mmq_grouped(&C->gate, C->gate_b, C->gate_bs, &C->up, C->up_b, C->up_bs, ub,
                                 E, T * k, grp, list, k, NULL, &a, gb, nff, (gtc_stream)F->st),
                 "mmq_moe"); /* gate and up in one launch */
            TRYF(gtc_swiglu_q(gb, ub, nff, T * k, alpha, limit, &cs->hact, (gtc_stream)F->st),
                 "swiglu");
            TRYF(gtc_mmq_grouped(&C->down, C->down_b, C->down_bs, NULL, NULL, 0, NULL, E, T * k,
                                 grp, list, 1, cs->wts, &cs->hact, yk, ne, (gtc_stream)F->st),
                 "mmq_moe");
            TRYF(gtc_moe_sum(yk, T, k, ne, cs->x, (gtc_stream)F->st), "moe_sum");
            return GPTC_OK;
        }
        TRYF(gtc_moe_gate_up_grouped(&C->gate, &C->up, C->gate_b, C->up_b, C->gate_bs, E, grp,
                                     list, k, &a, alpha, limit, &cs->hact, (gtc_stream)F->st),
             "moe gate/up");
        TRYF(gtc_moe_down_grouped(&C->down, C->down_b, C->down_bs, E, grp, list, cs->wts, T, k,
                                  &cs->hact, yk, cs->x, (gtc_stream)F->st),
             "moe down");
        return GPTC_OK;
    }
    if (T < moe_grouped_min_t) {
        TRYF(gtc_moe_gate_up(&C->gate, &C->up, C->gate_b, C->up_b, C->gate_bs, cs->ids_exp, T, k,
                             &a, alpha, limit, &cs->hact, (gtc_stream)F->st),
             "moe gate/up");
        TRYF(gtc_moe_down(&C->down, C->down_b, C->down_bs, cs->ids_exp, cs->wts, T, k, &cs->hact,
                          cs->x, (gtc_stream)F->st),
             "moe down");
        return GPTC_OK;
    }
    /* grouped by expert: routing to the host, one GEMM set per used expert */
    TRYC(cudaMemcpyAsync(cs->h_ids, cs->ids_exp, sizeof(int32_t) * T * k, cudaMemcpyDeviceToHost,
                         F->st));
    TRYC(cudaMemcpyAsync(cs->h_wts, cs->wts, sizeof(float) * T * k, cudaMemcpyDeviceToHost,
                         F->st));
    TRYC(cudaStreamSynchronize(F->st));
    prof_mark(F, "moe_route_sync");
    int cnt[256] = {0}, off[257];
    for (int i = 0; i < T * k; i++) cnt[cs->h_ids[i]]++;
    off[0] = 0;
    for (int e = 0; e < E; e++) off[e + 1] = off[e] + cnt[e];
    int fill[256];
    memcpy(fill, off, sizeof(int) * E);
    for (int i = 0; i < T * k; i++) {
        int e = cs->h_ids[i], j = fill[e]++;
        cs->h_perm[j] = i / k;
        cs->h_permw[j] = cs->h_wts[i];
    }
    TRYC(cudaMemcpyAsync(cs->perm_tok, cs->h_perm, sizeof(int32_t) * T * k,
                         cudaMemcpyHostToDevice, F->st));
    TRYC(cudaMemcpyAsync(cs->perm_w, cs->h_permw, sizeof(float) * T * k, cudaMemcpyHostToDevice,
                         F->st));
    cublasSetStream(F->cm->blas, F->st);
    const float one = 1.f, zero = 0.f;
    for (int e = 0; e < E; e++) {
        int c = cnt[e];
        if (!c) continue;
        const int32_t *idx = cs->perm_tok + off[e];
        TRYF(gtc_gather_f16(a.h, idx, c, ne, cs->xg16, (gtc_stream)F->st), "gather");
        TRYF(gtc_gather_f16(a.h + (size_t)T * ne, idx, c, ne, cs->xg16 + (size_t)c * ne,
                            (gtc_stream)F->st),
             "gather");
        /* gate and up of expert e in one GEMM over [x hi; x lo] (2c columns):
         * dq = [gate; up] (+ [gate lo; up lo] when fp16 is not exact) -> g[2c][mg] */
        const int wg = wsplit(C->gate.type), mg = (wg ? 4 : 2) * nff;
        uint16_t *dq = cs->dq;
        TRYF(gtc_dequant_f16(&C->gate, e, 0, nff, dq, wg ? dq + (size_t)2 * nff * ne : NULL,
                             (gtc_stream)F->st),
             "dequant");
        TRYF(gtc_dequant_f16(&C->up, e, 0, nff, dq + (size_t)nff * ne,
                             wg ? dq + (size_t)3 * nff * ne : NULL, (gtc_stream)F->st),
             "dequant");
        {
            cublasStatus_t bs = cublasGemmEx(F->cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, mg, 2 * c, ne,
                                             &one, dq, CUDA_R_16F, ne, cs->xg16, CUDA_R_16F, ne,
                                             &zero, cs->g, CUDA_R_32F, mg, CUBLAS_COMPUTE_32F,
                                             CUBLAS_GEMM_DEFAULT);
            if (bs != CUBLAS_STATUS_SUCCESS)
                return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
            prof_mark(F, "cublas_gemm");
        }
        TRYF(gtc_swiglu_f16(cs->g, cs->g + nff, mg, wg ? 2 * nff : 0,
                            C->gate_b ? C->gate_b + (size_t)e * C->gate_bs : NULL,
                            C->up_b ? C->up_b + (size_t)e * C->up_bs : NULL, c, nff, alpha, limit,
                            cs->h16, 1, (gtc_stream)F->st),
             "swiglu");
        const int wd = wsplit(C->down.type), md = (wd ? 2 : 1) * ne;
        TRYF(gtc_dequant_f16(&C->down, e, 0, ne, dq, wd ? dq + (size_t)ne * nff : NULL,
                             (gtc_stream)F->st),
             "dequant");
        cublasStatus_t bs = cublasGemmEx(F->cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, md, 2 * c, nff, &one,
                                         dq, CUDA_R_16F, nff, cs->h16, CUDA_R_16F, nff, &zero,
                                         cs->y, CUDA_R_32F, md, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT);
        if (bs != CUBLAS_STATUS_SUCCESS)
            return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
        prof_mark(F, "cublas_gemm");
        TRYF(gtc_scatter_add(cs->x, cs->y, md, wd ? ne : 0,
                             C->down_b ? C->down_b + (size_t)e * C->down_bs : NULL, idx,
                             cs->perm_w + off[e], c, ne, 1, (gtc_stream)F->st),
             "scatter");
    }
    return GPTC_OK;
}

/* The forward pass of T tokens (ids in cs->ids_tok, position in cs->pos). Leaves the last
 * token's logits in cs->logits; logits_all (host) gets every token's logits. */
static gptc_status forward_T(fw *F, int T, float *logits_all, const gptc_session *s)
{
    gptc_model *m = F->m;
    const gt_hparams *hp = &m->hp;
    cu_model *cm = F->cm;
    cu_sess *cs = F->cs;
    gptc_error *err = F->err;
    const int ne = hp->n_embd;
    const int norm = m->arch == GT_ARCH_GPT2 ? GTC_NORM_LAYER : GTC_NORM_RMS;
    gptc_status st;
    if (F->sq)
        TRYF(gtc_embed_seqs(&cm->tok_embd, F->ids, T, cs->x, cm->has_pos ? &cm->pos_embd : NULL,
                            F->sq->pos, (gtc_stream)F->st),
             "embed");
    else
        TRYF(gtc_embed(&cm->tok_embd, F->ids, T, cs->x, cm->has_pos ? &cm->pos_embd : NULL,
                       cs->pos, (gtc_stream)F->st),
             "embed");
    gtc_act a = act_view(&cs->a, ne);
    for (int l = 0; l < hp->n_layer; l++) {
        cu_layer *C = &cm->L[l];
        if (s && T > 1 && gt_session_cancelled(s))
            return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");
        TRYF(gtc_prep_act(cs->x, T, ne, norm, C->attn_norm, C->attn_norm_b, hp->norm_eps, &a,
                          (gtc_stream)F->st),
             "norm");
        if ((st = attention_block(F, l, T)) != GPTC_OK) return st;
        if (F->trace) {
            const int fused = hp->head_dim == 64 && T <= gemv_max_t;
            trace_put(F, "attn", l, fused ? cs->b.f : cs->attn, hp->n_head * hp->head_dim, 0);
            trace_put(F, "x_attn", l, cs->x, ne, 0);
        }
        TRYF(gtc_prep_act(cs->x, T, ne, norm, C->ffn_norm, C->ffn_norm_b, hp->norm_eps, &a,
                          (gtc_stream)F->st),
             "norm");
        if (m->arch == GT_ARCH_GPT2) {
            if ((st = linear(F, &C->ffn_up, &a, T, cs->ffn, hp->n_ff, C->ffn_up_b, 0,
                             GTC_ACT_GELU, "gemv_ffn_up")) != GPTC_OK)
                return st;
            gtc_act b = act_view(&cs->b, hp->n_ff);
            TRYF(gtc_prep_act(cs->ffn, T, hp->n_ff, GTC_NORM_NONE, NULL, NULL, 0.f, &b,
                              (gtc_stream)F->st),
                 "prep");
            if ((st = linear(F, &C->ffn_down, &b, T, cs->x, ne, C->ffn_down_b, 1, 0, "gemv_ffn_down")) != GPTC_OK)
                return st;
        } else if ((st = moe_block(F, l, T)) != GPTC_OK) {
            return st;
        }
        if (F->trace && m->arch == GT_ARCH_GPT_OSS) {
            trace_put(F, "router", l, cs->rlog, hp->n_expert, 0);
            trace_put(F, "experts", l, cs->ids_exp, hp->n_expert_used, 1);
            trace_put(F, "x_moe", l, cs->x, ne, 0);
        }
    }
    /* output norm + LM head */
    const int V = hp->n_vocab;
    if (F->sq) { /* every token's logits, [T][V] in the multi workspace */
        TRYF(gtc_prep_act(cs->x, T, ne, norm, cm->output_norm, cm->output_norm_b, hp->norm_eps,
                          &a, (gtc_stream)F->st),
             "norm");
        return linear(F, &cm->output, &a, T, cm->mw.logits, V, NULL, 0, 0, "gemv_lm_head");
    }
    if (!logits_all || T == 1) {
        TRYF(gtc_prep_act(cs->x + (size_t)(T - 1) * ne, 1, ne, norm, cm->output_norm,
                          cm->output_norm_b, hp->norm_eps, &a, (gtc_stream)F->st),
             "norm");
        if ((st = linear(F, &cm->output, &a, 1, cs->logits, V, NULL, 0, 0, "gemv_lm_head")) != GPTC_OK) return st;
        if (logits_all)
            TRYC(cudaMemcpyAsync(logits_all, cs->logits, sizeof(float) * V,
                                 cudaMemcpyDeviceToHost, F->st));
        return GPTC_OK;
    }
    TRYF(gtc_prep_act(cs->x, T, ne, norm, cm->output_norm, cm->output_norm_b, hp->norm_eps, &a,
                      (gtc_stream)F->st),
         "norm");
    /* LM head in vocabulary chunks: GEMM into tmp[2T][M], summed into tmp + 2T M as [T][nr],
     * then to the host rows */
    const int ws = wsplit(cm->output.type), wm = ws ? 2 : 1;
    int64_t R = (int64_t)(cm->dq_elems / (size_t)(ne * wm));
    int64_t R2 = (int64_t)(cs->tmp_elems / (size_t)(2 * T * wm + T));
    if (R2 < R) R = R2;
    cublasSetStream(cm->blas, F->st);
    for (int64_t r0 = 0; r0 < V; r0 += R) {
        int64_t nr = V - r0 < R ? V - r0 : R;
        const int M = (int)(nr * wm);
        float *sum = cs->tmp + (size_t)2 * T * M;
        TRYF(gtc_dequant_f16(&cm->output, 0, r0, nr, cs->dq, ws ? cs->dq + (size_t)nr * ne : NULL,
                             (gtc_stream)F->st),
             "dequant");
        const float one = 1.f, zero = 0.f;
        cublasStatus_t bs = cublasGemmEx(cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, M, 2 * T, ne, &one,
                                         cs->dq, CUDA_R_16F, ne, a.h, CUDA_R_16F, ne, &zero,
                                         cs->tmp, CUDA_R_32F, M, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT);
        if (bs != CUBLAS_STATUS_SUCCESS)
            return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
        prof_mark(F, "cublas_gemm");
        TRYF(gtc_epilogue(sum, (int)nr, cs->tmp, M, T, (int)nr, NULL, 0, 0, 1 | (ws ? 2 : 0),
                          (gtc_stream)F->st),
             "epilogue");
        TRYC(cudaMemcpy2DAsync(logits_all + r0, sizeof(float) * V, sum, sizeof(float) * nr,
                               sizeof(float) * nr, T, cudaMemcpyDeviceToHost, F->st));
        TRYC(cudaMemcpyAsync(cs->logits + r0, sum + (size_t)(T - 1) * nr, sizeof(float) * nr,
                             cudaMemcpyDeviceToDevice, F->st));
    }
    return GPTC_OK;
}

static gptc_status cu_forward(gptc_session *s, const int32_t *ids, int n, float *logits_all,
                              gptc_error *err)
{
    gptc_model *m = s->model;
    cu_model *cm = (cu_model *)m->backend_data;
    cu_sess *cs = (cu_sess *)s->backend_data;
    TRYC(cudaSetDevice(cm->dev));
    fw F = {m, cm, cs, cm->st, err, cs->prof, NULL, (int)s->n_past, cs->ids_tok, NULL};
    int32_t pos = s->n_past;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->hp.n_vocab)
            return gt_err(err, GPTC_ERR_INVALID_ARG, "token id %d out of range", ids[i]);
    if (m->arch == GT_ARCH_GPT2 && s->n_past + n > m->hp.n_ctx_train)
        return gt_err(err, GPTC_ERR_CONTEXT_FULL, "GPT-2 has only %d positions",
                      m->hp.n_ctx_train);
    /* pinned staging for ids + pos (h_ids is pinned, large enough for n_batch ints) */
    if (n > cs->B) return gt_err(err, GPTC_ERR_INVALID_ARG, "batch of %d > n_batch %d", n, cs->B);
    TRYC(cudaStreamSynchronize(cm->st)); /* h_tok may still feed an earlier copy */
    memcpy(cs->h_tok, ids, sizeof(int32_t) * n);
    cs->h_tok[n] = pos;
    TRYC(cudaMemcpyAsync(cs->ids_tok, cs->h_tok, sizeof(int32_t) * n, cudaMemcpyHostToDevice,
                         cm->st));
    TRYC(cudaMemcpyAsync(cs->pos, cs->h_tok + n, sizeof(int32_t), cudaMemcpyHostToDevice, cm->st));
    gptc_status st;
    if (n == 1 && !logits_all) F.trace = trace_open(s->n_past);
    if (F.trace) { /* debug trace: uncaptured, synchronous copies between the stages */
        st = forward_T(&F, n, logits_all, s);
        trace_put(&F, "logits", -1, cs->logits, m->hp.n_vocab, 0);
        fclose(F.trace);
        if (st != GPTC_OK) return st;
    } else if (cs->prof) { /* profiling: uncaptured, events between kernels */
        prof_mark(&F, "start");
        st = forward_T(&F, n, logits_all, s);
        cudaStreamSynchronize(cm->st);
        prof_end(&F, n > 1);
        if (st != GPTC_OK) return st;
    } else if (n == 1 && !logits_all && !cs->swa_only) {
        if (!cs->graph_ok) {
            cudaGraph_t g = NULL;
            TRYC(cudaStreamBeginCapture(cm->st, cudaStreamCaptureModeThreadLocal));
            st = forward_T(&F, 1, NULL, NULL);
            cudaError_t ce = cudaStreamEndCapture(cm->st, &g);
            if (st != GPTC_OK) {
                if (g) cudaGraphDestroy(g);
                return st;
            }
            if (ce != cudaSuccess)
                return gt_err(err, GPTC_ERR_DEVICE, "CUDA: graph capture failed: %s",
                              cudaGetErrorString(ce));
            ce = cudaGraphInstantiate(&cs->graph, g, 0);
            cudaGraphDestroy(g);
            if (ce != cudaSuccess)
                return gt_err(err, GPTC_ERR_DEVICE, "CUDA: graph instantiate failed: %s",
                              cudaGetErrorString(ce));
            cs->graph_ok = 1;
        }
        TRYC(cudaGraphLaunch(cs->graph, cm->st));
    } else {
        st = forward_T(&F, n, logits_all, s);
        if (st != GPTC_OK) {
            cudaStreamSynchronize(cm->st);
            return st;
        }
    }
    TRYC(cudaStreamSynchronize(cm->st));
    return GPTC_OK;
}

/* Grows the decode_multi workspace to n tokens. */
static gptc_status multi_reserve(gptc_model *m, cu_model *cm, int n, gptc_error *err)
{
    cu_multi *mw = &cm->mw;
    if (mw->cap >= n) return GPTC_OK;
    const gt_hparams *hp = &m->hp;
    int cap = mw->cap ? mw->cap : 8;
    while (cap < n) cap *= 2;
    const int k = hp->n_expert_used > 0 ? hp->n_expert_used : 1;
    const int E = hp->n_expert > 0 ? hp->n_expert : 1;
    const size_t hdr = ALIGN256(sizeof(int32_t) * cap) * 2 + ALIGN256(sizeof(float *) * cap) * 2;
    size_t bytes = hdr + ALIGN256(sizeof(float) * (size_t)cap * hp->n_vocab);
    if (hp->n_expert > 0)
        bytes += ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_embd) +
                 2 * ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_ff) +
                 ALIGN256(sizeof(int32_t) * (2 * (size_t)E + 1)) +
                 ALIGN256(sizeof(int32_t) * (size_t)cap * k);
    TRYC(cudaStreamSynchronize(cm->st));
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
    __atomic_fetch_sub((uint64_t *)&m->workspace_bytes, mw->bytes, __ATOMIC_RELAXED);
    mw->cap = cap;
    mw->dev = dev;
    mw->pin = pin;
    mw->hdr_bytes = hdr;
    mw->bytes = bytes;
    uint8_t *b = (uint8_t *)dev;
    mw->ids = (int32_t *)b;
    b += ALIGN256(sizeof(int32_t) * cap);
    mw->pos = (int32_t *)b;
    b += ALIGN256(sizeof(int32_t) * cap);
    mw->kc = (float **)b;
    b += ALIGN256(sizeof(float *) * cap);
    mw->vc = (float **)b;
    b += ALIGN256(sizeof(float *) * cap);
    mw->logits = (float *)b;
    b += ALIGN256(sizeof(float) * (size_t)cap * hp->n_vocab);
    if (hp->n_expert > 0) {
        mw->yk = (float *)b;
        b += ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_embd);
        mw->g = (float *)b;
        b += ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_ff);
        mw->u = (float *)b;
        b += ALIGN256(sizeof(float) * (size_t)cap * k * hp->n_ff);
        mw->grp = (int32_t *)b;
        b += ALIGN256(sizeof(int32_t) * (2 * (size_t)E + 1));
        mw->list = (int32_t *)b;
    }
    __atomic_fetch_add((uint64_t *)&m->workspace_bytes, bytes, __ATOMIC_RELAXED);
    return GPTC_OK;
}

/* One token for each of n sessions in one forward pass: the weights are read once per step
 * for all of them (GEMV rows through every token, MoE grouped by expert); each token attends
 * over its own session's caches at its own position. The activations use the first session's
 * workspace, so the sessions of one pass share its cache layout (n_ctx, n_batch); others go in
 * further passes. */
static gptc_status multi_pass(gptc_session **ss, const int32_t *ids, int n, gptc_error *err)
{
    gptc_model *m = ss[0]->model;
    cu_model *cm = (cu_model *)m->backend_data;
    cu_sess *c0 = (cu_sess *)ss[0]->backend_data;
    if (n == 1) return cu_forward(ss[0], ids, 1, NULL, err); /* the captured decode graph */
    TRYC(cudaSetDevice(cm->dev));
    gptc_status st = multi_reserve(m, cm, n, err);
    if (st != GPTC_OK) return st;
    cu_multi *mw = &cm->mw;
    TRYC(cudaStreamSynchronize(cm->st)); /* the pinned header may still feed an earlier copy */
    uint8_t *h = (uint8_t *)mw->pin;
    int32_t *hid = (int32_t *)h, *hpos = (int32_t *)(h + ((uint8_t *)mw->pos - (uint8_t *)mw->dev));
    float **hkc = (float **)(h + ((uint8_t *)mw->kc - (uint8_t *)mw->dev));
    float **hvc = (float **)(h + ((uint8_t *)mw->vc - (uint8_t *)mw->dev));
    for (int i = 0; i < n; i++) {
        const cu_sess *ci = (const cu_sess *)ss[i]->backend_data;
        hid[i] = ids[i];
        hpos[i] = ss[i]->n_past;
        hkc[i] = ci->kc;
        hvc[i] = ci->vc;
    }
    TRYC(cudaMemcpyAsync(mw->dev, mw->pin, mw->hdr_bytes, cudaMemcpyHostToDevice, cm->st));
    gtc_seqs sq = {mw->pos, mw->kc, mw->vc, 0};
    fw F = {m, cm, c0, cm->st, err, c0->prof, NULL, (int)ss[0]->n_past, mw->ids, &sq};
    prof_mark(&F, "start");
    st = forward_T(&F, n, NULL, NULL);
    if (c0->prof) {
        cudaStreamSynchronize(cm->st);
        prof_end(&F, 2);
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
    cudaError_t ce = cudaStreamSynchronize(cm->st);
    if (st == GPTC_OK && ce != cudaSuccess)
        st = gt_err(err, GPTC_ERR_DEVICE, "CUDA: decode_multi: %s", cudaGetErrorString(ce));
    return st;
}

static gptc_status cu_decode_multi(gptc_session **ss, const int32_t *ids, int n, gptc_error *err)
{
    if (n <= 0) return GPTC_OK;
    gptc_model *m = ss[0]->model;
    for (int i = 0; i < n; i++)
        if (m->arch == GT_ARCH_GPT2 && ss[i]->n_past + 1 > m->hp.n_ctx_train)
            return gt_err(err, GPTC_ERR_CONTEXT_FULL, "GPT-2 has only %d positions",
                          m->hp.n_ctx_train);
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
                cj->swa_only)
                continue;
            done[j] = 1;
            grp[g] = ss[j];
            gid[g++] = ids[j];
        }
        st = multi_pass(grp, gid, g, err);
    }
    return st;
}

static gptc_status cu_logits(gptc_session *s, float *out, gptc_error *err)
{
    cu_sess *cs = (cu_sess *)s->backend_data;
    TRYC(cudaMemcpy(out, cs->logits, sizeof(float) * s->model->hp.n_vocab, cudaMemcpyDeviceToHost));
    return GPTC_OK;
}

static gptc_status cu_sample(gptc_session *s, int32_t *id, gptc_error *err)
{
    gptc_model *m = s->model;
    cu_model *cm = (cu_model *)m->backend_data;
    cu_sess *cs = (cu_sess *)s->backend_data;
    const gptc_sampler_params *p = &s->sampler.p;
    int greedy = p->temperature <= 0.f && p->repeat_penalty == 1.f && p->presence_penalty == 0.f &&
                 p->frequency_penalty == 0.f && s->sampler.n_bias == 0;
    if (greedy) {
        /* over the ids the sampler may pick (the tokenizer's vocabulary), not padding rows */
        TRYK(gtc_argmax(cs->logits, s->sampler.n_vocab, cs->sampled, (gtc_stream)cm->st),
             "argmax");
        TRYC(cudaMemcpyAsync(cs->h_tok, cs->sampled, sizeof(int32_t), cudaMemcpyDeviceToHost,
                             cm->st));
        TRYC(cudaStreamSynchronize(cm->st));
        *id = cs->h_tok[0];
        return GPTC_OK;
    }
    /* on the device (cuda/sample.cu, the twin of gt_sampler_sample): the host keeps the RNG
     * and sends the one uniform of this draw; the penalty window goes up; one id comes back */
    const double u = gt_sampler_draw_u(&s->sampler);
    gtc_sample_params q = {p->temperature,      p->top_k,          p->top_p,
                           p->min_p,            p->repeat_penalty, p->presence_penalty,
                           p->frequency_penalty, p->penalty_last_n, s->sampler.pen_cap,
                           cs->d_bias,          s->sampler.n_bias};
    const int w = gt_sampler_penalty_window(&s->sampler, s->n_past); /* only those tokens cross */
    TRYC(cudaStreamSynchronize(cm->st)); /* h_hist / h_tok may still feed an earlier copy */
    if (s->sampler.n_bias > 0) { /* the same layout (gtc_bias = gptc_logit_bias) */
        memcpy(cs->h_bias, s->sampler.bias, sizeof(gtc_bias) * (size_t)s->sampler.n_bias);
        TRYC(cudaMemcpyAsync(cs->d_bias, cs->h_bias, sizeof(gtc_bias) * (size_t)s->sampler.n_bias,
                             cudaMemcpyHostToDevice, cm->st));
    }
    if (w > 0) {
        memcpy(cs->h_hist, s->history + s->n_past - w, sizeof(int32_t) * (size_t)w);
        TRYC(cudaMemcpyAsync(cs->d_hist, cs->h_hist, sizeof(int32_t) * (size_t)w,
                             cudaMemcpyHostToDevice, cm->st));
    }
    if (gtc_sample(cs->logits, s->sampler.n_vocab, &q, cs->d_hist, w, u, cs->smp_ws,
                   cs->smp_ws_bytes, cs->sampled, (gtc_stream)cm->st) != 0)
        return gt_err(err, GPTC_ERR_DEVICE, "CUDA: sample: %s", gtc_sample_last_error());
    TRYC(cudaMemcpyAsync(cs->h_tok, cs->sampled, sizeof(int32_t), cudaMemcpyDeviceToHost,
                         cm->st));
    TRYC(cudaStreamSynchronize(cm->st));
    *id = cs->h_tok[0];
    return GPTC_OK;
}

/* Full-length caches: rows >= n are simply overwritten by the next feed. A sliding-window ring
 * (ring rows) still holds the last W - 1 positions before n when the rewind is at most
 * ring - (W - 1) = n_batch tokens; a longer rewind rebuilds the window layers by running positions
 * start..n-1 again (from the session history) with only the window layers storing K/V: the k-th
 * window layer's rows are exact from start + k (W - 1) on (the CPU backend's argument), so
 * start = n - n_swa (W - 1) makes the last W - 1 rows of every window layer exact. */
static gptc_status cu_truncate(gptc_session *s, int n, gptc_error *err)
{
    gptc_model *m = s->model;
    cu_sess *cs = (cu_sess *)s->backend_data;
    const int W = m->hp.sliding_window;
    if (cs->ring >= cs->n_ctx || W <= 0) return GPTC_OK;
    const int need = n - (W - 1) > 0 ? n - (W - 1) : 0; /* oldest position the new end sees */
    if (need >= s->n_past - cs->ring) return GPTC_OK;  /* still in the ring */
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

static gptc_status cu_residency(const gptc_model *m, gptc_residency *r, gptc_error *err)
{
    const cu_model *cm = (const cu_model *)m->backend_data;
    memset(r, 0, sizeof *r);
    r->backend = GPTC_BACKEND_CUDA;
    r->weight_bytes_total = m->weight_bytes;
    r->weight_bytes_device = cm ? cm->arena_bytes : 0;
    r->all_weights_resident = cm != NULL;
    r->kv_bytes = m->kv_bytes;
    r->workspace_bytes = m->workspace_bytes;
    if (cm) {
        size_t fr = 0, tot = 0;
        TRYC(cudaSetDevice(cm->dev));
        TRYC(cudaMemGetInfo(&fr, &tot));
        r->device_free = fr;
        r->device_total = tot;
    }
    return GPTC_OK;
}

static const gt_backend_ops cuda_ops = {
    "cuda",         cu_model_init, cu_model_free, cu_session_init, cu_session_free,
    cu_forward,     cu_sample,     cu_logits,     cu_decode_multi, cu_truncate,
    cu_residency,
};

extern "C" const gt_backend_ops *gt_cuda_backend(void) { return &cuda_ops; }
