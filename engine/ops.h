/* ops.h — the CPU reference ops, one function per layer op. These are the "CPU twins" the CUDA
 * kernels are tested against: plain pointers, shapes in comments, fp32 activations, fixed
 * summation orders (results do not depend on the thread count).
 * Architectures: docs/architecture.md. */
#ifndef GPTC_ENGINE_OPS_H
#define GPTC_ENGINE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/pool.h"

/* ---- norms ----------------------------------------------------------------------------- */
/* out[n] = x / sqrt(mean(x^2) + eps) * w. out may alias x. Sum of squares in double. */
void op_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
/* out[n] = (x - mean) / sqrt(var + eps) * g + b (biased variance). out may alias x. */
void op_layernorm(float *out, const float *x, const float *g, const float *b, int n, float eps);

/* ---- dot products / matmul ------------------------------------------------------------ */
/* Fixed-order fp32 dot of two float vectors (16 interleaved partial sums, then a fixed tree). */
float op_dot_f32(const float *a, const float *b, int64_t n);

/* y[T][n_out] = x[T][n_in] . W^T (+ bias[n_out]) where W is [n_out][n_in] = ne[1] x ne[0]
 * in any quant type; `expert` selects ne[2] slice of a 3-D weight (-1 or 0 for 2-D).
 * Multi-threaded over output rows (tasks of a multiple of 4 rows; products under
 * OP_SERIAL_WORK multiply-adds stay on the calling thread). For T == 1 each y = quant_dot(row,
 * x); for T > 1 the tokens go in chunks of 32: chunks of 4 or more tokens through quant_matmul
 * (4-row x 3-token register tiles), shorter ones through quant_dot_rows. pool may be NULL
 * (single thread). Each output element is computed by one task in a fixed order: thread-count
 * invariant. */
void op_matmul(float *y, const float *x, int T, const gt_weight *W, int64_t expert,
               const float *bias, gt_pool *pool);
/* Several independent products in one pool dispatch (q/k/v; the experts of a MoE layer): each
 * job is exactly what op_matmul(y, x, T, W, expert, bias) computes, bit for bit. */
typedef struct op_mm_job {
    float *y;
    const float *x;
    int T;
    const gt_weight *W;
    int64_t expert;
    const float *bias;
} op_mm_job;
void op_matmul_batch(const op_mm_job *jobs, int n_jobs, gt_pool *pool);

/* Multiply-adds below which op_matmul_batch (and the attention dispatch) run on the calling
 * thread: handing tasks to the pool's workers costs ~20 us a dispatch on a 2-core VM, more than
 * such work (decode of small layers). The task partition and each output's arithmetic are the
 * same either way, so results do not change. */
#define OP_SERIAL_WORK (1 << 20)

/* Scratch bytes per thread op_matmul needs for row length n_in (for gt_pool_reserve): 0 now. */
size_t op_matmul_scratch_bytes(int64_t n_in);

/* out[ne0] = row `id` of a (possibly quantised) 2-D weight (embedding gather). */
void op_embed_row(float *out, const gt_weight *W, int64_t id);

/* ---- RoPE ------------------------------------------------------------------------------ */
typedef struct op_rope_params {
    int dim;          /* rotated dims per head (64) */
    double freq_base; /* 150000 */
    int yarn;         /* 0: plain RoPE (inv_freq = base^(-2i/d)) */
    double factor;    /* 32 */
    int orig_ctx;     /* 4096 */
    double beta_fast; /* 32 */
    double beta_slow; /* 1 */
} op_rope_params;
/* inv_freq[dim/2] (computed in double, stored as float). rounded = 1: llama.cpp's
 * floor(low)/ceil(high) correction range; 0: unrounded (OpenAI reference / HF). */
void op_rope_yarn_inv_freq(float *inv_freq, const op_rope_params *rp, int rounded);
/* mscale for cos/sin: 0.1 ln(factor) + 1 when yarn and factor > 1, else 1. */
float op_rope_yarn_mscale(const op_rope_params *rp);
/* NeoX (half-split) rotation in place of x[n_heads][hd] at absolute position pos: for i < hd/2,
 * theta = (float)pos * inv_freq[i] (fp32 product, like HF), C = cos(theta) * mscale,
 * S = sin(theta) * mscale, (x_i, x_{i+hd/2}) <- (x_i C - x_{i+hd/2} S, x_{i+hd/2} C + x_i S). */
void op_rope_neox(float *x, int n_heads, int hd, int64_t pos, const float *inv_freq, float mscale);

/* ---- attention ------------------------------------------------------------------------- */
/* One query head over n_kv visible keys (the caller selects the window/causal range):
 *   s_j = (q . k_j) * scale, softmax over {s_j} U {sink} (sink only in the denominator; no
 *   sink when has_sink == 0), out[hd] = sum_j w_j v_j.
 * k, v: n_kv rows of hd floats, row j at k + j * kv_stride. scratch: n_kv floats. */
void op_attention_head(float *out, const float *q, const float *k, const float *v, int n_kv,
                       size_t kv_stride, int hd, int has_sink, float sink, float scale,
                       float *scratch);
/* All heads of one query token: out[n_head][hd], q[n_head][hd];
 * k, v: [n_kv][n_head_kv][hd] contiguous; query head h uses KV head h / (n_head/n_head_kv);
 * sinks[n_head] or NULL. scratch: n_kv floats. */
void op_attention(float *out, const float *q, const float *k, const float *v, int n_kv, int n_head,
                  int n_head_kv, int hd, const float *sinks, float scale, float *scratch);

/* ---- activations ----------------------------------------------------------------------- */
/* gpt-oss clamped SwiGLU: g = min(gate, limit), u = clamp(up, -limit, limit),
 * out = g * sigmoid(alpha g) * (u + 1). out may alias gate or up. */
void op_swiglu_oai(float *out, const float *gate, const float *up, int n, float alpha, float limit);
/* GPT-2 gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). out may alias x. */
void op_gelu_tanh(float *out, const float *x, int n);

/* ---- MoE router ------------------------------------------------------------------------ */
/* Top-k of logits[n_expert] (descending; ties -> lower index first), then softmax over the k
 * selected raw logits: idx[k], w[k]. */
void op_router_topk_softmax(const float *logits, int n_expert, int k, int *idx, float *w);

/* ---- residual helpers ------------------------------------------------------------------ */
void op_add(float *x, const float *y, int64_t n);           /* x += y */
void op_axpy(float *x, float a, const float *y, int64_t n); /* x += a y */

#endif
