/* forward_gpt2.c — the GPT-2 forward pass on the CPU (docs/gpt2.md §2).
 *
 * A batch of T rows (engine/cpu.h gt_batch), row t at position pos[t]:
 *   x = wte[id] + wpe[pos]                                      x: [T][E]
 *   for each layer:
 *     a = layernorm(x; g1, b1)                                  [T][E]
 *     qkv = Wqkv a + bqkv; q, k, v = qkv[0:E], [E:2E], [2E:3E]  [T][3E]
 *     append k, v to the cache; o = causal softmax(q k^T / sqrt(hd)) v per head   [T][E]
 *     x += Wo o + bo
 *     h = gelu_tanh(Wfc layernorm(x; g2, b2) + bfc)             [T][F]
 *     x += Wproj h + bproj
 *   logits = Wout layernorm(x; gf, bf)   (Wout = wte when tied) [V]
 */
#include <math.h>
#include <string.h>

#include "engine/cpu.h"
#include "engine/ops.h"

typedef struct g2_buf {
    float *x, *xn, *qkv, *att, *tmp, *h, *lchunk;
    int *out;
} g2_buf;

static size_t g2_layout(const gptc_model *m, int B, gt_carve *c, g2_buf *b) {
    const size_t E = (size_t)m->hp.n_embd, F = (size_t)m->hp.n_ff, Bz = (size_t)B;
    const gt_carve_item items[] = {
        {(void **)&b->x, Bz * E * 4},
        {(void **)&b->xn, Bz * E * 4},
        {(void **)&b->qkv, Bz * 3 * E * 4},
        {(void **)&b->att, Bz * E * 4},
        {(void **)&b->tmp, Bz * E * 4},
        {(void **)&b->h, Bz * F * 4},
        {(void **)&b->out, Bz * 4},
        {(void **)&b->lchunk, (size_t)GT_LOGITS_CHUNK * (size_t)m->hp.n_vocab * 4},
    };
    return gt_carve_items(c, items, sizeof items / sizeof items[0]);
}

size_t gt_forward_gpt2_scratch(const gptc_model *m, int n_batch, int n_ctx) {
    (void)n_ctx;
    g2_buf b;
    return g2_layout(m, n_batch, NULL, &b);
}

typedef struct g2_att {
    const gt_batch *bt;
    int il;
    const int *rows;
    const float *qkv;
    float *att;
    gt_pool *pool;
    int n_head, hd, E;
    float scale;
    int n_tasks;
} g2_att;

static void g2_att_task(void *vc, int task, int thread) {
    g2_att *c = vc;
    int r = task / c->n_head;
    int t = c->rows ? c->rows[r] : r;
    int h = task % c->n_head;
    gt_kv_layer *kv = &gt_cpu(c->bt->sess[t])->kv[c->il];
    int p = c->bt->pos[t];
    size_t E = (size_t)c->E;
    op_attention_head(c->att + (size_t)t * E + (size_t)h * c->hd,
                      c->qkv + (size_t)t * 3 * E + (size_t)h * c->hd,
                      gt_kv_k(kv, 0, E) + (size_t)h * c->hd, gt_kv_v(kv, 0, E) + (size_t)h * c->hd,
                      p + 1, E, c->hd, 0, 0.0f, c->scale, gt_pool_scratch(c->pool, thread));
}

/* every (row, head) task on the calling thread, for short contexts */
static void g2_att_all(void *vc, int task, int thread) {
    (void)task;
    const g2_att *c = vc;
    for (int t = 0; t < c->n_tasks; t++) g2_att_task(vc, t, thread);
}

gptc_status gt_forward_gpt2(gt_batch *bt, gptc_error *err) {
    gptc_model *m = bt->sess[0]->model;
    const gt_hparams *hp = &m->hp;
    gt_pool *pool = m->pool;
    const int T = bt->T;
    const int E = hp->n_embd, hd = hp->head_dim;
    const float eps = hp->norm_eps;

    gt_carve c = {bt->scratch, bt->scratch_bytes};
    g2_buf b;
    g2_layout(m, T, &c, &b);
    const int n_out = gt_batch_out_rows(bt, b.out);

    /* x[t] = wte[id] + wpe[pos] */
    for (int t = 0; t < T; t++) {
        op_embed_row(b.x + (size_t)t * E, &m->tok_embd, bt->ids[t]);
        op_embed_row(b.tmp, &m->pos_embd, bt->pos[t]);
        op_add(b.x + (size_t)t * E, b.tmp, E);
    }

    int nr = T;
    for (int il = 0; il < hp->n_layer; il++) {
        if (gt_batch_cancelled(bt)) return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");
        const gt_layer *L = &m->layers[il];
        const int last = il == hp->n_layer - 1;

        for (int t = 0; t < T; t++)
            op_layernorm(b.xn + (size_t)t * E, b.x + (size_t)t * E, gt_weight_f32(&L->attn_norm, 0),
                         gt_weight_f32(&L->attn_norm_b, 0), E, eps);
        op_matmul(b.qkv, b.xn, T, &L->wqkv, -1, gt_weight_f32(&L->bqkv, 0), pool); /* [T][3E] */
        /* k, v are the views qkv[t][E:2E], qkv[t][2E:3E]: append with a row stride of 3E */
        for (int t = 0; t < T; t++) {
            memcpy(b.tmp + (size_t)t * E, b.qkv + (size_t)t * 3 * E + E, (size_t)E * 4);
            memcpy(b.att + (size_t)t * E, b.qkv + (size_t)t * 3 * E + 2 * E, (size_t)E * 4);
        }
        gt_batch_kv_append(bt, il, b.tmp, b.att, (size_t)E);
        const int *rows = last && n_out < T ? b.out : NULL;
        if (last) nr = n_out;
        g2_att ac = {.bt = bt,
                     .il = il,
                     .rows = rows,
                     .qkv = b.qkv,
                     .att = b.att,
                     .pool = pool,
                     .n_head = hp->n_head,
                     .hd = hd,
                     .E = E,
                     .scale = 1.0f / sqrtf((float)hd)};
        ac.n_tasks = nr * hp->n_head;
        int64_t work = 0; /* multiply-adds of the scores and the weighted sums */
        for (int i = 0; i < nr; i++) work += bt->pos[rows ? rows[i] : i] + 1;
        work *= (int64_t)2 * hd * hp->n_head;
        if (work < OP_SERIAL_WORK)
            gt_pool_run(pool, 1, g2_att_all, &ac);
        else
            gt_pool_run(pool, ac.n_tasks, g2_att_task, &ac);
        if (rows)
            for (int i = 0; i < nr; i++)
                if (rows[i] != i) {
                    memcpy(b.x + (size_t)i * E, b.x + (size_t)rows[i] * E, (size_t)E * 4);
                    memcpy(b.att + (size_t)i * E, b.att + (size_t)rows[i] * E, (size_t)E * 4);
                }
        op_matmul(b.tmp, b.att, nr, &L->wo, -1, gt_weight_f32(&L->bo, 0), pool);
        op_add(b.x, b.tmp, (int64_t)nr * E);

        for (int t = 0; t < nr; t++)
            op_layernorm(b.xn + (size_t)t * E, b.x + (size_t)t * E, gt_weight_f32(&L->ffn_norm, 0),
                         gt_weight_f32(&L->ffn_norm_b, 0), E, eps);
        op_matmul(b.h, b.xn, nr, &L->ffn_up, -1, gt_weight_f32(&L->ffn_up_b, 0), pool);
        op_gelu_tanh(b.h, b.h, nr * hp->n_ff);
        op_matmul(b.tmp, b.h, nr, &L->ffn_down, -1, gt_weight_f32(&L->ffn_down_b, 0), pool);
        op_add(b.x, b.tmp, (int64_t)nr * E);
    }
    if (gt_batch_cancelled(bt)) return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");

    for (int i = 0; i < nr; i++)
        op_layernorm(b.xn + (size_t)i * E, b.x + (size_t)i * E, gt_weight_f32(&m->output_norm, 0),
                     gt_weight_f32(&m->output_norm_b, 0), E, eps);
    gt_batch_lm_head(bt, &m->output, b.xn, b.out, nr, b.lchunk);
    return GPTC_OK;
}
