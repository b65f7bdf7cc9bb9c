/* moe_cpu.c — the experts of one MoE layer on the CPU threads (engine/moe.h). */
#include <string.h>

#include "engine/cpu.h"
#include "engine/moe.h"

void gt_moe_buf_items(const gptc_model *m, int B, gt_moe_buf *b, gt_carve_item *it) {
    const gt_hparams *hp = &m->hp;
    const size_t E = (size_t)hp->n_embd, F = (size_t)hp->n_ff, X = (size_t)hp->n_expert;
    const size_t BK = (size_t)B * (size_t)hp->n_expert_used;
    const gt_carve_item items[GT_MOE_BUF_ITEMS] = {
        {(void **)&b->xe, BK * E * 4},
        {(void **)&b->g, BK * F * 4},
        {(void **)&b->u, BK * F * 4},
        {(void **)&b->ye, BK * E * 4},
        {(void **)&b->jobs, 2 * X * sizeof(op_mm_job)},
        {(void **)&b->moe, BK * E * 4},
        {(void **)&b->cnt, (X + 1) * 4},
        {(void **)&b->list, BK * 4},
    };
    memcpy(it, items, sizeof items);
}

size_t gt_moe_buf_bytes(const gptc_model *m, int B) {
    gt_moe_buf b;
    gt_carve_item it[GT_MOE_BUF_ITEMS];
    gt_moe_buf_items(m, B, &b, it);
    return gt_carve_items(NULL, it, GT_MOE_BUF_ITEMS);
}

static op_mm_job mm_job(float *y, const float *x, int T, const gt_weight *W, int64_t e,
                        const gt_weight *bias) {
    op_mm_job j = {y, x, T, W, e, gt_weight_f32(bias, e < 0 ? 0 : e)};
    return j;
}

void gt_moe_experts(const gptc_model *m, const gt_layer *L, const gt_moe_buf *b, const float *u,
                    const int32_t *eidx, const float *ew, float *x, int T, gt_pool *pool) {
    const gt_hparams *hp = &m->hp;
    const int E = hp->n_embd, F = hp->n_ff, X = hp->n_expert, K = hp->n_expert_used;

    /* counting sort of the T*K (token, slot) pairs by expert */
    memset(b->cnt, 0, (size_t)(X + 1) * sizeof(int));
    for (int i = 0; i < T * K; i++) b->cnt[eidx[i] + 1]++;
    for (int e = 0; e < X; e++) b->cnt[e + 1] += b->cnt[e];
    for (int i = 0; i < T * K; i++) b->list[b->cnt[eidx[i]]++] = i; /* cnt[e] -> end of e */
    /* after the fill, cnt[e] is the end of expert e's range; its start is cnt[e-1] (0 for e=0) */

    /* gather the routed rows in expert order: xe[i] = u[token of list[i]]   [T*K][E] */
    for (int i = 0; i < T * K; i++)
        memcpy(b->xe + (size_t)i * E, u + (size_t)(b->list[i] / K) * E, (size_t)E * sizeof(float));
    /* gate and up of every used expert in one dispatch, then SwiGLU, then all the downs */
    int nj = 0;
    for (int e = 0; e < X; e++) {
        int start = e == 0 ? 0 : b->cnt[e - 1], ne = b->cnt[e] - start;
        if (ne == 0) continue;
        const float *xe = b->xe + (size_t)start * E;
        b->jobs[nj++] = mm_job(b->g + (size_t)start * F, xe, ne, &L->gate_exps, e, &L->gate_b);
        b->jobs[nj++] = mm_job(b->u + (size_t)start * F, xe, ne, &L->up_exps, e, &L->up_b);
    }
    op_matmul_batch(b->jobs, nj, pool); /* [T*K][F] x2 */
    op_swiglu_oai(b->g, b->g, b->u, T * K * F, hp->swiglu_alpha, hp->swiglu_limit);
    nj = 0;
    for (int e = 0; e < X; e++) {
        int start = e == 0 ? 0 : b->cnt[e - 1], ne = b->cnt[e] - start;
        if (ne == 0) continue;
        b->jobs[nj++] = mm_job(b->ye + (size_t)start * E, b->g + (size_t)start * F, ne,
                               &L->down_exps, e, &L->down_b);
    }
    op_matmul_batch(b->jobs, nj, pool); /* [T*K][E] */
    for (int i = 0; i < T * K; i++)     /* back to (token, slot) order */
        memcpy(b->moe + (size_t)b->list[i] * E, b->ye + (size_t)i * E, (size_t)E * sizeof(float));
    /* x += sum_k w_k y_k in top-k order (fixed order: independent of batching and threads) */
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++)
            op_axpy(x + (size_t)t * E, ew[(size_t)t * K + k], b->moe + ((size_t)t * K + k) * E, E);
}
