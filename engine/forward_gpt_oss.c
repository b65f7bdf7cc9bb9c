/* forward_gpt_oss.c — the gpt-oss forward pass on the CPU (docs/gpt-oss.md §2, §3).
 *
 * A batch of T rows (engine/cpu.h gt_batch: T prompt tokens of one session, or one token of
 * each of T sessions) goes through the model together; row t has its own position pos[t]:
 *   x = E[id]                                                    x: [T][E]
 *   for each layer l:
 *     a = rmsnorm(x) * g_attn                                    [T][E]
 *     q = Wq a + bq, k = Wk a + bk, v = Wv a + bv                [T][QD], [T][KD], [T][KD]
 *     rope-yarn(q, k) at each token's position (NeoX half split, mscale on cos/sin)
 *     append k, v to the layer's cache (even layers: sliding window of 128)
 *     o = attention with sinks over visible keys                 [T][QD]
 *     x += Wo o + bo
 *     u = rmsnorm(x) * g_mlp                                     [T][E]
 *     router logits r = Wr u + br; top-4, softmax over the 4     [T][X] -> [T][K]
 *     per expert e (rows grouped by expert; all experts in one dispatch):
 *        h = swiglu_oai(Wg[e] u + bg[e], Wu[e] u + bu[e])        [n_e][F]
 *        y = Wd[e] h + bd[e]                                     [n_e][E]
 *     x += sum_k w_k y_k (in top-k order)
 *   logits = Wout (rmsnorm(x) * g_out)                           [V] (last row, or all rows)
 * In the last layer, rows whose logits are not wanted stop after writing their K/V.
 */
#include <math.h>
#include <string.h>

#include "engine/cpu.h"
#include "engine/moe.h"
#include "engine/ops.h"

typedef struct oss_buf {
    float *x, *xn, *q, *k, *v, *att, *tmp, *rl, *ew, *lchunk;
    int32_t *eidx;
    int *out;
    gt_moe_buf mb; /* the experts' scratch (engine/moe.h) */
} oss_buf;

/* Lays the buffers out in c (or just sums their sizes when c == NULL). */
static size_t oss_layout(const gptc_model *m, int B, gt_carve *c, oss_buf *b) {
    const gt_hparams *hp = &m->hp;
    const size_t E = (size_t)hp->n_embd, X = (size_t)hp->n_expert;
    const size_t K = (size_t)hp->n_expert_used;
    const size_t QD = (size_t)hp->n_head * hp->head_dim, KD = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t Bz = (size_t)B;
    gt_carve_item items[12 + GT_MOE_BUF_ITEMS] = {
        {(void **)&b->x, Bz * E * 4},
        {(void **)&b->xn, Bz * E * 4},
        {(void **)&b->q, Bz * QD * 4},
        {(void **)&b->k, Bz * KD * 4},
        {(void **)&b->v, Bz * KD * 4},
        {(void **)&b->att, Bz * QD * 4},
        {(void **)&b->tmp, Bz * E * 4},
        {(void **)&b->rl, Bz * X * 4},
        {(void **)&b->ew, Bz * K * 4},
        {(void **)&b->eidx, Bz * K * 4},
        {(void **)&b->out, Bz * 4},
        {(void **)&b->lchunk, (size_t)GT_LOGITS_CHUNK * (size_t)hp->n_vocab * 4},
    };
    gt_moe_buf_items(m, B, &b->mb, items + 12); /* the experts' scratch after these */
    return gt_carve_items(c, items, 12 + GT_MOE_BUF_ITEMS);
}

size_t gt_forward_gpt_oss_scratch(const gptc_model *m, int n_batch, int n_ctx) {
    (void)n_ctx;
    oss_buf b;
    return oss_layout(m, n_batch, NULL, &b);
}

/* ---- attention over the caches, one task per (row, head) -------------------------------- */
typedef struct att_ctx {
    const gt_batch *bt;
    int il;
    const int *rows; /* row of task group r (NULL: r itself) */
    const float *q;
    float *att;
    const float *sinks;
    gt_pool *pool;
    int n_head, group, hd, window;
    size_t qd, row;
    float scale;
    int n_tasks;
} att_ctx;

static void att_task(void *vc, int task, int thread) {
    att_ctx *c = vc;
    int r = task / c->n_head;
    int t = c->rows ? c->rows[r] : r;
    int h = task % c->n_head;
    gt_kv_layer *kv = &gt_cpu(c->bt->sess[t])->kv[c->il];
    int p = c->bt->pos[t];
    int lo = c->window > 0 ? p - c->window + 1 : 0;
    if (lo < kv->base) lo = kv->base; /* never happens for consistent caches */
    if (lo < 0) lo = 0;
    int g = h / c->group;
    float *scratch = gt_pool_scratch(c->pool, thread);
    op_attention_head(c->att + (size_t)t * c->qd + (size_t)h * c->hd,
                      c->q + (size_t)t * c->qd + (size_t)h * c->hd,
                      gt_kv_k(kv, lo, c->row) + (size_t)g * c->hd,
                      gt_kv_v(kv, lo, c->row) + (size_t)g * c->hd, p - lo + 1, c->row, c->hd,
                      c->sinks != NULL, c->sinks ? c->sinks[h] : 0.0f, c->scale, scratch);
}

/* every (row, head) task on the calling thread, for short contexts */
static void att_all(void *vc, int task, int thread) {
    (void)task;
    att_ctx *c = vc;
    for (int t = 0; t < c->n_tasks; t++) att_task(vc, t, thread);
}

static op_mm_job mm_job(float *y, const float *x, int T, const gt_weight *W, int64_t e,
                        const gt_weight *bias) {
    op_mm_job j = {y, x, T, W, e, gt_weight_f32(bias, e < 0 ? 0 : e)};
    return j;
}

/* ---- MoE: route, then the experts (engine/moe.h: grouped by expert, one pass each) -------- */
static void moe(gptc_model *m, const gt_layer *L, oss_buf *b, const float *u, float *x, int T) {
    const gt_hparams *hp = &m->hp;
    const int X = hp->n_expert, K = hp->n_expert_used;
    gt_pool *pool = m->pool;

    /* router: rl[T][X] = Wr u + br; per token top-K then softmax over the K */
    op_matmul(b->rl, u, T, &L->router_w, -1, gt_weight_f32(&L->router_b, 0), pool);
    for (int t = 0; t < T; t++)
        op_router_topk_softmax(b->rl + (size_t)t * X, X, K, b->eidx + (size_t)t * K,
                               b->ew + (size_t)t * K);
    gt_moe_experts(m, L, &b->mb, u, b->eidx, b->ew, x, T, pool);
}

gptc_status gt_forward_gpt_oss(gt_batch *bt, gptc_error *err) {
    gptc_model *m = bt->sess[0]->model;
    const gt_hparams *hp = &m->hp;
    gt_pool *pool = m->pool;
    const int T = bt->T;
    const int E = hp->n_embd, hd = hp->head_dim;
    const int QD = hp->n_head * hd, KD = hp->n_head_kv * hd;
    const float eps = hp->norm_eps;

    gt_carve c = {bt->scratch, bt->scratch_bytes};
    oss_buf b;
    oss_layout(m, T, &c, &b);
    const int n_out = gt_batch_out_rows(bt, b.out); /* rows whose logits are wanted */

    /* x[t] = E[id_t] */
    for (int t = 0; t < T; t++) op_embed_row(b.x + (size_t)t * E, &m->tok_embd, bt->ids[t]);

    int nr = T; /* rows still flowing (all but in the last layer) */
    for (int il = 0; il < hp->n_layer; il++) {
        if (gt_batch_cancelled(bt)) return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");
        const gt_layer *L = &m->layers[il];
        const int last = il == hp->n_layer - 1;

        /* ---- attention half ---- */
        for (int t = 0; t < T; t++)
            op_rmsnorm(b.xn + (size_t)t * E, b.x + (size_t)t * E, gt_weight_f32(&L->attn_norm, 0),
                       E, eps);
        const op_mm_job qkv[3] = {
            mm_job(b.q, b.xn, T, &L->wq, -1, &L->bq), /* [T][QD] */
            mm_job(b.k, b.xn, T, &L->wk, -1, &L->bk), /* [T][KD] */
            mm_job(b.v, b.xn, T, &L->wv, -1, &L->bv), /* [T][KD] */
        };
        op_matmul_batch(qkv, 3, pool);
        for (int t = 0; t < T; t++) {
            op_rope_neox(b.q + (size_t)t * QD, hp->n_head, hd, bt->pos[t], m->rope_inv_freq,
                         m->rope_mscale);
            op_rope_neox(b.k + (size_t)t * KD, hp->n_head_kv, hd, bt->pos[t], m->rope_inv_freq,
                         m->rope_mscale);
        }
        if (!bt->swa_only || L->is_swa) gt_batch_kv_append(bt, il, b.k, b.v, (size_t)KD);
        /* in the last layer only the output rows go on */
        const int *rows = last && n_out < T ? b.out : NULL;
        if (last) nr = n_out;
        att_ctx ac = {.bt = bt,
                      .il = il,
                      .rows = rows,
                      .q = b.q,
                      .att = b.att,
                      .sinks = gt_weight_f32(&L->sinks, 0),
                      .pool = pool,
                      .n_head = hp->n_head,
                      .group = hp->n_head / hp->n_head_kv,
                      .hd = hd,
                      .window = L->is_swa ? hp->sliding_window : 0,
                      .qd = (size_t)QD,
                      .row = (size_t)KD,
                      .scale = 1.0f / sqrtf((float)hd)};
        ac.n_tasks = nr * hp->n_head;
        {
            /* multiply-adds of the scores and the weighted sums */
            int64_t work = 0;
            for (int i = 0; i < nr; i++) {
                int p = bt->pos[rows ? rows[i] : i] + 1;
                if (ac.window > 0 && p > ac.window) p = ac.window;
                work += (int64_t)p;
            }
            work *= (int64_t)2 * hd * hp->n_head;
            if (work < OP_SERIAL_WORK)
                gt_pool_run(pool, 1, att_all, &ac);
            else
                gt_pool_run(pool, ac.n_tasks, att_task, &ac);
        }
        if (rows) /* compact the output rows to the front (out[i] >= i) */
            for (int i = 0; i < nr; i++)
                if (rows[i] != i) {
                    memcpy(b.x + (size_t)i * E, b.x + (size_t)rows[i] * E, (size_t)E * 4);
                    memcpy(b.att + (size_t)i * QD, b.att + (size_t)rows[i] * QD, (size_t)QD * 4);
                }
        op_matmul(b.tmp, b.att, nr, &L->wo, -1, gt_weight_f32(&L->bo, 0), pool); /* [nr][E] */
        op_add(b.x, b.tmp, (int64_t)nr * E);

        /* ---- MoE half ---- */
        for (int t = 0; t < nr; t++)
            op_rmsnorm(b.xn + (size_t)t * E, b.x + (size_t)t * E, gt_weight_f32(&L->ffn_norm, 0), E,
                       eps);
        moe(m, L, &b, b.xn, b.x, nr);
    }
    if (gt_batch_cancelled(bt)) return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");

    /* ---- output: logits = Wout (rmsnorm(x) g_out) for the n_out rows ---- */
    for (int i = 0; i < nr; i++)
        op_rmsnorm(b.xn + (size_t)i * E, b.x + (size_t)i * E, gt_weight_f32(&m->output_norm, 0), E,
                   eps);
    gt_batch_lm_head(bt, &m->output, b.xn, b.out, nr, b.lchunk);
    return GPTC_OK;
}
