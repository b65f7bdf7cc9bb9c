/* moe.h — the experts of one mixture-of-experts layer on the CPU threads, for tokens whose
 * routing (top-k experts and their weights) is already known: the CPU backend's gpt-oss forward
 * (engine/forward_gpt_oss.c, which routes on the CPU) and the CUDA backend's expert offload
 * (cuda/offload.c: the GPU routes, the experts of the first --n-cpu-moe layers stay in host
 * memory and run here) share it.
 *
 * For each token t (T rows of u[t][n_embd]) and slot j < K (K = n_expert_used):
 *   e = eidx[t][j]; h = swiglu_oai(Wg[e] u_t + bg[e], Wu[e] u_t + bu[e]); y = Wd[e] h + bd[e]
 *   x[t] += sum_j ew[t][j] y_j   (in slot order: independent of batching and thread count)
 * The (token, slot) pairs are grouped by expert, so each used expert's weights are read once per
 * call; all gate/up products go to the pool in one dispatch, then all downs. */
#ifndef GPTC_ENGINE_MOE_H
#define GPTC_ENGINE_MOE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/ops.h"

/* Scratch of gt_moe_experts for up to B tokens. */
typedef struct gt_moe_buf {
    float *xe, *g, *u, *ye, *moe; /* [B K][n_embd], [B K][n_ff] x2, [B K][n_embd] x2 */
    int *cnt, *list;              /* [n_expert + 1], [B K] */
    op_mm_job *jobs;              /* [2 n_expert] */
} gt_moe_buf;

/* The gt_carve_item list of a gt_moe_buf for B tokens: fills it[0..GT_MOE_BUF_ITEMS) (pointers
 * into b); the caller carves them (engine/cpu.h gt_carve_items). */
#define GT_MOE_BUF_ITEMS 8
struct gt_carve_item;
void gt_moe_buf_items(const gptc_model *m, int B, gt_moe_buf *b, struct gt_carve_item *it);
/* Bytes of the scratch for B tokens (64-byte aligned pieces, as gt_carve_items lays them out). */
size_t gt_moe_buf_bytes(const gptc_model *m, int B);

/* x[t] += sum_j ew[t][j] expert_{eidx[t][j]}(u[t]) for T <= B tokens (see above). Every
 * eidx[i] must be in [0, n_expert). pool: the threads (NULL: the caller alone). */
void gt_moe_experts(const gptc_model *m, const gt_layer *L, const gt_moe_buf *b, const float *u,
                    const int32_t *eidx, const float *ew, float *x, int T, struct gt_pool *pool);

#endif
